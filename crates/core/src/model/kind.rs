//! Kinds of notification as one idea. For each kind Sekoia.io sends (alert,
//! alert update, alert comment, case, content proposal, and anything newer),
//! this module says what it is about ([`Subject`]), what an update changed
//! ([`Change`]), and how it reads in a pop-up, the feed and the forwarders
//! ([`Facts::summary`], [`Facts::change_text`]). Which page a subject links
//! to is `model::link::Links` (through `Settings::links`), the one link builder.
//!
//! Sources: Sekoia.io's notification fixtures and Alert/Case APIs (DESIGN.md
//! §4): a comment names its alert in `alert_uuid`/`alert_short_id`; a case
//! carries its own `short_id` ("CA…"), `title` and `priority`; an alert
//! update says what changed in `attributes.updated` (`similar`,
//! `dynamic_urgency_value`, `status` + `status_name`).
//!
//! Pure: no I/O, no clock, no knowledge of how text is delivered or escaped.
//!
//! In detail: the kinds of notification as one idea (pure): what each is about
//! (`Subject`: an alert, with its comments; a case; other), what an update
//! changed (`Change`: occurrences, urgency, status), and how it reads
//! (`Facts::summary` for pop-ups and chat messages, `Facts::change_text` for
//! the feed), the title fallback (`alert_title`: title, rule, "Alert
//! <short_id>"). `model::link::Links` is the one link builder (alert and
//! case pages).

use serde::Serialize;
use serde_json::Value;

/// `type` of an alert notification.
pub const ALERT: &str = "alert";
/// `type` of a comment on an alert.
pub const COMMENT: &str = "alert-comment";
/// `type` of a case notification.
pub const CASE: &str = "case";
/// `type` of a content proposal (no link: no page of ours to open).
pub const CONTENT_PROPOSAL: &str = "content-proposal";

/// What a notification is about: the feed shows one row per subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subject {
    /// An alert (its own notifications and its comments): enriched from the
    /// Alert API, linked to `{app}/operations/alerts/{short_id}`.
    Alert,
    /// A case: enriched from the Case API, linked to
    /// `{app}/operations/cases/{short_id}`.
    Case,
    /// Anything else: kept and shown as sent, never linked.
    Other,
}

impl Subject {
    /// The name stored in the `events.subject` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Alert => "alert",
            Subject::Case => "case",
            Subject::Other => "other",
        }
    }

    /// The inverse of [`Subject::as_str`]; unknown names are `Other`.
    pub fn from_stored(name: &str) -> Subject {
        match name {
            "alert" => Subject::Alert,
            "case" => Subject::Case,
            _ => Subject::Other,
        }
    }
}

/// The subject of a notification of type `kind`.
pub fn subject(kind: &str) -> Subject {
    match kind {
        ALERT | COMMENT => Subject::Alert,
        CASE => Subject::Case,
        _ => Subject::Other,
    }
}

/// What an `alert:updated` notification says changed (`attributes.updated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `{"similar": N}`: the alert matched again; N occurrences so far.
    Occurrences(u64),
    /// `{"dynamic_urgency_value": N}`: the urgency moved to N (0-100).
    Urgency(u8),
    /// `{"status": "<uuid>", "status_name": "Acknowledged"}`.
    Status { name: Option<String> },
    /// Something else changed (kept in the event, not worded).
    Other,
}

/// Statuses by uuid, the same on every tenant (DESIGN.md §4).
const STATUSES: [(&str, &str); 5] = [
    ("2efc4930-1442-4abb-acf2-58ba219a4fd0", "Pending"),
    ("8f206505-af6d-433e-93f4-775d46dc7d0f", "Acknowledged"),
    ("1f2f88d5-ff5b-48bf-bbbc-00c2fff82d9f", "Ongoing"),
    ("4f68da89-38e0-4703-a6ab-652f02bdf24e", "Rejected"),
    ("1738b1c1-767d-489e-bada-19176621a007", "Closed"),
];

/// A status's name from its uuid, for the five built-in statuses.
pub fn status_name(uuid: &str) -> Option<&'static str> {
    STATUSES
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(uuid))
        .map(|(_, name)| *name)
}

