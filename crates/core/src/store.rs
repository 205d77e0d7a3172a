//! Stage 5, the store: everything durable, behind one writer thread. The
//! events, the feed's rows, the alert cache, gaps (`reach`), the forward
//! outbox rows (`outbox`), retention and checkpoints. Depends on the model
//! only (and `os` for private files): it knows no settings, policy or
//! HTTP; the feed's links come in as `model::link::Links`.
//!
//! Durable state in one SQLite file (WAL): received events, their read state
//! and, later, enrichment and pipeline cursors.
//!
//! All writes go through one writer thread that commits in groups: callers
//! hand an event to [`Writer::insert`] and get the answer only after the
//! transaction holding it is committed with `synchronous = FULL`. Reads use
//! their own connections ([`Reader`]). The schema is migrated with
//! `PRAGMA user_version`. This module knows nothing about HTTP.
//!
//! In detail: SQLite through rusqlite (bundled). One writer thread does every
//! write: it commits intake events in groups (`Writer::insert` resolves after
//! the commit that holds the event) and the pipeline's batch outcomes
//! (`Writer::record`: alert cache, enrichment failures, handled marks) in one
//! transaction each, so intake never waits on a lock held by someone else.
//! Other modules' small writes (health, gaps, the forward outbox) go through
//! `Writer::apply` (a closure run on the writer thread in its own transaction);
//! read marks through `Writer::mark_read`; every commit that changes the feed
//! bumps `Store::changes()` (the desktop app's live update). `Reader` serves
//! the feed (one row per subject: events grouped by `events.subject` and
//! `uuid`, led by the newest event that is not an occurrence or urgency update;
//! status, change, occurrences and comments read from the group; and named
//! cursors), `Ledger` the pipeline's reads; both are read-only connections from
//! a small pool (`Store::reader`, reused with their prepared statements;
//! `Reader::open` for another process takes the write lock only when the file
//! is absent or older, to create or migrate it once). `store/rows.rs`:
//! `feed_rows`, one line per subject (head, newest, status and occurrence event
//! ids, unread and comment counts) kept in the writer's transactions (each
//! INSERT into `events` is followed by `rows::add`; read marks and deletes
//! by triggers: an insert trigger made every intake INSERT carry a statement
//! journal, BENCHMARKS.md), so the feed reads the newest rows through an
//! index instead of grouping every event per call; `store/owed.rs`: `owed`, the
//! alerts whose enrichment is owed, kept by triggers (the pipeline's retry). `store/retention.rs`: `[store] keep_days` (default 90) in steps of
//! at most 50 events, each a writer transaction after the inserts queued with
//! it (whole old rows all read and not Pending with their cached alert or case,
//! then old read occurrence and urgency updates of rows that stay, orphan cache
//! rows, finished outbox rows; never unhandled events nor the newest event),
//! then `PRAGMA incremental_vacuum` steps (new files are created with
//! incremental auto-vacuum; an older file gets one VACUUM at open); the engine
//! runs a pass a minute after start and every 6 h. `store/checkpoint.rs`: the
//! writer's connection never checkpoints inside a commit (`wal_autocheckpoint =
//! 0`); after a round's answers are sent, past 2 MiB of WAL (a WAL hook
//! counts the pages), the writer runs one PASSIVE checkpoint (it completes:
//! no other writer) and the log starts over (small checkpoints keep the
//! intake's p99 short; a checkpoint thread was measured worse, see
//! BENCHMARKS.md). `Store::reads()` gives async code a cloneable `Reads` whose
//! `run`/`run_ledger` run reads with a pooled reader on tokio's blocking
//! threads. `Reader::footprint` is `status`'s size and row counts.
//! `store/catchup.rs`: caught-up alerts and cursors through the writer
//! (`Writer::catch_up`, `set_cursor`); an `alert:created` webhook for a
//! caught-up alert is a redelivery of that entry. Migrations through `PRAGMA
//! user_version`.

use crate::model::alert::Alert;
use crate::model::event::Event;
use crate::model::event::EventView;
use crate::model::kind::{Change, Facts, Subject};
use crate::model::link::Links;
use crate::model::urgency::urgency_word;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch, Notify};

/// The database file inside the data directory.
pub const DB_FILE: &str = "notifier.sqlite3";

/// Events waiting for the writer before intake answers "busy" (503).
const QUEUE_CAPACITY: usize = 4096;
/// Most events committed in one transaction.
const MAX_GROUP: usize = 512;
/// A group commit at least this long is logged (debug, target `store`).
const SLOW_COMMIT_MS: f64 = 20.0;

/// Schema migrations, applied in order; `user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    // 1: received events. `dedup_key` makes redelivery idempotent; `raw` is
    // the body as received, so later versions can re-read what we ignored.
    "CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        dedup_key   TEXT    NOT NULL UNIQUE,
        received_at TEXT    NOT NULL,
        kind        TEXT    NOT NULL,
        action      TEXT    NOT NULL,
        uuid        TEXT    NOT NULL,
        short_id    TEXT,
        version     INTEGER,
        created_at  TEXT,
        raw         TEXT    NOT NULL,
        deliveries  INTEGER NOT NULL DEFAULT 1,
        read        INTEGER NOT NULL DEFAULT 0
    ) STRICT;",
    // 2: pipeline state and enrichment. `handled` is set (before any pop-up
    // is shown) once the policy ran; `alerts` caches what the Alert API said.
    "ALTER TABLE events ADD COLUMN handled INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE events ADD COLUMN enrich_error TEXT;
     CREATE INDEX events_unhandled ON events (id) WHERE handled = 0;
     CREATE INDEX events_uuid ON events (uuid);
     CREATE TABLE alerts (
        uuid            TEXT PRIMARY KEY,
        short_id        TEXT,
        title           TEXT,
        urgency         INTEGER,
        urgency_display TEXT,
        status          TEXT,
        rule            TEXT,
        entity          TEXT,
        fetched_at      TEXT NOT NULL,
        raw             TEXT NOT NULL
     ) STRICT;",
    // 3 (health, gaps): the engine's last health snapshot (one row) for
    // `check` in another process; the reachability bookkeeping (one row: the
    // last heartbeat, and since when the listener has been unreachable from
    // outside, if it is); closed intervals without possible webhook delivery.
    // Times are unix seconds (UTC).
    "CREATE TABLE health (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        updated_at INTEGER NOT NULL,
        json       TEXT    NOT NULL
     ) STRICT;
     CREATE TABLE reach (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        beat       INTEGER NOT NULL,
        down_since INTEGER,
        reason     TEXT
     ) STRICT;
     CREATE TABLE gaps (
        id     INTEGER PRIMARY KEY,
        start  INTEGER NOT NULL,
        end    INTEGER NOT NULL,
        reason TEXT    NOT NULL
     ) STRICT;
     CREATE INDEX gaps_end ON gaps (end);",
    // 4 (catch-up): events added from the Alert API after a gap are marked
    // `caught_up`; `cursors` holds named positions such as the time up to
    // which the feed is known complete.
    "ALTER TABLE events ADD COLUMN caught_up INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE cursors (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
     ) STRICT;",
    // 5: the forward outbox (see `outbox`). `dest` names the destination
    // by kind, host and a hash of its URL, never the URL; times are unix
    // seconds. A (dest, event) pair is queued at most once.
    "CREATE TABLE outbox (
        id        INTEGER PRIMARY KEY,
        dest      TEXT    NOT NULL,
        event_id  INTEGER NOT NULL,
        body      TEXT    NOT NULL,
        state     TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
        queued_at INTEGER NOT NULL,
        attempts  INTEGER NOT NULL DEFAULT 0,
        sent_at   INTEGER,
        error     TEXT,
        error_at  INTEGER,
        UNIQUE (dest, event_id)
     ) STRICT;
     CREATE INDEX outbox_waiting ON outbox (dest, id) WHERE state IN ('queued', 'sending');",
    // 6 (direct mode): dedup keys carry the event time in canonical form
    // (`event::dedup_key`), so the LiveAPI and the webhook agree on it. No
    // schema change: `rekey` rewrites the stored keys right after this.
    "-- dedup keys re-written by store::rekey",
    // 7 (kinds): what each event is about and what it changed. `subject`
    // (alert, case, other) and `uuid` (now the subject's: a comment's alert)
    // group events into feed rows; `notification_uuid` (`metadata.uuid`)
    // decides identity when sent; `change` is `attributes.updated` as
    // canonical JSON, `change_kind` its `kind::Change::tag`. `cases` caches
    // the Case API. `store::rederive` fills the columns of rows stored before.
    "ALTER TABLE events ADD COLUMN subject TEXT NOT NULL DEFAULT 'other';
     ALTER TABLE events ADD COLUMN notification_uuid TEXT;
     ALTER TABLE events ADD COLUMN change TEXT;
     ALTER TABLE events ADD COLUMN change_kind TEXT;
     CREATE INDEX events_subject ON events (subject, uuid, id);
     CREATE TABLE cases (
        uuid             TEXT PRIMARY KEY,
        short_id         TEXT,
        title            TEXT,
        priority         TEXT,
        status           TEXT,
        number_of_alerts INTEGER,
        fetched_at       TEXT NOT NULL,
        raw              TEXT NOT NULL
     ) STRICT;",
    // 8 (durable catch-up): a gap is `filled` once a catch-up read the
    // Alert API over it (see `reach::pending`); the catch-up cursor never
    // passes an unfilled gap. Gaps recorded before were handled by the
    // in-memory rule of older versions.
    "ALTER TABLE gaps ADD COLUMN filled INTEGER NOT NULL DEFAULT 0;
     UPDATE gaps SET filled = 1;",
    // 9 (scale): the feed's rows and the owed enrichments kept ready by
    // triggers (see `rows`, `owed`); `rows::rebuild` and `owed::create`
    // fill them from the rows stored before.
    rows::MIGRATION,
    // 10 (intake speed, profiled in BENCHMARKS.md): `feed_rows` gets its
    // new rows from the writers (`rows::add`) instead of an insert trigger,
    // and one index on (uuid, subject, id) serves both the lookups by uuid
    // and those by subject and uuid: each index keyed by a random uuid
    // costs every new event a page of WAL (4 KiB).
    // The trigger made every intake INSERT a multi-table statement with a
    // statement journal (SQLite copies each page it first touches), which
    // doubled the writer's CPU per event.
    "DROP TRIGGER feed_rows_insert;
     DROP INDEX events_subject;
     DROP INDEX events_uuid;
     CREATE INDEX events_uuid ON events (uuid, subject, id);",
];

