//! The tunnel supervisor: runs the program chosen in `[tunnel] kind`
//! (cloudflared, ngrok, bore or a user command) so Sekoia.io can reach the
//! loopback listener, discovers its public URL, logs its output under the
//! `tunnel` target (credentials redacted), restarts it with exponential
//! backoff when it exits and kills its whole process group on `stop()`, on
//! drop and (Linux) when this process dies.
//!
//! It owns the child process and the URL discovery only. It must not touch the
//! listener, the store or the pipeline, must never run a shell (command lines
//! are split shell-words style), and must never log `tunnel.secret` or
//! `tunnel.token`. Warning the user about a changed URL is the caller's job:
//! every new URL shows up as a new `Up { url }` state.
//!
//! In detail: the tunnel supervisor (a run without a URL after 30 s is
//! restarted) (`Tunnel::start(&TunnelSettings, port)`, `state()` watch of
//! `TunnelState`, `public_url()`, `stop()`). Runs cloudflared / ngrok / bore /
//! a user command (split shell-words style, never through a shell) in its own
//! process group with a parent-death signal on Linux, logs its output under the
//! `tunnel` target with `tunnel.secret`/`tunnel.token` redacted, discovers the
//! public URL (cloudflared metrics `/quicktunnel` or stderr banner, ngrok agent
//! `/api/tunnels`, bore's `listening at` line, the first URL a command prints,
//! or the fixed `public_url`), restarts it with backoff (1 s doubling to 60 s,
//! reset after 10 min up), or when its `Restarter` asks (the monitor, after
//! failed self-tests); a quick tunnel runs with `--metrics 127.0.0.1:0` and its
//! metrics address is read from its own `Starting metrics server on` line (no
//! port chosen here and freed, which another program could take); ngrok runs
//! with `--inspect=false`. `tunnel/ngrok.rs`: the agent API address from our
//! agent's `starting web service addr=` line, a tunnel counted only when its
//! `config.addr` forwards to our port. Credentials go to the child through its
//! environment (`BORE_SECRET`, `TUNNEL_TOKEN`), never argv. Tests run a real
//! `bore server` on loopback and fake cloudflared/ngrok programs and APIs. Its
//! output goes through `logs::Chatter` (repeats folded, then rate-limited).

use crate::model::health::TunnelHealth;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;

use crate::settings::{TunnelKind, TunnelSettings};

mod ngrok;

/// What the tunnel is doing now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelState {
    /// No tunnel (kind `none` without `public_url`), or stopped.
    Off,
    /// The program is starting and its public URL is not known yet.
    Starting,
    /// Reachable from the internet at `url` (the base, without `/hooks/...`).
    Up { url: Url },
    /// The program exited; it is started again after a backoff delay. The
    /// state stays here until the new run's URL is known (then `Up`).
    Restarting { reason: String, attempt: u32 },
    /// The program could not be started; retried after a backoff delay.
    Failed { reason: String },
}

/// Why a tunnel cannot be started. Each message says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("{program} not found on PATH: {hint}")]
    NotFound { program: String, hint: String },
    #[error("tunnel.binary = {path:?} is not an executable file: fix the path, or delete the line to search PATH")]
    BadBinary { path: PathBuf },
    #[error("tunnel.command cannot be run: {0}")]
    BadCommand(String),
    #[error("`{key}` is not set: {why}")]
    Missing {
        key: &'static str,
        why: &'static str,
    },
}

/// First restart delay; doubles at each attempt up to [`BACKOFF_MAX`].
const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A run at least this long resets the backoff.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(600);
/// Longer output lines are cut (the rest of the line is dropped).
const MAX_LINE: usize = 8 * 1024;
/// How often the metrics / agent API is asked for the URL until it is known.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// A run that has not shown its public URL after this long is restarted.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Between SIGTERM to the process group and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

