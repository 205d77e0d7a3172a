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
//! group's answers are sent, the writer checks the WAL's size and, past
//! [`WAL_CHECKPOINT`], runs one `PASSIVE` checkpoint itself: it is the
//! only writer, so the checkpoint completes and the next commit starts the
//! log over (cut back to [`JOURNAL_LIMIT`]). Fewer, larger checkpoints,
//! none inside a commit. Knows nothing of what the store holds.

use super::StoreError;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// WAL size (bytes) past which the writer checkpoints after answering.
const WAL_CHECKPOINT: u64 = 32 << 20;
/// Bytes the WAL file keeps when it starts over (`journal_size_limit`):
/// below [`WAL_CHECKPOINT`], so the file's size tells how much was written
/// since, and large enough that the file is not grown again every time.
const JOURNAL_LIMIT: i64 = 16 << 20;
/// Commits between two looks at the WAL's size.
const LOOK_EVERY: u32 = 16;
/// `SEKOIA_NOTIFIER_CHECKPOINT=inline` keeps SQLite's automatic checkpoint
/// in the writer's commits, the behaviour before this module: only for the
/// benchmark's side-by-side (BENCHMARKS.md, "large store").
const ENV: &str = "SEKOIA_NOTIFIER_CHECKPOINT";

/// The writer's checkpoint bookkeeping.
pub(super) struct Checkpoints {
    wal: PathBuf,
    commits: u32,
}

impl Checkpoints {
    /// Turns the automatic checkpoint of `writer` off; `None` (automatic
    /// checkpoints kept) when [`ENV`] says inline.
    pub(super) fn start(
        path: &Path,
        writer: &Connection,
    ) -> Result<Option<Checkpoints>, StoreError> {
        if std::env::var(ENV).is_ok_and(|v| v == "inline") {
            tracing::info!(target: "store", "WAL checkpoints inline in the writer's commits ({ENV})");
            return Ok(None);
        }
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.pragma_update(None, "journal_size_limit", JOURNAL_LIMIT)?;
        Ok(Some(Checkpoints {
            wal: PathBuf::from(format!("{}-wal", path.display())),
            commits: 0,
        }))
    }

    /// After a loop of the writer whose answers are all sent: checkpoints
    /// when the WAL has grown past [`WAL_CHECKPOINT`].
    pub(super) fn after_commits(&mut self, writer: &Connection) {
        self.commits += 1;
        if self.commits < LOOK_EVERY {
            return;
        }
        self.commits = 0;
        if !std::fs::metadata(&self.wal).is_ok_and(|m| m.len() > WAL_CHECKPOINT) {
            return;
        }
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
