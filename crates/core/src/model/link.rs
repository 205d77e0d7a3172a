//! The pages of Sekoia.io's app the engine links to (an alert, a case, the
//! alert list), built from the configured app URL and a validated short id
//! only, never from a URL in a payload: the one link builder, for pop-ups,
//! chat messages and the feed alike.
//!
//! Owns: `Links` and the short id check. Must not: read settings (the
//! caller hands the app URL: `settings::Settings::links`) or open anything.

use crate::model::kind::Subject;
use url::Url;

/// Longest short_id accepted in a link.
const SHORT_ID_MAX_LEN: usize = 64;

/// The app's pages under one base URL, `{app}` below (`sekoia.app_url`
/// or the region's preset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    app: Url,
}

impl Links {
    pub fn new(app: Url) -> Links {
        Links { app }
    }

    /// The page a subject links to: an alert's `{app}/operations/alerts/{short_id}`,
    /// a case's `{app}/operations/cases/{short_id}` (inferred from the alert
    /// page's pattern, DESIGN.md §4); nothing for other kinds. Same checks
    /// as [`Links::alert_url`].
    pub fn subject_url(&self, subject: Subject, short_id: &str) -> Option<Url> {
        match subject {
            Subject::Alert => self.alert_url(short_id),
            Subject::Case => {
                safe_short_id(short_id)?;
                append_segments(&self.app, &["operations", "cases", short_id])
            }
            Subject::Other => None,
        }
    }

    /// The alert page for a short_id: `{app}/operations/alerts/{short_id}`;
    /// `None` unless short_id is 1..=64 chars of `[A-Za-z0-9_-]` (it comes
    /// from untrusted input).
    pub fn alert_url(&self, short_id: &str) -> Option<Url> {
        safe_short_id(short_id)?;
        append_segments(&self.app, &["operations", "alerts", short_id])
    }

    /// The alert list page `{app}/operations/alerts`, where a storm or
    /// catch-up summary pop-up leads.
    pub fn alerts_list_url(&self) -> Option<Url> {
        append_segments(&self.app, &["operations", "alerts"])
    }
}

/// `Some(())` when a short id (untrusted) is 1..=64 chars of `[A-Za-z0-9_-]`.
fn safe_short_id(short_id: &str) -> Option<()> {
    let ok = (1..=SHORT_ID_MAX_LEN).contains(&short_id.len())
        && short_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(())
}

/// `base` with `segments` appended as path segments (query and fragment
/// dropped); `None` for a base that cannot take a path (`mailto:`).
pub(crate) fn append_segments(base: &Url, segments: &[&str]) -> Option<Url> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut path = url.path_segments_mut().ok()?;
        path.pop_if_empty();
        path.extend(segments);
    }
    Some(url)
}
