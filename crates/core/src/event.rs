//! The Sekoia.io WebHook notification (payload v2): parsing bytes into an
//! [`Event`] or a typed [`ParseError`].
//!
//! Parsing is total and forward compatible: unknown `type`/`action` values,
//! unknown fields and other `metadata.version` values are accepted, and the
//! raw JSON is kept beside the parsed view so nothing Sekoia sent is lost.
//! Only the fields the engine relies on are checked. This module does no I/O.

use serde_json::{Map, Value};
use std::fmt;

/// Longest `type`, `action`, `uuid` or `short_id` we accept. Sekoia's values
/// are a few dozen characters; anything far longer is hostile or broken.
const MAX_IDENT_LEN: usize = 256;

/// One webhook notification, as received.
#[derive(Clone, PartialEq, Eq)]
pub struct Event {
    /// `type`: `alert`, `content-proposal`, `case`, ... (kept as sent).
    pub kind: String,
    /// `action`: `created`, `updated`, `deleted`, ... (kept as sent).
    pub action: String,
    /// `attributes.uuid`: the object the event is about.
    pub uuid: String,
    /// `attributes.short_id`, when sent.
    pub short_id: Option<String>,
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
            .field("uuid", &self.uuid)
            .field("short_id", &self.short_id)
            .field("version", &self.version)
            .field("created_at", &self.created_at)
            .field("raw_len", &self.raw.len())
            .finish()
    }
}

/// Why a body is not a webhook event. The Display text is safe to send back
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
    #[error("missing field `{field}`")]
    Missing { field: &'static str },
    #[error("field `{field}` is {found}; expected {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("field `{field}` is {problem}")]
    BadValue {
        field: &'static str,
        problem: &'static str,
    },
}

impl Event {
    /// Parses one webhook body. Any byte string yields an event or an error.
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

        let kind = required_ident(root, "type", "type")?;
        let action = required_ident(root, "action", "action")?;
        let attributes = match root.get("attributes") {
            None => {
                return Err(ParseError::Missing {
                    field: "attributes",
                })
            }
            Some(Value::Object(map)) => map,
            Some(other) => return Err(wrong_type("attributes", "an object", other)),
        };
        let uuid = required_ident(attributes, "uuid", "attributes.uuid")?;
        let short_id = optional_ident(attributes, "short_id", "attributes.short_id")?;

        let (version, created_at) = match root.get("metadata") {
            None | Some(Value::Null) => (None, None),
            Some(Value::Object(meta)) => (version(meta)?, created_at(meta)?),
            Some(other) => return Err(wrong_type("metadata", "an object", other)),
        };

        Ok(Event {
            kind,
            action,
            uuid,
            short_id,
            version,
            created_at,
            raw: text.to_owned(),
        })
    }

    /// The identity of a delivery: an identical redelivery has the same key
    /// (same type, action, uuid and `metadata.created_at`), whichever source
    /// (webhook or LiveAPI) brought it; see [`dedup_key`].
    pub fn dedup_key(&self) -> String {
        dedup_key(
            &self.kind,
            &self.action,
            &self.uuid,
            self.created_at.as_deref(),
        )
    }

    /// `type:action`, as used in `[notify] events` filters and in logs.
    pub fn topic(&self) -> String {
        format!("{}:{}", self.kind, self.action)
    }
}

