//! `[[forward]]` with the real daemon: a Teams stand-in on loopback records
//! what it gets; at most once across `kill -9`; a hanging destination does
//! not hold up pop-ups; `status`; configuration errors.

use crate::lifecycle::assert_config_error;
use crate::util::{alert, Daemon, Dir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The secret part of the stand-in's URL: must never be shown.
const URL_SECRET: &str = "S3CR3T-workflow-sig";

/// One request as the stand-in got it.
#[derive(Debug, Clone)]
struct Got {
    signature: Option<String>,
    timestamp: Option<String>,
    body: Vec<u8>,
}

/// An incoming-webhook stand-in (HTTP/1.1 with keep-alive) that records
/// every request and answers 200, or, while `hold` is set, never answers.
pub(crate) struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    hold: Arc<AtomicBool>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("address").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let hold = Arc::new(AtomicBool::new(false));
        let (b, h) = (Arc::clone(&got), Arc::clone(&hold));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (b, h) = (Arc::clone(&b), Arc::clone(&h));
                std::thread::spawn(move || serve(stream, &b, &h));
            }
        });
        Receiver { port, got, hold }
    }

    pub(crate) fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/workflows/x/triggers/manual?sig={URL_SECRET}",
            self.port
        )
    }

    /// Waits for `n` requests and returns them all.
    fn wait_got(&self, n: usize) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.got.lock().expect("lock").clone();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "fewer than {n} forwarded");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for `n` requests and returns their JSON bodies.
    pub(crate) fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        self.wait_got(n)
            .iter()
            .map(|g| serde_json::from_slice(&g.body).expect("the forwarder posts JSON"))
            .collect()
    }
}

