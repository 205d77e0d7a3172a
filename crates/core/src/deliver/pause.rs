//! Do not disturb: [`Pausable`] wraps a pop-up [`Sink`] and holds its
//! pop-ups back until a given time: by default every pop-up below the
//! always-pop-up urgency (`[notify] always_popup_urgency`, Urgent), or
//! everything when the analyst asks for it. The feed still receives every
//! alert and other sinks (forwarders) are not affected: pausing silences
//! only the sink it wraps. Withdrawals always pass (closing a pop-up never
//! disturbs). Must not: decide which alerts pop up (that is `policy`) or
//! know about calendars (the shell turns "until tomorrow" into an instant).
//!
//! In detail: do not disturb: `Pausable` wraps a pop-up `Sink` and holds its
//! pop-ups back until an instant: `Hold::BelowUrgent` (pop-ups of alerts at or
//! above `always_popup_urgency` pass) or `Hold::Everything` (the feed and other
//! sinks are unaffected; withdrawals always pass).

use crate::deliver::notify::{BoxFuture, Sink};
use crate::deliver::notify::{NotifyError, Popup};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

/// What a pause holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hold {
    /// Everything below the always-pop-up urgency: Urgent alerts still
    /// pop up.
    #[default]
    BelowUrgent,
    /// Every pop-up, Urgent ones too.
    Everything,
}

/// A sink that can be paused. Cheap to share: clone the `Arc`.
pub struct Pausable {
    inner: Arc<dyn Sink>,
    until: Mutex<Option<(SystemTime, Hold)>>,
    /// Pop-ups of alerts at or above this urgency pass a `BelowUrgent` pause.
    always: u8,
}

impl Pausable {
    /// A pause of `Hold::BelowUrgent` lets alerts of urgency 80 (Urgent)
    /// and above through; see [`Pausable::keeping_from`].
    pub fn new(inner: Arc<dyn Sink>) -> Pausable {
        Pausable {
            inner,
            until: Mutex::new(None),
            always: 80,
        }
    }

    /// Lets alerts at or above `urgency` (0-100, `[notify]
    /// always_popup_urgency`) through a `BelowUrgent` pause.
    pub fn keeping_from(self, urgency: u8) -> Pausable {
        Pausable {
            always: urgency,
            ..self
        }
    }

    /// Holds pop-ups back until `until`, all of them or those below the
    /// always-pop-up urgency; `None` resumes at once.
    pub fn pause(&self, until: Option<SystemTime>, hold: Hold) {
        *self.until.lock().unwrap_or_else(PoisonError::into_inner) = until.map(|t| (t, hold));
    }

    /// When the pause ends and what it holds back, if pop-ups are paused now.
    pub fn paused(&self) -> Option<(SystemTime, Hold)> {
        self.paused_at(SystemTime::now())
    }

    /// When the pause ends, if pop-ups are paused now.
    pub fn paused_until(&self) -> Option<SystemTime> {
        self.paused().map(|(until, _)| until)
    }

    fn paused_at(&self, now: SystemTime) -> Option<(SystemTime, Hold)> {
        let until = *self.until.lock().unwrap_or_else(PoisonError::into_inner);
        until.filter(|(end, _)| *end > now)
    }

    /// Whether `popup` is held back at `now`.
    fn holds(&self, popup: &Popup, now: SystemTime) -> bool {
        match self.paused_at(now) {
            None => false,
            Some((_, Hold::Everything)) => true,
            Some((_, Hold::BelowUrgent)) => popup.level.is_none_or(|l| l.value < self.always),
        }
    }
}

impl Sink for Pausable {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn show<'a>(&'a self, popup: &'a Popup) -> BoxFuture<'a, Result<(), NotifyError>> {
        if self.holds(popup, SystemTime::now()) {
            tracing::debug!(sink = self.inner.name(), "paused: pop-up held back");
            return Box::pin(async { Ok(()) });
        }
        self.inner.show(popup)
    }

    fn withdraw<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), NotifyError>> {
        self.inner.withdraw(key)
    }

    fn seen(&self, key: &str) -> bool {
        self.inner.seen(key)
    }

    fn offer_acknowledge(&self, acknowledger: crate::deliver::notify::Acknowledger) {
        self.inner.offer_acknowledge(acknowledger);
    }

    fn offer_windows(&self, open: crate::deliver::notify::WindowOpener) {
        self.inner.offer_windows(open);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::notify::Urgency;
    use std::time::Duration;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Sink for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        fn show<'a>(&'a self, popup: &'a Popup) -> BoxFuture<'a, Result<(), NotifyError>> {
            self.0.lock().unwrap().push(popup.summary.clone());
            Box::pin(async { Ok(()) })
        }
    }

    fn popup(summary: &str) -> Popup {
        Popup {
            kind: Default::default(),
            key: summary.into(),
            summary: summary.into(),
            lines: Vec::new(),
            urgency: Urgency::Normal,
            link: None,
            ..Popup::default()
        }
    }

    fn alert(summary: &str, urgency: u8) -> Popup {
        Popup {
            level: crate::model::urgency::Level::new(Some(urgency), None),
            ..popup(summary)
        }
    }

    #[tokio::test]
    async fn a_paused_sink_holds_pop_ups_back_until_resumed() {
        let recorder = Arc::new(Recorder::default());
        let sink = Pausable::new(recorder.clone());
        sink.show(&popup("before")).await.unwrap();
        sink.pause(
            Some(SystemTime::now() + Duration::from_secs(3600)),
            Hold::BelowUrgent,
        );
        assert!(sink.paused_until().is_some());
        sink.show(&popup("while paused")).await.unwrap();
        sink.show(&alert("major while paused", 79)).await.unwrap();
        sink.pause(None, Hold::BelowUrgent);
        sink.show(&popup("after")).await.unwrap();
        assert_eq!(*recorder.0.lock().unwrap(), ["before", "after"]);
    }

    #[tokio::test]
    async fn urgent_alerts_pass_a_pause_unless_it_holds_everything() {
        let recorder = Arc::new(Recorder::default());
        let sink = Pausable::new(recorder.clone());
        let hour = Some(SystemTime::now() + Duration::from_secs(3600));
        sink.pause(hour, Hold::BelowUrgent);
        sink.show(&alert("urgent 80", 80)).await.unwrap();
        sink.show(&alert("major 79", 79)).await.unwrap();
        sink.pause(hour, Hold::Everything);
        assert_eq!(sink.paused().map(|(_, h)| h), Some(Hold::Everything));
        sink.show(&alert("urgent 95", 95)).await.unwrap();
        // The threshold follows [notify] always_popup_urgency.
        let recorder2 = Arc::new(Recorder::default());
        let lower = Pausable::new(recorder2.clone()).keeping_from(60);
        lower.pause(hour, Hold::BelowUrgent);
        lower.show(&alert("major 65", 65)).await.unwrap();
        lower.show(&alert("high 59", 59)).await.unwrap();
        assert_eq!(*recorder.0.lock().unwrap(), ["urgent 80"]);
        assert_eq!(*recorder2.0.lock().unwrap(), ["major 65"]);
    }

    #[test]
    fn a_pause_ends_by_itself_at_its_time() {
        let sink = Pausable::new(Arc::new(Recorder::default()));
        let now = SystemTime::now();
        sink.pause(Some(now + Duration::from_secs(60)), Hold::Everything);
        assert!(sink.paused_at(now).is_some());
        assert_eq!(sink.paused_at(now + Duration::from_secs(61)), None);
    }
}
