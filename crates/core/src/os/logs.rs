//! The log file for support: `<data dir>/logs/<name>.YYYY-MM-DD.log`, a new
//! file each day (UTC), the last 7 kept (tracing-appender), each capped at
//! [`DAILY_CAP`] bytes: past it one notice is written and the day's further
//! lines are dropped, so our own logs never fill a disk (at most 7 × 8 MiB).
//! The shells add it as a second tracing layer beside stderr. Nothing secret
//! is ever logged (keys, hook secrets and forward URLs are redacted where
//! they are formatted), and the directory is private to the user.
//! [`Chatter`] tames a noisy source (a tunnel program's output) before it is
//! logged.
//!
//! Must not: choose what is logged or at which level (the shells do).
//!
//! In detail: the daily-rotating log file in `<data dir>/logs/`
//! (tracing-appender, 7 kept, each capped at 8 MiB a day by `Capped`, a
//! `MakeWriter`) that both shells add beside stderr (each day's file created
//! 0600 through `private::append` before the appender opens it), and
//! `logs::Chatter` (pure: folds repeated lines, then a token bucket; the
//! tunnel's output goes through it).

mod chatter;

pub use chatter::Chatter;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};

/// Log filter directives both shells add after the user's own: libraries
/// that would log a secret at their most verbose levels are capped below
/// them. tungstenite traces the whole WebSocket upgrade request, whose
/// cookie is the API key; the directive names that module exactly, so even
/// a user directive for it cannot be more specific.
pub const SECRET_SAFE: &[&str] = &["tungstenite::handshake::client=debug"];

/// How many daily files are kept.
pub const KEEP_FILES: usize = 7;

/// The most bytes written to one day's file.
pub const DAILY_CAP: u64 = 8 * 1024 * 1024;

/// A daily-rotating writer for `<data_dir>/logs/<name>.*.log`, capped at
/// [`DAILY_CAP`] bytes a day.
pub fn rolling(data_dir: &Path, name: &str) -> io::Result<Capped> {
    rolling_capped(data_dir, name, DAILY_CAP)
}

/// Like [`rolling`] with a cap of `cap` bytes a day.
pub fn rolling_capped(data_dir: &Path, name: &str, cap: u64) -> io::Result<Capped> {
    // A data directory open to others gets nothing written into it (the
    // store then refuses it in words).
    if let Ok(Err(open)) = crate::os::private::check_dir(data_dir) {
        return Err(io::Error::other(open));
    }
    let dir = data_dir.join("logs");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(&dir)?;
    // The appender creates files with the process's umask: today's is
    // created first, 0600 (each new day's in `CapState::roll`).
    crate::os::private::append(&day_file(&dir, name, time::OffsetDateTime::now_utc()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(name)
        .filename_suffix("log")
        .max_log_files(KEEP_FILES)
        .build(&dir)
        .map_err(io::Error::other)?;
    Ok(Capped {
        state: Mutex::new(CapState {
            appender,
            dir,
            name: name.to_owned(),
            cap,
            day: None,
            written: 0,
            told: false,
        }),
    })
}

/// The daily log file with its cap; a tracing `MakeWriter` (and a plain
/// `Write` through `&Capped`). Each tracing event is one write, kept or
/// dropped whole.
pub struct Capped {
    state: Mutex<CapState>,
}

struct CapState {
    appender: RollingFileAppender,
    dir: PathBuf,
    name: String,
    cap: u64,
    /// The UTC day `written` counts (days since 1970).
    day: Option<i64>,
    written: u64,
    /// The cap notice was written today.
    told: bool,
}

impl Capped {
    fn lock(&self) -> MutexGuard<'_, CapState> {
        // Plain counters: consistent even after a panic elsewhere.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The file tracing-appender writes on `now`'s UTC day.
fn day_file(dir: &Path, name: &str, now: time::OffsetDateTime) -> PathBuf {
    let date = now.date();
    dir.join(format!(
        "{}.{:04}-{:02}-{:02}.log",
        name,
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

impl CapState {
    /// Starts the count of a new day at what an earlier run already wrote.
    fn roll(&mut self, now: time::OffsetDateTime) {
        let day = now.unix_timestamp().div_euclid(86_400);
        if self.day == Some(day) {
            return;
        }
        self.day = Some(day);
        self.told = false;
        let file = day_file(&self.dir, &self.name, now);
        // Before the appender rotates into it: created private (a failure
        // shows when the appender opens it).
        let _ = crate::os::private::append(&file);
        self.written = std::fs::metadata(file).map_or(0, |m| m.len());
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.roll(time::OffsetDateTime::now_utc());
        let len = buf.len() as u64;
        if self.written + len > self.cap {
            if !self.told {
                self.told = true;
                let notice = format!(
                    "log cap of {} bytes reached for today (UTC): later lines are dropped until tomorrow; stderr still has them\n",
                    self.cap
                );
                self.appender.write_all(notice.as_bytes())?;
            }
            // Dropped, as far as the caller is concerned written.
            return Ok(buf.len());
        }
        self.written += len;
        self.appender.write_all(buf)?;
        Ok(buf.len())
    }
}

impl Write for &Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().appender.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capped {
    type Writer = &'a Capped;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_log_file_lands_in_a_private_logs_directory() {
        let dir = tempfile::tempdir().unwrap();
        let log = rolling(dir.path(), "test").unwrap();
        writeln!(&log, "hello").unwrap();
        (&log).flush().unwrap();
        let logs = dir.path().join("logs");
        let files: Vec<_> = std::fs::read_dir(&logs).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        let name = files[0].file_name().to_string_lossy().into_owned();
        assert!(
            name.starts_with("test.") && name.ends_with(".log"),
            "{name}"
        );
        assert_eq!(std::fs::read_to_string(files[0].path()).unwrap(), "hello\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&logs).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
            // 0600 by its own mode, whatever the umask (022 in tests).
            let mode = files[0].metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn a_day_s_file_stops_growing_at_the_cap_with_one_notice() {
        let dir = tempfile::tempdir().unwrap();
        let log = rolling_capped(dir.path(), "test", 10_000).unwrap();
        let line = "x".repeat(99) + "\n";
        for _ in 0..1_000 {
            (&log).write_all(line.as_bytes()).unwrap();
        }
        (&log).flush().unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("logs"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].path()).unwrap();
        let kept = text.lines().filter(|l| l.starts_with('x')).count();
        assert_eq!(kept, 100, "10,000 bytes of 100-byte lines");
        assert_eq!(text.matches("log cap of 10000 bytes").count(), 1);
        // A second writer the same day (a restart) counts what is there.
        let again = rolling_capped(dir.path(), "test", 10_000).unwrap();
        (&again).write_all(line.as_bytes()).unwrap();
        let after = std::fs::read_to_string(files[0].path()).unwrap();
        assert_eq!(after.lines().filter(|l| l.starts_with('x')).count(), 100);
    }
}
