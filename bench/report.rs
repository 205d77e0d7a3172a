//! The report of `make bench`: reads the figures the benchmarks wrote in
//! target/bench/*.json, writes bench/results.json, prints the table with the
//! targets, and rewrites the generated part of BENCHMARKS.md (between the
//! `results:begin` and `results:end` markers) with the machine and the date.
//!
//! Usage: bench-report [REPO_ROOT]   (default: the current directory)

use serde_json::{json, Value};
use std::path::PathBuf;

const BEGIN: &str = "<!-- results:begin (written by `make bench`) -->";
const END: &str = "<!-- results:end -->";

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let bench = root.join("target/bench");
    let read = |name: &str| -> Value {
        std::fs::read_to_string(bench.join(name))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null)
    };
    let (intake, enrich, footprint, large) = (
        read("intake.json"),
        read("enrich.json"),
        read("footprint.json"),
        read("large-store.json"),
    );
    let machine = machine();
    let date = today();
    let mut md = markdown(&intake, &enrich, &footprint, &machine, &date);
    md.push_str(&large_store(&large));
    print!("{md}");
    let results = json!({
        "date": date,
        "machine": machine,
        "intake": intake,
        "enrich": enrich,
        "footprint": footprint,
        "large_store": large,
    });
    let pretty = serde_json::to_string_pretty(&results).unwrap_or_default();
    if let Err(e) = std::fs::write(root.join("bench/results.json"), pretty + "\n") {
        eprintln!("bench-report: cannot write bench/results.json: {e}");
    }
    let doc = root.join("BENCHMARKS.md");
    match std::fs::read_to_string(&doc) {
        Ok(text) => match splice(&text, &md) {
            Some(new) => {
                if let Err(e) = std::fs::write(&doc, new) {
                    eprintln!("bench-report: cannot write BENCHMARKS.md: {e}");
                }
            }
            None => eprintln!("bench-report: BENCHMARKS.md has no results markers"),
        },
        Err(e) => eprintln!("bench-report: cannot read BENCHMARKS.md: {e}"),
    }
}

/// `text` with the part between the markers replaced by `md`.
fn splice(text: &str, md: &str) -> Option<String> {
    let start = text.find(BEGIN)? + BEGIN.len();
    let end = text[start..].find(END)? + start;
    Some(format!("{}\n{}{}", &text[..start], md, &text[end..]))
}