const BORE_HINT: &str = "install it with `cargo install bore-cli --locked`, or set tunnel.binary";
const CLOUDFLARED_HINT: &str = "install it from https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/, or set tunnel.binary";
const NGROK_HINT: &str = "install it from https://ngrok.com/download, or set tunnel.binary";
const COMMAND_HINT: &str =
    "check the first word of tunnel.command, or write the program's full path there";

/// Test seams: where discovery looks instead of the real agent ports.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    /// ngrok's agent API address (`/api/tunnels`).
    pub(crate) ngrok_api: Option<SocketAddr>,
    /// How long a run may take to show its public URL.
    pub(crate) start_timeout: Option<Duration>,
}

/// A supervised tunnel. Dropping it kills the process group; prefer
/// [`Tunnel::stop`], which also waits for the process to be gone.
#[derive(Debug)]
pub struct Tunnel {
    state: watch::Receiver<TunnelState>,
    pid: Arc<AtomicU32>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    restart: Restarter,
}

/// Restarts a running tunnel program: it is stopped and started again after
/// the usual backoff, its new URL read from the new process.
#[derive(Debug, Clone)]
pub struct Restarter(mpsc::Sender<String>);

impl Restarter {
    /// Asks for a restart, `why` in words for the log and the state. A
    /// restart already asked for and not done yet absorbs this one.
    pub fn restart(&self, why: String) {
        let _ = self.0.try_send(why);
    }
}

impl Tunnel {
    /// Starts supervising according to settings; `port` is the listener's
    /// bound port. Must be called inside a tokio runtime. Errors: a missing
    /// binary, a bad command line, a setting the kind needs.
    ///
    /// On Linux the child gets a parent-death signal tied to the thread that
    /// spawns it: keep the runtime's worker threads alive as long as the
    /// tunnel (the default for tokio runtimes; not a `spawn_blocking` thread).
    pub fn start(settings: &TunnelSettings, port: u16) -> Result<Tunnel, TunnelError> {
        Tunnel::start_with(settings, port, &Overrides::default())
    }

    /// Checks the settings as [`Tunnel::start`] would (program found,
    /// command line valid, required keys set) without starting anything.
    pub fn validate(settings: &TunnelSettings) -> Result<(), TunnelError> {
        Plan::new(settings, 0, &Overrides::default()).map(|_| ())
    }

    pub(crate) fn start_with(
        settings: &TunnelSettings,
        port: u16,
        overrides: &Overrides,
    ) -> Result<Tunnel, TunnelError> {
        let plan = Plan::new(settings, port, overrides)?;
        let (tx, rx) = watch::channel(TunnelState::Off);
        let pid = Arc::new(AtomicU32::new(0));
        let (stop_tx, stop_rx) = oneshot::channel();
        let (restart_tx, restart_rx) = mpsc::channel(1);
        let task = tokio::spawn(supervise(plan, tx, pid.clone(), stop_rx, restart_rx));
        Ok(Tunnel {
            state: rx,
            pid,
            stop: Some(stop_tx),
            task: Some(task),
            restart: Restarter(restart_tx),
        })
    }

    /// A handle that restarts the running program (the monitor's, when the
    /// tunnel shows a URL that does not reach us).
    pub fn restarter(&self) -> Restarter {
        self.restart.clone()
    }

    /// The live state; every change (including a new URL) is a new value.
    pub fn state(&self) -> watch::Receiver<TunnelState> {
        self.state.clone()
    }

    /// The current public URL, when the tunnel is up.
    pub fn public_url(&self) -> Option<Url> {
        match &*self.state.borrow() {
            TunnelState::Up { url } => Some(url.clone()),
            _ => None,
        }
    }

    /// The running tunnel program's pid (also its process group id), for
    /// diagnostics and tests.
    pub fn child_pid(&self) -> Option<u32> {
        match self.pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// Kills the process group (SIGTERM, then SIGKILL after a grace period)
    /// and waits until the program is gone.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        // The aborted task drops the `Child` (kill_on_drop kills the leader);
        // this takes the rest of the group too.
        let pid = self.pid.swap(0, Ordering::SeqCst);
        if pid != 0 {
            kill_group(pid, Signal::Kill);
        }
    }
}

