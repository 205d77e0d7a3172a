//! The engine's watch over delivery: keeps [`Health`] current (tunnel
//! state, API results, self-tests, URL changes), runs the delivery self-test
//! every `tunnel.selftest_interval`, right after the tunnel gets a URL and
//! after the machine resumes from sleep (none of these when the interval is
//! 0), beats a heartbeat, and records the
//! health and the reachability intervals (`reach`) in the store so that
//! `check` and the catch-up see them from another process.
//!
//! It owns no listener and no tunnel process: it only observes them, probes
//! through `selftest`, and writes through the store's writer.

use crate::health::{ApiHealth, Health, LiveHealth, SelfTest, TunnelHealth};
use crate::reach;
use crate::selftest::{self, Delivered, SelfTestError};
use crate::settings::{hook_url, HookSecret};
use crate::store::{Reader, StoreError, Writer};
use crate::tunnel::TunnelState;
use rusqlite::OptionalExtension;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{oneshot, watch, Mutex};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;

/// Between heartbeats (also the resolution of sleep detection).
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How long a self-test waits for its event to reach the store.
const SELFTEST_WAIT: Duration = Duration::from_secs(15);
/// Pause between a new tunnel URL and its self-test: a quick tunnel's
/// hostname may need a moment before it resolves.
const SETTLE: Duration = Duration::from_secs(2);

/// What the monitor needs from the engine.
pub(crate) struct MonitorConfig {
    /// The hook secret now (it can change while running).
    pub secret: watch::Receiver<HookSecret>,
    pub data_dir: PathBuf,
    pub writer: Writer,
    /// The configured public URL (`tunnel.public_url`).
    pub fixed_public: Option<Url>,
    /// `tunnel.selftest_interval`; `None` turns periodic tests off.
    pub interval: Option<Duration>,
    /// The tunnel's state, when a tunnel program runs.
    pub tunnel: Option<watch::Receiver<TunnelState>>,
    /// Why the configured tunnel could not be started at all.
    pub tunnel_error: Option<String>,
    /// Whether an API key is configured.
    pub has_key: bool,
}

/// The state shared by the monitor task and the engine's handles.
pub(crate) struct Shared {
    health: watch::Sender<Health>,
    secret: watch::Receiver<HookSecret>,
    data_dir: PathBuf,
    writer: Writer,
    /// One probe at a time (the periodic one and "Send test alert").
    probing: Mutex<()>,
}

