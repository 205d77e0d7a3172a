//! Slack incoming-webhook body (Block Kit): the title as a `plain_text`
//! header, one section per five facts with our label in `mrkdwn` beside the
//! value in `plain_text`, an "Open in Sekoia.io" button and a `text`
//! fallback for notifications.
//!
//! Slack never parses `plain_text` (no formatting, no `<!here>`, no links),
//! so untrusted values go there verbatim, `emoji: false` keeping `:x:` as
//! typed. The fallback `text` is `mrkdwn`: there `&`, `<` and `>` become
//! entities, the only escaping Slack's formatting reference asks for, so no
//! `<!channel>`, `<@U…>` or `<url|label>` can form; a bare `@here` never
//! notifies because the body never sets `link_names`. Every other character
//! is left as it was, so a copied file name, hash or path matches.
//!
//! Limits (Block Kit reference), on the final strings in `limit::slack_units`:
//! header 150, field 2,000, section text 3,000 (the fallback is held to it
//! too), 10 fields per section, 50 blocks (this body has at most 4).
//!
//! Must not: send anything, set `link_names` or `parse`, or put untrusted text
//! in `mrkdwn` unescaped.

use serde_json::{json, Value};

use super::limit::{fit, slack_units};
use super::{defuse_urls, Facts, Message};

/// A header block's text.
pub(super) const HEADER_MAX: usize = 150;
/// A section field's text.
pub(super) const FIELD_MAX: usize = 2_000;
/// A section's text; the fallback `text` is held to it as well.
pub(super) const TEXT_MAX: usize = 3_000;
/// Fields per section.
pub(super) const FIELDS_PER_SECTION: usize = 10;
/// Blocks per message (this body has at most 4: header, two sections, the
/// button).
#[cfg(test)]
pub(super) const MAX_BLOCKS: usize = 50;

/// `&`, `<`, `>` as the entities Slack's mrkdwn reads back; nothing else.
fn escape_mrkdwn(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn plain(text: String) -> Value {
    json!({"type": "plain_text", "text": text, "emoji": false})
}

pub(super) fn blocks(msg: &Message) -> Value {
    let facts = Facts::of(msg);
    let header = fit(&facts.title, HEADER_MAX, slack_units, defuse_urls);
    let rows = std::iter::once(("Urgency", &facts.urgency_text))
        .chain(facts.rows.iter().map(|(label, value)| (*label, value)));
    let mut fields = Vec::new();
    for (label, value) in rows {
        fields.push(json!({"type": "mrkdwn", "text": format!("*{label}*")}));
        fields.push(plain(fit(value, FIELD_MAX, slack_units, defuse_urls)));
    }
    let mut blocks = vec![json!({"type": "header", "text": plain(header)})];
    for chunk in fields.chunks(FIELDS_PER_SECTION) {
        blocks.push(json!({"type": "section", "fields": chunk}));
    }
    if let Some(link) = msg.link {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": plain("Open in Sekoia.io".to_owned()),
                "url": link.as_str(),
            }],
        }));
    }
    let urgency = escape_mrkdwn(&facts.urgency_text);
    let frame = format!("Sekoia.io alert:  (urgency {urgency})");
    let title_room = TEXT_MAX.saturating_sub(slack_units(&frame));
    let title = fit(&facts.title, title_room, slack_units, |t| {
        escape_mrkdwn(&defuse_urls(t))
    });
    json!({
        "text": format!("Sekoia.io alert: {title} (urgency {urgency})"),
        "blocks": blocks,
    })
}
