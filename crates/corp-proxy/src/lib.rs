//! A corporate proxy for tests, on `127.0.0.1:0`: it answers HTTP
//! `CONNECT host:port` (checking `Proxy-Authorization: Basic` when given
//! credentials: 407 otherwise), then inspects TLS the way corporate
//! proxies do: it completes the client's TLS handshake itself with a
//! certificate for `host` signed by its own CA (generated at start, see
//! [`CorpProxy::ca_pem`]), and relays the decrypted bytes to the upstream a
//! test routed `host` to (a loopback fake speaking plain HTTP). Every
//! CONNECT is logged. Test support only: never a dependency of shipped code.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// One CONNECT the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// `host:port` as asked.
    pub target: String,
    /// The user of the request's Basic credentials, if any.
    pub user: Option<String>,
    /// What the proxy answered (200, 407, 502).
    pub status: u16,
    /// The client finished the TLS handshake with the proxy's certificate
    /// (it trusts the proxy's CA).
    pub inspected: bool,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, SocketAddr>,
    log: Vec<Connect>,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem: String,
}

/// The running proxy; stops when dropped.
pub struct CorpProxy {
    addr: SocketAddr,
    ca_pem: String,
    shared: Shared,
    _shutdown: oneshot::Sender<()>,
}

impl CorpProxy {
    /// Starts on the current runtime. `credentials`: the user and password
    /// a CONNECT must carry (`None`: no authentication).
    ///
    /// # Panics
    /// When no loopback port can be bound or the CA cannot be made: a test
    /// cannot go on without them.
    pub async fn start(credentials: Option<(&str, &str)>) -> CorpProxy {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("corp-proxy could not bind 127.0.0.1:0: {e}"),
        };
        let (proxy, rx, ca, expected) = prepare(&listener, credentials);
        tokio::spawn(accept_loop(
            listener,
            proxy.shared.clone(),
            ca,
            expected,
            rx,
        ));
        proxy
    }

    /// Starts on its own runtime thread, for tests that are not async.
    ///
    /// # Panics
    /// As [`CorpProxy::start`], or when the runtime cannot start.
    pub fn start_blocking(credentials: Option<(&str, &str)>) -> CorpProxy {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => panic!("corp-proxy runtime: {e}"),
        };
        let listener = runtime.block_on(async { TcpListener::bind("127.0.0.1:0").await });
        let listener = match listener {
            Ok(l) => l,
            Err(e) => panic!("corp-proxy could not bind 127.0.0.1:0: {e}"),
        };
        let (proxy, rx, ca, expected) = prepare(&listener, credentials);
        let shared = proxy.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("corp-proxy".into())
            .spawn(move || runtime.block_on(accept_loop(listener, shared, ca, expected, rx)));
        if let Err(e) = spawned {
            panic!("corp-proxy thread: {e}");
        }
        proxy
    }

    /// `http://127.0.0.1:PORT` (without credentials).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://user:password@127.0.0.1:PORT`.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// The proxy's CA certificate, PEM: what a company installs on its
    /// machines.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Relays tunnels to `host` (any port) to `upstream`.
    pub fn route(&self, host: &str, upstream: SocketAddr) {
        lock(&self.shared)
            .routes
            .insert(host.to_ascii_lowercase(), upstream);
    }

    /// Every CONNECT so far, oldest first.
    pub fn log(&self) -> Vec<Connect> {
        lock(&self.shared).log.clone()
    }
}

fn prepare(
    listener: &TcpListener,
    credentials: Option<(&str, &str)>,
) -> (CorpProxy, oneshot::Receiver<()>, Arc<Ca>, Option<String>) {
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("corp-proxy address: {e}"),
    };
    let ca = match make_ca(addr.port()) {
        Ok(ca) => Arc::new(ca),
        Err(e) => panic!("corp-proxy CA: {e}"),
    };
    let expected = credentials.map(|(user, password)| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    });
    let (tx, rx) = oneshot::channel();
    let proxy = CorpProxy {
        addr,
        ca_pem: ca.pem.clone(),
        shared: Shared::default(),
        _shutdown: tx,
    };
    (proxy, rx, ca, expected)
}

/// A CA named after the proxy's port: two proxies' CAs never share a name.
fn make_ca(port: u16) -> Result<Ca, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(
        DnType::CommonName,
        format!("Corp TLS Inspection CA (test proxy on port {port})"),
    );
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
    let pem = issuer.pem();
    Ok(Ca { issuer, pem })
}

/// A server config presenting a certificate for `host` signed by the CA.
fn impersonate(ca: &Ca, host: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params = CertificateParams::new(vec![host.to_owned()]).map_err(|e| e.to_string())?;
    params.distinguished_name.push(DnType::CommonName, host);
    let cert = params
        .signed_by(&key, &ca.issuer)
        .map_err(|e| e.to_string())?;
    let chain = vec![cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Shared,
    ca: Arc<Ca>,
    expected: Option<String>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else { continue };
        tokio::spawn(serve(stream, shared.clone(), ca.clone(), expected.clone()));
    }
}

/// The request head, up to the blank line (at most 16 KiB).
async fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("request head too long"));
        }
        head.push(stream.read_u8().await?);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

async fn serve(mut client: TcpStream, shared: Shared, ca: Arc<Ca>, expected: Option<String>) {
    let Ok(head) = read_head(&mut client).await else {
        return;
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let target = target.to_owned();
    let auth = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, value)| value.trim().to_owned());
    let user = auth.as_deref().and_then(basic_user);
    let host = target
        .rsplit_once(':')
        .map_or(target.as_str(), |(h, _)| h)
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    let upstream = lock(&shared).routes.get(&host).copied();
    let status = match (&expected, upstream) {
        (Some(want), _) if auth.as_deref() != Some(want.as_str()) => 407,
        (_, None) => 502,
        _ => 200,
    };
    let index = {
        let mut state = lock(&shared);
        state.log.push(Connect {
            target: target.clone(),
            user,
            status,
            inspected: false,
        });
        state.log.len() - 1
    };
    let answer: &[u8] = match status {
        407 => b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n",
        502 => b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
        _ => b"HTTP/1.1 200 Connection established\r\n\r\n",
    };
    if client.write_all(answer).await.is_err() {
        return;
    }
    let Some(upstream) = upstream.filter(|_| status == 200) else {
        return;
    };
    let Ok(config) = impersonate(&ca, &host) else {
        return;
    };
    // The client's handshake fails here when it does not trust the CA.
    let Ok(mut tls) = tokio_rustls::TlsAcceptor::from(config).accept(client).await else {
        return;
    };
    if let Some(entry) = lock(&shared).log.get_mut(index) {
        entry.inspected = true;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
}

/// The user of `Basic base64(user:password)`.
fn basic_user(value: &str) -> Option<String> {
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(u, _)| u.to_owned())
}
