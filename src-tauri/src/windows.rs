//! The two windows, created on demand and destroyed on close, so that no
//! WebKit process runs while the app sits in the tray. Opening a window that
//! exists brings it to the front. Once the last window is gone, the memory
//! WebKit used is given back ([`release_after_last_window`]).

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
            let app = app.clone();
            window.on_window_event(move |event| {
                if matches!(event, tauri::WindowEvent::Destroyed) {
                    release_after_last_window(&app);
                }
            });
        }
        Err(e) => tracing::error!("cannot open the {label} window: {e}"),
    }
}

/// How long after the last window closed its memory is given back (WebKit
/// tears its web process down first).
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// When no window is left: after [`RELEASE_AFTER`], ends WebKit's network
/// process (it outlives the windows; WebKit starts a new one for the next
/// window) and hands the freed heap back to the system, so the app in the
/// tray weighs about what it did before the first window (BENCHMARKS.md).
fn release_after_last_window<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    std::thread::spawn(move || {
        std::thread::sleep(RELEASE_AFTER);
        if !app.webview_windows().is_empty() {
            return;
        }
        #[cfg(target_os = "linux")]
        linux::release();
    });
}

#[cfg(target_os = "linux")]
mod linux {
    /// Our children named like WebKit's network process.
    fn network_processes() -> Vec<i32> {
        let me = std::process::id().to_string();
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let pid: i32 = entry.file_name().to_string_lossy().parse().ok()?;
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let (head, rest) = stat.rsplit_once(')')?;
                let comm = head.split_once('(')?.1;
                let ppid = rest.split_whitespace().nth(1)?;
                (ppid == me && comm.starts_with("WebKitNetworkPr")).then_some(pid)
            })
            .collect()
    }

    pub fn release() {
        for pid in network_processes() {
            // SAFETY: kill(2) on our own child's pid, read just above.
            let _ = unsafe { libc::kill(pid, libc::SIGTERM) };
            tracing::debug!(pid, "ended WebKit's network process: no window is open");
        }
        // SAFETY: malloc_trim has no preconditions (glibc).
        unsafe { libc::malloc_trim(0) };
    }
}
