//! How outgoing connections leave the machine, for every client the engine
//! has (Alert API, LiveAPI, forwarders, self-test): the trusted roots
//! (bundled webpki roots, the OS trust store or `SSL_CERT_FILE`/
//! `SSL_CERT_DIR`, and `[network] ca_file`) in one rustls config on the
//! ring provider, and the proxy (the `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`
//! environment as reqwest reads it, or `[network] proxy`). `tunnel` opens a
//! connection through a proxy with CONNECT (the LiveAPI's WebSocket) and
//! `diagnose` tries each leg in turn for `check`; [`Failure`] words what
//! failed (the proxy, its credentials, a certificate) so a TLS failure is
//! never blamed on the API key. [`read_capped`] reads every answer from
//! outside with a cap.
//!
//! Must not: show a proxy password (only `scheme://host:port` appears in
//! messages and logs), add a second TLS stack, or decide about retries.
//!
//! In detail: how connections leave the machine, for every client: one rustls
//! config on ring with the bundled webpki roots, the OS trust store
//! (rustls-native-certs; `SSL_CERT_FILE`/`SSL_CERT_DIR` replace it) and
//! `[network] ca_file` (`network::config::NetworkSettings`); the proxy rule (the
//! environment as reqwest reads it, through hyper-util's `Matcher`, or
//! `[network] proxy`, or none). `Network::http_client()` is the reqwest builder
//! every client starts from; `open` connects through an HTTP proxy's CONNECT
//! tunnel (Basic credentials) for the WebSocket; `diagnose` tries each leg
//! (proxy, tunnel, TLS handshake) for `check`; `explain` reads a failed
//! request's error chain; `Failure` words the failing leg (proxy unreachable,
//! 407, tunnel refused, certificate not trusted through the proxy or direct)
//! and is never a key problem. Proxy passwords never leave it
//! (`scheme://host:port` only).

mod body;
pub mod config;
mod diagnose;
mod tunnel;

pub use body::{read_capped, BodyError};
pub use diagnose::{diagnose, explain, Route};
pub use tunnel::{open, Opened};

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hyper_util::client::proxy::matcher::Matcher;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use url::Url;

use config::{shown_url as shown_proxy_url, NetworkSettings, ProxySetting};

/// What can go wrong preparing the network settings (at engine start).
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network.ca_file {} cannot be read ({detail}); fix the path in config.toml", .path.display())]
    CaFileUnreadable { path: PathBuf, detail: String },
    #[error("network.ca_file {} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\"); give a PEM file of CA certificates", .path.display())]
    CaFileEmpty { path: PathBuf },
    #[error("the TLS settings could not be built ({detail})")]
    Tls { detail: String },
    #[error("network.proxy is unusable by the HTTP client ({detail}); fix it in config.toml")]
    Proxy { detail: String },
}

