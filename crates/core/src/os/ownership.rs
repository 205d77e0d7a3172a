//! Whether a recorded instance (`instance.json`: a pid and a listening
//! address) is really a running Sekoia Notifier engine, before a command
//! sends it anything (`send-test`, `regenerate-secret`'s signal and new
//! secret, `webhook-url`): the pid must run one of our binaries (or this
//! very program) as this user, and hold the listening socket at the
//! recorded address. A stale record, whose port another program took or
//! whose pid was reused, is then "gone" without a byte sent to it.
//!
//! Linux reads `/proc` (`/proc/<pid>/exe`, the socket inode of the listen
//! address in `/proc/net/tcp{,6}`, matched under `/proc/<pid>/fd`). Our
//! engines are not dumpable (`secrets::forbid_core_dumps`), so another
//! process of the same user cannot read their `exe` or `fd`: then the
//! process name (`/proc/<pid>/comm`), its user and the user owning the
//! listening socket must match ours. Other systems fall back to a TCP
//! connection to the address (no payload).
//!
//! Must not: signal, connect with a payload, or change the record.
//!
//! In detail: whether `instance.json`'s pid is our engine holding its recorded
//! listener (Linux `/proc`: exe, `/proc/net/tcp{,6}` inode under
//! `/proc/<pid>/fd`; elsewhere a bare connect), so `engine::running` never
//! hands a squatter to `send-test`, `regenerate-secret` or `webhook-url`.

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
    use std::path::Path;

    pub(super) fn confirmed(pid: u32, listen: SocketAddr) -> bool {
        if pid == 0 {
            return false;
        }
        let proc_dir = Path::new("/proc").join(pid.to_string());
        // SAFETY: geteuid(2) cannot fail.
        let me = unsafe { libc::geteuid() };
        let Some(uid) = effective_uid(&proc_dir) else {
            return false;
        };
        if uid != me && me != 0 {
            return false;
        }
        match std::fs::read_link(proc_dir.join("exe")) {
            Ok(exe) => runs_our_binary(&exe) && holds_listener(&proc_dir, listen),
            // Not dumpable: its name, and a listener of its user there.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                named_ours(&proc_dir) && listening(listen).is_some_and(|(_, owner)| owner == uid)
            }
            Err(_) => false,
        }
    }

    /// The effective uid in `/proc/<pid>/status` (readable for any process).
    fn effective_uid(proc_dir: &Path) -> Option<u32> {
        let status = std::fs::read_to_string(proc_dir.join("status")).ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// `/proc/<pid>/comm` (15 bytes at most) names one of [`OURS`].
    fn named_ours(proc_dir: &Path) -> bool {
        let Ok(comm) = std::fs::read_to_string(proc_dir.join("comm")) else {
            return false;
        };
        let comm = comm.trim_end();
        !comm.is_empty() && OURS.iter().any(|name| name.starts_with(comm))
    }

    /// The inode and owner uid of the socket listening at `listen`.
    fn listening(listen: SocketAddr) -> Option<(u64, u32)> {
        let table = if listen.is_ipv4() {
            "/proc/net/tcp"
        } else {
            "/proc/net/tcp6"
        };
        listening_socket(&std::fs::read_to_string(table).ok()?, listen)
    }

    /// `exe` is this program or one of [`OURS`] (also after an upgrade
    /// replaced the file: " (deleted)").
    fn runs_our_binary(exe: &Path) -> bool {
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
        let Some((inode, _)) = listening(listen) else {
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

    /// The inode and owner uid of the socket in state LISTEN (0A) at
    /// `listen`, from the text of `/proc/net/tcp` or `tcp6`.
    pub(super) fn listening_socket(table: &str, listen: SocketAddr) -> Option<(u64, u32)> {
        table.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state) = (fields.get(1)?, fields.get(3)?);
            if *state != "0A" || parse_address(local)? != listen {
                return None;
            }
            let uid = fields.get(7)?.parse().ok()?;
            let inode = fields.get(9)?.parse().ok().filter(|i| *i != 0)?;
            Some((inode, uid))
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
            assert_eq!(
                linux::listening_socket(v4, at("127.0.0.1:8080")),
                Some((4242, 1000))
            );
            assert_eq!(
                linux::listening_socket(v4, at("127.0.0.1:8081")),
                None,
                "not LISTEN"
            );
            let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1\n";
            assert_eq!(
                linux::listening_socket(v6, at("[::1]:8080")),
                Some((777, 1000))
            );
        }
    }
}
