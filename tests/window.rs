//! The desktop app's real windows, driven over WebDriver (WebKitWebDriver
//! launches the app under Xvfb, in a private session with a keyring and the
//! fake Sekoia.io API). Screenshots land in `target/screenshots/`.

use crate::console::screenshots;
use crate::desktop::{app_bin, eventually, Display};
use crate::util::{alert, Dir};
use crate::webdriver::Driver;
use serde_json::json;
use std::process::Command;
use std::time::Duration;

const UUID: &str = "4d8e9c3e-7f6b-4a5c-9d0e-9f8a7b6c5d4e";
const HOSTILE: &str = r#"<img src=x onerror="document.title='pwned'"><b>Evil</b> & "quoted""#;

/// WebKitWebDriver with the session, display and a fake browser opener.
pub fn driver(dir: &Dir, display: &Display) -> Driver {
    let (path, _) = crate::util::fake_opener(dir.tmp.path(), "opened");
    Driver::start(&dir.tmp.path().join("app.log"), |cmd: &mut Command| {
        dir.session.as_ref().expect("session").apply(cmd);
        cmd.env("DISPLAY", &display.name)
            .env("HOME", dir.tmp.path().join("home"))
            .env("PATH", path)
            .env("TAURI_WEBVIEW_AUTOMATION", "true")
            .env("RUST_LOG", "info");
        for (k, v) in &dir.env {
            cmd.env(k, v);
        }
    })
}

pub fn app_args(dir: &Dir) -> Vec<String> {
    vec![
        "--config".into(),
        dir.config().display().to_string(),
        "--data-dir".into(),
        dir.data().display().to_string(),
    ]
}

/// A first run against `api`: no key yet, so the app opens its settings.
fn first_run_dir(api: &fake_sekoia::FakeSekoia) -> Dir {
    Dir::with_session(&format!(
        "[sekoia]\napi_url = \"{}\"\napp_url = \"https://app.sekoia.io\"\n",
        api.url()
    ))
}

fn wait_settings_form(window: &crate::webdriver::Session<'_>) {
    window.wait_for(
        "the settings form",
        "return document.querySelector('#region option') !== null",
    );
}

/// A loopback port free now (the form refuses the test config's port 0).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub fn listen_addr(dir: &Dir) -> std::net::SocketAddr {
    eventually("instance.json", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(dir.data().join("instance.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["listen"].as_str()?.parse().ok()
    })
}