/// Why a connection failed, leg by leg, in words. Never holds a password
/// or a URL's path or query (a webhook URL's path is a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("could not reach the proxy {proxy} ({detail}); check {from}")]
    ProxyUnreachable {
        proxy: String,
        from: &'static str,
        detail: String,
    },
    #[error("the proxy {proxy} asks for a user and password (407); put them in {from} as http://user:password@host:port")]
    ProxyAuthMissing { proxy: String, from: &'static str },
    #[error("the proxy {proxy} refused the user and password from {from} (407); check them")]
    ProxyAuthRefused { proxy: String, from: &'static str },
    #[error("the proxy {proxy} refused to open a tunnel to {target}{}; ask its administrators to allow {target}, or list it in NO_PROXY if it must be reached directly", status_words(.status))]
    ProxyRefused {
        proxy: String,
        target: String,
        status: Option<u16>,
    },
    #[error("the proxy {proxy} did not answer CONNECT like an HTTP proxy; check {from} names an HTTP proxy")]
    ProxyGarbled { proxy: String, from: &'static str },
    #[error("the proxy {proxy} is an https:// proxy, which the LiveAPI connection does not support yet; use the proxy's http:// address in [network] proxy")]
    ProxyUnsupported { proxy: String },
    #[error("could not reach {host} ({detail}); check the network and the URL")]
    Unreachable { host: String, detail: String },
    #[error("the certificate presented for {host} through the proxy {proxy} is not trusted ({reason}): the proxy inspects TLS; add its CA certificate to the OS trust store, SSL_CERT_FILE or [network] ca_file")]
    UntrustedViaProxy {
        host: String,
        proxy: String,
        reason: String,
    },
    #[error("the certificate of {host} is not trusted ({reason}); if a TLS-inspecting proxy or firewall sits in between, add its CA certificate to the OS trust store, SSL_CERT_FILE or [network] ca_file")]
    Untrusted { host: String, reason: String },
    #[error("the TLS handshake with {host} failed ({detail})")]
    Tls { host: String, detail: String },
    #[error("{leg} did not answer within {secs} s")]
    Timeout { leg: String, secs: u64 },
}

/// ` (HTTP 403)` or nothing.
fn status_words(status: &Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

/// The proxy rule in force.
#[derive(Clone, Debug)]
enum Proxy {
    /// The environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`,
    /// upper or lower case), as reqwest itself reads it.
    Environment,
    /// `[network] proxy = "none"`.
    Off,
    /// `[network] proxy = URL`; `NO_PROXY` still applies.
    Fixed(Url),
}

/// The network settings in force: cheap to clone (shared).
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

struct Inner {
    tls: Arc<rustls::ClientConfig>,
    proxy: Proxy,
    matcher: Matcher,
    trust: Trust,
}

/// Where the trusted roots came from, for `check`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// Bundled Mozilla roots (webpki-roots).
    pub bundled: usize,
    /// The OS trust store, or the `SSL_CERT_FILE`/`SSL_CERT_DIR` files in its place.
    pub system: usize,
    /// Whether `SSL_CERT_FILE` or `SSL_CERT_DIR` replaced the OS store.
    pub system_from_env: bool,
    /// From `[network] ca_file`.
    pub ca_file: usize,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("proxy", &self.proxy_summary())
            .field("trust", &self.inner.trust)
            .finish()
    }
}

impl Default for Network {
    fn default() -> Self {
        Network::system()
    }
}

/// The OS trust store (or the `SSL_CERT_*` files), read once per process:
/// reading it costs a few milliseconds and it does not change while we run.
fn system_roots() -> &'static (Vec<CertificateDer<'static>>, bool) {
    static ROOTS: OnceLock<(Vec<CertificateDer<'static>>, bool)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let from_env = std::env::var_os("SSL_CERT_FILE").is_some()
            || std::env::var_os("SSL_CERT_DIR").is_some();
        let loaded = rustls_native_certs::load_native_certs();
        for e in &loaded.errors {
            tracing::warn!(error = %e, "some certificates of the OS trust store could not be read");
        }
        (loaded.certs, from_env)
    })
}

impl Network {
    /// The environment's proxy and the OS trust store with the bundled
    /// roots: what applies without a `[network]` section. Built once per
    /// process (the environment does not change while we run).
    pub fn system() -> Network {
        static SYSTEM: OnceLock<Network> = OnceLock::new();
        SYSTEM
            .get_or_init(|| match Network::new(&NetworkSettings::default()) {
                Ok(network) => network,
                // Unreachable without a ca_file; keep the bundled roots only.
                Err(_) => Network::build(Vec::new(), Proxy::Environment, Trust::default()),
            })
            .clone()
    }

    /// The settings in force: reads `ca_file` now. Errors name the file.
    pub fn new(settings: &NetworkSettings) -> Result<Network, NetworkError> {
        let (system, system_from_env) = system_roots();
        let mut extra = system.clone();
        let mut trust = Trust {
            system: system.len(),
            system_from_env: *system_from_env,
            ..Trust::default()
        };
        if let Some(path) = &settings.ca_file {
            let certs = read_ca_file(path)?;
            trust.ca_file = certs.len();
            extra.extend(certs);
        }
        let proxy = match &settings.proxy {
            None => Proxy::Environment,
            Some(ProxySetting::Off) => Proxy::Off,
            Some(ProxySetting::Url(url)) => Proxy::Fixed(url.clone()),
        };
        Ok(Network::build(extra, proxy, trust))
    }

    fn build(extra: Vec<CertificateDer<'static>>, proxy: Proxy, mut trust: Trust) -> Network {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        trust.bundled = roots.len();
        // The OS store holds certificates rustls cannot use (old or odd
        // encodings): those are skipped, the rest added.
        let (_added, ignored) = roots.add_parsable_certificates(extra);
        if ignored > 0 {
            tracing::debug!(
                ignored,
                "trusted certificates rustls cannot parse were skipped"
            );
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = match rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
        {
            Ok(builder) => builder.with_root_certificates(roots).with_no_client_auth(),
            // Only with a provider lacking every safe version, which ring is not.
            Err(_) => rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        };
        let matcher = match &proxy {
            Proxy::Environment => Matcher::from_env(),
            Proxy::Off => Matcher::builder().build(),
            Proxy::Fixed(url) => Matcher::builder()
                .all(url.as_str().to_owned())
                .no(no_proxy_env())
                .build(),
        };
        Network {
            inner: Arc::new(Inner {
                tls: Arc::new(tls),
                proxy,
                matcher,
                trust,
            }),
        }
    }

    /// The rustls client config: every trusted root, the ring provider.
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.inner.tls.clone()
    }

