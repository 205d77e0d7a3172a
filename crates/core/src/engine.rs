//! Stage 10, the engine, on top: the only module that knows every stage.
//! It wires, starts and stops the parts; it must not hold a part's logic
//! (what a part does lives in its stage).
//!
//! One running engine: the store, the webhook listener, the LiveAPI source,
//! the pipeline, the monitor, the tunnel, the catch-up and the forward
//! workers, started and stopped as a unit. The daemon and
//! the desktop shell both run exactly this; neither wires parts by hand.
//!
//! While it runs, the engine records its listening address in
//! `<data dir>/instance.json` (no secret in it) so that other commands
//! (`webhook-url`, `send-test`) find the running instance.
//!
//! In detail: starts and stops store, listener, LiveAPI source, pipeline,
//! monitor, tunnel, catch-up and the forward workers as one unit (stop order:
//! intake and the LiveAPI, monitor (last heartbeat), tunnel, pipeline drain,
//! forward workers, store; the LiveAPI's state is copied into the health);
//! `Options::forward` takes the forward targets, `forward_status()` reports
//! them and `acknowledge(uuid)` runs `triage::acknowledge` with the engine's
//! client and writer (the feed window's "Acknowledge"); `health()` is a
//! `watch::Receiver<Health>` for the tray, `send_test()` the tray's "Send test
//! alert", `check_api()`, `acknowledge_url_change()` and
//! `regenerate_secret(config)` the settings window's buttons (the listener
//! takes a new secret live: `intake::router_live` reads it from a `watch`;
//! `set_hook_secret` is what `serve` calls on SIGHUP); builds the API client
//! from the key, offers the desktop sink when there is a session bus, and
//! records the running instance (listen address, the tunnel's state and public
//! base URL, never the secret) in `<data dir>/instance.json` for `webhook-url`,
//! `check` and `send-test`. A tunnel that cannot start is logged and the
//! listener keeps serving locally; a changed public URL is logged as a warning.

use crate::deliver::bounded::{Bounded, BoundedConfig};
#[cfg(target_os = "linux")]
use crate::deliver::notify::desktop::{Desktop, Opener};
use crate::deliver::notify::{Popup, PopupKind, Urgency};
use crate::deliver::outbox::{DestinationStatus, Forwarders, OutboxConfig, OutboxError};
use crate::deliver::triage::{Acknowledged, TriageError};
use crate::enrich::pipeline::{Parts, Pipeline, PipelineConfig, Sink};
use crate::model::health::{ApiHealth, Health};
use crate::net::sekoia::{ApiKey, Client, ClientConfig, SekoiaError};
use crate::os::tasks::Tasks;
use crate::settings::{hook_url, ForwardTarget, HookSecret, Settings, TunnelKind};
use crate::source::catchup::{self, CatchUp};
use crate::source::intake;
use crate::source::liveapi::{self, LiveApi, LiveConfig};
use crate::store::{Reader, Store, StoreError, Writer};
use crate::watch::monitor::{Monitor, MonitorConfig, Probe, Shared};
use crate::watch::selftest::{Delivered, Route, SelfTestError};
use crate::watch::tunnel::{Tunnel, TunnelState};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use url::Url;

const INSTANCE_FILE: &str = "instance.json";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no listener.hook_secret is configured; run the command once without --config pointing to a read-only file so one is generated")]
    NoSecret,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    #[error(transparent)]
    Sekoia(#[from] SekoiaError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Network(#[from] crate::net::network::NetworkError),
    #[error("the OS gave no random bytes for this start's URL proof ({0})")]
    Random(getrandom::Error),
    #[error("cannot listen on {addr}: {cause}; another program (or another sekoia-notifierd) may use it: change listener.bind in the config")]
    Bind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
}

/// What `instance.json` holds (never the secret: URLs are bases).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instance {
    pub pid: u32,
    pub listen: SocketAddr,
    /// The tunnel's public base URL while it is up.
    #[serde(default)]
    pub public_url: Option<Url>,
    /// The tunnel's state in words, when there is a tunnel.
    #[serde(default)]
    pub tunnel: Option<String>,
    /// This start's URL proof (`proof`), so `send-test` proves a public URL
    /// before posting the secret to it. The file is private (0600).
    #[serde(default)]
    pub proof: Option<crate::watch::proof::Proof>,
}