impl Change {
    /// Reads `attributes.updated` (JSON text). Status wins over the others
    /// when several are present: it is the change an analyst acts on.
    pub fn parse(updated: &str) -> Change {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(updated) else {
            return Change::Other;
        };
        let text = |k: &str| crate::model::text::ident(map.get(k));
        if map.contains_key("status") || map.contains_key("status_name") {
            let name = text("status_name")
                .or_else(|| text("status").and_then(|u| status_name(&u).map(str::to_owned)));
            return Change::Status { name };
        }
        if let Some(n) = map.get("dynamic_urgency_value").and_then(Value::as_u64) {
            return Change::Urgency(u8::try_from(n.min(100)).unwrap_or(100));
        }
        if let Some(n) = map.get("similar").and_then(Value::as_u64) {
            return Change::Occurrences(n);
        }
        Change::Other
    }

    /// The tag stored in `events.change_kind`.
    pub fn tag(&self) -> &'static str {
        match self {
            Change::Occurrences(_) => "occurrences",
            Change::Urgency(_) => "urgency",
            Change::Status { .. } => "status",
            Change::Other => "other",
        }
    }

    /// Occurrence-only and urgency-only updates never raise a pop-up by
    /// themselves, and do not move the alert's row to the top of the feed.
    pub fn is_quiet(&self) -> bool {
        matches!(self, Change::Occurrences(_) | Change::Urgency(_))
    }
}

/// Change tags that are quiet (see [`Change::is_quiet`]), for SQL.
pub const QUIET_TAGS: &str = "'occurrences', 'urgency'";

/// What one notification says, beside its subject: enough to word it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `type` as sent.
    pub kind: String,
    /// `action` as sent.
    pub action: String,
    /// The subject's short id (a comment's alert's, a case's own).
    pub short_id: Option<String>,
    /// For `alert:updated`: what changed.
    pub change: Option<Change>,
    /// A comment's text (`attributes.content`).
    pub content: Option<String>,
    /// A comment's own uuid (`attributes.uuid`), to fetch its text when the
    /// notification lacks it.
    pub comment_uuid: Option<String>,
    /// A case's `title`, from the notification.
    pub title: Option<String>,
    /// A case's `priority` (`low`, `medium`, `high`), from the notification.
    pub priority: Option<String>,
}

impl Facts {
    /// The facts of an `alert:created` notification (a caught-up alert, an
    /// urgency raise worded as the alert's own pop-up).
    pub fn alert_created(short_id: Option<&str>) -> Facts {
        Facts {
            kind: ALERT.to_owned(),
            action: "created".to_owned(),
            short_id: short_id.map(str::to_owned),
            ..Facts::default()
        }
    }

    /// The facts of a stored body (`raw`) of type `kind`; `updated` is the
    /// stored `attributes.updated`. `raw` is parsed for comments and cases
    /// only.
    pub fn read(
        kind: &str,
        action: &str,
        short_id: Option<&str>,
        updated: Option<&str>,
        raw: &str,
    ) -> Facts {
        // Only comments and cases say anything beyond their columns: other
        // bodies (most of the feed, every alert) are not parsed again.
        let attributes = matches!(kind, COMMENT | CASE)
            .then(|| serde_json::from_str::<Value>(raw).ok())
            .flatten()
            .and_then(|v| v.get("attributes").cloned());
        let text = |k: &str| {
            attributes
                .as_ref()
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .filter(|s| !s.trim().is_empty())
        };
        let (content, title, priority) = match kind {
            COMMENT => (text("content"), None, None),
            CASE => (None, text("title"), text("priority")),
            _ => (None, None, None),
        };
        let comment_uuid = (kind == COMMENT)
            .then(|| crate::model::text::ident(attributes.as_ref().and_then(|a| a.get("uuid"))))
            .flatten();
        Facts {
            kind: kind.to_owned(),
            action: action.to_owned(),
            short_id: short_id.map(str::to_owned),
            change: (kind == ALERT)
                .then(|| updated.map(Change::parse))
                .flatten(),
            content,
            comment_uuid,
            title,
            priority,
        }
    }

