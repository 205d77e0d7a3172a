//! Stage 1, the model: what a Sekoia.io notification is and what it means,
//! as every other stage reads it. The notification (`event`) and its kinds
//! (`kind`), the alert and case as the API returns them (`alert`), the one
//! urgency scale (`urgency`), what a change of an alert's state means for
//! its pop-up (`revision`), the links to Sekoia.io's pages (`link`), what
//! a short text read from a payload may be (`text`), the app's own test
//! events (`test_event`) and the engine's health in words (`health`).
//!
//! Owns: pure types and functions. Must not: do I/O of any kind (files,
//! network, clock, processes), or import from any other stage: it is the
//! bottom layer.

pub mod alert;
pub mod event;
pub mod health;
pub mod kind;
pub mod link;
pub mod revision;
pub mod test_event;
pub mod text;
pub mod urgency;
