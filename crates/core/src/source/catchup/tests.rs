//! Catch-up against the fake Sekoia API (real HTTP) and a real store.

use super::*;
use crate::enrich::pipeline::tests::Recorder;
use crate::model::event::Event;
use crate::net::sekoia::{ApiKey, ClientConfig};
use crate::store::Store;
use fake_sekoia::{alert_json, FakeSekoia, Fault};

fn uuid(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

struct Rig {
    _dir: tempfile::TempDir,
    store: Store,
    api: FakeSekoia,
    sink: Arc<Recorder>,
    catch_up: CatchUp,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let api = FakeSekoia::start().await;
    let config = ClientConfig {
        max_retry_wait: Duration::from_secs(1),
        max_attempts: 1,
        ..ClientConfig::new(api.url())
    };
    let client = Client::new(config, ApiKey::new(api.api_key().to_owned()).unwrap()).unwrap();
    let sink = Arc::new(Recorder::default());
    let catch_up = CatchUp::new(
        client,
        store.writer(),
        &Settings::default(),
        vec![sink.clone() as Arc<dyn Sink>],
    );
    Rig {
        _dir: dir,
        store,
        api,
        sink,
        catch_up,
    }
}

impl Rig {
    /// An alert created `ago` before now.
    fn alert(&self, n: usize, ago: Duration, urgency: u8) {
        let mut alert = alert_json(&uuid(n), &format!("AL{n}"), &format!("alert {n}"), urgency);
        let created = OffsetDateTime::now_utc() - ago;
        alert["created_at"] = serde_json::json!(created.unix_timestamp());
        self.api.add_alert(alert);
    }

    async fn set_cursor(&self, ago: Duration) {
        let at = (OffsetDateTime::now_utc() - ago).format(&Rfc3339).unwrap();
        self.store.writer().set_cursor(CURSOR, &at).await.unwrap();
    }

    fn stored(&self) -> Option<OffsetDateTime> {
        stored_cursor(&self.store.reader().unwrap()).unwrap()
    }

    fn cursor(&self) -> OffsetDateTime {
        let value = self
            .store
            .reader()
            .unwrap()
            .cursor(CURSOR)
            .unwrap()
            .unwrap();
        OffsetDateTime::parse(&value, &Rfc3339).unwrap()
    }

    fn feed(&self) -> Vec<crate::store::FeedEntry> {
        self.store.feed_for_tests()
    }

    fn list_calls(&self) -> usize {
        self.api
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/sic/alerts")
            .count()
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_first_start_only_sets_the_cursor() {
    let r = rig().await;
    r.alert(1, MINUTE, 50);
    let report = r.catch_up.after_start(r.stored()).await.unwrap();
    assert_eq!(report.added, 0);
    assert_eq!(r.list_calls(), 0);
    assert!(r.feed().is_empty());
    assert!(OffsetDateTime::now_utc() - r.cursor() < time::Duration::seconds(5));
}

#[tokio::test]
async fn alerts_created_while_stopped_are_added_caught_up_with_one_summary_popup() {
    let r = rig().await;
    r.set_cursor(HOUR).await;
    r.alert(1, 30 * MINUTE, 90);
    r.alert(2, 20 * MINUTE, 10);
    r.alert(3, 10 * MINUTE, 10);
    // Already in the feed through its webhook.
    let body = format!(
        r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{}","short_id":"AL3"}},"metadata":{{"version":2,"created_at":1}}}}"#,
        uuid(3)
    );
    r.store
        .writer()
        .insert(Event::parse(body.as_bytes()).unwrap())
        .await
        .unwrap();
    // Outside the gap (older than the cursor less the overlap).
    r.alert(4, 2 * HOUR, 90);

    let report = r.catch_up.after_start(r.stored()).await.unwrap();
    assert_eq!((report.listed, report.added, report.complete), (3, 2, true));
    let feed = r.feed();
    assert_eq!(feed.len(), 3);
    let caught: Vec<_> = feed
        .iter()
        .filter(|e| e.caught_up)
        .map(|e| e.uuid.clone())
        .collect();
    assert_eq!(caught.len(), 2);
    assert!(caught.contains(&uuid(1)) && caught.contains(&uuid(2)));
    assert!(feed.iter().filter(|e| e.caught_up).all(|e| e.enriched));
    let shown = r.sink.shown.lock().unwrap().clone();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].0, SUMMARY_KEY);
    assert_eq!(shown[0].1, "2 alerts caught up, 1 Urgent — open feed");
    assert!(OffsetDateTime::now_utc() - r.cursor() < time::Duration::seconds(5));

    // A second start finds nothing new and shows nothing.
    let again = r.catch_up.after_start(r.stored()).await.unwrap();
    assert_eq!(again.added, 0);
    assert_eq!(r.sink.shown.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_long_gap_is_read_in_pages_of_one_hundred() {
    let r = rig().await;
    r.set_cursor(3 * HOUR).await;
    for n in 0..250 {
        r.alert(n, HOUR + Duration::from_secs(n as u64), 30);
    }
    let report = r.catch_up.after_start(r.stored()).await.unwrap();
    assert_eq!((report.pages, report.added), (3, 250));
    assert_eq!(r.list_calls(), 3);
    assert_eq!(r.feed().len(), 250);
    let shown = r.sink.summaries();
    assert_eq!(shown, ["250 alerts caught up, 250 Moderate — open feed"]);
}

#[tokio::test]
async fn a_failing_api_leaves_the_cursor_where_it_was() {
    let r = rig().await;
    r.set_cursor(HOUR).await;
    let before = r.cursor();
    r.alert(1, 30 * MINUTE, 50);
    r.api.fail_next(1, Fault::Status(500));
    let err = r.catch_up.after_start(r.stored()).await.unwrap_err();
    assert!(matches!(err, CatchUpError::Api(_)), "{err}");
    assert_eq!(r.cursor(), before);
    assert!(r.feed().is_empty());
    assert!(r.sink.shown.lock().unwrap().is_empty());
    // The retry then catches up.
    let report = r.catch_up.after_start(r.stored()).await.unwrap();
    assert_eq!(report.added, 1);
    // One alert caught up: its own pop-up, not "1 alert caught up".
    let shown = r.sink.shown.lock().unwrap().clone();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(
        (shown[0].0.as_str(), shown[0].1.as_str()),
        (uuid(1).as_str(), "alert 1")
    );
}

#[tokio::test]
async fn a_gap_reported_by_others_is_filled_without_moving_the_cursor() {
    let r = rig().await;
    r.set_cursor(MINUTE).await;
    let before = r.cursor();
    r.alert(1, 40 * MINUTE, 50);
    r.alert(2, 10 * MINUTE, 50);
    let now = OffsetDateTime::now_utc();
    let report = r
        .catch_up
        .catch_up(now - 45 * MINUTE, now - 30 * MINUTE)
        .await
        .unwrap();
    assert_eq!(report.added, 1);
    assert_eq!(r.feed()[0].uuid, uuid(1));
    assert_eq!(r.cursor(), before);
}

#[tokio::test]
async fn a_catch_up_page_with_a_lone_surrogate_in_one_alert_adds_them_all_and_moves_the_cursor() {
    let r = rig().await;
    r.set_cursor(HOUR).await;
    let before = r.cursor();
    let created = (OffsetDateTime::now_utc() - 10 * MINUTE).unix_timestamp();
    // A title cut mid-emoji by its producer, between two sound alerts.
    let page = format!(
        r#"{{"items": [
            {{"uuid": "{a}", "short_id": "AL1", "title": "first", "created_at": {created}}},
            {{"uuid": "{b}", "short_id": "AL2", "title": "Phishing link clicked \ud83d", "created_at": {created}}},
            {{"uuid": "{c}", "short_id": "AL3", "title": "third", "created_at": {created}}}
        ], "total": 3, "has_more": false}}"#,
        a = uuid(1),
        b = uuid(2),
        c = uuid(3),
    );
    r.api.fail_next(1, Fault::Body(page));
    let report = r.catch_up.after_start(r.stored()).await.unwrap();
    assert_eq!((report.listed, report.added, report.complete), (3, 3, true));
    let mut titles: Vec<_> = r.feed().into_iter().filter_map(|e| e.title).collect();
    titles.sort();
    assert_eq!(titles, ["Phishing link clicked \u{fffd}", "first", "third"]);
    assert!(r.cursor() > before, "the cursor moved on");
}

