//! Where a forward goes, as `[[forward]]` configures it: the kind of
//! destination (`Kind`: teams, slack, ...), its URL and the generic
//! webhook's signing secret, each held as a `Secret` that `Debug` and
//! `Display` redact. The forwarders (`deliver::forward`) POST to it.
//!
//! Owns: those types. Must not: send anything or show a URL beyond its host.

use serde::Deserialize;
use serde::Deserializer;
use std::fmt;

/// The kind of destination, as written in config (`kind = "teams"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Teams Workflows (Power Automate) webhook: an Adaptive Card message.
    Teams,
    /// The retired Office 365 connector form: `{"text": markdown}`.
    TeamsLegacy,
    /// Slack incoming webhook, Block Kit.
    Slack,
    /// Mattermost incoming webhook, attachments with colour.
    Mattermost,
    /// Generic JSON POST of the enriched alert, optionally signed.
    Webhook,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Teams => "teams",
            Kind::TeamsLegacy => "teams-legacy",
            Kind::Slack => "slack",
            Kind::Mattermost => "mattermost",
            Kind::Webhook => "webhook",
        })
    }
}

/// A value that must never be shown: `Debug` and `Display` print
/// `<redacted>`. Deserializes transparently, so config can hold one.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The secret itself; only for building the request.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Transparent, so settings holding one can be written back to config.
impl<T: serde::Serialize> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

/// One forwarding destination. `secret` is the generic webhook's HMAC key
/// and is ignored by the other kinds.
#[derive(Debug, Clone)]
pub struct Destination {
    pub kind: Kind,
    pub url: Secret<url::Url>,
    pub secret: Option<Secret<String>>,
}

impl Destination {
    /// The URL's host, the only part of it fit for logs and errors.
    pub fn host(&self) -> String {
        self.url
            .expose()
            .host_str()
            .unwrap_or("(no host)")
            .to_owned()
    }
}
