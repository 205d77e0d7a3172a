//! Outbox tests: a real store in a temp dir, real workers, recording
//! receivers on loopback.

use super::*;
use crate::deliver::forward::test_receiver::{Receiver, Reply};
use crate::deliver::forward::Secret;
use crate::enrich::pipeline::{Parts, Pipeline, PipelineConfig};
use crate::model::event::Event;
use crate::settings::Settings;
use std::sync::Mutex;
use std::time::Instant;

fn quick() -> OutboxConfig {
    OutboxConfig {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_wait: Duration::from_secs(2),
            timeout: Duration::from_millis(500),
        },
        pause: Duration::from_millis(50),
        give_up_after: Duration::from_secs(3600),
        network: crate::net::network::Network::system(),
    }
}

/// A store in a temp dir and one destination: a receiver answering `script`.
struct One {
    _dir: tempfile::TempDir,
    store: Store,
    receiver: Receiver,
    t: ForwardTarget,
}

async fn one(kind: Kind, script: &[Reply]) -> One {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let receiver = Receiver::start(script).await;
    let t = target(kind, &receiver);
    One {
        _dir: dir,
        store,
        receiver,
        t,
    }
}

fn run(store: &Store, t: &ForwardTarget, config: &OutboxConfig) -> Forwarders {
    Forwarders::start(std::slice::from_ref(t), store, config, &[]).unwrap()
}

fn target(kind: Kind, receiver: &Receiver) -> ForwardTarget {
    ForwardTarget {
        destination: Destination {
            kind,
            url: Secret::new(receiver.url()),
            secret: None,
        },
        events: vec!["alert:created".parse().unwrap()],
        min_urgency: 0,
    }
}

fn event(uuid: &str, action: &str) -> Event {
    let body = format!(
        r#"{{"type":"alert","action":"{action}","attributes":{{"uuid":"{uuid}","short_id":"AL{uuid}"}},"metadata":{{"version":2,"created_at":"t"}}}}"#
    );
    Event::parse(body.as_bytes()).unwrap()
}

/// Polls `check` every 20 ms until it holds, failing after 15 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(15), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn status_of(store: &Store, target: &ForwardTarget) -> DestinationStatus {
    let mut all = status(&store.reader().unwrap(), std::slice::from_ref(target)).unwrap();
    all.remove(0)
}