/// The migration after which stored dedup keys are rewritten.
const REKEY_AFTER: usize = 6;
/// The migration after which stored rows get their subject and change.
const REDERIVE_AFTER: usize = 7;
/// The migration after which the feed's rows are built from the events and
/// the owed enrichments listed (`rows`, `owed`).
const ROWS_AFTER: usize = 9;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {}: {cause}; check that the data directory is writable (--data-dir)", path.display())]
    Open {
        path: PathBuf,
        cause: Arc<rusqlite::Error>,
    },
    #[error("cannot create the data directory {}: {cause}; choose another with --data-dir", path.display())]
    DataDir {
        path: PathBuf,
        cause: Arc<std::io::Error>,
    },
    #[error("the data directory {} is not private: {why}; anyone who can write there chooses what this app reads. Make it yours with `chmod go-w` (or `chown`), or choose another with --data-dir", path.display())]
    OpenDataDir {
        path: PathBuf,
        why: crate::os::private::OpenDir,
    },
    #[error("the database {} was written by a newer version (schema {found}, this build knows {known}); upgrade Sekoia Notifier", path.display())]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("cannot start the store writer thread: {0}")]
    Thread(Arc<std::io::Error>),
    #[error("database error: {0}")]
    Sql(Arc<rusqlite::Error>),
    #[error("the store is busy: too many events are waiting to be written")]
    Busy,
    #[error("the store is shut down")]
    Closed,
    /// A read-only open found no file, or one this build must migrate
    /// first (handled inside the store; never returned to callers).
    #[error("the database needs creating or migrating")]
    Outdated,
}

impl StoreError {
    /// The database cannot be written now, whatever is written: the disk is
    /// full, another process holds the lock past [`BUSY_TIMEOUT`], the file
    /// is read-only or an I/O error. Intake answers these 503.
    pub fn is_refusal(&self) -> bool {
        let StoreError::Sql(e) = self else {
            return false;
        };
        matches!(
            e.sqlite_error_code(),
            Some(
                rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::SystemIoFailure
            )
        )
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sql(Arc::new(e))
    }
}

/// What happened to an inserted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// First delivery: a new row.
    New { id: i64 },
    /// Identical redelivery of an event already stored as `id`.
    Duplicate { id: i64 },
}

impl Stored {
    pub fn id(self) -> i64 {
        match self {
            Stored::New { id } | Stored::Duplicate { id } => id,
        }
    }
}

/// One feed row: a subject (an alert with its updates and comments, a case,
/// or one event about nothing we group by), as `sekoia-notifierd feed
/// --json` prints it and the desktop UI renders it. Fields not known yet are
/// `None` (JSON null).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedEntry {
    /// The id of the row's head event: its newest event that is not an
    /// occurrence or urgency update.
    pub id: i64,
    /// The head event's `type` (`alert`, `alert-comment`, `case`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    pub action: String,
    /// What the row is about: `alert`, `case`, or the event's own `type`
    /// for anything else (`content-proposal`, `notifier-test`, ...).
    #[serde(rename = "kind")]
    pub subject: String,
    /// The subject's uuid (`""` for an event that names none).
    pub uuid: String,
    pub short_id: Option<String>,
    /// When the head event arrived (RFC 3339).
    pub received_at: String,
    /// The alert's title (else its rule, else "Alert <short_id>" once
    /// enriched), or the case's title.
    pub title: Option<String>,
    pub urgency: Option<u8>,
    pub urgency_display: Option<String>,
    /// The band on the scale (`urgency::Band`, "low" to "urgent"): what the
    /// feed colours and filters by; null when the urgency is unknown.
    pub urgency_band: Option<crate::model::urgency::Band>,
    /// Status name: the newest status-change notification's, unless the
    /// Alert API said something later; a case's status.
    pub status: Option<String>,
    pub rule: Option<String>,
    pub entity: Option<String>,
    /// A case's priority.
    pub priority: Option<String>,
    /// The subject's page: alert or case page, or null.
    pub url: Option<String>,
    /// The newest change, in words ("status Acknowledged", "42
    /// occurrences", "new comment: …"), null for a row with only a creation.
    pub change: Option<String>,
    /// Occurrences (`similar`) as last reported, if any.
    pub occurrences: Option<u64>,
    /// Comment notifications received for this alert.
    pub comments: u64,
    pub enriched: bool,
    /// Why enrichment failed for good (unknown alert, key rejected), if it did.
    pub enrich_error: Option<String>,
    /// Every event of the row is read.
    pub read: bool,
    /// Added by a catch-up from the Alert API (the webhook never came).
    pub caught_up: bool,
    /// When the alert was raised (its `created_at`, RFC 3339), once enriched.
    pub alert_at: Option<String>,
    /// The alert's community uuid (`community_uuid`), once enriched.
    pub community: Option<String>,
}

enum Msg {
    Insert(Job),
    Record(Record),
    /// A write owned by another module (health, gaps), in its own transaction.
    Apply(Apply),
    /// Mark one alert's events (by uuid), or every event, as read.
    MarkRead {
        uuid: Option<String>,
        reply: oneshot::Sender<Result<usize, StoreError>>,
    },
    CatchUp(catchup::Job),
    /// A retention or vacuum step, after the inserts queued with it.
    Retain(retention::Job),
    /// Commit what is queued, refuse anything later, stop.
    Stop,
}

/// A pipeline batch's outcome (see [`Writer::record`]).
struct Record {
    alerts: Vec<Alert>,
    failed: Vec<(String, String)>,
    handled: Vec<i64>,
    /// Bodies to forward, queued with the handled marks.
    forward: Vec<outbox::Queued>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// A write another module hands the writer thread (see [`Writer::apply`]).
pub(crate) type Work = Box<dyn FnOnce(&rusqlite::Transaction<'_>) -> Result<(), StoreError> + Send>;

struct Apply {
    work: Work,
    /// The work changes what the feed shows (bump the change counter).
    feed: bool,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

struct Job {
    event: Event,
    reply: oneshot::Sender<Result<Stored, StoreError>>,
}

/// The store: owns the writer thread. Dropping it without [`Store::close`]
/// still lets the thread finish the queue, but nobody waits for it.
pub struct Store {
    path: PathBuf,
    /// Idle read-only connections, handed out again by [`Store::reader`].
    readers: Pool,
    tx: mpsc::Sender<Msg>,
    thread: JoinHandle<()>,
    new_events: Arc<Notify>,
    changes: watch::Receiver<u64>,
}

/// A cheap, cloneable handle that submits events to the writer.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl Store {
    /// Opens (creating and migrating if needed) the database in `data_dir`
    /// and starts the writer thread.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(DB_FILE);
        let conn = connect(&path)?;
        incremental_vacuum_from_now_on(&conn)?;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let new_events = Arc::new(Notify::new());
        let notify = Arc::clone(&new_events);
        let (changed, changes) = watch::channel(0);
        let checkpoints = checkpoint::Checkpoints::start(&conn)?;
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write_loop(conn, rx, &notify, &changed, checkpoints))
            .map_err(|e| StoreError::Thread(Arc::new(e)))?;
        Ok(Store {
            path,
            readers: Pool::default(),
            tx,
            thread,
            new_events,
            changes,
        })
    }

    /// Signalled after every commit that stored a new event.
    pub fn new_events(&self) -> Arc<Notify> {
        Arc::clone(&self.new_events)
    }

    /// A counter bumped after every commit that changed what the feed shows
    /// (new events, enrichment, read marks): the desktop shell's live update.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// The pipeline's read connection (its writes go through the writer).
    pub fn ledger(&self) -> Result<Ledger, StoreError> {
        Ok(Ledger {
            conn: self.pooled()?,
        })
    }

    /// An idle read-only connection from the pool, or a new one.
    fn pooled(&self) -> Result<Pooled, StoreError> {
        self.reads().pooled()
    }

    /// A cloneable handle for async code: reads on a blocking thread with a
    /// pooled reader ([`Reads::run`]).
    pub fn reads(&self) -> Reads {
        Reads {
            path: self.path.clone(),
            pool: Arc::clone(&self.readers),
        }
    }

    pub fn writer(&self) -> Writer {
        Writer {
            tx: self.tx.clone(),
        }
    }

    /// A read-only reader: an idle connection of the pool (its prepared
    /// statements kept), or a new one; it goes back to the pool on drop.
    /// Never migrates (that happened once, in [`Store::open`]).
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Ok(Reader {
            conn: self.pooled()?,
        })
    }

    /// Stops the writer after it has committed everything already queued.
    /// Inserts through writers still held elsewhere then fail with
    /// [`StoreError::Closed`].
    pub async fn close(self) {
        let Store { tx, thread, .. } = self;
        // An error means the thread is already gone; joining tells.
        let _ = tx.send(Msg::Stop).await;
        drop(tx);
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(())) => {}
            _ => tracing::error!("the store writer thread panicked"),
        }
    }
}