/// What the shell hands the engine besides the settings.
#[derive(Default)]
pub struct Options {
    /// Without a key events are stored and shown, but not enriched.
    pub api_key: Option<ApiKey>,
    /// Where pop-ups go (the desktop, forwarders).
    pub sinks: Vec<Arc<dyn Sink>>,
    pub pipeline: PipelineConfig,
    /// Forward destinations (resolved `[[forward]]` entries or the desktop
    /// app's own), each with its own outbox worker.
    pub forward: Vec<ForwardTarget>,
    pub outbox: OutboxConfig,
    /// The deadline on every pop-up sink and its rest after a failure
    /// (see `bounded`).
    pub bounded: BoundedConfig,
}

/// How long a stop waits for the pipeline to handle what is waiting.
const PIPELINE_DRAIN: Duration = Duration::from_secs(5);
/// How long a stop waits for the cancelled background tasks to end.
const TASKS_STOP: Duration = Duration::from_secs(2);
/// Pause between tries of the start catch-up while the API fails.
const CATCH_UP_RETRY: Duration = Duration::from_secs(60);
/// The first retention pass starts this long after the engine: start-up
/// and its catch-up go first.
const RETENTION_FIRST: Duration = Duration::from_secs(60);

/// A running engine. Call [`Engine::stop`] to shut it down cleanly.
pub struct Engine {
    local_addr: SocketAddr,
    /// `tunnel.public_url`, the base Sekoia.io posts to without a tunnel.
    fixed_public: Option<Url>,
    /// `http://<listen address>/`.
    local_base: Url,
    /// The hook secret the listener answers; replaced live by
    /// [`Engine::set_hook_secret`].
    secret: watch::Sender<HookSecret>,
    data_dir: PathBuf,
    store: Store,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
    stop_pipeline: oneshot::Sender<()>,
    pipeline: JoinHandle<()>,
    forwarders: Forwarders,
    forward: Vec<ForwardTarget>,
    tunnel: Option<Tunnel>,
    pub(crate) monitor: Monitor,
    client: Option<Client>,
    catch_up: Option<CatchUp>,
    /// True once the start catch-up succeeded.
    caught_up: watch::Receiver<bool>,
    /// The LiveAPI source (`[liveapi] enabled`).
    liveapi: Option<LiveApi>,
    /// Every background task: the start catch-up and the gap filler, the
    /// watchers that copy parts' states into the health, the monitor's
    /// probes. Cancelled and joined at stop.
    tasks: Tasks,
}

