//! Measuring one stage (or one baseline) while it works through a known number of items.
//!
//! Rates are taken over the window from the first observed progress to the moment the target
//! is reached, and CPU over the same window, so that start-up (connecting, joining the group,
//! loading state) is charged to no one: every stage and every baseline is measured the same
//! way, from outside, by what it made visible (committed offsets or topic end offsets). When
//! the first progress seen is already over a tenth of the work (inputs too small for the
//! 100 ms polling), the whole run from start is used instead.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{json, Value};

use super::procstat::{self, ProcSample};

/// What one measured run did.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Items done inside the measured window.
    pub items: i64,
    pub secs: f64,
    /// CPU seconds the process used inside the window (None for baselines run in-process or
    /// through a shell pipe).
    pub cpu_secs: Option<f64>,
    /// Peak RSS of the process over its whole life, KiB.
    pub peak_rss_kib: Option<u64>,
}

impl Measured {
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.items as f64 / self.secs
        } else {
            0.0
        }
    }

    /// CPU seconds per million items.
    pub fn cpu_per_million(&self) -> Option<f64> {
        let cpu = self.cpu_secs?;
        (self.items > 0).then(|| cpu * 1e6 / self.items as f64)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "items": self.items,
            "secs": round(self.secs, 3),
            "items_per_sec": round(self.rate(), 1),
            "cpu_secs_per_million": self.cpu_per_million().map(|v| round(v, 2)),
            "peak_rss_mib": self.peak_rss_kib.map(|k| round(k as f64 / 1024.0, 1)),
        })
    }
}

pub fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// Polls `done` (items finished so far) until it reaches `target`, sampling the process `pid`
/// (when given) at each poll. Fails after `timeout`, or as soon as `alive` fails.
pub fn watch(
    what: &str,
    target: i64,
    pid: Option<u32>,
    timeout: Duration,
    mut done: impl FnMut() -> anyhow::Result<i64>,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let mut first: Option<(Instant, i64, Option<ProcSample>)> = None;
    let mut last_count = 0;
    let mut peak = 0u64;
    loop {
        // Sample the process before counting, so that the CPU reading is never later than the
        // progress it is charged to.
        let proc_now = pid.and_then(procstat::sample);
        if let Some(p) = proc_now {
            peak = peak.max(p.peak_rss_kib);
        }
        let now = Instant::now();
        // A count that cannot be read (metadata not ready yet) counts as no progress.
        let count = done().unwrap_or(last_count);
        last_count = count;
        if count > 0 && first.is_none() {
            first = Some((now, count, proc_now));
        }
        if count >= target {
            let (t0, c0, p0) = first.unwrap_or((started, 0, None));
            // When the first progress seen is already a tenth of the work (small inputs, fast
            // runs), the window says little: fall back to the whole run, start-up included.
            let (t0, c0, p0) = if c0 * 10 > target {
                (started, 0, None)
            } else {
                (t0, c0, p0)
            };
            let cpu = match (p0, proc_now) {
                (Some(a), Some(b)) => Some(b.cpu_secs - a.cpu_secs),
                (None, Some(b)) => Some(b.cpu_secs),
                _ => None,
            };
            return Ok(Measured {
                items: count.min(target) - c0,
                secs: now.duration_since(t0).as_secs_f64(),
                cpu_secs: cpu,
                peak_rss_kib: pid.map(|_| peak),
            });
        }
        if started.elapsed() > timeout {
            bail!(
                "{what} did only {count} of {target} items within {timeout:?}; raise --timeout-secs \
                 or look at its log"
            );
        }
        alive()?;
        std::thread::sleep(Duration::from_millis(100));
    }
}