impl Writer {
    /// Stores an event and returns once the transaction holding it is
    /// committed. Fails fast with [`StoreError::Busy`] when the queue is full.
    pub async fn insert(&self, event: Event) -> Result<Stored, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Msg::Insert(Job { event, reply }))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::Busy,
                mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
            })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Like [`Writer::insert`], but waits for room in a full queue instead
    /// of failing: for a source that has no way to answer "busy" (the
    /// LiveAPI has no acknowledgement).
    pub async fn insert_waiting(&self, event: Event) -> Result<Stored, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Insert(Job { event, reply }))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Records a pipeline batch's outcome in one transaction: alerts from
    /// the API (keyed by their uuid); for uuids that failed for good, why;
    /// and the events now handled. The pipeline calls it before showing the
    /// batch's pop-ups, so a crash can cost pop-ups but never repeat one.
    /// It goes through the writer thread like every other write, so intake
    /// never waits on a lock held by the pipeline.
    pub async fn record(
        &self,
        alerts: Vec<Alert>,
        failed: Vec<(String, String)>,
        handled: Vec<i64>,
    ) -> Result<(), StoreError> {
        self.record_forwarding(alerts, failed, handled, Vec::new())
            .await
    }

    /// Caches cases from the Case API (keyed by their uuid; one without is
    /// skipped), in its own transaction.
    pub async fn cache_cases(
        &self,
        cases: Vec<crate::model::alert::Case>,
    ) -> Result<(), StoreError> {
        self.apply_to_feed(Box::new(move |tx| save_cases(tx, &cases)))
            .await
    }

    /// [`Writer::record`] that also queues `forward` bodies in the same
    /// transaction, so an event is queued for its destinations exactly when
    /// it is marked handled.
    pub async fn record_forwarding(
        &self,
        alerts: Vec<Alert>,
        failed: Vec<(String, String)>,
        handled: Vec<i64>,
        forward: Vec<outbox::Queued>,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let record = Record {
            alerts,
            failed,
            handled,
            forward,
            reply,
        };
        self.tx
            .send(Msg::Record(record))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `work` on the writer thread in its own transaction and returns
    /// once it is committed. For the small writes of other modules (health,
    /// gaps), so that only this thread ever writes.
    pub(crate) async fn apply(&self, work: Work) -> Result<(), StoreError> {
        self.apply_with(work, false).await
    }

    /// Like [`Writer::apply`], for work that changes what the feed shows
    /// (such as removing the engine's own probe events).
    pub(crate) async fn apply_to_feed(&self, work: Work) -> Result<(), StoreError> {
        self.apply_with(work, true).await
    }

    async fn apply_with(&self, work: Work, feed: bool) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Apply(Apply { work, feed, reply }))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Marks the events of the alert `uuid` as read, or every event when
    /// `uuid` is `None`; returns how many changed.
    pub async fn mark_read(&self, uuid: Option<String>) -> Result<usize, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::MarkRead { uuid, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

#[cfg(test)]
impl Store {
    /// The whole feed (up to 10,000 entries) with default settings.
    pub(crate) fn feed_for_tests(&self) -> Vec<FeedEntry> {
        self.reader()
            .and_then(|r| r.feed(10_000, &crate::settings::Settings::default()))
            .expect("feed")
    }
}

#[cfg(test)]
impl Writer {
    /// A writer whose queue (of `capacity`) nobody drains, and the queue:
    /// backpressure tests fill it.
    pub(crate) fn stalled(capacity: usize) -> (Writer, impl Sized) {
        let (tx, rx) = mpsc::channel::<Msg>(capacity);
        (Writer { tx }, rx)
    }
}

fn write_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Msg>,
    new_events: &Notify,
    changed: &watch::Sender<u64>,
    mut checkpoints: Option<checkpoint::Checkpoints>,
) {
    let bump = || changed.send_modify(|n| *n = n.wrapping_add(1));
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut records = Vec::new();
    let mut applies = Vec::new();
    let mut catchups = Vec::new();
    let mut retains = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Insert(job) => group.push(job),
                Msg::Record(record) => records.push(record),
                Msg::Apply(apply) => applies.push(apply),
                Msg::MarkRead { uuid, reply } => {
                    let marked = in_transaction(&mut conn, |tx| mark_read(tx, uuid.as_deref()));
                    if matches!(marked, Ok(n) if n > 0) {
                        bump();
                    }
                    let _ = reply.send(marked);
                }
                Msg::CatchUp(job) => catchups.push(job),
                Msg::Retain(job) => retains.push(job),
                // Senders now fail; what is queued is still drained.
                Msg::Stop => rx.close(),
            }
            if group.len() < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        for Apply { work, feed, reply } in applies.drain(..) {
            let done = in_transaction(&mut conn, work);
            if feed && done.is_ok() {
                bump();
            }
            let _ = reply.send(done);
        }
        for job in catchups.drain(..) {
            let result = in_transaction(&mut conn, |tx| catchup::apply(tx, &job));
            if let Err(e) = &result {
                tracing::error!(error = %e, "recording caught-up alerts failed");
            }
            if result.is_ok() {
                bump();
            }
            let _ = job.reply.send(result);
        }
        if !records.is_empty() || !group.is_empty() {
            let (started, events) = (std::time::Instant::now(), group.len());
            commit_group(&mut conn, &mut records, &mut group, new_events, &bump);
            // The timing behind BENCHMARKS.md's "tail" analysis: the
            // commits that held intake answers longest.
            let ms = started.elapsed().as_secs_f64() * 1e3;
            if ms >= SLOW_COMMIT_MS {
                tracing::debug!(target: "store", ms, events, "slow group commit");
            }
        }
        // Maintenance last: the inserts that came with it do not wait on it.
        for job in retains.drain(..) {
            let changed = retention::apply(&mut conn, job);
            if changed {
                bump();
            }
        }
        // Every answer of this round is sent: a checkpoint now holds none.
        if let Some(c) = checkpoints.as_mut() {
            c.after_commits(&conn);
        }
    }
}

