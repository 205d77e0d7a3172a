//! A TCP connection to a destination, through an HTTP proxy's CONNECT
//! tunnel when the proxy rule names one for it (Basic credentials from the
//! proxy URL), for clients that are not reqwest (the LiveAPI WebSocket).
//! reqwest tunnels its own requests the same way.
//!
//! Must not: speak TLS (the caller does, to the destination, inside the
//! tunnel), or read past the proxy's answer to CONNECT.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::{Host, Url};

use super::{Failure, Network, ProxyRoute};

/// The longest CONNECT answer read (status line and headers).
const MAX_ANSWER: usize = 8 * 1024;

/// An open connection to the destination (through the tunnel, if any).
#[derive(Debug)]
pub struct Opened {
    pub stream: TcpStream,
    /// The proxy it goes through, `None` when direct.
    pub proxy: Option<ProxyRoute>,
}

/// Where to connect (`host` without brackets) and what to name in CONNECT
/// (`host:port`, IPv6 bracketed).
fn endpoint(url: &Url) -> Result<(String, u16, String), Failure> {
    let port = url.port_or_known_default();
    let (host, authority_host) = match url.host() {
        Some(Host::Domain(d)) => (d.to_owned(), d.to_owned()),
        Some(Host::Ipv4(a)) => (a.to_string(), a.to_string()),
        Some(Host::Ipv6(a)) => (a.to_string(), format!("[{a}]")),
        None => {
            return Err(Failure::Unreachable {
                host: "?".to_owned(),
                detail: "the URL has no host".to_owned(),
            })
        }
    };
    let Some(port) = port else {
        return Err(Failure::Unreachable {
            host,
            detail: "the URL has no port".to_owned(),
        });
    };
    Ok((host, port, format!("{authority_host}:{port}")))
}

/// Opens a TCP connection to `target`'s host and port, through a CONNECT
/// tunnel when `network` names a proxy for it. `wait` bounds each leg
/// (reaching the proxy or host, the proxy's answer).
pub async fn open(network: &Network, target: &Url, wait: Duration) -> Result<Opened, Failure> {
    let (host, port, authority) = endpoint(target)?;
    let Some(route) = network.proxy_for(target) else {
        let stream =
            match tokio::time::timeout(wait, TcpStream::connect((host.as_str(), port))).await {
                Err(_) => {
                    return Err(Failure::Timeout {
                        leg: host,
                        secs: wait.as_secs(),
                    })
                }
                Ok(Err(e)) => {
                    return Err(Failure::Unreachable {
                        host,
                        detail: e.to_string(),
                    })
                }
                Ok(Ok(s)) => s,
            };
        return Ok(Opened {
            stream,
            proxy: None,
        });
    };
    if route.url.scheme() != "http" {
        return Err(Failure::ProxyUnsupported {
            proxy: route.shown.clone(),
        });
    }
    let (proxy_host, proxy_port, _) = endpoint(&route.url)?;
    let proxy_leg = |detail: String| Failure::ProxyUnreachable {
        proxy: route.shown.clone(),
        from: route.from,
        detail,
    };
    let mut stream =
        match tokio::time::timeout(wait, TcpStream::connect((proxy_host.as_str(), proxy_port)))
            .await
        {
            Err(_) => {
                return Err(Failure::Timeout {
                    leg: format!("the proxy {}", route.shown),
                    secs: wait.as_secs(),
                })
            }
            Ok(Err(e)) => return Err(proxy_leg(e.to_string())),
            Ok(Ok(s)) => s,
        };
    let status = match tokio::time::timeout(wait, connect(&mut stream, &authority, &route)).await {
        Err(_) => {
            return Err(Failure::Timeout {
                leg: format!("the proxy {} (CONNECT)", route.shown),
                secs: wait.as_secs(),
            })
        }
        Ok(Err(e)) => return Err(e),
        Ok(Ok(status)) => status,
    };
    match status {
        200..=299 => Ok(Opened {
            stream,
            proxy: Some(route),
        }),
        407 if route.auth.is_some() => Err(Failure::ProxyAuthRefused {
            proxy: route.shown.clone(),
            from: route.from,
        }),
        407 => Err(Failure::ProxyAuthMissing {
            proxy: route.shown.clone(),
            from: route.from,
        }),
        status => Err(Failure::ProxyRefused {
            proxy: route.shown.clone(),
            target: authority,
            status: Some(status),
        }),
    }
}

/// Sends `CONNECT authority` and reads the answer's status code, no more
/// than the answer's head.
async fn connect(
    stream: &mut TcpStream,
    authority: &str,
    route: &ProxyRoute,
) -> Result<u16, Failure> {
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(auth) = &route.auth {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(auth.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    let broken = |e: std::io::Error| Failure::ProxyUnreachable {
        proxy: route.shown.clone(),
        from: route.from,
        detail: e.to_string(),
    };
    stream.write_all(&request).await.map_err(broken)?;
    let garbled = || Failure::ProxyGarbled {
        proxy: route.shown.clone(),
        from: route.from,
    };
    // Byte by byte up to the blank line: the tunnel's first byte after it
    // belongs to the caller. The head is short and read once per connection.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_ANSWER {
            return Err(garbled());
        }
        let byte = stream.read_u8().await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                garbled()
            } else {
                broken(e)
            }
        })?;
        head.push(byte);
    }
    status_code(&head).ok_or_else(garbled)
}

/// The status of `HTTP/1.x NNN …`.
fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_ascii_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_comes_from_an_http_status_line_only() {
        assert_eq!(
            status_code(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Some(200)
        );
        assert_eq!(
            status_code(b"HTTP/1.0 407 Proxy Authentication Required\r\nX: y\r\n\r\n"),
            Some(407)
        );
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 2000 no\r\n\r\n"), None);
    }
}