/// How the public URL is learnt.
#[derive(Debug, Clone)]
enum Discovery {
    /// Known in advance (`public_url`): up as soon as the program runs.
    Fixed(Url),
    /// bore's `listening at HOST:PORT` line.
    BoreLine,
    /// cloudflared quick tunnel: metrics `/quicktunnel` at the address this
    /// run announces (it binds an ephemeral port: `--metrics 127.0.0.1:0`),
    /// stderr banner as fallback.
    Cloudflared,
    /// ngrok's agent API `/api/tunnels` at the address our agent announces
    /// in its output (`api`: known in advance, tests), counting only a
    /// tunnel to the listener's `port` (see `ngrok`).
    Ngrok { api: Option<SocketAddr>, port: u16 },
    /// The first http(s) URL the program prints.
    FirstUrl,
}

#[derive(Debug, Clone)]
struct Process {
    /// Short name for logs and reasons.
    name: String,
    program: PathBuf,
    args: Vec<String>,
    envs: Vec<(&'static str, String)>,
    /// The program's own environment prefixes it inherits (see `children`).
    own: &'static [&'static str],
    discovery: Discovery,
    /// Strings never written to the log.
    redact: Vec<String>,
    /// A run without a public URL after this long is restarted.
    start_timeout: Duration,
}

#[derive(Debug)]
enum Plan {
    /// Kind `none`: no process.
    Idle(Option<Url>),
    Run(Process),
}