    /// Where the roots came from.
    pub fn trust(&self) -> &Trust {
        &self.inner.trust
    }

    /// A reqwest builder with these roots and this proxy rule; the caller
    /// adds timeouts, headers and redirects.
    pub fn http_client(&self) -> Result<reqwest::ClientBuilder, NetworkError> {
        let builder = reqwest::Client::builder().use_preconfigured_tls((*self.inner.tls).clone());
        Ok(match &self.inner.proxy {
            // reqwest reads the same variables itself.
            Proxy::Environment => builder,
            Proxy::Off => builder.no_proxy(),
            Proxy::Fixed(url) => builder.proxy(
                reqwest::Proxy::all(url.as_str())
                    .map_err(|e| NetworkError::Proxy {
                        detail: e.to_string().replace(url.as_str(), &shown_proxy_url(url)),
                    })?
                    .no_proxy(reqwest::NoProxy::from_string(&no_proxy_env())),
            ),
        })
    }

    /// The proxy a connection to `url` goes through, if any (`ws`/`wss`
    /// count as `http`/`https`).
    pub fn proxy_for(&self, url: &Url) -> Option<ProxyRoute> {
        let scheme = match url.scheme() {
            "wss" | "https" => "https",
            "ws" | "http" => "http",
            _ => return None,
        };
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        let uri: http::Uri = format!("{scheme}://{}:{port}/", bracketed(host))
            .parse()
            .ok()?;
        let intercept = self.inner.matcher.intercept(&uri)?;
        let proxy_uri = intercept.uri();
        let proxy_url = Url::parse(&proxy_uri.to_string()).ok()?;
        Some(ProxyRoute {
            shown: shown_proxy_url(&proxy_url),
            url: proxy_url,
            auth: intercept.basic_auth().cloned(),
            from: self.proxy_source(scheme),
        })
    }

    /// Where the proxy rule comes from, for messages.
    fn proxy_source(&self, scheme: &str) -> &'static str {
        match (&self.inner.proxy, scheme) {
            (Proxy::Fixed(_), _) => "[network] proxy in config.toml",
            (_, "https") => "HTTPS_PROXY (or ALL_PROXY)",
            _ => "HTTP_PROXY (or ALL_PROXY)",
        }
    }

    /// One line for `check`: the proxy rule and where the roots come from.
    pub fn summary(&self) -> String {
        let trust = &self.inner.trust;
        let mut roots = format!("{} bundled", trust.bundled);
        if trust.system_from_env {
            roots.push_str(&format!(
                ", {} from SSL_CERT_FILE/SSL_CERT_DIR",
                trust.system
            ));
        } else {
            roots.push_str(&format!(", {} from the OS trust store", trust.system));
        }
        if trust.ca_file > 0 {
            roots.push_str(&format!(", {} from network.ca_file", trust.ca_file));
        }
        format!("{}; trusted roots: {roots}", self.proxy_summary())
    }

    fn proxy_summary(&self) -> String {
        match &self.inner.proxy {
            Proxy::Off => "no proxy ([network] proxy = \"none\")".to_owned(),
            Proxy::Fixed(url) => format!("proxy {} from config.toml", shown_proxy_url(url)),
            Proxy::Environment => {
                let https = Url::parse("https://api.sekoia.io/")
                    .ok()
                    .and_then(|u| self.proxy_for(&u));
                match https {
                    Some(route) => format!("proxy {} from the environment", route.shown),
                    None => "no proxy".to_owned(),
                }
            }
        }
    }
}

/// The proxy chosen for one destination.
#[derive(Clone)]
pub struct ProxyRoute {
    /// The proxy's URL, credentials included: never shown.
    url: Url,
    /// `Basic …` from the URL's user and password.
    auth: Option<http::HeaderValue>,
    /// `scheme://host:port`, for messages.
    pub shown: String,
    /// Which setting named it, for messages.
    pub from: &'static str,
}

impl std::fmt::Debug for ProxyRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyRoute({} from {})", self.shown, self.from)
    }
}

/// `NO_PROXY` or `no_proxy`, empty when neither is set.
fn no_proxy_env() -> String {
    std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .unwrap_or_default()
}

/// An IPv6 literal in brackets, as a URI authority wants it.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Every certificate of a PEM file; an error names the file.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, NetworkError> {
    let bytes = std::fs::read(path).map_err(|e| NetworkError::CaFileUnreadable {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(NetworkError::CaFileEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests;