fn markdown(
    intake: &Value,
    enrich: &Value,
    footprint: &Value,
    machine: &str,
    date: &str,
) -> String {
    let mut md = format!("Measured {date} on {machine}.\n\n");

    md.push_str("**1. Intake** (`POST /hooks/<secret>`, wrk on loopback, same cores as the server; median (min-max) events/s");
    if let Some(runs) = intake["runs"].as_u64() {
        md.push_str(&format!(
            " of {runs} runs of {} s",
            intake["duration_s"].as_u64().unwrap_or(0)
        ));
    }
    md.push_str(")\n\n| connections | target | events/s | p50 ms | p99 ms | p99.9 ms | server CPU µs/event | peak RSS MB |\n|---|---|---|---|---|---|---|---|\n");
    let cells = intake["cells"].as_array().cloned().unwrap_or_default();
    for cell in &cells {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell["conns"],
            label(cell["target"].as_str().unwrap_or("?")),
            range(&cell["events_per_s"], 0),
            num(&cell["p50_ms"], 2),
            num(&cell["p99_ms"], 2),
            num(&cell["p999_ms"], 2),
            num(&cell["cpu_us_per_event"], 1),
            num(&cell["peak_rss_mb"], 1),
        ));
    }
    let rate = |target: &str, conns: u64| {
        cells
            .iter()
            .find(|c| c["target"] == target && c["conns"] == conns)
            .and_then(|c| c["events_per_s"]["median"].as_f64())
    };
    md.push_str("\n| connections | durable / bare (target >= 50%) | intake only / bare | durable / FastAPI (target >= 10x) |\n|---|---|---|---|\n");
    let mut conns: Vec<u64> = cells.iter().filter_map(|c| c["conns"].as_u64()).collect();
    conns.dedup();
    for c in conns {
        let (d, b, f) = (rate("durable", c), rate("bare", c), rate("fastapi", c));
        md.push_str(&format!(
            "| {c} | {} | {} | {} |\n",
            ratio(d, b, |r| format!("{:.0}% {}", r * 100.0, mark(r >= 0.5))),
            ratio(rate("intake", c), b, |r| format!("{:.0}%", r * 100.0)),
            ratio(d, f, |r| format!("{r:.1}x {}", mark(r >= 10.0))),
        ));
    }

    if let Some(p50) = intake["fsync_ms"]["p50"].as_f64() {
        md.push_str(&format!(
            "\nfsync of 200 bytes on the store's file system: p50 {p50:.3} ms, p99 {} ms (one connection waits for its own commit).\n",
            num(&intake["fsync_ms"]["p99"], 3)
        ));
    }

    let storm = &enrich["storm"];
    let latency = &enrich["post_to_notify"];
    md.push_str(&format!(
        "\n**2. End to end**: webhook POST to the Notify call on D-Bus (fake API on loopback, one GET each, a notification server on a private bus), {} samples: p50 {} ms, p99 {} ms, max {} ms.\n",
        latency["samples"],
        num(&latency["p50_ms"], 1),
        num(&latency["p99_ms"], 1),
        num(&latency["max_ms"], 1),
    ));
    md.push_str(&format!(
        "\n**3. Storm**: {} alerts queued before start, default storm budget, median (min-max) of {} runs: all enriched in {} s, {} Alert API calls, {} pop-ups shown ({} Notify calls), daemon peak RSS {} MB.\n",
        storm["queued"],
        storm["drain_s"]["runs"].as_array().map_or(0, Vec::len),
        range(&storm["drain_s"], 2),
        range(&storm["api_calls"], 0),
        range(&storm["distinct_popups"], 0),
        range(&storm["notify_calls"], 0),
        range(&storm["peak_rss_mb"], 1),
    ));

    md.push_str(&format!(
        "\n**4. Footprint**: each process tree idle for {} s, read in {} windows, median (min-max). PSS from /proc/PID/smaps_rollup; wakeups are context switches of every thread.\n\n| scenario | processes | PSS MB | CPU % | wakeups/s |\n|---|---|---|---|---|\n",
        footprint["idle_s"], footprint["windows"]
    ));
    let rows = footprint["idle"].as_array().cloned().unwrap_or_default();
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r["scenario"].as_str().unwrap_or("?"),
            r["processes"],
            range(&r["pss_mb"], 1),
            range(&r["cpu_percent"], 2),
            range(&r["wakeups_per_s"], 1),
        ));
    }
    let pss = |prefix: &str| {
        rows.iter()
            .find(|r| {
                r["scenario"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(prefix))
            })
            .and_then(|r| r["pss_mb"]["median"].as_f64())
    };
    md.push_str(&format!(
        "\nTargets: daemon <= 15 MB: {}; app with no window <= 1.3x the floor with no window: {}; app after closing its windows <= 1.15x the app with no window, within 10 s: {} (WebKit web processes gone {} ms after the close).\n",
        pss("sekoia-notifierd")
            .map_or("?".into(), |v| format!("{v:.1} MB {}", mark(v <= 15.0))),
        ratio(
            pss("sekoia-notifier, tray only"),
            pss("floor: hello-world Tauri tray app, no window"),
            |r| format!("{r:.2}x {}", mark(r <= 1.3))
        ),
        ratio(
            pss("sekoia-notifier, after closing"),
            pss("sekoia-notifier, tray only"),
            |r| format!("{r:.2}x {}", mark(r <= 1.15))
        ),
        footprint["closing_ms"]
            .as_f64()
            .map_or("?".into(), |ms| format!("{ms:.0}")),
    ));

    md.push_str("\n**5. Start-up** (ms, median (min-max)):\n\n| from exec to | ms |\n|---|---|\n");
    for s in footprint["startup"].as_array().cloned().unwrap_or_default() {
        md.push_str(&format!(
            "| {} | {} |\n",
            s["what"].as_str().unwrap_or("?"),
            range(&s["ms"], 0)
        ));
    }
    md
}