impl Plan {
    fn new(s: &TunnelSettings, port: u16, ov: &Overrides) -> Result<Plan, TunnelError> {
        let local = format!("http://127.0.0.1:{port}");
        let proc = match s.kind {
            TunnelKind::None => return Ok(Plan::Idle(s.public_url.clone())),
            TunnelKind::Bore => {
                let server = s.server.as_deref().ok_or(TunnelError::Missing {
                    key: "tunnel.server",
                    why: "bore needs a server to connect to: set it to \"bore.pub\" or the host of your own `bore server`",
                })?;
                let mut envs = Vec::new();
                let mut redact = Vec::new();
                if let Some(secret) = &s.secret {
                    // Through the environment, not argv: argv is world-readable.
                    envs.push(("BORE_SECRET", secret.as_str().to_owned()));
                    redact.push(secret.as_str().to_owned());
                }
                Process {
                    name: "bore".to_owned(),
                    program: resolve("bore", s.binary.as_deref(), BORE_HINT)?,
                    args: vec![
                        "local".to_owned(),
                        port.to_string(),
                        "--local-host".to_owned(),
                        "127.0.0.1".to_owned(),
                        "--to".to_owned(),
                        server.to_owned(),
                    ],
                    envs,
                    own: &["BORE_"],
                    discovery: Discovery::BoreLine,
                    redact,
                    start_timeout: START_TIMEOUT,
                }
            }
            TunnelKind::Cloudflared => {
                let program = resolve("cloudflared", s.binary.as_deref(), CLOUDFLARED_HINT)?;
                if let Some(token) = &s.token {
                    let url = s.public_url.clone().ok_or(TunnelError::Missing {
                        key: "tunnel.public_url",
                        why: "a named cloudflared tunnel (tunnel.token) has a fixed hostname: set public_url to https://<that hostname>",
                    })?;
                    Process {
                        name: "cloudflared".to_owned(),
                        program,
                        args: vec![
                            "tunnel".to_owned(),
                            "--no-autoupdate".to_owned(),
                            "run".to_owned(),
                        ],
                        envs: vec![("TUNNEL_TOKEN", token.as_str().to_owned())],
                        own: &["TUNNEL_"],
                        discovery: Discovery::Fixed(url),
                        redact: vec![token.as_str().to_owned()],
                        start_timeout: START_TIMEOUT,
                    }
                } else {
                    // Port 0: cloudflared binds a port of its own and names
                    // it in its output, so no other program can answer
                    // there first (a port chosen here and freed could be).
                    let args = vec![
                        "tunnel".to_owned(),
                        "--no-autoupdate".to_owned(),
                        "--url".to_owned(),
                        local,
                        "--metrics".to_owned(),
                        "127.0.0.1:0".to_owned(),
                    ];
                    Process {
                        name: "cloudflared".to_owned(),
                        program,
                        args,
                        envs: Vec::new(),
                        own: &["TUNNEL_"],
                        discovery: Discovery::Cloudflared,
                        redact: Vec::new(),
                        start_timeout: START_TIMEOUT,
                    }
                }
            }
            TunnelKind::Ngrok => {
                let mut args = vec![
                    "http".to_owned(),
                    port.to_string(),
                    "--log".to_owned(),
                    "stdout".to_owned(),
                    // ngrok's local inspector would keep every request (the
                    // hook path with its secret, the alert bodies) on a web
                    // page any local user can read.
                    "--inspect=false".to_owned(),
                ];
                if let Some(domain) = &s.domain {
                    args.push("--url".to_owned());
                    args.push(domain.clone());
                }
                Process {
                    name: "ngrok".to_owned(),
                    program: resolve("ngrok", s.binary.as_deref(), NGROK_HINT)?,
                    args,
                    envs: Vec::new(),
                    own: &["NGROK_"],
                    discovery: Discovery::Ngrok {
                        api: ov.ngrok_api,
                        port,
                    },
                    redact: Vec::new(),
                    start_timeout: START_TIMEOUT,
                }
            }
            TunnelKind::Command => {
                let line = s.command.as_deref().unwrap_or("");
                let words = split_words(line).map_err(TunnelError::BadCommand)?;
                let mut words = words
                    .into_iter()
                    .map(|w| w.replace("{port}", &port.to_string()));
                let first = words.next().ok_or_else(|| {
                    TunnelError::BadCommand(
                        "it is empty: write the command that opens the tunnel, such as \"bore local {port} --to bore.pub\"".to_owned(),
                    )
                })?;
                let name = Path::new(&first)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| first.clone());
                Process {
                    program: resolve(&first, None, COMMAND_HINT)?,
                    name,
                    args: words.collect(),
                    envs: Vec::new(),
                    own: &[],
                    discovery: match &s.public_url {
                        Some(url) => Discovery::Fixed(url.clone()),
                        None => Discovery::FirstUrl,
                    },
                    redact: Vec::new(),
                    start_timeout: START_TIMEOUT,
                }
            }
        };
        Ok(Plan::Run(Process {
            start_timeout: ov.start_timeout.unwrap_or(START_TIMEOUT),
            ..proc
        }))
    }
}

/// The program's path: `configured`, a path written in full, or the first
/// executable `name` on PATH.
fn resolve(name: &str, configured: Option<&Path>, hint: &str) -> Result<PathBuf, TunnelError> {
    if let Some(path) = configured {
        return if is_executable(path) {
            Ok(path.to_path_buf())
        } else {
            Err(TunnelError::BadBinary {
                path: path.to_path_buf(),
            })
        };
    }
    let not_found = || TunnelError::NotFound {
        program: name.to_owned(),
        hint: hint.to_owned(),
    };
    if name.contains(std::path::MAIN_SEPARATOR) || name.contains('/') {
        let p = PathBuf::from(name);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(not_found())
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(not_found)
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// Splits a command line into words like a POSIX shell would (quotes and
/// backslashes), without running one. Shell operators are refused.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    let mut push = |cur: &mut String, quoted: bool| -> Result<(), String> {
        if !quoted
            && matches!(
                cur.as_str(),
                "|" | "||" | "&&" | "&" | ";" | ">" | ">>" | "<"
            )
        {
            return Err(format!(
                "it uses the shell operator {cur:?}, and no shell runs it: put the pipeline in a script and name the script"
            ));
        }
        words.push(std::mem::take(cur));
        Ok(())
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("it has an unclosed ' quote".to_owned()),
                    }
                }
            }
            '"' => {
                in_word = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("it has an unclosed \" quote".to_owned()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("it has an unclosed \" quote".to_owned()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                quoted = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err("it ends with a lone backslash".to_owned()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    push(&mut cur, quoted)?;
                    in_word = false;
                    quoted = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        push(&mut cur, quoted)?;
    }
    Ok(words)
}

// ---------------------------------------------------------------------------
// URL discovery: small pure functions over what the programs print or serve.

/// `line` without ANSI escape sequences and other control characters.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            match chars.peek() {
                Some('[') => {
                    chars.next();
                    // CSI: parameters, then one final byte in @..~
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    // OSC: up to BEL or ESC \
                    chars.next();
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {
                    chars.next();
                }
            }
        } else if (c.is_control() && c != '\t') || crate::model::event::is_line_separator(c) {
            continue;
        } else {
            out.push(c);
        }
    }
    out
}

