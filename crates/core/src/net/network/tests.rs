//! Corporate networks against a real CONNECT proxy on loopback that
//! inspects TLS with its own CA (`corp-proxy`): the Alert API client and the
//! LiveAPI connection go through it (with and without proxy credentials),
//! trust its CA only when `ca_file` names it, and every failing leg is
//! named in words (never the API key). The hosts `*.sekoia.test` do not
//! resolve: only the proxy can reach them, so a pass proves the proxy was
//! used.

use super::*;
use crate::net::sekoia::{ApiKey, Client, ClientConfig, SekoiaError};
use crate::source::liveapi::{self, LiveError};
use corp_proxy::CorpProxy;
use fake_sekoia::live::FakeLive;
use fake_sekoia::FakeSekoia;
use std::time::Duration;

const API: &str = "https://api.sekoia.test/";
const LIVE: &str = "wss://live.sekoia.test/live";
const WAIT: Duration = Duration::from_secs(10);

fn addr(url: &Url) -> std::net::SocketAddr {
    url.socket_addrs(|| None).unwrap()[0]
}

struct Rig {
    proxy: CorpProxy,
    api: FakeSekoia,
    live: FakeLive,
    ca: tempfile::NamedTempFile,
}

impl Rig {
    async fn new(credentials: Option<(&str, &str)>) -> Rig {
        let proxy = CorpProxy::start(credentials).await;
        let api = FakeSekoia::start().await;
        let live = FakeLive::start(api.api_key()).await;
        proxy.route("api.sekoia.test", addr(&api.url()));
        proxy.route("live.sekoia.test", addr(&live.url()));
        let ca = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca.path(), proxy.ca_pem()).unwrap();
        Rig {
            proxy,
            api,
            live,
            ca,
        }
    }

    /// The proxy at `proxy_url`, its CA trusted or not.
    fn network(&self, proxy_url: &str, trust_ca: bool) -> Network {
        Network::new(&NetworkSettings {
            proxy: Some(ProxySetting::parse(proxy_url).unwrap()),
            ca_file: trust_ca.then(|| self.ca.path().to_path_buf()),
        })
        .unwrap()
    }

    fn client(&self, network: Network) -> Client {
        let config = ClientConfig {
            network,
            max_attempts: 1,
            ..ClientConfig::new(Url::parse(API).unwrap())
        };
        Client::new(config, self.key()).unwrap()
    }

    fn key(&self) -> ApiKey {
        ApiKey::new(self.api.api_key().to_owned()).unwrap()
    }
}

#[tokio::test]
async fn the_alert_api_goes_through_an_inspecting_proxy_whose_ca_is_in_ca_file() {
    let rig = Rig::new(Some(("ann", "s3cret"))).await;
    let network = rig.network(&rig.proxy.url_with("ann", "s3cret"), true);
    rig.client(network)
        .me()
        .await
        .expect("me through the proxy");
    let log = rig.proxy.log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].target, "api.sekoia.test:443");
    assert_eq!(log[0].user.as_deref(), Some("ann"));
    assert_eq!(log[0].status, 200);
    assert!(
        log[0].inspected,
        "the client trusted the proxy's certificate"
    );
    assert_eq!(rig.api.requests().len(), 1, "the request reached the API");
}

#[tokio::test]
async fn the_alert_api_and_the_liveapi_go_through_a_proxy_without_credentials() {
    let rig = Rig::new(None).await;
    let network = rig.network(&rig.proxy.url(), true);
    rig.client(network.clone())
        .me()
        .await
        .expect("me through the proxy");
    let url = Url::parse(LIVE).unwrap();
    liveapi::probe(&url, &rig.key(), WAIT, &network)
        .await
        .expect("the LiveAPI through the proxy");
    let log = rig.proxy.log();
    let targets: Vec<_> = log.iter().map(|c| c.target.as_str()).collect();
    assert_eq!(targets, ["api.sekoia.test:443", "live.sekoia.test:443"]);
    assert!(
        log.iter().all(|c| c.user.is_none() && c.inspected),
        "{log:?}"
    );
}

#[tokio::test]
async fn an_untrusted_inspection_ca_is_named_as_such_and_never_blamed_on_the_key() {
    let rig = Rig::new(None).await;
    let network = rig.network(&rig.proxy.url(), false);
    let err = rig.client(network).me().await.unwrap_err();
    let SekoiaError::Connection(Failure::UntrustedViaProxy { host, reason, .. }) = &err else {
        panic!("not a certificate failure: {err:?}");
    };
    assert_eq!(host, "api.sekoia.test");
    assert_eq!(reason, "issued by an unknown authority");
    let words = err.to_string();
    assert!(
        words.contains("not trusted") && words.contains("ca_file"),
        "{words}"
    );
    assert!(!words.to_lowercase().contains("key"), "{words}");
    assert!(!err.is_rejection());
    assert!(rig.api.requests().is_empty(), "nothing reached the API");
}

