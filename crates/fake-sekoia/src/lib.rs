//! A fake of the Sekoia.io Alert API (DESIGN.md §4) for tests (and, in
//! `live`, of its LiveAPI WebSocket): an axum server on
//! `127.0.0.1:0` with programmable faults and a request log. It owns nothing of
//! the engine and must never be a dependency of shipped code (dev-dependency only).
//!
//! In detail: `live::FakeLive`, a tokio-tungstenite fake of the LiveAPI on
//! loopback (checks the cookie, 401 on a wrong one, sends the handshake frame
//! and whatever frames a test pushes, v2 notifications only to a client that
//! sent the upgrade frame, drops connections, refuses them for a while, stops
//! reading to leave pings unanswered, logs every attempt with its
//! `Cookie`/`Authorization` headers); and an axum fake of the Sekoia.io API in
//! its real shapes (DESIGN.md §4: lists without `has_more`, a malformed uuid in
//! `match[uuid]` refused with 400, the Case and comments APIs, communities
//! (`add_community`, `GET /v1/communities/{uuid}`, 404 `T404` for an unknown
//! one), an alert's `history` when asked with `history=true` (its creation as
//! Pending, then every workflow change with the comment given with it, which
//! also joins its comments), Sekoia.io's urgency words; `notification::*`
//! builds notifications as Sekoia.io sends them, with `metadata.uuid` and
//! `attributes.updated`, and their LiveAPI v1 twins; the list honours
//! `match[uuid]`, `date[created_at]` as RFC 3339 or epoch seconds,
//! `sort=created_at`, `direction`, `limit`, `offset`) on `127.0.0.1:0` with
//! programmable faults (`fail_next`, `set_key_status`, `forbid`,
//! `deny_workflow_write`, `hang`: requests logged and never answered), the
//! alert workflow (GET actions by status, PATCH `{action_uuid, comment?}` that
//! moves Pending -> Acknowledged/Rejected and Acknowledged -> Closed/Rejected,
//! 409 when not allowed now) and a request log; `start()` in async tests,
//! `start_blocking()` in the e2e tests.

pub mod live;
pub mod notification;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The most items the list endpoint returns in one page, like Sekoia.io.
pub const MAX_LIMIT: usize = 100;

/// The workflow action ids Sekoia.io documents (playbook "Update alert status").
pub const ACKNOWLEDGE_ACTION: &str = "937bdabf-6a08-434b-b6d3-d7447e4e452a";
pub const REJECT_ACTION: &str = "ade85d7b-7507-4026-bfc6-cc006d10ddac";
pub const CLOSE_ACTION: &str = "1390be4e-ced8-4dd6-9bed-573471b235ab";

/// What the next request(s) get instead of the normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a `{"message","code"}` body.
    Status(u16),
    /// Answer 429, with `Retry-After: <secs>` when `Some`.
    TooMany { retry_after_secs: Option<u64> },
    /// Wait this long before answering normally.
    Slow(Duration),
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Answer 200 with this JSON body (a wrong shape, for instance).
    Json(Value),
    /// Answer 200 with exactly this text as a JSON body: what a producer
    /// wrote that a `Value` cannot hold (a lone surrogate escape `\ud83d`).
    Body(String),
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The raw (still percent-encoded) query string, when there was one.
    pub query: Option<String>,
    pub authorization: Option<String>,
    /// The request body as text (empty for a GET).
    pub body: String,
    /// When the handler received it.
    pub at: Instant,
}

impl LoggedRequest {
    /// The decoded query parameters, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }
}

#[derive(Debug, Default)]
struct Inner {
    api_key: String,
    alerts: BTreeMap<String, Value>,
    /// Cases by uuid (`GET /v1/sic/cases/{uuid}`).
    cases: BTreeMap<String, Value>,
    /// Comments by alert uuid, oldest first.
    comments: BTreeMap<String, Vec<Value>>,
    /// Workflow changes by alert uuid, oldest first (history entries of
    /// type `alert`, as `?history=true` answers them).
    history: BTreeMap<String, Vec<Value>>,
    /// Communities by uuid (`GET /v1/communities/{uuid}`).
    communities: BTreeMap<String, Value>,
    key_status: Option<String>,
    faults: VecDeque<Fault>,
    forbidden: bool,
    /// The key lacks SIC_WRITE_ALERTS_WORKFLOW: workflow changes get 403.
    no_workflow_write: bool,
    /// Requests arriving while set are logged and never answered.
    hanging: bool,
    log: Vec<LoggedRequest>,
}

