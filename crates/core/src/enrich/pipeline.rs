//! The worker between the store and the sinks: takes stored, unhandled
//! events in arrival order, enriches alert events through the Alert API
//! (one list call per batch), applies the policy, marks each event handled
//! and hands its pop-up to the sinks, through the storm budget (`storm`).
//!
//! An event never waits on enrichment for more than `deadline`: the pop-up
//! then goes out with what is known, and the feed entry is completed when a
//! later retry succeeds (retries of owed enrichment get the same deadline).
//! Only an unknown alert or a notification naming no valid uuid is final
//! (`kind::EnrichFailure`); everything else, a rejected key included, is
//! owed and retried. The pipeline owns no
//! HTTP listener and no delivery mechanism.
//!
//! In detail: the worker. Takes unhandled events in arrival order (100 at a
//! time), fetches the alerts it lacks or that an `updated` event may have
//! changed (one GET for one, one list call for many) within a 3 s deadline,
//! records the batch (cache, failures, handled) through the writer, then hands
//! the pop-ups through the storm budget (`storm`) to the `Sink`s. Retries owed
//! enrichment every 15 s within the same deadline; only `kind::EnrichFailure`
//! (unknown alert, no valid uuid) is final for a row, everything else (outage,
//! circuit open, unreadable answer, rejected key) stays owed. Each pop-up is
//! dressed by `escalation` and tracked for reminders; the run loop wakes when
//! the next reminder is due. `Sink` is the seam for pop-up destinations
//! (`show`, `withdraw`, `seen`) (the desktop, wrapped in `pause::Pausable` by
//! the app); forwards go to the outbox in the same transaction
//! (`Writer::record_forwarding`), not through sinks.

use crate::deliver::escalation::{Escalation, Reminders};
use crate::deliver::forward::{payload, Message};
use crate::deliver::notify::Popup;
use crate::deliver::outbox::{Lane, Queued};
use crate::deliver::policy::{popup, EventView, Policy};
use crate::deliver::storm::{Budget, Storm, Wanted};
use crate::model::kind::{Change, EnrichFailure, Subject};
use crate::model::revision::{raised_line, revise, AlertState, Revision};
use crate::net::sekoia::{Alert, Client, SekoiaError};
use crate::settings::Settings;
use crate::store::{Reads, StoreError, Writer};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Most events handled per batch, and most uuids per list call.
pub const BATCH: usize = 100;

pub use crate::deliver::notify::{BoxFuture, Sink};

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Longest wait for enrichment before a pop-up goes out without it.
    pub deadline: Duration,
    /// Pause between retries of enrichment still owed.
    pub retry_every: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            deadline: Duration::from_secs(3),
            retry_every: Duration::from_secs(15),
        }
    }
}

/// The parts a pipeline runs with.
pub struct Parts {
    /// The pipeline's reads, run on blocking threads (`Store::reads`).
    pub reads: Reads,
    pub writer: Writer,
    /// None without an API key: pop-ups then say what the webhook said.
    pub client: Option<Client>,
    pub settings: Settings,
    pub sinks: Vec<Arc<dyn Sink>>,
    /// Signalled when new events are stored.
    pub wake: Arc<Notify>,
    pub config: PipelineConfig,
}

pub struct Pipeline {
    /// SQLite reads, never on an async thread.
    reads: Reads,
    writer: Writer,
    client: Option<Client>,
    settings: Settings,
    policy: Policy,
    sinks: Vec<Arc<dyn Sink>>,
    wake: Arc<Notify>,
    config: PipelineConfig,
    storm: Storm,
    /// Sounds and residency per band.
    escalation: Escalation,
    /// Urgent pop-ups owed a reminder.
    reminders: Reminders,
    /// Forward destinations; empty without `[[forward]]`.
    lanes: Vec<Lane>,
}

