//! What each subcommand does, on top of `notifier-core`. Errors become one
//! readable line on stderr and an exit code: 2 for usage or configuration
//! problems, 1 for everything else.
//!
//! In detail: `cli` (clap types, `--help` examples, the version line with the
//! commit; `completions <shell>` through clap_complete, answered before any
//! config is read), `commands` (what each subcommand does, error -> exit code;
//! `serve` takes a given key without the keyring, else waits 5 s for the
//! keyring and restarts the engine with its late key, watches signals before
//! the engine starts and stops within 8 s + 1 s of runtime grace; `status
//! [--json]` reads `instance.json` and the store, naming forward destinations
//! by kind and host). `main.rs` only parses and dispatches. `check` prints a
//! `network` line (the proxy and the trusted roots) and names the failing leg
//! of a connection (proxy, credentials, certificate) rather than the key.

use crate::cli::{Cli, Command, LogFormat};
use anyhow::Context;
use notifier_core::engine::{self, Engine, Options};
use notifier_core::health::Health;
use notifier_core::network::{self, Network};
use notifier_core::reach::{self, Gap};
use notifier_core::sekoia::{ApiKey, Client, ClientConfig, SekoiaError};
use notifier_core::settings::TunnelKind;
use notifier_core::settings::{self, Paths, Settings, SettingsError};
use notifier_core::store::{FeedEntry, Reader};
use notifier_core::tunnel::Tunnel;
use notifier_core::{liveapi, monitor, outbox, secrets, selftest};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

