//! The LiveAPI reconnect schedule, as Sekoia.io's own client does it:
//! 0.5 * 2^n seconds plus up to 1 s of jitter before try n + 1 (n counts
//! the failures in a row), capped so that a long outage is still retried
//! every few minutes, with n reset once a connection has held for an hour.
//! Pure arithmetic; the caller sleeps.

use std::time::Duration;

/// The schedule's numbers (defaults are Sekoia's, plus the cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The delay before the first retry, without jitter (0.5 s).
    pub base: Duration,
    /// At most this much random delay is added to each wait (1 s).
    pub jitter: Duration,
    /// The longest wait, jitter included (5 min).
    pub max: Duration,
    /// A connection that held this long resets the failure count (1 h).
    pub reset_after: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            base: Duration::from_millis(500),
            jitter: Duration::from_secs(1),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(3600),
        }
    }
}

impl Schedule {
    /// The wait after `failures` failures in a row (1 for the first), with
    /// `unit` in [0, 1) picking the jitter.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let n = failures.saturating_sub(1).min(30);
        let exp = self.base.saturating_mul(1u32 << n);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jitter = self.jitter.mul_f64(unit);
        exp.saturating_add(jitter).min(self.max)
    }

    /// The failure count after a connection that held for `held`: kept, or
    /// reset to 0 once it held for [`Schedule::reset_after`].
    pub fn after_connection(&self, failures: u32, held: Duration) -> u32 {
        if held >= self.reset_after {
            0
        } else {
            failures
        }
    }
}

/// A uniform number in [0, 1) from the OS's random source (0 if it fails:
/// the wait is then only less spread).
pub fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn waits_double_from_half_a_second_plus_up_to_one_second_of_jitter() {
        let s = Schedule::default();
        let expected = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
        for (i, want) in expected.iter().enumerate() {
            let failures = i as u32 + 1;
            assert_eq!(secs(s.delay(failures, 0.0)), *want, "failure {failures}");
            let most = secs(s.delay(failures, 0.999_999));
            assert!(most > want + 0.99 && most < want + 1.0, "{most}");
        }
    }

    #[test]
    fn waits_are_capped_and_never_overflow() {
        let s = Schedule::default();
        assert_eq!(s.delay(10, 0.9), Duration::from_millis(256_900));
        assert_eq!(s.delay(11, 0.0), Duration::from_secs(300));
        assert_eq!(s.delay(u32::MAX, 0.5), Duration::from_secs(300));
        assert_eq!(s.delay(1, f64::NAN), Duration::from_millis(500));
        assert_eq!(s.delay(0, 0.0), Duration::from_millis(500));
    }

    #[test]
    fn an_hour_connected_resets_the_count_a_shorter_hold_does_not() {
        let s = Schedule::default();
        assert_eq!(s.after_connection(7, Duration::from_secs(3599)), 7);
        assert_eq!(s.after_connection(7, Duration::from_secs(3600)), 0);
    }

    #[test]
    fn random_units_are_in_range_and_spread() {
        let draws: Vec<f64> = (0..64).map(|_| random_unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(draws.iter().any(|u| *u != draws[0]));
    }
}
