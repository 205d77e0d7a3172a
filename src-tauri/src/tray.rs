//! The tray icon: its menu (ids matched in [`on_menu`]), its icon state
//! (normal, unread, warning, paused; unread alerts add a red dot over the
//! warning and paused icons, [`icon`]) and its tooltip (every warning). On Linux the item is a
//! StatusNotifierItem (ksni backend): the tooltip and a left click work
//! there, unlike with libappindicator.
//!
//! Must not: decide anything about alerts; it shows [`Status`] and turns
//! clicks into shell calls.

use crate::shell::{PauseFor, Shell, Status};
use crate::windows;
use notifier_core::pause::Hold;
use std::sync::Arc;
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

pub const TRAY_ID: &str = "main";

/// Menu item ids.
pub mod ids {
    pub const OPEN_FEED: &str = "open-feed";
    pub const SETTINGS: &str = "settings";
    /// Pauses below Urgent (Urgent alerts still pop up).
    pub const PAUSE_HOUR: &str = "pause-hour";
    pub const PAUSE_4_HOURS: &str = "pause-4-hours";
    pub const PAUSE_TOMORROW: &str = "pause-tomorrow";
    /// Pauses everything, Urgent too.
    pub const PAUSE_ALL_HOUR: &str = "pause-all-hour";
    pub const PAUSE_ALL_4_HOURS: &str = "pause-all-4-hours";
    pub const PAUSE_ALL_TOMORROW: &str = "pause-all-tomorrow";
    /// Disabled when nothing is paused.
    pub const RESUME: &str = "resume";
    pub const SEND_TEST: &str = "send-test";
    /// Marks every feed entry read (disabled with nothing unread).
    pub const MARK_ALL_READ: &str = "mark-all-read";
    /// The About line (disabled: it only shows the version and commit).
    pub const ABOUT: &str = "about";
    pub const QUIT: &str = "quit";
}

/// The About line of the menu: product, version and the commit it was built
/// from, as `sekoia-notifier --version` prints them.
pub fn about() -> String {
    format!("Sekoia Notifier {}", crate::VERSION)
}

/// The four icon states, most important first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconState {
    Paused,
    Warning,
    Unread,
    Normal,
}

impl IconState {
    pub fn of(status: &Status) -> IconState {
        if status.paused_until.is_some() {
            IconState::Paused
        } else if status.warning.is_some() {
            IconState::Warning
        } else if status.unread > 0 {
            IconState::Unread
        } else {
            IconState::Normal
        }
    }

    fn png(self) -> &'static [u8] {
        match self {
            IconState::Normal => include_bytes!("../../icons/tray-normal.png"),
            IconState::Unread => include_bytes!("../../icons/tray-unread.png"),
            IconState::Warning => include_bytes!("../../icons/tray-warning.png"),
            IconState::Paused => include_bytes!("../../icons/tray-paused.png"),
        }
    }
}

/// The tooltip: the unread count, the pause and every warning in words.
pub fn tooltip(status: &Status) -> String {
    let unread = match status.unread {
        0 => "no unread alerts".to_owned(),
        1 => "1 unread alert".to_owned(),
        n => format!("{n} unread alerts"),
    };
    let mut parts = vec![unread];
    if let Some(until) = &status.paused_until {
        parts.push(format!(
            "pop-ups paused until {} ({})",
            short_time(until),
            hold_words(status.paused_hold)
        ));
    }
    let warnings: Vec<&String> = if status.warnings.is_empty() {
        status.warning.iter().collect()
    } else {
        status.warnings.iter().collect()
    };
    if warnings.is_empty() && status.paused_until.is_none() {
        parts.push("all good".to_owned());
    }
    parts.extend(warnings.into_iter().cloned());
    format!("Sekoia Notifier: {}", parts.join("; "))
}

/// Where the unread dot goes on a 32 px icon: over the warning icon its
/// top-right corner holds the warning sign, so the dot takes the top left.
fn dot_centre(state: IconState) -> Option<(f32, f32)> {
    match state {
        IconState::Warning => Some((7.0, 7.0)),
        IconState::Paused => Some((25.0, 7.0)),
        IconState::Unread | IconState::Normal => None,
    }
}

/// The icon for `status`: its state's picture, plus the unread dot (the
/// unread icon's red, ringed in white) when alerts are unread and the state
/// is warning or paused, so the count never hides behind another state.
pub fn icon(status: &Status) -> tauri::Result<Image<'static>> {
    let state = IconState::of(status);
    let base = Image::from_bytes(state.png())?;
    let (width, height) = (base.width(), base.height());
    let mut rgba = base.rgba().to_vec();
    if let (true, Some((cx, cy))) = (status.unread > 0, dot_centre(state)) {
        draw_dot(&mut rgba, width, cx, cy);
    }
    Ok(Image::new_owned(rgba, width, height))
}