/// Section 6: the large store beside the empty one.
fn large_store(large: &Value) -> String {
    if large.is_null() {
        return String::new();
    }
    let reads = &large["reads"];
    let mut md = format!(
        "\n**6. Large store**: {} events ({} alerts over a year, ~10 events each) written into the store file before start, beside an empty store and a small one of the same shapes (1,000 events; an empty store's feed has no row to read). Reads: median of repeated calls, ms.\n\n| read | empty | small | large | large / small (target <= 2x) |\n|---|---|---|---|---|\n",
        large["events"], large["generated"]["alerts"]
    );
    // `target`: the 2x bound applies; the other rows grow with what they
    // count (rows returned, unread rows, every event for `status`).
    let row = |md: &mut String, what: &str, v: [Option<f64>; 3], digits: usize, target: bool| {
        let show = |x: Option<f64>| x.map_or("?".into(), |v| format!("{v:.digits$}"));
        md.push_str(&format!(
            "| {what} | {} | {} | {} | {} |\n",
            show(v[0]),
            show(v[1]),
            show(v[2]),
            ratio(v[2], v[1], |r| if target {
                format!("{r:.1}x {}", mark(r <= 2.0))
            } else {
                format!("{r:.1}x (no target)")
            })
        ));
    };
    let of = |key: &str| ["empty", "small", "large"].map(|s| reads[s][key]["median"].as_f64());
    for (key, what, target) in [
        ("feed_100_ms", "feed, 100 rows", true),
        (
            "feed_1000_ms",
            "feed, 1000 rows (the small store has 100)",
            false,
        ),
        ("unread_ms", "unread count (per unread row)", false),
        ("unhandled_ms", "pipeline: unhandled events", true),
        ("unenriched_ms", "pipeline: owed enrichments", true),
        ("is_unread_ms", "pipeline: is an alert unread", true),
        ("alert_ms", "pipeline: cached alert", true),
        ("reader_ms", "a reader from the pool + unread count", false),
        ("open_ms", "store open + close", true),
        (
            "counts_ms",
            "`status` counts (a count of every event)",
            false,
        ),
    ] {
        row(&mut md, what, of(key), 3, target);
    }
    let whole = |key: &str| ["empty", "small", "large"].map(|s| large[key][s].as_f64());
    row(
        &mut md,
        "`feed --json --limit 100`, whole command",
        whole("cli_feed_ms"),
        0,
        true,
    );
    md.push_str(&format!(
        "\nDaemon start-up to the first answer: {} ms on the empty store, {} ms on the large one.\n",
        large["startup_ms"]["empty"], large["startup_ms"]["large"]
    ));
    md.push_str("\nIntake with the pipeline running (median run by p99; p99 of each run in brackets), ms:\n\n| store | WAL checkpoint | connections | events/s | p50 | p99 | p99.9 | p99 of each run |\n|---|---|---|---|---|---|---|---|\n");
    for c in large["intake"].as_array().cloned().unwrap_or_default() {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            c["store"].as_str().unwrap_or("?"),
            match c["checkpoint"].as_str() {
                Some("inline") => "in the writer's commit (before)",
                Some("after") => "by the writer after answering",
                Some("retention") => "by the writer after answering, during a retention pass",
                _ => "?",
            },
            c["conns"],
            c["events_per_s"],
            num(&c["p50_ms"], 2),
            num(&c["p99_ms"], 2),
            num(&c["p999_ms"], 2),
            c["p99_ms_runs"],
        ));
    }
    let r = &large["retention"];
    let mb = |v: &Value| v.as_f64().map_or("?".into(), |b| format!("{:.0}", b / 1e6));
    md.push_str(&format!(
        "\nRetention ({} days) on the large store: {} MB file ({} events, {} cached alerts) before, {} MB ({} events, {} cached alerts) after; {} steps in {} s, a step p50 {} ms, p99 {} ms, max {} ms; {} vacuum steps, max {} ms.\n",
        r["keep_days"],
        mb(&r["before"]["file_bytes"]),
        r["before"]["events"],
        r["before"]["alerts"],
        mb(&r["after"]["file_bytes"]),
        r["after"]["events"],
        r["after"]["alerts"],
        r["steps"],
        num(&r["seconds"], 1),
        num(&r["step_ms"]["p50"], 1),
        num(&r["step_ms"]["p99"], 1),
        num(&r["step_ms"]["max"], 1),
        r["vacuum_steps"],
        num(&r["vacuum_ms"]["max"], 1),
    ));
    md
}

fn label(target: &str) -> &str {
    match target {
        "durable" => "sekoia-notifierd (durable)",
        "intake" => "intake only: same router and store, no pipeline",
        "bare" => "bare axum 202 (ceiling)",
        "fastapi" => "FastAPI + uvicorn (reference)",
        other => other,
    }
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "(met)"
    } else {
        "(missed)"
    }
}

fn ratio(a: Option<f64>, b: Option<f64>, show: impl Fn(f64) -> String) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => show(a / b),
        _ => "?".into(),
    }
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64().map_or("?".into(), |v| format!("{v:.digits$}"))
}

fn range(v: &Value, digits: usize) -> String {
    format!(
        "{} ({}-{})",
        num(&v["median"], digits),
        num(&v["min"], digits),
        num(&v["max"], digits)
    )
}

/// CPU model, cores, memory and kernel of this machine.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem_gib:.0} GiB, Linux {kernel}")
}

fn today() -> String {
    std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}
