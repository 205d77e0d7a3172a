//! The settings form: what the desktop app's settings window sends, checked
//! field by field, then written into `config.toml` with `toml_edit` so the
//! user's comments and the keys the form does not show stay as they were.
//! The file is validated as a whole (through [`super::parse`]) before it
//! replaces the old one: a bad form never leaves a bad file behind.
//!
//! Must not: touch secrets (the API key goes to the keyring, the hook secret
//! and tunnel credentials are not part of the form) or apply the settings
//! (the shell restarts the engine with what [`save`] returns).

use super::{
    parse, read_config, write_atomic, EventFilter, Region, Settings, SettingsError, TunnelKind,
};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::Path;
use std::str::FromStr;
use url::Url;

/// The form's fields, as the UI sends them: text as typed, checked here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Form {
    /// A region name, or `"custom"` with both URLs set.
    pub region: String,
    #[serde(default)]
    pub api_url: String,
    #[serde(default)]
    pub app_url: String,
    /// The listener port on 127.0.0.1.
    pub port: String,
    /// `type:action` pairs that raise a pop-up.
    pub events: Vec<String>,
    pub min_urgency: String,
    pub tunnel_kind: String,
    /// kind = none: a URL already routed to the listener (may be empty);
    /// kind = command: the fixed URL, when the command does not print one.
    #[serde(default)]
    pub public_url: String,
    /// kind = command.
    #[serde(default)]
    pub command: String,
    /// kind = bore: the bore server.
    #[serde(default)]
    pub server: String,
    /// kind = ngrok: a static domain (optional).
    #[serde(default)]
    pub domain: String,
    /// "Connection": `webhook` (through a tunnel) or `direct` (the LiveAPI
    /// WebSocket too, `[liveapi] enabled`); empty leaves it as it is.
    #[serde(default)]
    pub connection: String,
    /// `[liveapi] url` (empty: the region's).
    #[serde(default)]
    pub liveapi_url: String,
    /// `[notify] always_popup_urgency` (empty: the default, 80).
    #[serde(default)]
    pub always_popup_urgency: String,
    /// `[notify] remind_minutes` (empty or 0: no reminders).
    #[serde(default)]
    pub remind_minutes: String,
    /// `[notify] resident_urgent`.
    #[serde(default = "resident_default")]
    pub resident_urgent: bool,
    /// `[notify.sound]`: per band, a sound name, a file path, or "" (none).
    #[serde(default)]
    pub sound: SoundForm,
    /// `[store] keep_days`: days the feed keeps events, 0 to 3650 (0 keeps
    /// everything; empty: the default, 90). Absent (a window that does not
    /// show the field): the file's value is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<String>,
}

fn resident_default() -> bool {
    true
}

/// The five sound fields of the settings window, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SoundForm {
    pub urgent: String,
    pub major: String,
    pub high: String,
    pub moderate: String,
    pub low: String,
}

