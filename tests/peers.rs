//! Peers that are not what they first seem, with the real daemon: another
//! project's ngrok agent on the well-known 127.0.0.1:4040; a cloudflared
//! whose process and metrics live on while its hostname no longer reaches
//! us.

use crate::fake_tunnels::{public_webhook_url, script, wait_until, with_path, FakeApi};
use crate::util::{Daemon, Dir, SECRET};
use std::net::TcpListener;

#[test]
fn another_projects_ngrok_agent_on_4040_is_never_taken_for_ours() {
    // The other project's agent holds the well-known address, with its own
    // tunnel to its own app on port 3000.
    let other_listener = wait_until(30, "127.0.0.1:4040 to be free", || {
        TcpListener::bind("127.0.0.1:4040").ok()
    });
    let _other = FakeApi::serve(
        other_listener,
        "/api/tunnels",
        r#"{"tunnels":[{"name":"command_line","public_url":"https://other-project.ngrok-free.app","proto":"https","config":{"addr":"http://localhost:3000","inspect":true}}],"uri":"/api/tunnels"}"#.to_owned(),
    );
    // Ours starts its API elsewhere and says so in its output.
    let ours_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let ours_addr = ours_listener.local_addr().expect("addr");
    let mut dir = Dir::new("[tunnel]\nkind = \"ngrok\"\nselftest_interval = 0\n");
    let bin = dir.tmp.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    script(
        &bin,
        "ngrok",
        &format!(
            r#"echo 't=2024-05-01T10:00:00+0000 lvl=warn msg="failed to start web service" obj=web err="listen tcp 127.0.0.1:4040: bind: address already in use"'
echo 't=2024-05-01T10:00:00+0000 lvl=info msg="starting web service" obj=web addr={ours_addr} allow_hosts=[]'
exec sleep 600"#
        ),
    );
    with_path(&mut dir, &bin);
    let d = Daemon::start(&dir);
    let port = d.addr.port();
    // Our agent also runs a tunnel of the other project (a shared config):
    // only the one to our listener's port is ours.
    let _ours = FakeApi::serve(
        ours_listener,
        "/api/tunnels",
        format!(
            r#"{{"tunnels":[{{"name":"theirs","public_url":"https://also-theirs.ngrok-free.app","proto":"https","config":{{"addr":"http://localhost:3000"}}}},{{"name":"command_line","public_url":"https://ours-1a2b.ngrok-free.app","proto":"https","config":{{"addr":"http://localhost:{port}","inspect":true}}}}],"uri":"/api/tunnels"}}"#
        ),
    );
    let url = public_webhook_url(&dir, &d);
    assert_eq!(
        url,
        format!("https://ours-1a2b.ngrok-free.app/hooks/{SECRET}")
    );
    let log = d.log_text();
    assert!(!log.contains("other-project"), "{log}");
    assert!(!log.contains("also-theirs"), "{log}");
}