impl Engine {
    /// Opens the store in `data_dir`, binds the listener and starts serving.
    pub async fn start(
        settings: &Settings,
        data_dir: &Path,
        options: Options,
    ) -> Result<Engine, EngineError> {
        let secret: HookSecret = settings
            .listener
            .hook_secret
            .clone()
            .ok_or(EngineError::NoSecret)?;
        // One proxy rule and one set of trusted roots for every connection.
        let network = crate::net::network::Network::new(&settings.network)?;
        let client = match options.api_key.clone() {
            Some(key) => Some(Client::new(
                ClientConfig {
                    network: network.clone(),
                    ..ClientConfig::new(settings.api_url())
                },
                key,
            )?),
            None => None,
        };
        // The port first: a port someone holds fails the start before any
        // task (catch-up, forwarders, LiveAPI) runs on the store, so nothing
        // of a failed start outlives it and races the engine that follows.
        let addr = settings.listener.bind;
        if let Some(files) = intake::raise_open_file_limit() {
            tracing::debug!(files, "open file limit");
        }
        intake::refusals::survive_file_size_limit();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|cause| EngineError::Bind { addr, cause })?;
        let local_addr = listener
            .local_addr()
            .map_err(|cause| EngineError::Bind { addr, cause })?;
        let local_base =
            Url::parse(&format!("http://{local_addr}/")).map_err(|e| EngineError::Bind {
                addr,
                cause: std::io::Error::other(e),
            })?;
        // Opening may migrate (or, once, vacuum) a large file: off the
        // async threads.
        let dir = data_dir.to_owned();
        let store = tokio::task::spawn_blocking(move || Store::open(&dir))
            .await
            .map_err(|_| StoreError::Closed)??;
        // Every pop-up has a deadline: a wedged notification server never
        // holds the pipeline, the catch-up or the forwards' notices.
        let bounded: Vec<Arc<Bounded>> = options
            .sinks
            .iter()
            .map(|sink| Arc::new(Bounded::new(Arc::clone(sink), options.bounded)))
            .collect();
        let mut options = options;
        options.sinks = bounded
            .iter()
            .map(|b| Arc::clone(b) as Arc<dyn Sink>)
            .collect();
        let catch_up = client
            .clone()
            .map(|client| CatchUp::new(client, store.writer(), settings, options.sinks.clone()));
        let tasks = Tasks::new();
        // Until the end of a start that succeeds: a start that fails
        // half-way cancels every task it spawned.
        let start_guard = tasks.cancel_on_drop();
        if let Some(client) = &client {
            let acknowledger = crate::deliver::triage::acknowledger(client.clone(), store.writer());
            for sink in &options.sinks {
                sink.offer_acknowledge(Arc::clone(&acknowledger));
            }
        }
        let outbox = crate::deliver::outbox::OutboxConfig {
            network: network.clone(),
            ..options.outbox.clone()
        };
        // The last fallible step: the forward workers it starts are the
        // first tasks of this engine.
        let forwarders = Forwarders::start(&options.forward, &store, &outbox, &options.sinks)?;
        let pipeline = Pipeline::new(Parts {
            reads: store.reads(),
            writer: store.writer(),
            client: client.clone(),
            settings: settings.clone(),
            sinks: options.sinks.clone(),
            wake: store.new_events(),
            config: options.pipeline,
        })
        .forwarding(forwarders.lanes());
        let (caught_up_tx, caught_up) = watch::channel(false);
        if let Some(c) = &catch_up {
            tasks.spawn(catchup::after_start_until_done(
                c.clone(),
                store.reads(),
                CATCH_UP_RETRY,
                caught_up_tx,
            ));
        }
        // Direct mode: events over the LiveAPI WebSocket, into the same
        // store as the webhook's (stored first, deduplicated by one key).
        let liveapi = settings.liveapi.enabled.then(|| {
            LiveApi::start(liveapi::Parts {
                config: LiveConfig {
                    network: network.clone(),
                    ..LiveConfig::new(settings.liveapi_url())
                },
                key: options.api_key.clone(),
                client: client.clone(),
                writer: store.writer(),
                catch_up: catch_up.clone(),
            })
        });
        let (secret_tx, secret_rx) = watch::channel(secret);
        let refusals = Arc::new(intake::refusals::Refusals::new(store.writer()));
        // A public URL must answer this start's proof before a self-test
        // sends the secret there.
        let proof = Arc::new(crate::watch::proof::Proof::new().map_err(EngineError::Random)?);
        let app = intake::router_refusing(
            secret_rx.clone(),
            store.writer(),
            settings.listener.max_requests_per_second,
            Arc::clone(&refusals),
        )
        .merge(proof.router());
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(intake::serve(listener, app, async {
            let _ = stop.await;
        }));
        let (stop_pipeline, pipeline_stop) = oneshot::channel::<()>();
        let pipeline = tokio::spawn(pipeline.run(
            async {
                let _ = pipeline_stop.await;
            },
            PIPELINE_DRAIN,
        ));
        let instance = Instance {
            pid: std::process::id(),
            listen: local_addr,
            public_url: None,
            tunnel: None,
            proof: Some((*proof).clone()),
        };
        record_instance(data_dir, &instance).await;
        let mut tunnel_error = None;
        let tunnel = match settings.tunnel.kind {
            TunnelKind::None => None,
            kind => match Tunnel::start(&settings.tunnel, local_addr.port()) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::error!(
                        "tunnel ({kind}) not started: {e}; the webhook URL stays local"
                    );
                    tunnel_error = Some(format!("{kind}: {e}"));
                    None
                }
            },
        };
        let monitor = Monitor::start(MonitorConfig {
            secret: secret_rx,
            data_dir: data_dir.to_owned(),
            writer: store.writer(),
            fixed_public: settings.tunnel.public_url.clone(),
            interval: settings.tunnel.selftest_interval.period(),
            tunnel: tunnel.as_ref().map(Tunnel::state),
            tunnel_error,
            has_key: client.is_some(),
            network: network.clone(),
            restart: tunnel.as_ref().map(Tunnel::restarter),
            allow_plain_http: settings.tunnel.allow_plain_http,
            proof: Arc::clone(&proof),
            tasks: tasks.clone(),
        })
        .await;
        if let Some(c) = &catch_up {
            tasks.spawn(catchup::fill_gaps(
                c.clone(),
                store.reads(),
                caught_up.clone(),
                monitor.shared.subscribe(),
            ));
        }
        for b in &bounded {
            let shared = Arc::clone(&monitor.shared);
            tasks.spawn(follow(b.health(), shared, Shared::popup_state));
        }
        tasks.spawn(follow(
            refusals.health(),
            Arc::clone(&monitor.shared),
            Shared::storage_state,
        ));
        if let Some(l) = &liveapi {
            let shared = Arc::clone(&monitor.shared);
            tasks.spawn(follow(l.state(), shared, Shared::live_state));
        }
        if let Some(client) = &client {
            let shared = Arc::clone(&monitor.shared);
            client.observe(Box::new(move |result| {
                if let Some(api) = ApiHealth::from_result(result) {
                    shared.api_result(api);
                }
            }));
        }
        if let Some(t) = &tunnel {
            tasks.spawn(watch_tunnel(
                t.state(),
                monitor.shared.subscribe(),
                data_dir.to_owned(),
                instance,
                options.sinks,
            ));
        }
        // Retention passes (`[store] keep_days`) through the store's writer;
        // a step under way at stop still commits on the writer thread.
        tasks.spawn(crate::store::retention::run(
            store.writer(),
            settings.store.keep_days,
            RETENTION_FIRST,
        ));
        start_guard.disarm();
        tracing::info!(listen = %local_addr, "webhook listener ready (run `sekoia-notifierd webhook-url` for the URL)");
        Ok(Engine {
            local_addr,
            fixed_public: settings.tunnel.public_url.clone(),
            local_base,
            secret: secret_tx,
            data_dir: data_dir.to_owned(),
            store,
            shutdown,
            server,
            stop_pipeline,
            pipeline,
            forwarders,
            forward: options.forward,
            tunnel,
            monitor,
            client,
            catch_up,
            caught_up,
            liveapi,
            tasks,
        })
    }

    /// Acknowledges the alert `uuid` in Sekoia.io and updates its feed
    /// entry (the feed window's "Acknowledge"); see [`crate::deliver::triage`].
    pub async fn acknowledge(&self, uuid: &str) -> Result<Acknowledged, TriageError> {
        let client = self.client.as_ref().ok_or(TriageError::NoKey)?;
        crate::deliver::triage::acknowledge(client, &self.store.writer(), uuid).await
    }

    /// The Alert API client, when a key is set (the feed's detail pane and
    /// workflow buttons read and act through it, under its rate limit).
    pub fn client(&self) -> Option<Client> {
        self.client.clone()
    }

    /// Each forward destination's state, in the order they were given.
    /// Read on a blocking thread.
    pub async fn forward_status(&self) -> Result<Vec<DestinationStatus>, StoreError> {
        let forward = self.forward.clone();
        self.store
            .reads()
            .run(move |r| crate::deliver::outbox::status(r, &forward))
            .await
    }

    /// The live health (tunnel, API, last self-test, URL change): the tray
    /// icon and the settings window follow it. Every change is a new value.
    pub fn health(&self) -> watch::Receiver<Health> {
        self.monitor.shared.subscribe()
    }

    /// The tray's "Send test alert": posts a test event to the webhook URL
    /// (the public one when known) and waits until it is stored. The outcome
    /// also becomes the health's last self-test.
    pub async fn send_test(&self) -> Result<Delivered, SelfTestError> {
        let url = self.webhook_url();
        self.monitor
            .shared
            .send_test(&url, Probe::Asked(self.webhook_route()))
            .await
    }

    /// Whether the webhook URL is one Sekoia.io can reach (a tunnel's or
    /// the configured public one) or only the local listener.
    pub fn webhook_route(&self) -> Route {
        let public = self.tunnel.as_ref().and_then(Tunnel::public_url).is_some()
            || self.fixed_public.is_some();
        if public {
            Route::Public
        } else {
            Route::Local
        }
    }

    /// Asks the API who the key belongs to, for a "Check" button; the
    /// outcome also becomes the health's API state. `None` without a key.
    pub async fn check_api(&self) -> Option<Result<(), SekoiaError>> {
        let client = self.client.as_ref()?;
        Some(client.me().await.map(|_| ()))
    }

    /// The user has taken the new webhook URL (Copy URL): the health stops
    /// warning about the change.
    pub fn acknowledge_url_change(&self) {
        self.monitor.shared.acknowledge_url_change();
    }

    /// The catch-up handle (None without an API key): call
    /// [`CatchUp::catch_up`] with a gap the engine could not see, such as an
    /// interval the tunnel was down.
    pub fn catch_up(&self) -> Option<CatchUp> {
        self.catch_up.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL to paste into Sekoia.io: the tunnel's or the configured
    /// public one when known, else the local one.
    pub fn webhook_url(&self) -> Url {
        let secret = self.secret.borrow();
        let public = self
            .tunnel
            .as_ref()
            .and_then(Tunnel::public_url)
            .or_else(|| self.fixed_public.clone());
        let url = public
            .iter()
            .chain([&self.local_base])
            .find_map(|base| hook_url(base, &secret));
        // An http base always takes a path: the fallback is never used.
        url.unwrap_or_else(|| self.local_base.clone())
    }

    /// Makes the listener answer `secret` from the next request on (the old
    /// webhook URL then gets 404), for a secret regenerated while running.
    pub fn set_hook_secret(&self, secret: HookSecret) {
        let changed = self.secret.send_if_modified(|old| {
            let changed = *old != secret;
            *old = secret;
            changed
        });
        if changed {
            tracing::warn!("the webhook secret changed: the old webhook URL no longer works; paste the new one into Sekoia.io");
        }
    }

    /// The settings window's "regenerate secret": writes a new secret into
    /// the config at `config` (comments kept), switches the listener to it
    /// and returns the new webhook URL. The old URL stops working at once.
    pub fn regenerate_secret(&self, config: &Path) -> Result<Url, EngineError> {
        let secret = crate::settings::regenerate_secret(config)?;
        self.set_hook_secret(secret);
        Ok(self.webhook_url())
    }

    pub fn reader(&self) -> Result<Reader, StoreError> {
        self.store.reader()
    }

    /// Reads for async code, run on blocking threads (see [`Reads`]).
    pub fn reads(&self) -> crate::store::Reads {
        self.store.reads()
    }

    /// Writes on behalf of a shell (read marks); see [`Writer`].
    pub fn writer(&self) -> Writer {
        self.store.writer()
    }

    /// Bumped after every commit that changed the feed (see [`Store::changes`]).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.store.changes()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops accepting, lets requests in flight finish, then commits what
    /// the store still holds and stops its writer.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        if let Err(e) = self.server.await {
            tracing::error!(error = %e, "listener task failed");
        }
        // The other source of events stops with intake.
        if let Some(live) = self.liveapi {
            live.stop().await;
        }
        // Before the tunnel, so that its stop is not recorded as an outage:
        // the next start counts the downtime from this last heartbeat.
        self.monitor.stop().await;
        // The watchers, the probes and the catch-ups: a catch-up cut short
        // leaves its gap pending (durable) for the next start.
        if let Err(left) = self.tasks.stop(TASKS_STOP).await {
            tracing::warn!(
                left,
                "background tasks did not end within {TASKS_STOP:?} of the stop"
            );
        }
        if let Some(tunnel) = self.tunnel {
            tunnel.stop().await;
        }
        let dir = self.data_dir.clone();
        let _ = tokio::task::spawn_blocking(move || remove_instance(&dir)).await;
        let _ = self.stop_pipeline.send(());
        if let Err(e) = self.pipeline.await {
            tracing::error!(error = %e, "pipeline task failed");
        }
        // The feed is complete up to now (or up to the earliest gap still
        // pending) only if the start catch-up filled the gap before this
        // run; otherwise the next start tries again from the same cursor.
        if let Some(catch_up) = &self.catch_up {
            if *self.caught_up.borrow() {
                if let Err(e) = catch_up.mark_complete().await {
                    tracing::error!(error = %e, "cannot record the catch-up cursor");
                }
            }
        }
        self.forwarders.stop().await;
        self.store.close().await;
        tracing::info!("engine stopped");
    }
}

