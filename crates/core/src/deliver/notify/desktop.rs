//! Native desktop pop-ups on Linux through `org.freedesktop.Notifications`
//! on the session bus, and the click that opens the alert page. Owns the one
//! bus connection, the key -> notification id map (replacement) and the
//! notification id -> link map (clicks). Must not: open any URL outside the
//! allowed `{app_url}/operations/alerts/` prefix (or the alert list
//! `{app_url}/operations/alerts` itself), act on a notification id it
//! did not create, or block a thread per notification.
//!
//! Why zbus directly and not notify-rust: notify-rust (4.x) always connects
//! through `DBUS_SESSION_BUS_ADDRESS` (its `NotificationBus` only changes the
//! destination *name*, so tests could not use a private bus without mutating
//! the process environment), opens a new connection per `show`, waits for
//! clicks with one blocking `wait_for_action` per notification, and accepts
//! `ActionInvoked` from any bus peer. The spec also lets a server send its
//! signals to the calling connection only, so clicks need the same
//! long-lived connection for sending and listening. Here one connection sends
//! every `Notify`, and one background task receives `ActionInvoked` and
//! `NotificationClosed`, in bus order, as one proxy signal stream whose match
//! rule only accepts signals from the current owner of
//! `org.freedesktop.Notifications` (a signal from another peer is ignored).
//! The connection is made on the first `show` (inside a tokio runtime), so a
//! missing session bus is a `NotifyError` there (retried on the next
//! `show`), never a panic.
//!
//! What is learnt from a server (capabilities, ids, links) belongs to the
//! peer that owned the name then (`owner`): each `show` asks the bus who owns
//! it now, and a new owner gets its capabilities read again and a fresh id
//! map; clicks are only taken from the owner that returned the id.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use futures_util::StreamExt;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;
use url::Url;
use zbus::names::OwnedUniqueName;
use zbus::proxy::CacheProperties;
use zbus::zvariant::Value;

use super::{
    body_text, summary_text, Acknowledger, BoxFuture, NotifyError, Popup, PopupKind, ShellWindow,
    Sink, Urgency, WindowOpener,
};

/// The application name every pop-up carries.
pub const APP_NAME: &str = "Sekoia Notifier";
/// The label of the default action (the click).
pub const OPEN_LABEL: &str = "Open in Sekoia.io";
/// The label of a summary's default action: its click opens the feed (the
/// shell's window, or the alert list in Sekoia.io), as its headline says.
pub const FEED_LABEL: &str = "Open feed";
/// The default action's label on a pop-up that opens a shell window.
const SETTINGS_LABEL: &str = "Open";
/// The label of the action that acknowledges the alert in Sekoia.io.
pub const ACKNOWLEDGE_LABEL: &str = "Acknowledge";
/// The action key of that button.
pub const ACKNOWLEDGE_KEY: &str = "acknowledge";
/// How many notifications are remembered for replacement and clicks; the
/// oldest is forgotten first.
pub const TRACKED_MAX: usize = 1000;

const ALERTS_PATH: &str = "operations/alerts/";
/// Longest wait for the server on calls made outside a sink's `show` (the
/// acknowledge answer); `show` itself is bounded by `bounded::Bounded`.
const ANSWER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);
/// Case pages, `{app}/operations/cases/{short_id}` (DESIGN.md §4).
const CASES_PATH: &str = "operations/cases/";

#[zbus::proxy(
    interface = "org.freedesktop.Notifications",
    default_service = "org.freedesktop.Notifications",
    default_path = "/org/freedesktop/Notifications",
    gen_blocking = false
)]
trait Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: &str,
        replaces_id: u32,
        app_icon: &str,
        summary: &str,
        body: &str,
        actions: &[&str],
        hints: HashMap<&str, Value<'_>>,
        expire_timeout: i32,
    ) -> zbus::Result<u32>;

    fn get_capabilities(&self) -> zbus::Result<Vec<String>>;

    fn close_notification(&self, id: u32) -> zbus::Result<()>;

    #[zbus(signal)]
    fn action_invoked(&self, id: u32, action_key: &str) -> zbus::Result<()>;

    #[zbus(signal)]
    fn notification_closed(&self, id: u32, reason: u32) -> zbus::Result<()>;

    /// Spec 1.2: sent just before `ActionInvoked` for the same click.
    #[zbus(signal)]
    fn activation_token(&self, id: u32, activation_token: &str) -> zbus::Result<()>;
}

