//! A fake `org.kde.StatusNotifierWatcher`: the tray host's side of the
//! StatusNotifierItem protocol, so a tray item can register on a private
//! bus. It answers `IsStatusNotifierHostRegistered = true` and records the
//! items that register. [`Item`] then reads what a registered item shows,
//! as a panel would: its tooltip, its `com.canonical.dbusmenu` menu, and
//! clicks it (`Activate`, menu `Event`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedValue, Value};

pub const WATCHER_NAME: &str = "org.kde.StatusNotifierWatcher";
const WATCHER_PATH: &str = "/StatusNotifierWatcher";
const ITEM_IFACE: &str = "org.kde.StatusNotifierItem";
const MENU_IFACE: &str = "com.canonical.dbusmenu";

struct WatcherIface {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl WatcherIface {
    async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        // The spec allows a bus name or an object path (then the sender's
        // unique name is the service).
        let service = if service.starts_with('/') {
            header.sender().map(|s| s.to_string()).unwrap_or_default()
        } else {
            service.to_owned()
        };
        self.items.lock().expect("items").push(service.clone());
        Self::status_notifier_item_registered(&emitter, &service).await?;
        Ok(())
    }

    fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().expect("items").clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_host_registered(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

/// The fake watcher, owning its well-known name on the given bus.
pub struct Watcher {
    connection: zbus::Connection,
    items: Arc<Mutex<Vec<String>>>,
}

impl Watcher {
    pub async fn start(address: &str) -> Watcher {
        let items = Arc::new(Mutex::new(Vec::new()));
        let connection = zbus::connection::Builder::address(address)
            .expect("address")
            .name(WATCHER_NAME)
            .expect("name")
            .serve_at(
                WATCHER_PATH,
                WatcherIface {
                    items: Arc::clone(&items),
                },
            )
            .expect("serve")
            .build()
            .await
            .expect("fake watcher connects");
        Watcher { connection, items }
    }

    /// The services of the items registered so far.
    pub fn items(&self) -> Vec<String> {
        self.items.lock().expect("items").clone()
    }

    /// A handle on a registered item, read through this connection.
    pub fn item(&self, service: &str) -> Item {
        Item {
            connection: self.connection.clone(),
            service: service.to_owned(),
        }
    }
}

/// An icon pixmap: width, height, ARGB32 bytes.
pub type Pixmap = (i32, i32, Vec<u8>);

/// One menu entry as a panel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuEntry {
    pub id: i32,
    /// Empty for a separator.
    pub label: String,
    pub enabled: bool,
    pub children: Vec<MenuEntry>,
}

impl MenuEntry {
    /// The entry with this label, at any depth.
    pub fn find(entries: &[MenuEntry], label: &str) -> Option<MenuEntry> {
        entries.iter().find_map(|e| {
            if e.label == label {
                Some(e.clone())
            } else {
                MenuEntry::find(&e.children, label)
            }
        })
    }
}

/// A registered StatusNotifierItem, seen from the panel.
pub struct Item {
    connection: zbus::Connection,
    service: String,
}

impl Item {
    async fn item_property(&self, name: &str) -> zbus::Result<OwnedValue> {
        let proxy = zbus::Proxy::new(
            &self.connection,
            self.service.as_str(),
            "/StatusNotifierItem",
            ITEM_IFACE,
        )
        .await?;
        proxy.get_property::<OwnedValue>(name).await
    }

    /// The tooltip's title and description.
    pub async fn tooltip(&self) -> zbus::Result<(String, String)> {
        let value = self.item_property("ToolTip").await?;
        // (icon name, icon pixmaps, title, description)
        let (_, _, title, description): (String, Vec<Pixmap>, String, String) = value.try_into()?;
        Ok((title, description))
    }

    /// The icon pixmaps: (width, height, ARGB32 bytes).
    pub async fn icon(&self) -> zbus::Result<Vec<Pixmap>> {
        Ok(self.item_property("IconPixmap").await?.try_into()?)
    }

    /// A left click on the icon.
    pub async fn activate(&self) -> zbus::Result<()> {
        self.connection
            .call_method(
                Some(self.service.as_str()),
                "/StatusNotifierItem",
                Some(ITEM_IFACE),
                "Activate",
                &(0i32, 0i32),
            )
            .await?;
        Ok(())
    }

    async fn menu_path(&self) -> zbus::Result<String> {
        let path: zbus::zvariant::OwnedObjectPath = self.item_property("Menu").await?.try_into()?;
        Ok(path.to_string())
    }

    /// The whole menu, as `GetLayout(0, -1, [])` returns it.
    pub async fn menu(&self) -> zbus::Result<Vec<MenuEntry>> {
        let path = self.menu_path().await?;
        let reply = self
            .connection
            .call_method(
                Some(self.service.as_str()),
                path.as_str(),
                Some(MENU_IFACE),
                "GetLayout",
                &(0i32, -1i32, Vec::<String>::new()),
            )
            .await?;
        type Node = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);
        let (_revision, root): (u32, Node) = reply.body().deserialize()?;
        Ok(node(root)?.children)
    }

    /// Clicks menu entry `id`, as a panel does.
    pub async fn click(&self, id: i32) -> zbus::Result<()> {
        let path = self.menu_path().await?;
        self.connection
            .call_method(
                Some(self.service.as_str()),
                path.as_str(),
                Some(MENU_IFACE),
                "Event",
                &(id, "clicked", Value::I32(0), 0u32),
            )
            .await?;
        Ok(())
    }
}

/// One child: a variant holding an `(ia{sv}av)` node.
fn entry(value: Value<'_>) -> zbus::Result<MenuEntry> {
    let value = match value {
        Value::Value(inner) => *inner,
        other => other,
    };
    node(value.try_into()?)
}

/// One `(ia{sv}av)` layout node.
fn node(
    (id, props, children): (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>),
) -> zbus::Result<MenuEntry> {
    let label = props
        .get("label")
        .and_then(|v| String::try_from(v.clone()).ok())
        .unwrap_or_default();
    let enabled = props
        .get("enabled")
        .and_then(|v| bool::try_from(v).ok())
        .unwrap_or(true);
    let children = children
        .into_iter()
        .map(|c| entry(Value::from(c)))
        .collect::<zbus::Result<Vec<_>>>()?;
    Ok(MenuEntry {
        id,
        label,
        enabled,
        children,
    })
}
