//! Start at login, through tauri-plugin-autostart (a LaunchAgent on macOS,
//! the Run registry key on Windows, an XDG autostart entry on Linux).

use crate::error::AppError;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::{AutoLaunchManager, ManagerExt};

/// Whether the app starts at login; `None` when the plugin is absent (tests).
pub fn is_enabled<R: Runtime>(app: &AppHandle<R>) -> Option<bool> {
    app.try_state::<AutoLaunchManager>()?;
    app.autolaunch().is_enabled().ok()
}

pub fn set<R: Runtime>(app: &AppHandle<R>, enabled: bool) -> Result<bool, AppError> {
    if app.try_state::<AutoLaunchManager>().is_none() {
        return Err(AppError::Autostart("not available in this build".into()));
    }
    let manager = app.autolaunch();
    let done = if enabled {
        manager.enable()
    } else {
        manager.disable()
    };
    done.map_err(|e| AppError::Autostart(e.to_string()))?;
    manager
        .is_enabled()
        .map_err(|e| AppError::Autostart(e.to_string()))
}
