//! Direct mode: Sekoia.io's LiveAPI WebSocket as a second event source,
//! for machines no tunnel can reach. Checks the key (`GET /v1/me`), opens
//! the WebSocket with the key in the `access_token_cookie` cookie (and
//! nowhere else), stores every event frame through the store's writer (the
//! same durable path as the webhook intake: committed before the pipeline
//! sees it, deduplicated by the same key), pings every minute and drops a
//! connection that does not answer, reconnects on [`Schedule`], and after
//! every reconnect asks the catch-up for the alerts created while it was
//! disconnected. Its state is a [`LiveHealth`] watch.
//!
//! Must not: log the key or the upgrade request, spin (every wait is a
//! sleep or a socket read), or decide about pop-ups (the pipeline does).
//!
//! In detail: direct mode, the LiveAPI WebSocket source (tokio-tungstenite over
//! `network::open`'s TCP connection, through the proxy's CONNECT tunnel when
//! one applies, with `network`'s rustls config). `LiveApi::start(Parts)` checks
//! the key (`Client::me`; 401/403 stops), connects with the key only in the
//! `access_token_cookie` cookie (header marked sensitive; both shells cap
//! tungstenite's handshake trace through `logs::SECRET_SAFE`), stores each
//! event frame with `Writer::insert` (committed before the pipeline sees it; a
//! full queue is waited out, never dropped), pings every 60 s and drops a
//! connection silent for 10 s, reconnects on `liveapi::schedule::Schedule`
//! (0.5·2ⁿ s + up to 1 s jitter, capped at 5 min, n reset after 1 h connected;
//! only sleeps in between), and after each reconnect records `[drop - 1 min,
//! reconnect]` as a gap (`CatchUp::record_gap`) for the engine's gap filler.
//! `state()` is a `watch` of `health::LiveHealth`. After each open it sends
//! `{"action": "upgrade"}` (as Sekoia's client does); once a v2 frame has come
//! on a connection, v1 frames are skipped (they are the v2 frames' twins).
//! `liveapi::frame::classify` is pure: handshake (`authenticated`), v2 event,
//! old-style `event_version`/`event_type` frame mapped onto v2 (its root `uuid`
//! as `metadata.uuid`, the original kept under `liveapi_v1`), or unknown
//! (stored as a `liveapi-frame` event whose uuid hashes the text). `probe(url,
//! key, wait)` is `check`'s one connection.

pub mod frame;
pub mod schedule;

use crate::model::health::LiveHealth;
use crate::net::sekoia::{ApiKey, Client, SekoiaError};
use crate::source::catchup::CatchUp;
use crate::store::{StoreError, Writer};
use frame::Frame;
use futures_util::{SinkExt, StreamExt};
pub use schedule::Schedule;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use url::Url;

/// The cookie the LiveAPI reads the API key from.
pub const COOKIE_NAME: &str = "access_token_cookie";
/// The largest frame accepted (the webhook's body limit).
/// The text frame Sekoia's LiveAPI client sends after the socket opens to
/// receive v2 notifications beside the v1 frames.
pub const UPGRADE_FRAME: &str = r#"{"action": "upgrade"}"#;
const MAX_FRAME: usize = 1024 * 1024;
/// How long a stop waits for the close handshake.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Why a connection failed or ended. Never holds the key or the request.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("the LiveAPI URL is unusable ({reason}); fix liveapi.url in config.toml")]
    InvalidUrl { reason: String },
    #[error("the LiveAPI refused the API key (HTTP {status}); check the key and the region, or create a new key in Settings > API keys")]
    Rejected { status: u16 },
    /// `GET /v1/me` refused the key (the error says how).
    #[error("{0}")]
    KeyCheck(SekoiaError),
    #[error("the API key could not be checked before connecting: {0}")]
    KeyUnchecked(SekoiaError),
    #[error("the LiveAPI answered the upgrade with HTTP {status}; check liveapi.url")]
    Upgrade { status: u16 },
    #[error(
        "could not reach the LiveAPI ({detail}); check the network, any proxy and liveapi.url"
    )]
    Connect { detail: String },
    /// The proxy or a certificate failed (words from `network`).
    #[error("{0}")]
    Network(crate::net::network::Failure),
    #[error("the LiveAPI did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("the LiveAPI closed the connection")]
    Closed,
    #[error("the LiveAPI connection broke ({detail})")]
    Stream { detail: String },
    #[error("the event store is shut down")]
    Store,
}

impl LiveError {
    /// Retrying with the same key will not help.
    pub fn is_rejection(&self) -> bool {
        matches!(self, LiveError::Rejected { .. } | LiveError::KeyCheck(_))
    }
}