/// A field the user must fix, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{label}: {message}")]
pub struct FieldError {
    /// The form field's name (as in [`Form`]), for the UI to highlight.
    pub field: &'static str,
    /// What the user sees next to the field.
    pub label: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error(transparent)]
    Field(#[from] FieldError),
    /// Reading or writing the file failed, or the edited file did not parse.
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// Longest text accepted in any field: nothing legitimate comes close.
const MAX_FIELD_CHARS: usize = 2048;

impl Form {
    /// The form as it shows `settings` (what the window opens with).
    pub fn from_settings(settings: &Settings) -> Form {
        let custom = settings.sekoia.api_url.is_some() || settings.sekoia.app_url.is_some();
        let url = |u: &Option<Url>| u.as_ref().map(Url::to_string).unwrap_or_default();
        Form {
            region: if custom {
                "custom".to_owned()
            } else {
                settings.sekoia.region.as_str().to_owned()
            },
            api_url: if custom {
                settings.api_url().to_string()
            } else {
                String::new()
            },
            app_url: if custom {
                settings.app_url().to_string()
            } else {
                String::new()
            },
            port: settings.listener.bind.port().to_string(),
            events: settings
                .notify
                .events
                .iter()
                .map(|e| e.to_string())
                .collect(),
            min_urgency: settings.notify.min_urgency.to_string(),
            tunnel_kind: settings.tunnel.kind.as_str().to_owned(),
            public_url: url(&settings.tunnel.public_url),
            command: settings.tunnel.command.clone().unwrap_or_default(),
            server: settings.tunnel.server.clone().unwrap_or_default(),
            domain: settings.tunnel.domain.clone().unwrap_or_default(),
            connection: if settings.liveapi.enabled {
                "direct"
            } else {
                "webhook"
            }
            .to_owned(),
            liveapi_url: url(&settings.liveapi.url),
            always_popup_urgency: settings.notify.always_popup_urgency.to_string(),
            remind_minutes: settings.notify.remind_minutes.to_string(),
            resident_urgent: settings.notify.resident_urgent,
            keep_days: Some(settings.store.keep_days.to_string()),
            sound: SoundForm {
                urgent: settings.notify.sound.urgent.clone(),
                major: settings.notify.sound.major.clone(),
                high: settings.notify.sound.high.clone(),
                moderate: settings.notify.sound.moderate.clone(),
                low: settings.notify.sound.low.clone(),
            },
        }
    }

    /// Checks every field; the first problem found is returned.
    fn edits(&self, current: &Settings) -> Result<Vec<Edit>, FieldError> {
        let keep_days = self.keep_days.clone().unwrap_or_default();
        let fields = [
            ("region", &self.region),
            ("api_url", &self.api_url),
            ("app_url", &self.app_url),
            ("port", &self.port),
            ("min_urgency", &self.min_urgency),
            ("tunnel_kind", &self.tunnel_kind),
            ("public_url", &self.public_url),
            ("command", &self.command),
            ("server", &self.server),
            ("domain", &self.domain),
            ("connection", &self.connection),
            ("liveapi_url", &self.liveapi_url),
            ("always_popup_urgency", &self.always_popup_urgency),
            ("remind_minutes", &self.remind_minutes),
            ("keep_days", &keep_days),
        ];
        for (field, text) in fields {
            check_text(field, label(field), text)?;
        }
        let mut edits = Vec::new();

        let region = self.region.trim();
        if region == "custom" {
            let api = https_url("api_url", &self.api_url)?;
            let app = https_url("app_url", &self.app_url)?;
            edits.push(Edit::set("sekoia", "api_url", api.as_str()));
            edits.push(Edit::set("sekoia", "app_url", app.as_str()));
        } else {
            let region = Region::from_str(region).map_err(|_| {
                field_error(
                    "region",
                    format!(
                        "choose one of {} or custom",
                        Region::ALL.map(Region::as_str).join(", ")
                    ),
                )
            })?;
            edits.push(Edit::set("sekoia", "region", region.as_str()));
            edits.push(Edit::remove("sekoia", "api_url"));
            edits.push(Edit::remove("sekoia", "app_url"));
        }

        let port: u16 = self
            .port
            .trim()
            .parse()
            .ok()
            .filter(|p| *p >= 1024)
            .ok_or_else(|| {
                field_error(
                    "port",
                    format!(
                        "expected a whole number from 1024 to 65535, got \"{}\"",
                        shown(&self.port)
                    ),
                )
            })?;
        let mut bind = current.listener.bind;
        bind.set_port(port);
        edits.push(Edit::set("listener", "bind", bind.to_string().as_str()));

        if self.events.len() > 64 {
            return Err(field_error("events", "at most 64 event kinds".to_owned()));
        }
        let mut events = toml_edit::Array::new();
        for text in &self.events {
            check_text("events", label("events"), text)?;
            let filter = EventFilter::from_str(text.trim()).map_err(|_| {
                field_error(
                    "events",
                    format!(
                        "expected type:action pairs such as alert:created, got \"{}\"",
                        shown(text)
                    ),
                )
            })?;
            events.push(filter.to_string());
        }
        edits.push(Edit {
            table: "notify",
            key: "events",
            value: Some(toml_edit::Value::Array(events)),
        });

        let min: u8 = self
            .min_urgency
            .trim()
            .parse()
            .ok()
            .filter(|u| *u <= 100)
            .ok_or_else(|| {
                field_error(
                    "min_urgency",
                    format!(
                        "expected a whole number from 0 to 100, got \"{}\"",
                        shown(&self.min_urgency)
                    ),
                )
            })?;
        edits.push(Edit {
            table: "notify",
            key: "min_urgency",
            value: Some(i64::from(min).into()),
        });

        let kind = TunnelKind::from_str(self.tunnel_kind.trim()).map_err(|_| {
            field_error(
                "tunnel_kind",
                "choose none, cloudflared, ngrok, bore or command".to_owned(),
            )
        })?;
        edits.push(Edit::set("tunnel", "kind", kind.as_str()));
        let optional = |field: &'static str, text: &str| -> Edit {
            match text.trim() {
                "" => Edit::remove("tunnel", field),
                t => Edit::set("tunnel", field, t),
            }
        };
        match self.public_url.trim() {
            "" => edits.push(Edit::remove("tunnel", "public_url")),
            _ => {
                let url = https_url("public_url", &self.public_url)?;
                edits.push(Edit::set("tunnel", "public_url", url.as_str()));
            }
        }
        if kind == TunnelKind::Command && self.command.trim().is_empty() {
            return Err(field_error(
                "command",
                "a command is needed with the command tunnel; {port} is replaced by the listener port".to_owned(),
            ));
        }
        if kind == TunnelKind::Bore && self.server.trim().is_empty() {
            return Err(field_error(
                "server",
                "a bore server (host or host:port) is needed with the bore tunnel".to_owned(),
            ));
        }
        edits.push(optional("command", &self.command));
        edits.push(optional("server", &self.server));
        edits.push(optional("domain", &self.domain));

        let direct = match self.connection.trim() {
            "" => None,
            "webhook" => Some(false),
            "direct" => Some(true),
            _ => {
                return Err(field_error(
                    "connection",
                    "choose webhook (through a tunnel) or direct (LiveAPI)".to_owned(),
                ))
            }
        };
        if let Some(enabled) = direct {
            edits.push(Edit {
                table: "liveapi",
                key: "enabled",
                value: Some(enabled.into()),
            });
        }
        self.escalation_edits(&mut edits)?;
        match self.liveapi_url.trim() {
            "" => edits.push(Edit::remove("liveapi", "url")),
            text => {
                let url = super::check_base_url(text, "wss", "ws").map_err(|why| {
                    field_error(
                        "liveapi_url",
                        format!("expected a wss:// URL such as wss://app.sekoia.io/live/; {why}"),
                    )
                })?;
                edits.push(Edit::set("liveapi", "url", url.as_str()));
            }
        }
        Ok(edits)
    }
}

