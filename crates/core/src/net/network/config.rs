//! `[network]` in `config.toml` (re-exported by `settings`, which parses
//! the file): how outgoing connections leave the machine. `proxy`
//! overrides the `HTTPS_PROXY`/`HTTP_PROXY` environment (or turns proxies
//! off with `"none"`), `ca_file` adds CA certificates (a TLS-inspecting
//! corporate proxy's) to the trusted roots.
//!
//! Must not: open connections or read the CA file (`network` does, at
//! engine start), or show a proxy password anywhere (`Debug` redacts it).

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use url::Url;

/// `[network]`. Both keys optional: without them the environment's proxy
/// variables and the OS trust store (with the bundled roots) apply.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkSettings {
    /// `"http://user:pass@proxy.corp:3128"` or `"none"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySetting>,
    /// A PEM file of extra CA certificates, trusted beside the OS store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// `network.proxy`: a proxy for every outgoing connection, or none at all.
#[derive(Clone, PartialEq, Eq)]
pub enum ProxySetting {
    /// `"none"`: connect directly even when the environment names a proxy.
    Off,
    /// An `http://` or `https://` proxy, credentials allowed in the URL
    /// (sent as Basic authorization).
    Url(Url),
}

/// What `network.proxy` must look like, for messages.
pub(crate) const PROXY_FORM: &str =
    "an http:// or https:// proxy URL such as \"http://user:password@proxy.example.com:3128\", or \"none\"";

impl ProxySetting {
    /// Parses the config value; the error never echoes it (it may hold a
    /// password).
    pub fn parse(text: &str) -> Result<ProxySetting, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("none") {
            return Ok(ProxySetting::Off);
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("got text with spaces or line breaks".to_owned());
        }
        let url = Url::parse(text).map_err(|e| {
            format!("got something that is not a URL ({e}); the value is not shown")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "got a {}:// proxy, which is not supported",
                url.scheme()
            ));
        }
        if url.host_str().is_none() {
            return Err("got a URL without a host".to_owned());
        }
        Ok(ProxySetting::Url(url))
    }

    /// `scheme://host:port`, never the credentials.
    pub fn shown(&self) -> String {
        match self {
            ProxySetting::Off => "none".to_owned(),
            ProxySetting::Url(url) => shown_url(url),
        }
    }
}

/// `scheme://host:port` of a proxy URL, without user or password.
pub fn shown_url(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or("?"),
        url.port_or_known_default().unwrap_or(0)
    )
}

impl fmt::Debug for ProxySetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = matches!(self, ProxySetting::Url(u) if !u.username().is_empty() || u.password().is_some());
        write!(
            f,
            "ProxySetting({}{})",
            self.shown(),
            if auth { ", <credentials>" } else { "" }
        )
    }
}

impl<'de> Deserialize<'de> for ProxySetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ProxySetting::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for ProxySetting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ProxySetting::Off => s.serialize_str("none"),
            ProxySetting::Url(url) => s.serialize_str(url.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_setting_is_a_url_or_none_and_never_shows_its_password() {
        let p = ProxySetting::parse("http://ann:s3cret@proxy.corp:3128").unwrap();
        assert_eq!(p.shown(), "http://proxy.corp:3128");
        let debug = format!("{p:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("ann"),
            "{debug}"
        );
        assert!(debug.contains("<credentials>"), "{debug}");
        assert_eq!(ProxySetting::parse(" None ").unwrap(), ProxySetting::Off);
        let err = ProxySetting::parse("socks5://u:hunter2@proxy:1080").unwrap_err();
        assert!(err.contains("socks5") && !err.contains("hunter2"), "{err}");
        let err = ProxySetting::parse("http://u:hunter2@pro xy").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(ProxySetting::parse("not a url").is_err());
    }
}
