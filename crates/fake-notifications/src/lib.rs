//! For tests only: a private D-Bus bus (a child `dbus-daemon`) and a fake
//! `org.freedesktop.Notifications` server on it that speaks the real
//! protocol, records every `Notify` call and emits `ActionInvoked` /
//! `NotificationClosed` on request. Used by core's unit tests and by the
//! end-to-end tests against the real daemon. Must not touch the user's
//! session bus.
//!
//! In detail: a private `dbus-daemon` (no service activation) and a recording
//! `org.freedesktop.Notifications` server written with zbus (hints including
//! `sound-name`/`sound-file`/`resident`, the expire timeout, every
//! `CloseNotification`) that can emit `ActionInvoked`, hang (`set_hanging`:
//! calls never answered), give up its name (`release`, `quit`) and number its
//! ids from any start (`numbered_from`: a replacement server). Also `tray`: a
//! fake `org.kde.StatusNotifierWatcher` and a panel-side reader of an item's
//! tooltip, icon and `com.canonical.dbusmenu` menu, which can click it; and
//! `display`: Xvfb at 1280×800 and `Display::close_windows(title)`, the
//! `WM_DELETE_WINDOW` a window manager's close button sends (x11-dl; no WM runs
//! under Xvfb).

pub mod display;
pub mod tray;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use zbus::object_server::SignalEmitter;
use zbus::zvariant::OwnedValue;

pub const NAME: &str = "org.freedesktop.Notifications";
pub const PATH: &str = "/org/freedesktop/Notifications";

/// A private bus: `dbus-daemon` with a config that listens in a temp dir
/// and has no service activation (so no real notification daemon installed
/// on the machine can be started by our calls). Killed on drop.
pub struct Bus {
    child: Child,
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Bus {
    pub fn start() -> Bus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.path().display()
            ),
        )
        .expect("write bus config");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon must be installed (apt-get install -y dbus)");
        let mut address = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut address)
            .expect("read the bus address");
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "bad address {address:?}");
        Bus {
            child,
            address,
            _dir: dir,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One recorded `Notify` call.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Call {
    pub app_name: String,
    pub replaces_id: u32,
    pub app_icon: String,
    pub summary: String,
    pub body: String,
    pub actions: Vec<String>,
    pub urgency: Option<u8>,
    pub hint_names: Vec<String>,
    /// The `sound-name` hint, if sent.
    pub sound_name: Option<String>,
    /// The `sound-file` hint, if sent.
    pub sound_file: Option<String>,
    /// The `resident` hint, if sent.
    pub resident: Option<bool>,
    /// Milliseconds; -1 is the server's default, 0 never expires.
    pub expire_timeout: i32,
    pub returned_id: u32,
    /// When the call arrived (benchmarks measure latency with it).
    #[serde(skip)]
    pub at: std::time::Instant,
}

struct FakeServer {
    calls: Arc<Mutex<Vec<Call>>>,
    closed: Arc<Mutex<Vec<u32>>>,
    capabilities: Vec<String>,
    next_id: AtomicU32,
    /// While set, `Notify`, `GetCapabilities` and `CloseNotification` never
    /// answer (a wedged server); `Notify` calls are still recorded, with
    /// `returned_id` 0.
    hanging: Arc<AtomicBool>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl FakeServer {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
    ) -> u32 {
        let hanging = self.hanging.load(Ordering::SeqCst);
        let id = if hanging {
            0
        } else if replaces_id != 0 {
            replaces_id
        } else {
            self.next_id.fetch_add(1, Ordering::SeqCst) + 1
        };
        let mut hint_names: Vec<String> = hints.keys().cloned().collect();
        hint_names.sort();
        self.calls.lock().expect("calls").push(Call {
            app_name,
            replaces_id,
            app_icon,
            summary,
            body,
            actions,
            urgency: hints.get("urgency").and_then(|v| u8::try_from(v).ok()),
            hint_names,
            sound_name: hints
                .get("sound-name")
                .and_then(|v| String::try_from(v.clone()).ok()),
            sound_file: hints
                .get("sound-file")
                .and_then(|v| String::try_from(v.clone()).ok()),
            resident: hints.get("resident").and_then(|v| bool::try_from(v).ok()),
            expire_timeout,
            returned_id: id,
            at: std::time::Instant::now(),
        });
        if hanging {
            std::future::pending::<()>().await;
        }
        id
    }

    async fn get_capabilities(&self) -> Vec<String> {
        if self.hanging.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.capabilities.clone()
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "fake".into(),
            "sekoia-notifier tests".into(),
            "0".into(),
            "1.2".into(),
        )
    }

    async fn close_notification(
        &self,
        id: u32,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        if self.hanging.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.closed.lock().expect("closed").push(id);
        Self::notification_closed(&emitter, id, 3).await?;
        Ok(())
    }

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn notification_closed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        reason: u32,
    ) -> zbus::Result<()>;
}

