//! The LiveAPI source against the fake LiveAPI and the fake Alert API, with
//! a real store: events reach the feed once, the key goes only in the
//! cookie, a refused key stops, drops and refusals follow the schedule, and
//! every reconnect catches up the disconnected interval.

use super::*;
use crate::settings::Settings;
use crate::store::Store;
use fake_sekoia::live::{FakeLive, Outcome};
use fake_sekoia::{alert_json, FakeSekoia};
use std::time::Instant as StdInstant;

const UUID: &str = "5a3f2bd6-5c1e-4f0a-9b7e-2f1c3d4e5f60";
const OLD_UUID: &str = "6b4f3ce7-6d2f-4a1b-8c8f-3a2d4e5f6071";
const SKIPPED_UUID: &str = "7c5a4df8-7e3a-4b2c-9d9a-4b3e5f607182";

fn v2(uuid: &str, created_at: i64) -> String {
    format!(
        r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{uuid}","short_id":"ALlive"}},"metadata":{{"version":2,"created_at":{created_at},"community_uuid":"c"}}}}"#
    )
}

fn fast(url: Url) -> LiveConfig {
    LiveConfig {
        schedule: Schedule {
            base: Duration::from_millis(100),
            jitter: Duration::ZERO,
            max: Duration::from_secs(2),
            reset_after: Duration::from_secs(3600),
        },
        catch_up_margin: Duration::from_secs(60),
        ..LiveConfig::new(url)
    }
}

struct Rig {
    api: FakeSekoia,
    live: FakeLive,
    store: Store,
    /// Keeps the gap filler's wake-up channel open.
    _wake: watch::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn new() -> Rig {
        let api = FakeSekoia::start().await;
        let live = FakeLive::start(api.api_key()).await;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        Rig {
            api,
            live,
            store,
            _wake: watch::channel(()).0,
            _dir: dir,
        }
    }

    fn key(&self) -> ApiKey {
        ApiKey::new(self.api.api_key().to_owned()).unwrap()
    }

    fn client(&self) -> Client {
        Client::new(
            crate::net::sekoia::ClientConfig::new(self.api.url()),
            self.key(),
        )
        .unwrap()
    }

    fn start(&self, config: LiveConfig, key: ApiKey, with_client: bool) -> LiveApi {
        let client = self.client();
        let catch_up = CatchUp::new(
            client.clone(),
            self.store.writer(),
            &Settings::default(),
            Vec::new(),
        );
        // The engine's gap filler, which catches up what the source records.
        tokio::spawn(crate::source::catchup::fill_gaps(
            catch_up.clone(),
            self.store.reads(),
            watch::channel(true).1,
            self._wake.subscribe(),
        ));
        LiveApi::start(Parts {
            config,
            key: Some(key),
            client: with_client.then_some(client),
            writer: self.store.writer(),
            catch_up: Some(catch_up),
        })
    }

    fn feed(&self) -> Vec<crate::store::FeedEntry> {
        self.store
            .reader()
            .unwrap()
            .feed(100, &Settings::default())
            .unwrap()
    }