impl Shared {
    pub(crate) fn subscribe(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    /// Feeds an API call's outcome into the health.
    pub(crate) fn api_result(&self, api: ApiHealth) {
        self.health.send_if_modified(|h| {
            let changed = h.api != api;
            h.api = api;
            changed
        });
    }

    /// Feeds the LiveAPI connection's state into the health.
    pub(crate) fn live_state(&self, live: LiveHealth) {
        self.health.send_if_modified(|h| {
            let changed = h.liveapi != live;
            h.liveapi = live;
            changed
        });
    }

    /// Feeds the pop-up sinks' state into the health.
    pub(crate) fn popup_state(&self, popups: crate::health::PopupHealth) {
        self.health.send_if_modified(|h| {
            let changed = h.popups != popups;
            h.popups = popups;
            changed
        });
    }

    /// Feeds the store's refusals (intake) into the health.
    pub(crate) fn storage_state(&self, storage: crate::health::StorageHealth) {
        self.health.send_if_modified(|h| {
            let changed = h.storage != storage;
            h.storage = storage;
            changed
        });
    }

    /// The user has seen (copied) the new webhook URL.
    pub(crate) fn acknowledge_url_change(&self) {
        self.health
            .send_if_modified(|h| h.url_changed_at.take().is_some());
    }

    /// Posts a test event to `webhook` and records the outcome in the health.
    /// `Asked` is the user's test (a pop-up, kept in the feed); `Probe` the
    /// engine's own (silent, removed from the feed once seen).
    pub(crate) async fn send_test(
        &self,
        webhook: &Url,
        kind: Probe,
    ) -> Result<Delivered, SelfTestError> {
        let _one = self.probing.lock().await;
        let host = webhook.host_str().unwrap_or("the webhook URL").to_owned();
        let result = match kind {
            Probe::Asked => selftest::send_test(webhook, &self.data_dir, SELFTEST_WAIT).await,
            Probe::Periodic => selftest::probe(webhook, &self.data_dir, SELFTEST_WAIT).await,
        };
        if let (Probe::Periodic, Ok(delivered)) = (kind, &result) {
            let uuid = delivered.uuid.clone();
            let removed = self
                .writer
                .apply_to_feed(Box::new(move |tx| {
                    tx.execute(
                        "DELETE FROM events WHERE kind = ?1 AND uuid = ?2",
                        [selftest::TEST_TYPE, uuid.as_str()],
                    )?;
                    Ok(())
                }))
                .await;
            if let Err(e) = removed {
                tracing::warn!(error = %e, "the probe event stays in the feed");
            }
        }
        let (ok, message) = match &result {
            Ok(d) => (
                true,
                format!(
                    "delivered through {host} in {} ms",
                    d.round_trip.as_millis()
                ),
            ),
            Err(e) => (false, e.to_string()),
        };
        if ok {
            tracing::info!(%host, "delivery self-test passed");
        } else {
            tracing::warn!("delivery self-test failed: {message}");
        }
        self.health.send_modify(|h| {
            h.selftest = Some(SelfTest {
                at: rfc3339_now(),
                ok,
                message,
            });
        });
        result
    }

    /// The public webhook URL now, if there is one.
    fn public_hook(&self) -> Option<Url> {
        let base = self.health.borrow().tunnel.public_url().cloned()?;
        hook_url(&base, &self.secret.borrow())
    }
}

/// Who asked for a self-test.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Probe {
    /// The user ("Send test alert").
    Asked,
    /// The engine (periodic, new URL, resume).
    Periodic,
}

/// The running monitor.
pub(crate) struct Monitor {
    pub(crate) shared: Arc<Shared>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Monitor {
    /// Opens this run's reachability record and starts watching.
    pub(crate) async fn start(config: MonitorConfig) -> Monitor {
        let tracked = config.tunnel.is_some()
            || config.tunnel_error.is_some()
            || config.fixed_public.is_some();
        let tunnel = match (&config.tunnel, &config.tunnel_error) {
            (Some(rx), _) => TunnelHealth::from_state(&rx.borrow(), None),
            (None, Some(reason)) => TunnelHealth::Failed {
                reason: reason.clone(),
            },
            (None, None) => TunnelHealth::None {
                public_url: config.fixed_public.clone(),
            },
        };
        let health = Health {
            tunnel,
            api: if config.has_key {
                ApiHealth::Unknown
            } else {
                ApiHealth::NoKey
            },
            ..Health::default()
        };
        if tracked {
            let now = reach::now();
            write(&config.writer, move |tx| reach::start_run(tx, now)).await;
        }
        let shared = Arc::new(Shared {
            health: watch::Sender::new(health),
            secret: config.secret.clone(),
            data_dir: config.data_dir.clone(),
            writer: config.writer.clone(),
            probing: Mutex::new(()),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(Arc::clone(&shared), config, tracked, stopped));
        Monitor { shared, stop, task }
    }

    /// Records a last heartbeat and stops.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "health monitor failed");
        }
    }
}

/// Why Sekoia.io cannot deliver now, `None` when it can.
fn unreachable_because(h: &Health) -> Option<String> {
    match &h.tunnel {
        TunnelHealth::None { public_url: None } => {
            Some("there was no public webhook URL".to_owned())
        }
        TunnelHealth::Starting => Some("the tunnel was starting".to_owned()),
        TunnelHealth::Restarting { reason, .. } => Some(format!("the tunnel was down: {reason}")),
        TunnelHealth::Failed { reason } => Some(format!("the tunnel could not start: {reason}")),
        TunnelHealth::Up { .. } | TunnelHealth::None { .. } => h
            .selftest
            .as_ref()
            .filter(|t| !t.ok)
            .map(|t| format!("the delivery self-test failed: {}", t.message)),
    }
}

