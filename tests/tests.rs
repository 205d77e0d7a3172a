//! End-to-end tests: each drives the real `sekoia-notifierd` binary in its
//! own temporary directory, on a port the system picks.
//!
//! Modules:
//! - `util`: spawning the daemon, a minimal HTTP client, failure reports
//!   that show the command, its directory, stdout and stderr.
//! - `kinds`: an alert's real life (created, occurrences, status, comment, case)
//!   as Sekoia.io sends it: one alert row, one case row, one pop-up.
//! - `intake`: every status code of the webhook endpoint over a real socket.
//! - `desktop`: the desktop app with a display, a tray host and pop-ups.
//! - `enrich`: webhook -> Alert API -> pop-up -> click, with keyring and D-Bus.
//! - `forward`: `[[forward]]` to a Teams stand-in: at most once across kill -9, pop-ups not held up, `status`.
//! - `lifecycle`: configuration errors, graceful shutdown, `feed`, `webhook-url`.
//! - `selftest`: `send-test` through the webhook URL, and its failure legs.
//! - `session`: a private D-Bus session bus and Secret Service keyring per test.
//! - `tunnel`: a real bore tunnel supervised by the daemon; a missing tunnel program.
//! - `triage`: "Acknowledge" on a pop-up of the real daemon -> PATCH on the fake API.
//! - `window`: the app's feed and settings windows over WebDriver.
//! - `console`: the feed as a triage console: dense rows, sort, keyboard, the
//!   detail pane and every workflow action, Copy link, communities, errors at the row.
//! - `webdriver`: a minimal W3C WebDriver client for WebKitWebDriver.
//! - `fake_tunnels`: fake cloudflared / ngrok on PATH with faked metrics and
//!   agent APIs; a tunnel that changes URL; one that exits at once.
//! - `health`: the periodic self-test in `check`, downtime as a feed gap,
//!   `regenerate-secret`.
//! - `secrets`: the API key through `set-api-key`, the keyring, env and file.
//! - `children`: a tunnel command's environment (no key, credentials or
//!   secret) and umask (the user's own).
//! - `catchup`: alerts created while the daemon was stopped, caught up at restart.
//! - `crash`: `kill -9` under a flood of POSTs; nothing acknowledged is lost or doubled.
//! - `hardening`: idle and trickling connections; the API key after a run full of errors.
//! - `storm`: 1,000 queued alerts against the pop-up budget; hostile alert text in pop-ups.
//! - `liveapi`: direct mode, no tunnel: a LiveAPI frame -> enriched pop-up within 1 s,
//!   once even when the webhook brings it too; a refused key; the key in no log.
//! - `logs`: a tunnel program printing without pause: small logs, intake answering.
//! - `popup`: a real notification daemon (dunst) draws the pop-up; its screenshot.
//! - `proxy`: behind a TLS-inspecting corporate proxy (`HTTPS_PROXY`, `SSL_CERT_FILE`):
//!   `check` and direct mode through it, each failing leg named.
//! - `storage`: a file-size limit (a full disk) and a database locked by
//!   another process: 503 + Retry-After, resumes alone, 0 lost, a gap.
//! - `peers`: another project's ngrok agent on 4040; an agent API that never
//!   answers; a cloudflared whose
//!   hostname stopped reaching us (restarted, "unreachable", a gap).
//! - `second_launch`: the desktop app launched again with another config.
//! - `bounded`: peers that never answer (notification server, Alert API,
//!   keyring prompt): the other alerts flow, the warning, SIGTERM in 10 s.
//!
//! In detail: one integration-test binary (`tests.rs`) that drives the real
//! `sekoia-notifierd` and `sekoia-notifier` in temp dirs on port 0 (among them:
//! `crash`, kill -9 under a flood; `catchup`, alerts missed while stopped;
//! `hardening`, idle and trickling connections, the API key and file modes
//! after a run full of errors; `storm`, the pop-up budget; `liveapi`, direct
//! mode without a tunnel: a LiveAPI frame to an enriched pop-up within 1 s,
//! once when the webhook brings it too, the key in no log; `bounded`, peers
//! that never answer: a hanging notification server, a hanging Alert API, a
//! keyring unlock prompt nobody answers (a session bus with activation, real
//! gnome-keyring and gcr-prompter on Xvfb, answered with xdotool for the late
//! key); `storage`, a file-size limit set with prlimit (a full disk) and the
//! database locked by the test process; `peers`, another project's ngrok agent
//! on 4040, an agent API that never answers, and a cloudflared whose hostname
//! leads nowhere; `second_launch`, the desktop app started again with another
//! config); tests that need a desktop start their own bus, gnome-keyring and
//! notification server (`tests/session.rs`), a tray host and an Xvfb display
//! (`tests/desktop.rs`); `tests/window.rs` and `tests/console.rs` (the feed as
//! a triage console: rows, sort, keys, the detail pane and every workflow
//! action, Copy link, communities, errors at the row; the README's screenshots
//! at 1280×800) drive the real windows through WebKitWebDriver with a small W3C
//! client (`tests/webdriver.rs`) and saves screenshots in
//! `target/screenshots/`. Also `proxy` (`check` and direct mode behind
//! `corp-proxy` with `HTTPS_PROXY` and `SSL_CERT_FILE`) and `logs` (a tunnel
//! printing without pause).

mod bounded;
mod catchup;
mod children;
mod console;
mod crash;
mod desktop;
mod enrich;
mod fake_tunnels;
mod forward;
mod hardening;
mod health;
mod intake;
mod kinds;
mod lifecycle;
mod liveapi;
mod logs;
mod peers;
mod popup;
mod proxy;
mod second_launch;
mod secrets;
mod selftest;
mod session;
mod storage;
mod storm;
mod triage;
mod tunnel;
mod util;
mod webdriver;
mod window;
