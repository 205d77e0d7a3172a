//! Where the Sekoia.io API key lives: the OS keyring (service
//! `sekoia-notifier`, user `api-key`), else the `SEKOIA_API_KEY` environment
//! variable, else the systemd credential `api-key`
//! (`$CREDENTIALS_DIRECTORY/api-key`, from `LoadCredential=`), else the file
//! named by `sekoia.api_key_file`. The key is never written to the config, the database or a
//! log; it only travels inside [`ApiKey`], whose Debug and Display redact it.
//!
//! Every keyring call has a deadline ([`KEYRING_DEADLINE`] for reads,
//! [`KEYRING_WRITE_DEADLINE`] for writes): it runs on a
//! thread of its own, and a Secret Service that does not answer (an unlock
//! prompt nobody answers, a wedged daemon) is given up with
//! [`SecretsError::KeyringTimeout`]; the thread is left to finish alone.
//! The headless daemon uses [`resolve_given_first`]: a key given by the
//! environment, a credential or a file never touches the keyring.
//!
//! In detail: the API key: keyring (keyring-core 1 and a store crate per
//! platform: Secret Service over libdbus / Keychain / Credential Manager by
//! `cfg`, a store opened per call), then `SEKOIA_API_KEY`, then the systemd
//! credential `api-key` (`$CREDENTIALS_DIRECTORY/api-key`, which the shipped
//! units fill with `LoadCredential=`), then `sekoia.api_key_file` (`resolve`,
//! the desktop app); `resolve_given_first` (the daemon) takes a given key first
//! and asks the keyring only without one. Every keyring call runs on its own
//! thread within a deadline (`within`); `from_keyring_or_later` hands back a
//! late answer (an unlock prompt) so a start never waits more than 5 s.
//! `forbid_core_dumps()` (RLIMIT_CORE 0 and, on Linux, `PR_SET_DUMPABLE` 0
//! unless `SEKOIA_NOTIFIER_DUMPABLE=1` for the footprint bench), called first
//! by both binaries: a dump would hold the key; `take_from_environment()`,
//! called before it, moves `SEKOIA_API_KEY` and `CREDENTIALS_DIRECTORY` out of
//! the process environment.

use crate::net::sekoia::ApiKey;
use crate::settings::Settings;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Longest wait for one keyring read. A Secret Service answers in
/// milliseconds when unlocked (seconds on a loaded machine); this is short
/// enough that an unanswered unlock prompt does not hold a start for long.
pub const KEYRING_DEADLINE: Duration = Duration::from_secs(10);
/// Longest wait for a keyring write or delete, which the user asked for
/// and may have to confirm: just above D-Bus's own 25 s, so a slow but
/// working keyring fails with its own words first.
pub const KEYRING_WRITE_DEADLINE: Duration = Duration::from_secs(30);

pub const SERVICE: &str = "sekoia-notifier";
pub const USER: &str = "api-key";
pub const ENV_VAR: &str = "SEKOIA_API_KEY";
/// The credential name a systemd unit passes the key under
/// (`LoadCredential=api-key:/path`).
pub const CREDENTIAL: &str = "api-key";

