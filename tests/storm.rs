//! Storms and hostile text with the real daemon, the fake Alert API and a
//! real-protocol notification server: a thousand queued alerts raise the
//! budget of pop-ups plus one summary and take a handful of API calls; alert
//! fields full of markup, scripts, bidi controls, NULs and 100 KB titles
//! reach the pop-up as inert, capped text.

use crate::enrich::{session, setup, setup_with};
use crate::util::Daemon;
use fake_sekoia::{alert_json, FakeSekoia};
use notifier_core::event::Event;
use notifier_core::store::Store;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn uuid(n: usize) -> String {
    format!("9b7d5e31-4c2a-4f6b-8d0e-{n:012}")
}

fn event(n: usize) -> String {
    crate::util::alert_with_short_id(&uuid(n), &format!("AL{n}"))
}

/// Stores events as intake would, before the daemon starts.
fn queue(data: &std::path::Path, events: impl Iterator<Item = String>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = Store::open(data).expect("store");
        for body in events {
            let event = Event::parse(body.as_bytes()).expect("event");
            store.writer().insert(event).await.expect("insert");
        }
        store.close().await;
    });
}

fn wait_all_enriched(dir: &crate::util::Dir, d: &Daemon, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let feed = dir.feed();
        if feed.len() == count && feed.iter().all(|e| e["enriched"] == true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not all enriched:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn a_storm_of_a_thousand_alerts_pops_up_the_budget_and_one_summary_in_a_dozen_calls() {
    let api = FakeSekoia::start_blocking();
    for n in 0..1000 {
        // One in a hundred is Urgent.
        let urgency = if n % 100 == 0 { 90 } else { 20 };
        api.add_alert(alert_json(
            &uuid(n),
            &format!("AL{n}"),
            &format!("storm {n}"),
            urgency,
        ));
    }
    let dir = setup(&api);
    queue(&dir.data(), (0..1000).map(event));
    let d = Daemon::start(&dir);
    wait_all_enriched(&dir, &d, 1000);
    let peak = peak_rss_kib(d.child.id());
    // The summary may still be on its way.
    std::thread::sleep(Duration::from_millis(500));
    let calls = session(&dir).popups(0);
    let distinct: BTreeSet<u32> = calls.iter().map(|c| c.returned_id).collect();
    assert_eq!(
        distinct.len(),
        16,
        "the ten Urgent alerts, the budget of 5 and one summary: {calls:?}"
    );
    for n in (0..1000).step_by(100) {
        assert!(
            calls.iter().any(|c| c.summary == format!("storm {n}")),
            "Urgent alert {n} was folded"
        );
    }
    let last = calls.last().expect("a pop-up");
    assert_eq!(last.summary, "985 new alerts, 985 Moderate — open feed");
    assert!(last.body.contains("985 Moderate"), "{}", last.body);
    let api_calls = api.requests().len();
    assert!(api_calls <= 12, "{api_calls} API calls for 1,000 alerts");
    eprintln!(
        "storm: 1,000 alerts, {api_calls} API calls, {} Notify calls, peak RSS {} KiB",
        calls.len(),
        peak.map_or("?".into(), |k| k.to_string())
    );
}

#[test]
fn hostile_alert_text_reaches_the_popup_inert_and_capped() {
    let api = FakeSekoia::start_blocking();
    let hostile = [
        "<b>bold</b><script>alert(1)</script>".to_owned(),
        "<a href=\"javascript:alert(1)\">click</a> javascript:alert(1)".to_owned(),
        "invoice\u{202E}gpj.exe\u{2066}x\u{200F}".to_owned(),
        "nul\u{0}byte\u{7}bell\u{1b}[31mred\nnewline".to_owned(),
        "é".repeat(100_000),
        "&amp; &lt;already&gt; <img src=x onerror=alert(1)>".to_owned(),
    ];
    for (n, title) in hostile.iter().enumerate() {
        let mut alert = alert_json(&uuid(n), &format!("AL{n}"), title, 50);
        alert["rule"]["name"] = serde_json::json!(format!("<i>{title}</i>"));
        alert["entity"]["name"] = serde_json::json!("<u>HQ</u>\u{202E}");
        api.add_alert(alert);
    }
    let dir = setup_with(&api, "[notify]\nstorm_budget = 20\n");
    let d = Daemon::start(&dir);
    for n in 0..hostile.len() {
        assert_eq!(d.post(&event(n)), 202);
    }
    let calls = session(&dir).popups(hostile.len());
    assert_eq!(calls.len(), hostile.len(), "{}", d.log_text());
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}');
    for call in &calls {
        for text in [&call.summary, &call.body] {
            assert!(
                !text
                    .chars()
                    .any(|c| bidi(c) || (c.is_control() && c != '\n')),
                "control or bidi character in {text:?}"
            );
        }
        assert!(
            call.summary.chars().count() <= 200,
            "{}",
            call.summary.len()
        );
        // The body goes to a markup server: no tag survives unescaped.
        assert!(
            !call.body.contains('<') && !call.body.contains('>'),
            "{}",
            call.body
        );
        assert!(call.body.contains("&lt;i&gt;"), "{}", call.body);
    }
    let long = calls
        .iter()
        .find(|c| c.summary.starts_with("éé"))
        .expect("the 100 KB title");
    assert!(long.summary.ends_with('…'), "{}", long.summary);
    assert!(long.summary.trim_end_matches('…').chars().all(|c| c == 'é'));
    let script = calls
        .iter()
        .find(|c| c.summary.contains("script"))
        .expect("the script title");
    // The summary is plain text by the spec: shown as written, never run.
    assert_eq!(script.summary, "<b>bold</b><script>alert(1)</script>");
    // Every entry still reaches the feed with its full text.
    let feed = dir.feed();
    assert!(feed.iter().any(|e| e["title"]
        .as_str()
        .is_some_and(|t| t.chars().count() == 100_000)));
}
