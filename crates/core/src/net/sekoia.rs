//! The Sekoia.io Alert API client (DESIGN.md §4): the API key type and HTTP
//! calls (answered with the alert model of `model::alert`), with rate
//! limiting (≤ 5 req/s), retries with backoff and a circuit breaker. It
//! owns talking to Sekoia.io; it must not store, log or display the key,
//! and it never builds a path or query from unvalidated input.
//!
//! In detail: the Alert API client (`Client::me`, `get_alert`, `list_alerts`,
//! `list_created` for a date range; `get_case` (Case API) and `get_comment`
//! (one comment's text); `sekoia/detail.rs`: `alert_record` (the alert with
//! `history=true`: description from `details` or the rule's, last seen,
//! community, status changes), `comments` (`GET …/comments`, newest first) and
//! `community_name` (`GET /v1/communities/{uuid}`), with the pure parsers
//! `parse_record`/`parse_comments`; `workflow` (the actions `{id,name}` allowed
//! now) and `trigger_workflow` and `trigger_workflow_commented` (PATCH
//! `{"action_uuid", "comment"?}`, retried on 429 only since a 5xx may have
//! applied it; 403 -> `WorkflowForbidden` naming SIC_WRITE_ALERTS_WORKFLOW, 409 ->
//! `NotPending`); `observe` lets the engine's health see every call's outcome;
//! `parse_alert_list_bytes` is the list parser the fuzz target drives; answers
//! are read through `sekoia::lossy` (a lone surrogate escape or invalid UTF-8
//! becomes U+FFFD, only after serde_json refused the body) and list pages item
//! by item (`AlertPage::items` counts every entry, the catch-up's offset moves
//! by it); a proxy or certificate failure is
//! `SekoiaError::Connection(network::Failure)`). `ApiKey` is redacted in
//! `Debug`/`Display`; UUIDs are shape-checked before any request; every attempt
//! passes a shared governor limiter (≤ 5 req/s, burst 1, 5% margin), retries on
//! 429/5xx/timeout/network use backon (exponential + jitter, `Retry-After`
//! honoured up to a cap), and a circuit breaker fails fast after consecutive
//! transient failures. The `Alert` model is lenient: every field optional, a
//! wrongly typed field reads as `None`. Errors (`SekoiaError`) are one
//! actionable sentence, never the key.

use crate::model::health::ApiHealth;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use backon::Retryable;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, USER_AGENT};
use reqwest::StatusCode;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most UUIDs sent in one list call (Sekoia.io's page limit).
pub const LIST_CHUNK: usize = 100;

const MAX_KEY_LEN: usize = 4096;
/// The largest answer read from the API (bytes): a list of
/// [`LIST_CHUNK`] alerts is a few hundred KiB; past this the answer is
/// given up as unreadable rather than held in memory.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// Where to manage API keys in Sekoia.io, for error messages.
const KEYS_PAGE: &str = "Settings > API keys";

// ---------------------------------------------------------------------------
// API key
// ---------------------------------------------------------------------------

/// A Sekoia.io API key. Redacted in `Debug` and `Display`.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Trims surrounding whitespace; rejects an empty key, control characters
    /// and keys longer than 4096 bytes.
    pub fn new(key: String) -> Result<ApiKey, SekoiaError> {
        let trimmed = key.trim();
        if trimmed.is_empty() {
            return Err(SekoiaError::InvalidKey {
                reason: "it is empty".into(),
            });
        }
        if trimmed.len() > MAX_KEY_LEN {
            return Err(SekoiaError::InvalidKey {
                reason: format!("it is longer than {MAX_KEY_LEN} bytes"),
            });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(SekoiaError::InvalidKey {
                reason: "it contains control characters".into(),
            });
        }
        Ok(ApiKey(trimmed.to_owned()))
    }

    /// The secret itself; only used to build the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why Sekoia.io refused the key (401), from the error body's `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// T300.
    Invalid,
    /// T301.
    Expired,
    /// T302.
    Revoked,
    /// Any other code, or none (sanitized, at most 16 characters).
    Rejected { code: Option<String> },
}

