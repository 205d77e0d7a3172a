//! Stage 2, the operating system: what the engine needs from the machine
//! itself, whatever it is doing. Files private by their own mode
//! (`private`), the environment of every child process (`children`),
//! whether a recorded pid is really our engine (`ownership`), the engine's
//! background tasks (`tasks`) and the daily log file (`logs`).
//!
//! Owns: those mechanisms, with no knowledge of alerts. Must not: import
//! any stage but `model` (it knows no settings, store or network).

pub mod children;
pub mod logs;
pub mod ownership;
pub mod private;
pub mod tasks;