impl Form {
    /// The pop-up escalation fields: always-pop-up urgency, reminders,
    /// residency and the sound of each band.
    fn escalation_edits(&self, edits: &mut Vec<Edit>) -> Result<(), FieldError> {
        let number = |field: &'static str, text: &str, max: u32, what: &str| match text.trim() {
            "" => Ok(None),
            t => t
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= max)
                .map(Some)
                .ok_or_else(|| {
                    field_error(
                        field,
                        format!("expected {what} from 0 to {max}, got \"{}\"", shown(text)),
                    )
                }),
        };
        for (key, text, max, what) in [
            (
                "always_popup_urgency",
                &self.always_popup_urgency,
                100,
                "an urgency",
            ),
            (
                "remind_minutes",
                &self.remind_minutes,
                1440,
                "a number of minutes",
            ),
        ] {
            edits.push(match number(key, text, max, what)? {
                Some(n) => Edit {
                    table: "notify",
                    key,
                    value: Some(i64::from(n).into()),
                },
                None => Edit::remove("notify", key),
            });
        }
        // Retention sits in `[store]`, checked like the numbers above.
        let days = super::StoreSettings::MAX_KEEP_DAYS;
        if let Some(text) = &self.keep_days {
            edits.push(match number("keep_days", text, days, "a number of days")? {
                Some(n) => Edit {
                    table: "store",
                    key: "keep_days",
                    value: Some(i64::from(n).into()),
                },
                None => Edit::remove("store", "keep_days"),
            });
        }
        edits.push(Edit {
            table: "notify",
            key: "resident_urgent",
            value: Some(self.resident_urgent.into()),
        });
        for (key, text) in [
            ("urgent", &self.sound.urgent),
            ("major", &self.sound.major),
            ("high", &self.sound.high),
            ("moderate", &self.sound.moderate),
            ("low", &self.sound.low),
        ] {
            let text = text.trim();
            if !super::valid_sound(text) {
                return Err(field_error(
                    "sound",
                    format!(
                        "{key}: expected a sound name such as alarm-clock-elapsed, the absolute path of a sound file, or nothing; got \"{}\"",
                        shown(text)
                    ),
                ));
            }
            edits.push(Edit::set("notify.sound", key, text));
        }
        Ok(())
    }
}

/// A forward destination as the settings window adds it. The URL goes to
/// the OS keyring (the shell stores it), never to the file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NewForward {
    /// teams | teams-legacy | slack | mattermost | webhook
    pub kind: String,
    pub url: String,
    pub events: Vec<String>,
    pub min_urgency: String,
}

/// What a valid [`NewForward`] says.
#[derive(Debug)]
pub struct CheckedForward {
    pub kind: super::destination::Kind,
    pub url: Url,
    pub events: Vec<EventFilter>,
    pub min_urgency: u8,
}

