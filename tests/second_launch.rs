//! A second launch of the desktop app with another `--config` /
//! `--data-dir` while one runs: one line on stderr and a pop-up naming the
//! running instance and both configs, exit 1; the running one is untouched.
//! (The same config handing over, exit 0, is in `desktop`.)

use crate::desktop::{app_bin, desktop_dir, App, Display};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_second_launch_with_another_config_says_which_runs_and_exits_1() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    let dir = desktop_dir(&api);
    let display = Display::start();
    let app = App::start(&dir, &display);

    let other = tempfile::tempdir().expect("tempdir");
    let other_config = other.path().join("other.toml");
    std::fs::write(
        &other_config,
        "[listener]\nbind = \"127.0.0.1:0\"\nhook_secret = \"other-secret-0123456789abcdefghijkl\"\n",
    )
    .expect("write config");
    let other_data = other.path().join("data");
    let mut cmd = Command::new(app_bin());
    cmd.arg("--config")
        .arg(&other_config)
        .arg("--data-dir")
        .arg(&other_data)
        .current_dir(other.path());
    dir.session.as_ref().expect("session").apply(&mut cmd);
    cmd.env("DISPLAY", &display.name)
        .env("HOME", dir.tmp.path().join("home"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut second = cmd.spawn().expect("second launch");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = second.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the second launch keeps running");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(1), "{stderr}");
    let line = stderr.trim();
    assert_eq!(line.lines().count(), 1, "{stderr}");
    let running = std::fs::canonicalize(dir.config()).expect("config path");
    assert!(line.contains(&format!("pid {}", app.child.id())), "{line}");
    assert!(line.contains(&running.display().to_string()), "{line}");
    assert!(line.contains(&other_config.display().to_string()), "{line}");
    assert!(
        !other_data.join("instance.json").exists(),
        "no second engine"
    );

    let session = dir.session.as_ref().expect("session");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let shown =
            session.notifications.calls().iter().any(|c| {
                c.summary == "Sekoia Notifier is already running" && c.body.contains("pid")
            });
        if shown {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no pop-up: {:?}",
            session.notifications.calls()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The running app still serves its own config.
    assert_eq!(app.post(&crate::util::alert("still-served")), 202);
}
