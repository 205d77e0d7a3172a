//! Catch-up against the fake Sekoia API (real HTTP) and a real store.

use super::*;
use crate::event::Event;
use crate::pipeline::tests::Recorder;
use crate::sekoia::{ApiKey, ClientConfig};
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
