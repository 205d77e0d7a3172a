//! The Sekoia.io notification (webhook body and LiveAPI v2 frame): parsing
//! bytes into an [`Event`] or a typed [`ParseError`].
//!
//! Parsing is total and forward compatible: any JSON object is an event.
//! Unknown `type`/`action` values, missing or oddly shaped `attributes`,
//! unknown fields and other `metadata.version` values are accepted, and the
//! raw JSON is kept beside the parsed view so nothing Sekoia sent is lost.
//! Fields are read where they are used: a field of the wrong shape reads as
//! absent here, never as a refusal. Only a body that is not a JSON object is
//! an error. What an event is about (its subject) follows `kind`; this module
//! does no I/O.
//!
//! In detail: the Sekoia.io notification model (webhook body and LiveAPI v2
//! frame). `Event::parse(&[u8])` is total: any JSON object is an event (odd
//! fields read as absent), anything else a typed `ParseError` that never echoes
//! the body. Keeps the raw JSON. `Event::dedup_key` is the identity:
//! `metadata.uuid` when sent, else type, action, `attributes.uuid`, canonical
//! time and `attributes.updated`.

use crate::model::kind::{Change, Facts, Subject};
use crate::model::text::ident;
pub use crate::model::text::is_line_separator;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// `type` or `action` when the body has none we can read.
pub const UNKNOWN: &str = "unknown";

/// One notification, as received.
#[derive(Clone, PartialEq, Eq)]
pub struct Event {
    /// `type`: `alert`, `alert-comment`, `case`, `content-proposal`, ...
    /// (kept as sent; [`UNKNOWN`] when absent or unreadable).
    pub kind: String,
    /// `action`: `created`, `updated`, `alerts-updated`, ... (kept as sent;
    /// [`UNKNOWN`] when absent or unreadable).
    pub action: String,
    /// What the event is about (see [`crate::model::kind::subject`]): the alert
    /// for `alert` and `alert-comment`, the case for `case`, else the
    /// object named by `attributes.uuid`, if any.
    pub subject: Subject,
    /// The subject's uuid (`""` when there is none), the key under which the
    /// feed groups events. For a comment: `attributes.alert_uuid`.
    pub uuid: String,
    /// The subject's short id, when sent (a comment's `alert_short_id`).
    pub short_id: Option<String>,
    /// `attributes.uuid` as sent (for a comment, the comment's own uuid).
    pub object_uuid: Option<String>,
    /// `metadata.uuid`: the notification's own id, when sent. It decides
    /// identity (webhook and LiveAPI twins share it).
    pub notification_uuid: Option<String>,
    /// `attributes.updated` of an update, as canonical JSON (keys sorted):
    /// what changed (`{"similar": 42}`, `{"status": …, "status_name": …}`).
    pub updated: Option<String>,
    /// `metadata.version`, when sent (2 today; others are kept, not refused).
    pub version: Option<i64>,
    /// `metadata.created_at` as text (Sekoia may send a number or a string).
    pub created_at: Option<String>,
    /// The body exactly as received (valid UTF-8 JSON).
    pub raw: String,
}

impl fmt::Debug for Event {
    // The raw body can be large; the parsed view is what a log needs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("kind", &self.kind)
            .field("action", &self.action)
            .field("subject", &self.subject)
            .field("uuid", &self.uuid)
            .field("short_id", &self.short_id)
            .field("notification_uuid", &self.notification_uuid)
            .field("version", &self.version)
            .field("created_at", &self.created_at)
            .field("raw_len", &self.raw.len())
            .finish()
    }
}

/// Why a body is not a notification. The Display text is safe to send back
/// to the client: it never echoes the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is empty; expected a JSON object")]
    Empty,
    #[error("the body is not valid UTF-8 (byte {offset}); expected a JSON object")]
    NotUtf8 { offset: usize },
    #[error("the body is not valid JSON: {detail}")]
    Syntax { detail: String },
    #[error("the body is {found}, not a JSON object")]
    NotObject { found: &'static str },
}

