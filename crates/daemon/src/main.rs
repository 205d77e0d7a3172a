//! `sekoia-notifierd`: the Sekoia Notifier engine without a GUI.

mod cli;
mod commands;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    commands::run(cli)
}
