//! Mattermost incoming-webhook body: a markdown `text` line plus one
//! attachment coloured by urgency, titled and linked to the alert page, with
//! short fields.
//!
//! What Mattermost reads, and so what is done to untrusted text:
//! - A title with a `title_link` is shown as plain text: it is not escaped.
//! - `text` and field values are markdown. Its engine honours a backslash
//!   only before `` \ ` * { } [ ] ( ) # + - . ! _ > | ~ ``, so only those are
//!   ever escaped, and only where they could format: `` ` * _ ~ [ ] # ``
//!   anywhere, `\` before one of those, `> - + !` and the `.`/`)` of "1. "
//!   at the start. `C:\Windows`, `AT&T`, `10:00` and `10.0.0.5` stay as they
//!   are.
//! - Mentions: the server notifies for `@word` at a word's start and turns
//!   Slack's `<!here>`/`<@id>`/`<url|label>` into mentions and links, so a
//!   zero-width space follows such an `@` and every `<` (also in the title
//!   and the fallback). An `@` inside a word (`admin@example.com`) is left.
//! - A URL in alert text is never a link (`defuse_urls`), title included.
//!
//! The whole message, every string of it counted, stays within 16,383
//! characters (Mattermost's `PostMessageMaxRunesV2`; above it the server
//! splits a webhook post in several).
//!
//! Must not: send anything or let untrusted text reach markdown unescaped.

use serde_json::{json, Value};

use super::limit::{chars, fit};
use super::{defuse_urls, strings, within, Facts, Message};
use crate::model::urgency::Band;

/// Mattermost's limit on a post, in characters (runes).
pub(super) const MESSAGE_MAX_CHARS: usize = 16_383;
/// The title's share, in characters as sent, before any halving.
const TITLE_CHARS: usize = 1_000;
/// Each value's share, in characters as sent, before any halving.
const VALUE_CHARS: usize = 1_500;

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

/// A zero-width space after every `<` and after an `@` that starts a word,
/// so neither a mention nor Slack's `<…>` syntax can form; URLs defused.
fn neutralise(text: &str) -> String {
    defuse_urls(&neutralise_mentions(text))
}

fn neutralise_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut previous: Option<char> = None;
    for c in text.chars() {
        out.push(c);
        let word_start = previous.is_none_or(|p| !p.is_alphanumeric());
        if c == '<' || (c == '@' && word_start) {
            out.push('\u{200B}');
        }
        previous = Some(c);
    }
    out
}

/// Markdown escapes Mattermost's engine honours, only where they could
/// format (see the module header); mentions neutralised, URLs defused.
fn escape(text: &str) -> String {
    let text: Vec<char> = neutralise(text).chars().collect();
    let digits = text.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in text.iter().enumerate() {
        let next = text.get(i + 1).copied();
        let anywhere = matches!(c, '`' | '*' | '_' | '~' | '[' | ']' | '#');
        // A backslash is literal unless an escapable character follows.
        let backslash = c == '\\' && next.is_some_and(honoured);
        let at_start = i == 0 && matches!(c, '>' | '-' | '+' | '!');
        let list_number = i == digits
            && digits > 0
            && matches!(c, '.' | ')')
            && next.is_none_or(char::is_whitespace);
        if anywhere || backslash || at_start || list_number {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The characters Mattermost's markdown engine lets a backslash escape.
fn honoured(c: char) -> bool {
    "\\`*{}[]()#+-.!_>|~".contains(c)
}

fn message_chars(body: &Value) -> usize {
    strings(body).into_iter().map(chars).sum()
}

pub(super) fn attachment(msg: &Message) -> Value {
    let facts = Facts::of(msg);
    within(MESSAGE_MAX_CHARS, message_chars, |halvings| {
        let (title_max, value_max) = (TITLE_CHARS >> halvings, VALUE_CHARS >> halvings);
        let urgency = fit(&facts.urgency_text, value_max, chars, escape);
        let mut fields = vec![json!({"short": true, "title": "Urgency", "value": urgency})];
        for (label, value) in &facts.rows {
            let value = fit(value, value_max, chars, escape);
            fields.push(json!({"short": true, "title": label, "value": value}));
        }
        // Plain text for notifications and clients without attachments.
        let fallback = format!(
            "Sekoia.io alert: {} (urgency {})",
            fit(&facts.title, title_max, chars, neutralise),
            fit(&facts.urgency_text, value_max, chars, neutralise),
        );
        // Linked, the title is plain text; without a link it is markdown.
        let title = match msg.link {
            Some(_) => fit(&facts.title, title_max, chars, neutralise),
            None => fit(&facts.title, title_max, chars, escape),
        };
        let mut attachment = json!({
            "fallback": fallback,
            "color": colour(facts.band),
            "title": title,
            "fields": fields,
        });
        if let Some(link) = msg.link {
            attachment["title_link"] = json!(link.as_str());
        }
        json!({
            "text": format!(
                "Sekoia.io alert: **{}** (urgency {urgency})",
                fit(&facts.title, title_max, chars, escape),
            ),
            "attachments": [attachment],
        })
    })
}