/// State behind a mutex, shared by a fake and its server tasks (the Alert
/// API's `Inner` by default; the LiveAPI fake has its own).
#[derive(Debug, Default)]
struct Shared<T = Inner>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, T> {
        // A test that panicked while holding the lock must not hide the real failure.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running fake Sekoia.io API. Stops when dropped.
#[derive(Debug)]
pub struct FakeSekoia {
    url: url::Url,
    api_key: String,
    shared: Shared,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakeSekoia {
    /// Starts the fake on the current tokio runtime.
    ///
    /// # Panics
    /// When no loopback port can be bound: a test cannot go on without it.
    pub async fn start() -> FakeSekoia {
        match Self::try_start().await {
            Ok(fake) => fake,
            Err(e) => panic!("fake-sekoia could not bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts the fake on the current tokio runtime, reporting bind failures.
    pub async fn try_start() -> io::Result<FakeSekoia> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let (fake, app, rx) = Self::prepare(listener.local_addr()?)?;
        tokio::spawn(serve(listener, app, rx));
        Ok(fake)
    }

    /// Starts the fake on its own runtime thread, for tests that are not async.
    ///
    /// # Panics
    /// When no loopback port can be bound or the runtime cannot start.
    pub fn start_blocking() -> FakeSekoia {
        match Self::try_start_blocking() {
            Ok(fake) => fake,
            Err(e) => panic!("fake-sekoia could not start: {e}"),
        }
    }

    /// Like [`FakeSekoia::start_blocking`], reporting failures.
    pub fn try_start_blocking() -> io::Result<FakeSekoia> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let (fake, app, rx) = Self::prepare(std_listener.local_addr()?)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("fake-sekoia".into())
            .spawn(move || {
                runtime.block_on(async move {
                    if let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) {
                        serve(listener, app, rx).await;
                    }
                });
            })?;
        Ok(fake)
    }

    fn prepare(
        addr: std::net::SocketAddr,
    ) -> io::Result<(FakeSekoia, Router, oneshot::Receiver<()>)> {
        let url = url::Url::parse(&format!("http://{addr}"))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let api_key = format!("fake-sekoia-key-{}", addr.port());
        let shared: Shared = Shared::default();
        shared.lock().api_key = api_key.clone();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (tx, rx) = oneshot::channel();
        let fake = FakeSekoia {
            url,
            api_key,
            shared,
            shutdown: Some(tx),
        };
        Ok((fake, app, rx))
    }

    /// The API base, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> url::Url {
        self.url.clone()
    }

