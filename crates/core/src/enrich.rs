//! Stage 7, enrichment: the worker between the store and delivery. The
//! `pipeline` takes unhandled events in arrival order, fetches the alerts
//! they are about through the API client (`net::sekoia`) within a
//! deadline, records the batch through the store's writer (cache,
//! failures, handled marks, queued forwards), then hands the pop-ups to
//! delivery (`deliver`: policy, storm budget, sinks).
//!
//! Owns: the order events are handled in and what is owed a retry. Must
//! not: accept events from outside (that is `source`), decide pop-up text
//! (that is `deliver::policy`), or import `source`, `watch` or `engine`.

pub mod pipeline;
