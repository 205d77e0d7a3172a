//! Where the Sekoia.io API key lives: the OS keyring (service
//! `sekoia-notifier`, user `api-key`), else the `SEKOIA_API_KEY` environment
//! variable, else the file named by `sekoia.api_key_file` (for systemd
//! credentials). The key is never written to the config, the database or a
//! log; it only travels inside [`ApiKey`], whose Debug and Display redact it.

use crate::sekoia::ApiKey;
use crate::settings::Settings;
use std::fmt;
use std::path::PathBuf;

pub const SERVICE: &str = "sekoia-notifier";
pub const USER: &str = "api-key";
pub const ENV_VAR: &str = "SEKOIA_API_KEY";

/// Where a key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Keyring,
    Env,
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Keyring => write!(f, "the OS keyring"),
            KeySource::Env => write!(f, "{ENV_VAR}"),
            KeySource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the OS keyring is not available ({detail}); on Linux a Secret Service (gnome-keyring, KeePassXC) must run and be unlocked, or set {ENV_VAR} / sekoia.api_key_file instead")]
    Keyring { detail: String },
    #[error("cannot read the API key file {}: {cause}; check sekoia.api_key_file", path.display())]
    File {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("the API key from {source_name} is not usable: {reason}")]
    Invalid { source_name: String, reason: String },
    #[error("no API key: run `sekoia-notifierd set-api-key` (keyring), or set {ENV_VAR}, or sekoia.api_key_file{}", keyring_note(.keyring_problem))]
    Missing { keyring_problem: Option<String> },
}

fn keyring_note(problem: &Option<String>) -> String {
    problem
        .as_ref()
        .map(|p| format!(" (the keyring could not be read: {p})"))
        .unwrap_or_default()
}

fn entry() -> Result<keyring::Entry, SecretsError> {
    keyring::Entry::new(SERVICE, USER).map_err(keyring_error)
}

fn keyring_error(e: keyring::Error) -> SecretsError {
    // keyring's messages name the backend problem, never the secret.
    SecretsError::Keyring {
        detail: e.to_string(),
    }
}

/// Stores the key in the OS keyring, replacing any previous one.
pub fn store_in_keyring(key: &ApiKey) -> Result<(), SecretsError> {
    entry()?.set_password(key.expose()).map_err(keyring_error)
}

/// Removes the key from the keyring; absent is fine.
pub fn delete_from_keyring() -> Result<(), SecretsError> {
    match entry()?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(keyring_error(e)),
    }
}

/// The key in the keyring, if there is one.
pub fn from_keyring() -> Result<Option<ApiKey>, SecretsError> {
    match entry()?.get_password() {
        Ok(text) => parse(text, "the OS keyring").map(Some),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(keyring_error(e)),
    }
}

/// The keyring entry holding the URL of a forward destination the desktop
/// app added (`url_keyring = "<id>"` in its `[[forward]]` table).
fn forward_entry(id: &str) -> Result<keyring::Entry, SecretsError> {
    keyring::Entry::new(SERVICE, &format!("forward-{id}")).map_err(keyring_error)
}

/// Stores a forward destination's URL in the OS keyring under `id`.
pub fn store_forward_url(id: &str, url: &str) -> Result<(), SecretsError> {
    forward_entry(id)?.set_password(url).map_err(keyring_error)
}

/// The URL stored under `id`, if there is one.
pub fn forward_url(id: &str) -> Result<Option<String>, SecretsError> {
    match forward_entry(id)?.get_password() {
        Ok(text) => Ok(Some(text)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(keyring_error(e)),
    }
}

/// Removes the URL stored under `id`; absent is fine.
pub fn delete_forward_url(id: &str) -> Result<(), SecretsError> {
    match forward_entry(id)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(keyring_error(e)),
    }
}

fn parse(text: String, source_name: &str) -> Result<ApiKey, SecretsError> {
    ApiKey::new(text).map_err(|e| SecretsError::Invalid {
        source_name: source_name.to_owned(),
        reason: e.to_string(),
    })
}

/// Finds the key: keyring, then environment, then file. A keyring that
/// cannot be reached is not fatal when another source has the key.
pub fn resolve(settings: &Settings) -> Result<(ApiKey, KeySource), SecretsError> {
    let keyring_problem = match from_keyring() {
        Ok(Some(key)) => return Ok((key, KeySource::Keyring)),
        Ok(None) => None,
        Err(e) => {
            tracing::debug!(error = %e, "keyring unavailable");
            Some(match e {
                SecretsError::Keyring { detail } => detail,
                other => other.to_string(),
            })
        }
    };
    if let Ok(text) = std::env::var(ENV_VAR) {
        if !text.trim().is_empty() {
            return parse(text, ENV_VAR).map(|k| (k, KeySource::Env));
        }
    }
    if let Some(path) = &settings.sekoia.api_key_file {
        let text = std::fs::read_to_string(path).map_err(|cause| SecretsError::File {
            path: path.clone(),
            cause,
        })?;
        let shown = path.display().to_string();
        return parse(text, &shown).map(|k| (k, KeySource::File(path.clone())));
    }
    Err(SecretsError::Missing { keyring_problem })
}
