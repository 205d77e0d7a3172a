//! Desktop pop-ups against a fake notification server on a private bus.
//! Each test starts its own `dbus-daemon`; the code under test reaches it
//! through `Desktop::at_address`, so no test reads or changes the process
//! environment. The one test about a missing session bus re-runs itself in
//! a child process without `DBUS_SESSION_BUS_ADDRESS`.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;
use crate::deliver::notify::{NotifyError, Popup, PopupKind, ShellWindow, Urgency};
use fake_notifications::{Bus, Server};
use std::sync::Mutex;

const APP: &str = "https://app.sekoia.io";

fn app() -> Url {
    Url::parse(APP).expect("app url")
}

fn alert(short_id: &str) -> Url {
    Url::parse(&format!("{APP}/operations/alerts/{short_id}")).expect("alert url")
}

fn popup(key: &str, link: Option<Url>) -> Popup {
    Popup {
        kind: PopupKind::Alert,
        key: key.into(),
        summary: format!("Alert {key}"),
        lines: vec!["Urgency 85 (Urgent)".into(), "Status: Pending".into()],
        urgency: Urgency::Critical,
        link,
        ..Popup::default()
    }
}

/// A private bus, the fake server on it, a `Desktop` on it whose opener
/// appends its argument to `opened`.
struct Fixture {
    _bus: Bus,
    server: Server,
    desktop: Desktop,
    opened: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn start() -> Fixture {
        Fixture::with_capabilities(&["actions", "body", "body-markup"]).await
    }

