//! Stage 4, settings: what the user configured, and the API key. Every
//! stage above reads its own section from here; the keyring (`secrets`)
//! and the `[[forward]]` destinations (`destination`) live here too. Must
//! not: import a stage above (it knows no store, pop-up or listener).
//!
//! Settings: where the config and data live, and `config.toml` itself (its
//! defaults, validation, first-run creation and the generated webhook secret).
//!
//! This module owns the file format of DESIGN.md section 3 and the region
//! presets of section 4. It never holds the Sekoia API key: the key is never
//! read from or written to `config.toml` (it lives in the OS keyring, or comes
//! from `SEKOIA_API_KEY` / an api-key file handled elsewhere). A config that
//! mentions an API key gets a warning telling the user to remove it.
//!
//! Loading never fails on an unknown key (it becomes a warning) but always
//! fails on a bad value, with a message that names the key, the file and the
//! expected form. Writes are atomic and leave the file at mode 0600 on unix.
//!
//! In detail: (+ `settings::forward` for `[[forward]]`: kind, `url`, `url_file`
//! or `url_keyring` (an id of a URL the desktop app stored in the OS keyring,
//! read through `secrets::forward_url`), webhook `secret`, `events`,
//! `min_urgency`; URLs and secrets redacted in `Debug`, never echoed in errors;
//! `forward_targets` reads `url_file`s at start): `config.toml` parsing (serde +
//! toml, unknown keys warned through `serde_ignored`, bad values located
//! through `serde_path_to_error`), defaults, region presets, first-run secret
//! generation, atomic 0600 writes that keep the user's comments (`toml_edit`).
//! `settings::form`: the settings window's form, checked field by field
//! (`FieldError` names the field), written with `toml_edit` and validated as a
//! whole file before it replaces the old one; also
//! `add_forward`/`remove_forward` for destinations added from the window (URL
//! in the keyring, never the file).

pub mod destination;
pub mod form;
pub mod secrets;

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

mod forward;
mod secret_file;

use crate::model::link::{append_segments, Links};
use crate::net::network::config as network;
/// `[network]` is read by `net::network`, which owns its type.
pub use crate::net::network::config::{
    shown_url as shown_proxy_url, NetworkSettings, ProxySetting,
};
pub use forward::{
    check_url as check_forward_url, forward_targets, is_keyring_id, ForwardSettings, ForwardTarget,
};

use base64::Engine as _;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use url::Url;

/// Directory name under the platform config and data directories.
pub const APP_DIR: &str = "sekoia-notifier";

/// File name of the config inside `<config dir>/sekoia-notifier/`.
pub const CONFIG_FILE_NAME: &str = "config.toml";

/// Largest config file we parse. The TOML parser has its own nesting limit;
/// this cap keeps hostile input (huge files, very long lines) cheap to reject.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// Length bounds and alphabet of a hook secret (URL-safe base64 alphabet).
const SECRET_MIN_LEN: usize = 22;
const SECRET_MAX_LEN: usize = 256;
/// Random bytes in a generated secret: 192 bits, 32 base64 characters.
const SECRET_RANDOM_BYTES: usize = 24;

// ---------------------------------------------------------------------------
// Errors

/// Everything that can go wrong with locations and `config.toml`. Each message
/// is one sentence: what, where, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// No home directory, so no default location for the config or data.
    #[error("cannot find the home directory to place the {what}; set HOME or pass --config FILE and --data-dir DIR")]
    NoHomeDir { what: &'static str },

    /// A file-system operation failed.
    #[error("cannot {action} {}: {cause}; check that the path exists and is accessible", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: io::Error,
    },

    /// The config file is larger than [`MAX_CONFIG_BYTES`].
    #[error("{} is larger than {limit} bytes, which is not a config file this program wrote; check the path or delete the file to get a fresh default", path.display())]
    TooLarge { path: PathBuf, limit: usize },

    /// The config file is not UTF-8 text.
    #[error("{} is not UTF-8 text (byte {offset}); save it as UTF-8 or delete it to get a fresh default", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },

    /// The config file is not valid TOML.
    #[error("TOML syntax error in {} at line {line}, column {column}: {detail}; fix that line or delete the file to get a fresh default", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        detail: String,
    },

    /// A key holds a value of the wrong type or form.
    #[error("invalid value for `{key}` in {}: expected {expected}{}", path.display(), detail_suffix(detail))]
    Invalid {
        path: PathBuf,
        key: String,
        expected: String,
        detail: String,
    },

    /// The OS random source failed while generating the hook secret.
    #[error("cannot generate the webhook secret: the operating system's random source failed ({detail}); retry, or set listener.hook_secret yourself")]
    Random { detail: String },
}

/// Our own validation details start with "got ..." and read as a continuation
/// of "expected X"; anything else (a serde message) goes in parentheses.
fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else if detail.starts_with("got ") {
        format!(", {detail}")
    } else {
        format!(" ({detail})")
    }
}

fn io_error(action: &'static str, path: &Path, cause: io::Error) -> SettingsError {
    SettingsError::Io {
        action,
        path: path.to_path_buf(),
        cause,
    }
}

// ---------------------------------------------------------------------------
// Locations

/// Where the config file and the data directory are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config_file: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    /// Explicit overrides win; otherwise `<config dir>/sekoia-notifier/config.toml`
    /// and `<data dir>/sekoia-notifier/` via `directories::BaseDirs`
    /// (`config_dir()`, `data_dir()`; XDG on Linux).
    pub fn resolve(
        config_file: Option<PathBuf>,
        data_dir: Option<PathBuf>,
    ) -> Result<Paths, SettingsError> {
        let base = || directories::BaseDirs::new();
        let config_file = match config_file {
            Some(p) => p,
            None => base()
                .ok_or(SettingsError::NoHomeDir {
                    what: "config file",
                })?
                .config_dir()
                .join(APP_DIR)
                .join(CONFIG_FILE_NAME),
        };
        let data_dir = match data_dir {
            Some(p) => p,
            None => base()
                .ok_or(SettingsError::NoHomeDir {
                    what: "data directory",
                })?
                .data_dir()
                .join(APP_DIR),
        };
        Ok(Paths {
            config_file,
            data_dir,
        })
    }
}

// ---------------------------------------------------------------------------
// The settings

/// The whole of `config.toml`. Every key is optional; `Default` gives the
/// values of DESIGN.md's sample.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub sekoia: SekoiaSettings,
    pub listener: ListenerSettings,
    pub tunnel: TunnelSettings,
    pub liveapi: LiveApiSettings,
    pub notify: NotifySettings,
    /// `[network]`: proxy and extra CA certificates for outgoing connections.
    pub network: NetworkSettings,
    /// `[store]`: how long the feed keeps what it received.
    pub store: StoreSettings,
    /// `[[forward]]` entries: team-chat destinations (URLs are secrets).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forward: Vec<ForwardSettings>,
}

/// `[sekoia]`: which Sekoia.io region, with optional URL overrides.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SekoiaSettings {
    pub region: Region,
    #[serde(
        deserialize_with = "de_http_base",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_url: Option<Url>,
    #[serde(
        deserialize_with = "de_http_base",
        skip_serializing_if = "Option::is_none"
    )]
    pub app_url: Option<Url>,
    /// Headless only: a file holding the API key (e.g. a systemd credential),
    /// read when neither the keyring nor `SEKOIA_API_KEY` has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
}

/// A Sekoia.io region (DESIGN.md section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    #[default]
    Fra1,
    Fra2,
    Mco1,
    Uae1,
    Usa1,
    Sgp1,
}

impl Region {
    /// Every region, in the order of the docs.
    pub const ALL: [Region; 6] = [
        Region::Fra1,
        Region::Fra2,
        Region::Mco1,
        Region::Uae1,
        Region::Usa1,
        Region::Sgp1,
    ];

    /// The name used in `config.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Fra1 => "fra1",
            Region::Fra2 => "fra2",
            Region::Mco1 => "mco1",
            Region::Uae1 => "uae1",
            Region::Usa1 => "usa1",
            Region::Sgp1 => "sgp1",
        }
    }

    fn app_str(self) -> &'static str {
        match self {
            Region::Fra1 => "https://app.sekoia.io",
            Region::Fra2 => "https://app.fra2.sekoia.io",
            Region::Mco1 => "https://app.mco1.sekoia.io",
            Region::Uae1 => "https://app.uae1.sekoia.io",
            Region::Usa1 => "https://app.usa1.sekoia.io",
            Region::Sgp1 => "https://app.sgp1.sekoia.io",
        }
    }

    fn api_str(self) -> &'static str {
        match self {
            Region::Fra1 => "https://api.sekoia.io",
            Region::Fra2 => "https://app.fra2.sekoia.io/api",
            Region::Mco1 => "https://app.mco1.sekoia.io/api",
            Region::Uae1 => "https://app.uae1.sekoia.io/api",
            Region::Usa1 => "https://api.usa1.sekoia.io",
            Region::Sgp1 => "https://api.sgp1.sekoia.io",
        }
    }

    /// The web app base (alert links), e.g. `https://app.sekoia.io/`.
    pub fn app_url(self) -> Url {
        preset(self.app_str())
    }

    /// The API base, e.g. `https://api.sekoia.io/` or `https://app.fra2.sekoia.io/api`.
    pub fn api_url(self) -> Url {
        preset(self.api_str())
    }

    /// The LiveAPI WebSocket, `wss://<app host>/live/` (fra1:
    /// `wss://app.sekoia.io/live/`), as Sekoia's own LiveAPI client builds it.
    pub fn liveapi_url(self) -> Url {
        live_from_app(&self.app_url())
    }
}

