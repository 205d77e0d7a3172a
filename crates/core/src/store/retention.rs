//! Retention (`[store] keep_days`): removes the feed rows, cached alerts
//! and cases and finished forwards older than the cut, in small steps on the
//! writer thread (each its own short transaction, queued like any write, so
//! intake commits go between them), then gives the freed pages back to the
//! file system (`PRAGMA incremental_vacuum`, a few hundred pages a step).
//!
//! What stays regardless of age: a row with an unread event, an alert whose
//! status is Pending (the feed's status rule, [`super::shown_status`]),
//! events the pipeline has not handled, and the newest event (its id is
//! never reused). Inside a row that stays, old read occurrence and urgency
//! updates go, except the ones the row shows (its newest, its occurrence
//! count). Each step commits on its own: a stop or crash mid-pass loses
//! nothing, the next pass goes on. Knows nothing of when passes run (that
//! is [`run`]'s caller) or of HTTP.

use super::{shown_status, Msg, StoreError, Writer};
use rusqlite::{params, OptionalExtension, Transaction};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// Most events one step removes: a step then takes a few milliseconds
/// (BENCHMARKS.md, "large store"), the most an intake commit waits behind it.
pub const EVENTS_PER_STEP: i64 = 50;
/// Most events one step of the quiet-update phase looks at.
const SCAN_PER_STEP: i64 = 2_000;
/// Most cache or outbox rows one step looks at.
const ROWS_PER_STEP: i64 = 1_000;
/// Pages (4 KiB) one vacuum step gives back.
pub const PAGES_PER_STEP: i64 = 32;

/// Where a pass is: the phase and its cursor. Steps carry it back and forth;
/// it lives in memory only (a restart begins a new pass, which skips what
/// the last one removed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    phase: Phase,
    /// Phase cursor: a `feed_rows.last`, an event id, a rowid, an outbox id.
    after: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    /// Whole feed rows whose newest event is older than the cut.
    #[default]
    Rows,
    /// Old read occurrence and urgency updates inside rows that stay.
    Quiet,
    /// Cached alerts no event names any more.
    Alerts,
    /// Cached cases no event names any more.
    Cases,
    /// Sent and failed forwards.
    Outbox,
    Done,
}

/// What a pass (or a step) removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    pub events: u64,
    pub alerts: u64,
    pub cases: u64,
    pub outbox: u64,
}

impl Removed {
    fn add(&mut self, other: Removed) {
        self.events += other.events;
        self.alerts += other.alerts;
        self.cases += other.cases;
        self.outbox += other.outbox;
    }
}

/// One step's answer.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub progress: Progress,
    pub removed: Removed,
}

impl Step {
    pub fn done(&self) -> bool {
        self.progress.phase == Phase::Done
    }
}

pub(super) enum Job {
    Step {
        cutoff: OffsetDateTime,
        progress: Progress,
        reply: oneshot::Sender<Result<Step, StoreError>>,
    },
    /// Give back up to `pages` free pages; answers the free pages left.
    Vacuum {
        pages: i64,
        reply: oneshot::Sender<Result<i64, StoreError>>,
    },
}

