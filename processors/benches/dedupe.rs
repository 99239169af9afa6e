//! `cargo bench -p redstream-processors --bench dedupe`: the dedupe decision and its state.
//!
//! - `observe` of new keys (table growing), of repeats (lookups that hit), of updates;
//! - the content hash of real items (Avro datum with the snapshot fields zeroed, then xxh3);
//! - heap bytes per tracked item at several sizes (the 64-byte budget of issue 6).
//!
//! A plain timing loop (`harness = false`): nanoseconds per operation.

use std::hint::black_box;
use std::time::Instant;

use redstream_processors::dedupe::content::content_hash;
use redstream_processors::dedupe::state::{key_hash, DedupeState};
use redstream_schemas::{normalize_line, Codec, Item, SnapshotOrigin};

const COMMENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/reddit/dumps/pushshift_RC_2015-01_sample.ndjson"
);

fn timed(name: &str, ops: usize, f: impl FnOnce()) {
    let started = Instant::now();
    f();
    let ns = started.elapsed().as_secs_f64() * 1e9 / ops as f64;
    println!("{name:<44} {ns:>8.1} ns/op {:>14.0} ops/s", 1e9 / ns);
}

fn main() {
    const N: usize = 1_000_000;
    let keys: Vec<u64> = (0..N).map(|i| key_hash(format!("t1_{i:x}"))).collect();

    let mut state = DedupeState::default();
    timed("observe, new keys (1M, table grows)", N, || {
        for (i, k) in keys.iter().enumerate() {
            black_box(state.observe(*k, i as u64, 1));
        }
    });
    timed("observe, repeats (lookup hits)", N, || {
        for (i, k) in keys.iter().enumerate() {
            black_box(state.observe(*k, i as u64, 1));
        }
    });
    timed("observe, updates (new content, newer)", N, || {
        for (i, k) in keys.iter().enumerate() {
            black_box(state.observe(*k, i as u64 + 7, 2));
        }
    });
    timed("key_hash of a fullname", N, || {
        for i in 0..N {
            black_box(key_hash(black_box("t1_c2392xy")));
            black_box(i);
        }
    });

    let codec = Codec::new().expect("the schemas parse");
    let text = std::fs::read_to_string(COMMENTS).unwrap_or_else(|e| {
        panic!("cannot read {COMMENTS}: {e}; the benches need the shared data")
    });
    let mut items: Vec<Item> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let origin = SnapshotOrigin {
                fallback_retrieved_utc: 1_700_000_000,
                line_no: i as u64 + 1,
            };
            normalize_line(l.as_bytes(), &origin).ok()
        })
        .collect();
    let mut buf = Vec::new();
    let rounds = 50;
    timed(
        "content_hash of a real comment",
        rounds * items.len(),
        || {
            for _ in 0..rounds {
                for item in items.iter_mut() {
                    black_box(content_hash(&codec, item, &mut buf).expect("encodes"));
                }
            }
        },
    );

    for n in [100_000usize, 1_000_000, 1_835_008, 4_000_000] {
        let mut s = DedupeState::default();
        for i in 0..n as u64 {
            s.observe(key_hash(i.to_le_bytes()), i, 1);
        }
        println!(
            "memory at {n:>9} tracked items: {:>5.1} heap bytes/item",
            s.allocated_bytes() as f64 / s.len() as f64
        );
    }
}
