//! `[[forward]]` entries of `config.toml`: where enriched alerts are
//! forwarded (kind, `url` or `url_file`, webhook `secret`) and which ones
//! (`events`, `min_urgency`). Owns their validation and the reading of
//! `url_file`.
//!
//! Must not: show a destination URL or secret anywhere (they grant posting
//! rights): `Debug` prints them redacted and every error names the key and
//! the file, never the value. Delivery itself belongs to `forward` and
//! `outbox`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use url::Url;

use super::destination::{Destination, Kind, Secret};
use super::{de_urgency, is_loopback_host, EventFilter, SettingsError};

/// Longest `url_file` read: a webhook URL is far shorter.
const URL_FILE_MAX_BYTES: u64 = 8 * 1024;

/// One `[[forward]]` table.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardSettings {
    pub kind: Kind,
    /// The incoming-webhook URL itself (a secret).
    #[serde(
        default,
        deserialize_with = "de_forward_url",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<Secret<Url>>,
    /// A file holding the URL (e.g. a systemd credential), read at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_file: Option<PathBuf>,
    /// The URL is in the OS keyring under this id (service
    /// `sekoia-notifier`, user `forward-<id>`): what the desktop app writes.
    #[serde(
        default,
        deserialize_with = "de_keyring_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub url_keyring: Option<String>,
    /// Webhook only: the HMAC key of `X-Sekoia-Notifier-Signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret<String>>,
    /// Which events are forwarded; default `["alert:created"]`.
    #[serde(default = "default_events")]
    pub events: Vec<EventFilter>,
    /// Alerts below this urgency are not forwarded (an unknown urgency never
    /// hides an alert). 0 to 100, default 0.
    #[serde(default, deserialize_with = "de_urgency")]
    pub min_urgency: u8,
}

fn default_events() -> Vec<EventFilter> {
    vec![EventFilter {
        kind: "alert".to_owned(),
        action: "created".to_owned(),
    }]
}

impl fmt::Debug for ForwardSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardSettings")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("url_file", &self.url_file)
            .field("url_keyring", &self.url_keyring)
            .field("secret", &self.secret)
            .field("events", &self.events)
            .field("min_urgency", &self.min_urgency)
            .finish()
    }
}

/// What a forward URL must look like, for messages.
pub(super) const URL_FORM: &str =
    "an https:// incoming-webhook URL (http:// only for 127.0.0.1, ::1 or localhost)";

/// Checks a destination URL without ever echoing it: https (http only to a
/// loopback host), a host, no user or password. Queries are allowed (Teams
/// Workflows URLs carry their signature there).
fn check_forward_url(text: &str) -> Result<Url, String> {
    let text = text.trim();
    // The URL parser would silently drop tabs and line breaks, gluing two
    // lines of a url_file into one URL.
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("got text with spaces, tabs or line breaks (one URL only)".to_owned());
    }
    let url = Url::parse(text)
        .map_err(|e| format!("got something that is not a URL ({e}); the value is not shown"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        "http" => return Err("got a plain http:// URL to a non-loopback host".to_owned()),
        other => {
            return Err(format!(
                "got a {}:// URL",
                other.chars().take(16).collect::<String>()
            ))
        }
    }
    if url.host().is_none() {
        return Err("got a URL without a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("got a URL with a user name or password".to_owned());
    }
    Ok(url)
}

/// Checks a destination URL typed in a form: the same rules as in the
/// config; the error never echoes the URL.
pub fn check_url(text: &str) -> Result<Url, String> {
    check_forward_url(text)
}

/// Whether `id` can name a keyring entry: 1 to 40 of a-z, 0-9 and `-`.
pub fn is_keyring_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn de_keyring_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if is_keyring_id(&s) {
        Ok(Some(s))
    } else {
        Err(de::Error::custom(
            "got something else than 1 to 40 lowercase letters, digits and -",
        ))
    }
}

fn de_forward_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret<Url>>, D::Error> {
    let s = String::deserialize(d)?;
    check_forward_url(&s)
        .map(|u| Some(Secret::new(u)))
        .map_err(de::Error::custom)
}

fn invalid(path: &Path, key: String, expected: &str, detail: String) -> SettingsError {
    SettingsError::Invalid {
        path: path.to_path_buf(),
        key,
        expected: expected.to_owned(),
        detail,
    }
}