#[test]
fn a_cloudflared_whose_hostname_no_longer_reaches_us_is_unreachable_restarted_and_a_gap() {
    // The hostname the metrics give leads nowhere (a closed loopback port,
    // as a quick tunnel the edge stopped serving): every self-test fails.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = closed.local_addr().expect("addr");
    drop(closed);
    let mut dir = Dir::new("[tunnel]\nkind = \"cloudflared\"\nselftest_interval = 1\n");
    let bin = dir.tmp.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    let args = dir.tmp.path().join("cloudflared.args");
    let runs = dir.tmp.path().join("runs");
    // The metrics server every run announces stays alive across restarts.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the metrics address");
    let metrics = listener.local_addr().expect("metrics address");
    let _metrics = FakeApi::serve(
        listener,
        "/quicktunnel",
        format!(r#"{{"hostname":"{dead}"}}"#),
    );
    script(
        &bin,
        "cloudflared",
        &format!(
            r#"echo "$@" > '{args}'
echo run >> '{runs}'
echo '2024-05-01T10:00:01Z INF Starting metrics server on {metrics}/metrics' >&2
echo '2024-05-01T10:00:01Z INF Registered tunnel connection connIndex=0 connection=4b1c location=cdg01 protocol=quic' >&2
exec sleep 600"#,
            args = args.display(),
            runs = runs.display()
        ),
    );
    with_path(&mut dir, &bin);
    let d = Daemon::start(&dir);
    let argv = wait_until(20, "cloudflared to be started", || {
        std::fs::read_to_string(&args)
            .ok()
            .filter(|a| a.ends_with('\n'))
    });
    assert!(argv.contains("--metrics 127.0.0.1:0"), "{argv}");

    // Not "up": `check` says unreachable and fails.
    let check = wait_until(30, "check to say unreachable", || {
        let out = dir.run(&["check"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("cloudflared: unreachable through")
            .then_some((out, text))
    });
    assert!(!check.0.status.success(), "{}", check.1);
    assert!(!check.1.contains("ok    tunnel"), "{}", check.1);
    let status = dir.stdout(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&status).expect("status --json");
    let warning = json["health"]["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("cannot reach it through"), "{status}");

    // Restarted after three failures in a row; the new run is read afresh.
    wait_until(60, "a second cloudflared run", || {
        let n = std::fs::read_to_string(&runs)
            .unwrap_or_default()
            .lines()
            .count();
        (n >= 2).then_some(())
    });

    assert!(
        d.log_text()
            .contains("delivery self-tests in a row failed through the tunnel; restarting it"),
        "{}",
        d.log_text()
    );
    // The outage is a gap for the catch-up.
    crate::fake_tunnels::wait_for_gap(&dir, 20, |g| {
        g["reason"]
            .as_str()
            .is_some_and(|r| r.contains("unreachable") || r.contains("self-test failed"))
    });
}

/// An agent API that accepts connections and, until `answer` is set, never
/// says a word (each stream is kept open); then answers `body` to any GET.
struct SilentApi {
    answer: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SilentApi {
    fn serve(listener: TcpListener, body: String) -> SilentApi {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, Ordering};
        let answer = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&answer);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for mut stream in listener.incoming().flatten() {
                if !flag.load(Ordering::SeqCst) {
                    held.push(stream);
                    continue;
                }
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        SilentApi { answer }
    }

    fn start_answering(&self) {
        self.answer.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_tunnel_agent_api_that_never_answers_holds_up_nothing() {
    let api_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let api_addr = api_listener.local_addr().expect("addr");
    let mut dir = Dir::new("[tunnel]\nkind = \"ngrok\"\nselftest_interval = 0\n");
    let bin = dir.tmp.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    script(
        &bin,
        "ngrok",
        &format!(
            r#"echo 't=2024-05-01T10:00:00+0000 lvl=info msg="starting web service" obj=web addr={api_addr} allow_hosts=[]'
exec sleep 600"#
        ),
    );
    with_path(&mut dir, &bin);
    let mut d = Daemon::start(&dir);
    let port = d.addr.port();
    let api = SilentApi::serve(
        api_listener,
        format!(
            r#"{{"tunnels":[{{"name":"command_line","public_url":"https://late-1a2b.ngrok-free.app","proto":"https","config":{{"addr":"http://localhost:{port}"}}}}],"uri":"/api/tunnels"}}"#
        ),
    );
    // The API says nothing: the listener answers, alerts are stored, and
    // the tunnel is honestly not up.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(d.post(&crate::util::alert("while-silent")), 202);
    assert!(dir.feed().iter().any(|e| e["uuid"] == "while-silent"));
    let status = dir.stdout(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&status).expect("status --json");
    assert_eq!(json["tunnel"], "starting", "{status}");
    let warning = json["health"]["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("The tunnel is starting"), "{status}");

    // It answers: the URL is ours.
    api.start_answering();
    let url = public_webhook_url(&dir, &d);
    assert_eq!(
        url,
        format!("https://late-1a2b.ngrok-free.app/hooks/{SECRET}")
    );

    // And a stop is in time.
    d.signal(libc::SIGTERM);
    let started = std::time::Instant::now();
    assert_eq!(d.wait(std::time::Duration::from_secs(15)), Some(0));
    assert!(started.elapsed() <= std::time::Duration::from_secs(10));
}
