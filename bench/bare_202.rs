//! The ceiling for the intake benchmark: an axum handler that answers 202
//! to `POST /hooks/{secret}` without reading, parsing or storing anything.
//!
//! Usage: bare-202 PORT

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(18788);
    let app = Router::new().route("/hooks/{secret}", post(|| async { StatusCode::ACCEPTED }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
