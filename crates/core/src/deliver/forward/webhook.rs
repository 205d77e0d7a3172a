//! Generic webhook body: the event's identity, the enriched alert as the
//! API gave it (or null) and the alert page URL. The receiver owns
//! presentation, so text is passed through as JSON data, unescaped. Must
//! not: send anything or sign (the poster signs the exact bytes it sends).

use serde_json::{json, Value};

use super::Message;

pub(super) fn body(msg: &Message) -> Value {
    json!({
        "event": {
            "type": msg.kind,
            "action": msg.action,
            "uuid": msg.uuid,
            "short_id": msg.short_id,
        },
        "alert": msg.alert,
        "url": msg.link.map(url::Url::as_str),
    })
}