/// The fake server, connected to a private bus and owning the name.
pub struct Server {
    connection: zbus::Connection,
    calls: Arc<Mutex<Vec<Call>>>,
    hanging: Arc<AtomicBool>,
    closed: Arc<Mutex<Vec<u32>>>,
}

impl Server {
    pub async fn with_capabilities(address: &str, capabilities: &[&str]) -> Server {
        Server::numbered_from(address, capabilities, 0).await
    }

    /// Like `with_capabilities`, returning ids from `first_id + 1` on (a
    /// replacement server whose ids differ from the first one's).
    pub async fn numbered_from(address: &str, capabilities: &[&str], first_id: u32) -> Server {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let hanging = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(Mutex::new(Vec::new()));
        let server = FakeServer {
            calls: Arc::clone(&calls),
            closed: Arc::clone(&closed),
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            next_id: AtomicU32::new(first_id),
            hanging: Arc::clone(&hanging),
        };
        let connection = zbus::connection::Builder::address(address)
            .expect("address")
            .name(NAME)
            .expect("name")
            .serve_at(PATH, server)
            .expect("serve")
            .build()
            .await
            .expect("fake server connects");
        Server {
            connection,
            calls,
            hanging,
            closed,
        }
    }

    /// From now on `Notify` and `GetCapabilities` never answer (`true`),
    /// or answer again (`false`; calls already hanging stay unanswered).
    pub fn set_hanging(&self, hanging: bool) {
        self.hanging.store(hanging, Ordering::SeqCst);
    }

    /// Gives up the bus name but stays connected (it can still emit).
    pub async fn release(&self) {
        let _ = self.connection.release_name(NAME).await;
    }

    /// Gives up the bus name and disconnects (the server goes away).
    pub async fn quit(self) {
        let _ = self.connection.release_name(NAME).await;
        let _ = self.connection.close().await;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls").clone()
    }

    /// The ids passed to `CloseNotification`, in call order.
    pub fn closed(&self) -> Vec<u32> {
        self.closed.lock().expect("closed").clone()
    }

    pub fn last(&self) -> Call {
        self.calls()
            .last()
            .cloned()
            .expect("at least one Notify call")
    }

    /// Emits `ActionInvoked(id, key)` as the server does on a click.
    pub async fn invoke(&self, id: u32, key: &str) {
        self.connection
            .emit_signal(None::<&str>, PATH, NAME, "ActionInvoked", &(id, key))
            .await
            .expect("emit ActionInvoked");
    }

    /// Emits `ActivationToken(id, token)` (spec 1.2), as a server does just
    /// before `ActionInvoked` for the same click.
    pub async fn activation_token(&self, id: u32, token: &str) {
        self.connection
            .emit_signal(None::<&str>, PATH, NAME, "ActivationToken", &(id, token))
            .await
            .expect("emit ActivationToken");
    }

    /// Emits `NotificationClosed(id, 2)` (dismissed by the user).
    pub async fn close(&self, id: u32) {
        self.connection
            .emit_signal(None::<&str>, PATH, NAME, "NotificationClosed", &(id, 2u32))
            .await
            .expect("emit NotificationClosed");
    }
}
