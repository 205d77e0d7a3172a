//! `sekoia-notifierd`: the Sekoia Notifier engine without a GUI.

mod cli;
mod commands;

use clap::Parser;
use std::process::ExitCode;

// glibc's allocator was about a tenth of intake CPU under load; mimalloc
// halves that and keeps fragmentation low in a long-running process.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    commands::run(cli)
}
