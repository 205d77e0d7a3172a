//! A pop-up on a real notification daemon: dunst draws it on an Xvfb
//! display, on a private D-Bus bus, after the real daemon enriched a webhook
//! alert from the fake API. The test photographs it into
//! `target/screenshots/popup.png` (the README's `docs/popup.png` comes from
//! there) and reads dunst's history to check what it showed.

use crate::util::{alert, Daemon, Dir};
use fake_notifications::display::Display;
use fake_notifications::Bus;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const UUID: &str = "5e1f2a3b-0c4d-4e6f-8a9b-1c2d3e4f5a6b";
const TITLE: &str = "Suspicious PowerShell on HR-LAPTOP-7";

/// dunst in the top-right corner of the 1280x800 display, in the app's
/// colours; critical alerts (urgency >= 80) stay until dismissed.
const DUNSTRC: &str = r##"[global]
    monitor = 0
    follow = none
    width = 440
    height = 220
    origin = top-right
    offset = 16x16
    font = DejaVu Sans 11
    frame_width = 2
    corner_radius = 6
    padding = 12
    horizontal_padding = 14
    markup = full
    format = "<b>%a</b>\n<b>%s</b>\n%b"
    icon_position = off
    show_indicators = no
    background = "#1f2430"
    foreground = "#e6e6e6"
[urgency_low]
    frame_color = "#6b7280"
    timeout = 0
[urgency_normal]
    frame_color = "#f5a623"
    timeout = 0
[urgency_critical]
    frame_color = "#e5484d"
    timeout = 0
"##;

struct Dunst {
    child: Child,
    bus: String,
    display: String,
}

impl Dunst {
    fn start(root: &Path, bus: &Bus, display: &Display) -> Dunst {
        let config = root.join("dunstrc");
        std::fs::write(&config, DUNSTRC).expect("write dunstrc");
        let child = Command::new("dunst")
            .arg("-config")
            .arg(&config)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("DISPLAY", &display.name)
            .env("HOME", root)
            .env("XDG_CONFIG_HOME", root.join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dunst (package dunst) must be installed");
        let dunst = Dunst {
            child,
            bus: bus.address.clone(),
            display: display.name.clone(),
        };
        crate::desktop::eventually("dunst on the bus", Duration::from_secs(10), || {
            dunst.ctl(&["count", "displayed"]).map(|_| ())
        });
        dunst
    }

    /// `dunstctl ARGS` on our bus; its stdout when it succeeded.
    fn ctl(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("dunstctl")
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The top-right corner of the screen, where dunst draws, as a PNG.
    fn photograph(&self, path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("screenshot dir");
        let out = Command::new("import")
            .args(["-window", "root", "-crop", "496x180+782+0", "+repage"])
            .arg(path)
            .env("DISPLAY", &self.display)
            .output()
            .expect("import (package imagemagick) must be installed");
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Dunst {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshot_path() -> PathBuf {
    // target/<profile>/sekoia-notifierd -> target/screenshots
    let bin = crate::util::bin();
    let target = bin.parent().and_then(Path::parent).expect("target dir");
    target.join("screenshots").join("popup.png")
}

#[test]
fn an_enriched_alert_pops_up_on_a_real_notification_daemon() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    api.add_alert(fake_sekoia::alert_json(UUID, "ALpop7", TITLE, 85));
    let bus = Bus::start();
    let display = Display::start();
    let mut dir = Dir::new(&format!("[sekoia]\napi_url = \"{}\"\n", api.url()));
    let dunst = Dunst::start(dir.tmp.path(), &bus, &display);
    dir.env
        .push(("DBUS_SESSION_BUS_ADDRESS".into(), bus.address.clone()));
    dir.env
        .push(("SEKOIA_API_KEY".into(), api.api_key().to_owned()));

    let daemon = Daemon::start(&dir);
    assert_eq!(daemon.post(&alert(UUID)), 202);
    crate::desktop::eventually("the pop-up on screen", Duration::from_secs(20), || {
        (dunst.ctl(&["count", "displayed"]).as_deref() == Some("1")).then_some(())
    });
    // Let dunst finish drawing before the photograph.
    std::thread::sleep(Duration::from_millis(500));
    let path = screenshot_path();
    dunst.photograph(&path);
    let png = std::fs::read(&path).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 2_000,
        "{} is not a picture of a pop-up ({} bytes)",
        path.display(),
        png.len()
    );

    // What it showed: dunst keeps a closed notification in its history.
    dunst.ctl(&["close"]).expect("dunstctl close");
    let history = dunst.ctl(&["history"]).expect("dunstctl history");
    for shown in [
        TITLE,
        "Sekoia Notifier",
        "Suspicious PowerShell",
        "Headquarters",
    ] {
        assert!(history.contains(shown), "{shown:?} not in {history}");
    }
    drop(daemon);
}
