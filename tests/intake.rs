//! The webhook endpoint's contract (DESIGN.md §3) over a real socket.

use crate::util::{alert, http, Daemon, Dir, SECRET};

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn every_status_code_of_the_contract_holds() {
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    let hook = d.hook();

    assert_eq!(d.post(&alert("a-202")), 202);

    for body in ["", "{", "[1,2]", "null", "\"alert\"", "\u{feff}{}"] {
        let (status, text) = http(d.addr, "POST", &hook, &[JSON], body.as_bytes());
        assert_eq!(status, 400, "{body:?}");
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{text}");
    }
    let invalid_utf8 = [b'{', b'"', 0xff, b'"', b'}'];
    assert_eq!(http(d.addr, "POST", &hook, &[JSON], &invalid_utf8).0, 400);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(http(d.addr, "POST", &hook, &[JSON], deep.as_bytes()).0, 400);

    for path in [
        "/",
        "/hooks",
        "/hooks/",
        "/hooks/nope",
        &format!("/hooks/{SECRET}x"),
        &format!("/hooks/{}", &SECRET[1..]),
        "/favicon.ico",
    ] {
        let (status, body) = http(d.addr, "POST", path, &[JSON], alert("x").as_bytes());
        assert_eq!((status, body.as_str()), (404, ""), "{path}");
        let (status, _) = http(d.addr, "GET", path, &[], b"");
        assert_eq!(status, 404, "GET {path}");
    }

    for method in ["GET", "PUT", "DELETE"] {
        assert_eq!(http(d.addr, method, &hook, &[], b"").0, 405, "{method}");
    }

    for ctype in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let (status, _) = http(
            d.addr,
            "POST",
            &hook,
            &[("Content-Type", ctype)],
            alert("x").as_bytes(),
        );
        assert_eq!(status, 415, "{ctype}");
    }
    assert_eq!(
        http(d.addr, "POST", &hook, &[], alert("x").as_bytes()).0,
        415,
        "no content type"
    );

    let big = format!(
        r#"{{"type":"alert","action":"created","attributes":{{"uuid":"big"}},"pad":"{}"}}"#,
        "x".repeat(1 << 20)
    );
    assert_eq!(http(d.addr, "POST", &hook, &[JSON], big.as_bytes()).0, 413);
    let just_fits = format!(
        r#"{{"type":"alert","action":"created","attributes":{{"uuid":"fits"}},"pad":"{}"}}"#,
        "x".repeat((1 << 20) - 100)
    );
    assert_eq!(
        http(d.addr, "POST", &hook, &[JSON], just_fits.as_bytes()).0,
        202
    );

    let uuids: Vec<String> = dir
        .feed()
        .iter()
        .map(|e| e["uuid"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        uuids,
        ["fits", "a-202"],
        "only the accepted events are in the feed"
    );
}

#[test]
fn chunked_body_over_the_limit_is_413() {
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    let chunk = "x".repeat(64 * 1024);
    let mut body = String::new();
    for _ in 0..20 {
        body.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    body.push_str("0\r\n\r\n");
    let status = chunked(&d, &body);
    assert_eq!(status, 413);
}

fn chunked(d: &Daemon, body: &str) -> u16 {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(d.addr).expect("connect");
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        d.hook()
    );
    s.write_all(head.as_bytes()).expect("head");
    let _ = s.write_all(body.as_bytes());
    crate::util::read_response(&mut s).0
}

#[test]
fn redelivered_event_is_stored_once() {
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    for _ in 0..3 {
        assert_eq!(d.post(&alert("same-uuid")), 202);
    }
    let updated = alert("same-uuid").replace("\"created\"", "\"updated\"");
    assert_eq!(d.post(&updated), 202);
    // Three deliveries of one notification are one event; the update is
    // another event about the same alert, which joins its feed row.
    let feed = dir.feed();
    assert_eq!(feed.len(), 1, "{feed:?}");
    assert_eq!(feed[0]["action"], "updated");
    let status: serde_json::Value =
        serde_json::from_str(&dir.stdout(&["status", "--json"])).expect("status JSON");
    assert_eq!(status["events"]["stored"], 2, "{status:#}");
}

#[test]
fn unknown_types_actions_and_versions_are_accepted_and_listed() {
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    let bodies = [
        r#"{"type":"case","action":"merged","attributes":{"uuid":"case-1","short_id":"CA1"},"metadata":{"version":2}}"#,
        r#"{"type":"alert-comment","action":"created","attributes":{"uuid":"com-1"},"metadata":{"version":3,"new":[1]},"extra":{"a":null}}"#,
        r#"{"type":"content-proposal","action":"deleted","attributes":{"uuid":"cp-1"}}"#,
    ];
    for body in bodies {
        assert_eq!(d.post(body), 202, "{body}");
    }
    let feed = dir.feed();
    let kinds: Vec<&str> = feed.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["content-proposal", "alert-comment", "case"]);
    for field in [
        "id",
        "type",
        "action",
        "uuid",
        "short_id",
        "received_at",
        "title",
        "urgency",
        "urgency_display",
        "status",
        "rule",
        "entity",
        "url",
        "enriched",
        "read",
    ] {
        assert!(
            feed[0].get(field).is_some(),
            "feed entries carry `{field}`: {}",
            feed[0]
        );
    }
}

#[test]
fn the_secret_never_appears_in_the_log() {
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    assert_eq!(d.post(&alert("logged")), 202);
    assert_eq!(http(d.addr, "POST", &d.hook(), &[JSON], b"{").0, 400);
    assert_eq!(
        http(d.addr, "GET", &format!("/hooks/{SECRET}zz"), &[], b"").0,
        404
    );
    d.signal(libc::SIGTERM);
    let mut d = d;
    assert_eq!(d.wait(std::time::Duration::from_secs(20)), Some(0));
    let log = d.log_text();
    assert!(
        log.contains("event stored"),
        "the log says what happened:\n{log}"
    );
    assert!(
        !log.contains(SECRET),
        "the secret leaked into the log:\n{log}"
    );
}

#[test]
fn stalled_clients_are_cut_off_by_the_timeouts() {
    use std::io::{Read, Write};
    let dir = Dir::new("");
    let d = Daemon::start(&dir);
    let started = std::time::Instant::now();
    // Half a request line, then silence: the header-read timeout closes it.
    let mut headers = std::net::TcpStream::connect(d.addr).expect("connect");
    headers.write_all(b"POST /hooks/").expect("write");
    // Full headers, a promised body that never comes: the body timeout.
    let mut body = std::net::TcpStream::connect(d.addr).expect("connect");
    let head = format!("POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"type\"", d.hook());
    body.write_all(head.as_bytes()).expect("write");
    for s in [&headers, &body] {
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
    }
    let mut buf = Vec::new();
    let _ = headers.read_to_end(&mut buf);
    assert!(
        buf.is_empty() || String::from_utf8_lossy(&buf).contains("408"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    let (status, _) = crate::util::read_response(&mut body);
    assert_eq!(status, 408);
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(25),
        "cut off after {waited:?}"
    );
    // The listener still serves others.
    assert_eq!(d.post(&alert("after-stall")), 202);
}