    /// What changed, worded without the subject's title (the feed row shows
    /// the title beside it): "status Acknowledged", "42 occurrences",
    /// "urgency 20 → 60", "new comment: …", "case updated". `previous` is
    /// the urgency known before this event, if any. `None` for a creation.
    pub fn change_text(&self, previous: Option<u8>) -> Option<String> {
        match self.kind.as_str() {
            ALERT => match (&self.change, self.action.as_str()) {
                (_, "created") => None,
                (Some(Change::Status { name }), _) => {
                    Some(format!("status {}", name.as_deref().unwrap_or("changed")))
                }
                (Some(Change::Urgency(to)), _) => Some(match previous {
                    Some(from) if from != *to => format!("urgency {from} → {to}"),
                    _ => format!("urgency {to}"),
                }),
                (Some(Change::Occurrences(1)), _) => Some("1 occurrence".to_owned()),
                (Some(Change::Occurrences(n)), _) => Some(format!("{n} occurrences")),
                (_, action) => Some(action.to_owned()),
            },
            COMMENT => Some(match &self.content {
                Some(text) => format!("new comment: {text}"),
                None => "new comment".to_owned(),
            }),
            CASE => match self.action.as_str() {
                "created" => None,
                "alerts-updated" => Some("alerts of the case changed".to_owned()),
                action => Some(format!("case {action}")),
            },
            _ => None,
        }
    }

    /// The one-line summary of a pop-up or a chat message. `title` is the
    /// subject's title when known (an alert's, by [`alert_title`]; a case's
    /// from the Case API), `previous` as in [`Facts::change_text`].
    pub fn summary(&self, title: Option<&str>, previous: Option<u8>) -> String {
        let short = self.short_id.as_deref();
        match self.kind.as_str() {
            ALERT => {
                let title = title
                    .map(str::to_owned)
                    .unwrap_or_else(|| alert_fallback(short));
                match self.change_text(previous) {
                    Some(change) => format!("{title}: {change}"),
                    None => title,
                }
            }
            COMMENT => {
                let title = title
                    .map(str::to_owned)
                    .unwrap_or_else(|| alert_fallback(short));
                match &self.content {
                    Some(text) => format!("New comment on {title}: {text}"),
                    None => format!("New comment on {title}"),
                }
            }
            CASE => {
                let name = match short {
                    Some(s) => format!("Case {s}"),
                    None => "Case".to_owned(),
                };
                let title = title.or(self.title.as_deref());
                let mut line = match title {
                    Some(t) => format!("{name}: {t}"),
                    None => name,
                };
                if let Some(change) = self.change_text(previous) {
                    line.push_str(&format!(" ({change})"));
                }
                if let Some(p) = &self.priority {
                    line.push_str(&format!(" (priority {p})"));
                }
                line
            }
            CONTENT_PROPOSAL => format!("Content proposal {}", self.action),
            kind => format!("{kind} {}", self.action),
        }
    }
}

/// Why an alert's feed row can never be enriched: the only failures that
/// are final for a row (issue 18). Everything else (network, 5xx, 429, an
/// open circuit, an unreadable answer, a rejected key) leaves the alert
/// owed and retried; a rejected key is the engine's health, not the row's.
/// Stored in `events.enrich_error` as [`EnrichFailure::code`], worded on
/// reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrichFailure {
    /// The Alert API answered without it (404, or absent from a list).
    UnknownAlert,
    /// The notification names no valid alert uuid to ask about.
    NoValidUuid,
}

impl EnrichFailure {
    /// The code stored in `events.enrich_error`.
    pub fn code(self) -> &'static str {
        match self {
            EnrichFailure::UnknownAlert => "unknown-alert",
            EnrichFailure::NoValidUuid => "no-valid-uuid",
        }
    }

    /// The reason in words, for the feed.
    pub fn words(self) -> &'static str {
        match self {
            EnrichFailure::UnknownAlert => "Sekoia.io does not know this alert (404)",
            EnrichFailure::NoValidUuid => {
                "cannot be looked up: the notification names no valid alert uuid"
            }
        }
    }

    /// The stored text in words: a code of this version, or the sentence an
    /// older version stored, as it is.
    pub fn word_stored(stored: &str) -> String {
        [EnrichFailure::UnknownAlert, EnrichFailure::NoValidUuid]
            .into_iter()
            .find(|f| f.code() == stored)
            .map_or_else(|| stored.to_owned(), |f| f.words().to_owned())
    }
}

/// "Alert <short_id>" (or "Alert" alone): what an alert reads as when
/// neither its title nor its rule is known.
pub fn alert_fallback(short_id: Option<&str>) -> String {
    match short_id {
        Some(s) => format!("Alert {s}"),
        None => "Alert".to_owned(),
    }
}

