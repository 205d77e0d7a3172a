//! The command line: flags and subcommands, nothing else.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Receive Sekoia.io alert webhooks, store them durably and show them.
#[derive(Debug, Parser)]
#[command(name = "sekoia-notifierd", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub locations: Locations,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Locations {
    /// Configuration file [default: <config dir>/sekoia-notifier/config.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the database and logs [default: <data dir>/sekoia-notifier]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engine in the foreground until SIGINT or SIGTERM (SIGHUP
    /// re-reads the webhook secret from the config).
    Serve {
        /// Log line format on stderr.
        #[arg(long, value_enum, default_value_t = LogFormat::Human)]
        log_format: LogFormat,
    },
    /// Print the feed, newest first.
    Feed {
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// At most this many entries.
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: usize,
        /// With --json: print `{"entries": [...], "gaps": [...]}`, the
        /// intervals in which no webhook delivery was possible beside the
        /// entries (the table always shows them).
        #[arg(long, requires = "json")]
        gaps: bool,
    },
    /// Print the URL to paste into Sekoia.io's webhook notification.
    WebhookUrl,
    /// Check the configuration, the API key, the listener port and the tunnel.
    Check,
    /// Read the API key from stdin and store it in the OS keyring.
    SetApiKey,
    /// Print the health of this instance: running or not, the tunnel, the
    /// events waiting, and each forward destination (named by kind and host).
    Status {
        /// Print one JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Post a test event to the running instance's webhook URL (through the
    /// public URL when there is one) and wait until it is in the feed.
    SendTest,
    /// Replace the webhook secret in the config file with a new one and print
    /// the new webhook URL; the old URL stops working (a running `serve` is
    /// told to switch at once).
    RegenerateSecret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}