/// Where a key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Keyring,
    Env,
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/api-key`.
    Credential(PathBuf),
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Keyring => write!(f, "the OS keyring"),
            KeySource::Env => write!(f, "{ENV_VAR}"),
            KeySource::Credential(p) => write!(f, "the systemd credential {}", p.display()),
            KeySource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the OS keyring is not available ({detail}); on Linux a Secret Service (gnome-keyring, KeePassXC) must run and be unlocked, or set {ENV_VAR} / sekoia.api_key_file instead")]
    Keyring { detail: String },
    #[error("the OS keyring did not answer within {} s (an unlock prompt nobody answered, or a Secret Service that hangs); unlock the keyring, or set {ENV_VAR} / sekoia.api_key_file instead", .after.as_secs())]
    KeyringTimeout { after: Duration },
    #[error("cannot read the API key file {}: {cause}; check sekoia.api_key_file", path.display())]
    File {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("the API key from {source_name} is not usable: {reason}")]
    Invalid { source_name: String, reason: String },
    #[error("no API key: run `sekoia-notifierd set-api-key` (keyring), or set {ENV_VAR}, or pass the systemd credential {CREDENTIAL} (LoadCredential=), or set sekoia.api_key_file{}", keyring_note(.keyring_problem))]
    Missing { keyring_problem: Option<String> },
}

fn keyring_note(problem: &Option<String>) -> String {
    problem
        .as_ref()
        .map(|p| format!(" (the keyring could not be read: {p})"))
        .unwrap_or_default()
}

/// Where a keyring call's answer arrives, whenever it does.
type Answer<T> = std::sync::mpsc::Receiver<Result<T, SecretsError>>;

/// Runs one keyring call on a thread of its own.
fn spawn_call<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, SecretsError> + Send + 'static,
) -> Result<Answer<T>, SecretsError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("keyring".to_owned())
        .spawn(move || {
            let _ = tx.send(call());
        })
        .map_err(|e| SecretsError::Keyring {
            detail: format!("cannot start a thread for it: {e}"),
        })?;
    Ok(rx)
}

/// Runs one keyring call on its own thread and waits for it at most
/// `deadline`; past it the call is left running and `KeyringTimeout` returned.
fn within<T: Send + 'static>(
    deadline: Duration,
    call: impl FnOnce() -> Result<T, SecretsError> + Send + 'static,
) -> Result<T, SecretsError> {
    let rx = spawn_call(call)?;
    match rx.recv_timeout(deadline) {
        Ok(result) => result,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            tracing::warn!(
                "the OS keyring did not answer within {} s; going on without it",
                deadline.as_secs()
            );
            Err(SecretsError::KeyringTimeout { after: deadline })
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(SecretsError::Keyring {
            detail: "the keyring call failed without an answer".to_owned(),
        }),
    }
}

fn entry() -> Result<keyring_core::Entry, SecretsError> {
    entry_for(USER)
}

/// The entry `user` of service [`SERVICE`], in a store opened for this call
/// alone: a keyring that was not up at the first call, or was restarted, is
/// reached at the next, and a call stuck on an unanswered prompt holds no
/// lock another call waits on (a keyring-core store keeps one connection
/// behind a mutex for as long as it lives).
fn entry_for(user: &str) -> Result<keyring_core::Entry, SecretsError> {
    let store = platform_store().map_err(keyring_error)?;
    keyring_core::Entry::new_in_store(&store, SERVICE, user).map_err(keyring_error)
}

/// The OS credential store: the Secret Service on Linux, the login keychain
/// on macOS, the Credential Manager on Windows (each connects when opened).
fn platform_store() -> keyring_core::Result<std::sync::Arc<keyring_core::CredentialStore>> {
    #[cfg(target_os = "linux")]
    let store = dbus_secret_service_keyring_store::Store::new()?;
    #[cfg(target_os = "macos")]
    let store = apple_native_keyring_store::keychain::Store::new()?;
    #[cfg(windows)]
    let store = windows_native_keyring_store::Store::new()?;
    #[cfg(any(target_os = "linux", target_os = "macos", windows))]
    return Ok(store);
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    Err(keyring_core::Error::NotSupportedByStore(
        "no OS keyring is supported on this platform".to_owned(),
    ))
}

fn keyring_error(e: keyring_core::Error) -> SecretsError {
    // keyring's messages name the backend problem, never the secret.
    SecretsError::Keyring {
        detail: e.to_string(),
    }
}

/// Stores the key in the OS keyring, replacing any previous one.
pub fn store_in_keyring(key: &ApiKey) -> Result<(), SecretsError> {
    let key = key.clone();
    within(KEYRING_WRITE_DEADLINE, move || {
        entry()?.set_password(key.expose()).map_err(keyring_error)
    })
}

/// Removes the key from the keyring; absent is fine.
pub fn delete_from_keyring() -> Result<(), SecretsError> {
    within(KEYRING_WRITE_DEADLINE, || {
        match entry()?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(e)),
        }
    })
}

/// The key in the keyring, if there is one; at most [`KEYRING_DEADLINE`].
pub fn from_keyring() -> Result<Option<ApiKey>, SecretsError> {
    from_keyring_within(KEYRING_DEADLINE)
}

/// The key in the keyring, if there is one; at most `deadline`.
pub fn from_keyring_within(deadline: Duration) -> Result<Option<ApiKey>, SecretsError> {
    within(deadline, read_key)
}

/// The keyring read itself, without a deadline (run it through `within`).
fn read_key() -> Result<Option<ApiKey>, SecretsError> {
    match entry()?.get_password() {
        Ok(text) => parse(text, "the OS keyring").map(Some),
        Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(e) => Err(keyring_error(e)),
    }
}

/// A keyring read that answered within its first wait, or one still going
/// whose answer comes later (an unlock prompt the user may still answer).
pub enum KeyringRead {
    Answered(Result<Option<ApiKey>, SecretsError>),
    /// Still waiting: the answer arrives on this channel (never, if the
    /// prompt is never answered).
    Late(Answer<Option<ApiKey>>),
}

/// Reads the key in the keyring, waiting `wait` at most before handing back
/// a channel for the late answer: the desktop app starts its listener
/// without the key and restarts with it when the keyring answers.
pub fn from_keyring_or_later(wait: Duration) -> KeyringRead {
    let rx = match spawn_call(read_key) {
        Ok(rx) => rx,
        Err(e) => return KeyringRead::Answered(Err(e)),
    };
    match rx.recv_timeout(wait) {
        Ok(answer) => KeyringRead::Answered(answer),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            tracing::warn!(
                "the OS keyring did not answer within {} s (an unlock prompt?); starting without the key, which is used once it answers",
                wait.as_secs()
            );
            KeyringRead::Late(rx)
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            KeyringRead::Answered(Err(SecretsError::Keyring {
                detail: "the keyring call failed without an answer".to_owned(),
            }))
        }
    }
}

/// The keyring entry holding the URL of a forward destination the desktop
/// app added (`url_keyring = "<id>"` in its `[[forward]]` table).
fn forward_entry(id: &str) -> Result<keyring_core::Entry, SecretsError> {
    entry_for(&format!("forward-{id}"))
}

/// Stores a forward destination's URL in the OS keyring under `id`.
pub fn store_forward_url(id: &str, url: &str) -> Result<(), SecretsError> {
    let (id, url) = (id.to_owned(), url.to_owned());
    within(KEYRING_WRITE_DEADLINE, move || {
        forward_entry(&id)?
            .set_password(&url)
            .map_err(keyring_error)
    })
}

/// The URL stored under `id`, if there is one.
pub fn forward_url(id: &str) -> Result<Option<String>, SecretsError> {
    let id = id.to_owned();
    within(KEYRING_DEADLINE, move || {
        match forward_entry(&id)?.get_password() {
            Ok(text) => Ok(Some(text)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(e)),
        }
    })
}

/// Removes the URL stored under `id`; absent is fine.
pub fn delete_forward_url(id: &str) -> Result<(), SecretsError> {
    let id = id.to_owned();
    within(KEYRING_WRITE_DEADLINE, move || {
        match forward_entry(&id)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(e)),
        }
    })
}

fn parse(text: String, source_name: &str) -> Result<ApiKey, SecretsError> {
    ApiKey::new(text).map_err(|e| SecretsError::Invalid {
        source_name: source_name.to_owned(),
        reason: e.to_string(),
    })
}

/// Finds the key: keyring, then environment, then file (the desktop app,
/// whose own key lives in the keyring). A keyring that cannot be reached or
/// does not answer within [`KEYRING_DEADLINE`] is not fatal when another
/// source has the key.
pub fn resolve(settings: &Settings) -> Result<(ApiKey, KeySource), SecretsError> {
    resolve_after_keyring(settings, from_keyring())
}

/// Like [`resolve`], with the keyring's answer already read (`keyring`).
pub fn resolve_after_keyring(
    settings: &Settings,
    keyring: Result<Option<ApiKey>, SecretsError>,
) -> Result<(ApiKey, KeySource), SecretsError> {
    let keyring_problem = match keyring_verdict(keyring) {
        Ok(found) => return Ok(found),
        Err(problem) => problem,
    };
    given_key(settings)?.ok_or(SecretsError::Missing { keyring_problem })
}

/// Finds the key for the headless daemon: environment, then systemd
/// credential, then file, and only when none of them gives one, the
/// keyring (within [`KEYRING_DEADLINE`]). A given key never touches the
/// keyring.
pub fn resolve_given_first(settings: &Settings) -> Result<(ApiKey, KeySource), SecretsError> {
    if let Some(found) = given_key(settings)? {
        return Ok(found);
    }
    match keyring_first() {
        Ok(found) => Ok(found),
        Err(keyring_problem) => Err(SecretsError::Missing { keyring_problem }),
    }
}

/// The keyring's key, or why there is none (`None`: simply absent).
fn keyring_first() -> Result<(ApiKey, KeySource), Option<String>> {
    keyring_verdict(from_keyring())
}

fn keyring_verdict(
    read: Result<Option<ApiKey>, SecretsError>,
) -> Result<(ApiKey, KeySource), Option<String>> {
    match read {
        Ok(Some(key)) => Ok((key, KeySource::Keyring)),
        Ok(None) => Err(None),
        Err(e) => {
            tracing::debug!(error = %e, "keyring unavailable");
            Err(Some(match e {
                SecretsError::Keyring { detail } => detail,
                other => other.to_string(),
            }))
        }
    }
}

/// What [`take_from_environment`] took out of the environment:
/// `SEKOIA_API_KEY` and `CREDENTIALS_DIRECTORY`.
struct Taken {
    key: Option<String>,
    credentials: Option<std::ffi::OsString>,
}

static TAKEN: std::sync::OnceLock<Taken> = std::sync::OnceLock::new();

/// Moves `SEKOIA_API_KEY` and `CREDENTIALS_DIRECTORY` out of the process
/// environment into this module, so that no child and no later reader of
/// the environment sees them; [`given_key`] reads them from here from then
/// on. Both binaries call it first thing in `main`, while the process has
/// one thread (changing the environment races with other threads reading
/// it: `set_var`/`remove_var` are `unsafe` from edition 2024 on for that
/// reason). Calls after the first change nothing.
pub fn take_from_environment() {
    TAKEN.get_or_init(|| {
        let taken = Taken {
            key: std::env::var(ENV_VAR).ok(),
            credentials: std::env::var_os("CREDENTIALS_DIRECTORY"),
        };
        std::env::remove_var(ENV_VAR);
        std::env::remove_var("CREDENTIALS_DIRECTORY");
        taken
    });
}

/// `SEKOIA_API_KEY`: as taken at start, or from the environment in a
/// process that did not take it (tests).
fn env_key() -> Option<String> {
    match TAKEN.get() {
        Some(taken) => taken.key.clone(),
        None => std::env::var(ENV_VAR).ok(),
    }
}

fn credentials_dir() -> Option<std::ffi::OsString> {
    match TAKEN.get() {
        Some(taken) => taken.credentials.clone(),
        None => std::env::var_os("CREDENTIALS_DIRECTORY"),
    }
}

/// A key given to the process: `SEKOIA_API_KEY`, the systemd credential,
/// `sekoia.api_key_file`, in that order; `None` when none is given.
pub fn given_key(settings: &Settings) -> Result<Option<(ApiKey, KeySource)>, SecretsError> {
    if let Some(text) = env_key() {
        if !text.trim().is_empty() {
            return parse(text, ENV_VAR).map(|k| Some((k, KeySource::Env)));
        }
    }
    if let Some(found) = from_credentials(credentials_dir())? {
        return Ok(Some(found));
    }
    if let Some(path) = &settings.sekoia.api_key_file {
        let text = std::fs::read_to_string(path).map_err(|cause| SecretsError::File {
            path: path.clone(),
            cause,
        })?;
        let shown = path.display().to_string();
        return parse(text, &shown).map(|k| Some((k, KeySource::File(path.clone()))));
    }
    Ok(None)
}

/// The key systemd passed as the credential `api-key`, when the service has a
/// credentials directory (`$CREDENTIALS_DIRECTORY`) holding one. A directory
/// without that file is not an error: the unit passes other credentials.
fn from_credentials(
    dir: Option<std::ffi::OsString>,
) -> Result<Option<(ApiKey, KeySource)>, SecretsError> {
    let Some(dir) = dir.filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(dir).join(CREDENTIAL);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => return Err(SecretsError::File { path, cause }),
    };
    let shown = format!("the systemd credential {}", path.display());
    parse(text, &shown).map(|k| Some((k, KeySource::Credential(path))))
}

/// No core dumps from this process (`RLIMIT_CORE` 0, soft and hard, and on
/// Linux `PR_SET_DUMPABLE` 0): a crash dump would hold the API key and the
/// hook secret in clear. Both binaries
/// call it first thing; the shipped units say `LimitCORE=0` as well. A
/// failure is logged by the caller's absence of effect only: it cannot fail
/// for lowering a limit.
pub fn forbid_core_dumps() {
    #[cfg(unix)]
    {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct given; lowering a limit is
        // always allowed.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &none);
        }
    }
    // Not dumpable either: no core through a pipe handler (systemd-coredump
    // ignores RLIMIT_CORE), and no other process of the same user may
    // ptrace it or read its memory or environment through /proc.
    // `SEKOIA_NOTIFIER_DUMPABLE=1` keeps it dumpable for profiling (the
    // benchmarks read /proc/PID/smaps_rollup); RLIMIT_CORE stays 0.
    #[cfg(target_os = "linux")]
    if std::env::var_os(DUMPABLE_VAR).is_none_or(|v| v != "1") {
        // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes this process's flag.
        unsafe {
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        }
    }
}

/// Set to `1`, keeps the process dumpable (`PR_SET_DUMPABLE`) for
/// profiling and the footprint benchmark; core dumps stay off.
pub const DUMPABLE_VAR: &str = "SEKOIA_NOTIFIER_DUMPABLE";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyring_call_that_never_returns_is_given_up_at_the_deadline() {
        let (_hold, wait) = std::sync::mpsc::channel::<()>();
        let started = std::time::Instant::now();
        let err = within(Duration::from_millis(200), move || {
            // Blocks like an unanswered unlock prompt, until the test ends.
            let _ = wait.recv();
            Ok(())
        })
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(err, SecretsError::KeyringTimeout { .. }), "{err}");
        let words = err.to_string();
        assert!(words.contains("did not answer within"), "{words}");
        assert!(words.contains(ENV_VAR), "{words}");
    }

    #[test]
    fn systemd_credential_is_read_from_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CREDENTIAL), "sk-credential-key\n").unwrap();
        let (key, source) = from_credentials(Some(dir.path().into()))
            .unwrap()
            .expect("a key");
        assert_eq!(key.expose(), "sk-credential-key");
        assert_eq!(source, KeySource::Credential(dir.path().join(CREDENTIAL)));
    }

    #[test]
    fn credentials_directory_without_the_api_key_is_no_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("teams-url"), "https://example.test/\n").unwrap();
        assert!(from_credentials(Some(dir.path().into())).unwrap().is_none());
        assert!(from_credentials(None).unwrap().is_none());
        assert!(from_credentials(Some("".into())).unwrap().is_none());
    }

    #[test]
    fn empty_credential_is_refused_without_showing_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CREDENTIAL), "\n").unwrap();
        let err = from_credentials(Some(dir.path().into())).unwrap_err();
        assert!(matches!(err, SecretsError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("systemd credential"), "{err}");
    }
}
