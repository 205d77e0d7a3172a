//! Delivery health across processes: the periodic self-test through the
//! public URL and `check` showing it, the interval the daemon was not
//! running as a gap in the feed, and `regenerate-secret`.

use crate::fake_tunnels::{wait_for_gap, wait_until};
use crate::util::{alert, http, Daemon, Dir, SECRET};
use std::time::Duration;

/// A `command` tunnel whose public URL is the listener itself, so that
/// self-tests through it really pass through the listener (plain http on
/// loopback: accepted with `allow_plain_http`).
fn loopback_tunnel(extra: &str) -> Dir {
    Dir::new(&format!(
        "[tunnel]\nkind = \"command\"\nallow_plain_http = true\ncommand = 'sh -c \"echo ready at http://127.0.0.1:{{port}}; exec sleep 600\"'\n{extra}"
    ))
}

/// The `self-test` line of `check`.
fn selftest_line(dir: &Dir) -> String {
    let out = dir.run(&["check"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains("self-test"))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn the_periodic_self_test_goes_through_the_public_url_and_check_shows_it() {
    let dir = loopback_tunnel("selftest_interval = 1\n");
    let d = Daemon::start(&dir);
    let first = wait_until(30, "a passed self-test in check", || {
        let line = selftest_line(&dir);
        line.starts_with("ok    self-test passed at")
            .then_some(line)
    });
    assert!(first.contains("delivered through 127.0.0.1"), "{first}");
    // A later periodic run replaces it with a newer time.
    let later = wait_until(30, "a newer self-test", || {
        let line = selftest_line(&dir);
        (line.starts_with("ok    self-test passed at") && line != first).then_some(line)
    });
    assert!(later > first, "{first}\n{later}");
    // The engine's own probes (two passed by now) do not pile up in the
    // feed: at most the one in flight right now is there.
    let feed = dir.feed();
    let probes = feed.iter().filter(|e| e["type"] == "notifier-test").count();
    assert!(probes <= 1, "{feed:?}");
    // A test the user asks for stays.
    dir.stdout(&["send-test"]);
    assert!(dir.feed().iter().any(|e| e["type"] == "notifier-test"));
    drop(d);
}

#[test]
fn the_time_the_daemon_was_not_running_is_a_gap_in_the_feed() {
    let dir = loopback_tunnel("");
    let mut d = Daemon::start(&dir);
    wait_until(30, "a passed self-test", || {
        selftest_line(&dir)
            .starts_with("ok    self-test passed")
            .then_some(())
    });
    assert_eq!(d.post(&alert("before-the-crash")), 202);
    // A crash: no clean stop, no last words.
    d.signal(libc::SIGKILL);
    d.wait(Duration::from_secs(10));
    std::fs::remove_file(dir.data().join("instance.json")).expect("stale instance.json");
    std::thread::sleep(Duration::from_millis(1500));
    let d = Daemon::start(&dir);
    let gaps = wait_for_gap(&dir, 30, |g| {
        g["reason"].as_str().unwrap_or("").contains("not running") && g["ongoing"] == false
    });
    assert!(gaps.iter().all(|g| g["type"] == "gap"), "{gaps:?}");
    // `feed --json` alone keeps its contract: an array of entries.
    let entries = dir.feed();
    assert!(entries.iter().any(|e| e["uuid"] == "before-the-crash"));
    assert!(entries.iter().all(|e| e["type"] != "gap"));
    let table = dir.stdout(&["feed"]);
    assert!(
        table.contains("no webhook delivery possible from"),
        "{table}"
    );
    assert!(table.contains("was not running"), "{table}");
    drop(d);
}

#[test]
fn regenerate_secret_prints_a_new_url_and_the_running_daemon_drops_the_old_one_at_once() {
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    let out = dir.run(&["regenerate-secret"]);
    assert!(out.status.success(), "{out:?}");
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let new_path = url
        .split_once(&format!("127.0.0.1:{}", d.addr.port()))
        .map(|(_, p)| p.to_owned())
        .unwrap_or_else(|| panic!("{url}"));
    assert!(
        new_path.starts_with("/hooks/") && !new_path.contains(SECRET),
        "{url}"
    );
    assert!(stderr.contains("the old URL stops working"), "{stderr}");
    assert!(stderr.contains("now answers only the new URL"), "{stderr}");
    let config = std::fs::read_to_string(dir.config()).expect("config");
    assert!(!config.contains(SECRET), "{config}");

    // No restart: the running daemon switched.
    let body = alert("after-regenerate");
    let post = |path: &str| {
        http(
            d.addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .0
    };
    assert_eq!(
        post(&format!("/hooks/{SECRET}")),
        404,
        "the old URL is dead"
    );
    assert_eq!(post(&new_path), 202);
    assert_eq!(dir.stdout(&["webhook-url"]).trim(), url);
    assert!(
        !d.log_text()
            .contains(new_path.trim_start_matches("/hooks/")),
        "the new secret is never logged"
    );
}

#[test]
fn a_reload_with_a_broken_config_keeps_the_current_secret_and_says_why() {
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    std::fs::write(dir.config(), "[listener\nhook_secret = 3").expect("break the config");
    d.signal(libc::SIGHUP);
    wait_until(10, "the reload to be refused in the log", || {
        d.log_text().contains("config not reloaded").then_some(())
    });
    assert_eq!(d.post(&alert("still-the-old-secret")), 202);
}
