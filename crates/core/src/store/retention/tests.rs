//! Retention against a real store: what goes, what stays, a restart
//! mid-pass, intake during a pass, and `feed_rows` staying what a full
//! regrouping of the events gives.

use super::*;
use crate::event::Event;
use crate::sekoia::Alert;
use crate::store::{Reader, Store};
use fake_sekoia::notification as n;

const OLD: &str = "2020-01-01T00:00:00Z";

fn real(v: serde_json::Value) -> Event {
    Event::parse(v.to_string().as_bytes()).unwrap()
}

fn alert(uuid: &str, status: &str) -> Alert {
    let mut json = fake_sekoia::alert_json(uuid, "ALx", "An alert", 50);
    json["status"]["name"] = status.into();
    serde_json::from_value(json).unwrap()
}

/// Inserts `n` alerts (uuids `from..from + n`) concurrently: group commits.
async fn insert_alerts(w: &Writer, from: usize, n: usize) {
    let tasks: Vec<_> = (from..from + n)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move {
                w.insert_waiting(real(n::alert_created(&uuid(i), "ALx")))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

fn uuid(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

/// A month ago, relative to now: the cut of a 30-day retention.
fn cut() -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::days(30)
}

/// Marks every event handled and read, dates those up to `id` in 2020 and
/// every cached alert before them.
async fn age(store: &Store, up_to: i64) {
    store
        .writer()
        .apply(Box::new(move |tx| {
            tx.execute("UPDATE events SET handled = 1, read = 1", [])?;
            tx.execute(
                "UPDATE events SET received_at = ?1 WHERE id <= ?2",
                params![OLD, up_to],
            )?;
            tx.execute("UPDATE alerts SET fetched_at = '2019-06-01T00:00:00Z'", [])?;
            Ok(())
        }))
        .await
        .unwrap();
}

fn count(reader: &Reader, table: &str) -> i64 {
    reader
        .conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn old_rows_go_with_their_cache_and_unread_pending_and_recent_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let w = store.writer();
    // 0: closed and read: goes, with its cached alert and its updates.
    // 1: Pending by the API: stays. 2: unread: stays. 3: Pending by the API,
    // then a status notification (newer) says Closed: goes.
    for i in 0..4 {
        w.insert(real(n::alert_created(&uuid(i), "ALx")))
            .await
            .unwrap();
        w.insert(real(n::occurrences(&uuid(i), "ALx", 3)))
            .await
            .unwrap();
    }
    let status = ["Closed", "Pending", "Closed", "Pending"];
    let alerts = (0..4).map(|i| alert(&uuid(i), status[i])).collect();
    w.record(alerts, Vec::new(), Vec::new()).await.unwrap();
    let closed = n::status_changed(
        &uuid(3),
        "ALx",
        "1738b1c1-767d-489e-bada-19176621a007",
        "Closed",
    );
    w.insert(real(closed)).await.unwrap();
    w.insert(real(n::case("created", &uuid(9), "CAx", "A case", "high")))
        .await
        .unwrap();
    w.cache_cases(vec![serde_json::from_value(
        serde_json::json!({"uuid": uuid(9), "title": "A case"}),
    )
    .unwrap()])
        .await
        .unwrap();
    w.insert(real(n::content_proposal())).await.unwrap();
    // A forward sent long ago goes; one still queued stays.
    w.apply(Box::new(|tx| {
        tx.execute_batch(
            "INSERT INTO outbox (dest, event_id, body, state, queued_at, sent_at) VALUES ('d', 1, '', 'sent', 1, 1);
             INSERT INTO outbox (dest, event_id, body, state, queued_at) VALUES ('d', 2, '{}', 'queued', 1);",
        )?;
        Ok(())
    }))
    .await
    .unwrap();
    let recent = w
        .insert(real(n::alert_created(&uuid(5), "ALy")))
        .await
        .unwrap();
    age(&store, recent.id() - 1).await;
    w.mark_read(None).await.unwrap();
    // Alert 2 gets an unread event, old too.
    w.apply(Box::new(|tx| {
        tx.execute(
            "UPDATE events SET read = 0 WHERE uuid = ?1 AND kind = 'alert' AND action = 'created'",
            [uuid(2)],
        )?;
        Ok(())
    }))
    .await
    .unwrap();

    let removed = pass(&w, cut(), Duration::ZERO).await.unwrap();
    let reader = store.reader().unwrap();
    let feed = reader
        .feed(100, &crate::settings::Settings::default())
        .unwrap();
    let mut kept: Vec<&str> = feed.iter().map(|e| e.uuid.as_str()).collect();
    kept.sort_unstable();
    assert_eq!(kept, [uuid(1), uuid(2), uuid(5)], "{feed:#?}");
    // Alerts 0 and 3 (2 events each, and 3's status change), the case, the proposal.
    assert_eq!(
        removed,
        Removed {
            events: 7,
            alerts: 2,
            cases: 1,
            outbox: 1
        }
    );
    assert_eq!(
        count(&reader, "alerts"),
        2,
        "the cache of the rows kept stays"
    );
    assert_eq!(count(&reader, "outbox"), 1);
    crate::store::rows::assert_consistent(&reader.conn);
    // The next pass finds nothing more.
    assert_eq!(
        pass(&w, cut(), Duration::ZERO).await.unwrap(),
        Removed::default()
    );
    store.close().await;
}

#[tokio::test]
async fn old_occurrence_updates_of_a_row_that_stays_go_but_not_the_ones_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let w = store.writer();
    let a = uuid(1);
    let created = w.insert(real(n::alert_created(&a, "ALx"))).await.unwrap();
    for i in 1..=5 {
        w.insert(real(n::occurrences(&a, "ALx", i))).await.unwrap();
    }
    let comment = n::comment_created(&uuid(7), &a, "ALx", "Looking.");
    let comment = w.insert(real(comment)).await.unwrap();
    let last_old = w.insert(real(n::occurrences(&a, "ALx", 6))).await.unwrap();
    w.record(vec![alert(&a, "Ongoing")], Vec::new(), Vec::new())
        .await
        .unwrap();
    // Today's update keeps the row.
    w.insert(real(n::occurrences(&a, "ALx", 7))).await.unwrap();
    age(&store, last_old.id()).await;
    let reader = store.reader().unwrap();
    let before = reader
        .feed(10, &crate::settings::Settings::default())
        .unwrap();

    let removed = pass(&w, cut(), Duration::ZERO).await.unwrap();
    assert_eq!(removed.events, 6, "the six old occurrence updates");
    let ids: Vec<i64> = {
        let mut stmt = reader
            .conn
            .prepare("SELECT id FROM events ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(ids, [created.id(), comment.id(), last_old.id() + 1]);
    let after = reader
        .feed(10, &crate::settings::Settings::default())
        .unwrap();
    assert_eq!(after, before, "the row shows the same");
    crate::store::rows::assert_consistent(&reader.conn);
    store.close().await;
}

#[tokio::test]
async fn a_restart_mid_pass_loses_nothing_and_the_next_pass_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let w = store.writer();
    let rows = (EVENTS_PER_STEP as usize) * 2 + 100;
    insert_alerts(&w, 0, rows).await;
    let pending = rows + 1;
    w.insert(real(n::alert_created(&uuid(pending), "ALp")))
        .await
        .unwrap();
    w.record(
        vec![alert(&uuid(pending), "Pending")],
        Vec::new(),
        Vec::new(),
    )
    .await
    .unwrap();
    let recent = w
        .insert(real(n::alert_created(&uuid(rows + 2), "ALr")))
        .await
        .unwrap();
    age(&store, recent.id() - 1).await;

    let first = w.retain_step(cut(), Progress::default()).await.unwrap();
    assert_eq!(
        first.removed.events, EVENTS_PER_STEP as u64,
        "one step, one budget"
    );
    assert!(!first.done());
    store.close().await;

    let store = Store::open(dir.path()).unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(
        count(&reader, "events"),
        (rows + 2) as i64 - EVENTS_PER_STEP
    );
    assert!(reader.has_event(&uuid(pending)).unwrap());
    crate::store::rows::assert_consistent(&reader.conn);
    let removed = pass(&store.writer(), cut(), Duration::ZERO).await.unwrap();
    assert_eq!(removed.events as usize, rows - EVENTS_PER_STEP as usize);
    let feed = reader
        .feed(10, &crate::settings::Settings::default())
        .unwrap();
    let kept: Vec<&str> = feed.iter().map(|e| e.uuid.as_str()).collect();
    assert_eq!(kept, [uuid(rows + 2), uuid(pending)]);
    crate::store::rows::assert_consistent(&reader.conn);
    store.close().await;
}

#[tokio::test]
async fn inserts_are_answered_between_the_steps_of_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let w = store.writer();
    let rows = (EVENTS_PER_STEP as usize) * 6;
    insert_alerts(&w, 0, rows).await;
    let recent = w
        .insert(real(n::alert_created(&uuid(rows), "ALr")))
        .await
        .unwrap();
    age(&store, recent.id() - 1).await;
    let steps = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = w.clone();
    let counted = std::sync::Arc::clone(&steps);
    let passing = tokio::spawn(async move {
        let mut progress = Progress::default();
        loop {
            let step = writer.retain_step(cut(), progress).await.unwrap();
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            progress = step.progress;
            if step.done() {
                break;
            }
            tokio::task::yield_now().await;
        }
    });
    // Each insert is queued behind at most the step under way: it is
    // answered while the pass still has steps to go.
    let mut answered_during = 0;
    for i in 0..3 {
        w.insert(real(n::alert_created(&uuid(rows + 10 + i), "ALn")))
            .await
            .unwrap();
        if !passing.is_finished() {
            answered_during += 1;
        }
    }
    passing.await.unwrap();
    assert!(
        answered_during > 0,
        "every insert waited for the whole pass"
    );
    assert!(steps.load(std::sync::atomic::Ordering::SeqCst) >= 6);
    let reader = store.reader().unwrap();
    for i in 0..3 {
        assert!(reader.has_event(&uuid(rows + 10 + i)).unwrap());
    }
    assert_eq!(count(&reader, "events"), 4);
    store.close().await;
}

#[tokio::test]
async fn freed_pages_go_back_to_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let w = store.writer();
    let big = "x".repeat(4000);
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let mut body = n::alert_created(&uuid(i), "ALx");
            body["attributes"]["padding"] = big.clone().into();
            let w = w.clone();
            tokio::spawn(async move { w.insert_waiting(real(body)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let recent = w
        .insert(real(n::alert_created(&uuid(999), "ALr")))
        .await
        .unwrap();
    age(&store, recent.id() - 1).await;
    let reader = store.reader().unwrap();
    let pages = |r: &Reader| -> i64 {
        r.conn
            .pragma_query_value(None, "page_count", |x| x.get(0))
            .unwrap()
    };
    let free = |r: &Reader| -> i64 {
        r.conn
            .pragma_query_value(None, "freelist_count", |x| x.get(0))
            .unwrap()
    };
    let before = pages(&reader);
    let mut progress = Progress::default();
    loop {
        let step = w.retain_step(cut(), progress).await.unwrap();
        progress = step.progress;
        if step.done() {
            break;
        }
    }
    let freed = free(&reader);
    assert!(freed > PAGES_PER_STEP, "{freed} free pages");
    // One vacuum step gives back a step's worth of pages, in one go.
    let left = w.vacuum_step(PAGES_PER_STEP).await.unwrap();
    assert_eq!(left, freed - PAGES_PER_STEP);
    pass(&w, cut(), Duration::ZERO).await.unwrap();
    let after = pages(&reader);
    assert!(after * 4 < before, "{before} pages, then {after}");
    assert_eq!(free(&reader), 0);
    store.close().await;
}

#[test]
fn each_step_reads_through_indexes_whatever_the_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    let reader = Reader::open(dir.path()).unwrap();
    let conn = &reader.conn;
    use crate::store::tests::assert_plan;
    assert_plan(
        conn,
        OLD_ROWS,
        &["USING INDEX feed_rows_head (head>? AND head<?)"],
    );
    assert_plan(
        conn,
        &quiet_sql(),
        &[
            "SEARCH e USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
            "(key=?)",
        ],
    );
    assert_plan(
        conn,
        "SELECT id, received_at < ?2 FROM events WHERE id >= ?1 ORDER BY id LIMIT 1",
        &["USING INTEGER PRIMARY KEY (rowid>?)"],
    );
    assert_plan(
        conn,
        "SELECT MIN(id) FROM events WHERE handled = 0",
        &["events_unhandled"],
    );
}
