//! The feed window's commands.

use super::ShellState;
use crate::error::AppError;
use notifier_core::store::FeedEntry;

#[tauri::command]
pub async fn feed_list(
    shell: ShellState<'_>,
    limit: Option<usize>,
) -> Result<Vec<FeedEntry>, AppError> {
    shell.feed(limit.unwrap_or(crate::shell::FEED_LIMIT)).await
}

/// `uuid`: one alert; none: every entry.
#[tauri::command]
pub async fn feed_mark_read(
    shell: ShellState<'_>,
    uuid: Option<String>,
) -> Result<usize, AppError> {
    shell.mark_read(uuid).await
}

/// Opens the alert page of feed entry `id` (only under the configured app URL).
#[tauri::command]
pub async fn feed_open(shell: ShellState<'_>, id: i64) -> Result<(), AppError> {
    shell.open_alert(id).await
}

/// Acknowledges alert `uuid` in Sekoia.io; returns its new status.
#[tauri::command]
pub async fn feed_acknowledge(
    shell: ShellState<'_>,
    uuid: String,
) -> Result<Option<String>, AppError> {
    shell.acknowledge(&uuid).await
}

/// Resumes paused pop-ups (the feed banner's Resume).
#[tauri::command]
pub async fn feed_resume(shell: ShellState<'_>) -> Result<(), AppError> {
    shell.pause(crate::shell::PauseFor::Resume).await;
    Ok(())
}

/// When no webhook could arrive (last 7 days), for "no delivery from A to B" rows.
#[tauri::command]
pub async fn feed_gaps(shell: ShellState<'_>) -> Result<Vec<notifier_core::reach::Gap>, AppError> {
    shell.gaps().await
}

/// The detail pane of alert `uuid` (cached for a minute unless `refresh`).
#[tauri::command]
pub async fn feed_detail(
    shell: ShellState<'_>,
    uuid: String,
    refresh: Option<bool>,
) -> Result<notifier_core::triage::detail::Detail, AppError> {
    shell.alert_detail(&uuid, refresh.unwrap_or(false)).await
}

/// Applies workflow action `action` (an id its workflow lists) to alert
/// `uuid`, with an optional comment; returns the pane read again.
#[tauri::command]
pub async fn feed_action(
    shell: ShellState<'_>,
    uuid: String,
    action: String,
    comment: Option<String>,
) -> Result<notifier_core::triage::detail::Detail, AppError> {
    shell.apply_action(&uuid, &action, comment.as_deref()).await
}

/// Labels of the communities `uuids` (names from Sekoia.io, cached).
#[tauri::command]
pub async fn feed_communities(
    shell: ShellState<'_>,
    uuids: Vec<String>,
) -> Result<Vec<crate::detail::Community>, AppError> {
    Ok(shell.communities(uuids).await)
}