    async fn feed_has(&self, n: usize) -> Vec<crate::store::FeedEntry> {
        let deadline = StdInstant::now() + Duration::from_secs(10);
        loop {
            let feed = self.feed();
            if feed.len() >= n || StdInstant::now() > deadline {
                return feed;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn wait_state(
    state: &mut watch::Receiver<LiveHealth>,
    what: &str,
    ok: impl Fn(&LiveHealth) -> bool,
) -> LiveHealth {
    let found = tokio::time::timeout(Duration::from_secs(10), state.wait_for(|s| ok(s)))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|s| s.clone());
    match found {
        Some(s) => s,
        None => panic!("never {what}; last state {:?}", *state.borrow()),
    }
}

#[tokio::test]
async fn events_of_both_shapes_reach_the_feed_once_even_when_the_webhook_brings_them_too() {
    let rig = Rig::new().await;
    let source = rig.start(fast(rig.live.url()), rig.key(), true);
    let mut state = source.state();
    wait_state(&mut state, "connected", LiveHealth::is_connected).await;
    assert!(rig.live.connected(1, Duration::from_secs(5)).await);

    // An old-style frame before any v2 one (a server that may not know the
    // upgrade): read as today.
    rig.live.send(&format!(
        r#"{{"event_version":1,"event_type":"alert","attributes":{{"event":"alert-created","alert_uuid":"{OLD_UUID}","created_at":1732874401}}}}"#
    ));
    rig.feed_has(1).await;
    // The same alert event by webhook (stored first) and by the LiveAPI.
    let body = v2(UUID, 1_732_874_400);
    let webhook = crate::model::event::Event::parse(body.as_bytes()).unwrap();
    rig.store.writer().insert(webhook).await.unwrap();
    assert_eq!(rig.live.send(&body), 1);
    // The same v2 frame again, an unknown shape, and, now that v2 frames
    // come, a v1 frame: the shadow of a v2 twin, skipped.
    rig.live.send(&body);
    rig.live.send(r#"{"something":"new"}"#);
    rig.live.send(&format!(
        r#"{{"event_version":1,"event_type":"alert","attributes":{{"event":"alert-created","alert_uuid":"{SKIPPED_UUID}","created_at":1732874402}}}}"#
    ));
    let feed = rig.feed_has(3).await;
    // Give a wrongly duplicated entry the time to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let feed_after = rig.feed();
    assert_eq!(feed_after.len(), 3, "{feed_after:#?}");
    assert_eq!(feed, feed_after);
    assert_eq!(feed.iter().filter(|e| e.uuid == UUID).count(), 1);
    assert!(feed
        .iter()
        .any(|e| e.uuid == OLD_UUID && e.action == "created"));
    assert!(feed.iter().any(|e| e.kind == frame::UNKNOWN_TYPE));
    assert!(!feed.iter().any(|e| e.uuid == SKIPPED_UUID), "{feed:#?}");
    assert!(rig.live.upgraded() >= 1, "the client never asked for v2");
    let id = feed.iter().find(|e| e.uuid == UUID).unwrap().id;
    assert_eq!(rig.store.reader().unwrap().deliveries(id).unwrap(), Some(3));

    // The key went in the cookie of the upgrade, and nowhere else.
    let attempts = rig.live.attempts();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(
        attempts[0].cookie.as_deref(),
        Some(format!("access_token_cookie={}", rig.api.api_key()).as_str())
    );
    assert_eq!(attempts[0].authorization, None);
    assert!(!attempts[0].path.contains(rig.api.api_key()));
    // The key was checked first.
    assert!(rig.api.requests().iter().any(|r| r.path == "/v1/me"));
    source.stop().await;
    rig.store.close().await;
}

#[tokio::test]
async fn a_key_refused_on_the_upgrade_stops_without_retrying() {
    let rig = Rig::new().await;
    let wrong = ApiKey::new("not-the-key".to_owned()).unwrap();
    // Without the /v1/me check, so that the upgrade itself refuses.
    let source = rig.start(fast(rig.live.url()), wrong, false);
    let mut state = source.state();
    let s = wait_state(&mut state, "rejected", |s| {
        matches!(s, LiveHealth::KeyRejected { .. })
    })
    .await;
    assert!(s.words().contains("401"), "{s:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attempts = rig.live.attempts();
    assert_eq!(attempts.len(), 1, "retried: {attempts:?}");
    assert_eq!(attempts[0].outcome, Outcome::Rejected);
    source.stop().await;
}

#[tokio::test]
async fn a_key_refused_by_v1_me_never_opens_the_websocket() {
    let rig = Rig::new().await;
    rig.api.set_key_status(Some("T300"));
    let source = rig.start(fast(rig.live.url()), rig.key(), true);
    let mut state = source.state();
    wait_state(&mut state, "rejected", |s| {
        matches!(s, LiveHealth::KeyRejected { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rig.live.attempts().is_empty());
    source.stop().await;
}

#[tokio::test]
async fn a_drop_and_refusals_follow_the_schedule_and_the_gap_is_caught_up() {
    let rig = Rig::new().await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    // An alert created while disconnected: only the catch-up can bring it.
    let missed = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
    let mut alert = alert_json(missed, "ALmissed", "Created while disconnected", 70);
    alert["created_at"] = serde_json::json!(now + 1);
    rig.api.add_alert(alert);

    let source = rig.start(fast(rig.live.url()), rig.key(), true);
    let mut state = source.state();
    wait_state(&mut state, "connected", LiveHealth::is_connected).await;
    assert!(rig.live.connected(1, Duration::from_secs(5)).await);
    rig.live.send(&v2(UUID, now));
    rig.feed_has(1).await;

    // Cut mid-stream, then refuse for a while.
    let cut = OffsetDateTime::now_utc();
    rig.live.refuse_for(Duration::from_millis(1200));
    rig.live.drop_connections();
    let s = wait_state(&mut state, "reconnecting", |s| {
        matches!(s, LiveHealth::Reconnecting { .. })
    })
    .await;
    assert!(
        matches!(s, LiveHealth::Reconnecting { attempt: 1, .. }),
        "{s:?}"
    );
    wait_state(&mut state, "unreachable", |s| {
        matches!(s, LiveHealth::Unreachable { .. })
    })
    .await;
    wait_state(&mut state, "connected again", LiveHealth::is_connected).await;
    let back = OffsetDateTime::now_utc();

    // Waits between tries: 0.1, 0.2, 0.4, 0.8 s (no jitter here).
    let attempts = rig.live.attempts();
    let refused: Vec<_> = attempts
        .iter()
        .filter(|a| a.outcome == Outcome::Refused)
        .collect();
    assert!(refused.len() >= 2, "{attempts:?}");
    let tries: Vec<_> = attempts.iter().skip(1).map(|a| a.at).collect();
    for (i, pair) in tries.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        let want = Duration::from_millis(100 << (i + 1));
        assert!(
            gap >= want && gap < want + Duration::from_millis(700),
            "wait {i}: {gap:?}, want {want:?}; {attempts:?}"
        );
    }
    assert_eq!(attempts.last().unwrap().outcome, Outcome::Accepted);

    // The catch-up asked for the disconnected interval (less the margin).
    let feed = rig.feed_has(2).await;
    assert!(
        feed.iter().any(|e| e.uuid == missed && e.caught_up),
        "{feed:#?}"
    );
    let ranges: Vec<String> = rig
        .api
        .requests()
        .iter()
        .flat_map(|r| r.query_pairs())
        .filter(|(k, _)| k == "date[created_at]")
        .map(|(_, v)| v)
        .collect();
    let covering = ranges.iter().any(|range| {
        let Some((from, to)) = range.split_once(',') else {
            return false;
        };
        let (Ok(from), Ok(to)) = (
            OffsetDateTime::parse(from, &Rfc3339),
            OffsetDateTime::parse(to, &Rfc3339),
        ) else {
            return false;
        };
        from <= cut - Duration::from_secs(59) && to >= back - Duration::from_secs(2) && to >= cut
    });
    assert!(covering, "no catch-up of {cut}..{back}: {ranges:?}");
    source.stop().await;
    rig.store.close().await;
}

#[tokio::test]
async fn an_unanswered_ping_drops_the_connection_and_it_comes_back() {
    let rig = Rig::new().await;
    let config = LiveConfig {
        ping_every: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(200),
        ..fast(rig.live.url())
    };
    let source = rig.start(config, rig.key(), true);
    let mut state = source.state();
    wait_state(&mut state, "connected", LiveHealth::is_connected).await;
    // Answered pings keep it open.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(state.borrow().is_connected(), "{:?}", *state.borrow());
    assert_eq!(rig.live.attempts().len(), 1);
    rig.live.set_silent(true);
    let s = wait_state(&mut state, "dropped", |s| {
        matches!(s, LiveHealth::Reconnecting { .. })
    })
    .await;
    assert!(s.words().contains("did not answer"), "{s:?}");
    rig.live.set_silent(false);
    wait_state(&mut state, "connected again", LiveHealth::is_connected).await;
    source.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_costs_sleeps_not_cpu() {
    // Nothing listens on this port (bound, then closed).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let rig = Rig::new().await;
    let url = Url::parse(&format!("ws://127.0.0.1:{port}/live")).unwrap();
    let source = rig.start(fast(url), rig.key(), false);
    let mut state = source.state();
    let cpu = cpu_time();
    let started = StdInstant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = cpu_time() - cpu;
    let s = state.borrow_and_update().clone();
    // 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s: five tries in 3 s, then waits of 2 s.
    let LiveHealth::Unreachable { attempt, .. } = s else {
        panic!("{s:?}")
    };
    assert!((4..=6).contains(&attempt), "{attempt} tries");
    assert!(
        used < started.elapsed() / 10,
        "{used:?} of CPU in {:?}",
        started.elapsed()
    );
    source.stop().await;
}

/// This thread's CPU time (user + system): the test's current-thread
/// runtime runs the source, so other tests running beside it do not count.
fn cpu_time() -> Duration {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getrusage fills the struct we pass; RUSAGE_THREAD is valid on Linux.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } == 0 {
            let tv = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
            };
            return tv(usage.ru_utime) + tv(usage.ru_stime);
        }
    }
    Duration::ZERO
}

#[tokio::test]
async fn hostile_and_oversized_frames_lose_nothing_that_follows() {
    let rig = Rig::new().await;
    let source = rig.start(fast(rig.live.url()), rig.key(), true);
    let mut state = source.state();
    wait_state(&mut state, "connected", LiveHealth::is_connected).await;
    assert!(rig.live.connected(1, Duration::from_secs(5)).await);
    // Not JSON, a bare array, 10,000-deep nesting, invalid event fields:
    // each is kept as an unknown frame, and the connection stays.
    rig.live.send("\u{0}not json\u{202e}");
    rig.live.send("[1,2,3]");
    rig.live
        .send(&format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)));
    rig.live
        .send(r#"{"type":"alert","action":"created","attributes":{"uuid":42}}"#);
    // Over the 1 MiB frame limit: the connection is dropped (the frame
    // cannot be read), and the source reconnects.
    rig.live.send(&format!(
        r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{}"}}}}"#,
        "x".repeat(MAX_FRAME + 1)
    ));
    wait_state(&mut state, "dropped", |s| {
        matches!(s, LiveHealth::Reconnecting { .. })
    })
    .await;
    wait_state(&mut state, "connected again", LiveHealth::is_connected).await;
    assert!(rig.live.connected(1, Duration::from_secs(5)).await);
    rig.live.send(&v2(UUID, 1_732_874_400));
    let deadline = StdInstant::now() + Duration::from_secs(10);
    let feed = loop {
        let feed = rig.feed();
        if feed.iter().any(|e| e.uuid == UUID) || StdInstant::now() > deadline {
            break feed;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(feed.iter().any(|e| e.uuid == UUID), "{feed:#?}");
    // The hostile frames before the drop, each kept once: three of no
    // known shape, and an alert whose uuid is not a string (kept, with no
    // subject to look up).
    assert_eq!(
        feed.iter()
            .filter(|e| e.kind == frame::UNKNOWN_TYPE)
            .count(),
        3,
        "{feed:#?}"
    );
    assert_eq!(
        feed.iter()
            .filter(|e| e.kind == "alert" && e.uuid.is_empty())
            .count(),
        1,
        "{feed:#?}"
    );
    assert!(rig.live.attempts().len() >= 2);
    source.stop().await;
    rig.store.close().await;
}

/// Every shape Sekoia.io really sends, pushed as it pushes them to an
/// upgraded client (each v2 notification beside its v1 twin) and, for some,
/// by webhook too: each is one event, grouped into the right rows.
#[tokio::test]
async fn every_real_shape_over_the_liveapi_is_stored_once_under_its_subject() {
    use fake_sekoia::notification as n;
    let rig = Rig::new().await;
    let source = rig.start(fast(rig.live.url()), rig.key(), true);
    let mut state = source.state();
    wait_state(&mut state, "connected", LiveHealth::is_connected).await;
    let alert = "b81d4f27-6c3e-4a95-8f20-1e7c9d3b5a46";
    let case = "e9d1b3c5-8e0a-4f2b-9c4d-6e7f80910213";
    let shapes = [
        n::alert_created(alert, "ALm4Rt8Kx2Pq"),
        n::occurrences(alert, "ALm4Rt8Kx2Pq", 2),
        n::alert_updated(
            alert,
            "ALm4Rt8Kx2Pq",
            serde_json::json!({"dynamic_urgency_value": 64}),
            "2026-11-20T08:30:00.120000+00:00",
        ),
        // Same instant as the urgency update: a second notification.
        n::alert_updated(
            alert,
            "ALm4Rt8Kx2Pq",
            serde_json::json!({"status": "8f206505-af6d-433e-93f4-775d46dc7d0f", "status_name": "Acknowledged"}),
            "2026-11-20T08:30:00.120000+00:00",
        ),
        n::comment_created(
            "c6a8e0f2-5b7d-4c9e-8f1a-3b4c5d6e7f80",
            alert,
            "ALm4Rt8Kx2Pq",
            "Host isolated.",
        ),
        n::case("created", case, "CAr7Ws2Kp9Lm", "Credential theft", "high"),
        n::case(
            "alerts-updated",
            case,
            "CAr7Ws2Kp9Lm",
            "Credential theft",
            "high",
        ),
        n::content_proposal(),
    ];
    for v2 in &shapes {
        rig.live.send(&n::v1_twin(v2).to_string());
        rig.live.send(&v2.to_string());
    }
    // The webhook brings two of them as well.
    for v2 in &shapes[..2] {
        let event = crate::model::event::Event::parse(v2.to_string().as_bytes()).unwrap();
        rig.store.writer().insert(event).await.unwrap();
    }
    let deadline = StdInstant::now() + Duration::from_secs(10);
    while rig.store.reader().unwrap().counts().unwrap().stored < shapes.len() as i64 {
        assert!(StdInstant::now() < deadline, "{:#?}", rig.feed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rig.store.reader().unwrap().counts().unwrap().stored,
        shapes.len() as i64,
        "one event per notification: {:#?}",
        rig.feed()
    );
    let feed = rig.feed();
    let rows: Vec<(&str, &str)> = feed
        .iter()
        .map(|e| (e.subject.as_str(), e.uuid.as_str()))
        .collect();
    assert_eq!(
        rows,
        [("content-proposal", ""), ("case", case), ("alert", alert)],
        "{feed:#?}"
    );
    let alert_row = &feed[2];
    assert_eq!(alert_row.status.as_deref(), Some("Acknowledged"));
    assert_eq!(alert_row.occurrences, Some(2));
    assert_eq!(alert_row.comments, 1);
    assert_eq!(
        feed[1].url.as_deref(),
        Some("https://app.sekoia.io/operations/cases/CAr7Ws2Kp9Lm")
    );
    assert!(rig.live.upgraded() >= 1);
    source.stop().await;
    rig.store.close().await;
}
