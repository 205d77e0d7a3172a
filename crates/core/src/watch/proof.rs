//! Proof that a public URL leads to this engine's listener, before any
//! request carries the hook secret there. Each engine start draws a nonce
//! and an answer (128 random bits each); the listener answers
//! `GET /proof/<nonce>` with the answer, and a self-test (the only request
//! the app sends with the secret) first asks `<base>/proof/<nonce>` and
//! goes on only when the answer comes back. A program that claims a URL
//! (a process answering on a tunnel agent's port, a tunnel pointed at
//! another port) and does not lead to us learns the nonce at most, never
//! the secret; the answer it cannot make up.
//!
//! The nonce and answer are recorded in the private `instance.json` so that
//! `sekoia-notifierd send-test` proves the URL the same way.
//!
//! Must not: log the nonce or the answer, or carry the hook secret.
//!
//! In detail: this start's URL proof (`Proof`: a nonce and an answer, 128
//! random bits each): the listener's `GET /proof/<nonce>` route (merged into
//! intake's router by the engine) and `check`, which the monitor and
//! `send-test` run (without the secret) before any self-test to a public URL;
//! recorded in `instance.json` for the CLI.

use crate::net::network::Network;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use url::Url;

/// Longest wait for the proof answer (connection, TLS, tunnel included).
pub const PROOF_DEADLINE: Duration = Duration::from_secs(15);

/// This start's nonce and answer (hex).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    nonce: String,
    answer: String,
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Proof(<redacted>)")
    }
}

/// Why a URL is not proven to lead to us.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProofError {
    #[error("cannot reach {url_host}: {detail}; the tunnel is down or the public URL is wrong (run `sekoia-notifierd check`)")]
    Unreachable { url_host: String, detail: String },
    #[error("{url_host} does not lead to this instance's listener ({what} to the proof request, sent without the secret): another program answers there, or the tunnel points elsewhere; the secret was not sent")]
    NotOurs { url_host: String, what: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Proof {
    /// A new nonce and answer. Errors: the OS has no randomness to give.
    pub fn new() -> Result<Proof, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Proof {
            nonce: hex(&bytes[..16]),
            answer: hex(&bytes[16..]),
        })
    }

    /// The route the listener adds: `GET /proof/<nonce>` answers the
    /// answer; any other nonce is a bare 404 (compared in constant time).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/proof/{nonce}", get(answer))
            .with_state(Arc::clone(self))
    }

    /// `<base>/proof/<nonce>`, for a hook URL `<base>/hooks/<secret>`.
    pub fn url_for(&self, hook: &Url) -> Option<Url> {
        let mut url = hook.clone();
        url.set_query(None);
        url.set_fragment(None);
        {
            let mut path = url.path_segments_mut().ok()?;
            path.pop_if_empty().pop().pop();
            path.extend(["proof", self.nonce.as_str()]);
        }
        Some(url)
    }

    /// Asks the base of `hook` for the proof, without the secret, through
    /// `network`, within [`PROOF_DEADLINE`]. Errors: unreachable, or an
    /// answer that is not ours.
    pub async fn check(&self, hook: &Url, network: &Network) -> Result<(), ProofError> {
        let url_host = hook.host_str().unwrap_or("the webhook URL").to_owned();
        let url = self.url_for(hook).ok_or_else(|| ProofError::NotOurs {
            url_host: url_host.clone(),
            what: "no path can be built".to_owned(),
        })?;
        let client = network
            .http_client()
            .map_err(|e| ProofError::Client(e.to_string()))?
            .timeout(PROOF_DEADLINE)
            .build()
            .map_err(|e| ProofError::Client(e.to_string()))?;
        let response = client.get(url).send().await.map_err(|e| {
            // The error text holds the URL (the nonce): keep the kind only.
            ProofError::Unreachable {
                url_host: url_host.clone(),
                detail: if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    "connection failed".to_owned()
                } else {
                    "request failed".to_owned()
                },
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProofError::NotOurs {
                url_host,
                what: format!("it answered {}", status.as_u16()),
            });
        }
        let body = crate::net::network::read_capped(response, 1024)
            .await
            .map_err(|e| ProofError::NotOurs {
                url_host: url_host.clone(),
                what: format!("its answer could not be read: {e}"),
            })?;
        if bool::from(body.as_ref().ct_eq(self.answer.as_bytes())) {
            Ok(())
        } else {
            Err(ProofError::NotOurs {
                url_host,
                what: "it gave another answer".to_owned(),
            })
        }
    }
}

async fn answer(State(proof): State<Arc<Proof>>, Path(nonce): Path<String>) -> impl IntoResponse {
    if bool::from(nonce.as_bytes().ct_eq(proof.nonce.as_bytes())) {
        (StatusCode::OK, proof.answer.clone()).into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn serve(router: Router) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }

    #[tokio::test]
    async fn our_listener_proves_the_url_and_a_stranger_does_not() {
        let proof = Arc::new(Proof::new().unwrap());
        let ours = serve(proof.router()).await;
        let network = Network::system();
        let hook = Url::parse(&format!("http://{ours}/hooks/the-secret")).unwrap();
        assert_eq!(
            proof.url_for(&hook).unwrap().path(),
            format!("/proof/{}", proof.nonce)
        );
        proof.check(&hook, &network).await.unwrap();
        // Another start of ours (another nonce) or a stranger echoing the
        // nonce back: not proven.
        let other = Arc::new(Proof::new().unwrap());
        let err = other.check(&hook, &network).await.unwrap_err();
        assert!(matches!(err, ProofError::NotOurs { .. }), "{err}");
        let echo = serve(Router::new().route(
            "/proof/{nonce}",
            get(|Path(n): Path<String>| async move { n }),
        ))
        .await;
        let theirs = Url::parse(&format!("http://{echo}/hooks/the-secret")).unwrap();
        let err = proof.check(&theirs, &network).await.unwrap_err();
        assert!(err.to_string().contains("another answer"), "{err}");
        assert!(!err.to_string().contains("the-secret"), "{err}");
        assert!(!format!("{proof:?}").contains(&proof.answer));
    }

    #[test]
    fn the_proof_path_replaces_the_hook_path_under_any_prefix() {
        let proof = Proof::new().unwrap();
        let hook = Url::parse("https://relay.example/team/hooks/s3cret?x=1").unwrap();
        let url = proof.url_for(&hook).unwrap();
        assert_eq!(
            url.as_str(),
            format!("https://relay.example/team/proof/{}", proof.nonce)
        );
    }
}
