//! Idle footprint and start-up of the release builds, side by side with the
//! framework's floor (`bench/tauri-floor`, a hello-world Tauri 2 tray app):
//! proportional memory (PSS, /proc/PID/smaps_rollup) of each process tree,
//! its CPU use and its wakeups (context switches of every thread) over an
//! idle period split into WINDOWS equal windows (median, min, max).
//!
//! 1. `sekoia-notifierd serve`, idle.
//! 2. `sekoia-notifier` in the tray (a fake tray host on a private bus, an
//!    Xvfb display), no window open: no WebKit process runs.
//! 3. The same app with the feed window open over 1,000 alerts.
//! 7. The same app once the feed and settings windows are closed (as a
//!    window manager's close button does): the time until no WebKit web
//!    process is left (at most 10 s), then its footprint, beside the tray
//!    only figure (target: at most 1.15x). Measured right after 3.
//! 4. The floor in the tray, no window; 5. the floor with its window.
//! 6. Start-up, STARTS times each: exec to the listener accepting (daemon,
//!    app), exec to the tray item registered (app, floor).
//!
//! Usage: footprint-bench [IDLE_SECONDS] [WINDOWS] [STARTS] [PARTS]   (60, 3, 5, all)
//! PARTS is a comma list of `daemon`, `app` (2, 3, 7), `floor`, `startup`.
//! Writes target/bench/footprint.txt and target/bench/footprint.json.

#[path = "common.rs"]
mod common;

use common::{body, post, uuid, wait_ready};

use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "footprint-secret-0123456789abcdefgh";

