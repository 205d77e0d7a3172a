//! Task ownership: every background task an engine starts (watchers,
//! catch-ups, the monitor's probes) is spawned through its [`Tasks`], which
//! cancels them all and waits for them within a bound at stop, and cancels
//! them when a start fails half-way. Nothing spawned here outlives its
//! engine, so an old engine's probe never writes into the next one's feed.
//!
//! Owns no work of its own. Must not carry the parts that drain in order at
//! a stop (the listener, the pipeline, the forward workers): the engine
//! stops those itself, one after the other.
//!
//! In detail: `Tasks` (tokio-util's `TaskTracker` and `CancellationToken`) owns
//! an engine's background tasks (watchers, catch-ups, the monitor's probes):
//! `stop(bound)` cancels and joins them, `cancel_on_drop` cancels those of a
//! start that fails half-way. **Invariant:** nothing an engine spawned outlives
//! its `stop` (tested with the runtime's alive-task count).

use std::future::Future;
use std::time::Duration;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

/// A cheap, cloneable handle on one engine's background tasks.
#[derive(Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Tasks {
    pub fn new() -> Tasks {
        Tasks::default()
    }

    /// Runs `task` until it ends or the tasks are cancelled (it is then
    /// dropped at its next `.await`). After a stop, nothing is started.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.cancel.is_cancelled() {
            return;
        }
        let cancel = self.cancel.clone();
        self.tracker.spawn(async move {
            cancel.run_until_cancelled(task).await;
        });
    }

    /// How many tasks still run.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// A guard that cancels every task when dropped, unless disarmed: held
    /// by a start, so that one failing half-way leaves nothing running.
    pub fn cancel_on_drop(&self) -> DropGuard {
        self.cancel.clone().drop_guard()
    }

    /// Cancels every task and waits for them, at most `bound`.
    ///
    /// Errors: the number of tasks still running at the bound (a task that
    /// blocks its thread instead of awaiting cannot be cancelled).
    pub async fn stop(&self, bound: Duration) -> Result<(), usize> {
        self.cancel.cancel();
        self.tracker.close();
        match tokio::time::timeout(bound, self.tracker.wait()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.tracker.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_cancels_and_joins_every_task_and_starts_none_after() {
        let tasks = Tasks::new();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(4);
        for _ in 0..3 {
            let tx = tx.clone();
            tasks.spawn(async move {
                // Holds a sender until dropped: the channel closes only when
                // every task is gone.
                let _held = tx;
                std::future::pending::<()>().await;
            });
        }
        drop(tx);
        assert_eq!(tasks.running(), 3);
        assert_eq!(tasks.stop(Duration::from_secs(5)).await, Ok(()));
        assert_eq!(tasks.running(), 0);
        assert!(rx.recv().await.is_none(), "a task still holds its sender");
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&ran);
        tasks.spawn(async move { flag.store(true, std::sync::atomic::Ordering::SeqCst) });
        tokio::task::yield_now().await;
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(tasks.running(), 0);
    }

    #[tokio::test]
    async fn a_dropped_start_guard_cancels_what_was_started() {
        let tasks = Tasks::new();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        {
            let _guard = tasks.cancel_on_drop();
            tasks.spawn(async move {
                let _held = tx;
                std::future::pending::<()>().await;
            });
        }
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_task_blocking_its_thread_is_counted_at_the_bound() {
        let tasks = Tasks::new();
        let (started, wait) = std::sync::mpsc::channel();
        tasks.spawn(async move {
            let _ = started.send(());
            // Wrong on purpose: blocks its worker thread, so cancellation
            // cannot reach it until the sleep ends.
            std::thread::sleep(Duration::from_millis(500));
        });
        let _ = wait.recv_timeout(Duration::from_secs(5));
        assert_eq!(tasks.stop(Duration::from_millis(10)).await, Err(1));
        assert_eq!(tasks.stop(Duration::from_secs(5)).await, Ok(()));
    }
}
