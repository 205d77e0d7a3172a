//! The log file for support: `<data dir>/logs/<name>.YYYY-MM-DD.log`, a new
//! file each day, the last 7 kept (tracing-appender). The shells add it as a
//! second tracing layer beside stderr. Nothing secret is ever logged (keys,
//! hook secrets and forward URLs are redacted where they are formatted), and
//! the directory is private to the user.
//!
//! Must not: choose what is logged or at which level (the shells do).

use std::io;
use std::path::Path;
use tracing_appender::rolling::{RollingFileAppender, Rotation};

/// Log filter directives both shells add after the user's own: libraries
/// that would log a secret at their most verbose levels are capped below
/// them. tungstenite traces the whole WebSocket upgrade request, whose
/// cookie is the API key; the directive names that module exactly, so even
/// a user directive for it cannot be more specific.
pub const SECRET_SAFE: &[&str] = &["tungstenite::handshake::client=debug"];

/// How many daily files are kept.
pub const KEEP_FILES: usize = 7;

/// A daily-rotating writer for `<data_dir>/logs/<name>.*.log`.
pub fn rolling(data_dir: &Path, name: &str) -> io::Result<RollingFileAppender> {
    let dir = data_dir.join("logs");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(&dir)?;
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(name)
        .filename_suffix("log")
        .max_log_files(KEEP_FILES)
        .build(&dir)
        .map_err(io::Error::other)
}

/// New files of this process are readable by the user only (logs, the
/// database, WebKit's data): the process umask becomes 077.
pub fn private_files() {
    #[cfg(unix)]
    // SAFETY: umask(2) only swaps the process file-mode mask.
    unsafe {
        libc::umask(0o077);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_log_file_lands_in_a_private_logs_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = rolling(dir.path(), "test").unwrap();
        writeln!(log, "hello").unwrap();
        log.flush().unwrap();
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
        }
    }
}