/// `wss://<app host>/live/` from an app base (`ws://` for an `http://`
/// loopback base), keeping any path prefix of the base.
fn live_from_app(app: &Url) -> Url {
    let mut live = app.clone();
    let scheme = if app.scheme() == "http" { "ws" } else { "wss" };
    // Both are special schemes of the same kind: the change cannot fail.
    let _ = live.set_scheme(scheme);
    let path = format!("{}/live/", app.path().trim_end_matches('/'));
    live.set_path(&path);
    live.set_query(None);
    live.set_fragment(None);
    live
}

/// Parses one of the constant preset URLs above.
fn preset(s: &'static str) -> Url {
    match Url::parse(s) {
        Ok(url) => url,
        // The presets are constants covered by `every_region_preset_parses`.
        Err(e) => unreachable!("region preset {s} is not a valid URL: {e}"),
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Region {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("got {}", quote(s)))
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// `[listener]`: the local webhook listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListenerSettings {
    /// Always a loopback address: the listener never binds a public interface.
    #[serde(deserialize_with = "de_bind")]
    pub bind: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_secret: Option<HookSecret>,
    /// Without `hook_secret`: a file holding the secret alone, created
    /// (0600) on first load when missing (`secret_file`). The system service
    /// keeps it in its state directory so its config stays root's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_secret_file: Option<PathBuf>,
    /// Most webhook requests per second before 429 + Retry-After; 0 = no limit.
    #[serde(deserialize_with = "de_rate")]
    pub max_requests_per_second: u32,
}

/// The default of `[listener] max_requests_per_second`: far above what
/// Sekoia.io sends (a rule storm is tens per second), low enough that a
/// flood cannot keep the machine busy.
pub const DEFAULT_RATE: u32 = 1000;

impl Default for ListenerSettings {
    fn default() -> Self {
        ListenerSettings {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8787),
            hook_secret: None,
            hook_secret_file: None,
            max_requests_per_second: DEFAULT_RATE,
        }
    }
}

/// The secret path segment of the webhook URL: the only authentication a
/// webhook has. `Debug` and `Display` never show it; use [`HookSecret::as_str`]
/// where the real value is needed (building the URL, comparing a request).
#[derive(Clone, PartialEq, Eq)]
pub struct HookSecret(String);

impl HookSecret {
    /// A fresh secret: 24 bytes (192 bits) from the OS, URL-safe base64
    /// without padding (32 characters).
    pub fn generate() -> Result<HookSecret, SettingsError> {
        let mut bytes = [0u8; SECRET_RANDOM_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| SettingsError::Random {
            detail: e.to_string(),
        })?;
        Ok(HookSecret(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    /// The secret itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks a user-supplied secret. The error never contains the secret.
    fn validate(s: &str) -> Result<HookSecret, String> {
        let len = s.chars().count();
        if len < SECRET_MIN_LEN {
            return Err(format!(
                "got a {len}-character value (too short to be unguessable)"
            ));
        }
        if len > SECRET_MAX_LEN {
            return Err(format!("got a {len}-character value (too long)"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("got a value with characters outside A-Z a-z 0-9 _ -".to_owned());
        }
        Ok(HookSecret(s.to_owned()))
    }
}

impl fmt::Debug for HookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HookSecret(<redacted>)")
    }
}

impl fmt::Display for HookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for HookSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HookSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HookSecret::validate(&s).map_err(de::Error::custom)
    }
}

/// `[tunnel]`: how the webhook listener is reached from Sekoia.io.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TunnelSettings {
    pub kind: TunnelKind,
    /// With `kind = "none"`: a URL the user already routes to the listener.
    #[serde(
        deserialize_with = "de_http_base",
        skip_serializing_if = "Option::is_none"
    )]
    pub public_url: Option<Url>,
    /// With `kind = "command"`: the command line; `{port}` is replaced by the
    /// listener port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The tunnel program's path, when it is not on PATH (any kind but
    /// `none` and `command`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<PathBuf>,
    /// With `kind = "bore"`: the bore server's host, such as `bore.pub`.
    #[serde(deserialize_with = "de_host", skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// With `kind = "bore"`: the server's secret, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<TunnelSecret>,
    /// With `kind = "cloudflared"`: a named tunnel's token (then
    /// `public_url` is the tunnel's fixed hostname).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TunnelSecret>,
    /// With `kind = "ngrok"`: a static domain reserved on ngrok.
    #[serde(deserialize_with = "de_host", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Seconds between delivery self-tests while there is a public URL.
    pub selftest_interval: SelfTestInterval,
    /// Accept a plain `http://` URL a tunnel program shows: self-tested
    /// (the secret in its path) like an https one. Off by default: the
    /// secret and every alert would cross the network in clear. For a
    /// relay on loopback or a trusted network.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_plain_http: bool,
}

/// `tunnel.selftest_interval`: seconds between delivery self-tests (default
/// 600), 0 to turn the periodic test off. At most a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SelfTestInterval(u32);

impl SelfTestInterval {
    const DEFAULT_SECS: u32 = 600;
    const MAX_SECS: u32 = 86_400;

    pub fn new(secs: u32) -> Result<SelfTestInterval, String> {
        if secs > Self::MAX_SECS {
            return Err(format!("got {secs} (more than a day)"));
        }
        Ok(SelfTestInterval(secs))
    }

    /// The period, `None` when periodic self-tests are off.
    pub fn period(self) -> Option<std::time::Duration> {
        (self.0 > 0).then(|| std::time::Duration::from_secs(u64::from(self.0)))
    }
}

impl Default for SelfTestInterval {
    fn default() -> Self {
        SelfTestInterval(Self::DEFAULT_SECS)
    }
}

impl<'de> Deserialize<'de> for SelfTestInterval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        let secs = u32::try_from(n).map_err(|_| de::Error::custom(format!("got {n}")))?;
        SelfTestInterval::new(secs).map_err(de::Error::custom)
    }
}

/// A tunnel credential (`tunnel.secret`, `tunnel.token`). `Debug` never shows
/// it; use [`TunnelSecret::as_str`] where the value is needed.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TunnelSecret(String);

impl TunnelSecret {
    pub fn new(s: &str) -> Result<TunnelSecret, String> {
        if s.trim().is_empty() {
            return Err("got an empty string (delete the line if there is none)".to_owned());
        }
        if s.chars().any(char::is_control) {
            return Err("got a value with control characters".to_owned());
        }
        Ok(TunnelSecret(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TunnelSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TunnelSecret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for TunnelSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TunnelSecret::new(&s).map_err(de::Error::custom)
    }
}

fn de_host<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(Some(s))
    } else {
        Err(de::Error::custom(format!(
            "got {} (write a bare host name, without scheme or path)",
            quote(&s)
        )))
    }
}

/// Which tunnel, if any, the app starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    #[default]
    None,
    Cloudflared,
    Ngrok,
    Bore,
    Command,
}

impl TunnelKind {
    /// Every kind, in the order of the docs.
    pub const ALL: [TunnelKind; 5] = [
        TunnelKind::None,
        TunnelKind::Cloudflared,
        TunnelKind::Ngrok,
        TunnelKind::Bore,
        TunnelKind::Command,
    ];

    /// The name used in `config.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelKind::None => "none",
            TunnelKind::Cloudflared => "cloudflared",
            TunnelKind::Ngrok => "ngrok",
            TunnelKind::Bore => "bore",
            TunnelKind::Command => "command",
        }
    }
}

impl fmt::Display for TunnelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TunnelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TunnelKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("got {}", quote(s)))
    }
}

impl<'de> Deserialize<'de> for TunnelKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// `[liveapi]`: Sekoia's LiveAPI WebSocket, an alternative to webhooks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveApiSettings {
    pub enabled: bool,
    #[serde(
        deserialize_with = "de_ws_base",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<Url>,
}

/// `[notify]`: which events raise a desktop pop-up (every event still enters
/// the feed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifySettings {
    /// 0 to 100.
    #[serde(deserialize_with = "de_urgency")]
    pub min_urgency: u8,
    pub events: Vec<EventFilter>,
    /// Storm coalescing: at most this many alert pop-ups per
    /// `storm_window_secs`; the rest are summarized in one pop-up. 1 to 100.
    #[serde(deserialize_with = "de_storm_budget")]
    pub storm_budget: u32,
    /// The sliding window of the budget, in seconds. 1 to 3600.
    #[serde(deserialize_with = "de_storm_window")]
    pub storm_window_secs: u32,
    /// Alerts at or above this urgency (0 to 100; default 80, Urgent) always
    /// get their own pop-up, outside the storm budget, and still pop up
    /// while pop-ups are paused (unless the pause holds back everything).
    #[serde(deserialize_with = "de_urgency")]
    pub always_popup_urgency: u8,
    /// Minutes between reminders of an Urgent alert still Pending and
    /// unseen; 0 (the default) is off. 0 to 1440.
    #[serde(deserialize_with = "de_remind")]
    pub remind_minutes: u32,
    /// Urgent pop-ups stay on screen (no timeout, `resident`) until
    /// clicked, acknowledged or withdrawn. Default true.
    pub resident_urgent: bool,
    /// `[notify.sound]`: the sound of each urgency band's pop-up.
    pub sound: SoundSettings,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            min_urgency: 0,
            events: vec![EventFilter {
                kind: "alert".to_owned(),
                action: "created".to_owned(),
            }],
            storm_budget: 5,
            storm_window_secs: 30,
            always_popup_urgency: 80,
            remind_minutes: 0,
            resident_urgent: true,
            sound: SoundSettings::default(),
        }
    }
}

/// `[store]`: retention of the local store (see `store::retention`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreSettings {
    /// Days events, cached alerts and finished forwards are kept (default
    /// 90); unread alerts and alerts still Pending are kept regardless.
    /// 0 keeps everything. 0 to 3650.
    #[serde(deserialize_with = "de_keep_days")]
    pub keep_days: u32,
}

