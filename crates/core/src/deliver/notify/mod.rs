//! Notifications: what a pop-up says (`Popup`, `Urgency`), how untrusted
//! alert text is made safe to show (control characters stripped, length
//! capped, markup escaped), and the error type of every notification
//! backend. The desktop backend lives in `desktop`.
//!
//! Must not: fetch or enrich alerts, build alert URLs (the caller builds
//! `Popup::link` from the configured app URL), or depend on a GUI toolkit.
//!
//! In detail: pop-ups. `Popup`/`PopupKind` (`Alert`, `Summary`: many alerts, a
//! shell may route its click to its feed window; `Notice`: about the app, never
//! coalesced)/`Urgency`/`urgency_for`; a `Popup` also carries its `level`,
//! whether Acknowledge can work now (`acknowledgeable`: Pending), its `sound`
//! and `resident`; the text rules for untrusted alert text (controls stripped,
//! capped, body markup escaped), `NotifyError`. `notify::desktop::Desktop`
//! talks to `org.freedesktop.Notifications` over zbus on one lazily made
//! connection: same key -> `replaces_id`; one background task receives
//! `ActionInvoked`/`NotificationClosed` from the name's owner only and opens a
//! clicked link only under `{app_url}/operations/alerts/` or
//! `{app_url}/operations/cases/` (or the alert list
//! `{app_url}/operations/alerts` itself, without query). Once given an
//! `Acknowledger` (`set_acknowledger`, through `Sink::offer_acknowledge` from
//! the engine when it has an API client), pop-ups of alerts offer an
//! "acknowledge" action when the server has the `actions` capability; its
//! `ActionInvoked` calls the acknowledger off the listener and shows the answer
//! in a new pop-up. Pop-ups of Pending alerts only offer "acknowledge"; a
//! success replaces the pop-up with a confirmation. `close(key)` sends
//! `CloseNotification` for the pop-up shown with that key; `seen(key)` says the
//! user clicked, acknowledged or dismissed it (a resident pop-up is closed
//! after its click). Sounds go as `sound-name`/`sound-file`, residency as
//! `resident` with no timeout. `notify/desktop/owner.rs`: each `show` asks the
//! bus who owns the service now; a new owner gets its capabilities read again
//! and a fresh id map (the old listener stops), and only signals from the owner
//! that returned the ids are taken. Tests run a private `dbus-daemon` and a
//! fake notification server (`crates/fake-notifications`). `notify::native`
//! (macOS and Windows only, `cfg`): the same `Sink` through notify-rust;
//! written against its documented API, never built on Linux.
//! `notify::activation` keeps the server's `ActivationToken` (spec 1.2) per
//! notification until its click and hands it to the opener
//! (`XDG_ACTIVATION_TOKEN`, `DESKTOP_STARTUP_ID` on X11). `strip_controls`
//! drops U+2028/U+2029 too.

mod activation;
pub mod desktop;
#[cfg(any(target_os = "macos", target_os = "windows"))]
pub mod native;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::model::urgency::{Band, Level};

/// What a pop-up's "Acknowledge" button calls with the alert uuid: a
/// sentence saying what happened (`Ok`) or what went wrong (`Err`). Built by
/// `triage::acknowledger`; notification backends only call it.
pub type Acknowledger = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send>> + Send + Sync,
>;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where pop-ups go: the desktop (native notifications). Forwarders are
/// not sinks: the outbox queues their bodies with the handled mark. The
/// pipeline and the catch-up hand pop-ups to sinks; `bounded`, `pause`
/// and the shells wrap them.
pub trait Sink: Send + Sync {
    fn name(&self) -> &'static str;
    fn show<'a>(&'a self, popup: &'a Popup) -> BoxFuture<'a, Result<(), NotifyError>>;
    /// Offers "Acknowledge" on alert pop-ups from now on, where the sink can.
    fn offer_acknowledge(&self, _acknowledger: Acknowledger) {}
    /// Summary and URL-changed pop-ups' clicks call `open` (the shell's
    /// windows), where the sink can.
    fn offer_windows(&self, _open: WindowOpener) {}
    /// Closes the pop-up shown with `key` if it is still on screen (a
    /// teammate took the alert), where the sink can.
    fn withdraw<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async { Ok(()) })
    }
    /// Whether the user clicked, acknowledged or dismissed the pop-up shown
    /// with `key` (no reminder then), where the sink can tell.
    fn seen(&self, _key: &str) -> bool {
        false
    }
}

/// A window of the desktop shell a pop-up click can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellWindow {
    /// For summary pop-ups (a storm, a catch-up).
    Feed,
    /// For the webhook-URL-changed notice: the new URL is copied there.
    Settings,
}

/// What a click on a summary or URL-changed pop-up calls when a shell with
/// windows set it (instead of opening the alert list, or nothing).
pub type WindowOpener = Arc<dyn Fn(ShellWindow) + Send + Sync>;

