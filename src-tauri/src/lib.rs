//! The desktop shell of Sekoia Notifier: a Tauri 2 tray app over the same
//! engine as `sekoia-notifierd` (one engine, two shells). This crate wires
//! windows, tray and IPC to [`shell::Shell`]; it holds no engine logic.
//!
//! [`build`] is generic over the runtime so that tests run it on
//! `tauri::test::mock_builder()` without a display.

mod autostart;
mod commands;
mod detail;
mod error;
mod instance;
mod ipc;
pub mod shell;
mod tray;
#[cfg(target_os = "linux")]
mod tray_host;
mod windows;

use clap::Parser;
use notifier_core::settings::Paths;
use shell::{Host, Shell, Status};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;
use tauri::{AppHandle, Emitter, Manager, RunEvent, Runtime};

/// The version and the commit it was built from (`build-support/commit.rs`),
/// for `--version` and the tray's About line.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("NOTIFIER_COMMIT"),
    ")"
);

/// Command line of `sekoia-notifier`.
#[derive(Debug, Parser)]
#[command(
    name = "sekoia-notifier",
    version = VERSION,
    about = "Sekoia.io alerts on your desktop",
    after_help = "\
Examples:
  sekoia-notifier                          start in the tray (the settings window opens on first run)
  sekoia-notifier --config ./test.toml --data-dir ./test-data

A second launch with the same config opens the running instance's feed and
exits 0; with another --config/--data-dir it says which instance runs with
which config and exits 1."
)]
pub struct Cli {
    /// Config file (default: <config dir>/sekoia-notifier/config.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory: database and logs (default: <data dir>/sekoia-notifier).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// The entry point `main.rs` calls.
pub fn run() {
    // Before any thread starts: the key leaves the environment (no child,
    // the browser included, inherits it).
    notifier_core::secrets::take_from_environment();
    // The local time zone is read while the process has one thread: later,
    // `time` refuses to (reading it races with setenv in other threads).
    let _ =
        LOCAL_OFFSET.set(time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC));
    let cli = Cli::parse();
    notifier_core::secrets::forbid_core_dumps();
    let paths = Paths::resolve(cli.config, cli.data_dir);
    // Another config already served by the running app: say so, exit 1.
    let me = paths.as_ref().ok().map(instance::Running::this);
    if let Some(me) = &me {
        if let Some(other) = instance::other_config(me) {
            let line = other.refusal(me);
            eprintln!("sekoia-notifier: {line}");
            instance::pop_up(&line);
            std::process::exit(1);
        }
    }
    init_logging(paths.as_ref().ok().map(|p| p.data_dir.as_path()));
    let shell = match paths.map_err(error::AppError::from).and_then(Shell::new) {
        Ok(shell) => Arc::new(shell),
        Err(e) => {
            eprintln!("sekoia-notifier: {e}");
            std::process::exit(2);
        }
    };
    let builder = tauri::Builder::default()
        // First: a second launch hands over to the first and exits 0.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            windows::open_feed(app);
        }))
        .plugin(tauri_plugin_autostart::Builder::new().build());
    let app = match build(builder, shell).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("sekoia-notifier: cannot start the desktop app: {e}");
            std::process::exit(1);
        }
    };
    // Built: the single-instance plugin let this process run (a second
    // launch of the same config has handed over and exited by now).
    if let Some(me) = me {
        instance::record(&me);
        let _ = RUNNING.set(me);
    }
    app.run(on_run_event);
}

/// This app's record (see `instance`), removed at exit.
static RUNNING: OnceLock<instance::Running> = OnceLock::new();

