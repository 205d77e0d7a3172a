//! What a change of an alert's state means for its pop-up: a teammate took
//! it (it left Pending: withdraw the pop-up still on screen), its urgency
//! rose into a higher band (re-notify once: "Urgency raised to Urgent 85"),
//! or nothing worth a pop-up (new occurrences, a lower urgency, a rise
//! within the same band).
//!
//! Pure: the caller reads the previous and the new state (from the alert
//! cache, an `alert:updated` notification or the API) and acts on the
//! answer. Must not: parse notifications, do I/O or word anything but the
//! raise line.
//!
//! In detail: what a change of an alert's state means for its pop-up
//! (`revise(before, after)`: `Withdraw` when it left Pending, `Raised(level)`
//! once for a rise into a higher band, else `Quiet`); pure.
//! `Pipeline::withdraw(uuid)` closes the pop-up on every sink
//! (`Sink::withdraw`).

use crate::model::urgency::{Band, Level};

/// The workflow status in which Acknowledge is allowed (DESIGN.md §4).
pub const PENDING: &str = "Pending";

/// What is known of an alert at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertState {
    /// The status name ("Pending", "Acknowledged", "Ongoing"…), if known.
    pub status: Option<String>,
    /// The urgency value (0-100), if known.
    pub urgency: Option<u8>,
}

impl AlertState {
    /// What an enriched (or cached) alert says: its status name and its
    /// current urgency, else the initial one.
    pub fn of_alert(alert: &crate::model::alert::Alert) -> AlertState {
        AlertState {
            status: alert.status.as_ref().and_then(|s| s.name.clone()),
            urgency: alert.urgency_value(),
        }
    }

    /// Whether the status is known and is Pending.
    pub fn is_pending(&self) -> bool {
        self.status.as_deref().is_some_and(is_pending)
    }

    /// Whether the status is known and is something else than Pending.
    pub fn is_taken(&self) -> bool {
        self.status.as_deref().is_some_and(|s| !is_pending(s))
    }
}

/// Whether a status name is Pending (any case, surrounding spaces ignored).
pub fn is_pending(status: &str) -> bool {
    status.trim().eq_ignore_ascii_case(PENDING)
}

/// What to do with an alert's pop-up after its state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    /// It left Pending (a teammate acknowledged, rejected or closed it):
    /// close its pop-up if one is still on screen, raise none.
    Withdraw,
    /// Its urgency rose into a higher band: one new pop-up, saying so.
    Raised(Level),
    /// Nothing to show or close.
    Quiet,
}

/// Decides from the previous and the new state. Leaving Pending wins over
/// a raise (nobody needs to be called for an alert someone took); a raise
/// needs both urgencies known and a higher band, so occurrence-only
/// updates, a rise inside a band and a fall are `Quiet`.
pub fn revise(before: &AlertState, after: &AlertState) -> Revision {
    if after.is_taken() && !before.is_taken() {
        return Revision::Withdraw;
    }
    if after.is_taken() {
        return Revision::Quiet;
    }
    match (before.urgency, after.urgency) {
        (Some(old), Some(new)) if Band::of(new) > Band::of(old) => {
            Level::new(Some(new), None).map_or(Revision::Quiet, Revision::Raised)
        }
        _ => Revision::Quiet,
    }
}

/// The first line of a raise's pop-up: "Urgency raised to Urgent 85".
pub fn raised_line(level: Level) -> String {
    format!("Urgency raised to {}", level.label())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: Option<&str>, urgency: Option<u8>) -> AlertState {
        AlertState {
            status: status.map(str::to_owned),
            urgency,
        }
    }

    #[test]
    fn leaving_pending_withdraws_the_popup() {
        for taken in ["Acknowledged", "Ongoing", "Rejected", "Closed"] {
            assert_eq!(
                revise(
                    &state(Some("Pending"), Some(60)),
                    &state(Some(taken), Some(60))
                ),
                Revision::Withdraw,
                "{taken}"
            );
        }
        // Unknown before (not enriched): withdraw too.
        assert_eq!(
            revise(&state(None, None), &state(Some("Acknowledged"), None)),
            Revision::Withdraw
        );
        // Already taken before: nothing more to close.
        assert_eq!(
            revise(
                &state(Some("Acknowledged"), Some(60)),
                &state(Some("Ongoing"), Some(90))
            ),
            Revision::Quiet
        );
    }

    #[test]
    fn occurrence_only_updates_raise_nothing() {
        let same = state(Some("Pending"), Some(64));
        assert_eq!(revise(&same, &same.clone()), Revision::Quiet);
        assert_eq!(
            revise(&state(None, None), &state(None, None)),
            Revision::Quiet
        );
    }

    #[test]
    fn a_rise_into_a_higher_band_renotifies_once_with_the_new_level() {
        let before = state(Some("Pending"), Some(64));
        let after = state(Some("Pending"), Some(85));
        let Revision::Raised(level) = revise(&before, &after) else {
            panic!("no raise");
        };
        assert_eq!(raised_line(level), "Urgency raised to Urgent 85");
        // The same state again (the raise already notified): quiet.
        assert_eq!(revise(&after, &after), Revision::Quiet);
        // A rise within a band, a fall, or an unknown side: quiet.
        assert_eq!(
            revise(&state(None, Some(81)), &state(None, Some(99))),
            Revision::Quiet
        );
        assert_eq!(
            revise(&state(None, Some(85)), &state(None, Some(30))),
            Revision::Quiet
        );
        assert_eq!(
            revise(&state(None, None), &state(None, Some(90))),
            Revision::Quiet
        );
        // Taken and raised at once: nobody needs to be called.
        assert_eq!(
            revise(
                &state(Some("Pending"), Some(20)),
                &state(Some("Closed"), Some(90))
            ),
            Revision::Withdraw
        );
    }

    #[test]
    fn the_state_of_an_alert_is_its_status_name_and_current_urgency() {
        let alert: crate::model::alert::Alert = serde_json::from_value(serde_json::json!({
            "status": {"name": "Ongoing"},
            "urgency": {"value": 40, "current_value": 85, "display": "Urgent"}
        }))
        .unwrap();
        assert_eq!(
            AlertState::of_alert(&alert),
            state(Some("Ongoing"), Some(85))
        );
    }

    #[test]
    fn pending_is_read_in_any_case() {
        assert!(is_pending("pending") && is_pending(" Pending "));
        assert!(!is_pending("Acknowledged"));
        assert!(!state(None, None).is_pending() && !state(None, None).is_taken());
    }
}