#[test]
fn the_feed_window_lists_a_posted_alert_and_renders_a_hostile_title_as_text() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    api.add_alert(fake_sekoia::alert_json(UUID, "ALwin1", HOSTILE, 90));
    // A key and no tray host: the app opens the feed window by itself.
    let dir = crate::desktop::desktop_dir(&api);
    let display = Display::start();
    let driver = driver(&dir, &display);
    let window = driver.session(&app_bin(), &app_args(&dir));
    window.wait_for(
        "the feed page",
        "return document.querySelector('#feed') !== null && document.readyState === 'complete'",
    );
    window.wait_for(
        "the empty state",
        "return !document.querySelector('#empty').hidden",
    );
    assert!(window.text("#empty").contains("No alerts yet"));

    let addr = listen_addr(&dir);
    let post = |uuid: &str| assert_eq!(crate::util::post_hook(addr, &alert(uuid)), 202);
    // Two ordinary alerts first, for a feed that looks like a working day.
    for (uuid, short, title, urgency) in [
        (
            "5e9f0d4f-8a7c-4b6d-8e1f-0a9b8c7d6e5f",
            "ALwin2",
            "Impossible travel for j.doe@corp.example",
            62,
        ),
        (
            "6f0a1e5a-9b8d-4c7e-9f2a-1b0c9d8e7f6a",
            "ALwin3",
            "Outdated TLS protocol on mail gateway",
            25,
        ),
    ] {
        api.add_alert(fake_sekoia::alert_json(uuid, short, title, urgency));
        post(uuid);
    }
    post(UUID);
    let title = window.wait_for(
        "the enriched row",
        "const t = document.querySelector('.row .title'); return t && t.textContent.includes('Evil') ? t.textContent : null",
    );
    let row = format!("document.querySelector('.row[data-uuid=\"{UUID}\"]')");
    assert_eq!(
        title.as_str(),
        Some(HOSTILE),
        "the title is shown verbatim, as text"
    );
    let checks = window.execute(
        &format!(
            "return {{ imgs: document.querySelectorAll('#feed img, #feed b').length, title: document.title, \
                      urgency: {row}.querySelector('.urgency').textContent, \
                      level: {row}.className, unread: document.querySelector('#unread').textContent }}"
        ),
        json!([]),
    );
    assert_eq!(
        checks["imgs"], 0,
        "no markup from the alert became elements: {checks}"
    );
    assert_eq!(checks["title"], "Sekoia Notifier", "{checks}");
    assert_eq!(checks["urgency"], "Urgent 90", "{checks}");
    assert!(
        checks["level"]
            .as_str()
            .unwrap_or_default()
            .contains("u-urgent"),
        "{checks}"
    );
    assert_eq!(checks["unread"], "3", "{checks}");
    window.screenshot(&screenshots().join("feed-hostile.png"));

    // A click shows the alert in the pane; its Open button opens the alert
    // page (through Rust, the app_url rule) and marks it read.
    window.click(&format!(".row[data-uuid=\"{UUID}\"] .line1"));
    window.wait_for(
        "the pane's actions",
        "return document.querySelectorAll('#pane .workflow button').length > 0",
    );
    window.click("#pane .open-pane");
    let opened = eventually("the browser opener to run", Duration::from_secs(10), || {
        std::fs::read_to_string(dir.tmp.path().join("opened")).ok()
    });
    assert_eq!(
        opened.trim(),
        "https://app.sekoia.io/operations/alerts/ALwin1"
    );
    window.wait_for(
        "the row to turn read",
        &format!("return {row}.classList.contains('read')"),
    );
    window.wait_for(
        "the badge to count 2",
        "return document.querySelector('#unread').textContent === '2'",
    );

    // A hostile corpus: bidi overrides, NUL and other controls, a
    // javascript: URL, 100 KB: shown as bounded plain text, no layout break.
    let corpus = "7e1b2c3d-0a9b-4c8d-8e7f-6a5b4c3d2e1f";
    let long = format!(
        "\u{202e}gpj.exe\u{202c} \u{0000}<script>alert(1)</script>\u{2028}\u{2029}\u{85}Status: Closed javascript:alert(1) {}",
        "A".repeat(100 * 1024)
    );
    api.add_alert(fake_sekoia::alert_json(corpus, "ALwin4", &long, 70));
    post(corpus);
    let hostile_row = format!("document.querySelector('.row[data-uuid=\"{corpus}\"]')");
    window.wait_for(
        "the hostile corpus row",
        &format!("const r = {hostile_row}; return r && r.querySelector('.title').textContent.includes('gpj')"),
    );
    let shown = window.execute(
        &format!(
            "const r = {hostile_row}; const t = r.querySelector('.title').textContent; \
             return {{ chars: Array.from(t).length, bidi: /[\\u202a-\\u202e\\u2066-\\u2069\\u0000\\u2028\\u2029\\u0085]/.test(t), \
                      ends: t.endsWith('…'), height: r.getBoundingClientRect().height, \
                      overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth, \
                      scripts: document.querySelectorAll('#feed script').length }}"
        ),
        json!([]),
    );
    assert!(
        shown["chars"].as_u64().unwrap_or(u64::MAX) <= 300,
        "{shown}"
    );
    assert_eq!(shown["bidi"], false, "{shown}");
    assert_eq!(shown["ends"], true, "shortened with an ellipsis: {shown}");
    assert!(
        shown["height"].as_f64().unwrap_or(f64::MAX) < 200.0,
        "{shown}"
    );
    assert_eq!(shown["overflow"], false, "{shown}");
    assert_eq!(shown["scripts"], 0, "{shown}");

    // Acknowledge from the row: the workflow action in Sekoia.io, then the
    // row shows the new status and offers the action no more.
    window.execute(
        &format!(
            "{row}.dispatchEvent(new KeyboardEvent('keydown', {{ key: 'a', bubbles: true }}))"
        ),
        json!([]),
    );
    window.wait_for(
        "the acknowledged status",
        &format!(
            "return {row}.textContent.includes('Acknowledged') && !{row}.querySelector('.ack')"
        ),
    );
    assert!(
        api.requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.contains(UUID)),
        "no PATCH of the workflow reached the API"
    );

    // The feed window may not call the settings commands (capabilities).
    let denied = window.execute_async(
        "const done = arguments[arguments.length - 1]; \
         window.__TAURI__.core.invoke('settings_set_api_key', {key: 'x'}).then(() => done('allowed'), (e) => done(String(e)));",
        json!([]),
    );
    assert!(
        denied.as_str().unwrap_or_default().contains("not allowed"),
        "{denied}"
    );
}

