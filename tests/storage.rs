//! Storage refusals with the real daemon: a file-size limit reached while
//! serving (what a full disk looks like to SQLite, without root mounts) and
//! the database locked by another process. Each time intake answers 503
//! with Retry-After, never 500, takes events again by itself once the
//! condition clears, records the refused interval as a gap, and loses
//! nothing it answered 202.

use crate::util::{alert, Daemon, Dir, SECRET};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// POSTs `body` to the webhook; returns the status and the raw response.
fn post_raw(addr: SocketAddr, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "POST /hooks/{SECRET} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body.as_bytes()).expect("write body");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    (status, text)
}

fn assert_refused_honestly(raw: &str) {
    let lower = raw.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 10"), "{raw}");
    assert!(raw.contains("the store cannot take the event now"), "{raw}");
}

/// Sets the daemon's file-size limit (`None`: unlimited), as `prlimit`.
fn limit_file_size(daemon: &Daemon, bytes: Option<u64>) {
    let pid = libc::pid_t::try_from(daemon.child.id()).expect("pid");
    let cur = bytes.unwrap_or(libc::RLIM_INFINITY);
    let new = libc::rlimit {
        rlim_cur: cur,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit on a child we own, with a valid struct and no old one.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, &new, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

fn largest_file(root: &std::path::Path) -> u64 {
    let mut largest = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                largest = largest.max(meta.len());
            }
        }
    }
    largest
}

/// The gaps `feed --json --gaps` reports.
fn gaps(dir: &Dir) -> Vec<serde_json::Value> {
    let text = dir.stdout(&["feed", "--json", "--gaps"]);
    let json: serde_json::Value = serde_json::from_str(&text).expect("feed --json --gaps");
    json["gaps"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_full_disk_answers_503_with_retry_after_resumes_alone_and_loses_nothing() {
    let mut dir = Dir::new("");
    // Quiet logs: the limit applies to every file the daemon writes.
    dir.env
        .push(("SEKOIA_NOTIFIER_LOG".to_owned(), "warn".to_owned()));
    let daemon = Daemon::start(&dir);
    assert_eq!(daemon.post(&alert("disk-0")), 202);
    // A little room left, then the database cannot grow: SQLite's writes
    // fail with EFBIG as they would with ENOSPC.
    let room = largest_file(&dir.data()) + 64 * 1024;
    limit_file_size(&daemon, Some(room));
    let mut accepted = vec!["disk-0".to_owned()];
    let mut refused = None;
    for n in 1..3000 {
        let uuid = format!("disk-{n}");
        let (status, raw) = post_raw(daemon.addr, &alert(&uuid));
        match status {
            202 => accepted.push(uuid),
            503 => {
                assert_refused_honestly(&raw);
                refused = Some(uuid);
                break;
            }
            other => panic!("answered {other}, not 202 or 503:\n{raw}"),
        }
    }
    let refused = refused.expect("the database never hit the limit");
    // Still refused a moment later, and still 503 (never 500).
    let (status, raw) = post_raw(daemon.addr, &alert(&refused));
    assert_eq!(status, 503, "{raw}");

    // Room again: the same event is taken, with no restart.
    limit_file_size(&daemon, None);
    let (status, raw) = post_raw(daemon.addr, &alert(&refused));
    assert_eq!(status, 202, "{raw}");
    accepted.push(refused);

    let feed = dir.feed();
    let mut stored: Vec<String> = feed
        .iter()
        .filter_map(|e| e["uuid"].as_str().map(str::to_owned))
        .collect();
    stored.sort();
    accepted.sort();
    assert_eq!(stored, accepted, "every event answered 202 is in the feed");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = gaps(&dir).into_iter().any(|g| {
            g["reason"]
                .as_str()
                .is_some_and(|r| r.contains("the store refused events"))
        });
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no gap recorded: {:?}\n{}",
            gaps(&dir),
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        daemon.log_text().contains("the store refuses events"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn a_database_locked_by_another_process_answers_503_then_202() {
    let dir = Dir::new("");
    let daemon = Daemon::start(&dir);
    assert_eq!(daemon.post(&alert("lock-0")), 202);
    // This test process is the other process: it takes the write lock.
    let other =
        rusqlite::Connection::open(dir.data().join("notifier.sqlite3")).expect("open the database");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the lock");
    let started = Instant::now();
    let (status, raw) = post_raw(daemon.addr, &alert("lock-1"));
    assert_eq!(status, 503, "{raw}");
    assert_refused_honestly(&raw);
    assert!(raw.contains("locked by another process"), "{raw}");
    // The store's busy timeout was really waited before refusing.
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    other.execute_batch("ROLLBACK").expect("release the lock");
    drop(other);
    assert_eq!(daemon.post(&alert("lock-1")), 202);
    let uuids: Vec<String> = dir
        .feed()
        .iter()
        .filter_map(|e| e["uuid"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(uuids.len(), 2, "{uuids:?}");
}