/// Copies a part's state into the engine's health (tray, settings window,
/// `status`, `check`) with `apply`, until the part stops: the LiveAPI, each
/// bounded pop-up sink, the intake's storage refusals (whose end, a gap
/// recorded, is a health change the gap catch-up acts on).
async fn follow<T: Clone + Send + Sync + 'static>(
    mut state: watch::Receiver<T>,
    shared: Arc<crate::watch::monitor::Shared>,
    apply: fn(&crate::watch::monitor::Shared, T),
) {
    loop {
        let now = state.borrow_and_update().clone();
        apply(&shared, now);
        if state.changed().await.is_err() {
            return;
        }
    }
}

/// The desktop pop-up sink, when this process has a desktop session to show
/// pop-ups in (a D-Bus session bus on Linux). Headless servers get `None`
/// and a log line saying so; events are still stored and forwarded.
pub fn desktop_sink(settings: &Settings) -> Option<Arc<dyn Sink>> {
    #[cfg(target_os = "linux")]
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        && std::env::var_os("XDG_RUNTIME_DIR")
            .is_none_or(|dir| !Path::new(&dir).join("bus").exists())
    {
        tracing::info!("no D-Bus session bus: desktop pop-ups are off");
        return None;
    }
    #[cfg(target_os = "linux")]
    return Some(Arc::new(Desktop::new(settings.app_url(), Opener::System)));
    // macOS and Windows: the OS notification centre through notify-rust.
    #[cfg(any(target_os = "macos", target_os = "windows"))]
    return Some(Arc::new(crate::deliver::notify::native::Native::new(
        settings.app_url(),
    )));
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    {
        let _ = settings;
        tracing::info!("desktop pop-ups are available on Linux, macOS and Windows only");
        None
    }
}