/// How an enrichment attempt ended, for the events that asked for it.
enum Fetched {
    /// The API answered: these alerts exist; the others do not, when the
    /// answer is `complete` (no list entry was unreadable).
    Answer { alerts: Vec<Alert>, complete: bool },
    /// Try again later: the deadline passed, the API is down, rate limited,
    /// behind an open circuit or answered something unreadable, or the key
    /// is rejected (the engine's health says so, once; every owed alert is
    /// retried once a key works).
    Later,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Pipeline {
    pub fn new(parts: Parts) -> Pipeline {
        Pipeline {
            reads: parts.reads,
            writer: parts.writer,
            client: parts.client,
            policy: Policy::new(&parts.settings.notify),
            storm: Storm::new(
                Budget::from_settings(&parts.settings.notify),
                parts.settings.alerts_list_url(),
            ),
            escalation: Escalation::from_settings(&parts.settings.notify),
            reminders: Reminders::from_settings(&parts.settings.notify),
            settings: parts.settings,
            sinks: parts.sinks,
            wake: parts.wake,
            config: parts.config,
            lanes: Vec::new(),
        }
    }

    /// Also queues each handled event for the forward destinations that
    /// want it (see `outbox`).
    pub fn forwarding(mut self, lanes: Vec<Lane>) -> Pipeline {
        self.lanes = lanes;
        self
    }

    /// Runs until `shutdown` resolves, then drains what is waiting for at
    /// most `drain` (the rest is resumed at the next start).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>, drain: Duration) {
        tokio::pin!(shutdown);
        let mut retry = tokio::time::interval(self.config.retry_every);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            match self.step().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "pipeline step failed; retrying shortly"),
            }
            // No reminder owed: a far instant that never fires in practice.
            let remind_at = self
                .reminders
                .next_due()
                .unwrap_or_else(|| std::time::Instant::now() + Duration::from_secs(86_400));
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep_until(remind_at.into()) => {
                    self.remind(std::time::Instant::now()).await;
                }
                _ = retry.tick() => {
                    // Within the same deadline as a new batch: the client's
                    // own retries and `Retry-After` waits never hold new
                    // events (or a stop) longer; what is left is tried again
                    // at the next tick.
                    match tokio::time::timeout(self.config.deadline, self.retry_owed()).await {
                        Ok(Err(e)) => tracing::error!(error = %e, "enrichment retry failed"),
                        Ok(Ok(())) => {}
                        Err(_) => {
                            tracing::debug!("owed enrichment still slow; tried again later");
                            self.abandoned();
                        }
                    }
                }
                () = &mut shutdown => break,
            }
        }
        let drained =
            tokio::time::timeout(drain, async { while let Ok(true) = self.step().await {} });
        if drained.await.is_err() {
            tracing::warn!("pipeline not drained in time; the rest resumes at the next start");
        }
    }

    /// Handles one batch of unhandled events; `Ok(false)` when none waited.
    pub async fn step(&mut self) -> Result<bool, PipelineError> {
        let mut events = self.reads.run_ledger(|l| l.unhandled(BATCH)).await?;
        if events.is_empty() {
            return Ok(false);
        }
        // The cached alerts of this batch, in one read off the async threads.
        let mut uuids: Vec<String> = events
            .iter()
            .filter(|e| e.is_alert() && crate::net::sekoia::is_uuid(&e.uuid))
            .map(|e| e.uuid.clone())
            .collect();
        uuids.sort();
        uuids.dedup();
        let cache: HashMap<String, Alert> = self
            .reads
            .run_ledger(move |l| {
                let mut found = HashMap::new();
                for uuid in uuids {
                    if let Some(alert) = l.alert(&uuid)? {
                        found.insert(uuid, alert);
                    }
                }
                Ok(found)
            })
            .await?;
        let mut known: HashMap<String, Alert> = HashMap::new();
        let mut wanted = Vec::new();
        let mut unusable = Vec::new();
        let mut cases = Vec::new();
        for e in &events {
            if e.subject == Subject::Case {
                if crate::net::sekoia::is_uuid(&e.uuid) && !cases.contains(&e.uuid) {
                    cases.push(e.uuid.clone());
                }
                continue;
            }
            if !e.is_alert() || known.contains_key(&e.uuid) || wanted.contains(&e.uuid) {
                continue;
            }
            // A notification that names no alert we could ask about is kept
            // and shown as such; it never spoils the batch's list call.
            if !crate::net::sekoia::is_uuid(&e.uuid) {
                if !unusable.contains(&e.uuid) {
                    unusable.push(e.uuid.clone());
                }
                continue;
            }
            // A status or other change may have changed the alert: fetch it
            // again rather than trust the cache. Creations, comments,
            // occurrence and urgency updates read the cache first.
            let refetch =
                e.kind == crate::model::kind::ALERT && e.action != "created" && !e.is_quiet();
            let cached = match refetch {
                false => cache.get(&e.uuid).cloned(),
                true => None,
            };
            match cached {
                Some(cached) => {
                    known.insert(e.uuid.clone(), cached);
                }
                None => wanted.push(e.uuid.clone()),
            }
        }
        // Each updated alert's state before this batch, to tell what an
        // update means for its pop-up (`revision`) and to word an urgency
        // change ("urgency 20 → 60"); it follows each update in turn.
        let mut states: HashMap<String, AlertState> = HashMap::new();
        for e in events
            .iter()
            .filter(|e| e.kind == crate::model::kind::ALERT && e.action == "updated")
        {
            if !states.contains_key(&e.uuid) {
                let cached = known.get(&e.uuid).or_else(|| cache.get(&e.uuid)).cloned();
                states.insert(
                    e.uuid.clone(),
                    cached
                        .as_ref()
                        .map(AlertState::of_alert)
                        .unwrap_or_default(),
                );
            }
        }
        let deadline = tokio::time::Instant::now() + self.config.deadline;
        let fetched = if wanted.is_empty() {
            Fetched::Later
        } else {
            match tokio::time::timeout_at(deadline, self.fetch(&wanted)).await {
                Ok(f) => f,
                Err(_) => {
                    tracing::warn!(
                        alerts = wanted.len(),
                        "enrichment is slow; showing pop-ups without it"
                    );
                    self.abandoned();
                    Fetched::Later
                }
            }
        };
        // A case the API cannot give within the deadline reads by what its
        // notification said.
        let case_titles = tokio::time::timeout_at(deadline, self.fetch_cases(&cases))
            .await
            .unwrap_or_default();
        // A comment notification without its text: ask for it, within the
        // same deadline.
        let _ = tokio::time::timeout_at(deadline, self.fetch_comment_texts(&mut events)).await;
        let (fresh, mut failed) = outcome(&wanted, fetched);
        failed.extend(
            unusable
                .into_iter()
                .map(|u| (u, EnrichFailure::NoValidUuid.code().to_owned())),
        );
        let mut popups = Vec::new();
        let mut forward = Vec::new();
        let mut withdrawn: Vec<String> = Vec::new();
        let mut patched: Vec<Alert> = Vec::new();
        for event in &events {
            let alert = fresh
                .iter()
                .find(|a| a.uuid.as_deref() == Some(event.uuid.as_str()))
                .or_else(|| known.get(&event.uuid))
                .filter(|_| event.is_alert());
            let short_id = alert
                .and_then(|a| a.short_id.clone())
                .or_else(|| event.short_id.clone());
            let link = short_id
                .as_deref()
                .and_then(|s| self.settings.subject_url(event.subject, s));
            let title = match event.subject {
                Subject::Case => case_titles.get(&event.uuid).cloned(),
                _ => alert.map(|a| crate::model::kind::alert_title(Some(a), short_id.as_deref())),
            };
            // The urgency an urgency update moves from.
            let before = states
                .get(&event.uuid)
                .and_then(|s| s.urgency)
                .filter(|_| matches!(event.facts.change, Some(Change::Urgency(_))));
            if self.policy.wants_popup(event, alert) {
                let mut p = popup(event, alert, link.clone(), before);
                if let Some(t) = title.as_deref().filter(|_| event.subject == Subject::Case) {
                    p.summary = event.facts.summary(Some(t), before);
                }
                popups.push(Wanted {
                    popup: p,
                    urgency: alert.and_then(Alert::urgency_value),
                });
            }
            // A dynamic urgency notification says the alert's current
            // urgency: the cache (and so the feed) follows it.
            if let (Some(Change::Urgency(value)), Some(a)) = (&event.facts.change, alert) {
                let now = with_current_urgency(a, *value);
                patched.retain(|p: &Alert| p.uuid != now.uuid);
                patched.push(now);
            }
            if let Some(state) = states.get_mut(&event.uuid) {
                let after = after_update(state, event, alert);
                match revise(state, &after) {
                    Revision::Withdraw => withdrawn.push(event.uuid.clone()),
                    Revision::Raised(level)
                        if self.policy.wants_popup(&as_creation(event), alert) =>
                    {
                        // The alert as it is now: the cache may predate the raise.
                        let now = alert.map(|a| with_current_urgency(a, level.value));
                        let mut p = popup(&as_creation(event), now.as_ref(), link.clone(), None);
                        p.lines.insert(0, raised_line(level));
                        popups.push(Wanted {
                            popup: p,
                            urgency: Some(level.value),
                        });
                    }
                    Revision::Raised(_) | Revision::Quiet => {}
                }
                *state = after;
            }
            let summary = event.facts.summary(title.as_deref(), before);
            self.queue_forward(event, alert, link.as_ref(), &summary, &mut forward);
        }
        let mut fresh = fresh;
        for p in patched {
            fresh.retain(|a| a.uuid != p.uuid);
            fresh.push(p);
        }
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        let woken: Vec<&Lane> = self
            .lanes
            .iter()
            .filter(|l| forward.iter().any(|q: &Queued| q.dest == l.key))
            .collect();
        self.writer
            .record_forwarding(fresh, failed, ids, forward)
            .await?;
        for lane in woken {
            lane.wake();
        }
        // A teammate took these alerts: their pop-ups leave the screen.
        for uuid in withdrawn {
            self.withdraw(&uuid).await;
        }
        // Past the budget, alerts fold into one summary pop-up (storm).
        let now = std::time::Instant::now();
        let admitted = self.storm.admit(now, popups);
        // Slots given to more urgent alerts: those pop-ups are in the summary.
        for key in &admitted.withdraw {
            self.withdraw(key).await;
        }
        for mut p in admitted.show {
            self.escalation.dress(&mut p);
            self.show(&p).await;
            self.reminders.track(&p, now);
        }
        Ok(true)
    }

    /// Fills in the text of comments whose notification lacks it
    /// (`GET …/comments/{uuid}`); a comment the API cannot give reads as
    /// "new comment".
    async fn fetch_comment_texts(&self, events: &mut [EventView]) {
        let Some(client) = &self.client else {
            return;
        };
        for e in events.iter_mut().filter(|e| e.facts.content.is_none()) {
            let Some(comment) = e.facts.comment_uuid.clone() else {
                continue;
            };
            match client.get_comment(&e.uuid, &comment).await {
                Ok(text) => e.facts.content = text.filter(|t| !t.trim().is_empty()),
                Err(err) => tracing::warn!(error = %err, "comment text not fetched"),
            }
        }
    }

    async fn show(&self, popup: &Popup) {
        for sink in &self.sinks {
            if let Err(e) = sink.show(popup).await {
                tracing::warn!(sink = sink.name(), error = %e, "pop-up not delivered");
            }
        }
    }

    /// Fetches and caches the cases asked for; returns their titles. A case
    /// the API cannot give now is shown with what its notification said.
    async fn fetch_cases(&self, uuids: &[String]) -> HashMap<String, String> {
        let mut titles = HashMap::new();
        let Some(client) = &self.client else {
            return titles;
        };
        let mut found = Vec::new();
        for uuid in uuids {
            match client.get_case(uuid).await {
                Ok(case) => {
                    if let Some(t) = case.title.clone().filter(|t| !t.trim().is_empty()) {
                        titles.insert(uuid.clone(), t);
                    }
                    found.push(case);
                }
                Err(e) => tracing::warn!(error = %e, "case not enriched"),
            }
        }
        if !found.is_empty() {
            if let Err(e) = self.writer.cache_cases(found).await {
                tracing::warn!(error = %e, "cases not cached");
            }
        }
        titles
    }

    /// Shows the reminders due at `now` (the run loop passes the clock;
    /// tests pass any instant) of Urgent alerts still Pending, unread in the
    /// feed and not seen on screen; forgets the others.
    pub async fn remind(&mut self, now: std::time::Instant) {
        for popup in self.reminders.due(now) {
            if self.still_owed(&popup.key).await {
                self.show(&popup).await;
            } else {
                self.reminders.forget(&popup.key);
            }
        }
    }

    /// Whether alert `uuid` still deserves a reminder.
    async fn still_owed(&self, uuid: &str) -> bool {
        if self.sinks.iter().any(|s| s.seen(uuid)) {
            return false;
        }
        let key = uuid.to_owned();
        let read = self
            .reads
            .run_ledger(move |l| Ok((l.is_unread(&key).unwrap_or(false), l.alert(&key))))
            .await;
        let Ok((unread, alert)) = read else {
            return false;
        };
        let pending = match alert {
            Ok(Some(alert)) => alert
                .status
                .as_ref()
                .and_then(|s| s.name.as_deref())
                .is_some_and(crate::model::revision::is_pending),
            // Unknown now: it was Pending when shown.
            Ok(None) => true,
            Err(_) => false,
        };
        unread && pending
    }

    /// Closes alert `uuid`'s pop-up on every sink and stops its reminders:
    /// it left Pending (`revision::Revision::Withdraw`).
    pub async fn withdraw(&mut self, uuid: &str) {
        self.reminders.forget(uuid);
        for sink in &self.sinks {
            if let Err(e) = sink.withdraw(uuid).await {
                tracing::warn!(sink = sink.name(), error = %e, "pop-up not withdrawn");
            }
        }
    }

    /// The body each wanting destination gets for `event`.
    fn queue_forward(
        &self,
        event: &EventView,
        alert: Option<&Alert>,
        link: Option<&url::Url>,
        summary: &str,
        out: &mut Vec<Queued>,
    ) {
        if self.lanes.is_empty() {
            return;
        }
        let short_id = alert
            .and_then(|a| a.short_id.as_deref())
            .or(event.short_id.as_deref());
        let msg = Message {
            kind: &event.kind,
            action: &event.action,
            alert,
            uuid: &event.uuid,
            short_id,
            link,
            summary: Some(summary),
        };
        for lane in &self.lanes {
            if event.is_quiet() || !lane.wants(&event.kind, &event.action, alert) {
                continue;
            }
            match serde_json::to_string(&payload(lane.kind, &msg)) {
                Ok(body) => out.push(Queued {
                    dest: lane.key.clone(),
                    event_id: event.id,
                    body,
                }),
                Err(e) => tracing::error!(error = %e, "cannot serialize a forward body"),
            }
        }
    }

    /// Enrichment still owed after a deadline or a transient failure.
    async fn retry_owed(&mut self) -> Result<(), PipelineError> {
        let owed = self.reads.run_ledger(|l| l.unenriched(BATCH)).await?;
        if owed.is_empty() || self.client.is_none() {
            return Ok(());
        }
        let (fresh, failed) = outcome(&owed, self.fetch(&owed).await);
        self.writer.record(fresh, failed, Vec::new()).await?;
        Ok(())
    }

    /// The API did not answer within the deadline: the health says so.
    fn abandoned(&self) {
        if let Some(client) = &self.client {
            client.report_abandoned();
        }
    }

    async fn fetch(&self, uuids: &[String]) -> Fetched {
        // Without a key there is nothing to try; `check` says why.
        let Some(client) = &self.client else {
            return Fetched::Later;
        };
        let result = match uuids {
            [one] => match client.get_alert(one).await {
                Ok(alert) => Ok((vec![alert], 0)),
                Err(SekoiaError::NotFound) => Ok((Vec::new(), 0)),
                Err(e) => Err(e),
            },
            many => {
                let refs: Vec<&str> = many.iter().map(String::as_str).collect();
                client.list_alerts_counted(&refs).await
            }
        };
        match result {
            Ok((alerts, skipped)) => Fetched::Answer {
                alerts,
                complete: skipped == 0,
            },
            Err(e) => {
                tracing::warn!(error = %e, alerts = uuids.len(), "enrichment failed for now; will retry");
                Fetched::Later
            }
        }
    }
}