    /// The one key the fake accepts; any other gets 401 T300.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Adds (or replaces) an alert, keyed by its `"uuid"` string.
    pub fn add_alert(&self, alert: Value) {
        let uuid = alert
            .get("uuid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.shared.lock().alerts.insert(uuid, alert);
    }

    /// Adds (or replaces) a case, keyed by its `"uuid"` string.
    pub fn add_case(&self, case: Value) {
        let uuid = case
            .get("uuid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.shared.lock().cases.insert(uuid, case);
    }

    /// Adds a comment (a `comment_json` object) to an alert's comments.
    pub fn add_comment(&self, alert_uuid: &str, comment: Value) {
        self.shared
            .lock()
            .comments
            .entry(alert_uuid.to_owned())
            .or_default()
            .push(comment);
    }

    /// Adds (or replaces) a community, as `GET /v1/communities/{uuid}`
    /// answers it.
    pub fn add_community(&self, uuid: &str, name: &str) {
        self.shared
            .lock()
            .communities
            .insert(uuid.to_owned(), community_json(uuid, name));
    }

    /// `Some(code)`: every request is answered 401 with that code (T301 expired, ...).
    pub fn set_key_status(&self, code: Option<&str>) {
        self.shared.lock().key_status = code.map(str::to_owned);
    }

    /// The next `n` requests get `response` instead of the normal answer.
    pub fn fail_next(&self, n: usize, response: Fault) {
        let mut inner = self.shared.lock();
        inner.faults.extend(std::iter::repeat_n(response, n));
    }

    /// `true`: every request arriving from now on is logged and never
    /// answered (a server that accepts connections and hangs); `false`:
    /// new requests are answered again (those hanging stay so).
    pub fn hang(&self, yes: bool) {
        self.shared.lock().hanging = yes;
    }

    /// Drops the faults still queued: the outage is over.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// `true`: every request with a valid key is answered 403.
    pub fn forbid(&self, yes: bool) {
        self.shared.lock().forbidden = yes;
    }

    /// `true`: the key lacks SIC_WRITE_ALERTS_WORKFLOW, so triggering a
    /// workflow action is answered 403 (reads still work).
    pub fn deny_workflow_write(&self, yes: bool) {
        self.shared.lock().no_workflow_write = yes;
    }

    /// The stored alert's status name (it changes when an action is triggered).
    pub fn alert_status(&self, uuid: &str) -> Option<String> {
        self.shared.lock().alerts.get(uuid).and_then(|a| {
            a.pointer("/status/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }
}

impl Drop for FakeSekoia {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, app: Router, rx: oneshot::Receiver<()>) {
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = rx.await;
        })
        .await;
}

/// A case as the Case API answers it (`GET /v1/sic/cases/{uuid}`).
pub fn case_json(uuid: &str, short_id: &str, title: &str, priority: &str) -> Value {
    json!({
        "uuid": uuid,
        "short_id": short_id,
        "created_at": "2026-11-20T08:40:00.000001+00:00",
        "updated_at": "2026-11-20T08:41:00.000000+00:00",
        "title": title,
        "description": "Opened from the notifier's tests.",
        "priority": priority,
        "status": "opened",
        "status_uuid": "5f6a7b8c-9d0e-4f1a-8b2c-4d5e6f708192",
        "community_uuid": "5c7e9a11-2f4b-4c1e-9d2a-0f3b8d6c1a4e",
        "number_of_comments": 0,
        "number_of_alerts": 2,
        "first_seen_at": "2026-11-20T08:14:58.000000Z",
        "last_seen_at": "2026-11-20T08:39:00.000000Z",
        "manual": true,
        "verdict_uuid": null,
        "custom_status_uuid": null
    })
}

/// A community as `GET /v1/communities/{uuid}` answers it.
pub fn community_json(uuid: &str, name: &str) -> Value {
    json!({
        "uuid": uuid,
        "name": name,
        "description": "",
        "created_at": "2024-03-01T09:00:00.000000Z",
        "is_parent": false,
        "parent_community_uuid": null,
        "subcommunities": [],
        "is_mfa_enforced": false,
        "disable_inactive_avatars": false
    })
}

/// A comment as `GET /v1/sic/alerts/{uuid}/comments` lists it.
pub fn comment_json(uuid: &str, content: &str) -> Value {
    json!({
        "uuid": uuid,
        "content": content,
        "author": "d7b9f1a3-6c8e-4d0f-9a2b-4c5d6e7f8091",
        "created_by": "d7b9f1a3-6c8e-4d0f-9a2b-4c5d6e7f8091",
        "created_by_type": "user",
        "date": 1_795_594_600,
        "unseen": true
    })
}

/// A realistic alert object carrying every field DESIGN.md §4 lists.
pub fn alert_json(uuid: &str, short_id: &str, title: &str, urgency: u8) -> Value {
    // The words Sekoia.io's API gives in `urgency.display`.
    let display = match urgency {
        0..=19 => "Low",
        20..=39 => "Moderate",
        40..=59 => "High",
        60..=79 => "Major",
        _ => "Urgent",
    };
    json!({
        "uuid": uuid,
        "short_id": short_id,
        "title": title,
        "urgency": {
            "value": urgency,
            "current_value": urgency,
            "display": display,
            "severity": urgency,
            "criticity": 0
        },
        "status": {"uuid": "2efc4930-1442-4abb-acf2-58ba219a4fd0", "name": "Pending", "description": "Alert is waiting for action"},
        "rule": {"uuid": "8d6c1a4e-2f4b-4c1e-9d2a-0f3b5c7e9a11", "name": "Suspicious PowerShell", "type": "sigma", "severity": 60},
        "entity": {"uuid": "3c5b5f0e-6a0b-4f2e-8b7d-1e2f3a4b5c6d", "name": "Headquarters"},
        "alert_type": {"category": "intrusions", "value": "system-compromise"},
        "source": "10.0.0.12",
        "target": "srv-files-01",
        "created_at": 1_764_380_000,
        "updated_at": 1_764_380_100,
        "first_seen_at": "2025-11-29T01:33:20.000000Z",
        "last_seen_at": "2025-11-29T01:35:00.000000Z",
        "community_uuid": "5c7e9a11-2f4b-4c1e-9d2a-0f3b8d6c1a4e",
        "similar": 3,
        "details": "",
        "kill_chain_short_id": "KC7"
    })
}

fn error(status: StatusCode, message: &str, code: &str) -> Response<Body> {
    json_response(status, &json!({"message": message, "code": code}))
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match axum::body::to_bytes(request.into_body(), 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "Body too large", "T413"),
    };
    let fault = {
        let mut inner = shared.lock();
        inner.log.push(LoggedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            authorization: authorization.clone(),
            body: body.clone(),
            at: Instant::now(),
        });
        if inner.hanging {
            None
        } else {
            Some(inner.faults.pop_front())
        }
    };
    let Some(fault) = fault else {
        return std::future::pending().await;
    };
    match fault {
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error(status, "Injected failure", "FAKE");
        }
        Some(Fault::TooMany { retry_after_secs }) => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, "Too many requests", "T429");
            if let Some(secs) = retry_after_secs {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return response;
        }
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Malformed) => {
            let mut response = Response::new(Body::from("{\"items\": [ this is not json"));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return response;
        }
        Some(Fault::Json(body)) => return json_response(StatusCode::OK, &body),
        Some(Fault::Body(text)) => {
            let mut response = Response::new(Body::from(text));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return response;
        }
        None => {}
    }
    let request = Incoming {
        method: &method,
        path: &path,
        query: query.as_deref(),
        authorization: authorization.as_deref(),
        body: &body,
    };
    respond(&shared, &request)
}