#[test]
fn the_settings_window_checks_fields_and_stores_the_key_in_the_keyring() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    // No key yet: the first run opens the settings window with a welcome.
    let dir = first_run_dir(&api);
    let display = Display::start();
    let driver = driver(&dir, &display);
    let window = driver.session(&app_bin(), &app_args(&dir));
    wait_settings_form(&window);
    window.wait_for(
        "the welcome",
        "return !document.querySelector('#welcome').hidden",
    );
    let addr = listen_addr(&dir);

    // The copy button holds the webhook URL.
    let url = window.wait_for(
        "the webhook URL",
        "return document.querySelector('#copy').dataset.url",
    );
    assert_eq!(
        url.as_str(),
        Some(format!("http://{addr}/hooks/{}", crate::util::SECRET).as_str())
    );
    window.screenshot(&screenshots().join("settings-form.png"));

    // An invalid port is refused with a message; the file is untouched.
    let before = std::fs::read_to_string(dir.config()).expect("config");
    window.clear_and_type("#port", "80");
    window.click("#save");
    let message = window.wait_for(
        "the port error",
        "return document.querySelector('#f-port .error').textContent",
    );
    assert!(
        message
            .as_str()
            .unwrap_or_default()
            .contains("1024 to 65535"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.config()).expect("config"),
        before
    );

    // Back to the value it had: the form is unchanged again.
    window.clear_and_type("#port", "0");

    // A rejected key is not stored, and the reason is in words (Enter saves).
    window.clear_and_type("#api-key", "not-the-right-key");
    window.send_keys("#api-key", "\u{E007}");
    let error = window.wait_for(
        "the key error",
        "return document.querySelector('#key-error').textContent",
    );
    assert!(
        error.as_str().unwrap_or_default().contains("rejected"),
        "{error}"
    );
    assert_eq!(lookup(&dir), "", "a rejected key must not be stored");

    // The right key is checked, stored in the keyring and never shown again.
    window.clear_and_type("#api-key", api.api_key());
    window.click("#save");
    let saved = window.wait_for(
        "the outcome of Save",
        "const t = document.querySelector('#save-result').textContent; return t && !t.startsWith('Saving') ? t : null;",
    );
    assert_eq!(saved, "Saved and applied (API key).");
    window.wait_for(
        "the key to be accepted",
        "return document.querySelector('#key-state').textContent.includes('accepted')",
    );
    assert_eq!(lookup(&dir), api.api_key());
    let field = window.execute("return document.querySelector('#api-key').value", json!([]));
    assert_eq!(field, "", "the key field is cleared after saving");
    let page = window.execute("return document.documentElement.outerHTML", json!([]));
    assert!(!page.as_str().unwrap_or_default().contains(api.api_key()));

    // Start at login (applied by Save): an XDG autostart entry that runs this app.
    window.click("#autostart");
    window.click("#save");
    // auto-launch writes under $HOME/.config, whatever XDG_CONFIG_HOME says.
    let autostart = dir.tmp.path().join("home/.config/autostart");
    let entry = eventually("the autostart entry", Duration::from_secs(10), || {
        std::fs::read_dir(&autostart)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "desktop"))
    });
    let text = std::fs::read_to_string(&entry).expect("autostart entry");
    assert!(text.contains("sekoia-notifier"), "{text}");

    // A forward destination: its URL goes to the keyring, the config only
    // names the entry, and an alert reaches the destination.
    let receiver = crate::forward::Receiver::start();
    window.execute(
        "document.querySelector('#forward-kind').value = 'webhook'",
        json!([]),
    );
    window.clear_and_type("#forward-url", &receiver.url());
    window.click("#add-forward");
    window.wait_for(
        "the destination in the list",
        "return document.querySelectorAll('#forwards li').length === 1",
    );
    let config = std::fs::read_to_string(dir.config()).expect("config");
    assert!(!config.contains(&receiver.url()), "{config}");
    let id = config
        .lines()
        .find_map(|l| l.strip_prefix("url_keyring = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no url_keyring in {config}"))
        .to_owned();
    assert_eq!(lookup_user(&dir, &format!("forward-{id}")), receiver.url());
    let uuid = "8f9e0d1c-2b3a-4c5d-9e6f-7a8b9c0d1e2f";
    api.add_alert(fake_sekoia::alert_json(
        uuid,
        "ALfwd1",
        "Forwarded from the app",
        75,
    ));
    let addr = listen_addr(&dir);
    assert_eq!(crate::util::post_hook(addr, &alert(uuid)), 202);
    let got = receiver.wait_for(1);
    assert!(
        got[0].to_string().contains("Forwarded from the app"),
        "{}",
        got[0]
    );
    let page = window.execute("return document.documentElement.outerHTML", json!([]));
    assert!(!page.as_str().unwrap_or_default().contains(&receiver.url()));

    // Removing it deletes the keyring entry too.
    window.click("#forwards li button");
    window.wait_for(
        "the empty list",
        "return document.querySelectorAll('#forwards li').length === 0",
    );
    assert_eq!(lookup_user(&dir, &format!("forward-{id}")), "");
    assert_eq!(
        window.execute(
            "return document.querySelector('#autostart').checked",
            json!([])
        ),
        true
    );

    // The escalation fields: shown with their defaults, saved to the file.
    let defaults = window.execute(
        "return [document.querySelector('#always_popup_urgency').value, \
                 document.querySelector('#remind_minutes').value, \
                 document.querySelector('#resident_urgent').checked, \
                 document.querySelector('#sound-urgent').value, \
                 document.querySelector('#sound-high').value]",
        json!([]),
    );
    assert_eq!(
        defaults,
        json!(["80", "0", true, "alarm-clock-elapsed", ""])
    );
    window.clear_and_type("#remind_minutes", "10");
    window.clear_and_type("#sound-high", "bell");
    window.click("#resident_urgent");
    // The test config listens on port 0, which the form does not accept.
    let port = free_port();
    window.clear_and_type("#port", &port.to_string());
    window.click("#save");
    let saved = window.wait_for(
        "the outcome of Save",
        "const t = document.querySelector('#save-result').textContent; return t && !t.startsWith('Saving') ? t : null;",
    );
    assert!(
        saved.as_str().unwrap_or_default().contains("Saved"),
        "{saved}"
    );
    let config = std::fs::read_to_string(dir.config()).expect("config");
    for line in [
        "remind_minutes = 10",
        "resident_urgent = false",
        "high = \"bell\"",
        "urgent = \"alarm-clock-elapsed\"",
    ] {
        assert!(config.contains(line), "{line} not in {config}");
    }
    window.execute(
        "document.querySelector('#f-sound').scrollIntoView()",
        json!([]),
    );
    window.screenshot(&screenshots().join("settings-notifications.png"));
}

