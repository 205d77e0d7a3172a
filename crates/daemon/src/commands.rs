//! What each subcommand does, on top of `notifier-core`. Errors become one
//! readable line on stderr and an exit code: 2 for usage or configuration
//! problems, 1 for everything else.

use crate::cli::{Cli, Command, LogFormat};
use anyhow::Context;
use notifier_core::engine::{self, Engine, Options};
use notifier_core::sekoia::{ApiKey, Client, ClientConfig};
use notifier_core::settings::TunnelKind;
use notifier_core::settings::{self, Paths, Settings, SettingsError};
use notifier_core::store::{FeedEntry, Reader};
use notifier_core::tunnel::Tunnel;
use notifier_core::{outbox, secrets, selftest};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

pub fn run(cli: Cli) -> ExitCode {
    let (level, format) = match cli.command {
        Command::Serve { log_format } => ("info", log_format),
        _ => ("warn", LogFormat::Human),
    };
    init_logging(level, format);
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sekoia-notifierd: {e:#}");
            if e.downcast_ref::<SettingsError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let paths = Paths::resolve(cli.locations.config, cli.locations.data_dir)?;
    let loaded = settings::load_or_init(&paths.config_file)?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    if loaded.created {
        tracing::info!(path = %loaded.path.display(), "wrote a new configuration with a generated webhook secret");
    }
    let settings = loaded.settings;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve { .. } => runtime.block_on(serve(&settings, &paths)),
        Command::Feed { json, limit } => feed(&settings, &paths, json, limit),
        Command::Check => runtime.block_on(check(&settings, &paths)),
        Command::SetApiKey => set_api_key(),
        Command::SendTest => runtime.block_on(send_test(&settings, &paths)),
        Command::Status { json } => runtime.block_on(status(&settings, &paths, json)),
        Command::WebhookUrl => {
            let url = runtime
                .block_on(engine::webhook_url(&settings, &paths.data_dir))
                .context("no webhook URL: the configuration has no listener.hook_secret")?;
            if url
                .host_str()
                .is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "::1")
            {
                eprintln!("note: this URL is local; Sekoia.io needs a public HTTPS URL (configure [tunnel])");
            }
            println!("{url}");
            Ok(())
        }
    }
}

async fn serve(settings: &Settings, paths: &Paths) -> anyhow::Result<()> {
    // A bad forward destination is a configuration error: say so first.
    let forward = settings::forward_targets(&settings.forward, &paths.config_file)?;
    let api_key = match secrets::resolve(settings) {
        Ok((key, source)) => {
            tracing::info!(%source, "API key found; alerts will be enriched");
            Some(key)
        }
        Err(e) => {
            tracing::warn!("{e}; events are stored and shown without enrichment");
            None
        }
    };
    let options = Options {
        api_key,
        sinks: engine::desktop_sink(settings).into_iter().collect(),
        forward,
        ..Options::default()
    };
    let engine = Engine::start(settings, &paths.data_dir, options).await?;
    shutdown_signal().await?;
    tracing::info!("shutting down: no new requests, finishing those in flight");
    engine.stop().await;
    Ok(())
}

#[cfg(unix)]
async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn shutdown_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("cannot watch Ctrl-C")
}

/// One line per check; an error when any failed (exit 1).
async fn check(settings: &Settings, paths: &Paths) -> anyhow::Result<()> {
    let mut failed = 0;
    let mut line = |ok: bool, what: &str, detail: String| {
        if !ok {
            failed += 1;
        }
        println!("{:<5} {what:<9} {detail}", if ok { "ok" } else { "FAIL" });
    };
    line(
        true,
        "config",
        format!("{} is valid", paths.config_file.display()),
    );

    match secrets::resolve(settings) {
        Err(e) => line(false, "api key", e.to_string()),
        Ok((key, source)) => {
            let client = Client::new(ClientConfig::new(settings.api_url()), key)?;
            match client.me().await {
                Ok(_) => line(
                    true,
                    "api key",
                    format!("from {source}, accepted by {}", settings.api_url()),
                ),
                Err(e) => line(false, "api key", format!("from {source}: {e}")),
            }
        }
    }

    let bind = settings.listener.bind;
    match std::net::TcpListener::bind(bind) {
        Ok(_) => line(true, "listener", format!("{bind} is free")),
        Err(e) => match engine::running_instance(&paths.data_dir).await {
            Some(addr) if addr == bind || bind.port() == 0 => line(
                true,
                "listener",
                format!("{addr} is served by the running sekoia-notifierd"),
            ),
            _ => line(
                false,
                "listener",
                format!("{bind} is not available: {e}; change listener.bind"),
            ),
        },
    }

    match settings::forward_targets(&settings.forward, &paths.config_file) {
        Ok(targets) if targets.is_empty() => line(true, "forward", "none configured".to_owned()),
        Ok(targets) => {
            let names: Vec<String> = targets
                .iter()
                .map(|t| outbox::destination_name(&t.destination))
                .collect();
            line(
                true,
                "forward",
                format!("{} (see `status` for deliveries)", names.join(", ")),
            );
        }
        Err(e) => line(false, "forward", e.to_string()),
    }

    let running = engine::running(&paths.data_dir).await;
    match (settings.tunnel.kind, Tunnel::validate(&settings.tunnel)) {
        (TunnelKind::None, _) => match &settings.tunnel.public_url {
            Some(url) => line(
                true,
                "tunnel",
                format!("none; public URL {url} (test it with send-test)"),
            ),
            None => line(
                true,
                "tunnel",
                "none: the webhook URL is local only; Sekoia.io needs a public HTTPS URL"
                    .to_owned(),
            ),
        },
        (kind, Err(e)) => line(false, "tunnel", format!("{kind}: {e}")),
        (kind, Ok(())) => match running.and_then(|i| i.tunnel) {
            Some(state) => line(
                !state.starts_with("failed"),
                "tunnel",
                format!("{kind}: {state}"),
            ),
            None => line(
                true,
                "tunnel",
                format!("{kind}: ready to start with `sekoia-notifierd serve`"),
            ),
        },
    }

    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}

