//! Start-up, configuration errors, graceful shutdown and the read commands.

use crate::util::{alert, report, Daemon, Dir, SECRET};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn sigterm_stops_gracefully_and_keeps_every_accepted_event() {
    let dir = Dir::new("");
    let mut d = Daemon::start(&dir);
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let addr = d.addr;
    let posters: Vec<_> = (0..4)
        .map(|t| {
            let accepted = Arc::clone(&accepted);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let uuid = format!("t{t}-{i}");
                    i += 1;
                    let Ok(mut s) = std::net::TcpStream::connect(addr) else { break };
                    let body = alert(&uuid);
                    let req = format!(
                        "POST /hooks/{SECRET} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    use std::io::{Read, Write};
                    if s.write_all(req.as_bytes()).is_err() {
                        break;
                    }
                    let mut resp = String::new();
                    let _ = s.read_to_string(&mut resp);
                    if resp.starts_with("HTTP/1.1 202") {
                        accepted.lock().unwrap().push(uuid);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    d.signal(libc::SIGTERM);
    let code = d.wait(Duration::from_secs(20));
    stop.store(true, Ordering::Relaxed);
    for p in posters {
        p.join().unwrap();
    }
    assert_eq!(code, Some(0), "graceful exit:\n{}", d.log_text());
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() > 10,
        "the load ran: {} accepted",
        accepted.len()
    );
    let stored: std::collections::HashSet<String> = dir
        .feed()
        .iter()
        .filter_map(|e| e["uuid"].as_str().map(String::from))
        .collect();
    let lost: Vec<_> = accepted.iter().filter(|u| !stored.contains(*u)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} accepted events lost: {lost:?}",
        lost.len(),
        accepted.len()
    );
    assert!(
        !dir.data().join("instance.json").exists(),
        "the instance file is removed on exit"
    );
    assert!(d.log_text().contains("engine stopped"));
}

#[test]
fn sigint_also_stops_gracefully() {
    let dir = Dir::new("");
    let mut d = Daemon::start(&dir);
    assert_eq!(d.post(&alert("before-int")), 202);
    d.signal(libc::SIGINT);
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));
    assert_eq!(dir.feed().len(), 1);
}

#[test]
fn events_survive_a_restart() {
    let dir = Dir::new("");
    let mut d = Daemon::start(&dir);
    assert_eq!(d.post(&alert("first-run")), 202);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));
    let d = Daemon::start(&dir);
    assert_eq!(d.post(&alert("first-run")), 202, "redelivery after restart");
    assert_eq!(d.post(&alert("second-run")), 202);
    let uuids: Vec<String> = dir
        .feed()
        .iter()
        .filter_map(|e| e["uuid"].as_str().map(String::from))
        .collect();
    assert_eq!(uuids, ["second-run", "first-run"]);
}

/// `serve` with `extra` config must exit 2 with a short message naming the
/// config file and every needle; returns stderr.
pub fn assert_config_error(extra: &str, needles: &[&str]) -> String {
    let dir = Dir::new(extra);
    let out = dir.run(&["serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        report(&dir.command(&["serve"]), &out)
    );
    let config = dir.config().display().to_string();
    assert!(
        stderr.contains(&config),
        "the message names the file:\n{stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "the message mentions {needle:?}:\n{stderr}"
        );
    }
    assert!(
        stderr.trim().lines().count() <= 3,
        "short and readable:\n{stderr}"
    );
    stderr.into_owned()
}

#[test]
fn bad_config_values_exit_2_naming_the_key_and_the_expected_form() {
    assert_config_error("[sekoia]\nregion = \"fra9\"\n", &["sekoia.region", "fra1"]);
    assert_config_error(
        "[notify]\nmin_urgency = 500\n",
        &["notify.min_urgency", "100"],
    );
    assert_config_error("[notify]\nevents = \"alert:created\"\n", &["notify.events"]);
    assert_config_error("[tunnel]\nkind = \"command\"\n", &["tunnel.command"]);
}

#[test]
fn a_public_bind_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[listener]\nbind = \"0.0.0.0:8787\"\n").unwrap();
    let out = std::process::Command::new(crate::util::bin())
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listener.bind"));
}