pub fn run(cli: Cli) -> ExitCode {
    // Completions touch neither the config nor the data directory.
    if let Command::Completions { shell } = cli.command {
        return match completions(shell) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sekoia-notifierd: cannot write the completion script: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let (level, format) = match cli.command {
        Command::Serve { log_format } => ("info", log_format),
        _ => ("warn", LogFormat::Human),
    };
    // `serve` also logs to a daily file in the data dir, for support.
    let log_dir = match cli.command {
        Command::Serve { .. } => {
            Paths::resolve(cli.locations.config.clone(), cli.locations.data_dir.clone())
                .ok()
                .map(|p| p.data_dir)
        }
        _ => None,
    };
    init_logging(level, format, log_dir.as_deref());
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sekoia-notifierd: {e:#}");
            if e.downcast_ref::<SettingsError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Writes the completion script for `shell` on stdout. It is generated in
/// memory first: clap_complete panics when its writer fails (a closed pipe).
fn completions(shell: clap_complete::Shell) -> std::io::Result<()> {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "sekoia-notifierd", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let paths = Paths::resolve(cli.locations.config, cli.locations.data_dir)?;
    let loaded = settings::load_or_init(&paths.config_file)?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    if loaded.created {
        tracing::info!(path = %loaded.path.display(), "wrote a new configuration with a generated webhook secret");
    }
    let settings = loaded.settings;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve { .. } => {
            let served = runtime.block_on(serve(&settings, &paths));
            // Tasks still blocked on a peer must not hold the exit.
            runtime.shutdown_timeout(RUNTIME_GRACE);
            served
        }
        Command::Feed { json, limit, gaps } => feed(&settings, &paths, json, limit, gaps),
        Command::RegenerateSecret => runtime.block_on(regenerate_secret(&settings, &paths)),
        Command::Check => runtime.block_on(check(&settings, &paths)),
        Command::SetApiKey => set_api_key(),
        Command::SendTest => runtime.block_on(send_test(&settings, &paths)),
        Command::Status { json } => runtime.block_on(status(&settings, &paths, json)),
        // `run` answers it before the config is read; kept total here.
        Command::Completions { shell } => {
            completions(shell).context("cannot write the completion script")
        }
        Command::WebhookUrl => {
            let url = runtime
                .block_on(engine::webhook_url(&settings, &paths.data_dir))
                .context("no webhook URL: the configuration has no listener.hook_secret")?;
            if url
                .host_str()
                .is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "::1")
            {
                if settings.liveapi.enabled {
                    eprintln!("note: this URL is local; events come over the LiveAPI (direct mode), so no webhook is needed");
                } else {
                    eprintln!("note: this URL is local; Sekoia.io needs a public HTTPS URL (configure [tunnel], or [liveapi] enabled = true for direct mode)");
                }
            }
            // A tunnel URL the self-test has not confirmed (or refuted).
            if let Some(state) = runtime
                .block_on(engine::running(&paths.data_dir))
                .and_then(|i| i.tunnel)
                .filter(|s| {
                    s.starts_with("checking")
                        || s.starts_with("unreachable")
                        || s.contains("plain http")
                })
            {
                eprintln!("note: the tunnel is {state}");
            }
            println!("{url}");
            Ok(())
        }
    }
}

async fn serve(settings: &Settings, paths: &Paths) -> anyhow::Result<()> {
    // A bad forward destination is a configuration error: say so first.
    // The keyring and the files are read on a blocking thread.
    let (setup, config) = (settings.clone(), paths.config_file.clone());
    let (forward, (api_key, late)) = tokio::task::spawn_blocking(move || {
        settings::forward_targets(&setup.forward, &config).map(|f| (f, first_key(&setup)))
    })
    .await??;
    let sinks: Vec<_> = engine::desktop_sink(settings).into_iter().collect();
    let options = |api_key| Options {
        api_key,
        sinks: sinks.clone(),
        forward: forward.clone(),
        ..Options::default()
    };
    // Watched before the engine starts: a SIGTERM during the start is a
    // clean stop too, never the default kill.
    let mut signals = Signals::watch()?;
    let mut engine = Engine::start(settings, &paths.data_dir, options(api_key)).await?;
    // A keyring still asking for its password: its late key restarts the
    // engine with it.
    let mut late =
        late.map(|rx| tokio::task::spawn_blocking(move || rx.recv_timeout(KEYRING_LATE_MAX)));
    loop {
        tokio::select! {
            stopped = run_until_stopped(&engine, paths, &mut signals) => {
                stopped?;
                break;
            }
            Some(answer) = async { match late.as_mut() { Some(task) => Some(task.await), None => None } } => {
                late = None;
                let Ok(Ok(Ok(Some(key)))) = answer else {
                    tracing::warn!("the OS keyring never gave the API key; serving without it (unlock the keyring and restart, or set SEKOIA_API_KEY)");
                    continue;
                };
                tracing::info!("the OS keyring answered: restarting the engine with the API key");
                engine.stop().await;
                engine = Engine::start(settings, &paths.data_dir, options(Some(key))).await?;
            }
        }
    }
    tracing::info!("shutting down: no new requests, finishing those in flight");
    // Whatever a peer does (a hanging notification server, tunnel or API),
    // the process ends in time: everything answered 202 is already on disk.
    if tokio::time::timeout(STOP_DEADLINE, engine.stop())
        .await
        .is_err()
    {
        tracing::warn!(
            "the engine did not stop within {} s; exiting anyway (every event acknowledged is already stored)",
            STOP_DEADLINE.as_secs()
        );
    }
    Ok(())
}

/// The daemon's key: one given to it (env, credential, file) without
/// touching the keyring; else the keyring's, waited for at most
/// [`KEYRING_FIRST_WAIT`] (past it, the listener starts without the key and
/// the second value brings the keyring's late answer).
fn first_key(settings: &Settings) -> (Option<ApiKey>, Option<LateKey>) {
    let found = match secrets::given_key(settings) {
        Ok(Some(found)) => Ok(found),
        Ok(None) => match secrets::from_keyring_or_later(KEYRING_FIRST_WAIT) {
            secrets::KeyringRead::Answered(read) => secrets::resolve_after_keyring(settings, read),
            secrets::KeyringRead::Late(late) => {
                tracing::warn!(
                    "events are stored and shown without enrichment until the keyring answers"
                );
                return (None, Some(late));
            }
        },
        Err(e) => Err(e),
    };
    match found {
        Ok((key, source)) => {
            tracing::info!(%source, "API key found; alerts will be enriched");
            (Some(key), None)
        }
        Err(e) => {
            tracing::warn!("{e}; events are stored and shown without enrichment");
            (None, None)
        }
    }
}

/// A keyring read still going (see `secrets::from_keyring_or_later`).
type LateKey = std::sync::mpsc::Receiver<Result<Option<ApiKey>, secrets::SecretsError>>;
/// The longest the start waits for the keyring before serving without it.
const KEYRING_FIRST_WAIT: Duration = Duration::from_secs(5);
/// How long a late keyring answer is still taken.
const KEYRING_LATE_MAX: Duration = Duration::from_secs(600);

/// Longest clean stop after SIGTERM/SIGINT; the runtime then gets
/// [`RUNTIME_GRACE`], so the process is gone within 10 s of the signal.
const STOP_DEADLINE: Duration = Duration::from_secs(8);
const RUNTIME_GRACE: Duration = Duration::from_secs(1);

/// The signals `serve` acts on, watched from before the engine starts.
#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn watch() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot watch SIGHUP")?,
        })
    }
}