impl KeyProblem {
    fn from_code(code: Option<&str>) -> KeyProblem {
        match code {
            Some("T300") => KeyProblem::Invalid,
            Some("T301") => KeyProblem::Expired,
            Some("T302") => KeyProblem::Revoked,
            other => KeyProblem::Rejected {
                code: other
                    .map(|c| {
                        c.chars()
                            .filter(|ch| ch.is_ascii_alphanumeric() || *ch == '-' || *ch == '_')
                            .take(16)
                            .collect::<String>()
                    })
                    .filter(|c| !c.is_empty()),
            },
        }
    }
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Invalid => write!(
                f,
                "it is not a valid key (T300); paste the whole key again, check the region, or create a new key in {KEYS_PAGE}"
            ),
            KeyProblem::Expired => {
                write!(f, "it has expired (T301); create a new key in {KEYS_PAGE}")
            }
            KeyProblem::Revoked => {
                write!(f, "it has been revoked (T302); create a new key in {KEYS_PAGE}")
            }
            KeyProblem::Rejected { code: Some(code) } => write!(
                f,
                "it was refused ({code}); check the key and the region, or create a new key in {KEYS_PAGE}"
            ),
            KeyProblem::Rejected { code: None } => write!(
                f,
                "it was refused; check the key and the region, or create a new key in {KEYS_PAGE}"
            ),
        }
    }
}

/// What went wrong talking to Sekoia.io. Messages never contain the key.
#[derive(Debug, thiserror::Error)]
pub enum SekoiaError {
    #[error("Sekoia.io rejected the API key: {problem}")]
    KeyRejected { problem: KeyProblem },
    #[error("Sekoia.io refused access (403): the API key lacks the SIC_READ_ALERTS permission; give it a role that includes SIC_READ_ALERTS in {KEYS_PAGE}")]
    Forbidden,
    #[error("Sekoia.io has no such alert (404); it may have been deleted or belong to another community or region")]
    NotFound,
    #[error("Sekoia.io is rate limiting this client (429){}; wait before trying again and check no other tool uses the same key heavily", crate::net::retry::wait_hint(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("Sekoia.io answered with a server error ({status}) on every attempt; try again later")]
    Server { status: u16 },
    #[error("Sekoia.io answered with an unexpected status ({status}); check the API URL points at the Sekoia.io API of your region")]
    UnexpectedStatus { status: u16 },
    #[error("Sekoia.io did not answer in time; check the network and the API URL, then try again")]
    Timeout,
    #[error("Sekoia.io's answer could not be read ({detail}); check the API URL points at the Sekoia.io API of your region")]
    Unreadable { detail: String },
    #[error("could not reach Sekoia.io ({detail}); check the network, any proxy and the API URL")]
    Network { detail: String },
    /// The proxy or a certificate failed: the key was not looked at.
    #[error("could not reach Sekoia.io: {0}")]
    Connection(crate::net::network::Failure),
    #[error("calls to Sekoia.io are paused for {}s after repeated failures; they resume on their own", .remaining.as_secs().max(1))]
    CircuitOpen { remaining: Duration },
    #[error("the alert identifier is not a UUID, so it was not looked up; the webhook may be malformed or forged")]
    InvalidUuid,
    #[error("Sekoia.io refused the change (403): the API key lacks the SIC_WRITE_ALERTS_WORKFLOW permission; give it a role that includes SIC_WRITE_ALERTS_WORKFLOW in {KEYS_PAGE}")]
    WorkflowForbidden,
    #[error("Sekoia.io refused the change (409): the alert is no longer pending, so this action does not apply to it any more; refresh it in Sekoia.io")]
    NotPending,
    #[error("the API key is unusable: {reason}; paste it again from {KEYS_PAGE}")]
    InvalidKey { reason: String },
    #[error("the Sekoia.io API URL is unusable: {reason}; fix sekoia.api_url in config.toml")]
    InvalidApiUrl { reason: String },
}

