//! Mattermost incoming-webhook body: a markdown `text` line plus one
//! attachment coloured by urgency, titled and linked to the alert page, with
//! short fields. Must not: send anything or let untrusted text reach
//! markdown unescaped (only `fallback`, which is never rendered, stays plain).

use serde_json::{json, Value};

use super::{break_mentions, escape_markdown, Facts, Message};

/// Attachment side colour: red (80+), amber (40-79), green (below 40),
/// grey when unknown.
fn colour(urgency: Option<u8>) -> &'static str {
    match urgency {
        Some(80..) => "#D0021B",
        Some(40..) => "#F5A623",
        Some(_) => "#2EB67D",
        None => "#8A8A8A",
    }
}

pub(super) fn attachment(msg: &Message) -> Value {
    let facts = Facts::of(msg);
    let mut fields = vec![json!({
        "short": true,
        "title": "Urgency",
        "value": escape_markdown(&facts.urgency_text),
    })];
    for (label, value) in &facts.rows {
        fields.push(json!({"short": true, "title": label, "value": escape_markdown(value)}));
    }
    // Plain text for notifications and clients without attachments.
    let fallback = break_mentions(&format!(
        "Sekoia.io alert: {} (urgency {})",
        facts.title, facts.urgency_text
    ));
    let mut attachment = json!({
        "fallback": fallback,
        "color": colour(facts.urgency),
        "title": escape_markdown(&facts.title),
        "fields": fields,
    });
    if let Some(link) = msg.link {
        attachment["title_link"] = json!(link.as_str());
    }
    json!({
        "text": format!(
            "Sekoia.io alert: **{}** (urgency {})",
            escape_markdown(&facts.title),
            escape_markdown(&facts.urgency_text)
        ),
        "attachments": [attachment],
    })
}