async fn send_test(settings: &Settings, paths: &Paths) -> anyhow::Result<()> {
    if engine::running_instance(&paths.data_dir).await.is_none() {
        anyhow::bail!(
            "no running sekoia-notifierd uses {}: start `sekoia-notifierd serve` first",
            paths.data_dir.display()
        );
    }
    let url = engine::webhook_url(settings, &paths.data_dir)
        .await
        .context("no webhook URL: the configuration has no listener.hook_secret")?;
    let delivered = selftest::send_test(&url, &paths.data_dir, Duration::from_secs(15)).await?;
    println!(
        "Test event {} went through {} and reached the feed in {} ms.",
        delivered.nonce,
        url.host_str().unwrap_or("the webhook URL"),
        delivered.round_trip.as_millis()
    );
    Ok(())
}

async fn status(settings: &Settings, paths: &Paths, json: bool) -> anyhow::Result<()> {
    let targets = settings::forward_targets(&settings.forward, &paths.config_file)?;
    let instance = engine::running(&paths.data_dir).await;
    let reader = Reader::open(&paths.data_dir)?;
    let counts = reader.counts()?;
    let forward = outbox::status(&reader, &targets)?;
    let mut out = std::io::stdout().lock();
    if json {
        let status = serde_json::json!({
            "running": instance.is_some(),
            "pid": instance.as_ref().map(|i| i.pid),
            "listen": instance.as_ref().map(|i| i.listen.to_string()),
            "tunnel": instance.as_ref().and_then(|i| i.tunnel.clone()),
            "events": counts,
            "forward": forward,
        });
        serde_json::to_writer_pretty(&mut out, &status)?;
        writeln!(out)?;
        return Ok(());
    }
    match &instance {
        Some(i) => writeln!(out, "running   pid {}, listening on {}", i.pid, i.listen)?,
        None => writeln!(
            out,
            "stopped   no sekoia-notifierd serves {}",
            paths.data_dir.display()
        )?,
    }
    if let Some(tunnel) = instance.as_ref().and_then(|i| i.tunnel.as_deref()) {
        writeln!(out, "tunnel    {}", printable(tunnel))?;
    }
    writeln!(
        out,
        "events    {} stored, {} waiting for the pipeline",
        counts.stored, counts.waiting
    )?;
    if forward.is_empty() {
        writeln!(out, "forward   none configured ([[forward]] in the config)")?;
    }
    for f in &forward {
        let last_ok = f.last_success.as_deref().unwrap_or("never");
        writeln!(
            out,
            "forward   {}: {}; {} sent, {} queued, {} failed; last success {last_ok}",
            printable(&f.name),
            f.health,
            f.sent,
            f.queued,
            f.failed
        )?;
        if let Some(failure) = &f.last_failure {
            writeln!(
                out,
                "          last failure {}: {}",
                failure.at,
                printable(&failure.error)
            )?;
        }
    }
    Ok(())
}

/// Reads one line from stdin and stores it in the OS keyring.
fn set_api_key() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Paste the Sekoia.io API key and press Enter:");
    }
    let mut text = String::new();
    stdin
        .read_line(&mut text)
        .context("cannot read the API key from stdin")?;
    let key = ApiKey::new(text).map_err(|e| anyhow::anyhow!("{e}; nothing was stored"))?;
    secrets::store_in_keyring(&key)?;
    println!(
        "Stored the API key in the OS keyring (service {}, user {}).",
        secrets::SERVICE,
        secrets::USER
    );
    Ok(())
}

fn feed(settings: &Settings, paths: &Paths, json: bool, limit: usize) -> anyhow::Result<()> {
    let entries = Reader::open(&paths.data_dir)?.feed(limit, settings)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &entries)?;
        writeln!(out)?;
    } else if entries.is_empty() {
        writeln!(
            out,
            "No events yet. Paste the URL from `sekoia-notifierd webhook-url` into Sekoia.io \
             (Settings > Notifications > WebHook) and keep `sekoia-notifierd serve` running."
        )?;
    } else {
        print_table(&mut out, &entries)?;
    }
    Ok(())
}

fn print_table(out: &mut impl Write, entries: &[FeedEntry]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<20}  {:<24}  {:<14}  TITLE",
        "RECEIVED", "EVENT", "SHORT ID"
    )?;
    for e in entries {
        let received = e.received_at.get(..19).unwrap_or(&e.received_at);
        let topic = format!("{}:{}", e.kind, e.action);
        let title = e.title.as_deref().unwrap_or("(not enriched yet)");
        writeln!(
            out,
            "{:<20}  {:<24}  {:<14}  {}{}",
            received.replace('T', " "),
            printable(&topic),
            printable(e.short_id.as_deref().unwrap_or("-")),
            printable(title),
            if e.read { "" } else { "  *" },
        )?;
    }
    Ok(())
}

/// Untrusted text for a terminal: control characters (escape sequences)
/// are shown escaped, never interpreted.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
            if c.is_control() {
                Box::new(c.escape_default())
            } else {
                Box::new(std::iter::once(c))
            }
        })
        .collect()
}

fn init_logging(default_level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_env("SEKOIA_NOTIFIER_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},hyper=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn terminal_escape_sequences_are_shown_not_run() {
        assert_eq!(printable("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
        assert_eq!(printable("Ürgent ✓"), "Ürgent ✓");
    }
}
