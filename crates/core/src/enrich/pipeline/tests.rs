//! Pipeline tests against the fake Sekoia API (a real HTTP server following
//! DESIGN.md §4) with the real client; pop-ups go to a recording sink.

use super::*;
use crate::deliver::notify::{NotifyError, Popup};
use crate::model::event::Event;
use crate::net::sekoia::{ApiKey, ClientConfig};
use crate::store::Store;
use fake_sekoia::{alert_json, FakeSekoia, Fault};
use std::sync::Mutex as StdMutex;

/// A sink that records (key, summary, lines) of every pop-up.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) shown: StdMutex<Vec<(String, String, Vec<String>)>>,
}

impl Sink for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn show<'a>(&'a self, popup: &'a Popup) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            self.shown.lock().unwrap().push((
                popup.key.clone(),
                popup.summary.clone(),
                popup.lines.clone(),
            ));
            Ok(())
        })
    }
}

impl Recorder {
    pub(crate) fn summaries(&self) -> Vec<String> {
        self.shown
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.1.clone())
            .collect()
    }
}

fn uuid(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn webhook(n: usize, action: &str) -> Event {
    let body = format!(
        r#"{{"type":"alert","action":"{action}","attributes":{{"uuid":"{}","short_id":"AL{n}"}},"metadata":{{"version":2,"created_at":{n}}}}}"#,
        uuid(n)
    );
    Event::parse(body.as_bytes()).unwrap()
}

struct Rig {
    _dir: tempfile::TempDir,
    store: Store,
    api: FakeSekoia,
    sink: Arc<Recorder>,
    pipeline: Pipeline,
}

async fn rig(config: PipelineConfig, key: Option<&str>) -> Rig {
    rig_with(config, key, Settings::default()).await
}

async fn rig_with(config: PipelineConfig, key: Option<&str>, settings: Settings) -> Rig {
    rig_sinks(config, key, settings, Vec::new()).await
}

/// A rig whose pop-ups also go to `extra` sinks.
async fn rig_sinks(
    config: PipelineConfig,
    key: Option<&str>,
    settings: Settings,
    extra: Vec<Arc<dyn Sink>>,
) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let api = FakeSekoia::start().await;
    let client_config = ClientConfig {
        max_retry_wait: Duration::from_secs(2),
        // A short circuit pause so an outage test recovers in seconds.
        circuit_pause: Duration::from_secs(2),
        ..ClientConfig::new(api.url())
    };
    let key = key.unwrap_or(api.api_key()).to_owned();
    let client = crate::net::sekoia::Client::new(client_config, ApiKey::new(key).unwrap()).unwrap();
    let sink = Arc::new(Recorder::default());
    let pipeline = Pipeline::new(Parts {
        reads: store.reads(),
        writer: store.writer(),
        client: Some(client),
        settings,
        sinks: std::iter::once(sink.clone() as Arc<dyn Sink>)
            .chain(extra)
            .collect(),
        wake: store.new_events(),
        config,
    });
    Rig {
        _dir: dir,
        store,
        api,
        sink,
        pipeline,
    }
}

impl Rig {
    async fn receive(&self, event: Event) {
        self.store.writer().insert(event).await.unwrap();
    }

    fn feed(&self) -> Vec<crate::store::FeedEntry> {
        self.store.feed_for_tests()
    }

    fn api_calls(&self, path_prefix: &str) -> usize {
        self.api
            .requests()
            .iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .count()
    }
}

#[tokio::test]
async fn a_single_event_is_enriched_and_shown_with_its_title() {
    let mut r = rig(PipelineConfig::default(), None).await;
    r.api
        .add_alert(alert_json(&uuid(1), "AL1", "Mimikatz on DC01", 90));
    r.receive(webhook(1, "created")).await;
    assert!(r.pipeline.step().await.unwrap());
    assert!(!r.pipeline.step().await.unwrap(), "nothing left");
    assert_eq!(r.sink.summaries(), ["Mimikatz on DC01"]);
    let feed = r.feed();
    assert!(feed[0].enriched);
    assert_eq!(feed[0].title.as_deref(), Some("Mimikatz on DC01"));
    assert_eq!(feed[0].urgency, Some(90));
    assert_eq!(r.api_calls("/v1/sic/alerts/"), 1, "one GET for one event");
}

