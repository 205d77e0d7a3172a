//! What an event raises and what the pop-up says: `[notify]` filters,
//! minimum urgency, urgency words and levels. Pure functions: no I/O, no
//! clock, no knowledge of how pop-ups are delivered.
//! An unknown urgency never hides an alert. `popup()` decides the text of
//! every pop-up the pipeline and the catch-up show.

use crate::deliver::notify::{urgency_for, Popup, PopupKind};
use crate::model::kind::Subject;
use crate::model::test_event::{PROBE_ACTION, TEST_TYPE};
use crate::model::urgency::Level;
use crate::net::sekoia::Alert;
use crate::settings::{EventFilter, NotifySettings};

/// What a change of an alert's state means for its pop-up (withdraw it,
/// re-notify once for a higher band, or nothing): see `revision`.
pub use crate::model::revision::{revise, AlertState, Revision};
use url::Url;

pub use crate::model::event::EventView;
pub use crate::model::urgency::urgency_word;

#[derive(Debug, Clone)]
pub struct Policy {
    events: Vec<EventFilter>,
    min_urgency: u8,
}

impl Policy {
    pub fn new(notify: &NotifySettings) -> Policy {
        Policy {
            events: notify.events.clone(),
            min_urgency: notify.min_urgency,
        }
    }

    /// Whether the event raises a pop-up. Every event enters the feed
    /// regardless. An unknown urgency (not enriched) never hides an alert:
    /// a missed alert costs more than an extra pop-up.
    pub fn wants_popup(&self, event: &EventView, alert: Option<&Alert>) -> bool {
        // The user asked for a test alert: it must be seen. The engine's
        // own periodic probes stay silent.
        if event.kind == TEST_TYPE {
            return event.action != PROBE_ACTION;
        }
        // Occurrence and urgency updates change the feed row, not the screen.
        if event.is_quiet() {
            return false;
        }
        let topic_ok = self
            .events
            .iter()
            .any(|f| f.matches(&event.kind, &event.action));
        let urgency_ok = match alert.and_then(Alert::urgency_value) {
            Some(u) => u >= self.min_urgency,
            None => true,
        };
        topic_ok && urgency_ok
    }
}

