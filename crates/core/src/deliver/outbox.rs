//! The durable per-destination outbox of forwarded alerts and the delivery
//! workers that drain it: one worker per `[[forward]]` destination, so a
//! dead destination never delays pop-ups or another destination.
//!
//! The pipeline enqueues each event's body for every destination whose
//! filters match in the same transaction that marks the event handled
//! (`Writer::record_forwarding`). A worker takes its oldest queued row,
//! marks it `sending` (committed), POSTs it with `forward::Poster` (which
//! retries 429/5xx/timeouts, honouring `Retry-After`), then marks it `sent`,
//! `failed`, or back to `queued` to retry after a pause. A row still queued
//! after `give_up_after` fails for good with its last error (visible in
//! `status` and the log).
//!
//! At most once per destination across restarts: a row found `sending` at
//! start (the process died between the mark and the outcome, e.g. kill -9
//! during the POST) is marked failed and never re-sent, because the POST may
//! already have arrived. The price is that such a crash can lose that one
//! delivery; it can never duplicate it.
//!
//! Must not: write SQLite itself (the store's writer thread applies every
//! change), decide what a body says (`forward::payload`), or show a
//! destination URL (rows name it by kind, host and a hash of the URL).

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::deliver::forward::{Destination, ForwardError, Kind, Poster, RetryPolicy};
use crate::deliver::notify::Sink;
use crate::deliver::notify::{Popup, Urgency};
use crate::net::sekoia::Alert;
use crate::settings::{EventFilter, ForwardTarget};
use crate::store::{Reader, Store, StoreError, Writer};

/// How long a stop lets a delivery in flight finish before abandoning it.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How the workers pace themselves. `Default` gives the production values.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Each delivery's own retries (`Poster`).
    pub retry: RetryPolicy,
    /// Pause of a destination after a delivery gave up for now.
    pub pause: Duration,
    /// A row not delivered this long after it was queued fails for good.
    pub give_up_after: Duration,
    /// Proxy and trusted roots of the POSTs.
    pub network: crate::net::network::Network,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            retry: RetryPolicy::default(),
            pause: Duration::from_secs(30),
            give_up_after: Duration::from_secs(3600),
            network: crate::net::network::Network::system(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Forward(#[from] ForwardError),
}

/// The stable name of a destination in the database: kind, host and the
/// first 16 hex digits of SHA-256 of the URL (which cannot be recovered from
/// it). Editing the URL starts a new outbox.
pub fn destination_key(dest: &Destination) -> String {
    let digest = Sha256::digest(dest.url.expose().as_str().as_bytes());
    let hash = hex::encode(digest);
    format!("{}:{}:{}", dest.kind, dest.host(), &hash[..16])
}

/// How logs and `status` name a destination: kind and host only.
pub fn destination_name(dest: &Destination) -> String {
    format!("{} {}", dest.kind, dest.host())
}

/// What the pipeline needs to route events to one destination.
#[derive(Debug, Clone)]
pub struct Lane {
    pub key: String,
    pub kind: Kind,
    events: Vec<EventFilter>,
    min_urgency: u8,
    wake: Arc<Notify>,
}

impl Lane {
    /// Whether this destination wants the event: its `events` filters match
    /// and the urgency, when known, is at least `min_urgency` (an unknown
    /// urgency never hides an alert).
    pub fn wants(&self, kind: &str, action: &str, alert: Option<&Alert>) -> bool {
        self.events.iter().any(|f| f.matches(kind, action))
            && alert
                .and_then(Alert::urgency_value)
                .is_none_or(|u| u >= self.min_urgency)
    }

    /// Tells the worker new rows are queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

pub use crate::store::outbox::Queued;

/// A worker's change to its rows, applied by the writer thread.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// Rows left `sending` by a previous process fail for good.
    Recover {
        dest: String,
    },
    Sending {
        id: i64,
    },
    Sent {
        id: i64,
    },
    /// Back to the queue, with the error that made it wait.
    Retry {
        id: i64,
        error: String,
    },
    Failed {
        id: i64,
        error: String,
    },
}

/// Applies `change` on the store's writer thread, in its own transaction.
pub(crate) async fn submit(writer: &Writer, change: Change) -> Result<(), StoreError> {
    writer
        .apply(Box::new(move |tx| Ok(apply(tx, &change)?)))
        .await
}

use crate::store::outbox::now_unix;

pub(crate) fn apply(
    tx: &rusqlite::Transaction<'_>,
    change: &Change,
) -> Result<(), rusqlite::Error> {
    let now = now_unix();
    match change {
        Change::Recover { dest } => tx.execute(
            "UPDATE outbox SET state = 'failed', body = '', error_at = ?2,
               error = 'interrupted while sending (the process stopped); not sent again so it is never delivered twice'
             WHERE dest = ?1 AND state = 'sending'",
            params![dest, now],
        ),
        Change::Sending { id } => tx.execute(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?1",
            [id],
        ),
        // The body is not needed any more; the feed keeps the event.
        Change::Sent { id } => tx.execute(
            "UPDATE outbox SET state = 'sent', body = '', sent_at = ?2 WHERE id = ?1",
            params![id, now],
        ),
        Change::Retry { id, error } => tx.execute(
            "UPDATE outbox SET state = 'queued', error = ?2, error_at = ?3 WHERE id = ?1",
            params![id, error, now],
        ),
        Change::Failed { id, error } => tx.execute(
            "UPDATE outbox SET state = 'failed', body = '', error = ?2, error_at = ?3 WHERE id = ?1",
            params![id, error, now],
        ),
    }
    .map(|_| ())
}

/// One queued row.
struct Item {
    id: i64,
    body: String,
    queued_at: i64,
    error: Option<String>,
}

fn next_queued(conn: &Connection, dest: &str) -> Result<Option<Item>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, body, queued_at, error FROM outbox
             WHERE dest = ?1 AND state = 'queued' ORDER BY id LIMIT 1",
        )?
        .query_row([dest], |r| {
            Ok(Item {
                id: r.get(0)?,
                body: r.get(1)?,
                queued_at: r.get(2)?,
                error: r.get(3)?,
            })
        })
        .optional()?)
}

