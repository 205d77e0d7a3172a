//! The large-store benchmark's store side (bench/large-store.sh runs the
//! daemon parts): a year of alerts written directly into a store file, the
//! feed and pipeline reads and the store's open timed on it, and a
//! retention pass with its size before and after.
//!
//! Usage:
//!   large-store generate DATA_DIR EVENTS   a year of alerts, ~10 events each
//!   large-store reads DATA_DIR             JSON: read times (ms) on that store
//!   large-store retain DATA_DIR DAYS       JSON: a retention pass, sizes, steps
//!
//! The store generated: alerts created one after the other over the last
//! 365 days, each with occurrence updates, a status change and, one in ten,
//! a comment, all handled by the pipeline and cached as the Alert API
//! answers; 9 in 10 Closed, the rest Pending; everything read but the last
//! two days. Ids grow with time, as intake gives them.

// Only `summary` is used here; the rest serves the other benchmarks.
#[allow(dead_code)]
mod common;

use notifier_core::event::Event;
use notifier_core::settings::Settings;
use notifier_core::store::{retention, Reader, Store};
use rusqlite::{params, Connection};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ACKNOWLEDGED: &str = "8f206505-af6d-433e-93f4-775d46dc7d0f";
const CLOSED: &str = "1738b1c1-767d-489e-bada-19176621a007";
/// Events per alert on average: created, 7 or 8 occurrence updates, a
/// status change, and a comment for one alert in ten.
const PER_ALERT: usize = 10;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Runtime::new()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["generate", dir, n] => generate(&rt, Path::new(dir), n.parse()?),
        ["reads", dir] => reads(&rt, Path::new(dir)),
        ["retain", dir, days] => retain(&rt, Path::new(dir), days.parse()?),
        _ => Err("usage: large-store generate DIR EVENTS | reads DIR | retain DIR DAYS".into()),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn generate(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    events: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    // The schema as the daemon creates it (migrations, auto-vacuum).
    rt.block_on(Store::open(dir)?.close());
    let mut conn = Connection::open(dir.join(notifier_core::store::DB_FILE))?;
    // A bulk load: durability per commit is not what is measured here.
    conn.pragma_update(None, "synchronous", "OFF")?;
    let alerts = events / PER_ALERT;
    let now = OffsetDateTime::now_utc();
    let year = time::Duration::days(365);
    let slot = year / alerts as u32;
    let mut written = 0;
    let mut tx = conn.transaction()?;
    for i in 0..alerts {
        let uuid = format!("a1e7c0de-0000-4000-8000-{i:012}");
        let short = format!("AL{i:010}");
        let created = now - year + slot * i as u32;
        let recent = now - created < time::Duration::days(2);
        let mut bodies = vec![fake_sekoia::notification::alert_created(&uuid, &short)];
        for n in 1..=(PER_ALERT - 2 - usize::from(i % 10 == 0)) {
            bodies.push(fake_sekoia::notification::occurrences(
                &uuid, &short, n as u64,
            ));
        }
        let pending = i % 10 == 3;
        let (status, name) = if pending {
            (ACKNOWLEDGED, "Acknowledged")
        } else {
            (CLOSED, "Closed")
        };
        bodies.push(fake_sekoia::notification::status_changed(
            &uuid, &short, status, name,
        ));
        if i % 10 == 0 {
            bodies.push(fake_sekoia::notification::comment_created(
                &format!("c0ffee11-0000-4000-8000-{i:012}"),
                &uuid,
                &short,
                "Looked at it.",
            ));
        }
        let step = slot / (bodies.len() as u32 + 1);
        for (j, body) in bodies.iter().enumerate() {
            let e = Event::parse(body.to_string().as_bytes())?;
            let at = rfc3339(created + step * j as u32);
            let change_kind = e
                .updated
                .as_deref()
                .map(|u| notifier_core::kind::Change::parse(u).tag());
            tx.prepare_cached(
                "INSERT INTO events (dedup_key, received_at, kind, action, uuid, short_id, version,
                     created_at, raw, subject, notification_uuid, change, change_kind, handled, read)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 1, ?14)",
            )?
            .execute(params![
                e.dedup_key(),
                at,
                e.kind,
                e.action,
                e.uuid,
                e.short_id,
                e.version,
                e.created_at,
                e.raw,
                e.subject.as_str(),
                e.notification_uuid,
                e.updated,
                change_kind,
                !recent
            ])?;
            // Its feed row, as the store's writer keeps it.
            notifier_core::store::add_feed_row(
                &tx,
                &notifier_core::store::NewEvent::of(
                    tx.last_insert_rowid(),
                    &e,
                    change_kind,
                    !recent,
                ),
            )?;
            written += 1;
        }
        // The Alert API's answer, as the pipeline caches it; a Pending one
        // when the status change above was not the last word.
        let mut alert = fake_sekoia::alert_json(&uuid, &short, "Suspicious logon", 60);
        if !pending {
            alert["status"] = json!({"uuid": CLOSED, "name": "Closed"});
        }
        let fetched = rfc3339(created + step * (bodies.len() as u32));
        let parsed: notifier_core::sekoia::Alert = serde_json::from_value(alert)?;
        tx.prepare_cached(
            "INSERT INTO alerts (uuid, short_id, title, urgency, urgency_display, status, rule, entity, fetched_at, raw)
             VALUES (?1, ?2, ?3, ?4, NULL, ?5, NULL, NULL, ?6, ?7)",
        )?
        .execute(params![
            uuid,
            short,
            parsed.title,
            parsed.urgency_value(),
            parsed.status.as_ref().and_then(|s| s.name.clone()),
            fetched,
            serde_json::to_string(&parsed)?
        ])?;
        if i % 5000 == 4999 {
            tx.commit()?;
            tx = conn.transaction()?;
        }
    }
    tx.commit()?;
    drop(conn);
    let reader = Reader::open(dir)?;
    let f = reader.footprint()?;
    println!(
        "{}",
        json!({
            "events": written,
            "alerts": alerts,
            "seconds": started.elapsed().as_secs_f64(),
            "footprint": f,
        })
    );
    Ok(())
}

