//! Mattermost incoming-webhook body: a markdown `text` line plus one
//! attachment coloured by urgency, titled and linked to the alert page, with
//! short fields. Must not: send anything or let untrusted text reach
//! markdown unescaped (only `fallback`, which is never rendered, stays plain).

use serde_json::{json, Value};

use super::{break_mentions, escape_markdown, Facts, Message};
use crate::urgency::Band;

/// Attachment side colour, one per band of the scale: red (Urgent), amber
/// (Major), yellow (High), blue (Moderate), green (Low), grey when unknown.
fn colour(band: Option<Band>) -> &'static str {
    match band {
        Some(Band::Urgent) => "#D0021B",
        Some(Band::Major) => "#F5A623",
        Some(Band::High) => "#E8C300",
        Some(Band::Moderate) => "#4A90E2",
        Some(Band::Low) => "#2EB67D",
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
        "color": colour(facts.band),
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
