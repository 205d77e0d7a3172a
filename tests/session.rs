//! A private desktop session for one test: its own D-Bus session bus
//! (`dbus-daemon`, without service activation), its own unlocked Secret
//! Service keyring (`gnome-keyring-daemon`), a fake notification server
//! speaking the real `org.freedesktop.Notifications` protocol, and XDG
//! directories in a temp dir. Commands started with [`Session::apply`] talk
//! to these, never to the user's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Session {
    pub bus: String,
    pub notifications: fake_notifications::Server,
    // Drives the fake server's D-Bus connection.
    runtime: tokio::runtime::Runtime,
    root: PathBuf,
    children: Vec<Child>,
    _bus: fake_notifications::Bus,
}

impl Session {
    /// Starts a bus and an unlocked keyring under `root`.
    pub fn start(root: &Path) -> Session {
        let root = root.join("session");
        for dir in ["data", "config", "cache", "run"] {
            std::fs::create_dir_all(root.join(dir)).expect("session dirs");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ =
                std::fs::set_permissions(root.join("run"), std::fs::Permissions::from_mode(0o700));
        }
        let bus = fake_notifications::Bus::start();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let notifications = runtime.block_on(fake_notifications::Server::with_capabilities(
            &bus.address,
            &["actions", "body", "body-markup"],
        ));
        let mut session = Session {
            bus: bus.address.clone(),
            notifications,
            runtime,
            root,
            children: Vec::new(),
            _bus: bus,
        };
        let mut keyring = Command::new("gnome-keyring-daemon");
        keyring
            .args(["--unlock", "--components=secrets", "--foreground"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        session.apply(&mut keyring);
        let mut keyring = keyring
            .spawn()
            .expect("gnome-keyring-daemon (package gnome-keyring) must be installed");
        {
            use std::io::Write;
            let mut stdin = keyring.stdin.take().expect("piped stdin");
            stdin
                .write_all(b"test-keyring-password")
                .expect("unlock password");
        }
        session.children.push(keyring);
        session.wait_for_name("org.freedesktop.secrets");
        session
    }

    /// Points a command at this session (bus and XDG directories).
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env("XDG_DATA_HOME", self.root.join("data"))
            .env("XDG_CONFIG_HOME", self.root.join("config"))
            .env("XDG_CACHE_HOME", self.root.join("cache"))
            .env("XDG_RUNTIME_DIR", self.root.join("run"))
            .env_remove("DISPLAY")
            .env_remove("SEKOIA_API_KEY");
    }

    /// Waits for `n` pop-ups and returns them all.
    pub fn popups(&self, n: usize) -> Vec<fake_notifications::Call> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let calls = self.notifications.calls();
            if calls.len() >= n || Instant::now() > deadline {
                return calls;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts a fake StatusNotifierWatcher (a tray host) on this bus.
    pub fn tray_host(&self) -> fake_notifications::tray::Watcher {
        self.runtime
            .block_on(fake_notifications::tray::Watcher::start(&self.bus))
    }

    /// Runs a D-Bus client call (tray item reads) on the session's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Simulates a click on pop-up `id`, as the notification server does.
    pub fn click(&self, id: u32) {
        self.runtime
            .block_on(self.notifications.invoke(id, "default"));
    }

    /// Simulates a click on the action `key` of pop-up `id`.
    pub fn act(&self, id: u32, key: &str) {
        self.runtime.block_on(self.notifications.invoke(id, key));
    }

    fn wait_for_name(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let mut cmd = Command::new("dbus-send");
            cmd.args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                &format!("string:{name}"),
            ]);
            self.apply(&mut cmd);
            if let Ok(out) = cmd.output() {
                if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{name} did not appear on the test session bus within 10 s");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
