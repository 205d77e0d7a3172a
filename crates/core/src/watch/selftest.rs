//! The delivery self-test behind `send-test` and the tray's "Send test
//! alert": post a synthetic event (type `notifier-test`, with a nonce) to
//! the webhook URL Sekoia.io uses, through the tunnel when there is one,
//! and wait until the running instance has stored that nonce. Success proves
//! DNS, TLS, tunnel and listener end to end; a failure names the leg.
//! This module only probes: it starts nothing and changes no state but the
//! one test event.
//!
//! In detail: `send_test(webhook, route, data_dir, wait)`: posts a
//! `notifier-test` event with a nonce to the webhook URL and waits for it in
//! the store; each failure names its leg (unreachable, wrong path, refused, not
//! received). `Route::Local` (no tunnel, no public URL;
//! `Engine::webhook_route`) marks the event's uuid (`test-local-…`) so its
//! pop-up says it was only delivered locally. A test event is never unread
//! (`Reader::unread`, `FeedEntry::read`).

use crate::net::network::Network;
use crate::store::Reader;
use std::path::Path;
use std::time::{Duration, Instant};
use url::Url;

use crate::model::test_event::LOCAL_PREFIX;
pub use crate::model::test_event::{delivered_locally, LOCAL_ONLY, PROBE_ACTION, TEST_TYPE};

#[derive(Debug, thiserror::Error)]
pub enum SelfTestError {
    #[error("cannot reach {url_host}: {detail}; the tunnel is down or the public URL is wrong (run `sekoia-notifierd check`)")]
    Unreachable { url_host: String, detail: String },
    #[error("{url_host} answered 404: the URL reaches a listener, but not with this instance's secret (was the secret regenerated, or another program answers there?)")]
    WrongPath { url_host: String },
    #[error("{url_host} answered HTTP {status} instead of 202: {hint}")]
    Refused {
        url_host: String,
        status: u16,
        hint: &'static str,
    },
    #[error("the test event was accepted by {url_host} but did not reach this instance within {waited:?}: the URL leads to another instance or machine")]
    NotReceived { url_host: String, waited: Duration },
    #[error("{url_host} is reached over plain http: the webhook secret (in the URL) and every alert would cross the network unencrypted, so no test is sent there; use an https tunnel (cloudflared, ngrok), or set tunnel.allow_plain_http = true for a relay on a trusted network")]
    PlainHttp { url_host: String },
    /// The URL did not answer this start's proof: nothing with the secret
    /// was sent.
    #[error(transparent)]
    Unproven(crate::watch::proof::ProofError),
    #[error("cannot read the feed to confirm delivery: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl From<crate::watch::proof::ProofError> for SelfTestError {
    /// An unreachable URL is the same failure whether or not the proof
    /// came first; anything else is [`SelfTestError::Unproven`].
    fn from(e: crate::watch::proof::ProofError) -> SelfTestError {
        match e {
            crate::watch::proof::ProofError::Unreachable { url_host, detail } => {
                SelfTestError::Unreachable { url_host, detail }
            }
            other => SelfTestError::Unproven(other),
        }
    }
}

/// Which way a test event went in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Through a URL Sekoia.io can reach (a tunnel's, or `public_url`).
    Public,
    /// To the local listener only: no tunnel, no public URL.
    Local,
}

/// Whether `url`, shown by a tunnel program, must not be sent the secret:
/// plain `http://` while `tunnel.allow_plain_http` is off. A URL the user
/// configured (`configured`, `tunnel.public_url`: http only on loopback)
/// is the user's own statement and is not refused.
pub fn refuses_plain(url: &Url, configured: Option<&Url>, allow_plain_http: bool) -> bool {
    let same = |c: &&Url| {
        c.host_str() == url.host_str() && c.port_or_known_default() == url.port_or_known_default()
    };
    url.scheme() == "http" && !allow_plain_http && configured.filter(same).is_none()
}

