//! The Sekoia Notifier engine. No GUI dependency: the daemon and the desktop
//! shell both drive this crate and nothing else does engine work.

pub mod catchup;
pub mod deliver;
pub mod engine;
pub mod enrich;
pub mod intake;
pub mod liveapi;
pub mod model;
pub mod monitor;
pub mod net;
pub mod os;
pub mod proof;
pub mod selftest;
pub mod settings;
pub mod store;
pub mod tunnel;

// The paths the shells (and tests) have always used.
pub use deliver::{bounded, escalation, forward, notify, outbox, pause, policy, storm, triage};
pub use enrich::pipeline;
pub use model::{event, health, kind, revision, urgency};
pub use net::{network, retry, sekoia};
pub use os::{children, logs, ownership, private, tasks};
pub use settings::secrets;
pub use store::reach;

#[cfg(test)]
mod fuzz_seeds;