/// The address of the engine running on `data_dir`, if one answers there.
pub async fn running_instance(data_dir: &Path) -> Option<SocketAddr> {
    running(data_dir).await.map(|i| i.listen)
}

/// What the engine running on `data_dir` recorded, if it still runs: the
/// recorded pid must be our engine holding the recorded listener
/// (`ownership`), so a stale record whose port or pid another program took
/// is gone, and nothing is sent to it.
pub async fn running(data_dir: &Path) -> Option<Instance> {
    let text = std::fs::read_to_string(data_dir.join(INSTANCE_FILE)).ok()?;
    let instance: Instance = serde_json::from_str(&text).ok()?;
    crate::os::ownership::confirmed(instance.pid, instance.listen)
        .await
        .then_some(instance)
}

/// Tells the user the webhook URL changed: Sekoia.io keeps posting to the
/// old one until it is pasted again. The pop-up names the new base URL but
/// never the secret path (notification servers keep a history).
async fn url_changed(sinks: &[Arc<dyn Sink>], url: &Url) {
    let popup = Popup {
        kind: PopupKind::UrlChanged,
        key: "webhook-url-changed".to_owned(),
        summary: "Webhook URL changed".to_owned(),
        lines: vec![
            format!("The tunnel now answers at {url}."),
            "Sekoia.io still posts to the old URL: paste the new one (Settings > Copy in the app, or `sekoia-notifierd webhook-url`).".to_owned(),
        ],
        urgency: Urgency::Critical,
        link: None,
        ..Popup::default()
    };
    for sink in sinks {
        if let Err(e) = sink.show(&popup).await {
            tracing::warn!(sink = sink.name(), error = %e, "pop-up not delivered");
        }
    }
}