#[tokio::test]
async fn waiting_events_are_enriched_with_one_list_call_per_hundred() {
    let mut settings = Settings::default();
    settings.notify.storm_budget = 100;
    let mut r = rig_with(PipelineConfig::default(), None, settings).await;
    for n in 0..250 {
        r.api.add_alert(alert_json(
            &uuid(n),
            &format!("AL{n}"),
            &format!("alert {n}"),
            50,
        ));
        r.receive(webhook(n, "created")).await;
    }
    while r.pipeline.step().await.unwrap() {}
    let lists = r
        .api
        .requests()
        .iter()
        .filter(|req| req.path == "/v1/sic/alerts")
        .count();
    assert_eq!(lists, 3, "ceil(250 / 100) list calls");
    assert!(r.feed().iter().all(|e| e.enriched));
    // Arrival order is kept within the budget of 100.
    let shown = r.sink.summaries();
    assert_eq!(shown[0], "alert 0");
    assert_eq!(shown[99], "alert 99");
    // The next two batches fold into one summary that counts on.
    assert_eq!(shown[100], "100 new alerts, 100 High — open feed");
    assert_eq!(shown[101], "150 new alerts, 150 High — open feed");
    assert_eq!(shown.len(), 102);
}

#[tokio::test]
async fn a_storm_of_a_thousand_alerts_pops_up_the_budget_and_one_summary() {
    let mut r = rig(PipelineConfig::default(), None).await;
    for n in 0..1000 {
        // Every hundredth alert is Urgent, the rest Low.
        let urgency = if n % 100 == 7 { 90 } else { 10 };
        r.api.add_alert(alert_json(
            &uuid(n),
            &format!("AL{n}"),
            &format!("alert {n}"),
            urgency,
        ));
        r.receive(webhook(n, "created")).await;
    }
    while r.pipeline.step().await.unwrap() {}
    let shown = r.sink.shown.lock().unwrap().clone();
    let keys: std::collections::BTreeSet<&str> = shown.iter().map(|s| s.0.as_str()).collect();
    // Each of the ten Urgent alerts on its own, the default budget (5)
    // for the rest, plus one summary that replaces itself.
    assert_eq!(keys.len(), 16, "{keys:?}");
    assert!(keys.contains(crate::deliver::storm::STORM_KEY));
    for n in (7..1000).step_by(100) {
        assert!(keys.contains(uuid(n).as_str()), "Urgent alert {n} folded");
    }
    // The first batch shows its most urgent alert first.
    assert_eq!(shown[0].1, "alert 7");
    let last = shown.last().unwrap();
    assert_eq!(last.0, crate::deliver::storm::STORM_KEY);
    assert_eq!(last.1, "985 new alerts, 985 Low — open feed");
    assert_eq!(last.2[0], "985 Low");
    assert!(
        r.api.requests().len() <= 12,
        "{} API calls",
        r.api.requests().len()
    );
    let feed = r.feed();
    assert_eq!(feed.len(), 1000);
    assert!(feed.iter().all(|e| e.enriched));
}

#[tokio::test]
async fn an_unknown_alert_still_pops_up_and_stays_in_the_feed_with_the_reason() {
    let mut r = rig(PipelineConfig::default(), None).await;
    r.receive(webhook(7, "created")).await;
    r.pipeline.step().await.unwrap();
    assert_eq!(r.sink.summaries(), ["Alert AL7"]);
    let feed = r.feed();
    assert!(!feed[0].enriched);
    assert!(
        feed[0]
            .enrich_error
            .as_deref()
            .is_some_and(|e| e.contains("404")),
        "{:?}",
        feed[0].enrich_error
    );
}

#[tokio::test]
async fn alerts_received_while_the_key_is_rejected_are_enriched_once_it_works() {
    let mut r = rig(PipelineConfig::default(), None).await;
    r.api.add_alert(alert_json(&uuid(3), "AL3", "t", 50));
    r.api.set_key_status(Some("T301"));
    r.receive(webhook(3, "created")).await;
    r.pipeline.step().await.unwrap();
    assert_eq!(r.sink.summaries(), ["Alert AL3"]);
    // A rejected key is the engine's state, not the alert's: owed, no reason.
    assert_eq!(r.feed()[0].enrich_error, None);
    r.pipeline.retry_owed().await.unwrap();
    assert!(!r.feed()[0].enriched, "still rejected");
    // The key is renewed in Sekoia.io: the next retry enriches it.
    r.api.set_key_status(None);
    r.pipeline.retry_owed().await.unwrap();
    assert!(r.feed()[0].enriched);
    assert_eq!(r.feed()[0].title.as_deref(), Some("t"));
}