/// The unread dot's red (`tray-unread.svg`).
pub const DOT_RED: [u8; 3] = [0xe5, 0x38, 0x3b];

/// A filled red disc of radius 5.5 with a 1.5 px white ring, anti-aliased
/// by coverage, over an RGBA buffer `width` pixels wide.
fn draw_dot(rgba: &mut [u8], width: u32, cx: f32, cy: f32) {
    let (inner, outer) = (5.5f32, 7.0f32);
    let width = width as usize;
    for (i, px) in rgba.chunks_exact_mut(4).enumerate() {
        let (x, y) = ((i % width) as f32 + 0.5, (i / width) as f32 + 0.5);
        let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
        let ring = (outer + 0.5 - d).clamp(0.0, 1.0);
        if ring <= 0.0 {
            continue;
        }
        let fill = (inner + 0.5 - d).clamp(0.0, 1.0);
        for c in 0..3 {
            let colour = f32::from(DOT_RED[c]) * fill + 255.0 * (1.0 - fill);
            px[c] = (colour * ring + f32::from(px[c]) * (1.0 - ring)).round() as u8;
        }
        px[3] = (255.0 * ring + f32::from(px[3]) * (1.0 - ring)).round() as u8;
    }
}

/// What a pause holds back, in words.
pub fn hold_words(hold: Option<Hold>) -> &'static str {
    match hold {
        Some(Hold::Everything) => "everything, Urgent too",
        Some(Hold::BelowUrgent) | None => "Urgent still pops up",
    }
}

/// The Resume item's text and whether it is enabled.
pub fn resume_item(status: &Status) -> (String, bool) {
    match &status.paused_until {
        Some(until) => (
            format!("Resume pop-ups (paused until {})", short_time(until)),
            true,
        ),
        None => ("Resume pop-ups (not paused)".to_owned(), false),
    }
}

/// The Mark all read item's text and whether it is enabled.
pub fn mark_all_item(status: &Status) -> (String, bool) {
    match status.unread {
        0 => ("Mark all read".to_owned(), false),
        n => (format!("Mark all read ({n})"), true),
    }
}

/// The menu items the tray updates as the status changes.
struct TrayItems<R: Runtime> {
    resume: MenuItem<R>,
    mark_all: MenuItem<R>,
}

/// "2026-11-29T08:00:00Z" as "2026-11-29 09:00" in the local time zone.
fn short_time(rfc3339: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .and_then(|t| t.to_offset(crate::local_offset()).format(&format).ok())
        .unwrap_or_else(|| rfc3339.to_owned())
}

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<TrayIcon<R>> {
    let durations = |hour: &str, four: &str, tomorrow: &str| -> tauri::Result<Vec<MenuItem<R>>> {
        Ok(vec![
            MenuItem::with_id(app, hour, "For 1 hour", true, None::<&str>)?,
            MenuItem::with_id(app, four, "For 4 hours", true, None::<&str>)?,
            MenuItem::with_id(app, tomorrow, "Until tomorrow 08:00", true, None::<&str>)?,
        ])
    };
    let below = durations(ids::PAUSE_HOUR, ids::PAUSE_4_HOURS, ids::PAUSE_TOMORROW)?;
    let all = durations(
        ids::PAUSE_ALL_HOUR,
        ids::PAUSE_ALL_4_HOURS,
        ids::PAUSE_ALL_TOMORROW,
    )?;
    let pause = Submenu::with_items(
        app,
        "Pause pop-ups (Urgent still pops up)",
        true,
        &menu_refs(&below),
    )?;
    let pause_all =
        Submenu::with_items(app, "Pause everything (Urgent too)", true, &menu_refs(&all))?;
    let resume = MenuItem::with_id(
        app,
        ids::RESUME,
        "Resume pop-ups (not paused)",
        false,
        None::<&str>,
    )?;
    let mark_all = MenuItem::with_id(
        app,
        ids::MARK_ALL_READ,
        "Mark all read",
        false,
        None::<&str>,
    )?;
    app.manage(TrayItems {
        resume: resume.clone(),
        mark_all: mark_all.clone(),
    });
    let menu = Menu::with_items(
        app,
        &[
            &MenuItem::with_id(app, ids::OPEN_FEED, "Open feed", true, None::<&str>)?,
            &mark_all,
            &MenuItem::with_id(app, ids::SETTINGS, "Settings…", true, None::<&str>)?,
            &pause,
            &pause_all,
            &resume,
            &MenuItem::with_id(app, ids::SEND_TEST, "Send test alert", true, None::<&str>)?,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, ids::ABOUT, about(), false, None::<&str>)?,
            &MenuItem::with_id(app, ids::QUIT, "Quit", true, None::<&str>)?,
        ],
    )?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(IconState::Normal.png())?)
        .tooltip("Sekoia Notifier")
        .title("Sekoia Notifier")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(on_menu)
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                windows::open_feed(tray.app_handle());
            }
        })
        .build(app)
}