impl crate::net::retry::AskedWait for SekoiaError {
    fn asked_wait(&self) -> Option<Duration> {
        match self {
            SekoiaError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

impl SekoiaError {
    /// The key itself is the problem (rejected, lacking a permission,
    /// unusable): retrying with the same key will not help.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            SekoiaError::KeyRejected { .. }
                | SekoiaError::Forbidden
                | SekoiaError::InvalidKey { .. }
        )
    }

    /// Worth retrying later: 429, 5xx, timeouts and network failures.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SekoiaError::RateLimited { .. }
                | SekoiaError::Server { .. }
                | SekoiaError::Timeout
                | SekoiaError::Network { .. }
                | SekoiaError::Connection(_)
        )
    }
}

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

use crate::model::alert::lenient;
pub use crate::model::alert::{is_uuid, Alert, AlertType, Case, Named, Urgency};

/// The key's owner, from `GET /v1/me`. Every field optional; `raw` keeps the body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Me {
    pub uuid: Option<String>,
    pub email: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub community_uuid: Option<String>,
    pub raw: Value,
}

#[derive(Deserialize)]
struct MeFields {
    #[serde(default, deserialize_with = "lenient")]
    uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    firstname: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    lastname: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    community_uuid: Option<String>,
}

/// One action of an alert's workflow (`GET /v1/sic/alerts/{uuid}/workflow`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowAction {
    pub id: String,
    pub name: String,
}

/// The workflow answer: `{"actions": [...]}` (or a bare array); actions
/// without a string id and name are skipped.
fn parse_actions(value: Value) -> Result<Vec<WorkflowAction>, SekoiaError> {
    let items = array_in(value, "actions", "the alert workflow")?;
    Ok(items
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect())
}

/// The array an answer holds under `key` (`{"<key>": [...]}`), or the
/// answer itself when it is a bare array; `what` names it in the error.
fn array_in(value: Value, key: &str, what: &str) -> Result<Vec<Value>, SekoiaError> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Object(mut map) => match map.remove(key) {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(SekoiaError::Unreadable {
                detail: format!("{what} has no \"{key}\" array"),
            }),
        },
        _ => Err(SekoiaError::Unreadable {
            detail: format!("{what} is not a JSON object"),
        }),
    }
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// How the client talks to Sekoia.io. `ClientConfig::new` gives the defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The API base, e.g. `https://api.sekoia.io` or `https://app.fra2.sekoia.io/api`.
    pub api_url: url::Url,
    /// Per attempt, connection to last body byte. Default 10 s.
    pub timeout: Duration,
    /// Minimum spacing between requests (burst 1), plus a 5% margin against
    /// jitter. Default 200 ms: never more than 5 requests in any second.
    pub min_interval: Duration,
    /// Attempts per call, the first included. Default 4.
    pub max_attempts: usize,
    /// Upper bound on a 429's `Retry-After` wait. Default 60 s.
    pub max_retry_wait: Duration,
    /// First backoff delay, doubled each retry, with jitter. Default 1 s.
    pub retry_base_delay: Duration,
    /// Consecutive transient failures (per attempt) that open the circuit. Default 5.
    pub circuit_failures: u32,
    /// Proxy and trusted roots. Default: the environment and the OS store.
    pub network: crate::net::network::Network,
    /// How long an open circuit fails fast. Default 60 s.
    pub circuit_pause: Duration,
}

impl ClientConfig {
    /// The defaults for this API base.
    pub fn new(api_url: url::Url) -> Self {
        ClientConfig {
            api_url,
            timeout: Duration::from_secs(10),
            min_interval: Duration::from_millis(200),
            max_attempts: 4,
            max_retry_wait: Duration::from_secs(60),
            retry_base_delay: Duration::from_secs(1),
            circuit_failures: 5,
            circuit_pause: Duration::from_secs(60),
            network: crate::net::network::Network::system(),
        }
    }
}

#[derive(Debug, Default)]
struct Circuit {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    /// A half-open probe call is in flight.
    probing: bool,
}

struct Inner {
    http: reqwest::Client,
    /// The API base without query, fragment or trailing '/'.
    base: String,
    config: ClientConfig,
    limiter: Option<DefaultDirectRateLimiter>,
    circuit: Mutex<Circuit>,
    /// Told the outcome of every finished call (see [`Client::observe`]).
    observer: std::sync::OnceLock<Observer>,
}

