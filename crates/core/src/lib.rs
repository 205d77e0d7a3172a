//! The Sekoia Notifier engine. No GUI dependency: the daemon and the desktop
//! shell both drive this crate and nothing else does engine work.

pub mod bounded;
pub mod catchup;
pub mod engine;
pub mod escalation;
pub mod forward;
pub mod intake;
pub mod liveapi;
pub mod model;
pub mod monitor;
pub mod net;
pub mod notify;
pub mod os;
pub mod outbox;
pub mod pause;
pub mod pipeline;
pub mod policy;
pub mod proof;
pub mod selftest;
pub mod settings;
pub mod store;
pub mod storm;
pub mod triage;
pub mod tunnel;

// The paths the shells (and tests) have always used.
pub use model::{event, health, kind, revision, urgency};
pub use net::{network, retry, sekoia};
pub use os::{children, logs, ownership, private, tasks};
pub use settings::secrets;
pub use store::reach;

#[cfg(test)]
mod fuzz_seeds;
