//! Acknowledge against `fake-sekoia`, through the client alone and through
//! a desktop pop-up on a private bus with the fake notification server.

use super::*;
use crate::deliver::notify::desktop::{Desktop, Opener, ACKNOWLEDGE_KEY};
use crate::deliver::notify::{Popup, Urgency};
use crate::net::sekoia::{ApiKey, ClientConfig};
use crate::settings::Settings;
use crate::store::Store;
use fake_notifications::{Bus, Server};
use fake_sekoia::{alert_json, FakeSekoia, Fault, ACKNOWLEDGE_ACTION};
use std::time::{Duration, Instant};

const A: &str = "5f1c2b3a-0d4e-4f6a-8b9c-0123456789ab";

struct Rig {
    api: FakeSekoia,
    client: Client,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let api = FakeSekoia::start().await;
    api.add_alert(alert_json(A, "ALack1", "Encoded PowerShell", 85));
    let mut config = ClientConfig::new(api.url());
    config.min_interval = Duration::from_millis(5);
    config.retry_base_delay = Duration::from_millis(10);
    let key = ApiKey::new(api.api_key().to_owned()).unwrap();
    let client = Client::new(config, key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    Rig {
        api,
        client,
        store,
        _dir: dir,
    }
}

impl Rig {
    fn patches(&self) -> Vec<serde_json::Value> {
        self.api
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }

    /// The feed's status for alert A (the event is stored first).
    async fn feed_status(&self) -> Option<String> {
        let feed = self
            .store
            .reader()
            .unwrap()
            .feed(10, &Settings::default())
            .unwrap();
        feed.into_iter()
            .find(|e| e.uuid == A)
            .and_then(|e| e.status)
    }

    async fn store_event(&self) {
        let body = format!(
            r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{A}","short_id":"ALack1"}}}}"#
        );
        let event = crate::model::event::Event::parse(body.as_bytes()).unwrap();
        self.store.writer().insert(event).await.unwrap();
    }
}

#[tokio::test]
async fn acknowledge_triggers_the_listed_action_and_updates_the_feed_status() {
    let r = rig().await;
    r.store_event().await;
    let done = acknowledge(&r.client, &r.store.writer(), A).await.unwrap();
    assert_eq!(done.status.as_deref(), Some("Acknowledged"));
    assert_eq!(
        r.patches(),
        [serde_json::json!({ "action_uuid": ACKNOWLEDGE_ACTION })]
    );
    let patch = r
        .api
        .requests()
        .into_iter()
        .find(|q| q.method == "PATCH")
        .unwrap();
    assert_eq!(patch.path, format!("/v1/sic/alerts/{A}/workflow"));
    assert_eq!(r.feed_status().await.as_deref(), Some("Acknowledged"));
    assert_eq!(r.api.alert_status(A).as_deref(), Some("Acknowledged"));
}

#[tokio::test]
async fn an_alert_no_longer_pending_offers_no_acknowledge_and_a_stale_action_gets_409() {
    let r = rig().await;
    acknowledge(&r.client, &r.store.writer(), A).await.unwrap();
    let again = acknowledge(&r.client, &r.store.writer(), A)
        .await
        .unwrap_err()
        .to_string();
    assert!(again.contains("no longer pending"), "{again}");
    assert!(again.contains("Close"), "lists what is offered: {again}");
    // The action id read before someone else acknowledged it: 409.
    let late = r
        .client
        .trigger_workflow(A, ACKNOWLEDGE_ACTION)
        .await
        .unwrap_err();
    assert!(matches!(late, SekoiaError::NotPending), "{late:?}");
    assert!(late.to_string().contains("no longer pending"), "{late}");
}

#[tokio::test]
async fn a_key_without_workflow_write_gets_the_permission_named() {
    let r = rig().await;
    r.api.deny_workflow_write(true);
    let err = acknowledge(&r.client, &r.store.writer(), A)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TriageError::Sekoia(SekoiaError::WorkflowForbidden)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("SIC_WRITE_ALERTS_WORKFLOW"),
        "{err}"
    );
    assert_eq!(r.api.alert_status(A).as_deref(), Some("Pending"));
}

