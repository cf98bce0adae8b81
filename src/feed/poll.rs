//! The state of the poll loop: last success, last failure, and when to try next.

use crate::feed::api::FetchError;

/// Longest wait between two attempts after repeated failures.
pub const MAX_BACKOFF_MS: u32 = 30_000;

/// What the status line shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollState {
    /// When the last successful answer arrived (ms since the epoch).
    pub last_ok_ms: Option<f64>,
    /// The failure since the last success, if any, and when it happened.
    pub error: Option<(f64, FetchError)>,
    /// Failures in a row since the last success.
    pub failures: u32,
}

impl PollState {
    /// Records a successful poll; clears the error.
    pub fn record_ok(&mut self, now_ms: f64) {
        self.last_ok_ms = Some(now_ms);
        self.error = None;
        self.failures = 0;
    }

    /// Records a failed poll; the data on screen is now stale.
    pub fn record_err(&mut self, now_ms: f64, error: FetchError) {
        self.error = Some((now_ms, error));
        self.failures = self.failures.saturating_add(1);
    }

    /// True when the data on screen may be out of date (the last poll failed).
    pub fn is_stale(&self) -> bool {
        self.error.is_some()
    }

    /// How long to wait before the next poll. `refresh_ms = None` (auto-refresh off)
    /// still retries after a failure, so the panel recovers by itself; retries back
    /// off exponentially up to [`MAX_BACKOFF_MS`].
    /// A server's `Retry-After` is honoured when it asks for longer.
    pub fn next_delay_ms(&self, refresh_ms: Option<u32>) -> Option<u32> {
        if self.failures == 0 {
            return refresh_ms;
        }
        let base = refresh_ms.unwrap_or(2_000).min(MAX_BACKOFF_MS);
        let factor = 1u32 << (self.failures - 1).min(16);
        let backoff = base.saturating_mul(factor).min(MAX_BACKOFF_MS);
        let asked = self
            .error
            .as_ref()
            .and_then(|(_, e)| e.retry_after_ms())
            .unwrap_or(0);
        Some(backoff.max(asked.min(5 * 60_000)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_keeps_the_refresh_interval() {
        let mut p = PollState::default();
        p.record_ok(1.0);
        assert_eq!(p.next_delay_ms(Some(2_000)), Some(2_000));
        assert_eq!(p.next_delay_ms(None), None);
        assert!(!p.is_stale());
    }

    #[test]
    fn failures_back_off_then_recover() {
        let mut p = PollState::default();
        p.record_ok(1.0);
        let delays: Vec<_> = (0..6)
            .map(|i| {
                p.record_err(2.0 + i as f64, FetchError::Timeout { ms: 10_000 });
                p.next_delay_ms(Some(2_000)).unwrap()
            })
            .collect();
        assert_eq!(delays, [2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
        assert!(p.is_stale());
        assert_eq!(p.last_ok_ms, Some(1.0), "last good time is kept");
        p.record_ok(9.0);
        assert!(!p.is_stale());
        assert_eq!(p.failures, 0);
        assert_eq!(p.next_delay_ms(Some(2_000)), Some(2_000));
    }

    #[test]
    fn retry_after_is_honoured() {
        let mut p = PollState::default();
        p.record_err(
            1.0,
            FetchError::Http {
                status: 429,
                message: String::new(),
                retry_after_s: Some(7),
            },
        );
        assert_eq!(p.next_delay_ms(Some(2_000)), Some(7_000));
    }

    #[test]
    fn refresh_off_still_retries_after_a_failure() {
        let mut p = PollState::default();
        p.record_err(1.0, FetchError::Network("down".into()));
        assert_eq!(p.next_delay_ms(None), Some(2_000));
        for _ in 0..40 {
            p.record_err(1.0, FetchError::Network("down".into()));
        }
        assert_eq!(p.next_delay_ms(None), Some(MAX_BACKOFF_MS));
    }
}