/// Shows `status` on the tray: icon state and tooltip.
pub fn show<R: Runtime>(app: &AppHandle<R>, status: &Status) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    match icon(status) {
        Ok(icon) => {
            let _ = tray.set_icon(Some(icon));
        }
        Err(e) => tracing::warn!("tray icon: {e}"),
    }
    let _ = tray.set_tooltip(Some(tooltip(status)));
    if let Some(items) = app.try_state::<TrayItems<R>>() {
        let (text, enabled) = resume_item(status);
        let _ = items.resume.set_text(text);
        let _ = items.resume.set_enabled(enabled);
        let (text, enabled) = mark_all_item(status);
        let _ = items.mark_all.set_text(text);
        let _ = items.mark_all.set_enabled(enabled);
    }
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, event: MenuEvent) {
    let shell = Arc::clone(app.state::<Arc<Shell>>().inner());
    match event.id.as_ref() {
        ids::OPEN_FEED => windows::open_feed(app),
        ids::SETTINGS => windows::open_settings(app, false),
        ids::PAUSE_HOUR
        | ids::PAUSE_4_HOURS
        | ids::PAUSE_TOMORROW
        | ids::PAUSE_ALL_HOUR
        | ids::PAUSE_ALL_4_HOURS
        | ids::PAUSE_ALL_TOMORROW => {
            if let Some(how) = pause_for(event.id.as_ref()) {
                spawn(async move { shell.pause(how).await })
            }
        }
        ids::RESUME => spawn(async move { shell.pause(PauseFor::Resume).await }),
        ids::MARK_ALL_READ => spawn(async move {
            if let Err(e) = shell.mark_read(None).await {
                tracing::warn!("mark all read failed: {e}");
            }
        }),
        ids::SEND_TEST => spawn(async move {
            if let Err(e) = shell.send_test().await {
                tracing::warn!("test alert failed: {e}");
                shell.tell("Test alert failed", &e.to_string()).await;
            }
        }),
        ids::QUIT => {
            let app = app.clone();
            spawn(async move {
                shell.stop().await;
                app.exit(0);
            })
        }
        other => tracing::debug!(id = other, "unknown tray menu item"),
    }
}

fn menu_refs<R: Runtime>(items: &[MenuItem<R>]) -> Vec<&dyn tauri::menu::IsMenuItem<R>> {
    items
        .iter()
        .map(|i| i as &dyn tauri::menu::IsMenuItem<R>)
        .collect()
}

/// What a pause item of the menu asks for.
pub fn pause_for(id: &str) -> Option<PauseFor> {
    let hour = std::time::Duration::from_secs(3600);
    Some(match id {
        ids::PAUSE_HOUR => PauseFor::Span(hour, Hold::BelowUrgent),
        ids::PAUSE_4_HOURS => PauseFor::Span(4 * hour, Hold::BelowUrgent),
        ids::PAUSE_TOMORROW => PauseFor::Until(crate::tomorrow_morning(), Hold::BelowUrgent),
        ids::PAUSE_ALL_HOUR => PauseFor::Span(hour, Hold::Everything),
        ids::PAUSE_ALL_4_HOURS => PauseFor::Span(4 * hour, Hold::Everything),
        ids::PAUSE_ALL_TOMORROW => PauseFor::Until(crate::tomorrow_morning(), Hold::Everything),
        _ => return None,
    })
}

fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) {
    tauri::async_runtime::spawn(task);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::KeyStatus;

    fn status() -> Status {
        Status {
            unread: 0,
            paused_until: None,
            paused_hold: None,
            warning: None,
            warnings: Vec::new(),
            key: KeyStatus::default(),
            webhook_url: None,
            webhook_local: true,
            health: None,
        }
    }

    #[test]
    fn the_about_line_names_the_version_and_the_commit() {
        let about = about();
        assert!(
            about.starts_with(concat!(
                "Sekoia Notifier ",
                env!("CARGO_PKG_VERSION"),
                " (commit "
            )),
            "{about}"
        );
        assert!(about.ends_with(')') && !about.contains("()"), "{about}");
    }

    #[test]
    fn the_icon_shows_the_most_important_state() {
        let mut s = status();
        assert_eq!(IconState::of(&s), IconState::Normal);
        s.unread = 3;
        assert_eq!(IconState::of(&s), IconState::Unread);
        s.warning = Some("The tunnel is down".into());
        assert_eq!(IconState::of(&s), IconState::Warning);
        s.paused_until = Some("2026-11-30T08:00:00Z".into());
        assert_eq!(IconState::of(&s), IconState::Paused);
    }

    #[test]
    fn the_tooltip_says_the_unread_count_and_the_health() {
        let mut s = status();
        assert_eq!(tooltip(&s), "Sekoia Notifier: no unread alerts; all good");
        s.unread = 1;
        assert_eq!(tooltip(&s), "Sekoia Notifier: 1 unread alert; all good");
        s.unread = 12;
        s.warning = Some("Sekoia.io rejected the API key".into());
        assert_eq!(
            tooltip(&s),
            "Sekoia Notifier: 12 unread alerts; Sekoia.io rejected the API key"
        );
        s.paused_until = Some("2026-11-30T08:00:00Z".into());
        s.paused_hold = Some(Hold::BelowUrgent);
        assert_eq!(
            tooltip(&s),
            "Sekoia Notifier: 12 unread alerts; pop-ups paused until 2026-11-30 08:00 (Urgent still pops up); Sekoia.io rejected the API key"
        );
        s.warnings = vec!["No API key".into(), "No public webhook URL".into()];
        assert!(
            tooltip(&s).ends_with("(Urgent still pops up); No API key; No public webhook URL"),
            "every warning stays while paused: {}",
            tooltip(&s)
        );
        s.warnings.clear();
        s.paused_hold = Some(Hold::Everything);
        assert!(tooltip(&s).contains("(everything, Urgent too)"));
    }

    #[test]
    fn resume_is_offered_only_while_paused_and_says_until_when() {
        let mut s = status();
        assert_eq!(
            resume_item(&s),
            ("Resume pop-ups (not paused)".to_owned(), false)
        );
        s.paused_until = Some("2026-11-30T08:00:00Z".into());
        assert_eq!(
            resume_item(&s),
            (
                "Resume pop-ups (paused until 2026-11-30 08:00)".to_owned(),
                true
            )
        );
    }

    #[test]
    fn every_pause_item_says_how_long_and_what_it_holds() {
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(
            pause_for(ids::PAUSE_HOUR),
            Some(PauseFor::Span(hour, Hold::BelowUrgent))
        );
        assert_eq!(
            pause_for(ids::PAUSE_ALL_4_HOURS),
            Some(PauseFor::Span(4 * hour, Hold::Everything))
        );
        assert!(matches!(
            pause_for(ids::PAUSE_ALL_TOMORROW),
            Some(PauseFor::Until(_, Hold::Everything))
        ));
        assert_eq!(pause_for(ids::RESUME), None);
    }

    #[test]
    fn mark_all_read_is_offered_only_with_unread_alerts() {
        let mut s = status();
        assert_eq!(mark_all_item(&s), ("Mark all read".to_owned(), false));
        s.unread = 4;
        assert_eq!(mark_all_item(&s), ("Mark all read (4)".to_owned(), true));
    }

    /// The pixel at the dot's centre, and whether it differs from the
    /// state's plain picture there.
    fn dot_pixel(s: &Status) -> ([u8; 4], bool) {
        let state = IconState::of(s);
        let drawn = icon(s).unwrap();
        let plain = Image::from_bytes(state.png()).unwrap();
        let (cx, cy) = dot_centre(state).unwrap_or((25.0, 7.0));
        let at = ((cy as usize) * drawn.width() as usize + cx as usize) * 4;
        let px: [u8; 4] = drawn.rgba()[at..at + 4].try_into().unwrap();
        (px, drawn.rgba() != plain.rgba())
    }

    #[test]
    fn unread_alerts_show_a_red_dot_over_the_warning_and_paused_icons() {
        let mut s = status();
        s.warning = Some("No public webhook URL".into());
        assert!(!dot_pixel(&s).1, "no dot without unread alerts");
        s.unread = 2;
        let (px, changed) = dot_pixel(&s);
        assert!(changed);
        assert_eq!(&px[..3], &DOT_RED, "warning + unread: {px:?}");
        s.paused_until = Some("2026-11-30T08:00:00Z".into());
        let (px, changed) = dot_pixel(&s);
        assert!(changed);
        assert_eq!(&px[..3], &DOT_RED, "paused + unread: {px:?}");
        // The plain unread icon already has its dot: nothing is drawn over it.
        s.paused_until = None;
        s.warning = None;
        assert!(!dot_pixel(&s).1);
    }

    #[test]
    fn every_icon_state_decodes() {
        for state in [
            IconState::Normal,
            IconState::Unread,
            IconState::Warning,
            IconState::Paused,
        ] {
            let image = Image::from_bytes(state.png()).unwrap();
            assert_eq!((image.width(), image.height()), (32, 32));
        }
    }
}