/// How the source connects and waits.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// `wss://<app host>/live/` (fra1: `wss://app.sekoia.io/live/`).
    pub url: Url,
    /// Between pings (60 s, like Sekoia's client).
    pub ping_every: Duration,
    /// A ping unanswered this long drops the connection (10 s).
    pub pong_timeout: Duration,
    /// TCP, TLS and upgrade together (15 s).
    pub connect_timeout: Duration,
    pub schedule: Schedule,
    /// The catch-up after a reconnect starts this long before the drop: an
    /// alert created just before it may not have been pushed (60 s).
    pub catch_up_margin: Duration,
    /// Proxy (CONNECT) and trusted roots (the environment and the OS store).
    pub network: crate::net::network::Network,
}

impl LiveConfig {
    pub fn new(url: Url) -> LiveConfig {
        LiveConfig {
            url,
            ping_every: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(15),
            schedule: Schedule::default(),
            catch_up_margin: Duration::from_secs(60),
            network: crate::net::network::Network::system(),
        }
    }
}

/// What the source needs from the engine.
pub struct Parts {
    pub config: LiveConfig,
    /// `None`: the state is `no_key` and nothing connects.
    pub key: Option<ApiKey>,
    /// Checks the key first (`GET /v1/me`).
    pub client: Option<Client>,
    pub writer: Writer,
    /// Fills each disconnected interval from the Alert API.
    pub catch_up: Option<CatchUp>,
}

/// The running source. Stop it with [`LiveApi::stop`].
pub struct LiveApi {
    state: watch::Receiver<LiveHealth>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl LiveApi {
    /// Starts connecting in the background.
    pub fn start(parts: Parts) -> LiveApi {
        let (tx, state) = watch::channel(LiveHealth::Connecting);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(parts, tx, stopped));
        LiveApi { state, stop, task }
    }

    /// The connection's state; every change is a new value.
    pub fn state(&self) -> watch::Receiver<LiveHealth> {
        self.state.clone()
    }

