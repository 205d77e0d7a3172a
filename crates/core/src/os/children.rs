//! The environment of every process the app starts (tunnel programs, the
//! user's tunnel `command`, the browser opener in both shells): an allow
//! list of the session's ordinary variables (paths, locale, display and
//! bus, proxies, trusted roots) plus, per program, its own prefix
//! (`NGROK_`, `TUNNEL_`, `BORE_`). Nothing else is inherited: not
//! `SEKOIA_API_KEY`, not `CREDENTIALS_DIRECTORY`, not whatever a service
//! manager or a test put beside them. The hook secret never is in the
//! environment; an explicit variable a caller adds (bore's `BORE_SECRET`)
//! is the caller's choice.
//!
//! It also opens links in the browser ([`open_in_browser`]) through the
//! `open` crate's command list, so that the opener gets this environment
//! too (`open::that_detached` would pass on ours whole).
//!
//! Must not: read or hold a secret, or decide what a child runs.
//!
//! In detail: the environment of every child process (tunnel programs, the
//! user's command, the browser opener in both shells): `scrub` keeps an allow
//! list (PATH, HOME, locale, display and bus, proxies, `SSL_CERT_*`, plus the
//! program's own prefix) and never `SEKOIA_*` or `CREDENTIALS_DIRECTORY`;
//! `open_in_browser` runs the `open` crate's commands with it.

use std::ffi::{OsStr, OsString};
use std::process::Stdio;

/// Variables passed on by name (compared case-insensitively on Windows).
const KEPT: &[&str] = &[
    // Where things are, who the user is.
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TMPDIR",
    "TZ",
    "LANG",
    "LANGUAGE",
    "TERM",
    // The desktop session a browser needs.
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XAUTHORITY",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_CONFIG_DIRS",
    "XDG_DATA_HOME",
    "XDG_DATA_DIRS",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "XDG_CURRENT_DESKTOP",
    "XDG_SESSION_TYPE",
    "XDG_SESSION_DESKTOP",
    "DESKTOP_SESSION",
    "BROWSER",
    // The network the user configured.
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    // Windows' own.
    "SYSTEMROOT",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "PROGRAMFILES",
    "TEMP",
    "TMP",
];

/// Prefixes passed on for every child (locale categories).
const KEPT_PREFIXES: &[&str] = &["LC_"];

/// Never passed on, whatever a prefix allows.
const NEVER: &[&str] = &["SEKOIA_", "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET"];

fn same(a: &str, b: &str) -> bool {
    if cfg!(windows) {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn starts(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name.is_char_boundary(prefix.len())
        && same(&name[..prefix.len()], prefix)
}

/// Whether variable `name` may reach a child; `own` are the program's own
/// prefixes (`NGROK_` for ngrok).
pub fn allowed(name: &OsStr, own: &[&str]) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    if NEVER.iter().any(|n| starts(name, n)) {
        return false;
    }
    KEPT.iter().any(|k| same(name, k)) || KEPT_PREFIXES.iter().chain(own).any(|p| starts(name, p))
}

/// The allowed part of this process's environment (see [`allowed`]).
pub fn environment(own: &[&str]) -> Vec<(OsString, OsString)> {
    std::env::vars_os()
        .filter(|(k, _)| allowed(k, own))
        .collect()
}

/// Gives `cmd` only the allowed environment; variables set on `cmd` after
/// this call are added to it.
pub fn scrub(cmd: &mut std::process::Command, own: &[&str]) {
    cmd.env_clear().envs(environment(own));
}

/// [`scrub`] for tokio's `Command`.
pub fn scrub_async(cmd: &mut tokio::process::Command, own: &[&str]) {
    cmd.env_clear().envs(environment(own));
}

/// Opens `link` in the default browser with the allowed environment plus
/// `extra` (a click's activation token): the platform's openers in turn,
/// the first that starts wins, reaped on a thread of its own. Errors: no
/// opener could be started (the last reason, in words).
pub fn open_in_browser(link: &str, extra: &[(&'static str, String)]) -> std::io::Result<()> {
    open_in_browser_checked(link, extra, std::time::Duration::ZERO)
}

/// [`open_in_browser`], waiting up to `check` for each opener: one that
/// exits unsuccessfully within it (xdg-open with no browser: status 3) is
/// a failure and the next opener is tried; one still running then, or
/// exited 0, is a success. Blocks up to `check` per opener: call it off
/// the async threads. Errors name the last failure.
pub fn open_in_browser_checked(
    link: &str,
    extra: &[(&'static str, String)],
    check: std::time::Duration,
) -> std::io::Result<()> {
    // An opener that ran and failed says more than a missing one after it.
    let (mut failed, mut missing) = (None, None);
    for mut command in open::commands(link) {
        scrub(&mut command, &[]);
        command
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                missing = Some(e);
                continue;
            }
        };
        let deadline = std::time::Instant::now() + check;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    failed = failed.or(Some(std::io::Error::other(format!(
                        "{program} exited with {status}"
                    ))));
                    break;
                }
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Ok(None) | Err(_) => {
                    std::thread::spawn(move || child.wait());
                    return Ok(());
                }
            }
        }
    }
    Err(failed
        .or(missing)
        .unwrap_or_else(|| std::io::Error::other("no program to open a link with")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_strangers_stay_home_while_the_session_goes_along() {
        let ok = |n: &str, own: &[&str]| allowed(OsStr::new(n), own);
        assert!(ok("PATH", &[]));
        assert!(ok("LC_ALL", &[]));
        assert!(ok("DBUS_SESSION_BUS_ADDRESS", &[]));
        assert!(ok("https_proxy", &[]));
        assert!(ok("NGROK_AUTHTOKEN", &["NGROK_"]));
        assert!(!ok("NGROK_AUTHTOKEN", &[]));
        assert!(!ok("SEKOIA_API_KEY", &[]));
        assert!(!ok("SEKOIA_API_KEY", &["SEKOIA_"]));
        assert!(!ok("CREDENTIALS_DIRECTORY", &["CRED"]));
        assert!(!ok("AWS_SECRET_ACCESS_KEY", &[]));
        assert!(!ok("PATHX", &[]));
    }

    #[cfg(unix)]
    #[test]
    fn a_scrubbed_child_sees_only_the_allowed_environment() {
        let mut cmd = std::process::Command::new("env");
        cmd.env("SEKOIA_API_KEY", "k-should-not-pass")
            .env("CREDENTIALS_DIRECTORY", "/run/credentials/x")
            .env("SOMETHING_ELSE", "1");
        // The variables above are set on the command, as an inherited
        // environment would be: scrub drops them.
        scrub(&mut cmd, &[]);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("PATH="), "{text}");
        assert!(!text.contains("SEKOIA"), "{text}");
        assert!(!text.contains("CREDENTIALS_DIRECTORY"), "{text}");
        assert!(!text.contains("SOMETHING_ELSE"), "{text}");
    }
}