/// Stores an event, marks it handled and queues `body` for `target`, as the
/// pipeline does.
async fn queue(store: &Store, target: &ForwardTarget, uuid: &str, body: &str) -> i64 {
    let id = store
        .writer()
        .insert(event(uuid, "created"))
        .await
        .unwrap()
        .id();
    let q = Queued {
        dest: destination_key(&target.destination),
        event_id: id,
        body: body.to_owned(),
    };
    store
        .writer()
        .record_forwarding(Vec::new(), Vec::new(), vec![id], vec![q.clone(), q])
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn a_queued_body_is_delivered_once_and_not_again_after_a_restart() {
    let One {
        _dir,
        store,
        receiver,
        t,
    } = one(Kind::Webhook, &[]).await;
    queue(&store, &t, "u1", r#"{"n":1}"#).await;
    let fw = run(&store, &t, &quick());
    eventually("delivered", || receiver.log().len() == 1).await;
    eventually("marked sent", || status_of(&store, &t).sent == 1).await;
    fw.stop().await;
    let fw = run(&store, &t, &quick());
    queue(&store, &t, "u2", r#"{"n":2}"#).await;
    fw.lanes()[0].wake();
    eventually("second delivered", || receiver.log().len() == 2).await;
    fw.stop().await;
    let bodies: Vec<String> = receiver
        .log()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(bodies, [r#"{"n":1}"#, r#"{"n":2}"#], "each once, in order");
    let s = &status_of(&store, &t);
    assert_eq!((s.queued, s.sent, s.failed, s.health), (0, 2, 0, "ok"));
    assert!(s.last_success.is_some());
    store.close().await;
}

#[tokio::test]
async fn a_row_left_sending_by_a_crash_is_failed_and_never_sent_again() {
    let One {
        _dir,
        store,
        receiver,
        t,
    } = one(Kind::Slack, &[]).await;
    queue(&store, &t, "u1", r#"{"n":1}"#).await;
    // What a process killed during the POST leaves behind.
    let id: i64 = store
        .reader()
        .unwrap()
        .connection()
        .query_row("SELECT id FROM outbox", [], |r| r.get(0))
        .unwrap();
    submit(&store.writer(), Change::Sending { id })
        .await
        .unwrap();
    queue(&store, &t, "u2", r#"{"n":2}"#).await;

    let fw = run(&store, &t, &quick());
    eventually("the next row is delivered", || receiver.log().len() == 1).await;
    fw.stop().await;
    assert_eq!(&receiver.log()[0].body[..], br#"{"n":2}"#);
    let s = &status_of(&store, &t);
    assert_eq!((s.sent, s.failed), (1, 1));
    let failure = s.last_failure.as_ref().unwrap();
    assert!(failure.error.contains("interrupted"), "{}", failure.error);
    store.close().await;
}

#[tokio::test]
async fn a_429_and_a_500_are_retried_and_the_body_arrives_once() {
    let One {
        _dir,
        store,
        receiver,
        t,
    } = one(
        Kind::Mattermost,
        &[
            Reply::TooMany {
                retry_after_secs: 1,
            },
            Reply::Status(500),
        ],
    )
    .await;
    queue(&store, &t, "u1", r#"{"text":"x"}"#).await;
    let fw = run(&store, &t, &quick());
    eventually("sent", || status_of(&store, &t).sent == 1).await;
    fw.stop().await;
    let log = receiver.log();
    assert_eq!(log.len(), 3, "429, 500, then 200");
    assert!(
        log[1].at.duration_since(log[0].at) >= Duration::from_millis(900),
        "Retry-After: 1 was honoured"
    );
    assert!(log.iter().all(|r| &r.body[..] == br#"{"text":"x"}"#));
    store.close().await;
}

#[tokio::test]
async fn a_dead_destination_does_not_hold_up_another() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let dead = Receiver::start(&[]).await;
    *dead.state.otherwise.lock().unwrap() = Some(Reply::Status(503));
    let alive = Receiver::start(&[]).await;
    let (td, ta) = (target(Kind::Teams, &dead), target(Kind::Slack, &alive));
    queue(&store, &td, "u1", "{}").await;
    queue(&store, &ta, "u1", "{}").await;
    let fw = Forwarders::start(&[td.clone(), ta.clone()], &store, &quick(), &[]).unwrap();
    eventually("the live destination got it", || alive.log().len() == 1).await;
    eventually("the dead one is retrying", || {
        status_of(&store, &td).health == "failing"
    })
    .await;
    fw.stop().await;
    let s = [status_of(&store, &td), status_of(&store, &ta)];
    assert_eq!((s[0].queued, s[0].sent), (1, 0), "still queued for later");
    assert!(dead.log().len() >= 3, "the dead one was tried");
    assert_eq!((s[1].sent, s[1].health), (1, "ok"));
    let error = &s[0].last_failure.as_ref().unwrap().error;
    assert!(error.contains("503"), "{error}");
    store.close().await;
}

#[tokio::test]
async fn a_destination_failing_past_the_bound_gives_up_visibly() {
    let One {
        _dir,
        store,
        receiver: dead,
        t,
    } = one(Kind::Teams, &[]).await;
    *dead.state.otherwise.lock().unwrap() = Some(Reply::Status(500));
    queue(&store, &t, "u1", "{}").await;
    let config = OutboxConfig {
        give_up_after: Duration::from_secs(1),
        pause: Duration::from_millis(400),
        ..quick()
    };
    let fw = run(&store, &t, &config);
    eventually("given up", || status_of(&store, &t).failed == 1).await;
    fw.stop().await;
    let s = &status_of(&store, &t);
    assert_eq!((s.queued, s.health), (0, "failing"));
    let error = &s.last_failure.as_ref().unwrap().error;
    assert!(error.contains("not delivered within 1 s"), "{error}");
    assert!(error.contains("500"), "names the last error: {error}");
    store.close().await;
}

#[tokio::test]
async fn a_rejected_body_fails_at_once_and_status_never_shows_the_url() {
    let One {
        _dir,
        store,
        receiver,
        t,
    } = one(Kind::TeamsLegacy, &[Reply::Status(404)]).await;
    queue(&store, &t, "u1", "{}").await;
    let fw = run(&store, &t, &quick());
    eventually("failed", || status_of(&store, &t).failed == 1).await;
    fw.stop().await;
    assert_eq!(receiver.log().len(), 1, "a 404 is not retried");
    let s = status_of(&store, &t);
    let shown = format!("{s:?} {}", serde_json::to_string(&s).unwrap());
    assert!(shown.contains("404"), "{shown}");
    assert!(shown.contains("teams-legacy 127.0.0.1"), "{shown}");
    for secret in ["s3cr3t", "workflows", "qs-"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    let raw: String = store
        .reader()
        .unwrap()
        .connection()
        .query_row(
            "SELECT group_concat(dest || error, ' ') FROM outbox",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!raw.contains("s3cr3t") && !raw.contains("qs-"), "{raw}");
    store.close().await;
}

/// A message the service refused is our bug: the row fails at once with the
/// service's reason, and nothing says the URL was deleted.
#[tokio::test]
async fn a_refused_message_fails_with_the_services_reason() {
    let One {
        _dir,
        store,
        receiver,
        t,
    } = one(Kind::Slack, &[Reply::Says(400, "invalid_blocks")]).await;
    queue(&store, &t, "u1", "{}").await;
    let fw = run(&store, &t, &quick());
    eventually("failed", || status_of(&store, &t).failed == 1).await;
    fw.stop().await;
    assert_eq!(receiver.log().len(), 1, "a refusal is not retried");
    let s = status_of(&store, &t);
    let error = &s.last_failure.as_ref().unwrap().error;
    assert!(
        error.contains("the message was refused: invalid_blocks (a slack message of 2 bytes)"),
        "{error}"
    );
    assert!(!error.contains("deleted"), "{error}");
    store.close().await;
}

#[tokio::test]
async fn the_pipeline_queues_only_wanted_events_and_delivers_the_exact_card() {
    let One {
        _dir,
        store,
        receiver,
        t,
    } = one(Kind::Teams, &[]).await;
    let fw = run(&store, &t, &quick());
    let mut pipeline = Pipeline::new(Parts {
        reads: store.reads(),
        writer: store.writer(),
        client: None,
        settings: Settings::default(),
        sinks: Vec::new(),
        wake: store.new_events(),
        config: PipelineConfig::default(),
    })
    .forwarding(fw.lanes());
    store.writer().insert(event("u1", "created")).await.unwrap();
    store.writer().insert(event("u1", "updated")).await.unwrap();
    // A redelivery is the same event: not forwarded twice.
    store.writer().insert(event("u1", "created")).await.unwrap();
    while pipeline.step().await.unwrap() {}
    eventually("delivered", || receiver.log().len() == 1).await;
    fw.stop().await;
    let got: serde_json::Value = serde_json::from_slice(&receiver.log()[0].body).unwrap();
    let link = url::Url::parse("https://app.sekoia.io/operations/alerts/ALu1").unwrap();
    let want = crate::deliver::forward::payload(
        Kind::Teams,
        &crate::deliver::forward::Message {
            kind: "alert",
            action: "created",
            alert: None,
            uuid: "u1",
            short_id: Some("ALu1"),
            link: Some(&link),
            summary: Some("Alert ALu1"),
        },
    );
    assert_eq!(got, want);
    assert_eq!(status_of(&store, &t).sent, 1, "the update was not queued");
    store.close().await;
}

#[test]
fn lanes_filter_by_event_and_known_urgency() {
    let lane = Lane {
        key: "k".into(),
        kind: Kind::Slack,
        events: vec!["alert:*".parse().unwrap()],
        min_urgency: 50,
        wake: Arc::new(Notify::new()),
    };
    let alert = |v: u8| Alert {
        urgency: Some(crate::net::sekoia::Urgency {
            value: Some(v),
            current_value: Some(v),
            display: None,
        }),
        ..Alert::default()
    };
    assert!(
        lane.wants("alert", "updated", None),
        "unknown urgency forwards"
    );
    assert!(lane.wants("alert", "created", Some(&alert(50))));
    assert!(!lane.wants("alert", "created", Some(&alert(49))));
    assert!(!lane.wants("case", "created", None));
}

#[test]
fn destination_keys_are_stable_and_hide_the_url() {
    let dest = |u: &str| Destination {
        kind: Kind::Teams,
        url: Secret::new(url::Url::parse(u).unwrap()),
        secret: None,
    };
    let a = destination_key(&dest("https://h.example/s3cr3t-1"));
    assert_eq!(a, destination_key(&dest("https://h.example/s3cr3t-1")));
    assert_ne!(a, destination_key(&dest("https://h.example/s3cr3t-2")));
    assert!(
        a.starts_with("teams:h.example:") && !a.contains("s3cr3t"),
        "{a}"
    );
    assert_eq!(
        destination_name(&dest("https://h.example/s3cr3t-1")),
        "teams h.example"
    );
}

#[tokio::test]
async fn a_stop_lets_a_delivery_in_flight_finish_and_records_it() {
    let One {
        _dir,
        store,
        receiver,
        t,
    } = one(Kind::Slack, &[Reply::Slow(Duration::from_millis(300))]).await;
    queue(&store, &t, "u1", "{}").await;
    let fw = run(&store, &t, &quick());
    eventually("the POST is in flight", || receiver.log().len() == 1).await;
    fw.stop().await;
    let s = status_of(&store, &t);
    assert_eq!((s.sent, s.failed, s.queued), (1, 0, 0), "{s:?}");
    store.close().await;
}

/// A pop-up sink that keeps what it is shown.
#[derive(Default)]
struct Shown(Mutex<Vec<crate::deliver::notify::Popup>>);

impl Sink for Shown {
    fn name(&self) -> &'static str {
        "shown"
    }
    fn show<'a>(
        &'a self,
        popup: &'a crate::deliver::notify::Popup,
    ) -> crate::deliver::notify::BoxFuture<'a, Result<(), crate::deliver::notify::NotifyError>>
    {
        self.0.lock().unwrap().push(popup.clone());
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn a_destination_failing_for_good_pops_up_once_until_it_works_again() {
    let One {
        _dir,
        store,
        receiver: _receiver,
        t,
    } = one(
        Kind::Slack,
        &[
            Reply::Status(404),
            Reply::Status(410),
            Reply::Ok,
            Reply::Status(403),
        ],
    )
    .await;
    for n in 1..=4 {
        queue(&store, &t, &format!("u{n}"), "{}").await;
    }
    let shown = Arc::new(Shown::default());
    let sinks = [shown.clone() as Arc<dyn Sink>];
    let fw = Forwarders::start(std::slice::from_ref(&t), &store, &quick(), &sinks).unwrap();
    eventually("all four tried", || {
        let s = status_of(&store, &t);
        s.failed == 3 && s.sent == 1
    })
    .await;
    fw.stop().await;
    let popups = shown.0.lock().unwrap().clone();
    let texts: Vec<String> = popups
        .iter()
        .map(|p| format!("{} | {}", p.summary, p.lines[0]))
        .collect();
    assert_eq!(texts.len(), 2, "once per failing spell: {texts:#?}");
    assert!(texts[0].starts_with("Forwarding to slack 127.0.0.1 failed | "));
    assert!(texts[0].contains("404"), "{}", texts[0]);
    assert!(texts[1].contains("403"), "{}", texts[1]);
    for p in &popups {
        assert!(p.link.is_none());
        assert!(!format!("{p:?}").contains("s3cr3t"), "{p:?}");
    }
    store.close().await;
}

#[tokio::test]
async fn a_destination_configured_twice_gets_each_alert_once() {
    let One {
        _dir,
        store,
        receiver,
        t,
    } = one(Kind::Webhook, &[]).await;
    let mut stricter = t.clone();
    stricter.min_urgency = 90;
    let fw = Forwarders::start(&[t.clone(), stricter], &store, &quick(), &[]).unwrap();
    assert_eq!(fw.lanes().len(), 1);
    queue(&store, &t, "u1", "{}").await;
    fw.lanes()[0].wake();
    eventually("sent", || status_of(&store, &t).sent == 1).await;
    fw.stop().await;
    assert_eq!(receiver.log().len(), 1);
    store.close().await;
}
