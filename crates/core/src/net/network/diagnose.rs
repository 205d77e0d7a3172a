//! Which leg of a connection failed, in words: `diagnose` tries the legs in
//! turn (the proxy, its tunnel, the destination's certificate) for `check`;
//! `explain` reads a failed request's error chain (reqwest's or
//! tungstenite's) for the same words, when it is about the proxy or a
//! certificate.
//!
//! Must not: send anything to the destination beyond the TLS handshake (the
//! API key is never involved here).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use rustls::pki_types::ServerName;
use url::Url;

use super::{open, Failure, Network, ProxyRoute};

/// How a destination was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `scheme://host:port` of the proxy, `None` when direct.
    pub proxy: Option<String>,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.proxy {
            Some(p) => write!(f, "through the proxy {p}"),
            None => f.write_str("directly"),
        }
    }
}

/// Opens a connection to `target` the way the clients do (proxy, tunnel,
/// then the TLS handshake for `https`/`wss` with the trusted roots) and
/// closes it. `wait` bounds each leg. Sends no request.
pub async fn diagnose(network: &Network, target: &Url, wait: Duration) -> Result<Route, Failure> {
    let opened = open(network, target, wait).await?;
    let route = Route {
        proxy: opened.proxy.as_ref().map(|p| p.shown.clone()),
    };
    if !matches!(target.scheme(), "https" | "wss") {
        return Ok(route);
    }
    let host = target.host_str().unwrap_or("?").to_owned();
    let name = match target.host() {
        Some(url::Host::Ipv4(a)) => ServerName::from(std::net::IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => ServerName::from(std::net::IpAddr::V6(a)),
        _ => ServerName::try_from(host.clone()).map_err(|_| Failure::Tls {
            host: host.clone(),
            detail: "the host is not a valid TLS name".to_owned(),
        })?,
    };
    let connector = tokio_rustls::TlsConnector::from(network.tls());
    match tokio::time::timeout(wait, connector.connect(name, opened.stream)).await {
        Err(_) => Err(Failure::Timeout {
            leg: format!("the TLS handshake with {host}"),
            secs: wait.as_secs(),
        }),
        Ok(Err(e)) => Err(match rustls_error(&e) {
            Some(tls) => tls_failure(&host, opened.proxy.as_ref(), tls),
            None => Failure::Tls {
                host,
                detail: e.to_string(),
            },
        }),
        Ok(Ok(_)) => Ok(route),
    }
}

/// The words for `err`, a failed connection to `target`, when its cause is
/// a certificate or the proxy; `None` for anything else (the caller keeps
/// its own message). reqwest's CONNECT errors come from hyper-util, whose
/// error type is not exported: they are recognised by their text.
pub fn explain(network: &Network, target: &Url, err: &(dyn StdError + 'static)) -> Option<Failure> {
    let proxy = network.proxy_for(target);
    let host = target.host_str().unwrap_or("?").to_owned();
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(tls) = rustls_error(e) {
            return Some(tls_failure(&host, proxy.as_ref(), tls));
        }
        if let Some(route) = &proxy {
            let text = e.to_string();
            if text.ends_with("proxy authorization required") {
                return Some(if route.auth.is_some() {
                    Failure::ProxyAuthRefused {
                        proxy: route.shown.clone(),
                        from: route.from,
                    }
                } else {
                    Failure::ProxyAuthMissing {
                        proxy: route.shown.clone(),
                        from: route.from,
                    }
                });
            }
            if text.ends_with("tunnel error: unsuccessful") {
                return Some(Failure::ProxyRefused {
                    proxy: route.shown.clone(),
                    target: format!("{host}:{}", target.port_or_known_default().unwrap_or(0)),
                    status: None,
                });
            }
            if text.ends_with("failed to create underlying connection") {
                let detail = e
                    .source()
                    .map_or_else(|| "connection failed".to_owned(), ToString::to_string);
                return Some(Failure::ProxyUnreachable {
                    proxy: route.shown.clone(),
                    from: route.from,
                    detail,
                });
            }
        }
        cause = e.source();
    }
    None
}

/// A rustls error itself or inside an `io::Error` (tokio-rustls wraps it).
fn rustls_error<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    e.downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

fn tls_failure(host: &str, proxy: Option<&ProxyRoute>, err: &rustls::Error) -> Failure {
    let rustls::Error::InvalidCertificate(cert) = err else {
        return Failure::Tls {
            host: host.to_owned(),
            detail: err.to_string(),
        };
    };
    use rustls::CertificateError as C;
    let reason = match cert {
        C::UnknownIssuer => "issued by an unknown authority".to_owned(),
        C::Expired | C::ExpiredContext { .. } => "expired".to_owned(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "issued for another name".to_owned()
        }
        C::BadSignature => "its signature does not verify".to_owned(),
        other => rustls::Error::InvalidCertificate(other.clone()).to_string(),
    };
    match proxy {
        Some(route) => Failure::UntrustedViaProxy {
            host: host.to_owned(),
            proxy: route.shown.clone(),
            reason,
        },
        None => Failure::Untrusted {
            host: host.to_owned(),
            reason,
        },
    }
}
