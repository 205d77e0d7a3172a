//! The desktop app (`sekoia-notifier`) end to end, in a private session:
//! an Xvfb display, a session bus with a keyring, a notification server and
//! a tray host (a fake StatusNotifierWatcher), and the fake Sekoia.io API.

use crate::secrets::set_api_key;
use crate::util::Dir;
pub use fake_notifications::display::Display;
use fake_notifications::tray::{Item, MenuEntry, Watcher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const UUID: &str = "2b6e7a1c-5d4f-4e3a-9b8c-7d6e5f4a3b2c";

/// The built desktop app, next to this test binary's `deps/` folder.
pub fn app_bin() -> PathBuf {
    let bin = crate::util::bin()
        .with_file_name(format!("sekoia-notifier{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p sekoia-notifier` first (make test does)",
        bin.display()
    );
    bin
}

/// A running `sekoia-notifier`. Killed on drop if still running.
pub struct App {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl App {
    pub fn command(dir: &Dir, display: &Display) -> Command {
        let mut cmd = Command::new(app_bin());
        cmd.arg("--config")
            .arg(dir.config())
            .arg("--data-dir")
            .arg(dir.data())
            .current_dir(dir.tmp.path());
        dir.session
            .as_ref()
            .expect("the desktop app needs a session")
            .apply(&mut cmd);
        cmd.env("DISPLAY", &display.name)
            .env("HOME", dir.tmp.path().join("home"))
            .env("RUST_LOG", "info");
        for (k, v) in &dir.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn start(dir: &Dir, display: &Display) -> App {
        let log = dir.tmp.path().join("app.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = App::command(dir, display)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn sekoia-notifier");
        let mut app = App {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        app.addr = crate::util::wait_listening(
            &mut app.child,
            &dir.data(),
            Duration::from_secs(60),
            &app.log,
        );
        app
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn post(&self, body: &str) -> u16 {
        crate::util::post_hook(self.addr, body)
    }

    /// The exit code, once the app exited within `within`.
    pub fn wait(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the app did not exit within {within:?}:\n{}",
            self.log_text()
        );
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many WebKit web processes run under `pid` (one per open window).
fn web_processes(pid: u32) -> usize {
    tree_names(pid)
        .iter()
        .filter(|comm| comm.starts_with("WebKitWebProces"))
        .count()
}

/// Polls `probe` until it returns `Some`, or fails with `what`.
pub fn eventually<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A config pointing at the fake API, with the key in the session keyring.
pub fn desktop_dir(api: &fake_sekoia::FakeSekoia) -> Dir {
    let dir = Dir::with_session(&format!(
        "[sekoia]\napi_url = \"{}\"\napp_url = \"https://app.sekoia.io\"\n\
         [tunnel]\npublic_url = \"https://notifier.example.test\"\nselftest_interval = 0\n",
        api.url()
    ));
    let out = set_api_key(&dir, &format!("{}\n", api.api_key()));
    assert!(
        out.status.success(),
        "set-api-key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn tray_item(dir: &Dir, host: &Watcher) -> Item {
    let session = dir.session.as_ref().expect("session");
    let service = eventually("the tray item to register", Duration::from_secs(30), || {
        host.items().into_iter().next()
    });
    let item = host.item(&service);
    // The item answers once its service is up.
    eventually("the tray item to answer", Duration::from_secs(10), || {
        session.block_on(item.tooltip()).ok()
    });
    item
}

fn tooltip(dir: &Dir, item: &Item) -> String {
    let session = dir.session.as_ref().expect("session");
    session.block_on(item.tooltip()).expect("tooltip").1
}

fn wait_tooltip(dir: &Dir, item: &Item, needle: &str) -> String {
    eventually(
        &format!("a tooltip with {needle:?}"),
        Duration::from_secs(20),
        || {
            let text = tooltip(dir, item);
            text.contains(needle).then_some(text)
        },
    )
}

fn click(dir: &Dir, item: &Item, label: &str) {
    let session = dir.session.as_ref().expect("session");
    let menu = session.block_on(item.menu()).expect("menu");
    let entry = MenuEntry::find(&menu, label).unwrap_or_else(|| panic!("no {label:?} in {menu:?}"));
    session.block_on(item.click(entry.id)).expect("menu click");
}

/// Clicks the entry `label` of the submenu `submenu`.
fn click_in(dir: &Dir, item: &Item, submenu: &str, label: &str) {
    let session = dir.session.as_ref().expect("session");
    let menu = session.block_on(item.menu()).expect("menu");
    let sub =
        MenuEntry::find(&menu, submenu).unwrap_or_else(|| panic!("no {submenu:?} in {menu:?}"));
    let entry =
        MenuEntry::find(&sub.children, label).unwrap_or_else(|| panic!("no {label:?} in {sub:?}"));
    session.block_on(item.click(entry.id)).expect("menu click");
}

/// The menu entry whose label starts with `prefix`, at any depth.
fn entry_starting(entries: &[MenuEntry], prefix: &str) -> Option<MenuEntry> {
    entries.iter().find_map(|e| {
        if e.label.starts_with(prefix) {
            Some(e.clone())
        } else {
            entry_starting(&e.children, prefix)
        }
    })
}

fn api_with_alert() -> fake_sekoia::FakeSekoia {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    api.add_alert(fake_sekoia::alert_json(
        UUID,
        "ALdesk1",
        "Suspicious PowerShell on HR-LAPTOP-7",
        85,
    ));
    api
}

#[test]
fn tray_registers_with_its_menu_and_its_tooltip_follows_the_unread_count() {
    let api = api_with_alert();
    let dir = desktop_dir(&api);
    let session = dir.session.as_ref().expect("session");
    let host = session.tray_host();
    let display = Display::start();
    let mut app = App::start(&dir, &display);
    let item = tray_item(&dir, &host);

    let menu = session.block_on(item.menu()).expect("menu");
    let labels: Vec<&str> = menu.iter().map(|e| e.label.as_str()).collect();
    // About: the same version and commit as `--version` of both binaries.
    let version = |bin: PathBuf, name: &str| -> String {
        let out = Command::new(bin)
            .arg("--version")
            .output()
            .expect("--version");
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().trim_start_matches(name).trim().to_owned()
    };
    let app_version = version(app_bin(), "sekoia-notifier");
    assert_eq!(app_version, version(crate::util::bin(), "sekoia-notifierd"));
    assert!(app_version.contains(" (commit "), "{app_version}");
    let about = format!("Sekoia Notifier {app_version}");
    assert_eq!(
        labels,
        [
            "Open feed",
            "Mark all read",
            "Settings…",
            "Pause pop-ups (Urgent still pops up)",
            "Pause everything (Urgent too)",
            "Resume pop-ups (not paused)",
            "Send test alert",
            "",
            about.as_str(),
            "Quit"
        ],
        "{menu:?}"
    );
    for submenu in [
        "Pause pop-ups (Urgent still pops up)",
        "Pause everything (Urgent too)",
    ] {
        let pause = MenuEntry::find(&menu, submenu).expect("pause submenu");
        let sub: Vec<&str> = pause.children.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(sub, ["For 1 hour", "For 4 hours", "Until tomorrow 08:00"]);
    }
    let resume = MenuEntry::find(&menu, "Resume pop-ups (not paused)").expect("resume");
    assert!(!resume.enabled, "nothing is paused: Resume is disabled");
    assert!(!session.block_on(item.icon()).expect("icon").is_empty());
    wait_tooltip(&dir, &item, "no unread alerts");

    // In the tray only, no web view runs; a left click opens the feed.
    assert_eq!(
        web_processes(app.child.id()),
        0,
        "a window is open at start"
    );
    session.block_on(item.activate()).expect("Activate");
    eventually(
        "the feed window's web process",
        Duration::from_secs(20),
        || (web_processes(app.child.id()) > 0).then_some(()),
    );

    assert_eq!(app.post(&crate::util::alert(UUID)), 202);
    let popups = session.popups(1);
    assert_eq!(popups.len(), 1, "{popups:?}");
    assert_eq!(popups[0].app_name, "Sekoia Notifier");
    wait_tooltip(&dir, &item, "1 unread alert");

    // A second launch hands over to the first and exits 0.
    let second = App::command(&dir, &display)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("second launch");
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(
        app.child.try_wait().expect("try_wait").is_none(),
        "the first instance died"
    );
    assert_eq!(app.post(&crate::util::alert("second-event")), 202);

    // Quit from the tray stops the engine gracefully.
    click(&dir, &item, "Quit");
    assert_eq!(
        app.wait(Duration::from_secs(20)),
        Some(0),
        "{}",
        app.log_text()
    );
    assert!(!dir.data().join("instance.json").exists());
    assert!(
        app.log_text().contains("engine stopped"),
        "{}",
        app.log_text()
    );
}

#[test]
fn pausing_from_the_tray_holds_pop_ups_back_but_not_the_feed_nor_urgent_ones() {
    let api = api_with_alert();
    let lower = "3c7f8b2d-6e5a-4f4b-8c9d-8e7f6a5b4c3d";
    api.add_alert(fake_sekoia::alert_json(
        lower,
        "ALdesk2",
        "Second alert",
        50,
    ));
    let late = "4d8a9c3e-7f6b-4a5c-8d0e-9f8a7b6c5d4f";
    api.add_alert(fake_sekoia::alert_json(
        late,
        "ALdesk3",
        "Urgent while all paused",
        95,
    ));
    let last = "5e9b0d4f-8a7c-4b6d-9e1f-0a9b8c7d6e50";
    api.add_alert(fake_sekoia::alert_json(last, "ALdesk4", "After resume", 30));
    let dir = desktop_dir(&api);
    let session = dir.session.as_ref().expect("session");
    let host = session.tray_host();
    let display = Display::start();
    let app = App::start(&dir, &display);
    let item = tray_item(&dir, &host);
    let in_feed = |title: &str| {
        eventually("the alert in the feed", Duration::from_secs(20), || {
            dir.feed().iter().any(|e| e["title"] == title).then_some(())
        })
    };

    // The default pause holds back everything below Urgent.
    click_in(
        &dir,
        &item,
        "Pause pop-ups (Urgent still pops up)",
        "For 1 hour",
    );
    wait_tooltip(&dir, &item, "(Urgent still pops up)");
    let menu = session.block_on(item.menu()).expect("menu");
    let resume = entry_starting(&menu, "Resume pop-ups (paused until ").expect("resume");
    assert!(resume.enabled, "{resume:?}");
    assert_eq!(app.post(&crate::util::alert(lower)), 202);
    // The feed gets the alert, enriched, while no pop-up is shown.
    in_feed("Second alert");
    wait_tooltip(&dir, &item, "1 unread alert");
    assert!(
        session.notifications.calls().is_empty(),
        "{:?}",
        session.notifications.calls()
    );
    // An Urgent alert (85) still pops up.
    assert_eq!(app.post(&crate::util::alert(UUID)), 202);
    let popups = session.popups(1);
    assert_eq!(popups.len(), 1, "{popups:?}");
    assert_eq!(popups[0].summary, "Suspicious PowerShell on HR-LAPTOP-7");

    // "Everything" holds back Urgent alerts too.
    click_in(&dir, &item, "Pause everything (Urgent too)", "For 1 hour");
    wait_tooltip(&dir, &item, "(everything, Urgent too)");
    assert_eq!(app.post(&crate::util::alert(late)), 202);
    in_feed("Urgent while all paused");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(session.notifications.calls().len(), 1);

    let menu = session.block_on(item.menu()).expect("menu");
    let resume = entry_starting(&menu, "Resume pop-ups (paused until ").expect("resume");
    session.block_on(item.click(resume.id)).expect("menu click");
    wait_tooltip(&dir, &item, "unread alerts; all good");
    assert_eq!(app.post(&crate::util::alert(last)), 202);
    let popups = session.popups(2);
    assert_eq!(popups.len(), 2, "{popups:?}");
    assert_eq!(popups[1].summary, "After resume");
}

#[test]
fn a_click_on_a_storm_summary_opens_the_feed_window() {
    let api = api_with_alert();
    let dir = desktop_dir(&api);
    // One pop-up per window: the next alerts fold into a summary.
    let mut config = std::fs::read_to_string(dir.config()).expect("config");
    config.push_str("[notify]\nstorm_budget = 1\n");
    std::fs::write(dir.config(), config).expect("config");
    let session = dir.session.as_ref().expect("session");
    let host = session.tray_host();
    let display = Display::start();
    let app = App::start(&dir, &display);
    tray_item(&dir, &host);
    for n in 0..4 {
        let uuid = format!("5d6e7f80-1a2b-4c3d-8e9f-{n:012}");
        assert_eq!(app.post(&crate::util::alert(&uuid)), 202);
    }
    let summary = eventually("a summary pop-up", Duration::from_secs(20), || {
        session
            .notifications
            .calls()
            .into_iter()
            .find(|c| c.summary.contains("new alerts"))
    });
    assert_eq!(
        web_processes(app.child.id()),
        0,
        "no window before the click"
    );
    session.click(summary.returned_id);
    let deadline = Instant::now() + Duration::from_secs(20);
    while web_processes(app.child.id()) == 0 {
        assert!(
            Instant::now() < deadline,
            "no feed window after the summary click {summary:?}:\n{}",
            app.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_tray_item_registers_when_a_tray_host_appears_five_seconds_after_the_app() {
    let api = api_with_alert();
    let dir = desktop_dir(&api);
    let session = dir.session.as_ref().expect("session");
    let display = Display::start();
    // Autostart at login: the app is up before the panel.
    let app = App::start(&dir, &display);
    eventually(
        "the missing tray host in the log",
        Duration::from_secs(20),
        || app.log_text().contains("no tray icon").then_some(()),
    );
    std::thread::sleep(Duration::from_secs(5));
    let host = session.tray_host();
    let item = tray_item(&dir, &host);
    wait_tooltip(&dir, &item, "no unread alerts");
    assert!(
        app.log_text().contains("tray icon registered"),
        "{}",
        app.log_text()
    );
    // The late item is the whole item: its menu works.
    let menu = session.block_on(item.menu()).expect("menu");
    assert!(MenuEntry::find(&menu, "Open feed").is_some(), "{menu:?}");
}

/// The 32 px pixmap of the item's icon, as ARGB bytes (the SNI order).
fn icon_32(dir: &Dir, item: &Item) -> Vec<u8> {
    let session = dir.session.as_ref().expect("session");
    let pixmaps = session.block_on(item.icon()).expect("icon");
    pixmaps
        .into_iter()
        .find(|(w, h, _)| (*w, *h) == (32, 32))
        .map(|(_, _, data)| data)
        .expect("a 32 px pixmap")
}

/// The RGB of pixel (x, y) of a 32 px ARGB pixmap.
fn rgb_at(argb: &[u8], x: usize, y: usize) -> [u8; 3] {
    let at = (y * 32 + x) * 4;
    [argb[at + 1], argb[at + 2], argb[at + 3]]
}

/// The unread dot's red (icons/tray-unread.svg).
const DOT_RED: [u8; 3] = [0xe5, 0x38, 0x3b];

/// Saves a 32 px ARGB pixmap as a PNG (ImageMagick), 4 times larger.
fn save_icon(argb: &[u8], path: &std::path::Path) {
    let rgba: Vec<u8> = argb
        .chunks_exact(4)
        .flat_map(|p| [p[1], p[2], p[3], p[0]])
        .collect();
    let raw = path.with_extension("rgba");
    std::fs::write(&raw, rgba).expect("raw icon");
    let out = Command::new("convert")
        .args(["-size", "32x32", "-depth", "8"])
        .arg(format!("rgba:{}", raw.display()))
        .args(["-filter", "point", "-resize", "400%"])
        .arg(path)
        .output()
        .expect("convert (package imagemagick)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(raw);
}

/// Unread alerts stay visible in every state: a red dot over the warning
/// icon (no tunnel yet, a common state while setting up) and over the
/// paused one; the tooltip keeps the warning while paused; *Mark all read*
/// clears the count. The icons are saved side by side for the README.
#[test]
fn unread_alerts_show_over_the_warning_and_paused_icons_and_mark_all_read_clears_them() {
    let api = api_with_alert();
    // No tunnel and no public URL: the warning state.
    let dir = Dir::with_session(&format!(
        "[sekoia]\napi_url = \"{}\"\napp_url = \"https://app.sekoia.io\"\n",
        api.url()
    ));
    let out = set_api_key(&dir, &format!("{}\n", api.api_key()));
    assert!(out.status.success(), "set-api-key");
    let session = dir.session.as_ref().expect("session");
    let host = session.tray_host();
    let display = Display::start();
    let app = App::start(&dir, &display);
    let item = tray_item(&dir, &host);
    let shots = crate::console::screenshots();
    std::fs::create_dir_all(&shots).expect("screenshots dir");

    let first = wait_tooltip(&dir, &item, "No public webhook URL");
    assert!(first.contains("no unread alerts"), "{first}");
    let plain = icon_32(&dir, &item);
    assert_ne!(
        rgb_at(&plain, 7, 7),
        DOT_RED,
        "no dot without unread alerts"
    );
    let menu = session.block_on(item.menu()).expect("menu");
    let mark = MenuEntry::find(&menu, "Mark all read").expect("Mark all read");
    assert!(!mark.enabled, "nothing to mark: {mark:?}");

    assert_eq!(app.post(&crate::util::alert(UUID)), 202);
    wait_tooltip(&dir, &item, "1 unread alert");
    // The icon once the pixel at (x, y) is (or is not) the dot's red.
    let icon_when = |what: &str, (x, y): (usize, usize), red: bool| {
        eventually(what, Duration::from_secs(10), || {
            let icon = icon_32(&dir, &item);
            ((rgb_at(&icon, x, y) == DOT_RED) == red).then_some(icon)
        })
    };
    let warning = icon_when("the dot over the warning icon", (7, 7), true);
    save_icon(&warning, &shots.join("tray-warning-unread.png"));

    // Paused: the dot stays, and so does the warning in the tooltip.
    click_in(
        &dir,
        &item,
        "Pause pop-ups (Urgent still pops up)",
        "For 1 hour",
    );
    let paused_tip = wait_tooltip(&dir, &item, "pop-ups paused until");
    assert!(
        paused_tip.contains("1 unread alert") && paused_tip.contains("No public webhook URL"),
        "{paused_tip}"
    );
    let paused = icon_when("the dot over the paused icon", (25, 7), true);
    save_icon(&paused, &shots.join("tray-paused-unread.png"));
    let menu = session.block_on(item.menu()).expect("menu");
    let resume = entry_starting(&menu, "Resume pop-ups (paused until ").expect("resume");
    assert!(resume.enabled, "{resume:?}");

    // Mark all read: the count and the dot go; the pause and warning stay.
    let mark = entry_starting(&menu, "Mark all read (1)").expect("Mark all read (1)");
    assert!(mark.enabled, "{mark:?}");
    session.block_on(item.click(mark.id)).expect("menu click");
    let read_tip = wait_tooltip(&dir, &item, "no unread alerts");
    assert!(read_tip.contains("No public webhook URL"), "{read_tip}");
    let cleared = icon_when("the dot to go", (25, 7), false);
    save_icon(&cleared, &shots.join("tray-paused.png"));
    assert_eq!(
        dir.feed().iter().filter(|e| e["read"] == false).count(),
        0,
        "every entry read in the store"
    );
    let labelled = |name: &str, label: &str| -> Vec<String> {
        vec![
            "-label".into(),
            label.into(),
            shots.join(name).display().to_string(),
        ]
    };
    let mut montage = Command::new("montage");
    montage.args(labelled("tray-warning-unread.png", "warning + unread"));
    montage.args(labelled("tray-paused-unread.png", "paused + unread"));
    montage.args(labelled("tray-paused.png", "paused, all read"));
    let out = montage
        .args(["-tile", "3x1", "-geometry", "+24+8", "-pointsize", "14"])
        .args(["-font", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"])
        .arg(shots.join("tray.png"))
        .output()
        .expect("montage (package imagemagick)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every process in the tree of `pid` (itself included), by name.
fn tree_names(pid: u32) -> Vec<String> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c).unwrap_or_default();
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        parents.push((child, ppid.unwrap_or(0), comm.to_owned()));
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp, _)| *pp == p)
                .map(|(c, _, _)| *c),
        );
        i += 1;
    }
    parents
        .into_iter()
        .filter(|(c, _, _)| tree.contains(c))
        .map(|(_, _, comm)| comm)
        .collect()
}

/// Closing the feed and settings windows (as a window manager's close
/// button does) ends their WebKit processes within 10 s; the app stays in
/// the tray and opens a window again on demand.
#[test]
fn closing_the_windows_ends_every_webkit_process_and_the_app_stays_in_the_tray() {
    let api = api_with_alert();
    let dir = desktop_dir(&api);
    let session = dir.session.as_ref().expect("session");
    let host = session.tray_host();
    let display = Display::start();
    let mut app = App::start(&dir, &display);
    let item = tray_item(&dir, &host);
    assert_eq!(web_processes(app.child.id()), 0);
    session.block_on(item.activate()).expect("Activate");
    click(&dir, &item, "Settings…");
    eventually(
        "two windows' web processes",
        Duration::from_secs(30),
        || (web_processes(app.child.id()) >= 2).then_some(()),
    );
    let asked = eventually(
        "both windows on the display",
        Duration::from_secs(10),
        || {
            let n = display.close_windows("Sekoia Notifier")
                + display.close_windows("Sekoia Notifier settings");
            (n >= 2).then_some(n)
        },
    );
    assert_eq!(asked, 2);
    let t0 = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = tree_names(app.child.id())
            .into_iter()
            .filter(|n| n.starts_with("WebKit"))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "WebKit processes still running 10 s after the windows closed: {left:?}; web processes: {}",
            web_processes(app.child.id())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "WebKit processes gone {} ms after the close",
        t0.elapsed().as_millis()
    );
    assert!(
        app.child.try_wait().expect("try_wait").is_none(),
        "the app quit"
    );
    wait_tooltip(&dir, &item, "no unread alerts");
    // And a window opens again, with a new network process, and draws.
    session.block_on(item.activate()).expect("Activate");
    eventually("the feed window again", Duration::from_secs(30), || {
        (web_processes(app.child.id()) > 0).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let shot = crate::console::screenshots().join("reopened-feed.png");
    let out = Command::new("import")
        .args(["-display", &display.name, "-window", "root"])
        .arg(&shot)
        .output()
        .expect("import (package imagemagick)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The window's area is drawn (the page is light), not left black.
    let mean = Command::new("convert")
        .arg(&shot)
        .args(["-crop", "440x640+0+0", "-format", "%[fx:mean]", "info:"])
        .output()
        .expect("convert (package imagemagick)");
    let mean: f64 = String::from_utf8_lossy(&mean.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0);
    assert!(
        mean > 0.5,
        "the reopened window looks empty (mean {mean}): {}",
        shot.display()
    );
    click(&dir, &item, "Quit");
    assert_eq!(
        app.wait(Duration::from_secs(20)),
        Some(0),
        "{}",
        app.log_text()
    );
}