/// The dedup key of an event: type, action, uuid and the event time in a
/// canonical form ([`canonical_time`]), so that the same event written as
/// `1732874400`, `1732874400.0` or `"2024-11-29T10:00:00Z"` by two sources is
/// stored once. Integer seconds (what Sekoia.io sends) are kept as written,
/// so keys stored before this normalization existed stay valid.
pub fn dedup_key(kind: &str, action: &str, uuid: &str, created_at: Option<&str>) -> String {
    // Fields cannot contain control characters (see `check_ident`), so
    // the unit separator keeps the parts unambiguous.
    let time = created_at.map(canonical_time).unwrap_or_default();
    format!("{kind}\u{1f}{action}\u{1f}{uuid}\u{1f}{time}")
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

fn required_ident(
    map: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<String, ParseError> {
    optional_ident(map, key, field)?.ok_or(ParseError::Missing { field })
}

/// A short identifier: a non-empty string of printable characters. `null`
/// counts as absent.
fn optional_ident(
    map: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<String>, ParseError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => check_ident(s, field).map(|()| Some(s.clone())),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

fn check_ident(s: &str, field: &'static str) -> Result<(), ParseError> {
    let problem = if s.trim().is_empty() {
        "empty"
    } else if s.len() > MAX_IDENT_LEN {
        "longer than 256 bytes"
    } else if s
        .chars()
        .any(|c| c.is_control() || crate::notify::is_line_separator(c))
    {
        // An identifier is logged and shown on one line: U+2028/U+2029
        // would forge one.
        "a string with control characters"
    } else {
        return Ok(());
    };
    Err(ParseError::BadValue { field, problem })
}

fn version(meta: &Map<String, Value>) -> Result<Option<i64>, ParseError> {
    match meta.get("version") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(ParseError::BadValue {
            field: "metadata.version",
            problem: "not a whole number",
        }),
        Some(other) => Err(wrong_type("metadata.version", "a number", other)),
    }
}

fn created_at(meta: &Map<String, Value>) -> Result<Option<String>, ParseError> {
    const FIELD: &str = "metadata.created_at";
    match meta.get("created_at") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => check_ident(s, FIELD).map(|()| Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(wrong_type(FIELD, "a timestamp (string or number)", other)),
    }
}

fn wrong_type(field: &'static str, expected: &'static str, found: &Value) -> ParseError {
    ParseError::WrongType {
        field,
        expected,
        found: type_name(found),
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
        let long = "a".repeat(257);
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
            ("empty object", v("{}"), |e| {
                matches!(e, ParseError::Missing { field: "type" })
            }),
            (
                "no action",
                v(r#"{"type":"alert","attributes":{"uuid":"u"}}"#),
                |e| matches!(e, ParseError::Missing { field: "action" }),
            ),
            (
                "no attributes",
                v(r#"{"type":"alert","action":"created"}"#),
                |e| {
                    matches!(
                        e,
                        ParseError::Missing {
                            field: "attributes"
                        }
                    )
                },
            ),
            (
                "no uuid",
                v(r#"{"type":"alert","action":"created","attributes":{"short_id":"AL1"}}"#),
                |e| {
                    matches!(
                        e,
                        ParseError::Missing {
                            field: "attributes.uuid"
                        }
                    )
                },
            ),
            (
                "null type",
                v(r#"{"type":null,"action":"created","attributes":{"uuid":"u"}}"#),
                |e| matches!(e, ParseError::Missing { field: "type" }),
            ),
            (
                "null uuid",
                v(r#"{"type":"alert","action":"created","attributes":{"uuid":null}}"#),
                |e| {
                    matches!(
                        e,
                        ParseError::Missing {
                            field: "attributes.uuid"
                        }
                    )
                },
            ),
            (
                "null attributes",
                v(r#"{"type":"alert","action":"created","attributes":null}"#),
                |e| {
                    matches!(
                        e,
                        ParseError::WrongType {
                            field: "attributes",
                            found: "null",
                            ..
                        }
                    )
                },
            ),
            (
                "numeric type",
                v(r#"{"type":1,"action":"created","attributes":{"uuid":"u"}}"#),
                |e| matches!(e, ParseError::WrongType { field: "type", .. }),
            ),
            (
                "array action",
                v(r#"{"type":"alert","action":["created"],"attributes":{"uuid":"u"}}"#),
                |e| {
                    matches!(
                        e,
                        ParseError::WrongType {
                            field: "action",
                            ..
                        }
                    )
                },
            ),
            (
                "attributes array",
                v(r#"{"type":"alert","action":"created","attributes":[]}"#),
                |e| {
                    matches!(
                        e,
                        ParseError::WrongType {
                            field: "attributes",
                            ..
                        }
                    )
                },
            ),
            (
                "object uuid",
                v(r#"{"type":"alert","action":"created","attributes":{"uuid":{}}}"#),
                |e| {
                    matches!(
                        e,
                        ParseError::WrongType {
                            field: "attributes.uuid",
                            ..
                        }
                    )
                },
            ),
            (
                "numeric short_id",
                v(r#"{"type":"alert","action":"created","attributes":{"uuid":"u","short_id":7}}"#),
                |e| {
                    matches!(
                        e,
                        ParseError::WrongType {
                            field: "attributes.short_id",
                            ..
                        }
                    )
                },
            ),
            (
                "metadata string",
                v(
                    r#"{"type":"alert","action":"created","attributes":{"uuid":"u"},"metadata":"v2"}"#,
                ),
                |e| {
                    matches!(
                        e,
                        ParseError::WrongType {
                            field: "metadata",
                            ..
                        }
                    )
                },
            ),
            (
                "version string",
                v(
                    r#"{"type":"alert","action":"created","attributes":{"uuid":"u"},"metadata":{"version":"2"}}"#,
                ),
                |e| {
                    matches!(
                        e,
                        ParseError::WrongType {
                            field: "metadata.version",
                            ..
                        }
                    )
                },
            ),
            (
                "version float",
                v(
                    r#"{"type":"alert","action":"created","attributes":{"uuid":"u"},"metadata":{"version":2.5}}"#,
                ),
                |e| {
                    matches!(
                        e,
                        ParseError::BadValue {
                            field: "metadata.version",
                            ..
                        }
                    )
                },
            ),
            (
                "created_at bool",
                v(
                    r#"{"type":"alert","action":"created","attributes":{"uuid":"u"},"metadata":{"created_at":true}}"#,
                ),
                |e| {
                    matches!(
                        e,
                        ParseError::WrongType {
                            field: "metadata.created_at",
                            ..
                        }
                    )
                },
            ),
            (
                "empty type",
                v(r#"{"type":"","action":"created","attributes":{"uuid":"u"}}"#),
                |e| {
                    matches!(
                        e,
                        ParseError::BadValue {
                            field: "type",
                            problem: "empty"
                        }
                    )
                },
            ),
            (
                "blank uuid",
                v(r#"{"type":"alert","action":"created","attributes":{"uuid":"  "}}"#),
                |e| {
                    matches!(
                        e,
                        ParseError::BadValue {
                            field: "attributes.uuid",
                            ..
                        }
                    )
                },
            ),
            (
                "control chars",
                v(r#"{"type":"alert\u0000","action":"created","attributes":{"uuid":"u"}}"#),
                |e| matches!(e, ParseError::BadValue { field: "type", .. }),
            ),
            (
                "newline in uuid",
                v(r#"{"type":"alert","action":"created","attributes":{"uuid":"u\nv"}}"#),
                |e| {
                    matches!(
                        e,
                        ParseError::BadValue {
                            field: "attributes.uuid",
                            ..
                        }
                    )
                },
            ),
            (
                "line separator in short_id",
                v(
                    r#"{"type":"alert","action":"created","attributes":{"uuid":"u","short_id":"AL1\u2028x"}}"#,
                ),
                |e| {
                    matches!(
                        e,
                        ParseError::BadValue {
                            field: "attributes.short_id",
                            ..
                        }
                    )
                },
            ),
            (
                "huge uuid",
                v(&format!(
                    r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{long}"}}}}"#
                )),
                |e| {
                    matches!(
                        e,
                        ParseError::BadValue {
                            field: "attributes.uuid",
                            ..
                        }
                    )
                },
            ),
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

    #[test]
    fn malformed_bodies_give_the_right_typed_error() {
        let cases = malformed();
        assert!(cases.len() >= 30);
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
