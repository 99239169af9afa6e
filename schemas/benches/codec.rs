//! `cargo bench -p redstream-schemas`: the Avro codec against serde_json on the same items,
//! real ones (the dumps in `shared/data/reddit/dumps`, read by path), per item and per byte.
//!
//! A plain timing loop (`harness = false`): each case runs for at least half a second and
//! prints nanoseconds per item, items per second and the encoded size.

use std::hint::black_box;
use std::time::Instant;

use redstream_schemas::{normalize_line, Codec, Item, SnapshotOrigin};

const DUMPS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/reddit/dumps"
);
const FILES: [&str; 4] = [
    "pushshift_RC_2015-01_sample.ndjson",
    "pushshift_multi_era_comments.ndjson",
    "pushshift_multi_era_submissions.ndjson",
    "api_submissions.ndjson",
];

fn load() -> Vec<Item> {
    let mut items = Vec::new();
    for file in FILES {
        let path = format!("{DUMPS}/{file}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("cannot read {path}: {e}; the benches need the shared data")
        });
        for (i, line) in text.lines().enumerate() {
            let origin = SnapshotOrigin {
                fallback_retrieved_utc: 1_700_000_000,
                line_no: i as u64 + 1,
            };
            if let Ok(item) = normalize_line(line.as_bytes(), &origin) {
                items.push(item);
            }
        }
    }
    assert!(items.len() > 1000, "too few items in {DUMPS}");
    items
}

/// Runs `f` over every item until half a second has passed; prints ns/item.
fn bench(name: &str, items: usize, mut f: impl FnMut()) {
    f();
    let started = Instant::now();
    let mut rounds = 0usize;
    while rounds == 0 || started.elapsed().as_secs_f64() < 0.5 {
        f();
        rounds += 1;
    }
    let per_item = started.elapsed().as_secs_f64() * 1e9 / (rounds * items) as f64;
    println!(
        "{name:<40} {per_item:>9.0} ns/item {:>12.0} items/s",
        1e9 / per_item
    );
}

fn json_of(item: &Item, out: &mut Vec<u8>) {
    match item {
        Item::Post(p) => serde_json::to_writer(out, p),
        Item::Comment(c) => serde_json::to_writer(out, c),
    }
    .expect("serde_json writes every item");
}

fn main() {
    let codec = Codec::new().expect("the schemas parse");
    let items = load();
    let n = items.len();

    let avro: Vec<Vec<u8>> = items
        .iter()
        .map(|item| {
            let mut buf = Vec::new();
            codec.encode_item(item, &mut buf).expect("encodes");
            buf
        })
        .collect();
    let json: Vec<(bool, Vec<u8>)> = items
        .iter()
        .map(|item| {
            let mut buf = Vec::new();
            json_of(item, &mut buf);
            (matches!(item, Item::Post(_)), buf)
        })
        .collect();
    let avg = |v: &mut dyn Iterator<Item = usize>| v.sum::<usize>() as f64 / n as f64;
    println!(
        "{n} real items; average size: Avro {:.0} bytes, JSON {:.0} bytes",
        avg(&mut avro.iter().map(Vec::len)),
        avg(&mut json.iter().map(|(_, b)| b.len()))
    );

    let mut buf = Vec::with_capacity(64 << 10);
    bench("avro encode (reused buffer)", n, || {
        for item in &items {
            buf.clear();
            codec
                .encode_item(black_box(item), &mut buf)
                .expect("encodes");
            black_box(&buf);
        }
    });
    bench("serde_json encode (reused buffer)", n, || {
        for item in &items {
            buf.clear();
            json_of(black_box(item), &mut buf);
            black_box(&buf);
        }
    });
    bench("avro decode", n, || {
        for bytes in &avro {
            black_box(codec.decode_item(black_box(bytes)).expect("decodes"));
        }
    });
    bench("serde_json decode", n, || {
        for (is_post, bytes) in &json {
            if *is_post {
                black_box(
                    serde_json::from_slice::<redstream_schemas::RawPost>(bytes).expect("decodes"),
                );
            } else {
                black_box(
                    serde_json::from_slice::<redstream_schemas::RawComment>(bytes)
                        .expect("decodes"),
                );
            }
        }
    });
}