/// Receives the outcome of each finished API call (retries included).
pub type Observer = Box<dyn Fn(Result<(), &SekoiaError>) + Send + Sync>;

/// The Sekoia.io API client. Clones share the rate limiter and circuit state.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the client; fails on an API URL that is not http(s) or a key
    /// that cannot be a header value.
    pub fn new(config: ClientConfig, key: ApiKey) -> Result<Client, SekoiaError> {
        let mut api_url = config.api_url.clone();
        if !matches!(api_url.scheme(), "http" | "https") || api_url.cannot_be_a_base() {
            return Err(SekoiaError::InvalidApiUrl {
                reason: "it must be an http(s) URL".into(),
            });
        }
        api_url.set_query(None);
        api_url.set_fragment(None);
        let base = api_url.as_str().trim_end_matches('/').to_owned();

        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                SekoiaError::InvalidKey {
                    reason: "it contains characters not allowed in an HTTP header".into(),
                }
            })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("sekoia-notifier/", env!("CARGO_PKG_VERSION"))),
        );
        let http = config
            .network
            .http_client()
            .map_err(|e| SekoiaError::Network {
                detail: e.to_string(),
            })?
            .default_headers(headers)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SekoiaError::Network {
                detail: error_detail(&e),
            })?;

        // Requests spaced exactly `min_interval` apart on our side can arrive
        // bunched by scheduling and network jitter, and Sekoia.io counts what
        // arrives: a 5% margin keeps every server-side window within the limit.
        let period = config.min_interval + config.min_interval / 20;
        let limiter =
            Quota::with_period(period).map(|q| RateLimiter::direct(q.allow_burst(NonZeroU32::MIN)));

        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                config,
                limiter,
                circuit: Mutex::new(Circuit::default()),
                observer: std::sync::OnceLock::new(),
            }),
        })
    }

    /// `GET /v1/me`: checks the key and says whose it is.
    pub async fn me(&self) -> Result<Me, SekoiaError> {
        let raw = self.get_json("/v1/me", &[]).await?;
        let fields: MeFields =
            serde_json::from_value(raw.clone()).map_err(|_| SekoiaError::Unreadable {
                detail: "the answer to /v1/me is not a JSON object".into(),
            })?;
        Ok(Me {
            uuid: fields.uuid,
            email: fields.email,
            firstname: fields.firstname,
            lastname: fields.lastname,
            community_uuid: fields.community_uuid,
            raw,
        })
    }

    /// `GET /v1/sic/alerts/{uuid}` without STIX, comments, history or countermeasures.
    pub async fn get_alert(&self, uuid: &str) -> Result<Alert, SekoiaError> {
        if !is_uuid(uuid) {
            return Err(SekoiaError::InvalidUuid);
        }
        let path = format!("/v1/sic/alerts/{uuid}");
        let body = self
            .get_json(
                &path,
                &[
                    ("stix", "false"),
                    ("comments", "false"),
                    ("history", "false"),
                    ("countermeasures", "false"),
                ],
            )
            .await?;
        parse_alert(body)
    }

    /// `GET /v1/sic/cases/{uuid}` (permission SIC_READ_CASES). Errors as
    /// [`Client::get_alert`]'s: 404 is [`SekoiaError::NotFound`].
    pub async fn get_case(&self, uuid: &str) -> Result<Case, SekoiaError> {
        if !is_uuid(uuid) {
            return Err(SekoiaError::InvalidUuid);
        }
        let body = self.get_json(&format!("/v1/sic/cases/{uuid}"), &[]).await?;
        if !body.is_object() {
            return Err(SekoiaError::Unreadable {
                detail: "a case is not a JSON object".into(),
            });
        }
        serde_json::from_value(body).map_err(|_| SekoiaError::Unreadable {
            detail: "a case has an unreadable shape".into(),
        })
    }

    /// `GET /v1/sic/alerts/{alert}/comments/{comment}`: the comment's text
    /// (`content`), `None` when the answer has none. 404 is
    /// [`SekoiaError::NotFound`].
    pub async fn get_comment(
        &self,
        alert: &str,
        comment: &str,
    ) -> Result<Option<String>, SekoiaError> {
        if !is_uuid(alert) || !is_uuid(comment) {
            return Err(SekoiaError::InvalidUuid);
        }
        let body = self
            .get_json(&format!("/v1/sic/alerts/{alert}/comments/{comment}"), &[])
            .await?;
        Ok(body
            .get("content")
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// `GET /v1/sic/alerts?match[uuid]=...`, 100 UUIDs per request; the
    /// results are concatenated. Unknown UUIDs are simply absent.
    pub async fn list_alerts(&self, uuids: &[&str]) -> Result<Vec<Alert>, SekoiaError> {
        Ok(self.list_alerts_counted(uuids).await?.0)
    }

    /// [`Client::list_alerts`], with the number of list entries that were
    /// not alerts and were skipped: when it is not 0, an alert missing from
    /// the answer may be one of them, not an unknown alert.
    pub async fn list_alerts_counted(
        &self,
        uuids: &[&str],
    ) -> Result<(Vec<Alert>, usize), SekoiaError> {
        if !uuids.iter().all(|u| is_uuid(u)) {
            return Err(SekoiaError::InvalidUuid);
        }
        let mut skipped = 0;
        let mut alerts = Vec::with_capacity(uuids.len());
        for chunk in uuids.chunks(LIST_CHUNK) {
            let joined = chunk.join(",");
            let limit = LIST_CHUNK.to_string();
            let body = self
                .get_json(
                    "/v1/sic/alerts",
                    &[("match[uuid]", joined.as_str()), ("limit", limit.as_str())],
                )
                .await?;
            let page = parse_alert_list(body)?;
            skipped += page.skipped;
            alerts.extend(page.alerts);
        }
        Ok((alerts, skipped))
    }

    /// `GET /v1/sic/alerts/{uuid}/workflow`: the actions allowed from the
    /// alert's current status.
    pub async fn workflow(&self, uuid: &str) -> Result<Vec<WorkflowAction>, SekoiaError> {
        if !is_uuid(uuid) {
            return Err(SekoiaError::InvalidUuid);
        }
        let body = self
            .get_json(&format!("/v1/sic/alerts/{uuid}/workflow"), &[])
            .await?;
        parse_actions(body)
    }

    /// `PATCH /v1/sic/alerts/{uuid}/workflow` with `{"action_uuid": ...}`.
    /// Retried only on 429 (the change was then not made); 403 and 409 say
    /// which permission is missing or that the alert moved on.
    pub async fn trigger_workflow(&self, uuid: &str, action_uuid: &str) -> Result<(), SekoiaError> {
        self.trigger_workflow_commented(uuid, action_uuid, None)
            .await
    }

    /// [`Client::trigger_workflow`] with an optional `comment` (sent as
    /// `"comment"` when not blank; Sekoia.io keeps it with the change).
    pub async fn trigger_workflow_commented(
        &self,
        uuid: &str,
        action_uuid: &str,
        comment: Option<&str>,
    ) -> Result<(), SekoiaError> {
        if !is_uuid(uuid) || !is_uuid(action_uuid) {
            return Err(SekoiaError::InvalidUuid);
        }
        let path = format!("/v1/sic/alerts/{uuid}/workflow");
        let mut body = serde_json::json!({ "action_uuid": action_uuid });
        if let Some(comment) = comment.map(str::trim).filter(|c| !c.is_empty()) {
            body["comment"] = Value::String(comment.to_owned());
        }
        let call = Call {
            method: reqwest::Method::PATCH,
            path: &path,
            query: &[],
            body: Some(&body),
        };
        match self
            .call(call, |e| matches!(e, SekoiaError::RateLimited { .. }))
            .await
        {
            Ok(_) => Ok(()),
            Err(SekoiaError::Forbidden) => Err(SekoiaError::WorkflowForbidden),
            Err(SekoiaError::UnexpectedStatus { status: 409 }) => Err(SekoiaError::NotPending),
            Err(e) => Err(e),
        }
    }

    /// Lets `observer` see the outcome of every later call, from every clone
    /// (the engine's health follows the API this way). Only the first
    /// observer set is kept; `false` when one was already set.
    pub fn observe(&self, observer: Observer) -> bool {
        self.inner.observer.set(observer).is_ok()
    }

    /// A caller stopped waiting for a call at its own deadline (the call
    /// never finished, so it told nobody): the observer hears a timeout,
    /// and the health says the API does not answer.
    pub fn report_abandoned(&self) {
        if let Some(observer) = self.inner.observer.get() {
            observer(Err(&SekoiaError::Timeout));
        }
    }

    /// `GET /v1/sic/alerts?date[created_at]=SINCE,UNTIL&sort=created_at&direction=asc`:
    /// one page of up to 100 alerts created in `[since, until]`, oldest
    /// first, starting at `offset`. Times go out as RFC 3339 UTC seconds.
    pub async fn list_created(
        &self,
        since: time::OffsetDateTime,
        until: time::OffsetDateTime,
        offset: usize,
    ) -> Result<AlertPage, SekoiaError> {
        let range = format!("{},{}", rfc3339_seconds(since), rfc3339_seconds(until));
        let limit = LIST_CHUNK.to_string();
        let offset = offset.to_string();
        let body = self
            .get_json(
                "/v1/sic/alerts",
                &[
                    ("date[created_at]", range.as_str()),
                    ("sort", "created_at"),
                    ("direction", "asc"),
                    ("limit", limit.as_str()),
                    ("offset", offset.as_str()),
                ],
            )
            .await?;
        parse_alert_list(body)
    }

    /// One GET with retries, its outcome told to the observer.
    async fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, SekoiaError> {
        let result = self.get_json_retried(path, query).await;
        if let Some(observer) = self.inner.observer.get() {
            observer(result.as_ref().map(|_| ()));
        }
        result
    }

    /// One GET with retries. `path` is built from constants and validated UUIDs only.
    async fn get_json_retried(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, SekoiaError> {
        let call = Call {
            method: reqwest::Method::GET,
            path,
            query,
            body: None,
        };
        self.call(call, SekoiaError::is_transient).await
    }

    /// One request with retries of the errors `retry_on` accepts.
    async fn call(
        &self,
        call: Call<'_>,
        retry_on: fn(&SekoiaError) -> bool,
    ) -> Result<Value, SekoiaError> {
        let path = call.path;
        let url = format!("{}{}", self.inner.base, path);
        let config = &self.inner.config;
        let backoff = crate::net::retry::backoff(
            config.retry_base_delay,
            config.max_retry_wait,
            config.max_attempts,
        );
        let max_wait = config.max_retry_wait;
        (|| self.attempt(&url, &call))
            .retry(backoff)
            .when(retry_on)
            .adjust(move |err, delay| crate::net::retry::honour_retry_after(err, delay, max_wait))
            .notify(|err, delay| {
                tracing::warn!(
                    path,
                    error = %err,
                    retry_in_ms = delay.as_millis() as u64,
                    "Sekoia.io call failed; retrying"
                );
            })
            .await
    }

    /// One attempt: circuit check, rate limiter, request, classification.
    async fn attempt(&self, url: &str, call: &Call<'_>) -> Result<Value, SekoiaError> {
        let mut probe = ProbeGuard {
            client: self,
            armed: self.circuit_admit()?,
        };
        if let Some(limiter) = &self.inner.limiter {
            limiter.until_ready().await;
        }
        let result = self.send(url, call).await;
        self.circuit_record(&result);
        probe.armed = false;
        result
    }

    async fn send(&self, url: &str, call: &Call<'_>) -> Result<Value, SekoiaError> {
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .query(call.query);
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.map_reqwest(e))?;
        let status = response.status();
        let retry_after = crate::net::retry::retry_after(response.headers());
        let body = crate::net::network::read_capped(response, MAX_ANSWER)
            .await
            .map_err(|e| match e {
                crate::net::network::BodyError::Read(e) => self.map_reqwest(e),
                too_large => SekoiaError::Unreadable {
                    detail: too_large.to_string(),
                },
            })?;
        if status.is_success() {
            // A change may answer with no body at all.
            if body.iter().all(u8::is_ascii_whitespace) && call.body.is_some() {
                return Ok(Value::Null);
            }
            // One odd string (a lone surrogate) must not spoil the answer.
            return lossy::parse(&body).map_err(|e| SekoiaError::Unreadable {
                detail: format!("invalid JSON at line {} column {}", e.line(), e.column()),
            });
        }
        Err(match status {
            StatusCode::UNAUTHORIZED => {
                let code = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_owned));
                SekoiaError::KeyRejected {
                    problem: KeyProblem::from_code(code.as_deref()),
                }
            }
            StatusCode::FORBIDDEN => SekoiaError::Forbidden,
            StatusCode::NOT_FOUND => SekoiaError::NotFound,
            StatusCode::TOO_MANY_REQUESTS => SekoiaError::RateLimited { retry_after },
            s if s.is_server_error() => SekoiaError::Server { status: s.as_u16() },
            s => SekoiaError::UnexpectedStatus { status: s.as_u16() },
        })
    }

    /// A failed request in words: the proxy or certificate leg when that
    /// is what failed (`network::explain`), else the reqwest error.
    fn map_reqwest(&self, err: reqwest::Error) -> SekoiaError {
        if !err.is_timeout() {
            let network = &self.inner.config.network;
            if let Some(failure) =
                crate::net::network::explain(network, &self.inner.config.api_url, &err)
            {
                return SekoiaError::Connection(failure);
            }
        }
        map_reqwest(err)
    }

    fn circuit(&self) -> MutexGuard<'_, Circuit> {
        // The state stays consistent under panic: every update is a plain store.
        self.inner
            .circuit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Fails fast while the circuit is open; after the pause lets one probe
    /// through. `Ok(true)` means this attempt is that probe.
    fn circuit_admit(&self) -> Result<bool, SekoiaError> {
        let mut circuit = self.circuit();
        let Some(until) = circuit.open_until else {
            return Ok(false);
        };
        let now = Instant::now();
        if now < until {
            return Err(SekoiaError::CircuitOpen {
                remaining: until - now,
            });
        }
        if circuit.probing {
            return Err(SekoiaError::CircuitOpen {
                remaining: Duration::ZERO,
            });
        }
        circuit.probing = true;
        tracing::info!("Sekoia.io circuit half-open; trying one call");
        Ok(true)
    }

    fn circuit_record(&self, result: &Result<Value, SekoiaError>) {
        let config = &self.inner.config;
        let mut circuit = self.circuit();
        match result {
            Err(err) if err.is_transient() => {
                circuit.consecutive_failures = circuit.consecutive_failures.saturating_add(1);
                if circuit.probing || circuit.consecutive_failures >= config.circuit_failures {
                    circuit.open_until = Some(Instant::now() + config.circuit_pause);
                    circuit.probing = false;
                    tracing::warn!(
                        failures = circuit.consecutive_failures,
                        pause_s = config.circuit_pause.as_secs(),
                        "Sekoia.io keeps failing; pausing calls"
                    );
                }
            }
            _ => {
                if circuit.open_until.is_some() {
                    tracing::info!("Sekoia.io answers again; circuit closed");
                }
                *circuit = Circuit::default();
            }
        }
    }
}

