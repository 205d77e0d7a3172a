//! A fake of Sekoia.io's LiveAPI WebSocket for tests: a tokio-tungstenite
//! server on `127.0.0.1:0` that checks the `access_token_cookie` on the
//! upgrade (401 for a wrong or missing one), sends the `{"authenticated":
//! true}` handshake frame, then whatever text frames the test pushes: v1
//! frames at once, v2 notifications only once the client sent `{"action":
//! "upgrade"}` (as Sekoia.io does; held until then, never sent without). It can
//! drop every connection mid-stream and refuse connections for a while, and
//! logs every attempt. Test support only, like the rest of this crate.

use futures_util::{SinkExt, StreamExt};
use std::io;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

/// The cookie the LiveAPI authenticates with.
pub const COOKIE_NAME: &str = "access_token_cookie";

/// One connection attempt as the fake saw it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: Instant,
    /// What happened: refused (dropped before the upgrade), rejected (401),
    /// or accepted.
    pub outcome: Outcome,
    /// The request's `Cookie` header, when one was sent (the test checks the
    /// key went there and only there).
    pub cookie: Option<String>,
    /// The request's `Authorization` header, when one was sent.
    pub authorization: Option<String>,
    /// The request path.
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Refused,
    Rejected,
    Accepted,
}

#[derive(Debug, Default)]
struct Inner {
    api_key: String,
    refuse_until: Option<Instant>,
    attempts: Vec<Attempt>,
    /// Frames for each open connection, and a way to drop it.
    clients: Vec<Client>,
    /// Text frames the clients sent (none expected; kept for assertions).
    received: Vec<String>,
    /// Open connections stop reading (so pings go unanswered).
    silent: bool,
    /// Upgrade frames received, over all connections.
    upgrades: usize,
    /// v2 frames waiting for an upgrade that has not come.
    held: usize,
}

#[derive(Debug)]
struct Client {
    /// A frame, and whether it is a v2 notification (sent only once the
    /// client asked for the upgrade).
    frames: mpsc::UnboundedSender<(Message, bool)>,
    drop: Option<oneshot::Sender<()>>,
}

/// A v2 notification (`type` and `action` at the root), which Sekoia.io
/// sends only to a client that sent the upgrade frame.
fn is_v2(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.as_object()
                .map(|o| o.contains_key("type") && o.contains_key("action"))
        })
        .unwrap_or(false)
}

/// The client's `{"action": "upgrade"}` frame.
fn is_upgrade(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.get("action")
                .and_then(|a| a.as_str())
                .map(|a| a == "upgrade")
        })
        .unwrap_or(false)
}

type Shared = crate::Shared<Inner>;

/// A running fake LiveAPI. Stops accepting when dropped.
#[derive(Debug)]
pub struct FakeLive {
    url: url::Url,
    shared: Shared,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakeLive {
    /// Starts the fake on the current tokio runtime; it accepts `api_key`.
    ///
    /// # Panics
    /// When no loopback port can be bound: a test cannot go on without it.
    pub async fn start(api_key: &str) -> FakeLive {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("fake LiveAPI could not bind 127.0.0.1:0: {e}"),
        };
        let (fake, rx) = Self::prepare(&listener, api_key);
        tokio::spawn(accept_loop(listener, fake.shared.clone(), rx));
        fake
    }

    /// Starts the fake on its own runtime thread, for tests that are not async.
    ///
    /// # Panics
    /// When no loopback port can be bound or the runtime cannot start.
    pub fn start_blocking(api_key: &str) -> FakeLive {
        match Self::try_start_blocking(api_key) {
            Ok(fake) => fake,
            Err(e) => panic!("fake LiveAPI could not start: {e}"),
        }
    }