/// How a click opens the alert page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opener {
    /// The user's default browser (the `open` crate's openers, with the
    /// environment of `children`).
    System,
    /// Runs this program with the URL as its only argument (tests, or a
    /// user-chosen browser).
    Command(PathBuf),
}

impl Opener {
    /// Opens `link`, handing the click's activation `token` (if the server
    /// sent one) to the opener's environment.
    fn open(&self, link: &Url, token: Option<&str>) {
        let handed = super::activation::variables(token);
        match self {
            Opener::System => {
                // The platform's openers in turn, with a clean environment.
                if let Err(error) = crate::os::children::open_in_browser(link.as_str(), &handed) {
                    tracing::warn!(%error, "could not open the alert page in the browser");
                }
            }
            Opener::Command(program) => {
                let mut command = std::process::Command::new(program);
                crate::os::children::scrub(&mut command, &[]);
                let spawned = command
                    .envs(handed.iter().map(|(k, v)| (k, v)))
                    .arg(link.as_str())
                    .stdin(std::process::Stdio::null())
                    .spawn();
                match spawned {
                    // Reap the child off the async threads.
                    Ok(mut child) => {
                        tokio::task::spawn_blocking(move || child.wait());
                    }
                    Err(error) => tracing::warn!(
                        %error,
                        program = %program.display(),
                        "could not run the configured opener"
                    ),
                }
            }
        }
    }
}

/// True when `link` is an alert page under `allowed` (same scheme, host and
/// port, path under `{allowed path}/operations/alerts/`, no credentials).
pub fn link_allowed(allowed: &Url, link: &Url) -> bool {
    if !matches!(link.scheme(), "https" | "http")
        || link.scheme() != allowed.scheme()
        || link.host_str().is_none()
        || link.host_str() != allowed.host_str()
        || link.port_or_known_default() != allowed.port_or_known_default()
        || !link.username().is_empty()
        || link.password().is_some()
    {
        return false;
    }
    let base = allowed.path().trim_end_matches('/');
    let prefix = format!("{base}/{ALERTS_PATH}");
    // The alert list itself (where a summary pop-up leads), exactly.
    if link.path() == prefix.trim_end_matches('/') {
        return link.query().is_none() && link.fragment().is_none();
    }
    // One alert page or one case page.
    [prefix, format!("{base}/{CASES_PATH}")]
        .iter()
        .any(|prefix| match link.path().strip_prefix(prefix.as_str()) {
            Some(rest) => !rest.is_empty() && !rest.contains('/'),
            None => false,
        })
}

/// Where the session bus is.
#[derive(Debug, Clone)]
enum Bus {
    /// `DBUS_SESSION_BUS_ADDRESS` (or `$XDG_RUNTIME_DIR/bus`).
    Session,
    /// An explicit D-Bus address.
    Address(String),
}

/// A small map that forgets its oldest entry beyond `TRACKED_MAX`.
#[derive(Debug)]
struct Bounded<K, V> {
    entries: HashMap<K, (u64, V)>,
    next: u64,
}

impl<K: std::hash::Hash + Eq + Clone, V> Bounded<K, V> {
    fn new() -> Self {
        Bounded {
            entries: HashMap::new(),
            next: 0,
        }
    }

    fn insert(&mut self, key: K, value: V) {
        self.next += 1;
        self.entries.insert(key, (self.next, value));
        if self.entries.len() > TRACKED_MAX {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (seq, _))| *seq)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|(_, v)| v)
    }

    fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.entries.retain(|_, (_, v)| keep(v));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// What the desktop backend remembers about its own notifications.
#[derive(Debug)]
struct Tracked {
    /// Popup key (alert uuid) -> notification id, for `replaces_id`.
    by_key: Bounded<String, u32>,
    /// Notification id -> alert page, for clicks.
    links: Bounded<u32, Url>,
    /// Notification id -> alert uuid, for "Acknowledge".
    alerts: Bounded<u32, String>,
    /// Notification id -> the shell window its click opens.
    windows: Bounded<u32, ShellWindow>,
    /// Notification id -> (popup key, resident), for "seen" and for closing
    /// a resident pop-up after its click.
    keys: Bounded<u32, (String, bool)>,
    /// Keys of pop-ups the user clicked, acknowledged or dismissed.
    seen: Bounded<String, ()>,
}