impl StoreSettings {
    pub const DEFAULT_KEEP_DAYS: u32 = 90;
    pub const MAX_KEEP_DAYS: u32 = 3650;
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            keep_days: Self::DEFAULT_KEEP_DAYS,
        }
    }
}

/// `[notify.sound]`: per urgency band, a freedesktop sound name (the sound
/// naming spec, such as "alarm-clock-elapsed"; sent as the `sound-name`
/// hint) or the absolute path of a sound file (`sound-file`); "" is
/// silent. Default: Urgent and Major only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SoundSettings {
    #[serde(deserialize_with = "de_sound")]
    pub urgent: String,
    #[serde(deserialize_with = "de_sound")]
    pub major: String,
    #[serde(deserialize_with = "de_sound")]
    pub high: String,
    #[serde(deserialize_with = "de_sound")]
    pub moderate: String,
    #[serde(deserialize_with = "de_sound")]
    pub low: String,
}

impl Default for SoundSettings {
    fn default() -> Self {
        SoundSettings {
            urgent: "alarm-clock-elapsed".to_owned(),
            major: "message-new-instant".to_owned(),
            high: String::new(),
            moderate: String::new(),
            low: String::new(),
        }
    }
}

impl SoundSettings {
    /// The sound of a band; `None` when it is silent.
    pub fn of(&self, band: crate::model::urgency::Band) -> Option<&str> {
        use crate::model::urgency::Band;
        let sound = match band {
            Band::Urgent => &self.urgent,
            Band::Major => &self.major,
            Band::High => &self.high,
            Band::Moderate => &self.moderate,
            Band::Low => &self.low,
        };
        Some(sound.as_str()).filter(|s| !s.is_empty())
    }
}

/// Whether `text` is a valid `[notify.sound]` value: empty, a sound name
/// (1 to 64 of a-z 0-9 - _ .), or an absolute file path without controls.
pub fn valid_sound(text: &str) -> bool {
    text.is_empty()
        || (text.len() <= 64
            && text.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            }))
        || (Path::new(text).is_absolute()
            && text.len() <= 4096
            && !text.chars().any(char::is_control))
}

/// A `type:action` pair such as `alert:created`; either side may be `*`.
/// (De)serializes as that string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventFilter {
    pub kind: String,
    pub action: String,
}

impl EventFilter {
    /// True when the event's type and action match this filter.
    pub fn matches(&self, kind: &str, action: &str) -> bool {
        (self.kind == "*" || self.kind == kind) && (self.action == "*" || self.action == action)
    }

    fn valid_side(s: &str) -> bool {
        s == "*"
            || (!s.is_empty()
                && s.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                }))
    }
}

impl fmt::Display for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.action)
    }
}

impl FromStr for EventFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((kind, action)) if Self::valid_side(kind) && Self::valid_side(action) => {
                Ok(EventFilter {
                    kind: kind.to_owned(),
                    action: action.to_owned(),
                })
            }
            _ => Err(format!("got {}", quote(s))),
        }
    }
}

impl Serialize for EventFilter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventFilter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Derived URLs

impl Settings {
    /// The web app base: `sekoia.app_url` or the region's preset. Base URLs
    /// never end with `/` except for a bare host (where `url` always writes
    /// the root `/`), so callers append paths as
    /// `base.as_str().trim_end_matches('/')` + `"/v1/..."`.
    pub fn app_url(&self) -> Url {
        match &self.sekoia.app_url {
            Some(u) => trim_base(u),
            None => self.sekoia.region.app_url(),
        }
    }

    /// The API base: `sekoia.api_url` or the region's preset (same slash rule
    /// as [`Settings::app_url`]).
    pub fn api_url(&self) -> Url {
        match &self.sekoia.api_url {
            Some(u) => trim_base(u),
            None => self.sekoia.region.api_url(),
        }
    }

    /// The LiveAPI WebSocket URL: `liveapi.url` as written, else
    /// `wss://<app host>/live/` from the app base (the region's, or
    /// `sekoia.app_url` when overridden).
    pub fn liveapi_url(&self) -> Url {
        match &self.liveapi.url {
            Some(u) => u.clone(),
            None => live_from_app(&self.app_url()),
        }
    }

    /// The app's pages under [`Settings::app_url`] (`model::link`, the one
    /// link builder).
    pub fn links(&self) -> Links {
        Links::new(self.app_url())
    }

    /// The page a subject links to: see [`Links::subject_url`].
    pub fn subject_url(&self, subject: crate::model::kind::Subject, short_id: &str) -> Option<Url> {
        self.links().subject_url(subject, short_id)
    }

    /// The alert page for a short_id: see [`Links::alert_url`].
    pub fn alert_url(&self, short_id: &str) -> Option<Url> {
        self.links().alert_url(short_id)
    }

    /// The alert list page: see [`Links::alerts_list_url`].
    pub fn alerts_list_url(&self) -> Option<Url> {
        self.links().alerts_list_url()
    }

    /// The local webhook URL `http://<bound>/hooks/<secret>`, given the address
    /// the listener actually bound (the port may differ from `listener.bind`
    /// when it is 0). `None` when there is no hook secret yet.
    pub fn local_hook_url(&self, bound: SocketAddr) -> Option<Url> {
        let secret = self.listener.hook_secret.as_ref()?;
        let base = Url::parse(&format!("http://{bound}/")).ok()?;
        hook_url(&base, secret)
    }

    /// The public webhook URL `{tunnel.public_url}/hooks/<secret>`; `None`
    /// when `tunnel.public_url` or the hook secret is not set.
    pub fn public_hook_url(&self) -> Option<Url> {
        let base = self.tunnel.public_url.as_ref()?;
        hook_url(base, self.listener.hook_secret.as_ref()?)
    }
}

/// `{base}/hooks/<secret>` for any base (the configured public URL, or one a
/// tunnel reported at run time). `None` only for a base that cannot take a
/// path (such as `mailto:`).
pub fn hook_url(base: &Url, secret: &HookSecret) -> Option<Url> {
    append_segments(base, &["hooks", secret.as_str()])
}

fn trim_base(url: &Url) -> Url {
    let mut url = url.clone();
    let path = url.path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/').to_owned();
        url.set_path(if trimmed.is_empty() { "/" } else { &trimmed });
    }
    url
}

// ---------------------------------------------------------------------------
// Field validation (used by serde; errors become `SettingsError::Invalid`)

/// Quotes untrusted text for a message: escaped, and cut at 80 characters.
fn quote(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() > MAX {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}...")
    } else {
        format!("{s:?}")
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses a base URL with `secure` (https / wss) or, for a loopback host
/// only, `plain` (http / ws); no credentials, query or fragment.
fn check_base_url(s: &str, secure: &str, plain: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("got {} ({e})", quote(s)))?;
    let scheme = url.scheme();
    if scheme == plain {
        if !is_loopback_host(&url) {
            return Err(format!(
                "got {} (plain {plain}:// is only for a loopback host)",
                quote(s)
            ));
        }
    } else if scheme != secure {
        return Err(format!("got {} (the scheme must be {secure}://)", quote(s)));
    }
    if url.host().is_none() {
        return Err(format!("got {} (no host)", quote(s)));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo credentials back.
        return Err(
            "got a URL with a user name or password (remove the `user:password@` part)".to_owned(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "got {} (remove the `?query` or `#fragment`)",
            quote(s)
        ));
    }
    Ok(url)
}

fn de_http_base<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let s = String::deserialize(d)?;
    check_base_url(&s, "https", "http")
        .map(Some)
        .map_err(de::Error::custom)
}

fn de_ws_base<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let s = String::deserialize(d)?;
    check_base_url(&s, "wss", "ws")
        .map(Some)
        .map_err(de::Error::custom)
}

fn de_bind<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    let addr: SocketAddr = s.parse().map_err(|_| {
        de::Error::custom(format!(
            "got {} (write an IP address and a port, not a host name)",
            quote(&s)
        ))
    })?;
    if !addr.ip().is_loopback() {
        return Err(de::Error::custom(format!(
            "got {} (the listener never binds a public interface; route through a tunnel)",
            quote(&s)
        )));
    }
    Ok(addr)
}

fn de_urgency<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let n = i64::deserialize(d)?;
    u8::try_from(n)
        .ok()
        .filter(|n| *n <= 100)
        .ok_or_else(|| de::Error::custom(format!("got {n} (urgency is 0 to 100)")))
}

fn de_int_in<'de, D: Deserializer<'de>>(
    d: D,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, D::Error> {
    let n = i64::deserialize(d)?;
    u32::try_from(n)
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| de::Error::custom(format!("got {n}")))
}

fn de_rate<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_int_in(d, 0..=1_000_000)
}

fn de_storm_budget<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_int_in(d, 1..=100)
}

fn de_storm_window<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_int_in(d, 1..=3600)
}

fn de_remind<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_int_in(d, 0..=1440)
}

fn de_keep_days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    de_int_in(d, 0..=StoreSettings::MAX_KEEP_DAYS)
}

fn de_sound<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if valid_sound(&text) {
        Ok(text)
    } else {
        Err(de::Error::custom("not a sound name or an absolute path"))
    }
}

