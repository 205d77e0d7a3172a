//! The app's own test events, as every stage recognises them: the type a
//! self-test or a probe posts, the probe's action and the mark of a test
//! that only reached the local listener. The store keeps them read, the
//! policy words their pop-up, the self-test (`watch::selftest`) sends them.
//!
//! Owns: those names and marks. Must not: send, store or show anything.

/// The event type of test events; the policy shows them, except probes.
pub const TEST_TYPE: &str = "notifier-test";
/// The action of the engine's own periodic probes: no pop-up, and the event
/// is removed once seen (a test the user asked for is `created`).
pub const PROBE_ACTION: &str = "probe";

/// What a test that only reached the local listener proved, in words.
pub const LOCAL_ONLY: &str =
    "delivered locally; Sekoia.io cannot reach this machine yet (no tunnel)";

/// The uuid prefix of a test event posted to the local listener only.
pub(crate) const LOCAL_PREFIX: &str = "test-local-";

/// Whether the test event with this `attributes.uuid` went to the local
/// listener only (its pop-up must not claim that webhooks work).
pub fn delivered_locally(uuid: &str) -> bool {
    uuid.starts_with(LOCAL_PREFIX)
}
