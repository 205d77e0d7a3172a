//! The webhook listener: `POST /hooks/<secret>` -> parse -> durable store ->
//! 202. Everything else is a bare 404.
//!
//! The secret is compared in constant time. Limits and timeouts come from
//! tower-http (body size, body read, whole request) and hyper (header read).
//! Backpressure: a global rate limit (governor) answers 429 and a full
//! store queue answers 503, both with `Retry-After`, so a flood through the
//! tunnel never grows memory.
//! The handler never logs the request path: it holds the secret.
//! A store that refuses (full disk, locked, read-only) answers 503 with
//! `Retry-After`, never 500 (`refusals`). `POST /hooks/<secret>/` is the same
//! endpoint; a `Content-Encoding: gzip` body is decompressed (the 1 MiB limit
//! applies after decompression), another encoding is refused with 415.
//!
//! In detail: the axum router (`router(secret, writer)`, and
//! `router_live(secret_watch, writer, per_second)`, which reads a new secret at
//! the next request; testable with `oneshot`; 429 past the rate, 503 when the
//! store queue is full) and `serve(listener, app, shutdown)`, the hyper-util
//! accept loop with header-read timeout and graceful drain. `/hooks/<secret>/`
//! is the same route; tower-http's `RequestDecompressionLayer` decompresses
//! gzip bodies outside the body limit (so it counts decompressed bytes), other
//! encodings pass through to a 415. `intake/refusals.rs`: a store error is a
//! refusal (503 + `Retry-After: 10`, never 500); `Refusals` remembers since
//! when, publishes `health::StorageHealth`, and at the first event stored again
//! records the interval as a gap (`reach::refused`); `router_refusing` is what
//! the engine uses. `survive_file_size_limit` ignores SIGXFSZ so a file-size
//! limit is a refusal, not a kill.

pub mod refusals;

use crate::model::event::{Event, ParseError};
use crate::settings::HookSecret;
use crate::store::{StoreError, Stored, Writer};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use refusals::Refusals;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

/// Largest accepted body. Sekoia's notifications are well under 2 KiB.
pub const MAX_BODY: usize = 1024 * 1024;
/// A client must send its headers within this time.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// ... and each chunk of its body within this time.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request deadline, including the wait for the durable commit.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful shutdown waits for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::settings::DEFAULT_RATE;

#[derive(Clone)]
struct Intake {
    secret: watch::Receiver<HookSecret>,
    writer: Writer,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    refusals: Arc<Refusals>,
}

/// The router with the default rate limit.
pub fn router(secret: HookSecret, writer: Writer) -> Router {
    router_live(watch::channel(secret).1, writer, DEFAULT_RATE)
}

/// The router, without a socket: tests drive it with `oneshot`. It answers
/// whatever secret `secret` holds now (a new secret takes effect at the next
/// request, without a restart). At most `per_second` webhook requests per
/// second (bursts up to the same number) reach the body and the store; 0
/// means no limit.
pub fn router_live(secret: watch::Receiver<HookSecret>, writer: Writer, per_second: u32) -> Router {
    let refusals = Arc::new(Refusals::new(writer.clone()));
    router_refusing(secret, writer, per_second, refusals)
}

