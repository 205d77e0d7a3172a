//! Short texts read from untrusted JSON, as the event and its kinds read
//! them: what an identifier may be (`ident`) and which characters break a
//! line without being controls (`is_line_separator`).
//!
//! Owns: those two rules. Must not: know what a field means.

use serde_json::Value;

/// Longest `type`, `action`, `uuid` or `short_id` we read. Sekoia's values
/// are a few dozen characters; anything far longer is hostile or broken and
/// reads as absent.
const MAX_IDENT_LEN: usize = 256;

/// U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: they break a line
/// in pop-ups, chat clients and terminals without being control characters
/// (`char::is_control` covers U+0085 NEXT LINE). Treat them as controls
/// wherever text must stay on one line.
pub fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// A short identifier: a non-empty string of at most 256 bytes without
/// control characters; anything else (absent, `null`, another type) reads
/// as `None`.
pub(crate) fn ident(value: Option<&Value>) -> Option<String> {
    let s = value?.as_str()?;
    let fine = !s.trim().is_empty()
        && s.len() <= MAX_IDENT_LEN
        && !s.chars().any(|c| c.is_control() || is_line_separator(c));
    fine.then(|| s.to_owned())
}