/// `secret-tool lookup` of the key `set-api-key` and the app share.
fn lookup(dir: &Dir) -> String {
    lookup_user(dir, "api-key")
}

/// `secret-tool lookup` of one of our keyring entries.
fn lookup_user(dir: &Dir, user: &str) -> String {
    let mut cmd = Command::new("secret-tool");
    cmd.args(["lookup", "service", "sekoia-notifier", "username", user]);
    dir.session.as_ref().expect("session").apply(&mut cmd);
    let out = cmd.output().expect("secret-tool (package libsecret-tools)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Direct mode from the settings window: "Connection: direct" and the
/// LiveAPI URL are saved, the engine restarts connected (the window says
/// so), and an event pushed over the LiveAPI pops up, with no tunnel.
#[test]
fn the_settings_window_switches_to_direct_mode_and_a_liveapi_event_pops_up() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    let live = fake_sekoia::live::FakeLive::start_blocking(api.api_key());
    let uuid = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    api.add_alert(fake_sekoia::alert_json(
        uuid,
        "ALdirect1",
        "Direct from the window",
        80,
    ));
    let dir = first_run_dir(&api);
    let display = Display::start();
    let driver = driver(&dir, &display);
    let window = driver.session(&app_bin(), &app_args(&dir));
    wait_settings_form(&window);
    window.clear_and_type("#api-key", api.api_key());
    window.send_keys("#api-key", "\u{E007}");
    window.wait_for(
        "the key to be accepted",
        "return document.querySelector('#key-state').textContent.includes('accepted')",
    );
    assert_eq!(
        window.execute(
            "return document.querySelector('#f-liveapi_url').hidden",
            json!([])
        ),
        true,
        "the LiveAPI URL shows only in direct mode"
    );
    window.execute(
        "const s = document.querySelector('#connection'); s.value = 'direct'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    window.clear_and_type("#liveapi_url", live.url().as_str());
    // The test config listens on port 0, which the form does not accept.
    let port = free_port();
    window.clear_and_type("#port", &port.to_string());
    window.click("#save");
    let saved = window.wait_for(
        "the outcome of Save",
        "const t = document.querySelector('#save-result').textContent; return t && !t.startsWith('Saving') ? t : null;",
    );
    assert!(
        saved.as_str().unwrap_or_default().contains("Saved"),
        "{saved}"
    );
    let config = std::fs::read_to_string(dir.config()).expect("config");
    assert!(
        config.contains("[liveapi]") && config.contains("enabled = true"),
        "{config}"
    );
    assert!(config.contains(live.url().as_str()), "{config}");
    assert!(
        live.wait_connections(1, Duration::from_secs(20)),
        "no LiveAPI connection"
    );
    window.wait_for(
        "the LiveAPI state",
        "return document.querySelector('#liveapi-state').textContent.includes('connected since')",
    );
    window.screenshot(&screenshots().join("settings-direct.png"));

    assert_eq!(
        live.send(&format!(
            r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{uuid}","short_id":"ALdirect1"}},"metadata":{{"version":2,"created_at":1764380000}}}}"#
        )),
        1
    );
    let popups = dir.session.as_ref().expect("session").popups(1);
    assert_eq!(popups.len(), 1, "no pop-up");
    assert_eq!(popups[0].summary, "Direct from the window");
}

/// WCAG contrast ratio of two `#rrggbb` colours.
fn contrast(a: &str, b: &str) -> f64 {
    let luminance = |hex: &str| -> f64 {
        let hex = hex.trim().trim_start_matches('#');
        let channel = |i: usize| -> f64 {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
    };
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// One alert per band of Sekoia.io's scale (the fake API words them as the
/// real one does: 47 is High, 35 Moderate, 64 Major): each row carries its
/// band's colour, the five colours differ and read on both the light and
/// the dark background, and the urgency menu names the five words, with
/// "Low and above" keeping Low alerts.
#[test]
fn the_feed_colours_the_five_urgency_bands_and_its_menu_names_them() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    let alerts = [
        (
            "1a2b3c4d-0000-4a00-8000-000000000091",
            "ALband5",
            "Ransomware note on FS01",
            91,
            "urgent",
        ),
        (
            "1a2b3c4d-0000-4a00-8000-000000000064",
            "ALband4",
            "Impossible travel for j.doe",
            64,
            "major",
        ),
        (
            "1a2b3c4d-0000-4a00-8000-000000000047",
            "ALband3",
            "Encoded PowerShell on HR-7",
            47,
            "high",
        ),
        (
            "1a2b3c4d-0000-4a00-8000-000000000035",
            "ALband2",
            "Outdated TLS on mail gateway",
            35,
            "moderate",
        ),
        (
            "1a2b3c4d-0000-4a00-8000-000000000005",
            "ALband1",
            "New admin login from office",
            5,
            "low",
        ),
    ];
    for (uuid, short, title, urgency, _) in alerts {
        api.add_alert(fake_sekoia::alert_json(uuid, short, title, urgency));
    }
    let dir = crate::desktop::desktop_dir(&api);
    let display = Display::start();
    let driver = driver(&dir, &display);
    let window = driver.session(&app_bin(), &app_args(&dir));
    window.wait_for(
        "the feed page",
        "return document.querySelector('#feed') !== null && document.readyState === 'complete'",
    );
    let addr = listen_addr(&dir);
    for (uuid, ..) in alerts.iter().rev() {
        assert_eq!(crate::util::post_hook(addr, &alert(uuid)), 202);
    }
    window.wait_for(
        "five enriched rows",
        "const r = document.querySelectorAll('.row'); return r.length === 5 && [...r].every((x) => !x.classList.contains('u-unknown'))",
    );
    let rows = window.execute(
        "return [...document.querySelectorAll('.row')].map((r) => ({ \
            uuid: r.dataset.uuid, cls: r.className, \
            urgency: r.querySelector('.urgency').textContent, \
            bar: getComputedStyle(r.querySelector('.bar')).backgroundColor, \
            text: getComputedStyle(r.querySelector('.urgency')).color }))",
        json!([]),
    );
    let rows = rows.as_array().expect("rows");
    let mut bars = std::collections::BTreeSet::new();
    for (uuid, _, _, urgency, band) in alerts {
        let row = rows
            .iter()
            .find(|r| r["uuid"] == uuid)
            .unwrap_or_else(|| panic!("no row for {uuid}: {rows:?}"));
        assert!(
            row["cls"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("u-{band}")),
            "{row}"
        );
        let word = format!("{}{}", band[..1].to_uppercase(), &band[1..]);
        assert_eq!(row["urgency"], format!("{word} {urgency}"), "{row}");
        assert_eq!(
            row["bar"], row["text"],
            "bar and word share the band's colour: {row}"
        );
        bars.insert(row["bar"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(bars.len(), 5, "five distinct colours: {bars:?}");

    // The palette, light and dark, from the stylesheet itself.
    let palette = window.execute(
        "const out = { light: {}, dark: {} }; \
         const names = ['--bg', '--urgent', '--major', '--high', '--moderate', '--low']; \
         for (const sheet of document.styleSheets) for (const rule of sheet.cssRules) { \
           if (rule.selectorText === ':root') for (const n of names) { const v = rule.style.getPropertyValue(n).trim(); if (v) out.light[n] = v; } \
           if (rule.media && rule.media.mediaText.includes('dark')) for (const inner of rule.cssRules) \
             if (inner.selectorText === ':root') for (const n of names) { const v = inner.style.getPropertyValue(n).trim(); if (v) out.dark[n] = v; } } \
         return out;",
        json!([]),
    );
    for (scheme, minimum) in [("light", 4.5), ("dark", 4.5)] {
        let colours = &palette[scheme];
        let bg = colours["--bg"].as_str().expect("--bg");
        let mut seen = std::collections::BTreeSet::new();
        for band in ["--urgent", "--major", "--high", "--moderate", "--low"] {
            let c = colours[band]
                .as_str()
                .unwrap_or_else(|| panic!("{scheme} {band}: {palette}"));
            let ratio = contrast(c, bg);
            assert!(ratio >= minimum, "{scheme} {band} {c} on {bg}: {ratio:.2}");
            seen.insert(c.to_owned());
        }
        assert_eq!(seen.len(), 5, "{scheme}: {palette}");
    }

    // The menu: the five words, and each choice keeps its band and above.
    let options = window.execute(
        "return [...document.querySelectorAll('#min-urgency option')].map((o) => o.textContent)",
        json!([]),
    );
    assert_eq!(
        options,
        json!([
            "All urgencies",
            "Low and above",
            "Moderate and above",
            "High and above",
            "Major and above",
            "Urgent only"
        ])
    );
    let shown_for = |value: &str| -> serde_json::Value {
        window.execute(
            "const s = document.querySelector('#min-urgency'); s.value = arguments[0]; \
             s.dispatchEvent(new Event('change')); return document.querySelectorAll('.row').length;",
            json!([value]),
        )
    };
    assert_eq!(shown_for("low"), 5, "Low and above keeps Low alerts");
    assert_eq!(shown_for("high"), 3);
    assert_eq!(shown_for("urgent"), 1);
    shown_for("");
    window.screenshot(&screenshots().join("feed-bands.png"));
}

/// The first run in the right order: region (with its host) before the key,
/// the key checked against that region (Enter saves), how Sekoia.io reaches
/// the app, pop-ups in words, labelled forwarders, Start at login; no banner
/// sending the user to the settings they are in; a region change checks the
/// stored key again against the new API.
#[test]
fn the_first_run_settings_go_in_order_and_check_the_key_again_on_a_region_change() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    // Another region's API, which does not know this key.
    let other = fake_sekoia::FakeSekoia::start_blocking();
    let dir = first_run_dir(&api);
    let display = Display::start();
    let driver = driver(&dir, &display);
    let window = driver.session(&app_bin(), &app_args(&dir));
    wait_settings_form(&window);
    window.set_window_size(1280, 800);
    window.wait_for(
        "the welcome",
        "return !document.querySelector('#welcome').hidden",
    );
    let page = window.execute(
        "return { steps: [...document.querySelectorAll('main section h2')].map((h) => h.textContent), \
                  regions: [...document.querySelectorAll('#region option')].map((o) => o.textContent), \
                  banner: document.querySelector('#warning').hidden ? '' : document.querySelector('#warning').textContent, \
                  key: document.querySelector('#key-state').textContent, \
                  placeholder: document.querySelector('#api-key').placeholder, \
                  events: [...document.querySelectorAll('#events label')].map((l) => l.textContent.trim()), \
                  keepDays: document.querySelector('#keep_days').value, \
                  unlabelled: ['forward-kind', 'forward-min', 'forward-url', 'min_urgency', 'always_popup_urgency', 'region', 'api-key', 'keep_days'] \
                    .filter((id) => !document.querySelector(`label[for=\"${id}\"]`)), \
                  minUrgency: [...document.querySelectorAll('#min_urgency option')].map((o) => o.textContent), \
                  saves: document.querySelectorAll('button#save, button[id^=save]').length }",
        json!([]),
    );
    assert_eq!(
        page["steps"],
        json!([
            "1 Sekoia.io region",
            "2 API key",
            "3 How Sekoia.io reaches this app",
            "4 Pop-ups",
            "Feed history",
            "5 Forward to team chats",
            "6 Start at login"
        ]),
        "{page}"
    );
    assert_eq!(page["regions"][0], "fra1 · app.sekoia.io", "{page}");
    // `[store] keep_days`, the default when the config does not set it.
    assert_eq!(page["keepDays"], "90", "{page}");
    assert_eq!(page["regions"][4], "usa1 · app.usa1.sekoia.io", "{page}");
    assert!(
        !page["banner"]
            .as_str()
            .unwrap_or_default()
            .contains("Settings"),
        "no banner telling to open Settings inside Settings: {page}"
    );
    assert_eq!(page["key"], "No key stored yet.", "{page}");
    assert!(
        !page["placeholder"]
            .as_str()
            .unwrap_or_default()
            .contains("stored"),
        "{page}"
    );
    assert_eq!(page["events"][0], "New alert", "{page}");
    assert!(
        !page["events"]
            .to_string()
            .contains("content-proposal:created"),
        "events in words: {page}"
    );
    assert_eq!(page["unlabelled"], json!([]), "{page}");
    assert_eq!(page["minUrgency"][2], "High and above (40+)", "{page}");
    assert_eq!(page["saves"], 1, "one Save: {page}");
    window.screenshot(&screenshots().join("settings.png"));

    // Enter in the key field saves: checked against this region's API.
    window.clear_and_type("#api-key", api.api_key());
    window.send_keys("#api-key", "\u{E007}");
    let host = format!(
        "{}:{}",
        api.url().host_str().unwrap_or_default(),
        api.url().port().unwrap_or_default()
    );
    let state = window.wait_for(
        "the key to be accepted",
        "const t = document.querySelector('#key-state').textContent; return t.includes('accepted') ? t : null",
    );
    assert!(
        state.as_str().unwrap_or_default().contains(&host),
        "{state}"
    );
    assert_eq!(lookup(&dir), api.api_key());

    // Another API URL (another region): the stored key is said to be
    // checked there on Save, and after Save the check is that API's verdict.
    window.clear_and_type("#api_url", other.url().as_str());
    let other_host = format!(
        "{}:{}",
        other.url().host_str().unwrap_or_default(),
        other.url().port().unwrap_or_default()
    );
    let pending = window.execute(
        "document.querySelector('#region').dispatchEvent(new Event('change')); return document.querySelector('#key-state').textContent",
        json!([]),
    );
    // The test config listens on port 0, which the form does not accept.
    let port = free_port();
    window.clear_and_type("#port", &port.to_string());
    window.click("#save");
    let checked = window.wait_for(
        "the key checked against the other API",
        "const t = document.querySelector('#key-state').textContent; return t.includes('rejected') ? t : null",
    );
    assert!(
        checked.as_str().unwrap_or_default().contains(&other_host),
        "{checked} (before Save: {pending})"
    );
    assert!(
        other.requests().iter().any(|r| r.path == "/v1/me"),
        "the other API was asked"
    );
    assert_eq!(
        lookup(&dir),
        api.api_key(),
        "a region change never drops the stored key"
    );
}