/// Serves until SIGINT or SIGTERM; SIGHUP re-reads the hook secret from
/// the config (what `regenerate-secret` sends).
#[cfg(unix)]
async fn run_until_stopped(
    engine: &Engine,
    paths: &Paths,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = signals.term.recv() => return Ok(()),
            _ = signals.int.recv() => return Ok(()),
            _ = signals.hup.recv() => reload_secret(engine, paths),
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn watch() -> anyhow::Result<Signals> {
        Ok(Signals)
    }
}

#[cfg(not(unix))]
async fn run_until_stopped(
    _engine: &Engine,
    _paths: &Paths,
    _: &mut Signals,
) -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("cannot watch Ctrl-C")
}

/// Switches the listener to the hook secret now in the config; a config
/// that does not load changes nothing (and says why).
#[cfg(unix)]
fn reload_secret(engine: &Engine, paths: &Paths) {
    match settings::load_or_init(&paths.config_file) {
        Ok(loaded) => match loaded.settings.listener.hook_secret {
            Some(secret) => engine.set_hook_secret(secret),
            None => {
                tracing::warn!("the reloaded config has no hook_secret; keeping the current one")
            }
        },
        Err(e) => tracing::warn!("config not reloaded, the webhook secret is unchanged: {e}"),
    }
}

/// How long `check` waits for each leg of a connection.
const CHECK_WAIT: Duration = Duration::from_secs(10);
/// Longest wait for the API key check, retries included.
const CHECK_API_DEADLINE: Duration = Duration::from_secs(20);