/// What each key should look like, for error messages. Keys inside arrays are
/// looked up with their index replaced by `[]`.
fn expected_form(key: &str) -> &'static str {
    const HTTPS: &str =
        "an https:// URL (http:// only for 127.0.0.1, ::1 or localhost) without user, query or fragment";
    match key {
        "sekoia.region" => "one of fra1, fra2, mco1, uae1, usa1, sgp1",
        "sekoia.api_url" => {
            "an https:// URL such as \"https://api.sekoia.io\" (http:// only for 127.0.0.1, ::1 or localhost)"
        }
        "sekoia.app_url" => {
            "an https:// URL such as \"https://app.sekoia.io\" (http:// only for 127.0.0.1, ::1 or localhost)"
        }
        "listener.bind" => "a loopback IP:port such as 127.0.0.1:8787",
        "listener.max_requests_per_second" => {
            "an integer from 0 to 1000000 (webhook requests per second; 0 = no limit)"
        }
        "listener.hook_secret_file" => "the path of a file holding the webhook secret alone",
        "listener.hook_secret" => {
            "22 to 256 characters of A-Z a-z 0-9 _ - (delete the line to have one generated)"
        }
        "tunnel.kind" => "one of none, cloudflared, ngrok, bore, command",
        "tunnel.public_url" => HTTPS,
        "tunnel.command" => {
            "a command line such as \"bore local {port} --to bore.pub\" when tunnel.kind = \"command\""
        }
        "tunnel.binary" => "the path of the tunnel program, such as \"/usr/local/bin/cloudflared\"",
        "tunnel.server" => "a bore server host such as \"bore.pub\"",
        "tunnel.domain" => "an ngrok static domain such as \"example.ngrok.app\"",
        "tunnel.secret" => "the bore server's secret, a non-empty string",
        "tunnel.token" => "a cloudflared named tunnel token, a non-empty string",
        "tunnel.selftest_interval" => {
            "a number of seconds from 0 (off) to 86400, such as 600"
        }
        "tunnel.allow_plain_http" => "true or false",
        "liveapi.enabled" => "true or false",
        "liveapi.url" => {
            "a wss:// URL such as \"wss://app.sekoia.io/live/\" (ws:// only for 127.0.0.1, ::1 or localhost)"
        }
        "notify.min_urgency" => "an integer from 0 to 100",
        "notify.events" => "a list of \"type:action\" strings such as [\"alert:created\"]",
        "notify.events[]" => {
            "a \"type:action\" string such as \"alert:created\" or \"alert:*\" (lowercase letters, digits, _ and -, or *)"
        }
        "notify.storm_budget" => "an integer from 1 to 100 (alert pop-ups per storm window)",
        "notify.storm_window_secs" => "an integer from 1 to 3600 (seconds)",
        "notify.always_popup_urgency" => "an integer from 0 to 100 (80 = Urgent)",
        "notify.remind_minutes" => "an integer from 0 (off) to 1440 (minutes)",
        "notify.resident_urgent" => "true or false",
        "notify.sound" => "a table of urgent, major, high, moderate, low",
        "notify.sound.urgent" | "notify.sound.major" | "notify.sound.high"
        | "notify.sound.moderate" | "notify.sound.low" => {
            "a sound name such as \"alarm-clock-elapsed\", the absolute path of a sound file, or \"\" for none"
        }
        "forward" => "[[forward]] tables",
        "forward[].kind" => "one of teams, teams-legacy, slack, mattermost, webhook",
        "forward[].url" => forward::URL_FORM,
        "forward[].url_file" => "the path of a file holding the URL",
        "forward[].url_keyring" => "1 to 40 lowercase letters, digits and - (the id of a URL in the OS keyring)",
        "forward[].secret" => "a non-empty string (kind = \"webhook\" only)",
        "forward[].min_urgency" => "an integer from 0 to 100",
        "forward[].events" => "a list of \"type:action\" strings such as [\"alert:created\"]",
        "forward[].events[]" => {
            "a \"type:action\" string such as \"alert:created\" or \"alert:*\" (lowercase letters, digits, _ and -, or *)"
        }
        "store.keep_days" => "an integer from 0 (keep everything) to 3650 (days)",
        "network.proxy" => network::PROXY_FORM,
        "network.ca_file" => "the path of a PEM file of CA certificates",
        "sekoia" | "listener" | "tunnel" | "liveapi" | "notify" | "network" | "store"
        | "forward[]" => {
            "a table"
        }
        _ => "a value of the documented form",
    }
}

/// `notify.events[3]` -> `notify.events[]`.
fn normalize_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut in_index = false;
    for c in key.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Parsing

/// Parse from a string (no I/O); `path` is only used in messages. Returns the
/// settings and the warnings (unknown keys, keys without effect).
pub fn parse(text: &str, path: &Path) -> Result<(Settings, Vec<String>), SettingsError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(SettingsError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_CONFIG_BYTES,
        });
    }
    // Syntax first, so a syntax error is reported as such (with line and
    // column) rather than as a bad value.
    let syntax = |e: toml::de::Error| {
        let (line, column) = e
            .span()
            .map(|span| line_column(text, span.start))
            .unwrap_or((1, 1));
        SettingsError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            detail: one_line(e.message()),
        }
    };
    if let Err(e) = text.parse::<toml::Table>() {
        return Err(syntax(e));
    }

    let mut ignored = Vec::new();
    let de = toml::Deserializer::parse(text).map_err(syntax)?;
    let mut on_ignored = |p: serde_ignored::Path<'_>| ignored.push(p.to_string());
    let de = serde_ignored::Deserializer::new(de, &mut on_ignored);
    let settings: Settings = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." {
            "(top level)".to_owned()
        } else {
            key
        };
        SettingsError::Invalid {
            path: path.to_path_buf(),
            expected: expected_form(&normalize_key(&key)).to_owned(),
            detail: one_line(e.inner().message())
                .replace("expected struct ", "expected a table like "),
            key,
        }
    })?;

    let mut warnings: Vec<String> = ignored
        .iter()
        .map(|key| {
            let mut w = format!("unknown key `{key}` in {} (ignored)", path.display());
            let leaf = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
            if leaf.contains("api_key") || leaf.contains("apikey") {
                w.push_str(
                    "; the API key is never read from config.toml: remove it from the file and store it in the OS keyring or SEKOIA_API_KEY",
                );
            }
            w
        })
        .collect();

    check_cross_fields(&settings, path, &mut warnings)?;
    Ok((settings, warnings))
}

/// Rules that involve more than one key.
fn check_cross_fields(
    settings: &Settings,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<(), SettingsError> {
    let t = &settings.tunnel;
    let command_set = t.command.as_deref().is_some_and(|c| !c.trim().is_empty());
    if t.kind == TunnelKind::Command && !command_set {
        return Err(SettingsError::Invalid {
            path: path.to_path_buf(),
            key: "tunnel.command".to_owned(),
            expected: expected_form("tunnel.command").to_owned(),
            detail: "got nothing (tunnel.kind = \"command\" runs this command to open the tunnel; set it or choose another kind)".to_owned(),
        });
    }
    forward::check(&settings.forward, path)?;
    if t.kind != TunnelKind::Command && t.command.is_some() {
        warnings.push(format!(
            "`tunnel.command` in {} has no effect unless tunnel.kind = \"command\" (ignored)",
            path.display()
        ));
    }
    Ok(())
}

/// A parser message on one line: `invalid string\nexpected ...` -> `invalid string; expected ...`.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

// ---------------------------------------------------------------------------
// Loading and first run

/// The result of [`load_or_init`].
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    /// Unknown keys, keys without effect, a file readable by others.
    pub warnings: Vec<String>,
    /// True when this call created the file.
    pub created: bool,
    pub path: PathBuf,
}

/// Read the file; if missing, create parent dirs and write a commented default
/// config (mirroring DESIGN.md's sample, values commented out except the
/// generated hook_secret) with mode 0600; if present but without
/// `listener.hook_secret`, generate one and write it back with toml_edit,
/// preserving the user's comments and layout. Writes are atomic (temp file in
/// the same dir + rename) and leave mode 0600. Returns warnings for unknown
/// keys (e.g. "unknown key `listener.bnd` in /path/config.toml (ignored)") and
/// for a config file readable by group/others (unix).
pub fn load_or_init(path: &Path) -> Result<Loaded, SettingsError> {
    let text = match read_config(path)? {
        Some(text) => text,
        None => {
            let secret = HookSecret::generate()?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                create_private_dir(parent)?;
            }
            let lost_race = write_atomic(path, &default_config_text(&secret), true)?;
            let (settings, warnings) = reload(path)?;
            return Ok(Loaded {
                settings,
                warnings,
                created: !lost_race,
                path: path.to_path_buf(),
            });
        }
    };

    let (mut settings, mut warnings) = parse(&text, path)?;
    if let (None, Some(file)) = (
        &settings.listener.hook_secret,
        &settings.listener.hook_secret_file,
    ) {
        settings.listener.hook_secret = Some(secret_file::read_or_create(file)?);
        warnings.extend(permission_warning(path));
    } else if settings.listener.hook_secret.is_none() {
        let secret = HookSecret::generate()?;
        rewrite(path, &insert_secret(&text, &secret, path)?)?;
        (settings, warnings) = reload(path)?;
    } else {
        warnings.extend(permission_warning(path));
    }
    Ok(Loaded {
        settings,
        warnings,
        created: false,
        path: path.to_path_buf(),
    })
}

/// Replaces `listener.hook_secret` in the config file at `path` with a fresh
/// secret: an atomic 0600 write that keeps the user's comments and layout.
/// The webhook URL changes with it; the old URL stops working as soon as the
/// running instance takes the new secret (`Engine::set_hook_secret`, which
/// `serve` calls on SIGHUP). A file that does not parse is left alone.
/// With `listener.hook_secret_file` and no `hook_secret`, that file is
/// replaced instead (the config is not touched).
pub fn regenerate_secret(path: &Path) -> Result<HookSecret, SettingsError> {
    let text = read_existing(path, "read", "the file does not exist")?;
    let (settings, _) = parse(&text, path)?;
    if let (None, Some(file)) = (
        &settings.listener.hook_secret,
        &settings.listener.hook_secret_file,
    ) {
        return secret_file::regenerate(file);
    }
    let secret = HookSecret::generate()?;
    rewrite(path, &insert_secret(&text, &secret, path)?)?;
    Ok(secret)
}

