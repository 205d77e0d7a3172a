//! Pipeline tests against the fake Sekoia API (a real HTTP server following
//! DESIGN.md §4) with the real client; pop-ups go to a recording sink.

use super::*;
use crate::event::Event;
use crate::notify::Popup;
use crate::sekoia::{ApiKey, ClientConfig};
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
        ..ClientConfig::new(api.url())
    };
    let key = key.unwrap_or(api.api_key()).to_owned();
    let client = crate::sekoia::Client::new(client_config, ApiKey::new(key).unwrap()).unwrap();
    let sink = Arc::new(Recorder::default());
    let pipeline = Pipeline::new(Parts {
        ledger: store.ledger().unwrap(),
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
    assert!(keys.contains(crate::storm::STORM_KEY));
    for n in (7..1000).step_by(100) {
        assert!(keys.contains(uuid(n).as_str()), "Urgent alert {n} folded");
    }
    // The first batch shows its most urgent alert first.
    assert_eq!(shown[0].1, "alert 7");
    let last = shown.last().unwrap();
    assert_eq!(last.0, crate::storm::STORM_KEY);
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
    assert_eq!(r.sink.summaries(), ["Alert AL7 created"]);
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
async fn a_rejected_key_still_pops_up_and_records_why() {
    let mut r = rig(PipelineConfig::default(), None).await;
    r.api.add_alert(alert_json(&uuid(3), "AL3", "t", 50));
    r.api.set_key_status(Some("T301"));
    r.receive(webhook(3, "created")).await;
    r.pipeline.step().await.unwrap();
    assert_eq!(r.sink.summaries(), ["Alert AL3 created"]);
    let reason = r.feed()[0].enrich_error.clone().unwrap_or_default();
    assert!(reason.contains("expired"), "{reason}");
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
    assert_eq!(
        r.sink.summaries(),
        ["Alert AL5 created"],
        "shown without waiting"
    );
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
    assert_eq!(
        r.sink.summaries().len(),
        1,
        "no pop-up for an update by default"
    );
    let feed = r.feed();
    assert_eq!(feed.len(), 2);
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
    let client = crate::sekoia::Client::new(
        ClientConfig::new(r.api.url()),
        ApiKey::new(r.api.api_key().to_owned()).unwrap(),
    )
    .unwrap();
    let mut second = Pipeline::new(Parts {
        ledger: r.store.ledger().unwrap(),
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
async fn an_unreadable_list_answer_is_recorded_as_the_reason_for_every_alert() {
    let mut r = rig(PipelineConfig::default(), None).await;
    for n in 2..5 {
        r.api
            .add_alert(alert_json(&uuid(n), &format!("AL{n}"), "t", 50));
        r.receive(webhook(n, "created")).await;
    }
    r.api.fail_next(1, Fault::Malformed);
    while r.pipeline.step().await.unwrap() {}
    let feed = r.feed();
    assert!(feed.iter().all(|e| e.enrich_error.is_some()), "{feed:?}");
}

/// Reminders on a controllable clock (`Pipeline::remind(now)`), through the
/// real desktop sink on the fake notification server: only the Urgent,
/// Pending, unread alert is reminded, under its own pop-up; reading it in
/// the feed or withdrawing it (a teammate took it) stops the reminders, and
/// the withdrawal closes the pop-up on screen.
#[tokio::test]
async fn an_urgent_pending_unseen_alert_is_reminded_on_the_clock_until_read_or_withdrawn() {
    use crate::notify::desktop::{Desktop, Opener};
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
        .rfind(|s| s.0 == crate::storm::STORM_KEY)
        .expect("a summary");
    assert_eq!(summary.1, "5 new alerts, 3 Moderate — open feed");
    assert!(
        !summaries.iter().any(|s| s.starts_with("1 new alert")),
        "{summaries:?}"
    );
    assert_eq!(shown.len(), 5 + 1 + 2, "{summaries:?}");
}