impl Tracked {
    fn closed(&mut self, id: u32) {
        self.links.remove(&id);
        self.alerts.remove(&id);
        self.windows.remove(&id);
        self.keys.remove(&id);
        self.by_key.retain(|v| *v != id);
    }

    /// The user acted on notification `id`: its key counts as seen.
    fn saw(&mut self, id: u32) {
        if let Some((key, _)) = self.keys.get(&id) {
            let key = key.clone();
            self.seen.insert(key, ());
        }
    }
}

fn lock(tracked: &Mutex<Tracked>) -> std::sync::MutexGuard<'_, Tracked> {
    tracked.lock().unwrap_or_else(PoisonError::into_inner)
}

mod owner;

/// What one owner of the notification service told us, and its listener.
struct Inner {
    /// The unique bus name of the server this state belongs to.
    owner: OwnedUniqueName,
    proxy: NotificationsProxy<'static>,
    markup: bool,
    /// The server shows action buttons.
    buttons: bool,
    tracked: Arc<Mutex<Tracked>>,
    listener: JoinHandle<()>,
}

/// Desktop pop-ups through the freedesktop notification server.
pub struct Desktop {
    allowed: Url,
    opener: Opener,
    bus: Bus,
    connection: OnceCell<zbus::Connection>,
    /// The current owner's state; replaced when the owner changes.
    inner: tokio::sync::Mutex<Option<Arc<Inner>>>,
    /// The same, for synchronous readers (`seen`).
    latest: Mutex<Option<Arc<Inner>>>,
    /// Set once the engine has an API client: pop-ups of alerts then offer
    /// "Acknowledge".
    acknowledger: Arc<OnceLock<Acknowledger>>,
    /// Set by a shell with windows: summary clicks open its feed, the
    /// URL-changed notice its settings.
    window_opener: Arc<OnceLock<WindowOpener>>,
}

impl std::fmt::Debug for Desktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desktop")
            .field("allowed", &self.allowed.as_str())
            .field("opener", &self.opener)
            .field("bus", &self.bus)
            .field("connected", &self.connection.initialized())
            .finish()
    }
}

impl Desktop {
    /// `allowed`: the configured app_url; a click opens the link only when it
    /// is under `{allowed}/operations/alerts/` — everything else is refused
    /// and logged. Connects to the session bus on the first `show`.
    pub fn new(allowed: Url, opener: Opener) -> Desktop {
        Desktop {
            allowed,
            opener,
            bus: Bus::Session,
            connection: OnceCell::new(),
            inner: tokio::sync::Mutex::new(None),
            latest: Mutex::new(None),
            acknowledger: Arc::new(OnceLock::new()),
            window_opener: Arc::new(OnceLock::new()),
        }
    }

    /// From now on a click on a summary pop-up (a storm, a catch-up) calls
    /// `open(Feed)` instead of opening the alert list in the browser, and a
    /// click on the URL-changed notice calls `open(Settings)`. A second call
    /// is ignored.
    pub fn set_window_opener(&self, open: WindowOpener) {
        let _ = self.window_opener.set(open);
    }

    /// From now on, pop-ups of alerts offer "Acknowledge" (when the server
    /// shows action buttons), which calls `acknowledger` with the alert
    /// uuid and shows its answer in a pop-up. A second call is ignored.
    pub fn set_acknowledger(&self, acknowledger: Acknowledger) {
        let _ = self.acknowledger.set(acknowledger);
    }

    /// Like `new`, on the bus at this D-Bus address instead of the session
    /// bus from the environment.
    pub fn at_address(allowed: Url, opener: Opener, address: impl Into<String>) -> Desktop {
        Desktop {
            bus: Bus::Address(address.into()),
            ..Desktop::new(allowed, opener)
        }
    }