/// An alert's state after `event` (an `alert:updated`): what the update
/// says (a status name, a new urgency), else what the Alert API answered,
/// else what was known.
fn after_update(before: &AlertState, event: &EventView, alert: Option<&Alert>) -> AlertState {
    let fetched = alert.map(AlertState::of_alert).unwrap_or_default();
    let mut after = AlertState {
        status: fetched.status.or_else(|| before.status.clone()),
        urgency: fetched.urgency.or(before.urgency),
    };
    match &event.facts.change {
        Some(Change::Status { name: Some(name) }) => after.status = Some(name.clone()),
        Some(Change::Urgency(value)) => after.urgency = Some(*value),
        _ => {}
    }
    after
}

/// `alert` with its current urgency set to `value` (0-100), its display
/// word dropped (it named the old value; the scale words the new one).
fn with_current_urgency(alert: &Alert, value: u8) -> Alert {
    let mut now = alert.clone();
    now.urgency = Some(crate::net::sekoia::Urgency {
        value: alert.urgency.as_ref().and_then(|u| u.value),
        current_value: Some(value),
        display: None,
    });
    now
}

/// The event read as its alert's creation, to word and filter the pop-up
/// of an urgency raise like the alert's own.
fn as_creation(event: &EventView) -> EventView {
    EventView {
        action: "created".to_owned(),
        facts: crate::model::kind::Facts::alert_created(event.short_id.as_deref()),
        ..event.clone()
    }
}

/// Splits an enrichment result into the alerts to cache and the uuids that
/// failed for good, with the reason. Only alerts that were asked for count.
fn outcome(wanted: &[String], fetched: Fetched) -> (Vec<Alert>, Vec<(String, String)>) {
    match fetched {
        Fetched::Answer {
            mut alerts,
            complete,
        } => {
            alerts.retain(|a| a.uuid.as_ref().is_some_and(|u| wanted.contains(u)));
            // An unreadable entry may be a missing alert: those stay owed
            // (retried alone, where a 404 is certain) rather than unknown.
            if !complete {
                return (alerts, Vec::new());
            }
            let unknown = wanted
                .iter()
                .filter(|w| !alerts.iter().any(|a| a.uuid.as_ref() == Some(*w)))
                .map(|w| (w.clone(), EnrichFailure::UnknownAlert.code().to_owned()))
                .collect();
            (alerts, unknown)
        }
        Fetched::Later => (Vec::new(), Vec::new()),
    }
}

#[cfg(test)]
pub(crate) mod tests;
