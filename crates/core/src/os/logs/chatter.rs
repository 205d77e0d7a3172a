//! Taming a noisy source of log lines (a tunnel program printing errors
//! without pause): consecutive identical lines become one line and a
//! periodic "last line repeated N times", and what is left passes a token
//! bucket (a burst, then a steady trickle); what the bucket refuses is
//! counted and reported once it lets lines through again. Pure: the caller
//! passes the time, so tests need no clock.
//!
//! Must not: log (the caller does, with the lines returned) or keep more
//! than the last line.

use std::time::{Duration, Instant};

/// Lines let through at once before the trickle applies.
pub const BURST: u32 = 100;
/// The trickle after a burst: one line per this long.
pub const TRICKLE: Duration = Duration::from_secs(2);
/// A line repeating without end is summarised this often.
pub const REPEAT_SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// The state of one source. See the module doc.
#[derive(Debug)]
pub struct Chatter {
    burst: u32,
    trickle: Duration,
    tokens: f64,
    refilled: Option<Instant>,
    last: Option<String>,
    repeats: u64,
    repeats_since: Option<Instant>,
    dropped: u64,
}

impl Default for Chatter {
    fn default() -> Self {
        Chatter::new(BURST, TRICKLE)
    }
}

impl Chatter {
    /// `burst` lines at once, then one per `trickle`.
    pub fn new(burst: u32, trickle: Duration) -> Chatter {
        Chatter {
            burst,
            trickle,
            tokens: f64::from(burst),
            refilled: None,
            last: None,
            repeats: 0,
            repeats_since: None,
            dropped: 0,
        }
    }

    /// The lines to log now for `line`, arriving at `now` (none, the line,
    /// or summaries before it).
    pub fn offer(&mut self, line: &str, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        if self.last.as_deref() == Some(line) {
            self.repeats += 1;
            let since = *self.repeats_since.get_or_insert(now);
            if now.duration_since(since) >= REPEAT_SUMMARY_EVERY {
                let summary = self.repeat_summary();
                self.emit(summary, now, &mut out);
                self.repeats_since = Some(now);
            }
            return out;
        }
        if self.repeats > 0 {
            let summary = self.repeat_summary();
            self.emit(summary, now, &mut out);
        }
        self.last = Some(line.to_owned());
        self.repeats_since = None;
        self.emit(line.to_owned(), now, &mut out);
        out
    }

    /// What is still owed at the end (repeats and drops not yet told).
    pub fn flush(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if self.repeats > 0 {
            out.push(self.repeat_summary());
        }
        if self.dropped > 0 {
            out.push(dropped_summary(self.dropped));
            self.dropped = 0;
        }
        out
    }

    fn repeat_summary(&mut self) -> String {
        let n = std::mem::take(&mut self.repeats);
        format!("(last line repeated {n} more times)")
    }

    /// Lets `text` through if the bucket has a token (telling the drops
    /// first), else counts it as dropped.
    fn emit(&mut self, text: String, now: Instant, out: &mut Vec<String>) {
        self.refill(now);
        if self.tokens < 1.0 {
            self.dropped += 1;
            return;
        }
        self.tokens -= 1.0;
        if self.dropped > 0 {
            out.push(dropped_summary(self.dropped));
            self.dropped = 0;
        }
        out.push(text);
    }

    fn refill(&mut self, now: Instant) {
        let last = *self.refilled.get_or_insert(now);
        let gained = now.duration_since(last).as_secs_f64() / self.trickle.as_secs_f64().max(1e-9);
        self.tokens = (self.tokens + gained).min(f64::from(self.burst));
        self.refilled = Some(now);
    }
}

fn dropped_summary(n: u64) -> String {
    format!("({n} lines of output not logged: too many too fast)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(c: &mut Chatter, lines: &[&str], now: Instant) -> Vec<String> {
        lines.iter().flat_map(|l| c.offer(l, now)).collect()
    }

    #[test]
    fn ten_thousand_identical_lines_are_one_line_and_a_count() {
        let mut c = Chatter::default();
        let t = Instant::now();
        let lines = vec!["ERR connection refused"; 10_000];
        let mut out = all(&mut c, &lines, t);
        out.extend(c.offer("next", t));
        assert_eq!(
            out,
            [
                "ERR connection refused",
                "(last line repeated 9999 more times)",
                "next"
            ]
        );
    }

    #[test]
    fn a_line_repeating_forever_is_summarised_every_minute() {
        let mut c = Chatter::default();
        let t = Instant::now();
        assert_eq!(c.offer("same", t).len(), 1);
        assert!(c.offer("same", t + Duration::from_secs(1)).is_empty());
        let out = c.offer("same", t + Duration::from_secs(62));
        assert_eq!(out, ["(last line repeated 2 more times)"]);
        assert_eq!(c.flush(), Vec::<String>::new());
    }

    #[test]
    fn distinct_lines_pass_a_burst_then_a_trickle_and_drops_are_counted() {
        let mut c = Chatter::new(3, Duration::from_secs(2));
        let t = Instant::now();
        let out = all(&mut c, &["a", "b", "c", "d", "e"], t);
        assert_eq!(out, ["a", "b", "c"]);
        // One token back after 2 s: the drops are told, then the line.
        let out = c.offer("f", t + Duration::from_secs(2));
        assert_eq!(
            out,
            ["(2 lines of output not logged: too many too fast)", "f"]
        );
        assert!(c.offer("g", t + Duration::from_secs(3)).is_empty());
        assert_eq!(
            c.flush(),
            ["(1 lines of output not logged: too many too fast)"]
        );
    }
}