/// Rewrites an existing config atomically, through a symlink (dotfile
/// managers) rather than replacing it.
fn rewrite(path: &Path, text: &str) -> Result<(), SettingsError> {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    write_atomic(&target, text, false).map(|_| ())
}

/// The file's text; a missing file is an error saying `why`.
fn read_existing(path: &Path, action: &'static str, why: &str) -> Result<String, SettingsError> {
    read_config(path)?
        .ok_or_else(|| io_error(action, path, io::Error::new(io::ErrorKind::NotFound, why)))
}

/// Re-reads what is on disk after a write, so that two processes racing on
/// first run end up with the same secret (the last writer's).
fn reload(path: &Path) -> Result<(Settings, Vec<String>), SettingsError> {
    let text = read_existing(path, "read back", "the file vanished after writing")?;
    let (settings, mut warnings) = parse(&text, path)?;
    warnings.extend(permission_warning(path));
    Ok((settings, warnings))
}

/// The file's text, `None` when it does not exist. Never reads more than
/// [`MAX_CONFIG_BYTES`] + 1 bytes.
fn read_config(path: &Path) -> Result<Option<String>, SettingsError> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("open", path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error("read", path, e))?;
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(SettingsError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_CONFIG_BYTES,
        });
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| SettingsError::NotUtf8 {
            path: path.to_path_buf(),
            offset: e.utf8_error().valid_up_to(),
        })
}