/// Follows the tunnel: records its state and public URL in
/// `instance.json` and warns when the URL changes, because Sekoia.io still
/// posts to the old one until the user updates it.
async fn watch_tunnel(
    mut state: watch::Receiver<TunnelState>,
    mut health: watch::Receiver<Health>,
    data_dir: PathBuf,
    mut instance: Instance,
    sinks: Vec<Arc<dyn Sink>>,
) {
    let mut last_url: Option<Url> = None;
    let mut last_state: Option<TunnelState> = None;
    loop {
        let current = state.borrow_and_update().clone();
        // The words `check` and `status` print: the health's view, which
        // says whether the self-test confirmed the URL ("checking",
        // "unreachable") where the program only says it shows one.
        let judged = match &health.borrow_and_update().tunnel {
            crate::model::health::TunnelHealth::None { .. } => None,
            tunnel => Some(tunnel.words()),
        };
        let (public, words) = match &current {
            TunnelState::Up { url } => (Some(url.clone()), format!("up at {url}")),
            TunnelState::Off => (None, "off".to_owned()),
            TunnelState::Starting => (None, "starting".to_owned()),
            TunnelState::Restarting { reason, attempt } => {
                (None, format!("restarting (attempt {attempt}): {reason}"))
            }
            TunnelState::Failed { reason } => (None, format!("failed: {reason}")),
        };
        let new_state = last_state.as_ref() != Some(&current);
        // Only on a new tunnel state: a health change moves the words only.
        if new_state {
            match (&public, &last_url) {
                (Some(url), Some(old)) if old != url => {
                    tracing::warn!(
                        old = %old, new = %url,
                        "the tunnel's public URL changed: paste the new webhook URL (`sekoia-notifierd webhook-url`) into Sekoia.io"
                    );
                    url_changed(&sinks, url).await;
                }
                (Some(url), None) => tracing::info!(%url, "tunnel up"),
                (Some(_), Some(_)) => {}
                (None, _) => tracing::info!(state = %words, "tunnel"),
            }
            if public.is_some() {
                last_url = public.clone();
            }
        }
        last_state = Some(current);
        let words = Some(judged.unwrap_or(words));
        if new_state || instance.tunnel != words {
            instance.public_url = public;
            instance.tunnel = words;
            record_instance(&data_dir, &instance).await;
        }
        tokio::select! {
            changed = state.changed() => if changed.is_err() { return },
            changed = health.changed() => if changed.is_err() { return },
        }
    }
}

/// Asks the engine running as `instance` to read the config again (SIGHUP;
/// `sekoia-notifierd serve` then switches to the configured hook secret).
/// Unix only: elsewhere an error that says to restart.
pub fn ask_reload(instance: &Instance) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let pid = libc::pid_t::try_from(instance.pid)
            .ok()
            .filter(|p| *p > 1)
            .ok_or_else(|| std::io::Error::other("instance.json holds no usable pid"))?;
        // SAFETY: kill(2) with a plain signal number; a wrong pid fails
        // with ESRCH or EPERM.
        if unsafe { libc::kill(pid, libc::SIGHUP) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = instance;
        Err(std::io::Error::other(
            "a running instance cannot be told to reload here; restart it",
        ))
    }
}

