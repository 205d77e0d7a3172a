//! Slack incoming-webhook body (Block Kit): a plain-text header, a section of
//! mrkdwn fields, an "Open in Sekoia.io" button and a `text` fallback for
//! notifications. Must not: send anything or let untrusted text reach
//! mrkdwn unescaped (`&`, `<`, `>` are entity-escaped, so no `<!channel>`,
//! `<url|label>` or `<@user>` can form).

use serde_json::{json, Value};

use super::{break_mentions, Facts, Message};

/// Slack's limit on a header block's text.
const HEADER_MAX_CHARS: usize = 150;

/// Escapes text for Slack mrkdwn: the three entities Slack requires, a
/// zero-width space after each emphasis marker (`*`, `_`, `~`, backtick) so
/// no pair of them formats the text, and broken `@` mentions.
fn escape_mrkdwn(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' | '_' | '~' | '`' => {
                out.push(c);
                out.push('\u{200B}');
            }
            c => out.push(c),
        }
    }
    break_mentions(&out)
}

pub(super) fn blocks(msg: &Message) -> Value {
    let facts = Facts::of(msg);
    let header = super::cap(&facts.title, HEADER_MAX_CHARS);
    let mut fields = vec![json!({
        "type": "mrkdwn",
        "text": format!("*Urgency*\n{}", escape_mrkdwn(&facts.urgency_text)),
    })];
    // A section holds at most 10 fields.
    for (label, value) in facts.rows.iter().take(9) {
        fields.push(json!({
            "type": "mrkdwn",
            "text": format!("*{label}*\n{}", escape_mrkdwn(value)),
        }));
    }
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {"type": "plain_text", "text": break_mentions(&header), "emoji": false},
        }),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(link) = msg.link {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": "Open in Sekoia.io", "emoji": false},
                "url": link.as_str(),
            }],
        }));
    }
    json!({
        "text": format!(
            "Sekoia.io alert: {} (urgency {})",
            escape_mrkdwn(&facts.title),
            escape_mrkdwn(&facts.urgency_text)
        ),
        "blocks": blocks,
    })
}