#[cfg(unix)]
fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} is readable by other users (mode {mode:03o}) and holds the webhook secret; run `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_path: &Path) -> Option<String> {
    None
}

/// Adds `listener.hook_secret` to the user's file, keeping comments and layout.
fn insert_secret(text: &str, secret: &HookSecret, path: &Path) -> Result<String, SettingsError> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let (line, column) = e
            .span()
            .map(|s| line_column(text, s.start))
            .unwrap_or((1, 1));
        SettingsError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            detail: one_line(e.message()),
        }
    })?;
    let not_a_table = || SettingsError::Invalid {
        path: path.to_path_buf(),
        key: "listener".to_owned(),
        expected: expected_form("listener").to_owned(),
        detail: String::new(),
    };
    let listener = doc
        .entry("listener")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    match listener {
        toml_edit::Item::Table(table) => {
            let mut value = toml_edit::Value::from(secret.as_str());
            match table.get_mut("hook_secret") {
                // Replaced in place: the comments around the key and after
                // the value stay.
                Some(old) => {
                    if let Some(decor) = old.as_value().map(|v| v.decor().clone()) {
                        *value.decor_mut() = decor;
                    }
                    *old = toml_edit::Item::Value(value);
                }
                None => {
                    table.insert("hook_secret", toml_edit::Item::Value(value));
                }
            }
        }
        toml_edit::Item::Value(toml_edit::Value::InlineTable(table)) => {
            table.insert("hook_secret", secret.as_str().into());
        }
        _ => return Err(not_a_table()),
    }
    Ok(doc.to_string())
}

/// The first-run file: DESIGN.md's sample with every value commented out
/// except the generated secret.
fn default_config_text(secret: &HookSecret) -> String {
    format!(
        r#"# Sekoia Notifier configuration. Every key is optional; the commented
# values are the defaults. The API key is never stored in this file: the
# desktop app keeps it in the OS keyring, sekoia-notifierd reads the keyring,
# else SEKOIA_API_KEY, else an api-key file.

[sekoia]
# region = "fra1"                 # fra1 fra2 mco1 uae1 usa1 sgp1
# api_url = "https://api.sekoia.io"   # overrides the region's API base
# app_url = "https://app.sekoia.io"   # overrides the region's app base (alert links)

[listener]
# bind = "127.0.0.1:8787"         # loopback only; reach it from outside through a tunnel
# Generated on first run: the secret path of the webhook URL. Keep it private.
hook_secret = "{secret}"
# max_requests_per_second = 1000  # webhook requests per second before 429 + Retry-After; 0 = no limit

[tunnel]
# kind = "none"                   # none | cloudflared | ngrok | bore | command
# public_url = "https://..."      # with kind = "none": a URL you already route to the listener
# command = "..."                 # with kind = "command"; {{port}} is replaced by the listener port
# binary = "/path/to/program"    # when the tunnel program is not on PATH
# server = "bore.pub"             # with kind = "bore"; secret = "..." if the server has one
# token = "..."                   # with kind = "cloudflared": a named tunnel (set public_url too)
# domain = "x.ngrok.app"          # with kind = "ngrok": a static domain
# selftest_interval = 600         # seconds between delivery self-tests through the public URL; 0 = off
# allow_plain_http = false        # true: self-test an http:// URL a tunnel shows (bore) too; its secret crosses the network in clear

[liveapi]
# enabled = false                 # true: also receive events over Sekoia's LiveAPI WebSocket (no tunnel needed)
# url = "wss://app.sekoia.io/live/"   # derived from the region when absent

[notify]
# min_urgency = 0
# events = ["alert:created"]      # type:action pairs that raise a pop-up; every event still enters the feed
# storm_budget = 5                # at most this many alert pop-ups per window; the rest become one summary pop-up
# storm_window_secs = 30
# always_popup_urgency = 80       # at or above: always its own pop-up, even in a storm or a pause (unless "everything")
# resident_urgent = true          # Urgent pop-ups stay until clicked, acknowledged or withdrawn
# remind_minutes = 0              # remind of an Urgent alert still Pending and unseen every N minutes; 0 = off

[notify.sound]                    # a sound name (freedesktop), an absolute file path, or "" for none
# urgent = "alarm-clock-elapsed"
# major = "message-new-instant"
# high = ""
# moderate = ""
# low = ""

[store]
# keep_days = 90                  # days the feed keeps events (unread and Pending alerts stay); 0 = keep everything

[network]
# proxy = "http://user:password@proxy.example.com:3128"  # overrides HTTPS_PROXY/HTTP_PROXY; "none" ignores them
# ca_file = "/etc/ssl/corp-ca.pem"  # extra CA certificates (a TLS-inspecting proxy's), beside the OS trust store
"#,
        secret = secret.as_str()
    )
}

/// Creates `dir` and its missing parents (0700 on unix for the ones created).
fn create_private_dir(dir: &Path) -> Result<(), SettingsError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| io_error("create the directory", dir, e))
}

/// Writes `text` to a temp file beside `path` (mode 0600), then moves it into
/// place. With `no_clobber`, an existing file is left alone (another process
/// created it first) and `true` is returned.
fn write_atomic(path: &Path, text: &str, no_clobber: bool) -> Result<bool, SettingsError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| CONFIG_FILE_NAME.to_owned());
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| SettingsError::Random {
        detail: e.to_string(),
    })?;
    let tmp = dir.join(format!(
        ".{name}.{}.tmp",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(nonce)
    ));

    let result = write_private(&tmp, text).and_then(|()| {
        if no_clobber {
            // A hard link fails if `path` exists, unlike rename. File systems
            // without hard links fall back to rename.
            match fs::hard_link(&tmp, path) {
                Ok(()) => Ok(false),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(true),
                Err(_) => fs::rename(&tmp, path)
                    .map(|()| false)
                    .map_err(|e| io_error("write", path, e)),
            }
        } else {
            fs::rename(&tmp, path)
                .map(|()| false)
                .map_err(|e| io_error("write", path, e))
        }
    });
    // After a rename the temp name is gone; after a link or a failure it is
    // not. Either way nothing is left behind.
    let _ = fs::remove_file(&tmp);
    result
}

fn write_private(tmp: &Path, text: &str) -> Result<(), SettingsError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(tmp).map_err(|e| io_error("create", tmp, e))?;
    #[cfg(unix)]
    {
        // The umask can only narrow 0600, but be explicit.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error("set permissions on", tmp, e))?;
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", tmp, e))
}

// ---------------------------------------------------------------------------
// Tests

/// The feed (`store::Reader::feed`) takes the links of the settings given.
impl From<&Settings> for Links {
    fn from(settings: &Settings) -> Links {
        settings.links()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[sekoia]
region = "fra1"                 # fra1 fra2 mco1 uae1 usa1 sgp1
api_url = "https://api.sekoia.io"   # overrides the region's API base
app_url = "https://app.sekoia.io"   # overrides the region's app base (alert links)

[listener]
bind = "127.0.0.1:8787"
hook_secret = "abcdefghijklmnopqrstuvwxyz012345"

[tunnel]
kind = "none"                   # none | cloudflared | ngrok | bore | command
public_url = "https://hooks.example.com"
command = "bore local {port} --to bore.pub"

[liveapi]
enabled = false
url = "wss://app.sekoia.io/live/"

[notify]
min_urgency = 0
events = ["alert:created"]
"#;

    fn p() -> PathBuf {
        PathBuf::from("/home/u/.config/sekoia-notifier/config.toml")
    }

    fn parse_ok(text: &str) -> (Settings, Vec<String>) {
        match parse(text, &p()) {
            Ok(v) => v,
            Err(e) => panic!("expected {text:?} to parse, got: {e}"),
        }
    }

    fn parse_err(text: &str) -> String {
        match parse(text, &p()) {
            Ok(_) => panic!("expected {text:?} to be rejected"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_names(text: &str, key: &str) -> String {
        let msg = parse_err(text);
        assert!(
            msg.contains(&format!("`{key}`")),
            "message does not name `{key}`: {msg}"
        );
        assert!(
            msg.contains("/home/u/.config/sekoia-notifier/config.toml"),
            "message does not name the file: {msg}"
        );
        assert!(msg.contains("expected"), "no expected form: {msg}");
        msg
    }

    fn secret(s: &str) -> HookSecret {
        HookSecret(s.to_owned())
    }

    #[test]
    fn empty_file_gives_defaults() {
        let (s, w) = parse_ok("");
        assert_eq!(s, Settings::default());
        assert!(w.is_empty());
        assert_eq!(s.sekoia.region, Region::Fra1);
        assert_eq!(s.listener.bind, "127.0.0.1:8787".parse().unwrap());
        assert_eq!(s.listener.hook_secret, None);
        assert_eq!(s.tunnel.kind, TunnelKind::None);
        assert!(!s.liveapi.enabled);
        assert_eq!(s.notify.min_urgency, 0);
        assert_eq!(s.notify.events, vec!["alert:created".parse().unwrap()]);
    }

    #[test]
    fn every_design_sample_key_parses() {
        let (s, w) = parse_ok(SAMPLE);
        assert_eq!(
            w,
            vec![format!(
                "`tunnel.command` in {} has no effect unless tunnel.kind = \"command\" (ignored)",
                p().display()
            )]
        );
        assert_eq!(s.sekoia.api_url.unwrap().as_str(), "https://api.sekoia.io/");
        assert_eq!(
            s.listener.hook_secret.unwrap().as_str(),
            "abcdefghijklmnopqrstuvwxyz012345"
        );
        assert_eq!(
            s.tunnel.public_url.unwrap().as_str(),
            "https://hooks.example.com/"
        );
        assert_eq!(s.liveapi.url.unwrap().as_str(), "wss://app.sekoia.io/live/");
    }

    #[test]
    fn design_sample_with_its_comments_is_the_default() {
        let text = r#"
[sekoia]
region = "fra1"                 # fra1 fra2 mco1 uae1 usa1 sgp1
# api_url = "https://api.sekoia.io"   # overrides the region's API base
[listener]
bind = "127.0.0.1:8787"
[tunnel]
kind = "none"
[liveapi]
enabled = false
[notify]
min_urgency = 0
events = ["alert:created"]
"#;
        assert_eq!(parse_ok(text), (Settings::default(), vec![]));
    }

    #[test]
    fn settings_round_trip_through_toml() {
        let mut s = parse_ok(SAMPLE).0;
        s.tunnel.kind = TunnelKind::Command;
        s.notify.events.push("alert:*".parse().unwrap());
        let text = toml::to_string(&s).unwrap();
        assert_eq!(parse_ok(&text).0, s);
        let text = toml::to_string(&Settings::default()).unwrap();
        assert_eq!(parse_ok(&text).0, Settings::default());
    }

    #[test]
    fn every_region_preset_parses() {
        for r in Region::ALL {
            for u in [r.app_str(), r.api_str()] {
                assert!(Url::parse(u).is_ok(), "{u}");
            }
            assert_eq!(r.as_str().parse::<Region>().unwrap(), r);
        }
    }

    #[test]
    fn each_region_has_its_urls() {
        let cases = [
            (
                "fra1",
                "https://app.sekoia.io/",
                "https://api.sekoia.io/",
                "wss://app.sekoia.io/live/",
            ),
            (
                "fra2",
                "https://app.fra2.sekoia.io/",
                "https://app.fra2.sekoia.io/api",
                "wss://app.fra2.sekoia.io/live/",
            ),
            (
                "mco1",
                "https://app.mco1.sekoia.io/",
                "https://app.mco1.sekoia.io/api",
                "wss://app.mco1.sekoia.io/live/",
            ),
            (
                "uae1",
                "https://app.uae1.sekoia.io/",
                "https://app.uae1.sekoia.io/api",
                "wss://app.uae1.sekoia.io/live/",
            ),
            (
                "usa1",
                "https://app.usa1.sekoia.io/",
                "https://api.usa1.sekoia.io/",
                "wss://app.usa1.sekoia.io/live/",
            ),
            (
                "sgp1",
                "https://app.sgp1.sekoia.io/",
                "https://api.sgp1.sekoia.io/",
                "wss://app.sgp1.sekoia.io/live/",
            ),
        ];
        for (region, app, api, live) in cases {
            let (s, _) = parse_ok(&format!("[sekoia]\nregion = \"{region}\"\n"));
            assert_eq!(s.sekoia.region.as_str(), region);
            assert_eq!(s.app_url().as_str(), app, "{region}");
            assert_eq!(s.api_url().as_str(), api, "{region}");
            assert_eq!(s.liveapi_url().as_str(), live, "{region}");
        }
    }

    #[test]
    fn overrides_win_over_the_region() {
        let (s, _) = parse_ok(
            "[sekoia]\nregion = \"usa1\"\napi_url = \"https://proxy.example.com/sekoia/\"\napp_url = \"http://localhost:3000\"\n[liveapi]\nurl = \"ws://127.0.0.1:9000/live\"\n",
        );
        assert_eq!(s.api_url().as_str(), "https://proxy.example.com/sekoia");
        assert_eq!(s.app_url().as_str(), "http://localhost:3000/");
        assert_eq!(s.liveapi_url().as_str(), "ws://127.0.0.1:9000/live");
        // Without `liveapi.url`, the LiveAPI follows an overridden app base.
        let (derived, _) = parse_ok(
            "[sekoia]\nregion = \"usa1\"\napp_url = \"https://sekoia.corp.example/prefix/\"\n",
        );
        assert_eq!(
            derived.liveapi_url().as_str(),
            "wss://sekoia.corp.example/prefix/live/"
        );
        assert_eq!(
            derived
                .subject_url(crate::model::kind::Subject::Case, "CAq2Lw7Xb9Rs")
                .unwrap()
                .as_str(),
            "https://sekoia.corp.example/prefix/operations/cases/CAq2Lw7Xb9Rs"
        );
        assert!(derived
            .subject_url(crate::model::kind::Subject::Case, "CA/../x")
            .is_none());
        assert!(derived
            .subject_url(crate::model::kind::Subject::Other, "CAx")
            .is_none());
        assert_eq!(
            s.alert_url("ALx1").unwrap().as_str(),
            "http://localhost:3000/operations/alerts/ALx1"
        );
    }

    #[test]
    fn alert_url_is_under_the_app_url() {
        let s = Settings::default();
        assert_eq!(
            s.alert_url("ALfh7Yc3XyZ_-9").unwrap().as_str(),
            "https://app.sekoia.io/operations/alerts/ALfh7Yc3XyZ_-9"
        );
        let mut s = Settings::default();
        s.sekoia.app_url = Some(Url::parse("https://app.example.com/sub/").unwrap());
        assert_eq!(
            s.alert_url("AL1").unwrap().as_str(),
            "https://app.example.com/sub/operations/alerts/AL1"
        );
    }

    #[test]
    fn alert_url_rejects_hostile_short_ids() {
        let s = Settings::default();
        let long = "a".repeat(65);
        for bad in [
            "../x",
            "a/b",
            "<script>",
            "",
            long.as_str(),
            "a b",
            "é",
            "a?b",
            "a#b",
            "%2e",
        ] {
            assert_eq!(s.alert_url(bad), None, "{bad:?}");
        }
        assert!(s.alert_url(&"a".repeat(64)).is_some());
    }

    #[test]
    fn hook_urls_use_the_bound_address_and_the_public_url() {
        let (mut s, _) = parse_ok(
            "[listener]\nhook_secret = \"abcdefghijklmnopqrstuv\"\n[tunnel]\npublic_url = \"https://hooks.example.com/notifier\"\n",
        );
        assert_eq!(
            s.local_hook_url("127.0.0.1:40123".parse().unwrap())
                .unwrap()
                .as_str(),
            "http://127.0.0.1:40123/hooks/abcdefghijklmnopqrstuv"
        );
        assert_eq!(
            s.local_hook_url("[::1]:8787".parse().unwrap())
                .unwrap()
                .as_str(),
            "http://[::1]:8787/hooks/abcdefghijklmnopqrstuv"
        );
        assert_eq!(
            s.public_hook_url().unwrap().as_str(),
            "https://hooks.example.com/notifier/hooks/abcdefghijklmnopqrstuv"
        );
        s.tunnel.public_url = None;
        assert_eq!(s.public_hook_url(), None);
        s.listener.hook_secret = None;
        assert_eq!(s.local_hook_url("127.0.0.1:1".parse().unwrap()), None);
    }

    #[test]
    fn unknown_key_is_reported_not_rejected() {
        let (s, w) = parse_ok("[listener]\nbnd = \"127.0.0.1:1\"\n");
        assert_eq!(s, Settings::default());
        assert_eq!(
            w,
            vec![format!(
                "unknown key `listener.bnd` in {} (ignored)",
                p().display()
            )]
        );
    }

    #[test]
    fn unknown_top_level_keys_and_tables_are_reported() {
        let (_, w) = parse_ok("colour = \"blue\"\n[extra]\na = 1\n[notify.deep]\nb = 2\n");
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("`colour`"), "{w:?}");
        assert!(w.iter().any(|m| m.contains("`extra`")), "{w:?}");
        assert!(w.iter().any(|m| m.contains("`notify.deep`")), "{w:?}");
    }

    #[test]
    fn an_api_key_in_the_config_is_called_out() {
        let (_, w) = parse_ok("[sekoia]\napi_key = \"xyz\"\n");
        assert!(w[0].contains("`sekoia.api_key`"), "{w:?}");
        assert!(w[0].contains("never read from config.toml"), "{w:?}");
        assert!(!w[0].contains("xyz"), "{w:?}");
    }

    #[test]
    fn wrong_type_is_rejected_naming_the_key() {
        let msg = assert_names("[sekoia]\nregion = 5\n", "sekoia.region");
        assert!(msg.contains("one of fra1, fra2"), "{msg}");
        assert_names("[liveapi]\nenabled = \"yes\"\n", "liveapi.enabled");
        assert_names("[notify]\nmin_urgency = \"high\"\n", "notify.min_urgency");
        assert_names("[notify]\nevents = \"alert:created\"\n", "notify.events");
        assert_names("sekoia = 5\n", "sekoia");
        assert_names("[listener]\nbind = 8787\n", "listener.bind");
    }

    #[test]
    fn unknown_region_is_rejected() {
        let msg = assert_names("[sekoia]\nregion = \"mars1\"\n", "sekoia.region");
        assert!(msg.contains("got \"mars1\""), "{msg}");
    }

    #[test]
    fn unknown_tunnel_kind_is_rejected() {
        assert_names("[tunnel]\nkind = \"wireguard\"\n", "tunnel.kind");
    }

    #[test]
    fn non_loopback_bind_is_rejected() {
        let msg = assert_names("[listener]\nbind = \"0.0.0.0:80\"\n", "listener.bind");
        assert_eq!(
            msg,
            "invalid value for `listener.bind` in /home/u/.config/sekoia-notifier/config.toml: expected a loopback IP:port such as 127.0.0.1:8787, got \"0.0.0.0:80\" (the listener never binds a public interface; route through a tunnel)"
        );
        assert_names("[listener]\nbind = \"192.168.1.2:8787\"\n", "listener.bind");
        assert_names("[listener]\nbind = \"[::]:8787\"\n", "listener.bind");
        assert_names("[listener]\nbind = \"localhost:8787\"\n", "listener.bind");
        let (s, _) = parse_ok("[listener]\nbind = \"[::1]:0\"\n");
        assert_eq!(s.listener.bind, "[::1]:0".parse().unwrap());
    }

    #[test]
    fn min_urgency_above_100_is_rejected() {
        let msg = assert_names("[notify]\nmin_urgency = 101\n", "notify.min_urgency");
        assert!(msg.contains("got 101"), "{msg}");
        assert_names("[notify]\nmin_urgency = -1\n", "notify.min_urgency");
        assert_eq!(
            parse_ok("[notify]\nmin_urgency = 100\n")
                .0
                .notify
                .min_urgency,
            100
        );
    }

    #[test]
    fn the_intake_rate_defaults_to_1000_and_zero_turns_it_off() {
        let (s, _) = parse_ok("");
        assert_eq!(s.listener.max_requests_per_second, 1000);
        let (s, _) = parse_ok("[listener]\nmax_requests_per_second = 0\n");
        assert_eq!(s.listener.max_requests_per_second, 0);
        for bad in ["-1", "1000001", "\"fast\""] {
            let msg = assert_names(
                &format!("[listener]\nmax_requests_per_second = {bad}\n"),
                "listener.max_requests_per_second",
            );
            assert!(msg.contains("0 = no limit"), "{msg}");
        }
    }

    #[test]
    fn storm_budget_and_window_default_to_5_per_30_seconds_and_are_bounded() {
        let (s, _) = parse_ok("");
        assert_eq!((s.notify.storm_budget, s.notify.storm_window_secs), (5, 30));
        let (s, _) = parse_ok("[notify]\nstorm_budget = 100\nstorm_window_secs = 1\n");
        assert_eq!(
            (s.notify.storm_budget, s.notify.storm_window_secs),
            (100, 1)
        );
        for bad in ["0", "101", "-3", "\"five\"", "2.5"] {
            let msg = assert_names(
                &format!("[notify]\nstorm_budget = {bad}\n"),
                "notify.storm_budget",
            );
            assert!(msg.contains("1 to 100"), "{msg}");
        }
        for bad in ["0", "3601", "99999999999"] {
            let msg = assert_names(
                &format!("[notify]\nstorm_window_secs = {bad}\n"),
                "notify.storm_window_secs",
            );
            assert!(msg.contains("1 to 3600"), "{msg}");
        }
    }

    #[test]
    fn bad_event_filter_is_rejected() {
        for bad in [
            "alert",
            "Alert:created",
            ":created",
            "alert:",
            "a:b:c",
            "alert: created",
        ] {
            let msg = assert_names(
                &format!("[notify]\nevents = [\"alert:created\", \"{bad}\"]\n"),
                "notify.events[1]",
            );
            assert!(msg.contains("type:action"), "{msg}");
        }
    }

    #[test]
    fn event_filters_match_with_wildcards() {
        let (s, _) = parse_ok(
            "[notify]\nevents = [\"alert:*\", \"*:deleted\", \"content-proposal:created\"]\n",
        );
        let e = &s.notify.events;
        assert!(e[0].matches("alert", "updated"));
        assert!(!e[0].matches("case", "updated"));
        assert!(e[1].matches("case", "deleted"));
        assert!(e[2].matches("content-proposal", "created"));
        assert!(!e[2].matches("content-proposal", "updated"));
        let all: EventFilter = "*:*".parse().unwrap();
        assert!(all.matches("anything", "at-all"));
    }

    #[test]
    fn short_or_odd_secret_is_rejected_without_echoing_it() {
        let msg = assert_names(
            "[listener]\nhook_secret = \"tooshort\"\n",
            "listener.hook_secret",
        );
        assert!(!msg.contains("tooshort"), "{msg}");
        let msg = assert_names(
            "[listener]\nhook_secret = \"abcdefghijklmnopqrstuvwxyz/+==\"\n",
            "listener.hook_secret",
        );
        assert!(!msg.contains("abcdefghij"), "{msg}");
        assert_names(
            &format!("[listener]\nhook_secret = \"{}\"\n", "a".repeat(257)),
            "listener.hook_secret",
        );
        parse_ok(&format!(
            "[listener]\nhook_secret = \"{}\"\n",
            "a".repeat(256)
        ));
    }

    #[test]
    fn http_url_to_a_public_host_is_rejected() {
        let msg = assert_names(
            "[sekoia]\napi_url = \"http://api.sekoia.io\"\n",
            "sekoia.api_url",
        );
        assert!(msg.contains("https"), "{msg}");
        assert_names(
            "[sekoia]\napp_url = \"ftp://app.sekoia.io\"\n",
            "sekoia.app_url",
        );
        assert_names(
            "[tunnel]\npublic_url = \"http://hooks.example.com\"\n",
            "tunnel.public_url",
        );
        assert_names("[liveapi]\nurl = \"ws://live.sekoia.io/\"\n", "liveapi.url");
        assert_names(
            "[liveapi]\nurl = \"https://live.sekoia.io/\"\n",
            "liveapi.url",
        );
        assert_names("[sekoia]\napi_url = \"not a url\"\n", "sekoia.api_url");
        parse_ok("[sekoia]\napi_url = \"http://[::1]:8080\"\n");
        parse_ok("[sekoia]\napi_url = \"http://127.0.0.1:8080\"\n");
    }

    #[test]
    fn url_with_credentials_is_rejected_without_echoing_them() {
        let msg = assert_names(
            "[sekoia]\napi_url = \"https://bob:hunter2@api.sekoia.io\"\n",
            "sekoia.api_url",
        );
        assert!(!msg.contains("hunter2"), "{msg}");
        assert_names(
            "[tunnel]\npublic_url = \"https://x.example.com/?a=1\"\n",
            "tunnel.public_url",
        );
    }

    #[test]
    fn tunnel_program_options_parse_and_credentials_stay_out_of_debug() {
        let (s, w) = parse_ok(
            "[tunnel]\nkind = \"bore\"\nbinary = \"/opt/bore/bore\"\nserver = \"bore.pub\"\nsecret = \"b0re-s3cret\"\ntoken = \"cf-t0ken\"\ndomain = \"x.ngrok.app\"\n",
        );
        assert!(w.is_empty(), "{w:?}");
        let t = &s.tunnel;
        assert_eq!(t.binary.as_deref(), Some(Path::new("/opt/bore/bore")));
        assert_eq!(t.server.as_deref(), Some("bore.pub"));
        assert_eq!(
            t.secret.as_ref().map(TunnelSecret::as_str),
            Some("b0re-s3cret")
        );
        assert_eq!(t.token.as_ref().map(TunnelSecret::as_str), Some("cf-t0ken"));
        assert_eq!(t.domain.as_deref(), Some("x.ngrok.app"));
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("b0re-s3cret") && !debug.contains("cf-t0ken"),
            "{debug}"
        );
    }

    #[test]
    fn tunnel_server_domain_and_secrets_of_the_wrong_form_are_rejected() {
        let msg = assert_names(
            "[tunnel]\nserver = \"https://bore.pub/\"\n",
            "tunnel.server",
        );
        assert!(msg.contains("bare host name"), "{msg}");
        assert_names("[tunnel]\ndomain = \"a b\"\n", "tunnel.domain");
        assert_names("[tunnel]\nsecret = \"\"\n", "tunnel.secret");
        assert_names("[tunnel]\ntoken = \" \"\n", "tunnel.token");
        assert_names("[tunnel]\nbinary = 3\n", "tunnel.binary");
    }

    #[test]
    fn command_kind_without_command_is_rejected() {
        let msg = assert_names("[tunnel]\nkind = \"command\"\n", "tunnel.command");
        assert!(msg.contains("got nothing"), "{msg}");
        assert_names(
            "[tunnel]\nkind = \"command\"\ncommand = \"  \"\n",
            "tunnel.command",
        );
        let (s, w) = parse_ok("[tunnel]\nkind = \"command\"\ncommand = \"bore local {port}\"\n");
        assert_eq!(s.tunnel.kind, TunnelKind::Command);
        assert!(w.is_empty());
    }

    #[test]
    fn toml_syntax_error_names_line_and_column() {
        let err = parse("[sekoia]\nregion = \"fra1\"\nbind = = 3\n", &p()).unwrap_err();
        match &err {
            SettingsError::Syntax { line, .. } => assert_eq!(*line, 3),
            other => panic!("expected a syntax error, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("line 3, column"), "{msg}");
        assert!(msg.contains("config.toml"), "{msg}");
    }

    #[test]
    fn duplicate_key_is_a_syntax_error() {
        let err = parse("[notify]\nmin_urgency = 1\nmin_urgency = 2\n", &p()).unwrap_err();
        assert!(
            matches!(err, SettingsError::Syntax { line: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn huge_garbage_is_rejected_before_parsing() {
        let garbage: String = (0..2 * 1024 * 1024)
            .map(|i| char::from(b"x=[{\"\\\n#"[i % 8]))
            .collect();
        let err = parse(&garbage, &p()).unwrap_err();
        assert!(matches!(err, SettingsError::TooLarge { .. }), "{err}");
        assert!(
            err.to_string().contains("larger than 262144 bytes"),
            "{err}"
        );
    }

    #[test]
    fn nul_bytes_are_a_syntax_error() {
        let err = parse("[sekoia]\nregion = \"fra1\0\"\n\0\0", &p()).unwrap_err();
        assert!(matches!(err, SettingsError::Syntax { .. }), "{err}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let depth = 100_000;
        let arrays = format!("a = {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let err = parse(&arrays, &p()).unwrap_err();
        // toml's parser stops at 80 levels ("max recursion depth met"; its
        // `unbounded` feature is off), as a syntax error at that column.
        assert!(matches!(err, SettingsError::Syntax { .. }), "{err}");
        assert!(err.to_string().contains("recursion depth"), "{err}");
        let inline = format!("a = {}{}\n", "{b=".repeat(depth / 3), "}".repeat(depth / 3));
        assert!(parse(&inline, &p()).is_err());
        let dotted = format!("{} = 1\n", vec!["k"; 60_000].join("."));
        // Either rejected or accepted as an unknown key; it must not crash.
        let _ = parse(&dotted, &p());
        let mut headers = String::new();
        for i in 0..5000 {
            headers.push_str(&format!("[{}]\n", vec!["t"; i % 200 + 1].join(".")));
        }
        let _ = parse(&headers, &p());
    }

    #[test]
    fn first_run_writes_a_private_file_with_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/sekoia-notifier/config.toml");
        let first = load_or_init(&path).unwrap();
        assert!(first.created);
        assert_eq!(first.path, path);
        assert!(first.warnings.is_empty(), "{:?}", first.warnings);
        let secret = first.settings.listener.hook_secret.clone().unwrap();
        assert_eq!(secret.as_str().len(), 32);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("# region = \"fra1\""), "{text}");
        assert!(text.contains("never stored in this file"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let mut defaults = Settings::default();
        defaults.listener.hook_secret = Some(secret.clone());
        assert_eq!(first.settings, defaults);

        let second = load_or_init(&path).unwrap();
        assert!(!second.created);
        assert_eq!(second.settings.listener.hook_secret, Some(secret));
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        let leftovers = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "temp files left behind");
    }

    #[test]
    fn existing_file_without_secret_gets_one_and_keeps_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let original = "# my own notes, keep me\n[sekoia]\nregion = \"usa1\"   # US tenant\n\n[notify]\nmin_urgency = 40\n";
        fs::write(&path, original).unwrap();
        let loaded = load_or_init(&path).unwrap();
        assert!(!loaded.created);
        let secret = loaded.settings.listener.hook_secret.clone().unwrap();
        assert_eq!(loaded.settings.sekoia.region, Region::Usa1);
        assert_eq!(loaded.settings.notify.min_urgency, 40);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(original), "{text}");
        assert!(text.contains(secret.as_str()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let again = load_or_init(&path).unwrap();
        assert_eq!(again.settings.listener.hook_secret, Some(secret));
    }

    #[test]
    fn a_regenerated_secret_replaces_the_old_one_and_keeps_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let old = "old-secret-0123456789abcdefghij";
        let original = format!(
            "# my notes\n[listener]\n# the secret path\nhook_secret = \"{old}\"   # keep private\nbind = \"127.0.0.1:9000\"\n"
        );
        fs::write(&path, &original).unwrap();
        let new = regenerate_secret(&path).unwrap();
        assert_ne!(new.as_str(), old);
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains(old), "{text}");
        assert!(text.contains(new.as_str()));
        for kept in [
            "# my notes",
            "# the secret path",
            "# keep private",
            "127.0.0.1:9000",
        ] {
            assert!(text.contains(kept), "{kept} lost: {text}");
        }
        let loaded = load_or_init(&path).unwrap();
        assert_eq!(loaded.settings.listener.hook_secret, Some(new));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn a_broken_or_missing_file_is_not_rewritten_by_regenerate_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert!(matches!(
            regenerate_secret(&path),
            Err(SettingsError::Io { .. })
        ));
        fs::write(&path, "[listener\nhook_secret = 1").unwrap();
        assert!(matches!(
            regenerate_secret(&path),
            Err(SettingsError::Syntax { .. })
        ));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "[listener\nhook_secret = 1"
        );
    }

    #[test]
    fn the_selftest_interval_defaults_to_ten_minutes_and_is_validated() {
        let p = Path::new("c.toml");
        let (s, _) = parse("", p).unwrap();
        assert_eq!(
            s.tunnel.selftest_interval.period(),
            Some(std::time::Duration::from_secs(600))
        );
        let (s, _) = parse("[tunnel]\nselftest_interval = 0\n", p).unwrap();
        assert_eq!(s.tunnel.selftest_interval.period(), None);
        for bad in ["-5", "86401", "\"10m\"", "1e9"] {
            let err = parse(&format!("[tunnel]\nselftest_interval = {bad}\n"), p)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            let text = err.to_string();
            assert!(text.contains("tunnel.selftest_interval"), "{text}");
            assert!(text.contains("seconds from 0 (off)"), "{text}");
        }
    }

    #[test]
    fn secret_is_added_to_an_existing_listener_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(
            &path,
            "[listener]\n# loopback only\nbind = \"127.0.0.1:9000\"\n[tunnel]\nkind = \"none\"\n",
        )
        .unwrap();
        let loaded = load_or_init(&path).unwrap();
        assert_eq!(loaded.settings.listener.bind.port(), 9000);
        assert!(loaded.settings.listener.hook_secret.is_some());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("# loopback only"), "{text}");
        assert_eq!(text.matches("[listener]").count(), 1, "{text}");
        let inline = dir.path().join("inline.toml");
        fs::write(&inline, "listener = { bind = \"127.0.0.1:9001\" }\n").unwrap();
        let loaded = load_or_init(&inline).unwrap();
        assert!(loaded.settings.listener.hook_secret.is_some());
    }

    #[test]
    fn invalid_file_is_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, "[listener]\nbind = \"0.0.0.0:80\"\n").unwrap();
        let err = load_or_init(&path).unwrap_err();
        assert!(err.to_string().contains("`listener.bind`"), "{err}");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "[listener]\nbind = \"0.0.0.0:80\"\n"
        );
    }

    #[test]
    fn loading_a_huge_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, vec![b'#'; 2 * 1024 * 1024]).unwrap();
        let err = load_or_init(&path).unwrap_err();
        assert!(matches!(err, SettingsError::TooLarge { .. }), "{err}");
        let binary = dir.path().join("binary.toml");
        fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).unwrap();
        let err = load_or_init(&binary).unwrap_err();
        assert!(
            matches!(err, SettingsError::NotUtf8 { offset: 0, .. }),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn group_readable_config_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(
            &path,
            "[listener]\nhook_secret = \"abcdefghijklmnopqrstuv\"\n",
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let loaded = load_or_init(&path).unwrap();
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(
            loaded.warnings[0].contains("chmod 600"),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn hook_secret_debug_and_display_never_show_it() {
        let s = secret("abcdefghijklmnopqrstuvwxyz012345");
        assert_eq!(format!("{s:?}"), "HookSecret(<redacted>)");
        assert_eq!(format!("{s}"), "<redacted>");
        let mut settings = Settings::default();
        settings.listener.hook_secret = Some(s);
        assert!(!format!("{settings:?}").contains("abcdefghij"));
        assert!(!format!("{settings:#?}").contains("abcdefghij"));
    }

    #[test]
    fn generated_secrets_are_url_safe_and_differ() {
        let a = HookSecret::generate().unwrap();
        let b = HookSecret::generate().unwrap();
        assert_ne!(a, b);
        for s in [&a, &b] {
            assert_eq!(s.as_str().len(), 32);
            assert!(HookSecret::validate(s.as_str()).is_ok());
        }
    }

    #[test]
    fn explicit_paths_win() {
        let paths = Paths::resolve(
            Some(PathBuf::from("/tmp/x/c.toml")),
            Some(PathBuf::from("/tmp/x/data")),
        )
        .unwrap();
        assert_eq!(paths.config_file, PathBuf::from("/tmp/x/c.toml"));
        assert_eq!(paths.data_dir, PathBuf::from("/tmp/x/data"));
    }

    #[test]
    fn default_paths_end_in_the_app_dir() {
        // Reads HOME/XDG from the environment without changing it.
        if let Ok(paths) = Paths::resolve(None, None) {
            assert!(paths.config_file.ends_with("sekoia-notifier/config.toml"));
            assert!(paths.data_dir.ends_with("sekoia-notifier"));
        }
    }
}