/// An alert's title: `title`, else `rule.name` (real alerts may have no
/// title; the rule is always there), else "Alert <short_id>".
pub fn alert_title(alert: Option<&crate::model::alert::Alert>, short_id: Option<&str>) -> String {
    let known = alert.and_then(|a| {
        a.title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| a.rule.as_ref()?.name.clone())
            .filter(|t| !t.trim().is_empty())
    });
    known.unwrap_or_else(|| alert_fallback(alert.and_then(|a| a.short_id.as_deref()).or(short_id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::alert::{Alert, Named};

    fn facts(kind: &str, action: &str, updated: Option<&str>, raw: &str) -> Facts {
        Facts::read(kind, action, Some("ALm4Rt8Kx2Pq"), updated, raw)
    }

    #[test]
    fn updates_read_as_what_changed() {
        let status =
            r#"{"status":"8f206505-af6d-433e-93f4-775d46dc7d0f","status_name":"Acknowledged"}"#;
        let f = facts("alert", "updated", Some(status), "{}");
        assert_eq!(
            f.summary(Some("Mimikatz"), None),
            "Mimikatz: status Acknowledged"
        );
        // Without the name, the uuid says it.
        let bare = r#"{"status":"1738b1c1-767d-489e-bada-19176621a007"}"#;
        assert_eq!(
            Change::parse(bare),
            Change::Status {
                name: Some("Closed".into())
            }
        );
        let urgency = facts(
            "alert",
            "updated",
            Some(r#"{"dynamic_urgency_value":60}"#),
            "{}",
        );
        assert_eq!(urgency.summary(Some("T"), Some(20)), "T: urgency 20 → 60");
        assert_eq!(urgency.summary(Some("T"), None), "T: urgency 60");
        let similar = facts("alert", "updated", Some(r#"{"similar":42}"#), "{}");
        assert_eq!(similar.summary(Some("T"), None), "T: 42 occurrences");
        assert!(similar.change.as_ref().unwrap().is_quiet());
        assert!(urgency.change.as_ref().unwrap().is_quiet());
        assert!(!f.change.as_ref().unwrap().is_quiet());
        let odd = facts("alert", "updated", Some(r#"{"assets":[1]}"#), "{}");
        assert_eq!(odd.change, Some(Change::Other));
        assert_eq!(odd.summary(Some("T"), None), "T: updated");
        assert_eq!(Change::parse("not json"), Change::Other);
        assert_eq!(
            Change::parse(r#"{"dynamic_urgency_value":900}"#),
            Change::Urgency(100)
        );
    }

    #[test]
    fn comments_cases_and_proposals_read_in_words() {
        let comment = facts(
            "alert-comment",
            "created",
            None,
            r#"{"attributes":{"content":"Host isolated.","alert_uuid":"x"}}"#,
        );
        assert_eq!(
            comment.summary(Some("Mimikatz"), None),
            "New comment on Mimikatz: Host isolated."
        );
        assert_eq!(
            comment.change_text(None).unwrap(),
            "new comment: Host isolated."
        );
        let case = Facts::read(
            "case",
            "created",
            Some("CAq2Lw7Xb9Rs"),
            None,
            r#"{"attributes":{"title":"Suspicious logins","priority":"medium"}}"#,
        );
        assert_eq!(
            case.summary(None, None),
            "Case CAq2Lw7Xb9Rs: Suspicious logins (priority medium)"
        );
        let proposal = facts("content-proposal", "created", None, r#"{"attributes":{}}"#);
        assert_eq!(proposal.summary(None, None), "Content proposal created");
        assert_eq!(
            facts("new-thing", "archived", None, "{}").summary(None, None),
            "new-thing archived"
        );
    }

    #[test]
    fn an_alert_without_title_reads_by_its_rule_then_its_short_id() {
        let mut alert = Alert {
            rule: Some(Named {
                name: Some("Mimikatz command line".into()),
            }),
            ..Alert::default()
        };
        assert_eq!(alert_title(Some(&alert), None), "Mimikatz command line");
        alert.title = Some("  ".into());
        assert_eq!(alert_title(Some(&alert), None), "Mimikatz command line");
        alert.rule = None;
        assert_eq!(alert_title(Some(&alert), Some("ALx")), "Alert ALx");
        assert_eq!(alert_title(None, None), "Alert");
    }

    #[test]
    fn subjects_follow_the_type() {
        assert_eq!(subject("alert"), Subject::Alert);
        assert_eq!(subject("alert-comment"), Subject::Alert);
        assert_eq!(subject("case"), Subject::Case);
        assert_eq!(subject("content-proposal"), Subject::Other);
        for s in [Subject::Alert, Subject::Case, Subject::Other] {
            assert_eq!(Subject::from_stored(s.as_str()), s);
        }
    }
}