#[tokio::test]
async fn a_rate_limited_patch_is_retried_and_a_server_error_is_not() {
    let r = rig().await;
    let actions = r.client.workflow(A).await.unwrap();
    assert_eq!(actions[0].name, "Acknowledge");
    r.api.fail_next(
        1,
        Fault::TooMany {
            retry_after_secs: None,
        },
    );
    r.client
        .trigger_workflow(A, &actions[0].id)
        .await
        .expect("a 429 means not applied: retried");
    assert_eq!(r.patches().len(), 2);
    r.api.fail_next(1, Fault::Status(502));
    let err = r
        .client
        .trigger_workflow(A, fake_sekoia::CLOSE_ACTION)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SekoiaError::Server { status: 502 }),
        "{err:?}"
    );
    assert_eq!(r.patches().len(), 3, "a 5xx may have applied: not retried");
}

#[tokio::test]
async fn hostile_or_odd_workflow_answers_are_handled() {
    let r = rig().await;
    let bad = r.client.workflow("../../me").await.unwrap_err();
    assert!(matches!(bad, SekoiaError::InvalidUuid), "{bad:?}");
    let bad = r
        .client
        .trigger_workflow(A, "not-a-uuid")
        .await
        .unwrap_err();
    assert!(matches!(bad, SekoiaError::InvalidUuid), "{bad:?}");
    assert!(r.api.requests().is_empty(), "nothing was sent");

    r.api
        .fail_next(1, Fault::Json(serde_json::json!({"nope": 1})));
    let err = r.client.workflow(A).await.unwrap_err();
    assert!(matches!(err, SekoiaError::Unreadable { .. }), "{err:?}");

    // Odd items are skipped; hostile names are cleaned in the message.
    r.api.fail_next(
        1,
        Fault::Json(serde_json::json!({"actions": [
            {"id": 3, "name": "Acknowledge"},
            {"id": "x", "name": "Close\u{1b}[31m\u{202e}"}
        ]})),
    );
    let err = acknowledge(&r.client, &r.store.writer(), A)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("offers: Close[31m)"), "{err}");
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{202e}'),
        "{err:?}"
    );
    assert!(r.patches().is_empty());
}

// ---------------------------------------------------------------------------
// From the desktop pop-up
// ---------------------------------------------------------------------------

fn alert_popup() -> Popup {
    Popup {
        kind: Default::default(),
        key: A.to_owned(),
        summary: "Encoded PowerShell".into(),
        lines: vec!["Urgency 85 (Urgent)".into()],
        urgency: Urgency::Critical,
        link: Some(url::Url::parse("https://app.sekoia.io/operations/alerts/ALack1").unwrap()),
        acknowledgeable: true,
        ..Popup::default()
    }
}

fn desktop(bus: &Bus) -> Desktop {
    let app = url::Url::parse("https://app.sekoia.io").unwrap();
    Desktop::at_address(
        app,
        Opener::Command("/bin/true".into()),
        bus.address.clone(),
    )
}