async fn run(
    shared: Arc<Shared>,
    config: MonitorConfig,
    tracked: bool,
    mut stopped: oneshot::Receiver<()>,
) {
    let writer = config.writer.clone();
    let mut health = shared.subscribe();
    let mut tunnel = config.tunnel;
    let mut last_url: Option<Url> = shared.health.borrow().tunnel.public_url().cloned();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut periodic = config.interval.map(|every| {
        let mut t = tokio::time::interval_at(Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut prev_beat = (reach::now(), Instant::now());
    // `selftest_interval = 0` turns every automatic probe off, not only the
    // periodic one: only "Send test alert" / `send-test` probe then.
    let auto = periodic.is_some();
    let probe = |delay: Duration| {
        if auto {
            spawn_probe(&shared, delay);
        }
    };
    // A fixed public URL is tested once at start; a tunnel's when it is up.
    if last_url.is_some() {
        probe(Duration::ZERO);
    }
    let first = health.borrow_and_update().clone();
    record(&writer, &first, tracked).await;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            changed = health.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = health.borrow_and_update().clone();
                record(&writer, &snapshot, tracked).await;
            }
            Some(state) = next_state(&mut tunnel) => {
                let tunnel_health = TunnelHealth::from_state(&state, None);
                let url = tunnel_health.public_url().cloned();
                let changed_url = matches!((&last_url, &url), (Some(old), Some(new)) if old != new);
                shared.health.send_if_modified(|h| {
                    let mut modified = h.tunnel != tunnel_health;
                    h.tunnel = tunnel_health;
                    if changed_url {
                        h.url_changed_at = Some(rfc3339_now());
                        modified = true;
                    }
                    modified
                });
                if let Some(url) = url {
                    if last_url.as_ref() != Some(&url) {
                        probe(SETTLE);
                    }
                    last_url = Some(url);
                }
            }
            _ = heartbeat.tick() => {
                let now = (reach::now(), Instant::now());
                let slept = reach::sleep_interval(prev_beat.0, now.1 - prev_beat.1, now.0);
                prev_beat = now;
                if let Some((from, to)) = slept {
                    tracing::info!(asleep_for_s = to - from, "resumed from sleep; testing delivery");
                    if tracked {
                        write(&writer, move |tx| reach::slept(tx, from, to)).await;
                    }
                    probe(SETTLE);
                }
                if tracked {
                    write(&writer, move |tx| reach::beat(tx, now.0)).await;
                }
            }
            _ = tick(&mut periodic) => probe(Duration::ZERO),
        }
    }
    let last = health.borrow().clone();
    record(&writer, &last, tracked).await;
    if tracked {
        let now = reach::now();
        write(&writer, move |tx| reach::beat(tx, now)).await;
    }
}

