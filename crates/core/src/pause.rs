//! Do not disturb: [`Pausable`] wraps a pop-up [`Sink`] and holds its
//! pop-ups back until a given time. The feed still receives every alert and
//! other sinks (forwarders) are not affected: pausing silences only the sink
//! it wraps. Must not: decide which alerts pop up (that is `policy`) or know
//! about calendars (the shell turns "until tomorrow" into an instant).

use crate::notify::{NotifyError, Popup};
use crate::pipeline::{BoxFuture, Sink};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

/// A sink that can be paused. Cheap to share: clone the `Arc`.
pub struct Pausable {
    inner: Arc<dyn Sink>,
    until: Mutex<Option<SystemTime>>,
}

impl Pausable {
    pub fn new(inner: Arc<dyn Sink>) -> Pausable {
        Pausable {
            inner,
            until: Mutex::new(None),
        }
    }

    /// Holds pop-ups back until `until`; `None` resumes at once.
    pub fn pause_until(&self, until: Option<SystemTime>) {
        *self.until.lock().unwrap_or_else(PoisonError::into_inner) = until;
    }

    /// When the pause ends, if pop-ups are paused now.
    pub fn paused_until(&self) -> Option<SystemTime> {
        self.paused_at(SystemTime::now())
    }

    fn paused_at(&self, now: SystemTime) -> Option<SystemTime> {
        let until = *self.until.lock().unwrap_or_else(PoisonError::into_inner);
        until.filter(|end| *end > now)
    }
}

impl Sink for Pausable {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn show<'a>(&'a self, popup: &'a Popup) -> BoxFuture<'a, Result<(), NotifyError>> {
        if self.paused_until().is_some() {
            tracing::debug!(sink = self.inner.name(), "paused: pop-up held back");
            return Box::pin(async { Ok(()) });
        }
        self.inner.show(popup)
    }

    fn offer_acknowledge(&self, acknowledger: crate::notify::Acknowledger) {
        self.inner.offer_acknowledge(acknowledger);
    }

    fn offer_windows(&self, open: crate::notify::WindowOpener) {
        self.inner.offer_windows(open);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Urgency;
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
        }
    }

    #[tokio::test]
    async fn a_paused_sink_holds_pop_ups_back_until_resumed() {
        let recorder = Arc::new(Recorder::default());
        let sink = Pausable::new(recorder.clone());
        sink.show(&popup("before")).await.unwrap();
        sink.pause_until(Some(SystemTime::now() + Duration::from_secs(3600)));
        assert!(sink.paused_until().is_some());
        sink.show(&popup("while paused")).await.unwrap();
        sink.pause_until(None);
        sink.show(&popup("after")).await.unwrap();
        assert_eq!(*recorder.0.lock().unwrap(), ["before", "after"]);
    }

    #[test]
    fn a_pause_ends_by_itself_at_its_time() {
        let sink = Pausable::new(Arc::new(Recorder::default()));
        let now = SystemTime::now();
        sink.pause_until(Some(now + Duration::from_secs(60)));
        assert!(sink.paused_at(now).is_some());
        assert_eq!(sink.paused_at(now + Duration::from_secs(61)), None);
    }
}