/// One line per check; an error when any failed (exit 1).
async fn check(settings: &Settings, paths: &Paths) -> anyhow::Result<()> {
    let mut failed = 0;
    let mut line = |ok: bool, what: &str, detail: String| {
        if !ok {
            failed += 1;
        }
        println!("{:<5} {what:<9} {detail}", if ok { "ok" } else { "FAIL" });
    };
    line(
        true,
        "config",
        format!("{} is valid", paths.config_file.display()),
    );

    // The proxy and the trusted roots every connection below uses.
    let network = match Network::new(&settings.network) {
        Ok(network) => {
            line(true, "network", network.summary());
            network
        }
        Err(e) => {
            line(false, "network", e.to_string());
            Network::system()
        }
    };

    // The keyring and key files: on a blocking thread.
    let lookup = settings.clone();
    let resolved =
        tokio::task::spawn_blocking(move || secrets::resolve_given_first(&lookup)).await?;
    let api_url = settings.api_url();
    match &resolved {
        Err(e) => line(false, "api key", e.to_string()),
        Ok((key, source)) => {
            let config = ClientConfig {
                network: network.clone(),
                ..ClientConfig::new(api_url.clone())
            };
            let client = Client::new(config, key.clone())?;
            let answered = tokio::time::timeout(CHECK_API_DEADLINE, client.me()).await;
            let answered = answered.unwrap_or(Err(notifier_core::sekoia::SekoiaError::Timeout));
            match answered {
                Ok(_) => line(
                    true,
                    "api key",
                    format!("from {source}, accepted by {api_url}"),
                ),
                // The connection failed before Sekoia.io saw the key: say
                // which leg (proxy, tunnel, certificate), not "api key".
                Err(
                    e @ (SekoiaError::Connection(_)
                    | SekoiaError::Network { .. }
                    | SekoiaError::Timeout),
                ) => {
                    let detail = match network::diagnose(&network, &api_url, CHECK_WAIT).await {
                        Err(failure) => failure.to_string(),
                        Ok(route) => format!("reached {route}, then: {e}"),
                    };
                    line(
                        false,
                        "api",
                        format!("{api_url}: {detail} (the API key from {source} was not checked)"),
                    )
                }
                Err(e) => line(false, "api key", format!("from {source}: {e}")),
            }
        }
    }

    let bind = settings.listener.bind;
    match std::net::TcpListener::bind(bind) {
        Ok(_) => line(true, "listener", format!("{bind} is free")),
        Err(e) => match engine::running_instance(&paths.data_dir).await {
            Some(addr) if addr == bind || bind.port() == 0 => line(
                true,
                "listener",
                format!("{addr} is served by the running sekoia-notifierd"),
            ),
            _ => line(
                false,
                "listener",
                format!("{bind} is not available: {e}; change listener.bind"),
            ),
        },
    }

    match settings::forward_targets(&settings.forward, &paths.config_file) {
        Ok(targets) if targets.is_empty() => line(true, "forward", "none configured".to_owned()),
        Ok(targets) => {
            let names: Vec<String> = targets
                .iter()
                .map(|t| outbox::destination_name(&t.destination))
                .collect();
            line(
                true,
                "forward",
                format!("{} (see `status` for deliveries)", names.join(", ")),
            );
        }
        Err(e) => line(false, "forward", e.to_string()),
    }

    // Direct mode: one real connection to the LiveAPI with the key.
    let live_url = settings.liveapi_url();
    match (settings.liveapi.enabled, &resolved) {
        (false, _) => line(
            true,
            "liveapi",
            "off (webhook only; [liveapi] enabled = true for direct mode)".to_owned(),
        ),
        (true, Err(_)) => line(false, "liveapi", format!("{live_url}: needs the API key")),
        (true, Ok((key, _))) => match liveapi::probe(&live_url, key, CHECK_WAIT, &network).await {
            Ok(()) => line(true, "liveapi", format!("{live_url} accepted the key")),
            Err(e) => line(false, "liveapi", format!("{live_url}: {e}")),
        },
    }

    let running = engine::running(&paths.data_dir).await;
    match (settings.tunnel.kind, Tunnel::validate(&settings.tunnel)) {
        (TunnelKind::None, _)
            if settings.liveapi.enabled && settings.tunnel.public_url.is_none() =>
        {
            line(
                true,
                "tunnel",
                "none: events come over the LiveAPI (direct mode)".to_owned(),
            )
        }
        (TunnelKind::None, _) => match &settings.tunnel.public_url {
            Some(url) => line(
                true,
                "tunnel",
                format!("none; public URL {url} (test it with send-test)"),
            ),
            None => line(
                true,
                "tunnel",
                "none: the webhook URL is local only; Sekoia.io needs a public HTTPS URL"
                    .to_owned(),
            ),
        },
        (kind, Err(e)) => line(false, "tunnel", format!("{kind}: {e}")),
        (kind, Ok(())) => match running.as_ref().and_then(|i| i.tunnel.clone()) {
            Some(state) => line(
                !state.starts_with("failed")
                    && !state.starts_with("restarting")
                    && !state.starts_with("unreachable")
                    && !state.contains("plain http"),
                "tunnel",
                format!("{kind}: {state}"),
            ),
            None => line(
                true,
                "tunnel",
                format!("{kind}: ready to start with `sekoia-notifierd serve`"),
            ),
        },
    }

    // The last delivery self-test, as the engine recorded it.
    let dir = paths.data_dir.clone();
    let recorded =
        tokio::task::spawn_blocking(move || Reader::open(&dir).and_then(|r| monitor::recorded(&r)))
            .await?;
    match recorded {
        Err(e) => line(false, "self-test", format!("cannot read the store: {e}")),
        Ok(recorded) => {
            let health = recorded.map(|(_, h)| h);
            // Pop-ups given up by the running engine (a notification server
            // that fails or does not answer in time).
            if let (Some(h), Some(_)) = (&health, &running) {
                if h.popups != notifier_core::health::PopupHealth::Ok {
                    line(false, "pop-ups", h.popups.words());
                }
            }
            let (ok, detail) = selftest_line(health, running.is_some());
            line(ok, "self-test", detail);
        }
    }

    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}

