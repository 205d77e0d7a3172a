//! The daemon supervising tunnel programs that cannot reach their service
//! from here: fake `cloudflared` and `ngrok` scripts on PATH that print
//! recorded output, with their metrics / agent API faked on loopback; a
//! command that prints a URL, exits and prints a new one; a command that
//! exits at once.

use crate::util::{alert, report, Daemon, Dir, SECRET};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Writes an executable shell script `name` into `dir`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// Puts `bin` first on the daemon's PATH.
pub(crate) fn with_path(dir: &mut Dir, bin: &Path) {
    let path = std::env::var("PATH").unwrap_or_default();
    dir.env
        .push(("PATH".to_owned(), format!("{}:{path}", bin.display())));
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub fn wait_until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A loopback HTTP server answering `GET path` with a JSON body (404
/// otherwise), like cloudflared's metrics or ngrok's agent API.
pub(crate) struct FakeApi {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeApi {
    pub(crate) fn serve(listener: TcpListener, path: &'static str, body: String) -> FakeApi {
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let asked = head.split_whitespace().nth(1).unwrap_or("");
                let (status, text) = if asked == path {
                    ("200 OK", body.as_str())
                } else {
                    ("404 Not Found", "{}")
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        FakeApi {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The gaps of `feed --json --gaps` once one matches `pred`.
pub fn wait_for_gap(
    dir: &Dir,
    secs: u64,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    wait_until(secs, "a matching gap in feed --json --gaps", || {
        let text = dir.stdout(&["feed", "--json", "--gaps"]);
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let gaps = v["gaps"].as_array().cloned().unwrap_or_default();
        gaps.iter().any(&pred).then_some(gaps)
    })
}

/// `webhook-url` once it is not the local one any more.
pub(crate) fn public_webhook_url(dir: &Dir, d: &Daemon) -> String {
    let local = format!("http://127.0.0.1:{}/", d.addr.port());
    wait_until(20, "a public webhook URL", || {
        let url = dir.stdout(&["webhook-url"]).trim().to_owned();
        (!url.starts_with(&local)).then_some(url)
    })
}

#[test]
fn a_cloudflared_quick_tunnel_on_path_gets_its_url_from_the_metrics_endpoint() {
    let mut dir = Dir::new("[tunnel]\nkind = \"cloudflared\"\nselftest_interval = 0\n");
    let bin = dir.tmp.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    let args = dir.tmp.path().join("cloudflared.args");
    // The metrics server the fake cloudflared "bound" (it names it).
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the metrics address");
    let metrics = listener.local_addr().expect("metrics address");
    let _api = FakeApi::serve(
        listener,
        "/quicktunnel",
        r#"{"hostname":"seasonal-deck-organisms-sf.trycloudflare.com"}"#.to_owned(),
    );
    // Recorded cloudflared 2024 output, without the banner that names the
    // URL: the URL must come from the metrics endpoint it announces.
    script(
        &bin,
        "cloudflared",
        &format!(
            r#"echo "$@" > '{args}'
echo '2024-05-01T10:00:00Z INF Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare account, is a quick way to experiment and try it out.' >&2
echo '2024-05-01T10:00:00Z INF Requesting new quick Tunnel on trycloudflare.com...' >&2
echo '2024-05-01T10:00:01Z INF Version 2024.4.1' >&2
echo '2024-05-01T10:00:01Z INF Starting metrics server on {metrics}/metrics' >&2
echo '2024-05-01T10:00:01Z INF Registered tunnel connection connIndex=0 connection=4b1c location=cdg01 protocol=quic' >&2
exec sleep 600"#,
            args = args.display()
        ),
    );
    with_path(&mut dir, &bin);
    let d = Daemon::start(&dir);

    let argv = wait_until(20, "cloudflared to be started", || {
        std::fs::read_to_string(&args)
            .ok()
            .filter(|a| a.ends_with('\n'))
    });
    // An ephemeral metrics port of its own: none chosen here and freed.
    assert_eq!(
        argv,
        format!(
            "tunnel --no-autoupdate --url http://127.0.0.1:{} --metrics 127.0.0.1:0\n",
            d.addr.port()
        )
    );

    let url = public_webhook_url(&dir, &d);
    assert_eq!(
        url,
        format!("https://seasonal-deck-organisms-sf.trycloudflare.com/hooks/{SECRET}")
    );
    let check = dir.run(&["check"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("cloudflared: up at https://seasonal-deck-organisms-sf.trycloudflare.com/"),
        "{text}"
    );
}

#[test]
fn an_ngrok_tunnel_on_path_gets_its_url_from_the_agent_api() {
    // ngrok's agent API is on 127.0.0.1:4040; wait until no other run holds it.
    let listener = wait_until(30, "127.0.0.1:4040 to be free", || {
        TcpListener::bind("127.0.0.1:4040").ok()
    });
    let mut dir = Dir::new("[tunnel]\nkind = \"ngrok\"\nselftest_interval = 0\n");
    let bin = dir.tmp.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    let args = dir.tmp.path().join("ngrok.args");
    // Recorded `ngrok http PORT --log stdout` output.
    script(
        &bin,
        "ngrok",
        &format!(
            r#"echo "$@" > '{args}'
echo 't=2024-05-01T10:00:00+0000 lvl=info msg="open config file" path=/home/u/.config/ngrok/ngrok.yml err=nil'
echo 't=2024-05-01T10:00:00+0000 lvl=info msg="starting web service" obj=web addr=127.0.0.1:4040 allow_hosts=[]'
echo 't=2024-05-01T10:00:01+0000 lvl=info msg="client session established" obj=tunnels.session'
exec sleep 600"#,
            args = args.display()
        ),
    );
    with_path(&mut dir, &bin);
    let d = Daemon::start(&dir);
    let port = d.addr.port();
    let _api = FakeApi::serve(
        listener,
        "/api/tunnels",
        format!(
            r#"{{"tunnels":[{{"name":"command_line","ID":"0f8e","uri":"/api/tunnels/command_line","public_url":"https://1a2b-203-0-113-7.ngrok-free.app","proto":"https","config":{{"addr":"http://localhost:{port}","inspect":true}}}}],"uri":"/api/tunnels"}}"#
        ),
    );

    let url = public_webhook_url(&dir, &d);
    assert_eq!(
        url,
        format!("https://1a2b-203-0-113-7.ngrok-free.app/hooks/{SECRET}")
    );
    let argv = std::fs::read_to_string(&args).expect("ngrok args");
    assert_eq!(
        argv.trim(),
        format!("http {port} --log stdout --inspect=false")
    );
}

#[test]
fn a_tunnel_that_prints_a_url_exits_and_prints_a_new_one_is_followed_and_leaves_a_gap() {
    let dir = Dir::new("");
    let count = dir.tmp.path().join("runs");
    // Both URLs lead to the real listener, so the self-tests pass.
    let fake = script(
        dir.tmp.path(),
        "fake-tunnel",
        &format!(
            r#"n=$(cat '{c}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{c}'
if [ "$n" = 1 ]; then echo "tunnel ready at http://localhost:$1"; sleep 2; exit 0; fi
echo "tunnel ready at http://127.0.0.1:$1"
exec sleep 600"#,
            c = count.display()
        ),
    );
    std::fs::write(
        dir.config(),
        format!(
            "{}[tunnel]\nkind = \"command\"\nallow_plain_http = true\ncommand = \"{} {{port}}\"\n",
            std::fs::read_to_string(dir.config()).expect("config"),
            fake.display()
        ),
    )
    .expect("config");
    let d = Daemon::start(&dir);
    let port = d.addr.port();

    let first = public_webhook_url(&dir, &d);
    assert_eq!(first, format!("http://localhost:{port}/hooks/{SECRET}"));
    // The second URL looks like the local fallback `webhook-url` prints while
    // the tunnel is down, so wait until `check` says the tunnel is up at it.
    wait_until(20, "the tunnel up at the second URL", || {
        let out = dir.run(&["check"]);
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("command: up at http://127.0.0.1:{port}/"))
            .then_some(())
    });
    let second = dir.stdout(&["webhook-url"]).trim().to_owned();
    assert_eq!(second, format!("http://127.0.0.1:{port}/hooks/{SECRET}"));
    assert!(
        d.log_text().contains("public URL changed"),
        "{}",
        d.log_text()
    );

    // The restart left an interval without delivery, shown in the feed.
    let gaps = wait_for_gap(&dir, 20, |g| {
        g["reason"]
            .as_str()
            .unwrap_or("")
            .contains("tunnel was down")
    });
    let gap = gaps
        .iter()
        .find(|g| {
            g["reason"]
                .as_str()
                .unwrap_or("")
                .contains("exit status: 0")
        })
        .unwrap_or_else(|| panic!("{gaps:?}"));
    assert_eq!(gap["type"], "gap");
    assert!(gap["start"].as_str().unwrap_or("") < gap["end"].as_str().unwrap_or(""));
    let table = dir.stdout(&["feed"]);
    assert!(
        table.contains("no webhook delivery possible from"),
        "{table}"
    );
}

#[test]
fn a_command_tunnel_that_exits_at_once_fails_check_and_the_listener_keeps_working() {
    let dir = Dir::new("[tunnel]\nkind = \"command\"\ncommand = \"sh -c 'exit 3'\"\n");
    let d = Daemon::start(&dir);
    let text = wait_until(20, "check to report the exiting tunnel", || {
        let out = dir.run(&["check"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("exit status: 3").then_some((out, text))
    });
    let (out, text) = text;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        report(&dir.command(&["check"]), &out)
    );
    assert!(
        text.contains("FAIL  tunnel    command: restarting"),
        "{text}"
    );
    assert_eq!(d.post(&alert("listener-still-works")), 202);
    assert!(dir
        .feed()
        .iter()
        .any(|e| e["uuid"] == "listener-still-works"));
}
