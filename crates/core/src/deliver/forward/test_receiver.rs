//! A recording HTTP receiver on loopback for forward tests (Teams, Slack,
//! Mattermost, webhook stand-ins): scripted answers, a request log, and
//! signature checking like a real receiver. Test support only.

use super::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap as AxumHeaders, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The secret part of every receiver URL; must never be shown.
pub(crate) const SECRET_PATH: &str = "/workflows/s3cr3t-T0KEN/triggers/manual";

#[derive(Debug, Clone, Copy)]
pub(crate) enum Reply {
    Ok,
    Status(u16),
    /// A status with a body, as the chat services explain a refusal.
    Says(u16, &'static str),
    TooMany {
        retry_after_secs: u64,
    },
    Slow(Duration),
}

#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: AxumHeaders,
    pub body: Bytes,
    pub at: Instant,
}

#[derive(Default)]
pub(crate) struct ReceiverState {
    pub script: Mutex<VecDeque<Reply>>,
    /// Answer this to every request once the script is used up.
    pub otherwise: Mutex<Option<Reply>>,
    pub log: Mutex<Vec<Recorded>>,
    /// When set, requests whose signature does not verify get 401.
    pub verify_with: Mutex<Option<Vec<u8>>>,
}

/// A recording HTTP receiver on 127.0.0.1:0, stopped when dropped.
pub(crate) struct Receiver {
    pub addr: std::net::SocketAddr,
    pub state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub(crate) async fn start(script: &[Reply]) -> Receiver {
        let state = Arc::new(ReceiverState::default());
        state
            .script
            .lock()
            .expect("lock")
            .extend(script.iter().copied());
        let app = Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, state, task }
    }

    pub(crate) fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}{SECRET_PATH}?sig=qs-s3cr3t", self.addr))
            .expect("valid URL")
    }

    pub(crate) fn log(&self) -> Vec<Recorded> {
        self.state.log.lock().expect("lock").clone()
    }
}

async fn record(
    State(state): State<Arc<ReceiverState>>,
    method: Method,
    uri: axum::http::Uri,
    headers: AxumHeaders,
    body: Bytes,
) -> Response {
    state.log.lock().expect("lock").push(Recorded {
        method,
        path: uri.path().to_owned(),
        headers: headers.clone(),
        body: body.clone(),
        at: Instant::now(),
    });
    let key = state.verify_with.lock().expect("lock").clone();
    if let Some(key) = key {
        if !verify_headers(&key, &headers, &body) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    let next = state.script.lock().expect("lock").pop_front();
    let reply = next
        .or(*state.otherwise.lock().expect("lock"))
        .unwrap_or(Reply::Ok);
    match reply {
        Reply::Ok => StatusCode::OK.into_response(),
        Reply::Status(code) => StatusCode::from_u16(code)
            .expect("valid status")
            .into_response(),
        Reply::Says(code, body) => (
            StatusCode::from_u16(code).expect("valid status"),
            body.to_owned(),
        )
            .into_response(),
        Reply::TooMany { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after_secs.to_string())],
        )
            .into_response(),
        Reply::Slow(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK.into_response()
        }
    }
}

/// What a real receiver does: recompute the HMAC over the raw body and
/// compare in constant time.
pub(crate) fn verify_headers(key: &[u8], headers: &AxumHeaders, body: &[u8]) -> bool {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    super::verify(
        key,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        body,
        now,
        SIGNATURE_TOLERANCE,
    )
    .is_ok()
}