/// `check`'s self-test line: a failure counts only while an instance runs
/// (an old run's result is history).
fn selftest_line(health: Option<Health>, running: bool) -> (bool, String) {
    let Some(test) = health.and_then(|h| h.selftest) else {
        return (
            true,
            "none yet: run `sekoia-notifierd send-test` while `serve` runs".to_owned(),
        );
    };
    let when = if running { "" } else { " (previous run)" };
    let detail = if test.ok {
        format!("passed at {}{when}: {}", test.at, test.message)
    } else {
        format!("failed at {}{when}: {}", test.at, test.message)
    };
    (test.ok || !running, detail)
}

/// Writes a new hook secret into the config and prints the new webhook URL.
async fn regenerate_secret(settings: &Settings, paths: &Paths) -> anyhow::Result<()> {
    let secret = settings::regenerate_secret(&paths.config_file)?;
    let mut updated = settings.clone();
    updated.listener.hook_secret = Some(secret);
    let url = engine::webhook_url(&updated, &paths.data_dir)
        .await
        .context("the new secret was written but no webhook URL can be built")?;
    println!("{url}");
    let kept_in = match (
        &settings.listener.hook_secret_file,
        settings_has_inline_secret(&paths.config_file),
    ) {
        (Some(file), false) => file.clone(),
        _ => paths.config_file.clone(),
    };
    eprintln!(
        "A new webhook secret is in {}: paste the URL above into Sekoia.io \
         (Settings > Notifications > your WebHook); the old URL stops working.",
        kept_in.display()
    );
    if let Some(instance) = engine::running(&paths.data_dir).await {
        if switch_running(&instance, updated.listener.hook_secret.as_ref()).await {
            eprintln!(
                "The running sekoia-notifierd (pid {}) now answers only the new URL.",
                instance.pid
            );
        } else {
            eprintln!(
                "The running sekoia-notifierd (pid {}) still answers the old URL: restart it \
                 (a quick tunnel's address may change too; run `sekoia-notifierd webhook-url` after).",
                instance.pid
            );
        }
    }
    Ok(())
}

/// Whether the config file itself holds `listener.hook_secret` (else a
/// `hook_secret_file` keeps it).
fn settings_has_inline_secret(config: &std::path::Path) -> bool {
    std::fs::read_to_string(config)
        .ok()
        .and_then(|text| settings::parse(&text, config).ok())
        .is_some_and(|(s, _)| s.listener.hook_secret.is_some())
}

