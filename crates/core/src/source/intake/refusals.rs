//! Storage refusals at intake: when the store cannot take an event now (the
//! disk is full, the database is locked by another process past the busy
//! timeout, the file became read-only), intake answers 503 with
//! `Retry-After` (the sender keeps the event and tries again), never 500.
//! This module remembers since when the store refuses, publishes it as
//! [`StorageHealth`] (a warning in `status`, `check`, the tray), and when
//! the first event is stored again records the refused interval as a gap
//! (`reach`), so the catch-up asks the Alert API for what it missed.
//!
//! Owns only that bookkeeping. Must not: retry, buffer or drop events (a
//! refused event was never acknowledged), or decide HTTP statuses.

pub use crate::model::health::StorageHealth;
use crate::store::reach;
use crate::store::{StoreError, Writer};
use std::sync::{Mutex, PoisonError};
use tokio::sync::watch;

/// Seconds a refused sender is asked to wait before trying again.
pub const RETRY_AFTER_SECS: u64 = 10;

/// Why the store refused, in words (never the event).
pub fn reason(error: &StoreError) -> String {
    let StoreError::Sql(e) = error else {
        return error.to_string();
    };
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => "the disk is full".to_owned(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            "the database is locked by another process".to_owned()
        }
        Some(rusqlite::ErrorCode::ReadOnly) => "the database is read-only".to_owned(),
        Some(rusqlite::ErrorCode::SystemIoFailure) => {
            format!("the database cannot be written ({e}); the disk may be full")
        }
        _ => format!("database error: {e}"),
    }
}

struct Refused {
    /// Unix seconds of the first refusal of this run of refusals.
    since: i64,
    reason: String,
}

/// The intake's memory of an ongoing refusal. Shared by every request.
pub struct Refusals {
    writer: Writer,
    open: Mutex<Option<Refused>>,
    health: watch::Sender<StorageHealth>,
}

impl Refusals {
    pub fn new(writer: Writer) -> Refusals {
        Refusals {
            writer,
            open: Mutex::new(None),
            health: watch::Sender::new(StorageHealth::Ok),
        }
    }

    /// Every change is a new value.
    pub fn health(&self) -> watch::Receiver<StorageHealth> {
        self.health.subscribe()
    }

    /// The store refused an event.
    pub(crate) fn refused(&self, error: &StoreError) {
        let why = reason(error);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.is_none() {
            tracing::warn!("the store refuses events ({why}); answering 503 with Retry-After until it takes them again");
            let since = reach::now();
            *open = Some(Refused {
                since,
                reason: why.clone(),
            });
            self.health.send_replace(StorageHealth::Refusing {
                since: rfc3339(since),
                reason: why,
            });
        }
    }

    /// An event was stored: a refusal in progress ends, as a gap.
    pub(crate) fn stored(&self) {
        let closed = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(Refused { since, reason }) = closed else {
            return;
        };
        let until = reach::now();
        tracing::info!(
            refused_for_s = until - since,
            "the store takes events again; the refused interval is caught up"
        );
        let writer = self.writer.clone();
        let words = format!("the store refused events: {reason}");
        let health = self.health.clone();
        tokio::spawn(async move {
            let recorded = writer
                .apply(Box::new(move |tx| {
                    reach::missed(tx, since, until.max(since + 1), &words)
                }))
                .await;
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "cannot record the refused interval as a gap");
            }
            // After the gap is on disk: the engine's catch-up reads the gaps
            // at the next health change.
            health.send_replace(StorageHealth::Ok);
        });
    }
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

/// A write past the process's file-size limit (`RLIMIT_FSIZE`) raises
/// SIGXFSZ, which kills by default: ignored, the write fails with EFBIG
/// and the store refuses the event like on a full disk.
pub fn survive_file_size_limit() {
    #[cfg(unix)]
    // SAFETY: sets the disposition of one signal to SIG_IGN; no handler runs.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
