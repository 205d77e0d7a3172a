//! Forwarders: the JSON body each team-chat destination gets for an alert
//! event (`payload`), and one delivery of such a body with retries
//! (`Poster::deliver`). Untrusted alert text is data here: every kind puts it
//! where its client shows text as text (Teams `TextRun`, Slack `plain_text`,
//! Mattermost's linked title) or escapes only what that client's markup
//! reads, neutralises mentions without touching other characters, and cuts
//! it to the service's limits (`limit`) on the text as finally sent.
//!
//! Must not: read config, keep state between deliveries (the durable outbox
//! belongs to the store), decide which events are forwarded (policy), or put
//! a destination URL in a log line or an error (URLs grant posting rights;
//! only the host is ever shown).

mod limit;
mod mattermost;
mod slack;
mod teams;
mod webhook;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::Retryable;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, USER_AGENT};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use sha2::Sha256;

use crate::notify::strip_controls;
use crate::sekoia::Alert;
use crate::urgency::Band;

/// The header carrying the generic webhook's signature:
/// `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` (see [`signature`]).
pub const SIGNATURE_HEADER: &str = "X-Sekoia-Notifier-Signature";
/// The header carrying the signed timestamp: Unix seconds, decimal.
pub const TIMESTAMP_HEADER: &str = "X-Sekoia-Notifier-Timestamp";
/// How far a receiver should accept a timestamp from its own clock
/// (either way), as [`verify`] does: a captured request replayed later
/// than this is refused.
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);

/// Longest title kept, in characters, before each kind's own limits (Slack's
/// header takes 150 of them).
const TITLE_MAX_CHARS: usize = 1_000;
/// Longest single field value kept, in characters.
const VALUE_MAX_CHARS: usize = 1_000;

// ---------------------------------------------------------------------------
// What is forwarded
// ---------------------------------------------------------------------------

/// The kind of destination, as written in config (`kind = "teams"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Teams Workflows (Power Automate) webhook: an Adaptive Card message.
    Teams,
    /// The retired Office 365 connector form: `{"text": markdown}`.
    TeamsLegacy,
    /// Slack incoming webhook, Block Kit.
    Slack,
    /// Mattermost incoming webhook, attachments with colour.
    Mattermost,
    /// Generic JSON POST of the enriched alert, optionally signed.
    Webhook,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Teams => "teams",
            Kind::TeamsLegacy => "teams-legacy",
            Kind::Slack => "slack",
            Kind::Mattermost => "mattermost",
            Kind::Webhook => "webhook",
        })
    }
}

/// One event to forward. `kind` and `action` are the webhook event's `type`
/// and `action`; `alert` is the enriched alert when enrichment succeeded;
/// `link` is the alert page, built by the caller from the configured app URL.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub kind: &'a str,
    pub action: &'a str,
    pub alert: Option<&'a Alert>,
    pub uuid: &'a str,
    pub short_id: Option<&'a str>,
    pub link: Option<&'a url::Url>,
    /// The event in words (`kind::Facts::summary`: the alert's title, or
    /// "<title>: status Acknowledged", "New comment on <title>: …", "Case
    /// CA…: <title>"): the message's title when given.
    pub summary: Option<&'a str>,
}

/// The exact JSON body `kind` gets for `msg`.
pub fn payload(kind: Kind, msg: &Message) -> Value {
    match kind {
        Kind::Teams => teams::card(msg),
        Kind::TeamsLegacy => teams::legacy(msg),
        Kind::Slack => slack::blocks(msg),
        Kind::Mattermost => mattermost::attachment(msg),
        Kind::Webhook => webhook::body(msg),
    }
}

