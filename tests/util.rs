//! Test helpers: the daemon under test, a tiny HTTP/1.1 client and
//! command runners whose failures say everything needed to debug them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub use crate::session::Session;

pub const SECRET: &str = "e2e-secret-0123456789abcdefghijklmnop";

/// An alert event with the given uuid.
pub fn alert(uuid: &str) -> String {
    alert_with_short_id(uuid, &format!("AL{}", uuid.len()))
}

/// An `alert:created` event with the given uuid and short_id.
pub fn alert_with_short_id(uuid: &str, short_id: &str) -> String {
    format!(
        r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{uuid}","short_id":"{short_id}"}},"metadata":{{"version":2,"created_at":1732874400,"community_uuid":"c"}}}}"#
    )
}

/// The built `sekoia-notifierd`, next to this test binary's `deps/` folder.
pub fn bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let bin = dir.join(format!("sekoia-notifierd{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p notifier-daemon` first (make test does)",
        bin.display()
    );
    bin
}

/// A scratch directory holding a config file and a data directory, and
/// optionally a private D-Bus session with a keyring.
pub struct Dir {
    pub session: Option<Session>,
    /// Extra environment for every command run in this directory.
    pub env: Vec<(String, String)>,
    pub tmp: tempfile::TempDir,
}

impl Dir {
    /// A config with a known secret, port 0 and `extra` TOML appended.
    pub fn new(extra: &str) -> Dir {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config =
            format!("[listener]\nbind = \"127.0.0.1:0\"\nhook_secret = \"{SECRET}\"\n{extra}");
        std::fs::write(tmp.path().join("config.toml"), config).expect("write config");
        Dir {
            session: None,
            env: Vec::new(),
            tmp,
        }
    }

    /// Like [`Dir::new`], with a private session bus and unlocked keyring.
    pub fn with_session(extra: &str) -> Dir {
        let mut dir = Dir::new(extra);
        dir.session = Some(Session::start(dir.tmp.path()));
        dir
    }

    pub fn config(&self) -> PathBuf {
        self.tmp.path().join("config.toml")
    }

    pub fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(self.config())
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            .current_dir(self.tmp.path())
            .env_remove("SEKOIA_NOTIFIER_LOG")
            // A test run under systemd must not hand its credentials on.
            .env_remove("CREDENTIALS_DIRECTORY");
        match &self.session {
            Some(session) => session.apply(&mut cmd),
            // No session: make sure the user's own bus and keyring are
            // out of reach.
            None => {
                let home = self.tmp.path().join("home");
                cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
                    .env_remove("DISPLAY")
                    .env_remove("SEKOIA_API_KEY")
                    .env("XDG_DATA_HOME", home.join("data"))
                    .env("XDG_CONFIG_HOME", home.join("config"))
                    .env("XDG_RUNTIME_DIR", home.join("run"));
            }
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a subcommand to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
    }

    /// Runs a subcommand that must succeed, and returns its stdout.
    pub fn stdout(&self, args: &[&str]) -> String {
        let out = self.run(args);
        if !out.status.success() {
            panic!("{}", report(&self.command(args), &out));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `feed --json` parsed.
    pub fn feed(&self) -> Vec<serde_json::Value> {
        let text = self.stdout(&["feed", "--json", "--limit", "100000"]);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("feed --json is not JSON ({e}): {text}"))
    }
}

/// Waits until the engine of `child` records its listening address in
/// `<data>/instance.json`; a failure shows the process's log.
pub fn wait_listening(child: &mut Child, data: &Path, within: Duration, log: &Path) -> SocketAddr {
    let deadline = Instant::now() + within;
    let instance = data.join("instance.json");
    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{:?} exited early ({status}):\n{}", child.id(), log_text());
        }
        let addr = std::fs::read_to_string(&instance)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|v| v["listen"].as_str().and_then(|a| a.parse().ok()));
        if let Some(addr) = addr {
            return addr;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no listener within {within:?}:\n{}", log_text());
}

/// A fake `xdg-open` in `<root>/bin` that appends its argument to
/// `<root>/<log>`: put the directory first on PATH and read what the app
/// asked the browser to open. Returns the PATH value and the log file.
pub fn fake_opener(root: &Path, log: &str) -> (String, PathBuf) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let opener = bin.join("xdg-open");
    let opened = root.join(log);
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
            opened.display()
        ),
    )
    .expect("write fake xdg-open");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path, opened)
}

/// A description of a finished command for a failure message.
pub fn report(cmd: &Command, out: &Output) -> String {
    format!(
        "command: {cmd:?}\ndirectory: {:?}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        cmd.get_current_dir(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A running `sekoia-notifierd serve`. Killed on drop if still running.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(dir: &Dir) -> Daemon {
        Daemon::start_with(dir, &["serve"])
    }

    /// Starts the daemon with these arguments (which must serve).
    pub fn start_with(dir: &Dir, args: &[&str]) -> Daemon {
        let log = dir.tmp.path().join("serve.log");
        let file = std::fs::File::create(&log).expect("log file");
        // Kept so the secrets tests can search it too.
        let out = std::fs::File::create(dir.tmp.path().join("serve.out")).expect("stdout file");
        let child = dir
            .command(args)
            .stdout(out)
            .stderr(file)
            .spawn()
            .expect("spawn sekoia-notifierd serve");
        let mut daemon = Daemon {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        daemon.addr = wait_listening(
            &mut daemon.child,
            &dir.data(),
            Duration::from_secs(20),
            &daemon.log,
        );
        daemon
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn hook(&self) -> String {
        format!("/hooks/{SECRET}")
    }

    /// POSTs a JSON body to the webhook and returns the status.
    pub fn post(&self, body: &str) -> u16 {
        post_hook(self.addr, body)
    }

    pub fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid fits i32");
        // SAFETY: kill(2) with a pid we spawned and still own.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "sekoia-notifierd did not exit within {within:?}:\n{}",
            self.log_text()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs a JSON body to the webhook of the engine at `addr` (the test
/// secret) and returns the status.
pub fn post_hook(addr: SocketAddr, body: &str) -> u16 {
    http(
        addr,
        "POST",
        &format!("/hooks/{SECRET}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .0
}

/// One HTTP/1.1 request on a fresh connection; returns status and body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let has_length = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_length {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    // The server may answer (413) and close before reading a large body.
    let _ = stream.write_all(body);
    read_response(&mut stream)
}

/// Reads a whole `Connection: close` response.
pub fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