/// How loudly a pop-up asks for attention; maps to the freedesktop
/// `urgency` hint (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Urgency {
    #[default]
    Low,
    Normal,
    Critical,
}

impl Urgency {
    /// The byte of the freedesktop `urgency` hint.
    pub fn hint_byte(self) -> u8 {
        match self {
            Urgency::Low => 0,
            Urgency::Normal => 1,
            Urgency::Critical => 2,
        }
    }
}

/// Maps a Sekoia alert urgency value (0-100) to a pop-up urgency through
/// the scale (`urgency::Band`): Urgent (80+) is Critical, Major and High
/// (40-79) are Normal, Moderate, Low or unknown is Low.
pub fn urgency_for(value: Option<u8>) -> Urgency {
    match value.map(Band::of) {
        Some(Band::Urgent) => Urgency::Critical,
        Some(Band::Major | Band::High) => Urgency::Normal,
        _ => Urgency::Low,
    }
}

/// What a pop-up is about, so a shell can route its click (the desktop app
/// opens its feed window for a `Summary`; the daemon opens `link`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PopupKind {
    /// One alert (or event); `link` is its alert page.
    #[default]
    Alert,
    /// Many alerts in one pop-up (a storm, a catch-up); `link` is the alert
    /// list page.
    Summary,
    /// About the app itself (test alert, failures); never coalesced.
    Notice,
    /// The webhook URL changed; a click opens the shell's settings, where
    /// the new URL is copied. Never coalesced.
    UrlChanged,
}

/// What to show. Every text field is untrusted (it comes from the alert).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Popup {
    pub kind: PopupKind,
    /// The alert uuid: a later pop-up with the same key replaces the earlier one.
    pub key: String,
    /// The alert title, or the short_id before enrichment.
    pub summary: String,
    /// Body lines, e.g. "Urgency 85 (Urgent)", "Status: Pending".
    pub lines: Vec<String>,
    pub urgency: Urgency,
    /// The alert page, built by the caller from the configured app URL.
    /// A click opens it, and only if it is under the allowed prefix.
    pub link: Option<url::Url>,
    /// The alert's urgency on the scale, when known: it keeps an Urgent
    /// alert through a pause and picks the sound and residency
    /// (`escalation`). `None` for notices, summaries and unknown urgency.
    pub level: Option<Level>,
    /// The alert's workflow allows Acknowledge now (its status is Pending):
    /// only then does the pop-up offer the action.
    pub acknowledgeable: bool,
    /// A freedesktop sound name (`sound-name` hint) or, when it is an
    /// absolute path, a sound file (`sound-file`); set by `escalation`.
    pub sound: Option<String>,
    /// Stays on screen (no timeout, `resident` hint) until clicked,
    /// acknowledged or withdrawn; set by `escalation` for Urgent alerts.
    pub resident: bool,
}

/// Why a pop-up could not be shown. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// No session bus to talk to (headless machine, service, SSH session).
    #[error(
        "no D-Bus session bus ({reason}); desktop pop-ups are off — use sekoia-notifierd \
         forwarding or run inside a desktop session"
    )]
    NoSession { reason: String },
    /// The bus is there but the notification server failed or is missing.
    #[error(
        "the desktop notification server failed while {action}: {source}; check that a \
         notification service (GNOME Shell, KDE Plasma, dunst, mako...) runs in this session"
    )]
    Server {
        action: &'static str,
        #[source]
        source: zbus::Error,
    },
    /// The server did not answer in time (a wedged notification daemon, or
    /// an activatable one that never comes up): the pop-up is given up.
    #[error(
        "the desktop notification server did not answer within {} s while {action}; the \
         pop-up was given up (the alert is in the feed and forwarded); check that the \
         notification service of this session responds",
        .after.as_secs_f32()
    )]
    TimedOut {
        action: &'static str,
        after: std::time::Duration,
    },
    /// The sink failed recently and is resting: pop-ups are given up until
    /// `retry_in` has passed (see `bounded`).
    #[error("pop-up given up: {reason} (trying again in {} s)", .retry_in.as_secs())]
    Resting {
        reason: String,
        retry_in: std::time::Duration,
    },
    /// macOS or Windows refused the pop-up (notify-rust's words).
    #[cfg(any(target_os = "macos", target_os = "windows"))]
    #[error("the system refused the pop-up: {reason}; check this app's notification permission in the system settings")]
    Native { reason: String },
}

/// Longest summary shown, in characters.
pub const SUMMARY_MAX_CHARS: usize = 200;
/// Longest body shown, in characters (before markup escaping).
pub const BODY_MAX_CHARS: usize = 1000;

/// Removes control characters (U+0085 NEXT LINE among them), line and
/// paragraph separators and bidirectional overrides, so untrusted text
/// cannot break lines, ring bells or reorder what the user reads.
pub(crate) fn strip_controls(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !is_line_separator(*c) && !is_bidi_control(*c))
        .collect()
}