/// The cleaned, untrusted facts every kind shows, in display order.
/// Values are controls-stripped and capped but not yet escaped.
struct Facts {
    title: String,
    /// The urgency's band on the scale (the API's word when it names one).
    band: Option<Band>,
    urgency_text: String,
    /// (label, value), only the known ones.
    rows: Vec<(&'static str, String)>,
}

impl Facts {
    fn of(msg: &Message) -> Facts {
        let alert = msg.alert;
        let short_id = alert
            .and_then(|a| a.short_id.as_deref())
            .or(msg.short_id)
            .map(|s| clean(s, VALUE_MAX_CHARS))
            .filter(|s| !s.is_empty());
        let title = msg
            .summary
            .map(str::to_owned)
            .or_else(|| alert.map(|a| crate::kind::alert_title(Some(a), msg.short_id)))
            .map(|t| clean(&t, TITLE_MAX_CHARS))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| {
                let event = clean(&format!("{} {}", msg.kind, msg.action), 60);
                match &short_id {
                    Some(id) => {
                        limit::cap_chars(&format!("Sekoia.io {event}: {id}"), TITLE_MAX_CHARS)
                    }
                    None => format!("Sekoia.io {event}"),
                }
            });
        let urgency = alert.and_then(Alert::urgency_value);
        let display = alert
            .and_then(|a| a.urgency.as_ref())
            .and_then(|u| u.display.as_deref())
            .map(|d| clean(d, 40))
            .filter(|d| !d.is_empty());
        let band = Band::rate(urgency, display.as_deref());
        let urgency_text = match (urgency, display) {
            (Some(v), Some(d)) => format!("{v} ({d})"),
            (Some(v), None) => format!("{v} ({})", Band::of(v)),
            (None, Some(d)) => d,
            (None, None) => "unknown".to_owned(),
        };
        let mut rows = Vec::new();
        let mut push = |label: &'static str, value: Option<&str>| {
            if let Some(v) = value.map(|v| clean(v, VALUE_MAX_CHARS)) {
                if !v.is_empty() {
                    rows.push((label, v));
                }
            }
        };
        push(
            "Status",
            alert.and_then(|a| a.status.as_ref()?.name.as_deref()),
        );
        push("Rule", alert.and_then(|a| a.rule.as_ref()?.name.as_deref()));
        push(
            "Entity",
            alert.and_then(|a| a.entity.as_ref()?.name.as_deref()),
        );
        push("Source", alert.and_then(|a| a.source.as_deref()));
        push("Target", alert.and_then(|a| a.target.as_deref()));
        let alert_type = alert.and_then(|a| a.alert_type.as_ref()).and_then(|t| {
            match (t.category.as_deref(), t.value.as_deref()) {
                (Some(c), Some(v)) => Some(format!("{c} / {v}")),
                (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
                (None, None) => None,
            }
        });
        push("Type", alert_type.as_deref());
        push("Short ID", short_id.as_deref());
        Facts {
            title,
            band,
            urgency_text,
            rows,
        }
    }
}

/// Controls and bidi overrides stripped, whitespace trimmed, capped at
/// `max` characters on a grapheme boundary ("…" when cut).
fn clean(text: &str, max: usize) -> String {
    limit::cap_chars(strip_controls(text).trim(), max)
}

/// The body `build(0)` gives, or `build(n)` for the first `n` (at most 8)
/// whose body measures at most `max`: builders halve their per-text limits
/// `n` times, so the whole message meets a service's size limit however its
/// texts add up.
fn within(max: usize, measure: impl Fn(&Value) -> usize, build: impl Fn(u32) -> Value) -> Value {
    let mut body = build(0);
    for halvings in 1..=8 {
        if measure(&body) <= max {
            break;
        }
        body = build(halvings);
    }
    body
}

/// Every string in `value`, depth first.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Breaks URLs so no client auto-links them: a zero-width space after the
/// ':' of "://" (the text reads the same; only the alert page is a link).
fn defuse_urls(text: &str) -> String {
    text.replace("://", ":\u{200B}//")
}

// ---------------------------------------------------------------------------
// Where it goes
// ---------------------------------------------------------------------------

/// A value that must never be shown: `Debug` and `Display` print
/// `<redacted>`. Deserializes transparently, so config can hold one.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The secret itself; only for building the request.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Transparent, so settings holding one can be written back to config.
impl<T: serde::Serialize> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

/// One forwarding destination. `secret` is the generic webhook's HMAC key
/// and is ignored by the other kinds.
#[derive(Debug, Clone)]
pub struct Destination {
    pub kind: Kind,
    pub url: Secret<url::Url>,
    pub secret: Option<Secret<String>>,
}

impl Destination {
    /// The URL's host, the only part of it fit for logs and errors.
    pub fn host(&self) -> String {
        self.url
            .expose()
            .host_str()
            .unwrap_or("(no host)")
            .to_owned()
    }
}

/// `v1=<lowercase hex HMAC-SHA256 under key of "<timestamp>.<body>">`,
/// the value of [`SIGNATURE_HEADER`]; `timestamp` (Unix seconds) is sent in
/// [`TIMESTAMP_HEADER`]. Signing the time with the body lets a receiver
/// refuse a replayed request ([`verify`]).
pub fn signature(key: &[u8], timestamp: i64, body: &[u8]) -> Result<String, ForwardError> {
    let mac = signed_mac(key, timestamp, body).ok_or_else(|| ForwardError::Body {
        detail: "the webhook secret cannot be an HMAC key".into(),
    })?;
    Ok(format!("v1={}", hex::encode(mac.finalize().into_bytes())))
}