/// Waits for the `n`th pop-up and returns it.
async fn nth_call(server: &Server, n: usize) -> fake_notifications::Call {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let calls = server.calls();
        if calls.len() >= n {
            return calls[n - 1].clone();
        }
        assert!(Instant::now() < deadline, "no pop-up number {n}: {calls:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_acknowledge_button_patches_the_listed_action_and_reports_in_a_pop_up() {
    let r = rig().await;
    r.store_event().await;
    let bus = Bus::start();
    let server = Server::with_capabilities(&bus.address, &["actions", "body"]).await;
    let desktop = desktop(&bus);
    desktop.set_acknowledger(acknowledger(r.client.clone(), r.store.writer()));
    desktop.show(&alert_popup()).await.unwrap();
    let shown = server.last();
    assert_eq!(
        shown.actions,
        [
            "default",
            "Open in Sekoia.io",
            ACKNOWLEDGE_KEY,
            "Acknowledge"
        ]
    );
    server.invoke(shown.returned_id, ACKNOWLEDGE_KEY).await;
    let answer = nth_call(&server, 2).await;
    assert_eq!(answer.summary, "Alert acknowledged");
    assert!(answer.body.contains("Acknowledged"), "{}", answer.body);
    // The confirmation replaces the alert's pop-up, without buttons.
    assert_eq!(answer.replaces_id, shown.returned_id);
    assert!(answer.actions.is_empty(), "{:?}", answer.actions);
    assert_eq!(
        r.patches(),
        [serde_json::json!({ "action_uuid": ACKNOWLEDGE_ACTION })]
    );
    assert_eq!(r.feed_status().await.as_deref(), Some("Acknowledged"));
}

#[tokio::test]
async fn a_refused_acknowledge_from_the_pop_up_says_why() {
    let r = rig().await;
    r.api.deny_workflow_write(true);
    let bus = Bus::start();
    let server = Server::with_capabilities(&bus.address, &["actions", "body"]).await;
    let desktop = desktop(&bus);
    desktop.set_acknowledger(acknowledger(r.client.clone(), r.store.writer()));
    desktop.show(&alert_popup()).await.unwrap();
    server
        .invoke(server.last().returned_id, ACKNOWLEDGE_KEY)
        .await;
    let answer = nth_call(&server, 2).await;
    assert_eq!(answer.summary, "Could not acknowledge the alert");
    // The alert's pop-up stays: the failure comes in its own.
    assert_eq!(answer.replaces_id, 0);
    assert!(
        answer.body.contains("SIC_WRITE_ALERTS_WORKFLOW"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn no_acknowledge_button_without_actions_or_a_client_or_for_a_non_alert() {
    let r = rig().await;
    let bus = Bus::start();
    let server = Server::with_capabilities(&bus.address, &["body"]).await;
    let plain = desktop(&bus);
    plain.set_acknowledger(acknowledger(r.client.clone(), r.store.writer()));
    plain.show(&alert_popup()).await.unwrap();
    assert_eq!(server.last().actions, ["default", "Open in Sekoia.io"]);

    let bus = Bus::start();
    let server = Server::with_capabilities(&bus.address, &["actions", "body"]).await;
    let keyless = desktop(&bus);
    keyless.show(&alert_popup()).await.unwrap();
    assert_eq!(server.last().actions, ["default", "Open in Sekoia.io"]);

    let with_key = desktop(&bus);
    with_key.set_acknowledger(acknowledger(r.client.clone(), r.store.writer()));
    let mut not_alert = alert_popup();
    not_alert.key = "webhook-url-changed".into();
    with_key.show(&not_alert).await.unwrap();
    assert_eq!(server.last().actions, ["default", "Open in Sekoia.io"]);
    // An alert no longer Pending (Ongoing, Acknowledged…): no button that
    // could only fail.
    let taken = Popup {
        acknowledgeable: false,
        ..alert_popup()
    };
    with_key.show(&taken).await.unwrap();
    assert_eq!(server.last().actions, ["default", "Open in Sekoia.io"]);
    // An "acknowledge" for a notification it did not offer it on does nothing.
    server
        .invoke(server.last().returned_id, ACKNOWLEDGE_KEY)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(r.patches().is_empty());
}

// ---------------------------------------------------------------------------
// Through the engine, as the desktop app's feed window calls it
// ---------------------------------------------------------------------------

async fn engine(api: &FakeSekoia, key: bool, data: &std::path::Path) -> crate::engine::Engine {
    let mut settings = Settings::default();
    settings.listener.bind = "127.0.0.1:0".parse().unwrap();
    settings.listener.hook_secret = Some(crate::settings::HookSecret::generate().unwrap());
    settings.sekoia.api_url = Some(api.url());
    let target = crate::settings::ForwardTarget {
        destination: crate::deliver::forward::Destination {
            kind: crate::deliver::forward::Kind::Teams,
            url: crate::deliver::forward::Secret::new(
                url::Url::parse("https://hooks.example/s3cr3t").unwrap(),
            ),
            secret: None,
        },
        events: vec!["alert:created".parse().unwrap()],
        min_urgency: 0,
    };
    let options = crate::engine::Options {
        api_key: key.then(|| ApiKey::new(api.api_key().to_owned()).unwrap()),
        forward: vec![target],
        ..crate::engine::Options::default()
    };
    crate::engine::Engine::start(&settings, data, options)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_engine_acknowledges_for_the_feed_window_and_says_when_it_has_no_key() {
    let r = rig().await;
    let dir = tempfile::tempdir().unwrap();
    let keyless = engine(&r.api, false, dir.path()).await;
    let err = keyless.acknowledge(A).await.unwrap_err();
    assert!(matches!(err, TriageError::NoKey), "{err:?}");
    assert!(err.to_string().contains("set-api-key"), "{err}");
    let status = keyless.forward_status().await.unwrap();
    assert_eq!(status[0].name, "teams hooks.example");
    assert_eq!(status[0].health, "idle");
    keyless.stop().await;

    let with_key = engine(&r.api, true, dir.path()).await;
    let done = with_key.acknowledge(A).await.unwrap();
    assert_eq!(done.status.as_deref(), Some("Acknowledged"));
    assert_eq!(
        r.patches(),
        [serde_json::json!({ "action_uuid": ACKNOWLEDGE_ACTION })]
    );
    with_key.stop().await;
}

#[tokio::test]
async fn apply_sends_the_listed_action_with_its_comment_and_refuses_one_not_offered() {
    let r = rig().await;
    r.store_event().await;
    let done = apply(
        &r.client,
        &r.store.writer(),
        A,
        fake_sekoia::REJECT_ACTION,
        Some("  False positive: a pentest  "),
    )
    .await
    .unwrap();
    assert_eq!(done.status.as_deref(), Some("Rejected"));
    assert_eq!(
        r.patches(),
        [
            serde_json::json!({ "action_uuid": fake_sekoia::REJECT_ACTION, "comment": "False positive: a pentest" })
        ]
    );
    assert_eq!(r.feed_status().await.as_deref(), Some("Rejected"));
    // Rejected offers nothing: an action id from an older list is refused
    // before any PATCH.
    let stale = apply(
        &r.client,
        &r.store.writer(),
        A,
        fake_sekoia::CLOSE_ACTION,
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(stale, TriageError::NotOffered { .. }), "{stale}");
    assert!(stale.to_string().contains("offers: nothing"), "{stale}");
    assert_eq!(r.patches().len(), 1);
}

#[tokio::test]
async fn the_detail_reads_history_comments_and_actions_and_says_404_in_words() {
    let r = rig().await;
    r.api.add_comment(
        A,
        fake_sekoia::comment_json("c1000000-0000-4000-8000-000000000001", "Looking"),
    );
    apply(
        &r.client,
        &r.store.writer(),
        A,
        ACKNOWLEDGE_ACTION,
        Some("Mine"),
    )
    .await
    .unwrap();
    let d = detail::detail(&r.client, A).await;
    let record = d.alert.expect("the alert");
    assert_eq!(record.history.len(), 2, "{:?}", record.history);
    assert_eq!(record.history[0].status.as_deref(), Some("Acknowledged"));
    assert_eq!(record.history[0].comment.as_deref(), Some("Mine"));
    assert_eq!(record.history[1].status.as_deref(), Some("Pending"));
    assert_eq!(d.band, Some(crate::model::urgency::Band::Urgent));
    assert_eq!(d.comments_total, 2);
    let names: Vec<&str> = d.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Close", "Reject"]);
    assert!(d.alert_error.is_none() && d.comments_error.is_none() && d.actions_error.is_none());

    let missing = detail::detail(&r.client, "00000000-0000-4000-8000-00000000dead").await;
    assert!(missing.alert.is_none());
    assert!(
        missing
            .alert_error
            .as_deref()
            .is_some_and(|e| e.starts_with("Sekoia.io does not know this alert (404)")),
        "{missing:?}"
    );
}