fn main() {
    let mut args = std::env::args().skip(1);
    let idle: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let windows: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let starts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let parts = args.next().unwrap_or_else(|| "all".into());
    let part = |name: &str| parts == "all" || parts.split(',').any(|p| p == name);
    let window = Duration::from_secs_f64(idle as f64 / windows as f64);
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
    let display = fake_notifications::display::Display::start();
    let root = tempfile::tempdir().expect("tempdir");
    let daemon_bin = bins.join("sekoia-notifierd");
    let app_bin = bins.join("sekoia-notifier");
    let floor_bin = bins.join("tauri-floor");
    let env = Env {
        api: &api,
        bus: &bus.address,
        display: &display.name,
    };
    let mut rows = Vec::new();

    let mut closing_ms = None;
    // 1. The daemon.
    if part("daemon") {
        let daemon_dir = root.path().join("daemon");
        let mut daemon = env.launch(&daemon_bin, &["serve"], &daemon_dir, false);
        wait_ready(&daemon_dir.join("data"), &mut daemon);
        std::thread::sleep(Duration::from_secs(3));
        rows.push(measure(
            "sekoia-notifierd serve, idle",
            daemon.id(),
            window,
            windows,
        ));
        stop(&mut daemon);
    }

    // 2. The app in the tray, no window.
    if part("app") {
        let app_dir = root.path().join("app");
        let mut app = env.launch(&app_bin, &[], &app_dir, true);
        let addr = wait_ready(&app_dir.join("data"), &mut app);
        wait_tray(&host, 0);
        std::thread::sleep(Duration::from_secs(3));
        rows.push(measure(
            "sekoia-notifier, tray only (no window)",
            app.id(),
            window,
            windows,
        ));

        eprintln!("tray only: {}", breakdown(app.id()));
        eprintln!(
            "tray only, largest mappings: {}",
            largest_mappings(app.id(), 10)
        );
        // 3. 1,000 alerts, then the feed window (a second launch opens it).
        for n in 0..1000 {
            assert_eq!(post(addr, SECRET, &body(n)), 202);
        }
        let mut second = env.launch(&app_bin, &[], &app_dir, true);
        let _ = second.wait();
        std::thread::sleep(Duration::from_secs(15));
        rows.push(measure(
            "sekoia-notifier, feed window open (1,000 alerts)",
            app.id(),
            window,
            windows,
        ));

        // 7. The settings window too, then both closed.
        let service = host
            .items()
            .into_iter()
            .next()
            .expect("the app's tray item");
        let item = host.item(&service);
        let menu = runtime.block_on(item.menu()).expect("tray menu");
        let settings =
            fake_notifications::tray::MenuEntry::find(&menu, "Settings…").expect("Settings…");
        runtime
            .block_on(item.click(settings.id))
            .expect("menu click");
        std::thread::sleep(Duration::from_secs(5));
        let asked = display.close_windows("Sekoia Notifier")
            + display.close_windows("Sekoia Notifier settings");
        assert_eq!(
            asked, 2,
            "the feed and settings windows were not both found"
        );
        let t0 = Instant::now();
        while web_processes(app.id()) > 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "WebKit web processes still run 10 s after the windows closed"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        closing_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_secs(3));
        for p in tree(app.id()) {
            eprintln!("after closing the windows: {}", breakdown(p));
            eprintln!(
                "after closing the windows, largest mappings: {}",
                largest_mappings(p, 10)
            );
        }
        rows.push(measure(
            "sekoia-notifier, after closing the feed and settings windows",
            app.id(),
            window,
            windows,
        ));
        eprintln!(
            "after closing the windows, at the end of the measure: {}; largest mappings: {}",
            breakdown(app.id()),
            largest_mappings(app.id(), 12)
        );
        stop(&mut app);
    }

    // 4, 5. The framework's floor, without and with its window.
    for (name, args) in [
        ("floor: hello-world Tauri tray app, no window", &[][..]),
        (
            "floor: hello-world Tauri tray app, one window",
            &["--window"][..],
        ),
    ] {
        if !part("floor") {
            break;
        }
        let before = host.items().len();
        let mut floor = env.launch(&floor_bin, args, &root.path().join("floor"), true);
        wait_tray(&host, before);
        std::thread::sleep(Duration::from_secs(if args.is_empty() { 3 } else { 10 }));
        rows.push(measure(name, floor.id(), window, windows));
        stop(&mut floor);
    }

    // 6. Start-up.
    let mut startup = Vec::new();
    if part("startup") {
        let port = free_port();
        let daemon_dir = root.path().join("start-daemon");
        env.config(&daemon_dir, &format!("127.0.0.1:{port}"));
        startup.push(("sekoia-notifierd serve: exec to listener accepting", {
            let mut runs = Vec::new();
            for _ in 0..starts {
                let t0 = Instant::now();
                let mut child = env.launch(&daemon_bin, &["serve"], &daemon_dir, false);
                runs.push(wait_accepting(port, &mut child, t0));
                stop(&mut child);
            }
            runs
        }));
        let app_dir = root.path().join("start-app");
        env.config(&app_dir, &format!("127.0.0.1:{port}"));
        let (mut accept, mut tray) = (Vec::new(), Vec::new());
        for _ in 0..starts {
            let before = host.items().len();
            let t0 = Instant::now();
            let mut child = env.launch(&app_bin, &[], &app_dir, true);
            // Both at once: the tray may come before the listener or after.
            let (mut accepted, mut registered) = (None, None);
            while accepted.is_none() || registered.is_none() {
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                if accepted.is_none() && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    accepted = Some(ms);
                }
                if registered.is_none() && host.items().len() > before {
                    registered = Some(ms);
                }
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("the app exited early: {status}");
                }
                assert!(ms < 30_000.0, "the app did not start within 30 s");
                std::thread::sleep(Duration::from_millis(1));
            }
            accept.extend(accepted);
            tray.extend(registered);
            stop(&mut child);
        }
        startup.push(("sekoia-notifier: exec to listener accepting", accept));
        startup.push(("sekoia-notifier: exec to tray item registered", tray));
        startup.push(("floor: exec to tray item registered", {
            let mut runs = Vec::new();
            for _ in 0..starts {
                let before = host.items().len();
                let t0 = Instant::now();
                let mut child = env.launch(&floor_bin, &[], &root.path().join("floor"), true);
                wait_tray(&host, before);
                runs.push(t0.elapsed().as_secs_f64() * 1000.0);
                stop(&mut child);
            }
            runs
        }));
    }

    let mut out = format!(
        "Idle footprint: {idle} s idle in {windows} windows, median (min-max)\n\
         | scenario | processes | PSS (MB) | CPU (%) | wakeups/s |\n|---|---|---|---|---|\n"
    );
    let mut json_rows = Vec::new();
    for r in &rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.name,
            r.processes,
            common::text(&r.pss_mb, 1),
            common::text(&r.cpu_percent, 2),
            common::text(&r.wakeups_per_s, 1),
        ));
        json_rows.push(json!({
            "scenario": r.name,
            "processes": r.processes,
            "pss_mb": r.pss_mb,
            "cpu_percent": r.cpu_percent,
            "wakeups_per_s": r.wakeups_per_s,
        }));
    }
    if let Some(ms) = closing_ms {
        out.push_str(&format!(
            "\nWebKit web processes gone {ms:.0} ms after the windows were closed\n"
        ));
    }
    out.push_str(&format!(
        "\nStart-up, {starts} runs, ms, median (min-max)\n"
    ));
    let mut json_startup = Vec::new();
    for (name, runs) in &startup {
        let s = common::summary(runs);
        out.push_str(&format!("  {name}: {}\n", common::text(&s, 0)));
        json_startup.push(json!({ "what": name, "ms": s }));
    }
    print!("{out}");
    let json = json!({
        "idle_s": idle,
        "windows": windows,
        "idle": json_rows,
        "closing_ms": closing_ms,
        "startup": json_startup,
    });
    let dir = bins.join("../bench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("footprint.txt"), out);
    let _ = std::fs::write(dir.join("footprint.json"), json.to_string());
}