fn signed_mac(key: &[u8], timestamp: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// Why a signed request is refused by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no or malformed {TIMESTAMP_HEADER} / {SIGNATURE_HEADER} header")]
    Malformed,
    #[error("the timestamp is {off_s} s away from now, more than the tolerance: a replayed or delayed request")]
    Stale { off_s: i64 },
    #[error("the signature does not match the body (another secret, or a changed body)")]
    Mismatch,
}

/// The receiver's check, as the README documents it: the timestamp header
/// is decimal Unix seconds within `tolerance` of `now` (Unix seconds),
/// and the signature header is `v1=` followed by the hex HMAC-SHA256 of
/// `"<timestamp>.<body>"` under the shared secret, compared in constant
/// time. Errors: [`VerifyError`].
pub fn verify(
    key: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp
        .parse()
        .ok()
        .filter(|_| !timestamp.is_empty() && timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(VerifyError::Malformed)?;
    let sent = signature
        .strip_prefix("v1=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(VerifyError::Malformed)?;
    let off_s = now.saturating_sub(ts);
    if off_s.unsigned_abs() > tolerance.as_secs() {
        return Err(VerifyError::Stale { off_s });
    }
    let mac = signed_mac(key, ts, body).ok_or(VerifyError::Mismatch)?;
    mac.verify_slice(&sent).map_err(|_| VerifyError::Mismatch)
}

// ---------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------

/// How hard `Poster::deliver` tries. `Default` gives the production values.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per delivery, the first included. Default 5.
    pub max_attempts: usize,
    /// First backoff delay, doubled each retry, with jitter. Default 1 s.
    pub base_delay: Duration,
    /// Upper bound on any wait, `Retry-After` included. Default 60 s.
    pub max_wait: Duration,
    /// Per attempt, connection to last answer byte. Default 10 s.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why a delivery failed. Messages name the destination by host only.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// 400, 413 or 422: the service read our message and refused it, which
    /// is our bug (Slack's `invalid_blocks`, a Workflow's schema mismatch).
    #[error("{host} answered {status}: the message was refused: {reason} (a {kind} message of {size} bytes); this is a bug in Sekoia Notifier, please report it with this line")]
    Refused {
        host: String,
        status: u16,
        /// The service's own words (Slack's error code, a JSON `message`),
        /// controls stripped, URLs removed, at most 200 characters.
        reason: String,
        kind: Kind,
        /// Bytes of the JSON body sent.
        size: usize,
    },
    /// 404 or 410: the webhook no longer exists (Slack's `no_service`,
    /// `channel_is_archived`).
    #[error("{host} answered {status} ({reason}): this webhook URL no longer works; it may have been deleted or rotated: put the channel's current incoming-webhook URL in the [[forward]] config")]
    Gone {
        host: String,
        status: u16,
        reason: String,
    },
    /// Any other 4xx but 429 (401, 403: not allowed to post).
    #[error("{host} refused the forwarded alert ({status}: {reason}); check the webhook may post to its channel and, for a signed webhook, that the receiver has the same secret")]
    Rejected {
        host: String,
        status: u16,
        reason: String,
    },
    #[error("{host} is rate limiting forwarded alerts (429){}; forward fewer events (events, min_urgency) or wait", crate::retry::wait_hint(.retry_after))]
    RateLimited {
        host: String,
        retry_after: Option<Duration>,
    },
    #[error("{host} answered with a server error ({status}); the destination is having trouble, try again later")]
    Server { host: String, status: u16 },
    #[error("{host} did not answer in time; check the network and any proxy between this machine and it")]
    Timeout { host: String },
    #[error("could not reach {host} ({detail}); check the network, DNS and any proxy")]
    Network { host: String, detail: String },
    #[error("gave up forwarding to {host} after {attempts} attempt(s): {last}")]
    GaveUp {
        host: String,
        attempts: usize,
        last: Box<ForwardError>,
    },
    #[error(
        "the forward destination is unusable: {reason}; fix its url in the [[forward]] config"
    )]
    InvalidDestination { reason: String },
    #[error(
        "the forwarded message could not be prepared ({detail}); this is a bug, please report it"
    )]
    Body { detail: String },
    #[error("the HTTP client could not start ({detail}); check the system's TLS setup")]
    Client { detail: String },
    /// The answer went on past [`MAX_ANSWER`]: the endpoint misbehaves (or
    /// attacks). Not retried: the POST reached it.
    #[error("{host} answered {status} with more than {} KiB and was cut off; this is not a webhook receiver's answer: check the [[forward]] url", .cap / 1024)]
    Oversized {
        host: String,
        status: u16,
        cap: usize,
    },
}

