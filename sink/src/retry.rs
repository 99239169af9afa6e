//! Waiting between attempts at a store that is down or throttling: capped exponential backoff
//! with jitter, and a limiter that keeps the "still down" warning to one line every few seconds.

use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Backoff settings of a store section (`[scylla]`, `[elasticsearch]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// Delay before the first retry.
    pub initial_ms: u64,
    /// Longest delay between two attempts, however long the store stays down.
    pub max_ms: u64,
    /// How many times one item the store answered for with a passing refusal (a `429` or
    /// `503` for that item inside a `_bulk` answer) is written again before it is
    /// dead-lettered (`retries_exhausted`), so that one item cannot hold its partition
    /// forever. `0` retries without limit. A store that does not answer at all is retried
    /// without limit whatever this says: nothing is lost while it is down.
    pub max_item_retries: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial_ms: 200,
            max_ms: 30_000,
            max_item_retries: 10,
        }
    }
}

/// Delays for successive attempts: `initial * 2^n`, capped at `max`, each drawn uniformly
/// from its upper half so that many sinks retrying at once do not hit the store in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        let initial = Duration::from_millis(config.initial_ms.max(1));
        Self {
            initial,
            max: Duration::from_millis(config.max_ms).max(initial),
            attempt: 0,
        }
    }

    /// The delay before the next attempt; each call doubles the next one up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32 << self.attempt.min(20);
        self.attempt = self.attempt.saturating_add(1);
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        let half = ceiling / 2;
        let jitter_ms = rand::rng().random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter_ms)
    }

    /// Starts over after an attempt that made progress.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// Lets one warning through every `every`, and counts the ones it held back, so that a store
/// that is down for an hour logs a few hundred lines, not a hundred thousand.
#[derive(Debug)]
pub struct WarnLimiter {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when this warning should be logged, `n` being how many were held back since
    /// the last one; `None` when it should be held back.
    pub fn check(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let mut backoff = Backoff::new(BackoffConfig {
            initial_ms: 100,
            max_ms: 1_000,
            max_item_retries: 0,
        });
        let delays: Vec<Duration> = (0..10).map(|_| backoff.next_delay()).collect();

        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
        assert!(delays[3] >= Duration::from_millis(400) && delays[3] <= Duration::from_millis(800));
        for d in &delays[4..] {
            assert!(*d >= Duration::from_millis(500) && *d <= Duration::from_millis(1_000));
        }

        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn limiter_lets_one_warning_through_per_period() {
        let mut limiter = WarnLimiter::new(Duration::from_secs(3600));
        assert_eq!(limiter.check(), Some(0));
        assert_eq!(limiter.check(), None);
        assert_eq!(limiter.check(), None);

        let mut fast = WarnLimiter::new(Duration::ZERO);
        assert_eq!(fast.check(), Some(0));
        assert_eq!(fast.check(), Some(0));
    }
}