/// The running delivery workers, one per destination.
pub struct Forwarders {
    lanes: Vec<Lane>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Forwarders {
    /// Starts one worker per target on `store`. No targets, no workers.
    /// When a destination starts failing for good, `sinks` get one pop-up
    /// saying so (again only after a success).
    pub fn start(
        targets: &[ForwardTarget],
        store: &Store,
        config: &OutboxConfig,
        sinks: &[Arc<dyn Sink>],
    ) -> Result<Forwarders, OutboxError> {
        let (stop, stopped) = watch::channel(false);
        let mut lanes = Vec::new();
        let mut tasks = Vec::new();
        if targets.is_empty() {
            return Ok(Forwarders { lanes, stop, tasks });
        }
        let poster = Poster::with_network(config.retry.clone(), &config.network)?;
        for target in targets {
            let key = destination_key(&target.destination);
            // Two workers on one outbox could both send a row.
            if lanes.iter().any(|l: &Lane| l.key == key) {
                tracing::warn!(
                    destination = %destination_name(&target.destination),
                    "the same destination is configured twice; it is forwarded to once"
                );
                continue;
            }
            let lane = Lane {
                key,
                kind: target.destination.kind,
                events: target.events.clone(),
                min_urgency: target.min_urgency,
                wake: Arc::new(Notify::new()),
            };
            let worker = Worker {
                key: lane.key.clone(),
                name: destination_name(&target.destination),
                dest: target.destination.clone(),
                reads: store.reads(),
                writer: store.writer(),
                poster: poster.clone(),
                wake: Arc::clone(&lane.wake),
                config: config.clone(),
                stop: stopped.clone(),
                sinks: sinks.to_vec(),
                warned: false,
            };
            tracing::info!(destination = %worker.name, "forwarding enabled");
            tasks.push(tokio::spawn(worker.run()));
            lanes.push(lane);
        }
        Ok(Forwarders { lanes, stop, tasks })
    }

    /// What the pipeline routes to.
    pub fn lanes(&self) -> Vec<Lane> {
        self.lanes.clone()
    }

    /// Stops every worker. A delivery in flight gets a few seconds to end
    /// (and be recorded); after that it is abandoned: its row stays
    /// `sending` and is failed (not re-sent) at the next start.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "forward worker failed");
            }
        }
    }
}