impl NewForward {
    /// Checks every field; errors name the field, never echo the URL.
    pub fn check(&self) -> Result<CheckedForward, FieldError> {
        for (field, text) in [
            ("forward_kind", &self.kind),
            ("forward_min_urgency", &self.min_urgency),
        ] {
            check_text(field, label(field), text)?;
        }
        let kind: super::destination::Kind =
            serde_json::from_value(serde_json::Value::String(self.kind.trim().to_owned()))
                .map_err(|_| {
                    field_error(
                        "forward_kind",
                        "choose teams, teams-legacy, slack, mattermost or webhook".to_owned(),
                    )
                })?;
        if self.url.chars().count() > MAX_FIELD_CHARS {
            return Err(field_error(
                "forward_url",
                format!("too long (at most {MAX_FIELD_CHARS} characters)"),
            ));
        }
        let url = super::check_forward_url(&self.url).map_err(|detail| {
            field_error(
                "forward_url",
                format!("expected an https:// incoming-webhook URL; {detail}"),
            )
        })?;
        let mut events = Vec::new();
        for text in self.events.iter().take(65) {
            check_text("forward_events", label("forward_events"), text)?;
            events.push(EventFilter::from_str(text.trim()).map_err(|_| {
                field_error(
                    "forward_events",
                    format!("expected type:action pairs, got \"{}\"", shown(text)),
                )
            })?);
        }
        if events.is_empty() || self.events.len() > 64 {
            return Err(field_error(
                "forward_events",
                "choose 1 to 64 events".to_owned(),
            ));
        }
        let min_urgency = self
            .min_urgency
            .trim()
            .parse()
            .ok()
            .filter(|u: &u8| *u <= 100)
            .ok_or_else(|| {
                field_error(
                    "forward_min_urgency",
                    format!(
                        "expected a whole number from 0 to 100, got \"{}\"",
                        shown(&self.min_urgency)
                    ),
                )
            })?;
        Ok(CheckedForward {
            kind,
            url,
            events,
            min_urgency,
        })
    }
}

/// Appends a `[[forward]]` table whose URL is in the keyring under
/// `keyring_id`, validates the whole file and writes it.
pub fn add_forward(
    path: &Path,
    new: &CheckedForward,
    keyring_id: &str,
) -> Result<Settings, FormError> {
    edit_file(path, |doc| {
        let mut table = toml_edit::Table::new();
        table.insert("kind", toml_edit::value(new.kind.to_string()));
        table.insert("url_keyring", toml_edit::value(keyring_id));
        let mut events = toml_edit::Array::new();
        for e in &new.events {
            events.push(e.to_string());
        }
        table.insert("events", toml_edit::value(events));
        table.insert("min_urgency", toml_edit::value(i64::from(new.min_urgency)));
        match doc
            .entry("forward")
            .or_insert_with(|| toml_edit::Item::ArrayOfTables(toml_edit::ArrayOfTables::new()))
        {
            toml_edit::Item::ArrayOfTables(tables) => {
                tables.push(table);
                Ok(())
            }
            _ => Err(field_error(
                "forward_kind",
                "the config's `forward` is not a list of [[forward]] tables; fix it by hand"
                    .to_owned(),
            )),
        }
    })
}

/// Removes the `index`th `[[forward]]` table; returns the settings now in
/// force and the keyring id its URL was stored under, if any.
pub fn remove_forward(path: &Path, index: usize) -> Result<(Settings, Option<String>), FormError> {
    let mut removed = None;
    let settings = edit_file(path, |doc| {
        let Some(toml_edit::Item::ArrayOfTables(tables)) = doc.get_mut("forward") else {
            return Err(field_error(
                "forward_kind",
                "there is no such destination".to_owned(),
            ));
        };
        if index >= tables.len() {
            return Err(field_error(
                "forward_kind",
                "there is no such destination".to_owned(),
            ));
        }
        removed = tables
            .get(index)
            .and_then(|t| t.get("url_keyring"))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        tables.remove(index);
        if tables.is_empty() {
            doc.remove("forward");
        }
        Ok(())
    })?;
    Ok((settings, removed))
}

/// Reads the file, applies `change`, validates the whole result and writes
/// it atomically (comments kept).
fn edit_file(
    path: &Path,
    change: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<(), FieldError>,
) -> Result<Settings, FormError> {
    let text = read_config(path)?.unwrap_or_default();
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|_| FieldError {
        field: "forward_kind",
        label: "Config file",
        message: format!("{} could not be edited; fix it by hand", path.display()),
    })?;
    change(&mut doc)?;
    let updated = doc.to_string();
    let (settings, _) = parse(&updated, path)?;
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    write_atomic(&target, &updated, false)?;
    Ok(settings)
}