fn is_host_port_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
}

/// bore: `... listening at HOST:PORT` -> `http://HOST:PORT/`.
fn parse_bore_line(line: &str) -> Option<Url> {
    let clean = strip_ansi(line);
    let (_, rest) = clean.split_once("listening at ")?;
    let token: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    if token.is_empty() || token.len() > 300 || !token.chars().all(is_host_port_char) {
        return None;
    }
    let url = Url::parse(&format!("http://{token}")).ok()?;
    (url.host_str().is_some_and(|h| !h.is_empty()) && url.port().is_some() && url.path() == "/")
        .then_some(url)
}

/// Every http(s) URL in `line`, in order.
fn urls_in(line: &str) -> impl Iterator<Item = Url> + '_ {
    let mut rest = line;
    std::iter::from_fn(move || loop {
        let start = match (rest.find("https://"), rest.find("http://")) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| {
                c.is_whitespace()
                    || c.is_control()
                    || matches!(
                        c,
                        '"' | '\'' | '<' | '>' | '`' | '|' | '(' | ')' | '{' | '}' | '\\'
                    )
            })
            .unwrap_or(tail.len());
        let candidate = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?']);
        rest = &tail[end.max(1)..];
        if candidate.len() > 2048 {
            continue;
        }
        if let Ok(url) = Url::parse(candidate) {
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty())
                && url.username().is_empty()
                && url.password().is_none()
            {
                return Some(url);
            }
        }
    })
}

/// The first http(s) URL printed in `line` (kind `command`).
fn first_url(line: &str) -> Option<Url> {
    let clean = strip_ansi(line);
    let found = urls_in(&clean).next();
    found
}

/// cloudflared's stderr banner: the `https://….trycloudflare.com` URL.
fn parse_cloudflared_line(line: &str) -> Option<Url> {
    let clean = strip_ansi(line);
    let found = urls_in(&clean).find(|u| {
        u.scheme() == "https"
            && u.host_str()
                .is_some_and(|h| h.ends_with(".trycloudflare.com") && h != "api.trycloudflare.com")
    });
    found
}

/// The metrics address in cloudflared's `Starting metrics server on
/// 127.0.0.1:PORT/metrics` line (only a loopback address).
fn cloudflared_metrics(line: &str) -> Option<SocketAddr> {
    let clean = strip_ansi(line);
    let (_, rest) = clean.split_once("Starting metrics server on ")?;
    let addr = rest.split_whitespace().next()?.trim_end_matches("/metrics");
    let addr: SocketAddr = addr.parse().ok()?;
    addr.ip().is_loopback().then_some(addr)
}

/// cloudflared metrics `GET /quicktunnel`: `{"hostname": "…"}` -> `https://…/`.
fn parse_quicktunnel(body: &[u8]) -> Option<Url> {
    #[derive(serde::Deserialize)]
    struct Quick {
        hostname: String,
    }
    let q: Quick = serde_json::from_slice(body).ok()?;
    let h = q.hostname.trim();
    if h.is_empty() || h.len() > 253 || !h.chars().all(is_host_port_char) {
        return None;
    }
    Url::parse(&format!("https://{h}")).ok()
}