/// Tells the running instance to take the new secret and waits (up to 5 s)
/// until its listener answers it.
async fn switch_running(
    instance: &engine::Instance,
    secret: Option<&settings::HookSecret>,
) -> bool {
    let Some(secret) = secret else { return false };
    if let Err(e) = engine::ask_reload(instance) {
        tracing::warn!("cannot signal the running instance: {e}");
        return false;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if engine::answers_secret(instance.listen, secret).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn send_test(settings: &Settings, paths: &Paths) -> anyhow::Result<()> {
    if engine::running_instance(&paths.data_dir).await.is_none() {
        anyhow::bail!(
            "no running sekoia-notifierd uses {}: start `sekoia-notifierd serve` first",
            paths.data_dir.display()
        );
    }
    let (url, route) = engine::webhook(settings, &paths.data_dir)
        .await
        .context("no webhook URL: the configuration has no listener.hook_secret")?;
    // A plain http URL a tunnel shows never gets the secret.
    if route == selftest::Route::Public
        && selftest::refuses_plain(
            &url,
            settings.tunnel.public_url.as_ref(),
            settings.tunnel.allow_plain_http,
        )
    {
        return Err(selftest::SelfTestError::PlainHttp {
            url_host: url.host_str().unwrap_or("the webhook URL").to_owned(),
        }
        .into());
    }
    let network = Network::new(&settings.network)?;
    // A public URL proves it leads to the running instance (this start's
    // proof, without the secret) before the test carries the secret.
    if route == selftest::Route::Public {
        let proof = engine::running(&paths.data_dir)
            .await
            .and_then(|i| i.proof)
            .context(
                "the running sekoia-notifierd records no URL proof (an older version): restart it",
            )?;
        proof
            .check(&url, &network)
            .await
            .map_err(selftest::SelfTestError::from)?;
    }
    let delivered = selftest::send_test(
        &url,
        route,
        &paths.data_dir,
        Duration::from_secs(15),
        &network,
    )
    .await?;
    match route {
        selftest::Route::Public => println!(
            "Test event {} went through {} and reached the feed in {} ms.",
            delivered.nonce,
            url.host_str().unwrap_or("the webhook URL"),
            delivered.round_trip.as_millis()
        ),
        selftest::Route::Local => println!(
            "Test event {} {} ({} ms); it reached the feed.",
            delivered.nonce,
            selftest::LOCAL_ONLY,
            delivered.round_trip.as_millis()
        ),
    }
    Ok(())
}

async fn status(settings: &Settings, paths: &Paths, json: bool) -> anyhow::Result<()> {
    let instance = engine::running(&paths.data_dir).await;
    // The keyring, the files and SQLite: on a blocking thread.
    let (entries, config, dir) = (
        settings.forward.clone(),
        paths.config_file.clone(),
        paths.data_dir.clone(),
    );
    let (counts, footprint, forward, health) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let targets = settings::forward_targets(&entries, &config)?;
            let reader = Reader::open(&dir)?;
            Ok((
                reader.counts()?,
                reader.footprint()?,
                outbox::status(&reader, &targets)?,
                // The running engine's last recorded health: tunnel, API
                // (its last error in words), last self-test.
                notifier_core::monitor::recorded(&reader)?,
            ))
        })
        .await??;
    let mut out = std::io::stdout().lock();
    if json {
        let status = serde_json::json!({
            "running": instance.is_some(),
            "pid": instance.as_ref().map(|i| i.pid),
            "listen": instance.as_ref().map(|i| i.listen.to_string()),
            "tunnel": instance.as_ref().and_then(|i| i.tunnel.clone()),
            "events": counts,
            "store": serde_json::json!({
                "size": footprint,
                "keep_days": settings.store.keep_days,
            }),
            "health": health.as_ref().map(|(at, h)| serde_json::json!({
                "recorded_at": at.format(&time::format_description::well_known::Rfc3339).ok(),
                "state": h,
                "warning": h.warning(),
            })),
            "forward": forward,
            "liveapi": serde_json::json!({
                "enabled": settings.liveapi.enabled,
                "url": settings.liveapi_url().to_string(),
                "state": health.as_ref().map(|(_, h)| &h.liveapi),
            }),
        });
        serde_json::to_writer_pretty(&mut out, &status)?;
        writeln!(out)?;
        return Ok(());
    }
    match &instance {
        Some(i) => writeln!(out, "running   pid {}, listening on {}", i.pid, i.listen)?,
        None => writeln!(
            out,
            "stopped   no sekoia-notifierd serves {}",
            paths.data_dir.display()
        )?,
    }
    if let Some(tunnel) = instance.as_ref().and_then(|i| i.tunnel.as_deref()) {
        writeln!(out, "tunnel    {}", printable(tunnel))?;
    }
    if settings.liveapi.enabled {
        let state = match (&instance, &health) {
            (Some(_), Some((_, h))) => h.liveapi.words(),
            _ => "enabled; not running".to_owned(),
        };
        writeln!(out, "liveapi   {}", printable(&state))?;
    }
    if let (Some(_), Some((_, h))) = (&instance, &health) {
        if h.popups != notifier_core::health::PopupHealth::Ok {
            writeln!(out, "pop-ups   {}", printable(&h.popups.words()))?;
        }
        if let Some(warning) = h.warning() {
            writeln!(out, "warning   {}", printable(&warning))?;
        }
    }
    writeln!(
        out,
        "events    {} stored, {} waiting for the pipeline",
        counts.stored, counts.waiting
    )?;
    writeln!(
        out,
        "store     {}",
        store_words(&footprint, settings.store.keep_days)
    )?;
    if forward.is_empty() {
        writeln!(out, "forward   none configured ([[forward]] in the config)")?;
    }
    for f in &forward {
        let last_ok = f.last_success.as_deref().unwrap_or("never");
        writeln!(
            out,
            "forward   {}: {}; {} sent, {} queued, {} failed; last success {last_ok}",
            printable(&f.name),
            f.health,
            f.sent,
            f.queued,
            f.failed
        )?;
        if let Some(failure) = &f.last_failure {
            writeln!(
                out,
                "          last failure {}: {}",
                failure.at,
                printable(&failure.error)
            )?;
        }
    }
    Ok(())
}

