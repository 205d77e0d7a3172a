//! Commands both windows use.

use super::ShellState;
use crate::error::AppError;
use crate::shell::Status;
use tauri::{AppHandle, Runtime};

#[tauri::command]
pub async fn app_status(shell: ShellState<'_>) -> Result<Status, AppError> {
    Ok(shell.status().await)
}

/// Sends a test alert through the public webhook URL; the answer says how
/// long the round trip took, or which leg failed.
#[tauri::command]
pub async fn app_send_test(shell: ShellState<'_>) -> Result<String, AppError> {
    shell.send_test().await
}

/// The feed's empty state links to the settings window.
#[tauri::command]
pub fn app_open_settings<R: Runtime>(app: AppHandle<R>) {
    crate::windows::open_settings(&app, false);
}