/// What `respond` looks at in a request.
struct Incoming<'a> {
    method: &'a Method,
    path: &'a str,
    query: Option<&'a str>,
    authorization: Option<&'a str>,
    body: &'a str,
}

fn respond(shared: &Shared, request: &Incoming<'_>) -> Response<Body> {
    let Incoming {
        method,
        path,
        query,
        authorization,
        body,
    } = *request;
    let mut inner = shared.lock();
    let expected = format!("Bearer {}", inner.api_key);
    if authorization != Some(expected.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "Invalid API key", "T300");
    }
    if let Some(code) = &inner.key_status {
        let message = match code.as_str() {
            "T301" => "API key expired",
            "T302" => "API key revoked",
            _ => "API key rejected",
        };
        return error(StatusCode::UNAUTHORIZED, message, code);
    }
    if inner.forbidden {
        return error(StatusCode::FORBIDDEN, "Missing permission", "T403");
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let ["v1", "sic", "alerts", uuid, "workflow"] = segments.as_slice() {
        return workflow(&mut inner, method, uuid, body);
    }
    if method != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", "405");
    }
    match segments.as_slice() {
        ["v1", "me"] => json_response(
            StatusCode::OK,
            &json!({
                "uuid": "0b6e2a8c-4a4e-4f7c-9b7e-2d1c3b4a5e6f",
                "email": "analyst@example.com",
                "firstname": "Ada",
                "lastname": "Analyst",
                "community_uuid": "5c7e9a11-2f4b-4c1e-9d2a-0f3b8d6c1a4e"
            }),
        ),
        ["v1", "sic", "alerts", uuid] => match inner.alerts.get(*uuid) {
            Some(alert) if asks_history(query) => {
                let mut alert = alert.clone();
                alert["history"] = history_of(&inner, uuid, &alert);
                json_response(StatusCode::OK, &alert)
            }
            Some(alert) => json_response(StatusCode::OK, alert),
            None => error(StatusCode::NOT_FOUND, "Alert not found", "T404"),
        },
        ["v1", "communities", uuid] => match inner.communities.get(*uuid) {
            Some(community) => json_response(StatusCode::OK, community),
            None => error(StatusCode::NOT_FOUND, "Community not found", "T404"),
        },
        ["v1", "sic", "alerts", uuid, "comments"] => match inner.alerts.get(*uuid) {
            Some(_) => {
                let items = inner.comments.get(*uuid).cloned().unwrap_or_default();
                json_response(
                    StatusCode::OK,
                    &json!({"items": items, "total": items.len()}),
                )
            }
            None => error(StatusCode::NOT_FOUND, "Alert not found", "T404"),
        },
        ["v1", "sic", "alerts", uuid, "comments", comment] => inner
            .comments
            .get(*uuid)
            .and_then(|all| {
                all.iter()
                    .find(|c| c.get("uuid").and_then(Value::as_str) == Some(*comment))
            })
            .map_or_else(
                || error(StatusCode::NOT_FOUND, "Comment not found", "T404"),
                |c| json_response(StatusCode::OK, c),
            ),
        ["v1", "sic", "cases", uuid] => match inner.cases.get(*uuid) {
            Some(case) => json_response(StatusCode::OK, case),
            None => error(StatusCode::NOT_FOUND, "Case not found", "T404"),
        },
        ["v1", "sic", "alerts"] => list(&inner.alerts, query),
        _ => error(StatusCode::NOT_FOUND, "Not found", "T404"),
    }
}