/// The `store` line of `status`: size on disk, rows, retention.
fn store_words(f: &notifier_core::store::Footprint, keep_days: u32) -> String {
    let mb = |b: u64| b as f64 / 1e6;
    let keep = match keep_days {
        0 => "keeps everything".to_owned(),
        d => format!("keeps {d} days"),
    };
    format!(
        "{:.1} MB ({:.1} MB free, WAL {:.1} MB); {} events in {} feed rows, {} cached alerts, {} cases, {} forwards; {keep}",
        mb(f.file_bytes),
        mb(f.free_bytes),
        mb(f.wal_bytes),
        f.events,
        f.rows,
        f.alerts,
        f.cases,
        f.forwards
    )
}

/// Reads one line from stdin and stores it in the OS keyring.
fn set_api_key() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let text = if stdin.is_terminal() {
        // From the terminal with echo off: the key never shows on screen
        // (nor in a terminal's scrollback or a screen recording).
        eprintln!("Paste the Sekoia.io API key and press Enter (it is not shown):");
        rpassword::read_password().context("cannot read the API key from the terminal")?
    } else {
        let mut text = String::new();
        stdin
            .read_line(&mut text)
            .context("cannot read the API key from stdin")?;
        text
    };
    let key = ApiKey::new(text).map_err(|e| anyhow::anyhow!("{e}; nothing was stored"))?;
    secrets::store_in_keyring(&key)?;
    println!(
        "Stored the API key in the OS keyring (service {}, user {}).",
        secrets::SERVICE,
        secrets::USER
    );
    Ok(())
}

fn feed(
    settings: &Settings,
    paths: &Paths,
    json: bool,
    limit: usize,
    with_gaps: bool,
) -> anyhow::Result<()> {
    let reader = Reader::open(&paths.data_dir)?;
    let entries = reader.feed(limit, settings)?;
    // The gaps that overlap the period the entries cover (all of them when
    // the feed is not cut by the limit).
    let since = match entries.last() {
        Some(oldest) if entries.len() == limit => parse_time(&oldest.received_at),
        _ => time::OffsetDateTime::UNIX_EPOCH,
    };
    let gaps = reach::gaps(&reader, since)?;
    let mut out = std::io::stdout().lock();
    if json && with_gaps {
        let both = serde_json::json!({ "entries": entries, "gaps": gaps });
        serde_json::to_writer_pretty(&mut out, &both)?;
        writeln!(out)?;
    } else if json {
        serde_json::to_writer_pretty(&mut out, &entries)?;
        writeln!(out)?;
    } else if entries.is_empty() && gaps.is_empty() {
        writeln!(
            out,
            "No events yet. Paste the URL from `sekoia-notifierd webhook-url` into Sekoia.io \
             (Settings > Notifications > WebHook) and keep `sekoia-notifierd serve` running."
        )?;
    } else {
        print_table(&mut out, &entries, &gaps)?;
    }
    Ok(())
}

fn parse_time(rfc3339: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The table, newest first, with a line for each gap where it falls.
fn print_table(out: &mut impl Write, entries: &[FeedEntry], gaps: &[Gap]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<20}  {:<36}  {:<14}  TITLE",
        "RECEIVED", "EVENT", "SHORT ID"
    )?;
    // Newest gap first, like the entries.
    let mut gaps = gaps.iter().rev().peekable();
    for e in entries {
        let received = parse_time(&e.received_at);
        while let Some(gap) = gaps.next_if(|g| g.end >= received) {
            writeln!(out, "--  {}", printable(&gap.sentence()))?;
        }
        let received = e.received_at.get(..19).unwrap_or(&e.received_at);
        let topic = format!("{}:{}", e.kind, e.action);
        let mut title = match (&e.title, e.subject.as_str()) {
            (Some(t), _) => t.clone(),
            (None, "alert" | "case") => "(not enriched yet)".to_owned(),
            (None, kind) => format!("{kind} {}", e.action),
        };
        if let Some(status) = &e.status {
            title.push_str(&format!(" · {status}"));
        }
        if let Some(change) = &e.change {
            title.push_str(&format!(" · {change}"));
        }
        let topic = if e.caught_up {
            format!("{topic} (caught up)")
        } else {
            topic
        };
        writeln!(
            out,
            "{:<20}  {:<36}  {:<14}  {}{}",
            received.replace('T', " "),
            printable(&topic),
            printable(e.short_id.as_deref().unwrap_or("-")),
            printable(&title),
            if e.read { "" } else { "  *" },
        )?;
    }
    for gap in gaps {
        writeln!(out, "--  {}", printable(&gap.sentence()))?;
    }
    Ok(())
}