    async fn with_capabilities(capabilities: &[&str]) -> Fixture {
        let bus = Bus::start();
        let server = Server::with_capabilities(&bus.address, capabilities).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let opened = dir.path().join("opened");
        let script = dir.path().join("open.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
                opened.display()
            ),
        )
        .expect("write opener");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod opener");
        let desktop = Desktop::at_address(app(), Opener::Command(script), bus.address.clone());
        Fixture {
            _bus: bus,
            server,
            desktop,
            opened,
            _dir: dir,
        }
    }

    async fn show(&self, popup: &Popup) -> u32 {
        self.desktop.show(popup).await.expect("show");
        self.server.last().returned_id
    }

    fn opened_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.opened)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until the opener has run `count` times, then returns its arguments.
    async fn wait_opened(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.opened_lines();
            if lines.len() >= count || Instant::now() > deadline {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Clicks a fresh, allowed pop-up and waits for it to open: every click
    /// emitted before it has then been handled by the (ordered) listener.
    /// Returns everything the opener received.
    async fn settle(&self) -> Vec<String> {
        let sentinel = alert("SENTINEL");
        let id = self.show(&popup("sentinel", Some(sentinel.clone()))).await;
        self.server.invoke(id, "default").await;
        let before = self.opened_lines().len();
        let lines = self.wait_opened(before + 1).await;
        assert!(
            lines.iter().any(|l| l == sentinel.as_str()),
            "the sentinel click never opened: {lines:?}"
        );
        // Openers spawned before the sentinel's had as long to finish; they
        // are separate processes, so their lines may land in any order.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut lines = self.opened_lines();
        lines.sort();
        lines
    }
}

#[tokio::test]
async fn popup_reaches_the_server_with_app_name_icon_summary_and_body() {
    let fx = Fixture::start().await;
    fx.show(&popup("a1", None)).await;
    let call = fx.server.last();
    assert_eq!(call.app_name, "Sekoia Notifier");
    assert_eq!(call.app_icon, "dialog-warning");
    assert_eq!(call.summary, "Alert a1");
    assert_eq!(call.body, "Urgency 85 (Urgent)\nStatus: Pending");
    assert_eq!(call.replaces_id, 0);
    assert_eq!(call.hint_names, vec!["urgency".to_string()]);
}

#[tokio::test]
async fn body_markup_is_escaped_for_a_markup_server_but_the_summary_stays_plain() {
    let fx = Fixture::start().await;
    let mut p = popup("a1", None);
    p.summary = "Title <b>x</b> & \u{7}co".into();
    p.lines = vec![
        "<b>bold</b>".into(),
        r#"<a href="x">link</a>"#.into(),
        "<img src=x>".into(),
        "Rule: R&D 'quoted'".into(),
    ];
    fx.show(&p).await;
    let call = fx.server.last();
    assert_eq!(
        call.body,
        "&lt;b&gt;bold&lt;/b&gt;\n\
         &lt;a href=&quot;x&quot;&gt;link&lt;/a&gt;\n\
         &lt;img src=x&gt;\n\
         Rule: R&amp;D &apos;quoted&apos;"
    );
    assert!(!call.body.contains('<'));
    assert_eq!(call.summary, "Title <b>x</b> & co");
}

#[tokio::test]
async fn body_is_sent_unescaped_to_a_server_without_markup() {
    let fx = Fixture::with_capabilities(&["actions", "body"]).await;
    let mut p = popup("a1", None);
    p.lines = vec!["<b>R&D</b>".into()];
    fx.show(&p).await;
    assert_eq!(fx.server.last().body, "<b>R&D</b>");
}

#[tokio::test]
async fn urgency_hint_and_icon_follow_each_level() {
    let fx = Fixture::start().await;
    let cases = [
        (Urgency::Low, 0u8, "dialog-information"),
        (Urgency::Normal, 1, "dialog-information"),
        (Urgency::Critical, 2, "dialog-warning"),
    ];
    for (i, (urgency, byte, icon)) in cases.into_iter().enumerate() {
        let mut p = popup(&format!("k{i}"), None);
        p.urgency = urgency;
        fx.show(&p).await;
        let call = fx.server.last();
        assert_eq!(call.urgency, Some(byte), "{urgency:?}");
        assert_eq!(call.app_icon, icon, "{urgency:?}");
    }
}

#[tokio::test]
async fn default_action_is_offered_only_with_an_allowed_link() {
    let fx = Fixture::start().await;
    fx.show(&popup("none", None)).await;
    assert!(fx.server.last().actions.is_empty());

    fx.show(&popup("ok", Some(alert("ALx1")))).await;
    assert_eq!(
        fx.server.last().actions,
        vec!["default", "Open in Sekoia.io"]
    );

    let evil = Url::parse("https://evil.example/operations/alerts/ALx1").expect("url");
    fx.show(&popup("evil", Some(evil))).await;
    assert!(fx.server.last().actions.is_empty());
}

#[tokio::test]
async fn same_key_replaces_the_first_notification() {
    let fx = Fixture::start().await;
    let first = fx.show(&popup("uuid-1", None)).await;
    let other = fx.show(&popup("uuid-2", None)).await;
    assert_ne!(first, other);
    let mut update = popup("uuid-1", Some(alert("ALx1")));
    update.summary = "Enriched title".into();
    fx.show(&update).await;
    let calls = fx.server.calls();
    assert_eq!(calls[0].replaces_id, 0);
    assert_eq!(calls[1].replaces_id, 0);
    assert_eq!(calls[2].replaces_id, first);
    assert_eq!(calls[2].summary, "Enriched title");
}

#[tokio::test]
async fn click_runs_the_opener_with_exactly_the_alert_url() {
    let fx = Fixture::start().await;
    let link = alert("ALuJxuZ8RMaX");
    let id = fx.show(&popup("a1", Some(link.clone()))).await;
    fx.server.invoke(id, "default").await;
    assert_eq!(fx.wait_opened(1).await, vec![link.to_string()]);
}

#[tokio::test]
async fn click_on_a_replaced_popup_opens_the_latest_link() {
    let fx = Fixture::start().await;
    let id = fx.show(&popup("a1", Some(alert("OLD")))).await;
    let again = fx.show(&popup("a1", Some(alert("NEW")))).await;
    assert_eq!(id, again);
    fx.server.invoke(id, "default").await;
    assert_eq!(fx.wait_opened(1).await, vec![alert("NEW").to_string()]);
}

#[tokio::test]
async fn links_outside_the_allowed_prefix_are_never_opened() {
    let fx = Fixture::start().await;
    let refused = [
        "https://evil.example/operations/alerts/ALx1",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://app.sekoia.io/settings/api-keys",
        "http://app.sekoia.io/operations/alerts/ALx1",
        "https://app.sekoia.io:8443/operations/alerts/ALx1",
        "https://user:pw@app.sekoia.io/operations/alerts/ALx1",
        "https://app.sekoia.io/operations/alerts/../../settings",
    ];
    for (i, link) in refused.iter().enumerate() {
        let link = Url::parse(link).expect("url");
        let id = fx.show(&popup(&format!("k{i}"), Some(link))).await;
        fx.server.invoke(id, "default").await;
    }
    assert_eq!(fx.settle().await, vec![alert("SENTINEL").to_string()]);
}

#[tokio::test]
async fn clicks_on_unknown_ids_and_other_actions_open_nothing() {
    let fx = Fixture::start().await;
    let id = fx.show(&popup("a1", Some(alert("ALx1")))).await;
    fx.server.invoke(id + 1000, "default").await;
    fx.server.invoke(0, "default").await;
    fx.server.invoke(id, "other-action").await;
    let opened = fx.settle().await;
    assert_eq!(opened, vec![alert("SENTINEL").to_string()]);
}

#[tokio::test]
async fn a_click_forged_by_another_bus_peer_is_ignored() {
    let fx = Fixture::start().await;
    let id = fx.show(&popup("a1", Some(alert("ALx1")))).await;
    let intruder = zbus::connection::Builder::address(fx._bus.address.as_str())
        .expect("address")
        .build()
        .await
        .expect("intruder connects");
    intruder
        .emit_signal(
            None::<&str>,
            fake_notifications::PATH,
            fake_notifications::NAME,
            "ActionInvoked",
            &(id, "default"),
        )
        .await
        .expect("emit");
    assert_eq!(fx.settle().await, vec![alert("SENTINEL").to_string()]);
    // The real server's click on that same id still works afterwards.
    fx.server.invoke(id, "default").await;
    assert_eq!(fx.wait_opened(2).await[1], alert("ALx1").to_string());
}

#[tokio::test]
async fn a_link_opens_once_and_a_closed_popup_is_forgotten() {
    let fx = Fixture::start().await;
    let clicked = fx.show(&popup("a1", Some(alert("ONCE")))).await;
    fx.server.invoke(clicked, "default").await;
    fx.server.invoke(clicked, "default").await;

    let closed = fx.show(&popup("a2", Some(alert("CLOSED")))).await;
    fx.server.close(closed).await;
    fx.server.invoke(closed, "default").await;

    let opened = fx.settle().await;
    assert_eq!(
        opened,
        vec![alert("ONCE").to_string(), alert("SENTINEL").to_string()],
        "sorted"
    );
    // A closed pop-up is not replaced: the next one for its key is new.
    fx.show(&popup("a2", None)).await;
    assert_eq!(fx.server.last().replaces_id, 0);
}

#[tokio::test]
async fn a_bus_without_a_notification_server_is_a_server_error() {
    let bus = Bus::start();
    let desktop = Desktop::at_address(app(), Opener::System, bus.address.clone());
    let err = desktop
        .show(&popup("a1", None))
        .await
        .expect_err("no server on the bus");
    assert!(matches!(err, NotifyError::Server { .. }), "{err:?}");
    assert!(err.to_string().contains("notification service"), "{err}");
}

#[tokio::test]
async fn an_unreachable_bus_address_is_a_no_session_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let address = format!("unix:path={}", dir.path().join("nothing").display());
    let desktop = Desktop::at_address(app(), Opener::System, address);
    let err = desktop
        .show(&popup("a1", None))
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, NotifyError::NoSession { .. }), "{err:?}");
    assert!(err.to_string().contains("desktop pop-ups are off"), "{err}");
}