/// `history=true` in the query.
fn asks_history(query: Option<&str>) -> bool {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(k, v)| k == "history" && v == "true")
}

/// The alert's history as Sekoia.io answers it, newest first: every
/// workflow change, then its creation as Pending.
fn history_of(inner: &Inner, uuid: &str, alert: &Value) -> Value {
    let mut entries: Vec<Value> = inner.history.get(uuid).cloned().unwrap_or_default();
    entries.reverse();
    entries.push(json!({
        "uuid": "00000000-0000-4000-8000-000000000001",
        "created_at": alert.get("created_at").cloned().unwrap_or(Value::Null),
        "created_by": "59899459-d385-48da-9b3c-0f1e2d3c4b5a",
        "created_by_type": "application",
        "entry_type": "alert",
        "alert": {"status": "Pending", "previous_status": null},
        "history_comments": []
    }));
    Value::Array(entries)
}

/// The actions allowed from a status, as (id, name).
fn actions_from(status: &str) -> Vec<(&'static str, &'static str)> {
    match status {
        "Pending" => vec![
            (ACKNOWLEDGE_ACTION, "Acknowledge"),
            (REJECT_ACTION, "Reject"),
        ],
        "Closed" | "Rejected" => Vec::new(),
        _ => vec![(CLOSE_ACTION, "Close"), (REJECT_ACTION, "Reject")],
    }
}