/// A URL found in one output line, per the discovery method.
fn url_from_line(discovery: &Discovery, line: &str) -> Option<Url> {
    match discovery {
        Discovery::BoreLine => parse_bore_line(line),
        Discovery::Cloudflared => parse_cloudflared_line(line),
        Discovery::FirstUrl => first_url(line),
        Discovery::Fixed(_) | Discovery::Ngrok { .. } => None,
    }
}

/// Asks the metrics / agent API for the URL; `None` when it is not known
/// yet. `agent_api`: the address this run's ngrok agent announced.
async fn poll_url(
    http: &reqwest::Client,
    discovery: &Discovery,
    agent_api: Option<SocketAddr>,
) -> Option<Url> {
    let endpoint = match discovery {
        Discovery::Cloudflared => format!("http://{}/quicktunnel", agent_api?),
        Discovery::Ngrok { .. } => format!("http://{}/api/tunnels", agent_api?),
        _ => return None,
    };
    let resp = http.get(endpoint).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let body = crate::net::network::read_capped(resp, 1024 * 1024)
        .await
        .ok()?;
    match discovery {
        Discovery::Ngrok { port, .. } => ngrok::parse_tunnels(&body, *port),
        _ => parse_quicktunnel(&body),
    }
}

// ---------------------------------------------------------------------------
// The supervisor.

fn backoff(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    BACKOFF_INITIAL.saturating_mul(factor).min(BACKOFF_MAX)
}

fn redact(line: &str, secrets: &[String]) -> String {
    let mut out = line.to_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "<redacted>");
    }
    out
}

/// Logs a line of the program's output, through `chatter` (repeats
/// counted, floods rate-limited: a chatty program never fills the disk).
fn log_line(name: &str, line: &str, chatter: &mut crate::os::logs::Chatter) {
    for kept in chatter.offer(&strip_ansi(line), std::time::Instant::now()) {
        tracing::info!(target: "tunnel", "{name}: {kept}");
    }
}

/// Sleeps `delay`; `true` when a stop was asked meanwhile.
async fn sleep_or_stop(delay: Duration, stop: &mut oneshot::Receiver<()>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = stop => true,
    }
}

/// Publishes a newly discovered URL.
fn set_up(name: &str, url: &Url, state: &watch::Sender<TunnelState>) {
    tracing::info!(target: "tunnel", "{name} up at {url}");
    state.send_replace(TunnelState::Up { url: url.clone() });
}

