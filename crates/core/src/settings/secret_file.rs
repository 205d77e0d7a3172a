//! `listener.hook_secret_file`: the hook secret in a file of its own, so
//! the configuration can stay read-only to the process that serves (the
//! system service: `/etc/sekoia-notifier/config.toml` belongs to root, the
//! secret lives in its state directory). The file holds the secret alone
//! (a trailing newline allowed); it is created 0600, new, never through a
//! symlink, on the first load that finds it missing, and replaced the same
//! way by `regenerate-secret`.
//!
//! Must not: log or echo the secret.

use super::{io_error, HookSecret, SettingsError};
use std::io::Write;
use std::path::Path;

/// The secret in `path`, generated there first when the file is missing.
/// Errors: unreadable, not a valid secret, or not creatable.
pub(super) fn read_or_create(path: &Path) -> Result<HookSecret, SettingsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = HookSecret::generate()?;
            match crate::os::private::create_new(path) {
                Ok(mut file) => {
                    file.write_all(format!("{}\n", secret.as_str()).as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(|e| io_error("write", path, e))?;
                    Ok(secret)
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text =
                        std::fs::read_to_string(path).map_err(|e| io_error("read", path, e))?;
                    parse(&text, path)
                }
                Err(e) => Err(io_error("create", path, e)),
            }
        }
        Err(e) => Err(io_error("read", path, e)),
    }
}

/// A new secret written over `path` (atomically, 0600).
pub(super) fn regenerate(path: &Path) -> Result<HookSecret, SettingsError> {
    let secret = HookSecret::generate()?;
    crate::os::private::replace(path, format!("{}\n", secret.as_str()).as_bytes())
        .map_err(|e| io_error("write", path, e))?;
    Ok(secret)
}

fn parse(text: &str, path: &Path) -> Result<HookSecret, SettingsError> {
    HookSecret::validate(text.trim_end_matches(['\n', '\r'])).map_err(|why| {
        io_error(
            "use",
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("it must hold the webhook secret alone: {why}"),
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_secret_file_is_created_private_and_read_back_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook-secret");
        let first = read_or_create(&path).unwrap();
        assert_eq!(read_or_create(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let second = regenerate(&path).unwrap();
        assert_ne!(second, first);
        assert_eq!(read_or_create(&path).unwrap(), second);
        std::fs::write(&path, "tiny-x\n").unwrap();
        let err = read_or_create(&path).unwrap_err().to_string();
        assert!(
            err.contains("hook-secret") && !err.contains("tiny-x"),
            "{err}"
        );
    }
}