impl Rig {
    fn pending(&self) -> Vec<crate::store::reach::Pending> {
        crate::store::reach::pending(&self.store.reader().unwrap()).unwrap()
    }
}

/// A recorded gap that a failing API could not fill stays pending across a
/// clean stop, the cursor stops at its start, and the next start catch-up
/// (which reads from that cursor) fills it.
#[tokio::test]
async fn an_unfilled_gap_holds_the_cursor_and_the_next_start_fills_it() {
    let r = rig().await;
    r.set_cursor(HOUR).await;
    let now = OffsetDateTime::now_utc();
    let (from, to) = (now - 30 * MINUTE, now - 20 * MINUTE);
    r.catch_up
        .record_gap(
            from.unix_timestamp(),
            to.unix_timestamp(),
            "the tunnel was down",
        )
        .await
        .unwrap();
    r.alert(1, 25 * MINUTE, 70);
    let gaps = r.pending();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].reason, "the tunnel was down");

    // Sekoia.io fails: the gap stays owed.
    r.api.fail_next(1, Fault::Status(503));
    assert!(r.catch_up.fill(&gaps[0]).await.is_err());
    assert_eq!(r.pending(), gaps);
    assert!(r.feed().is_empty());

    // A clean stop records the feed complete only up to the gap.
    r.catch_up.mark_complete().await.unwrap();
    assert_eq!(
        r.stored().map(|c| c.unix_timestamp()),
        Some(from.unix_timestamp())
    );

    // The next start reads from there: the alert comes, the gap closes.
    let report = r.catch_up.after_start(r.stored()).await.unwrap();
    assert_eq!((report.added, report.complete), (1, true));
    assert_eq!(r.feed()[0].uuid, uuid(1));
    assert!(r.pending().is_empty(), "{:?}", r.pending());
    // Nothing owed any more: a stop moves the cursor to now.
    r.catch_up.mark_complete().await.unwrap();
    assert!(r.stored().unwrap().unix_timestamp() >= now.unix_timestamp());
}