const CHILD_MARKER: &str = "SEKOIA_NOTIFY_TEST_CHILD";

#[test]
fn without_a_session_bus_show_fails_with_a_helpful_message() {
    if std::env::var_os(CHILD_MARKER).is_some() {
        // In the child: no DBUS_SESSION_BUS_ADDRESS, an empty XDG_RUNTIME_DIR.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let desktop = Desktop::new(app(), Opener::System);
        let err = runtime
            .block_on(desktop.show(&popup("a1", None)))
            .expect_err("no session bus");
        assert!(matches!(err, NotifyError::NoSession { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("DBUS_SESSION_BUS_ADDRESS unset"), "{msg}");
        assert!(msg.contains("sekoia-notifierd forwarding"), "{msg}");
        return;
    }
    let name = format!(
        "{}::without_a_session_bus_show_fails_with_a_helpful_message",
        module_path!()
            .split_once("::")
            .map(|(_, rest)| rest)
            .unwrap_or_default()
    );
    let runtime_dir = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD_MARKER, "1")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", runtime_dir.path())
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

#[test]
fn only_alert_pages_under_the_app_url_are_allowed() {
    let app = app();
    let ok = |s: &str| link_allowed(&app, &Url::parse(s).expect("url"));
    assert!(ok("https://app.sekoia.io/operations/alerts/ALx1"));
    assert!(ok("https://app.sekoia.io:443/operations/alerts/ALx1?tab=1"));
    assert!(!ok("https://app.sekoia.io/operations/alerts/"));
    assert!(!ok("https://app.sekoia.io/operations/alerts/a/b"));
    assert!(!ok("https://app.sekoia.io/operations/alertsX/a"));
    assert!(!ok(
        "https://app.sekoia.io/operations/alerts/%2e%2e/%2e%2e/x"
    ));
    assert!(!ok(
        "https://app.sekoia.io.evil.example/operations/alerts/a"
    ));
    assert!(!ok("https://evil.example/operations/alerts/a"));
    assert!(!ok("javascript:alert(1)"));
    assert!(!ok("file:///operations/alerts/a"));
    assert!(!ok("data:text/html,<script>"));

    let prefixed = Url::parse("https://sekoia.corp.example/soc/").expect("url");
    let ok = |s: &str| link_allowed(&prefixed, &Url::parse(s).expect("url"));
    assert!(ok("https://sekoia.corp.example/soc/operations/alerts/ALx1"));
    assert!(!ok("https://sekoia.corp.example/operations/alerts/ALx1"));
}

#[test]
fn the_alert_list_page_is_allowed_exactly_for_summary_popups() {
    let app = app();
    let ok = |s: &str| link_allowed(&app, &Url::parse(s).expect("url"));
    assert!(ok("https://app.sekoia.io/operations/alerts"));
    assert!(!ok(
        "https://app.sekoia.io/operations/alerts?next=https://evil.example"
    ));
    assert!(!ok("https://app.sekoia.io/operations/alerts#x"));
    assert!(!ok("https://app.sekoia.io/operations/alert"));
    assert!(!ok("https://app.sekoia.io/operations"));
    assert!(!ok("https://evil.example/operations/alerts"));
    assert!(!ok("http://app.sekoia.io/operations/alerts"));
    let prefixed = Url::parse("https://sekoia.corp.example/soc/").expect("url");
    assert!(link_allowed(
        &prefixed,
        &Url::parse("https://sekoia.corp.example/soc/operations/alerts").expect("url")
    ));
    assert!(!link_allowed(
        &prefixed,
        &Url::parse("https://sekoia.corp.example/operations/alerts").expect("url")
    ));
}

#[test]
fn tracked_maps_forget_the_oldest_entry_beyond_the_bound() {
    let mut map = Bounded::new();
    for id in 0..(TRACKED_MAX as u32 + 5) {
        map.insert(id, id);
    }
    assert_eq!(map.len(), TRACKED_MAX);
    assert!(map.get(&0).is_none());
    assert!(map.get(&4).is_none());
    assert!(map.get(&5).is_some());
    assert!(map.get(&(TRACKED_MAX as u32 + 4)).is_some());
}

#[tokio::test]
async fn summary_and_url_changed_clicks_open_the_shells_windows_instead_of_the_browser() {
    let fx = Fixture::start().await;
    let opened_feed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&opened_feed);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let windows = Arc::clone(&asked);
    fx.desktop.set_window_opener(Arc::new(move |window| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        windows.lock().unwrap().push(window);
    }));
    let list = Url::parse(&format!("{APP}/operations/alerts")).expect("list url");
    let summary = fx
        .show(&Popup {
            kind: PopupKind::Summary,
            link: Some(list),
            ..popup("storm", None)
        })
        .await;
    fx.server.invoke(summary, "default").await;
    // The URL-changed notice has no link, yet a click opens the settings.
    let changed = fx
        .show(&Popup {
            kind: PopupKind::UrlChanged,
            ..popup("webhook-url-changed", None)
        })
        .await;
    assert!(fx.server.last().actions.contains(&"default".to_owned()));
    fx.server.invoke(changed, "default").await;
    // An ordinary alert's click still opens its page in the browser.
    let opened = fx.settle().await;
    assert_eq!(opened, vec![alert("SENTINEL").to_string()]);
    assert_eq!(opened_feed.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(
        *asked.lock().unwrap(),
        [ShellWindow::Feed, ShellWindow::Settings]
    );
}

#[tokio::test]
async fn the_activation_token_sent_before_the_click_reaches_the_opener() {
    let bus = Bus::start();
    let server = Server::with_capabilities(&bus.address, &["actions", "body"]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let seen = dir.path().join("seen");
    let script = dir.path().join("open.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s|%s|%s\\n' \"$XDG_ACTIVATION_TOKEN\" \"$DESKTOP_STARTUP_ID\" \"$1\" >> '{}'\n",
            seen.display()
        ),
    )
    .expect("write opener");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("chmod opener");
    let desktop = Desktop::at_address(app(), Opener::Command(script), bus.address.clone());
    let link = alert("ALtoken1");
    desktop
        .show(&popup("t1", Some(link.clone())))
        .await
        .expect("show");
    let id = server.last().returned_id;
    server.activation_token(id, "kwin-7781_TIME42").await;
    server.invoke(id, "default").await;
    // A second click on another pop-up without a token gets none.
    let other = alert("ALtoken2");
    desktop
        .show(&popup("t2", Some(other.clone())))
        .await
        .expect("show");
    server.invoke(server.last().returned_id, "default").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&seen).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= 2 || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let x11 = std::env::var_os("WAYLAND_DISPLAY").is_none();
    let startup = if x11 { "kwin-7781_TIME42" } else { "" };
    let mut lines = lines;
    lines.sort();
    let mut expected = vec![
        format!("kwin-7781_TIME42|{startup}|{link}"),
        format!("||{other}"),
    ];
    expected.sort();
    assert_eq!(lines, expected);
}

