use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;

use super::*;
use crate::settings::{TunnelKind, TunnelSecret, TunnelSettings};

// ---------------------------------------------------------------------------
// Helpers

/// Waits until the state matches `pred`; panics with the states seen.
async fn wait_for(
    rx: &mut watch::Receiver<TunnelState>,
    secs: u64,
    what: &str,
    pred: impl Fn(&TunnelState) -> bool,
) -> TunnelState {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let cur = rx.borrow_and_update().clone();
        if pred(&cur) {
            return cur;
        }
        seen.push(cur);
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("state channel closed while waiting for {what}; seen {seen:?}"),
            Err(_) => panic!("timed out after {secs}s waiting for {what}; seen {seen:?}"),
        }
    }
}

fn is_up(s: &TunnelState) -> bool {
    matches!(s, TunnelState::Up { .. })
}

fn up_url(s: TunnelState) -> Url {
    match s {
        TunnelState::Up { url } => url,
        other => panic!("expected Up, got {other:?}"),
    }
}

/// Writes an executable shell script.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn settings(kind: TunnelKind) -> TunnelSettings {
    TunnelSettings {
        kind,
        ..TunnelSettings::default()
    }
}

/// Serves `app` on 127.0.0.1:0.
async fn serve(app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

/// True once `pid` no longer runs (gone, or a zombie awaiting its reaper).
fn pid_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

async fn wait_pid_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pid_gone(pid) {
        assert!(Instant::now() < deadline, "process {pid} still runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The contents of a file a fake program writes, once it is complete.
async fn read_when_written(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the fake program never wrote {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------
// URL discovery on recorded outputs

#[test]
fn a_bore_listening_line_gives_a_plain_http_url() {
    let line = "2026-11-29T03:50:00.123456Z  INFO bore_cli::client: listening at 127.0.0.1:41234";
    assert_eq!(
        parse_bore_line(line).unwrap().as_str(),
        "http://127.0.0.1:41234/"
    );
    let coloured = "\u{1b}[2m2026-11-29T03:50:00Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2mbore_cli::client\u{1b}[0m\u{1b}[2m:\u{1b}[0m listening at bore.pub:12345\u{1b}[0m";
    assert_eq!(
        parse_bore_line(coloured).unwrap().as_str(),
        "http://bore.pub:12345/"
    );
}

#[test]
fn bore_lines_without_a_valid_host_and_port_give_nothing() {
    for line in [
        "2026-11-29T03:50:00Z  INFO bore_cli::client: connected to server",
        "listening at ",
        "listening at bore.pub",
        "listening at 127.0.0.1:99999",
        "listening at evil.example/path:80",
        "listening at user@evil.example:80",
        "listening at \u{1b}[31m",
        "",
    ] {
        assert_eq!(parse_bore_line(line), None, "{line:?}");
    }
    let long = format!("listening at {}:80", "a".repeat(100_000));
    assert_eq!(parse_bore_line(&long), None);
}

#[test]
fn the_cloudflared_banner_gives_the_trycloudflare_url() {
    let recorded = "\
2026-11-29T03:50:00Z INF Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare account, is a quick way to experiment and try it out. However, be aware that these account-less Tunnels have no uptime guarantee. If you intend to use Tunnels in production you should use a pre-created named tunnel by following: https://developers.cloudflare.com/cloudflare-one/connections/connect-networks
2026-11-29T03:50:00Z INF Requesting new quick Tunnel on trycloudflare.com...
2026-11-29T03:50:01Z INF +--------------------------------------------------------------------------------------------+
2026-11-29T03:50:01Z INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |
2026-11-29T03:50:01Z INF |  https://seasonal-deck-organisms-sf.trycloudflare.com                                      |
2026-11-29T03:50:01Z INF +--------------------------------------------------------------------------------------------+";
    let found: Vec<Url> = recorded
        .lines()
        .filter_map(parse_cloudflared_line)
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].as_str(),
        "https://seasonal-deck-organisms-sf.trycloudflare.com/"
    );
}

#[test]
fn cloudflared_lines_naming_other_hosts_give_nothing() {
    for line in [
        "2026-11-29T03:50:00Z ERR failed to request quick Tunnel: Post \"https://api.trycloudflare.com/tunnel\": dial tcp: lookup api.trycloudflare.com: no such host",
        "see https://x.trycloudflare.com.evil.example/",
        "see https://evil.example/a.trycloudflare.com",
        "see http://plain.trycloudflare.com",
        "see https://user@x.trycloudflare.com",
        "\u{1b}[31m garbage \u{0}\u{7} \u{1b}]0;title\u{7}",
    ] {
        assert_eq!(parse_cloudflared_line(line), None, "{line:?}");
    }
}

#[test]
fn the_quicktunnel_metrics_json_gives_an_https_url() {
    assert_eq!(
        parse_quicktunnel(br#"{"hostname":"abc-def.trycloudflare.com"}"#)
            .unwrap()
            .as_str(),
        "https://abc-def.trycloudflare.com/"
    );
    for body in [
        &br#"{"hostname":""}"#[..],
        br#"{"hostname":"evil.example/path"}"#,
        br#"{"hostname":"a b"}"#,
        br#"{"hostname":5}"#,
        br#"{}"#,
        b"not json",
        b"",
    ] {
        assert_eq!(
            parse_quicktunnel(body),
            None,
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn the_first_url_in_a_line_is_found_without_its_punctuation_or_colours() {
    let cases = [
        ("ready at https://a.example.test", "https://a.example.test/"),
        ("(see https://x.test/a).", "https://x.test/a"),
        ("\u{1b}[1mhttps://x.test\u{1b}[0m is up", "https://x.test/"),
        (
            "url=\"http://127.0.0.1:9000/p\" next https://y.test",
            "http://127.0.0.1:9000/p",
        ),
        ("http:// nothing then https://z.test", "https://z.test/"),
    ];
    for (line, want) in cases {
        assert_eq!(
            first_url(line).map(|u| u.to_string()).as_deref(),
            Some(want),
            "{line:?}"
        );
    }
    for line in [
        "ftp://x.test",
        "https://",
        "no url here",
        "https://u:p@x.test/",
    ] {
        assert_eq!(first_url(line), None, "{line:?}");
    }
    let long = format!("{} https://late.test", "x".repeat(200_000));
    assert_eq!(first_url(&long).unwrap().as_str(), "https://late.test/");
    let huge_url = format!("https://{}.test", "a".repeat(10_000));
    assert_eq!(first_url(&huge_url), None);
}

#[test]
fn ansi_sequences_and_control_characters_are_stripped() {
    assert_eq!(
        strip_ansi("\u{1b}[1;32mOK\u{1b}[0m\u{7}\r \u{1b}]0;t\u{7}done\u{0}"),
        "OK done"
    );
    // Line and paragraph separators and NEXT LINE cannot forge a log line.
    assert_eq!(
        strip_ansi("tunnel up\u{2028}\u{2029}\u{85}ERROR secret leaked"),
        "tunnel upERROR secret leaked"
    );
}

#[test]
fn command_lines_split_like_a_shell_without_running_one() {
    assert_eq!(
        split_words(r#"my-tunnel --port {port} 'a b' "c \"d\"" e\ f"#).unwrap(),
        vec!["my-tunnel", "--port", "{port}", "a b", "c \"d\"", "e f"]
    );
    assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
    assert!(split_words("a 'b").unwrap_err().contains("unclosed"));
    assert!(split_words("a \"b").unwrap_err().contains("unclosed"));
    assert!(split_words("a | b").unwrap_err().contains("shell operator"));
    assert_eq!(split_words("a '|' b").unwrap(), vec!["a", "|", "b"]);
}

#[test]
fn backoff_doubles_from_one_second_up_to_a_minute() {
    let secs: Vec<u64> = (1..=9).map(|a| backoff(a).as_secs()).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
}

#[tokio::test]
async fn output_lines_are_redacted_and_overlong_ones_cut() {
    let long = "z".repeat(MAX_LINE * 3);
    let input = format!("token=s3cr3t-value ok\n{long}\nafter\nno newline");
    let (tx, mut rx) = mpsc::channel(16);
    pump(input.as_bytes(), tx, vec!["s3cr3t-value".to_owned()]).await;
    let mut lines = Vec::new();
    while let Some(l) = rx.recv().await {
        lines.push(l);
    }
    assert_eq!(
        lines.len(),
        4,
        "{:?}",
        lines.iter().map(|l| l.len()).collect::<Vec<_>>()
    );
    assert_eq!(lines[0], "token=<redacted> ok");
    assert_eq!(lines[1].len(), MAX_LINE);
    assert_eq!(lines[2], "after");
    assert_eq!(lines[3], "no newline");
}

// ---------------------------------------------------------------------------
// Start-up errors

#[test]
fn a_program_missing_from_path_is_an_error_with_the_install_hint() {
    let err = resolve("no-such-tunnel-program-xyz", None, BORE_HINT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no-such-tunnel-program-xyz not found on PATH: install it with `cargo install bore-cli --locked`, or set tunnel.binary"
    );
}

#[tokio::test]
async fn a_command_whose_program_does_not_exist_is_an_error_with_a_hint() {
    let mut s = settings(TunnelKind::Command);
    s.command = Some("/nonexistent/dir/tunnel-prog --port {port}".to_owned());
    let err = Tunnel::start(&s, 8787).unwrap_err();
    assert!(matches!(err, TunnelError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("check the first word of tunnel.command"),
        "{err}"
    );
    s.command = Some("no-such-tunnel-program-xyz {port}".to_owned());
    let err = Tunnel::start(&s, 8787).unwrap_err();
    assert!(err.to_string().contains("not found on PATH"), "{err}");
}

#[tokio::test]
async fn a_configured_binary_that_does_not_exist_is_an_error_naming_the_key() {
    let mut s = settings(TunnelKind::Bore);
    s.server = Some("127.0.0.1".to_owned());
    s.binary = Some(PathBuf::from("/nonexistent/bore"));
    let err = Tunnel::start(&s, 8787).unwrap_err();
    assert!(matches!(err, TunnelError::BadBinary { .. }), "{err:?}");
    assert!(err.to_string().starts_with("tunnel.binary = "), "{err}");
}

#[tokio::test]
async fn bore_without_a_server_and_a_named_tunnel_without_public_url_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = script(dir.path(), "fake", "exec sleep 60");
    let mut s = settings(TunnelKind::Bore);
    s.binary = Some(fake.clone());
    let err = Tunnel::start(&s, 8787).unwrap_err();
    assert!(
        err.to_string().starts_with("`tunnel.server` is not set"),
        "{err}"
    );

    let mut s = settings(TunnelKind::Cloudflared);
    s.binary = Some(fake);
    s.token = Some(TunnelSecret::new("tok").unwrap());
    let err = Tunnel::start(&s, 8787).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`tunnel.public_url` is not set"),
        "{err}"
    );
}

#[tokio::test]
async fn a_command_with_a_shell_operator_is_refused() {
    let mut s = settings(TunnelKind::Command);
    s.command = Some("sh -c x | tee log".to_owned());
    let err = Tunnel::start(&s, 8787).unwrap_err();
    assert!(matches!(err, TunnelError::BadCommand(_)), "{err:?}");
}

// ---------------------------------------------------------------------------
// Supervision with fake programs

#[tokio::test]
async fn kind_none_is_up_at_the_public_url_or_off() {
    let mut s = settings(TunnelKind::None);
    let t = Tunnel::start(&s, 8787).unwrap();
    assert_eq!(*t.state().borrow(), TunnelState::Off);
    assert_eq!(t.child_pid(), None);
    t.stop().await;

    s.public_url = Some(Url::parse("https://hooks.example.com/").unwrap());
    let t = Tunnel::start(&s, 8787).unwrap();
    let mut rx = t.state();
    let url = up_url(wait_for(&mut rx, 5, "Up", is_up).await);
    assert_eq!(url.as_str(), "https://hooks.example.com/");
    assert_eq!(t.public_url(), Some(url));
    t.stop().await;
    assert_eq!(*rx.borrow(), TunnelState::Off);
}

#[tokio::test]
async fn a_command_tunnel_that_prints_a_new_url_after_a_restart_goes_up_again_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("count");
    let body = format!(
        r#"n=$(cat '{c}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{c}'
echo "port $1" >&2
if [ "$n" = 1 ]; then echo "ready at https://a.example.test"; sleep 1; exit 0; fi
echo "https://b.example.test"
exec sleep 60"#,
        c = count.display()
    );
    let fake = script(dir.path(), "fake-tunnel.sh", &body);
    let mut s = settings(TunnelKind::Command);
    s.command = Some(format!("sh '{}' {{port}}", fake.display()));
    let t = Tunnel::start(&s, 8787).unwrap();
    let mut rx = t.state();

    let a = up_url(wait_for(&mut rx, 10, "Up(a)", is_up).await);
    assert_eq!(a.as_str(), "https://a.example.test/");
    let r = wait_for(&mut rx, 10, "Restarting", |s| {
        matches!(s, TunnelState::Restarting { .. })
    })
    .await;
    match r {
        TunnelState::Restarting { reason, attempt } => {
            assert_eq!(attempt, 1);
            assert!(reason.contains("exit status: 0"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let b = up_url(wait_for(&mut rx, 10, "Up(b)", is_up).await);
    assert_eq!(b.as_str(), "https://b.example.test/");
    assert_eq!(t.public_url(), Some(b));
    let pid = t.child_pid().unwrap();
    t.stop().await;
    wait_pid_gone(pid).await;
}

#[tokio::test]
async fn a_command_that_exits_at_once_is_restarted_no_faster_than_the_backoff() {
    let mut s = settings(TunnelKind::Command);
    s.command = Some("sh -c 'exit 3'".to_owned());
    let t = Tunnel::start(&s, 8787).unwrap();
    let mut rx = t.state();
    let first = wait_for(&mut rx, 10, "Restarting 1", |s| {
        matches!(s, TunnelState::Restarting { attempt: 1, .. })
    })
    .await;
    let t1 = Instant::now();
    match first {
        TunnelState::Restarting { reason, .. } => {
            assert!(reason.contains("exit status: 3"), "{reason}");
            assert!(reason.contains("restarting in 1s"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let second = wait_for(&mut rx, 10, "Restarting 2", |s| {
        matches!(s, TunnelState::Restarting { attempt: 2, .. })
    })
    .await;
    let gap = t1.elapsed();
    assert!(gap >= Duration::from_millis(950), "restarted after {gap:?}");
    match second {
        TunnelState::Restarting { reason, .. } => {
            assert!(reason.contains("restarting in 2s"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    t.stop().await;
    assert_eq!(*rx.borrow(), TunnelState::Off);
}

#[tokio::test]
async fn a_program_that_cannot_be_executed_is_failed_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fake = script(dir.path(), "broken", "exit 0");
    std::fs::write(&fake, "#!/nonexistent/interpreter\n").unwrap();
    let mut s = settings(TunnelKind::Ngrok);
    s.binary = Some(fake);
    let t = Tunnel::start(&s, 8787).unwrap();
    let mut rx = t.state();
    let failed = wait_for(&mut rx, 10, "Failed", |s| {
        matches!(s, TunnelState::Failed { .. })
    })
    .await;
    match failed {
        TunnelState::Failed { reason } => {
            assert!(reason.starts_with("could not start ngrok"), "{reason}");
            assert!(reason.contains("trying again in 1s"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    t.stop().await;
}

#[tokio::test]
async fn stop_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild");
    let body = format!(
        "sleep 300 &\necho $! > '{p}.tmp'; mv '{p}.tmp' '{p}'\necho https://g.example.test\nwait",
        p = pidfile.display()
    );
    let fake = script(dir.path(), "group.sh", &body);
    let mut s = settings(TunnelKind::Command);
    s.command = Some(format!("sh '{}'", fake.display()));
    let t = Tunnel::start(&s, 8787).unwrap();
    let mut rx = t.state();
    wait_for(&mut rx, 10, "Up", is_up).await;
    let child = t.child_pid().unwrap();
    let grandchild: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!pid_gone(grandchild));
    t.stop().await;
    wait_pid_gone(child).await;
    wait_pid_gone(grandchild).await;
}

#[tokio::test]
async fn dropping_the_tunnel_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let fake = script(
        dir.path(),
        "drop.sh",
        "echo https://d.example.test\nexec sleep 300",
    );
    let mut s = settings(TunnelKind::Command);
    s.command = Some(format!("sh '{}'", fake.display()));
    let t = Tunnel::start(&s, 8787).unwrap();
    let mut rx = t.state();
    wait_for(&mut rx, 10, "Up", is_up).await;
    let pid = t.child_pid().unwrap();
    drop(t);
    wait_pid_gone(pid).await;
}

#[tokio::test]
async fn a_cloudflared_quick_tunnel_url_is_read_from_the_metrics_address_it_announces() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("args");
    let metrics = serve(Router::new().route(
        "/quicktunnel",
        get(|| async { r#"{"hostname":"abc-def.trycloudflare.com"}"# }),
    ))
    .await;
    // Recorded cloudflared 2024.4 lines: the metrics server it bound.
    let fake = script(
        dir.path(),
        "cloudflared",
        &format!(
            "echo \"$@\" > '{}'\necho '2024-05-01T10:00:01Z INF Starting metrics server on {metrics}/metrics' >&2\nexec sleep 60",
            args.display()
        ),
    );
    let mut s = settings(TunnelKind::Cloudflared);
    s.binary = Some(fake);
    let t = Tunnel::start_with(&s, 8787, &Overrides::default()).unwrap();
    let mut rx = t.state();
    let url = up_url(wait_for(&mut rx, 10, "Up", is_up).await);
    assert_eq!(url.as_str(), "https://abc-def.trycloudflare.com/");
    let argv = read_when_written(&args).await;
    assert_eq!(
        argv,
        "tunnel --no-autoupdate --url http://127.0.0.1:8787 --metrics 127.0.0.1:0\n"
    );
    t.stop().await;
}

#[test]
fn only_a_loopback_metrics_address_is_taken_from_cloudflared_output() {
    assert_eq!(
        cloudflared_metrics(
            "2024-05-01T10:00:01Z INF Starting metrics server on 127.0.0.1:41337/metrics"
        ),
        Some(SocketAddr::from(([127, 0, 0, 1], 41337)))
    );
    assert_eq!(
        cloudflared_metrics(
            "\u{1b}[90m2024\u{1b}[0m INF Starting metrics server on [::1]:20241/metrics"
        ),
        Some("[::1]:20241".parse().unwrap())
    );
    assert_eq!(
        cloudflared_metrics("INF Starting metrics server on 10.0.0.5:20241/metrics"),
        None
    );
    assert_eq!(
        cloudflared_metrics("INF Registered tunnel connection"),
        None
    );
    assert_eq!(
        cloudflared_metrics("INF Starting metrics server on nonsense"),
        None
    );
}

#[tokio::test]
async fn a_cloudflared_quick_tunnel_url_falls_back_to_the_stderr_banner() {
    let dir = tempfile::tempdir().unwrap();
    // No metrics line (or a metrics server that never answers): the banner.
    let fake = script(
        dir.path(),
        "cloudflared",
        "echo '2026-11-29T03:50:01Z INF |  https://quiet-fog-1.trycloudflare.com   |' >&2\nexec sleep 60",
    );
    let mut s = settings(TunnelKind::Cloudflared);
    s.binary = Some(fake);
    let t = Tunnel::start_with(&s, 8787, &Overrides::default()).unwrap();
    let mut rx = t.state();
    let url = up_url(wait_for(&mut rx, 10, "Up", is_up).await);
    assert_eq!(url.as_str(), "https://quiet-fog-1.trycloudflare.com/");
    t.stop().await;
}

#[tokio::test]
async fn a_named_cloudflared_tunnel_gets_its_token_from_the_environment_and_is_up_at_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let fake = script(
        dir.path(),
        "cloudflared",
        &format!(
            "echo \"$@ token=$TUNNEL_TOKEN\" > '{}'\nexec sleep 60",
            seen.display()
        ),
    );
    let mut s = settings(TunnelKind::Cloudflared);
    s.binary = Some(fake);
    s.token = Some(TunnelSecret::new("eyJhIjoi-token").unwrap());
    s.public_url = Some(Url::parse("https://hooks.example.com").unwrap());
    let t = Tunnel::start(&s, 8787).unwrap();
    let mut rx = t.state();
    let url = up_url(wait_for(&mut rx, 10, "Up", is_up).await);
    assert_eq!(url.as_str(), "https://hooks.example.com/");
    let text = read_when_written(&seen).await;
    assert_eq!(text, "tunnel --no-autoupdate run token=eyJhIjoi-token\n");
    t.stop().await;
}

#[tokio::test]
async fn an_ngrok_url_is_read_from_the_agent_api() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("args");
    let fake = script(
        dir.path(),
        "ngrok",
        &format!("echo \"$@\" > '{}'\nexec sleep 60", args.display()),
    );
    let api = serve(Router::new().route(
        "/api/tunnels",
        get(|| async {
            r#"{"tunnels":[{"public_url":"https://other.ngrok.app","config":{"addr":"http://localhost:3000"}},{"public_url":"http://x.ngrok.app","config":{"addr":"http://localhost:8787"}},{"public_url":"https://x.ngrok.app","config":{"addr":"http://localhost:8787"}}],"uri":"/api/tunnels"}"#
        }),
    ))
    .await;
    let mut s = settings(TunnelKind::Ngrok);
    s.binary = Some(fake);
    s.domain = Some("x.ngrok.app".to_owned());
    let ov = Overrides {
        ngrok_api: Some(api),
        ..Overrides::default()
    };
    let t = Tunnel::start_with(&s, 8787, &ov).unwrap();
    let mut rx = t.state();
    let url = up_url(wait_for(&mut rx, 10, "Up", is_up).await);
    assert_eq!(url.as_str(), "https://x.ngrok.app/");
    assert_eq!(
        read_when_written(&args).await,
        "http 8787 --log stdout --inspect=false --url x.ngrok.app\n"
    );
    t.stop().await;
}

// ---------------------------------------------------------------------------
// bore: a real tunnel on loopback

/// bore's control port is fixed (7835, no option to change it): only this
/// test in this binary uses bore, and it waits for the port to be free.
const BORE_CONTROL: u16 = 7835;
const BORE_SECRET: &str = "test-bore-secret-41";

/// `bore` on PATH, else in ~/.cargo/bin (where `cargo install` puts it).
fn find_bore() -> PathBuf {
    if let Ok(p) = resolve("bore", None, BORE_HINT) {
        return p;
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let candidate = home.map(|h| h.join("bin").join("bore"));
    match candidate {
        Some(p) if is_executable(&p) => p,
        _ => panic!(
            "bore is needed by this test and was found neither on PATH nor in ~/.cargo/bin: run `cargo install bore-cli --locked` (make test does it)"
        ),
    }
}

struct BoreServer(std::process::Child);

impl Drop for BoreServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_bore_server(bore: &Path) -> BoreServer {
    // Another run may still hold the port: wait for it rather than share.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", BORE_CONTROL)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "127.0.0.1:{BORE_CONTROL} (bore's fixed control port) is taken by another process"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(bore);
    // SAFETY: only prctl between fork and exec. The server must not outlive
    // a killed test run: it would hold the fixed control port.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            Ok(())
        });
    }
    let child = cmd
        .args([
            "server",
            "--bind-addr",
            "127.0.0.1",
            "--bind-tunnels",
            "127.0.0.1",
            "--min-port",
            "41000",
            "--max-port",
            "41999",
            "--secret",
            BORE_SECRET,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut server = BoreServer(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("bore server exited at once ({status}): is 127.0.0.1:{BORE_CONTROL} taken?");
        }
        if std::net::TcpStream::connect(("127.0.0.1", BORE_CONTROL)).is_ok() {
            return server;
        }
        assert!(Instant::now() < deadline, "bore server never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get_through(url: &Url) -> String {
    let resp = http().get(url.clone()).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.text().await.unwrap()
}

fn assert_bore_url(url: &Url) {
    assert_eq!(url.scheme(), "http");
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    let port = url.port().unwrap();
    assert!((41000..=41999).contains(&port), "{url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bore_tunnel_serves_the_listener_restarts_after_a_kill_and_leaves_nothing_behind() {
    let bore = find_bore();
    let _server = start_bore_server(&bore).await;
    let listener = serve(Router::new().route("/", get(|| async { "hello through bore" }))).await;

    let mut s = settings(TunnelKind::Bore);
    s.binary = Some(bore);
    s.server = Some("127.0.0.1".to_owned());
    s.secret = Some(TunnelSecret::new(BORE_SECRET).unwrap());
    let t = Tunnel::start(&s, listener.port()).unwrap();
    let mut rx = t.state();

    let first = up_url(wait_for(&mut rx, 20, "Up", is_up).await);
    assert_bore_url(&first);
    assert_eq!(get_through(&first).await, "hello through bore");

    let pid = t.child_pid().unwrap();
    // SAFETY: plain syscall on the pid of our own child.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
    let restarting = wait_for(&mut rx, 10, "Restarting", |s| {
        matches!(s, TunnelState::Restarting { .. })
    })
    .await;
    match restarting {
        TunnelState::Restarting { reason, attempt } => {
            assert_eq!(attempt, 1);
            assert!(reason.contains("signal: 9"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let second = up_url(wait_for(&mut rx, 20, "Up again", is_up).await);
    assert_bore_url(&second);
    assert_eq!(get_through(&second).await, "hello through bore");
    let new_pid = t.child_pid().unwrap();
    assert_ne!(new_pid, pid);

    t.stop().await;
    assert_eq!(*rx.borrow(), TunnelState::Off);
    wait_pid_gone(pid).await;
    wait_pid_gone(new_pid).await;
}

#[tokio::test]
async fn a_tunnel_stuck_starting_without_a_url_is_stopped_and_restarted_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let fake = script(
        dir.path(),
        "silent-tunnel.sh",
        &format!(
            "echo $$ >> '{}'\necho 'connecting...'\nexec sleep 60",
            pids.display()
        ),
    );
    let mut s = settings(TunnelKind::Command);
    s.command = Some(format!("sh '{}'", fake.display()));
    let overrides = Overrides {
        start_timeout: Some(Duration::from_millis(700)),
        ..Overrides::default()
    };
    let t = Tunnel::start_with(&s, 8787, &overrides).unwrap();
    let mut rx = t.state();
    let stuck = wait_for(&mut rx, 10, "Restarting after the start timeout", |s| {
        matches!(s, TunnelState::Restarting { .. })
    })
    .await;
    match stuck {
        TunnelState::Restarting { reason, attempt } => {
            assert_eq!(attempt, 1);
            assert!(reason.contains("no public URL within"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The stuck run is gone before the next one starts.
    let first: u32 = read_when_written(&pids)
        .await
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap();
    wait_pid_gone(first).await;
    wait_for(&mut rx, 10, "Starting again", |s| {
        matches!(s, TunnelState::Starting)
            || matches!(s, TunnelState::Restarting { attempt: 2, .. })
    })
    .await;
    t.stop().await;
}

// Moved from `model::health` with `TunnelHealth::from_state`.
#[test]
fn tunnel_states_become_health_with_the_public_url() {
    let fixed = url::Url::parse("https://hooks.example.com/").unwrap();
    assert_eq!(
        TunnelHealth::from_state(&TunnelState::Off, Some(&fixed)).public_url(),
        Some(&fixed)
    );
    assert_eq!(
        TunnelHealth::from_state(&TunnelState::Starting, Some(&fixed)).public_url(),
        None
    );
    assert_eq!(
        TunnelHealth::from_state(&TunnelState::Up { url: fixed.clone() }, None).words(),
        "up at https://hooks.example.com/"
    );
}