struct Worker {
    key: String,
    name: String,
    dest: Destination,
    // A Mutex only to make the worker Sync; never held across an await.
    /// The outbox reads, on blocking threads.
    reads: crate::store::Reads,
    writer: Writer,
    poster: Poster,
    wake: Arc<Notify>,
    config: OutboxConfig,
    stop: watch::Receiver<bool>,
    /// Where a destination that fails for good is reported.
    sinks: Vec<Arc<dyn Sink>>,
    /// Reported since the last success.
    warned: bool,
}

/// What ends a worker's wait.
enum Woken {
    Work,
    Stop,
}

impl Worker {
    async fn run(mut self) {
        let recover = Change::Recover {
            dest: self.key.clone(),
        };
        if let Err(e) = submit(&self.writer, recover).await {
            tracing::error!(destination = %self.name, error = %e, "cannot recover the outbox");
        }
        loop {
            if *self.stop.borrow() {
                return;
            }
            let key = self.key.clone();
            let next = self.reads.run(move |r| next_queued(r.conn(), &key)).await;
            let woken = match next {
                Ok(Some(item)) => self.deliver(item).await,
                Ok(None) => self.idle(None).await,
                Err(e) => {
                    tracing::error!(destination = %self.name, error = %e, "cannot read the outbox");
                    self.idle(Some(self.config.pause)).await
                }
            };
            if let Woken::Stop = woken {
                return;
            }
        }
    }

    /// Waits for new rows (or `pause`), or the stop.
    async fn idle(&mut self, pause: Option<Duration>) -> Woken {
        let sleep = async {
            match pause {
                Some(p) => tokio::time::sleep(p).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = self.wake.notified(), if pause.is_none() => Woken::Work,
            () = sleep => Woken::Work,
            _ = self.stop.changed() => Woken::Stop,
        }
    }

    async fn change(&self, change: Change) -> bool {
        match submit(&self.writer, change).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(destination = %self.name, error = %e, "cannot update the outbox");
                false
            }
        }
    }

    async fn deliver(&mut self, item: Item) -> Woken {
        let age = Duration::from_secs(u64::try_from(now_unix() - item.queued_at).unwrap_or(0));
        if age > self.config.give_up_after {
            let last = item
                .error
                .unwrap_or_else(|| "it could not be sent".to_owned());
            let error = format!(
                "not delivered within {} s of being queued; last error: {last}",
                self.config.give_up_after.as_secs()
            );
            tracing::error!(destination = %self.name, %error, "forwarding gave up");
            self.fail(item.id, error).await;
            return Woken::Work;
        }
        let body: serde_json::Value = match serde_json::from_str(&item.body) {
            Ok(b) => b,
            Err(e) => {
                let error = format!("the queued body is not JSON ({e})");
                self.change(Change::Failed { id: item.id, error }).await;
                return Woken::Work;
            }
        };
        if !self.change(Change::Sending { id: item.id }).await {
            return self.idle(Some(self.config.pause)).await;
        }
        let (result, stopping) = {
            let delivery = self.poster.deliver(&self.dest, &body);
            tokio::pin!(delivery);
            tokio::select! {
                r = &mut delivery => (r, false),
                _ = self.stop.changed() => match tokio::time::timeout(STOP_GRACE, &mut delivery).await {
                    Ok(r) => (r, true),
                    // The row stays `sending`: failed, not re-sent, at the next start.
                    Err(_) => return Woken::Stop,
                },
            }
        };
        let pause = self.record(item.id, result).await;
        match (stopping, pause) {
            (true, _) => Woken::Stop,
            (false, true) => self.idle(Some(self.config.pause)).await,
            (false, false) => Woken::Work,
        }
    }

    /// Records how a delivery ended; true when the destination should pause
    /// (a transient give-up).
    async fn record(&mut self, id: i64, result: Result<(), ForwardError>) -> bool {
        match result {
            Ok(()) => {
                tracing::info!(destination = %self.name, "alert forwarded");
                self.change(Change::Sent { id }).await;
                self.warned = false;
                false
            }
            Err(e @ ForwardError::GaveUp { .. }) => {
                tracing::warn!(destination = %self.name, error = %e, pause_s = self.config.pause.as_secs(), "forwarding failed for now; the destination waits, then retries");
                let error = e.to_string();
                self.change(Change::Retry { id, error }).await;
                true
            }
            Err(e) => {
                if let ForwardError::Refused { kind, size, .. } = &e {
                    // Our message was refused: a bug to report, not a bad URL.
                    tracing::error!(destination = %self.name, %kind, size, error = %e, "the forwarded message was refused; this alert is not forwarded");
                } else {
                    tracing::error!(destination = %self.name, error = %e, "forwarding failed; this alert is not forwarded");
                }
                self.fail(id, e.to_string()).await;
                false
            }
        }
    }

    /// Fails a row for good and, the first time since a success, tells the
    /// user through the pop-up sinks.
    async fn fail(&mut self, id: i64, error: String) {
        self.change(Change::Failed {
            id,
            error: error.clone(),
        })
        .await;
        if std::mem::replace(&mut self.warned, true) {
            return;
        }
        let popup = Popup {
            kind: crate::deliver::notify::PopupKind::Notice,
            key: format!("forward-failed:{}", self.key),
            summary: format!("Forwarding to {} failed", self.name),
            lines: vec![
                error,
                "Alerts are still stored and shown here; `sekoia-notifierd status` shows each destination.".to_owned(),
            ],
            urgency: Urgency::Normal,
            link: None,
            ..Popup::default()
        };
        for sink in &self.sinks {
            if let Err(e) = sink.show(&popup).await {
                tracing::warn!(sink = sink.name(), error = %e, "pop-up not delivered");
            }
        }
    }
}