fn serve(stream: TcpStream, got: &Mutex<Vec<Got>>, hold: &AtomicBool) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    loop {
        let mut length = 0usize;
        let mut signature = None;
        let mut timestamp = None;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("x-sekoia-notifier-signature:") {
                signature = line.split_once(':').map(|(_, v)| v.trim().to_owned());
            }
            if lower.starts_with("x-sekoia-notifier-timestamp:") {
                timestamp = line.split_once(':').map(|(_, v)| v.trim().to_owned());
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        got.lock().expect("lock").push(Got {
            signature,
            timestamp,
            body,
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while hold.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

fn forward_config(receiver: &Receiver) -> String {
    format!(
        "[[forward]]\nkind = \"teams\"\nurl = \"{}\"\n",
        receiver.url()
    )
}

/// The "Open in Sekoia.io" link of a Teams card.
fn card_link(card: &serde_json::Value) -> &str {
    assert_eq!(card["type"], "message");
    let content = &card["attachments"][0]["content"];
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(content["type"], "AdaptiveCard");
    content["actions"][0]["url"]
        .as_str()
        .expect("the card has a link button")
}

fn status_json(dir: &Dir) -> serde_json::Value {
    let text = dir.stdout(&["status", "--json"]);
    assert!(!text.contains(URL_SECRET), "status shows the URL: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("status --json ({e}): {text}"))
}

#[test]
fn across_a_kill_9_queued_alerts_are_forwarded_once_and_the_one_in_flight_never_twice() {
    let receiver = Receiver::start();
    receiver.hold.store(true, Ordering::SeqCst);
    let dir = Dir::new(&forward_config(&receiver));
    let mut first = Daemon::start(&dir);
    assert_eq!(first.post(&alert("fwd-a")), 202);
    let got = receiver.wait_for(1);
    assert!(card_link(&got[0]).ends_with("/operations/alerts/AL5"));
    // Two more wait behind it in the outbox.
    assert_eq!(first.post(&alert("fwd-bb")), 202);
    assert_eq!(first.post(&alert("fwd-ccc")), 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_json(&dir)["forward"][0]["queued"] != 3 {
        assert!(
            Instant::now() < deadline,
            "not queued: {}",
            status_json(&dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Killed while the first POST waits for its answer: it may have arrived.
    first.signal(libc::SIGKILL);
    first.wait(Duration::from_secs(10));
    let first_log = first.log_text();
    receiver.hold.store(false, Ordering::SeqCst);
    // kill -9 leaves the dead instance's record behind.
    let _ = std::fs::remove_file(dir.data().join("instance.json"));

    let second = Daemon::start(&dir);
    assert_eq!(second.post(&alert("fwd-dddd")), 202);
    let got = receiver.wait_for(4);
    // The outbox goes in order: a re-sent first alert would come before
    // the last one, a repeated one after it.
    let links: Vec<&str> = got.iter().map(card_link).collect();
    let short: Vec<&str> = links
        .iter()
        .map(|l| l.rsplit('/').next().unwrap_or_default())
        .collect();
    assert_eq!(short, ["AL5", "AL6", "AL7", "AL8"], "{links:?}");

    let status = status_json(&dir);
    let fwd = &status["forward"][0];
    assert_eq!(fwd["name"], "teams 127.0.0.1", "{status}");
    assert_eq!(
        (fwd["sent"].as_i64(), fwd["failed"].as_i64()),
        (Some(3), Some(1))
    );
    let error = fwd["last_failure"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("interrupted"), "{status}");
    assert_eq!(status["running"], true);
    for log in [first_log, second.log_text()] {
        assert!(!log.contains(URL_SECRET), "the log shows the URL: {log}");
    }
}

#[test]
fn a_hanging_destination_does_not_hold_up_the_pop_up() {
    let receiver = Receiver::start();
    receiver.hold.store(true, Ordering::SeqCst);
    let dir = Dir::with_session(&forward_config(&receiver));
    let session = dir.session.as_ref().expect("session");
    let daemon = Daemon::start(&dir);
    assert_eq!(daemon.post(&alert("fwd-popup")), 202);
    let popups = session.popups(1);
    assert_eq!(popups.len(), 1, "no pop-up:\n{}", daemon.log_text());
    // The forward is still waiting for its answer.
    receiver.wait_for(1);
    let status = status_json(&dir);
    assert_eq!(status["forward"][0]["sent"], 0, "{status}");
    assert_eq!(status["forward"][0]["queued"], 1, "{status}");
    assert_eq!(status["forward"][0]["health"], "sending", "{status}");
    receiver.hold.store(false, Ordering::SeqCst);
}

#[test]
fn status_without_a_daemon_names_destinations_by_kind_and_host() {
    let receiver = Receiver::start();
    let dir = Dir::new(&forward_config(&receiver));
    let text = dir.stdout(&["status"]);
    assert!(text.contains("stopped"), "{text}");
    let check = String::from_utf8_lossy(&dir.run(&["check"]).stdout).into_owned();
    assert!(check.contains("ok    forward   teams 127.0.0.1"), "{check}");
    assert!(!check.contains(URL_SECRET), "{check}");
    assert!(text.contains("forward   teams 127.0.0.1: idle"), "{text}");
    assert!(!text.contains(URL_SECRET), "{text}");
    let status = status_json(&dir);
    assert_eq!(status["running"], false);
    assert_eq!(status["events"]["stored"], 0);
}

#[test]
fn a_bad_forward_url_stops_serve_with_exit_2_without_showing_it() {
    let stderr = assert_config_error(
        &format!("[[forward]]\nkind = \"slack\"\nurl = \"http://hooks.example/{URL_SECRET}\"\n"),
        &["`forward[0].url`"],
    );
    assert!(!stderr.contains(URL_SECRET), "{stderr}");
}

#[test]
fn an_unreadable_url_file_stops_serve_with_exit_2() {
    assert_config_error(
        "[[forward]]\nkind = \"webhook\"\nurl_file = \"/nonexistent/hook-url\"\nsecret = \"k\"\n",
        &["`forward[0].url_file`", "/nonexistent/hook-url"],
    );
}

#[test]
fn the_shipped_systemd_units_run_serve_and_stop_cleanly_on_their_kill_signal() {
    let unit = |variant: &str| -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
            "../contrib/systemd/{variant}/sekoia-notifierd.service"
        ));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let value = |unit: &str, key: &str| -> String {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in the unit"))
            .to_owned()
    };
    let (user, system) = (unit("user"), unit("system"));
    for unit in [&user, &system] {
        let exec = value(unit, "ExecStart");
        assert!(exec.starts_with("/usr/bin/sekoia-notifierd "), "{exec}");
        assert!(exec.ends_with(" serve --log-format json"), "{exec}");
        assert_eq!(value(unit, "KillSignal"), "SIGTERM");
        assert_eq!(
            value(unit, "RestartPreventExitStatus"),
            "2",
            "config errors exit 2"
        );
        assert!(value(unit, "LoadCredential").starts_with("api-key:"));
        for hardening in [
            "NoNewPrivileges=yes",
            "LimitCORE=0",
            "ProtectSystem=strict",
            "PrivateTmp=yes",
        ] {
            assert!(unit.lines().any(|l| l == hardening), "no {hardening}");
        }
    }
    let exec = value(&user, "ExecStart");
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    assert_eq!(args[0], "serve", "{exec}");

    let dir = Dir::new("");
    let mut daemon = Daemon::start_with(&dir, &args);
    assert_eq!(daemon.post(&alert("unit")), 202);
    // The binary itself forbids core dumps too (they would hold the key).
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", daemon.child.id())).expect("limits");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core limit line");
    assert_eq!(core.split_whitespace().nth(4), Some("0"), "{core}");
    assert_eq!(core.split_whitespace().nth(5), Some("0"), "{core}");
    daemon.signal(libc::SIGTERM);
    assert_eq!(
        daemon.wait(Duration::from_secs(15)),
        Some(0),
        "SIGTERM must be a clean stop, so Restart=on-failure leaves it stopped:\n{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    assert!(
        !log.is_empty() && log.lines().all(|l| l.starts_with('{')),
        "--log-format json logs JSON lines for the journal"
    );
}

/// The README's receiver check, at time `now` (Unix seconds): the
/// `X-Sekoia-Notifier-Timestamp` within 300 s of now, then the HMAC of
/// `"<timestamp>.<raw body>"` recomputed and compared in constant time with
/// the hex after `v1=` in `X-Sekoia-Notifier-Signature`.
fn signature_verifies_at(key: &[u8], got: &Got, now: i64) -> bool {
    use hmac::Mac;
    let Some(ts) = got.timestamp.as_deref() else {
        return false;
    };
    let Ok(sent_at) = ts.parse::<i64>() else {
        return false;
    };
    if (now - sent_at).abs() > 300 {
        return false;
    }
    let Some(hex_sig) = got.signature.as_deref().and_then(|s| s.strip_prefix("v1=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&got.body);
    mac.verify_slice(&sig).is_ok()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn signature_verifies(key: &[u8], got: &Got) -> bool {
    signature_verifies_at(key, got, unix_now())
}

#[test]
fn an_enriched_hostile_alert_reaches_slack_escaped_and_a_signed_webhook_verifies() {
    use crate::enrich::{event, uuid};
    const HOSTILE: &str = "<!channel> @here *urgent* <https://evil.example|click>";
    let api = fake_sekoia::FakeSekoia::start_blocking();
    api.add_alert(fake_sekoia::alert_json(&uuid(31), "AL31", HOSTILE, 90));
    let slack = Receiver::start();
    let hook = Receiver::start();
    let mut dir = Dir::new(&format!(
        "[sekoia]\napi_url = \"{}\"\n\n[[forward]]\nkind = \"slack\"\nurl = \"{}\"\n\n[[forward]]\nkind = \"webhook\"\nurl = \"{}\"\nsecret = \"e2e-hmac-key\"\nmin_urgency = 50\n",
        api.url(),
        slack.url(),
        hook.url()
    ));
    dir.env
        .push(("SEKOIA_API_KEY".into(), api.api_key().to_owned()));
    let d = Daemon::start(&dir);
    assert_eq!(d.post(&event(31)), 202);

    let posted = slack.wait_for(1).remove(0);
    // Slack parses mrkdwn (the fallback `text`, our labels), never plain_text.
    let mut mrkdwn = vec![posted["text"].as_str().unwrap_or_default().to_owned()];
    let mut plain = Vec::new();
    for block in posted["blocks"].as_array().expect("blocks") {
        for field in block["fields"].as_array().into_iter().flatten() {
            let text = field["text"].as_str().unwrap_or_default().to_owned();
            match field["type"].as_str() {
                Some("mrkdwn") => mrkdwn.push(text),
                _ => plain.push(text),
            }
        }
    }
    for text in &mrkdwn {
        assert!(!text.contains('<'), "a mention or link could form: {text}");
    }
    assert_eq!(
        posted["blocks"][0]["text"]["text"],
        "<!channel> @here *urgent* <https:\u{200B}//evil.example|click>",
        "the header is plain text, as typed; only the URL is defused"
    );
    assert_eq!(posted.get("link_names"), None, "a bare @here never rings");
    assert!(
        posted["text"]
            .as_str()
            .is_some_and(|t| t.contains("&lt;!channel&gt; @here *urgent* &lt;https:")),
        "{posted}"
    );
    assert!(plain.contains(&"90 (Urgent)".to_owned()), "{plain:?}");

    let got = hook.wait_got(1).remove(0);
    assert!(signature_verifies(b"e2e-hmac-key", &got), "{got:?}");
    assert!(!signature_verifies(b"another-key", &got));
    // The same request replayed ten minutes later: the check refuses it.
    assert!(!signature_verifies_at(
        b"e2e-hmac-key",
        &got,
        unix_now() + 600
    ));
    let body: serde_json::Value = serde_json::from_slice(&got.body).expect("JSON");
    assert_eq!(
        body["alert"]["title"], HOSTILE,
        "the webhook passes data as is"
    );
    assert_eq!(body["event"]["short_id"], "AL31");
    assert_eq!(body["url"], "https://app.sekoia.io/operations/alerts/AL31");
    assert!(
        !d.log_text().contains("e2e-hmac-key"),
        "the log shows the secret"
    );

    // Urgency 20 is below the webhook's min_urgency: Slack only.
    api.add_alert(fake_sekoia::alert_json(&uuid(32), "AL32", "Low one", 20));
    assert_eq!(d.post(&event(32)), 202);
    slack.wait_for(2);
    let status = status_json(&dir);
    let webhook = &status["forward"][1];
    assert_eq!(webhook["name"], "webhook 127.0.0.1", "{status}");
    assert_eq!(
        webhook["sent"].as_i64().unwrap_or(0) + webhook["queued"].as_i64().unwrap_or(0),
        1,
        "the low alert was not queued for the webhook: {status}"
    );
}

/// The peak resident memory of process `pid` (kB), from /proc.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn a_destination_streaming_a_gibibyte_costs_little_memory_and_fails_in_words() {
    // Answers every request with 200 and a chunked body of 1 GiB.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("address").port();
    let streamed = Arc::new(Mutex::new(0u64));
    let count = Arc::clone(&streamed);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let count = Arc::clone(&count);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut writer = stream;
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                let chunk = vec![b'x'; 64 * 1024];
                let head = format!("{:x}\r\n", chunk.len());
                for _ in 0..(1024 * 1024 * 1024 / chunk.len()) {
                    let sent = writer
                        .write_all(head.as_bytes())
                        .and_then(|()| writer.write_all(&chunk))
                        .and_then(|()| writer.write_all(b"\r\n"));
                    if sent.is_err() {
                        return;
                    }
                    *count.lock().expect("lock") += chunk.len() as u64;
                }
                let _ = writer.write_all(b"0\r\n\r\n");
            });
        }
    });
    let dir = Dir::new(&format!(
        "[[forward]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\n"
    ));
    let d = Daemon::start(&dir);
    assert_eq!(d.post(&alert("fwd-endless")), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    let failure = loop {
        let status = status_json(&dir);
        let f = &status["forward"][0];
        if f["failed"] == 1 {
            break f["last_failure"]["error"].as_str().unwrap_or("").to_owned();
        }
        assert!(Instant::now() < deadline, "not failed: {status}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        failure.contains("127.0.0.1") && failure.contains("cut off"),
        "{failure}"
    );
    let peak = peak_rss_kb(d.child.id());
    assert!(peak < 100 * 1024, "peak RSS {peak} kB");
    let streamed = *streamed.lock().expect("lock");
    assert!(
        streamed < 1024 * 1024 * 1024,
        "the whole GiB was read: {streamed} bytes"
    );
    eprintln!("peak RSS {peak} kB; {streamed} bytes streamed before the cut");
}
