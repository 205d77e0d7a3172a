//! When the WAL is copied back into the database file. SQLite's automatic
//! checkpoint runs inside the commit that crosses 1,000 WAL pages (4 MB):
//! on the writer thread, before that commit returns, so every intake
//! request of the group waited for the copy and the database file's fsync,
//! and at a flood's rate that is several times a second (the large-store
//! tail of BENCHMARKS.md). A checkpoint on a thread of its own was tried
//! and was worse: under a sustained flood a passive checkpoint never
//! catches up with the writer, the log never starts over, and the forced
//! (`RESTART`) checkpoint that bounds it blocks the writer for longer;
//! its fsyncs also stall the writer's own.
//!
//! Here the writer's connection never checkpoints inside a commit. After a
//! group's answers are sent, the writer looks at the WAL's length (in
//! pages, which SQLite reports to a WAL hook after every commit) and, past
//! [`WAL_CHECKPOINT_PAGES`], runs one `PASSIVE` checkpoint itself: it is
//! the only writer, so the checkpoint completes and the next commit starts
//! the log over. A checkpoint's time grows with the pages it copies (32 MB
//! took 10-20 ms, 6 MB 2.8 ms at p50 under a flood, `make bench`), and
//! every request that arrives meanwhile waits for it: small, frequent
//! checkpoints keep that wait under the intake's p99 target. Knows nothing
//! of what the store holds.

use super::StoreError;
use rusqlite::Connection;
use std::cell::Cell;
use std::ffi::c_int;
use std::time::Instant;

/// WAL length (pages of 4 KiB) past which the writer checkpoints after
/// answering: 2 MiB.
const WAL_CHECKPOINT_PAGES: i32 = 512;
/// Bytes the WAL file keeps when it starts over (`journal_size_limit`):
/// above what a checkpoint leaves behind, so the file is not cut and grown
/// again each time (a growing file makes each fsync write its inode too).
const JOURNAL_LIMIT: i64 = 8 << 20;
/// `SEKOIA_NOTIFIER_CHECKPOINT=inline` keeps SQLite's automatic checkpoint
/// in the writer's commits, the behaviour before this module: only for the
/// benchmark's side-by-side (BENCHMARKS.md, "large store").
const ENV: &str = "SEKOIA_NOTIFIER_CHECKPOINT";

thread_local! {
    /// The WAL's length in pages after the writer's last commit, as SQLite
    /// passed it to [`wal_pages`] (the writer is one thread).
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

/// The writer connection's WAL hook: SQLite calls it after each commit
/// with the number of pages in the log.
fn wal_pages(_: &rusqlite::hooks::Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// The writer's checkpoint pacing: the hook is on, SQLite's automatic
/// checkpoint off.
pub(super) struct Checkpoints;

impl Checkpoints {
    /// Turns the automatic checkpoint of `writer` off; `None` (automatic
    /// checkpoints kept) when [`ENV`] says inline.
    pub(super) fn start(writer: &Connection) -> Result<Option<Checkpoints>, StoreError> {
        if std::env::var(ENV).is_ok_and(|v| v == "inline") {
            tracing::info!(target: "store", "WAL checkpoints inline in the writer's commits ({ENV})");
            return Ok(None);
        }
        // After the pragma: `wal_autocheckpoint` replaces the WAL hook.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.pragma_update(None, "journal_size_limit", JOURNAL_LIMIT)?;
        writer.wal_hook(Some(wal_pages));
        Ok(Some(Checkpoints))
    }

    /// After a loop of the writer whose answers are all sent: checkpoints
    /// when the WAL has grown past [`WAL_CHECKPOINT_PAGES`].
    pub(super) fn after_commits(&mut self, writer: &Connection) {
        if WAL_PAGES.get() < WAL_CHECKPOINT_PAGES {
            return;
        }
        WAL_PAGES.set(0);
        let started = Instant::now();
        let done = writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        match done {
            Ok((log, copied)) => tracing::debug!(
                target: "store",
                log,
                copied,
                ms = started.elapsed().as_secs_f64() * 1e3,
                "WAL checkpoint"
            ),
            Err(e) => {
                tracing::warn!(target: "store", error = %e, "WAL checkpoint failed; the next one retries")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::event::Event;
    use crate::store::{Store, DB_FILE};

    /// Without the writer's checkpoints the log would hold every commit
    /// (about 20 MB here); with them it starts over every 2 MiB.
    #[tokio::test]
    async fn the_writer_keeps_the_log_short() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = store.writer();
        let note = "x".repeat(8000);
        for i in 0..1500 {
            let body = format!(
                r#"{{"type":"alert","action":"created","attributes":{{"uuid":"a{i}","short_id":"AL{i}","note":"{note}"}},"metadata":{{"version":2,"created_at":{i}}}}}"#
            );
            w.insert(Event::parse(body.as_bytes()).unwrap())
                .await
                .unwrap();
        }
        let wal = std::fs::metadata(dir.path().join(format!("{DB_FILE}-wal")))
            .unwrap()
            .len();
        let db = std::fs::metadata(dir.path().join(DB_FILE)).unwrap().len();
        assert!(db > 12 << 20, "the events reached the database file: {db}");
        assert!(wal < 4 << 20, "the log grew to {wal} bytes");
        store.close().await;
    }
}