/// Checks `form`, writes it into the config file at `path` (atomically,
/// keeping comments and other keys) and returns the settings now in force.
pub fn save(path: &Path, form: &Form) -> Result<Settings, FormError> {
    let text = read_config(path)?.unwrap_or_default();
    let (current, _) = parse(&text, path)?;
    let edits = form.edits(&current)?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|_| {
        // parse() above accepted the text, so toml_edit will too; this is
        // only a guard against the two parsers disagreeing.
        FieldError {
            field: "region",
            label: "Config file",
            message: format!("{} could not be edited; fix it by hand", path.display()),
        }
    })?;
    for edit in edits {
        edit.apply(&mut doc);
    }
    let updated = doc.to_string();
    // The whole file must still be valid before it replaces the old one.
    let (settings, _) = parse(&updated, path)?;
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    write_atomic(&target, &updated, false)?;
    Ok(settings)
}

/// One key to set or remove in a table of the document.
struct Edit {
    table: &'static str,
    key: &'static str,
    value: Option<toml_edit::Value>,
}

impl Edit {
    fn set(table: &'static str, key: &'static str, value: &str) -> Edit {
        Edit {
            table,
            key,
            value: Some(value.into()),
        }
    }

    fn remove(table: &'static str, key: &'static str) -> Edit {
        Edit {
            table,
            key,
            value: None,
        }
    }

    fn apply(self, doc: &mut toml_edit::DocumentMut) {
        let (top, sub) = match self.table.split_once('.') {
            Some((top, sub)) => (top, Some(sub)),
            None => (self.table, None),
        };
        let mut item = doc
            .entry(top)
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
        // A sub-table such as `[notify.sound]`.
        if let Some(sub) = sub {
            if let toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) = item {
                *item = toml_edit::Item::Table(std::mem::take(t).into_table());
            }
            let Some(parent) = item.as_table_mut() else {
                return;
            };
            item = parent
                .entry(sub)
                .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
        }
        // A table the user wrote inline stays inline.
        if let toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) = item {
            match self.value {
                Some(v) => {
                    t.insert(self.key, v);
                }
                None => {
                    t.remove(self.key);
                }
            }
            return;
        }
        if !item.is_table() {
            *item = toml_edit::Item::Table(toml_edit::Table::new());
        }
        if let Some(table) = item.as_table_mut() {
            match self.value {
                Some(v) => {
                    // Keep the comment and spacing around an existing key.
                    match table.get_mut(self.key).and_then(|i| i.as_value_mut()) {
                        Some(old) => {
                            let decor = old.decor().clone();
                            *old = v;
                            *old.decor_mut() = decor;
                        }
                        None => {
                            table.insert(self.key, toml_edit::Item::Value(v));
                        }
                    }
                }
                None => {
                    table.remove(self.key);
                }
            }
        }
    }
}

fn label(field: &str) -> &'static str {
    match field {
        "region" => "Region",
        "api_url" => "API URL",
        "app_url" => "App URL",
        "port" => "Listener port",
        "events" => "Events",
        "min_urgency" => "Minimum urgency",
        "tunnel_kind" => "Tunnel",
        "public_url" => "Public URL",
        "command" => "Tunnel command",
        "server" => "bore server",
        "domain" => "ngrok domain",
        "connection" => "Connection",
        "liveapi_url" => "LiveAPI URL",
        "always_popup_urgency" => "Always pop up from urgency",
        "remind_minutes" => "Remind every (minutes)",
        "keep_days" => "Keep the feed (days)",
        "sound" => "Sounds",
        "forward_kind" => "Destination kind",
        "forward_url" => "Webhook URL",
        "forward_events" => "Forwarded events",
        "forward_min_urgency" => "Minimum urgency to forward",
        _ => "Setting",
    }
}

fn field_error(field: &'static str, message: String) -> FieldError {
    FieldError {
        field,
        label: label(field),
        message,
    }
}

fn check_text(field: &'static str, label: &'static str, text: &str) -> Result<(), FieldError> {
    if text.chars().count() > MAX_FIELD_CHARS {
        return Err(FieldError {
            field,
            label,
            message: format!("too long (at most {MAX_FIELD_CHARS} characters)"),
        });
    }
    if text.chars().any(char::is_control) {
        return Err(FieldError {
            field,
            label,
            message: "control characters (line breaks, tabs...) are not allowed".to_owned(),
        });
    }
    Ok(())
}