#[tokio::test]
async fn missing_and_wrong_proxy_credentials_are_named_without_the_password() {
    let rig = Rig::new(Some(("ann", "s3cret"))).await;
    let network = rig.network(&rig.proxy.url(), true);
    let err = rig.client(network).me().await.unwrap_err();
    assert!(
        matches!(
            err,
            SekoiaError::Connection(Failure::ProxyAuthMissing { .. })
        ),
        "{err:?}"
    );
    let network = rig.network(&rig.proxy.url_with("ann", "wrong-pw"), true);
    let err = rig.client(network).me().await.unwrap_err();
    assert!(
        matches!(
            err,
            SekoiaError::Connection(Failure::ProxyAuthRefused { .. })
        ),
        "{err:?}"
    );
    let words = err.to_string();
    assert!(
        words.contains("407") && !words.contains("wrong-pw"),
        "{words}"
    );
    assert!(rig.proxy.log().iter().all(|c| c.status == 407));
}

#[tokio::test]
async fn the_liveapi_websocket_goes_through_the_proxy_with_connect() {
    let rig = Rig::new(Some(("ann", "s3cret"))).await;
    let network = rig.network(&rig.proxy.url_with("ann", "s3cret"), true);
    let url = Url::parse(LIVE).unwrap();
    liveapi::probe(&url, &rig.key(), WAIT, &network)
        .await
        .expect("the LiveAPI through the proxy");
    let log = rig.proxy.log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].target, "live.sekoia.test:443");
    assert_eq!(log[0].user.as_deref(), Some("ann"));
    assert!(log[0].inspected);
    assert_eq!(
        rig.live.attempts().len(),
        1,
        "the upgrade reached the LiveAPI"
    );
}

#[tokio::test]
async fn the_liveapi_names_an_untrusted_proxy_and_refused_credentials() {
    let rig = Rig::new(Some(("ann", "s3cret"))).await;
    let url = Url::parse(LIVE).unwrap();
    let untrusted = rig.network(&rig.proxy.url_with("ann", "s3cret"), false);
    let err = liveapi::probe(&url, &rig.key(), WAIT, &untrusted)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LiveError::Network(Failure::UntrustedViaProxy { .. })),
        "{err:?}"
    );
    assert!(!err.is_rejection());
    let wrong = rig.network(&rig.proxy.url_with("ann", "nope"), true);
    let err = liveapi::probe(&url, &rig.key(), WAIT, &wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LiveError::Network(Failure::ProxyAuthRefused { .. })),
        "{err:?}"
    );
    assert!(rig.live.attempts().is_empty());
}

#[tokio::test]
async fn diagnose_names_each_leg_in_turn() {
    let rig = Rig::new(None).await;
    let api = Url::parse(API).unwrap();
    let route = diagnose(&rig.network(&rig.proxy.url(), true), &api, WAIT)
        .await
        .unwrap();
    assert_eq!(
        route.to_string(),
        format!("through the proxy {}", rig.proxy.url())
    );
    let failure = diagnose(&rig.network(&rig.proxy.url(), false), &api, WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(failure, Failure::UntrustedViaProxy { .. }),
        "{failure:?}"
    );
    // A proxy that is not there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let failure = diagnose(&rig.network(&gone, true), &api, WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(failure, Failure::ProxyUnreachable { .. }),
        "{failure:?}"
    );
    // A host the proxy has no route to.
    let nowhere = Url::parse("https://nowhere.sekoia.test/").unwrap();
    let failure = diagnose(&rig.network(&rig.proxy.url(), true), &nowhere, WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(
            failure,
            Failure::ProxyRefused {
                status: Some(502),
                ..
            }
        ),
        "{failure:?}"
    );
}

#[test]
fn proxy_none_ignores_the_environment_and_a_fixed_proxy_is_chosen_for_every_scheme() {
    let off = Network::new(&NetworkSettings {
        proxy: Some(ProxySetting::Off),
        ca_file: None,
    })
    .unwrap();
    assert!(off.proxy_for(&Url::parse(API).unwrap()).is_none());
    let fixed = Network::new(&NetworkSettings {
        proxy: Some(ProxySetting::parse("http://u:p@10.0.0.1:3128").unwrap()),
        ca_file: None,
    })
    .unwrap();
    for target in [API, LIVE, "http://example.com/"] {
        let route = fixed.proxy_for(&Url::parse(target).unwrap()).unwrap();
        assert_eq!(route.shown, "http://10.0.0.1:3128", "{target}");
        assert!(route.auth.is_some());
    }
    assert!(!format!("{fixed:?}").contains("u:p"));
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("corp-ca.pem");
    let err = Network::new(&NetworkSettings {
        proxy: None,
        ca_file: Some(missing.clone()),
    })
    .unwrap_err();
    assert!(
        matches!(err, NetworkError::CaFileUnreadable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("corp-ca.pem"), "{err}");
    std::fs::write(&missing, "not a certificate\n").unwrap();
    let err = Network::new(&NetworkSettings {
        proxy: None,
        ca_file: Some(missing),
    })
    .unwrap_err();
    assert!(matches!(err, NetworkError::CaFileEmpty { .. }), "{err:?}");
}