/// Whether the listener at `listen` answers `secret` now: `GET` on its hook
/// path gets 405 (wrong method, right secret) instead of 404.
pub async fn answers_secret(listen: SocketAddr, secret: &HookSecret) -> bool {
    let Some(url) = Url::parse(&format!("http://{listen}/"))
        .ok()
        .and_then(|base| hook_url(&base, secret))
    else {
        return false;
    };
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    matches!(client.get(url).send().await, Ok(r) if r.status() == reqwest::StatusCode::METHOD_NOT_ALLOWED)
}

/// The webhook URL for `settings`, whether or not an engine runs: the public
/// one when configured, else the running instance's local one, else the one
/// the configured bind address would give.
pub async fn webhook_url(settings: &Settings, data_dir: &Path) -> Option<Url> {
    webhook(settings, data_dir).await.map(|(url, _)| url)
}

/// [`webhook_url`], and whether Sekoia.io can reach it (`Route::Public`) or
/// it is the local listener's (`Route::Local`).
pub async fn webhook(settings: &Settings, data_dir: &Path) -> Option<(Url, Route)> {
    let instance = running(data_dir).await;
    let secret = settings.listener.hook_secret.as_ref()?;
    if let Some(base) = instance.as_ref().and_then(|i| i.public_url.as_ref()) {
        return hook_url(base, secret).map(|u| (u, Route::Public));
    }
    if let Some(public) = settings.public_hook_url() {
        return Some((public, Route::Public));
    }
    let addr = instance.map_or(settings.listener.bind, |i| i.listen);
    settings.local_hook_url(addr).map(|u| (u, Route::Local))
}

/// [`write_instance`] on a blocking thread (file I/O never runs on the
/// async threads).
async fn record_instance(data_dir: &Path, instance: &Instance) {
    let (dir, instance) = (data_dir.to_owned(), instance.clone());
    if let Err(e) = tokio::task::spawn_blocking(move || write_instance(&dir, &instance)).await {
        tracing::warn!(error = %e, "cannot record the running instance");
    }
}

fn write_instance(data_dir: &Path, instance: &Instance) {
    let path = data_dir.join(INSTANCE_FILE);
    let result = serde_json::to_vec(instance)
        .map_err(std::io::Error::other)
        // A new 0600 temp file under a random name, never through a symlink.
        .and_then(|bytes| crate::os::private::replace(&path, &bytes));
    if let Err(e) = result {
        // Only `webhook-url` and `send-test` need it; serving goes on.
        tracing::warn!(path = %path.display(), error = %e, "cannot record the running instance");
    }
}

fn remove_instance(data_dir: &Path) {
    let _ = std::fs::remove_file(data_dir.join(INSTANCE_FILE));
}

#[cfg(test)]
mod tests {
    use super::*;
    use fake_sekoia::{alert_json, FakeSekoia};
    use std::time::Instant;

