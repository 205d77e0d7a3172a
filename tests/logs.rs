//! Bounded logs: a tunnel program that prints errors without pause (runs of
//! identical lines between distinct ones) for five seconds. Its output is
//! de-duplicated and rate-limited before it is logged, the log directory
//! stays small, and intake keeps answering 202 meanwhile.

use crate::fake_tunnels::script;
use crate::util::{Daemon, Dir};
use std::time::{Duration, Instant};

/// Total size of the files under `dir`.
fn size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_tunnel_printing_without_pause_keeps_the_logs_small_and_intake_answering() {
    let root = tempfile::tempdir().expect("tempdir");
    let count = root.path().join("printed");
    // Announces a URL, then prints forever: 1,000 identical errors, one
    // distinct line, and again; it counts the rounds it printed.
    let chatty = script(
        root.path(),
        "chatty-tunnel",
        &format!(
            "echo \"ready at http://127.0.0.1:$1\"\ni=0\nwhile :; do\n  yes 'ERR upstream refused the connection' | head -n 1000\n  i=$((i+1))\n  echo \"ERR attempt $i failed\"\n  echo $i > '{}'\ndone",
            count.display()
        ),
    );
    let dir = Dir::new(&format!(
        "[tunnel]\nkind = \"command\"\ncommand = \"{} {{port}}\"\nselftest_interval = 0\n",
        chatty.display()
    ));
    let d = Daemon::start(&dir);
    let started = Instant::now();
    let mut posted = 0;
    while started.elapsed() < Duration::from_secs(5) {
        let body = format!(
            r#"{{"type":"alert","action":"created","attributes":{{"uuid":"00000000-0000-4000-8000-{posted:012}","short_id":"AL{posted}"}},"metadata":{{"version":2,"created_at":1764380000}}}}"#
        );
        assert_eq!(d.post(&body), 202, "{}", d.log_text());
        posted += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    // The script rewrites the count all the time: a read may catch it empty.
    let rounds: u64 = (0..100)
        .find_map(|_| {
            let read = std::fs::read_to_string(&count).ok()?;
            read.trim().parse().ok().or_else(|| {
                std::thread::sleep(Duration::from_millis(1));
                None
            })
        })
        .unwrap_or(0);
    let printed = rounds * 1001;
    let logs = size(&dir.data().join("logs"));
    let stderr = d.log_text();
    eprintln!(
        "printed about {printed} lines in 5 s; log directory {logs} bytes, stderr {} bytes; {posted} POSTs answered 202",
        stderr.len()
    );
    assert!(
        printed > 10_000,
        "the program printed too little to test: {printed}\n{stderr}"
    );
    assert!(logs > 0, "no log file");
    assert!(logs < 256 * 1024, "the log directory grew to {logs} bytes");
    assert!(stderr.contains("(last line repeated"), "{stderr}");
    assert!(stderr.contains("not logged: too many too fast"), "{stderr}");
    assert_eq!(dir.feed().len(), posted as usize);
}
