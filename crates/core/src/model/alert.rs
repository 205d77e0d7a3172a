//! The alert and case as Sekoia.io's API returns them (DESIGN.md §4), the
//! model every stage reads: lenient, every field optional, a field of the
//! wrong type read as `None` so one odd field never loses the whole alert.
//!
//! Owns: `Alert`, `Case` and their parts, `is_uuid`. Must not: make a
//! request (the client is `net::sekoia`), know the API key, or log.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Deserializes a field as `Some` when it has the expected type, else `None`,
/// so one odd field never loses the whole alert.
pub(crate) fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// Like [`lenient`] for urgency numbers, which must lie in 0..=100.
fn lenient_urgency<'de, D>(deserializer: D) -> Result<Option<u8>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(lenient::<D, u8>(deserializer)?.filter(|n| *n <= 100))
}

/// An alert's urgency; numbers outside 0..=100 are dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Urgency {
    #[serde(default, deserialize_with = "lenient_urgency")]
    pub value: Option<u8>,
    #[serde(default, deserialize_with = "lenient_urgency")]
    pub current_value: Option<u8>,
    #[serde(default, deserialize_with = "lenient")]
    pub display: Option<String>,
}

/// An object of which only the name is used (status, rule, entity).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Named {
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
}

/// An alert's type, e.g. `intrusions` / `system-compromise`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertType {
    #[serde(default, deserialize_with = "lenient")]
    pub category: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub value: Option<String>,
}

/// The alert fields the notifier uses. Every field is optional, unknown fields
/// are ignored and a field of the wrong type reads as `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    #[serde(default, deserialize_with = "lenient")]
    pub uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub short_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub urgency: Option<Urgency>,
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<Named>,
    #[serde(default, deserialize_with = "lenient")]
    pub rule: Option<Named>,
    #[serde(default, deserialize_with = "lenient")]
    pub entity: Option<Named>,
    #[serde(default, deserialize_with = "lenient")]
    pub alert_type: Option<AlertType>,
    #[serde(default, deserialize_with = "lenient")]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub target: Option<String>,
    /// Epoch seconds.
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<i64>,
    /// RFC 3339, as sent.
    #[serde(default, deserialize_with = "lenient")]
    pub first_seen_at: Option<String>,
    /// RFC 3339, as sent.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_seen_at: Option<String>,
    /// The community the alert belongs to (an MSSP's customer).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub community_uuid: Option<String>,
    /// Occurrences so far (`similar`).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub similar: Option<u64>,
}

/// The case fields the notifier uses (`GET /v1/sic/cases/{uuid}`, DESIGN.md
/// §4). Every field optional; a field of the wrong type reads as `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Case {
    #[serde(default, deserialize_with = "lenient")]
    pub uuid: Option<String>,
    /// "CA…".
    #[serde(default, deserialize_with = "lenient")]
    pub short_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub description: Option<String>,
    /// `low`, `medium`, `high`.
    #[serde(default, deserialize_with = "lenient")]
    pub priority: Option<String>,
    /// The status name (`opened`, `closed`, ...).
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub number_of_alerts: Option<u64>,
    /// RFC 3339, as sent.
    #[serde(default, deserialize_with = "lenient")]
    pub first_seen_at: Option<String>,
    /// RFC 3339, as sent.
    #[serde(default, deserialize_with = "lenient")]
    pub last_seen_at: Option<String>,
}

impl Alert {
    /// The current urgency, else the initial one.
    pub fn urgency_value(&self) -> Option<u8> {
        let urgency = self.urgency.as_ref()?;
        urgency.current_value.or(urgency.value)
    }
}

/// True when `s` has the 8-4-4-4-12 hexadecimal UUID shape.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}
