//! Reading Sekoia.io's JSON answers so that odd bytes in one string spoil
//! only that string: invalid UTF-8 becomes U+FFFD, and so does a lone UTF-16
//! surrogate escape (`"\ud83d"`, a title cut mid-emoji by a JavaScript or
//! Python producer), which serde_json refuses for the whole document.
//!
//! Must not: change anything in a document serde_json reads as it is (the
//! mend runs only after a refusal), or accept what is not JSON.

use serde_json::Value;

/// Parses `bytes` as JSON; on a refusal, mends invalid UTF-8 and lone
/// surrogate escapes and tries once more. The error is the first one when
/// mending changed nothing.
pub fn parse(bytes: &[u8]) -> serde_json::Result<Value> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(first) => match mend(bytes) {
            Some(mended) => serde_json::from_slice(&mended),
            None => Err(first),
        },
    }
}

/// The four hex digits of a `\uXXXX` escape.
fn hex4(digits: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(digits).ok()?;
    if text.len() != 4 {
        return None;
    }
    u16::from_str_radix(text, 16).ok()
}

fn is_high(unit: u16) -> bool {
    (0xD800..0xDC00).contains(&unit)
}

fn is_low(unit: u16) -> bool {
    (0xDC00..0xE000).contains(&unit)
}

/// `bytes` with invalid UTF-8 and unpaired surrogate escapes replaced by
/// U+FFFD; `None` when there was nothing to mend.
fn mend(bytes: &[u8]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    let mut changed = matches!(text, std::borrow::Cow::Owned(_));
    let mut out = text.into_owned().into_bytes();
    // A backslash only ever starts an escape (JSON allows it nowhere else),
    // so no string tracking is needed: `\\` is skipped whole.
    let mut i = 0;
    while i + 1 < out.len() {
        if out[i] != b'\\' {
            i += 1;
            continue;
        }
        if out[i + 1] != b'u' {
            i += 2;
            continue;
        }
        let Some(unit) = out.get(i + 2..i + 6).and_then(hex4) else {
            i += 2;
            continue;
        };
        if is_high(unit) {
            let pair = out
                .get(i + 6..i + 12)
                .filter(|next| next.starts_with(b"\\u"))
                .and_then(|next| hex4(&next[2..]))
                .is_some_and(is_low);
            if pair {
                i += 12;
                continue;
            }
        }
        if is_high(unit) || is_low(unit) {
            // Same length: `\ud83d` -> `\ufffd`.
            out[i + 2..i + 6].copy_from_slice(b"fffd");
            changed = true;
        }
        i += 6;
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_surrogate_becomes_a_replacement_character_and_pairs_are_kept() {
        let body = br#"{"a":"Phishing link clicked \ud83d","b":"\ud83d\ude00 ok","c":"\udc00x","d":"\\ud83d"}"#;
        assert!(serde_json::from_slice::<Value>(body).is_err());
        let v = parse(body).unwrap();
        assert_eq!(v["a"], "Phishing link clicked \u{fffd}");
        assert_eq!(v["b"], "\u{1f600} ok");
        assert_eq!(v["c"], "\u{fffd}x");
        assert_eq!(v["d"], "\\ud83d", "an escaped backslash is text");
    }

    #[test]
    fn invalid_utf8_becomes_a_replacement_character() {
        let body = b"{\"t\":\"caf\xe9\"}";
        assert_eq!(parse(body).unwrap()["t"], "caf\u{fffd}");
    }

    #[test]
    fn what_is_not_json_stays_refused() {
        assert!(parse(b"{\"t\": \"\\ud83d\"").is_err());
        assert!(parse(b"<html>").is_err());
        assert!(parse(b"{\"t\": \"\\uZZZZ\"}").is_err());
    }
}