    /// Shows `popup`, replacing the pop-up shown earlier with the same key.
    /// Returns once the server has accepted it; clicks are handled in the
    /// background for as long as this `Desktop` lives.
    pub async fn show(&self, popup: &Popup) -> Result<(), NotifyError> {
        let inner = self.current().await?;

        let summary = summary_text(popup);
        let body = body_text(popup, inner.markup);
        let link = match &popup.link {
            Some(link) if link_allowed(&self.allowed, link) => Some(link.clone()),
            Some(link) => {
                tracing::warn!(%link, "refusing an alert link outside the configured app URL");
                None
            }
            None => None,
        };
        // Only an alert (a uuid key with an alert page) whose workflow
        // allows it now (Pending) can be acknowledged.
        let ackable = inner.buttons
            && popup.acknowledgeable
            && self.acknowledger.get().is_some()
            && link.is_some()
            && crate::net::sekoia::is_uuid(&popup.key);
        // The shell window a click opens instead, when a shell set one.
        let window = match popup.kind {
            PopupKind::Summary => Some(ShellWindow::Feed),
            PopupKind::UrlChanged => Some(ShellWindow::Settings),
            PopupKind::Alert | PopupKind::Notice => None,
        }
        .filter(|_| self.window_opener.get().is_some());
        let actions: &[&str] = match (&link, ackable, window) {
            _ if popup.kind == PopupKind::Summary && (link.is_some() || window.is_some()) => {
                &["default", FEED_LABEL]
            }
            (Some(_), true, _) => &["default", OPEN_LABEL, ACKNOWLEDGE_KEY, ACKNOWLEDGE_LABEL],
            (Some(_), false, _) => &["default", OPEN_LABEL],
            (None, _, Some(_)) => &["default", SETTINGS_LABEL],
            (None, _, None) => &[],
        };
        let icon = match popup.urgency {
            Urgency::Critical => "dialog-warning",
            Urgency::Normal | Urgency::Low => "dialog-information",
        };
        let mut hints = HashMap::new();
        hints.insert("urgency", Value::U8(popup.urgency.hint_byte()));
        let expire_timeout = escalation_hints(popup, &mut hints);
        let replaces = lock(&inner.tracked)
            .by_key
            .get(&popup.key)
            .copied()
            .unwrap_or(0);

        let id = inner
            .proxy
            .notify(
                APP_NAME,
                replaces,
                icon,
                &summary,
                &body,
                actions,
                hints,
                expire_timeout,
            )
            .await
            .map_err(|source| NotifyError::Server {
                action: "showing a pop-up",
                source,
            })?;

        let mut tracked = lock(&inner.tracked);
        if replaces != 0 && replaces != id {
            tracked.links.remove(&replaces);
            tracked.alerts.remove(&replaces);
        }
        if ackable {
            tracked.alerts.insert(id, popup.key.clone());
        } else {
            tracked.alerts.remove(&id);
        }
        match window {
            Some(window) => tracked.windows.insert(id, window),
            None => {
                tracked.windows.remove(&id);
            }
        }
        tracked.by_key.insert(popup.key.clone(), id);
        tracked.keys.insert(id, (popup.key.clone(), popup.resident));
        match link {
            Some(link) => tracked.links.insert(id, link),
            None => {
                tracked.links.remove(&id);
            }
        }
        Ok(())
    }

    /// Closes the pop-up shown with `key` if it is still on screen
    /// (`CloseNotification`): the alert was taken by someone, or its storm
    /// slot went to a more urgent one. `Ok(false)` when none is tracked.
    pub async fn close(&self, key: &str) -> Result<bool, NotifyError> {
        let Some(inner) = self.inner.lock().await.clone() else {
            return Ok(false);
        };
        let id = lock(&inner.tracked).by_key.get(&key.to_owned()).copied();
        let Some(id) = id else { return Ok(false) };
        lock(&inner.tracked).closed(id);
        // Bounded like every call to the server (the pipeline awaits it).
        match tokio::time::timeout(ANSWER_DEADLINE, inner.proxy.close_notification(id)).await {
            Ok(closed) => closed.map_err(|source| NotifyError::Server {
                action: "closing a pop-up",
                source,
            })?,
            Err(_) => {
                return Err(NotifyError::TimedOut {
                    action: "closing a pop-up",
                    after: ANSWER_DEADLINE,
                })
            }
        }
        Ok(true)
    }

    /// Whether the user clicked, acknowledged or dismissed the pop-up shown
    /// with `key` (reminders stop then).
    pub fn seen(&self, key: &str) -> bool {
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        latest.is_some_and(|inner| lock(&inner.tracked).seen.get(&key.to_owned()).is_some())
    }

