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
//!
//! In detail: the engine's watch over delivery. Feeds `Health` from the tunnel
//! state and from every Alert API call (`sekoia::Client::observe`), runs the
//! self-test every `tunnel.selftest_interval`, after a new tunnel URL and after
//! resume from sleep (wall clock ahead of the monotonic clock); a tunnel's URL
//! is `Checking` until a self-test through it passes, `Unreachable` after a
//! failed one, and after `UNREACHABLE_AFTER` (3) failures in a row the tunnel
//! is restarted; beats a heartbeat every 30 s (its own probes are
//! `notifier-test:probe` events: no pop-up, removed once seen), and records the
//! health (table `health`, read by `check` through `monitor::recorded`) and
//! reachability (`reach`) through `Writer::apply`. The self-test's POST uses
//! `network`'s proxy and roots.

use crate::model::health::{ApiHealth, Health, LiveHealth, SelfTest, TunnelHealth};
use crate::settings::{hook_url, HookSecret};
use crate::store::reach;
use crate::store::{Reader, StoreError, Writer};
use crate::watch::selftest::{self, Delivered, SelfTestError};
use crate::watch::tunnel::{Restarter, TunnelState};
use rusqlite::OptionalExtension;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
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
pub use crate::model::health::UNREACHABLE_AFTER;

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
    /// Proxy and trusted roots of the self-test's POST.
    pub network: crate::net::network::Network,
    /// Restarts the tunnel program after [`UNREACHABLE_AFTER`] failed
    /// self-tests in a row through its URL.
    pub restart: Option<Restarter>,
    /// `tunnel.allow_plain_http`: self-test a plain http URL a tunnel shows.
    pub allow_plain_http: bool,
    /// This start's URL proof: a public URL answers it before a self-test
    /// sends the secret there.
    pub proof: Arc<crate::watch::proof::Proof>,
    /// The engine's tasks: background probes run there, so none outlives
    /// the engine.
    pub tasks: crate::os::tasks::Tasks,
}

/// The state shared by the monitor task and the engine's handles.
pub(crate) struct Shared {
    health: watch::Sender<Health>,
    secret: watch::Receiver<HookSecret>,
    data_dir: PathBuf,
    writer: Writer,
    network: crate::net::network::Network,
    /// One probe at a time (the periodic one and "Send test alert").
    probing: Mutex<()>,
    restart: Option<Restarter>,
    /// Failed self-tests in a row through the tunnel's current URL.
    failures: AtomicU32,
    /// `tunnel.public_url` and `tunnel.allow_plain_http`: which URLs a
    /// tunnel shows are [`TunnelHealth::Plain`].
    fixed_public: Option<Url>,
    allow_plain_http: bool,
    proof: Arc<crate::watch::proof::Proof>,
    tasks: crate::os::tasks::Tasks,
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
    pub(crate) fn popup_state(&self, popups: crate::model::health::PopupHealth) {
        self.health.send_if_modified(|h| {
            let changed = h.popups != popups;
            h.popups = popups;
            changed
        });
    }

