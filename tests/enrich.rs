//! Webhook -> enrichment through the (fake) Alert API -> pop-up on the
//! (fake, but real-protocol) notification server -> click -> browser, with
//! the real daemon, keyring and D-Bus session.

use crate::secrets::{files_containing, set_api_key};
use crate::util::{alert, report, Daemon, Dir};
use fake_sekoia::{alert_json, FakeSekoia, Fault};
use std::time::{Duration, Instant};

/// Event uuids must look like Sekoia's for the API client to fetch them.
pub fn uuid(n: u32) -> String {
    format!("5a3f2bd6-5c1e-4f0a-9b7e-{n:012}")
}

pub fn event(n: u32) -> String {
    alert(&uuid(n)).replace(&format!("AL{}", uuid(n).len()), &format!("AL{n}"))
}

/// A session with the fake API's key in the keyring and a fake `xdg-open`
/// that records the URLs it is asked to open.
pub fn setup(api: &FakeSekoia) -> Dir {
    setup_with(api, "")
}

/// Like [`setup`], with `extra` TOML after the `[sekoia]` table.
pub fn setup_with(api: &FakeSekoia, extra: &str) -> Dir {
    let extra = format!("[sekoia]\napi_url = \"{}\"\n{extra}", api.url());
    let mut dir = Dir::with_session(&extra);
    let (path, _) = crate::util::fake_opener(dir.tmp.path(), "opened.txt");
    dir.env.push(("PATH".into(), path));
    let out = set_api_key(&dir, api.api_key());
    assert!(
        out.status.success(),
        "{}",
        report(&dir.command(&["set-api-key"]), &out)
    );
    dir
}

