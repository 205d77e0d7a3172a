//! Which peer owns `org.freedesktop.Notifications` now. The desktop backend
//! keeps what it learnt from one server (capabilities, the ids it returned
//! and their links) only while that server owns the name: when the owner
//! changes (a notification daemon restarted or replaced), everything is
//! read again from the new one, and a click is honoured only when it comes
//! from the owner that returned the id.
//!
//! Owns the bus connection and the owner lookups. Must not: keep any
//! notification state itself (that is `Tracked`, per owner).

use zbus::fdo::DBusProxy;
use zbus::names::{BusName, OwnedUniqueName};

use super::Bus;
use crate::deliver::notify::NotifyError;

/// The service's well-known name.
pub(super) const NAME: &str = "org.freedesktop.Notifications";

/// Opens a connection to the bus.
pub(super) async fn connect(bus: &Bus) -> Result<zbus::Connection, NotifyError> {
    match bus {
        Bus::Session => zbus::Connection::session().await.map_err(|e| {
            let reason = if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
                "DBUS_SESSION_BUS_ADDRESS unset".to_owned()
            } else {
                format!("cannot connect to it: {e}")
            };
            NotifyError::NoSession { reason }
        }),
        Bus::Address(address) => {
            let no_session = |e: zbus::Error| NotifyError::NoSession {
                reason: format!("cannot connect to {address}: {e}"),
            };
            zbus::connection::Builder::address(address.as_str())
                .map_err(no_session)?
                .build()
                .await
                .map_err(no_session)
        }
    }
}

/// The unique name owning the service now; `None` when nobody does (an
/// activatable server not started yet, or none at all).
pub(super) async fn current(
    connection: &zbus::Connection,
) -> Result<Option<OwnedUniqueName>, NotifyError> {
    let server = |source| NotifyError::Server {
        action: "asking who owns org.freedesktop.Notifications",
        source,
    };
    let dbus = DBusProxy::new(connection).await.map_err(server)?;
    let name = BusName::try_from(NAME).map_err(|e| server(e.into()))?;
    match dbus.get_name_owner(name).await {
        Ok(owner) => Ok(Some(owner)),
        Err(zbus::fdo::Error::NameHasNoOwner(_)) => Ok(None),
        Err(e) => Err(server(e.into())),
    }
}

/// Whether `message` was sent by `owner`.
pub(super) fn sent_by(message: &zbus::Message, owner: &OwnedUniqueName) -> bool {
    message
        .header()
        .sender()
        .is_some_and(|sender| sender.as_str() == owner.as_str())
}

#[cfg(test)]
mod tests;
