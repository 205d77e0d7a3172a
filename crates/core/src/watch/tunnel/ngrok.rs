//! What our own ngrok agent says, and nothing else: the address of its
//! agent API comes from its log output (`msg="starting web service"
//! addr=127.0.0.1:4041`), never from the well-known 127.0.0.1:4040 where
//! another project's agent may answer; and a tunnel from the API counts only
//! when its `config.addr` points at our listener's port. Otherwise Sekoia.io
//! could be told to post our secret to a stranger's app.
//!
//! Pure parsing; the supervisor (`tunnel`) does the I/O.

use std::net::SocketAddr;
use url::Url;

/// The agent API address in one of our agent's `--log stdout` lines, when
/// the line announces it. Only a loopback address is accepted.
pub(super) fn web_addr(line: &str) -> Option<SocketAddr> {
    if !line.contains("msg=\"starting web service\"") {
        return None;
    }
    let value = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("addr="))?
        .trim_matches('"');
    let addr: SocketAddr = value.parse().ok()?;
    addr.ip().is_loopback().then_some(addr)
}

/// The port a tunnel's `config.addr` forwards to: `http://localhost:8787`,
/// `localhost:8787`, `127.0.0.1:8787` or `8787`.
fn forwarded_port(addr: &str) -> Option<u16> {
    let addr = addr.trim();
    if let Ok(port) = addr.parse::<u16>() {
        return Some(port);
    }
    if addr.contains("://") {
        let url = Url::parse(addr).ok()?;
        let local = matches!(
            url.host_str(),
            Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
        );
        return local.then(|| url.port_or_known_default()).flatten();
    }
    let (host, port) = addr.rsplit_once(':')?;
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
        .then(|| port.parse().ok())
        .flatten()
}

/// ngrok agent `GET /api/tunnels`: the `public_url` of a tunnel that
/// forwards to `port` on this machine, https preferred; `None` when no
/// tunnel of the agent is ours.
pub(super) fn parse_tunnels(body: &[u8], port: u16) -> Option<Url> {
    #[derive(serde::Deserialize)]
    struct List {
        tunnels: Vec<serde_json::Value>,
    }
    let list: List = serde_json::from_slice(body).ok()?;
    let urls: Vec<Url> = list
        .tunnels
        .iter()
        .filter(|t| {
            t.pointer("/config/addr")
                .and_then(|a| a.as_str())
                .and_then(forwarded_port)
                == Some(port)
        })
        .filter_map(|t| t.get("public_url")?.as_str())
        .filter_map(|s| Url::parse(s).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .collect();
    urls.iter()
        .find(|u| u.scheme() == "https")
        .or_else(|| urls.first())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_address_is_read_from_our_agents_log_line() {
        let line = r#"t=2024-05-01T10:00:00+0000 lvl=info msg="starting web service" obj=web addr=127.0.0.1:4041 allow_hosts=[]"#;
        assert_eq!(web_addr(line), Some("127.0.0.1:4041".parse().unwrap()));
        let other = r#"t=2024-05-01T10:00:00+0000 lvl=info msg="started tunnel" obj=tunnels addr=http://localhost:8787"#;
        assert_eq!(web_addr(other), None);
        let public = r#"lvl=info msg="starting web service" obj=web addr=0.0.0.0:4040"#;
        assert_eq!(web_addr(public), None, "only loopback");
    }

    #[test]
    fn only_a_tunnel_to_our_port_counts() {
        let body = br#"{"tunnels":[
            {"public_url":"https://other-project.ngrok-free.app","proto":"https","config":{"addr":"http://localhost:3000"}},
            {"public_url":"http://ours.ngrok-free.app","proto":"http","config":{"addr":"http://localhost:8787"}},
            {"public_url":"https://ours.ngrok-free.app","proto":"https","config":{"addr":"http://localhost:8787"}}
        ]}"#;
        assert_eq!(
            parse_tunnels(body, 8787).unwrap().as_str(),
            "https://ours.ngrok-free.app/"
        );
        assert_eq!(
            parse_tunnels(body, 3000).unwrap().as_str(),
            "https://other-project.ngrok-free.app/"
        );
        assert_eq!(parse_tunnels(body, 9999), None);
        // No config.addr: not known to be ours.
        let bare = br#"{"tunnels":[{"public_url":"https://x.ngrok.app"}]}"#;
        assert_eq!(parse_tunnels(bare, 8787), None);
        for body in [
            &br#"{"tunnels":[],"uri":"/api/tunnels"}"#[..],
            br#"{"tunnels":[{"public_url":"tcp://0.tcp.ngrok.io:1234","config":{"addr":"8787"}}]}"#,
            br#"{"tunnels":[{"public_url":7,"config":{"addr":"8787"}}]}"#,
            br#"{"tunnels":"x"}"#,
            b"<html>",
        ] {
            assert_eq!(parse_tunnels(body, 8787), None);
        }
    }

    #[test]
    fn forwarded_port_reads_every_form_ngrok_writes() {
        for (addr, port) in [
            ("http://localhost:8787", Some(8787)),
            ("https://localhost:8443", Some(8443)),
            ("localhost:8787", Some(8787)),
            ("127.0.0.1:8787", Some(8787)),
            ("8787", Some(8787)),
            ("http://192.168.1.2:8787", None),
            ("foo.local:8787", None),
            ("http://localhost", Some(80)),
        ] {
            assert_eq!(forwarded_port(addr), port, "{addr}");
        }
    }
}