pub fn opened(dir: &Dir) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let path = dir.tmp.path().join("opened.txt");
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if !text.is_empty() || Instant::now() > deadline {
            return text.lines().map(String::from).collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn session(dir: &Dir) -> &crate::util::Session {
    dir.session.as_ref().expect("a session")
}

#[test]
fn webhook_is_enriched_shown_and_a_click_opens_the_alert_page() {
    let api = FakeSekoia::start_blocking();
    api.add_alert(alert_json(
        &uuid(1),
        "AL1",
        "Mimikatz <b>on</b> DC01 & more",
        85,
    ));
    let dir = setup(&api);
    let d = Daemon::start(&dir);
    assert_eq!(d.post(&event(1)), 202);

    let popups = session(&dir).popups(1);
    assert_eq!(popups.len(), 1, "one pop-up: {popups:?}");
    let p = &popups[0];
    assert_eq!(p.app_name, "Sekoia Notifier");
    assert_eq!(
        p.summary, "Mimikatz <b>on</b> DC01 & more",
        "the summary is plain text"
    );
    assert!(p.body.contains("Urgency 85"), "{}", p.body);
    assert_eq!(p.urgency, Some(2), "85 is critical");
    assert!(p.actions.contains(&"default".to_owned()), "{:?}", p.actions);

    let feed = dir.feed();
    assert_eq!(feed[0]["enriched"], true, "{}", feed[0]);
    assert_eq!(feed[0]["title"], "Mimikatz <b>on</b> DC01 & more");
    assert_eq!(feed[0]["urgency"], 85);

    session(&dir).click(p.returned_id);
    assert_eq!(
        opened(&dir),
        ["https://app.sekoia.io/operations/alerts/AL1"]
    );

    let auth: Vec<String> = api
        .requests()
        .iter()
        .filter_map(|r| r.authorization.clone())
        .collect();
    assert!(
        auth.iter()
            .all(|a| a == &format!("Bearer {}", api.api_key())),
        "{auth:?}"
    );
}

#[test]
fn an_unknown_alert_pops_up_with_its_short_id_and_stays_unenriched() {
    let api = FakeSekoia::start_blocking();
    let dir = setup(&api);
    let d = Daemon::start(&dir);
    assert_eq!(d.post(&event(2)), 202);
    let popups = session(&dir).popups(1);
    assert_eq!(popups.len(), 1, "{}", d.log_text());
    assert!(popups[0].summary.contains("AL2"), "{:?}", popups[0]);
    let feed = dir.feed();
    assert_eq!(feed[0]["enriched"], false);
    assert!(
        feed[0]["enrich_error"]
            .as_str()
            .is_some_and(|e| e.contains("404")),
        "{}",
        feed[0]
    );
}

#[test]
fn a_rejected_key_still_shows_the_alert_check_says_why_and_a_new_key_enriches_it() {
    let api = FakeSekoia::start_blocking();
    api.add_alert(alert_json(
        &uuid(3),
        "AL3",
        "fetched once the key works",
        50,
    ));
    let dir = setup(&api);
    api.set_key_status(Some("T302"));
    let mut d = Daemon::start(&dir);
    assert_eq!(d.post(&event(3)), 202);
    assert_eq!(session(&dir).popups(1).len(), 1);
    // The key is the engine's problem, not the alert's: no reason on the
    // row, the health and `check` say it.
    let feed = dir.feed();
    assert_eq!(feed[0]["enriched"], false, "{}", feed[0]);
    assert!(feed[0]["enrich_error"].is_null(), "{}", feed[0]);
    let check = dir.run(&["check"]);
    assert_eq!(check.status.code(), Some(1));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("FAIL") && text.contains("revoked"), "{text}");
    // A working key (here: the same one, renewed in Sekoia.io) and a
    // restart: the alert owed since is enriched.
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));
    api.set_key_status(None);
    let _d = Daemon::start(&dir);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let feed = dir.feed();
        if feed[0]["enriched"] == true {
            assert_eq!(feed[0]["title"], "fetched once the key works");
            break;
        }
        assert!(Instant::now() < deadline, "never enriched: {}", feed[0]);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rate_limited_then_ok_is_enriched_and_the_key_is_nowhere_on_disk_or_in_logs() {
    let api = FakeSekoia::start_blocking();
    api.add_alert(alert_json(&uuid(4), "AL4", "after a 429", 60));
    api.fail_next(
        1,
        Fault::TooMany {
            retry_after_secs: Some(1),
        },
    );
    let dir = setup(&api);
    let mut d = Daemon::start(&dir);
    assert_eq!(d.post(&event(4)), 202);
    let popups = session(&dir).popups(1);
    assert_eq!(popups[0].summary, "after a 429");
    assert_eq!(dir.feed()[0]["enriched"], true);
    let check = dir.run(&["check"]);
    assert!(
        check.status.success(),
        "{}",
        report(&dir.command(&["check"]), &check)
    );
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));

    let key = api.api_key();
    assert!(
        files_containing(&dir.data(), key).is_empty(),
        "key in the data dir"
    );
    assert!(
        files_containing(&dir.config(), key).is_empty(),
        "key in the config"
    );
    assert!(!d.log_text().contains(key), "key in the log");
    assert!(!String::from_utf8_lossy(&check.stdout).contains(key));
}

/// `feed --json` words each urgency on Sekoia.io's scale (`urgency_display`
/// and `urgency_band`): 47 is High and 35 Moderate, not "medium" or "Low".
#[test]
fn feed_json_words_urgency_on_the_five_band_scale() {
    let api = FakeSekoia::start_blocking();
    let bands = [
        (11, 91, "Urgent", "urgent"),
        (12, 64, "Major", "major"),
        (13, 47, "High", "high"),
        (14, 35, "Moderate", "moderate"),
        (15, 5, "Low", "low"),
    ];
    for (n, urgency, ..) in bands {
        api.add_alert(alert_json(&uuid(n), &format!("AL{n}"), "banded", urgency));
    }
    let dir = setup_with(&api, "[notify]\nstorm_budget = 20\n");
    let d = Daemon::start(&dir);
    for (n, ..) in bands {
        assert_eq!(d.post(&event(n)), 202);
    }
    session(&dir).popups(bands.len());
    let feed = crate::desktop::eventually("five enriched entries", Duration::from_secs(20), || {
        let feed = dir.feed();
        (feed.len() == bands.len() && feed.iter().all(|e| e["enriched"] == true)).then_some(feed)
    });
    for (n, urgency, word, band) in bands {
        let entry = feed
            .iter()
            .find(|e| e["uuid"] == uuid(n))
            .unwrap_or_else(|| panic!("no entry {n}: {feed:?}"));
        assert_eq!(entry["urgency"], urgency, "{entry}");
        assert_eq!(entry["urgency_display"], word, "{entry}");
        assert_eq!(entry["urgency_band"], band, "{entry}");
    }
}