struct Row {
    name: &'static str,
    processes: usize,
    pss_mb: Value,
    cpu_percent: Value,
    wakeups_per_s: Value,
}

/// PSS, CPU and wakeups of the tree rooted at `pid`, over `count` windows.
fn measure(name: &'static str, pid: u32, window: Duration, count: u64) -> Row {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let (mut pss_mb, mut cpu, mut wakeups) = (Vec::new(), Vec::new(), Vec::new());
    let mut processes = 0;
    for _ in 0..count {
        let pids = tree(pid);
        let (ticks0, switches0) = (cpu_ticks(&pids), switches(&pids));
        let t0 = Instant::now();
        std::thread::sleep(window);
        let pids = tree(pid);
        let secs = t0.elapsed().as_secs_f64();
        let (ticks1, switches1) = (cpu_ticks(&pids), switches(&pids));
        cpu.push(ticks1.saturating_sub(ticks0) as f64 / hz / secs * 100.0);
        // Per thread: a thread that ended in the window takes its count
        // with it (an undercount), one that started counts from zero.
        let woke: u64 = switches1
            .iter()
            .map(|(tid, n)| n.saturating_sub(switches0.get(tid).copied().unwrap_or(0)))
            .sum();
        wakeups.push(woke as f64 / secs);
        pss_mb.push(pids.iter().map(|p| pss(*p)).sum::<u64>() as f64 / 1024.0);
        processes = pids.len();
    }
    Row {
        name,
        processes,
        pss_mb: common::summary(&pss_mb),
        cpu_percent: common::summary(&cpu),
        wakeups_per_s: common::summary(&wakeups),
    }
}

/// Voluntary and involuntary context switches of every thread of `pids`,
/// by thread id: each one is the thread waking up (or being preempted).
fn switches(pids: &[u32]) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for pid in pids {
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
                continue;
            };
            let n = status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
            out.insert(task.file_name().to_string_lossy().into_owned(), n);
        }
    }
    out
}