/// Everything but the platform plugins: state, commands, setup.
pub fn build<R: Runtime>(builder: tauri::Builder<R>, shell: Arc<Shell>) -> tauri::Builder<R> {
    builder
        .manage(shell)
        .invoke_handler(tauri::generate_handler![
            commands::feed::feed_list,
            commands::feed::feed_mark_read,
            commands::feed::feed_open,
            commands::feed::feed_acknowledge,
            commands::feed::feed_gaps,
            commands::feed::feed_resume,
            commands::feed::feed_detail,
            commands::feed::feed_action,
            commands::feed::feed_communities,
            commands::settings::settings_get,
            commands::settings::settings_save,
            commands::settings::settings_set_api_key,
            commands::settings::settings_set_autostart,
            commands::settings::settings_url_copied,
            commands::settings::settings_regenerate_secret,
            commands::settings::settings_add_forward,
            commands::settings::settings_remove_forward,
            commands::app::app_send_test,
            commands::app::app_status,
            commands::app::app_open_settings,
        ])
        .setup(|app| {
            let handle = app.handle().clone();
            let shell = Arc::clone(app.state::<Arc<Shell>>().inner());
            shell.set_host(Arc::new(TauriHost {
                app: handle.clone(),
            }));
            let tray_ok = match tray::create(&handle) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(
                        "no tray icon ({e}); on GNOME install the AppIndicator extension. The feed window stays open instead, and the icon appears when a tray host does"
                    );
                    #[cfg(target_os = "linux")]
                    tauri::async_runtime::spawn(tray_when_host_appears(handle.clone()));
                    false
                }
            };
            tauri::async_runtime::spawn(async move {
                match shell.start().await {
                    Ok(true) if tray_ok => {}
                    Ok(true) => windows::open_feed(&handle),
                    Ok(false) => windows::open_settings(&handle, true),
                    Err(e) => {
                        tracing::error!("the engine did not start: {e}");
                        windows::open_settings(&handle, false);
                    }
                }
            });
            Ok(())
        })
}

/// The login race: no tray host yet at start. Creates the tray item once a
/// StatusNotifierWatcher owns its name, and shows the current status on it.
#[cfg(target_os = "linux")]
async fn tray_when_host_appears<R: Runtime>(app: AppHandle<R>) {
    if let Err(e) = tray_host::watcher_appeared().await {
        tracing::warn!("cannot watch for a tray host ({e}); the feed window stays the way in");
        return;
    }
    let shell = Arc::clone(app.state::<Arc<Shell>>().inner());
    let status = shell.status().await;
    let handle = app.clone();
    let created = app.run_on_main_thread(move || match tray::create(&handle) {
        Ok(_) => {
            tracing::info!("a tray host appeared: tray icon registered");
            tray::show(&handle, &status);
        }
        Err(e) => tracing::warn!("a tray host appeared but the tray icon failed ({e})"),
    });
    if let Err(e) = created {
        tracing::warn!("the tray icon could not be created ({e})");
    }
}

/// The app lives in the tray: closing the last window does not quit; only
/// the tray's Quit (an explicit exit code) does.
fn on_run_event<R: Runtime>(_app: &AppHandle<R>, event: RunEvent) {
    match event {
        RunEvent::ExitRequested { api, code, .. } if code.is_none() => api.prevent_exit(),
        RunEvent::Exit => {
            if let Some(me) = RUNNING.get() {
                instance::forget(me);
            }
        }
        _ => {}
    }
}

/// The UI side of [`Shell`]: events to the windows, state to the tray.
struct TauriHost<R: Runtime> {
    app: AppHandle<R>,
}

impl<R: Runtime> Host for TauriHost<R> {
    fn feed_changed(&self, status: &Status) {
        let _ = self.app.emit(ipc::FEED_CHANGED, status);
        tray::show(&self.app, status);
    }

    fn status_changed(&self, status: &Status) {
        let _ = self.app.emit(ipc::STATUS_CHANGED, status);
        tray::show(&self.app, status);
    }

    fn open_window(&self, window: notifier_core::notify::ShellWindow) {
        match window {
            notifier_core::notify::ShellWindow::Feed => windows::open_feed(&self.app),
            notifier_core::notify::ShellWindow::Settings => {
                windows::open_settings(&self.app, false)
            }
        }
    }
}

static LOCAL_OFFSET: OnceLock<time::UtcOffset> = OnceLock::new();

