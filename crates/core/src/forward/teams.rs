//! Microsoft Teams bodies: the Adaptive Card 1.4 message envelope that
//! Workflows (Power Automate) webhooks expect, and the legacy connector's
//! `{"text": markdown}`. Must not: send anything or show untrusted text
//! unescaped (TextBlock and FactSet values render markdown).

use serde_json::{json, Value};

use super::{escape_markdown, Facts, Message};
use crate::urgency::Band;

const CARD_SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
const OPEN_TITLE: &str = "Open in Sekoia.io";

/// Adaptive Card text colour per band (the card has seven named colours):
/// attention (Urgent), warning (Major), accent (High), good (Moderate),
/// default (Low or unknown).
fn colour(band: Option<Band>) -> &'static str {
    match band {
        Some(Band::Urgent) => "attention",
        Some(Band::Major) => "warning",
        Some(Band::High) => "accent",
        Some(Band::Moderate) => "good",
        Some(Band::Low) | None => "default",
    }
}

/// The Workflows message: one Adaptive Card attachment.
pub(super) fn card(msg: &Message) -> Value {
    let facts = Facts::of(msg);
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": escape_markdown(&facts.title),
            "weight": "bolder",
            "size": "medium",
            "wrap": true,
        }),
        json!({
            "type": "TextBlock",
            "text": format!("Urgency: {}", escape_markdown(&facts.urgency_text)),
            "color": colour(facts.band),
            "weight": "bolder",
            "wrap": true,
        }),
    ];
    if !facts.rows.is_empty() {
        let rows: Vec<Value> = facts
            .rows
            .iter()
            .map(|(label, value)| json!({"title": label, "value": escape_markdown(value)}))
            .collect();
        body.push(json!({"type": "FactSet", "facts": rows}));
    }
    let mut content = json!({
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(link) = msg.link {
        content["actions"] = json!([
            {"type": "Action.OpenUrl", "title": OPEN_TITLE, "url": link.as_str()}
        ]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": content,
        }],
    })
}

/// The legacy connector message: markdown paragraphs.
pub(super) fn legacy(msg: &Message) -> Value {
    let facts = Facts::of(msg);
    let mut text = format!(
        "**{}**\n\nUrgency: {}",
        escape_markdown(&facts.title),
        escape_markdown(&facts.urgency_text)
    );
    for (label, value) in &facts.rows {
        text.push_str(&format!("\n\n{label}: {}", escape_markdown(value)));
    }
    if let Some(link) = msg.link {
        text.push_str(&format!("\n\n[{OPEN_TITLE}]({})", link_target(link)));
    }
    json!({ "text": text })
}

/// A link target safe inside `( )`: the caller built it from the configured
/// app URL, and `Url` already percent-encodes spaces; parentheses are encoded
/// here so they cannot end the target early.
fn link_target(link: &url::Url) -> String {
    link.as_str().replace('(', "%28").replace(')', "%29")
}
