//! What one LiveAPI text frame is: the handshake acknowledgement, an event
//! (the webhook's v2 shape, or the older `event_version`/`event_type`
//! shape, mapped onto v2), or something unknown, which is kept as an event
//! of its own type rather than dropped. Pure: no I/O.

use crate::model::event::Event;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The `type` under which frames of an unknown shape are stored.
pub const UNKNOWN_TYPE: &str = "liveapi-frame";

/// One frame, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `{"authenticated": ...}`: the server's answer to the connection.
    Handshake { authenticated: bool },
    /// A v2 notification, the webhook's model.
    Event(Event),
    /// An old-style (v1) frame mapped onto the v2 model; its `metadata.uuid`
    /// is the frame's `uuid`, which its v2 twin carries too.
    OldEvent(Event),
    /// A frame of no known shape, stored as a `liveapi-frame` event (its
    /// uuid a hash of the text, so a repeated frame is stored once); `why`
    /// says what did not fit, for the log. Never the frame's content.
    /// `old` marks an old-style (v1) frame that does not map, which an
    /// upgraded connection skips like every v1 frame.
    Unknown {
        event: Event,
        why: String,
        old: bool,
    },
}

/// Classifies one text frame. Total: every text gives a frame.
pub fn classify(text: &str) -> Frame {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return unknown(text, "not JSON".to_owned()),
    };
    let Value::Object(root) = &value else {
        return unknown(text, "not a JSON object".to_owned());
    };
    if let Some(flag) = root.get("authenticated") {
        return Frame::Handshake {
            authenticated: flag.as_bool().unwrap_or(false),
        };
    }
    if root.contains_key("type") && root.contains_key("action") {
        return Frame::Event(Event::from_object(root, text.to_owned()));
    }
    if root.contains_key("event_type") || root.contains_key("event_version") {
        return match old_style(root) {
            Some(Value::Object(v2)) => Frame::OldEvent(Event::from_object(
                &v2,
                Value::Object(v2.clone()).to_string(),
            )),
            _ => match unknown(text, "an old-style frame without event and uuid".to_owned()) {
                Frame::Unknown { event, why, .. } => Frame::Unknown {
                    event,
                    why,
                    old: true,
                },
                other => other,
            },
        };
    }
    unknown(text, "no type/action nor event_type".to_owned())
}

/// An old-style (v1) frame as a v2 body: `event_type` is the type,
/// `attributes.event` (`alert-created`, `alert-status-changed`) less the
/// type's prefix is the action, `attributes.alert_uuid` (or `uuid`) the
/// object. The original frame is kept under `liveapi_v1`.
fn old_style(root: &Map<String, Value>) -> Option<Value> {
    let attributes = root.get("attributes").and_then(Value::as_object);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let field = |k: &str| text(attributes.and_then(|a| a.get(k)));
    let event = field("event");
    let kind = text(root.get("event_type")).or_else(|| {
        event
            .as_deref()
            .and_then(|e| e.split('-').next())
            .map(str::to_owned)
    })?;
    let action = match event {
        Some(e) => e
            .strip_prefix(&format!("{kind}-"))
            .map(str::to_owned)
            .unwrap_or(e),
        None => field("action")?,
    };
    let alert_uuid = field("alert_uuid").or_else(|| field("uuid"))?;
    let short_id = field("alert_short_id").or_else(|| field("short_id"));
    let created_at = attributes
        .and_then(|a| a.get("created_at"))
        .or_else(|| root.get("created_at"))
        .cloned()
        .unwrap_or(Value::Null);
    // `alert-comment-created` is a comment on the alert: the v2 type.
    let (kind, action) = match (kind.as_str(), action.strip_prefix("comment-")) {
        ("alert", Some(rest)) => (crate::model::kind::COMMENT.to_owned(), rest.to_owned()),
        _ => (kind, action),
    };
    let attributes = if kind == crate::model::kind::COMMENT {
        json!({"uuid": field("comment_uuid"), "alert_uuid": alert_uuid, "alert_short_id": short_id,
               "content": field("content")})
    } else {
        json!({"uuid": alert_uuid, "short_id": short_id})
    };
    // The frame's root `uuid` is the notification's id (its v2 twin's
    // `metadata.uuid`).
    Some(json!({
        "type": kind,
        "action": action,
        "attributes": attributes,
        "metadata": {"created_at": created_at, "uuid": text(root.get("uuid"))},
        "liveapi_v1": Value::Object(root.clone()),
    }))
}

