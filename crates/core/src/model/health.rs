//! The engine's health in one value: the tunnel, the Sekoia.io API, the
//! LiveAPI connection (direct mode), the last delivery self-test and an
//! unacknowledged webhook URL change. The
//! desktop app subscribes to it (`Engine::health`) for the tray icon and the
//! settings window; `status --json` and `check` print it (it is serde).
//!
//! This module only describes and words the state: it probes nothing and
//! stores nothing (the engine's `monitor` feeds it and records it).
//!
//! In detail: `Health` (tunnel none / starting / checking / up / unreachable /
//! restarting / failed, pop-ups shown or failing (`PopupHealth`), the store
//! taking events or refusing them (`StorageHealth`), API unknown / no key / ok
//! / key rejected / unreachable, the LiveAPI off / connecting / connected /
//! reconnecting / unreachable / key rejected / no key (`LiveHealth`, with
//! attempt and next try), the last self-test, an unacknowledged URL change),
//! serde with a `state` tag, and `warning()`: one tooltip sentence or `None`.
//! Words only, no I/O.

use serde::{Deserialize, Serialize};
use url::Url;

/// Failed self-tests in a row through a tunnel's URL after which the tunnel
/// program is restarted (a quick tunnel whose hostname the edge stopped
/// serving keeps running and keeps showing it).
pub const UNREACHABLE_AFTER: u32 = 3;

/// Longest reason kept in a tooltip sentence, in characters.
const MAX_REASON: usize = 200;

/// Everything the tray needs to say whether delivery works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub tunnel: TunnelHealth,
    pub api: ApiHealth,
    /// The last delivery self-test, if one ran.
    pub selftest: Option<SelfTest>,
    /// When the public URL last changed and the user has not acknowledged
    /// it yet (RFC 3339): Sekoia.io still posts to the old URL.
    pub url_changed_at: Option<String>,
    /// The LiveAPI WebSocket (`[liveapi] enabled`); `off` otherwise. Absent
    /// in snapshots recorded before direct mode existed.
    #[serde(default)]
    pub liveapi: LiveHealth,
    /// Whether pop-ups reach the desktop (see `bounded`). Absent in
    /// snapshots recorded before it existed.
    #[serde(default)]
    pub popups: PopupHealth,
    /// Whether the store takes new events (see `intake::refusals`).
    #[serde(default)]
    pub storage: StorageHealth,
}

/// Whether the store takes new events.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StorageHealth {
    #[default]
    Ok,
    /// Events are refused (503) since `since` (RFC 3339) for `reason`.
    Refusing { since: String, reason: String },
}

impl StorageHealth {
    /// One tooltip sentence while events are refused.
    pub fn warning(&self) -> Option<String> {
        match self {
            StorageHealth::Ok => None,
            StorageHealth::Refusing { since, reason } => Some(format!(
                "The store refuses new events since {since} ({reason}): webhooks are answered 503 and retried by the sender; free disk space or release the database."
            )),
        }
    }
}

/// The pop-up sinks: shown, or given up because the notification server
/// failed or did not answer in time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PopupHealth {
    /// The last pop-up was shown (or none was tried yet).
    #[default]
    Ok,
    /// The sink `sink` failed at `since` (RFC 3339); pop-ups are given up
    /// and tried again after a pause.
    Failing {
        sink: String,
        since: String,
        reason: String,
    },
}

impl PopupHealth {
    /// The state in words, as `check` and `status` print it.
    pub fn words(&self) -> String {
        match self {
            PopupHealth::Ok => "shown".to_owned(),
            PopupHealth::Failing {
                sink,
                since,
                reason,
            } => format!("{sink} pop-ups failing since {since}: {reason}"),
        }
    }

    /// One tooltip sentence while pop-ups are given up.
    pub fn warning(&self) -> Option<String> {
        match self {
            PopupHealth::Ok => None,
            PopupHealth::Failing { reason, .. } => Some(format!(
                "Pop-ups are not shown (alerts are still in the feed and forwarded): {}",
                sentence(reason)
            )),
        }
    }
}