/// Frees the half-open slot when a probe is dropped before its outcome is
/// recorded (the caller gave up on the future), so the circuit cannot stick.
struct ProbeGuard<'a> {
    client: &'a Client,
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.client.circuit().probing = false;
        }
    }
}

/// One page of the alert list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertPage {
    pub alerts: Vec<Alert>,
    /// `total`, when the answer has a number there.
    pub total: Option<u64>,
    /// `has_more`, when the answer has a boolean there.
    pub has_more: Option<bool>,
    /// Entries of `items`, readable or not: what the next page's offset
    /// counts (an unreadable entry still moves it on).
    pub items: usize,
    /// Entries that are not alerts (not a JSON object), skipped.
    pub skipped: usize,
}

/// Reads an alert list answer (`{"items": [...], "total", "has_more"}`) from
/// raw bytes: the parser the fuzz target drives.
pub fn parse_alert_list_bytes(body: &[u8]) -> Result<AlertPage, SekoiaError> {
    let value: Value = lossy::parse(body).map_err(|e| SekoiaError::Unreadable {
        detail: format!("invalid JSON at line {} column {}", e.line(), e.column()),
    })?;
    parse_alert_list(value)
}

fn parse_alert_list(body: Value) -> Result<AlertPage, SekoiaError> {
    let Value::Object(mut map) = body else {
        return Err(SekoiaError::Unreadable {
            detail: "the alert list is not a JSON object".into(),
        });
    };
    let Some(Value::Array(items)) = map.remove("items") else {
        return Err(SekoiaError::Unreadable {
            detail: "the alert list has no \"items\" array".into(),
        });
    };
    // Item by item: one that is not an alert is skipped, the rest kept.
    let count = items.len();
    let alerts: Vec<Alert> = items
        .into_iter()
        .filter_map(|item| parse_alert(item).ok())
        .collect();
    let skipped = count - alerts.len();
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "alert list entries that are not alerts were skipped"
        );
    }
    Ok(AlertPage {
        alerts,
        total: map.get("total").and_then(Value::as_u64),
        has_more: map.get("has_more").and_then(Value::as_bool),
        items: count,
        skipped,
    })
}

