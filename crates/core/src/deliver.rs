//! Stage 6, delivery: what reaches a person, and how. The pop-up and its
//! `Sink` seam (`notify`: the freedesktop server, native backends), what an
//! event raises and what its pop-up says (`policy`), the storm budget
//! (`storm`), sounds, residency and reminders (`escalation`), do not
//! disturb (`pause`), the deadline around every pop-up (`bounded`), the
//! team-chat bodies and their POST (`forward`), the durable forward queue's
//! workers (`outbox`), and acting on an alert from a pop-up or the feed
//! (`triage`).
//!
//! Owns: deciding and delivering, given an event and what is known of its
//! alert. Must not: enrich (it never fetches an alert to decide; the
//! pipeline hands it one), read events from a source, or import `enrich`,
//! `source`, `watch` or `engine`.

pub mod bounded;
pub mod escalation;
pub mod forward;
pub mod notify;
pub mod outbox;
pub mod pause;
pub mod policy;
pub mod storm;
pub mod triage;