    fn try_start_blocking(api_key: &str) -> io::Result<FakeLive> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let (fake, rx) = Self::prepare(&listener, api_key);
        let shared = fake.shared.clone();
        std::thread::Builder::new()
            .name("fake-liveapi".into())
            .spawn(move || runtime.block_on(accept_loop(listener, shared, rx)))?;
        Ok(fake)
    }

    fn prepare(listener: &TcpListener, api_key: &str) -> (FakeLive, oneshot::Receiver<()>) {
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let url = match url::Url::parse(&format!("ws://127.0.0.1:{port}/live")) {
            Ok(u) => u,
            Err(e) => panic!("fake LiveAPI URL: {e}"),
        };
        let shared = Shared::default();
        shared.lock().api_key = api_key.to_owned();
        let (tx, rx) = oneshot::channel();
        let fake = FakeLive {
            url,
            shared,
            shutdown: Some(tx),
        };
        (fake, rx)
    }

    /// `ws://127.0.0.1:PORT/live`.
    pub fn url(&self) -> url::Url {
        self.url.clone()
    }

    /// Sends a text frame to every open connection; returns how many it was
    /// queued for. A v2 notification waits, per connection, until that
    /// client has sent the upgrade frame, and is never sent without it.
    pub fn send(&self, text: &str) -> usize {
        let v2 = is_v2(text);
        let mut inner = self.shared.lock();
        inner.clients.retain(|c| !c.frames.is_closed());
        inner
            .clients
            .iter()
            .filter(|c| c.frames.send((Message::text(text), v2)).is_ok())
            .count()
    }

    /// How many connections asked for the upgrade so far.
    pub fn upgraded(&self) -> usize {
        self.shared.lock().upgrades
    }

    /// v2 frames held for connections that never asked for the upgrade.
    pub fn held(&self) -> usize {
        self.shared.lock().held
    }

    /// Drops every open connection at once, without a close frame (a
    /// network cut mid-stream).
    pub fn drop_connections(&self) {
        let mut inner = self.shared.lock();
        for client in &mut inner.clients {
            if let Some(drop) = client.drop.take() {
                let _ = drop.send(());
            }
        }
        inner.clients.clear();
    }

    /// Refuses every connection (closed before the upgrade) for `span`.
    pub fn refuse_for(&self, span: Duration) {
        self.shared.lock().refuse_until = Some(Instant::now() + span);
    }

    /// `true`: open connections stop reading, so the client's pings are
    /// never answered (a half-dead connection).
    pub fn set_silent(&self, yes: bool) {
        self.shared.lock().silent = yes;
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        let mut inner = self.shared.lock();
        inner.clients.retain(|c| !c.frames.is_closed());
        inner.clients.len()
    }

    /// Waits until `n` connections are open, up to `timeout`; whether they were.
    pub fn wait_connections(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.open_connections() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.open_connections() >= n
    }

    /// [`FakeLive::wait_connections`] for async tests (does not block the runtime).
    pub async fn connected(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.open_connections() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.open_connections() >= n
    }

    /// Every connection attempt so far, oldest first.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.shared.lock().attempts.clone()
    }

    /// Text frames the clients sent.
    pub fn received(&self) -> Vec<String> {
        self.shared.lock().received.clone()
    }
}

impl Drop for FakeLive {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.drop_connections();
    }
}

async fn accept_loop(listener: TcpListener, shared: Shared, mut stop: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                tokio::spawn(serve(stream, shared.clone()));
            }
        }
    }
}

