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
    // Before any thread starts: the key leaves the environment (no child
    // inherits it) and no core dump can hold it.
    notifier_core::secrets::take_from_environment();
    notifier_core::secrets::forbid_core_dumps();
    let cli = cli::Cli::parse();
    commands::run(cli)
}
