//! The Sekoia Notifier engine. No GUI dependency: the daemon and the desktop
//! shell both drive this crate and nothing else does engine work.

pub mod engine;
pub mod event;
pub mod forward;
pub mod intake;
pub mod notify;
pub mod outbox;
pub mod pause;
pub mod pipeline;
pub mod policy;
pub mod retry;
pub mod secrets;
pub mod sekoia;
pub mod selftest;
pub mod settings;
pub mod store;
pub mod triage;
pub mod tunnel;
