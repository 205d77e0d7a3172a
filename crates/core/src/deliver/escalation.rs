//! Escalation for what matters: the sound of each urgency band
//! (`[notify.sound]`), resident Urgent pop-ups (`[notify] resident_urgent`)
//! and reminders of an Urgent alert still Pending and unseen every
//! `[notify] remind_minutes`. [`Escalation::dress`] sets a pop-up's `sound`
//! and `resident`; [`Reminders`] keeps which pop-ups are owed a reminder.
//!
//! Pure: the caller passes `now` (a controllable clock) and checks that an
//! alert is still Pending and unseen before showing a reminder. Holds at
//! most [`REMINDERS_MAX`] pop-ups. Must not: do I/O, decide what pops up
//! (`policy`) or how a sound reaches the desktop (`notify::desktop`).
//!
//! In detail: sounds per band (`[notify.sound]`) and resident Urgent pop-ups
//! (`Escalation::dress` sets `Popup::sound`/`resident`), and `Reminders`:
//! Urgent Pending pop-ups owed a reminder every `[notify] remind_minutes`, pure
//! (the caller passes `now`; `Pipeline::remind(now)` checks the alert is still
//! Pending, unread and not seen on screen before showing one).

use crate::deliver::notify::{Popup, PopupKind};
use crate::model::urgency::Band;
use crate::settings::{NotifySettings, SoundSettings};
use std::time::{Duration, Instant};

/// Most pop-ups waiting for a reminder; the oldest is dropped beyond.
pub const REMINDERS_MAX: usize = 100;

/// How pop-ups of each band sound and stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    sound: SoundSettings,
    resident_urgent: bool,
}

impl Escalation {
    pub fn from_settings(notify: &NotifySettings) -> Escalation {
        Escalation {
            sound: notify.sound.clone(),
            resident_urgent: notify.resident_urgent,
        }
    }

    /// Sets `popup.sound` from its band's `[notify.sound]` entry and makes
    /// an Urgent alert's pop-up resident (when configured). Summaries and
    /// notices are left as they are.
    pub fn dress(&self, popup: &mut Popup) {
        if popup.kind != PopupKind::Alert {
            return;
        }
        let Some(band) = popup.level.map(|l| l.band) else {
            return;
        };
        popup.sound = self.sound.of(band).map(str::to_owned);
        popup.resident = band == Band::Urgent && self.resident_urgent;
    }
}

/// The line a reminder adds at the top of the pop-up's body.
pub fn reminder_line(minutes: u64) -> String {
    match minutes {
        1 => "Still Pending and unseen after 1 minute".to_owned(),
        m => format!("Still Pending and unseen after {m} minutes"),
    }
}

/// Urgent alert pop-ups owed a reminder, each with when it is due.
#[derive(Debug)]
pub struct Reminders {
    every: Option<Duration>,
    /// (due, first shown, pop-up as first shown), oldest first.
    owed: Vec<(Instant, Instant, Popup)>,
}

impl Reminders {
    /// `remind_minutes = 0` keeps no reminders at all.
    pub fn from_settings(notify: &NotifySettings) -> Reminders {
        Reminders::every(
            Some(Duration::from_secs(u64::from(notify.remind_minutes) * 60))
                .filter(|d| !d.is_zero()),
        )
    }

    pub fn every(every: Option<Duration>) -> Reminders {
        Reminders {
            every,
            owed: Vec::new(),
        }
    }

    /// Remembers `popup` if it is an Urgent alert that can still be
    /// acknowledged (Pending); a later pop-up with the same key replaces
    /// the earlier one and restarts its count.
    pub fn track(&mut self, popup: &Popup, now: Instant) {
        let Some(every) = self.every else { return };
        self.forget(&popup.key);
        let urgent = popup.level.is_some_and(|l| l.band == Band::Urgent);
        if popup.kind != PopupKind::Alert || !urgent || !popup.acknowledgeable {
            return;
        }
        if self.owed.len() >= REMINDERS_MAX {
            self.owed.remove(0);
        }
        self.owed.push((now + every, now, popup.clone()));
    }

    /// Stops reminding of `key` (acknowledged, seen, withdrawn).
    pub fn forget(&mut self, key: &str) {
        self.owed.retain(|(_, _, p)| p.key != key);
    }

    /// When the next reminder is due, if any is owed.
    pub fn next_due(&self) -> Option<Instant> {
        self.owed.iter().map(|(due, _, _)| *due).min()
    }