    /// The state of the server owning the name now: the one kept while the
    /// owner is the same, else read afresh from the new owner.
    async fn current(&self) -> Result<Arc<Inner>, NotifyError> {
        let connection = self
            .connection
            .get_or_try_init(|| owner::connect(&self.bus))
            .await?;
        let now = owner::current(connection).await?;
        let mut slot = self.inner.lock().await;
        if let Some(inner) = slot.as_ref() {
            if now.as_ref() == Some(&inner.owner) {
                return Ok(Arc::clone(inner));
            }
            tracing::info!(
                "the desktop notification server changed; reading its capabilities again"
            );
        }
        // The old owner's ids and links go with it (its listener stops).
        *slot = None;
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = None;
        let fresh = Arc::new(self.attach(connection).await?);
        *slot = Some(Arc::clone(&fresh));
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    async fn attach(&self, connection: &zbus::Connection) -> Result<Inner, NotifyError> {
        let server = |action: &'static str| move |source| NotifyError::Server { action, source };
        let proxy = NotificationsProxy::builder(connection)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(server("connecting"))?;
        // Asking first also starts a D-Bus-activatable server, which must own
        // its name before we can subscribe to its signals.
        let capabilities = proxy
            .get_capabilities()
            .await
            .map_err(server("asking its capabilities"))?;
        // One stream for both signals keeps their order (a click is often
        // followed at once by the close). Subscribed before the first Notify,
        // so no click can be missed.
        let signals = proxy
            .inner()
            .receive_all_signals()
            .await
            .map_err(server("subscribing to clicks"))?;
        let markup = capabilities.iter().any(|c| c == "body-markup");
        let buttons = capabilities.iter().any(|c| c == "actions");
        // Whoever answered the capabilities owns the name now; only its
        // signals are taken.
        let owner = owner::current(connection)
            .await?
            .ok_or_else(|| NotifyError::Server {
                action: "asking who owns org.freedesktop.Notifications",
                source: zbus::Error::Failure("no owner after answering".to_owned()),
            })?;

        let tracked = Arc::new(Mutex::new(Tracked {
            by_key: Bounded::new(),
            links: Bounded::new(),
            alerts: Bounded::new(),
            windows: Bounded::new(),
            keys: Bounded::new(),
            seen: Bounded::new(),
        }));
        let listener = tokio::spawn(listen(
            signals,
            owner.clone(),
            Arc::clone(&tracked),
            Clicks {
                allowed: self.allowed.clone(),
                opener: self.opener.clone(),
                acknowledger: Arc::clone(&self.acknowledger),
                window_opener: Arc::clone(&self.window_opener),
                proxy: proxy.clone(),
                markup,
            },
        ));
        Ok(Inner {
            owner,
            proxy,
            markup,
            buttons,
            tracked,
            listener,
        })
    }
}

impl Drop for Inner {
    /// The listener stops with the `Desktop` that owns it.
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// What the listener needs to act on clicks.
struct Clicks {
    allowed: Url,
    opener: Opener,
    acknowledger: Arc<OnceLock<Acknowledger>>,
    window_opener: Arc<OnceLock<WindowOpener>>,
    proxy: NotificationsProxy<'static>,
    markup: bool,
}

impl Clicks {
    /// Runs the acknowledger off the listener and shows its answer: on
    /// success a short confirmation replaces the alert's pop-up (`id`); a
    /// failure comes in a pop-up of its own, saying why.
    fn acknowledge(&self, uuid: String, id: u32) {
        let Some(acknowledger) = self.acknowledger.get() else {
            return;
        };
        let answer = acknowledger(uuid.clone());
        let (proxy, markup) = (self.proxy.clone(), self.markup);
        tokio::spawn(async move {
            let (summary, line, urgency, replaces) = match answer.await {
                Ok(words) => ("Alert acknowledged", words, Urgency::Low, id),
                Err(words) => ("Could not acknowledge the alert", words, Urgency::Normal, 0),
            };
            let popup = Popup {
                kind: crate::deliver::notify::PopupKind::Notice,
                key: format!("ack-{uuid}"),
                summary: summary.to_owned(),
                lines: vec![line],
                urgency,
                link: None,
                ..Popup::default()
            };
            let mut hints = HashMap::new();
            hints.insert("urgency", Value::U8(popup.urgency.hint_byte()));
            let (summary, body) = (summary_text(&popup), body_text(&popup, markup));
            let shown = proxy.notify(
                APP_NAME,
                replaces,
                "dialog-information",
                &summary,
                &body,
                &[],
                hints,
                -1,
            );
            // Off the pipeline, yet bounded like every call to the server.
            match tokio::time::timeout(ANSWER_DEADLINE, shown).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "could not show the acknowledge result"),
                Err(_) => tracing::warn!(
                    "the notification server did not answer within {} s; the acknowledge result is not shown",
                    ANSWER_DEADLINE.as_secs()
                ),
            }
        });
    }
}

