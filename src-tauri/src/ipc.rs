//! Every name that crosses the IPC boundary, in one place: the commands the
//! windows may invoke (also read by `build.rs`, which generates one
//! `allow-<command>` permission each for the capability files) and the
//! events the shell emits to the windows. `ui/ipc.js` mirrors these names.

#[cfg_attr(not(test), allow(dead_code))]
/// Every command. `capabilities/*.json` grant each window its share.
pub const COMMANDS: &[&str] = &[
    "feed_list",
    "feed_mark_read",
    "feed_open",
    "feed_acknowledge",
    "feed_gaps",
    "feed_resume",
    "feed_detail",
    "feed_action",
    "feed_communities",
    "settings_get",
    "settings_save",
    "settings_set_api_key",
    "settings_set_autostart",
    "settings_url_copied",
    "settings_regenerate_secret",
    "settings_add_forward",
    "settings_remove_forward",
    "app_send_test",
    "app_status",
    "app_open_settings",
];

/// The feed changed (new event, enrichment, read marks); payload: [`crate::shell::Status`].
pub const FEED_CHANGED: &str = "feed-changed";
/// Health, pause, key or webhook URL changed; payload: [`crate::shell::Status`].
pub const STATUS_CHANGED: &str = "status-changed";

#[cfg(test)]
mod tests {
    use super::COMMANDS;
    use std::collections::BTreeSet;

    /// The capability files may grant only commands that exist, and every
    /// command must be granted to some window (else it is dead code).
    #[test]
    fn capabilities_grant_exactly_the_known_commands() {
        let mut granted = BTreeSet::new();
        for file in ["feed", "settings"] {
            let path = format!("{}/capabilities/{file}.json", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(json["windows"], serde_json::json!([file]), "{path}");
            for p in json["permissions"].as_array().unwrap() {
                let p = p.as_str().unwrap();
                if let Some(command) = p.strip_prefix("allow-") {
                    let command = command.replace('-', "_");
                    assert!(
                        COMMANDS.contains(&command.as_str()),
                        "{path} grants unknown {p}"
                    );
                    granted.insert(command);
                } else {
                    assert!(
                        p.starts_with("core:event:"),
                        "{path} grants more than events: {p}"
                    );
                }
            }
        }
        let all: BTreeSet<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
        assert_eq!(granted, all);
    }
}
