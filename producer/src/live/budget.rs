//! Reddit's request budget, per OAuth client id, from the `x-ratelimit-*` headers of every
//! response. Every token of one client id shares one budget, so credentials of the same client
//! id share one [`Budget`].
//!
//! The headers are parsed defensively: real ones have carried `"598.0"`, `"988"` and nothing at
//! all. A value that does not parse is treated as absent, never as zero or as plenty.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

/// What is known of one client id's budget.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    /// Requests left in the current window; `None` when unknown (first request, new window).
    remaining: Option<f64>,
    /// When the current window ends.
    reset_at: Option<Instant>,
}

impl Budget {
    /// Whether a request may go out now. Unknown budgets may send one request to learn it;
    /// an exhausted one waits for its reset.
    pub fn allows(&mut self, now: Instant) -> bool {
        self.roll_over(now);
        self.remaining.is_none_or(|r| r >= 1.0)
    }

    /// Requests left, for spreading load (unknown counts as plenty).
    pub fn remaining(&self) -> f64 {
        self.remaining.unwrap_or(f64::MAX)
    }

    /// Requests left as reported, for the metric (-1 when unknown).
    pub fn reported(&self) -> f64 {
        self.remaining.unwrap_or(-1.0)
    }

    /// When an exhausted budget may send again.
    pub fn ready_at(&self) -> Option<Instant> {
        self.reset_at
    }

    /// Counts a request about to be sent, so that a budget of one is not spent twice.
    pub fn reserve(&mut self) {
        if let Some(r) = &mut self.remaining {
            *r = (*r - 1.0).max(0.0);
        }
    }

    /// Takes in the headers of a response (any status).
    pub fn update(&mut self, headers: &HeaderMap, now: Instant) {
        let remaining = number(headers, "x-ratelimit-remaining");
        let reset = number(headers, "x-ratelimit-reset");
        if let Some(r) = remaining {
            self.remaining = Some(r);
        }
        if let Some(secs) = reset {
            self.reset_at = Some(now + Duration::from_secs_f64(secs.min(3600.0)));
        }
        if remaining.is_some_and(|r| r < 1.0) && self.reset_at.is_none_or(|t| t <= now) {
            // Exhausted with no usable reset: Reddit's windows are 10 minutes at most.
            self.reset_at = Some(now + Duration::from_secs(600));
        }
    }

    /// A 429: nothing more until `until`.
    pub fn exhaust_until(&mut self, until: Instant) {
        self.remaining = Some(0.0);
        self.reset_at = Some(self.reset_at.map_or(until, |t| t.max(until)));
    }

    fn roll_over(&mut self, now: Instant) {
        if self.reset_at.is_some_and(|t| now >= t) {
            self.remaining = None;
            self.reset_at = None;
        }
    }
}

/// A header as a non-negative finite number: `"598.0"`, `"988"` and `" 12 "` parse; anything
/// else (missing, empty, `"NaN"`, `"-3"`, several values) is `None`.
pub fn number(headers: &HeaderMap, name: &str) -> Option<f64> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value: f64 = first.to_str().ok()?.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn parses_real_header_shapes() {
        let h = headers(&[
            ("x-ratelimit-remaining", "598.0"),
            ("x-ratelimit-used", "988"),
            ("x-ratelimit-reset", " 12 "),
        ]);
        assert_eq!(number(&h, "x-ratelimit-remaining"), Some(598.0));
        assert_eq!(number(&h, "x-ratelimit-used"), Some(988.0));
        assert_eq!(number(&h, "x-ratelimit-reset"), Some(12.0));
        assert_eq!(number(&h, "retry-after"), None);
        for bad in ["", "NaN", "-3", "inf", "lots"] {
            let h = headers(&[("x-ratelimit-remaining", bad)]);
            assert_eq!(number(&h, "x-ratelimit-remaining"), None, "{bad:?}");
        }
    }

    #[test]
    fn exhausted_budget_waits_for_its_reset() {
        let now = Instant::now();
        let mut b = Budget::default();
        assert!(b.allows(now), "unknown budget may probe");
        b.update(
            &headers(&[
                ("x-ratelimit-remaining", "1.0"),
                ("x-ratelimit-reset", "30"),
            ]),
            now,
        );
        assert!(b.allows(now));
        b.reserve();
        assert!(!b.allows(now), "the last request is reserved");
        assert!(!b.allows(now + Duration::from_secs(29)));
        assert!(b.allows(now + Duration::from_secs(31)), "new window");
    }

    #[test]
    fn zero_without_reset_still_waits() {
        let now = Instant::now();
        let mut b = Budget::default();
        b.update(&headers(&[("x-ratelimit-remaining", "0")]), now);
        assert!(!b.allows(now + Duration::from_secs(60)));
    }
}
