//! The two numbers the benchmark takes inside its own process rather than from a stage: the
//! CPU cost of each enricher per item, and the memory of the dedupe state per tracked item.

use std::time::Instant;

use redstream_processors::config::EnrichersConfig;
use redstream_processors::dedupe::state::DedupeState;
use redstream_processors::enrich::enricher::Enricher;
use redstream_schemas::Item;

/// Microseconds per item of one configuration over `items`, repeated until at least
/// `min_secs` have passed (single thread, so wall time is CPU time).
fn micros_per_item(enabled: EnrichersConfig, items: &[Item], min_secs: f64) -> f64 {
    let enricher = Enricher::new(enabled);
    let started = Instant::now();
    let mut done = 0usize;
    while done == 0 || started.elapsed().as_secs_f64() < min_secs {
        for item in items {
            std::hint::black_box(enricher.enrichment(item));
        }
        done += items.len();
    }
    started.elapsed().as_secs_f64() * 1e6 / done.max(1) as f64
}

/// CPU microseconds per item of each enricher on its own (the cost above the all-off run), and
/// of all of them together, in that order: text, links, language, sentiment, all.
pub fn enricher_costs(items: &[Item]) -> Vec<(&'static str, f64)> {
    let off = EnrichersConfig::all_off();
    let base = micros_per_item(off, items, 0.3);
    let one = |f: fn(&mut EnrichersConfig)| {
        let mut c = off;
        f(&mut c);
        c
    };
    let configs = [
        ("text", one(|c| c.text = true)),
        ("links", one(|c| c.links = true)),
        ("language", one(|c| c.language = true)),
        ("sentiment", one(|c| c.sentiment = true)),
        ("all", EnrichersConfig::default()),
    ];
    configs
        .into_iter()
        .map(|(name, cfg)| (name, (micros_per_item(cfg, items, 0.5) - base).max(0.0)))
        .collect()
}

/// Heap bytes per tracked item of a dedupe state holding `n` distinct items (one partition's
/// table, as the stage keeps it).
pub fn dedupe_bytes_per_item(n: usize) -> f64 {
    let mut state = DedupeState::default();
    for i in 0..n as u64 {
        state.observe(mix(i), i.wrapping_mul(0x9E37_79B9_7F4A_7C15), 1);
    }
    state.allocated_bytes() as f64 / state.len().max(1) as f64
}

/// A well-mixed 64-bit key, standing in for the xxh3 hash of a fullname.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
