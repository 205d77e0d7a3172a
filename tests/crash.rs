//! Crash safety with the real daemon: `kill -9` in the middle of a flood of
//! webhook POSTs, then a restart. Every event answered 202 must be in the
//! feed exactly once, and no alert may pop up twice.

use crate::util::{Daemon, Dir, SECRET};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const EVENTS: usize = 2000;
const CLIENTS: usize = 16;

fn uuid(n: usize) -> String {
    format!("1d4c7e2a-6b3f-4a8e-9c1d-{n:012}")
}

fn event(n: usize) -> String {
    crate::util::alert_with_short_id(&uuid(n), &format!("AL{n}"))
}

/// One POST; `None` when the connection failed or broke (the daemon died).
fn try_post(addr: SocketAddr, body: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let request = format!(
        "POST /hooks/{SECRET} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn every_acknowledged_event_survives_kill_9_once_and_pops_up_at_most_once() {
    // No API key: pop-ups say "Alert AL<n> created", one per event. The
    // largest storm budget on the shortest window keeps many of them single.
    // No intake rate limit (the line joins the [listener] table Dir writes):
    // the flood must reach the store.
    let dir = Dir::with_session(
        "max_requests_per_second = 0\n[notify]\nstorm_budget = 100\nstorm_window_secs = 1\n",
    );
    let first = Daemon::start(&dir);
    let addr = first.addr;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let acked = Arc::clone(&acked);
            let answered = Arc::clone(&answered);
            std::thread::spawn(move || {
                for n in (c..EVENTS).step_by(CLIENTS) {
                    if try_post(addr, &event(n)) == Some(202) {
                        acked.lock().expect("acked").push(n);
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Kill mid-way: after a third of the POSTs were answered.
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < EVENTS / 3 {
        assert!(Instant::now() < deadline, "the flood did not get going");
        std::thread::sleep(Duration::from_millis(1));
    }
    first.signal(libc::SIGKILL);
    for client in clients {
        client.join().expect("client thread");
    }
    drop(first);
    let acked: BTreeSet<usize> = acked.lock().expect("acked").iter().copied().collect();
    assert!(acked.len() >= EVENTS / 3, "{} acknowledged", acked.len());
    assert!(
        acked.len() < EVENTS,
        "the kill came too late to test anything"
    );

    let second = Daemon::start(&dir);
    let feed = dir.feed();
    let mut per_uuid: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &feed {
        *per_uuid
            .entry(entry["uuid"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let missing: Vec<usize> = acked
        .iter()
        .copied()
        .filter(|n| !per_uuid.contains_key(&uuid(*n)))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let doubled: Vec<_> = per_uuid.iter().filter(|(_, c)| **c > 1).collect();
    assert!(doubled.is_empty(), "stored twice: {doubled:?}");

    // Let the restarted pipeline handle what the first one left, then check
    // that no alert popped up twice across both runs.
    let session = dir.session.as_ref().expect("session");
    let mut seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(1500));
        let now = session.popups(0).len();
        if now == seen {
            break;
        }
        seen = now;
    }
    let mut shown: BTreeMap<String, usize> = BTreeMap::new();
    for call in session.popups(0) {
        if call.summary.starts_with("Alert AL") {
            *shown.entry(call.summary).or_default() += 1;
        }
    }
    assert!(
        !shown.is_empty(),
        "no alert pop-up at all:\n{}",
        second.log_text()
    );
    let twice: Vec<_> = shown.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "popped up twice: {twice:?}");
}
