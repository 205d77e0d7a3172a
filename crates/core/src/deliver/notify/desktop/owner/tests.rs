//! The notification server replaced while we run: capabilities read again
//! (markup escaped or not, both directions), ids and clicks of the former
//! owner forgotten. A private `dbus-daemon` and the fake server.

use super::super::{Desktop, Opener};
use crate::deliver::notify::{Popup, PopupKind, Urgency};
use fake_notifications::{Bus, Server};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use url::Url;

const APP: &str = "https://app.sekoia.io";

fn popup(key: &str, short_id: Option<&str>) -> Popup {
    Popup {
        kind: PopupKind::Alert,
        key: key.to_owned(),
        summary: format!("Alert {key}"),
        lines: vec!["Rule: R&D <lab>".to_owned()],
        urgency: Urgency::Normal,
        link: short_id.map(|s| Url::parse(&format!("{APP}/operations/alerts/{s}")).expect("url")),
        ..Popup::default()
    }
}

/// A `Desktop` whose opener appends each URL to a file.
fn desktop(bus: &Bus, dir: &tempfile::TempDir) -> (Desktop, PathBuf) {
    let opened = dir.path().join("opened");
    let script = dir.path().join("open.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
            opened.display()
        ),
    )
    .expect("opener");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let app = Url::parse(APP).expect("url");
    (
        Desktop::at_address(app, Opener::Command(script), bus.address.clone()),
        opened,
    )
}

fn opened(path: &PathBuf) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn wait_opened(path: &PathBuf, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while opened(path).len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    opened(path)
}

/// Shows one pop-up on a server with `first` capabilities, replaces the
/// server by one with `second`, shows another; returns both bodies.
async fn bodies_across_a_swap(first: &[&str], second: &[&str]) -> (String, String) {
    let bus = Bus::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (desktop, _) = desktop(&bus, &dir);
    let a = Server::with_capabilities(&bus.address, first).await;
    desktop.show(&popup("one", None)).await.expect("shown");
    let before = a.last().body;
    a.quit().await;
    let b = Server::with_capabilities(&bus.address, second).await;
    desktop.show(&popup("two", None)).await.expect("shown");
    (before, b.last().body)
}

#[tokio::test]
async fn a_markup_server_replacing_a_plain_one_gets_escaped_text() {
    let (before, after) = bodies_across_a_swap(&["body"], &["body", "body-markup"]).await;
    assert_eq!(before, "Rule: R&D <lab>");
    assert_eq!(after, "Rule: R&amp;D &lt;lab&gt;");
}

#[tokio::test]
async fn a_plain_server_replacing_a_markup_one_gets_plain_text() {
    let (before, after) = bodies_across_a_swap(&["body", "body-markup"], &["body"]).await;
    assert_eq!(before, "Rule: R&amp;D &lt;lab&gt;");
    assert_eq!(after, "Rule: R&D <lab>", "a literal &amp; would show");
}

#[tokio::test]
async fn after_a_swap_only_ids_the_new_owner_returned_are_clicked() {
    let bus = Bus::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (desktop, opened_file) = desktop(&bus, &dir);
    let caps = ["actions", "body"];
    let a = Server::with_capabilities(&bus.address, &caps).await;
    desktop
        .show(&popup("old", Some("ALOLD")))
        .await
        .expect("shown");
    let old_id = a.last().returned_id;
    a.quit().await;

    // The new server numbers from the same start: its id `old_id` is
    // another notification (or none), never the former owner's.
    let b = Server::with_capabilities(&bus.address, &caps).await;
    desktop
        .show(&popup("new", Some("ALNEW")))
        .await
        .expect("shown");
    let new_id = b.last().returned_id;
    assert_eq!(new_id, old_id, "the test needs overlapping ids");
    b.invoke(new_id, "default").await;
    let lines = wait_opened(&opened_file, 1).await;
    assert_eq!(lines, [format!("{APP}/operations/alerts/ALNEW")]);

    // A click on an id only the former owner returned opens nothing.
    b.invoke(new_id + 7, "default").await;
    desktop
        .show(&popup("sentinel", Some("ALSENT")))
        .await
        .expect("shown");
    b.invoke(b.last().returned_id, "default").await;
    let lines = wait_opened(&opened_file, 2).await;
    assert_eq!(
        lines,
        [
            format!("{APP}/operations/alerts/ALNEW"),
            format!("{APP}/operations/alerts/ALSENT")
        ]
    );
}

#[tokio::test]
async fn a_click_from_the_former_owner_is_ignored_while_a_new_one_runs() {
    let bus = Bus::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (desktop, opened_file) = desktop(&bus, &dir);
    let caps = ["actions", "body"];
    let a = Server::with_capabilities(&bus.address, &caps).await;
    desktop
        .show(&popup("old", Some("ALOLD")))
        .await
        .expect("shown");
    let old_id = a.last().returned_id;
    // The first server gives the name up but stays on the bus; a second
    // one takes the name.
    a.release().await;
    let b = Server::numbered_from(&bus.address, &caps, 100).await;
    desktop
        .show(&popup("new", Some("ALNEW")))
        .await
        .expect("shown on the new owner");
    assert_eq!(b.calls().len(), 1, "the new owner got the pop-up");
    // The former owner, still on the bus, clicks its old id: ignored.
    a.invoke(old_id, "default").await;
    b.invoke(b.last().returned_id, "default").await;
    let lines = wait_opened(&opened_file, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        opened(&opened_file),
        [format!("{APP}/operations/alerts/ALNEW")],
        "{lines:?}"
    );
}
