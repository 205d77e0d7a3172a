//! `send-test`: a synthetic event through the webhook URL, confirmed in the
//! feed, or a message naming the leg that failed.

use crate::util::{report, Daemon, Dir};
use std::io::{Read, Write};
use std::time::Duration;

/// A stranger on loopback: answers 404 to everything and records each
/// connection's first bytes (the request head).
struct Stranger {
    addr: std::net::SocketAddr,
    got: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Stranger {
    fn on(listener: std::net::TcpListener) -> Stranger {
        let addr = listener.local_addr().unwrap();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = std::sync::Arc::clone(&got);
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                let mut buf = [0u8; 8192];
                let n = s.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                record.lock().unwrap().push(head);
                let _ = s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Stranger { addr, got }
    }

    fn start() -> Stranger {
        Stranger::on(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// Every connection's first bytes so far.
    fn got(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }
}

#[test]
fn send_test_goes_through_the_webhook_and_pops_up() {
    let dir = Dir::with_session("");
    let _d = Daemon::start(&dir);
    let out = dir.run(&["send-test"]);
    assert!(
        out.status.success(),
        "{}",
        report(&dir.command(&["send-test"]), &out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("reached the feed"), "{stdout}");
    // No tunnel and no public URL: it says so instead of "webhook works".
    assert!(
        stdout.contains("delivered locally; Sekoia.io cannot reach this machine yet (no tunnel)"),
        "{stdout}"
    );
    let feed = dir.feed();
    assert_eq!(feed[0]["type"], "notifier-test");
    assert_eq!(feed[0]["read"], true, "a test alert is never unread");
    let popups = dir.session.as_ref().expect("session").popups(1);
    assert_eq!(popups[0].summary, "Sekoia Notifier test alert");
    assert!(
        popups[0].body.contains("delivered locally") && !popups[0].body.contains("works"),
        "{}",
        popups[0].body
    );
}

#[test]
fn send_test_without_a_running_instance_says_to_start_one() {
    let dir = Dir::new("");
    let out = dir.run(&["send-test"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sekoia-notifierd serve"));
}

/// Runs `send-test` with the public URL at `port` on loopback; it must
/// fail with exit 1. Returns its stderr.
fn failing_send_test(port: u16) -> String {
    let dir = Dir::new(&format!(
        "[tunnel]\npublic_url = \"http://127.0.0.1:{port}\"\n"
    ));
    let _d = Daemon::start(&dir);
    let out = dir.run(&["send-test"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

#[test]
fn send_test_names_an_unreachable_public_url() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let stderr = failing_send_test(port);
    assert!(
        stderr.contains("cannot reach") && stderr.contains("tunnel"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(crate::util::SECRET),
        "the secret stays out of messages: {stderr}"
    );
}

#[test]
fn send_test_names_a_url_that_reaches_the_wrong_listener() {
    // Something else answers the public URL: a server that says 404.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in other.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let stderr = failing_send_test(port);
    assert!(
        stderr.contains("404") && stderr.contains("secret"),
        "{stderr}"
    );
}

#[test]
fn a_plain_http_url_a_tunnel_shows_is_never_sent_the_secret() {
    // The "public" end of the tunnel: records every connection it gets.
    let public = Stranger::start();
    let port = public.addr.port();
    let dir = Dir::new(&format!(
        "[tunnel]\nkind = \"command\"\ncommand = 'sh -c \"echo tunnel at http://127.0.0.1:{port}; exec sleep 600\"'\n"
    ));
    let d = Daemon::start(&dir);
    let text = crate::fake_tunnels::wait_until(20, "check to show the plain URL", || {
        let out = dir.run(&["check"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("plain http").then_some(text)
    });
    assert!(text.contains("FAIL  tunnel"), "{text}");
    // The URL is shown, with a warning.
    let out = dir.run(&["webhook-url"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("127.0.0.1:{port}/hooks/")));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plain http"));
    let out = dir.run(&["send-test"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("allow_plain_http"), "{stderr}");
    // Past the monitor's settle delay (2 s) after the URL appeared: no
    // self-test went out on its own either.
    std::thread::sleep(Duration::from_secs(4));
    let seen = public.got();
    assert!(
        seen.is_empty(),
        "something was sent to the plain URL: {seen:?}"
    );
    assert!(!d.log_text().contains(crate::util::SECRET));
}

#[test]
fn a_squatter_on_a_stale_instance_s_port_receives_nothing() {
    let dir = Dir::new("");
    let mut d = Daemon::start(&dir);
    let addr = d.addr;
    // A crash leaves instance.json behind, naming a port anyone may take.
    d.signal(libc::SIGKILL);
    d.wait(Duration::from_secs(10));
    assert!(dir.data().join("instance.json").exists());
    let squatter = Stranger::on(std::net::TcpListener::bind(addr).expect("take the recorded port"));
    let out = dir.run(&["send-test"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no running sekoia-notifierd"), "{stderr}");
    // Neither the URL nor a new secret goes to it.
    let url = dir.stdout(&["webhook-url"]);
    assert!(!url.contains(&format!(":{}/", addr.port())), "{url}");
    let out = dir.run(&["regenerate-secret"]);
    assert!(
        out.status.success(),
        "{}",
        report(&dir.command(&["regenerate-secret"]), &out)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        squatter.got(),
        Vec::<String>::new(),
        "the squatter was contacted"
    );
}

#[test]
fn a_fake_agent_api_s_url_is_asked_for_the_proof_and_never_sent_the_secret() {
    use crate::fake_tunnels::{script, wait_until, with_path, FakeApi};
    // The stranger's "public" URL: answers 404 and records every request.
    let stranger = Stranger::start();
    let stranger_port = stranger.addr.port();
    // A process answering on the agent API port our ngrok announces.
    let agent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let agent_addr = agent.local_addr().unwrap();
    let mut dir =
        Dir::new("[tunnel]\nkind = \"ngrok\"\nselftest_interval = 1\nallow_plain_http = true\n");
    let bin = dir.tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    script(
        &bin,
        "ngrok",
        &format!(
            "echo 't=2024-05-01T10:00:00+0000 lvl=info msg=\"starting web service\" obj=web addr={agent_addr} allow_hosts=[]'\nexec sleep 600"
        ),
    );
    with_path(&mut dir, &bin);
    let d = Daemon::start(&dir);
    let port = d.addr.port();
    let _api = FakeApi::serve(
        agent,
        "/api/tunnels",
        format!(
            r#"{{"tunnels":[{{"name":"command_line","public_url":"http://127.0.0.1:{stranger_port}","proto":"http","config":{{"addr":"http://localhost:{port}"}}}}]}}"#
        ),
    );
    // The self-test line first, the tunnel's words (instance.json) just
    // after: wait for both.
    wait_until(30, "check to call the URL unreachable", || {
        let out = dir.run(&["check"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let tunnel = text.lines().find(|l| l.contains(" tunnel "))?.to_owned();
        (text.contains("does not lead to this instance") && tunnel.starts_with("FAIL"))
            .then_some(())
    });
    let out = dir.run(&["send-test"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the secret was not sent"), "{stderr}");
    let heads = stranger.got();
    assert!(
        heads.iter().any(|h| h.starts_with("GET /proof/")),
        "the proof was asked: {heads:?}"
    );
    assert!(
        heads.iter().all(|h| !h.contains(crate::util::SECRET)),
        "the secret reached the stranger: {heads:?}"
    );
}
