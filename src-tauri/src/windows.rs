//! The two windows, created on demand and destroyed on close, so that no
//! WebKit process runs while the app sits in the tray. Opening a window that
//! exists brings it to the front.

use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};

pub const FEED: &str = "feed";
pub const SETTINGS: &str = "settings";

pub fn open_feed<R: Runtime>(app: &AppHandle<R>) {
    open(app, FEED, "feed.html", "Sekoia Notifier", (440.0, 640.0));
}

/// `welcome`: the first-run greeting above the form.
pub fn open_settings<R: Runtime>(app: &AppHandle<R>, welcome: bool) {
    let page = if welcome {
        "settings.html?welcome=1"
    } else {
        "settings.html"
    };
    open(
        app,
        SETTINGS,
        page,
        "Sekoia Notifier settings",
        (560.0, 720.0),
    );
}

fn open<R: Runtime>(app: &AppHandle<R>, label: &str, page: &str, title: &str, size: (f64, f64)) {
    if let Some(window) = app.get_webview_window(label) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, label, WebviewUrl::App(page.into()))
        .title(title)
        .inner_size(size.0, size.1)
        .min_inner_size(360.0, 400.0)
        .build();
    match built {
        Ok(window) => {
            let _ = window.set_focus();
        }
        Err(e) => tracing::error!("cannot open the {label} window: {e}"),
    }
}
