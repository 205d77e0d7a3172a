//! Peers that never answer, against the real daemon: a notification server
//! that accepts `Notify` and hangs, an Alert API that accepts connections
//! and hangs. Each time the other alerts still reach the feed and the
//! forward destination, the listener answers, the warning is in words,
//! and SIGTERM ends the process within 10 s.

use crate::enrich::{event, session, setup_with, uuid};
use crate::forward::Receiver;
use crate::util::{Daemon, Dir};
use fake_sekoia::{alert_json, FakeSekoia};
use std::time::{Duration, Instant};

/// The bound the issue sets on a stop, whatever a peer does.
const STOP_BOUND: Duration = Duration::from_secs(10);

fn forward_to(receiver: &Receiver) -> String {
    format!(
        "[[forward]]\nkind = \"teams\"\nurl = \"{}\"\n",
        receiver.url()
    )
}

/// SIGTERM, then the exit code, which must come within [`STOP_BOUND`].
fn stop_in_time(daemon: &mut Daemon) -> Option<i32> {
    daemon.signal(libc::SIGTERM);
    let started = Instant::now();
    let code = daemon.wait(STOP_BOUND + Duration::from_secs(5));
    assert!(
        started.elapsed() <= STOP_BOUND,
        "SIGTERM took {:?}:\n{}",
        started.elapsed(),
        daemon.log_text()
    );
    code
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_notification_server_that_never_answers_holds_up_no_alert_forward_or_stop() {
    let api = FakeSekoia::start_blocking();
    for n in 1..=3 {
        api.add_alert(alert_json(&uuid(n), &format!("AL{n}"), "Stalled", 85));
    }
    let receiver = Receiver::start();
    let dir = setup_with(&api, &forward_to(&receiver));
    session(&dir).notifications.set_hanging(true);
    let mut daemon = Daemon::start(&dir);
    for n in 1..=3 {
        assert_eq!(daemon.post(&event(n)), 202, "the listener answers");
    }
    // All three are forwarded and enriched in the feed although the first
    // pop-up never got an answer.
    assert_eq!(receiver.wait_for(3).len(), 3);
    wait_until(
        "three enriched feed entries",
        Duration::from_secs(20),
        || {
            let feed = dir.feed();
            feed.len() == 3 && feed.iter().all(|e| e["enriched"] == true)
        },
    );

    let status = dir.stdout(&["status"]);
    assert!(
        status.contains("pop-ups   desktop pop-ups failing"),
        "{status}"
    );
    assert!(status.contains("did not answer within 5 s"), "{status}");
    let check = dir.run(&["check"]);
    let check_out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check_out.contains("FAIL  pop-ups"),
        "check says nothing about pop-ups:\n{check_out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&dir.stdout(&["status", "--json"])).expect("status --json");
    let warning = json["health"]["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("Pop-ups are not shown"), "{json}");
    assert!(
        daemon.log_text().contains("pop-ups are given up"),
        "{}",
        daemon.log_text()
    );

    assert_eq!(stop_in_time(&mut daemon), Some(0));
}

#[test]
fn an_alert_api_that_never_answers_holds_up_no_pop_up_forward_or_stop() {
    let api = FakeSekoia::start_blocking();
    for n in 1..=2 {
        api.add_alert(alert_json(&uuid(n), &format!("AL{n}"), "Later", 85));
    }
    let receiver = Receiver::start();
    let dir = setup_with(&api, &forward_to(&receiver));
    api.hang(true);
    let mut daemon = Daemon::start(&dir);
    for n in 1..=2 {
        assert_eq!(daemon.post(&event(n)), 202, "the listener answers");
    }
    // Shown and forwarded without enrichment after the pipeline's deadline.
    let popups = session(&dir).popups(2);
    assert_eq!(popups.len(), 2, "{popups:?}");
    assert_eq!(receiver.wait_for(2).len(), 2);
    assert!(dir.feed().iter().all(|e| e["enriched"] == false));
    // The health says the API does not answer.
    let api_state = || {
        let text = dir.stdout(&["status", "--json"]);
        let json: serde_json::Value = serde_json::from_str(&text).expect("status --json");
        json["health"]["state"]["api"].clone()
    };
    wait_until(
        "the API reported unreachable",
        Duration::from_secs(10),
        || api_state()["state"] == "unreachable",
    );
    assert!(
        api_state()["reason"]
            .as_str()
            .is_some_and(|r| r.contains("did not answer in time")),
        "{}",
        api_state()
    );

    // The API answers again: the enrichment owed is completed by a retry.
    api.hang(false);
    wait_until("both entries enriched", Duration::from_secs(45), || {
        dir.feed().iter().all(|e| e["enriched"] == true)
    });
    wait_until("the API reported ok", Duration::from_secs(10), || {
        api_state()["state"] == "ok"
    });

    // Hanging again at the stop: the process still ends in time.
    api.hang(true);
    assert_eq!(daemon.post(&event(3)), 202);
    assert_eq!(stop_in_time(&mut daemon), Some(0));
}

/// A desktop-like session whose keyring asks for its password through a
/// real prompt nobody answers: a session bus *with* service activation (so
/// gnome-keyring can start `gcr-prompter`), an Xvfb display for the prompt
/// window, and gnome-keyring holding our key in a collection locked again
/// after the key was stored.
struct LockedKeyring {
    root: std::path::PathBuf,
    address: String,
    bus: std::process::Child,
    keyring: Option<std::process::Child>,
    display: fake_notifications::display::Display,
}

impl LockedKeyring {
    const PASSWORD: &'static [u8] = b"test-keyring-password";

    fn start(dir: &Dir) -> LockedKeyring {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let root = dir.tmp.path().join("keyring-session");
        for sub in ["data", "run"] {
            std::fs::create_dir_all(root.join(sub)).expect("session dirs");
        }
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root.join("run"), std::fs::Permissions::from_mode(0o700))
                .expect("chmod run");
        }
        let display = fake_notifications::display::Display::start();
        // The standard session config: activation of installed services
        // (the keyring's prompter), which the test session bus lacks.
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .env("DISPLAY", &display.name)
            .env("XDG_RUNTIME_DIR", root.join("run"))
            .env("XDG_DATA_HOME", root.join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().expect("stdout"))
            .read_line(&mut address)
            .expect("bus address");
        let mut session = LockedKeyring {
            root,
            address: address.trim().to_owned(),
            bus,
            keyring: None,
            display,
        };
        session.start_keyring(&[]);
        session
    }

    fn apply(&self, cmd: &mut std::process::Command) {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("XDG_RUNTIME_DIR", self.root.join("run"))
            .env("XDG_DATA_HOME", self.root.join("data"));
    }

    /// Starts gnome-keyring-daemon unlocked with the password (`extra`:
    /// `--replace` to take over from a running one).
    fn start_keyring(&mut self, extra: &[&str]) {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut cmd = Command::new("gnome-keyring-daemon");
        cmd.args(["--unlock", "--components=secrets", "--foreground"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.apply(&mut cmd);
        let mut child = cmd.spawn().expect("gnome-keyring-daemon");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(Self::PASSWORD)
            .expect("password");
        if let Some(mut old) = self.keyring.replace(child) {
            let _ = old.wait();
        }
        self.wait_for_secrets();
    }

    fn dbus(&self, args: &[&str]) -> String {
        let mut cmd = std::process::Command::new("dbus-send");
        cmd.arg("--session").arg("--print-reply").args(args);
        self.apply(&mut cmd);
        let out = cmd.output().expect("dbus-send");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn has_owner(&self, name: &str) -> bool {
        self.dbus(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            &format!("string:{name}"),
        ])
        .contains("boolean true")
    }

    fn wait_for_secrets(&self) {
        wait_until("gnome-keyring on the bus", Duration::from_secs(10), || {
            self.has_owner("org.freedesktop.secrets")
        });
    }

    /// Answers the unlock prompt on the display, as a user would: types the
    /// keyring password into gcr-prompter's window and presses Return.
    fn answer_prompt(&self) {
        let xdotool = |args: &[&str]| {
            let out = std::process::Command::new("xdotool")
                .args(args)
                .env("DISPLAY", &self.display.name)
                .output()
                .expect("xdotool (package xdotool) must be installed");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        let mut window = String::new();
        wait_until("the prompt window", Duration::from_secs(10), || {
            window = xdotool(&["search", "--onlyvisible", "--class", "gcr-prompter"]);
            !window.is_empty()
        });
        let window = window.lines().next().unwrap_or_default().to_owned();
        let password = String::from_utf8_lossy(Self::PASSWORD).into_owned();
        xdotool(&["windowfocus", "--sync", &window]);
        xdotool(&["type", "--delay", "20", &password]);
        xdotool(&["key", "Return"]);
    }

    /// Locks the login collection: the next read needs the password.
    fn lock(&self) {
        let reply = self.dbus(&[
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            "array:objpath:/org/freedesktop/secrets/collection/login",
        ]);
        assert!(reply.contains("collection/login"), "not locked: {reply}");
    }
}

impl Drop for LockedKeyring {
    fn drop(&mut self) {
        if let Some(mut keyring) = self.keyring.take() {
            let _ = keyring.kill();
            let _ = keyring.wait();
        }
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

/// A config for `api`, and a session whose keyring holds its key in a
/// collection locked again: reading it raises the unlock prompt.
fn with_locked_key(api: &FakeSekoia) -> (Dir, LockedKeyring) {
    // No pop-up for alerts here: this session's bus would start a real
    // notification daemon for one.
    let extra = format!(
        "[sekoia]\napi_url = \"{}\"\n[notify]\nevents = [\"case:created\"]\n",
        api.url()
    );
    let mut dir = Dir::new(&extra);
    let keyring = LockedKeyring::start(&dir);
    dir.env.extend([
        (
            "DBUS_SESSION_BUS_ADDRESS".to_owned(),
            keyring.address.clone(),
        ),
        (
            "XDG_RUNTIME_DIR".to_owned(),
            keyring.root.join("run").display().to_string(),
        ),
    ]);
    let out = crate::secrets::set_api_key(&dir, api.api_key());
    assert!(out.status.success(), "{out:?}");
    keyring.lock();
    (dir, keyring)
}

#[test]
fn a_keyring_prompt_delays_the_daemon_at_most_5_s_and_its_answer_brings_the_key() {
    let api = FakeSekoia::start_blocking();
    let (mut dir, mut keyring) = with_locked_key(&api);

    // A key given in the environment never touches the keyring: no prompt.
    dir.env
        .push(("SEKOIA_API_KEY".to_owned(), api.api_key().to_owned()));
    let mut given = Daemon::start(&dir);
    assert!(
        given.log_text().contains("source=SEKOIA_API_KEY"),
        "{}",
        given.log_text()
    );
    assert!(
        !keyring.has_owner("org.gnome.keyring.SystemPrompter"),
        "the keyring was asked although a key was given"
    );
    assert_eq!(stop_in_time(&mut given), Some(0));
    dir.env.retain(|(k, _)| k != "SEKOIA_API_KEY");

    // Only the keyring has it: the listener serves after at most 5 s, and
    // once the user answers the unlock prompt the engine takes the key.
    api.add_alert(alert_json(&uuid(8), "AL8", "Late key", 85));
    let mut daemon = Daemon::start(&dir);
    let log = daemon.log_text();
    assert!(
        log.contains("the OS keyring did not answer within 5 s"),
        "{log}"
    );
    assert_eq!(daemon.post(&crate::util::alert("kr-1")), 202);
    keyring.answer_prompt();
    wait_until("the restart with the key", Duration::from_secs(20), || {
        let log = daemon.log_text();
        log.contains("restarting the engine with the API key")
            && log.matches("webhook listener ready").count() >= 2
    });
    let addr = crate::util::wait_listening(
        &mut daemon.child,
        &dir.data(),
        Duration::from_secs(20),
        &daemon.log,
    );
    wait_until("an enriched entry", Duration::from_secs(20), || {
        crate::util::post_hook(addr, &event(8));
        dir.feed()
            .iter()
            .any(|e| e["short_id"] == "AL8" && e["enriched"] == true)
    });
    assert_eq!(stop_in_time(&mut daemon), Some(0));

    // Locked again and the prompt never answered: serving, and a stop in
    // time although the keyring call is still waiting.
    keyring.lock();
    let mut daemon = Daemon::start(&dir);
    wait_until("the prompt is up", Duration::from_secs(10), || {
        keyring.has_owner("org.gnome.keyring.SystemPrompter")
    });
    let log = daemon.log_text();
    assert!(
        log.contains("the OS keyring did not answer within 5 s"),
        "{log}"
    );
    assert_eq!(daemon.post(&crate::util::alert("kr-2")), 202);
    assert_eq!(stop_in_time(&mut daemon), Some(0));

    // The keyring behaves again (unlocked): the key is read at once.
    keyring.start_keyring(&["--replace"]);
    let check = dir.run(&["check"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("ok    api key   from the OS keyring"),
        "{text}"
    );
}

#[test]
fn the_desktop_app_serves_at_once_and_takes_the_key_when_the_prompt_is_answered() {
    let api = FakeSekoia::start_blocking();
    api.add_alert(alert_json(&uuid(7), "AL7", "Late key", 85));
    let (dir, keyring) = with_locked_key(&api);

    let log = dir.tmp.path().join("app.log");
    let mut cmd = std::process::Command::new(crate::desktop::app_bin());
    cmd.arg("--config")
        .arg(dir.config())
        .arg("--data-dir")
        .arg(dir.data())
        .current_dir(dir.tmp.path())
        .env("DISPLAY", &keyring.display.name)
        .env("HOME", dir.tmp.path().join("home"))
        .env("XDG_CONFIG_HOME", dir.tmp.path().join("home/config"))
        .env("XDG_CACHE_HOME", dir.tmp.path().join("home/cache"))
        .env("XDG_DATA_HOME", dir.tmp.path().join("home/data"))
        .env("RUST_LOG", "info")
        .env_remove("SEKOIA_API_KEY")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"));
    keyring.apply(&mut cmd);
    let mut app = cmd.spawn().expect("spawn sekoia-notifier");
    // The listener answers although the keyring is still asking.
    let addr = crate::util::wait_listening(&mut app, &dir.data(), Duration::from_secs(40), &log);
    assert_eq!(crate::util::post_hook(addr, &event(6)), 202);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("did not answer within 5 s"), "{text}");

    // The user types the password: the engine restarts with the key and
    // enriches what comes next.
    keyring.answer_prompt();
    wait_until("the restart with the key", Duration::from_secs(20), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("restarting the engine with the API key")
            && text.matches("webhook listener ready").count() >= 2
    });
    let addr = crate::util::wait_listening(&mut app, &dir.data(), Duration::from_secs(20), &log);
    wait_until("an enriched entry", Duration::from_secs(20), || {
        crate::util::post_hook(addr, &event(7));
        dir.feed()
            .iter()
            .any(|e| e["short_id"] == "AL7" && e["enriched"] == true)
    });
    let _ = app.kill();
    let _ = app.wait();
}
