//! The Sekoia Notifier engine. No GUI dependency: the daemon and the desktop
//! shell both drive this crate and nothing else does engine work.

pub mod deliver;
pub mod engine;
pub mod enrich;
pub mod model;
pub mod net;
pub mod os;
pub mod settings;
pub mod source;
pub mod store;
pub mod watch;

// The paths the shells (and tests) have always used.
pub use deliver::{bounded, escalation, forward, notify, outbox, pause, policy, storm, triage};
pub use enrich::pipeline;
pub use model::{event, health, kind, revision, urgency};
pub use net::{network, retry, sekoia};
pub use os::{children, logs, ownership, private, tasks};
pub use settings::secrets;
pub use source::{catchup, intake, liveapi};
pub use store::reach;
pub use watch::{monitor, proof, selftest, tunnel};

#[cfg(test)]
mod fuzz_seeds;