/// `2026-11-29T04:00:00Z`: whole seconds, UTC.
fn rfc3339_seconds(t: time::OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// One request's shape: `path` from constants and validated UUIDs only.
struct Call<'a> {
    method: reqwest::Method,
    path: &'a str,
    query: &'a [(&'a str, &'a str)],
    body: Option<&'a Value>,
}

fn parse_alert(value: Value) -> Result<Alert, SekoiaError> {
    if !value.is_object() {
        return Err(SekoiaError::Unreadable {
            detail: "an alert is not a JSON object".into(),
        });
    }
    serde_json::from_value(value).map_err(|_| SekoiaError::Unreadable {
        detail: "an alert has an unreadable shape".into(),
    })
}

fn map_reqwest(err: reqwest::Error) -> SekoiaError {
    if err.is_timeout() {
        SekoiaError::Timeout
    } else if err.is_decode() {
        SekoiaError::Unreadable {
            detail: error_detail(&err),
        }
    } else {
        SekoiaError::Network {
            detail: error_detail(&err),
        }
    }
}

/// The error and its causes, without the URL (it may carry a query).
fn error_detail(err: &reqwest::Error) -> String {
    let mut detail = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    let head = if err.is_connect() {
        "connection failed"
    } else if err.is_request() {
        "request failed"
    } else if err.is_body() {
        "reading the answer failed"
    } else {
        "HTTP error"
    };
    detail.push_str(head);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}