/// The gap filler waits for the start catch-up, fills what is pending, and
/// wakes for a gap recorded later; a failure leaves the gap for next time.
#[tokio::test]
async fn the_gap_filler_waits_for_the_start_then_fills_each_recorded_gap() {
    let r = rig().await;
    r.set_cursor(HOUR).await;
    let now = OffsetDateTime::now_utc();
    r.alert(1, 50 * MINUTE, 70);
    r.alert(2, 15 * MINUTE, 70);
    r.catch_up
        .record_gap(
            (now - 55 * MINUTE).unix_timestamp(),
            (now - 45 * MINUTE).unix_timestamp(),
            "the store refused events",
        )
        .await
        .unwrap();
    let (started_tx, started) = watch::channel(false);
    let (_wake_tx, wake) = watch::channel(());
    let filler = tokio::spawn(fill_gaps(
        r.catch_up.clone(),
        r.store.reads(),
        started,
        wake,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        r.feed().is_empty(),
        "filled before the start catch-up ended"
    );
    assert_eq!(r.pending().len(), 1);

    started_tx.send_replace(true);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !r.pending().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(r.pending().is_empty());
    let feed: Vec<_> = r.feed().into_iter().map(|e| e.uuid).collect();
    assert_eq!(feed, [uuid(1)]);

    // A gap recorded later (the LiveAPI back after a drop) wakes it.
    r.catch_up
        .record_gap(
            (now - 20 * MINUTE).unix_timestamp(),
            (now - 10 * MINUTE).unix_timestamp(),
            "the LiveAPI connection was down",
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !r.pending().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(r.pending().is_empty());
    assert!(r.feed().iter().any(|e| e.uuid == uuid(2) && e.caught_up));
    filler.abort();
}
