//! Deadlines on pop-up sinks: [`Bounded`] wraps a [`Sink`] so that a pop-up
//! not shown within [`BoundedConfig::deadline`] is given up, the sink is
//! marked failing ([`PopupHealth::Failing`], a warning in `status`, `check`,
//! the tray and the log) and, for [`BoundedConfig::rest`], further pop-ups
//! are given up at once instead of waiting on the same dead peer; the next
//! pop-up after that pause tries again, and a success clears the warning.
//!
//! Why: a notification server that accepts `Notify` and never answers (a
//! wedged daemon, an activatable service that never comes up) would
//! otherwise stall the pipeline, and with it enrichment, forwards and the
//! drain at shutdown. The feed and the forward outbox never depend on a
//! pop-up: they are committed before any sink is called.
//!
//! Owns only the deadline and the failing/resting state. Must not: queue,
//! retry or reorder pop-ups (a given-up pop-up is gone; the feed has the
//! alert), or decide what pops up.
//!
//! In detail: `Bounded`, the deadline around every pop-up `Sink` (the engine
//! wraps each one): a pop-up not shown within 5 s is given up, then the sink
//! rests 30 s (pop-ups given up at once) and the next one tries again;
//! `health()` is a watch of `health::PopupHealth` the engine copies into its
//! health.

use crate::deliver::notify::{Acknowledger, NotifyError, Popup, WindowOpener};
use crate::deliver::notify::{BoxFuture, Sink};
use crate::model::health::PopupHealth;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a sink may take and how long it rests after failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundedConfig {
    /// Longest wait for one pop-up (connection, capabilities and `Notify`
    /// included). Default 5 s: a desktop server answers in milliseconds,
    /// and D-Bus's own default (25 s) would hold a batch that long.
    pub deadline: Duration,
    /// After a failure, pop-ups are given up at once for this long; the
    /// first one after it is tried again. Default 30 s.
    pub rest: Duration,
}

impl Default for BoundedConfig {
    fn default() -> Self {
        BoundedConfig {
            deadline: Duration::from_secs(5),
            rest: Duration::from_secs(30),
        }
    }
}

#[derive(Debug)]
enum State {
    Working,
    /// Failed; given up until `until`, with the failure's words.
    Resting {
        until: Instant,
        reason: String,
    },
}

/// A sink with a deadline (see the module docs). Cheap to share through `Arc`.
pub struct Bounded {
    inner: Arc<dyn Sink>,
    config: BoundedConfig,
    state: Mutex<State>,
    health: watch::Sender<PopupHealth>,
}

impl Bounded {
    pub fn new(inner: Arc<dyn Sink>, config: BoundedConfig) -> Bounded {
        Bounded {
            inner,
            config,
            state: Mutex::new(State::Working),
            health: watch::Sender::new(PopupHealth::Ok),
        }
    }

    /// The sink's health; every change is a new value.
    pub fn health(&self) -> watch::Receiver<PopupHealth> {
        self.health.subscribe()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Some(error)` while resting: the pop-up is given up without a call.
    fn resting(&self, now: Instant) -> Option<NotifyError> {
        match &*self.state() {
            State::Resting { until, reason } if now < *until => Some(NotifyError::Resting {
                reason: reason.clone(),
                retry_in: *until - now,
            }),
            _ => None,
        }
    }

    fn failed(&self, error: &NotifyError) {
        let reason = error.to_string();
        tracing::warn!(
            sink = self.inner.name(),
            "pop-ups are given up for {} s: {reason}",
            self.config.rest.as_secs()
        );
        *self.state() = State::Resting {
            until: Instant::now() + self.config.rest,
            reason: reason.clone(),
        };
        let sink = self.inner.name().to_owned();
        self.health.send_if_modified(|h| {
            let since = match h {
                PopupHealth::Failing { since, .. } => since.clone(),
                PopupHealth::Ok => now_rfc3339(),
            };
            let next = PopupHealth::Failing {
                sink,
                since,
                reason,
            };
            let changed = *h != next;
            *h = next;
            changed
        });
    }

    fn worked(&self) {
        *self.state() = State::Working;
        let recovered = self.health.send_if_modified(|h| {
            let changed = *h != PopupHealth::Ok;
            *h = PopupHealth::Ok;
            changed
        });
        if recovered {
            tracing::info!(sink = self.inner.name(), "pop-ups are shown again");
        }
    }

    /// `CloseNotification` under the same deadline and rest as a pop-up.
    async fn withdraw_bounded(&self, key: &str) -> Result<(), NotifyError> {
        if let Some(given_up) = self.resting(Instant::now()) {
            return Err(given_up);
        }
        match tokio::time::timeout(self.config.deadline, self.inner.withdraw(key)).await {
            Ok(result) => result,
            Err(_) => {
                let error = NotifyError::TimedOut {
                    action: "closing a pop-up",
                    after: self.config.deadline,
                };
                self.failed(&error);
                Err(error)
            }
        }
    }

    async fn show_bounded(&self, popup: &Popup) -> Result<(), NotifyError> {
        if let Some(given_up) = self.resting(Instant::now()) {
            tracing::debug!(sink = self.inner.name(), "{given_up}");
            return Err(given_up);
        }
        let result = match tokio::time::timeout(self.config.deadline, self.inner.show(popup)).await
        {
            Ok(result) => result,
            Err(_) => Err(NotifyError::TimedOut {
                action: "showing a pop-up",
                after: self.config.deadline,
            }),
        };
        match &result {
            Ok(()) => self.worked(),
            Err(e) => self.failed(e),
        }
        result
    }
}

impl Sink for Bounded {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn show<'a>(&'a self, popup: &'a Popup) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(self.show_bounded(popup))
    }
    fn withdraw<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(self.withdraw_bounded(key))
    }
    fn seen(&self, key: &str) -> bool {
        self.inner.seen(key)
    }
    fn offer_acknowledge(&self, acknowledger: Acknowledger) {
        self.inner.offer_acknowledge(acknowledger);
    }
    fn offer_windows(&self, open: WindowOpener) {
        self.inner.offer_windows(open);
    }
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests;