impl Default for Health {
    fn default() -> Self {
        Health {
            tunnel: TunnelHealth::None { public_url: None },
            api: ApiHealth::Unknown,
            selftest: None,
            url_changed_at: None,
            liveapi: LiveHealth::Off,
            popups: PopupHealth::Ok,
            storage: StorageHealth::Ok,
        }
    }
}

/// The LiveAPI WebSocket, Sekoia.io's outbound event stream (direct mode).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LiveHealth {
    /// Not enabled (`[liveapi] enabled = false`).
    #[default]
    Off,
    /// Checking the key and opening the first connection.
    Connecting,
    /// Open and authenticated since `since` (RFC 3339).
    Connected { since: String },
    /// The connection dropped; try `attempt` comes in `next_try_in_s`.
    Reconnecting {
        attempt: u32,
        next_try_in_s: u64,
        reason: String,
    },
    /// The server cannot be reached at all yet; try `attempt` comes in
    /// `next_try_in_s`.
    Unreachable {
        attempt: u32,
        next_try_in_s: u64,
        reason: String,
    },
    /// The API key was refused (by `/v1/me` or on the upgrade): the
    /// connection is not tried again until the key changes.
    KeyRejected { reason: String },
    /// Enabled, but there is no API key to authenticate with.
    NoKey,
}

impl LiveHealth {
    /// The state in words, as `check` and `status` print it.
    pub fn words(&self) -> String {
        match self {
            LiveHealth::Off => "off".to_owned(),
            LiveHealth::Connecting => "connecting".to_owned(),
            LiveHealth::Connected { since } => format!("connected since {since}"),
            LiveHealth::Reconnecting {
                attempt,
                next_try_in_s,
                reason,
            } => {
                format!("reconnecting (attempt {attempt}, next try in {next_try_in_s} s): {reason}")
            }
            LiveHealth::Unreachable {
                attempt,
                next_try_in_s,
                reason,
            } => {
                format!("unreachable (attempt {attempt}, next try in {next_try_in_s} s): {reason}")
            }
            LiveHealth::KeyRejected { reason } => format!("API key rejected: {reason}"),
            LiveHealth::NoKey => "no API key: the LiveAPI needs one".to_owned(),
        }
    }

    /// Whether events can arrive over the LiveAPI now.
    pub fn is_connected(&self) -> bool {
        matches!(self, LiveHealth::Connected { .. })
    }

    /// One tooltip sentence when the LiveAPI is enabled but not delivering.
    fn warning(&self) -> Option<String> {
        match self {
            LiveHealth::Off | LiveHealth::Connected { .. } => None,
            LiveHealth::Connecting => {
                Some("Connecting to Sekoia.io's LiveAPI: no events yet.".to_owned())
            }
            LiveHealth::Reconnecting {
                attempt,
                next_try_in_s,
                reason,
            } => Some(format!(
                "The LiveAPI connection dropped; reconnecting (attempt {attempt}, next try in {next_try_in_s} s): {}",
                sentence(reason)
            )),
            LiveHealth::Unreachable {
                attempt,
                next_try_in_s,
                reason,
            } => Some(format!(
                "Sekoia.io's LiveAPI cannot be reached (attempt {attempt}, next try in {next_try_in_s} s): {}",
                sentence(reason)
            )),
            LiveHealth::KeyRejected { reason } => Some(format!(
                "The LiveAPI refused the API key: {}",
                sentence(reason)
            )),
            LiveHealth::NoKey => Some(
                "The LiveAPI is enabled but there is no API key: set one to receive events directly."
                    .to_owned(),
            ),
        }
    }
}