    /// Closes the connection (politely, for at most a second) and stops.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(target: "liveapi", error = %e, "LiveAPI task failed");
        }
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn run(parts: Parts, health: watch::Sender<LiveHealth>, mut stopped: oneshot::Receiver<()>) {
    let Some(key) = parts.key.clone() else {
        tracing::warn!(target: "liveapi", "[liveapi] is enabled but there is no API key: not connecting");
        health.send_replace(LiveHealth::NoKey);
        return;
    };
    let config = &parts.config;
    let started = OffsetDateTime::now_utc();
    let mut key_checked = parts.client.is_none();
    let mut failures: u32 = 0;
    // Since when no connection was open, once one was lost or never came:
    // the next connection catches this interval up.
    let mut down_since: Option<OffsetDateTime> = None;
    loop {
        let attempt = async {
            if !key_checked {
                if let Some(client) = &parts.client {
                    check_key(client).await?;
                }
            }
            connect(config, &key).await
        };
        let result = tokio::select! {
            _ = &mut stopped => return,
            r = attempt => r,
        };
        // Why this try ended, and whether an open connection dropped.
        let (error, dropped) = match result {
            Ok(socket) => {
                key_checked = true;
                let since = OffsetDateTime::now_utc();
                tracing::info!(target: "liveapi", url = %config.url, "LiveAPI connected");
                health.send_replace(LiveHealth::Connected {
                    since: since.format(&Rfc3339).unwrap_or_default(),
                });
                // The disconnection becomes a recorded gap, which the
                // engine's gap filler catches up (and a stop never forgets).
                if let (Some(from), Some(catch_up)) = (down_since.take(), &parts.catch_up) {
                    let from = (from - config.catch_up_margin).unix_timestamp();
                    tracing::info!(target: "liveapi", %from, to = %since, "recording the LiveAPI disconnection for the catch-up");
                    if let Err(e) = catch_up
                        .record_gap(
                            from,
                            since.unix_timestamp(),
                            "the LiveAPI connection was down",
                        )
                        .await
                    {
                        tracing::warn!(target: "liveapi", error = %e, "cannot record the LiveAPI disconnection; it will not be caught up");
                    }
                }
                let held = Instant::now();
                let end = read(socket, config, &parts.writer, &mut stopped).await;
                failures = config.schedule.after_connection(failures, held.elapsed());
                match end {
                    None => return,
                    Some(LiveError::Store) => {
                        tracing::error!(target: "liveapi", "the store is shut down: LiveAPI stopped");
                        return;
                    }
                    Some(e) => {
                        down_since = Some(OffsetDateTime::now_utc());
                        tracing::warn!(target: "liveapi", error = %e, "LiveAPI connection lost");
                        (e, true)
                    }
                }
            }
            Err(e) if e.is_rejection() => {
                tracing::error!(target: "liveapi", error = %e, "LiveAPI not connected");
                health.send_replace(LiveHealth::KeyRejected {
                    reason: e.to_string(),
                });
                // Not retried: the engine restarts with a new key.
                let _ = (&mut stopped).await;
                return;
            }
            Err(e) => {
                down_since.get_or_insert(started);
                tracing::warn!(target: "liveapi", error = %e, "LiveAPI connection failed");
                (e, false)
            }
        };
        failures = failures.saturating_add(1);
        let wait = config.schedule.delay(failures, schedule::random_unit());
        let next_try_in_s = wait.as_secs_f64().ceil() as u64;
        let reason = error.to_string();
        health.send_replace(if dropped {
            LiveHealth::Reconnecting {
                attempt: failures,
                next_try_in_s,
                reason,
            }
        } else {
            LiveHealth::Unreachable {
                attempt: failures,
                next_try_in_s,
                reason,
            }
        });
        tracing::debug!(target: "liveapi", wait_ms = wait.as_millis() as u64, attempt = failures, "LiveAPI reconnect scheduled");
        tokio::select! {
            _ = &mut stopped => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One connection for `check`: opens the WebSocket with `key` (through
/// `network`'s proxy), waits up to `wait` for the server's first frame (the
/// handshake), then closes.
pub async fn probe(
    url: &Url,
    key: &ApiKey,
    wait: Duration,
    network: &crate::net::network::Network,
) -> Result<(), LiveError> {
    let config = LiveConfig {
        connect_timeout: wait,
        network: network.clone(),
        ..LiveConfig::new(url.clone())
    };
    let mut socket = connect(&config, key).await?;
    let first = tokio::time::timeout(wait, socket.next()).await;
    let _ = tokio::time::timeout(CLOSE_WAIT, socket.close(None)).await;
    match first {
        Err(_) => Err(LiveError::Timeout(wait)),
        Ok(None) | Ok(Some(Ok(Message::Close(_)))) => Err(LiveError::Closed),
        Ok(Some(Err(e))) => Err(stream_error(e)),
        Ok(Some(Ok(Message::Text(text)))) => match frame::classify(text.as_str()) {
            Frame::Handshake {
                authenticated: false,
            } => Err(LiveError::Rejected { status: 0 }),
            _ => Ok(()),
        },
        Ok(Some(Ok(_))) => Ok(()),
    }
}

/// `GET /v1/me`: a refused key stops here, before any WebSocket.
async fn check_key(client: &Client) -> Result<(), LiveError> {
    match client.me().await {
        Ok(_) => Ok(()),
        Err(e) if e.is_rejection() => Err(LiveError::KeyCheck(e)),
        Err(e) => Err(LiveError::KeyUnchecked(e)),
    }
}

/// Opens the WebSocket with the key in the cookie.
async fn connect(config: &LiveConfig, key: &ApiKey) -> Result<Socket, LiveError> {
    let mut request =
        config
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| LiveError::InvalidUrl {
                reason: e.to_string(),
            })?;
    let mut cookie =
        HeaderValue::from_str(&format!("{COOKIE_NAME}={}", key.expose())).map_err(|_| {
            LiveError::KeyCheck(SekoiaError::InvalidKey {
                reason: "it has characters a cookie cannot carry".to_owned(),
            })
        })?;
    cookie.set_sensitive(true);
    request.headers_mut().insert(header::COOKIE, cookie);
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    // The TCP connection (through the proxy's CONNECT tunnel, if any), then
    // TLS with the network's roots and the upgrade inside it.
    let network = &config.network;
    let opening = async {
        let opened = crate::net::network::open(network, &config.url, config.connect_timeout)
            .await
            .map_err(LiveError::Network)?;
        let connector = Connector::Rustls(network.tls());
        tokio_tungstenite::client_async_tls_with_config(
            request,
            opened.stream,
            Some(ws_config),
            Some(connector),
        )
        .await
        .map_err(
            |e| match crate::net::network::explain(network, &config.url, &e) {
                Some(failure) => LiveError::Network(failure),
                None => ws_error(e),
            },
        )
    };
    match tokio::time::timeout(config.connect_timeout, opening).await {
        Err(_) => Err(LiveError::Timeout(config.connect_timeout)),
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(e)) => Err(e),
    }
}

/// An upgrade that failed past the TLS handshake.
fn ws_error(e: WsError) -> LiveError {
    match e {
        WsError::Http(response) => {
            let status = response.status().as_u16();
            if matches!(status, 401 | 403) {
                LiveError::Rejected { status }
            } else {
                LiveError::Upgrade { status }
            }
        }
        WsError::Url(e) => LiveError::InvalidUrl {
            reason: e.to_string(),
        },
        e => LiveError::Connect {
            detail: e.to_string(),
        },
    }
}

/// Reads frames until the connection ends (`Some(why)`) or the engine stops
/// (`None`). Pings every `ping_every`; no answer within `pong_timeout`
/// ends the connection.
async fn read(
    mut socket: Socket,
    config: &LiveConfig,
    writer: &Writer,
    stopped: &mut oneshot::Receiver<()>,
) -> Option<LiveError> {
    let mut ping = tokio::time::interval_at(Instant::now() + config.ping_every, config.ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut answer_by: Option<Instant> = None;
    // As Sekoia's own client does: ask for v2 notifications once open.
    // Until a v2 event shows the server honoured it, v1 frames are read (a
    // server without the upgrade sends only those); after, they are the
    // twins of v2 events and are skipped.
    // Bounded like a ping: a peer that takes no frame drops the connection.
    match tokio::time::timeout(
        config.pong_timeout,
        socket.send(Message::text(UPGRADE_FRAME)),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Some(stream_error(e)),
        Err(_) => return Some(LiveError::Timeout(config.pong_timeout)),
    }
    let mut upgraded = false;
    loop {
        let deadline = async {
            match answer_by {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let message = tokio::select! {
            _ = &mut *stopped => {
                let _ = tokio::time::timeout(CLOSE_WAIT, socket.close(None)).await;
                return None;
            }
            () = deadline => return Some(LiveError::Timeout(config.pong_timeout)),
            _ = ping.tick() => {
                if let Err(e) = socket.send(Message::Ping(Vec::new().into())).await {
                    return Some(stream_error(e));
                }
                answer_by.get_or_insert(Instant::now() + config.pong_timeout);
                continue;
            }
            m = socket.next() => m,
        };
        // Any frame shows the server is there.
        answer_by = None;
        match message {
            None => return Some(LiveError::Closed),
            Some(Err(e)) => return Some(stream_error(e)),
            Some(Ok(Message::Text(text))) => {
                if let Err(e) = handle(text.as_str(), writer, &mut upgraded).await {
                    return Some(e);
                }
            }
            Some(Ok(Message::Binary(bytes))) => {
                tracing::warn!(target: "liveapi", len = bytes.len(), "binary LiveAPI frame ignored");
            }
            Some(Ok(Message::Close(_))) => return Some(LiveError::Closed),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
        }
    }
}

fn stream_error(e: WsError) -> LiveError {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => LiveError::Closed,
        other => LiveError::Stream {
            detail: other.to_string(),
        },
    }
}

/// One text frame: stored when it is an event (or of an unknown shape),
/// logged otherwise; a v1 event once `upgraded` (a v2 event was seen on
/// this connection) is its v2 twin's shadow and is skipped. Only a stopped
/// store is an error.
async fn handle(text: &str, writer: &Writer, upgraded: &mut bool) -> Result<(), LiveError> {
    let event = match frame::classify(text) {
        Frame::Handshake { authenticated } => {
            if authenticated {
                tracing::debug!(target: "liveapi", "LiveAPI handshake acknowledged");
            } else {
                tracing::warn!(target: "liveapi", "the LiveAPI handshake frame says not authenticated");
            }
            return Ok(());
        }
        Frame::Event(event) => {
            *upgraded = true;
            event
        }
        Frame::OldEvent(event) if *upgraded => {
            tracing::debug!(target: "liveapi", topic = %event.topic(), "v1 LiveAPI frame skipped: its v2 twin is stored");
            return Ok(());
        }
        Frame::OldEvent(event) => event,
        Frame::Unknown { old: true, .. } if *upgraded => {
            tracing::debug!(target: "liveapi", "unmapped v1 LiveAPI frame skipped on an upgraded connection");
            return Ok(());
        }
        Frame::Unknown { event, why, .. } => {
            tracing::warn!(target: "liveapi", len = text.len(), uuid = %event.uuid, "LiveAPI frame of an unknown shape ({why}); kept in the feed as {}", frame::UNKNOWN_TYPE);
            event
        }
    };
    let topic = event.topic();
    // A full queue (a flood through the webhook too) is waited out.
    match writer.insert_waiting(event).await {
        Ok(stored) => {
            tracing::debug!(target: "liveapi", %topic, id = stored.id(), new = matches!(stored, crate::store::Stored::New { .. }), "LiveAPI event stored");
            Ok(())
        }
        Err(StoreError::Closed) => Err(LiveError::Store),
        Err(e) => {
            tracing::error!(target: "liveapi", %topic, error = %e, "LiveAPI event not stored");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
