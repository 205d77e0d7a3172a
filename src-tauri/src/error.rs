//! The app's error type: what a command can fail with, serialized for the UI
//! as `{ "message": "...", "field": "..." }` (field only for a form field the
//! user must fix). Internals are logged, never sent: messages are the
//! sentences core already wrote for people.

use notifier_core::engine::EngineError;
use notifier_core::secrets::SecretsError;
use notifier_core::sekoia::SekoiaError;
use notifier_core::selftest::SelfTestError;
use notifier_core::settings::form::FormError;
use notifier_core::settings::SettingsError;
use notifier_core::store::StoreError;
use notifier_core::triage::TriageError;
use serde::ser::SerializeStruct;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Form(#[from] FormError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Sekoia(#[from] SekoiaError),
    #[error(transparent)]
    SelfTest(#[from] SelfTestError),
    #[error(transparent)]
    Triage(#[from] TriageError),
    #[error("the engine is not running: {0}")]
    NotRunning(String),
    #[error("this entry has no alert page to open")]
    NoLink,
    #[error("No web browser could be opened for this alert ({0}); copy its link instead")]
    Browser(String),
    #[error("autostart: {0}")]
    Autostart(String),
    #[error("the OS keyring could not make an id: {0}")]
    Keyring(String),
    /// A blocking helper thread (a read, a keyring call) panicked or was
    /// cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// The form field to highlight, when the error is about one.
    fn field(&self) -> Option<&'static str> {
        match self {
            AppError::Form(FormError::Field(f)) => Some(f.field),
            _ => None,
        }
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct("AppError", 2)?;
        out.serialize_field("message", &self.to_string())?;
        out.serialize_field("field", &self.field())?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_serialize_to_a_message_and_the_field_to_fix() {
        let e = AppError::NoLink;
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"message": "this entry has no alert page to open", "field": null})
        );
    }
}
