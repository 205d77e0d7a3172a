//! The daemon supervising a real tunnel: a `bore server` on loopback, the
//! daemon's `bore local` child, the public URL discovered and used.

use crate::util::{alert, http, report, Daemon, Dir, SECRET};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `bore` on PATH, else in ~/.cargo/bin (where `make test` installs it).
fn bore() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("bore"))
        .find(|p| p.is_file());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    on_path
        .or_else(|| {
            cargo_home
                .map(|h| h.join("bin").join("bore"))
                .filter(|p| p.is_file())
        })
        .expect("bore is needed: run `cargo install bore-cli --locked` (make test does it)")
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Processes whose command line contains all of `words`.
fn processes_with(words: &[&str]) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if words.iter().all(|w| cmdline.contains(w)) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_bore_tunnel_is_supervised_and_its_public_url_works() {
    let bore = bore();
    // The bore control port is fixed (7835); wait until no other run holds it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpListener::bind("127.0.0.1:7835").is_err() {
        assert!(Instant::now() < deadline, "127.0.0.1:7835 stays busy");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _server = Killed(
        Command::new(&bore)
            .args([
                "server",
                "--bind-addr",
                "127.0.0.1",
                "--bind-tunnels",
                "127.0.0.1",
                "--min-port",
                "42000",
                "--max-port",
                "42999",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bore server"),
    );
    while std::net::TcpStream::connect("127.0.0.1:7835").is_err() {
        assert!(Instant::now() < deadline, "bore server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Without the opt-in, bore's http URL is shown with a warning and never
    // self-tested: the secret would cross the network in clear.
    let config = format!(
        "[tunnel]\nkind = \"bore\"\nserver = \"127.0.0.1\"\nbinary = \"{}\"\n",
        bore.display()
    );
    let plain = Dir::new(&config);
    let mut p = Daemon::start(&plain);
    let text = crate::fake_tunnels::wait_until(20, "check to show the plain URL", || {
        let out = plain.run(&["check"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("plain http").then_some(text)
    });
    assert!(text.contains("not self-tested"), "{text}");
    assert!(text.contains("unencrypted"), "the warning: {text}");
    let out = plain.run(&["send-test"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("plain http") && stderr.contains("allow_plain_http"),
        "{stderr}"
    );
    assert!(!p.log_text().contains("self-test"), "{}", p.log_text());
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait(Duration::from_secs(20)), Some(0));

    // With it (a relay on a trusted network), the URL is used and tested.
    let dir = Dir::with_session(&format!("{config}allow_plain_http = true\n"));
    let mut d = Daemon::start(&dir);
    let port = d.addr.port().to_string();

    // The public URL is discovered and printed by webhook-url.
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = loop {
        let url = dir.stdout(&["webhook-url"]).trim().to_owned();
        if !url.contains(&format!(":{port}/")) {
            break url;
        }
        assert!(
            Instant::now() < deadline,
            "no public URL:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("{url}"));
    let (public_port, path) = rest.split_once('/').expect("a path");
    assert_eq!(path, format!("hooks/{SECRET}"));
    let public: std::net::SocketAddr = format!("127.0.0.1:{public_port}").parse().expect("addr");

    // An event through the public port lands in the feed.
    let body = alert("through-bore");
    let (status, _) = http(
        public,
        "POST",
        &format!("/{path}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(status, 202);
    assert!(dir.feed().iter().any(|e| e["uuid"] == "through-bore"));

    // send-test goes through the tunnel; check reports it up.
    let out = dir.run(&["send-test"]);
    assert!(
        out.status.success(),
        "{}",
        report(&dir.command(&["send-test"]), &out)
    );
    // Up once the engine's own self-test confirmed the URL ("checking"
    // until then).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let check = dir.run(&["check"]);
        let text = String::from_utf8_lossy(&check.stdout).into_owned();
        if text.contains("bore: up at http://127.0.0.1:") {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Stopping the daemon leaves no bore client behind.
    assert!(
        !processes_with(&["bore", "local", &port]).is_empty(),
        "the daemon runs bore local"
    );
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with(&["bore", "local", &port]).is_empty() {
        assert!(Instant::now() < deadline, "bore local outlived the daemon");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_missing_tunnel_program_is_reported_and_the_listener_keeps_working() {
    let dir = Dir::new("[tunnel]\nkind = \"command\"\ncommand = \"/nonexistent/tunnel-{port}\"\n");
    let d = Daemon::start(&dir);
    assert_eq!(d.post(&alert("local-still-works")), 202);
    let check = dir.run(&["check"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  tunnel") && text.contains("nonexistent"),
        "{text}"
    );
    assert!(d.log_text().contains("tunnel"), "{}", d.log_text());
}
