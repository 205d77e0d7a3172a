//! Tauri commands: thin adapters from IPC to [`crate::shell::Shell`], one
//! file per domain. Names are listed in `crate::ipc::COMMANDS`; each window
//! may call only those its capability file grants.

pub mod app;
pub mod feed;
pub mod settings;

use crate::shell::Shell;
use std::sync::Arc;
use tauri::State;

type ShellState<'a> = State<'a, Arc<Shell>>;