/// One process's name and memory by kind (anonymous, file-backed, shared
/// memory) from /proc/PID/smaps_rollup: what stays after the windows.
fn breakdown(pid: u32) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let kinds: Vec<String> = rollup
        .lines()
        .filter(|l| {
            l.starts_with("Pss_Anon") || l.starts_with("Pss_File") || l.starts_with("Pss_Shmem")
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    format!(
        "{} {:.1} MB PSS ({})",
        comm.trim(),
        pss(pid) as f64 / 1024.0,
        kinds.join(", ")
    )
}

/// The `count` mappings of `pid` holding the most PSS, summed by path
/// (anonymous ones as `[anon]`, heap as `[heap]`), from /proc/PID/smaps:
/// which libraries and heaps make up a figure.
fn largest_mappings(pid: u32, count: usize) -> String {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by_path: std::collections::HashMap<String, u64> = Default::default();
    let mut path = String::new();
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [range, _, _, _, _, rest @ ..] if range.contains('-') && !range.ends_with(':') => {
                path = rest.first().map_or("[anon]".to_string(), |p| {
                    p.rsplit('/').next().unwrap_or(p).to_string()
                });
            }
            ["Pss:", kb, ..] => {
                *by_path.entry(path.clone()).or_default() += kb.parse::<u64>().unwrap_or(0)
            }
            _ => {}
        }
    }
    let mut all: Vec<_> = by_path.into_iter().collect();
    all.sort_by_key(|p| std::cmp::Reverse(p.1));
    all.iter()
        .take(count)
        .map(|(p, kb)| format!("{p} {:.1} MB", *kb as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many WebKit web processes (one per open window) run under `pid`.
fn web_processes(pid: u32) -> usize {
    tree(pid)
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.starts_with("WebKitWebProces"))
        })
        .count()
}

fn wait_tray(host: &fake_notifications::tray::Watcher, before: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.items().len() <= before {
        assert!(Instant::now() < deadline, "the tray item did not register");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Milliseconds from `t0` until `port` accepts a connection.
fn wait_accepting(port: u16, child: &mut Child, t0: Instant) -> f64 {
    let deadline = t0 + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return t0.elapsed().as_secs_f64() * 1000.0;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("exited early: {status}");
        }
        assert!(Instant::now() < deadline, "not accepting within 30 s");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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

/// What every launched process shares: the fake API, the bus, the display.
struct Env<'a> {
    api: &'a fake_sekoia::FakeSekoia,
    bus: &'a str,
    display: &'a str,
}

impl Env<'_> {
    /// Writes `dir/config.toml` listening on `bind`.
    fn config(&self, dir: &Path, bind: &str) {
        std::fs::create_dir_all(dir).expect("dir");
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "[sekoia]\napi_url = \"{}\"\n[listener]\nbind = \"{bind}\"\nhook_secret = \"{SECRET}\"\n[tunnel]\npublic_url = \"https://bench.example.test\"\nselftest_interval = 0\n",
                self.api.url()
            ),
        )
        .expect("config");
    }

    /// Starts `bin` over `dir` (config written on first use), on the
    /// display when `gui`.
    fn launch(&self, bin: &Path, args: &[&str], dir: &Path, gui: bool) -> Child {
        std::fs::create_dir_all(dir.join("run")).expect("dirs");
        let config = dir.join("config.toml");
        if !config.exists() {
            self.config(dir, "127.0.0.1:0");
        }
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(args);
        cmd.env("DBUS_SESSION_BUS_ADDRESS", self.bus)
            .env("SEKOIA_API_KEY", self.api.api_key())
            .env("HOME", dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_DATA_HOME", dir.join("xdg-data"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env("XDG_RUNTIME_DIR", dir.join("run"))
            .env("RUST_LOG", "warn")
            // Dumpable, or /proc/PID/smaps_rollup (PSS) is unreadable.
            .env("SEKOIA_NOTIFIER_DUMPABLE", "1")
            .env_remove("DISPLAY")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if gui {
            cmd.env("DISPLAY", self.display);
        }
        cmd.spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()))
    }
}

fn stop(child: &mut Child) {
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}