mod detail;
mod lossy;

pub use detail::{parse_comments, parse_record, AlertRecord, Comment, StatusChange};

/// The API's health words live in `model::health`; what an answer means for
/// them is the client's business.
impl ApiHealth {
    /// What a finished API call (retries included) says about the API, or
    /// `None` when it says nothing (an identifier refused before any call).
    pub fn from_result(result: Result<(), &SekoiaError>) -> Option<ApiHealth> {
        let e = match result {
            Ok(()) => return Some(ApiHealth::Ok),
            Err(e) => e,
        };
        Some(match e {
            // The key was accepted; only the alert, the pace or a triage
            // action (a write permission, a status that moved on) was wrong.
            SekoiaError::NotFound
            | SekoiaError::RateLimited { .. }
            | SekoiaError::WorkflowForbidden
            | SekoiaError::NotPending => ApiHealth::Ok,
            SekoiaError::InvalidUuid => return None,
            SekoiaError::KeyRejected { .. }
            | SekoiaError::Forbidden
            | SekoiaError::InvalidKey { .. } => ApiHealth::KeyRejected {
                reason: e.to_string(),
            },
            SekoiaError::Server { .. }
            | SekoiaError::UnexpectedStatus { .. }
            | SekoiaError::Timeout
            | SekoiaError::Unreadable { .. }
            | SekoiaError::Network { .. }
            | SekoiaError::Connection(_)
            | SekoiaError::CircuitOpen { .. }
            | SekoiaError::InvalidApiUrl { .. } => ApiHealth::Unreachable {
                reason: e.to_string(),
            },
        })
    }
}

#[cfg(test)]
mod tests;