#[tokio::test]
async fn alerts_received_during_an_api_outage_are_enriched_after_it() {
    let config = PipelineConfig {
        deadline: Duration::from_secs(10),
        ..PipelineConfig::default()
    };
    let mut r = rig(config, None).await;
    for n in 40..43 {
        r.api.add_alert(alert_json(
            &uuid(n),
            &format!("AL{n}"),
            &format!("outage {n}"),
            50,
        ));
    }
    // 5xx on every attempt until the client's circuit opens.
    r.api.fail_next(1000, Fault::Status(503));
    for n in 40..43 {
        r.receive(webhook(n, "created")).await;
        while r.pipeline.step().await.unwrap() {}
    }
    let feed = r.feed();
    assert!(
        feed.iter().all(|e| !e.enriched && e.enrich_error.is_none()),
        "{feed:?}"
    );
    // The outage ends; the circuit's pause passes; the owed retry enriches.
    r.api.clear_faults();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        r.pipeline.retry_owed().await.unwrap();
        if r.feed().iter().all(|e| e.enriched) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never enriched: {:?}",
            r.feed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn owed_retries_behind_a_long_retry_after_never_hold_a_new_alert() {
    let config = PipelineConfig {
        deadline: Duration::from_millis(500),
        retry_every: Duration::from_millis(50),
    };
    let r = rig(config, None).await;
    r.api.add_alert(alert_json(&uuid(44), "AL44", "owed", 50));
    // Every call is told to come back in a minute.
    r.api.fail_next(
        1000,
        Fault::TooMany {
            retry_after_secs: Some(60),
        },
    );
    r.receive(webhook(44, "created")).await;
    let Rig {
        store,
        sink,
        pipeline,
        _dir,
        api,
    } = r;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(pipeline.run(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    // Let the owed retry start waiting on its Retry-After.
    tokio::time::sleep(Duration::from_millis(800)).await;
    store.writer().insert(webhook(45, "created")).await.unwrap();
    let shown = async {
        while !sink.summaries().iter().any(|s| s == "Alert AL45") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // The pop-up goes out within the pipeline's own deadline (0.5 s here,
    // 3 s by default), not after the minute the API asked for.
    assert!(
        tokio::time::timeout(Duration::from_secs(5), shown)
            .await
            .is_ok(),
        "{:?}",
        sink.summaries()
    );
    // And a stop during owed retries is prompt.
    let _ = stop.send(());
    assert!(tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .is_ok());
    drop(api);
}

#[tokio::test]
async fn rate_limited_then_ok_is_enriched() {
    let mut r = rig(PipelineConfig::default(), None).await;
    r.api
        .add_alert(alert_json(&uuid(4), "AL4", "after 429", 50));
    r.api.fail_next(
        1,
        Fault::TooMany {
            retry_after_secs: Some(1),
        },
    );
    r.receive(webhook(4, "created")).await;
    r.pipeline.step().await.unwrap();
    assert_eq!(r.sink.summaries(), ["after 429"]);
    assert!(r.feed()[0].enriched);
}

#[tokio::test]
async fn a_slow_api_does_not_hold_the_popup_and_the_feed_is_completed_later() {
    let config = PipelineConfig {
        deadline: Duration::from_millis(300),
        ..PipelineConfig::default()
    };
    let mut r = rig(config, None).await;
    r.api
        .add_alert(alert_json(&uuid(5), "AL5", "slow but sure", 70));
    r.api.fail_next(1, Fault::Slow(Duration::from_secs(2)));
    r.receive(webhook(5, "created")).await;
    r.pipeline.step().await.unwrap();
    assert_eq!(r.sink.summaries(), ["Alert AL5"], "shown without waiting");
    assert!(!r.feed()[0].enriched);
    assert_eq!(r.feed()[0].enrich_error, None, "not a final failure");
    r.pipeline.retry_owed().await.unwrap();
    assert!(r.feed()[0].enriched, "completed by the retry");
    assert_eq!(r.sink.summaries().len(), 1, "no second pop-up");
}

#[tokio::test]
async fn updates_enter_the_feed_without_a_popup_and_refresh_the_alert() {
    let mut r = rig(PipelineConfig::default(), None).await;
    r.api.add_alert(alert_json(&uuid(6), "AL6", "t", 50));
    r.receive(webhook(6, "created")).await;
    while r.pipeline.step().await.unwrap() {}
    assert_eq!(r.feed()[0].urgency, Some(50));
    // The analyst raised the urgency in Sekoia.io; Sekoia sends "updated".
    r.api.add_alert(alert_json(&uuid(6), "AL6", "t", 90));
    r.receive(webhook(6, "updated")).await;
    while r.pipeline.step().await.unwrap() {}
    // Not subscribed to updates, yet 50 -> 90 rose into the Urgent band:
    // one pop-up says so (issue 15).
    let shown = r.sink.shown.lock().unwrap().clone();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert_eq!(shown[1].2[0], "Urgency raised to Urgent 90");
    let feed = r.feed();
    assert_eq!(feed.len(), 1, "one row per alert: {feed:#?}");
    assert_eq!(feed[0].action, "updated", "the update leads its row");
    assert_eq!(feed[0].urgency, Some(90), "the update refreshed the alert");
    assert_eq!(r.api_calls("/v1/sic/alerts"), 2);
}

#[tokio::test]
async fn unhandled_events_are_resumed_by_a_new_pipeline() {
    let mut r = rig(PipelineConfig::default(), None).await;
    r.api
        .add_alert(alert_json(&uuid(8), "AL8", "before restart", 50));
    r.receive(webhook(8, "created")).await;
    // A second pipeline on the same store (as after a restart) does the work.
    let sink = Arc::new(Recorder::default());
    let client = crate::net::sekoia::Client::new(
        ClientConfig::new(r.api.url()),
        ApiKey::new(r.api.api_key().to_owned()).unwrap(),
    )
    .unwrap();
    let mut second = Pipeline::new(Parts {
        reads: r.store.reads(),
        writer: r.store.writer(),
        client: Some(client),
        settings: Settings::default(),
        sinks: vec![sink.clone() as Arc<dyn Sink>],
        wake: r.store.new_events(),
        config: PipelineConfig::default(),
    });
    assert!(second.step().await.unwrap());
    assert_eq!(sink.summaries(), ["before restart"]);
    assert!(!r.pipeline.step().await.unwrap(), "handled once only");
}

#[tokio::test]
async fn an_unreadable_list_answer_leaves_every_alert_owed_not_failed() {
    let mut r = rig(PipelineConfig::default(), None).await;
    for n in 2..5 {
        r.api
            .add_alert(alert_json(&uuid(n), &format!("AL{n}"), "t", 50));
        r.receive(webhook(n, "created")).await;
    }
    r.api.fail_next(1, Fault::Malformed);
    while r.pipeline.step().await.unwrap() {}
    let feed = r.feed();
    assert!(
        feed.iter().all(|e| e.enrich_error.is_none() && !e.enriched),
        "{feed:?}"
    );
    r.pipeline.retry_owed().await.unwrap();
    assert!(r.feed().iter().all(|e| e.enriched), "{:?}", r.feed());
}

fn real(v: serde_json::Value) -> Event {
    Event::parse(v.to_string().as_bytes()).unwrap()
}

fn settings_with_events(events: &str) -> Settings {
    let text = format!("[notify]\nevents = [{events}]\n");
    crate::settings::parse(&text, std::path::Path::new("t.toml"))
        .unwrap()
        .0
}

#[tokio::test]
async fn occurrence_and_urgency_updates_change_the_row_without_a_popup_or_a_fetch() {
    use fake_sekoia::notification as n;
    // Even with every alert update subscribed, quiet ones stay quiet.
    let mut r = rig_with(
        PipelineConfig::default(),
        None,
        settings_with_events(r#""alert:*""#),
    )
    .await;
    r.api
        .add_alert(alert_json(&uuid(21), "AL21", "Beaconing", 30));
    r.receive(real(n::alert_created(&uuid(21), "AL21"))).await;
    while r.pipeline.step().await.unwrap() {}
    let calls = r.api_calls("/v1/sic/alerts");
    for i in 2..=4 {
        r.receive(real(n::occurrences(&uuid(21), "AL21", i))).await;
    }
    // Within the Moderate band: no raise either.
    r.receive(real(n::alert_updated(
        &uuid(21),
        "AL21",
        serde_json::json!({"dynamic_urgency_value": 38}),
        &n::now(),
    )))
    .await;
    while r.pipeline.step().await.unwrap() {}
    assert_eq!(
        r.sink.summaries(),
        ["Beaconing"],
        "only the creation popped up"
    );
    assert_eq!(
        r.api_calls("/v1/sic/alerts"),
        calls,
        "quiet updates read the cache"
    );
    let feed = r.feed();
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].occurrences, Some(4));
    assert_eq!(feed[0].change.as_deref(), Some("urgency 38"));
    // A status change is worth a look: it pops up (subscribed) and re-reads
    // the alert.
    r.api
        .add_alert(alert_json(&uuid(21), "AL21", "Beaconing", 30));
    r.receive(real(n::status_changed(
        &uuid(21),
        "AL21",
        "8f206505-af6d-433e-93f4-775d46dc7d0f",
        "Acknowledged",
    )))
    .await;
    while r.pipeline.step().await.unwrap() {}
    assert_eq!(
        r.sink.summaries(),
        ["Beaconing", "Beaconing: status Acknowledged"]
    );
    assert_eq!(r.api_calls("/v1/sic/alerts"), calls + 1);
}

#[tokio::test]
async fn comments_and_cases_read_in_words_and_link_to_their_pages() {
    use fake_sekoia::notification as n;
    let mut r = rig_with(
        PipelineConfig::default(),
        None,
        settings_with_events(r#""alert:created", "alert-comment:created", "case:created""#),
    )
    .await;
    let mut alert = alert_json(&uuid(22), "ALm4Rt8Kx2Pq", "", 64);
    // A real alert may have no title: it reads by its rule.
    alert.as_object_mut().unwrap().remove("title");
    r.api.add_alert(alert);
    let case = "e9d1b3c5-8e0a-4f2b-9c4d-6e7f80910213";
    r.api.add_case(fake_sekoia::case_json(
        case,
        "CAr7Ws2Kp9Lm",
        "Credential theft",
        "high",
    ));
    r.receive(real(n::alert_created(&uuid(22), "ALm4Rt8Kx2Pq")))
        .await;
    r.receive(real(n::comment_created(
        "c6a8e0f2-5b7d-4c9e-8f1a-3b4c5d6e7f80",
        &uuid(22),
        "ALm4Rt8Kx2Pq",
        "Host isolated.",
    )))
    .await;
    r.receive(real(n::case(
        "created",
        case,
        "CAr7Ws2Kp9Lm",
        "from the event",
        "high",
    )))
    .await;
    r.receive(real(n::content_proposal())).await;
    while r.pipeline.step().await.unwrap() {}
    assert_eq!(
        r.sink.summaries(),
        [
            "Suspicious PowerShell",
            "New comment on Suspicious PowerShell: Host isolated.",
            "Case CAr7Ws2Kp9Lm: Credential theft (priority high)",
        ]
    );
    assert_eq!(r.api_calls("/v1/sic/cases/"), 1);
    let feed = r.feed();
    let rows: Vec<(&str, Option<&str>, Option<&str>)> = feed
        .iter()
        .map(|e| (e.subject.as_str(), e.title.as_deref(), e.url.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            ("content-proposal", None, None),
            (
                "case",
                Some("Credential theft"),
                Some("https://app.sekoia.io/operations/cases/CAr7Ws2Kp9Lm")
            ),
            (
                "alert",
                Some("Suspicious PowerShell"),
                Some("https://app.sekoia.io/operations/alerts/ALm4Rt8Kx2Pq")
            ),
        ]
    );
    // The comment's and the case's pop-ups never take the alert's key (a
    // uuid key is what "Acknowledge" is offered on).
    let keys: Vec<String> = r
        .sink
        .shown
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.0.clone())
        .collect();
    assert_eq!(keys[0], uuid(22));
    assert!(keys[1].starts_with("alert:alert-comment:") && keys[2].starts_with("case:case:"));
}

#[tokio::test]
async fn a_notification_naming_no_valid_alert_is_kept_without_spoiling_the_batch() {
    let mut r = rig(PipelineConfig::default(), None).await;
    r.api
        .add_alert(alert_json(&uuid(23), "AL23", "Good one", 50));
    r.api
        .add_alert(alert_json(&uuid(24), "AL24", "Good two", 50));
    r.receive(webhook(23, "created")).await;
    r.receive(real(serde_json::json!({
        "type": "alert", "action": "created",
        "attributes": {"uuid": "not-a-uuid", "short_id": "ALbad"},
        "metadata": {"version": 2, "created_at": "2026-11-20T08:00:00.000000+00:00"}
    })))
    .await;
    r.receive(webhook(24, "created")).await;
    while r.pipeline.step().await.unwrap() {}
    let feed = r.feed();
    let titles: Vec<Option<&str>> = feed.iter().map(|e| e.title.as_deref()).collect();
    assert_eq!(titles, [Some("Good two"), None, Some("Good one")]);
    assert!(feed[1]
        .enrich_error
        .as_deref()
        .is_some_and(|e| e.contains("cannot be looked up")));
    // The list call carried only the valid uuids (the fake refuses the
    // whole call for one malformed uuid, as Sekoia.io does).
    assert!(r.api.requests().iter().all(|q| !q
        .query
        .as_deref()
        .unwrap_or("")
        .contains("not-a-uuid")));
}

#[tokio::test]
async fn a_comment_notification_without_its_text_reads_it_from_the_api() {
    use fake_sekoia::notification as n;
    let mut r = rig_with(
        PipelineConfig::default(),
        None,
        settings_with_events(r#""alert-comment:created""#),
    )
    .await;
    let comment = "c6a8e0f2-5b7d-4c9e-8f1a-3b4c5d6e7f80";
    r.api
        .add_alert(alert_json(&uuid(25), "AL25", "Lateral movement", 70));
    r.api.add_comment(
        &uuid(25),
        fake_sekoia::comment_json(comment, "Escalated to IR."),
    );
    let mut body = n::comment_created(comment, &uuid(25), "AL25", "x");
    body["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("content");
    r.receive(real(body)).await;
    while r.pipeline.step().await.unwrap() {}
    assert_eq!(
        r.sink.summaries(),
        ["New comment on Lateral movement: Escalated to IR."]
    );
    assert_eq!(
        r.api_calls(&format!("/v1/sic/alerts/{}/comments/{comment}", uuid(25))),
        1
    );
}

/// Reminders on a controllable clock (`Pipeline::remind(now)`), through the
/// real desktop sink on the fake notification server: only the Urgent,
/// Pending, unread alert is reminded, under its own pop-up; reading it in
/// the feed or withdrawing it (a teammate took it) stops the reminders, and
/// the withdrawal closes the pop-up on screen.
#[tokio::test]
async fn an_urgent_pending_unseen_alert_is_reminded_on_the_clock_until_read_or_withdrawn() {
    use crate::deliver::notify::desktop::{Desktop, Opener};
    use fake_notifications::{Bus, Server};
    let bus = Bus::start();
    let server = Server::with_capabilities(&bus.address, &["actions", "body"]).await;
    let desktop = Arc::new(Desktop::at_address(
        url::Url::parse("https://app.sekoia.io").unwrap(),
        Opener::Command("/bin/true".into()),
        bus.address.clone(),
    ));
    let (settings, _) = crate::settings::parse(
        "[notify]\nremind_minutes = 10\n",
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    let mut r = rig_sinks(
        PipelineConfig::default(),
        None,
        settings,
        vec![desktop.clone() as Arc<dyn Sink>],
    )
    .await;
    for (n, urgency) in [(1, 91), (2, 88), (3, 64)] {
        r.api.add_alert(alert_json(
            &uuid(n),
            &format!("AL{n}"),
            &format!("alert {n}"),
            urgency,
        ));
        r.receive(webhook(n, "created")).await;
    }
    let start = std::time::Instant::now();
    while r.pipeline.step().await.unwrap() {}
    let calls = server.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    let id = |n: usize| {
        calls
            .iter()
            .find(|c| c.summary == format!("alert {n}"))
            .map(|c| c.returned_id)
            .unwrap()
    };
    // Urgent pop-ups ring and stay; the Major one rings and expires.
    for c in &calls {
        let urgent = c.summary != "alert 3";
        assert_eq!(c.resident, urgent.then_some(true), "{c:?}");
        assert_eq!(c.expire_timeout, if urgent { 0 } else { -1 }, "{c:?}");
        assert!(c.sound_name.is_some(), "{c:?}");
    }

    let minute = Duration::from_secs(60);
    r.pipeline.remind(start + 9 * minute).await;
    assert_eq!(server.calls().len(), 3, "nothing is due before 10 minutes");
    // Alert 2 is read in the feed: seen, no reminder.
    r.store.writer().mark_read(Some(uuid(2))).await.unwrap();
    r.pipeline
        .remind(start + 10 * minute + Duration::from_secs(1))
        .await;
    let calls = server.calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    let reminder = &calls[3];
    assert_eq!(reminder.summary, "alert 1");
    assert_eq!(reminder.replaces_id, id(1), "the same pop-up, again");
    assert!(
        reminder
            .body
            .starts_with("Still Pending and unseen after 10 minutes\n"),
        "{}",
        reminder.body
    );
    assert_eq!(reminder.sound_name.as_deref(), Some("alarm-clock-elapsed"));

    // A teammate took alert 1: its pop-up is closed, no more reminders.
    r.pipeline.withdraw(&uuid(1)).await;
    assert_eq!(server.closed(), [id(1)]);
    r.pipeline.remind(start + 60 * minute).await;
    assert_eq!(server.calls().len(), 4);
}

/// The burst of issue 15 through the pipeline with the fake API: ten lower
/// alerts first (one already Acknowledged, 55, and one of 64 among them),
/// then two Urgent ones (88 and 91). Both Urgent alerts get their own
/// pop-ups, the summary counts the rest, and no summary ever counts one.
#[tokio::test]
async fn in_a_burst_of_twelve_both_urgent_alerts_pop_up_and_no_summary_counts_one() {
    let mut r = rig(PipelineConfig::default(), None).await;
    let lower = [55, 64, 30, 20, 45, 10, 35, 50, 61, 5];
    for (n, urgency) in lower.iter().enumerate() {
        let mut alert = alert_json(&uuid(n), &format!("AL{n}"), &format!("alert {n}"), *urgency);
        if n == 0 {
            alert["status"]["name"] = serde_json::json!("Acknowledged");
        }
        r.api.add_alert(alert);
        r.receive(webhook(n, "created")).await;
    }
    while r.pipeline.step().await.unwrap() {}
    for (n, urgency) in [(10, 88), (11, 91)] {
        r.api.add_alert(alert_json(
            &uuid(n),
            &format!("AL{n}"),
            &format!("alert {n}"),
            urgency,
        ));
        r.receive(webhook(n, "created")).await;
    }
    while r.pipeline.step().await.unwrap() {}
    let shown = r.sink.shown.lock().unwrap().clone();
    let summaries: Vec<&str> = shown.iter().map(|s| s.1.as_str()).collect();
    assert!(summaries.contains(&"alert 10"), "{summaries:?}");
    assert!(summaries.contains(&"alert 11"), "{summaries:?}");
    // The budget (5) went to the five most urgent lower ones; the summary
    // counts the other five.
    let summary = shown
        .iter()
        .rfind(|s| s.0 == crate::deliver::storm::STORM_KEY)
        .expect("a summary");
    assert_eq!(summary.1, "5 new alerts, 3 Moderate — open feed");
    assert!(
        !summaries.iter().any(|s| s.starts_with("1 new alert")),
        "{summaries:?}"
    );
    assert_eq!(shown.len(), 5 + 1 + 2, "{summaries:?}");
}

/// Issue 15 point 4 through real notifications (issue 20's kinds) and the
/// desktop sink on the fake notification server: a status change closes the
/// alert's pop-up on screen, occurrence updates raise none, an urgency rise
/// into a higher band raises one, a rise within a band none.
#[tokio::test]
async fn a_teammates_status_change_withdraws_the_popup_and_a_band_rise_renotifies_once() {
    use crate::deliver::notify::desktop::{Desktop, Opener};
    use fake_notifications::{Bus, Server};
    use fake_sekoia::notification as n;
    let bus = Bus::start();
    let server = Server::with_capabilities(&bus.address, &["actions", "body"]).await;
    let desktop = Arc::new(Desktop::at_address(
        url::Url::parse("https://app.sekoia.io").unwrap(),
        Opener::Command("/bin/true".into()),
        bus.address.clone(),
    ));
    let mut r = rig_sinks(
        PipelineConfig::default(),
        None,
        Settings::default(),
        vec![desktop.clone() as Arc<dyn Sink>],
    )
    .await;
    r.api
        .add_alert(alert_json(&uuid(31), "AL31", "Taken by a teammate", 70));
    r.api
        .add_alert(alert_json(&uuid(32), "AL32", "Growing", 30));
    r.receive(real(n::alert_created(&uuid(31), "AL31"))).await;
    r.receive(real(n::alert_created(&uuid(32), "AL32"))).await;
    while r.pipeline.step().await.unwrap() {}
    let calls = server.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let first = calls
        .iter()
        .find(|c| c.summary == "Taken by a teammate")
        .unwrap()
        .returned_id;

    // Occurrences and a rise within the Moderate band: nothing new.
    r.receive(real(n::occurrences(&uuid(32), "AL32", 7))).await;
    let urgency = |v: u8| {
        real(n::alert_updated(
            &uuid(32),
            "AL32",
            serde_json::json!({"dynamic_urgency_value": v}),
            &n::now(),
        ))
    };
    r.receive(urgency(35)).await;
    while r.pipeline.step().await.unwrap() {}
    assert_eq!(server.calls().len(), 2, "{:?}", server.calls());
    // Into the Urgent band: one pop-up saying so, replacing the alert's.
    r.receive(urgency(85)).await;
    while r.pipeline.step().await.unwrap() {}
    let calls = server.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[2].summary, "Growing");
    assert!(
        calls[2].body.starts_with("Urgency raised to Urgent 85\n"),
        "{}",
        calls[2].body
    );
    assert!(calls[2].body.contains("Urgency 85"), "{}", calls[2].body);
    // Again at 90: already Urgent, no second raise.
    r.receive(urgency(90)).await;
    while r.pipeline.step().await.unwrap() {}
    assert_eq!(server.calls().len(), 3);

    // A teammate acknowledges alert 31 in Sekoia.io: its pop-up is closed.
    r.receive(real(n::status_changed(
        &uuid(31),
        "AL31",
        "8f206505-af6d-433e-93f4-775d46dc7d0f",
        "Acknowledged",
    )))
    .await;
    while r.pipeline.step().await.unwrap() {}
    assert_eq!(server.closed(), [first]);
    assert_eq!(
        server.calls().len(),
        3,
        "a status change raises no pop-up by default"
    );
}

#[tokio::test]
async fn an_alert_missing_beside_an_unreadable_list_entry_stays_owed_not_unknown() {
    let mut r = rig(PipelineConfig::default(), None).await;
    r.api
        .add_alert(alert_json(&uuid(50), "AL50", "readable", 50));
    r.api
        .add_alert(alert_json(&uuid(51), "AL51", "garbled in the list", 50));
    r.receive(webhook(50, "created")).await;
    r.receive(webhook(51, "created")).await;
    // The list answer holds alert 50 and, instead of alert 51, an entry
    // that is not an alert.
    r.api.fail_next(
        1,
        Fault::Json(serde_json::json!({
            "items": [alert_json(&uuid(50), "AL50", "readable", 50), 42],
            "total": 2
        })),
    );
    while r.pipeline.step().await.unwrap() {}
    let feed = r.feed();
    let row = |n: usize| feed.iter().find(|e| e.uuid == uuid(n)).unwrap().clone();
    assert!(row(50).enriched);
    assert!(!row(51).enriched);
    assert_eq!(
        row(51).enrich_error,
        None,
        "not called unknown: {:?}",
        row(51)
    );
    // Asked again (alone, where a 404 would be certain), it is read.
    r.pipeline.retry_owed().await.unwrap();
    let feed = r.feed();
    assert!(feed.iter().all(|e| e.enriched), "{feed:?}");
}
