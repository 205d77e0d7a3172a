//! WAL checkpoints beside the writer: SQLite's automatic checkpoint runs
//! inside the commit that crosses 1,000 WAL pages, on the writer thread, so
//! every intake request queued behind that commit waited for the copy into
//! the database file and its fsync (the large-store tail of BENCHMARKS.md).
//! Here the writer's connection never checkpoints; this thread does, with
//! its own connection, `PASSIVE` (never blocking the writer or readers), at
//! most every [`PERIOD`] after a commit, and `RESTART` only once the WAL
//! passes [`WAL_LIMIT`] (a flood that never lets a passive checkpoint
//! finish). Knows nothing of what the store holds.

use super::{busy_wait, StoreError};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Shortest time between two checkpoints.
const PERIOD: Duration = Duration::from_millis(500);
/// WAL size (bytes) past which the checkpoint waits for the writer
/// (`RESTART`) so that the log starts over.
const WAL_LIMIT: u64 = 64 << 20;
/// Bytes the WAL file keeps when it starts over (`journal_size_limit`).
const JOURNAL_LIMIT: i64 = 16 << 20;
/// `SEKOIA_NOTIFIER_CHECKPOINT=inline` keeps SQLite's automatic checkpoint
/// in the writer's commits, the behaviour before this module: only for the
/// benchmark's side-by-side (BENCHMARKS.md, "large store").
const ENV: &str = "SEKOIA_NOTIFIER_CHECKPOINT";

pub(super) struct Checkpointer {
    wake: SyncSender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    /// Turns the automatic checkpoint of `writer` off and starts the
    /// thread; `None` (automatic checkpoints kept) when [`ENV`] says inline.
    pub(super) fn start(
        path: &Path,
        writer: &Connection,
    ) -> Result<Option<Checkpointer>, StoreError> {
        if std::env::var(ENV).is_ok_and(|v| v == "inline") {
            tracing::info!(target: "store", "WAL checkpoints inline in the writer's commits ({ENV})");
            return Ok(None);
        }
        let conn = Connection::open(path).map_err(|e| StoreError::Open {
            path: path.to_owned(),
            cause: Arc::new(e),
        })?;
        conn.busy_handler(Some(busy_wait))?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        // When the log starts over after a checkpoint, the writer cuts a
        // file a burst grew back to this size.
        writer.pragma_update(None, "journal_size_limit", JOURNAL_LIMIT)?;
        let (wake, woken) = sync_channel(1);
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || run(&conn, &woken, &wal))
            .map_err(|e| StoreError::Thread(Arc::new(e)))?;
        Ok(Some(Checkpointer { wake, thread }))
    }

    /// After a commit: a checkpoint is due within [`PERIOD`].
    pub(super) fn kick(&self) {
        // Full: one is already due.
        let _ = self.wake.try_send(());
    }

    /// Stops the thread (after the writer's last commit) and waits for it.
    pub(super) fn finish(self) {
        let Checkpointer { wake, thread } = self;
        drop(wake);
        if thread.join().is_err() {
            tracing::error!(target: "store", "the checkpoint thread panicked");
        }
    }
}

fn run(conn: &Connection, woken: &Receiver<()>, wal: &Path) {
    let mut last = Instant::now();
    while woken.recv().is_ok() {
        // Kicks within the period make one checkpoint; a stop ends the
        // wait at once (the last connection to close checkpoints anyway).
        loop {
            let wait = PERIOD.saturating_sub(last.elapsed());
            if wait.is_zero() {
                break;
            }
            match woken.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let big = std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_LIMIT);
        let mode = if big { "RESTART" } else { "PASSIVE" };
        let started = Instant::now();
        let done = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        match done {
            Ok((log, copied)) => tracing::debug!(
                target: "store",
                mode,
                log,
                copied,
                ms = started.elapsed().as_secs_f64() * 1e3,
                "WAL checkpoint"
            ),
            Err(e) => {
                tracing::warn!(target: "store", error = %e, "WAL checkpoint failed; the next one retries")
            }
        }
        last = Instant::now();
    }
}