/// The next tunnel state; pending forever without a tunnel or once it ended.
async fn next_state(tunnel: &mut Option<watch::Receiver<TunnelState>>) -> Option<TunnelState> {
    match tunnel {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => {
                *tunnel = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

async fn tick(periodic: &mut Option<tokio::time::Interval>) {
    match periodic {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Runs a self-test through the public URL after `delay`, in the background
/// (a probe takes up to [`SELFTEST_WAIT`]); nothing without a public URL.
fn spawn_probe(shared: &Arc<Shared>, delay: Duration) {
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if let Some(url) = shared.public_hook() {
            // The outcome is recorded in the health; the error was logged.
            let _ = shared.send_test(&url, Probe::Periodic).await;
        }
    });
}

/// Persists the snapshot and, when the route is tracked, whether Sekoia.io
/// can deliver now.
async fn record(writer: &Writer, health: &Health, tracked: bool) {
    let json = match serde_json::to_string(health) {
        Ok(json) => json,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize the health");
            return;
        }
    };
    let reason = unreachable_because(health);
    let now = reach::now();
    write(writer, move |tx| {
        tx.execute(
            "INSERT INTO health (id, updated_at, json) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET updated_at = ?1, json = ?2",
            rusqlite::params![now, json],
        )?;
        if tracked {
            match &reason {
                Some(reason) => reach::went_down(tx, now, reason)?,
                None => reach::came_up(tx, now)?,
            }
        }
        Ok(())
    })
    .await;
}

/// One write on the store's writer thread; a failure is logged (health
/// bookkeeping never stops the engine).
async fn write(
    writer: &Writer,
    work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), StoreError> + Send + 'static,
) {
    if let Err(e) = writer.apply(Box::new(work)).await {
        tracing::warn!(error = %e, "cannot record the health in the store");
    }
}

/// The health the engine last recorded in the store, with when (for
/// `check` in another process). `None` when no engine ever ran here.
pub fn recorded(reader: &Reader) -> Result<Option<(OffsetDateTime, Health)>, StoreError> {
    let row: Option<(i64, String)> = reader
        .conn()
        .query_row(
            "SELECT updated_at, json FROM health WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(at, json)| {
        let at = OffsetDateTime::from_unix_timestamp(at).ok()?;
        // A row from another version that does not read is treated as absent.
        serde_json::from_str(&json).ok().map(|h| (at, h))
    }))
}