    /// An outage the monitor recorded (here written as it would) is caught up
    /// from the Alert API at the next health change.
    #[tokio::test]
    async fn an_outage_is_caught_up_once_delivery_works_again() {
        let api = FakeSekoia::start().await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let uuid = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
        let mut missed = alert_json(uuid, "ALgap1", "Created while the tunnel was down", 60);
        // Created inside the outage the engine's start opens (now .. now+5).
        missed["created_at"] = serde_json::json!(now + 2);
        api.add_alert(missed);
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[sekoia]\napi_url = \"{}\"\n[listener]\nbind = \"127.0.0.1:0\"\nhook_secret = \"gap-test-secret-0123456789abcdefgh\"\n\
             [tunnel]\npublic_url = \"http://127.0.0.1:9/\"\nselftest_interval = 0\n",
            api.url()
        );
        let (settings, _) = crate::settings::parse(&text, Path::new("c.toml")).unwrap();
        let options = Options {
            api_key: Some(ApiKey::new(api.api_key().to_owned()).unwrap()),
            ..Options::default()
        };
        let engine = Engine::start(&settings, dir.path(), options).await.unwrap();
        // Down since a minute ago (the engine's own start already counts as
        // down from now on), up again a few seconds from now.
        engine
            .writer()
            .apply(Box::new(move |tx| {
                crate::store::reach::went_down(tx, now - 60, "the tunnel is down")?;
                crate::store::reach::came_up(tx, now + 5)
            }))
            .await
            .unwrap();
        // A health change (here a failing self-test) makes the engine look.
        let _ = engine.send_test().await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let feed = engine.reader().unwrap().feed(10, &settings).unwrap();
            if let Some(entry) = feed.iter().find(|e| e.uuid == uuid) {
                assert!(entry.caught_up, "{entry:?}");
                assert_eq!(
                    entry.title.as_deref(),
                    Some("Created while the tunnel was down")
                );
                break;
            }
            if Instant::now() > deadline {
                let gaps = crate::store::reach::gaps(
                    &engine.reader().unwrap(),
                    time::OffsetDateTime::UNIX_EPOCH,
                );
                panic!("the outage was not caught up: gaps {gaps:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(api.requests().iter().any(|r| {
            r.query.as_deref().is_some_and(|q| {
                q.contains("date%5Bcreated_at%5D") || q.contains("date[created_at]")
            })
        }));
        engine.stop().await;
    }

    fn gap_settings(api: &FakeSekoia) -> Settings {
        let text = format!(
            "[sekoia]\napi_url = \"{}\"\n[listener]\nbind = \"127.0.0.1:0\"\nhook_secret = \"gap-test-secret-0123456789abcdefgh\"\n\
             [tunnel]\npublic_url = \"http://127.0.0.1:9/\"\nselftest_interval = 0\n",
            api.url()
        );
        crate::settings::parse(&text, Path::new("c.toml"))
            .unwrap()
            .0
    }

    fn with_key(api: &FakeSekoia) -> Options {
        Options {
            api_key: Some(ApiKey::new(api.api_key().to_owned()).unwrap()),
            ..Options::default()
        }
    }

    /// A gap recorded but not yet caught up when the engine stops cleanly
    /// is not forgotten: the cursor stays at its start and the next start
    /// catches it up (the gap is an hour old: the start's 10-minute overlap
    /// alone would not reach it).
    #[tokio::test]
    async fn a_clean_stop_during_an_unfilled_gap_resumes_it_at_the_next_start() {
        let api = FakeSekoia::start().await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let uuid = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
        let mut missed = alert_json(uuid, "ALgap2", "Created during the store outage", 70);
        missed["created_at"] = serde_json::json!(now - 3300);
        api.add_alert(missed);
        let dir = tempfile::tempdir().unwrap();
        let settings = gap_settings(&api);

        let engine = Engine::start(&settings, dir.path(), with_key(&api))
            .await
            .unwrap();
        let mut caught_up = engine.caught_up.clone();
        tokio::time::timeout(Duration::from_secs(10), caught_up.wait_for(|d| *d))
            .await
            .unwrap()
            .unwrap();
        // Sekoia.io fails from now on: the gap filler, woken by any health
        // change, cannot fill the gap before the stop.
        api.fail_next(10_000, fake_sekoia::Fault::Status(503));
        engine
            .writer()
            .apply(Box::new(move |tx| {
                crate::store::reach::missed(tx, now - 3600, now - 3000, "the store refused events")
            }))
            .await
            .unwrap();
        engine.stop().await;
        let store = Store::open(dir.path()).unwrap();
        let reader = store.reader().unwrap();
        assert_eq!(crate::store::reach::pending(&reader).unwrap().len(), 1);
        let cursor = catchup::stored_cursor(&reader).unwrap().unwrap();
        assert_eq!(cursor.unix_timestamp(), now - 3600);
        drop(reader);
        store.close().await;

        api.clear_faults();
        let engine = Engine::start(&settings, dir.path(), with_key(&api))
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let reader = engine.reader().unwrap();
            let feed = reader.feed(10, &settings).unwrap();
            let found = feed.iter().any(|e| e.uuid == uuid && e.caught_up);
            if found && crate::store::reach::pending(&reader).unwrap().is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "not caught up: {feed:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        engine.stop().await;
    }

    /// Every task a running engine started (watchers, catch-ups, probes,
    /// listener, pipeline) is gone once `stop` returns.
    #[tokio::test]
    async fn nothing_the_engine_started_outlives_its_stop() {
        let api = FakeSekoia::start().await;
        // The fake API's server spawns its own helper task on first poll.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::start(&gap_settings(&api), dir.path(), with_key(&api))
            .await
            .unwrap();
        // A self-test (a probe and a health change that wakes the gap
        // filler) and an API call (a pooled connection to the fake).
        let _ = engine.send_test().await;
        assert!(matches!(engine.check_api().await, Some(Ok(()))));
        assert!(metrics.num_alive_tasks() > before);
        engine.stop().await;
        // The fake API's connection tasks end once the engine's client hung up.
        let deadline = Instant::now() + Duration::from_secs(5);
        while metrics.num_alive_tasks() > before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(metrics.num_alive_tasks(), before);
    }
}
