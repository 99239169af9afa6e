//! `cargo bench -p redstream-processors --bench enrich`: CPU per item of each enricher on real
//! comments and submissions (the dumps in `shared/data/reddit/dumps`, read by path).
//!
//! Each enricher runs alone and its cost is reported above the all-off run (which still
//! builds the empty enrichment); `all` is every enricher together, as the stage runs them.
//!
//! Language detection is also timed alone on the items' plain text, against its baseline in
//! the same run: whatlang on every text, as detection worked before the function-word fast
//! path. The share of texts each path took tells where the remaining cost is.

use std::hint::black_box;
use std::time::Instant;

use redstream_processors::config::EnrichersConfig;
use redstream_processors::enrich::enricher::Enricher;
use redstream_processors::enrich::language::{LanguageDetector, Path};
use redstream_processors::enrich::text;
use redstream_schemas::{normalize_line, Item, SnapshotOrigin};

const DUMPS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/reddit/dumps"
);

fn load(file: &str) -> Vec<Item> {
    let path = format!("{DUMPS}/{file}");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}; the benches need the shared data"));
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let origin = SnapshotOrigin {
                fallback_retrieved_utc: 1_700_000_000,
                line_no: i as u64 + 1,
            };
            normalize_line(l.as_bytes(), &origin).ok()
        })
        .collect()
}

fn micros_per_item(enabled: EnrichersConfig, items: &[Item]) -> f64 {
    let enricher = Enricher::new(enabled);
    for item in items.iter().take(100) {
        black_box(enricher.enrichment(item));
    }
    let started = Instant::now();
    let mut done = 0usize;
    while done == 0 || started.elapsed().as_secs_f64() < 0.5 {
        for item in items {
            black_box(enricher.enrichment(black_box(item)));
        }
        done += items.len();
    }
    started.elapsed().as_secs_f64() * 1e6 / done as f64
}

/// CPU per text of one detection function over every text, repeated for at least 0.5 s.
fn detection_micros(texts: &[String], detect: impl Fn(&str) -> Option<(&'static str, f64)>) -> f64 {
    let started = Instant::now();
    let mut done = 0usize;
    while done == 0 || started.elapsed().as_secs_f64() < 0.5 {
        for t in texts {
            black_box(detect(black_box(t)));
        }
        done += texts.len();
    }
    started.elapsed().as_secs_f64() * 1e6 / done as f64
}

fn language_detection(items: &[Item]) {
    let texts: Vec<String> = items
        .iter()
        .map(|item| match item {
            Item::Post(p) => text::plain_text(&format!("{}\n{}", p.title, p.selftext)),
            Item::Comment(c) => text::plain_text(&c.body),
        })
        .collect();
    let detector = LanguageDetector::new();
    let mut paths = [0usize; 4];
    for t in &texts {
        let (_, path) = detector.detect_traced(t);
        paths[path as usize] += 1;
    }
    let share = |path: Path| 100.0 * paths[path as usize] as f64 / texts.len() as f64;
    let baseline = detection_micros(&texts, |t| detector.whatlang(t));
    let fast = detection_micros(&texts, |t| detector.detect(t));
    println!(
        "  language detection alone: whatlang {baseline:.2} µs/item, fast path + fallback \
         {fast:.2} µs/item ({:.1}x faster); paths: too short {:.1}%, function words {:.1}%, \
         undecided {:.1}%, whatlang {:.1}%",
        baseline / fast,
        share(Path::TooShort),
        share(Path::FunctionWords),
        share(Path::Undecided),
        share(Path::Whatlang),
    );
}

fn main() {
    for (label, file) in [
        ("2015 comments", "pushshift_RC_2015-01_sample.ndjson"),
        ("API submissions", "api_submissions.ndjson"),
    ] {
        let items = load(file);
        let off = EnrichersConfig::all_off();
        let base = micros_per_item(off, &items);
        println!(
            "{label}: {} items; all-off run {base:.2} µs/item",
            items.len()
        );
        let cases: [(&str, EnrichersConfig); 5] = [
            ("text", EnrichersConfig { text: true, ..off }),
            ("links", EnrichersConfig { links: true, ..off }),
            (
                "language",
                EnrichersConfig {
                    language: true,
                    ..off
                },
            ),
            (
                "sentiment",
                EnrichersConfig {
                    sentiment: true,
                    ..off
                },
            ),
            ("all", EnrichersConfig::default()),
        ];
        for (name, cfg) in cases {
            let us = micros_per_item(cfg, &items) - base;
            println!(
                "  {name:<10} {us:>8.2} µs/item {:>12.0} items/s per core",
                1e6 / us.max(1e-9)
            );
        }
        language_detection(&items);
    }
}
