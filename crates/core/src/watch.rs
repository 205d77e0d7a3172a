//! Stage 9, the watch beside the flow: whether Sekoia.io can reach us and
//! whether what we show is true. The tunnel supervisor (`tunnel`), this
//! start's URL proof (`proof`), the delivery self-test (`selftest`), and
//! the monitor that runs them and feeds the health (`monitor`).
//!
//! Owns: probing and recording reachability and health. Must not: handle
//! an alert's event (its own test events only), or import `engine`.

pub mod monitor;
pub mod proof;
pub mod selftest;
pub mod tunnel;
