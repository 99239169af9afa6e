//! Counting what a replay did, per file: progress on stderr every few seconds, a summary at the
//! end, and the one-line JSON summary that scripts parse.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redstream_common::metrics;
use serde::Serialize;

use super::input::Input;

/// Failure messages kept for the summary; the rest are only counted.
const KEPT_FAILURES: usize = 10;

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    /// Lines read from the file.
    pub read: u64,
    /// Items acknowledged by Kafka on `{prefix}.raw`.
    pub produced: u64,
    /// Lines acknowledged on `{prefix}.dlq.producer`.
    pub dead_lettered: u64,
    /// Records whose delivery failed or was never confirmed.
    pub failed: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.read += other.read;
        self.produced += other.produced;
        self.dead_lettered += other.dead_lettered;
        self.failed += other.failed;
    }
}

/// What stdout gets with `--summary-json`.
#[derive(Debug, Serialize)]
pub struct JsonSummary {
    pub read: u64,
    pub produced: u64,
    pub dead_lettered: u64,
    pub failed: u64,
    pub interrupted: bool,
}

pub struct Stats {
    inputs: Arc<Vec<Input>>,
    per_file: Vec<Counts>,
    /// Errors that stopped reading a file.
    pub file_errors: Vec<String>,
    failures: Vec<String>,
    current: usize,
    started: Instant,
    interval: Duration,
    last_report: Instant,
    last_read: u64,
    /// `redstream_items_out_total{stage="producer", outcome="produced"}`, looked up once.
    produced_total: prometheus::IntCounter,
}

impl Stats {
    pub fn new(inputs: Arc<Vec<Input>>, interval: Duration) -> Self {
        let now = Instant::now();
        Self {
            per_file: vec![Counts::default(); inputs.len()],
            inputs,
            file_errors: Vec::new(),
            failures: Vec::new(),
            current: 0,
            started: now,
            interval,
            last_report: now,
            last_read: 0,
            produced_total: metrics::ITEMS_OUT.with_label_values(&["producer", "produced"]),
        }
    }

    pub fn read(&mut self, file: usize, lines_read: u64) {
        self.current = file;
        let counts = &mut self.per_file[file];
        let new = lines_read.saturating_sub(counts.read);
        counts.read = lines_read;
        metrics::ITEMS_IN
            .with_label_values(&["producer"])
            .inc_by(new);
    }

    /// After an interruption: lines after `line` were read but never handed to Kafka.
    pub fn read_only_up_to(&mut self, file: usize, line: u64) {
        let counts = &mut self.per_file[file];
        counts.read = counts.read.min(line);
    }

    pub fn produced(&mut self, file: usize) {
        self.per_file[file].produced += 1;
        self.produced_total.inc();
    }

    pub fn dead_lettered(&mut self, file: usize) {
        self.per_file[file].dead_lettered += 1;
    }

    pub fn failed(&mut self, file: usize, message: String) {
        self.per_file[file].failed += 1;
        self.keep_failure(message);
    }

    /// Records given up on in bulk (flush timeout); attributed to the file being read.
    pub fn unconfirmed(&mut self, count: u64, message: String) {
        self.per_file[self.current].failed += count;
        self.keep_failure(message);
    }

    /// Logs the first failure as it happens (the replay goes on) and keeps a few for the
    /// summary.
    fn keep_failure(&mut self, message: String) {
        if self.failures.is_empty() {
            tracing::error!(stage = "producer", error = %message, "record not delivered; the replay goes on");
        }
        if self.failures.len() < KEPT_FAILURES {
            self.failures.push(message);
        }
    }

    pub fn totals(&self) -> Counts {
        let mut total = Counts::default();
        for counts in &self.per_file {
            total.add(counts);
        }
        total
    }

    pub fn has_failures(&self) -> bool {
        self.totals().failed > 0 || !self.file_errors.is_empty()
    }

    /// Logs progress when the interval has passed since the last report.
    pub fn maybe_report(&mut self, in_flight: usize) {
        if self.last_report.elapsed() >= self.interval {
            self.report(in_flight);
        }
    }

    fn report(&mut self, in_flight: usize) {
        let total = self.totals();
        let elapsed = self.last_report.elapsed().as_secs_f64().max(0.001);
        let rate = (total.read - self.last_read) as f64 / elapsed;
        let current = &self.per_file[self.current];
        tracing::info!(
            stage = "producer",
            file = %self.inputs[self.current].path.display(),
            file_read = current.read,
            read = total.read,
            produced = total.produced,
            dead_lettered = total.dead_lettered,
            failed = total.failed,
            in_flight,
            lines_per_sec = rate.round() as u64,
            "replay progress"
        );
        self.last_report = Instant::now();
        self.last_read = total.read;
    }

    /// Logs one line per file, the failures, and the totals.
    pub fn summarize(&self, interrupted: bool) {
        for (input, counts) in self.inputs.iter().zip(&self.per_file) {
            tracing::info!(
                stage = "producer",
                file = %input.path.display(),
                compression = ?input.compression,
                bytes = input.size,
                read = counts.read,
                produced = counts.produced,
                dead_lettered = counts.dead_lettered,
                failed = counts.failed,
                "file replayed"
            );
        }
        for error in &self.file_errors {
            tracing::error!(stage = "producer", error = %error, "file not read to its end");
        }
        let total = self.totals();
        for failure in &self.failures {
            tracing::error!(stage = "producer", error = %failure, "delivery failed");
        }
        if total.failed > self.failures.len() as u64 {
            tracing::error!(
                stage = "producer",
                more = total.failed - self.failures.len() as u64,
                "more deliveries failed (only the first {KEPT_FAILURES} are listed)"
            );
        }
        let seconds = self.started.elapsed().as_secs_f64();
        tracing::info!(
            stage = "producer",
            files = self.inputs.len(),
            read = total.read,
            produced = total.produced,
            dead_lettered = total.dead_lettered,
            failed = total.failed,
            interrupted,
            seconds = (seconds * 10.0).round() / 10.0,
            lines_per_sec = (total.read as f64 / seconds.max(0.001)).round() as u64,
            "replay finished"
        );
    }

    pub fn json(&self, interrupted: bool) -> JsonSummary {
        let total = self.totals();
        JsonSummary {
            read: total.read,
            produced: total.produced,
            dead_lettered: total.dead_lettered,
            failed: total.failed,
            interrupted,
        }
    }
}
