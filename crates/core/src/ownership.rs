//! Whether a recorded instance (`instance.json`: a pid and a listening
//! address) is really a running Sekoia Notifier engine, before a command
//! sends it anything (`send-test`, `regenerate-secret`'s signal and new
//! secret, `webhook-url`): the pid must run one of our binaries (or this
//! very program) as this user, and hold the listening socket at the
//! recorded address. A stale record, whose port another program took or
//! whose pid was reused, is then "gone" without a byte sent to it.
//!
//! Linux reads `/proc` (`/proc/<pid>/exe`, the socket inode of the listen
//! address in `/proc/net/tcp{,6}`, matched under `/proc/<pid>/fd`); other
//! systems fall back to a TCP connection to the address (no payload).
//!
//! Must not: signal, connect with a payload, or change the record.

use std::net::SocketAddr;

/// The binaries that run an engine.
const OURS: &[&str] = &["sekoia-notifierd", "sekoia-notifier"];

/// Whether process `pid` is our engine listening at `listen`.
#[cfg(target_os = "linux")]
pub async fn confirmed(pid: u32, listen: SocketAddr) -> bool {
    tokio::task::spawn_blocking(move || linux::confirmed(pid, listen))
        .await
        .unwrap_or(false)
}

/// Whether something accepts connections at `listen` (no `/proc` here).
#[cfg(not(target_os = "linux"))]
pub async fn confirmed(_pid: u32, listen: SocketAddr) -> bool {
    let probe = tokio::net::TcpStream::connect(listen);
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(1), probe).await,
        Ok(Ok(_))
    )
}

#[cfg(target_os = "linux")]
mod linux {
    use super::OURS;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    pub(super) fn confirmed(pid: u32, listen: SocketAddr) -> bool {
        if pid == 0 {
            return false;
        }
        let proc_dir = Path::new("/proc").join(pid.to_string());
        // SAFETY: geteuid(2) cannot fail.
        let me = unsafe { libc::geteuid() };
        let ours = std::fs::metadata(&proc_dir).is_ok_and(|m| m.uid() == me || me == 0);
        ours && runs_our_binary(&proc_dir) && holds_listener(&proc_dir, listen)
    }

    /// `/proc/<pid>/exe` is this program or one of [`OURS`] (also after an
    /// upgrade replaced the file: " (deleted)").
    fn runs_our_binary(proc_dir: &Path) -> bool {
        let Ok(exe) = std::fs::read_link(proc_dir.join("exe")) else {
            return false;
        };
        if std::env::current_exe().is_ok_and(|me| me == exe) {
            return true;
        }
        let name = exe
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = name.trim_end_matches(" (deleted)");
        OURS.contains(&name)
    }

    /// The process has a descriptor on the socket listening at `listen`.
    fn holds_listener(proc_dir: &Path, listen: SocketAddr) -> bool {
        let table = if listen.is_ipv4() {
            "/proc/net/tcp"
        } else {
            "/proc/net/tcp6"
        };
        let Ok(text) = std::fs::read_to_string(table) else {
            return false;
        };
        let Some(inode) = listening_inode(&text, listen) else {
            return false;
        };
        let wanted = format!("socket:[{inode}]");
        let Ok(fds) = std::fs::read_dir(proc_dir.join("fd")) else {
            return false;
        };
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str())
        })
    }

    /// The inode of the socket in state LISTEN (0A) at `listen`, from the
    /// text of `/proc/net/tcp` or `tcp6`.
    pub(super) fn listening_inode(table: &str, listen: SocketAddr) -> Option<u64> {
        table.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
            if *state != "0A" || parse_address(local)? != listen {
                return None;
            }
            inode.parse().ok().filter(|i| *i != 0)
        })
    }

    /// `0100007F:1F90` (the address as the kernel's native-order words, the
    /// port in hex) as an address.
    fn parse_address(text: &str) -> Option<SocketAddr> {
        let (ip, port) = text.split_once(':')?;
        let port = u16::from_str_radix(port, 16).ok()?;
        let word = |i: usize| -> Option<[u8; 4]> {
            let hex = ip.get(i * 8..i * 8 + 8)?;
            Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
        };
        let ip = match ip.len() {
            8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
            32 => {
                let mut bytes = [0u8; 16];
                for i in 0..4 {
                    bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
                }
                IpAddr::V6(Ipv6Addr::from(bytes))
            }
            _ => return None,
        };
        Some(SocketAddr::new(ip, port))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn this_process_owns_its_listener_and_another_process_does_not() {
        let mine = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = mine.local_addr().unwrap();
        assert!(confirmed(std::process::id(), addr).await);
        // Another process (a reused pid): neither our binary nor the socket.
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        assert!(!confirmed(other.id(), addr).await);
        let _ = other.kill();
        let _ = other.wait();
        // A pid that does not exist.
        assert!(!confirmed(u32::MAX - 1, addr).await);
        // Our pid, but the socket is gone (a stale record of this port).
        drop(mine);
        assert!(!confirmed(std::process::id(), addr).await);
    }

    #[test]
    fn proc_net_tcp_lines_are_read_for_v4_and_v6() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F91 00000000:0000 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1\n";
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(linux::listening_inode(v4, at("127.0.0.1:8080")), Some(4242));
            assert_eq!(
                linux::listening_inode(v4, at("127.0.0.1:8081")),
                None,
                "not LISTEN"
            );
            let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1\n";
            assert_eq!(linux::listening_inode(v6, at("[::1]:8080")), Some(777));
        }
    }
}