/// The path from the internet to the listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TunnelHealth {
    /// No tunnel program (`kind = "none"`): reachable at `public_url` when
    /// the user routes one to the listener, else local only.
    None { public_url: Option<Url> },
    /// The program runs; its public URL is not known yet.
    Starting,
    /// Reachable at this base URL (without `/hooks/...`), confirmed by a
    /// self-test when self-tests are on.
    Up { url: Url },
    /// The program shows this plain `http://` URL: usable, but the secret in
    /// its path and every alert cross the network in clear, so it is never
    /// self-tested (`tunnel.allow_plain_http` off).
    Plain { url: Url },
    /// The program shows this URL; the self-test has not confirmed yet that
    /// Sekoia.io can reach the listener through it.
    Checking { url: Url },
    /// The program runs and shows `url`, but the last `failures` self-tests
    /// through it failed: not up. Restarted after
    /// [`UNREACHABLE_AFTER`] failures in a row.
    Unreachable {
        url: Url,
        failures: u32,
        reason: String,
    },
    /// The program exited and is started again after a delay.
    Restarting { attempt: u32, reason: String },
    /// The program cannot be started (retried after a delay).
    Failed { reason: String },
}

impl TunnelHealth {
    /// The public base URL Sekoia.io can post to, when there is one now.
    pub fn public_url(&self) -> Option<&Url> {
        match self {
            TunnelHealth::Up { url } | TunnelHealth::Plain { url } => Some(url),
            TunnelHealth::None { public_url } => public_url.as_ref(),
            _ => None,
        }
    }

    /// The URL the tunnel program shows, confirmed or not: where the
    /// self-test probes.
    pub fn shown_url(&self) -> Option<&Url> {
        match self {
            TunnelHealth::Checking { url } | TunnelHealth::Unreachable { url, .. } => Some(url),
            other => other.public_url(),
        }
    }

    /// The state in words, as `check` prints it: `up at https://…`.
    pub fn words(&self) -> String {
        match self {
            TunnelHealth::None {
                public_url: Some(url),
            } => format!("no tunnel; public URL {url}"),
            TunnelHealth::None { public_url: None } => "no tunnel: local only".to_owned(),
            TunnelHealth::Starting => "starting".to_owned(),
            TunnelHealth::Up { url } => format!("up at {url}"),
            TunnelHealth::Plain { url } => format!(
                "up at {url}, plain http (unencrypted): not self-tested; use an https tunnel, or set tunnel.allow_plain_http = true to accept it"
            ),
            TunnelHealth::Checking { url } => {
                format!("checking {url} (not confirmed by a self-test yet)")
            }
            TunnelHealth::Unreachable {
                url,
                failures,
                reason,
            } => format!(
                "unreachable through {url} ({failures} failed self-test(s) in a row): {reason}"
            ),
            TunnelHealth::Restarting { attempt, reason } => {
                format!("restarting (attempt {attempt}): {reason}")
            }
            TunnelHealth::Failed { reason } => format!("failed: {reason}"),
        }
    }
}

/// What the last call to the Sekoia.io API said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ApiHealth {
    /// No call yet.
    Unknown,
    /// No API key is configured: alerts are shown without enrichment.
    NoKey,
    /// The last call was answered with the key accepted.
    Ok,
    /// The key was refused (401, 403, unusable); the reason in words.
    KeyRejected { reason: String },
    /// The API could not be reached or answered oddly; the reason in words.
    Unreachable { reason: String },
}

/// One delivery self-test's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfTest {
    /// When it finished (RFC 3339, UTC).
    pub at: String,
    pub ok: bool,
    /// What happened, in words (the failing leg on failure). Never the secret.
    pub message: String,
}

