//! What each subcommand does, on top of `notifier-core`. Errors become one
//! readable line on stderr and an exit code: 2 for usage or configuration
//! problems, 1 for everything else.

use crate::cli::{Cli, Command, LogFormat};
use anyhow::Context;
use notifier_core::engine::{self, Engine};
use notifier_core::settings::{self, Paths, Settings, SettingsError};
use notifier_core::store::{FeedEntry, Reader};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
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
        Command::WebhookUrl => {
            let url = runtime
                .block_on(engine::webhook_url(&settings, &paths.data_dir))
                .context("no webhook URL: the configuration has no listener.hook_secret")?;
            println!("{url}");
            Ok(())
        }
    }
}

async fn serve(settings: &Settings, paths: &Paths) -> anyhow::Result<()> {
    let engine = Engine::start(settings, &paths.data_dir).await?;
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
