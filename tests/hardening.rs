//! Hostile clients and secrets with the real daemon: a thousand idle
//! connections and a trickling client do not stop a real POST; after a run
//! full of errors the API key is in no file, log line or output, and every
//! file the daemon wrote is private to its owner.

use crate::enrich::setup;
use crate::secrets::assert_in_no_file;
use crate::util::{alert, Daemon, Dir};
use fake_sekoia::{alert_json, FakeSekoia, Fault};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn a_thousand_idle_connections_do_not_stop_a_real_post() {
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    let mut idle = Vec::with_capacity(1000);
    for n in 0..1000 {
        let mut stream = TcpStream::connect(d.addr).expect("connect");
        // Half say nothing, half stop in the middle of the request line.
        if n % 2 == 1 {
            stream.write_all(b"POST /hooks/").expect("write");
        }
        idle.push(stream);
    }
    assert_eq!(d.post(&alert("served-despite-idle")), 202);
    assert!(dir
        .feed()
        .iter()
        .any(|e| e["uuid"] == "served-despite-idle"));
    drop(idle);
}

#[test]
fn a_client_trickling_its_headers_is_cut_off_while_others_are_served() {
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    let addr = d.addr;
    let slow = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        let started = Instant::now();
        // One byte every 200 ms, forever: only the header timeout ends it.
        for byte in b"POST /hooks/".iter().chain(b"x".repeat(10_000).iter()) {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            if started.elapsed() > Duration::from_secs(40) {
                break;
            }
        }
        let mut rest = Vec::new();
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.read_to_end(&mut rest);
        (
            started.elapsed(),
            String::from_utf8_lossy(&rest).into_owned(),
        )
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(d.post(&alert("served-while-trickling")), 202);
    let (cut_after, answer) = slow.join().expect("slow client");
    assert!(
        cut_after < Duration::from_secs(30),
        "the trickling client was not cut off ({cut_after:?})"
    );
    assert!(answer.is_empty() || answer.contains("408"), "{answer:?}");
}

fn uuid(n: u32) -> String {
    format!("3e8b1f40-2c6d-4a7e-9f10-{n:012}")
}

fn event(n: u32) -> String {
    crate::util::alert_with_short_id(&uuid(n), &format!("AL{n}"))
}

/// Every file and directory under `root` (and `root` itself).
fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut all = vec![root.to_owned()];
    let mut i = 0;
    while i < all.len() {
        if all[i].is_dir() {
            if let Ok(entries) = std::fs::read_dir(&all[i]) {
                all.extend(entries.flatten().map(|e| e.path()));
            }
        }
        i += 1;
    }
    all
}

#[test]
fn after_a_run_full_of_errors_the_key_is_nowhere_and_every_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let api = FakeSekoia::start_blocking();
    for n in 1..=4 {
        api.add_alert(alert_json(&uuid(n), &format!("AL{n}"), "t", 50));
    }
    let mut dir = setup(&api);
    dir.env.push(("SEKOIA_NOTIFIER_LOG".into(), "debug".into()));
    let key = api.api_key().to_owned();
    api.fail_next(2, Fault::Status(500));
    let mut d = Daemon::start(&dir);
    assert_eq!(d.post(&event(1)), 202);
    api.fail_next(
        1,
        Fault::TooMany {
            retry_after_secs: Some(1),
        },
    );
    assert_eq!(d.post(&event(2)), 202);
    assert_eq!(d.post("[{\"type\": 12}]"), 400);
    assert_eq!(d.post(&format!("{{\"key\": \"{key}\"")), 400);
    api.fail_next(1, Fault::Malformed);
    assert_eq!(d.post(&event(3)), 202);
    api.set_key_status(Some("T301"));
    assert_eq!(d.post(&event(4)), 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    // The rejected key's failure is logged (alerts stay owed, no reason on
    // their rows).
    while !d.log_text().contains("rejected the API key") {
        assert!(
            Instant::now() < deadline,
            "no enrichment error:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut outputs = String::new();
    for args in [
        &["check"][..],
        &["feed"],
        &["feed", "--json"],
        &["webhook-url"],
    ] {
        let out = dir.run(args);
        outputs.push_str(&String::from_utf8_lossy(&out.stdout));
        outputs.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        outputs.contains("expired"),
        "check names the key problem:\n{outputs}"
    );
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));

    let log = d.log_text();
    assert!(log.lines().count() > 20, "a trace log is expected:\n{log}");
    assert!(!log.contains(&key), "the key is in the log");
    let stdout = std::fs::read_to_string(dir.tmp.path().join("serve.out")).unwrap_or_default();
    assert!(!stdout.contains(&key), "the key is on stdout");
    assert!(!outputs.contains(&key), "the key is in a command's output");
    assert_in_no_file(&dir, &key);

    // The config here was written by the test; one the daemon writes
    // itself (first run) is checked below.
    let fresh = dir.tmp.path().join("fresh");
    let out = std::process::Command::new(crate::util::bin())
        .arg("--config")
        .arg(fresh.join("config.toml"))
        .arg("--data-dir")
        .arg(fresh.join("data"))
        .arg("webhook-url")
        .env("XDG_RUNTIME_DIR", dir.tmp.path())
        .output()
        .expect("webhook-url");
    assert!(out.status.success(), "{out:?}");
    let mut loose = Vec::new();
    for path in walk(&dir.data()).into_iter().chain(walk(&fresh)) {
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            loose.push(format!("{} {:o}", path.display(), mode & 0o777));
        }
    }
    assert!(loose.is_empty(), "readable by others: {loose:?}");
}
