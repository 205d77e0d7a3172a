//! One desktop app per user session, and honest about it: the running app
//! records its pid, config file and data directory in
//! `$XDG_RUNTIME_DIR/sekoia-notifier/desktop.json`; a second launch with
//! the same config hands over to it (the single-instance plugin opens its
//! feed), and a second launch with another `--config` / `--data-dir` says
//! in one line which instance runs with which config (stderr and a
//! pop-up) and exits 1, instead of silently not starting that config.
//!
//! Owns that record only. Must not: start or stop an engine, or decide for
//! the single-instance plugin (it still arbitrates simultaneous starts).

use notifier_core::notify::desktop::{Desktop, Opener};
use notifier_core::notify::{Popup, PopupKind, Urgency};
use notifier_core::settings::Paths;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

const FILE: &str = "desktop.json";

/// What the running desktop app records about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    pub pid: u32,
    pub config: PathBuf,
    pub data_dir: PathBuf,
}

impl Running {
    /// This process, with `paths`.
    pub fn this(paths: &Paths) -> Running {
        Running {
            pid: std::process::id(),
            config: absolute(&paths.config_file),
            data_dir: absolute(&paths.data_dir),
        }
    }

    fn same_config(&self, other: &Running) -> bool {
        self.config == other.config && self.data_dir == other.data_dir
    }

    /// The one line a refused second launch prints (and pops up).
    pub fn refusal(&self, asked: &Running) -> String {
        format!(
            "Sekoia Notifier already runs (pid {}) with --config {} --data-dir {}; this launch asked for --config {} --data-dir {}: quit the running app first (tray > Quit), or use sekoia-notifierd for a second configuration",
            self.pid,
            self.config.display(),
            self.data_dir.display(),
            asked.config.display(),
            asked.data_dir.display()
        )
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_owned())
}

/// Where the record lives: the session's runtime directory, else the
/// system's temp directory (one per user name).
fn record_path() -> PathBuf {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("sekoia-notifier"),
        None => {
            let user = std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "user".to_owned());
            std::env::temp_dir().join(format!("sekoia-notifier-{user}"))
        }
    };
    dir.join(FILE)
}

/// The other desktop app running now with another config, if there is one
/// (a record whose process is gone is stale and ignored).
pub fn other_config(asked: &Running) -> Option<Running> {
    let text = std::fs::read_to_string(record_path()).ok()?;
    let running: Running = serde_json::from_str(&text).ok()?;
    (running.pid != asked.pid && alive(running.pid) && !running.same_config(asked))
        .then_some(running)
}

fn alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        // Without /proc, a recorded pid is taken as running; a stale record
        // is rewritten by the next app that starts.
        let _ = pid;
        true
    }
}

/// Records this process as the running app (once the single-instance
/// plugin let it run). A failure only costs the second launch's words.
pub fn record(me: &Running) {
    let path = record_path();
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| serde_json::to_vec(me).map_err(std::io::Error::other))
        .and_then(|bytes| notifier_core::private::replace(&path, &bytes));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "cannot record the running desktop app");
    }
}

/// Removes the record if it is still ours.
pub fn forget(me: &Running) {
    let path = record_path();
    let ours = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Running>(&t).ok())
        .is_some_and(|r| r.pid == me.pid);
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

/// Shows `line` as a pop-up, for at most 3 s (no notification server, no
/// pop-up: the line is on stderr anyway).
pub fn pop_up(line: &str) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let Ok(app) = url::Url::parse("https://app.sekoia.io") else {
        return;
    };
    let popup = Popup {
        kind: PopupKind::Notice,
        key: "second-instance".to_owned(),
        summary: "Sekoia Notifier is already running".to_owned(),
        lines: vec![line.to_owned()],
        urgency: Urgency::Normal,
        link: None,
        ..Popup::default()
    };
    runtime.block_on(async {
        let desktop = Desktop::new(app, Opener::System);
        let _ = tokio::time::timeout(Duration::from_secs(3), desktop.show(&popup)).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_launch_with_another_config_names_both() {
        let running = Running {
            pid: 41,
            config: "/home/a/.config/sekoia-notifier/config.toml".into(),
            data_dir: "/home/a/.local/share/sekoia-notifier".into(),
        };
        let asked = Running {
            pid: 42,
            config: "/tmp/test.toml".into(),
            data_dir: "/tmp/test-data".into(),
        };
        assert!(!running.same_config(&asked));
        let line = running.refusal(&asked);
        assert!(line.contains("pid 41"), "{line}");
        assert!(
            line.contains("/home/a/.config/sekoia-notifier/config.toml"),
            "{line}"
        );
        assert!(
            line.contains("--config /tmp/test.toml --data-dir /tmp/test-data"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        let same = Running {
            pid: 43,
            ..running.clone()
        };
        assert!(running.same_config(&same));
    }
}