/// `GET` lists the actions allowed now; `PATCH {"action_uuid"}` applies one
/// (403 without SIC_WRITE_ALERTS_WORKFLOW, 409 when not allowed now).
fn workflow(inner: &mut Inner, method: &Method, uuid: &str, body: &str) -> Response<Body> {
    let no_write = inner.no_workflow_write;
    let Some(alert) = inner.alerts.get_mut(uuid) else {
        return error(StatusCode::NOT_FOUND, "Alert not found", "T404");
    };
    let status = alert
        .pointer("/status/name")
        .and_then(Value::as_str)
        .unwrap_or("Pending")
        .to_owned();
    let allowed = actions_from(&status);
    if *method == Method::GET {
        let actions: Vec<Value> = allowed
            .iter()
            .map(|(id, name)| json!({"id": id, "name": name, "description": format!("{name} the alert")}))
            .collect();
        return json_response(StatusCode::OK, &json!({ "actions": actions }));
    }
    if *method != Method::PATCH {
        return error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", "405");
    }
    if no_write {
        return error(
            StatusCode::FORBIDDEN,
            "Missing permission SIC_WRITE_ALERTS_WORKFLOW",
            "T403",
        );
    }
    let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let comment = request
        .get("comment")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(action) = request
        .get("action_uuid")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return error(StatusCode::BAD_REQUEST, "action_uuid is required", "T400");
    };
    let Some((_, name)) = allowed.iter().find(|(id, _)| *id == action) else {
        return error(
            StatusCode::CONFLICT,
            "Action not allowed from the current status",
            "T409",
        );
    };
    let new_status = match *name {
        "Acknowledge" => "Acknowledged",
        "Reject" => "Rejected",
        _ => "Closed",
    };
    let status_uuid = match new_status {
        "Acknowledged" => "8f206505-af6d-433e-93f4-775d46dc7d0f",
        "Rejected" => "4f68da89-38e0-4703-a6ab-652f02bdf24e",
        _ => "1738b1c1-767d-489e-bada-19176621a007",
    };
    alert["status"] = json!({"uuid": status_uuid, "name": new_status, "description": format!("Alert is {new_status}")});
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let n = inner.history.values().map(Vec::len).sum::<usize>() + 2;
    let said: Vec<Value> = comment
        .iter()
        .map(|text| {
            json!({
                "uuid": format!("00000000-0000-4000-9000-{n:012}"),
                "content": text,
                "author": "apikey:f93a35e0-b9aa-4c95-ab31-40f1e9aea5a4",
                "date": now,
                "created_by": "f93a35e0-b9aa-4c95-ab31-40f1e9aea5a4",
                "created_by_type": "apikey",
                "unseen": true
            })
        })
        .collect();
    inner
        .history
        .entry(uuid.to_owned())
        .or_default()
        .push(json!({
            "uuid": format!("00000000-0000-4000-8000-{n:012}"),
            "created_at": now,
            "created_by": "f93a35e0-b9aa-4c95-ab31-40f1e9aea5a4",
            "created_by_type": "apikey",
            "entry_type": "alert",
            "alert": {"status": new_status, "previous_status": status},
            "history_comments": said
        }));
    // A comment given with a change is one of the alert's comments too.
    inner
        .comments
        .entry(uuid.to_owned())
        .or_default()
        .extend(said);
    json_response(StatusCode::OK, &json!({}))
}

fn list(alerts: &BTreeMap<String, Value>, query: Option<&str>) -> Response<Body> {
    let mut wanted: Option<Vec<String>> = None;
    let mut created: Option<(i64, i64)> = None;
    let mut sort_by_created = false;
    let mut descending = false;
    let mut limit = MAX_LIMIT;
    let mut offset = 0usize;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "match[uuid]" => {
                let uuids: Vec<String> = value.split(',').map(str::to_owned).collect();
                // The real API refuses the whole call for one malformed uuid.
                if !uuids.iter().all(|u| uuid_shaped(u)) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "Invalid uuid in match[uuid]",
                        "T400",
                    );
                }
                wanted = Some(uuids);
            }
            "date[created_at]" => match parse_range(&value) {
                Some(range) => created = Some(range),
                None => return error(StatusCode::BAD_REQUEST, "Invalid date range", "T400"),
            },
            "sort" => match value.as_ref() {
                "created_at" => sort_by_created = true,
                _ => return error(StatusCode::BAD_REQUEST, "Invalid sort field", "T400"),
            },
            "direction" => match value.as_ref() {
                "asc" => descending = false,
                "desc" => descending = true,
                _ => return error(StatusCode::BAD_REQUEST, "Invalid direction", "T400"),
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = n,
                _ => return error(StatusCode::BAD_REQUEST, "Invalid limit", "T400"),
            },
            "offset" => match value.parse::<usize>() {
                Ok(n) => offset = n,
                Err(_) => return error(StatusCode::BAD_REQUEST, "Invalid offset", "T400"),
            },
            _ => {}
        }
    }
    let created_at = |alert: &Value| alert.get("created_at").and_then(Value::as_i64);
    let mut matching: Vec<&Value> = alerts
        .iter()
        .filter(|(uuid, _)| wanted.as_ref().is_none_or(|w| w.contains(uuid)))
        .filter(|(_, alert)| {
            created.is_none_or(|(start, end)| {
                created_at(alert).is_some_and(|t| (start..=end).contains(&t))
            })
        })
        .map(|(_, alert)| alert)
        .collect();
    if sort_by_created {
        // Stable: equal times keep the uuid order.
        matching.sort_by_key(|alert| created_at(alert).unwrap_or(i64::MIN));
        if descending {
            matching.reverse();
        }
    }
    let total = matching.len();
    let items: Vec<&Value> = matching.into_iter().skip(offset).take(limit).collect();
    // Like the real list API: no `has_more` (DESIGN.md §4).
    json_response(StatusCode::OK, &json!({"items": items, "total": total}))
}

