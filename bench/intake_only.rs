//! The intake alone, for the intake benchmark: the daemon's own router and
//! durable store (the same parsing, insert and group commit, 202 after the
//! commit) with no pipeline, monitor or tunnel beside it, and the daemon's
//! allocator. Between the bare handler and the full daemon, it shows what
//! durable storage costs and what the pipeline working beside it costs.
//!
//! Usage: intake-only PORT SECRET DATA_DIR

use notifier_core::intake;
use notifier_core::settings::HookSecret;
use notifier_core::store::Store;
use std::path::Path;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(18790);
    let secret: HookSecret =
        serde_json::from_value(serde_json::Value::String(args.next().ok_or("SECRET")?))?;
    let data = args.next().ok_or("DATA_DIR")?;
    let store = Store::open(Path::new(&data))?;
    let app = intake::router_live(tokio::sync::watch::channel(secret).1, store.writer(), 0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    intake::serve(listener, app, std::future::pending()).await;
    Ok(())
}