fn rfc3339_now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, Options};
    use crate::health::SelfTest;
    use std::path::Path;

    async fn engine(dir: &Path, extra: &str) -> Engine {
        let text = format!(
            "[listener]\nbind = \"127.0.0.1:0\"\nhook_secret = \"monitor-test-secret-0123456789abc\"\n{extra}"
        );
        let (settings, _) = crate::settings::parse(&text, Path::new("c.toml")).unwrap();
        Engine::start(&settings, dir, Options::default())
            .await
            .unwrap()
    }

    fn with(tunnel: TunnelHealth, selftest_ok: Option<bool>) -> Health {
        Health {
            tunnel,
            selftest: selftest_ok.map(|ok| SelfTest {
                at: "t".to_owned(),
                ok,
                message: "x answered 404".to_owned(),
            }),
            ..Health::default()
        }
    }

    #[test]
    fn delivery_is_possible_only_with_a_public_url_and_no_failed_self_test() {
        let up = TunnelHealth::Up {
            url: Url::parse("https://a.example.test").unwrap(),
        };
        assert_eq!(unreachable_because(&with(up.clone(), None)), None);
        assert_eq!(unreachable_because(&with(up.clone(), Some(true))), None);
        let failed = unreachable_because(&with(up, Some(false))).unwrap_or_default();
        assert!(
            failed.contains("self-test failed: x answered 404"),
            "{failed}"
        );
        let restarting = TunnelHealth::Restarting {
            attempt: 1,
            reason: "bore exited".to_owned(),
        };
        let down = unreachable_because(&with(restarting, Some(true))).unwrap_or_default();
        assert!(down.contains("bore exited"), "{down}");
        assert!(unreachable_because(&with(TunnelHealth::Starting, None)).is_some());
    }

    #[tokio::test]
    async fn send_test_records_its_outcome_in_the_health_and_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path(), "").await;
        let health = engine.health();
        assert_eq!(health.borrow().api, ApiHealth::NoKey);
        assert_eq!(health.borrow().selftest, None);
        engine.send_test().await.unwrap();
        let test = health.borrow().selftest.clone().unwrap();
        assert!(test.ok, "{test:?}");
        assert!(test.message.contains("through 127.0.0.1"), "{test:?}");
        engine.stop().await;
        let (_, stored) = recorded(&Reader::open(dir.path()).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(stored.selftest, Some(test));
        assert!(
            !serde_json::to_string(&stored)
                .unwrap()
                .contains("monitor-test-secret"),
            "the recorded health never holds the secret"
        );
    }

    #[tokio::test]
    async fn a_failed_self_test_through_the_public_url_warns_and_opens_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing listens on this port: the public URL is unreachable.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let engine = engine(
            dir.path(),
            &format!("[tunnel]\npublic_url = \"http://127.0.0.1:{port}\"\nselftest_interval = 0\n"),
        )
        .await;
        let health = engine.health();
        let before = health.borrow().warning().unwrap_or_default();
        assert!(before.contains("No API key"), "{before}");
        let err = engine.send_test().await.unwrap_err();
        assert!(matches!(err, SelfTestError::Unreachable { .. }), "{err}");
        let warning = health.borrow().warning().unwrap_or_default();
        assert!(warning.contains("self-test failed"), "{warning}");
        let reader = engine.reader().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let open = loop {
            let gaps = reach::gaps(&reader, OffsetDateTime::UNIX_EPOCH).unwrap();
            let failed = |g: &reach::Gap| g.ongoing && g.reason.contains("self-test failed");
            if let Some(open) = gaps.into_iter().find(failed) {
                break open;
            }
            assert!(Instant::now() < deadline, "no open gap for the failed test");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(open.reason.contains("127.0.0.1"), "{}", open.reason);
        engine.stop().await;
    }

    #[tokio::test]
    async fn a_tunnel_that_cannot_start_is_a_failed_tunnel_in_the_health() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(
            dir.path(),
            "[tunnel]\nkind = \"command\"\ncommand = \"/nonexistent/tunnel {port}\"\n",
        )
        .await;
        let health = engine.health().borrow().clone();
        match &health.tunnel {
            TunnelHealth::Failed { reason } => {
                assert!(reason.contains("/nonexistent/tunnel"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let warning = health.warning().unwrap_or_default();
        assert!(warning.starts_with("The tunnel cannot start"), "{warning}");
        engine.stop().await;
    }

    #[tokio::test]
    async fn a_regenerated_secret_is_answered_at_once_and_the_old_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        let old = "monitor-test-secret-0123456789abc";
        std::fs::write(
            &config,
            format!("[listener]\n# mine\nhook_secret = \"{old}\"\nbind = \"127.0.0.1:0\"\n"),
        )
        .unwrap();
        let engine = engine(dir.path(), "").await;
        let listen = engine.local_addr();
        let before = engine.webhook_url();
        assert!(before.path().ends_with(old));
        let after = engine.regenerate_secret(&config).unwrap();
        assert_ne!(after, before);
        let (settings, _) = crate::settings::parse(
            &std::fs::read_to_string(&config).unwrap(),
            Path::new("c.toml"),
        )
        .unwrap();
        let new = settings.listener.hook_secret.unwrap();
        assert!(after.path().ends_with(new.as_str()));
        assert!(crate::engine::answers_secret(listen, &new).await);
        let old: HookSecret = toml::Value::String(old.into()).try_into().unwrap();
        assert!(!crate::engine::answers_secret(listen, &old).await);
        // The self-test follows the new secret too.
        engine.send_test().await.unwrap();
        engine.stop().await;
    }

    #[tokio::test]
    async fn an_unreadable_health_row_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        write(&store.writer(), |tx| {
            tx.execute(
                "INSERT INTO health (id, updated_at, json) VALUES (1, 0, '{\"tunnel\": 42}')",
                [],
            )?;
            Ok(())
        })
        .await;
        assert_eq!(recorded(&store.reader().unwrap()).unwrap(), None);
        store.close().await;
    }

    #[tokio::test]
    async fn the_engines_own_probe_leaves_no_event_in_the_feed() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path(), "").await;
        let url = engine.webhook_url();
        let delivered = engine
            .monitor
            .shared
            .send_test(&url, Probe::Periodic)
            .await
            .unwrap();
        let reader = engine.reader().unwrap();
        assert!(!reader.has_event(&delivered.uuid).unwrap());
        assert!(engine
            .health()
            .borrow()
            .selftest
            .as_ref()
            .is_some_and(|t| t.ok));
        // A test the user asks for stays.
        let asked = engine.send_test().await.unwrap();
        assert!(reader.has_event(&asked.uuid).unwrap());
        engine.stop().await;
    }
}
