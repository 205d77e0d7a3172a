//! The settings window's commands. The API key goes in, never out.

use super::ShellState;
use crate::error::AppError;
use crate::shell::{KeyStatus, SettingsView};
use notifier_core::settings::form::{Form, NewForward};
use tauri::{AppHandle, Runtime};

#[tauri::command]
pub async fn settings_get<R: Runtime>(
    app: AppHandle<R>,
    shell: ShellState<'_>,
) -> Result<SettingsView, AppError> {
    Ok(shell
        .settings_view(crate::autostart::is_enabled(&app))
        .await)
}

/// Checks and saves the form, then applies it (the engine restarts).
#[tauri::command]
pub async fn settings_save<R: Runtime>(
    app: AppHandle<R>,
    shell: ShellState<'_>,
    form: Form,
) -> Result<SettingsView, AppError> {
    shell.save_settings(&form).await?;
    Ok(shell
        .settings_view(crate::autostart::is_enabled(&app))
        .await)
}

/// Checks the key with Sekoia.io, stores it in the OS keyring, applies it.
#[tauri::command]
pub async fn settings_set_api_key(
    shell: ShellState<'_>,
    key: String,
) -> Result<KeyStatus, AppError> {
    shell.set_api_key(key).await
}

#[tauri::command]
pub async fn settings_set_autostart<R: Runtime>(
    app: AppHandle<R>,
    enabled: bool,
) -> Result<bool, AppError> {
    crate::autostart::set(&app, enabled)
}

/// The user copied the webhook URL: a changed URL stops being a warning.
#[tauri::command]
pub async fn settings_url_copied(shell: ShellState<'_>) -> Result<(), AppError> {
    shell.url_copied().await;
    Ok(())
}

/// A new webhook secret; returns the new URL (the old one stops working).
#[tauri::command]
pub async fn settings_regenerate_secret(shell: ShellState<'_>) -> Result<String, AppError> {
    shell.regenerate_secret().await
}

/// Adds a forward destination (its URL goes to the OS keyring).
#[tauri::command]
pub async fn settings_add_forward<R: Runtime>(
    app: AppHandle<R>,
    shell: ShellState<'_>,
    forward: NewForward,
) -> Result<SettingsView, AppError> {
    shell.add_forward(&forward).await?;
    Ok(shell
        .settings_view(crate::autostart::is_enabled(&app))
        .await)
}

/// Removes forward destination `index` and its URL from the keyring.
#[tauri::command]
pub async fn settings_remove_forward<R: Runtime>(
    app: AppHandle<R>,
    shell: ShellState<'_>,
    index: usize,
) -> Result<SettingsView, AppError> {
    shell.remove_forward(index).await?;
    Ok(shell
        .settings_view(crate::autostart::is_enabled(&app))
        .await)
}