async fn supervise(
    plan: Plan,
    state: watch::Sender<TunnelState>,
    pid: Arc<AtomicU32>,
    mut stop: oneshot::Receiver<()>,
    mut restart: mpsc::Receiver<String>,
) {
    let base = match plan {
        Plan::Idle(url) => {
            if let Some(url) = url {
                state.send_replace(TunnelState::Up { url });
            }
            let _ = stop.await;
            state.send_replace(TunnelState::Off);
            return;
        }
        Plan::Run(proc) => proc,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .no_proxy()
        .build()
        .unwrap_or_default();
    let mut attempt: u32 = 0;
    let mut chatter = crate::os::logs::Chatter::default();
    state.send_replace(TunnelState::Starting);
    loop {
        let proc = &base;
        let started = Instant::now();
        let mut child = match spawn(proc) {
            Ok(child) => child,
            Err(e) => {
                attempt = attempt.saturating_add(1);
                let delay = backoff(attempt);
                let reason = format!(
                    "could not start {} ({}): {e}; trying again in {}s",
                    proc.name,
                    proc.program.display(),
                    delay.as_secs()
                );
                tracing::warn!(target: "tunnel", "{reason}");
                state.send_replace(TunnelState::Failed { reason });
                if sleep_or_stop(delay, &mut stop).await {
                    state.send_replace(TunnelState::Off);
                    return;
                }
                continue;
            }
        };
        let child_pid = child.id().unwrap_or(0);
        pid.store(child_pid, Ordering::SeqCst);
        tracing::info!(target: "tunnel", "{} started (pid {child_pid})", proc.name);

        let (line_tx, mut lines) = mpsc::channel::<String>(256);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, line_tx.clone(), proc.redact.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, line_tx.clone(), proc.redact.clone()));
        }
        drop(line_tx);

        let mut url: Option<Url> = None;
        if let Discovery::Fixed(fixed) = &proc.discovery {
            url = Some(fixed.clone());
            set_up(&proc.name, fixed, &state);
        }
        let polls = matches!(
            proc.discovery,
            Discovery::Cloudflared | Discovery::Ngrok { .. }
        );
        // This run's cloudflared metrics or ngrok agent API: announced in
        // its own output.
        let mut agent_api = match &proc.discovery {
            Discovery::Ngrok { api, .. } => *api,
            _ => None,
        };
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        let no_url_by = started + proc.start_timeout;
        let end: End = loop {
            tokio::select! {
                _ = &mut stop => {
                    terminate(&mut child, child_pid).await;
                    pid.store(0, Ordering::SeqCst);
                    drain(&proc.name, &mut lines, &mut chatter).await;
                    state.send_replace(TunnelState::Off);
                    tracing::info!(target: "tunnel", "{} stopped", proc.name);
                    return;
                }
                status = child.wait() => break End::Exited(status),
                Some(why) = restart.recv() => {
                    terminate(&mut child, child_pid).await;
                    break End::Asked(why);
                }
                () = tokio::time::sleep_until(no_url_by), if url.is_none() => {
                    terminate(&mut child, child_pid).await;
                    break End::NoUrl;
                }
                Some(line) = lines.recv() => {
                    log_line(&proc.name, &line, &mut chatter);
                    if agent_api.is_none() {
                        agent_api = match proc.discovery {
                            Discovery::Ngrok { .. } => ngrok::web_addr(&line),
                            Discovery::Cloudflared => cloudflared_metrics(&line),
                            _ => None,
                        };
                    }
                    if url.is_none() {
                        if let Some(found) = url_from_line(&proc.discovery, &line) {
                            set_up(&proc.name, &found, &state);
                            url = Some(found);
                        }
                    }
                }
                _ = poll.tick(), if polls && url.is_none() => {
                    if let Some(found) = poll_url(&http, &proc.discovery, agent_api).await {
                        set_up(&proc.name, &found, &state);
                        url = Some(found);
                    }
                }
            }
        };
        // The leader is gone; take whatever it left in its group with it.
        kill_group(child_pid, Signal::Kill);
        pid.store(0, Ordering::SeqCst);
        drain(&proc.name, &mut lines, &mut chatter).await;

        let up_for = started.elapsed();
        if up_for >= BACKOFF_RESET_AFTER {
            attempt = 0;
        }
        attempt = attempt.saturating_add(1);
        let delay = backoff(attempt);
        let what = match end {
            End::Exited(Ok(s)) => format!("exited ({s}) after {}s", up_for.as_secs()),
            End::Exited(Err(e)) => format!("could not be waited for ({e})"),
            End::NoUrl => format!(
                "showed no public URL within {}s (stopped)",
                proc.start_timeout.as_secs()
            ),
            End::Asked(why) => format!("was stopped after {}s: {why}", up_for.as_secs()),
        };
        let reason = format!("{} {what}; restarting in {}s", proc.name, delay.as_secs());
        tracing::warn!(target: "tunnel", "{reason}");
        state.send_replace(TunnelState::Restarting { reason, attempt });
        if sleep_or_stop(delay, &mut stop).await {
            state.send_replace(TunnelState::Off);
            return;
        }
    }
}

