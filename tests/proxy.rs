//! Behind a corporate proxy: the real daemon with `HTTPS_PROXY` (Basic
//! credentials in the URL) and the proxy's CA in `SSL_CERT_FILE`, against
//! `corp-proxy` (a CONNECT proxy on loopback that inspects TLS with its own
//! CA) in front of the fake Alert API and LiveAPI. The hosts
//! `*.sekoia.test` do not resolve: only the proxy reaches them. `check`
//! passes through it, names the proxy or its certificate when they fail
//! (never the key), and `serve` in direct mode stores and enriches a
//! LiveAPI event through it.

use crate::util::{report, Daemon, Dir};
use corp_proxy::CorpProxy;
use fake_sekoia::live::FakeLive;
use fake_sekoia::{alert_json, FakeSekoia};
use std::time::{Duration, Instant};

const UUID: &str = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";

struct Rig {
    proxy: CorpProxy,
    api: FakeSekoia,
    live: FakeLive,
    dir: Dir,
}

/// The daemon's directory: the API and LiveAPI at names only the proxy
/// knows, `HTTPS_PROXY` with `password`, `SSL_CERT_FILE` holding the
/// proxy's CA when `trusted` (else another CA).
fn rig(password: &str, trusted: bool) -> Rig {
    let proxy = CorpProxy::start_blocking(Some(("ann", "s3cret")));
    let api = FakeSekoia::start_blocking();
    let live = FakeLive::start_blocking(api.api_key());
    let api_addr = api.url().socket_addrs(|| None).expect("fake address")[0];
    let live_addr = live.url().socket_addrs(|| None).expect("fake address")[0];
    proxy.route("api.sekoia.test", api_addr);
    proxy.route("live.sekoia.test", live_addr);
    api.add_alert(alert_json(UUID, "ALproxy", "Seen through the proxy", 70));
    let mut dir = Dir::new(
        "[sekoia]\napi_url = \"https://api.sekoia.test\"\n\
         [liveapi]\nenabled = true\nurl = \"wss://live.sekoia.test/live\"\n",
    );
    let ca = dir.tmp.path().join("corp-ca.pem");
    let pem = if trusted {
        proxy.ca_pem().to_owned()
    } else {
        CorpProxy::start_blocking(None).ca_pem().to_owned()
    };
    std::fs::write(&ca, pem).expect("write the CA file");
    dir.env.extend([
        ("SEKOIA_API_KEY".to_owned(), api.api_key().to_owned()),
        ("HTTPS_PROXY".to_owned(), proxy.url_with("ann", password)),
        ("SSL_CERT_FILE".to_owned(), ca.display().to_string()),
        ("NO_PROXY".to_owned(), String::new()),
    ]);
    Rig {
        proxy,
        api,
        live,
        dir,
    }
}

fn check(dir: &Dir) -> (bool, String) {
    let out = dir.run(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{}", report(&dir.command(&["check"]), &out));
    (out.status.success(), text)
}

fn line<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(label))
        .unwrap_or_else(|| panic!("no {label} line in:\n{text}"))
}

#[test]
fn check_goes_through_an_inspecting_proxy_whose_ca_is_in_ssl_cert_file() {
    let r = rig("s3cret", true);
    let (ok, text) = check(&r.dir);
    assert!(ok, "{text}");
    let network = line(&text, "network");
    assert!(
        network.starts_with("ok") && network.contains(&r.proxy.url()),
        "{network}"
    );
    assert!(network.contains("from SSL_CERT_FILE"), "{network}");
    assert!(
        !text.contains("s3cret"),
        "the password is never shown: {text}"
    );
    assert!(line(&text, "api").starts_with("ok"), "{text}");
    assert!(line(&text, "liveapi").starts_with("ok"), "{text}");
    let mut targets: Vec<_> = r
        .proxy
        .log()
        .into_iter()
        .filter(|c| c.status == 200 && c.inspected && c.user.as_deref() == Some("ann"))
        .map(|c| c.target)
        .collect();
    targets.sort();
    targets.dedup();
    assert_eq!(targets, ["api.sekoia.test:443", "live.sekoia.test:443"]);
}

#[test]
fn check_names_an_untrusted_proxy_certificate_and_never_blames_the_key() {
    let r = rig("s3cret", false);
    let (ok, text) = check(&r.dir);
    assert!(!ok, "{text}");
    let api = line(&text, "api");
    assert!(api.starts_with("FAIL"), "{api}");
    assert!(
        api.contains("through the proxy")
            && api.contains("not trusted (issued by an unknown authority)"),
        "{api}"
    );
    assert!(
        api.contains("(the API key from SEKOIA_API_KEY was not checked)"),
        "{api}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("FAIL  api key")),
        "{text}"
    );
    let live = line(&text, "liveapi");
    assert!(
        live.starts_with("FAIL") && live.contains("not trusted"),
        "{live}"
    );
    assert!(r.api.requests().is_empty(), "nothing reached the API");
    assert!(r.live.attempts().is_empty(), "nothing reached the LiveAPI");
}

#[test]
fn check_names_refused_proxy_credentials_without_showing_them() {
    let r = rig("wrong-pw", true);
    let (ok, text) = check(&r.dir);
    assert!(!ok, "{text}");
    let api = line(&text, "api");
    assert!(
        api.contains("refused the user and password") && api.contains("HTTPS_PROXY"),
        "{api}"
    );
    assert!(!text.contains("wrong-pw"), "{text}");
    assert!(line(&text, "liveapi").contains("407"), "{text}");
}

#[test]
fn direct_mode_behind_the_proxy_stores_and_enriches_a_liveapi_event() {
    let r = rig("s3cret", true);
    let d = Daemon::start(&r.dir);
    assert!(
        r.live.wait_connections(1, Duration::from_secs(15)),
        "no LiveAPI connection through the proxy: {}",
        d.log_text()
    );
    let frame = format!(
        r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{UUID}","short_id":"ALproxy"}},"metadata":{{"version":2,"created_at":1764380000}}}}"#
    );
    assert_eq!(r.live.send(&frame), 1);
    let deadline = Instant::now() + Duration::from_secs(15);
    let feed = loop {
        let feed = r.dir.feed();
        if feed.first().is_some_and(|e| e["enriched"] == true) || Instant::now() > deadline {
            break feed;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(feed.len(), 1, "{feed:#?}\n{}", d.log_text());
    assert_eq!(feed[0]["title"], "Seen through the proxy", "{feed:#?}");
    assert!(r
        .proxy
        .log()
        .iter()
        .any(|c| c.target == "live.sekoia.test:443" && c.inspected));
}