fn https_url(field: &'static str, text: &str) -> Result<Url, FieldError> {
    let url = Url::parse(text.trim()).map_err(|_| {
        field_error(
            field,
            format!(
                "expected a URL such as https://example.com, got \"{}\"",
                shown(text)
            ),
        )
    })?;
    // Plain http only to this machine (a local proxy, a test double).
    let loopback = matches!(
        url.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || !url.username().is_empty() || url.password().is_some() {
        return Err(field_error(
            field,
            "expected an https:// URL without user name or password".to_owned(),
        ));
    }
    Ok(url)
}

/// The start of what the user typed, for an error message.
fn shown(text: &str) -> String {
    text.trim().chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Form {
        Form {
            region: "fra2".into(),
            api_url: String::new(),
            app_url: String::new(),
            port: "9000".into(),
            events: vec!["alert:created".into(), "alert:updated".into()],
            min_urgency: "40".into(),
            tunnel_kind: "none".into(),
            public_url: String::new(),
            command: String::new(),
            server: String::new(),
            domain: String::new(),
            connection: "webhook".into(),
            liveapi_url: String::new(),
            always_popup_urgency: "80".into(),
            remind_minutes: "0".into(),
            resident_urgent: true,
            keep_days: Some("90".into()),
            sound: SoundForm {
                urgent: "alarm-clock-elapsed".into(),
                major: "message-new-instant".into(),
                ..SoundForm::default()
            },
        }
    }

    #[test]
    fn direct_mode_is_saved_and_read_back_and_a_plain_remote_url_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = config(dir.path(), USER_FILE);
        let direct = Form {
            connection: "direct".into(),
            liveapi_url: "wss://app.fra2.sekoia.io/live".into(),
            ..form()
        };
        let settings = save(&path, &direct).unwrap();
        assert!(settings.liveapi.enabled);
        assert_eq!(
            settings.liveapi_url().as_str(),
            "wss://app.fra2.sekoia.io/live"
        );
        assert_eq!(Form::from_settings(&settings), direct);
        // Back to the webhook: off, and the region's URL again.
        let settings = save(&path, &form()).unwrap();
        assert!(!settings.liveapi.enabled);
        assert_eq!(settings.liveapi.url, None);
        let err = save(
            &path,
            &Form {
                liveapi_url: "ws://live.example.com/".into(),
                ..direct.clone()
            },
        )
        .unwrap_err();
        assert!(
            matches!(&err, FormError::Field(f) if f.field == "liveapi_url"),
            "{err:?}"
        );
        let err = save(
            &path,
            &Form {
                connection: "carrier pigeon".into(),
                ..direct
            },
        )
        .unwrap_err();
        assert!(
            matches!(&err, FormError::Field(f) if f.field == "connection"),
            "{err:?}"
        );
        // An empty connection (an older window) leaves the setting alone.
        let settings = save(
            &path,
            &Form {
                connection: String::new(),
                ..form()
            },
        )
        .unwrap();
        assert!(!settings.liveapi.enabled);
    }

    fn config(dir: &Path, text: &str) -> std::path::PathBuf {
        let path = dir.join("config.toml");
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn escalation_and_retention_fields_are_saved_to_their_tables_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = config(
            dir.path(),
            &format!("{USER_FILE}\n[notify.sound] # per band\nurgent = \"bell\"\n"),
        );
        let escalated = Form {
            always_popup_urgency: "70".into(),
            remind_minutes: "15".into(),
            resident_urgent: false,
            keep_days: Some("30".into()),
            sound: SoundForm {
                urgent: "alarm-clock-elapsed".into(),
                major: String::new(),
                high: "/usr/share/sounds/high.oga".into(),
                ..SoundForm::default()
            },
            ..form()
        };
        let settings = save(&path, &escalated).unwrap();
        assert_eq!(settings.notify.always_popup_urgency, 70);
        assert_eq!(settings.notify.remind_minutes, 15);
        assert_eq!(settings.store.keep_days, 30);
        // A window that does not send the field leaves the file's value.
        let without = save(
            &path,
            &Form {
                keep_days: None,
                ..escalated.clone()
            },
        )
        .unwrap();
        assert_eq!(without.store.keep_days, 30);
        assert!(!settings.notify.resident_urgent);
        assert_eq!(settings.notify.sound.urgent, "alarm-clock-elapsed");
        assert_eq!(settings.notify.sound.major, "");
        assert_eq!(settings.notify.sound.high, "/usr/share/sounds/high.oga");
        assert_eq!(Form::from_settings(&settings), escalated);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("[notify.sound] # per band"), "{text}");
        for (bad, field) in [
            (
                Form {
                    remind_minutes: "2000".into(),
                    ..form()
                },
                "remind_minutes",
            ),
            (
                Form {
                    keep_days: Some("4000".into()),
                    ..form()
                },
                "keep_days",
            ),
            (
                Form {
                    always_popup_urgency: "101".into(),
                    ..form()
                },
                "always_popup_urgency",
            ),
            (
                Form {
                    sound: SoundForm {
                        low: "rm -rf /".into(),
                        ..SoundForm::default()
                    },
                    ..form()
                },
                "sound",
            ),
        ] {
            let err = save(&path, &bad).unwrap_err();
            assert!(
                matches!(&err, FormError::Field(f) if f.field == field),
                "{field}: {err}"
            );
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "untouched");
    }

    const USER_FILE: &str = "# my notes\n[sekoia]\nregion = \"fra1\" # where we are\n\n[listener]\nhook_secret = \"abcdefghijklmnopqrstuvwx\"\n";

    #[test]
    fn a_saved_form_keeps_comments_and_the_hook_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = config(dir.path(), USER_FILE);
        let settings = save(&path, &form()).unwrap();
        assert_eq!(settings.sekoia.region, Region::Fra2);
        assert_eq!(settings.listener.bind.port(), 9000);
        assert!(settings.listener.bind.ip().is_loopback());
        assert_eq!(settings.notify.min_urgency, 40);
        assert_eq!(settings.notify.events.len(), 2);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# my notes\n"), "{text}");
        assert!(text.contains("region = \"fra2\" # where we are"), "{text}");
        assert!(text.contains("hook_secret = \"abcdefghijklmnopqrstuvwx\""));
        // What was saved reads back as the same form.
        let (reread, _) = parse(&text, &path).unwrap();
        assert_eq!(Form::from_settings(&reread), form());
    }

    #[test]
    fn custom_urls_replace_the_region_and_a_region_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = config(dir.path(), USER_FILE);
        let custom = Form {
            region: "custom".into(),
            api_url: "https://api.example.test/".into(),
            app_url: "https://app.example.test/".into(),
            ..form()
        };
        let settings = save(&path, &custom).unwrap();
        assert_eq!(settings.api_url().as_str(), "https://api.example.test/");
        assert_eq!(Form::from_settings(&settings).region, "custom");
        let settings = save(&path, &form()).unwrap();
        assert_eq!(settings.sekoia.api_url, None);
        assert!(!fs::read_to_string(&path).unwrap().contains("example.test"));
        // Plain http is fine to this machine only (a local proxy).
        let local = Form {
            api_url: "http://127.0.0.1:9999/".into(),
            ..custom
        };
        assert!(save(&path, &local).is_ok());
    }

    #[test]
    fn bad_fields_are_named_and_leave_the_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = config(dir.path(), USER_FILE);
        let cases: Vec<(Form, &str)> = vec![
            (
                Form {
                    port: "80".into(),
                    ..form()
                },
                "port",
            ),
            (
                Form {
                    port: "65536".into(),
                    ..form()
                },
                "port",
            ),
            (
                Form {
                    port: "9000abc".into(),
                    ..form()
                },
                "port",
            ),
            (
                Form {
                    port: "".into(),
                    ..form()
                },
                "port",
            ),
            (
                Form {
                    region: "mars1".into(),
                    ..form()
                },
                "region",
            ),
            (
                Form {
                    region: "custom".into(),
                    api_url: "http://api.example.test".into(),
                    app_url: "https://a.test".into(),
                    ..form()
                },
                "api_url",
            ),
            (
                Form {
                    region: "custom".into(),
                    api_url: "https://u:p@api.test".into(),
                    app_url: "https://a.test".into(),
                    ..form()
                },
                "api_url",
            ),
            (
                Form {
                    region: "custom".into(),
                    api_url: "https://api.test".into(),
                    app_url: "javascript:alert(1)".into(),
                    ..form()
                },
                "app_url",
            ),
            (
                Form {
                    min_urgency: "101".into(),
                    ..form()
                },
                "min_urgency",
            ),
            (
                Form {
                    min_urgency: "-1".into(),
                    ..form()
                },
                "min_urgency",
            ),
            (
                Form {
                    events: vec!["alert".into()],
                    ..form()
                },
                "events",
            ),
            (
                Form {
                    events: vec!["alert:created\n[x]".into()],
                    ..form()
                },
                "events",
            ),
            (
                Form {
                    events: vec!["a:b".into(); 65],
                    ..form()
                },
                "events",
            ),
            (
                Form {
                    tunnel_kind: "wormhole".into(),
                    ..form()
                },
                "tunnel_kind",
            ),
            (
                Form {
                    tunnel_kind: "command".into(),
                    ..form()
                },
                "command",
            ),
            (
                Form {
                    tunnel_kind: "bore".into(),
                    ..form()
                },
                "server",
            ),
            (
                Form {
                    public_url: "ftp://x".into(),
                    ..form()
                },
                "public_url",
            ),
            (
                Form {
                    command: "x".repeat(MAX_FIELD_CHARS + 1),
                    ..form()
                },
                "command",
            ),
            (
                Form {
                    server: "host\u{0}evil".into(),
                    ..form()
                },
                "server",
            ),
        ];
        for (bad, field) in cases {
            match save(&path, &bad) {
                Err(FormError::Field(e)) => {
                    assert_eq!(e.field, field, "{bad:?}: {e}");
                    assert!(e.to_string().starts_with(e.label), "{e}");
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
            assert_eq!(fs::read_to_string(&path).unwrap(), USER_FILE);
        }
    }

    #[test]
    fn hostile_text_in_a_valid_field_stays_one_toml_string() {
        let dir = tempfile::tempdir().unwrap();
        let path = config(dir.path(), USER_FILE);
        let sneaky = Form {
            tunnel_kind: "command".into(),
            command: "tunnel --port {port} \" ]\n".trim_end().to_owned()
                + " # [listener] bind = \"0.0.0.0:1\"",
            ..form()
        };
        let settings = save(&path, &sneaky).unwrap();
        assert!(settings.listener.bind.ip().is_loopback());
        assert_eq!(
            settings.tunnel.command.as_deref(),
            Some(sneaky.command.as_str())
        );
    }

    fn new_forward(url: &str) -> NewForward {
        NewForward {
            kind: "slack".into(),
            url: url.into(),
            events: vec!["alert:created".into()],
            min_urgency: "40".into(),
        }
    }

    #[test]
    fn a_forward_added_from_the_window_names_a_keyring_id_and_never_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = config(dir.path(), USER_FILE);
        let url = "https://hooks.slack.test/services/T0/B0/S3CR3T";
        let checked = new_forward(url).check().unwrap();
        let settings = add_forward(&path, &checked, "k1").unwrap();
        assert_eq!(settings.forward.len(), 1);
        assert_eq!(settings.forward[0].url_keyring.as_deref(), Some("k1"));
        assert_eq!(settings.forward[0].min_urgency, 40);
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("S3CR3T"), "{text}");
        assert!(text.starts_with("# my notes\n"), "{text}");
        add_forward(&path, &checked, "k2").unwrap();
        let (settings, removed) = remove_forward(&path, 0).unwrap();
        assert_eq!(removed.as_deref(), Some("k1"));
        assert_eq!(settings.forward[0].url_keyring.as_deref(), Some("k2"));
        let (settings, _) = remove_forward(&path, 0).unwrap();
        assert!(settings.forward.is_empty());
        assert!(remove_forward(&path, 0).is_err());
    }

    #[test]
    fn bad_forward_fields_are_named_without_echoing_the_url() {
        let secret = "http://hooks.example.test/S3CR3T";
        let cases = [
            (
                NewForward {
                    kind: "irc".into(),
                    ..new_forward("https://h.test/x")
                },
                "forward_kind",
            ),
            (new_forward(secret), "forward_url"),
            (new_forward("not a url S3CR3T"), "forward_url"),
            (
                NewForward {
                    events: vec![],
                    ..new_forward("https://h.test/x")
                },
                "forward_events",
            ),
            (
                NewForward {
                    events: vec!["alert".into()],
                    ..new_forward("https://h.test/x")
                },
                "forward_events",
            ),
            (
                NewForward {
                    min_urgency: "101".into(),
                    ..new_forward("https://h.test/x")
                },
                "forward_min_urgency",
            ),
        ];
        for (bad, field) in cases {
            let e = bad.check().unwrap_err();
            assert_eq!(e.field, field, "{bad:?}: {e}");
            assert!(!e.to_string().contains("S3CR3T"), "{e}");
        }
    }

    #[test]
    fn a_missing_file_is_created_from_the_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let settings = save(&path, &form()).unwrap();
        assert_eq!(settings.listener.bind.port(), 9000);
        assert!(path.exists());
    }
}
