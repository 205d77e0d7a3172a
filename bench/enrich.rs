//! End-to-end benchmark of enrichment and pop-ups with the release
//! `sekoia-notifierd`: the fake Sekoia API on loopback, a private D-Bus bus
//! with a notification server that speaks the real protocol.
//!
//! 1. Queued (a storm), STORMS times, each over a fresh store: QUEUED alert
//!    events are stored before the daemon starts; measures the time until
//!    all are enriched in the feed, the API calls it took, the pop-ups the
//!    storm budget let through and the peak RSS (VmHWM).
//! 2. Latency: SAMPLES webhook POSTs, one at a time and spaced to stay
//!    under the 5 requests/s API budget; time from POST to the Notify call.
//!
//! Usage: enrich-bench [QUEUED] [SAMPLES] [STORMS]   (defaults 10000, 60, 3)
//! Writes target/bench/enrich.txt and target/bench/enrich.json.

#[path = "common.rs"]
mod common;

use common::{body, post, uuid, wait_ready};

use notifier_core::event::Event;
use notifier_core::store::Store;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "benchsecret-0123456789abcdefghijkl";

fn main() {
    let mut args = std::env::args().skip(1);
    let queued: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let samples: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let storms: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let daemon = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("sekoia-notifierd")))
        .filter(|p| p.exists())
        .expect("build sekoia-notifierd first (make bench does)");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let bus = fake_notifications::Bus::start();
    let server = runtime.block_on(fake_notifications::Server::with_capabilities(
        &bus.address,
        &["actions", "body", "body-markup"],
    ));
    let api = runtime.block_on(fake_sekoia::FakeSekoia::start());
    for n in 0..queued + samples {
        api.add_alert(fake_sekoia::alert_json(
            &uuid(n),
            &format!("AL{n}"),
            &format!("alert {n}"),
            70,
        ));
    }
    let work = tempfile::tempdir().expect("tempdir");

    // 1. Storms of queued alerts, each over a fresh store.
    let mut runs = Vec::with_capacity(storms);
    for run in 0..storms {
        let dir = work.path().join(format!("storm-{run}"));
        runs.push(storm(&runtime, &daemon, &dir, &bus, &server, &api, queued));
    }

    // 2. Latency, one event at a time, with a one-second storm window: the
    // samples (4 per second) stay within the budget of 5 and each gets its
    // own pop-up.
    let dir = work.path().join("latency");
    let (config, data) = write_config(&dir, &api, "[notify]\nstorm_window_secs = 1\n");
    let mut child = spawn(&daemon, &config, &data, &bus.address, api.api_key(), &dir);
    let addr = wait_ready(&data, &mut child);
    // Let the start-up catch-up call (one list call) finish first.
    std::thread::sleep(Duration::from_secs(2));
    let mut latencies = Vec::with_capacity(samples);
    for n in queued..queued + samples {
        let before = server.calls().len();
        let t0 = Instant::now();
        let status = post(addr, SECRET, &body(n));
        assert_eq!(status, 202, "webhook refused");
        wait_for(|| server.calls().len() > before, Duration::from_secs(30));
        let at = server.calls()[before].at;
        latencies.push(at.duration_since(t0));
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    let _ = child.wait();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];

    let col = |f: fn(&Storm) -> f64| common::summary(&runs.iter().map(f).collect::<Vec<_>>());
    let drain = col(|r| r.drained_s);
    let calls = col(|r| r.api_calls as f64);
    let distinct = col(|r| r.distinct_popups as f64);
    let notify = col(|r| r.notify_calls as f64);
    let peak = col(|r| r.peak_rss_mb);
    let mut out = String::new();
    out.push_str(&format!(
        "storm: {queued} queued alerts, median (min-max) of {storms} runs\n"
    ));
    out.push_str(&format!(
        "  time until all enriched:  {} s\n",
        common::text(&drain, 2)
    ));
    out.push_str(&format!(
        "  Alert API calls:          {}\n",
        common::text(&calls, 0)
    ));
    out.push_str(&format!(
        "  pop-ups shown:            {} distinct, {} Notify calls (the summary replaces itself)\n",
        common::text(&distinct, 0),
        common::text(&notify, 0)
    ));
    out.push_str(&format!(
        "  daemon peak RSS:          {} MB\n",
        common::text(&peak, 1)
    ));
    out.push_str(&format!(
        "POST -> Notify on D-Bus:    p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples, one GET each)\n",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(pct(1.0)),
        samples
    ));
    print!("{out}");
    let json = serde_json::json!({
        "storm": {
            "queued": queued,
            "drain_s": drain,
            "api_calls": calls,
            "distinct_popups": distinct,
            "notify_calls": notify,
            "peak_rss_mb": peak,
        },
        "post_to_notify": {
            "samples": samples,
            "p50_ms": ms(pct(0.50)),
            "p99_ms": ms(pct(0.99)),
            "max_ms": ms(pct(1.0)),
        },
    });
    let _ = std::fs::create_dir_all("target/bench");
    let _ = std::fs::write("target/bench/enrich.txt", out);
    let _ = std::fs::write("target/bench/enrich.json", json.to_string());
}