/// 8-4-4-4-12 hex digits.
fn uuid_shaped(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `START,END` as RFC 3339 times or epoch seconds, to epoch seconds.
fn parse_range(value: &str) -> Option<(i64, i64)> {
    let one = |s: &str| {
        s.parse::<i64>().ok().or_else(|| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(time::OffsetDateTime::unix_timestamp)
        })
    };
    let (start, end) = value.split_once(',')?;
    Some((one(start)?, one(end)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A bare HTTP/1.1 GET over a std socket, returning the whole answer.
    fn raw_get(url: &url::Url, path: &str, key: Option<&str>) -> String {
        let addr = format!(
            "{}:{}",
            url.host_str().expect("host"),
            url.port().expect("port")
        );
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        let auth = key
            .map(|k| format!("Authorization: Bearer {k}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: fake\r\n{auth}Connection: close\r\n\r\n"
        )
        .expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        answer
    }

    #[test]
    fn blocking_fake_serves_alerts_to_the_right_key_and_logs_requests() {
        let fake = FakeSekoia::start_blocking();
        let uuid = "5f1c2b3a-0d4e-4f6a-8b9c-0123456789ab";
        fake.add_alert(alert_json(uuid, "ALx", "Title", 40));
        let url = fake.url();

        let ok = raw_get(
            &url,
            &format!("/v1/sic/alerts/{uuid}"),
            Some(fake.api_key()),
        );
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains("\"short_id\":\"ALx\""), "{ok}");

        let refused = raw_get(&url, "/v1/me", Some("wrong"));
        assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
        assert!(refused.contains("T300"), "{refused}");

        let listed = raw_get(
            &url,
            &format!("/v1/sic/alerts?match%5Buuid%5D={uuid},00000000-0000-4000-8000-000000000000&limit=100"),
            Some(fake.api_key()),
        );
        assert!(listed.contains("\"total\":1"), "{listed}");

        let log = fake.requests();
        assert_eq!(log.len(), 3);
        assert_eq!(log[1].authorization.as_deref(), Some("Bearer wrong"));
        assert_eq!(log[2].query_pairs()[1], ("limit".into(), "100".into()));
    }

    #[test]
    fn faults_apply_to_the_next_requests_only() {
        let fake = FakeSekoia::start_blocking();
        fake.fail_next(
            1,
            Fault::TooMany {
                retry_after_secs: Some(7),
            },
        );
        let url = fake.url();
        let first = raw_get(&url, "/v1/me", Some(fake.api_key()));
        assert!(first.starts_with("HTTP/1.1 429"), "{first}");
        assert!(
            first.to_ascii_lowercase().contains("retry-after: 7"),
            "{first}"
        );
        let second = raw_get(&url, "/v1/me", Some(fake.api_key()));
        assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    }
}