/// Rules between the keys of each entry: exactly one of `url` and
/// `url_file`, `secret` only (and never empty) for `kind = "webhook"`.
pub(super) fn check(entries: &[ForwardSettings], path: &Path) -> Result<(), SettingsError> {
    for (i, f) in entries.iter().enumerate() {
        let given = [
            f.url.is_some(),
            f.url_file.is_some(),
            f.url_keyring.is_some(),
        ];
        match given.iter().filter(|g| **g).count() {
            0 => {
                return Err(invalid(
                    path,
                    format!("forward[{i}].url"),
                    URL_FORM,
                    "got nothing (set url, or url_file naming a file that holds it)".to_owned(),
                ))
            }
            1 => {}
            _ => {
                return Err(invalid(
                    path,
                    format!("forward[{i}].url_file"),
                    "one of url, url_file and url_keyring",
                    "got more than one".to_owned(),
                ))
            }
        }
        if let Some(secret) = &f.secret {
            if f.kind != Kind::Webhook {
                return Err(invalid(
                    path,
                    format!("forward[{i}].secret"),
                    "a secret only with kind = \"webhook\"",
                    format!("got one with kind = \"{}\"", f.kind),
                ));
            }
            if secret.expose().trim().is_empty() {
                return Err(invalid(
                    path,
                    format!("forward[{i}].secret"),
                    "a non-empty string",
                    "got an empty one".to_owned(),
                ));
            }
        }
    }
    Ok(())
}

/// A configured forwarder, ready to deliver to: its destination and filters.
#[derive(Debug, Clone)]
pub struct ForwardTarget {
    pub destination: Destination,
    pub events: Vec<EventFilter>,
    pub min_urgency: u8,
}

/// Resolves every `[[forward]]` entry into a target, reading `url_file`s.
/// `config` is the config file, named in errors.
pub fn forward_targets(
    entries: &[ForwardSettings],
    config: &Path,
) -> Result<Vec<ForwardTarget>, SettingsError> {
    let mut out = Vec::with_capacity(entries.len());
    for (i, f) in entries.iter().enumerate() {
        let url = match (&f.url, &f.url_file, &f.url_keyring) {
            (Some(url), _, _) => url.clone(),
            (None, Some(file), _) => Secret::new(read_url_file(file, i, config)?),
            (None, None, Some(id)) => Secret::new(read_url_keyring(id, i, config)?),
            (None, None, None) => {
                return Err(invalid(
                    config,
                    format!("forward[{i}].url"),
                    URL_FORM,
                    "got nothing".to_owned(),
                ))
            }
        };
        out.push(ForwardTarget {
            destination: Destination {
                kind: f.kind,
                url,
                secret: f.secret.clone(),
            },
            events: f.events.clone(),
            min_urgency: f.min_urgency,
        });
    }
    Ok(out)
}

fn read_url_keyring(id: &str, index: usize, config: &Path) -> Result<Url, SettingsError> {
    let key = format!("forward[{index}].url_keyring");
    let expected = "the id of a URL the desktop app stored in the OS keyring";
    match crate::settings::secrets::forward_url(id) {
        Ok(Some(text)) => check_forward_url(&text)
            .map_err(|detail| invalid(config, key, URL_FORM, format!("{detail} (in the keyring)"))),
        Ok(None) => Err(invalid(
            config,
            key,
            expected,
            format!("got \"{id}\", which has no entry in the keyring; add the destination again"),
        )),
        Err(e) => Err(invalid(
            config,
            key,
            expected,
            format!("the keyring failed: {e}"),
        )),
    }
}

