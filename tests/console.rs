//! The feed window as a triage console, over WebDriver on the real app:
//! dense rows (at least 10 at 420×640), sort, focus ring, `?` help, the
//! detail pane read from the fake Alert API (history, comments, every
//! workflow action with a comment), Copy link, community names and filter,
//! errors at the row. Its screenshots (1280×800, realistic alerts of every
//! urgency band) are the README's.

use crate::desktop::{app_bin, eventually, Display};
use crate::util::{alert, Dir};
use crate::webdriver::{Driver, Session};
use crate::window::{app_args, listen_addr};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const MSSP_A: &str = "5c7e9a11-2f4b-4c1e-9d2a-0f3b8d6c1a4e";
pub const MSSP_B: &str = "9b2d4f60-7a1c-4e3b-8d5f-1c2e3a4b5d6f";

/// One realistic alert: (uuid, short id, title, urgency, rule, entity,
/// source, target, minutes ago, occurrences, community).
type Spec = (
    &'static str,
    &'static str,
    &'static str,
    u8,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u64,
    u64,
    &'static str,
);

/// Fifteen alerts as a SOC sees them on a working morning, every band.
pub const ALERTS: [Spec; 15] = [
    (
        "a1000000-0000-4000-8000-000000000001",
        "ALq7Zk2Rf9Tx",
        "Ransomware note dropped on FS01 shares",
        94,
        "Ransomware file extension burst",
        "Headquarters",
        "10.20.4.17",
        "fs01.corp.example",
        3,
        48,
        MSSP_A,
    ),
    (
        "a1000000-0000-4000-8000-000000000002",
        "ALm4Rt8Kx2Pq",
        "Mimikatz command line on DC01",
        86,
        "Mimikatz command line",
        "Headquarters",
        "10.1.2.3",
        "dc01.corp.example",
        11,
        2,
        MSSP_A,
    ),
    (
        "a1000000-0000-4000-8000-000000000003",
        "ALc2Vb6Nn1Wd",
        "Impossible travel for j.doe@corp.example",
        68,
        "Impossible travel",
        "Cloud tenant",
        "185.220.101.4",
        "j.doe@corp.example",
        19,
        1,
        MSSP_B,
    ),
    (
        "a1000000-0000-4000-8000-000000000004",
        "ALh8Jd3Ls5Qe",
        "Encoded PowerShell on HR-LAPTOP-7",
        63,
        "Suspicious PowerShell",
        "Headquarters",
        "hr-laptop-7",
        "powershell.exe",
        26,
        5,
        MSSP_A,
    ),
    (
        "a1000000-0000-4000-8000-000000000005",
        "ALp1Gf7Hy4Ur",
        "Brute force on VPN gateway",
        55,
        "Brute force on VPN",
        "Branch Lyon",
        "45.95.147.12",
        "vpn.corp.example",
        34,
        312,
        MSSP_B,
    ),
    (
        "a1000000-0000-4000-8000-000000000006",
        "ALw5Tc9Mb3Ks",
        "New service installed on SRV-APP-02",
        47,
        "Service installation",
        "Datacenter",
        "srv-app-02",
        "PSEXESVC",
        41,
        1,
        MSSP_A,
    ),
    (
        "a1000000-0000-4000-8000-000000000007",
        "ALr3Qx1Dv8Fn",
        "DNS tunnelling pattern from WS-114",
        44,
        "DNS tunnelling",
        "Headquarters",
        "ws-114",
        "t.exfil-cdn.example",
        52,
        17,
        MSSP_A,
    ),
    (
        "a1000000-0000-4000-8000-000000000008",
        "ALn9Kp4Wz6Ga",
        "Admin login outside office hours",
        36,
        "Off-hours privileged login",
        "Cloud tenant",
        "82.64.12.9",
        "admin@corp.example",
        67,
        1,
        MSSP_B,
    ),
    (
        "a1000000-0000-4000-8000-000000000009",
        "ALy6Bm2Ct7Jh",
        "Outdated TLS protocol on mail gateway",
        31,
        "Deprecated TLS version",
        "Datacenter",
        "mx1.corp.example",
        "TLS 1.0",
        80,
        9,
        MSSP_A,
    ),
    (
        "a1000000-0000-4000-8000-000000000010",
        "ALd4Fs8Gr1Lw",
        "Mass file download from SharePoint",
        27,
        "Unusual download volume",
        "Cloud tenant",
        "m.lee@corp.example",
        "sharepoint",
        95,
        3,
        MSSP_B,
    ),
    (
        "a1000000-0000-4000-8000-000000000011",
        "ALk1Hn5Ue9Xc",
        "Port scan from guest Wi-Fi",
        22,
        "Internal port scan",
        "Branch Lyon",
        "172.16.9.44",
        "10.20.0.0/16",
        121,
        4,
        MSSP_B,
    ),
    (
        "a1000000-0000-4000-8000-000000000012",
        "ALs7Jv3Pt2Mb",
        "USB mass storage on finance laptop",
        15,
        "Removable media",
        "Headquarters",
        "fin-laptop-3",
        "USB 0781:5581",
        160,
        1,
        MSSP_A,
    ),
    (
        "a1000000-0000-4000-8000-000000000013",
        "ALu2Lq6Wa8Ry",
        "Certificate expiring on intranet portal",
        9,
        "Certificate expiry",
        "Datacenter",
        "intranet.corp.example",
        "CN=intranet",
        240,
        1,
        MSSP_A,
    ),
    (
        "a1000000-0000-4000-8000-000000000014",
        "ALg5Xe1Bk4Dz",
        "Password spray blocked by IdP",
        6,
        "Password spray",
        "Cloud tenant",
        "193.32.162.7",
        "idp.corp.example",
        330,
        58,
        MSSP_B,
    ),
    (
        "a1000000-0000-4000-8000-000000000015",
        "ALb8Cw7Yn3Hv",
        "New admin account created",
        4,
        "Account creation",
        "Headquarters",
        "it-admin",
        "svc-backup",
        420,
        1,
        MSSP_A,
    ),
];

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Epoch seconds as RFC 3339 UTC (days to a civil date: Howard Hinnant's
/// algorithm).
fn rfc3339(epoch: u64) -> String {
    let (days, secs) = ((epoch / 86_400) as i64, epoch % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000000Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The alert object of `spec`, as the Alert API answers it.
pub fn alert_of(spec: &Spec) -> Value {
    let (uuid, short, title, urgency, rule, entity, source, target, ago, similar, community) =
        *spec;
    let mut a = fake_sekoia::alert_json(uuid, short, title, urgency);
    let created = now() - ago * 60;
    a["created_at"] = json!(created);
    a["first_seen_at"] = json!(rfc3339(created));
    let last = if similar > 1 {
        now() - 60 * (ago / 3)
    } else {
        created
    };
    a["last_seen_at"] = json!(rfc3339(last));
    a["rule"]["name"] = json!(rule);
    a["rule"]["description"] = json!(format!("Sekoia.io detection rule: {rule}."));
    a["entity"]["name"] = json!(entity);
    a["source"] = json!(source);
    a["target"] = json!(target);
    a["similar"] = json!(similar);
    a["community_uuid"] = json!(community);
    a["details"] = json!(format!(
        "{title}.\nSeen {similar} time(s) from {source} towards {target}; check whether this activity was expected."
    ));
    a
}

/// The feed screenshots' folder (`target/screenshots`), which the README's
/// `docs/` pictures are copied from.
pub fn screenshots() -> PathBuf {
    crate::util::bin()
        .parent()
        .and_then(|p| p.parent())
        .expect("target dir")
        .join("screenshots")
}

/// WebKitWebDriver as the window tests start it; `failing`: the browser
/// opener fails like xdg-open without a browser (exit 3).
fn driver(dir: &Dir, display: &Display, failing: bool) -> Driver {
    let driver = crate::window::driver(dir, display);
    if failing {
        // The app starts with the session: the opener is read then.
        let opener = dir.tmp.path().join("bin/xdg-open");
        std::fs::write(
            &opener,
            "#!/bin/sh\necho 'xdg-open: no method available for opening' >&2\nexit 3\n",
        )
        .expect("failing opener");
    }
    driver
}

fn wait_feed(window: &Session<'_>) {
    window.wait_for(
        "the feed page",
        "return document.querySelector('#feed') !== null && document.readyState === 'complete'",
    );
}

/// Posts every alert of `specs` (oldest first) and waits for them enriched.
fn post_all(window: &Session<'_>, dir: &Dir, specs: &[Spec]) {
    let addr = listen_addr(dir);
    for spec in specs.iter().rev() {
        assert_eq!(crate::util::post_hook(addr, &alert(spec.0)), 202);
    }
    window.wait_for(
        "every row enriched",
        &format!(
            "const r = document.querySelectorAll('.row'); return r.length === {} && [...r].every((x) => !x.classList.contains('u-unknown'))",
            specs.len()
        ),
    );
}

fn row(uuid: &str) -> String {
    format!("document.querySelector('.row[data-uuid=\"{uuid}\"]')")
}

#[test]
fn the_feed_is_a_dense_keyboard_console_with_a_detail_pane_and_every_workflow_action() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    for spec in &ALERTS {
        api.add_alert(alert_of(spec));
    }
    api.add_community(MSSP_A, "Acme Retail");
    // MSSP_B stays unknown to the API: its label is its uuid's first block.
    let first = ALERTS[0].0;
    api.add_comment(
        first,
        fake_sekoia::comment_json(
            "c1000000-0000-4000-8000-000000000001",
            "Isolated FS01 from the network; <b>not</b> markup.",
        ),
    );
    let dir = crate::desktop::desktop_dir(&api);
    let display = Display::start();
    let driver = driver(&dir, &display, false);
    let window = driver.session(&app_bin(), &app_args(&dir));
    wait_feed(&window);
    window.set_window_size(420, 640);
    post_all(&window, &dir, &ALERTS);

    // Dense rows: at least 10 wholly visible at 420×640, on two lines each.
    let shown = window.execute(
        "const view = document.querySelector('.listing').getBoundingClientRect(); \
         const rows = [...document.querySelectorAll('.row')]; \
         return { visible: rows.filter((r) => { const b = r.getBoundingClientRect(); return b.top >= view.top && b.bottom <= view.bottom + 0.5; }).length, \
                  height: rows[0].getBoundingClientRect().height, width: window.innerWidth, \
                  overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth }",
        json!([]),
    );
    assert!(
        shown["visible"].as_u64().unwrap_or(0) >= 10,
        "fewer than 10 rows visible at 420×640: {shown}"
    );
    assert_eq!(shown["overflow"], false, "{shown}");
    window.screenshot(&screenshots().join("feed-420x640.png"));
    // A row: urgency word and number, title, short id, entity, status,
    // alert time with its age, occurrences; no Acknowledge line of its own.
    let r0 = row(first);
    let parts = window.execute(
        &format!(
            "const r = {r0}; return {{ urgency: r.querySelector('.urgency').textContent, \
              line2: r.querySelector('.line2').textContent, when: r.querySelector('.when').textContent, \
              actionsShown: getComputedStyle(r.querySelector('.actions-hover')).display }}"
        ),
        json!([]),
    );
    assert_eq!(parts["urgency"], "Urgent 94", "{parts}");
    let line2 = parts["line2"].as_str().unwrap_or_default();
    for needle in [
        "ALq7Zk2Rf9Tx",
        "Pending",
        "Headquarters",
        "48 occurrences",
        "Acme Retail",
    ] {
        assert!(line2.contains(needle), "{needle} not in {line2:?}");
    }
    assert!(
        parts["when"]
            .as_str()
            .unwrap_or_default()
            .ends_with(" · 3 min"),
        "the alert's own time, not its arrival: {parts}"
    );
    assert_eq!(
        parts["actionsShown"], "none",
        "actions only on hover or focus"
    );
    // The other community, unknown to the API, reads as its first block.
    let b = row(ALERTS[2].0);
    let label = window.wait_for(
        "the fallback community label",
        &format!("return {b}.querySelector('.community')?.textContent"),
    );
    assert_eq!(label, "9b2d4f60");

    // Newest first by default (the alerts' own times); by urgency on `s`.
    let order = |window: &Session<'_>| -> Vec<String> {
        window
            .execute(
                "return [...document.querySelectorAll('.row')].map((r) => r.dataset.uuid)",
                json!([]),
            )
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let newest: Vec<String> = ALERTS.iter().map(|s| s.0.to_owned()).collect();
    assert_eq!(order(&window), newest);
    // Keyboard: focus the first row, then `s` sorts by urgency.
    window.send_keys("#filter", "\u{E015}"); // ArrowDown: to the first row
    let ring = window.execute(
        "const r = document.activeElement; return { row: r.classList.contains('row'), shadow: getComputedStyle(r).boxShadow }",
        json!([]),
    );
    assert_eq!(ring["row"], true, "{ring}");
    assert!(
        ring["shadow"].as_str().unwrap_or("none") != "none",
        "a visible focus ring: {ring}"
    );
    window.execute(
        "document.activeElement.dispatchEvent(new KeyboardEvent('keydown', { key: 's', bubbles: true }))",
        json!([]),
    );
    let mut by_urgency = ALERTS.to_vec();
    by_urgency.sort_by_key(|s| std::cmp::Reverse(s.3));
    assert_eq!(
        order(&window),
        by_urgency
            .iter()
            .map(|s| s.0.to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        window.execute("return document.querySelector('#sort').value", json!([])),
        "urgency"
    );
    window.execute(
        "const s = document.querySelector('#sort'); s.value = 'newest'; s.dispatchEvent(new Event('change'))",
        json!([]),
    );
    // `?` shows the shortcuts.
    window.execute(
        "document.body.dispatchEvent(new KeyboardEvent('keydown', { key: '?', bubbles: true }))",
        json!([]),
    );
    let help = window.execute(
        "const d = document.querySelector('#shortcuts'); return d.open && d.textContent.includes('Copy the alert')",
        json!([]),
    );
    assert_eq!(help, true);
    window.execute("document.querySelector('#shortcuts').close()", json!([]));

    // The community filter: shown with two communities, keeps one.
    let options = window.execute(
        "const s = document.querySelector('#community'); return s.hidden ? null : [...s.options].map((o) => o.textContent)",
        json!([]),
    );
    assert_eq!(
        options,
        json!(["All communities", "Acme Retail", "9b2d4f60"])
    );
    let kept = window.execute(
        "const s = document.querySelector('#community'); s.value = arguments[0]; s.dispatchEvent(new Event('change')); \
         return [...document.querySelectorAll('.row')].map((r) => r.dataset.uuid)",
        json!([MSSP_B]),
    );
    let of_b: Vec<&str> = ALERTS
        .iter()
        .filter(|s| s.10 == MSSP_B)
        .map(|s| s.0)
        .collect();
    assert_eq!(kept, json!(of_b));
    window.execute(
        "const s = document.querySelector('#community'); s.value = ''; s.dispatchEvent(new Event('change'))",
        json!([]),
    );

    // The detail pane: Enter on the first row.
    window.execute(
        &format!("{r0}.focus(); {r0}.dispatchEvent(new KeyboardEvent('keydown', {{ key: 'Enter', bubbles: true }}))"),
        json!([]),
    );
    window.wait_for(
        "the pane with the alert's comments",
        "const p = document.querySelector('#pane'); return !p.hidden && p.textContent.includes('Isolated FS01')",
    );
    let pane = window.execute(
        "const p = document.querySelector('#pane'); \
         const facts = Object.fromEntries([...p.querySelectorAll('.facts dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])); \
         return { facts, text: p.textContent, actions: [...p.querySelectorAll('.workflow button')].map((b) => b.textContent), \
                  markup: p.querySelectorAll('b, img, script').length }",
        json!([]),
    );
    let facts = &pane["facts"];
    assert_eq!(facts["Status"], "Pending", "{pane}");
    assert_eq!(facts["Urgency"], "Urgent 94", "{pane}");
    assert_eq!(facts["Rule"], "Ransomware file extension burst", "{pane}");
    assert_eq!(facts["Entity"], "Headquarters", "{pane}");
    assert_eq!(facts["Source"], "10.20.4.17", "{pane}");
    assert_eq!(facts["Target"], "fs01.corp.example", "{pane}");
    assert_eq!(facts["Occurrences"], "48", "{pane}");
    assert_eq!(facts["Community"], "Acme Retail", "{pane}");
    for key in ["First seen", "Last seen", "Raised"] {
        assert!(
            facts[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: {pane}"
        );
    }
    let text = pane["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Seen 48 time(s) from 10.20.4.17"),
        "description: {text}"
    );
    assert!(text.contains("Status history"), "{text}");
    assert!(
        text.contains("<b>not</b> markup"),
        "comments stay text: {text}"
    );
    assert_eq!(pane["markup"], 0);
    assert_eq!(pane["actions"], json!(["Acknowledge", "Reject"]));

    // Acknowledge with a comment: the PATCH carries it, the pane shows the
    // new status, its history entry with the comment, and the next actions.
    window.clear_and_type("#action-comment", "Taking it: isolating FS01");
    window.click(".workflow button[data-action=\"937bdabf-6a08-434b-b6d3-d7447e4e452a\"]");
    window.wait_for(
        "the acknowledged pane",
        "const p = document.querySelector('#pane'); return [...p.querySelectorAll('.workflow button')].map((b) => b.textContent).join() === 'Close,Reject'",
    );
    let patch = api
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH" && r.path.contains(first))
        .expect("a PATCH of the workflow");
    let body: Value = serde_json::from_str(&patch.body).expect("PATCH body");
    assert_eq!(body["action_uuid"], fake_sekoia::ACKNOWLEDGE_ACTION);
    assert_eq!(body["comment"], "Taking it: isolating FS01");
    let after = window.execute(
        "const p = document.querySelector('#pane'); return { status: p.querySelector('.facts dd').textContent, history: p.querySelector('.history').textContent }",
        json!([]),
    );
    assert_eq!(after["status"], "Acknowledged", "{after}");
    let history = after["history"].as_str().unwrap_or_default();
    assert!(
        history.contains("Pending → Acknowledged") && history.contains("Taking it: isolating FS01"),
        "{after}"
    );
    window.wait_for(
        "the row's new status",
        &format!("return {r0}.querySelector('.line2').textContent.includes('Acknowledged')"),
    );
    window.wait_for(
        "the action's confirmation",
        "const t = document.querySelector('#toast'); return t && !t.hidden && t.textContent.includes('Acknowledge')",
    );
    window.wait_for(
        "the confirmation to go",
        "return document.querySelector('#toast').hidden",
    );
    window.screenshot(&screenshots().join("feed-narrow.png"));
    window.set_window_size(1280, 800);
    window.screenshot(&screenshots().join("feed.png"));

    // Close: the last action; none is offered after it.
    window.click(".workflow button[data-action=\"1390be4e-ced8-4dd6-9bed-573471b235ab\"]");
    window.wait_for(
        "the closed pane",
        "const p = document.querySelector('#pane'); return p.querySelector('.facts dd').textContent === 'Closed' && p.querySelectorAll('.workflow button').length === 0",
    );
    assert_eq!(api.alert_status(first).as_deref(), Some("Closed"));

    // Reject, on another alert, through the pane without a comment.
    let second = ALERTS[1].0;
    window.click(&format!(".row[data-uuid=\"{second}\"] .line1"));
    window.wait_for(
        "the second alert's actions",
        "return [...document.querySelectorAll('#pane .workflow button')].map((b) => b.textContent).join() === 'Acknowledge,Reject'",
    );
    window.click(".workflow button[data-action=\"ade85d7b-7507-4026-bfc6-cc006d10ddac\"]");
    window.wait_for(
        "the rejected pane",
        "return document.querySelector('#pane .facts dd').textContent === 'Rejected'",
    );
    assert_eq!(api.alert_status(second).as_deref(), Some("Rejected"));
    let rejected = api
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PATCH" && r.path.contains(second))
        .expect("the Reject PATCH");
    assert!(!rejected.body.contains("comment"), "{}", rejected.body);

    // Copy link: the alert page's URL reaches the clipboard (pasted back
    // into the filter field with Ctrl+V).
    window.click("#pane .copy-pane");
    window.wait_for(
        "the copy confirmation",
        "return document.querySelector('#toast')?.textContent.includes('copied')",
    );
    window.execute("document.querySelector('#filter').value = ''", json!([]));
    window.send_keys("#filter", "\u{E009}v\u{E000}");
    let pasted = window.execute("return document.querySelector('#filter').value", json!([]));
    assert_eq!(
        pasted,
        format!("https://app.sekoia.io/operations/alerts/{}", ALERTS[1].1)
    );
    window.execute(
        "const f = document.querySelector('#filter'); f.value = ''; f.dispatchEvent(new Event('input'))",
        json!([]),
    );

    // Open in Sekoia.io from the pane: the page opens and the row turns read.
    window.click("#pane .open-pane");
    let opened = eventually("the browser opener to run", Duration::from_secs(10), || {
        std::fs::read_to_string(dir.tmp.path().join("opened")).ok()
    });
    assert_eq!(
        opened.trim(),
        format!("https://app.sekoia.io/operations/alerts/{}", ALERTS[1].1)
    );
    window.wait_for(
        "the row to turn read",
        &format!("return {}.classList.contains('read')", row(second)),
    );
}

#[test]
fn errors_show_at_the_row_and_a_failed_browser_launch_keeps_the_alert_unread() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    let known = &ALERTS[3];
    api.add_alert(alert_of(known));
    let unknown = "b2000000-0000-4000-8000-0000000000ff";
    let mut dir = crate::desktop::desktop_dir(&api);
    // The dark theme, as a desktop set to dark gives it to GTK apps.
    dir.env.push(("GTK_THEME".into(), "Adwaita:dark".into()));
    let display = Display::start();
    let driver = driver(&dir, &display, true);
    let window = driver.session(&app_bin(), &app_args(&dir));
    wait_feed(&window);
    let addr = listen_addr(&dir);
    assert_eq!(crate::util::post_hook(addr, &alert(known.0)), 202);
    assert_eq!(crate::util::post_hook(addr, &alert(unknown)), 202);

    // An alert the API does not know: no "enriching" once the lookup failed
    // for good, and the reason in words.
    let u = row(unknown);
    let text = window.wait_for(
        "the unknown alert's reason",
        &format!("const r = {u}; return r && r.querySelector('.problem') ? r.textContent : null"),
    );
    let text = text.as_str().unwrap_or_default();
    assert!(text.contains("Not enriched"), "{text}");
    assert!(!text.contains("Enriching"), "{text}");
    assert!(text.to_lowercase().contains("does not know"), "{text}");
    window.click(&format!(".row[data-uuid=\"{unknown}\"] .line1"));
    let said = window.wait_for(
        "the pane's 404",
        "return document.querySelector('#alert-error')?.textContent",
    );
    assert!(
        said.as_str()
            .unwrap_or_default()
            .starts_with("Sekoia.io does not know this alert (404)"),
        "{said}"
    );

    let dark = window.execute(
        "return { dark: matchMedia('(prefers-color-scheme: dark)').matches, bg: getComputedStyle(document.body).backgroundColor }",
        json!([]),
    );
    assert_eq!(dark["dark"], true, "{dark}");
    assert_eq!(dark["bg"], "rgb(21, 25, 31)", "the dark palette: {dark}");
    window.screenshot(&screenshots().join("feed-dark-pane.png"));

    // Narrow window: the pane covers the list; Esc goes back to it.
    window.execute(
        "document.querySelector('#pane').dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }))",
        json!([]),
    );
    assert_eq!(
        window.execute("return document.querySelector('#pane').hidden", json!([])),
        true
    );

    // The browser cannot start: the row stays unread and says why, in
    // words, with Copy link.
    let k = row(known.0);
    window.execute(&format!("{k}.focus()"), json!([]));
    window.execute(
        &format!("{k}.dispatchEvent(new KeyboardEvent('keydown', {{ key: 'o', bubbles: true }}))"),
        json!([]),
    );
    let error = window.wait_for(
        "the row's error",
        &format!("return {k}.querySelector('.row-error')?.textContent"),
    );
    let error = error.as_str().unwrap_or_default();
    assert!(
        error.starts_with("No web browser could be opened for this alert"),
        "{error}"
    );
    assert!(
        !error.contains("ExitStatus"),
        "no raw launcher text: {error}"
    );
    assert_eq!(
        window.execute(&format!("return {k}.classList.contains('read')"), json!([])),
        false,
        "nothing opened: still unread"
    );
    assert_eq!(
        window.execute(
            &format!("return {k}.querySelector('.row-error .copy-link') !== null"),
            json!([])
        ),
        true
    );
    assert_eq!(
        window.execute(
            "return document.querySelector('#warning').hidden",
            json!([])
        ),
        true,
        "the error is at the row, not in the page banner"
    );

    // A workflow action refused (the key lacks the permission): at the pane
    // and the row, in words.
    api.deny_workflow_write(true);
    window.click(&format!(".row[data-uuid=\"{}\"] .line1", known.0));
    window.wait_for(
        "the actions",
        "return document.querySelectorAll('#pane .workflow button').length === 2",
    );
    window.click("#pane .workflow button");
    let refused = window.wait_for(
        "the refusal",
        "const t = document.querySelector('#pane-problem').textContent; return t.includes('403') ? t : null",
    );
    assert!(
        refused
            .as_str()
            .unwrap_or_default()
            .contains("SIC_WRITE_ALERTS_WORKFLOW"),
        "{refused}"
    );
    window.wait_for(
        "the refusal at the row",
        &format!("return {k}.querySelector('.row-error')?.textContent.includes('SIC_WRITE_ALERTS_WORKFLOW')"),
    );
}
