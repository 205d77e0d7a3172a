//! macOS and Windows pop-ups through notify-rust 4.19 (`Notification::show`
//! and `NotificationHandle::wait_for_response`), behind `cfg`. Written
//! against notify-rust's documented API; NOT built or tested by this
//! project's CI, which runs on Linux (README says so).
//!
//! What each OS gets: summary and body (controls stripped, capped, never
//! markup); urgency as the OS has it (Windows: Critical is the toast's
//! Reminder scenario, which stays on screen, and a resident pop-up gets
//! no timeout; macOS' default NSUserNotification path has no urgency, so an
//! Urgent alert is marked by its sound); a sound only when the band has
//! one (`[notify.sound]`, mapped to a system sound: freedesktop names mean
//! nothing there); and a click that opens the alert page, checked again
//! with `desktop::link_allowed` (Windows: the toast's activation, handled
//! in-process, since tauri-winrt-notification offers no protocol-activation
//! `launch` attribute; macOS: notify-rust's response, which needs the app's
//! main run loop, so the wait runs on a thread of its own).
//!
//! Must not: open a link it did not validate, or block an async thread.

use std::sync::{Arc, OnceLock};

use notify_rust::{Notification, NotificationResponse};
use url::Url;

use super::desktop::{link_allowed, APP_NAME};
use super::WindowOpener;
use super::{body_text, summary_text, NotifyError, Popup, PopupKind, ShellWindow, Urgency};
use crate::deliver::notify::{BoxFuture, Sink};

/// Pop-ups through the OS notification centre.
pub struct Native {
    allowed: Url,
    window_opener: Arc<OnceLock<WindowOpener>>,
}

impl Native {
    /// `allowed`: the configured app_url; a click opens a link only under
    /// `{allowed}/operations/alerts/`.
    pub fn new(allowed: Url) -> Native {
        Native {
            allowed,
            window_opener: Arc::new(OnceLock::new()),
        }
    }

    fn notification(popup: &Popup) -> Notification {
        let mut n = Notification::new();
        n.appname(APP_NAME)
            .summary(&summary_text(popup))
            .body(&body_text(popup, false));
        #[cfg(target_os = "windows")]
        {
            n.urgency(match popup.urgency {
                Urgency::Low => notify_rust::Urgency::Low,
                Urgency::Normal => notify_rust::Urgency::Normal,
                Urgency::Critical => notify_rust::Urgency::Critical,
            });
            if popup.resident {
                n.timeout(notify_rust::Timeout::Never);
            }
        }
        if let Some(sound) = system_sound(popup) {
            n.sound_name(sound);
        }
        n
    }
}

/// The OS sound for a pop-up that has one: a louder one for Urgent.
fn system_sound(popup: &Popup) -> Option<&'static str> {
    popup.sound.as_ref()?;
    let urgent = popup.urgency == Urgency::Critical;
    if cfg!(target_os = "windows") {
        // winrt-notification's names (ms-winsoundevent).
        Some(if urgent { "Reminder" } else { "Default" })
    } else {
        // macOS system sounds.
        Some(if urgent { "Sosumi" } else { "Glass" })
    }
}

impl Sink for Native {
    fn name(&self) -> &'static str {
        "desktop"
    }

    fn show<'a>(&'a self, popup: &'a Popup) -> BoxFuture<'a, Result<(), NotifyError>> {
        let notification = Native::notification(popup);
        let link = popup
            .link
            .clone()
            .filter(|l| link_allowed(&self.allowed, l));
        let window = match popup.kind {
            PopupKind::Summary => Some(ShellWindow::Feed),
            PopupKind::UrlChanged => Some(ShellWindow::Settings),
            PopupKind::Alert | PopupKind::Notice => None,
        };
        let allowed = self.allowed.clone();
        let opener = Arc::clone(&self.window_opener);
        Box::pin(async move {
            let shown = tokio::task::spawn_blocking(move || notification.show())
                .await
                .map_err(|e| NotifyError::Native {
                    reason: e.to_string(),
                })?
                .map_err(|e| NotifyError::Native {
                    reason: e.to_string(),
                })?;
            // The wait blocks until the user acts: a thread of its own.
            std::thread::spawn(move || {
                let clicked = move |response: &NotificationResponse| {
                    if !response.is_default_action() {
                        return;
                    }
                    if let (Some(window), Some(open)) = (window, opener.get()) {
                        open(window);
                        return;
                    }
                    match link {
                        Some(link) if link_allowed(&allowed, &link) => {
                            if let Err(error) =
                                crate::os::children::open_in_browser(link.as_str(), &[])
                            {
                                tracing::warn!(%error, "could not open the alert page");
                            }
                        }
                        _ => tracing::debug!("click on a pop-up without an allowed link"),
                    }
                };
                if let Err(error) = shown.wait_for_response(clicked) {
                    tracing::debug!(%error, "no answer from the notification centre");
                }
            });
            Ok(())
        })
    }

    fn offer_windows(&self, open: WindowOpener) {
        let _ = self.window_opener.set(open);
    }
}