#[test]
fn toml_syntax_error_exits_2_with_the_line() {
    let dir = Dir::new("[notify\nmin_urgency = 1\n");
    let out = dir.run(&["feed"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        report(&dir.command(&["feed"]), &out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 4"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unknown_config_keys_are_reported_but_not_fatal() {
    let dir = Dir::new("[notify]\nmin_urgncy = 3\n");
    let out = dir.run(&["feed"]);
    assert!(
        out.status.success(),
        "{}",
        report(&dir.command(&["feed"]), &out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("notify.min_urgncy"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = Dir::new("");
    for args in [&["frobnicate"][..], &["feed", "--limit", "many"], &[]] {
        let out = dir.run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            report(&dir.command(args), &out)
        );
    }
}

#[test]
fn a_busy_port_exits_1_with_a_clear_message() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let dir = Dir::new("");
    let text = std::fs::read_to_string(dir.config())
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(dir.config(), text).unwrap();
    let out = dir.run(&["serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("listener.bind"),
        "{stderr}"
    );
}

#[test]
fn first_run_writes_a_private_config_with_a_strong_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("conf").join("config.toml");
    let out = std::process::Command::new(crate::util::bin())
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .arg("webhook-url")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let secret = url
        .strip_prefix("http://127.0.0.1:8787/hooks/")
        .unwrap_or_else(|| panic!("{url}"));
    assert!(
        secret.len() >= 22
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{secret}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn webhook_url_points_at_the_running_instance() {
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    let url = dir.stdout(&["webhook-url"]);
    assert_eq!(url.trim(), format!("http://{}/hooks/{SECRET}", d.addr));
    drop(d);
    let public = Dir::new("[tunnel]\npublic_url = \"https://alerts.example.com\"\n");
    assert_eq!(
        public.stdout(&["webhook-url"]).trim(),
        format!("https://alerts.example.com/hooks/{SECRET}")
    );
}

#[test]
fn feed_without_events_tells_the_user_what_to_do() {
    let dir = Dir::new("");
    let text = dir.stdout(&["feed"]);
    assert!(text.contains("webhook-url"), "{text}");
    assert_eq!(dir.stdout(&["feed", "--json"]).trim(), "[]");
}

#[test]
fn feed_limit_and_order_hold() {
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    for i in 0..5 {
        assert_eq!(d.post(&alert(&format!("n{i}"))), 202);
    }
    let text = dir.stdout(&["feed", "--json", "--limit", "2"]);
    let v: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let uuids: Vec<&str> = v.iter().filter_map(|e| e["uuid"].as_str()).collect();
    assert_eq!(uuids, ["n4", "n3"]);
    let table = dir.stdout(&["feed"]);
    assert!(
        table.contains("alert:created") && table.contains("AL2"),
        "{table}"
    );
}

#[test]
fn serve_keeps_a_private_log_file_and_status_json_says_what_support_needs() {
    let dir = Dir::new("");
    let mut daemon = Daemon::start(&dir);
    assert_eq!(daemon.post(&alert("status-1")), 202);
    let status = loop {
        let text = dir.stdout(&["status", "--json"]);
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("status --json ({e}): {text}"));
        if v["events"]["waiting"] == 0 && v["health"].is_object() {
            break v;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["events"]["stored"], 1, "{status}");
    assert!(status["events"]["last_received"].is_string(), "{status}");
    assert!(status["health"]["state"]["tunnel"].is_object(), "{status}");
    assert!(status["health"]["state"]["api"].is_object(), "{status}");
    assert!(!status.to_string().contains(SECRET), "{status}");

    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait(Duration::from_secs(20)), Some(0));
    let logs = dir.data().join("logs");
    let files: Vec<_> = std::fs::read_dir(&logs)
        .unwrap_or_else(|e| panic!("{}: {e}", logs.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).expect("log file");
    assert!(text.contains("webhook listener ready"), "{text}");
    assert!(text.contains("engine stopped"), "{text}");
    assert!(!text.contains(SECRET), "the hook secret is never logged");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0])
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the log file is private");
    }
}