/// What a successful probe measured.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub nonce: String,
    /// The test event's `attributes.uuid` (`test-<nonce>`).
    pub uuid: String,
    pub round_trip: Duration,
}

/// Posts a test event to `webhook` and waits up to `wait` until it shows up
/// in the store in `data_dir`. `route` says whether `webhook` is one
/// Sekoia.io can reach; the event's uuid carries it to the pop-up. The POST
/// goes out through `network`'s proxy with its trusted roots.
pub async fn send_test(
    webhook: &Url,
    route: Route,
    data_dir: &Path,
    wait: Duration,
    network: &Network,
) -> Result<Delivered, SelfTestError> {
    post_and_wait(webhook, data_dir, wait, "created", route, network).await
}

/// Like [`send_test`], for the engine's own periodic checks: the event's
/// action is [`PROBE_ACTION`], so it raises no pop-up.
pub async fn probe(
    webhook: &Url,
    data_dir: &Path,
    wait: Duration,
    network: &Network,
) -> Result<Delivered, SelfTestError> {
    post_and_wait(
        webhook,
        data_dir,
        wait,
        PROBE_ACTION,
        Route::Public,
        network,
    )
    .await
}

async fn post_and_wait(
    webhook: &Url,
    data_dir: &Path,
    wait: Duration,
    action: &str,
    route: Route,
    network: &Network,
) -> Result<Delivered, SelfTestError> {
    let url_host = webhook.host_str().unwrap_or("the webhook URL").to_owned();
    let nonce = nonce();
    let uuid = match route {
        Route::Public => format!("test-{nonce}"),
        Route::Local => format!("{LOCAL_PREFIX}{nonce}"),
    };
    let body = serde_json::json!({
        "type": TEST_TYPE,
        "action": action,
        "attributes": { "uuid": uuid, "short_id": null },
        "metadata": { "version": 2, "created_at": time::OffsetDateTime::now_utc().unix_timestamp() },
    });
    let client = network
        .http_client()
        .map_err(|e| SelfTestError::Client(e.to_string()))?
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| SelfTestError::Client(e.to_string()))?;
    let started = Instant::now();
    let response = client
        .post(webhook.clone())
        .json(&body)
        .send()
        .await
        // reqwest's error text includes the URL, hence the secret: keep only
        // the kind of failure.
        .map_err(|e| SelfTestError::Unreachable {
            url_host: url_host.clone(),
            detail: failure_kind(&e).to_owned(),
        })?;
    match response.status().as_u16() {
        202 => {}
        404 => return Err(SelfTestError::WrongPath { url_host }),
        status => {
            let hint = match status {
                503 => "the listener is overloaded, or the tunnel cannot reach it",
                502 | 504 => "the tunnel is up but cannot reach the local listener",
                _ => "something between Sekoia.io and the listener rewrites requests",
            };
            return Err(SelfTestError::Refused {
                url_host,
                status,
                hint,
            });
        }
    }
    // SQLite on a blocking thread; the reader goes there and back.
    let dir = data_dir.to_owned();
    let mut reader = tokio::task::spawn_blocking(move || Reader::open(&dir))
        .await
        .map_err(|_| crate::store::StoreError::Closed)??;
    loop {
        let key = uuid.clone();
        let (back, found) = tokio::task::spawn_blocking(move || {
            let found = reader.has_event(&key);
            (reader, found)
        })
        .await
        .map_err(|_| crate::store::StoreError::Closed)?;
        reader = back;
        if found? {
            return Ok(Delivered {
                nonce,
                uuid,
                round_trip: started.elapsed(),
            });
        }
        if started.elapsed() > wait {
            return Err(SelfTestError::NotReceived {
                url_host,
                waited: wait,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn failure_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

fn nonce() -> String {
    let mut bytes = [0u8; 12];
    // A predictable nonce only weakens the test's own uniqueness; fall back
    // to the clock rather than fail the probe.
    if getrandom::fill(&mut bytes).is_err() {
        let t = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        bytes.copy_from_slice(&t.to_le_bytes()[..12]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