/// How one run of the program ended.
enum End {
    Exited(io::Result<ExitStatus>),
    /// Stopped by the supervisor: no public URL within the start timeout.
    NoUrl,
    /// Stopped because a [`Restarter`] asked (the URL does not reach us).
    Asked(String),
}

/// Logs the lines still in flight (bounded: the group is dead, pipes close).
/// Then what the chatter still owes (repeats, drops).
async fn drain(
    name: &str,
    lines: &mut mpsc::Receiver<String>,
    chatter: &mut crate::os::logs::Chatter,
) {
    let deadline = Instant::now() + Duration::from_millis(500);
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline, lines.recv()).await {
        log_line(name, &line, chatter);
    }
    for owed in chatter.flush() {
        tracing::info!(target: "tunnel", "{name}: {owed}");
    }
}

/// Forwards output lines (cut at [`MAX_LINE`], credentials redacted).
async fn pump<R: AsyncRead + Unpin>(r: R, tx: mpsc::Sender<String>, secrets: Vec<String>) {
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut r)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !buf.ends_with(b"\n") && buf.len() >= MAX_LINE {
            // Drop the rest of an overlong line.
            let mut skip = Vec::new();
            loop {
                skip.clear();
                match (&mut r)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut skip)
                    .await
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) if skip.ends_with(b"\n") => break,
                    Ok(_) => {}
                }
            }
        }
        let line = String::from_utf8_lossy(&buf);
        let line = redact(line.trim_end_matches(['\n', '\r']), &secrets);
        if tx.send(line).await.is_err() {
            return;
        }
    }
}

fn spawn(proc: &Process) -> io::Result<Child> {
    let mut cmd = Command::new(&proc.program);
    // Only the session's ordinary variables: never the API key.
    crate::os::children::scrub_async(&mut cmd, proc.own);
    cmd.args(&proc.args)
        .envs(proc.envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id();
        // SAFETY: the closure runs in the forked child before exec and only
        // calls async-signal-safe functions (prctl, getppid).
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) == -1
                {
                    return Err(io::Error::last_os_error());
                }
                // The parent died between fork and prctl: do not outlive it.
                if libc::getppid() as u32 != parent {
                    return Err(io::Error::other("parent exited during spawn"));
                }
                Ok(())
            });
        }
    }
    cmd.spawn()
}

#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

/// Signals the process group `pgid` (the child is its leader).
fn kill_group(pgid: u32, sig: Signal) {
    #[cfg(unix)]
    {
        let Ok(pgid) = libc::pid_t::try_from(pgid) else {
            return;
        };
        if pgid <= 1 {
            return;
        }
        let sig = match sig {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        // SAFETY: plain syscall; a group that is already gone yields ESRCH.
        unsafe {
            libc::killpg(pgid, sig);
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (pgid, sig);
    }
}

/// SIGTERM to the group, SIGKILL after [`STOP_GRACE`], then reap.
async fn terminate(child: &mut Child, pgid: u32) {
    kill_group(pgid, Signal::Term);
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        kill_group(pgid, Signal::Kill);
        let _ = child.kill().await;
    }
    kill_group(pgid, Signal::Kill);
}

/// The tunnel's health words live in `model::health`; reading them off the
/// supervisor's state is the supervisor's business.
impl TunnelHealth {
    /// The supervisor's state as health. `Off` is a stopped or absent tunnel.
    pub fn from_state(state: &TunnelState, public_url: Option<&Url>) -> TunnelHealth {
        match state {
            TunnelState::Off => TunnelHealth::None {
                public_url: public_url.cloned(),
            },
            TunnelState::Starting => TunnelHealth::Starting,
            TunnelState::Up { url } => TunnelHealth::Up { url: url.clone() },
            TunnelState::Restarting { reason, attempt } => TunnelHealth::Restarting {
                attempt: *attempt,
                reason: reason.clone(),
            },
            TunnelState::Failed { reason } => TunnelHealth::Failed {
                reason: reason.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