/// Commits the pipeline records and the inserts gathered, in one
/// transaction when both succeed, and answers each caller.
fn commit_group(
    conn: &mut Connection,
    records: &mut Vec<Record>,
    group: &mut Vec<Job>,
    new_events: &Notify,
    bump: &impl Fn(),
) {
    // One transaction (one fsync) for both; if it fails, each side is
    // tried alone so one side's error cannot sink the other.
    let (recorded, inserted) = match write_both(conn, records, group) {
        Ok(results) => (Ok(()), Ok(results)),
        // The file refuses every write now (full, locked, read-only):
        // trying each side again would only wait the lock twice more.
        Err(e) if e.is_refusal() => (Err(e.clone()), Err(e)),
        Err(_) => (
            in_transaction(conn, |tx| apply_records(tx, records)),
            in_transaction(conn, |tx| insert_group(tx, group)),
        ),
    };
    if let Err(e) = &recorded {
        tracing::error!(error = %e, "recording pipeline outcomes failed");
    }
    if recorded.is_ok() && !records.is_empty() {
        bump();
    }
    for record in records.drain(..) {
        let _ = record.reply.send(recorded.clone());
    }
    match inserted {
        Ok(results) => {
            if results.iter().any(|r| matches!(r, Stored::New { .. })) {
                new_events.notify_one();
                bump();
            }
            for (job, stored) in group.drain(..).zip(results) {
                // The caller may have gone (client hung up); the event is
                // stored all the same.
                let _ = job.reply.send(Ok(stored));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, events = group.len(), "group commit failed");
            for job in group.drain(..) {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

fn write_both(
    conn: &mut Connection,
    records: &[Record],
    group: &[Job],
) -> Result<Vec<Stored>, StoreError> {
    in_transaction(conn, |tx| {
        apply_records(tx, records)?;
        insert_group(tx, group)
    })
}

fn in_transaction<T>(
    conn: &mut Connection,
    work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    // IMMEDIATE: the write lock is taken at BEGIN, where SQLite calls the
    // busy handler; a deferred transaction that read first gets SQLITE_BUSY
    // at once when another process holds the lock (the wait was skipped).
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let value = work(&tx)?;
    tx.commit()?;
    Ok(value)
}

/// Caches alerts from the API, keyed by their uuid (an alert without one is skipped).
fn save_alerts(tx: &rusqlite::Transaction<'_>, alerts: &[Alert]) -> Result<(), StoreError> {
    let fetched_at = now_rfc3339();
    let mut save = tx.prepare_cached(
        "INSERT INTO alerts (uuid, short_id, title, urgency, urgency_display, status, rule, entity, fetched_at, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (uuid) DO UPDATE SET short_id = ?2, title = ?3, urgency = ?4,
           urgency_display = ?5, status = ?6, rule = ?7, entity = ?8, fetched_at = ?9, raw = ?10",
    )?;
    for a in alerts {
        let Some(uuid) = &a.uuid else { continue };
        let raw = serde_json::to_string(a).unwrap_or_else(|_| "{}".to_owned());
        save.execute(params![
            uuid,
            a.short_id,
            a.title,
            a.urgency_value(),
            a.urgency.as_ref().and_then(|u| u.display.clone()),
            a.status.as_ref().and_then(|n| n.name.clone()),
            a.rule.as_ref().and_then(|n| n.name.clone()),
            a.entity.as_ref().and_then(|n| n.name.clone()),
            fetched_at,
            raw
        ])?;
    }
    Ok(())
}

fn save_cases(
    tx: &rusqlite::Transaction<'_>,
    cases: &[crate::model::alert::Case],
) -> Result<(), StoreError> {
    let fetched_at = now_rfc3339();
    let mut save = tx.prepare_cached(
        "INSERT INTO cases (uuid, short_id, title, priority, status, number_of_alerts, fetched_at, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (uuid) DO UPDATE SET short_id = ?2, title = ?3, priority = ?4, status = ?5,
           number_of_alerts = ?6, fetched_at = ?7, raw = ?8",
    )?;
    for c in cases {
        let Some(uuid) = &c.uuid else { continue };
        let raw = serde_json::to_string(c).unwrap_or_else(|_| "{}".to_owned());
        let alerts = c.number_of_alerts.and_then(|n| i64::try_from(n).ok());
        save.execute(params![
            uuid, c.short_id, c.title, c.priority, c.status, alerts, fetched_at, raw
        ])?;
    }
    Ok(())
}

fn apply_records(tx: &rusqlite::Transaction<'_>, records: &[Record]) -> Result<(), StoreError> {
    {
        let mut fail = tx.prepare_cached(
            "UPDATE events SET enrich_error = ?2 WHERE uuid = ?1 AND subject = 'alert'",
        )?;
        let mut mark = tx.prepare_cached("UPDATE events SET handled = 1 WHERE id = ?1")?;
        for record in records {
            save_alerts(tx, &record.alerts)?;
            for (uuid, reason) in &record.failed {
                fail.execute(params![uuid, reason])?;
            }
            for id in &record.handled {
                mark.execute([id])?;
            }
            outbox::enqueue(tx, &record.forward)?;
        }
    }
    Ok(())
}

/// "Mark all read" (through the `events_unread` index).
const MARK_ALL_READ: &str = "UPDATE events SET read = 1 WHERE read = 0";

fn mark_read(tx: &rusqlite::Transaction<'_>, uuid: Option<&str>) -> Result<usize, StoreError> {
    Ok(match uuid {
        Some(uuid) => tx.execute(
            "UPDATE events SET read = 1 WHERE uuid = ?1 AND uuid != '' AND read = 0",
            [uuid],
        )?,
        None => tx.execute(MARK_ALL_READ, [])?,
    })
}

fn insert_group(tx: &rusqlite::Transaction<'_>, group: &[Job]) -> Result<Vec<Stored>, StoreError> {
    let received_at = now_rfc3339();
    let mut results = Vec::with_capacity(group.len());
    {
        // Plain INSERT OR IGNORE keeps the common case (a new event) to one
        // cheap statement; a redelivery then costs one UPDATE.
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO events (dedup_key, received_at, kind, action, uuid, short_id, version,
                 created_at, raw, subject, notification_uuid, change, change_kind)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?;
        let mut redelivered = tx.prepare_cached(
            "UPDATE events SET deliveries = deliveries + 1 WHERE dedup_key = ?1 RETURNING id",
        )?;
        for job in group {
            let e = &job.event;
            // The webhook of an alert a catch-up already added, arriving late.
            if let Some(id) = catchup::late_webhook(tx, e)? {
                results.push(Stored::Duplicate { id });
                continue;
            }
            let key = e.dedup_key();
            let change_kind = e.updated.as_deref().map(|u| Change::parse(u).tag());
            let inserted = insert.execute(params![
                key,
                received_at,
                e.kind,
                e.action,
                e.uuid,
                e.short_id,
                e.version,
                e.created_at,
                e.raw,
                e.subject.as_str(),
                e.notification_uuid,
                e.updated,
                change_kind
            ])?;
            results.push(if inserted == 1 {
                let id = tx.last_insert_rowid();
                rows::add(tx, &rows::NewEvent::of(id, e, change_kind, false))?;
                Stored::New { id }
            } else {
                Stored::Duplicate {
                    id: redelivered.query_row([key], |row| row.get(0))?,
                }
            });
        }
    }
    Ok(results)
}

fn now_rfc3339() -> String {
    // Formatting a current UTC time as RFC 3339 cannot fail; keep a fallback
    // rather than a panic all the same.
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Event totals for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub stored: i64,
    /// Not handled by the pipeline yet.
    pub waiting: i64,
    /// When the newest event arrived (RFC 3339), if any did.
    pub last_received: Option<String>,
}

/// The store on disk (`status`): sizes in bytes, rows per table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// The database file (pages in use and free).
    pub file_bytes: u64,
    /// Free pages inside the file, not yet given back.
    pub free_bytes: u64,
    /// The write-ahead log beside it (reset by checkpoints).
    pub wal_bytes: u64,
    pub events: i64,
    /// Feed rows (subjects).
    pub rows: i64,
    /// Cached alerts (the Alert API's answers).
    pub alerts: i64,
    pub cases: i64,
    /// Forward outbox rows, sent, queued or failed.
    pub forwards: i64,
}

/// [`Reader::feed`]'s query: the rows come ready from `feed_rows` (kept by
/// triggers), the newest `?1` through its `head` index, then one lookup
/// each.
const FEED: &str = "WITH g AS (SELECT * FROM feed_rows ORDER BY head DESC LIMIT ?1)
             SELECT h.id, h.kind, h.action, h.subject, h.uuid, g.short_id, h.received_at, g.unread,
                    a.uuid IS NOT NULL, a.short_id, a.raw, a.urgency, a.urgency_display, a.status,
                    a.rule, a.entity, a.fetched_at,
                    c.uuid IS NOT NULL, c.short_id, c.title, c.priority, c.status,
                    h.enrich_error, h.caught_up, g.comments,
                    l.kind, l.action, l.short_id, l.change, l.raw,
                    s.change, s.received_at, o.change
             FROM g JOIN events h ON h.id = g.head
             JOIN events l ON l.id = g.last
             LEFT JOIN events s ON s.id = g.status_id
             LEFT JOIN events o ON o.id = g.occ_id
             LEFT JOIN alerts a ON h.subject = 'alert' AND h.uuid != '' AND a.uuid = h.uuid
             LEFT JOIN cases c ON h.subject = 'case' AND h.uuid != '' AND c.uuid = h.uuid
             ORDER BY g.head DESC";
/// [`Reader::unread`]'s query.
const UNREAD: &str = "SELECT COUNT(*) FROM feed_rows r JOIN events h ON h.id = r.head
    WHERE r.unread > 0 AND h.kind <> ?1";

/// Read access: the feed and the queries the shells need.
pub struct Reader {
    conn: Pooled,
}

impl Reader {
    /// The connection, for other modules' read queries (`outbox::status`).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Opens a read-only reader on the database in `data_dir` (for another
    /// process than the store's: the CLI, a self-test). The write lock is
    /// taken only when the file is absent or older than this build: it is
    /// then created or migrated once, as [`Store::open`] does.
    pub fn open(data_dir: &Path) -> Result<Reader, StoreError> {
        // The same check of the directory as a writing open: what is read
        // there must be ours.
        create_data_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let conn = match open_read_only(&path) {
            Ok(conn) => conn,
            Err(StoreError::Outdated) => {
                drop(connect(&path)?);
                open_read_only(&path)?
            }
            Err(e) => return Err(e),
        };
        Ok(Reader {
            conn: Pooled::alone(conn),
        })
    }

    /// The newest `limit` feed rows, newest first: one per subject, ordered
    /// by the subject's newest event that is not an occurrence or urgency
    /// update (those change a row, they do not move it).
    /// Links are built by `links` (`&Settings` gives the configured app's).
    pub fn feed(
        &self,
        limit: usize,
        links: impl Into<Links>,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        let links = links.into();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(FEED)?;
        let rows = stmt.query_map([limit], |row| {
            let subject = Subject::from_stored(&row.get::<_, String>(3)?);
            let kind: String = row.get(1)?;
            let alert: Option<Alert> = row
                .get::<_, Option<String>>(10)?
                .and_then(|raw| serde_json::from_str(&raw).ok());
            let case_known: bool = row.get(17)?;
            let short_id: Option<String> = row
                .get::<_, Option<String>>(9)?
                .or(row.get(18)?)
                .or(row.get(5)?);
            let urgency: Option<u8> = row
                .get::<_, Option<i64>>(11)?
                .and_then(|u| u8::try_from(u).ok());
            let display: Option<String> = row.get(12)?;
            // The newest status notification wins over an older API answer.
            let status = shown_status(
                row.get(30)?,
                row.get(31)?,
                row.get::<_, Option<String>>(13)?.or(row.get(21)?),
                row.get(16)?,
            );
            let latest = Facts::read(
                &row.get::<_, String>(25)?,
                &row.get::<_, String>(26)?,
                row.get::<_, Option<String>>(27)?.as_deref(),
                row.get::<_, Option<String>>(28)?.as_deref(),
                &row.get::<_, String>(29)?,
            );
            let occurrences = row
                .get::<_, Option<String>>(32)?
                .and_then(|c| match Change::parse(&c) {
                    Change::Occurrences(n) => Some(n),
                    _ => None,
                })
                .or_else(|| alert.as_ref().and_then(|a| a.similar));
            let title = match subject {
                Subject::Alert => alert
                    .as_ref()
                    .map(|a| crate::model::kind::alert_title(Some(a), short_id.as_deref())),
                Subject::Case => row
                    .get::<_, Option<String>>(19)?
                    .or_else(|| latest.title.clone()),
                Subject::Other => None,
            };
            Ok(FeedEntry {
                id: row.get(0)?,
                action: row.get(2)?,
                subject: match subject {
                    Subject::Other => kind.clone(),
                    s => s.as_str().to_owned(),
                },
                kind,
                uuid: row.get(4)?,
                url: short_id
                    .as_deref()
                    .and_then(|s| links.subject_url(subject, s))
                    .map(String::from),
                short_id,
                received_at: row.get(6)?,
                title,
                urgency,
                urgency_band: crate::model::urgency::Band::rate(urgency, display.as_deref()),
                urgency_display: display.or_else(|| urgency.map(|u| urgency_word(u).to_owned())),
                status,
                rule: row.get(14)?,
                entity: row.get(15)?,
                priority: row
                    .get::<_, Option<String>>(20)?
                    .or(latest.priority.clone()),
                change: latest.change_text(None),
                occurrences,
                comments: u64::try_from(row.get::<_, i64>(24)?).unwrap_or(0),
                enriched: row.get::<_, bool>(8)? || case_known,
                enrich_error: row
                    .get::<_, Option<String>>(22)?
                    .map(|e| crate::model::kind::EnrichFailure::word_stored(&e)),
                // A test alert is never unread: it is not an alert.
                read: row.get::<_, i64>(7)? == 0 || kind_is_test(row.get_ref(1)?),
                caught_up: row.get(23)?,
                alert_at: alert
                    .as_ref()
                    .and_then(|a| a.created_at)
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    }),
                community: alert.and_then(|a| a.community_uuid),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many events are stored, and how many wait for the pipeline.
    pub fn counts(&self) -> Result<Counts, StoreError> {
        // Three index lookups and one count: no pass over every row's data.
        Ok(self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM events),
                    (SELECT COUNT(*) FROM events WHERE handled = 0),
                    (SELECT received_at FROM events ORDER BY id DESC LIMIT 1)",
            [],
            |r| {
                Ok(Counts {
                    stored: r.get(0)?,
                    waiting: r.get(1)?,
                    last_received: r.get(2)?,
                })
            },
        )?)
    }

    /// The store's size on disk and its row counts, for `status`.
    pub fn footprint(&self) -> Result<Footprint, StoreError> {
        let pragma = |name: &str| -> Result<i64, StoreError> {
            Ok(self.conn.pragma_query_value(None, name, |r| r.get(0))?)
        };
        let page = pragma("page_size")?;
        let wal_bytes = self
            .conn
            .path()
            .and_then(|p| std::fs::metadata(format!("{p}-wal")).ok())
            .map_or(0, |m| m.len());
        let count = |table: &str| -> Result<i64, StoreError> {
            Ok(self
                .conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
        };
        let bytes = |pages: i64| u64::try_from(pages.saturating_mul(page)).unwrap_or(0);
        Ok(Footprint {
            file_bytes: bytes(pragma("page_count")?),
            free_bytes: bytes(pragma("freelist_count")?),
            wal_bytes,
            events: count("events")?,
            rows: count("feed_rows")?,
            alerts: count("alerts")?,
            cases: count("cases")?,
            forwards: count("outbox")?,
        })
    }

    /// How many feed rows (subjects) have an unread event. Test alerts
    /// never count.
    pub fn unread(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row(UNREAD, [crate::model::test_event::TEST_TYPE], |row| {
                row.get(0)
            })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether an event about `uuid` is stored.
    pub fn has_event(&self, uuid: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM events WHERE uuid = ?1 LIMIT 1",
                [uuid],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The connection, for the read queries of other modules (health, gaps).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// How many times the event `id` was delivered (1 for no redelivery).
    pub fn deliveries(&self, id: i64) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT deliveries FROM events WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

/// The status a row shows: the newest status-change notification's
/// (`change`, received at `status_at`), unless the API's answer (`cached`,
/// fetched at `fetched_at`) is as new or newer. Times are RFC 3339 as stored.
fn shown_status(
    change: Option<String>,
    status_at: Option<String>,
    cached: Option<String>,
    fetched_at: Option<String>,
) -> Option<String> {
    let notified = change.and_then(|c| match Change::parse(&c) {
        Change::Status { name } => name,
        _ => None,
    });
    match (notified, cached) {
        (Some(_), Some(c)) if status_at <= fetched_at => Some(c),
        (Some(e), _) => Some(e),
        (None, c) => c,
    }
}

/// Creates the data directory (private to the user) if it is missing.
fn create_data_dir(path: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    let io = |e| StoreError::DataDir {
        path: path.to_owned(),
        cause: Arc::new(e),
    };
    builder.create(path).map_err(io)?;
    crate::os::private::check_dir(path)
        .map_err(io)?
        .map_err(|why| StoreError::OpenDataDir {
            path: path.to_owned(),
            why,
        })
}

/// Whether a feed row's `kind` column is the self-test's.
fn kind_is_test(kind: rusqlite::types::ValueRef<'_>) -> bool {
    kind.as_str()
        .is_ok_and(|k| k == crate::model::test_event::TEST_TYPE)
}

/// [`Ledger::unhandled`]'s query (through the `events_unhandled` index).
const UNHANDLED: &str = "SELECT id, kind, action, uuid, short_id, subject, change,
        CASE WHEN kind IN ('alert-comment', 'case') THEN raw END
    FROM events WHERE handled = 0 ORDER BY id LIMIT ?1";
/// [`Ledger::is_unread`]'s query: the alert's feed row (one lookup, however
/// many updates the alert had).
const IS_UNREAD: &str = "SELECT 1 FROM feed_rows WHERE key = 'alert:' || ?1 AND unread > 0";

/// The pipeline's read view: events not yet handled, enrichment owed, the
/// alert cache. (Its writes go through [`Writer::record`].)
pub struct Ledger {
    conn: Pooled,
}

impl Ledger {
    /// Events the pipeline has not handled yet, oldest first.
    pub fn unhandled(&self, limit: usize) -> Result<Vec<EventView>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(UNHANDLED)?;
        let rows = stmt.query_map([limit], |row| {
            let kind: String = row.get(1)?;
            let action: String = row.get(2)?;
            let short_id: Option<String> = row.get(4)?;
            let facts = Facts::read(
                &kind,
                &action,
                short_id.as_deref(),
                row.get::<_, Option<String>>(6)?.as_deref(),
                row.get::<_, Option<String>>(7)?.as_deref().unwrap_or("{}"),
            );
            Ok(EventView {
                id: row.get(0)?,
                kind,
                action,
                uuid: row.get(3)?,
                short_id,
                subject: Subject::from_stored(&row.get::<_, String>(5)?),
                facts,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Alert uuids whose events were handled without enrichment and without
    /// a final error: enrichment is still owed.
    pub fn unenriched(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Kept ready by triggers (`owed`): one indexed read.
        let mut stmt = self.conn.prepare_cached(owed::OWED)?;
        let rows = stmt.query_map([limit], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether an event of alert `uuid` is still unread in the feed (a
    /// reminder is owed only while it is).
    pub fn is_unread(&self, uuid: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(IS_UNREAD)?
            .query_row([uuid], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The cached alert, if enrichment got it.
    pub fn alert(&self, uuid: &str) -> Result<Option<Alert>, StoreError> {
        // Cached: the pipeline asks once per alert event, and preparing the
        // statement each time was most of its CPU under a flood.
        let raw: Option<String> = self
            .conn
            .prepare_cached("SELECT raw FROM alerts WHERE uuid = ?1")?
            .query_row([uuid], |r| r.get(0))
            .optional()?;
        // The cache holds our own serialization; an unreadable row is
        // treated as absent and fetched again.
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }
}

/// Creates the database file readable by its owner only (0600) when it is
/// absent, and narrows an existing one to 0600 by path. SQLite gives the
/// `-wal` and `-shm` files the database's mode. An existing file is never
/// opened here: closing any descriptor of a database file drops every POSIX
/// lock this process holds on it, and with them SQLite's locking. A failure
/// (a read-only file system) is logged: opening then says what is wrong.
fn make_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let narrowed = match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map(drop)
                .or_else(|e| match e.kind() {
                    // Another process created it first; SQLite opens it.
                    std::io::ErrorKind::AlreadyExists => Ok(()),
                    _ => Err(e),
                }),
            Err(e) => Err(e),
        };
        if let Err(e) = narrowed {
            tracing::warn!(path = %path.display(), error = %e, "cannot make the database private (0600)");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// How long a write waits for a lock another connection or process holds
/// before the store refuses it (intake then answers 503).
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// SQLite's busy handler: `true` to try again. Time is measured from the
/// first try of this wait (`tries == 0`), per thread (one connection each).
fn busy_wait(tries: i32) -> bool {
    thread_local! {
        static SINCE: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    }
    let now = std::time::Instant::now();
    let since = SINCE.with(|since| {
        if tries == 0 || since.get().is_none() {
            since.set(Some(now));
        }
        since.get().unwrap_or(now)
    });
    if now.duration_since(since) >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_micros(250));
    true
}

/// Turns incremental auto-vacuum on in a file created before it was the
/// default: one full VACUUM, once, before the writer starts (a store of
/// 100,000 events takes about a second). New files have it from the start.
fn incremental_vacuum_from_now_on(conn: &Connection) -> Result<(), StoreError> {
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))?;
    if mode == 2 {
        return Ok(());
    }
    let started = std::time::Instant::now();
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.execute_batch("VACUUM")?;
    tracing::info!(target: "store", ms = started.elapsed().as_millis() as u64,
        "the store now gives back the space retention frees (one-time VACUUM)");
    Ok(())
}

/// Read access for async code: SQLite calls block (a busy handler may
/// sleep up to [`BUSY_TIMEOUT`]), so [`Reads::run`] runs them on tokio's
/// blocking threads, never on an async worker. Cheap to clone; shares the
/// store's pool of read-only connections.
#[derive(Clone)]
pub struct Reads {
    path: PathBuf,
    pool: Pool,
}

impl Reads {
    /// Runs `read` with a pooled [`Reader`] on a blocking thread.
    /// [`StoreError::Closed`] if the runtime is shutting down.
    pub async fn run<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
    {
        let reads = self.clone();
        tokio::task::spawn_blocking(move || {
            let reader = Reader {
                conn: reads.pooled()?,
            };
            read(&reader)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Like [`Reads::run`], with the pipeline's [`Ledger`].
    pub async fn run_ledger<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Ledger) -> Result<T, StoreError> + Send + 'static,
    {
        let reads = self.clone();
        tokio::task::spawn_blocking(move || {
            let ledger = Ledger {
                conn: reads.pooled()?,
            };
            read(&ledger)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    fn pooled(&self) -> Result<Pooled, StoreError> {
        let idle = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_read_only(&self.path)?,
        };
        Ok(Pooled {
            conn: Some(conn),
            home: Some(Arc::clone(&self.pool)),
        })
    }
}

/// Idle read-only connections of one store.
type Pool = Arc<std::sync::Mutex<Vec<Connection>>>;

/// Most idle connections a pool keeps; more are closed when dropped.
const POOL_IDLE: usize = 4;

/// A read-only connection that goes back to its pool when dropped.
struct Pooled {
    /// Always `Some` until dropped.
    conn: Option<Connection>,
    home: Option<Pool>,
}

impl Pooled {
    /// A connection that belongs to no pool (closed on drop).
    fn alone(conn: Connection) -> Pooled {
        Pooled {
            conn: Some(conn),
            home: None,
        }
    }
}

impl std::ops::Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Set at construction, taken only in `drop`.
        self.conn
            .as_ref()
            .expect("a pooled connection is held until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let (Some(conn), Some(home)) = (self.conn.take(), self.home.take()) else {
            return;
        };
        let mut idle = home
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < POOL_IDLE {
            idle.push(conn);
        }
    }
}

/// Opens a read-only connection on a database at this build's schema:
/// no write lock, no migration. [`StoreError::Outdated`] when the file is
/// absent or older (the caller creates or migrates it first).
fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    let open_err = |e: rusqlite::Error| StoreError::Open {
        path: path.to_owned(),
        cause: Arc::new(e),
    };
    if !path.exists() {
        return Err(StoreError::Outdated);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    conn.busy_handler(Some(busy_wait)).map_err(open_err)?;
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(open_err)?;
    let known = MIGRATIONS.len() as i64;
    if found > known {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    if found < known {
        return Err(StoreError::Outdated);
    }
    Ok(conn)
}

/// Opens a connection with our pragmas and brings the schema up to date.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        create_data_dir(dir)?;
    }
    let open_err = |e: rusqlite::Error| StoreError::Open {
        path: path.to_owned(),
        cause: Arc::new(e),
    };
    make_private(path);
    let mut conn = Connection::open(path).map_err(open_err)?;
    // The writer thread and the pipeline write to the same file. SQLite's
    // default busy handler sleeps up to 100 ms between tries, which stalls
    // intake behind a short pipeline commit; poll every 250 µs instead, for
    // at most BUSY_TIMEOUT by the clock (a count of sleeps is several times
    // longer on a loaded machine).
    conn.busy_handler(Some(busy_wait)).map_err(open_err)?;
    // WAL lets readers run beside the writer; FULL makes every commit
    // survive power loss, not only a crash of this process.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    // A new file gets incremental auto-vacuum before its first table (the
    // only moment it can be set without a VACUUM): retention then gives
    // freed pages back to the file system (`retention::vacuum`).
    let fresh: bool =
        conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM sqlite_master)", [], |r| {
            r.get(0)
        })?;
    if fresh {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    // IMMEDIATE takes the write lock first, so two processes opening a new
    // database at once do not both try to create it.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > known {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: current,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        if i + 1 == REKEY_AFTER {
            rekey(&tx)?;
        }
        if i + 1 == REDERIVE_AFTER {
            rederive(&tx)?;
        }
        if i + 1 == ROWS_AFTER {
            rows::rebuild(&tx)?;
            owed::create(&tx)?;
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// Rewrites every stored dedup key in the current form. A row whose new
/// key another row already holds (the same event stored twice under two
/// spellings of its time) keeps its old key: nothing is merged or lost.
fn rekey(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let rows: Vec<(i64, String, String, String, String, Option<String>)> = {
        let mut stmt = tx.prepare(
            "SELECT id, dedup_key, kind, action, uuid, created_at FROM events WHERE created_at IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut update = tx.prepare("UPDATE OR IGNORE events SET dedup_key = ?1 WHERE id = ?2")?;
    for (id, old, kind, action, uuid, created_at) in rows {
        let key = crate::model::event::dedup_key(&kind, &action, &uuid, created_at.as_deref());
        if key != old {
            update.execute(params![key, id])?;
        }
    }
    Ok(())
}

/// Reads every stored body again with the current model (`Event::parse`):
/// its subject (a comment is about its alert), notification id, change and
/// dedup key. Rows a catch-up added (their body is ours) are alerts. A row
/// whose new key another row holds keeps its old one: nothing is merged or
/// lost.
fn rederive(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    // Only an unknown alert is a final enrichment failure now: the others
    // (a rejected key, an outage, an unreadable answer) become owed again.
    tx.execute(
        "UPDATE events SET enrich_error = CASE WHEN enrich_error LIKE '%(404)%' THEN ?1 ELSE NULL END
         WHERE enrich_error IS NOT NULL",
        [crate::model::kind::EnrichFailure::UnknownAlert.code()],
    )?;
    tx.execute(
        "UPDATE events SET subject = 'alert' WHERE caught_up = 1",
        [],
    )?;
    let rows: Vec<(i64, String, String, String)> = {
        let mut stmt =
            tx.prepare("SELECT id, dedup_key, raw, kind FROM events WHERE caught_up = 0")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut update = tx.prepare(
        "UPDATE events SET subject = ?2, uuid = COALESCE(NULLIF(?3, ''), uuid), short_id = COALESCE(?4, short_id),
             notification_uuid = ?5, change = ?6, change_kind = ?7 WHERE id = ?1",
    )?;
    let mut rekey = tx.prepare("UPDATE OR IGNORE events SET dedup_key = ?1 WHERE id = ?2")?;
    for (id, old, raw, kind) in rows {
        let Ok(e) = Event::parse(raw.as_bytes()) else {
            continue;
        };
        // The stored type decides the subject (old rows of ours may hold a
        // body that does not repeat it).
        update.execute(params![
            id,
            crate::model::kind::subject(&kind).as_str(),
            e.uuid,
            e.short_id,
            e.notification_uuid,
            e.updated,
            e.updated.as_deref().map(|u| Change::parse(u).tag())
        ])?;
        let key = e.dedup_key();
        if key != old {
            rekey.execute(params![key, id])?;
        }
    }
    Ok(())
}

mod catchup;
pub use catchup::Fill;
mod checkpoint;
pub mod outbox;
mod owed;
pub mod reach;
pub mod retention;
mod rows;
/// For writers of `events` outside the store (the large-store benchmark's
/// generator): each row they insert goes through [`add_feed_row`].
pub use rows::{add as add_feed_row, NewEvent};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn event(uuid: &str, created_at: &str) -> Event {
        let body = format!(
            r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{uuid}","short_id":"AL{uuid}"}},"metadata":{{"version":2,"created_at":"{created_at}"}}}}"#
        );
        Event::parse(body.as_bytes()).unwrap()
    }

    fn settings() -> Settings {
        Settings::default()
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_database_and_its_wal_are_private_even_when_created_loose() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let loose = dir.path().join(DB_FILE);
        std::fs::write(&loose, b"").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.writer().insert(event("a1", "t1")).await.unwrap();
        for name in [DB_FILE, "notifier.sqlite3-wal", "notifier.sqlite3-shm"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
        }
        store.close().await;
        let fresh = tempfile::tempdir().unwrap();
        let store = Store::open(fresh.path()).unwrap();
        let mode = std::fs::metadata(fresh.path().join(DB_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        store.close().await;
    }

    #[tokio::test]
    async fn redelivered_event_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = store.writer();
        let first = w.insert(event("a1", "t1")).await.unwrap();
        let again = w.insert(event("a1", "t1")).await.unwrap();
        let other = w.insert(event("a1", "t2")).await.unwrap();
        assert!(matches!(first, Stored::New { .. }));
        assert_eq!(again, Stored::Duplicate { id: first.id() });
        assert!(matches!(other, Stored::New { .. }));
        let reader = store.reader().unwrap();
        // Two events about one alert: one feed row, led by the newer.
        let feed = reader.feed(10, &settings()).unwrap();
        assert_eq!(feed.len(), 1);
        assert_eq!(feed[0].id, other.id());
        assert_eq!(reader.counts().unwrap().stored, 2);
        assert_eq!(reader.deliveries(first.id()).unwrap(), Some(2));
        store.close().await;
    }

    #[tokio::test]
    async fn readers_are_read_only_pooled_and_reused_off_the_async_threads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.writer().insert(event("a1", "t1")).await.unwrap();
        let reads = store.reads();
        let counted = reads.run(|r| r.counts()).await.unwrap();
        assert_eq!(counted.stored, 1);
        // The connection went back to the pool and comes out again.
        assert_eq!(store.readers.lock().unwrap().len(), 1);
        let reader = store.reader().unwrap();
        assert!(
            store.readers.lock().unwrap().is_empty(),
            "reused, not opened"
        );
        let write = reader.conn.execute("DELETE FROM events", []);
        assert!(write.is_err(), "a reader cannot write: {write:?}");
        drop(reader);
        let owed = reads.run_ledger(|l| l.unenriched(10)).await.unwrap();
        assert!(owed.is_empty(), "handled by nobody yet");
        store.close().await;
    }

    #[tokio::test]
    async fn events_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.writer().insert(event("a1", "t1")).await.unwrap();
        store.writer().insert(event("a2", "t1")).await.unwrap();
        store.close().await;

        let store = Store::open(dir.path()).unwrap();
        let feed = store.reader().unwrap().feed(10, &settings()).unwrap();
        let uuids: Vec<_> = feed.iter().map(|e| e.uuid.as_str()).collect();
        assert_eq!(uuids, ["a2", "a1"], "newest first");
        // A redelivery after the restart is still recognised.
        let again = store.writer().insert(event("a1", "t1")).await.unwrap();
        assert!(matches!(again, Stored::Duplicate { .. }));
        store.close().await;
    }

    fn real(v: serde_json::Value) -> Event {
        Event::parse(v.to_string().as_bytes()).unwrap()
    }

    const ALERT: &str = "b81d4f27-6c3e-4a95-8f20-1e7c9d3b5a46";
    const CASE: &str = "e9d1b3c5-8e0a-4f2b-9c4d-6e7f80910213";
    const ACKNOWLEDGED: &str = "8f206505-af6d-433e-93f4-775d46dc7d0f";

    /// The query plan of `sql`, one line per step (`EXPLAIN QUERY PLAN`).
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let count = stmt.parameter_count();
        let params: Vec<rusqlite::types::Value> = (0..count).map(|_| 1_i64.into()).collect();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    /// Asserts that `sql` uses every index in `uses`, reads no table
    /// whole and sorts nothing in a temporary tree: its cost does not grow
    /// with the number of stored events.
    pub(super) fn assert_plan(conn: &Connection, sql: &str, uses: &[&str]) {
        let plan = plan(conn, sql);
        for index in uses {
            assert!(plan.contains(index), "{index} unused:\n{plan}\n{sql}");
        }
        for line in plan.lines() {
            let whole = line.starts_with("SCAN ")
                && !line.contains(" USING ")
                && !matches!(line, "SCAN g" | "SCAN CONSTANT ROW");
            assert!(!whole, "a full scan: {line}\n{plan}\n{sql}");
            assert!(
                !line.contains("TEMP B-TREE"),
                "a sort: {line}\n{plan}\n{sql}"
            );
        }
    }

    #[test]
    fn the_feed_and_pipeline_queries_read_through_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let reader = Reader::open(dir.path()).unwrap();
        let conn = &reader.conn;
        assert_plan(conn, FEED, &["SCAN feed_rows USING INDEX feed_rows_head"]);
        assert!(!plan(conn, FEED).contains("SCAN events"));
        assert_plan(conn, UNREAD, &["USING INDEX feed_rows_unread"]);
        assert_plan(conn, UNHANDLED, &["USING INDEX events_unhandled"]);
        assert_plan(
            conn,
            IS_UNREAD,
            &["SEARCH feed_rows USING INDEX sqlite_autoindex_feed_rows_1 (key=?)"],
        );
        assert_plan(conn, owed::OWED, &["USING INDEX owed_since"]);
        assert_plan(
            conn,
            "SELECT raw FROM alerts WHERE uuid = ?1",
            &["(uuid=?)"],
        );
        assert_plan(
            conn,
            catchup::LATE_WEBHOOK,
            &["USING INDEX events_uuid (uuid=?)"],
        );
        assert_plan(conn, MARK_ALL_READ, &["events_unread"]);
        // A subject's newest event (feed_rows' delete trigger, retention).
        assert_plan(
            conn,
            "SELECT id FROM events WHERE subject = 'alert' AND uuid = ?1 ORDER BY id DESC LIMIT 1",
            &["USING COVERING INDEX events_uuid (uuid=? AND subject=?)"],
        );
    }

    #[test]
    fn the_bundled_sqlite_has_the_fixes_of_3_49_1_and_3_50_2() {
        assert!(
            rusqlite::version_number() >= 3_050_002,
            "SQLite {} predates 3.50.2",
            rusqlite::version()
        );
    }

    #[tokio::test]
    async fn an_alerts_updates_and_comments_make_one_row_and_a_case_its_own() {
        use fake_sekoia::notification as n;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = store.writer();
        w.insert(real(n::alert_created(ALERT, "ALm4Rt8Kx2Pq")))
            .await
            .unwrap();
        for i in 1..=3 {
            w.insert(real(n::occurrences(ALERT, "ALm4Rt8Kx2Pq", i)))
                .await
                .unwrap();
        }
        let status = n::status_changed(ALERT, "ALm4Rt8Kx2Pq", ACKNOWLEDGED, "Acknowledged");
        w.insert(real(status.clone())).await.unwrap();
        // The same status notification again (webhook + LiveAPI): one entry.
        let twin = w.insert(real(status)).await.unwrap();
        assert!(matches!(twin, Stored::Duplicate { .. }));
        let comment = n::comment_created(
            "c6a8e0f2-5b7d-4c9e-8f1a-3b4c5d6e7f80",
            ALERT,
            "ALm4Rt8Kx2Pq",
            "Host isolated.",
        );
        w.insert(real(comment)).await.unwrap();
        w.insert(real(n::occurrences(ALERT, "ALm4Rt8Kx2Pq", 4)))
            .await
            .unwrap();
        w.insert(real(n::case(
            "created",
            CASE,
            "CAr7Ws2Kp9Lm",
            "Credential theft",
            "high",
        )))
        .await
        .unwrap();
        let proposal = w.insert(real(n::content_proposal())).await.unwrap();
        assert!(matches!(proposal, Stored::New { .. }));

        let reader = store.reader().unwrap();
        assert_eq!(reader.counts().unwrap().stored, 9);
        let feed = reader.feed(10, &settings()).unwrap();
        let kinds: Vec<&str> = feed.iter().map(|e| e.subject.as_str()).collect();
        assert_eq!(kinds, ["content-proposal", "case", "alert"], "{feed:#?}");
        let proposal = &feed[0];
        assert_eq!(
            (proposal.url.as_deref(), proposal.uuid.as_str()),
            (None, "")
        );
        let case = &feed[1];
        assert_eq!(case.title.as_deref(), Some("Credential theft"));
        assert_eq!(case.priority.as_deref(), Some("high"));
        assert_eq!(
            case.url.as_deref(),
            Some("https://app.sekoia.io/operations/cases/CAr7Ws2Kp9Lm")
        );
        let alert = &feed[2];
        // The comment leads the row (the later occurrence does not move it),
        // the newest change is the occurrence, the status is the status
        // notification's.
        assert_eq!(alert.kind, "alert-comment");
        assert_eq!(alert.status.as_deref(), Some("Acknowledged"));
        assert_eq!(alert.occurrences, Some(4));
        assert_eq!(alert.comments, 1);
        assert_eq!(alert.change.as_deref(), Some("4 occurrences"));
        assert_eq!(
            alert.url.as_deref(),
            Some("https://app.sekoia.io/operations/alerts/ALm4Rt8Kx2Pq")
        );
        assert_eq!(reader.unread().unwrap(), 3);
        assert_eq!(w.mark_read(Some(ALERT.into())).await.unwrap(), 7);
        assert_eq!(reader.unread().unwrap(), 2);
        // An event naming no subject is never marked read by an empty uuid.
        assert_eq!(w.mark_read(Some(String::new())).await.unwrap(), 0);
        store.close().await;
    }

    /// `feed_rows` is kept by the writers since migration 10: after each way
    /// an event is stored (webhook, redelivery, updates, status, comment,
    /// case, an event about nothing, catch-up, late webhook, read marks),
    /// it equals a regrouping of every event from scratch.
    #[tokio::test]
    async fn every_way_of_storing_an_event_keeps_its_feed_row() {
        use fake_sekoia::notification as n;
        let parse = |v: serde_json::Value| Event::parse(v.to_string().as_bytes()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = store.writer();
        let reader = store.reader().unwrap();
        let check = || rows::assert_consistent(&reader.conn);
        let created = parse(n::alert_created(ALERT, "ALm4Rt8Kx2Pq"));
        w.insert(created.clone()).await.unwrap();
        check();
        assert!(matches!(
            w.insert(created).await.unwrap(),
            Stored::Duplicate { .. }
        ));
        check();
        for k in 1..=3 {
            w.insert(parse(n::occurrences(ALERT, "ALm4Rt8Kx2Pq", k)))
                .await
                .unwrap();
        }
        check();
        let status = n::status_changed(ALERT, "ALm4Rt8Kx2Pq", ACKNOWLEDGED, "Acknowledged");
        w.insert(parse(status)).await.unwrap();
        let comment = n::comment_created(
            "c6a8e0f2-5b7d-4c9e-8f1a-3b4c5d6e7f80",
            ALERT,
            "ALm4Rt8Kx2Pq",
            "Host isolated.",
        );
        w.insert(parse(comment)).await.unwrap();
        w.insert(parse(n::case(
            "created",
            "5e1f0c2a-0000-4000-8000-00000000ca5e",
            "CAx",
            "Case",
            "high",
        )))
        .await
        .unwrap();
        // Two events naming no subject: a row each.
        w.insert(parse(n::content_proposal())).await.unwrap();
        w.insert(parse(
            serde_json::json!({"type": "other", "action": "x", "metadata": {"created_at": 2}}),
        ))
        .await
        .unwrap();
        check();
        let caught: Alert = serde_json::from_value(fake_sekoia::alert_json(
            "b2c3d4e5-0000-4000-8000-000000000002",
            "ALcaught",
            "Caught",
            40,
        ))
        .unwrap();
        assert_eq!(w.catch_up(vec![caught], None).await.unwrap(), [0]);
        check();
        // The webhook of the caught-up alert, late: counted, not stored.
        let late = parse(n::alert_created(
            "b2c3d4e5-0000-4000-8000-000000000002",
            "ALcaught",
        ));
        assert!(matches!(
            w.insert(late).await.unwrap(),
            Stored::Duplicate { .. }
        ));
        check();
        assert!(w.mark_read(Some(ALERT.into())).await.unwrap() > 0);
        check();
        assert_eq!(reader.feed(50, &settings()).unwrap().len(), 5);
        store.close().await;
        // The insert trigger is gone: a second count would show above.
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let triggers: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            !triggers.iter().any(|t| t == "feed_rows_insert"),
            "{triggers:?}"
        );
    }

    /// A store at version 9 (the insert trigger) moves to 10 without
    /// counting an event twice.
    #[tokio::test]
    async fn a_version_9_database_drops_the_insert_trigger_and_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            let tx = conn.transaction().unwrap();
            for (i, sql) in MIGRATIONS[..9].iter().enumerate() {
                tx.execute_batch(sql).unwrap();
                if i + 1 == ROWS_AFTER {
                    rows::rebuild(&tx).unwrap();
                    owed::create(&tx).unwrap();
                }
            }
            tx.pragma_update(None, "user_version", 9).unwrap();
            tx.commit().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        store.writer().insert(event("a9", "t1")).await.unwrap();
        let reader = store.reader().unwrap();
        rows::assert_consistent(&reader.conn);
        assert_eq!(reader.unread().unwrap(), 1);
        store.close().await;
    }

    #[tokio::test]
    async fn a_version_6_database_gets_subjects_and_keeps_recognising_redeliveries() {
        use fake_sekoia::notification as n;
        let dir = tempfile::tempdir().unwrap();
        let comment = n::comment_created(
            "c6a8e0f2-5b7d-4c9e-8f1a-3b4c5d6e7f80",
            ALERT,
            "ALm4Rt8Kx2Pq",
            "Host isolated.",
        );
        let status = n::status_changed(ALERT, "ALm4Rt8Kx2Pq", ACKNOWLEDGED, "Acknowledged");
        {
            let mut conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..6] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 6).unwrap();
            // As version 6 stored them: keyed on attributes.uuid, a comment
            // under its own uuid.
            for body in [&comment, &status] {
                let raw = body.to_string();
                let key = crate::model::event::dedup_key(
                    body["type"].as_str().unwrap(),
                    body["action"].as_str().unwrap(),
                    body["attributes"]["uuid"].as_str().unwrap(),
                    body["metadata"]["created_at"].as_str(),
                );
                // Version 6 stored every enrichment failure as final.
                tx.execute(
                    "INSERT INTO events (dedup_key, received_at, kind, action, uuid, raw, handled, enrich_error)
                     VALUES (?1, '2026-11-20T08:00:00Z', ?2, ?3, ?4, ?5, 1,
                             'Sekoia.io rejected the API key: it expired')",
                    params![
                        key,
                        body["type"].as_str(),
                        body["action"].as_str(),
                        body["attributes"]["uuid"].as_str(),
                        raw
                    ],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let w = store.writer();
        // Redeliveries of both, now keyed on metadata.uuid: still duplicates.
        assert!(matches!(
            w.insert(real(comment)).await.unwrap(),
            Stored::Duplicate { .. }
        ));
        assert!(matches!(
            w.insert(real(status)).await.unwrap(),
            Stored::Duplicate { .. }
        ));
        let feed = store.reader().unwrap().feed(10, &settings()).unwrap();
        assert_eq!(feed.len(), 1, "the comment joined its alert: {feed:#?}");
        assert_eq!(feed[0].uuid, ALERT);
        assert_eq!(feed[0].comments, 1);
        assert_eq!(feed[0].status.as_deref(), Some("Acknowledged"));
        // A rejected key is no longer final: the alert is owed again.
        assert_eq!(feed[0].enrich_error, None);
        assert_eq!(store.ledger().unwrap().unenriched(10).unwrap(), [ALERT]);
        store.close().await;
    }

    #[tokio::test]
    async fn concurrent_inserts_are_grouped_and_all_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut tasks = Vec::new();
        for i in 0..300 {
            let w = store.writer();
            tasks.push(tokio::spawn(async move {
                w.insert(event(&format!("u{i}"), "t")).await
            }));
        }
        for t in tasks {
            assert!(matches!(t.await.unwrap().unwrap(), Stored::New { .. }));
        }
        let feed = store.reader().unwrap().feed(1000, &settings()).unwrap();
        assert_eq!(feed.len(), 300);
        store.close().await;
    }

    #[test]
    fn empty_file_is_migrated_to_the_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
        let reader = Reader::open(dir.path()).unwrap();
        let version: i64 = reader
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = reader
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(reader.feed(10, &settings()).unwrap().is_empty());
    }

    /// Before migration 6 a key held the event time as written; an event
    /// stored then with an RFC 3339 time must still be recognised when the
    /// same event arrives again (by webhook or LiveAPI) after the upgrade.
    #[tokio::test]
    async fn a_version_5_database_is_rekeyed_so_a_redelivery_is_still_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        {
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..5] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 5).unwrap();
            tx.commit().unwrap();
        }
        let old = event("u-rfc", "2024-11-29T10:00:00Z");
        let old_key = "alert\u{1f}created\u{1f}u-rfc\u{1f}2024-11-29T10:00:00Z";
        conn.execute(
            "INSERT INTO events (dedup_key, received_at, kind, action, uuid, created_at, raw)
             VALUES (?1, '2026-01-01T00:00:00Z', 'alert', 'created', 'u-rfc', '2024-11-29T10:00:00Z', ?2)",
            params![old_key, old.raw],
        )
        .unwrap();
        drop(conn);
        let store = Store::open(dir.path()).unwrap();
        let again = store
            .writer()
            .insert(event("u-rfc", "1732874400"))
            .await
            .unwrap();
        assert!(matches!(again, Stored::Duplicate { .. }), "{again:?}");
        assert_eq!(
            store.reader().unwrap().feed(10, &settings()).unwrap().len(),
            1
        );
        store.close().await;
    }

    #[test]
    fn a_version_1_database_is_migrated_keeping_its_events() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO events (dedup_key, received_at, kind, action, uuid, raw)
             VALUES ('k', '2026-01-01T00:00:00Z', 'alert', 'created', 'u-old', '{}')",
            [],
        )
        .unwrap();
        drop(conn);
        let store = Store::open(dir.path()).unwrap();
        let pending = store.ledger().unwrap().unhandled(10).unwrap();
        assert_eq!(
            pending.len(),
            1,
            "the old event is waiting for the pipeline"
        );
        assert_eq!(pending[0].uuid, "u-old");
        let feed = store.reader().unwrap().feed(10, &settings()).unwrap();
        assert!(!feed[0].enriched);
    }

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Reader::open(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
        assert!(err.to_string().contains("newer version"));
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_open_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DB_FILE), vec![0x42; 8192]).unwrap();
        let err = Reader::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains(DB_FILE), "{err}");
    }

    #[tokio::test]
    async fn read_marks_apply_per_alert_or_to_all_and_signal_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut changes = store.changes();
        let w = store.writer();
        w.insert(event("a", "t1")).await.unwrap();
        w.insert(event("a", "t2")).await.unwrap();
        w.insert(event("b", "t1")).await.unwrap();
        assert!(changes.has_changed().unwrap(), "a new event is a change");
        changes.borrow_and_update();
        let reader = store.reader().unwrap();
        assert_eq!(reader.unread().unwrap(), 2, "two alerts, three events");

        assert_eq!(w.mark_read(Some("a".into())).await.unwrap(), 2);
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        assert_eq!(reader.unread().unwrap(), 1);
        let feed = reader.feed(10, &settings()).unwrap();
        let read: Vec<(&str, bool)> = feed.iter().map(|e| (e.uuid.as_str(), e.read)).collect();
        assert_eq!(read, [("b", false), ("a", true)], "one row per alert");

        assert_eq!(w.mark_read(Some("a".into())).await.unwrap(), 0);
        assert!(
            !changes.has_changed().unwrap(),
            "nothing changed, no signal"
        );
        assert_eq!(w.mark_read(None).await.unwrap(), 1);
        assert_eq!(reader.unread().unwrap(), 0);
        store.close().await;
    }

    #[tokio::test]
    async fn feed_entries_carry_the_alert_url_only_for_safe_short_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let hostile = Event::parse(
            br#"{"type":"alert","action":"created","attributes":{"uuid":"u","short_id":"../../evil"}}"#,
        )
        .unwrap();
        store.writer().insert(event("ok", "t")).await.unwrap();
        store.writer().insert(hostile).await.unwrap();
        let feed = store.reader().unwrap().feed(10, &settings()).unwrap();
        assert_eq!(feed[0].url, None);
        assert_eq!(
            feed[1].url.as_deref(),
            Some("https://app.sekoia.io/operations/alerts/ALok")
        );
        store.close().await;
    }
}
