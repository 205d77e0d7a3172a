//! What the benchmark binaries share: median, min and max of repeated runs
//! as they report them, the alert event they post, and the daemon's or
//! app's readiness and webhook at the socket level.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// `{"median", "min", "max", "runs"}` of `values` (NaN for none).
pub fn summary(values: &[f64]) -> Value {
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len().saturating_sub(1) / 2).copied();
    json!({
        "median": median.map(round),
        "min": sorted.first().copied().map(round),
        "max": sorted.last().copied().map(round),
        "runs": values.iter().copied().map(round).collect::<Vec<_>>(),
    })
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// "12.3 (11.0-13.1)" for a summary.
pub fn text(s: &Value, digits: usize) -> String {
    let f = |k: &str| {
        s[k].as_f64()
            .map_or("?".into(), |v| format!("{v:.digits$}"))
    };
    format!("{} ({}-{})", f("median"), f("min"), f("max"))
}

/// The uuid of alert `n` (the fake API holds alerts under the same ones).
pub fn uuid(n: usize) -> String {
    format!("6b1e0c2a-0d3f-4a5b-8c7d-{n:012}")
}

/// A v2 "alert created" webhook body for alert `n`.
pub fn body(n: usize) -> String {
    format!(
        r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{}","short_id":"AL{n}"}},"metadata":{{"version":2,"created_at":{n}}}}}"#,
        uuid(n)
    )
}

/// The listen address `child` recorded in `data/instance.json` once it
/// serves; panics if it exits first or takes over 60 s.
pub fn wait_ready(data: &Path, child: &mut Child) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("exited early: {status}");
        }
        if let Some(addr) = std::fs::read_to_string(data.join("instance.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["listen"].as_str().and_then(|a| a.parse().ok()))
        {
            return addr;
        }
        assert!(Instant::now() < deadline, "did not start within 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// POSTs `body` to `/hooks/<secret>` on `addr`; the status code (0 if none).
pub fn post(addr: SocketAddr, secret: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    let req = format!(
        "POST /hooks/{secret} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("status line");
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