/// Median of `runs` timings of `f`, in milliseconds.
fn time_ms(runs: usize, mut f: impl FnMut()) -> serde_json::Value {
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    common::summary(&ms)
}

fn reads(rt: &tokio::runtime::Runtime, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    // Start-up's share of the store: open (migrations checked, writer and
    // checkpoint threads started) and close.
    let open = time_ms(5, || {
        if let Ok(store) = Store::open(dir) {
            rt.block_on(store.close());
        }
    });
    let store = Store::open(dir)?;
    let reader = store.reader()?;
    let ledger = store.ledger()?;
    let settings = Settings::default();
    let newest = reader
        .feed(1, &settings)?
        .first()
        .map(|e| e.uuid.clone())
        .unwrap_or_default();
    let result = json!({
        "events": reader.counts()?.stored,
        "open_ms": open,
        "feed_100_ms": time_ms(20, || { let _ = reader.feed(100, &settings); }),
        "feed_1000_ms": time_ms(5, || { let _ = reader.feed(1000, &settings); }),
        "unread_ms": time_ms(20, || { let _ = reader.unread(); }),
        "counts_ms": time_ms(5, || { let _ = reader.counts(); }),
        "unhandled_ms": time_ms(20, || { let _ = ledger.unhandled(100); }),
        "unenriched_ms": time_ms(20, || { let _ = ledger.unenriched(100); }),
        "is_unread_ms": time_ms(20, || { let _ = ledger.is_unread(&newest); }),
        "alert_ms": time_ms(20, || { let _ = ledger.alert(&newest); }),
        "reader_ms": time_ms(20, || { let _ = store.reader().map(|r| r.unread()); }),
    });
    drop((reader, ledger));
    rt.block_on(store.close());
    println!("{result}");
    Ok(())
}

fn retain(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    days: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(dir)?;
    let before = store.reader()?.footprint()?;
    let writer = store.writer();
    let cutoff = OffsetDateTime::now_utc() - time::Duration::days(days);
    let started = Instant::now();
    let (steps, vacuums) = rt.block_on(async {
        let mut steps = Vec::new();
        let mut progress = retention::Progress::default();
        loop {
            let t = Instant::now();
            let step = writer.retain_step(cutoff, progress).await?;
            steps.push(t.elapsed().as_secs_f64() * 1e3);
            progress = step.progress;
            if step.done() {
                break;
            }
        }
        let mut vacuums = Vec::new();
        loop {
            let t = Instant::now();
            let left = writer.vacuum_step(retention::PAGES_PER_STEP).await?;
            vacuums.push(t.elapsed().as_secs_f64() * 1e3);
            if left == 0 {
                break;
            }
        }
        Ok::<_, notifier_core::store::StoreError>((steps, vacuums))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    // Let the checkpoint thread copy the last of the WAL.
    std::thread::sleep(Duration::from_secs(1));
    let after = store.reader()?.footprint()?;
    rt.block_on(store.close());
    let p99 = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s.get(s.len() * 99 / 100).copied().unwrap_or(0.0)
    };
    println!(
        "{}",
        json!({
            "keep_days": days,
            "seconds": seconds,
            "steps": steps.len(),
            "step_ms": {"p50": common::summary(&steps)["median"], "p99": p99(&steps), "max": steps.iter().copied().fold(0.0, f64::max)},
            "vacuum_steps": vacuums.len(),
            "vacuum_ms": {"p50": common::summary(&vacuums)["median"], "p99": p99(&vacuums), "max": vacuums.iter().copied().fold(0.0, f64::max)},
            "before": before,
            "after": after,
        })
    );
    Ok(())
}