struct Storm {
    drained_s: f64,
    api_calls: usize,
    distinct_popups: usize,
    notify_calls: usize,
    peak_rss_mb: f64,
}

/// One storm: `queued` alerts stored in a fresh store under `dir`, then the
/// daemon started on them; measured until every one is enriched.
fn storm(
    runtime: &tokio::runtime::Runtime,
    daemon: &Path,
    dir: &Path,
    bus: &fake_notifications::Bus,
    server: &fake_notifications::Server,
    api: &fake_sekoia::FakeSekoia,
    queued: usize,
) -> Storm {
    // The storm runs on the default budget (5 pop-ups per 30 s).
    let (config, data) = write_config(dir, api, "");
    runtime.block_on(async {
        let store = Store::open(&data).expect("store");
        for n in 0..queued {
            let event = Event::parse(body(n).as_bytes()).expect("event");
            store.writer().insert(event).await.expect("insert");
        }
        store.close().await;
    });
    let calls_before = api.requests().len();
    let notify_before = server.calls().len();
    let started = Instant::now();
    let mut child = spawn(daemon, &config, &data, &bus.address, api.api_key(), dir);
    wait_ready(&data, &mut child);
    let settings = notifier_core::settings::Settings::default();
    let reader = notifier_core::store::Reader::open(&data).expect("reader");
    let all_enriched = || {
        reader
            .feed(queued, &settings)
            .is_ok_and(|feed| feed.len() == queued && feed.iter().all(|e| e.enriched))
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while !all_enriched() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
    let drained = started.elapsed();
    let api_calls = api.requests().len() - calls_before;
    let peak_kb = rss_kb(child.id(), "VmHWM:").unwrap_or(0);
    // Let the last summary arrive.
    std::thread::sleep(Duration::from_millis(500));
    let calls = server.calls();
    let mut ids: Vec<u32> = calls[notify_before..]
        .iter()
        .map(|c| c.returned_id)
        .collect();
    let notify_calls = ids.len();
    ids.sort_unstable();
    ids.dedup();
    let _ = child.kill();
    let _ = child.wait();
    Storm {
        drained_s: drained.as_secs_f64(),
        api_calls,
        distinct_popups: ids.len(),
        notify_calls,
        peak_rss_mb: peak_kb as f64 / 1024.0,
    }
}

fn write_config(dir: &Path, api: &fake_sekoia::FakeSekoia, extra: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("dir");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[sekoia]\napi_url = \"{}\"\n[listener]\nbind = \"127.0.0.1:0\"\nhook_secret = \"{SECRET}\"\n{extra}",
            api.url()
        ),
    )
    .expect("config");
    (config, dir.join("data"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn spawn(daemon: &Path, config: &Path, data: &Path, bus: &str, key: &str, root: &Path) -> Child {
    Command::new(daemon)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .arg("serve")
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("SEKOIA_API_KEY", key)
        .env("SEKOIA_NOTIFIER_LOG", "error")
        .env("XDG_RUNTIME_DIR", root)
        .env("XDG_DATA_HOME", root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sekoia-notifierd")
}

fn wait_for(mut done: impl FnMut() -> bool, within: Duration) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn rss_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
