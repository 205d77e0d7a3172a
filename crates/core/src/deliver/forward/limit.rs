//! Length limits of the chat services, in the unit each one counts, and the
//! one way text is shortened to meet them: whole grapheme clusters (UAX #29,
//! so an emoji ZWJ sequence or a letter with its accents is never split),
//! then "…". Measures apply to the text as it is finally sent (after
//! escaping), so a cut can never end inside an escape or an entity.
//!
//! Must not: escape, strip or reorder text (the kinds do that), or know about
//! a destination's links (a link never goes through a cut).

use unicode_segmentation::UnicodeSegmentation;

/// Marks a cut.
pub(super) const ELLIPSIS: &str = "…";

/// Unicode scalar values ("characters", Go's runes): Mattermost counts
/// these (`PostMessageMaxRunesV2` = 16,383).
pub(super) fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Slack's count, taken from above: UTF-16 code units (an emoji outside the
/// BMP counts 2) with `&`, `<` and `>` counted as the entity Slack stores
/// them as (5, 4, 4). Slack documents its limits in "characters" without
/// saying which; this count is never below any of the plausible ones, so a
/// text within it is within Slack's.
pub(super) fn slack_units(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '&' => 5,
            '<' | '>' => 4,
            c => c.len_utf16(),
        })
        .sum()
}

/// Bytes of `text` as a JSON string's content (serde_json's output: `"` and
/// `\` take 2, other controls 6, everything else its UTF-8 length). Teams
/// limits a message's size in bytes (28 KB).
pub(super) fn json_bytes(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum()
}

/// `render(text)` when it measures at most `max`; otherwise the rendering
/// of the longest prefix of whole grapheme clusters of `text` (trailing
/// whitespace dropped) that, followed by "…", measures at most `max`.
///
/// The prefix is found by bisection over cluster boundaries, each candidate
/// rendered and measured whole, so context-dependent escapes are measured as
/// sent; the result always measures at most `max` (it is the longest such
/// prefix when the rendering grows with the prefix, as every escape here
/// does). With `max` below the size of "…" the result is empty.
pub(super) fn fit(
    text: &str,
    max: usize,
    measure: fn(&str) -> usize,
    render: impl Fn(&str) -> String,
) -> String {
    let whole = render(text);
    if measure(&whole) <= max {
        return whole;
    }
    let Some(room) = max.checked_sub(measure(ELLIPSIS)) else {
        return String::new();
    };
    let ends: Vec<usize> = text
        .grapheme_indices(true)
        .map(|(at, cluster)| at + cluster.len())
        .collect();
    let rendered = |count: usize| -> String {
        let end = if count == 0 { 0 } else { ends[count - 1] };
        render(text[..end].trim_end())
    };
    // Invariant: `lo` clusters fit (zero always does: it renders empty).
    let (mut lo, mut hi) = (0, ends.len());
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if measure(&rendered(mid)) <= room {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut out = rendered(lo);
    if measure(&out) > room {
        out.clear();
    }
    out.push_str(ELLIPSIS);
    out
}

/// `text` cut to at most `max` characters at a grapheme boundary, with "…"
/// when cut.
pub(super) fn cap_chars(text: &str, max: usize) -> String {
    fit(text, max, chars, str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_within_the_limit_is_untouched() {
        assert_eq!(cap_chars("abc", 3), "abc");
        assert_eq!(fit("a&b", 7, slack_units, str::to_owned), "a&b");
    }

    #[test]
    fn a_cut_keeps_whole_emoji_sequences_and_ends_with_an_ellipsis() {
        // Woman + ZWJ + laptop: one grapheme, three characters.
        let family = "👩\u{200D}💻";
        let text = format!("ab{family}{family}");
        let cut = cap_chars(&text, 6);
        assert_eq!(cut, format!("ab{family}…"));
        let cut = cap_chars(&text, 5);
        assert_eq!(cut, "ab…", "never half a sequence");
    }

    #[test]
    fn measures_count_what_each_service_counts() {
        assert_eq!(chars("é👩"), 2);
        assert_eq!(slack_units("a&<>👩"), 1 + 5 + 4 + 4 + 2);
        assert_eq!(json_bytes("a\"\\é👩"), 1 + 2 + 2 + 2 + 4);
        assert_eq!(
            json_bytes("x\"y"),
            serde_json::to_string("x\"y").map_or(0, |s| s.len() - 2)
        );
    }

    #[test]
    fn the_rendered_result_never_exceeds_the_limit() {
        let escape = |t: &str| t.replace('*', "\\*");
        let text = "*".repeat(100);
        let out = fit(&text, 11, chars, escape);
        assert_eq!(out, format!("{}…", "\\*".repeat(5)));
        assert!(chars(&out) <= 11);
    }

    #[test]
    fn a_context_dependent_escape_is_measured_as_sent() {
        // A space is doubled only after an 'a': the cut must count it.
        let render = |t: &str| t.replace("a ", "a  ");
        let out = fit(&"a ".repeat(50), 10, chars, render);
        assert!(chars(&out) <= 10, "{out:?}");
        assert_eq!(out, "a  a  a…");
    }

    #[test]
    fn a_limit_smaller_than_the_ellipsis_gives_nothing() {
        assert_eq!(cap_chars("abc", 0), "");
    }
}
