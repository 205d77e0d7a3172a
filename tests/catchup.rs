//! Catch-up with the real daemon: alerts the fake Alert API gains while the
//! daemon is stopped are in the feed after a restart, marked caught up, with
//! one summary pop-up whose click opens the alert list.

use crate::enrich::{opened, session, setup};
use crate::util::Daemon;
use fake_sekoia::{alert_json, FakeSekoia};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn uuid(n: u32) -> String {
    format!("7c2e9a10-3b4d-4e5f-8a6b-{n:012}")
}

fn wait_for_log(d: &Daemon, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !d.log_text().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn alerts_created_while_the_daemon_was_stopped_are_caught_up_after_restart() {
    let api = FakeSekoia::start_blocking();
    let dir = setup(&api);
    let mut d = Daemon::start(&dir);
    wait_for_log(&d, "first start");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    for (n, urgency) in [(1, 90), (2, 30), (3, 30)] {
        let mut alert = alert_json(&uuid(n), &format!("AL{n}"), &format!("missed {n}"), urgency);
        alert["created_at"] = serde_json::json!(now);
        api.add_alert(alert);
    }
    // Created long before the gap: not part of it.
    let mut old = alert_json(&uuid(9), "AL9", "old", 90);
    old["created_at"] = serde_json::json!(now - 86_400);
    api.add_alert(old);

    let d = Daemon::start(&dir);
    wait_for_log(&d, "catch-up done");
    let feed = dir.feed();
    assert_eq!(feed.len(), 3, "{feed:?}");
    for entry in &feed {
        assert_eq!(entry["caught_up"], true, "{entry}");
        assert_eq!(entry["enriched"], true, "{entry}");
        assert!(entry["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("missed")));
    }
    let popups = session(&dir).popups(1);
    assert_eq!(popups.len(), 1, "one summary pop-up: {popups:?}");
    assert_eq!(
        popups[0].summary,
        "3 alerts caught up, 1 Urgent — open feed"
    );
    assert_eq!(popups[0].urgency, Some(2));
    session(&dir).click(popups[0].returned_id);
    assert_eq!(opened(&dir), ["https://app.sekoia.io/operations/alerts"]);
    let listed: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/sic/alerts")
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    drop(d);
}
