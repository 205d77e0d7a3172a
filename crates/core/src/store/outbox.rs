//! The forward outbox's rows as the writer queues them: a body per
//! destination, committed with its event's handled mark (so a forward is
//! queued exactly when the pop-up decision is). The forward workers
//! (`deliver::outbox`) send them and mark them through `Writer::apply`.
//!
//! Owns: `Queued` and its insert. Must not: send anything.

use rusqlite::params;

/// A body to queue for one destination.
#[derive(Debug, Clone)]
pub struct Queued {
    pub dest: String,
    pub event_id: i64,
    pub body: String,
}

/// Now, in Unix seconds (the outbox's `queued_at` and `error_at`).
pub(crate) fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Queues bodies; a (destination, event) pair is queued at most once.
pub(crate) fn enqueue(
    tx: &rusqlite::Transaction<'_>,
    items: &[Queued],
) -> Result<(), rusqlite::Error> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO outbox (dest, event_id, body, queued_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let now = now_unix();
    for q in items {
        insert.execute(params![q.dest, q.event_id, q.body, now])?;
    }
    Ok(())
}