/// One destination's health, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DestinationStatus {
    /// Kind and host, never the URL.
    pub name: String,
    pub kind: Kind,
    pub host: String,
    /// Waiting to be sent (including one being retried).
    pub queued: i64,
    pub sent: i64,
    /// Given up for good.
    pub failed: i64,
    /// RFC 3339 UTC.
    pub last_success: Option<String>,
    pub last_failure: Option<Failure>,
    /// "failing" (the last outcome was a failure), "sending" (bodies wait and
    /// nothing failed since the last success), "ok" (all sent) or "idle"
    /// (nothing queued yet).
    pub health: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// RFC 3339 UTC.
    pub at: String,
    /// In words.
    pub error: String,
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Each target's outbox state, in config order.
pub fn status(
    reader: &Reader,
    targets: &[ForwardTarget],
) -> Result<Vec<DestinationStatus>, StoreError> {
    let conn = reader.connection();
    let mut out = Vec::with_capacity(targets.len());
    for target in targets {
        let dest = &target.destination;
        let key = destination_key(dest);
        let (queued, sent, failed, last_success): (i64, i64, i64, Option<i64>) = conn
            .prepare_cached(
                "SELECT COALESCE(SUM(state IN ('queued', 'sending')), 0),
                        COALESCE(SUM(state = 'sent'), 0),
                        COALESCE(SUM(state = 'failed'), 0),
                        MAX(sent_at)
                 FROM outbox WHERE dest = ?1",
            )?
            .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        let last_failure: Option<(i64, String)> = conn
            .prepare_cached(
                "SELECT error_at, error FROM outbox
                 WHERE dest = ?1 AND error_at IS NOT NULL ORDER BY error_at DESC, id DESC LIMIT 1",
            )?
            .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let failing = match (last_success, &last_failure) {
            (Some(ok), Some((bad, _))) => bad > &ok,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        let health = match (failing, queued, last_success) {
            (true, _, _) => "failing",
            (false, 1.., _) => "sending",
            (false, _, Some(_)) => "ok",
            (false, _, None) => "idle",
        };
        out.push(DestinationStatus {
            name: destination_name(dest),
            kind: dest.kind,
            host: dest.host(),
            queued,
            sent,
            failed,
            last_success: last_success.map(rfc3339),
            last_failure: last_failure.map(|(at, error)| Failure {
                at: rfc3339(at),
                error,
            }),
            health,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
