//! Files and directories private to the user, by explicit mode rather than
//! a process-wide umask (children, the browser among them, keep the user's
//! own umask): files created 0600, always new (`O_CREAT|O_EXCL`, and
//! `O_NOFOLLOW`, so a symlink planted at the name is never followed), temp
//! files under a random name beside their target and renamed into place;
//! and a check that a directory handed to us (`--data-dir`) is not open to
//! others.
//!
//! Must not: choose where files live, or read them.
//!
//! In detail: files private by their own mode, never a process umask:
//! `create_new` (0600, `O_EXCL|O_NOFOLLOW`), `append` (0600, no symlink, a
//! looser file narrowed), `replace` (a random temp name beside the target,
//! synced, renamed: `instance.json`, the desktop app's record); `check_dir`
//! refuses a data directory of another owner or writable by group/others
//! (`StoreError::OpenDataDir`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Opens `path` for writing as a new file, mode 0600, never through a
/// symlink. Errors: `AlreadyExists` when anything (a symlink included) is
/// at `path`.
pub fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Opens `path` for appending, creating it 0600 when missing; an existing
/// file looser than 0600 is narrowed. Never follows a symlink at `path`
/// (`ELOOP`). For files another writer (a log appender) also opens.
pub fn append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

/// A new random temp name beside `path`: `.<name>.<12 hex>.tmp`.
fn temp_beside(path: &Path) -> io::Result<PathBuf> {
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| io::Error::other(e.to_string()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok(dir.join(format!(".{name}.{hex}.tmp")))
}

/// Replaces `path` with `bytes` atomically: a new 0600 temp file under a
/// random name beside it ([`create_new`]), written, synced, renamed over
/// `path`. Nothing is left behind on failure.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_beside(path)?;
    let written = create_new(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Why a directory is not private enough to keep our data in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenDir {
    #[error("it belongs to another user (uid {owner}, this process runs as uid {me})")]
    ForeignOwner { owner: u32, me: u32 },
    #[error("others can write to it (mode {mode:04o})")]
    Writable { mode: u32 },
}

/// Checks that `dir` (an existing directory) is ours and that neither its
/// group nor others may write to it: anyone who can would choose what this
/// app reads (a swapped database, a symlinked log). A directory owned by
/// root is accepted for a root process only.
#[cfg(unix)]
pub fn check_dir(dir: &Path) -> io::Result<Result<(), OpenDir>> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir)?;
    // SAFETY: geteuid(2) cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Ok(Err(OpenDir::ForeignOwner {
            owner: meta.uid(),
            me,
        }));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Ok(Err(OpenDir::Writable { mode }));
    }
    Ok(Ok(()))
}

/// No owners or modes to check outside unix.
#[cfg(not(unix))]
pub fn check_dir(_dir: &Path) -> io::Result<Result<(), OpenDir>> {
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_a_new_file_s_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "keep me").unwrap();
        let link = dir.path().join("instance.json.tmp");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = create_new(&link).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(create_new(&dangling).is_err());
        assert!(
            !dir.path().join("nowhere").exists(),
            "not created through the link"
        );
        assert!(append(&link).is_err(), "append does not follow either");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    }

    #[cfg(unix)]
    #[test]
    fn replace_writes_a_private_file_under_any_umask_and_leaves_no_temp() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("instance.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        replace(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // Two temp names are never the same.
        assert_ne!(temp_beside(&path).unwrap(), temp_beside(&path).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_can_write_to_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(check_dir(dir.path()).unwrap(), Ok(()));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o770)).unwrap();
        assert_eq!(
            check_dir(dir.path()).unwrap(),
            Err(OpenDir::Writable { mode: 0o770 })
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check_dir(dir.path()).unwrap(), Ok(()), "readable is fine");
        // A directory of another user: /, unless the tests run as root.
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            assert!(matches!(
                check_dir(Path::new("/")).unwrap(),
                Err(OpenDir::ForeignOwner { owner: 0, .. })
            ));
        }
    }
}
