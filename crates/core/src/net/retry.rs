//! What the outgoing HTTP clients (`sekoia`, `forward`) share about
//! retrying: the backoff shape, reading `Retry-After`, and how a wait is
//! worded in messages. No I/O of its own.
//!
//! In detail: what the outgoing HTTP clients share: the backoff shape (backon,
//! exponential + jitter), `Retry-After` in seconds and `honour_retry_after`
//! (the `adjust` hook, through the `AskedWait` trait both error types
//! implement), the wording of a wait.

use backon::ExponentialBuilder;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::Duration;

/// Exponential backoff with jitter from `base` up to `max_wait` between
/// tries, for at most `attempts` tries in all.
pub fn backoff(base: Duration, max_wait: Duration, attempts: usize) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(base)
        .with_max_delay(max_wait)
        .with_max_times(attempts.saturating_sub(1))
        .with_jitter()
}

/// `Retry-After` in seconds. (The HTTP-date form is not read: callers fall
/// back to their backoff.)
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    text.parse::<u64>().ok().map(Duration::from_secs)
}

/// An error a server may have asked us to wait after (a 429's
/// `Retry-After`).
pub trait AskedWait {
    fn asked_wait(&self) -> Option<Duration>;
}

/// backon's `adjust` hook: the server's `Retry-After` (capped by
/// `max_wait`) replaces the computed delay. `None` means the attempts are
/// used up and stays so.
pub fn honour_retry_after<E: AskedWait>(
    err: &E,
    delay: Option<Duration>,
    max_wait: Duration,
) -> Option<Duration> {
    delay.map(|d| err.asked_wait().map_or(d, |wait| wait.min(max_wait)))
}

/// ", asking to wait Ns" for an error message, or nothing.
pub fn wait_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", asking to wait {}s", d.as_secs()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_ignores_the_rest() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), None);
    }

    struct Asked(Option<Duration>);
    impl AskedWait for Asked {
        fn asked_wait(&self) -> Option<Duration> {
            self.0
        }
    }

    #[test]
    fn a_server_wait_replaces_the_backoff_up_to_the_cap_but_never_adds_attempts() {
        let s = Duration::from_secs;
        assert_eq!(
            honour_retry_after(&Asked(Some(s(5))), Some(s(1)), s(60)),
            Some(s(5))
        );
        assert_eq!(
            honour_retry_after(&Asked(Some(s(500))), Some(s(1)), s(60)),
            Some(s(60))
        );
        assert_eq!(
            honour_retry_after(&Asked(None), Some(s(2)), s(60)),
            Some(s(2))
        );
        assert_eq!(honour_retry_after(&Asked(Some(s(5))), None, s(60)), None);
    }

    #[test]
    fn wait_hint_words_a_known_wait_only() {
        assert_eq!(
            wait_hint(&Some(Duration::from_secs(3))),
            ", asking to wait 3s"
        );
        assert_eq!(wait_hint(&None), "");
    }
}