impl Event {
    /// Parses one body. Any byte string yields an event or an error; any
    /// JSON object yields an event.
    pub fn parse(body: &[u8]) -> Result<Event, ParseError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ParseError::Empty);
        }
        let text = std::str::from_utf8(body).map_err(|e| ParseError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let value: Value = serde_json::from_str(text).map_err(|e| ParseError::Syntax {
            detail: syntax_detail(&e),
        })?;
        let Value::Object(root) = &value else {
            return Err(ParseError::NotObject {
                found: type_name(&value),
            });
        };
        Ok(Event::from_object(root, text.to_owned()))
    }

    /// The event a JSON object describes; `raw` is kept as given.
    pub(crate) fn from_object(root: &Map<String, Value>, raw: String) -> Event {
        let kind = ident(root.get("type")).unwrap_or_else(|| UNKNOWN.to_owned());
        let action = ident(root.get("action")).unwrap_or_else(|| UNKNOWN.to_owned());
        let attributes = root.get("attributes").and_then(Value::as_object);
        let attr = |key: &str| ident(attributes.and_then(|a| a.get(key)));
        let object_uuid = attr("uuid");
        let subject = crate::model::kind::subject(&kind);
        let (uuid, short_id) = match subject {
            Subject::Alert if kind == crate::model::kind::COMMENT => {
                (attr("alert_uuid"), attr("alert_short_id"))
            }
            _ => (object_uuid.clone(), attr("short_id")),
        };
        let updated = attributes
            .and_then(|a| a.get("updated"))
            .filter(|u| u.is_object())
            .map(canonical_json);
        let meta = root.get("metadata").and_then(Value::as_object);
        Event {
            kind,
            action,
            subject,
            uuid: uuid.unwrap_or_default(),
            short_id,
            object_uuid,
            notification_uuid: ident(meta.and_then(|m| m.get("uuid"))),
            updated,
            version: meta.and_then(|m| m.get("version")).and_then(Value::as_i64),
            created_at: meta.and_then(|m| match m.get("created_at") {
                Some(Value::Number(n)) => Some(n.to_string()),
                other => ident(other),
            }),
            raw,
        }
    }

    /// The identity of a notification: an identical redelivery has the same
    /// key, whichever source (webhook or LiveAPI) brought it; see
    /// [`dedup_key`].
    pub fn dedup_key(&self) -> String {
        match &self.notification_uuid {
            Some(id) => notification_key(id),
            None => {
                let mut key = dedup_key(
                    &self.kind,
                    &self.action,
                    self.object_uuid.as_deref().unwrap_or_default(),
                    self.created_at.as_deref(),
                );
                if let Some(updated) = &self.updated {
                    key.push('\u{1f}');
                    key.push_str(updated);
                }
                if self.object_uuid.is_none() {
                    // Nothing names the object: what it says tells two apart.
                    key.push('\u{1f}');
                    key.push_str(&attributes_digest(&self.raw));
                }
                key
            }
        }
    }

    /// `type:action`, as used in `[notify] events` filters and in logs.
    pub fn topic(&self) -> String {
        format!("{}:{}", self.kind, self.action)
    }
}

/// The key of a notification that carries its own id (`metadata.uuid`).
pub fn notification_key(id: &str) -> String {
    format!("n\u{1f}{id}")
}

/// The dedup key of a notification without `metadata.uuid`: type, action,
/// `attributes.uuid` and the event time in a canonical form
/// ([`canonical_time`]), so that the same event written as `1732874400`,
/// `1732874400.0` or `"2024-11-29T10:00:00Z"` by two sources is stored once.
/// Integer seconds are kept as written, so keys stored before this
/// normalization existed stay valid. [`Event::dedup_key`] adds what changed.
pub fn dedup_key(kind: &str, action: &str, uuid: &str, created_at: Option<&str>) -> String {
    // Fields cannot contain control characters (see `ident`), so the unit
    // separator keeps the parts unambiguous.
    let time = created_at.map(canonical_time).unwrap_or_default();
    format!("{kind}\u{1f}{action}\u{1f}{uuid}\u{1f}{time}")
}

/// A short SHA-256 prefix of a body's canonical `attributes` (`-` when the
/// body has none).
fn attributes_digest(raw: &str) -> String {
    let attributes = serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|v| v.get("attributes").cloned());
    match attributes {
        Some(a) => hex::encode(&Sha256::digest(canonical_json(&a).as_bytes())[..8]),
        None => "-".to_owned(),
    }
}

