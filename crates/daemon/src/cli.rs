//! The command line: flags and subcommands, nothing else.

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use std::path::PathBuf;

/// The version line: the package version and the commit it was built from
/// (`build-support/commit.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("NOTIFIER_COMMIT"),
    ")"
);

const EXAMPLES: &str = "\
Examples:
  sekoia-notifierd set-api-key          store the Sekoia.io API key in the OS keyring
  sekoia-notifierd check                check config, key, listener and tunnel
  sekoia-notifierd serve                run the engine in the foreground
  sekoia-notifierd webhook-url          print the URL to paste into Sekoia.io
  sekoia-notifierd send-test            send a test alert through the webhook
  sekoia-notifierd feed --limit 10      the ten newest alerts
  sekoia-notifierd --config /etc/sekoia-notifier/config.toml status

Files: <config dir>/sekoia-notifier/config.toml (written on first run) and
<data dir>/sekoia-notifier/ (database, logs). The API key is read from the OS
keyring, else SEKOIA_API_KEY, else the systemd credential api-key
($CREDENTIALS_DIRECTORY/api-key), else the file named by sekoia.api_key_file.
Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.";

/// Receive Sekoia.io alert webhooks, store them durably and show them.
#[derive(Debug, Parser)]
#[command(
    name = "sekoia-notifierd",
    version = VERSION,
    about,
    after_help = EXAMPLES
)]
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
    #[command(after_help = "\
Examples:
  sekoia-notifierd serve
  sekoia-notifierd serve --log-format json      one JSON object per log line (journald, log shippers)
  sekoia-notifierd --config ./dev.toml --data-dir ./dev-data serve")]
    Serve {
        /// Log line format on stderr.
        #[arg(long, value_enum, default_value_t = LogFormat::Human)]
        log_format: LogFormat,
    },
    /// Print the feed, newest first.
    #[command(after_help = "\
Examples:
  sekoia-notifierd feed
  sekoia-notifierd feed --limit 5
  sekoia-notifierd feed --json | jq '.[] | select(.urgency >= 80) | .url'
  sekoia-notifierd feed --json --gaps")]
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
    #[command(after_help = "\
Example:
  sekoia-notifierd webhook-url | xclip -selection clipboard

Treat the URL like a password: its secret path is the only authentication.")]
    WebhookUrl,
    /// Check the configuration, the API key, the listener port and the tunnel.
    #[command(after_help = "\
Example:
  sekoia-notifierd check && echo ready

One line per check; the exit code is 1 when any check fails.")]
    Check,
    /// Read the API key from stdin and store it in the OS keyring.
    #[command(after_help = "\
Examples:
  sekoia-notifierd set-api-key                  paste the key, then Enter
  pass show sekoia/api-key | sekoia-notifierd set-api-key

The key needs SIC_READ_ALERTS (and SIC_WRITE_ALERTS_WORKFLOW for Acknowledge).")]
    SetApiKey,
    /// Print the health of this instance: running or not, the tunnel, the
    /// events waiting, and each forward destination (named by kind and host).
    #[command(after_help = "\
Examples:
  sekoia-notifierd status
  sekoia-notifierd status --json | jq '.forward[] | select(.health == \"failing\")'")]
    Status {
        /// Print one JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Post a test event to the running instance's webhook URL (through the
    /// public URL when there is one) and wait until it is in the feed.
    #[command(after_help = "\
Example:
  sekoia-notifierd send-test      (with `serve` running: a pop-up and a feed entry follow)")]
    SendTest,
    /// Replace the webhook secret in the config file with a new one and print
    /// the new webhook URL; the old URL stops working (a running `serve` is
    /// told to switch at once).
    RegenerateSecret,
    /// Print a shell completion script on stdout.
    #[command(after_help = "\
Examples:
  sekoia-notifierd completions bash > ~/.local/share/bash-completion/completions/sekoia-notifierd
  sekoia-notifierd completions zsh > ~/.zfunc/_sekoia-notifierd
  sekoia-notifierd completions fish > ~/.config/fish/completions/sekoia-notifierd.fish")]
    Completions {
        /// The shell to write the script for.
        shell: Shell,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}
