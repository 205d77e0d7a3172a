//! The desktop shell's hold on the engine: starts it with the settings and
//! the key, restarts it when settings or the key change, and answers what
//! the windows and the tray ask (feed, status, settings, pause, test alert).
//! Everything here is plain Rust over `notifier-core`, so it is tested
//! without a window; UI side effects go through the small [`Host`] trait
//! (the Tauri app implements it with `emit` and the tray).
//!
//! Must not: hold engine logic (enrichment, policy, storage belong to core)
//! or let the API key travel back to the UI.

use crate::error::AppError;
use notifier_core::engine::{self, Engine, Options};
use notifier_core::health::Health;
use notifier_core::notify::desktop::link_allowed;
use notifier_core::notify::{Popup, PopupKind, ShellWindow, Urgency};
use notifier_core::outbox::DestinationStatus;
use notifier_core::pause::{Hold, Pausable};
use notifier_core::pipeline::Sink;
use notifier_core::secrets;
use notifier_core::sekoia::{ApiKey, Client, ClientConfig, SekoiaError};
use notifier_core::settings::form::{self, Form, FormError, NewForward};
use notifier_core::settings::{self, Paths, Region, Settings};
use notifier_core::store::{FeedEntry, Reader, Reads};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use url::Url;

/// What the shell tells the UI side (windows, tray) about.
pub trait Host: Send + Sync + 'static {
    /// The feed changed; `status` carries the new unread count.
    fn feed_changed(&self, status: &Status);
    /// Health, pause, key or webhook URL changed.
    fn status_changed(&self, status: &Status);
    /// A summary pop-up (a storm, a catch-up) or the URL-changed notice was
    /// clicked: show that window.
    fn open_window(&self, window: ShellWindow);
}

/// The state the tray and both windows show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub unread: u64,
    /// RFC 3339, while pop-ups are paused.
    pub paused_until: Option<String>,
    /// What the pause holds back ("below-urgent": Urgent alerts still pop
    /// up; "everything"), while pop-ups are paused.
    pub paused_hold: Option<Hold>,
    /// One sentence when something needs attention: the first of `warnings`.
    pub warning: Option<String>,
    /// Every problem that holds now, the most pressing first (the tray's
    /// tooltip lists them all).
    pub warnings: Vec<String>,
    pub key: KeyStatus,
    /// The URL to paste into Sekoia.io.
    pub webhook_url: Option<String>,
    /// The URL is only reachable from this machine (no tunnel, no public URL).
    pub webhook_local: bool,
    /// Tunnel, API and self-test state, while the engine runs.
    pub health: Option<Health>,
}

/// What the UI may know about the API key: never the key itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KeyStatus {
    pub stored: bool,
    /// Where it was found: "the OS keyring", "SEKOIA_API_KEY", a file.
    pub source: Option<String>,
    /// RFC 3339 time of the last /v1/me check.
    pub checked_at: Option<String>,
    /// The outcome of that check, when it ran.
    pub accepted: Option<bool>,
    /// Why the check failed, in words.
    pub problem: Option<String>,
}

/// One forward destination as the settings window lists it: never its URL.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardView {
    pub index: usize,
    pub kind: String,
    /// Where the URL is kept: "keyring", "file" or "config".
    pub url_in: &'static str,
    pub events: Vec<String>,
    pub min_urgency: u8,
    /// Delivery state (host, counts, last failure), while the engine runs.
    pub status: Option<DestinationStatus>,
}

/// What the settings window opens with.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    pub form: Form,
    pub forwards: Vec<ForwardView>,
    pub regions: Vec<RegionView>,
    pub status: Status,
    pub config_file: String,
    pub autostart: Option<bool>,
}

/// A region as the settings window offers it: its name and where it leads.
#[derive(Debug, Clone, Serialize)]
pub struct RegionView {
    /// `fra1`, `usa1`… (the config's value).
    pub name: &'static str,
    /// The web app's host, e.g. `app.sekoia.io`.
    pub app_host: String,
    /// The API base, e.g. `https://api.sekoia.io/`.
    pub api_url: String,
}

/// How long pop-ups are paused from the tray or the feed, and what the
/// pause holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PauseFor {
    /// For this long from now.
    Span(Duration, Hold),
    /// Until the given instant (the tray computes "tomorrow morning" locally).
    Until(SystemTime, Hold),
    Resume,
}