/// Untrusted text for a terminal: control characters (escape sequences)
/// and line or paragraph separators are shown escaped, never interpreted.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
            if c.is_control() || notifier_core::notify::is_line_separator(c) {
                Box::new(c.escape_default())
            } else {
                Box::new(std::iter::once(c))
            }
        })
        .collect()
}

fn init_logging(default_level: &str, format: LogFormat, log_dir: Option<&std::path::Path>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let mut filter = EnvFilter::try_from_env("SEKOIA_NOTIFIER_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},hyper=warn")));
    for directive in notifier_core::logs::SECRET_SAFE {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let stderr = match format {
        LogFormat::Human => stderr.boxed(),
        LogFormat::Json => stderr.json().boxed(),
    };
    let file =
        log_dir.and_then(
            |dir| match notifier_core::logs::rolling(dir, "sekoia-notifierd") {
                Ok(writer) => Some(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(writer),
                ),
                Err(e) => {
                    eprintln!("sekoia-notifierd: no log file in {}: {e}", dir.display());
                    None
                }
            },
        );
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file)
        .init();
}

#[cfg(test)]
mod tests {
    use super::{print_table, printable, FeedEntry, Gap};
    use time::macros::datetime;

    fn entry(id: i64, received_at: &str) -> FeedEntry {
        FeedEntry {
            id,
            kind: "alert".to_owned(),
            action: "created".to_owned(),
            subject: "alert".to_owned(),
            uuid: format!("u{id}"),
            short_id: None,
            received_at: received_at.to_owned(),
            title: Some(format!("entry {id}")),
            urgency: None,
            urgency_display: None,
            urgency_band: None,
            status: None,
            rule: None,
            entity: None,
            priority: None,
            url: None,
            change: None,
            occurrences: None,
            comments: 0,
            enriched: false,
            enrich_error: None,
            read: true,
            caught_up: false,
            alert_at: None,
            community: None,
        }
    }

    #[test]
    fn gaps_are_printed_between_the_entries_they_fall_between() {
        let entries = [
            entry(2, "2026-11-29T10:00:00Z"),
            entry(1, "2026-11-29T08:00:00Z"),
        ];
        let gap = |start, end, reason: &str| Gap {
            start,
            end,
            reason: reason.to_owned(),
            ongoing: false,
        };
        // Oldest first, as reach::gaps returns them.
        let gaps = [
            gap(
                datetime!(2026-11-29 07:00 UTC),
                datetime!(2026-11-29 07:10 UTC),
                "early",
            ),
            gap(
                datetime!(2026-11-29 09:00 UTC),
                datetime!(2026-11-29 09:30 UTC),
                "mid\u{1b}[31m",
            ),
        ];
        let mut out = Vec::new();
        print_table(&mut out, &entries, &gaps).unwrap();
        let text = String::from_utf8(out).unwrap();
        let order: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| if l.starts_with("--") { "gap" } else { "entry" })
            .collect();
        assert_eq!(order, ["entry", "gap", "entry", "gap"], "{text}");
        assert!(text.contains("entry 2"));
        assert!(text.contains(
            "no webhook delivery possible from 2026-11-29T09:00:00Z to 2026-11-29T09:30:00Z (mid\\u{1b}[31m)"
        ), "{text}");
    }

    #[test]
    fn terminal_escape_sequences_are_shown_not_run() {
        assert_eq!(printable("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
        assert_eq!(printable("Ürgent ✓"), "Ürgent ✓");
        // Line and paragraph separators and NEXT LINE cannot forge a row.
        assert_eq!(
            printable("floor 2\u{2028}Status: Closed\u{2029}\u{85}x"),
            "floor 2\\u{2028}Status: Closed\\u{2029}\\u{85}x"
        );
    }
}