/// Like [`router_live`], reporting storage refusals to `refusals` (the
/// engine follows its health and the gaps it records).
pub fn router_refusing(
    secret: watch::Receiver<HookSecret>,
    writer: Writer,
    per_second: u32,
    refusals: Arc<Refusals>,
) -> Router {
    let limiter =
        NonZeroU32::new(per_second).map(|n| Arc::new(RateLimiter::direct(Quota::per_second(n))));
    let state = Intake {
        secret,
        writer,
        limiter,
        refusals,
    };
    Router::new()
        .route("/hooks/{secret}", any(hook))
        // Pasted URLs often end with a slash: the same endpoint.
        .route("/hooks/{secret}/", any(hook))
        // The limit is inside the decompression: it counts decompressed
        // bytes, so a small gzip bomb is still a 413.
        .route_layer(RequestBodyLimitLayer::new(MAX_BODY))
        .route_layer(RequestDecompressionLayer::new().pass_through_unaccepted(true))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

/// Why a request was refused. Internal details are logged, never sent.
#[derive(Debug, thiserror::Error)]
enum IntakeError {
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the content type must be application/json")]
    UnsupportedMediaType,
    #[error("Content-Encoding {0} is not supported: send the body uncompressed or gzip")]
    UnsupportedEncoding(String),
    #[error("the gzip body cannot be decompressed")]
    BadEncoding,
    #[error("the store cannot take the event now ({0}); retry later")]
    Refused(String),
    #[error("the body is larger than 1 MiB")]
    TooLarge,
    #[error("the body was not received in time")]
    BodyTimeout,
    #[error("{0}")]
    Malformed(#[from] ParseError),
    #[error("busy, retry later")]
    Busy,
    #[error("too many requests, retry later")]
    RateLimited { retry_after_secs: u64 },
}

impl IntoResponse for IntakeError {
    fn into_response(self) -> Response {
        let status = match self {
            // No body, no hint: an unknown path looks like nothing at all.
            IntakeError::NotFound => return StatusCode::NOT_FOUND.into_response(),
            IntakeError::MethodNotAllowed => {
                let allow = [(header::ALLOW, HeaderValue::from_static("POST"))];
                return (StatusCode::METHOD_NOT_ALLOWED, allow).into_response();
            }
            IntakeError::UnsupportedMediaType | IntakeError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IntakeError::BadEncoding => StatusCode::BAD_REQUEST,
            IntakeError::Refused(_) => {
                let body = Json(serde_json::json!({ "error": self.to_string() }));
                let retry = [(
                    header::RETRY_AFTER,
                    HeaderValue::from(refusals::RETRY_AFTER_SECS),
                )];
                return (StatusCode::SERVICE_UNAVAILABLE, retry, body).into_response();
            }
            IntakeError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            IntakeError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            IntakeError::Malformed(_) => StatusCode::BAD_REQUEST,
            IntakeError::Busy => {
                let body = Json(serde_json::json!({ "error": self.to_string() }));
                let retry = [(header::RETRY_AFTER, HeaderValue::from_static("1"))];
                return (StatusCode::SERVICE_UNAVAILABLE, retry, body).into_response();
            }
            IntakeError::RateLimited { retry_after_secs } => {
                let body = Json(serde_json::json!({ "error": self.to_string() }));
                let retry = [(header::RETRY_AFTER, HeaderValue::from(retry_after_secs))];
                return (StatusCode::TOO_MANY_REQUESTS, retry, body).into_response();
            }
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

async fn hook(State(intake): State<Intake>, request: Request) -> Result<StatusCode, IntakeError> {
    // The route matched `/hooks/{secret}`; compare the raw segment so that
    // percent-encoding tricks cannot produce a match.
    let path = request.uri().path();
    let candidate = path.strip_prefix("/hooks/").unwrap_or_default();
    // One trailing slash (`/hooks/<secret>/`) is the same endpoint.
    let candidate = candidate.strip_suffix('/').unwrap_or(candidate);
    let matches: bool = candidate
        .as_bytes()
        .ct_eq(intake.secret.borrow().as_str().as_bytes())
        .into();
    if !matches {
        return Err(IntakeError::NotFound);
    }
    if request.method() != Method::POST {
        return Err(IntakeError::MethodNotAllowed);
    }
    // Before the body is read: a refused request costs almost nothing.
    if let Some(limiter) = &intake.limiter {
        if let Err(not_until) = limiter.check() {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            tracing::warn!("webhook rate limit reached; answered 429");
            return Err(IntakeError::RateLimited {
                retry_after_secs: retry_after_secs.max(1),
            });
        }
    }
    if !is_json(request.headers()) {
        return Err(IntakeError::UnsupportedMediaType);
    }
    // gzip was decompressed (and its header removed) by the layer; what is
    // left is an encoding we cannot read.
    if let Some(encoding) = request.headers().get(header::CONTENT_ENCODING) {
        let encoding = encoding.to_str().unwrap_or("(not text)").trim();
        if !encoding.eq_ignore_ascii_case("identity") {
            let shown: String = encoding.chars().take(40).collect();
            return Err(IntakeError::UnsupportedEncoding(shown));
        }
    }
    let body = Bytes::from_request(request, &())
        .await
        .map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
                IntakeError::TooLarge
            }
            // The decompressor reports a corrupt stream as an I/O error.
            BytesRejection::FailedToBufferBody(FailedToBufferBody::UnknownBodyError(e))
                if is_decoding_error(&e) =>
            {
                IntakeError::BadEncoding
            }
            _ => IntakeError::BodyTimeout,
        })?;
    let event = Event::parse(&body).inspect_err(|e| {
        tracing::warn!(error = %e, bytes = body.len(), "refused a malformed webhook body");
    })?;
    let topic = event.topic();
    let uuid = event.uuid.clone();
    match intake.writer.insert(event).await {
        Ok(stored) => {
            intake.refusals.stored();
            let redelivery = matches!(stored, Stored::Duplicate { .. });
            tracing::info!(id = stored.id(), %topic, %uuid, redelivery, "event stored");
            Ok(StatusCode::ACCEPTED)
        }
        Err(StoreError::Busy) => {
            tracing::warn!("store queue full; answered 503");
            Err(IntakeError::Busy)
        }
        // Nothing was stored and nothing acknowledged: the sender retries.
        Err(e) => {
            tracing::warn!(error = %e, "could not store an event; answered 503");
            intake.refusals.refused(&e);
            Err(IntakeError::Refused(refusals::reason(&e)))
        }
    }
}

/// Whether a body error comes from decoding the compressed stream.
fn is_decoding_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            );
        }
        source = e.source();
    }
    false
}

