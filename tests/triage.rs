//! "Acknowledge" from a pop-up of the real daemon: the fake notification
//! server emits ActionInvoked("acknowledge"), the daemon reads the alert's
//! workflow and PATCHes its Acknowledge action on the fake API.

use crate::enrich::{event, setup, uuid};
use crate::util::{Daemon, Dir};
use fake_sekoia::{alert_json, FakeSekoia, ACKNOWLEDGE_ACTION};
use std::time::{Duration, Instant};

fn wait_popups(dir: &Dir, n: usize) -> Vec<fake_notifications::Call> {
    let popups = dir.session.as_ref().expect("session").popups(n);
    assert!(popups.len() >= n, "fewer than {n} pop-ups: {popups:?}");
    popups
}

fn patches(api: &FakeSekoia) -> Vec<serde_json::Value> {
    api.requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| serde_json::from_str(&r.body).expect("a JSON body"))
        .collect()
}

#[test]
fn acknowledge_on_a_pop_up_patches_the_alert_workflow_and_updates_the_feed() {
    let api = FakeSekoia::start_blocking();
    api.add_alert(alert_json(&uuid(21), "AL21", "Beaconing", 70));
    let dir = setup(&api);
    let d = Daemon::start(&dir);
    assert_eq!(d.post(&event(21)), 202);
    let popup = wait_popups(&dir, 1).remove(0);
    assert!(
        popup.actions.contains(&"acknowledge".to_owned()),
        "{:?}",
        popup.actions
    );
    dir.session
        .as_ref()
        .expect("session")
        .act(popup.returned_id, "acknowledge");
    let answer = wait_popups(&dir, 2).remove(1);
    assert_eq!(answer.summary, "Alert acknowledged", "{}", d.log_text());
    assert_eq!(
        patches(&api),
        [serde_json::json!({ "action_uuid": ACKNOWLEDGE_ACTION })]
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let feed = dir.feed();
        if feed[0]["status"] == "Acknowledged" {
            break;
        }
        assert!(Instant::now() < deadline, "feed not updated: {}", feed[0]);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn acknowledge_without_the_workflow_permission_says_so_in_a_pop_up() {
    let api = FakeSekoia::start_blocking();
    api.add_alert(alert_json(&uuid(22), "AL22", "Beaconing", 70));
    api.deny_workflow_write(true);
    let dir = setup(&api);
    let d = Daemon::start(&dir);
    assert_eq!(d.post(&event(22)), 202);
    let popup = wait_popups(&dir, 1).remove(0);
    dir.session
        .as_ref()
        .expect("session")
        .act(popup.returned_id, "acknowledge");
    let answer = wait_popups(&dir, 2).remove(1);
    assert_eq!(answer.summary, "Could not acknowledge the alert");
    assert!(
        answer.body.contains("SIC_WRITE_ALERTS_WORKFLOW"),
        "{}",
        answer.body
    );
    assert_eq!(api.alert_status(&uuid(22)).as_deref(), Some("Pending"));
}