impl Health {
    /// One sentence for a tray tooltip, `None` when delivery works and
    /// nothing needs the user. The most urgent problem wins: the LiveAPI
    /// when it is on, a store refusing events, pop-ups given up, the path
    /// from the internet, then a URL Sekoia.io does not know yet, then the
    /// last self-test, then the API. With the LiveAPI on, having no public
    /// webhook URL is the intended setup, not a problem.
    pub fn warning(&self) -> Option<String> {
        let direct = self.liveapi != LiveHealth::Off;
        if let Some(live) = self.liveapi.warning() {
            return Some(live);
        }
        if let Some(refusing) = self.storage.warning() {
            return Some(refusing);
        }
        let tunnel = match &self.tunnel {
            TunnelHealth::None { public_url: None } if direct => None,
            TunnelHealth::None { public_url: None } => Some(
                "No public webhook URL: Sekoia.io cannot reach this listener; configure a tunnel."
                    .to_owned(),
            ),
            TunnelHealth::Starting => {
                Some("The tunnel is starting: Sekoia.io cannot reach this listener yet.".to_owned())
            }
            TunnelHealth::Restarting { reason, .. } => Some(format!(
                "The tunnel is down and restarting: {}",
                sentence(reason)
            )),
            TunnelHealth::Failed { reason } => {
                Some(format!("The tunnel cannot start: {}", sentence(reason)))
            }
            TunnelHealth::Unreachable {
                url,
                failures,
                reason,
            } => Some(format!(
                "The tunnel runs but Sekoia.io cannot reach it through {url} ({failures} failed self-test(s) in a row; it is restarted after {}): {}",
                UNREACHABLE_AFTER,
                sentence(reason)
            )),
            TunnelHealth::Plain { url } => Some(format!(
                "The public URL {url} is plain http: the webhook secret and every alert would cross the network unencrypted, so it is not self-tested. Use an https tunnel (cloudflared, ngrok), or set tunnel.allow_plain_http = true for a relay on a trusted network."
            )),
            TunnelHealth::Up { .. } | TunnelHealth::Checking { .. } | TunnelHealth::None { .. } => {
                None
            }
        };
        if let Some(popups) = self.popups.warning() {
            return Some(popups);
        }
        tunnel
            .or_else(|| {
                self.url_changed_at.as_ref().map(|_| {
                    "The webhook URL changed: paste the new one into Sekoia.io (Copy URL)."
                        .to_owned()
                })
            })
            .or_else(|| {
                self.selftest.as_ref().filter(|t| !t.ok).map(|t| {
                    format!(
                        "The last delivery self-test failed: {}",
                        sentence(&t.message)
                    )
                })
            })
            .or_else(|| match &self.api {
                ApiHealth::KeyRejected { reason } => {
                    Some(format!("Alerts are not enriched: {}", sentence(reason)))
                }
                ApiHealth::Unreachable { reason } => Some(format!(
                    "Sekoia.io's API cannot be reached: {}",
                    sentence(reason)
                )),
                ApiHealth::NoKey => Some(
                    "No API key: alerts are shown without enrichment (run set-api-key).".to_owned(),
                ),
                ApiHealth::Unknown | ApiHealth::Ok => None,
            })
    }
}

