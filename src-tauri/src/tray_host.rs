//! Waiting for a tray host. At login the app (autostarted) may come up
//! before the panel's StatusNotifierWatcher: the tray item then cannot
//! register (tray-icon's ksni backend gives up with `ServiceUnknown`).
//! [`watcher_appeared`] watches the watcher's well-known name on the
//! session bus and returns once someone owns it, so the shell can create
//! the tray item then. Once registered, ksni itself re-registers the item
//! when the watcher restarts.
//!
//! Must not: create the tray item (lib.rs does) or give up on its own (the
//! caller drops the future to stop waiting).

use futures_util::StreamExt;

/// The StatusNotifierWatcher's well-known bus name.
pub const WATCHER_NAME: &str = "org.kde.StatusNotifierWatcher";

/// Returns once `org.kde.StatusNotifierWatcher` has an owner on the session
/// bus (at once when it already has one). Errors: no session bus, or the
/// bus daemon refused the match rule.
pub async fn watcher_appeared() -> zbus::Result<()> {
    let connection = zbus::Connection::session().await?;
    let bus = zbus::fdo::DBusProxy::new(&connection).await?;
    let name = zbus::names::BusName::try_from(WATCHER_NAME)?;
    // Subscribe first, then look: a watcher appearing in between is seen.
    let mut changes = bus
        .receive_name_owner_changed_with_args(&[(0, WATCHER_NAME)])
        .await?;
    if bus.name_has_owner(name).await? {
        return Ok(());
    }
    while let Some(change) = changes.next().await {
        if let Ok(args) = change.args() {
            if args.new_owner().is_some() {
                return Ok(());
            }
        }
    }
    Err(zbus::Error::Failure(
        "the session bus connection closed".to_owned(),
    ))
}
