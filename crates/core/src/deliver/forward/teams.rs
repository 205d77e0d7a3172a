//! Microsoft Teams bodies: the Adaptive Card 1.4 message envelope that
//! Workflows (Power Automate) webhooks expect, and the legacy connector's
//! `{"text": markdown}`.
//!
//! In the card every untrusted text is a `TextRun` in a `RichTextBlock`,
//! which the schema defines as plain ("Markdown is not supported"), so it is
//! shown as given: no backslashes for Teams mobile to leave behind. Our own
//! words ("Urgency: ", the labels) are `TextRun`s too, in bold. Nothing can
//! mention anyone: Teams mentions need `msteams.entities`, never sent.
//!
//! The legacy text is markdown: only what Teams clients read back is
//! escaped (a backslash before `*`, `_`, `[`, `]`, which Teams mobile removes,
//! and before a backslash that precedes one of them; `<` as `&lt;`, so no
//! HTML tag forms).
//!
//! Both stay within 28 KB, Teams' message size, measured on the JSON body
//! sent (`within`); a URL in alert text is never a link (`defuse_urls`).
//!
//! Must not: send anything, use `TextBlock` or `FactSet` (markdown) for
//! untrusted text, or add a link other than the alert page.

use serde_json::{json, Value};

use super::limit::{fit, json_bytes};
use super::{defuse_urls, within, Facts, Message};
use crate::model::urgency::Band;

const CARD_SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
const OPEN_TITLE: &str = "Open in Sekoia.io";

/// Teams' limit on a message, in bytes of the JSON body ("28 KB", taken as
/// 28,000 so either reading of KB holds).
pub(super) const MESSAGE_MAX_BYTES: usize = 28_000;
/// The title's share, in JSON bytes, before any halving.
const TITLE_BYTES: usize = 4_000;
/// Each value's share, in JSON bytes, before any halving.
const VALUE_BYTES: usize = 2_000;

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

fn body_bytes(body: &Value) -> usize {
    serde_json::to_vec(body).map_or(usize::MAX, |bytes| bytes.len())
}

/// Untrusted text as a plain `TextRun`, cut to `max` JSON bytes.
fn run(text: &str, max: usize) -> Value {
    json!({"type": "TextRun", "text": fit(text, max, json_bytes, defuse_urls)})
}

/// The Workflows message: one Adaptive Card attachment.
pub(super) fn card(msg: &Message) -> Value {
    let facts = Facts::of(msg);
    within(MESSAGE_MAX_BYTES, body_bytes, |halvings| {
        card_with(msg, &facts, halvings)
    })
}

fn card_with(msg: &Message, facts: &Facts, halvings: u32) -> Value {
    let (title_max, value_max) = (TITLE_BYTES >> halvings, VALUE_BYTES >> halvings);
    let mut title = run(&facts.title, title_max);
    title["weight"] = json!("bolder");
    title["size"] = json!("medium");
    let colour = colour(facts.band);
    let mut urgency = run(&facts.urgency_text, value_max);
    urgency["weight"] = json!("bolder");
    urgency["color"] = json!(colour);
    let mut body = vec![
        json!({"type": "RichTextBlock", "inlines": [title]}),
        json!({"type": "RichTextBlock", "inlines": [
            {"type": "TextRun", "text": "Urgency: ", "weight": "bolder", "color": colour},
            urgency,
        ]}),
    ];
    for (label, value) in &facts.rows {
        body.push(json!({
            "type": "RichTextBlock",
            "spacing": "small",
            "inlines": [
                {"type": "TextRun", "text": format!("{label}: "), "weight": "bolder"},
                run(value, value_max),
            ],
        }));
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

/// Escapes for the legacy connector's markdown: only what Teams clients
/// read back (see the module header).
fn escape_legacy(text: &str) -> String {
    let escaped = |c: char| matches!(c, '*' | '_' | '[' | ']');
    let text: Vec<char> = defuse_urls(text).chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in text.iter().enumerate() {
        // A backslash before an escaped character would undo its escape.
        let backslash = c == '\\' && text.get(i + 1).copied().is_some_and(escaped);
        if escaped(c) || backslash {
            out.push('\\');
        }
        if c == '<' {
            out.push_str("&lt;");
        } else {
            out.push(c);
        }
    }
    out
}

/// The legacy connector message: markdown paragraphs.
pub(super) fn legacy(msg: &Message) -> Value {
    let facts = Facts::of(msg);
    within(MESSAGE_MAX_BYTES, body_bytes, |halvings| {
        let (title_max, value_max) = (TITLE_BYTES >> halvings, VALUE_BYTES >> halvings);
        let escaped = |text: &str, max| fit(text, max, json_bytes, escape_legacy);
        let mut text = format!(
            "**{}**\n\nUrgency: {}",
            escaped(&facts.title, title_max),
            escaped(&facts.urgency_text, value_max)
        );
        for (label, value) in &facts.rows {
            text.push_str(&format!("\n\n{label}: {}", escaped(value, value_max)));
        }
        if let Some(link) = msg.link {
            text.push_str(&format!("\n\n[{OPEN_TITLE}]({})", link_target(link)));
        }
        json!({ "text": text })
    })
}

/// A link target safe inside `( )`: the caller built it from the configured
/// app URL, and `Url` already percent-encodes spaces; parentheses are encoded
/// here so they cannot end the target early.
fn link_target(link: &url::Url) -> String {
    link.as_str().replace('(', "%28").replace(')', "%29")
}
