//! Direct mode end to end: the real daemon with `[liveapi] enabled = true`
//! and no tunnel, the fake LiveAPI and Alert API, the real keyring and a
//! notification server on a private D-Bus. An event pushed over the
//! WebSocket becomes an enriched pop-up within a second; the same event by
//! webhook too is still one pop-up and one feed entry; `status --json` and
//! `check` show the connection; the key is in no log or output.

use crate::enrich::{session, setup_with, uuid};
use crate::secrets::assert_in_no_file;
use crate::util::{report, Daemon};
use fake_sekoia::live::{FakeLive, Outcome};
use fake_sekoia::{alert_json, FakeSekoia};
use std::time::{Duration, Instant};

/// An `alert:created` notification in Sekoia.io's real shape (its own
/// `metadata.uuid`, microsecond `created_at`), the same for a given alert.
fn v2_value(uuid: &str, short_id: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "alert",
        "action": "created",
        "attributes": {"uuid": uuid, "short_id": short_id},
        "metadata": {
            "version": 2,
            "uuid": format!("ee{}", &uuid[2..]),
            "created_at": "2025-11-29T01:33:20.123456+00:00",
            "community_uuid": "5c7e9a11-2f4b-4c1e-9d2a-0f3b8d6c1a4e"
        }
    })
}

fn v2(uuid: &str, short_id: &str) -> String {
    v2_value(uuid, short_id).to_string()
}

#[test]
fn a_liveapi_event_becomes_an_enriched_popup_within_a_second_without_a_tunnel() {
    let api = FakeSekoia::start_blocking();
    let live = FakeLive::start_blocking(api.api_key());
    api.add_alert(alert_json(
        &uuid(71),
        "ALlive71",
        "Direct: ransomware note",
        90,
    ));
    api.add_alert(alert_json(
        &uuid(72),
        "ALlive72",
        "Direct: second alert",
        50,
    ));
    let mut dir = setup_with(
        &api,
        &format!("[liveapi]\nenabled = true\nurl = \"{}\"\n", live.url()),
    );
    // As verbose as a user could make it, down to the WebSocket library's
    // handshake: the key must still not reach a log.
    dir.env.push((
        "SEKOIA_NOTIFIER_LOG".into(),
        "debug,tungstenite=trace,tungstenite::handshake::client=trace".into(),
    ));
    let d = Daemon::start(&dir);
    assert!(
        live.wait_connections(1, Duration::from_secs(15)),
        "no LiveAPI connection: {}",
        d.log_text()
    );

    let started = Instant::now();
    assert_eq!(live.send(&v2(&uuid(71), "ALlive71")), 1);
    let popups = session(&dir).popups(1);
    let took = started.elapsed();
    assert_eq!(popups.len(), 1, "{}", d.log_text());
    assert_eq!(popups[0].summary, "Direct: ransomware note", "{popups:?}");
    assert!(popups[0].body.contains("Urgency 90"), "{}", popups[0].body);
    assert!(
        took < Duration::from_secs(1),
        "LiveAPI frame -> enriched pop-up took {took:?}"
    );
    eprintln!("LiveAPI frame -> enriched pop-up: {took:?}");

    // The same event by webhook as well, and its v1 twin over the LiveAPI:
    // one entry, no second pop-up.
    assert_eq!(d.post(&v2(&uuid(71), "ALlive71")), 202);
    live.send(&fake_sekoia::notification::v1_twin(&v2_value(&uuid(71), "ALlive71")).to_string());
    // Another alert as Sekoia.io pushes it to an upgraded client: its v1
    // frame, then its v2 twin. And the handshake again.
    let second = v2_value(&uuid(72), "ALlive72");
    live.send(&fake_sekoia::notification::v1_twin(&second).to_string());
    live.send(&second.to_string());
    live.send(r#"{"authenticated": true}"#);
    let popups = session(&dir).popups(2);
    std::thread::sleep(Duration::from_millis(800));
    // Returns at once with every pop-up so far: a third would be a duplicate.
    let popups_after = session(&dir).popups(2);
    assert_eq!(popups_after.len(), 2, "{popups_after:#?}");
    let summaries = |calls: &[fake_notifications::Call]| -> Vec<String> {
        calls.iter().map(|c| c.summary.clone()).collect()
    };
    assert_eq!(summaries(&popups), summaries(&popups_after));
    assert_eq!(popups[1].summary, "Direct: second alert");
    assert!(live.upgraded() >= 1, "the daemon never asked for v2 frames");
    let feed = dir.feed();
    assert_eq!(feed.len(), 2, "{feed:#?}");
    assert!(feed.iter().all(|e| e["enriched"] == true), "{feed:#?}");

    // status --json and check show the connection.
    let status: serde_json::Value =
        serde_json::from_str(&dir.stdout(&["status", "--json"])).expect("status JSON");
    assert_eq!(status["liveapi"]["enabled"], true, "{status:#}");
    assert_eq!(
        status["liveapi"]["state"]["state"], "connected",
        "{status:#}"
    );
    assert_eq!(
        status["health"]["warning"],
        serde_json::Value::Null,
        "{status:#}"
    );
    let out = dir.run(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        report(&dir.command(&["check"]), &out)
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok") && l.contains("liveapi") && l.contains("accepted")),
        "{text}"
    );
    assert!(text.contains("direct mode"), "{text}");

    // The key went only in the cookie, and is in no log, output or file.
    let key = api.api_key().to_owned();
    for attempt in live.attempts() {
        assert_eq!(attempt.outcome, Outcome::Accepted, "{attempt:?}");
        assert_eq!(attempt.authorization, None);
        assert_eq!(
            attempt.cookie.as_deref(),
            Some(format!("access_token_cookie={key}").as_str())
        );
    }
    drop(d);
    let log = std::fs::read_to_string(dir.tmp.path().join("serve.log")).unwrap_or_default();
    assert!(log.contains("LiveAPI connected"), "{log}");
    assert!(!log.contains(&key), "the key is in the serve log");
    assert!(!text.contains(&key), "the key is in check's output");
    assert_in_no_file(&dir, &key);
}

#[test]
fn a_rejected_key_is_reported_by_status_and_check_and_not_retried() {
    let api = FakeSekoia::start_blocking();
    // The LiveAPI knows another key than the one in the keyring.
    let live = FakeLive::start_blocking("some-other-key");
    let dir = setup_with(
        &api,
        &format!("[liveapi]\nenabled = true\nurl = \"{}\"\n", live.url()),
    );
    let d = Daemon::start(&dir);
    let deadline = Instant::now() + Duration::from_secs(15);
    let state = loop {
        let status: serde_json::Value =
            serde_json::from_str(&dir.stdout(&["status", "--json"])).expect("status JSON");
        let state = status["liveapi"]["state"].clone();
        if state["state"] == "key_rejected" || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        state["liveapi"]["state"]["state"],
        "key_rejected",
        "{state:#}\n{}",
        d.log_text()
    );
    assert!(
        state["health"]["warning"]
            .as_str()
            .is_some_and(|w| w.contains("refused the API key")),
        "{state:#}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(live.attempts().len(), 1, "{:?}", live.attempts());
    let out = dir.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("liveapi") && l.contains("401")),
        "{text}"
    );
}
