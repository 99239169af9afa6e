//! `cargo bench -p redstream-schemas --bench normalize`: what normalizing a dump line costs
//! next to what merely parsing it costs, on the real lines in `shared/data/reddit/dumps`.
//!
//! Replay is bound by the reader thread's CPU, and most of it is `normalize_line`. Each group
//! measures lines per second of three things on the same lines (a plain timing loop, like the
//! codec bench: each case runs for at least a second):
//! - `ignored_any`: serde_json scanning the line without keeping anything. No normalization
//!   can beat this; it is the floor to compare against.
//! - `value`: parsing the line into a `serde_json::Value` (a map of every field, every string
//!   allocated), which is what normalization did before it parsed into borrowed fields.
//! - `normalize_line`: the whole normalization, ending in an `Item`.
//!
//! The figure that matters is the printed ratio of `normalize_line` to `ignored_any` in the same
//! run: it says how much of the unavoidable parsing cost normalization adds, independent of how
//! busy the machine is. Pushshift dump lines (~600 bytes) and API objects (~1.9 KB) are two
//! groups because their sizes and field counts differ.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use redstream_schemas::{normalize_line, SnapshotOrigin};
use serde::de::IgnoredAny;

const DUMPS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/reddit/dumps"
);

/// Every era of Pushshift and Arctic Shift dump lines.
const PUSHSHIFT: [&str; 3] = [
    "pushshift_RC_2015-01_sample.ndjson",
    "pushshift_multi_era_comments.ndjson",
    "pushshift_multi_era_submissions.ndjson",
];
/// `data` objects of API things, 2005 to 2026.
const API: [&str; 2] = ["api_comments.ndjson", "api_submissions.ndjson"];

fn lines(files: &[&str]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for file in files {
        let path = format!("{DUMPS}/{file}");
        let text = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read {path}: {e}; the shared data is incomplete"));
        lines.extend(
            text.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    lines
}

fn group(name: &str, files: &[&str]) {
    let lines = lines(files);
    let bytes: usize = lines.iter().map(Vec::len).sum();
    println!(
        "{name}: {} lines, {} bytes on average",
        lines.len(),
        bytes / lines.len()
    );
    // Every line must normalize, or the bench would time error paths.
    for (i, line) in lines.iter().enumerate() {
        let origin = SnapshotOrigin {
            fallback_retrieved_utc: 1_700_000_000,
            line_no: i as u64 + 1,
        };
        if let Err(e) = normalize_line(line, &origin) {
            panic!("{name} line {}: {e}", i + 1);
        }
    }

    let floor = rate(name, "ignored_any", lines.len(), || {
        for line in &lines {
            black_box(serde_json::from_slice::<IgnoredAny>(black_box(line)).expect("json"));
        }
    });
    let value = rate(name, "value", lines.len(), || {
        for line in &lines {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(line)).expect("json"));
        }
    });
    let normalize = rate(name, "normalize_line", lines.len(), || {
        for (i, line) in lines.iter().enumerate() {
            let origin = SnapshotOrigin {
                fallback_retrieved_utc: 1_700_000_000,
                line_no: i as u64 + 1,
            };
            black_box(normalize_line(black_box(line), &origin).expect("normalizes"));
        }
    });
    println!(
        "{name}: of the ignored_any floor, value {:.2}, normalize_line {:.2}",
        value / floor,
        normalize / floor
    );
}

/// Runs `f` (one pass over `lines` lines) until a second has passed; prints and returns
/// lines per second.
fn rate(group: &str, case: &str, lines: usize, mut f: impl FnMut()) -> f64 {
    f();
    let started = Instant::now();
    let mut rounds = 0usize;
    while rounds == 0 || started.elapsed().as_secs_f64() < 1.0 {
        f();
        rounds += 1;
    }
    let per_second = (rounds * lines) as f64 / started.elapsed().as_secs_f64();
    println!("{group}/{case:<16} {per_second:>12.0} lines/s");
    per_second
}

fn main() {
    if !Path::new(DUMPS).is_dir() {
        eprintln!(
            "skipping the normalize bench: {DUMPS} is missing; it needs the real dump lines of \
             shared/data/reddit (a checkout with shared/ beside the repository)"
        );
        return;
    }
    group("pushshift_lines", &PUSHSHIFT);
    group("api_lines", &API);
}