/// The local UTC offset read at start (UTC when unknown).
pub(crate) fn local_offset() -> time::UtcOffset {
    LOCAL_OFFSET.get().copied().unwrap_or(time::UtcOffset::UTC)
}

/// 08:00 local time tomorrow: where "pause until tomorrow" ends.
pub(crate) fn tomorrow_morning() -> SystemTime {
    let now = time::OffsetDateTime::now_utc().to_offset(local_offset());
    let morning = (now.date() + time::Duration::days(1))
        .with_hms(8, 0, 0)
        .map(|t| t.assume_offset(local_offset()));
    morning
        .map(SystemTime::from)
        .unwrap_or_else(|_| SystemTime::now() + std::time::Duration::from_secs(12 * 3600))
}

/// Logs to stderr and to a daily file in the data dir (for support).
fn init_logging(data_dir: Option<&std::path::Path>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for directive in notifier_core::logs::SECRET_SAFE {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    let file = data_dir
        .and_then(|dir| notifier_core::logs::rolling(dir, "sekoia-notifier").ok())
        .map(|writer| {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
        });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(file)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use notifier_core::sekoia::ApiKey;
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{get_ipc_response, mock_builder, INVOKE_KEY};
    use tauri::webview::InvokeRequest;

    fn invoke<R: Runtime>(
        window: &tauri::WebviewWindow<R>,
        cmd: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, serde_json::Value>
    where
        tauri::WebviewWindow<R>: AsRef<tauri::Webview<tauri::test::MockRuntime>>,
    {
        get_ipc_response(
            window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().expect("url"),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<serde_json::Value>().expect("json"))
    }

    /// The real builder, the real capabilities and the real engine on the
    /// mock runtime: commands answer over IPC without a display, and a
    /// window gets only the commands its capability grants.
    #[test]
    fn commands_answer_over_ipc_on_the_mock_runtime_within_their_capability() {
        // No tray host, no desktop bus: the app falls back to its feed window.
        std::env::set_var("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "[listener]\nbind = \"127.0.0.1:0\"\nhook_secret = \"mock-runtime-secret-0123456789abcdef\"\n",
        )
        .expect("config");
        let paths = Paths {
            config_file: config,
            data_dir: dir.path().join("data"),
        };
        let shell = Shell::new(paths)
            .expect("shell")
            .with_key(ApiKey::new("mock-runtime-key".into()).expect("key"));
        let mut app = build(mock_builder(), Arc::new(shell))
            .build(tauri::generate_context!())
            .expect("the app builds on the mock runtime");
        // One iteration runs the setup hook (tray, engine start), as `run` would.
        #[allow(deprecated)]
        app.run_iteration(|_, _| {});
        let shell = Arc::clone(app.state::<Arc<Shell>>().inner());
        // The setup hook starts the engine in the background.
        let mut started = false;
        for _ in 0..400 {
            if tauri::async_runtime::block_on(shell.status())
                .webhook_url
                .is_some()
            {
                started = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        assert!(started, "the engine did not start");
        let feed = match app.get_webview_window(windows::FEED) {
            Some(window) => window,
            None => tauri::WebviewWindowBuilder::new(&app, windows::FEED, Default::default())
                .build()
                .expect("a mock feed window"),
        };
        let status = invoke(&feed, "app_status", serde_json::json!({})).expect("app_status");
        assert!(
            status["webhook_url"]
                .as_str()
                .is_some_and(|u| u.contains("/hooks/mock-runtime-secret")),
            "{status}"
        );
        let list = invoke(&feed, "feed_list", serde_json::json!({"limit": 10})).expect("feed_list");
        assert_eq!(list, serde_json::json!([]));
        let denied = invoke(
            &feed,
            "settings_set_api_key",
            serde_json::json!({"key": "x"}),
        )
        .expect_err("the feed window may not set the key");
        assert!(denied.to_string().contains("not allowed"), "{denied}");
        tauri::async_runtime::block_on(shell.stop());
    }
}
