//! The Sekoia Notifier engine. No GUI dependency: the daemon and the desktop
//! shell both drive this crate and nothing else does engine work.

pub mod bounded;
pub mod catchup;
pub mod children;
pub mod engine;
pub mod escalation;
pub mod event;
pub mod forward;
pub mod health;
pub mod intake;
pub mod kind;
pub mod liveapi;
pub mod logs;
pub mod monitor;
pub mod network;
pub mod notify;
pub mod outbox;
pub mod ownership;
pub mod pause;
pub mod pipeline;
pub mod policy;
pub mod private;
pub mod proof;
pub mod reach;
pub mod retry;
pub mod revision;
pub mod secrets;
pub mod sekoia;
pub mod selftest;
pub mod settings;
pub mod store;
pub mod storm;
pub mod tasks;
pub mod triage;
pub mod tunnel;
pub mod urgency;

#[cfg(test)]
mod fuzz_seeds;
