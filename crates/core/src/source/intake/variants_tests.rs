//! Small variations of a valid webhook request: a trailing slash, a gzip
//! body (the size limit counted after decompression), an encoding we cannot
//! read; and a store locked by another connection (503, never 500).

use super::*;
use crate::store::Store;
use axum::body::Body;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use tower::ServiceExt;

const SECRET: &str = "v4ri4nts-v4ri4nts-v4ri4nts-abcdef";
const EVENT: &str = r#"{"type":"alert","action":"created","attributes":{"uuid":"u-gz","short_id":"ALGZ"},"metadata":{"version":2,"created_at":1}}"#;

fn app(store: &Store) -> Router {
    let secret: HookSecret = toml::Value::String(SECRET.into()).try_into().unwrap();
    router(secret, store.writer())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn post(
    app: &Router,
    path: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len());
    if let Some(encoding) = encoding {
        req = req.header(header::CONTENT_ENCODING, encoding);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn a_trailing_slash_is_the_same_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let path = format!("/hooks/{SECRET}/");
    let (status, _, _) = post(&app(&store), &path, None, EVENT.into()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(store.feed_for_tests().len(), 1);
    // Only one: a second slash or more path is still nothing at all.
    for other in [format!("/hooks/{SECRET}//"), format!("/hooks/{SECRET}/x/")] {
        let (status, _, body) = post(&app(&store), &other, None, EVENT.into()).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::NOT_FOUND, ""),
            "{other}"
        );
    }
}

#[tokio::test]
async fn a_gzip_body_is_decompressed_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let path = format!("/hooks/{SECRET}");
    let (status, _, body) = post(&app(&store), &path, Some("gzip"), gzip(EVENT.as_bytes())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let feed = store.feed_for_tests();
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].short_id.as_deref(), Some("ALGZ"));
}

#[tokio::test]
async fn a_gzip_body_over_the_limit_once_decompressed_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // 2 MiB of JSON that compresses to a few KiB.
    let padding = " ".repeat(2 * MAX_BODY);
    let big = format!("{}{padding}}}", &EVENT[..EVENT.len() - 1]);
    let compressed = gzip(big.as_bytes());
    assert!(compressed.len() < MAX_BODY / 10);
    let path = format!("/hooks/{SECRET}");
    let (status, _, _) = post(&app(&store), &path, Some("gzip"), compressed).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(store.feed_for_tests().is_empty());
}

#[tokio::test]
async fn a_corrupt_gzip_body_is_400_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut corrupt = gzip(EVENT.as_bytes());
    let middle = corrupt.len() / 2;
    corrupt[middle..].iter_mut().for_each(|b| *b ^= 0x5a);
    let path = format!("/hooks/{SECRET}");
    let (status, _, body) = post(&app(&store), &path, Some("gzip"), corrupt).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("cannot be decompressed"), "{body}");
}

#[tokio::test]
async fn an_encoding_we_cannot_read_is_415_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let path = format!("/hooks/{SECRET}");
    let (status, _, body) = post(&app(&store), &path, Some("br"), EVENT.into()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        body.contains("Content-Encoding br is not supported"),
        "{body}"
    );
    assert!(body.contains("gzip"), "{body}");
    let (status, _, _) = post(&app(&store), &path, Some("identity"), EVENT.into()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_database_locked_by_another_connection_is_503_with_retry_after_then_202() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let app = app(&store);
    let path = format!("/hooks/{SECRET}");
    let other = rusqlite::Connection::open(dir.path().join(crate::store::DB_FILE)).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (status, headers, body) = post(&app, &path, None, EVENT.into()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("10")
    );
    assert!(body.contains("locked by another process"), "{body}");
    other.execute_batch("ROLLBACK").unwrap();
    let (status, _, _) = post(&app, &path, None, EVENT.into()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(store.feed_for_tests().len(), 1);
}
