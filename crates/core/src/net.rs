//! Stage 3, the network: how the engine talks to the outside. How every
//! connection leaves the machine (`network`: proxy, trusted roots, capped
//! bodies, its own `[network]` settings), the shared retry shape of the
//! HTTP clients (`retry`) and the Sekoia.io Alert and Case API client
//! (`sekoia`: rate limit, retries, circuit breaker, the API key type).
//!
//! Owns: outgoing connections and their deadlines. Must not: store
//! anything, show anything, or import any stage above `os` (it answers
//! with `model` types; what an answer means for a pop-up is `deliver`'s).

pub mod network;
pub mod retry;
pub mod sekoia;