fn unknown(text: &str, why: String) -> Frame {
    let digest = Sha256::digest(text.as_bytes());
    let uuid = hex::encode(&digest[..16]);
    let mut body = Map::new();
    body.insert("type".into(), json!(UNKNOWN_TYPE));
    body.insert("action".into(), json!("received"));
    body.insert("attributes".into(), json!({ "uuid": uuid }));
    body.insert("frame".into(), json!(text));
    let raw = Value::Object(body.clone()).to_string();
    Frame::Unknown {
        event: Event::from_object(&body, raw),
        why,
        old: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "5a3f2bd6-5c1e-4f0a-9b7e-2f1c3d4e5f60";

    #[test]
    fn the_handshake_is_not_an_event() {
        assert_eq!(
            classify(r#"{"authenticated": true}"#),
            Frame::Handshake {
                authenticated: true
            }
        );
        assert_eq!(
            classify(r#"{"authenticated": "no"}"#),
            Frame::Handshake {
                authenticated: false
            }
        );
    }

    #[test]
    fn a_v2_frame_is_the_webhook_event_with_the_same_dedup_key() {
        let body = format!(
            r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{UUID}","short_id":"ALx"}},"metadata":{{"version":2,"created_at":1732874400,"community_uuid":"c"}}}}"#
        );
        let Frame::Event(e) = classify(&body) else {
            panic!("not an event")
        };
        assert_eq!(e, Event::parse(body.as_bytes()).unwrap());
        assert_eq!(e.raw, body);
    }

    #[test]
    fn an_old_style_frame_maps_to_type_action_and_uuid() {
        let body = format!(
            r#"{{"event_version":1,"event_type":"alert","attributes":{{"event":"alert-created","alert_uuid":"{UUID}","alert_short_id":"ALold","created_at":1732874400}}}}"#
        );
        let Frame::OldEvent(e) = classify(&body) else {
            panic!("not an old-style event")
        };
        assert_eq!((e.kind.as_str(), e.action.as_str()), ("alert", "created"));
        assert_eq!(e.uuid, UUID);
        assert_eq!(e.short_id.as_deref(), Some("ALold"));
        // The same event as a v2 webhook without a notification id: one key.
        let v2 = format!(
            r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{UUID}"}},"metadata":{{"created_at":"2024-11-29T10:00:00Z"}}}}"#
        );
        assert_eq!(
            e.dedup_key(),
            Event::parse(v2.as_bytes()).unwrap().dedup_key()
        );
        assert!(e.raw.contains("liveapi_v1"));
        let status = format!(
            r#"{{"event_version":"1","event_type":"alert","attributes":{{"event":"alert-status-changed","alert_uuid":"{UUID}"}}}}"#
        );
        let Frame::OldEvent(e) = classify(&status) else {
            panic!("not an event")
        };
        assert_eq!(e.action, "status-changed");
    }

    #[test]
    fn a_v1_frame_and_its_v2_twin_share_one_identity() {
        // Sekoia.io's v1 frame carries, as its root `uuid`, the v2 twin's
        // `metadata.uuid` (its published fixtures).
        let v1 = format!(
            r#"{{"created_at":"2026-11-20T08:34:12.550000+00:00","event_version":1,"event_type":"alert","attributes":{{"event":"alert-comment-created","alert_uuid":"{UUID}"}},"uuid":"d8c0a2b4-7d9f-4e1a-8b3c-5d6e7f809102"}}"#
        );
        let v2 = format!(
            r#"{{"type":"alert-comment","action":"created","attributes":{{"uuid":"c6a8e0f2-5b7d-4c9e-8f1a-3b4c5d6e7f80","alert_uuid":"{UUID}","alert_short_id":"ALm4","content":"x"}},"metadata":{{"version":2,"uuid":"d8c0a2b4-7d9f-4e1a-8b3c-5d6e7f809102","created_at":"2026-11-20T08:34:12.550000+00:00"}}}}"#
        );
        let (Frame::OldEvent(old), Frame::Event(new)) = (classify(&v1), classify(&v2)) else {
            panic!("not events")
        };
        assert_eq!(old.dedup_key(), new.dedup_key());
        assert_eq!(
            (old.kind.as_str(), old.action.as_str()),
            ("alert-comment", "created")
        );
        assert_eq!(old.uuid, UUID, "a comment is about its alert");
        assert_eq!(new.uuid, UUID);
    }

    #[test]
    fn any_v2_object_is_an_event_even_with_odd_attributes() {
        let Frame::Event(e) =
            classify(r#"{"type":"alert","action":"created","attributes":{"uuid":""}}"#)
        else {
            panic!("refused")
        };
        assert_eq!(e.uuid, "");
    }

    #[test]
    fn unknown_shapes_are_kept_under_their_own_type_never_refused() {
        for text in [
            "not json at all",
            "[1,2,3]",
            r#"{"hello":"world"}"#,
            r#"{"event_type":"alert","attributes":{}}"#,
        ] {
            let Frame::Unknown { event, why, .. } = classify(text) else {
                panic!("{text} was classified")
            };
            assert_eq!(event.kind, UNKNOWN_TYPE, "{text}");
            assert!(event
                .raw
                .contains(&serde_json::to_string(text).unwrap()[1..3]));
            assert!(!why.contains(text) || text.len() < 4, "{why}");
            // The same frame twice has one identity.
            let Frame::Unknown { event: again, .. } = classify(text) else {
                unreachable!()
            };
            assert_eq!(event.dedup_key(), again.dedup_key());
        }
    }
}