/// The longest answer read from a forward endpoint (bytes); webhook
/// receivers answer with a few bytes (`ok`, `1`) or a short JSON error.
pub const MAX_ANSWER: usize = 64 * 1024;

impl crate::retry::AskedWait for ForwardError {
    fn asked_wait(&self) -> Option<Duration> {
        match self {
            ForwardError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl ForwardError {
    /// Worth another attempt: 429, 5xx, timeouts and network failures.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ForwardError::RateLimited { .. }
                | ForwardError::Server { .. }
                | ForwardError::Timeout { .. }
                | ForwardError::Network { .. }
        )
    }
}

/// Posts forward bodies. One per process is enough: clones of the inner
/// client share connections.
#[derive(Debug, Clone)]
pub struct Poster {
    http: reqwest::Client,
    policy: RetryPolicy,
    /// Words for proxy and certificate failures.
    network: crate::network::Network,
}

impl Poster {
    /// A poster with the default [`RetryPolicy`] (5 attempts, 10 s timeout).
    pub fn new() -> Result<Poster, ForwardError> {
        Poster::with_policy(RetryPolicy::default())
    }

    pub fn with_policy(policy: RetryPolicy) -> Result<Poster, ForwardError> {
        Poster::with_network(policy, &crate::network::Network::system())
    }

    /// A poster whose POSTs go through `network`'s proxy with its roots.
    pub fn with_network(
        policy: RetryPolicy,
        network: &crate::network::Network,
    ) -> Result<Poster, ForwardError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("sekoia-notifier/", env!("CARGO_PKG_VERSION"))),
        );
        let http = network
            .http_client()
            .map_err(|e| ForwardError::Client {
                detail: e.to_string(),
            })?
            .default_headers(headers)
            .timeout(policy.timeout)
            // A redirect could carry the body (and its signature) elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ForwardError::Client {
                detail: error_detail(&e),
            })?;
        Ok(Poster {
            http,
            policy,
            network: network.clone(),
        })
    }

    /// POSTs `body` as JSON to `dest`, signing it for a webhook with a
    /// secret, retrying transient failures (honouring `Retry-After` up to
    /// `max_wait`). A 4xx other than 429 fails at once with `Rejected`;
    /// transient failures on every attempt end in `GaveUp`.
    pub async fn deliver(&self, dest: &Destination, body: &Value) -> Result<(), ForwardError> {
        let url = dest.url.expose();
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ForwardError::InvalidDestination {
                reason: "it must be an http(s) URL with a host".into(),
            });
        }
        let raw = bytes::Bytes::from(serde_json::to_vec(body).map_err(|e| ForwardError::Body {
            detail: e.to_string(),
        })?);
        let key = match (&dest.kind, &dest.secret) {
            (Kind::Webhook, Some(secret)) => Some(secret.expose().as_bytes()),
            _ => None,
        };
        let host = dest.host();
        let answer = Answer {
            kind: dest.kind,
            size: raw.len(),
            url,
        };
        let policy = &self.policy;
        let backoff =
            crate::retry::backoff(policy.base_delay, policy.max_wait, policy.max_attempts);
        let max_wait = policy.max_wait;
        let attempts = AtomicUsize::new(0);
        let result = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(url, &host, raw.clone(), key, &answer)
        })
        .retry(backoff)
        .when(ForwardError::is_transient)
        .adjust(move |err, delay| crate::retry::honour_retry_after(err, delay, max_wait))
        .notify(|err, delay| {
            tracing::warn!(
                kind = %dest.kind,
                host = %host,
                error = %err,
                retry_in_ms = delay.as_millis() as u64,
                "forwarding failed; retrying"
            );
        })
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(last) if last.is_transient() => Err(ForwardError::GaveUp {
                host,
                attempts: attempts.load(Ordering::Relaxed),
                last: Box::new(last),
            }),
            Err(permanent) => Err(permanent),
        }
    }

    async fn attempt(
        &self,
        url: &url::Url,
        host: &str,
        raw: bytes::Bytes,
        key: Option<&[u8]>,
        answer: &Answer<'_>,
    ) -> Result<(), ForwardError> {
        let mut request = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = key {
            // Signed at each attempt: a retry carries its own time.
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let mut value = HeaderValue::from_str(&signature(key, now, &raw)?).map_err(|_| {
                ForwardError::Body {
                    detail: "the signature is not a header value".into(),
                }
            })?;
            value.set_sensitive(true);
            request = request
                .header(TIMESTAMP_HEADER, now.to_string())
                .header(SIGNATURE_HEADER, value);
        }
        let request = request.body(raw);
        let response = request.send().await.map_err(|e| {
            // The proxy or a certificate, in words (host only, never the URL).
            match crate::network::explain(&self.network, url, &e).filter(|_| !e.is_timeout()) {
                Some(failure) => ForwardError::Network {
                    host: host.to_owned(),
                    detail: failure.to_string(),
                },
                None => map_reqwest(e, host),
            }
        })?;
        let status = response.status().as_u16();
        let retry_after = crate::retry::retry_after(response.headers());
        // Read the answer so the connection can be reused; a 4xx says why.
        // At most MAX_ANSWER: an endpoint that streams on is cut off, and
        // the delivery fails without a retry (the POST did reach it).
        let text = match crate::network::read_capped(response, MAX_ANSWER).await {
            Ok(text) => text,
            Err(crate::network::BodyError::TooLarge { cap }) => {
                return Err(ForwardError::Oversized {
                    host: host.to_owned(),
                    status,
                    cap,
                })
            }
            Err(crate::network::BodyError::Read(_)) => bytes::Bytes::new(),
        };
        let host = host.to_owned();
        match status {
            200..=299 => Ok(()),
            429 => Err(ForwardError::RateLimited { host, retry_after }),
            500..=599 => Err(ForwardError::Server { host, status }),
            other => Err(answer.refusal(host, other, &text)),
        }
    }
}

