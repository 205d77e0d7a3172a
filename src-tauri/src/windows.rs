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

/// When, after the last window closed, its memory is given back: WebKit
/// tears its web process down first, and its JavaScript engine in our
/// process still runs a last collection a few seconds later (what it
/// touches came back after a single pass: `make bench`, footprint), so a
/// second pass follows, within the 10 s the footprint target allows.
const RELEASE_AFTER: [std::time::Duration; 2] = [
    std::time::Duration::from_secs(2),
    std::time::Duration::from_secs(6),
];

/// When no window is left: at each of [`RELEASE_AFTER`], ends WebKit's
/// network process (it outlives the windows; WebKit starts a new one for
/// the next window), trims the heap and hands WebKit's library pages back,
/// so the app in the tray weighs about what it did before the first window
/// (BENCHMARKS.md). A window opened meanwhile stops it.
fn release_after_last_window<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    std::thread::spawn(move || {
        for wait in RELEASE_AFTER {
            std::thread::sleep(wait);
            if !app.webview_windows().is_empty() {
                return;
            }
            #[cfg(target_os = "linux")]
            linux::release();
        }
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
        let (mappings, bytes) = page_out_webkit();
        tracing::debug!(
            mappings,
            bytes,
            "handed WebKit's library pages back: no window is open"
        );
    }

    /// The libraries the windows run: WebKitGTK, its JavaScript engine and
    /// Mesa's GL driver it draws with (file names as Debian ships them,
    /// e.g. `libwebkit2gtk-4.1.so.0`, `libjavascriptcoregtk-4.1.so.0`,
    /// `swrast_dri.so`).
    fn webkit_library(path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        name.starts_with("libwebkit2gtk")
            || name.starts_with("libjavascriptcoregtk")
            || name.ends_with("_dri.so")
    }

    /// The `(start, length)` of every mapping in a `/proc/PID/maps` text
    /// whose file is a WebKit library.
    pub(super) fn webkit_mappings(maps: &str) -> Vec<(usize, usize)> {
        maps.lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let range = fields.next()?;
                let path = fields.nth(4)?;
                if !webkit_library(path) {
                    return None;
                }
                let (start, end) = range.split_once('-')?;
                let start = usize::from_str_radix(start, 16).ok()?;
                let end = usize::from_str_radix(end, 16).ok()?;
                (end > start).then_some((start, end - start))
            })
            .collect()
    }

    /// Asks the kernel to reclaim the pages of WebKit's libraries that the
    /// windows touched (`madvise(MADV_PAGEOUT)`, Linux 5.4+): after the
    /// windows they are most of what the app weighs above the tray alone
    /// (BENCHMARKS.md, footprint). Only pages no other process maps go;
    /// the next window faults back what it runs. Returns the mappings and
    /// bytes advised; a kernel without MADV_PAGEOUT refuses (EINVAL) and
    /// nothing changes.
    fn page_out_webkit() -> (usize, usize) {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        let mut advised = (0, 0);
        for (start, len) in webkit_mappings(&maps) {
            // SAFETY: advice on a range of our own address space read from
            // /proc/self/maps; MADV_PAGEOUT never changes what the memory
            // holds (file pages are re-read, private ones swapped or kept),
            // so a thread running that code just faults it back in.
            let rc = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_PAGEOUT) };
            if rc == 0 {
                advised = (advised.0 + 1, advised.1 + len);
            }
        }
        advised
    }

    #[cfg(test)]
    mod tests {
        use super::webkit_mappings;

        #[test]
        fn only_webkit_libraries_are_chosen_from_the_maps() {
            let maps = "\
7f0000000000-7f0000002000 r--p 00000000 fe:01 123 /usr/lib/x86_64-linux-gnu/libwebkit2gtk-4.1.so.0.19.9
7f0000002000-7f0000008000 r-xp 00002000 fe:01 123 /usr/lib/x86_64-linux-gnu/libwebkit2gtk-4.1.so.0.19.9
7f0000010000-7f0000011000 r--p 00000000 fe:01 124 /usr/lib/x86_64-linux-gnu/libjavascriptcoregtk-4.1.so.0.9.11
7f0000020000-7f0000021000 r--p 00000000 fe:01 125 /usr/lib/x86_64-linux-gnu/libgtk-3.so.0.2406.32
7f0000022000-7f0000024000 r-xp 00000000 fe:01 126 /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so
7f0000030000-7f0000031000 rw-p 00000000 00:00 0
7f0000040000-7f0000041000 rw-p 00000000 00:00 0 [heap]
not a line
7f0000050000-7f0000050000 r--p 00000000 fe:01 123 /usr/lib/libwebkit2gtk-4.1.so.0
";
            assert_eq!(
                webkit_mappings(maps),
                vec![
                    (0x7f00_0000_0000, 0x2000),
                    (0x7f00_0000_2000, 0x6000),
                    (0x7f00_0001_0000, 0x1000),
                    (0x7f00_0002_2000, 0x2000)
                ]
            );
        }
    }
}