    /// Feeds the store's refusals (intake) into the health.
    pub(crate) fn storage_state(&self, storage: crate::model::health::StorageHealth) {
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
        let host = webhook.host_str().unwrap_or("the webhook URL").to_owned();
        // A plain http URL a tunnel shows never gets the secret.
        let plain = matches!(&self.health.borrow().tunnel, TunnelHealth::Plain { url } if url.host_str() == webhook.host_str());
        if plain {
            return Err(SelfTestError::PlainHttp { url_host: host });
        }
        let _one = self.probing.lock().await;
        // A public URL proves it leads to us (without the secret) first.
        let proven = match kind {
            Probe::Asked(selftest::Route::Local) => Ok(()),
            Probe::Asked(selftest::Route::Public) | Probe::Periodic => self
                .proof
                .check(webhook, &self.network)
                .await
                .map_err(SelfTestError::from),
        };
        let result = match (proven, kind) {
            (Err(e), _) => Err(e),
            (Ok(()), kind) => match kind {
                Probe::Asked(route) => {
                    selftest::send_test(
                        webhook,
                        route,
                        &self.data_dir,
                        SELFTEST_WAIT,
                        &self.network,
                    )
                    .await
                }
                Probe::Periodic => {
                    selftest::probe(webhook, &self.data_dir, SELFTEST_WAIT, &self.network).await
                }
            },
        };
        if let (Probe::Periodic, Ok(delivered)) = (kind, &result) {
            let uuid = delivered.uuid.clone();
            let removed = self
                .writer
                .apply_to_feed(Box::new(move |tx| {
                    tx.execute(
                        "DELETE FROM events WHERE kind = ?1 AND uuid = ?2",
                        [crate::model::test_event::TEST_TYPE, uuid.as_str()],
                    )?;
                    Ok(())
                }))
                .await;
            if let Err(e) = removed {
                tracing::warn!(error = %e, "the probe event stays in the feed");
            }
        }
        let (ok, message) = match &result {
            Ok(d) if kind == Probe::Asked(selftest::Route::Local) => (
                true,
                format!("{} ({} ms)", selftest::LOCAL_ONLY, d.round_trip.as_millis()),
            ),
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
        let through_tunnel = {
            let h = self.health.borrow();
            h.tunnel
                .shown_url()
                .is_some_and(|u| u.host_str() == webhook.host_str())
                && !matches!(h.tunnel, TunnelHealth::None { .. })
        };
        let failures = match (through_tunnel, ok) {
            (false, _) => 0,
            (true, true) => {
                self.failures.store(0, Ordering::SeqCst);
                0
            }
            (true, false) => self.failures.fetch_add(1, Ordering::SeqCst) + 1,
        };
        self.health.send_modify(|h| {
            if through_tunnel {
                h.tunnel = after_probe(&h.tunnel, ok, failures, &message);
            }
            h.selftest = Some(SelfTest {
                at: rfc3339_now(),
                ok,
                message: message.clone(),
            });
        });
        if failures >= UNREACHABLE_AFTER {
            if let Some(restart) = &self.restart {
                tracing::warn!(
                    "{failures} delivery self-tests in a row failed through the tunnel; restarting it"
                );
                self.failures.store(0, Ordering::SeqCst);
                restart.restart(format!(
                    "{failures} delivery self-tests in a row failed through its URL ({message})"
                ));
            }
        }
        result
    }

    /// The webhook URL to probe now, confirmed or not, if there is one.
    /// The tunnel's state as health: a plain http URL the user did not
    /// accept is [`TunnelHealth::Plain`].
    fn tunnel_health(&self, state: &TunnelState) -> TunnelHealth {
        match TunnelHealth::from_state(state, None) {
            TunnelHealth::Up { url }
                if selftest::refuses_plain(
                    &url,
                    self.fixed_public.as_ref(),
                    self.allow_plain_http,
                ) =>
            {
                TunnelHealth::Plain { url }
            }
            other => other,
        }
    }

    fn public_hook(&self) -> Option<Url> {
        let base = self.health.borrow().tunnel.shown_url().cloned()?;
        hook_url(&base, &self.secret.borrow())
    }
}

/// The tunnel's health after a self-test through its URL: confirmed (`Up`)
/// or `Unreachable` with the failures in a row. Other states stay.
fn tunnel_health_is_plain(shared: &Shared) -> bool {
    matches!(shared.health.borrow().tunnel, TunnelHealth::Plain { .. })
}

fn after_probe(tunnel: &TunnelHealth, ok: bool, failures: u32, message: &str) -> TunnelHealth {
    let url = match tunnel {
        TunnelHealth::Up { url }
        | TunnelHealth::Checking { url }
        | TunnelHealth::Unreachable { url, .. } => url.clone(),
        other => return other.clone(),
    };
    if ok {
        TunnelHealth::Up { url }
    } else {
        TunnelHealth::Unreachable {
            url,
            failures,
            reason: message.to_owned(),
        }
    }
}

/// Who asked for a self-test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The user ("Send test alert"), through the public URL or, without
    /// one, the local listener only.
    Asked(selftest::Route),
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
            network: config.network.clone(),
            probing: Mutex::new(()),
            restart: config.restart.clone(),
            failures: AtomicU32::new(0),
            fixed_public: config.fixed_public.clone(),
            allow_plain_http: config.allow_plain_http,
            proof: Arc::clone(&config.proof),
            tasks: config.tasks.clone(),
        });
        if let Some(rx) = &config.tunnel {
            let first = shared.tunnel_health(&rx.borrow());
            shared.health.send_modify(|h| h.tunnel = first);
        }
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
        TunnelHealth::Unreachable { reason, .. } => {
            Some(format!("the tunnel was unreachable: {reason}"))
        }
        TunnelHealth::Up { .. }
        | TunnelHealth::Plain { .. }
        | TunnelHealth::Checking { .. }
        | TunnelHealth::None { .. } => h
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
    let mut last_url: Option<Url> = shared.health.borrow().tunnel.shown_url().cloned();
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
                let mut tunnel_health = shared.tunnel_health(&state);
                // A new run's URL is shown as ready once a self-test
                // through it passed (when self-tests are on).
                if let (TunnelHealth::Up { url }, true) = (&tunnel_health, auto) {
                    tunnel_health = TunnelHealth::Checking { url: url.clone() };
                }
                // A new run (or state) starts a new count of failures.
                shared.failures.store(0, Ordering::SeqCst);
                let checking = matches!(tunnel_health, TunnelHealth::Checking { .. });
                let url = tunnel_health.shown_url().cloned();
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
                let plain = tunnel_health_is_plain(&shared);
                if let Some(url) = url {
                    if (last_url.as_ref() != Some(&url) || checking) && !plain {
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
    let owner = Arc::clone(shared);
    let shared = Arc::clone(shared);
    owner.tasks.spawn(async move {
        tokio::time::sleep(delay).await;
        if tunnel_health_is_plain(&shared) {
            return;
        }
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
    use crate::model::health::SelfTest;
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
    fn a_self_test_confirms_a_shown_url_or_makes_it_unreachable() {
        let url = Url::parse("https://a.example.test").unwrap();
        let checking = TunnelHealth::Checking { url: url.clone() };
        assert_eq!(
            after_probe(&checking, true, 0, "ok"),
            TunnelHealth::Up { url: url.clone() }
        );
        let failed = after_probe(&checking, false, 2, "x answered 404");
        assert_eq!(
            failed,
            TunnelHealth::Unreachable {
                url: url.clone(),
                failures: 2,
                reason: "x answered 404".to_owned()
            }
        );
        assert!(failed.public_url().is_none(), "not shown as ready");
        assert_eq!(failed.shown_url(), Some(&url), "still probed");
        assert!(unreachable_because(&with(failed.clone(), None)).is_some());
        assert_eq!(
            after_probe(&failed, true, 0, "ok"),
            TunnelHealth::Up { url: url.clone() }
        );
        // A tunnel that is not showing a URL stays as it is.
        let starting = TunnelHealth::Starting;
        assert_eq!(after_probe(&starting, false, 3, "x"), starting);
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
        let delivered = engine.send_test().await.unwrap();
        let test = health.borrow().selftest.clone().unwrap();
        assert!(test.ok, "{test:?}");
        // No tunnel, no public URL: honest about what was proved.
        assert!(
            test.message.starts_with(
                "delivered locally; Sekoia.io cannot reach this machine yet (no tunnel)"
            ),
            "{test:?}"
        );
        assert!(crate::watch::selftest::delivered_locally(&delivered.uuid));
        // The test alert is in the feed, never unread: it is not an alert.
        let reader = engine.reader().unwrap();
        assert_eq!(reader.unread().unwrap(), 0);
        let feed = reader
            .feed(10, &crate::settings::Settings::default())
            .unwrap();
        assert!(
            feed.iter()
                .any(|e| e.uuid == delivered.uuid && e.read && e.urgency_band.is_none()),
            "{feed:?}"
        );
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
