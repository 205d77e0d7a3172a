//! The shell against a real engine (store, listener, pipeline) and the fake
//! Sekoia.io API, with no window and no desktop session.

use super::*;
use fake_sekoia::{alert_json, FakeSekoia};
use std::sync::Mutex as StdMutex;

const UUID: &str = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const SECRET: &str = "shell-test-secret-0123456789abcdef";

#[derive(Default)]
struct Recorder {
    feed: StdMutex<Vec<Status>>,
    status: StdMutex<Vec<Status>>,
}

impl Host for Recorder {
    fn feed_changed(&self, status: &Status) {
        self.feed.lock().unwrap().push(status.clone());
    }
    fn status_changed(&self, status: &Status) {
        self.status.lock().unwrap().push(status.clone());
    }
    fn open_window(&self, _window: ShellWindow) {}
}

struct Fixture {
    shell: Arc<Shell>,
    host: Arc<Recorder>,
    api: FakeSekoia,
    _dir: tempfile::TempDir,
}

async fn fixture(key: Option<&str>) -> Fixture {
    let api = FakeSekoia::start().await;
    api.add_alert(alert_json(UUID, "ALshell", "Ransomware note dropped", 88));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[sekoia]\napi_url = \"{}\"\napp_url = \"https://app.sekoia.io\"\n[listener]\nbind = \"127.0.0.1:0\"\nhook_secret = \"{SECRET}\"\n",
            api.url()
        ),
    )
    .unwrap();
    let paths = Paths {
        config_file: config,
        data_dir: dir.path().join("data"),
    };
    let key = key.map(|k| {
        if k == "right" {
            api.api_key().to_owned()
        } else {
            k.to_owned()
        }
    });
    let mut shell = Shell::new(paths).unwrap();
    if let Some(key) = key {
        shell = shell.with_key(ApiKey::new(key).unwrap());
    }
    let shell = Arc::new(shell);
    let host = Arc::new(Recorder::default());
    shell.set_host(host.clone());
    Fixture {
        shell,
        host,
        api,
        _dir: dir,
    }
}

async fn post(shell: &Shell, body: &str) -> u16 {
    let url = shell.status().await.webhook_url.unwrap();
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn alert(uuid: &str) -> String {
    format!(
        r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{uuid}","short_id":"ALshell"}},"metadata":{{"version":2,"created_at":1764380000}}}}"#
    )
}

async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..400 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_webhook_reaches_the_feed_enriched_and_the_host_hears_of_it() {
    let f = fixture(Some("right")).await;
    assert!(f.shell.start().await.unwrap(), "a key is at hand");
    assert_eq!(post(&f.shell, &alert(UUID)).await, 202);
    let entry = until("the enriched entry", async || {
        let feed = f.shell.feed(10).await.unwrap();
        feed.into_iter().find(|e| e.title.is_some())
    })
    .await;
    assert_eq!(entry.title.as_deref(), Some("Ransomware note dropped"));
    let heard = until("the host to hear of it", async || {
        f.host
            .feed
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.unread == 1)
            .cloned()
    })
    .await;
    // Local only: the health says so, in words the tray can show.
    let warning = heard.warning.clone().unwrap_or_default();
    assert!(warning.contains("No public webhook URL"), "{heard:?}");

    // Opening goes only to the alert page under the configured app URL.
    let link = f.shell.alert_link(entry.id).await.unwrap();
    assert_eq!(
        link.as_str(),
        "https://app.sekoia.io/operations/alerts/ALshell"
    );
    assert!(matches!(
        f.shell.alert_link(9999).await,
        Err(AppError::NoLink)
    ));

    assert_eq!(f.shell.mark_read(Some(UUID.into())).await.unwrap(), 1);
    assert_eq!(f.shell.status().await.unread, 0);
    f.shell.stop().await;
}

#[tokio::test]
async fn without_a_key_events_are_kept_and_the_status_says_what_to_do() {
    let f = fixture(None).await;
    // Outside a desktop session no keyring answers: no key.
    std::env::remove_var("SEKOIA_API_KEY");
    assert!(!f.shell.start().await.unwrap());
    assert_eq!(post(&f.shell, &alert(UUID)).await, 202);
    let entries = until("the entry", async || {
        Some(f.shell.feed(10).await.unwrap()).filter(|f| !f.is_empty())
    })
    .await;
    assert!(!entries[0].enriched);
    let status = f.shell.status().await;
    assert!(!status.key.stored);
    assert!(status.warning.unwrap().contains("No API key"));
    assert!(f.api.requests().is_empty(), "no call without a key");
    f.shell.stop().await;
}