    /// The reminders due at `now`: each pop-up again, under the same key,
    /// with a first line saying how long it has waited. Each is due again
    /// one interval later; the caller drops (`forget`) those no longer owed
    /// before showing them.
    pub fn due(&mut self, now: Instant) -> Vec<Popup> {
        let Some(every) = self.every else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (due, first, popup) in &mut self.owed {
            if *due > now {
                continue;
            }
            *due = now + every;
            let waited = now.saturating_duration_since(*first).as_secs() / 60;
            let mut reminder = popup.clone();
            reminder.lines.insert(0, reminder_line(waited));
            out.push(reminder);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::urgency::Level;

    fn alert(key: &str, value: u8, pending: bool) -> Popup {
        Popup {
            key: key.into(),
            summary: format!("alert {key}"),
            lines: vec!["Urgency".into()],
            level: Level::new(Some(value), None),
            acknowledgeable: pending,
            ..Popup::default()
        }
    }

    fn notify(text: &str) -> NotifySettings {
        crate::settings::parse(text, std::path::Path::new("t.toml"))
            .unwrap()
            .0
            .notify
    }

    #[test]
    fn by_default_urgent_and_major_sound_and_only_urgent_stays() {
        let e = Escalation::from_settings(&notify(""));
        let dressed = |value| {
            let mut p = alert("k", value, true);
            e.dress(&mut p);
            (p.sound, p.resident)
        };
        assert_eq!(dressed(85), (Some("alarm-clock-elapsed".into()), true));
        assert_eq!(dressed(65), (Some("message-new-instant".into()), false));
        assert_eq!(dressed(45), (None, false));
        assert_eq!(dressed(25), (None, false));
        assert_eq!(dressed(5), (None, false));
        let mut unknown = alert("k", 0, true);
        unknown.level = None;
        e.dress(&mut unknown);
        assert_eq!((unknown.sound, unknown.resident), (None, false));
    }

    #[test]
    fn each_band_takes_its_configured_sound_and_residency_can_be_turned_off() {
        let e = Escalation::from_settings(&notify(
            "[notify]\nresident_urgent = false\n[notify.sound]\nurgent = \"/usr/share/sounds/alarm.oga\"\nmajor = \"\"\nhigh = \"bell\"\n",
        ));
        let mut urgent = alert("u", 90, true);
        e.dress(&mut urgent);
        assert_eq!(urgent.sound.as_deref(), Some("/usr/share/sounds/alarm.oga"));
        assert!(!urgent.resident);
        let mut major = alert("m", 70, true);
        e.dress(&mut major);
        assert_eq!(major.sound, None);
        let mut high = alert("h", 50, true);
        e.dress(&mut high);
        assert_eq!(high.sound.as_deref(), Some("bell"));
        // A summary never sounds.
        let mut summary = alert("s", 90, false);
        summary.kind = PopupKind::Summary;
        e.dress(&mut summary);
        assert_eq!((summary.sound, summary.resident), (None, false));
    }

    #[test]
    fn a_bad_sound_is_refused_with_the_key_named() {
        let err = crate::settings::parse(
            "[notify.sound]\nurgent = \"rm -rf\"\n",
            std::path::Path::new("t.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("notify.sound.urgent"), "{err}");
    }

    #[test]
    fn reminders_are_off_by_default() {
        let mut r = Reminders::from_settings(&notify(""));
        let now = Instant::now();
        r.track(&alert("k", 90, true), now);
        assert_eq!(r.next_due(), None);
        assert!(r.due(now + Duration::from_secs(86_400)).is_empty());
    }

    #[test]
    fn an_urgent_pending_alert_is_reminded_every_interval_until_forgotten() {
        let mut r = Reminders::from_settings(&notify("[notify]\nremind_minutes = 10\n"));
        let now = Instant::now();
        r.track(&alert("urgent", 90, true), now);
        r.track(&alert("major", 70, true), now);
        r.track(&alert("taken", 95, false), now);
        let ten = Duration::from_secs(600);
        assert_eq!(r.next_due(), Some(now + ten));
        assert!(r.due(now + ten - Duration::from_secs(1)).is_empty());
        let first = r.due(now + ten);
        assert_eq!(first.len(), 1, "{first:?}");
        assert_eq!(first[0].key, "urgent");
        assert_eq!(
            first[0].lines,
            ["Still Pending and unseen after 10 minutes", "Urgency"]
        );
        // Not due twice at the same instant; due again ten minutes later.
        assert!(r.due(now + ten).is_empty());
        let second = r.due(now + 2 * ten);
        assert_eq!(
            second[0].lines[0],
            "Still Pending and unseen after 20 minutes"
        );
        r.forget("urgent");
        assert_eq!(r.next_due(), None);
        assert!(r.due(now + 3 * ten).is_empty());
    }

    #[test]
    fn a_new_popup_of_the_same_alert_restarts_its_count_and_memory_is_bounded() {
        let mut r = Reminders::every(Some(Duration::from_secs(60)));
        let now = Instant::now();
        r.track(&alert("k", 90, true), now);
        let later = now + Duration::from_secs(30);
        r.track(&alert("k", 90, true), later);
        assert_eq!(r.next_due(), Some(later + Duration::from_secs(60)));
        // Acknowledged meanwhile: the new pop-up is not Pending, no reminder.
        r.track(&alert("k", 90, false), later);
        assert_eq!(r.next_due(), None);
        for n in 0..(REMINDERS_MAX + 10) {
            r.track(&alert(&n.to_string(), 90, true), now);
        }
        assert_eq!(r.owed.len(), REMINDERS_MAX);
        assert!(!r.owed.iter().any(|(_, _, p)| p.key == "0"));
    }
}