fn read_url_file(file: &Path, index: usize, config: &Path) -> Result<Url, SettingsError> {
    use std::io::Read;
    let key = format!("forward[{index}].url_file");
    let expected = "a file holding one incoming-webhook URL";
    let mut text = String::new();
    let read = std::fs::File::open(file).and_then(|f| {
        f.take(URL_FILE_MAX_BYTES + 1)
            .read_to_string(&mut text)
            .map(|_| ())
    });
    if let Err(e) = read {
        return Err(invalid(
            config,
            key,
            expected,
            format!("got {} that cannot be read: {e}", file.display()),
        ));
    }
    if text.len() as u64 > URL_FILE_MAX_BYTES {
        return Err(invalid(
            config,
            key,
            expected,
            format!(
                "got {} larger than {URL_FILE_MAX_BYTES} bytes",
                file.display()
            ),
        ));
    }
    check_forward_url(&text).map_err(|detail| {
        invalid(
            config,
            key,
            URL_FORM,
            format!("{detail} (in {})", file.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn cfg() -> PathBuf {
        PathBuf::from("/etc/sekoia/config.toml")
    }

    fn err(text: &str) -> String {
        match parse(text, &cfg()) {
            Ok(_) => panic!("expected {text:?} to be rejected"),
            Err(e) => e.to_string(),
        }
    }

    const TEAMS_URL: &str =
        "https://prod.westeurope.logic.azure.com/workflows/abc/triggers/manual?sig=S3CR3T-SIG";

    #[test]
    fn forward_entries_parse_with_their_defaults() {
        let text = format!(
            "[[forward]]\nkind = \"teams\"\nurl = \"{TEAMS_URL}\"\n\n[[forward]]\nkind = \"webhook\"\nurl_file = \"/run/credentials/hook\"\nsecret = \"k3y\"\nevents = [\"alert:*\"]\nmin_urgency = 60\n"
        );
        let (s, warnings) = parse(&text, &cfg()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(s.forward.len(), 2);
        assert_eq!(s.forward[0].kind, Kind::Teams);
        assert_eq!(
            s.forward[0].url.as_ref().unwrap().expose().as_str(),
            TEAMS_URL
        );
        assert_eq!(s.forward[0].events, default_events());
        assert_eq!(s.forward[0].min_urgency, 0);
        assert_eq!(s.forward[1].kind, Kind::Webhook);
        assert_eq!(s.forward[1].min_urgency, 60);
        assert_eq!(s.forward[1].events[0].to_string(), "alert:*");
    }

    #[test]
    fn forward_urls_and_secrets_never_show_in_debug() {
        let text = format!(
            "[[forward]]\nkind = \"webhook\"\nurl = \"{TEAMS_URL}\"\nsecret = \"hmac-K3Y\"\n"
        );
        let (s, _) = parse(&text, &cfg()).unwrap();
        let shown = format!("{s:?} {:?}", s.forward[0]);
        assert!(!shown.contains("S3CR3T"), "{shown}");
        assert!(!shown.contains("hmac-K3Y"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
        let targets = forward_targets(&s.forward, &cfg()).unwrap();
        let shown = format!("{targets:?}");
        assert!(
            !shown.contains("S3CR3T") && !shown.contains("hmac-K3Y"),
            "{shown}"
        );
    }

    #[test]
    fn an_unknown_kind_is_rejected_naming_the_key_and_the_file() {
        let msg = err("[[forward]]\nkind = \"discord\"\nurl = \"https://x.example/h\"\n");
        assert!(msg.contains("`forward[0].kind`"), "{msg}");
        assert!(msg.contains("/etc/sekoia/config.toml"), "{msg}");
        assert!(msg.contains("teams-legacy"), "lists the kinds: {msg}");
    }

    #[test]
    fn a_bad_url_is_rejected_without_echoing_it() {
        for url in [
            "http://hooks.example/S3CR3T",
            "ftp://hooks.example/S3CR3T",
            "https://user:S3CR3T@hooks.example/x",
            "not a url S3CR3T",
            "https://hooks.example/S3CR3T\thttps://other.example/",
        ] {
            let msg = err(&format!("[[forward]]\nkind = \"slack\"\nurl = \"{url}\"\n"));
            assert!(msg.contains("`forward[0].url`"), "{msg}");
            assert!(!msg.contains("S3CR3T"), "echoes the URL: {msg}");
        }
    }

    #[test]
    fn forward_entries_round_trip_through_toml() {
        let text = format!(
            "[notify]\nmin_urgency = 10\n\n[[forward]]\nkind = \"teams\"\nurl = \"{TEAMS_URL}\"\n\n[[forward]]\nkind = \"webhook\"\nurl_file = \"/f\"\nsecret = \"k\"\nmin_urgency = 5\n"
        );
        let (s, _) = parse(&text, &cfg()).unwrap();
        let written = toml::to_string(&s).unwrap();
        assert_eq!(parse(&written, &cfg()).unwrap().0, s, "{written}");
    }

    #[test]
    fn a_loopback_http_url_is_accepted() {
        let (s, _) = parse(
            "[[forward]]\nkind = \"mattermost\"\nurl = \"http://127.0.0.1:9/hooks/x\"\n",
            &cfg(),
        )
        .unwrap();
        assert_eq!(s.forward[0].kind, Kind::Mattermost);
    }

    #[test]
    fn url_and_url_file_are_exclusive_and_one_is_required() {
        let msg = err("[[forward]]\nkind = \"slack\"\n");
        assert!(msg.contains("`forward[0].url`"), "{msg}");
        let msg = err(
            "[[forward]]\nkind = \"slack\"\nurl = \"https://h.example/x\"\nurl_file = \"/f\"\n",
        );
        assert!(msg.contains("`forward[0].url_file`"), "{msg}");
    }

    #[test]
    fn a_secret_is_only_for_webhooks_and_never_empty() {
        let msg =
            err("[[forward]]\nkind = \"slack\"\nurl = \"https://h.example/x\"\nsecret = \"abc\"\n");
        assert!(msg.contains("`forward[0].secret`"), "{msg}");
        assert!(!msg.contains("abc\""), "{msg}");
        let msg = err(
            "[[forward]]\nkind = \"webhook\"\nurl = \"https://h.example/x\"\nsecret = \"  \"\n",
        );
        assert!(msg.contains("`forward[0].secret`"), "{msg}");
    }

    #[test]
    fn bad_filters_and_urgencies_and_unknown_keys_are_rejected() {
        let msg = err(
            "[[forward]]\nkind = \"slack\"\nurl = \"https://h.example/x\"\nmin_urgency = 101\n",
        );
        assert!(msg.contains("`forward[0].min_urgency`"), "{msg}");
        let msg = err(
            "[[forward]]\nkind = \"slack\"\nurl = \"https://h.example/x\"\nevents = [\"ALERT\"]\n",
        );
        assert!(msg.contains("`forward[0].events[0]`"), "{msg}");
        let (_, warnings) = parse(
            "[[forward]]\nkind = \"slack\"\nurl = \"https://h.example/x\"\nuri = 1\n",
            &cfg(),
        )
        .unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("forward.0.uri")),
            "{warnings:?}"
        );
        let msg = err("forward = 3\n");
        assert!(msg.contains("`forward`"), "{msg}");
    }

    #[test]
    fn url_file_is_read_and_checked_at_resolution() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, format!("{TEAMS_URL}\n")).unwrap();
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "http://public.example/S3CR3T").unwrap();
        let huge = dir.path().join("huge");
        std::fs::write(&huge, vec![b'a'; 100_000]).unwrap();
        let two = dir.path().join("two");
        std::fs::write(&two, format!("{TEAMS_URL}\nhttps://other.example/S3CR3T\n")).unwrap();
        let entry = |file: &Path| ForwardSettings {
            kind: Kind::Teams,
            url: None,
            url_file: Some(file.to_owned()),
            url_keyring: None,
            secret: None,
            events: default_events(),
            min_urgency: 0,
        };
        let t = forward_targets(&[entry(&good)], &cfg()).unwrap();
        assert_eq!(t[0].destination.url.expose().as_str(), TEAMS_URL);
        for (file, words) in [
            (bad.as_path(), "plain http"),
            (huge.as_path(), "larger than"),
            (two.as_path(), "one URL only"),
            (dir.path().join("missing").as_path(), "cannot be read"),
        ] {
            let msg = forward_targets(&[entry(file)], &cfg())
                .unwrap_err()
                .to_string();
            assert!(msg.contains("`forward[0].url_file`"), "{msg}");
            assert!(msg.contains("/etc/sekoia/config.toml"), "{msg}");
            assert!(msg.contains(words), "{msg}");
            assert!(!msg.contains("S3CR3T"), "{msg}");
        }
    }

    #[test]
    fn a_keyring_entry_is_a_third_way_to_give_the_url_and_its_id_is_checked() {
        let ok = "[[forward]]\nkind = \"slack\"\nurl_keyring = \"a1b2-c3\"\n";
        let (settings, _) = parse(ok, &cfg()).unwrap();
        assert_eq!(settings.forward[0].url_keyring.as_deref(), Some("a1b2-c3"));
        let both = "[[forward]]\nkind = \"slack\"\nurl_keyring = \"a1\"\nurl_file = \"/x\"\n";
        assert!(
            err(both).contains("one of url, url_file and url_keyring"),
            "{}",
            err(both)
        );
        for bad in [
            "\"\"",
            "\"UPPER\"",
            "\"../x\"",
            &format!("\"{}\"", "a".repeat(41)),
        ] {
            let text = format!("[[forward]]\nkind = \"slack\"\nurl_keyring = {bad}\n");
            assert!(
                err(&text).contains("forward[0].url_keyring"),
                "{bad}: {}",
                err(&text)
            );
        }
    }
}