fn leveled(key: &str, value: u8) -> Popup {
    Popup {
        level: crate::model::urgency::Level::new(Some(value), None),
        urgency: crate::deliver::notify::urgency_for(Some(value)),
        acknowledgeable: true,
        ..popup(key, Some(alert(&format!("AL{value}"))))
    }
}

/// The default escalation on the real protocol: Urgent rings and stays
/// (resident, no timeout), Major rings and expires, the rest are silent.
#[tokio::test]
async fn sound_and_resident_hints_follow_each_band() {
    let fx = Fixture::start().await;
    let escalation = crate::deliver::escalation::Escalation::from_settings(&Default::default());
    let mut seen = Vec::new();
    for (key, value) in [("u", 91), ("m", 64), ("h", 47), ("o", 35), ("l", 5)] {
        let mut p = leveled(key, value);
        escalation.dress(&mut p);
        fx.show(&p).await;
        let call = fx.server.last();
        seen.push((
            call.sound_name,
            call.resident,
            call.expire_timeout,
            call.urgency,
        ));
    }
    assert_eq!(
        seen,
        [
            (Some("alarm-clock-elapsed".into()), Some(true), 0, Some(2)),
            (Some("message-new-instant".into()), None, -1, Some(1)),
            (None, None, -1, Some(1)),
            (None, None, -1, Some(0)),
            (None, None, -1, Some(0)),
        ]
    );
    // A sound file is sent as `sound-file`.
    let mut file = leveled("f", 90);
    file.sound = Some("/usr/share/sounds/alarm.oga".into());
    fx.show(&file).await;
    let call = fx.server.last();
    assert_eq!(
        call.sound_file.as_deref(),
        Some("/usr/share/sounds/alarm.oga")
    );
    assert_eq!(call.sound_name, None);
}