/// The one background task: clicks open links, "Acknowledge" acknowledges,
/// closes forget them.
async fn listen(
    mut signals: zbus::proxy::SignalStream<'static>,
    from: OwnedUniqueName,
    tracked: Arc<Mutex<Tracked>>,
    clicks: Clicks,
) {
    let Clicks {
        allowed, opener, ..
    } = &clicks;
    let mut tokens = super::activation::Tokens::default();
    while let Some(message) = signals.next().await {
        // Ids are the owner's: another server's id 3 is not our id 3.
        if !owner::sent_by(&message, &from) {
            tracing::debug!("a notification signal from a former owner is ignored");
            continue;
        }
        if let Some(closed) = NotificationClosed::from_message(message.clone()) {
            if let Ok(args) = closed.args() {
                let mut tracked = lock(&tracked);
                // 2: dismissed by the user, who has seen it.
                if args.reason == 2 {
                    tracked.saw(args.id);
                }
                tracked.closed(args.id);
                drop(tracked);
                tokens.take(args.id);
            }
            continue;
        }
        if let Some(token) = ActivationToken::from_message(message.clone()) {
            if let Ok(args) = token.args() {
                tokens.remember(args.id, args.activation_token);
            }
            continue;
        }
        let Some(action) = ActionInvoked::from_message(message) else {
            continue;
        };
        let Ok(args) = action.args() else { continue };
        if args.action_key == ACKNOWLEDGE_KEY {
            let uuid = {
                let mut tracked = lock(&tracked);
                tracked.saw(args.id);
                tracked.alerts.get(&args.id).cloned()
            };
            match uuid {
                Some(uuid) => clicks.acknowledge(uuid, args.id),
                None => tracing::debug!(
                    id = args.id,
                    "acknowledge on a notification we do not track"
                ),
            }
            continue;
        }
        if args.action_key != "default" {
            continue;
        }
        let id = args.id;
        let token = tokens.take(id);
        let (link, window, resident) = {
            let mut tracked = lock(&tracked);
            tracked.saw(id);
            let resident = tracked.keys.get(&id).is_some_and(|(_, r)| *r);
            (
                tracked.links.remove(&id),
                tracked.windows.remove(&id),
                resident,
            )
        };
        // A resident pop-up stays after a click unless we close it.
        if resident {
            lock(&tracked).closed(id);
            let proxy = clicks.proxy.clone();
            tokio::spawn(async move {
                if let Err(error) = proxy.close_notification(id).await {
                    tracing::debug!(%error, "could not close a clicked resident pop-up");
                }
            });
        }
        if let (Some(window), Some(open)) = (window, clicks.window_opener.get()) {
            open(window);
            continue;
        }
        match link {
            Some(link) if link_allowed(allowed, &link) => opener.open(&link, token.as_deref()),
            Some(link) => {
                tracing::warn!(%link, "refusing to open an alert link outside the configured app URL")
            }
            None => {
                tracing::debug!(
                    id,
                    "click on a notification we did not create or no longer track"
                )
            }
        }
    }
}

/// Adds the sound (`sound-name`, or `sound-file` for an absolute path)
/// and `resident` hints of `popup`; returns its expire timeout (0, never,
/// for a resident pop-up; -1, the server's default, otherwise).
fn escalation_hints(popup: &Popup, hints: &mut HashMap<&str, Value<'_>>) -> i32 {
    if let Some(sound) = popup.sound.as_deref() {
        let hint = if sound.starts_with('/') {
            "sound-file"
        } else {
            "sound-name"
        };
        hints.insert(hint, Value::from(sound.to_owned()));
    }
    if popup.resident {
        hints.insert("resident", Value::Bool(true));
        0
    } else {
        -1
    }
}

impl Sink for Desktop {
    fn name(&self) -> &'static str {
        "desktop"
    }
    fn show<'a>(&'a self, popup: &'a Popup) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(Desktop::show(self, popup))
    }
    fn offer_acknowledge(&self, acknowledger: Acknowledger) {
        self.set_acknowledger(acknowledger);
    }
    fn offer_windows(&self, open: WindowOpener) {
        self.set_window_opener(open);
    }
    fn withdraw<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move { self.close(key).await.map(|_| ()) })
    }
    fn seen(&self, key: &str) -> bool {
        Desktop::seen(self, key)
    }
}

#[cfg(test)]
mod tests;