/// JSON text with object keys sorted at every level, so two spellings of
/// one value compare equal (serde_json keeps insertion order when another
/// crate of the build turns on `preserve_order`).
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// An event time as unix seconds when it reads as a time (integer or
/// decimal seconds, RFC 3339), with a fraction only when there is one;
/// anything else as written.
pub fn canonical_time(text: &str) -> String {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.to_owned();
    }
    let nanos: Option<i128> = if let Ok(t) =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        Some(t.unix_timestamp_nanos())
    } else if let Some((whole, frac)) = text.split_once('.') {
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit());
        if digits(whole) && digits(frac) && frac.len() <= 9 {
            let secs: i128 = whole.parse().unwrap_or_default();
            let mut padded = frac.to_owned();
            while padded.len() < 9 {
                padded.push('0');
            }
            let sub: i128 = padded.parse().unwrap_or_default();
            Some(secs * 1_000_000_000 + sub)
        } else {
            None
        }
    } else {
        None
    };
    match nanos {
        Some(n) => {
            let (secs, sub) = (n.div_euclid(1_000_000_000), n.rem_euclid(1_000_000_000));
            if sub == 0 {
                secs.to_string()
            } else {
                let frac = format!("{sub:09}");
                format!("{secs}.{}", frac.trim_end_matches('0'))
            }
        }
        None => text.to_owned(),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde_json's message with its position, without any of the input.
fn syntax_detail(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "it ends too early",
        Category::Syntax if e.to_string().contains("recursion limit") => "it is nested too deeply",
        Category::Syntax => "syntax error",
        Category::Data | Category::Io => "unreadable data",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// The fields of a stored event the policy looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventView {
    pub id: i64,
    /// `type` as sent.
    pub kind: String,
    pub action: String,
    /// The subject's uuid (`""` when none): a comment's alert.
    pub uuid: String,
    /// The subject's short id.
    pub short_id: Option<String>,
    /// What the event is about.
    pub subject: Subject,
    /// What it says beside its subject (change, comment text, case title).
    pub facts: Facts,
}

impl EventView {
    /// About an alert (the alert's own notifications and its comments).
    pub fn is_alert(&self) -> bool {
        self.subject == Subject::Alert
    }

    /// An update that never raises a pop-up by itself (occurrences,
    /// urgency; see `kind::Change::is_quiet`).
    pub fn is_quiet(&self) -> bool {
        self.facts.change.as_ref().is_some_and(Change::is_quiet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERT_CREATED: &str = r#"{
        "type": "alert",
        "action": "created",
        "attributes": {"uuid": "5a3f2bd6-5c1e-4f0a-9b7e-2f1c3d4e5f60", "short_id": "ALWVYiP2Msz4"},
        "metadata": {
            "version": 2,
            "created_at": 1732874400,
            "community_uuid": "0f2d1c3b-4a5e-6f70-8190-a1b2c3d4e5f6",
            "avatar_uuid": null,
            "user_uuid": null,
            "permissions": ["SIC_READ_ALERTS"]
        }
    }"#;

    fn parse(s: &str) -> Result<Event, ParseError> {
        Event::parse(s.as_bytes())
    }

    #[test]
    fn alert_created_payload_is_parsed() {
        let e = parse(ALERT_CREATED).unwrap();
        assert_eq!(e.kind, "alert");
        assert_eq!(e.action, "created");
        assert_eq!(e.uuid, "5a3f2bd6-5c1e-4f0a-9b7e-2f1c3d4e5f60");
        assert_eq!(e.short_id.as_deref(), Some("ALWVYiP2Msz4"));
        assert_eq!(e.version, Some(2));
        assert_eq!(e.created_at.as_deref(), Some("1732874400"));
        assert_eq!(e.raw, ALERT_CREATED);
        assert_eq!(e.topic(), "alert:created");
    }

    #[test]
    fn other_types_and_actions_are_parsed() {
        for (kind, action) in [
            ("alert", "updated"),
            ("alert", "deleted"),
            ("content-proposal", "created"),
            ("alert-comment", "created"),
            ("case", "updated"),
            ("something-new", "archived"),
        ] {
            let body = format!(
                r#"{{"type":"{kind}","action":"{action}","attributes":{{"uuid":"0f2d1c3b-4a5e-6f70-8190-a1b2c3d4e5f6"}},"metadata":{{"version":2,"created_at":"2024-11-29T10:00:00Z"}}}}"#
            );
            let e = parse(&body).unwrap();
            assert_eq!((e.kind.as_str(), e.action.as_str()), (kind, action));
            assert_eq!(e.short_id, None);
            assert_eq!(e.created_at.as_deref(), Some("2024-11-29T10:00:00Z"));
        }
    }

    #[test]
    fn case_and_comment_shapes_with_extra_attributes_are_kept() {
        let body = r#"{"type":"case","action":"created","attributes":{"uuid":"c-1","short_id":"CAxyz","title":"x","alerts":[1,2]},"metadata":{"version":2}}"#;
        let e = parse(body).unwrap();
        assert_eq!(e.short_id.as_deref(), Some("CAxyz"));
        let comment = r#"{"type":"alert-comment","action":"created","attributes":{"uuid":"a-1","alert_uuid":"b","content":"<b>hi</b>"}}"#;
        let e = parse(comment).unwrap();
        assert_eq!(e.kind, "alert-comment");
        assert!(e.raw.contains("<b>hi</b>"));
    }

    #[test]
    fn other_metadata_versions_and_unknown_fields_are_accepted() {
        let body = r#"{"type":"alert","action":"created","attributes":{"uuid":"u"},"metadata":{"version":3,"new":{"deep":[true]}},"extra":1}"#;
        let e = parse(body).unwrap();
        assert_eq!(e.version, Some(3));
        let no_meta = r#"{"type":"alert","action":"created","attributes":{"uuid":"u"}}"#;
        assert_eq!(parse(no_meta).unwrap().version, None);
        let null_meta = r#"{"type":"alert","action":"created","attributes":{"uuid":"u","short_id":null},"metadata":null}"#;
        assert_eq!(parse(null_meta).unwrap().short_id, None);
    }

    #[test]
    fn dedup_key_reads_one_instant_written_three_ways_as_one() {
        let key = |t: &str| dedup_key("alert", "created", "u-1", Some(t));
        assert_eq!(key("1732874400"), key("1732874400.0"));
        assert_eq!(key("1732874400"), key("2024-11-29T10:00:00Z"));
        assert_eq!(key("1732874400"), key("2024-11-29T11:00:00+01:00"));
        assert_eq!(key("1732874400.25"), key("2024-11-29T10:00:00.250Z"));
        assert_ne!(key("1732874400"), key("1732874401"));
        // Integer seconds stay as written: keys stored before are still valid.
        assert_eq!(
            key("1732874400"),
            "alert\u{1f}created\u{1f}u-1\u{1f}1732874400"
        );
        assert_eq!(canonical_time("0"), "0");
        assert_eq!(canonical_time("not a time"), "not a time");
    }

    #[test]
    fn dedup_key_ignores_everything_but_identity() {
        let a = parse(ALERT_CREATED).unwrap();
        let b = parse(&ALERT_CREATED.replace("\"permissions\"", "\"other\"")).unwrap();
        assert_eq!(a.dedup_key(), b.dedup_key());
        let later = parse(&ALERT_CREATED.replace("1732874400", "1732874401")).unwrap();
        assert_ne!(a.dedup_key(), later.dedup_key());
        let updated = parse(&ALERT_CREATED.replace("created\"", "updated\"")).unwrap();
        assert_ne!(a.dedup_key(), updated.dedup_key());
    }

    const ALERT: &str = "b81d4f27-6c3e-4a95-8f20-1e7c9d3b5a46";

    fn update(meta_uuid: Option<&str>, updated: &str) -> String {
        let id = meta_uuid
            .map(|u| format!(r#","uuid":"{u}""#))
            .unwrap_or_default();
        format!(
            r#"{{"type":"alert","action":"updated","attributes":{{"uuid":"{ALERT}","short_id":"ALm4Rt8Kx2Pq","updated":{updated}}},"metadata":{{"version":2,"created_at":"2026-11-20T08:30:00.120000+00:00"{id}}}}}"#
        )
    }

    #[test]
    fn two_updates_at_one_instant_are_two_notifications() {
        let urgency = parse(&update(
            Some("a4e6c8d0-3f5b-4a7c-8d9e-1f2a3b4c5d6e"),
            r#"{"dynamic_urgency_value":20}"#,
        ))
        .unwrap();
        let status = parse(&update(
            Some("b5f7d9e1-4a6c-4b8d-9e0f-2a3b4c5d6e7f"),
            r#"{"status":"8f206505-af6d-433e-93f4-775d46dc7d0f","status_name":"Acknowledged"}"#,
        ))
        .unwrap();
        assert_ne!(urgency.dedup_key(), status.dedup_key());
        assert_eq!(urgency.uuid, ALERT);
        assert_eq!(
            urgency.updated.as_deref(),
            Some(r#"{"dynamic_urgency_value":20}"#)
        );
        // Without `metadata.uuid`, what changed tells them apart too, in
        // whatever key order it was written.
        let a = parse(&update(
            None,
            r#"{"status_name":"Acknowledged","status":"x"}"#,
        ))
        .unwrap();
        let b = parse(&update(
            None,
            r#"{"status":"x","status_name":"Acknowledged"}"#,
        ))
        .unwrap();
        let c = parse(&update(None, r#"{"similar":3}"#)).unwrap();
        assert_eq!(a.dedup_key(), b.dedup_key());
        assert_ne!(a.dedup_key(), c.dedup_key());
        // The notification's own id decides, whatever else differs.
        let again = parse(&update(
            Some("a4e6c8d0-3f5b-4a7c-8d9e-1f2a3b4c5d6e"),
            r#"{"dynamic_urgency_value":20, "extra": 1}"#,
        ))
        .unwrap();
        assert_eq!(urgency.dedup_key(), again.dedup_key());
    }

    #[test]
    fn a_comment_is_about_its_alert_and_a_case_about_itself() {
        let comment = parse(&format!(
            r#"{{"type":"alert-comment","action":"created","attributes":{{"uuid":"c6a8e0f2-5b7d-4c9e-8f1a-3b4c5d6e7f80","alert_uuid":"{ALERT}","alert_short_id":"ALm4Rt8Kx2Pq","content":"Host isolated.","created_by":"d7b9f1a3-6c8e-4d0f-9a2b-4c5d6e7f8091","created_by_type":"user"}},"metadata":{{"version":2,"uuid":"d8c0a2b4-7d9f-4e1a-8b3c-5d6e7f809102","created_at":"2026-11-20T08:34:12.550000+00:00"}}}}"#
        ))
        .unwrap();
        assert_eq!(comment.subject, Subject::Alert);
        assert_eq!(comment.uuid, ALERT);
        assert_eq!(comment.short_id.as_deref(), Some("ALm4Rt8Kx2Pq"));
        assert_eq!(
            comment.object_uuid.as_deref(),
            Some("c6a8e0f2-5b7d-4c9e-8f1a-3b4c5d6e7f80")
        );
        let case = parse(r#"{"type":"case","action":"alerts-updated","attributes":{"uuid":"e9d1b3c5-8e0a-4f2b-9c4d-6e7f80910213","short_id":"CAr7Ws2Kp9Lm","title":"T","priority":"high"},"metadata":{"version":2,"uuid":"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","created_at":"2026-11-20T08:40:00.210000+00:00"}}"#).unwrap();
        assert_eq!(case.subject, Subject::Case);
        assert_eq!(case.short_id.as_deref(), Some("CAr7Ws2Kp9Lm"));
    }

    #[test]
    fn a_notification_without_ids_is_kept_and_told_apart_by_what_it_says() {
        let empty = parse(r#"{"type":"content-proposal","action":"created","attributes":{},"metadata":{"version":2,"created_at":"2026-11-20T08:00:00.000000+00:00","community_uuid":"0b1c6b1e-6d2f-4a7e-9a51-3d8e6f0c2a11"}}"#).unwrap();
        assert_eq!(empty.subject, Subject::Other);
        assert_eq!(empty.uuid, "");
        let blank_short = parse(r#"{"type":"content-proposal","action":"created","attributes":{"short_id":""},"metadata":{"version":2,"created_at":"2026-11-20T08:00:00.000000+00:00"}}"#).unwrap();
        assert_eq!(blank_short.short_id, None);
        let other = parse(r#"{"type":"content-proposal","action":"created","attributes":{"rule":"x"},"metadata":{"version":2,"created_at":"2026-11-20T08:00:00.000000+00:00"}}"#).unwrap();
        assert_ne!(empty.dedup_key(), other.dedup_key());
        assert_eq!(empty.dedup_key(), parse(&empty.raw).unwrap().dedup_key());
    }

    #[test]
    fn debug_output_does_not_dump_the_body() {
        let e = parse(ALERT_CREATED).unwrap();
        assert!(!format!("{e:?}").contains("community_uuid"));
    }

    fn deep(n: usize) -> String {
        format!(
            r#"{{"type":"alert","action":"created","attributes":{{"uuid":"u"}},"x":{}1{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    }

    /// A malformed body: its name, its bytes, and the error it must produce.
    type Case = (&'static str, Vec<u8>, fn(&ParseError) -> bool);

    fn malformed() -> Vec<Case> {
        fn v(s: &str) -> Vec<u8> {
            s.as_bytes().to_vec()
        }
        let full = ALERT_CREATED;
        vec![
            ("empty", v(""), |e| matches!(e, ParseError::Empty)),
            ("whitespace", v("  \n\t "), |e| {
                matches!(e, ParseError::Empty)
            }),
            ("truncated", v(&full[..full.len() / 2]), |e| {
                matches!(e, ParseError::Syntax { .. })
            }),
            ("missing close", v(&full[..full.len() - 1]), |e| {
                matches!(e, ParseError::Syntax { .. })
            }),
            ("one brace", v("{"), |e| {
                matches!(e, ParseError::Syntax { .. })
            }),
            ("trailing garbage", v(&format!("{full}x")), |e| {
                matches!(e, ParseError::Syntax { .. })
            }),
            ("two objects", v(&format!("{full}{full}")), |e| {
                matches!(e, ParseError::Syntax { .. })
            }),
            ("single quotes", v("{'type':'alert'}"), |e| {
                matches!(e, ParseError::Syntax { .. })
            }),
            ("trailing comma", v(r#"{"type":"alert",}"#), |e| {
                matches!(e, ParseError::Syntax { .. })
            }),
            ("bare word", v("alert"), |e| {
                matches!(e, ParseError::Syntax { .. })
            }),
            (
                "bom",
                [&[0xEF, 0xBB, 0xBF][..], full.as_bytes()].concat(),
                |e| matches!(e, ParseError::Syntax { .. }),
            ),
            (
                "invalid utf8",
                vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'],
                |e| matches!(e, ParseError::NotUtf8 { offset: 2 }),
            ),
            (
                "utf16",
                "{}".encode_utf16().flat_map(u16::to_le_bytes).collect(),
                |e| matches!(e, ParseError::Syntax { .. }),
            ),
            ("nul bytes", vec![0, 0, 0], |e| {
                matches!(e, ParseError::Syntax { .. })
            }),
            (
                "10000 deep",
                v(&deep(10_000)),
                |e| matches!(e, ParseError::Syntax { detail } if detail.contains("nested too deeply")),
            ),
            ("array", v(&format!("[{full}]")), |e| {
                matches!(e, ParseError::NotObject { found: "an array" })
            }),
            ("string", v(r#""alert""#), |e| {
                matches!(e, ParseError::NotObject { found: "a string" })
            }),
            ("number", v("42"), |e| {
                matches!(e, ParseError::NotObject { found: "a number" })
            }),
            ("null", v("null"), |e| {
                matches!(e, ParseError::NotObject { found: "null" })
            }),
            ("true", v("true"), |e| {
                matches!(e, ParseError::NotObject { .. })
            }),
            (
                "lone surrogate",
                v(r#"{"type":"\ud800","action":"created","attributes":{"uuid":"u"}}"#),
                |e| matches!(e, ParseError::Syntax { .. }),
            ),
            (
                "huge number",
                v(
                    r#"{"type":"alert","action":"created","attributes":{"uuid":"u"},"metadata":{"version":1e999}}"#,
                ),
                |e| matches!(e, ParseError::Syntax { .. }),
            ),
        ]
    }

    /// Bodies that are JSON objects with odd fields: accepted, the odd
    /// field read as absent.
    fn oddly_shaped() -> Vec<(&'static str, Vec<u8>)> {
        fn v(s: &str) -> Vec<u8> {
            s.as_bytes().to_vec()
        }
        let long = "a".repeat(257);
        vec![
            ("empty object", v("{}")),
            (
                "no action",
                v(r#"{"type":"alert","attributes":{"uuid":"u"}}"#),
            ),
            ("no attributes", v(r#"{"type":"alert","action":"created"}"#)),
            (
                "no uuid",
                v(r#"{"type":"alert","action":"created","attributes":{"short_id":"AL1"}}"#),
            ),
            (
                "null type",
                v(r#"{"type":null,"action":"created","attributes":{"uuid":"u"}}"#),
            ),
            (
                "null uuid",
                v(r#"{"type":"alert","action":"created","attributes":{"uuid":null}}"#),
            ),
            (
                "null attributes",
                v(r#"{"type":"alert","action":"created","attributes":null}"#),
            ),
            (
                "numeric type",
                v(r#"{"type":1,"action":"created","attributes":{"uuid":"u"}}"#),
            ),
            (
                "array action",
                v(r#"{"type":"alert","action":["created"],"attributes":{"uuid":"u"}}"#),
            ),
            (
                "attributes array",
                v(r#"{"type":"alert","action":"created","attributes":[]}"#),
            ),
            (
                "object uuid",
                v(r#"{"type":"alert","action":"created","attributes":{"uuid":{}}}"#),
            ),
            (
                "numeric short_id",
                v(r#"{"type":"alert","action":"created","attributes":{"uuid":"u","short_id":7}}"#),
            ),
            (
                "metadata string",
                v(
                    r#"{"type":"alert","action":"created","attributes":{"uuid":"u"},"metadata":"v2"}"#,
                ),
            ),
            (
                "version string",
                v(
                    r#"{"type":"alert","action":"created","attributes":{"uuid":"u"},"metadata":{"version":"2"}}"#,
                ),
            ),
            (
                "version float",
                v(
                    r#"{"type":"alert","action":"created","attributes":{"uuid":"u"},"metadata":{"version":2.5}}"#,
                ),
            ),
            (
                "created_at bool",
                v(
                    r#"{"type":"alert","action":"created","attributes":{"uuid":"u"},"metadata":{"created_at":true}}"#,
                ),
            ),
            (
                "empty type",
                v(r#"{"type":"","action":"created","attributes":{"uuid":"u"}}"#),
            ),
            (
                "blank uuid",
                v(r#"{"type":"alert","action":"created","attributes":{"uuid":"  "}}"#),
            ),
            (
                "control chars",
                v(r#"{"type":"alert\u0000","action":"created","attributes":{"uuid":"u"}}"#),
            ),
            (
                "newline in uuid",
                v(r#"{"type":"alert","action":"created","attributes":{"uuid":"u\nv"}}"#),
            ),
            (
                "huge uuid",
                v(&format!(
                    r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{long}"}}}}"#
                )),
            ),
        ]
    }

    #[test]
    fn any_json_object_is_an_event_with_odd_fields_read_as_absent() {
        let cases = oddly_shaped();
        assert!(cases.len() >= 15);
        for (name, body) in cases {
            let e = Event::parse(&body).unwrap_or_else(|err| panic!("{name}: refused: {err}"));
            assert_eq!(e.raw.as_bytes(), body, "{name}");
            // Whatever was odd reads as absent, never as a guess.
            assert!(!e.kind.is_empty() && !e.action.is_empty(), "{name}");
            assert!(e.uuid.is_empty() || e.uuid == "u", "{name}: {:?}", e.uuid);
            assert!(
                e.short_id.is_none() || e.short_id.as_deref() == Some("AL1"),
                "{name}"
            );
        }
    }

    #[test]
    fn malformed_bodies_give_the_right_typed_error() {
        let cases = malformed();
        assert!(cases.len() >= 15);
        for (name, body, check) in cases {
            match Event::parse(&body) {
                Ok(e) => panic!("{name}: parsed as {e:?}"),
                Err(err) => assert!(check(&err), "{name}: unexpected error {err:?}"),
            }
        }
    }

    #[test]
    fn error_messages_never_echo_the_body() {
        for (name, body, _) in malformed() {
            let msg = Event::parse(&body).unwrap_err().to_string();
            assert!(!msg.contains("ALWVYiP2Msz4"), "{name}: {msg}");
            assert!(msg.len() < 200, "{name}: {msg}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep; the fuzz target goes much further.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let alphabet = br#"{}[]":,. 0123456789abcdeftrunl\-"#;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ = Event::parse(&bytes);
        }
    }
}