/// A teammate took the alert: its pop-up still on screen is closed with
/// `CloseNotification`; an unknown key closes nothing.
#[tokio::test]
async fn close_by_key_sends_close_notification_for_the_popup_on_screen() {
    let fx = Fixture::start().await;
    // Before any pop-up (no connection yet) there is nothing to close.
    assert!(!fx.desktop.close("never-shown").await.expect("close"));
    let first = fx.show(&leveled("taken", 91)).await;
    let other = fx.show(&leveled("other", 91)).await;
    assert!(fx.desktop.close("taken").await.expect("close"));
    assert_eq!(fx.server.closed(), [first]);
    // Closed once: a second withdrawal and an unknown key do nothing.
    assert!(!fx.desktop.close("taken").await.expect("close"));
    assert!(!fx.desktop.close("unknown").await.expect("close"));
    assert_eq!(fx.server.closed(), [first]);
    assert_ne!(first, other);
    // The same key shows anew (not as a replacement of the closed one).
    fx.show(&leveled("taken", 91)).await;
    assert_eq!(fx.server.last().replaces_id, 0);
}

/// A click (or a dismissal) counts as seen, so reminders stop; a resident
/// pop-up is closed after its click, since the server keeps it.
#[tokio::test]
async fn a_clicked_resident_popup_is_closed_and_counts_as_seen() {
    let fx = Fixture::start().await;
    let mut urgent = leveled("urgent", 91);
    urgent.resident = true;
    let id = fx.show(&urgent).await;
    let dismissed = fx.show(&leveled("dismissed", 64)).await;
    assert!(!fx.desktop.seen("urgent"));
    fx.server.invoke(id, "default").await;
    fx.server.close(dismissed).await;
    fx.settle().await;
    assert!(fx.desktop.seen("urgent"));
    assert!(fx.desktop.seen("dismissed"));
    assert!(!fx.desktop.seen("never-clicked"));
    assert_eq!(fx.server.closed(), [id]);
}

/// The summary's action says what its click does: open the feed.
#[tokio::test]
async fn a_summary_offers_open_feed_as_its_click_does() {
    let fx = Fixture::start().await;
    let list = Url::parse(&format!("{APP}/operations/alerts")).expect("list url");
    fx.show(&Popup {
        kind: PopupKind::Summary,
        link: Some(list),
        ..popup("storm", None)
    })
    .await;
    assert_eq!(fx.server.last().actions, ["default", "Open feed"]);
    fx.desktop.set_window_opener(Arc::new(|_| {}));
    fx.show(&Popup {
        kind: PopupKind::Summary,
        ..popup("catch-up", None)
    })
    .await;
    assert_eq!(fx.server.last().actions, ["default", "Open feed"]);
}