impl Writer {
    /// Runs one retention step: removes up to [`EVENTS_PER_STEP`] events
    /// received before `cutoff` (and cache and outbox rows in later phases)
    /// in one transaction. Start with `Progress::default()`; pass the
    /// returned progress to the next step until [`Step::done`].
    pub async fn retain_step(
        &self,
        cutoff: OffsetDateTime,
        progress: Progress,
    ) -> Result<Step, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Step {
            cutoff,
            progress,
            reply,
        };
        self.tx
            .send(Msg::Retain(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Gives up to `pages` free pages back to the file system; returns how
    /// many free pages are left.
    pub async fn vacuum_step(&self, pages: i64) -> Result<i64, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Retain(Job::Vacuum { pages, reply }))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// One whole pass: steps until done, `pace` apart (the writer serves
/// intake between steps whatever the pace; the pause leaves the disk to
/// it), then vacuum steps until no free page is left.
pub async fn pass(
    writer: &Writer,
    cutoff: OffsetDateTime,
    pace: Duration,
) -> Result<Removed, StoreError> {
    let mut progress = Progress::default();
    let mut removed = Removed::default();
    loop {
        let step = writer.retain_step(cutoff, progress).await?;
        removed.add(step.removed);
        progress = step.progress;
        if step.done() {
            break;
        }
        tokio::time::sleep(pace).await;
    }
    while writer.vacuum_step(PAGES_PER_STEP).await? > 0 {
        tokio::time::sleep(pace).await;
    }
    Ok(removed)
}

/// How often [`run`] starts a pass.
pub const EVERY: Duration = Duration::from_secs(6 * 3600);
/// The pause between steps of [`run`]'s passes.
pub const PACE: Duration = Duration::from_millis(20);

/// Runs a pass `first` after the call, then every [`EVERY`], with the cut
/// `keep_days` before the pass's start; `keep_days = 0` returns at once.
/// Ends when the store closes. A failed pass is logged; the next one
/// goes on from where the data are.
pub async fn run(writer: Writer, keep_days: u32, first: Duration) {
    if keep_days == 0 {
        return;
    }
    let keep = time::Duration::days(i64::from(keep_days));
    tokio::time::sleep(first).await;
    loop {
        let started = std::time::Instant::now();
        let cutoff = OffsetDateTime::now_utc() - keep;
        match pass(&writer, cutoff, PACE).await {
            Ok(removed) => tracing::info!(
                target: "store",
                events = removed.events,
                alerts = removed.alerts,
                cases = removed.cases,
                forwards = removed.outbox,
                ms = started.elapsed().as_millis() as u64,
                keep_days,
                "retention pass done"
            ),
            Err(StoreError::Closed) => return,
            Err(e) => {
                tracing::warn!(target: "store", error = %e, "retention pass failed; the next one retries")
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Runs a job on the writer thread (each in its own transaction); `true`
/// when events went (the feed changed).
pub(super) fn apply(conn: &mut rusqlite::Connection, job: Job) -> bool {
    match job {
        Job::Step {
            cutoff,
            progress,
            reply,
        } => {
            let result = super::in_transaction(conn, |tx| step(tx, cutoff, progress));
            if let Err(e) = &result {
                tracing::warn!(target: "store", error = %e, "a retention step failed");
            }
            let changed = matches!(&result, Ok(s) if s.removed.events > 0);
            let _ = reply.send(result);
            changed
        }
        Job::Vacuum { pages, reply } => {
            let _ = reply.send(vacuum(conn, pages));
            false
        }
    }
}

fn vacuum(conn: &rusqlite::Connection, pages: i64) -> Result<i64, StoreError> {
    // One write transaction of its own, like any other on this thread; a
    // store without auto_vacuum = incremental keeps its free pages for
    // new rows (nothing to give back).
    // Each step of this statement frees one page: step it to the end.
    {
        let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({})", pages.max(1)))?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
    }
    let auto: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))?;
    if auto != 2 {
        return Ok(0);
    }
    Ok(conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?)
}

fn step(
    tx: &Transaction<'_>,
    cutoff: OffsetDateTime,
    progress: Progress,
) -> Result<Step, StoreError> {
    // A cut that cannot be written (out of range) removes nothing.
    let cut = cutoff
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let limit = last_removable(tx, &cut)?;
    let mut removed = Removed::default();
    let mut pending = PendingCache::default();
    let (phase, after) = match progress.phase {
        Phase::Rows => rows(tx, limit, progress.after, &mut pending, &mut removed)?,
        Phase::Quiet => quiet(tx, limit, progress.after, &mut pending, &mut removed)?,
        Phase::Alerts => caches(tx, "alerts", &cut, progress.after, &mut removed.alerts)?,
        Phase::Cases => caches(tx, "cases", &cut, progress.after, &mut removed.cases)?,
        Phase::Outbox => outbox(tx, cutoff.unix_timestamp(), progress.after, &mut removed)?,
        Phase::Done => (Phase::Done, 0),
    };
    Ok(Step {
        progress: Progress { phase, after },
        removed,
    })
}

/// The newest event id that may go: received before `cut`, older than
/// every event the pipeline has not handled, and not the newest event.
/// Ids grow with `received_at` (both are given at commit), so a binary
/// search over ids finds it in ~20 lookups instead of a scan.
fn last_removable(tx: &Transaction<'_>, cut: &str) -> Result<i64, StoreError> {
    let max: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
    let unhandled: Option<i64> =
        tx.query_row("SELECT MIN(id) FROM events WHERE handled = 0", [], |r| {
            r.get(0)
        })?;
    let mut first_at = tx.prepare_cached(
        "SELECT id, received_at < ?2 FROM events WHERE id >= ?1 ORDER BY id LIMIT 1",
    )?;
    // Invariant: every event up to `lo` is before the cut; none after `hi`.
    let (mut lo, mut hi) = (0_i64, max);
    while lo < hi {
        let mid = lo + (hi - lo + 1) / 2;
        match first_at
            .query_row(params![mid, cut], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?))
            })
            .optional()?
        {
            Some((id, true)) => lo = id.min(hi),
            _ => hi = mid - 1,
        }
    }
    let mut limit = lo.min(max - 1);
    if let Some(first) = unhandled {
        limit = limit.min(first - 1);
    }
    Ok(limit)
}

/// Per step, whether a row is an alert still Pending (asked once per key).
#[derive(Default)]
struct PendingCache(std::collections::HashMap<String, bool>);

impl PendingCache {
    fn pending(&mut self, tx: &Transaction<'_>, key: &str) -> Result<bool, StoreError> {
        if let Some(known) = self.0.get(key) {
            return Ok(*known);
        }
        let pending = match key.split_once(':') {
            Some(("alert", uuid)) => {
                let found = tx
                    .prepare_cached(
                        "SELECT s.change, s.received_at, a.status, a.fetched_at
                         FROM feed_rows r LEFT JOIN events s ON s.id = r.status_id
                         LEFT JOIN alerts a ON a.uuid = ?2
                         WHERE r.key = ?1",
                    )?
                    .query_row(params![key, uuid], |r| {
                        Ok(shown_status(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()?;
                found.flatten().as_deref() == Some("Pending")
            }
            _ => false,
        };
        self.0.insert(key.to_owned(), pending);
        Ok(pending)
    }
}

/// Phase 1's candidates: rows all read whose head is in (`?1`, `?2`],
/// oldest first, through the feed's own `feed_rows_head` index (an index
/// on `last` would cost every occurrence update an index move). A row's
/// newest event is at or after its head: the caller skips the rows whose
/// newest is past the cut.
const OLD_ROWS: &str = "SELECT key, head, last FROM feed_rows
    WHERE head > ?1 AND head <= ?2 AND unread = 0 ORDER BY head LIMIT ?3";

/// Phase 2's candidates: read quiet updates with ids in (`?1`, `?2`], each
/// with its row and whether the row lets it go.
fn quiet_sql() -> String {
    format!(
        "SELECT e.id, r.key, r.unread = 0 AND e.id != r.last AND e.id IS NOT r.occ_id
         FROM events e JOIN feed_rows r ON r.key = {key}
         WHERE e.id > ?1 AND e.id <= ?2 AND e.read = 1
           AND e.change_kind IN ('occurrences', 'urgency')
         ORDER BY e.id",
        key = super::rows::EVENT_KEY
    )
}

/// Phase 1: whole rows, oldest newest-event first, all read and not
/// Pending, their events oldest first (a big row can take several steps).
fn rows(
    tx: &Transaction<'_>,
    limit: i64,
    after: i64,
    pending: &mut PendingCache,
    removed: &mut Removed,
) -> Result<(Phase, i64), StoreError> {
    let candidates: Vec<(String, i64, i64)> = {
        let mut stmt = tx.prepare_cached(OLD_ROWS)?;
        let rows = stmt.query_map(params![after, limit, EVENTS_PER_STEP], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut budget = EVENTS_PER_STEP;
    let mut after = after;
    for (key, head, last) in &candidates {
        if budget == 0 {
            return Ok((Phase::Rows, after));
        }
        if *last > limit || pending.pending(tx, key)? {
            after = *head;
            continue;
        }
        let gone = match key.split_once(':') {
            Some(("id", id)) => tx.execute("DELETE FROM events WHERE id = ?1", [id])?,
            Some((subject, uuid)) => tx.execute(
                "DELETE FROM events WHERE id IN (SELECT id FROM events
                   WHERE subject = ?1 AND uuid = ?2 ORDER BY id LIMIT ?3)",
                params![subject, uuid, budget],
            )?,
            None => 0,
        };
        removed.events += gone as u64;
        budget -= gone as i64;
        let row_left: bool = tx
            .prepare_cached("SELECT 1 FROM feed_rows WHERE key = ?1")?
            .exists([key])?;
        if row_left {
            // The budget ran out inside this row: the next step goes on
            // with it (removing its oldest events only moves its head up).
            return Ok((Phase::Rows, head - 1));
        }
        after = *head;
        match key.split_once(':') {
            Some(("alert", uuid)) => {
                removed.alerts += tx.execute("DELETE FROM alerts WHERE uuid = ?1", [uuid])? as u64;
            }
            Some(("case", uuid)) => {
                removed.cases += tx.execute("DELETE FROM cases WHERE uuid = ?1", [uuid])? as u64;
            }
            _ => {}
        }
    }
    if (candidates.len() as i64) < EVENTS_PER_STEP {
        Ok((Phase::Quiet, 0))
    } else {
        Ok((Phase::Rows, after))
    }
}

/// Phase 2: old read occurrence and urgency updates inside rows that stay,
/// but never the row's newest event nor the one its count comes from.
fn quiet(
    tx: &Transaction<'_>,
    limit: i64,
    from: i64,
    pending: &mut PendingCache,
    removed: &mut Removed,
) -> Result<(Phase, i64), StoreError> {
    let to = limit.min(from.saturating_add(SCAN_PER_STEP));
    let candidates: Vec<(i64, String, bool)> = {
        let mut stmt = tx.prepare_cached(&quiet_sql())?;
        let rows = stmt.query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut delete = tx.prepare_cached("DELETE FROM events WHERE id = ?1")?;
    for (id, key, removable) in candidates {
        if removed.events as i64 >= EVENTS_PER_STEP {
            return Ok((Phase::Quiet, id - 1));
        }
        if removable && !pending.pending(tx, &key)? {
            removed.events += delete.execute([id])? as u64;
        }
    }
    if to >= limit {
        Ok((Phase::Alerts, 0))
    } else {
        Ok((Phase::Quiet, to))
    }
}

/// Phases 3 and 4: cached alerts or cases fetched before the cut that no
/// stored event names (the rows removed in phase 1 took theirs along).
fn caches(
    tx: &Transaction<'_>,
    table: &str,
    cut: &str,
    from: i64,
    removed: &mut u64,
) -> Result<(Phase, i64), StoreError> {
    let found: Vec<(i64, bool)> = {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT c.rowid, c.fetched_at < ?2 AND NOT EXISTS (SELECT 1 FROM events WHERE uuid = c.uuid)
             FROM {table} c WHERE c.rowid > ?1 ORDER BY c.rowid LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![from, cut, ROWS_PER_STEP], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut delete = tx.prepare_cached(&format!("DELETE FROM {table} WHERE rowid = ?1"))?;
    for (rowid, old) in &found {
        if *old {
            *removed += delete.execute([rowid])? as u64;
        }
    }
    match found.last() {
        Some((last, _)) if found.len() as i64 == ROWS_PER_STEP => Ok((
            if table == "alerts" {
                Phase::Alerts
            } else {
                Phase::Cases
            },
            *last,
        )),
        _ if table == "alerts" => Ok((Phase::Cases, 0)),
        _ => Ok((Phase::Outbox, 0)),
    }
}

/// Phase 5: forwards sent or failed for good before the cut.
fn outbox(
    tx: &Transaction<'_>,
    cut: i64,
    from: i64,
    removed: &mut Removed,
) -> Result<(Phase, i64), StoreError> {
    let max: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM outbox", [], |r| r.get(0))?;
    let to = from.saturating_add(ROWS_PER_STEP);
    removed.outbox += tx.execute(
        "DELETE FROM outbox WHERE id > ?1 AND id <= ?2 AND state IN ('sent', 'failed')
           AND COALESCE(sent_at, error_at, queued_at) < ?3",
        params![from, to, cut],
    )? as u64;
    if to >= max {
        Ok((Phase::Done, 0))
    } else {
        Ok((Phase::Outbox, to))
    }
}

#[cfg(test)]
mod tests;