/// What a 4xx is judged with: the kind and size of the body sent, and the
/// URL, only to be removed from the service's words.
struct Answer<'a> {
    kind: Kind,
    size: usize,
    url: &'a url::Url,
}

impl Answer<'_> {
    /// The error for a 4xx (but 429) answer whose body is `text`.
    fn refusal(&self, host: String, status: u16, text: &[u8]) -> ForwardError {
        let reason = self.reason(text);
        match status {
            400 | 413 | 422 => ForwardError::Refused {
                host,
                status,
                reason,
                kind: self.kind,
                size: self.size,
            },
            404 | 410 => ForwardError::Gone {
                host,
                status,
                reason,
            },
            _ => ForwardError::Rejected {
                host,
                status,
                reason,
            },
        }
    }

    /// The service's words from an error answer: Slack's plain code
    /// (`invalid_blocks`), or a JSON answer's `error.message`, `message`,
    /// `error.code` or `error` (Teams Workflows, Mattermost); controls
    /// stripped, any URL (the webhook's above all) left out, at most 200
    /// characters. "no reason given" when there is none.
    fn reason(&self, text: &[u8]) -> String {
        let text = String::from_utf8_lossy(&text[..text.len().min(4096)]);
        let said = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|json| {
                [
                    "/error/message",
                    "/message",
                    "/error/code",
                    "/error",
                    "/detail",
                ]
                .iter()
                .find_map(|at| json.pointer(at)?.as_str().map(str::to_owned))
            })
            .unwrap_or_else(|| text.into_owned());
        // Any word holding a URL, or this one's path, query or a long path
        // segment (webhook tokens are), is left out.
        let segments = self.url.path().split('/').filter(|seg| seg.len() >= 8);
        let secret_parts: Vec<&str> = [self.url.path(), self.url.query().unwrap_or("")]
            .into_iter()
            .filter(|part| part.len() > 1)
            .chain(segments)
            .collect();
        let words: Vec<String> = said
            .split_whitespace()
            .filter(|w| !w.contains("://") && !secret_parts.iter().any(|p| w.contains(p)))
            .map(strip_controls)
            .filter(|w| !w.is_empty())
            .collect();
        let reason = limit::cap_chars(&words.join(" "), 200);
        if reason.is_empty() {
            "no reason given".to_owned()
        } else {
            reason
        }
    }
}

fn map_reqwest(err: reqwest::Error, host: &str) -> ForwardError {
    let host = host.to_owned();
    if err.is_timeout() {
        ForwardError::Timeout { host }
    } else {
        ForwardError::Network {
            host,
            detail: error_detail(&err),
        }
    }
}

/// The error's causes without the error itself, whose Display has the URL.
fn error_detail(err: &reqwest::Error) -> String {
    let mut detail = String::from(if err.is_connect() {
        "connection failed"
    } else if err.is_request() {
        "request failed"
    } else if err.is_body() {
        "reading the answer failed"
    } else {
        "HTTP error"
    });
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}

#[cfg(test)]
pub(crate) mod test_receiver;
#[cfg(test)]
mod tests;