#[tokio::test]
async fn saved_settings_apply_at_once_and_a_taken_port_keeps_the_old_ones() {
    let f = fixture(Some("right")).await;
    f.shell.start().await.unwrap();
    let port = free_port();
    let mut form = Form::from_settings(&f.shell.inner.lock().await.settings);
    form.port = port.to_string();
    form.min_urgency = "50".into();
    f.shell.save_settings(&form).await.unwrap();
    let url = f.shell.status().await.webhook_url.unwrap();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/hooks/")),
        "{url}"
    );
    assert_eq!(
        post(&f.shell, &alert(UUID)).await,
        202,
        "the new listener serves"
    );
    let text = std::fs::read_to_string(f.shell.config_file()).unwrap();
    assert!(text.contains("min_urgency = 50"), "{text}");

    // A port someone else holds: refused, and the previous settings run on.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    form.port = taken.local_addr().unwrap().port().to_string();
    let err = f.shell.save_settings(&form).await.unwrap_err();
    assert!(err.to_string().contains("cannot listen"), "{err}");
    assert_eq!(f.shell.status().await.webhook_url.unwrap(), url);
    assert_eq!(
        post(&f.shell, &alert("8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e")).await,
        202
    );
    let text = std::fs::read_to_string(f.shell.config_file()).unwrap();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");

    // A bad field changes nothing at all.
    form.port = "99999".into();
    assert!(matches!(
        f.shell.save_settings(&form).await,
        Err(AppError::Form(_))
    ));
    assert_eq!(f.shell.status().await.webhook_url.unwrap(), url);
    f.shell.stop().await;
}

#[tokio::test]
async fn a_rejected_key_is_reported_in_words_and_a_good_one_applied() {
    let f = fixture(None).await;
    f.shell.start().await.unwrap();
    // The test shell never touches a keyring: the override stands in.
    let shell = Arc::new(
        Shell::new(f.shell.paths().clone())
            .unwrap()
            .with_key(ApiKey::new("placeholder".into()).unwrap()),
    );
    f.shell.stop().await;
    shell.start().await.unwrap();
    let err = shell.set_api_key("wrong-key".into()).await.unwrap_err();
    assert!(err.to_string().contains("rejected"), "{err}");
    let status = shell.status().await;
    assert_eq!(status.key.accepted, Some(false));
    assert!(status.warning.is_some());

    let key = shell.set_api_key(f.api.api_key().to_owned()).await.unwrap();
    assert_eq!(key.accepted, Some(true));
    assert!(key.checked_at.is_some());
    let json = serde_json::to_string(&shell.status().await).unwrap();
    assert!(
        !json.contains(f.api.api_key()),
        "the key never goes back to the UI"
    );
    shell.stop().await;
}

#[tokio::test]
async fn pausing_is_reported_and_resuming_clears_it() {
    let f = fixture(Some("right")).await;
    f.shell.start().await.unwrap();
    f.shell
        .pause(PauseFor::Span(Duration::from_secs(3600), Hold::BelowUrgent))
        .await;
    let status = f.shell.status().await;
    assert!(status.paused_until.is_some());
    assert_eq!(status.paused_hold, Some(Hold::BelowUrgent));
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["paused_hold"], "below-urgent");
    assert!(f
        .host
        .status
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .paused_until
        .is_some());
    f.shell.pause(PauseFor::Resume).await;
    assert_eq!(f.shell.status().await.paused_until, None);
    assert_eq!(f.shell.status().await.paused_hold, None);
    f.shell.stop().await;
}

