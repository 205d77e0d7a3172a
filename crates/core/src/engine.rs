//! One running engine: the store and the webhook listener (later also the
//! pipeline and the tunnel), started and stopped as a unit. The daemon and
//! the desktop shell both run exactly this; neither wires parts by hand.
//!
//! While it runs, the engine records its listening address in
//! `<data dir>/instance.json` (no secret in it) so that other commands
//! (`webhook-url`, `send-test`) find the running instance.

use crate::intake;
#[cfg(target_os = "linux")]
use crate::notify::desktop::{Desktop, Opener};
use crate::pipeline::{Parts, Pipeline, PipelineConfig, Sink};
use crate::sekoia::{ApiKey, Client, ClientConfig, SekoiaError};
use crate::settings::{HookSecret, Settings};
use crate::store::{Reader, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
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
    Sekoia(#[from] SekoiaError),
    #[error("cannot listen on {addr}: {cause}; another program (or another sekoia-notifierd) may use it: change listener.bind in the config")]
    Bind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
}

/// What `instance.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct Instance {
    pid: u32,
    listen: SocketAddr,
}

/// What the shell hands the engine besides the settings.
#[derive(Default)]
pub struct Options {
    /// Without a key events are stored and shown, but not enriched.
    pub api_key: Option<ApiKey>,
    /// Where pop-ups go (the desktop, forwarders).
    pub sinks: Vec<Arc<dyn Sink>>,
    pub pipeline: PipelineConfig,
}

/// How long a stop waits for the pipeline to handle what is waiting.
const PIPELINE_DRAIN: Duration = Duration::from_secs(5);

/// A running engine. Call [`Engine::stop`] to shut it down cleanly.
pub struct Engine {
    local_addr: SocketAddr,
    local_hook: Url,
    public_hook: Option<Url>,
    data_dir: PathBuf,
    store: Store,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
    stop_pipeline: oneshot::Sender<()>,
    pipeline: JoinHandle<()>,
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
        let client = match options.api_key {
            Some(key) => Some(Client::new(ClientConfig::new(settings.api_url()), key)?),
            None => None,
        };
        let store = Store::open(data_dir)?;
        let pipeline = Pipeline::new(Parts {
            ledger: store.ledger()?,
            writer: store.writer(),
            client,
            settings: settings.clone(),
            sinks: options.sinks,
            wake: store.new_events(),
            config: options.pipeline,
        });
        let addr = settings.listener.bind;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|cause| EngineError::Bind { addr, cause })?;
        let local_addr = listener
            .local_addr()
            .map_err(|cause| EngineError::Bind { addr, cause })?;
        let local_hook = settings
            .local_hook_url(local_addr)
            .ok_or(EngineError::NoSecret)?;
        let app = intake::router(secret, store.writer());
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
        write_instance(data_dir, local_addr);
        tracing::info!(listen = %local_addr, "webhook listener ready (run `sekoia-notifierd webhook-url` for the URL)");
        Ok(Engine {
            local_addr,
            local_hook,
            public_hook: settings.public_hook_url(),
            data_dir: data_dir.to_owned(),
            store,
            shutdown,
            server,
            stop_pipeline,
            pipeline,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL to paste into Sekoia.io: the public one when known, else the
    /// local one.
    pub fn webhook_url(&self) -> &Url {
        self.public_hook.as_ref().unwrap_or(&self.local_hook)
    }

    pub fn reader(&self) -> Result<Reader, StoreError> {
        self.store.reader()
    }

    /// Stops accepting, lets requests in flight finish, then commits what
    /// the store still holds and stops its writer.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        if let Err(e) = self.server.await {
            tracing::error!(error = %e, "listener task failed");
        }
        remove_instance(&self.data_dir);
        let _ = self.stop_pipeline.send(());
        if let Err(e) = self.pipeline.await {
            tracing::error!(error = %e, "pipeline task failed");
        }
        self.store.close().await;
        tracing::info!("engine stopped");
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
    // macOS and Windows pop-ups come with the desktop app's native backends.
    #[cfg(not(target_os = "linux"))]
    {
        let _ = settings;
        tracing::info!("desktop pop-ups from sekoia-notifierd are Linux-only; use the desktop app");
        None
    }
}

/// The address of the engine running on `data_dir`, if one answers there.
pub async fn running_instance(data_dir: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(data_dir.join(INSTANCE_FILE)).ok()?;
    let instance: Instance = serde_json::from_str(&text).ok()?;
    let probe = tokio::net::TcpStream::connect(instance.listen);
    match tokio::time::timeout(Duration::from_secs(1), probe).await {
        Ok(Ok(_)) => Some(instance.listen),
        _ => None,
    }
}

/// The webhook URL for `settings`, whether or not an engine runs: the public
/// one when configured, else the running instance's local one, else the one
/// the configured bind address would give.
pub async fn webhook_url(settings: &Settings, data_dir: &Path) -> Option<Url> {
    if let Some(public) = settings.public_hook_url() {
        return Some(public);
    }
    let addr = running_instance(data_dir)
        .await
        .unwrap_or(settings.listener.bind);
    settings.local_hook_url(addr)
}

fn write_instance(data_dir: &Path, listen: SocketAddr) {
    let instance = Instance {
        pid: std::process::id(),
        listen,
    };
    let path = data_dir.join(INSTANCE_FILE);
    let result = serde_json::to_vec(&instance)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)
        });
    if let Err(e) = result {
        // Only `webhook-url` and `send-test` need it; serving goes on.
        tracing::warn!(path = %path.display(), error = %e, "cannot record the running instance");
    }
}

fn remove_instance(data_dir: &Path) {
    let _ = std::fs::remove_file(data_dir.join(INSTANCE_FILE));
}