/// `application/json` or any `application/*+json`, parameters allowed.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Raises this process's soft limit of open files to its hard limit (at
/// most 65,536), so many idle connections (a slow-client attack, a burst of
/// deliveries) cannot exhaust the descriptors the listener and the store
/// need. Returns the limit now in force.
// `rlim_t` is u64 on Linux x86_64 but not on every unix.
#[allow(clippy::useless_conversion)]
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid, owned struct.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        let wanted = limit.rlim_max.min(65_536);
        if limit.rlim_cur < wanted {
            let raised = libc::rlimit {
                rlim_cur: wanted,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: as above.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                return Some(u64::from(wanted));
            }
        }
        Some(u64::from(limit.rlim_cur))
    }
    #[cfg(not(unix))]
    None
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and waits up to [`DRAIN_TIMEOUT`] for requests in flight.
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::debug!("all connections drained"),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("gave up waiting for open connections"),
    }
}

#[cfg(test)]
mod variants_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use axum::body::Body;
    use tower::ServiceExt;

    const SECRET: &str = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-abcd";
    const EVENT: &str = r#"{"type":"alert","action":"created","attributes":{"uuid":"u-1","short_id":"AL1"},"metadata":{"version":2,"created_at":1}}"#;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        app: Router,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let secret: HookSecret = toml::Value::String(SECRET.into()).try_into().unwrap();
        let app = router(secret, store.writer());
        Fixture {
            _dir: dir,
            store,
            app,
        }
    }

    async fn send(
        app: &Router,
        method: &str,
        path: &str,
        ctype: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, String) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(ctype) = ctype {
            req = req.header(header::CONTENT_TYPE, ctype);
        }
        let resp = app
            .clone()
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn hook_path() -> String {
        format!("/hooks/{SECRET}")
    }

    fn rate_limited_app(per_second: u32, writer: Writer) -> Router {
        let secret: HookSecret = toml::Value::String(SECRET.into()).try_into().unwrap();
        router_live(watch::channel(secret).1, writer, per_second)
    }

    async fn post_event(app: &Router, n: usize) -> axum::response::Response {
        let body = EVENT.replace("u-1", &format!("u-{n}"));
        let req = Request::builder()
            .method("POST")
            .uri(hook_path())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        app.clone().oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn past_the_rate_limit_requests_get_429_with_retry_after_and_nothing_is_stored() {
        let f = fixture();
        let app = rate_limited_app(3, f.store.writer());
        for n in 0..3 {
            assert_eq!(post_event(&app, n).await.status(), StatusCode::ACCEPTED);
        }
        let refused = post_event(&app, 3).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = refused.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // Three per second: the next slot is a third of a second away.
        assert_eq!(retry, 1);
        let bytes = axum::body::to_bytes(refused.into_body(), 1024)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains("too many requests"));
        let feed = f.store.feed_for_tests();
        assert_eq!(feed.len(), 3);
        // A wrong secret is still a bare 404, not a hint that a hook exists.
        let (status, body) =
            send(&app, "POST", "/hooks/nope", Some("application/json"), EVENT).await;
        assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, ""));
    }

    #[tokio::test]
    async fn a_rate_of_zero_means_no_limit() {
        let f = fixture();
        let app = rate_limited_app(0, f.store.writer());
        for n in 0..50 {
            assert_eq!(post_event(&app, n).await.status(), StatusCode::ACCEPTED);
        }
    }

    #[tokio::test]
    async fn a_full_store_queue_answers_503_with_retry_after() {
        let (writer, _queue) = Writer::stalled(1);
        let app = rate_limited_app(0, writer);
        // The first event takes the only slot and waits for a commit that
        // never comes; the next one finds the queue full.
        let waiting = tokio::spawn({
            let app = app.clone();
            async move { post_event(&app, 0).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = post_event(&app, 1).await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        assert!(!waiting.is_finished());
        waiting.abort();
    }

    #[tokio::test]
    async fn valid_event_is_accepted_after_it_is_stored() {
        let f = fixture();
        let (status, _) = send(
            &f.app,
            "POST",
            &hook_path(),
            Some("application/json"),
            EVENT,
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let feed = f.store.feed_for_tests();
        assert_eq!(feed.len(), 1);
        assert_eq!(feed[0].uuid, "u-1");
    }

    #[tokio::test]
    async fn redelivery_is_accepted_and_stored_once() {
        let f = fixture();
        for _ in 0..3 {
            let (status, _) = send(
                &f.app,
                "POST",
                &hook_path(),
                Some("application/json; charset=utf-8"),
                EVENT,
            )
            .await;
            assert_eq!(status, StatusCode::ACCEPTED);
        }
        let feed = f.store.feed_for_tests();
        assert_eq!(feed.len(), 1);
    }

    #[tokio::test]
    async fn wrong_secret_and_other_paths_are_bare_404s() {
        let f = fixture();
        let near_miss = format!("/hooks/{}", &SECRET[..SECRET.len() - 1]);
        let longer = format!("/hooks/{SECRET}x");
        let encoded = format!("/hooks/{}", SECRET.replace('s', "%73"));
        let nested = format!("/hooks/{SECRET}/more");
        for path in [
            "/",
            "/hooks",
            "/hooks/",
            "/hooks/wrong",
            &near_miss,
            &longer,
            &encoded,
            &nested,
            "/health",
            "/HOOKS/x",
        ] {
            let (status, body) = send(&f.app, "POST", path, Some("application/json"), EVENT).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(body.is_empty(), "{path}: {body}");
        }
        let (status, _) = send(&f.app, "GET", "/hooks/wrong", None, Body::empty()).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "a wrong method on a wrong secret reveals nothing"
        );
        assert!(f
            .store
            .reader()
            .unwrap()
            .feed(10, &Default::default())
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn wrong_method_on_the_hook_is_405() {
        let f = fixture();
        for method in ["GET", "PUT", "DELETE", "PATCH"] {
            let (status, body) = send(&f.app, method, &hook_path(), None, Body::empty()).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
            assert!(body.is_empty());
        }
    }

    #[tokio::test]
    async fn non_json_content_types_are_415() {
        let f = fixture();
        for ctype in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data"),
            Some("application/jsonx"),
        ] {
            let (status, body) = send(&f.app, "POST", &hook_path(), ctype, EVENT).await;
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ctype:?}");
            assert!(body.contains("\"error\""));
        }
        let (status, _) = send(
            &f.app,
            "POST",
            &hook_path(),
            Some("Application/Vnd.Api+JSON"),
            EVENT,
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }

    #[tokio::test]
    async fn malformed_bodies_are_400_with_an_error_message() {
        let f = fixture();
        for body in ["", "{", "[]", "null", "\"alert\"", "{\"type\":1"] {
            let (status, text) =
                send(&f.app, "POST", &hook_path(), Some("application/json"), body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(
                json["error"].as_str().is_some_and(|m| !m.is_empty()),
                "{text}"
            );
        }
        assert!(f
            .store
            .reader()
            .unwrap()
            .feed(10, &Default::default())
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn bodies_over_one_mib_are_413() {
        let f = fixture();
        let padding = "x".repeat(MAX_BODY);
        let big = format!(
            r#"{{"type":"alert","action":"created","attributes":{{"uuid":"u"}},"pad":"{padding}"}}"#
        );
        let (status, _) = send(
            &f.app,
            "POST",
            &hook_path(),
            Some("application/json"),
            big.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        // The test request carries no Content-Length: the limit applied while
        // reading answered. With the header, tower-http refuses up front.
        let req = Request::builder()
            .method("POST")
            .uri(hook_path())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, big.len())
            .body(Body::from(big))
            .unwrap();
        let resp = f.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn unknown_types_and_versions_are_accepted() {
        let f = fixture();
        let body = r#"{"type":"case","action":"merged","attributes":{"uuid":"c"},"metadata":{"version":7},"new":true}"#;
        let (status, _) = send(&f.app, "POST", &hook_path(), Some("application/json"), body).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
}