async fn serve(stream: TcpStream, shared: Shared) {
    let refusing = {
        let mut inner = shared.lock();
        let refusing = inner.refuse_until.is_some_and(|t| Instant::now() < t);
        if refusing {
            inner.attempts.push(Attempt {
                at: Instant::now(),
                outcome: Outcome::Refused,
                cookie: None,
                authorization: None,
                path: String::new(),
            });
        }
        refusing
    };
    if refusing {
        drop(stream);
        return;
    }
    let expected = format!("{COOKIE_NAME}={}", shared.lock().api_key);
    let log = shared.clone();
    // tungstenite's handshake callback fixes this signature.
    #[allow(clippy::result_large_err)]
    let check = move |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let cookie = header("cookie");
        let ok = cookie
            .as_deref()
            .is_some_and(|c| c.split(';').any(|part| part.trim() == expected));
        log.lock().attempts.push(Attempt {
            at: Instant::now(),
            outcome: if ok {
                Outcome::Accepted
            } else {
                Outcome::Rejected
            },
            cookie,
            authorization: header("authorization"),
            path: request.uri().path().to_owned(),
        });
        if ok {
            Ok(response)
        } else {
            let mut refusal = ErrorResponse::new(Some(
                r#"{"message":"Unauthorized","code":"T300"}"#.to_owned(),
            ));
            *refusal.status_mut() = StatusCode::UNAUTHORIZED;
            Err(refusal)
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    if ws
        .send(Message::text(r#"{"authenticated": true}"#))
        .await
        .is_err()
    {
        return;
    }
    let (frames, mut outgoing) = mpsc::unbounded_channel();
    let (drop_tx, mut dropped) = oneshot::channel();
    shared.lock().clients.push(Client {
        frames,
        drop: Some(drop_tx),
    });
    let mut upgraded = false;
    let mut held: Vec<Message> = Vec::new();
    loop {
        tokio::select! {
            _ = &mut dropped => break,
            out = outgoing.recv() => match out {
                Some((frame, true)) if !upgraded => {
                    held.push(frame);
                    shared.lock().held += 1;
                }
                Some((frame, _)) => if ws.send(frame).await.is_err() { break },
                None => break,
            },
            () = tokio::time::sleep(Duration::from_millis(20)), if shared.lock().silent => {}
            incoming = ws.next(), if !shared.lock().silent => match incoming {
                // tungstenite answers pings itself while we read.
                Some(Ok(Message::Text(text))) => {
                    let upgrade = is_upgrade(text.as_str());
                    {
                        let mut inner = shared.lock();
                        inner.received.push(text.to_string());
                        if upgrade && !upgraded {
                            inner.upgrades += 1;
                            inner.held -= held.len();
                        }
                    }
                    if upgrade && !upgraded {
                        upgraded = true;
                        for frame in held.drain(..) {
                            if ws.send(frame).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    shared.lock().held -= held.len();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    async fn client(
        live: &FakeLive,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>> {
        let mut request = live.url().as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("cookie", format!("{COOKIE_NAME}=the-key").parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        ws
    }

    async fn next_text(
        ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
        wait: Duration,
    ) -> Option<String> {
        loop {
            match tokio::time::timeout(wait, ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    #[tokio::test]
    async fn v2_notifications_go_only_to_clients_that_asked_for_the_upgrade() {
        let live = FakeLive::start("the-key").await;
        let v2 = crate::notification::alert_created("b81d4f27-6c3e-4a95-8f20-1e7c9d3b5a46", "ALm4");
        let v1 = crate::notification::v1_twin(&v2);
        let mut plain = client(&live).await;
        assert_eq!(
            next_text(&mut plain, Duration::from_secs(5))
                .await
                .as_deref(),
            Some(r#"{"authenticated": true}"#)
        );
        assert!(live.connected(1, Duration::from_secs(5)).await);
        live.send(&v2.to_string());
        live.send(&v1.to_string());
        // A client that never sent the upgrade gets the v1 frame only.
        let got = next_text(&mut plain, Duration::from_secs(5)).await.unwrap();
        assert!(got.contains("event_version"), "{got}");
        assert_eq!(
            next_text(&mut plain, Duration::from_millis(300)).await,
            None
        );
        assert_eq!(live.held(), 1);
        assert_eq!(live.upgraded(), 0);
        // Once it asks, the held frame follows, and later ones come at once.
        plain
            .send(Message::text(r#"{"action": "upgrade"}"#))
            .await
            .unwrap();
        let got = next_text(&mut plain, Duration::from_secs(5)).await.unwrap();
        assert!(got.contains("\"metadata\""), "{got}");
        assert_eq!(live.upgraded(), 1);
        assert_eq!(live.held(), 0);
    }
}