/// The pop-up for an event, with what is known of its alert. `link` is the
/// subject's page built from the configured app URL (never from the
/// payload); `previous` the urgency known before this event.
pub fn popup(
    event: &EventView,
    alert: Option<&Alert>,
    link: Option<Url>,
    previous: Option<u8>,
) -> Popup {
    if event.kind == TEST_TYPE {
        // Honest about what it proved: without a tunnel only the local leg.
        let line = if crate::model::test_event::delivered_locally(&event.uuid) {
            format!("Test alert {}.", crate::model::test_event::LOCAL_ONLY)
        } else {
            "Webhook delivery works: this event came through the public webhook URL.".to_owned()
        };
        return Popup {
            kind: PopupKind::Notice,
            key: event.uuid.clone(),
            summary: "Sekoia Notifier test alert".to_owned(),
            lines: vec![line],
            urgency: urgency_for(None),
            link: None,
            ..Popup::default()
        };
    }
    let alert = alert.filter(|_| event.is_alert());
    let short_id = alert
        .and_then(|a| a.short_id.clone())
        .or_else(|| event.short_id.clone());
    let title = alert.map(|a| crate::model::kind::alert_title(Some(a), short_id.as_deref()));
    let summary = event.facts.summary(title.as_deref(), previous);
    let mut lines = Vec::new();
    let value = alert.and_then(Alert::urgency_value);
    match value {
        Some(v) => {
            let word = alert
                .and_then(|a| a.urgency.as_ref())
                .and_then(|u| u.display.clone())
                .unwrap_or_else(|| urgency_word(v).to_owned());
            lines.push(format!("Urgency {v} ({word})"));
        }
        None if alert.is_none() && event.is_alert() => {
            lines.push("Details not loaded yet; open the alert in Sekoia.io".to_owned());
        }
        None => {}
    }
    if let Some(status) = alert.and_then(|a| a.status.as_ref()?.name.clone()) {
        lines.push(format!("Status: {status}"));
    }
    let rule = alert.and_then(|a| a.rule.as_ref()?.name.clone());
    let entity = alert.and_then(|a| a.entity.as_ref()?.name.clone());
    match (rule, entity) {
        (Some(r), Some(e)) => lines.push(format!("Rule: {r} · Entity: {e}")),
        (Some(r), None) => lines.push(format!("Rule: {r}")),
        (None, Some(e)) => lines.push(format!("Entity: {e}")),
        (None, None) => {}
    }
    if let Some(id) = &short_id {
        if alert.is_some() || event.subject == Subject::Case {
            lines.push(id.clone());
        }
    }
    // Only an alert's own pop-up is keyed by its uuid (a later one replaces
    // it; "Acknowledge" is offered on uuid keys): comments and cases get
    // keys of their own.
    let key = match (event.subject, event.kind.as_str()) {
        (Subject::Alert, crate::model::kind::ALERT) => event.uuid.clone(),
        (subject, kind) => format!("{}:{kind}:{}", subject.as_str(), event.id),
    };
    let pending = alert
        .and_then(|a| a.status.as_ref()?.name.as_deref())
        .is_some_and(crate::model::revision::is_pending);
    Popup {
        kind: PopupKind::Alert,
        key,
        summary,
        lines,
        urgency: urgency_for(value),
        link,
        level: alert.and_then(Level::of_alert),
        acknowledgeable: event.kind == crate::model::kind::ALERT && pending,
        ..Popup::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::notify::Urgency;
    use crate::model::kind::Facts;
    use crate::net::sekoia::{Named, Urgency as AlertUrgency};

    fn event(kind: &str, action: &str) -> EventView {
        EventView {
            id: 1,
            kind: kind.into(),
            action: action.into(),
            uuid: "0b5c4a3e-1111-4222-8333-944455556666".into(),
            short_id: Some("ALfoo".into()),
            subject: crate::model::kind::subject(kind),
            facts: Facts::read(kind, action, Some("ALfoo"), None, "{}"),
        }
    }

    fn alert(urgency: u8) -> Alert {
        Alert {
            short_id: Some("ALfoo".into()),
            title: Some("Suspicious PowerShell".into()),
            urgency: Some(AlertUrgency {
                value: Some(urgency),
                current_value: Some(urgency),
                display: None,
            }),
            status: Some(Named {
                name: Some("Pending".into()),
            }),
            rule: Some(Named {
                name: Some("PS encoded".into()),
            }),
            entity: Some(Named {
                name: Some("HQ".into()),
            }),
            ..Alert::default()
        }
    }

    fn policy(events: &[&str], min_urgency: u8) -> Policy {
        let text = format!(
            "[notify]\nmin_urgency = {min_urgency}\nevents = [{}]\n",
            events
                .iter()
                .map(|e| format!("\"{e}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let (settings, _) = crate::settings::parse(&text, std::path::Path::new("t.toml")).unwrap();
        Policy::new(&settings.notify)
    }

    #[test]
    fn only_configured_topics_raise_a_popup() {
        let p = policy(&["alert:created"], 0);
        assert!(p.wants_popup(&event("alert", "created"), None));
        assert!(!p.wants_popup(&event("alert", "updated"), None));
        assert!(!p.wants_popup(&event("case", "created"), None));
        let all = policy(&["alert:*", "case:created"], 0);
        assert!(all.wants_popup(&event("alert", "updated"), None));
        assert!(all.wants_popup(&event("case", "created"), None));
    }

    #[test]
    fn test_events_always_pop_up() {
        let p = policy(&["alert:created"], 90);
        let e = event(TEST_TYPE, "created");
        assert!(p.wants_popup(&e, None));
        assert_eq!(
            popup(&e, None, None, None).summary,
            "Sekoia Notifier test alert"
        );
    }

    #[test]
    fn a_test_alert_without_a_tunnel_says_it_was_only_delivered_locally() {
        let mut local = event(TEST_TYPE, "created");
        local.uuid = "test-local-0123abcd".into();
        let p = popup(&local, None, None, None);
        assert_eq!(
            p.lines,
            ["Test alert delivered locally; Sekoia.io cannot reach this machine yet (no tunnel)."]
        );
        assert!(!p.lines[0].contains("works"));
        let mut public = event(TEST_TYPE, "created");
        public.uuid = "test-0123abcd".into();
        assert!(popup(&public, None, None, None).lines[0].starts_with("Webhook delivery works"));
        assert_eq!(p.kind, PopupKind::Notice, "never counted as an alert");
    }

    #[test]
    fn only_a_pending_alert_offers_acknowledge_and_its_level_is_on_the_scale() {
        let pending = popup(&event("alert", "created"), Some(&alert(47)), None, None);
        assert!(pending.acknowledgeable);
        let level = pending.level.unwrap();
        assert_eq!((level.value, level.band.word()), (47, "High"));
        assert_eq!(pending.lines[0], "Urgency 47 (High)");
        let mut ongoing = alert(91);
        ongoing.status = Some(Named {
            name: Some("Ongoing".into()),
        });
        let taken = popup(&event("alert", "created"), Some(&ongoing), None, None);
        assert!(!taken.acknowledgeable, "Ongoing: Acknowledge cannot work");
        // Unknown status (not enriched): not offered either.
        assert!(!popup(&event("alert", "created"), None, None, None).acknowledgeable);
    }

    #[test]
    fn the_engines_own_probes_raise_no_popup() {
        let p = policy(&["alert:*", "notifier-test:*"], 0);
        assert!(!p.wants_popup(&event(TEST_TYPE, PROBE_ACTION), None));
    }

    #[test]
    fn min_urgency_hides_low_alerts_but_never_unknown_ones() {
        let p = policy(&["alert:created"], 50);
        assert!(!p.wants_popup(&event("alert", "created"), Some(&alert(49))));
        assert!(p.wants_popup(&event("alert", "created"), Some(&alert(50))));
        assert!(p.wants_popup(&event("alert", "created"), None));
    }

    #[test]
    fn enriched_popup_carries_title_urgency_status_rule_and_entity() {
        let link = Url::parse("https://app.sekoia.io/operations/alerts/ALfoo").ok();
        let p = popup(
            &event("alert", "created"),
            Some(&alert(85)),
            link.clone(),
            None,
        );
        assert_eq!(p.summary, "Suspicious PowerShell");
        assert_eq!(
            p.lines,
            [
                "Urgency 85 (Urgent)",
                "Status: Pending",
                "Rule: PS encoded · Entity: HQ",
                "ALfoo"
            ]
        );
        assert!(matches!(p.urgency, Urgency::Critical));
        assert_eq!(p.link, link);
        assert_eq!(p.key, "0b5c4a3e-1111-4222-8333-944455556666");
    }

    #[test]
    fn popup_before_enrichment_names_the_short_id() {
        let p = popup(&event("alert", "created"), None, None, None);
        assert_eq!(p.summary, "Alert ALfoo");
        assert!(p.lines[0].contains("not loaded"));
        assert!(matches!(p.urgency, Urgency::Low));
    }

    #[test]
    fn urgency_levels_follow_the_sekoia_bands() {
        assert!(matches!(
            popup(&event("alert", "updated"), Some(&alert(80)), None, None).urgency,
            Urgency::Critical
        ));
        assert!(matches!(
            popup(&event("alert", "updated"), Some(&alert(79)), None, None).urgency,
            Urgency::Normal
        ));
        assert!(matches!(
            popup(&event("alert", "updated"), Some(&alert(40)), None, None).urgency,
            Urgency::Normal
        ));
        assert!(matches!(
            popup(&event("alert", "updated"), Some(&alert(39)), None, None).urgency,
            Urgency::Low
        ));
        assert_eq!(urgency_word(65), "Major");
        assert_eq!(
            popup(&event("alert", "updated"), Some(&alert(50)), None, None).summary,
            "Suspicious PowerShell: updated"
        );
    }
}
