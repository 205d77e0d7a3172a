//! What Sekoia.io really sends, end to end through the webhook of the real
//! daemon: an alert's life as notifications in the platform's own shapes
//! (DESIGN.md §4) ends as one alert row (its status, occurrences and
//! comment), one case row, and exactly one pop-up; shapes the old model
//! refused are kept.

use crate::enrich::{session, setup_with};
use crate::util::Daemon;
use fake_sekoia::notification as n;
use fake_sekoia::{alert_json, case_json, FakeSekoia};
use std::time::{Duration, Instant};

const ALERT: &str = "b81d4f27-6c3e-4a95-8f20-1e7c9d3b5a46";
const CASE: &str = "e9d1b3c5-8e0a-4f2b-9c4d-6e7f80910213";
const ACKNOWLEDGED: &str = "8f206505-af6d-433e-93f4-775d46dc7d0f";

fn post(d: &Daemon, body: &serde_json::Value) {
    assert_eq!(d.post(&body.to_string()), 202, "{body}");
}

#[test]
fn an_alerts_real_life_is_one_alert_row_one_case_row_and_one_popup() {
    let api = FakeSekoia::start_blocking();
    api.add_alert(alert_json(ALERT, "ALm4Rt8Kx2Pq", "Mimikatz on DC01", 64));
    api.add_case(case_json(CASE, "CAr7Ws2Kp9Lm", "Credential theft", "high"));
    let dir = setup_with(&api, "");
    let d = Daemon::start(&dir);

    post(&d, &n::alert_created(ALERT, "ALm4Rt8Kx2Pq"));
    for i in 1..=3 {
        post(&d, &n::occurrences(ALERT, "ALm4Rt8Kx2Pq", i));
    }
    // A teammate acknowledges it in Sekoia.io: the platform changes the
    // alert, then notifies.
    let mut acknowledged = alert_json(ALERT, "ALm4Rt8Kx2Pq", "Mimikatz on DC01", 64);
    acknowledged["status"] = serde_json::json!({"uuid": ACKNOWLEDGED, "name": "Acknowledged"});
    api.add_alert(acknowledged);
    let status = n::status_changed(ALERT, "ALm4Rt8Kx2Pq", ACKNOWLEDGED, "Acknowledged");
    post(&d, &status);
    // Redelivered: still one notification.
    post(&d, &status);
    post(
        &d,
        &n::comment_created(
            "c6a8e0f2-5b7d-4c9e-8f1a-3b4c5d6e7f80",
            ALERT,
            "ALm4Rt8Kx2Pq",
            "Host isolated, checking the parent process.",
        ),
    );
    post(
        &d,
        &n::case("created", CASE, "CAr7Ws2Kp9Lm", "Credential theft", "high"),
    );

    // Wait until the pipeline has seen the case (the last one posted).
    let deadline = Instant::now() + Duration::from_secs(15);
    let feed = loop {
        let feed = dir.feed();
        let done = feed
            .iter()
            .any(|e| e["kind"] == "case" && e["enriched"] == true)
            && feed
                .iter()
                .any(|e| e["kind"] == "alert" && e["comments"] == 1);
        if done || Instant::now() > deadline {
            break feed;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(feed.len(), 2, "{feed:#?}");
    let case = &feed[0];
    assert_eq!(case["kind"], "case", "{feed:#?}");
    assert_eq!(case["title"], "Credential theft");
    assert_eq!(case["priority"], "high");
    assert_eq!(
        case["url"],
        "https://app.sekoia.io/operations/cases/CAr7Ws2Kp9Lm"
    );
    let alert = &feed[1];
    assert_eq!(alert["kind"], "alert");
    assert_eq!(alert["uuid"], ALERT);
    assert_eq!(alert["title"], "Mimikatz on DC01");
    assert_eq!(alert["status"], "Acknowledged", "{alert:#}");
    assert_eq!(alert["occurrences"], 3, "{alert:#}");
    assert_eq!(alert["comments"], 1, "{alert:#}");
    assert_eq!(
        alert["change"],
        "new comment: Host isolated, checking the parent process."
    );
    assert_eq!(
        alert["url"],
        "https://app.sekoia.io/operations/alerts/ALm4Rt8Kx2Pq"
    );

    // The default `[notify] events` is alert:created: one pop-up, and the
    // updates (occurrences, status), the comment and the case raised none.
    std::thread::sleep(Duration::from_millis(500));
    let popups = session(&dir).popups(1);
    let summaries: Vec<&str> = popups.iter().map(|p| p.summary.as_str()).collect();
    assert_eq!(summaries, ["Mimikatz on DC01"], "{popups:#?}");
    // The Case API was asked once, with the key.
    assert_eq!(
        api.requests()
            .iter()
            .filter(|r| r.path == format!("/v1/sic/cases/{CASE}"))
            .count(),
        1
    );
}

#[test]
fn shapes_the_old_model_refused_are_kept() {
    let api = FakeSekoia::start_blocking();
    let dir = setup_with(&api, "");
    let d = Daemon::start(&dir);
    // A content proposal with no attributes, one with an empty short id, and
    // an alert whose uuid is not a uuid: 202 and in the feed.
    let bodies = [
        r#"{"type":"content-proposal","action":"created","attributes":{},"metadata":{"version":2,"created_at":"2026-11-20T08:00:00.000000+00:00","community_uuid":"0b1c6b1e-6d2f-4a7e-9a51-3d8e6f0c2a11"}}"#,
        r#"{"type":"content-proposal","action":"created","attributes":{"short_id":""},"metadata":{"version":2,"created_at":"2026-11-20T08:00:01.000000+00:00"}}"#,
        r#"{"type":"alert","action":"created","attributes":{"uuid":"not a uuid","short_id":"ALbad"},"metadata":{"version":2,"created_at":"2026-11-20T08:00:02.000000+00:00"}}"#,
    ];
    for body in bodies {
        assert_eq!(d.post(body), 202, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let feed = loop {
        let feed = dir.feed();
        if feed.iter().any(|e| !e["enrich_error"].is_null()) || Instant::now() > deadline {
            break feed;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(feed.len(), 3, "{feed:#?}");
    assert!(feed
        .iter()
        .filter(|e| e["kind"] == "content-proposal")
        .all(|e| e["url"].is_null()));
    let bad = feed
        .iter()
        .find(|e| e["kind"] == "alert")
        .expect("the odd alert");
    assert!(
        bad["enrich_error"]
            .as_str()
            .is_some_and(|m| m.contains("cannot be looked up")),
        "{bad:#}"
    );
}