/// `reason` capped at [`MAX_REASON`] characters, ending with a full stop.
fn sentence(reason: &str) -> String {
    let trimmed = reason.trim();
    let mut out: String = trimmed.chars().take(MAX_REASON).collect();
    if out.len() < trimmed.len() {
        out.push('…');
    }
    if !out.ends_with(['.', '…', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn healthy() -> Health {
        Health {
            tunnel: TunnelHealth::Up {
                url: url("https://a.trycloudflare.com/"),
            },
            api: ApiHealth::Ok,
            selftest: Some(SelfTest {
                at: "2026-11-29T05:00:00Z".to_owned(),
                ok: true,
                message: "delivered in 120 ms".to_owned(),
            }),
            url_changed_at: None,
            liveapi: LiveHealth::Off,
            ..Health::default()
        }
    }

    /// Direct mode: no tunnel, no public URL, the LiveAPI delivering.
    fn direct(liveapi: LiveHealth) -> Health {
        Health {
            tunnel: TunnelHealth::None { public_url: None },
            api: ApiHealth::Ok,
            selftest: None,
            url_changed_at: None,
            liveapi,
            ..Health::default()
        }
    }

    #[test]
    fn direct_mode_without_a_public_url_warns_only_about_the_liveapi() {
        let connected = direct(LiveHealth::Connected {
            since: "2026-11-29T05:00:00Z".to_owned(),
        });
        assert_eq!(connected.warning(), None);
        let dropped = direct(LiveHealth::Reconnecting {
            attempt: 3,
            next_try_in_s: 4,
            reason: "the connection was reset".to_owned(),
        });
        let w = dropped.warning().unwrap();
        assert!(w.contains("attempt 3") && w.contains("4 s"), "{w}");
        let rejected = direct(LiveHealth::KeyRejected {
            reason: "401".to_owned(),
        });
        assert!(rejected.warning().unwrap().contains("refused the API key"));
        // The same health without the LiveAPI is the "no public URL" warning.
        let webhook_only = direct(LiveHealth::Off);
        assert!(webhook_only
            .warning()
            .unwrap()
            .contains("No public webhook URL"));
    }

    #[test]
    fn liveapi_health_serializes_with_a_state_tag_and_reads_old_snapshots() {
        let h = direct(LiveHealth::Unreachable {
            attempt: 2,
            next_try_in_s: 1,
            reason: "connection refused".to_owned(),
        });
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["liveapi"]["state"], "unreachable");
        assert_eq!(json["liveapi"]["attempt"], 2);
        assert_eq!(json["liveapi"]["next_try_in_s"], 1);
        // A snapshot recorded before direct mode has no `liveapi` field.
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("liveapi");
        let back: Health = serde_json::from_value(old).unwrap();
        assert_eq!(back.liveapi, LiveHealth::Off);
    }

    #[test]
    fn a_healthy_engine_has_no_warning() {
        assert_eq!(healthy().warning(), None);
        let fixed = Health {
            tunnel: TunnelHealth::None {
                public_url: Some(url("https://hooks.example.com/")),
            },
            ..healthy()
        };
        assert_eq!(fixed.warning(), None);
    }

    #[test]
    fn each_problem_gives_one_sentence_naming_it() {
        let cases = [
            (
                Health {
                    tunnel: TunnelHealth::Failed {
                        reason: "could not start bore: not found".to_owned(),
                    },
                    ..healthy()
                },
                "cannot start: could not start bore: not found.",
            ),
            (
                Health {
                    tunnel: TunnelHealth::Restarting {
                        attempt: 2,
                        reason: "bore exited".to_owned(),
                    },
                    ..healthy()
                },
                "restarting: bore exited.",
            ),
            (
                Health {
                    tunnel: TunnelHealth::None { public_url: None },
                    ..healthy()
                },
                "No public webhook URL",
            ),
            (
                Health {
                    url_changed_at: Some("2026-11-29T05:00:00Z".to_owned()),
                    ..healthy()
                },
                "webhook URL changed",
            ),
            (
                Health {
                    selftest: Some(SelfTest {
                        at: "t".to_owned(),
                        ok: false,
                        message: "x answered 404".to_owned(),
                    }),
                    ..healthy()
                },
                "self-test failed: x answered 404.",
            ),
            (
                Health {
                    api: ApiHealth::NoKey,
                    ..healthy()
                },
                "No API key",
            ),
        ];
        for (health, expected) in cases {
            let w = health.warning().unwrap_or_default();
            assert!(w.contains(expected), "{w:?} lacks {expected:?}");
            assert!(w.ends_with('.') || w.ends_with(')'), "{w:?}");
        }
    }

    #[test]
    fn the_tunnel_problem_outranks_the_api_problem() {
        let h = Health {
            tunnel: TunnelHealth::Starting,
            api: ApiHealth::Unreachable {
                reason: "timeout".to_owned(),
            },
            ..healthy()
        };
        assert!(h.warning().unwrap_or_default().contains("starting"));
    }

    #[test]
    fn an_overlong_reason_is_cut_in_the_tooltip() {
        let h = Health {
            tunnel: TunnelHealth::Failed {
                reason: "é".repeat(5000),
            },
            ..healthy()
        };
        let w = h.warning().unwrap_or_default();
        assert!(w.chars().count() < 300, "{}", w.chars().count());
        assert!(w.ends_with('…'));
    }

    #[test]
    fn health_serializes_with_a_state_tag_and_reads_back() {
        let h = Health {
            tunnel: TunnelHealth::Restarting {
                attempt: 3,
                reason: "exited".to_owned(),
            },
            ..healthy()
        };
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["tunnel"]["state"], "restarting");
        assert_eq!(json["tunnel"]["attempt"], 3);
        assert_eq!(json["api"]["state"], "ok");
        assert_eq!(json["selftest"]["ok"], true);
        let back: Health = serde_json::from_value(json).unwrap();
        assert_eq!(back, h);
    }
}
