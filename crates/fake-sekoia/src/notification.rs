//! Notifications in the shapes Sekoia.io really sends (its published
//! fixtures; DESIGN.md §4): every one carries its own `metadata.uuid` and an
//! RFC 3339 `created_at` with microseconds; an update says what changed in
//! `attributes.updated`; a comment names its alert; a case carries its own
//! short id. Webhook bodies and LiveAPI v2 frames share these shapes;
//! [`v1_twin`] gives the old-style frame the LiveAPI pushes beside a v2 one.
//! Test support only.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh uuid-shaped id, unique within the process (and across runs,
/// through the start time).
pub fn new_uuid() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let pid = u64::from(std::process::id());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (start >> 16) as u32,
        pid & 0xffff,
        (n >> 12) & 0xfff,
        n & 0xfff,
        start & 0xffff_ffff_ffff
    )
}

/// The current time as Sekoia.io writes it: RFC 3339 with microseconds.
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn notification(kind: &str, action: &str, attributes: Value, created_at: &str) -> Value {
    json!({
        "type": kind,
        "action": action,
        "attributes": attributes,
        "metadata": {
            "version": 2,
            "uuid": new_uuid(),
            "created_at": created_at,
            "community_uuid": "3a7f1c2e-8b4d-4e6a-9c1f-2d5e8a0b7c63"
        }
    })
}

/// `alert:created`.
pub fn alert_created(uuid: &str, short_id: &str) -> Value {
    notification(
        "alert",
        "created",
        json!({"uuid": uuid, "short_id": short_id}),
        &now(),
    )
}

/// `alert:updated` saying `updated` changed, at `created_at`.
pub fn alert_updated(uuid: &str, short_id: &str, updated: Value, created_at: &str) -> Value {
    notification(
        "alert",
        "updated",
        json!({"uuid": uuid, "short_id": short_id, "updated": updated}),
        created_at,
    )
}

/// `alert:updated` with `{"similar": n}`: the alert matched again.
pub fn occurrences(uuid: &str, short_id: &str, n: u64) -> Value {
    alert_updated(uuid, short_id, json!({"similar": n}), &now())
}

/// `alert:updated` with a status change (`status` uuid and `status_name`).
pub fn status_changed(uuid: &str, short_id: &str, status_uuid: &str, name: &str) -> Value {
    alert_updated(
        uuid,
        short_id,
        json!({"status": status_uuid, "status_name": name}),
        &now(),
    )
}

/// `alert-comment:created` on an alert.
pub fn comment_created(
    comment_uuid: &str,
    alert_uuid: &str,
    alert_short_id: &str,
    content: &str,
) -> Value {
    notification(
        "alert-comment",
        "created",
        json!({
            "uuid": comment_uuid,
            "alert_uuid": alert_uuid,
            "alert_short_id": alert_short_id,
            "content": content,
            "created_by": "d7b9f1a3-6c8e-4d0f-9a2b-4c5d6e7f8091",
            "created_by_type": "user"
        }),
        &now(),
    )
}

/// `case:<action>` (`created`, `updated`, `alerts-updated`).
pub fn case(action: &str, uuid: &str, short_id: &str, title: &str, priority: &str) -> Value {
    notification(
        "case",
        action,
        json!({
            "uuid": uuid,
            "short_id": short_id,
            "title": title,
            "priority": priority,
            "manual": true,
            "created_at": "2026-11-20T08:40:00.000001"
        }),
        &now(),
    )
}

/// `content-proposal:created`, with no attributes at all.
pub fn content_proposal() -> Value {
    notification("content-proposal", "created", json!({}), &now())
}

/// The v1 frame the LiveAPI pushes beside a v2 notification: `event_type`,
/// `attributes.event` (`alert-created`, `alert-comment-created`, ...),
/// `attributes.alert_uuid`, and a root `uuid` equal to the v2
/// `metadata.uuid`.
pub fn v1_twin(v2: &Value) -> Value {
    let kind = v2["type"].as_str().unwrap_or("alert");
    let action = v2["action"].as_str().unwrap_or("created");
    let attributes = &v2["attributes"];
    let (event_type, event, alert_uuid) = match kind {
        "alert-comment" => (
            "alert",
            format!("alert-comment-{action}"),
            attributes["alert_uuid"].clone(),
        ),
        other => (
            other,
            format!("{other}-{action}"),
            attributes["uuid"].clone(),
        ),
    };
    json!({
        "created_at": v2["metadata"]["created_at"],
        "event_version": 1,
        "created_by": "2c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f",
        "created_by_type": "application",
        "event_type": event_type,
        "community_uuid": v2["metadata"]["community_uuid"],
        "attributes": {"event": event, "alert_uuid": alert_uuid},
        "uuid": v2["metadata"]["uuid"]
    })
}
