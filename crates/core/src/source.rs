//! Stage 8, sources: how notifications come in. The webhook listener
//! (`intake`: secret check, rate limit, 202 only after the commit), the
//! LiveAPI WebSocket of direct mode (`liveapi`), and the catch-up from the
//! Alert API after a stop or a gap (`catchup`). Each hands events to the
//! store's writer; everything after the store is the same for all three.
//!
//! Owns: accepting, refusing and acknowledging what arrives. Must not:
//! enrich or pop up an event itself (the catch-up's one summary pop-up
//! goes through `deliver`), or import `watch` or `engine`.

pub mod catchup;
pub mod intake;
pub mod liveapi;