/// The one-line rule's line separators, defined with the model (`event`).
pub use crate::model::event::is_line_separator;

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Cuts `text` to at most `max` characters, ending with "…" when cut.
pub(crate) fn cap(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Escapes text for the freedesktop body markup (a small XML subset).
pub(crate) fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The summary as sent: plain text per the spec, controls stripped, capped.
pub(crate) fn summary_text(popup: &Popup) -> String {
    cap(strip_controls(&popup.summary).trim(), SUMMARY_MAX_CHARS)
}

/// The body as sent: one line per entry, controls stripped, capped, and
/// escaped when the server interprets markup.
pub(crate) fn body_text(popup: &Popup, markup: bool) -> String {
    let joined = popup
        .lines
        .iter()
        .map(|line| strip_controls(line))
        .collect::<Vec<_>>()
        .join("\n");
    let capped = cap(&joined, BODY_MAX_CHARS);
    if markup {
        escape_markup(&capped)
    } else {
        capped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn popup(summary: &str, lines: &[&str]) -> Popup {
        Popup {
            kind: PopupKind::Alert,
            key: "k".into(),
            summary: summary.into(),
            lines: lines.iter().map(|l| l.to_string()).collect(),
            urgency: Urgency::Low,
            link: None,
            ..Popup::default()
        }
    }

    #[test]
    fn urgency_thresholds_are_80_and_40() {
        assert_eq!(urgency_for(Some(100)), Urgency::Critical);
        assert_eq!(urgency_for(Some(80)), Urgency::Critical);
        assert_eq!(urgency_for(Some(79)), Urgency::Normal);
        assert_eq!(urgency_for(Some(40)), Urgency::Normal);
        assert_eq!(urgency_for(Some(39)), Urgency::Low);
        assert_eq!(urgency_for(Some(0)), Urgency::Low);
        assert_eq!(urgency_for(None), Urgency::Low);
    }

    #[test]
    fn urgency_hint_bytes_follow_the_spec() {
        assert_eq!(Urgency::Low.hint_byte(), 0);
        assert_eq!(Urgency::Normal.hint_byte(), 1);
        assert_eq!(Urgency::Critical.hint_byte(), 2);
    }

    #[test]
    fn markup_escaping_covers_the_five_xml_characters() {
        assert_eq!(
            escape_markup(r#"<b>&"x'</b>"#),
            "&lt;b&gt;&amp;&quot;x&apos;&lt;/b&gt;"
        );
    }

    #[test]
    fn summary_loses_control_and_bidi_characters_but_keeps_markup_characters() {
        let p = popup("Bad\u{7}\u{1b}[31m\n<b>title</b>\u{202E}gpj.exe", &[]);
        assert_eq!(summary_text(&p), "Bad[31m<b>title</b>gpj.exe");
    }

    #[test]
    fn line_and_paragraph_separators_cannot_forge_a_line_in_the_summary_or_the_body() {
        let forged = "Printer offline on floor 2\u{2028}\u{2028}Status: Closed\u{2029}\u{85}— false positive";
        let p = popup(forged, &[forged]);
        let expected = "Printer offline on floor 2Status: Closed— false positive";
        assert_eq!(summary_text(&p), expected);
        assert_eq!(body_text(&p, false), expected);
    }

    #[test]
    fn long_summary_and_body_are_capped_with_an_ellipsis() {
        let long = "x".repeat(5000);
        let p = popup(&long, &[&long]);
        let summary = summary_text(&p);
        assert_eq!(summary.chars().count(), SUMMARY_MAX_CHARS);
        assert!(summary.ends_with('…'));
        let body = body_text(&p, true);
        assert_eq!(body.chars().count(), BODY_MAX_CHARS);
        assert!(body.ends_with('…'));
    }

    #[test]
    fn body_is_escaped_only_for_markup_servers() {
        let p = popup("s", &["a < b", "c & d\u{0}"]);
        assert_eq!(body_text(&p, true), "a &lt; b\nc &amp; d");
        assert_eq!(body_text(&p, false), "a < b\nc & d");
    }

    #[test]
    fn capping_happens_before_escaping_so_no_entity_is_cut() {
        let text = "&".repeat(BODY_MAX_CHARS + 10);
        let body = body_text(&popup("s", &[&text]), true);
        assert!(body.ends_with("&amp;…"), "{}", &body[body.len() - 20..]);
    }

    #[test]
    fn no_session_message_says_how_to_fix_it() {
        let err = NotifyError::NoSession {
            reason: "DBUS_SESSION_BUS_ADDRESS unset".into(),
        };
        let msg = err.to_string();
        assert!(msg.contains("DBUS_SESSION_BUS_ADDRESS unset"), "{msg}");
        assert!(msg.contains("sekoia-notifierd forwarding"), "{msg}");
        assert!(msg.contains("desktop session"), "{msg}");
    }
}