struct Running {
    /// Shared so that long calls (a test alert, an acknowledgement) run
    /// without holding the shell's lock.
    engine: Arc<Engine>,
    /// Reads off the async threads (see [`Shell::read`]).
    reads: Reads,
    desktop: Option<Arc<Pausable>>,
    /// Forward feed changes and health changes to the host.
    watchers: [JoinHandle<()>; 2],
}

impl Running {
    /// Stops the engine once no call still uses it (such calls end within
    /// their own timeouts).
    async fn stop(self) {
        for watcher in &self.watchers {
            watcher.abort();
        }
        let mut engine = self.engine;
        loop {
            match Arc::try_unwrap(engine) {
                Ok(engine) => return engine.stop().await,
                Err(shared) => {
                    engine = shared;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

struct Inner {
    settings: Settings,
    running: Option<Running>,
    key: KeyStatus,
    /// Why the engine is not running, when it is not.
    stopped: Option<String>,
}

pub struct Shell {
    paths: Paths,
    host: OnceLock<Arc<dyn Host>>,
    /// Held only for short reads and swaps, never across an engine's stop
    /// or start: windows and tray keep answering while the engine restarts.
    inner: tokio::sync::Mutex<Inner>,
    /// Serializes engine starts, stops and restarts (held across them).
    restarting: tokio::sync::Mutex<()>,
    paused_until: Mutex<Option<(SystemTime, Hold)>>,
    /// A fixed key (tests); otherwise the keyring, env and file are asked.
    key_override: Option<ApiKey>,
    /// The detail pane's and the community names' caches (`crate::detail`).
    caches: crate::detail::Cache,
}

/// The warning while no API key is stored (the settings window shows it at
/// the key field instead of a banner).
pub const NO_KEY_WARNING: &str =
    "No API key: alerts arrive without title or urgency. Add one in Settings.";

/// How long a browser opener is watched for a quick failure (xdg-open with
/// no browser exits at once), as the `open` crate does.
const OPENER_CHECK: Duration = Duration::from_millis(250);

/// How long the feed watcher waits for more changes before telling the UI.
const FEED_DEBOUNCE: Duration = Duration::from_millis(150);
/// How many feed entries the window gets.
pub const FEED_LIMIT: usize = 500;

impl Shell {
    /// Reads (or creates) the config; the engine starts with [`Shell::start`].
    pub fn new(paths: Paths) -> Result<Shell, AppError> {
        let loaded = settings::load_or_init(&paths.config_file)?;
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        Ok(Shell {
            paths,
            host: OnceLock::new(),
            inner: tokio::sync::Mutex::new(Inner {
                settings: loaded.settings,
                running: None,
                key: KeyStatus::default(),
                stopped: Some("starting".into()),
            }),
            restarting: tokio::sync::Mutex::new(()),
            paused_until: Mutex::new(None),
            key_override: None,
            caches: crate::detail::Cache::default(),
        })
    }

    /// Uses `key` instead of asking the keyring (tests without a keyring).
    pub fn with_key(mut self, key: ApiKey) -> Shell {
        self.key_override = Some(key);
        self
    }

    pub fn set_host(&self, host: Arc<dyn Host>) {
        let _ = self.host.set(host);
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Starts the engine with the settings and key at hand. Returns whether
    /// a key is stored (the first run opens the settings window without).
    pub async fn start(self: &Arc<Self>) -> Result<bool, AppError> {
        let restarting = self.restarting.lock().await;
        let (key, late) = self.first_key().await;
        // A keyring still asking for its password may well hold a key.
        let has_key = key.is_some() || late.is_some();
        let started = self
            .replace_engine(&restarting, |inner| (inner.settings.clone(), key.clone()))
            .await;
        drop(restarting);
        started?;
        if let Some(key) = key {
            self.spawn_key_check(key);
        }
        if let Some(late) = late {
            self.spawn_late_key(late);
        }
        self.publish_status().await;
        Ok(has_key)
    }

    /// The key to start with, never waiting on the keyring more than
    /// [`KEYRING_FIRST_WAIT`]: past it, the engine starts with what else is
    /// given (or none) and the keyring's late answer comes on the channel.
    async fn first_key(&self) -> (Option<ApiKey>, Option<LateKey>) {
        if self.key_override.is_some() {
            let mut inner = self.inner.lock().await;
            return (self.override_key(&mut inner), None);
        }
        // The keyring (a D-Bus call) and the key file: off the async threads.
        let settings = self.inner.lock().await.settings.clone();
        let read = tokio::task::spawn_blocking(move || {
            let read = secrets::from_keyring_or_later(KEYRING_FIRST_WAIT);
            match read {
                secrets::KeyringRead::Answered(read) => {
                    (secrets::resolve_after_keyring(&settings, read), None)
                }
                secrets::KeyringRead::Late(late) => {
                    let waited = Err(secrets::SecretsError::KeyringTimeout {
                        after: KEYRING_FIRST_WAIT,
                    });
                    (
                        secrets::resolve_after_keyring(&settings, waited),
                        Some(late),
                    )
                }
            }
        })
        .await;
        let mut inner = self.inner.lock().await;
        match read {
            Ok((resolved, late)) => (record_resolved(&mut inner, resolved), late),
            Err(e) => {
                tracing::error!("the key lookup failed: {e}");
                (None, None)
            }
        }
    }

    /// Waits (off the async threads) for the keyring's late answer and, when
    /// it brings a key, restarts the engine with it, unless a key was set
    /// in the settings window meanwhile.
    fn spawn_late_key(self: &Arc<Self>, late: LateKey) {
        let shell = Arc::clone(self);
        tokio::spawn(async move {
            let answer =
                tokio::task::spawn_blocking(move || late.recv_timeout(KEYRING_LATE_MAX)).await;
            let key = match answer {
                Ok(Ok(Ok(Some(key)))) => key,
                Ok(Ok(Ok(None))) => return,
                Ok(Ok(Err(e))) => {
                    tracing::info!("the OS keyring answered late, without a key: {e}");
                    return;
                }
                _ => {
                    tracing::warn!(
                        "the OS keyring never answered; set the API key in the settings, or unlock the keyring and restart"
                    );
                    return;
                }
            };
            let restarting = shell.restarting.lock().await;
            if shell.inner.lock().await.key.stored {
                return;
            }
            tracing::info!("the OS keyring answered: restarting the engine with the API key");
            let restarted = shell
                .replace_engine(&restarting, |inner| {
                    inner.key = KeyStatus {
                        stored: true,
                        source: Some(secrets::KeySource::Keyring.to_string()),
                        ..KeyStatus::default()
                    };
                    (inner.settings.clone(), Some(key.clone()))
                })
                .await;
            drop(restarting);
            if let Err(e) = restarted {
                tracing::error!("the engine did not restart with the key: {e}");
            }
            shell.spawn_key_check(key);
            shell.publish_status().await;
        });
    }

    /// Stops the engine gracefully (intake, pipeline drain, tunnel, store).
    pub async fn stop(&self) {
        let _restarting = self.restarting.lock().await;
        let running = {
            let mut inner = self.inner.lock().await;
            inner.stopped = Some("stopped".into());
            inner.running.take()
        };
        if let Some(running) = running {
            running.stop().await;
        }
    }

    /// Stops the running engine (if any) and starts one with the settings
    /// and key `change` decides (it may also update the shell's state), all
    /// without holding the shell's lock across the stop and the start; the
    /// caller holds `restarting`. Meanwhile the shell answers, saying the
    /// engine is restarting.
    async fn replace_engine(
        self: &Arc<Self>,
        _restarting: &tokio::sync::MutexGuard<'_, ()>,
        change: impl FnOnce(&mut Inner) -> (Settings, Option<ApiKey>),
    ) -> Result<(), AppError> {
        let (old, settings, key) = {
            let mut inner = self.inner.lock().await;
            let (settings, key) = change(&mut inner);
            inner.settings = settings.clone();
            inner.stopped = Some("restarting".into());
            (inner.running.take(), settings, key)
        };
        self.publish_status().await;
        if let Some(old) = old {
            old.stop().await;
        }
        let started = self.start_engine(&settings, key).await;
        let mut inner = self.inner.lock().await;
        match started {
            Ok(running) => {
                inner.running = Some(running);
                inner.stopped = None;
                Ok(())
            }
            Err(e) => {
                inner.stopped = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// The test override, recorded as the stored key; `None` without one.
    fn override_key(&self, inner: &mut Inner) -> Option<ApiKey> {
        let key = self.key_override.clone()?;
        inner.key.stored = true;
        inner.key.source = Some("the test override".into());
        Some(key)
    }

    async fn start_engine(
        self: &Arc<Self>,
        settings: &Settings,
        key: Option<ApiKey>,
    ) -> Result<Running, AppError> {
        let desktop = engine::desktop_sink(settings).map(|sink| {
            let pausable =
                Arc::new(Pausable::new(sink).keeping_from(settings.notify.always_popup_urgency));
            let paused = *self
                .paused_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pausable.pause(
                paused.map(|(t, _)| t),
                paused.map_or_else(Hold::default, |(_, h)| h),
            );
            // A click on a summary pop-up (a storm, a catch-up) opens the
            // feed; on the URL-changed notice, the settings (to copy it).
            let shell = Arc::downgrade(self);
            pausable.offer_windows(Arc::new(move |window| {
                if let Some(host) = shell.upgrade().as_ref().and_then(|s| s.host.get()) {
                    host.open_window(window);
                }
            }));
            pausable
        });
        // Forward destinations from `[[forward]]` work here too (a bad one is
        // a settings error, as in the daemon).
        // The keyring and files behind `url_keyring`/`url_file`: off the
        // async threads.
        let forward = {
            let (entries, config) = (settings.forward.clone(), self.paths.config_file.clone());
            tokio::task::spawn_blocking(move || settings::forward_targets(&entries, &config))
                .await
                .map_err(|e| AppError::Internal(e.to_string()))??
        };
        let options = Options {
            api_key: key,
            forward,
            sinks: desktop
                .iter()
                .map(|d| Arc::clone(d) as Arc<dyn Sink>)
                .collect(),
            ..Options::default()
        };
        let engine = Engine::start(settings, &self.paths.data_dir, options).await?;
        let reads = engine.reads();
        let feed = tokio::spawn(Arc::clone(self).watch_feed(engine.changes(), reads.clone()));
        let health = tokio::spawn(Arc::clone(self).watch_health(engine.health()));
        Ok(Running {
            engine: Arc::new(engine),
            reads,
            desktop,
            watchers: [feed, health],
        })
    }

    /// Runs `read` on the running engine's reader on a blocking thread (a
    /// read can wait on SQLite's busy handler), without the shell's lock.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Reader, &Settings) -> Result<T, notifier_core::store::StoreError>
            + Send
            + 'static,
    ) -> Result<T, AppError> {
        let (reads, settings) = {
            let inner = self.inner.lock().await;
            let running = inner.running.as_ref().ok_or_else(|| not_running(&inner))?;
            (running.reads.clone(), inner.settings.clone())
        };
        Ok(reads.run(move |r| read(r, &settings)).await?)
    }

    /// Tells the UI about feed changes, at most every [`FEED_DEBOUNCE`].
    async fn watch_feed(
        self: Arc<Self>,
        mut changes: tokio::sync::watch::Receiver<u64>,
        reads: Reads,
    ) {
        while changes.changed().await.is_ok() {
            tokio::time::sleep(FEED_DEBOUNCE).await;
            changes.borrow_and_update();
            let unread = reads.run(|r| r.unread()).await.unwrap_or(0);
            let status = self.status_with(unread).await;
            if let Some(host) = self.host.get() {
                host.feed_changed(&status);
            }
        }
    }

    /// Tells the UI when the tunnel, the API or the self-test state changes.
    async fn watch_health(self: Arc<Self>, mut health: tokio::sync::watch::Receiver<Health>) {
        while health.changed().await.is_ok() {
            health.borrow_and_update();
            self.publish_status().await;
        }
    }

    fn spawn_key_check(self: &Arc<Self>, key: ApiKey) {
        let shell = Arc::clone(self);
        tokio::spawn(async move {
            let settings = shell.inner.lock().await.settings.clone();
            let outcome = check_key(&settings, key).await;
            shell.inner.lock().await.key.record(outcome.as_ref().err());
            shell.publish_status().await;
        });
    }

    async fn publish_status(&self) {
        let status = self.status().await;
        if let Some(host) = self.host.get() {
            host.status_changed(&status);
        }
    }

    /// The state the tray and the windows show.
    pub async fn status(&self) -> Status {
        let unread = self.read(|r, _| r.unread()).await.unwrap_or(0);
        self.status_with(unread).await
    }

    async fn status_with(&self, unread: u64) -> Status {
        let forwards = self.forward_statuses().await;
        let inner = self.inner.lock().await;
        let paused = self.paused();
        let paused_until = paused.map(|(t, _)| rfc3339(t));
        let paused_hold = paused.map(|(_, h)| h);
        let webhook = inner.running.as_ref().map(|r| r.engine.webhook_url());
        let health = inner
            .running
            .as_ref()
            .map(|r| r.engine.health().borrow().clone());
        let webhook_local = webhook
            .as_ref()
            .and_then(Url::host_str)
            .is_none_or(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]");
        // Every problem that holds now, the most pressing first.
        let mut warnings = Vec::new();
        if let Some(why) = &inner.stopped {
            warnings.push(format!("The engine is not running: {why}"));
        }
        if !inner.key.stored {
            warnings.push(NO_KEY_WARNING.into());
        } else if inner.key.accepted == Some(false) {
            warnings.extend(inner.key.problem.clone());
        }
        let no_key = matches!(
            health.as_ref().map(|h| &h.api),
            Some(notifier_core::health::ApiHealth::NoKey)
        );
        warnings.extend(
            health
                .as_ref()
                .and_then(Health::warning)
                // Said once, above, in the app's own words.
                .filter(|w| !(no_key && !inner.key.stored && w.starts_with("No API key"))),
        );
        warnings.extend(forward_warning(&forwards));
        warnings.dedup();
        Status {
            unread,
            paused_until,
            paused_hold,
            warning: warnings.first().cloned(),
            warnings,
            key: inner.key.clone(),
            webhook_url: webhook.map(String::from),
            webhook_local,
            health,
        }
    }

    /// The most recent feed entries, newest first.
    pub async fn feed(&self, limit: usize) -> Result<Vec<FeedEntry>, AppError> {
        self.read(move |r, settings| r.feed(limit.min(FEED_LIMIT), settings))
            .await
    }

    /// The intervals of the last 7 days in which no webhook could arrive
    /// (tunnel down, app not running, asleep), oldest first.
    pub async fn gaps(&self) -> Result<Vec<notifier_core::reach::Gap>, AppError> {
        let since = time::OffsetDateTime::now_utc() - time::Duration::days(7);
        self.read(move |r, _| notifier_core::reach::gaps(r, since))
            .await
    }

    /// Marks one alert's events, or all, as read.
    pub async fn mark_read(&self, uuid: Option<String>) -> Result<usize, AppError> {
        let writer = {
            let inner = self.inner.lock().await;
            let running = inner.running.as_ref().ok_or_else(|| not_running(&inner))?;
            running.engine.writer()
        };
        Ok(writer.mark_read(uuid).await?)
    }

    /// The alert page of feed entry `id`, only if it is under the
    /// configured app URL (the same rule as a pop-up click).
    pub async fn alert_link(&self, id: i64) -> Result<Url, AppError> {
        let entry = self
            .read(move |r, settings| r.feed(FEED_LIMIT, settings))
            .await?
            .into_iter()
            .find(|e| e.id == id);
        let app_url = self.inner.lock().await.settings.app_url();
        let link = entry
            .and_then(|e| e.url)
            .and_then(|u| Url::parse(&u).ok())
            .ok_or(AppError::NoLink)?;
        if !link_allowed(&app_url, &link) {
            tracing::warn!("refused to open a link outside the configured app URL");
            return Err(AppError::NoLink);
        }
        Ok(link)
    }

    /// Acknowledges alert `uuid` in Sekoia.io (its workflow's Acknowledge
    /// action) and updates the feed entry; returns the new status.
    pub async fn acknowledge(&self, uuid: &str) -> Result<Option<String>, AppError> {
        let engine = self.engine().await?;
        Ok(engine.acknowledge(uuid).await?.status)
    }

    pub(crate) fn caches(&self) -> &crate::detail::Cache {
        &self.caches
    }

    /// The running engine, without holding the shell's lock while using it.
    pub(crate) async fn engine(&self) -> Result<Arc<Engine>, AppError> {
        let inner = self.inner.lock().await;
        let running = inner.running.as_ref().ok_or_else(|| not_running(&inner))?;
        Ok(Arc::clone(&running.engine))
    }

    /// Opens the alert page of feed entry `id` in the default browser.
    pub async fn open_alert(&self, id: i64) -> Result<(), AppError> {
        let link = self.alert_link(id).await?;
        // The openers are watched for a moment (a failure is reported):
        // off the async threads.
        let url = link.to_string();
        let opened = tokio::task::spawn_blocking(move || {
            notifier_core::children::open_in_browser_checked(&url, &[], OPENER_CHECK)
        })
        .await
        .map_err(|e| AppError::Browser(format!("the launcher did not run: {e}")))?;
        opened.map_err(|e| {
            tracing::warn!("the browser launcher failed: {e}");
            AppError::Browser(if e.kind() == std::io::ErrorKind::NotFound {
                "no launcher such as xdg-open is installed".into()
            } else {
                "the launcher (xdg-open) reported a failure".into()
            })
        })
    }

    pub fn paused_until(&self) -> Option<SystemTime> {
        self.paused().map(|(t, _)| t)
    }

    /// Until when pop-ups are paused and what the pause holds back.
    pub fn paused(&self) -> Option<(SystemTime, Hold)> {
        let until = *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.filter(|(t, _)| *t > SystemTime::now())
    }

    /// Pauses or resumes desktop pop-ups (the feed still fills). A pause
    /// of `Hold::BelowUrgent` lets alerts at or above `[notify]
    /// always_popup_urgency` through.
    pub async fn pause(&self, how: PauseFor) {
        let paused = match how {
            PauseFor::Span(span, hold) => Some((SystemTime::now() + span, hold)),
            PauseFor::Until(t, hold) => Some((t, hold)),
            PauseFor::Resume => None,
        };
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = paused;
        if let Some(desktop) = self
            .inner
            .lock()
            .await
            .running
            .as_ref()
            .and_then(|r| r.desktop.as_ref())
        {
            desktop.pause(
                paused.map(|(t, _)| t),
                paused.map_or_else(Hold::default, |(_, h)| h),
            );
        }
        self.publish_status().await;
    }

    /// Posts a synthetic event through the public webhook URL and waits for
    /// it in the store: proves tunnel and listener end to end.
    pub async fn send_test(&self) -> Result<String, AppError> {
        let engine = self.engine().await?;
        let url = engine.webhook_url();
        let delivered = engine.send_test().await?;
        Ok(match engine.webhook_route() {
            notifier_core::selftest::Route::Public => format!(
                "Test alert received through {} in {} ms",
                url.host_str().unwrap_or("the webhook"),
                delivered.round_trip.as_millis()
            ),
            notifier_core::selftest::Route::Local => format!(
                "Test alert {} ({} ms)",
                notifier_core::selftest::LOCAL_ONLY,
                delivered.round_trip.as_millis()
            ),
        })
    }

    /// Shows a pop-up of the shell's own (a failed test, for instance).
    pub async fn tell(&self, summary: &str, line: &str) {
        let desktop = self
            .inner
            .lock()
            .await
            .running
            .as_ref()
            .and_then(|r| r.desktop.clone());
        if let Some(desktop) = desktop {
            let popup = Popup {
                kind: PopupKind::Notice,
                key: "sekoia-notifier-shell".into(),
                summary: summary.into(),
                lines: vec![line.into()],
                urgency: Urgency::Normal,
                link: None,
                ..Popup::default()
            };
            if let Err(e) = desktop.show(&popup).await {
                tracing::warn!("{e}");
            }
        }
    }

    /// Each forward destination's state (read off the async threads,
    /// without the shell's lock); empty while the engine is not running.
    async fn forward_statuses(&self) -> Vec<DestinationStatus> {
        let Ok(engine) = self.engine().await else {
            return Vec::new();
        };
        engine.forward_status().await.unwrap_or_default()
    }

    /// What the settings window opens with.
    pub async fn settings_view(&self, autostart: Option<bool>) -> SettingsView {
        let statuses = self.forward_statuses().await;
        let (form, forwards) = {
            let inner = self.inner.lock().await;
            (
                Form::from_settings(&inner.settings),
                forward_views(&inner, statuses),
            )
        };
        SettingsView {
            form,
            forwards,
            regions: Region::ALL
                .iter()
                .map(|r| RegionView {
                    name: r.as_str(),
                    app_host: r.app_url().host_str().unwrap_or_default().to_owned(),
                    api_url: r.api_url().to_string(),
                })
                .collect(),
            status: self.status().await,
            config_file: self.paths.config_file.display().to_string(),
            autostart,
        }
    }

    /// Checks and saves the form, then restarts the engine with it. If the
    /// new settings cannot start (the port is taken), the previous ones are
    /// written back and restarted, and the error says why.
    pub async fn save_settings(self: &Arc<Self>, new: &Form) -> Result<(), AppError> {
        let restarting = self.restarting.lock().await;
        let previous = Form::from_settings(&self.inner.lock().await.settings);
        let settings = form::save(&self.paths.config_file, new)?;
        let api_changed = settings.api_url() != self.inner.lock().await.settings.api_url();
        let key = self.restart_key().await;
        let started = self
            .replace_engine(&restarting, |_| (settings, key.clone()))
            .await;
        if let Err(e) = started {
            tracing::warn!("new settings failed to start ({e}); restoring the previous ones");
            if let Ok(old) = form::save(&self.paths.config_file, &previous) {
                if let Err(again) = self.replace_engine(&restarting, |_| (old, key)).await {
                    tracing::error!("the previous settings did not start again either: {again}");
                }
            }
            drop(restarting);
            self.publish_status().await;
            return Err(e);
        }
        // Another region (or API URL): the last verdict was about the old
        // one, so the key is checked again against the new one.
        if api_changed {
            let mut inner = self.inner.lock().await;
            inner.key.checked_at = None;
            inner.key.accepted = None;
            inner.key.problem = None;
        }
        drop(restarting);
        if let (true, Some(key)) = (api_changed, key) {
            self.spawn_key_check(key);
        }
        self.publish_status().await;
        Ok(())
    }

    /// The key to restart with (keyring, environment or file, read off
    /// the async threads), keeping the last check's verdict.
    async fn restart_key(&self) -> Option<ApiKey> {
        let mut inner = self.inner.lock().await;
        if self.key_override.is_some() {
            return self.override_key(&mut inner);
        }
        let settings = inner.settings.clone();
        drop(inner);
        let resolved = tokio::task::spawn_blocking(move || secrets::resolve(&settings)).await;
        let mut inner = self.inner.lock().await;
        let checked = (
            inner.key.checked_at.clone(),
            inner.key.accepted,
            inner.key.problem.clone(),
        );
        let key = match resolved {
            Ok(resolved) => record_resolved(&mut inner, resolved),
            Err(e) => {
                tracing::error!("the key lookup failed: {e}");
                None
            }
        };
        // Same key, same verdict: keep what the last check said.
        (inner.key.checked_at, inner.key.accepted, inner.key.problem) = checked;
        key
    }

    /// Checks `text` with GET /v1/me and, unless the API rejects it, stores
    /// it in the OS keyring and restarts the engine with it. An unreachable
    /// API does not stop the save (the check runs again later); a rejected
    /// key is not stored.
    pub async fn set_api_key(self: &Arc<Self>, text: String) -> Result<KeyStatus, AppError> {
        let started = std::time::Instant::now();
        let key = ApiKey::new(text)?;
        let settings = self.inner.lock().await.settings.clone();
        let outcome = match check_key(&settings, key.clone()).await {
            Err(e) if e.is_rejection() => {
                self.inner.lock().await.key.record(Some(&e));
                self.publish_status().await;
                return Err(e.into());
            }
            other => other,
        };
        if self.key_override.is_none() {
            let stored = key.clone();
            tokio::task::spawn_blocking(move || secrets::store_in_keyring(&stored))
                .await
                .map_err(|e| AppError::Internal(e.to_string()))??;
        }
        let restarting = self.restarting.lock().await;
        let restarted = self
            .replace_engine(&restarting, |inner| {
                inner.key = KeyStatus {
                    stored: true,
                    source: Some("the OS keyring".into()),
                    ..KeyStatus::default()
                };
                inner.key.record(outcome.as_ref().err());
                (inner.settings.clone(), Some(key))
            })
            .await;
        drop(restarting);
        let key_status = self.inner.lock().await.key.clone();
        self.publish_status().await;
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "API key stored and the engine restarted with it"
        );
        restarted.map(|()| key_status)
    }

    /// The user copied the webhook URL: a changed URL stops being a warning.
    pub async fn url_copied(&self) {
        if let Some(running) = self.inner.lock().await.running.as_ref() {
            running.engine.acknowledge_url_change();
        }
    }

    /// A new hook secret (the old webhook URL stops working at once); returns
    /// the new URL.
    pub async fn regenerate_secret(&self) -> Result<String, AppError> {
        let mut inner = self.inner.lock().await;
        let running = inner.running.as_ref().ok_or_else(|| not_running(&inner))?;
        let url = running.engine.regenerate_secret(&self.paths.config_file)?;
        inner.settings = settings::load_or_init(&self.paths.config_file)?.settings;
        drop(inner);
        self.publish_status().await;
        Ok(url.to_string())
    }

    /// Adds a forward destination: its URL goes to the OS keyring, the
    /// config gets a `[[forward]]` table naming the keyring entry, and the
    /// engine restarts with it.
    pub async fn add_forward(self: &Arc<Self>, new: &NewForward) -> Result<(), AppError> {
        let checked = new.check().map_err(FormError::from)?;
        let id = keyring_id()?;
        let config = self.paths.config_file.clone();
        let settings = tokio::task::spawn_blocking(move || {
            secrets::store_forward_url(&id, checked.url.as_str())?;
            match form::add_forward(&config, &checked, &id) {
                Ok(settings) => Ok(settings),
                Err(e) => {
                    let _ = secrets::delete_forward_url(&id);
                    Err(AppError::from(e))
                }
            }
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
        self.restart_with(settings).await
    }

    /// Removes forward destination `index` (and its URL from the keyring).
    pub async fn remove_forward(self: &Arc<Self>, index: usize) -> Result<(), AppError> {
        let (settings, id) = form::remove_forward(&self.paths.config_file, index)?;
        if let Some(id) = id {
            tokio::task::spawn_blocking(move || secrets::delete_forward_url(&id))
                .await
                .map_err(|e| AppError::Internal(e.to_string()))??;
        }
        self.restart_with(settings).await
    }

    async fn restart_with(self: &Arc<Self>, settings: Settings) -> Result<(), AppError> {
        let restarting = self.restarting.lock().await;
        let key = self.restart_key().await;
        let started = self.replace_engine(&restarting, |_| (settings, key)).await;
        drop(restarting);
        self.publish_status().await;
        started
    }

    pub fn config_file(&self) -> PathBuf {
        self.paths.config_file.clone()
    }
}

impl KeyStatus {
    /// Records a /v1/me check: `None` when the key was accepted.
    fn record(&mut self, failure: Option<&SekoiaError>) {
        self.checked_at = Some(rfc3339(SystemTime::now()));
        match failure {
            None => {
                self.accepted = Some(true);
                self.problem = None;
            }
            Some(e) => {
                self.accepted = e.is_rejection().then_some(false);
                self.problem = Some(e.to_string());
            }
        }
    }
}

/// `GET /v1/me` through the configured proxy, with the configured roots.
async fn check_key(settings: &Settings, key: ApiKey) -> Result<(), SekoiaError> {
    let network = notifier_core::network::Network::new(&settings.network).map_err(|e| {
        SekoiaError::Network {
            detail: e.to_string(),
        }
    })?;
    let config = ClientConfig {
        network,
        ..ClientConfig::new(settings.api_url())
    };
    let client = Client::new(config, key)?;
    client.me().await.map(|_| ())
}

fn forward_views(inner: &Inner, statuses: Vec<DestinationStatus>) -> Vec<ForwardView> {
    inner
        .settings
        .forward
        .iter()
        .enumerate()
        .map(|(index, f)| ForwardView {
            index,
            kind: f.kind.to_string(),
            url_in: if f.url_keyring.is_some() {
                "keyring"
            } else if f.url_file.is_some() {
                "file"
            } else {
                "config"
            },
            events: f.events.iter().map(ToString::to_string).collect(),
            min_urgency: f.min_urgency,
            status: statuses.get(index).cloned(),
        })
        .collect()
}

/// The first forward destination whose last outcome was a failure, in words.
fn forward_warning(statuses: &[DestinationStatus]) -> Option<String> {
    statuses
        .iter()
        .find(|d| d.health == "failing")
        .map(|d| match &d.last_failure {
            Some(f) => format!("Forwarding to {} fails: {}", d.name, f.error),
            None => format!("Forwarding to {} fails", d.name),
        })
}

/// A fresh keyring id for a forward URL: 12 random hex digits.
fn keyring_id() -> Result<String, AppError> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Keyring(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The longest the first start waits for the keyring before serving
/// without the key (an unlock prompt may be waiting for the user).
const KEYRING_FIRST_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a late keyring answer is still taken.
const KEYRING_LATE_MAX: std::time::Duration = std::time::Duration::from_secs(600);

/// A keyring read still going (see `secrets::from_keyring_or_later`).
type LateKey = std::sync::mpsc::Receiver<Result<Option<ApiKey>, secrets::SecretsError>>;

/// Records where the key came from, or why there is none.
fn record_resolved(
    inner: &mut Inner,
    resolved: Result<(ApiKey, secrets::KeySource), secrets::SecretsError>,
) -> Option<ApiKey> {
    match resolved {
        Ok((key, source)) => {
            inner.key.stored = true;
            inner.key.source = Some(source.to_string());
            Some(key)
        }
        Err(e) => {
            tracing::info!("{e}; events are stored and shown without enrichment");
            inner.key = KeyStatus {
                problem: Some(e.to_string()),
                ..KeyStatus::default()
            };
            None
        }
    }
}

fn not_running(inner: &Inner) -> AppError {
    AppError::NotRunning(inner.stopped.clone().unwrap_or_else(|| "unknown".into()))
}

fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