/// A shell on `f`'s files whose public URL accepts and never answers, with
/// a test alert hanging on it (holding the engine): the shell, that URL's
/// port, the stalled server's task and the test alert's.
async fn test_alert_hanging(
    f: &Fixture,
    key: Option<ApiKey>,
) -> (
    Arc<Shell>,
    u16,
    tokio::task::JoinHandle<()>,
    tokio::task::JoinHandle<Result<String, AppError>>,
) {
    let stall = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = stall.local_addr().unwrap().port();
    let mut text = std::fs::read_to_string(f.shell.config_file()).unwrap();
    text.push_str(&format!(
        "[tunnel]\npublic_url = \"http://127.0.0.1:{port}/\"\nselftest_interval = 0\n"
    ));
    std::fs::write(f.shell.config_file(), text).unwrap();
    let mut shell = Shell::new(f.shell.paths().clone()).unwrap();
    if let Some(key) = key {
        shell = shell.with_key(key);
    }
    let shell = Arc::new(shell);
    shell.start().await.unwrap();
    let hold = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((conn, _)) = stall.accept().await {
            conns.push(conn);
        }
    });
    let testing = tokio::spawn({
        let shell = Arc::clone(&shell);
        async move { shell.send_test().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!testing.is_finished(), "the test alert should still hang");
    (shell, port, hold, testing)
}

#[tokio::test]
async fn the_status_answers_while_a_test_alert_hangs_on_a_dead_public_url() {
    let f = fixture(Some("right")).await;
    let (shell, port, hold, testing) = test_alert_hanging(&f, None).await;
    let status = tokio::time::timeout(Duration::from_secs(5), shell.status())
        .await
        .expect("status must not wait for the test alert");
    assert!(status
        .webhook_url
        .unwrap()
        .contains(&format!(":{port}/hooks/")));
    testing.abort();
    hold.abort();
    shell.stop().await;
}

/// A restart (a settings save) waits for the old engine's last user (here a
/// test alert hanging on a dead public URL) before it stops it; meanwhile
/// the shell answers the windows and the tray, saying it is restarting.
#[tokio::test]
async fn the_shell_answers_while_the_engine_restarts() {
    let f = fixture(Some("right")).await;
    let key = ApiKey::new(f.api.api_key().to_owned()).unwrap();
    let (shell, _, hold, testing) = test_alert_hanging(&f, Some(key)).await;
    let new_port = free_port();
    let mut form = Form::from_settings(&shell.inner.lock().await.settings);
    form.port = new_port.to_string();
    let saving = tokio::spawn({
        let shell = Arc::clone(&shell);
        async move { shell.save_settings(&form).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !saving.is_finished(),
        "the restart should wait for the test alert"
    );

    let answer = Duration::from_secs(2);
    let status = tokio::time::timeout(answer, shell.status())
        .await
        .expect("status must answer during a restart");
    let warning = status.warning.unwrap_or_default();
    assert!(warning.contains("restarting"), "{warning}");
    let feed = tokio::time::timeout(answer, shell.feed(10))
        .await
        .expect("the feed must answer during a restart");
    assert!(matches!(feed, Err(AppError::NotRunning(_))), "{feed:?}");
    tokio::time::timeout(
        answer,
        shell.pause(PauseFor::Span(Duration::from_secs(60), Hold::default())),
    )
    .await
    .expect("pause must answer during a restart");

    // The old engine's last user lets go: the restart completes.
    testing.abort();
    tokio::time::timeout(Duration::from_secs(15), saving)
        .await
        .expect("the restart ends once the old engine is free")
        .unwrap()
        .unwrap();
    let engine = shell.engine().await.unwrap();
    assert_eq!(engine.local_addr().port(), new_port);
    drop(engine);
    assert!(shell.paused().is_some(), "the pause survived the restart");
    hold.abort();
    shell.stop().await;
}

/// The detail pane is read once and then served from the cache (moving
/// through the list spends no API calls); an action drops the cached copy
/// and the pane is read again with the new status; community names are
/// read once, and an unknown community reads as its uuid's first block.
#[tokio::test]
async fn the_detail_pane_is_cached_an_action_refreshes_it_and_communities_are_named_once() {
    let f = fixture(Some("right")).await;
    f.shell.start().await.unwrap();
    let calls = |path: &str| {
        f.api
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with(path))
            .count()
    };
    let alert_path = format!("/v1/sic/alerts/{UUID}");
    let first = f.shell.alert_detail(UUID, false).await.unwrap();
    assert_eq!(
        first
            .alert
            .as_ref()
            .and_then(|a| a.alert.status.as_ref())
            .and_then(|s| s.name.as_deref()),
        Some("Pending")
    );
    let read = calls(&alert_path);
    assert_eq!(read, 3, "alert, comments and workflow: one call each");
    f.shell.alert_detail(UUID, false).await.unwrap();
    assert_eq!(
        calls(&alert_path),
        read,
        "the second look is the cached one"
    );

    let acknowledge = first
        .actions
        .iter()
        .find(|a| a.name == "Acknowledge")
        .expect("Acknowledge offered")
        .id
        .clone();
    let after = f
        .shell
        .apply_action(UUID, &acknowledge, Some("on it"))
        .await
        .unwrap();
    let names: Vec<&str> = after.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Close", "Reject"]);
    assert_eq!(
        after
            .alert
            .as_ref()
            .and_then(|a| a.history.first())
            .and_then(|h| h.comment.as_deref()),
        Some("on it")
    );

    let known = "5c7e9a11-2f4b-4c1e-9d2a-0f3b8d6c1a4e";
    let unknown = "9b2d4f60-7a1c-4e3b-8d5f-1c2e3a4b5d6f";
    f.api.add_community(known, "Acme Retail");
    let labels = f
        .shell
        .communities(vec![known.into(), unknown.into(), "not-a-uuid".into()])
        .await;
    let shown: Vec<(&str, bool)> = labels.iter().map(|c| (c.label.as_str(), c.named)).collect();
    assert_eq!(shown, [("Acme Retail", true), ("9b2d4f60", false)]);
    let asked = calls("/v1/communities/");
    f.shell
        .communities(vec![known.into(), unknown.into()])
        .await;
    assert_eq!(
        calls("/v1/communities/"),
        asked,
        "names are read once per run"
    );
    f.shell.stop().await;
}
