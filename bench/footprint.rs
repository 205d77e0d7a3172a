//! Idle footprint of the release builds: proportional memory (PSS, from
//! /proc/PID/smaps_rollup) of each process tree, and CPU use over an idle
//! minute (utime + stime of the tree, from /proc/PID/stat).
//!
//! 1. `sekoia-notifierd serve`, idle.
//! 2. `sekoia-notifier` in the tray (a fake tray host on a private bus, an
//!    Xvfb display), no window open: the WebKit processes must be gone.
//! 3. The same app with the feed window open over 1,000 alerts.
//!
//! Usage: footprint-bench [IDLE_SECONDS]   (default 60)

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "footprint-secret-0123456789abcdefgh";

fn main() {
    let idle: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(60);
    let bins = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("binary dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let api = runtime.block_on(fake_sekoia::FakeSekoia::start());
    for n in 0..1000 {
        api.add_alert(fake_sekoia::alert_json(
            &uuid(n),
            &format!("AL{n}"),
            &format!("Benchmark alert {n}"),
            (n % 100) as u8,
        ));
    }
    let bus = fake_notifications::Bus::start();
    let _server = runtime.block_on(fake_notifications::Server::with_capabilities(
        &bus.address,
        &["actions", "body"],
    ));
    let host = runtime.block_on(fake_notifications::tray::Watcher::start(&bus.address));
    let root = tempfile::tempdir().expect("tempdir");
    let mut rows = Vec::new();

    // 1. The daemon.
    let daemon_dir = root.path().join("daemon");
    let mut daemon = launch(
        &bins.join("sekoia-notifierd"),
        &["serve"],
        &daemon_dir,
        &api,
        &bus.address,
        None,
    );
    wait_ready(&daemon_dir.join("data"), &mut daemon);
    std::thread::sleep(Duration::from_secs(3));
    rows.push(measure("sekoia-notifierd serve, idle", daemon.id(), idle));
    stop(&mut daemon);

    // 2. The app in the tray, no window.
    let display = fake_notifications::display::Display::start();
    let app_dir = root.path().join("app");
    let app_bin = bins.join("sekoia-notifier");
    let mut app = launch(
        &app_bin,
        &[],
        &app_dir,
        &api,
        &bus.address,
        Some(&display.name),
    );
    let addr = wait_ready(&app_dir.join("data"), &mut app);
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.items().is_empty() {
        assert!(Instant::now() < deadline, "the tray item did not register");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    rows.push(measure(
        "sekoia-notifier, tray only (no window)",
        app.id(),
        idle,
    ));

    // 3. 1,000 alerts, then the feed window (a second launch opens it).
    for n in 0..1000 {
        assert_eq!(post(addr, &body(n)), 202);
    }
    let mut second = launch(
        &app_bin,
        &[],
        &app_dir,
        &api,
        &bus.address,
        Some(&display.name),
    );
    let _ = second.wait();
    std::thread::sleep(Duration::from_secs(15));
    rows.push(measure(
        "sekoia-notifier, feed window open (1,000 alerts)",
        app.id(),
        idle,
    ));
    stop(&mut app);

    let mut out = String::from(
        "| scenario | processes | PSS (MB) | CPU over idle (%) |\n|---|---|---|---|\n",
    );
    for r in &rows {
        out.push_str(&format!(
            "| {} | {} | {:.1} | {:.2} |\n",
            r.name, r.processes, r.pss_mb, r.cpu_percent
        ));
    }
    print!("{out}");
    let dir = bins.join("../bench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("footprint.txt"), out);
}

struct Row {
    name: &'static str,
    processes: usize,
    pss_mb: f64,
    cpu_percent: f64,
}

/// PSS now and CPU over `idle` seconds of the tree rooted at `pid`.
fn measure(name: &'static str, pid: u32, idle: u64) -> Row {
    let before = cpu_ticks(&tree(pid));
    std::thread::sleep(Duration::from_secs(idle));
    let pids = tree(pid);
    let after = cpu_ticks(&pids);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let pss_kb: u64 = pids.iter().map(|p| pss(*p)).sum();
    Row {
        name,
        processes: pids.len(),
        pss_mb: pss_kb as f64 / 1024.0,
        cpu_percent: (after.saturating_sub(before)) as f64 / hz / idle as f64 * 100.0,
    }
}

/// `pid` and all its descendants.
fn tree(pid: u32) -> Vec<u32> {
    let mut parent = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Some(fields) = stat(p) {
            if let Some(ppid) = fields.get(1).and_then(|f| f.parse::<u32>().ok()) {
                parent.insert(p, ppid);
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent.iter().filter(|(_, pp)| **pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// The fields of /proc/PID/stat after the command name (state is [0]).
fn stat(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = text.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| stat(*p))
        // utime and stime are fields 14 and 15 of stat: [11] and [12] here.
        .map(|f| {
            f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        })
        .sum()
}

fn pss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn uuid(n: usize) -> String {
    format!("7c2f1d3b-1e4a-4b6c-9d8e-{n:012}")
}

fn body(n: usize) -> String {
    format!(
        r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{}","short_id":"AL{n}"}},"metadata":{{"version":2,"created_at":{n}}}}}"#,
        uuid(n)
    )
}

fn launch(
    bin: &Path,
    args: &[&str],
    dir: &Path,
    api: &fake_sekoia::FakeSekoia,
    bus: &str,
    display: Option<&str>,
) -> Child {
    std::fs::create_dir_all(dir.join("run")).expect("dirs");
    let config = dir.join("config.toml");
    if !config.exists() {
        std::fs::write(
            &config,
            format!(
                "[sekoia]\napi_url = \"{}\"\n[listener]\nbind = \"127.0.0.1:0\"\nhook_secret = \"{SECRET}\"\n[tunnel]\npublic_url = \"https://bench.example.test\"\nselftest_interval = 0\n",
                api.url()
            ),
        )
        .expect("config");
    }
    let mut cmd = Command::new(bin);
    cmd.arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args);
    cmd.env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("SEKOIA_API_KEY", api.api_key())
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .env("RUST_LOG", "warn")
        .env_remove("DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(d) = display {
        cmd.env("DISPLAY", d);
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()))
}

fn wait_ready(data: &Path, child: &mut Child) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("exited early: {status}");
        }
        if let Some(addr) = std::fs::read_to_string(data.join("instance.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["listen"].as_str().and_then(|a| a.parse().ok()))
        {
            return addr;
        }
        assert!(Instant::now() < deadline, "did not start within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(child: &mut Child) {
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

fn post(addr: SocketAddr, body: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    let req = format!(
        "POST /hooks/{SECRET} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("status line");
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
