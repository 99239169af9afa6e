//! Poison input: records no stage can handle are written into every topic of a running
//! pipeline, around real dump data. Each must land in the right dead-letter topic with its
//! kind, reason and origin in headers, and every real item must still land in both stores,
//! exactly once. Runs against the shared default stack: it breaks no server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use redstream_schemas::{normalize_line, Codec, Item, SnapshotOrigin};
use redstream_tests::drain::{read_all, TopicMessage};
use redstream_tests::expect::shared_dump as dump;
use redstream_tests::expect::Expected;
use redstream_tests::faults::inject;
use redstream_tests::run::{Pipeline, RunNames};
use redstream_tests::stack::require_stack;

const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

fn run_root() -> PathBuf {
    redstream_tests::expect::test_runs_dir("faults")
}

/// A raw comment of our own, encoded as the producer would, under a fullname no dump has.
fn comment(codec: &Codec, id: &str, body: &str) -> (Item, Vec<u8>) {
    let line = serde_json::json!({
        "id": id, "name": format!("t1_{id}"), "link_id": "t3_poison", "parent_id": "t3_poison",
        "subreddit": "redstream_faults", "author": "someone", "body": body, "score": 1,
        "created_utc": 1_420_070_400, "retrieved_on": 1_500_000_000, "edited": false,
    })
    .to_string();
    let origin = SnapshotOrigin {
        fallback_retrieved_utc: 0,
        line_no: 1,
    };
    let item = normalize_line(line.as_bytes(), &origin).expect("our comment normalizes");
    let mut bytes = Vec::new();
    codec.encode_item(&item, &mut bytes).expect("encodes");
    (item, bytes)
}

/// The poison records for one topic.
/// One poison record: what it is, its key, its bytes, and the dead-letter kind it must get.
type Poison = (String, Option<Vec<u8>>, Vec<u8>, &'static str);

fn poison(codec: &Codec, tag: &str) -> Vec<Poison> {
    let key = |id: &str| Some(format!("t1_{tag}{id}").into_bytes());
    let (_, valid) = comment(codec, &format!("{tag}ok"), "fine words");

    let mut truncated = valid.clone();
    truncated.truncate(valid.len() / 2);

    let mut unknown = valid.clone();
    for b in &mut unknown[2..10] {
        *b ^= 0x5A;
    }

    // A well-formed Avro datum whose string field holds bytes that are not UTF-8.
    let (_, mut bad_utf8) = comment(codec, &format!("{tag}u8"), "QQQQQQQQ");
    let at = bad_utf8
        .windows(8)
        .position(|w| w == b"QQQQQQQQ")
        .expect("marker in the datum");
    bad_utf8[at..at + 8].copy_from_slice(&[0xFF, 0xFE, 0xC3, 0x28, 0xA0, 0xA1, 0xFF, 0xFE]);

    // Large but under the broker's 1 MB default: garbage the stage must refuse, not choke on.
    let big: Vec<u8> = (0..900_000u32).map(|i| (i * 7 + 3) as u8).collect();

    let (_, unkeyed) = comment(codec, &format!("{tag}nk"), "no key on this one");

    vec![
        ("truncated".into(), key("tr"), truncated, "decode"),
        (
            "unknown fingerprint".into(),
            key("uf"),
            unknown,
            "unknown_schema",
        ),
        ("invalid UTF-8".into(), key("u8"), bad_utf8, "decode"),
        ("900 KB garbage".into(), key("big"), big, "decode"),
        ("null key".into(), None, unkeyed, "no_key"),
    ]
}

fn kinds(messages: &[TopicMessage]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in messages {
        *out.entry(m.header("redstream.reason.kind").unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    out
}

fn count(kinds: &[&str]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for k in kinds {
        *out.entry(k.to_string()).or_insert(0) += 1;
    }
    out
}

/// Every letter names its source topic, partition and offset, has a reason, and carries the
/// original bytes.
fn check_letters(letters: &[TopicMessage], source_topic: &str, sent: &[Vec<u8>]) {
    for m in letters {
        assert_eq!(m.header("redstream.source.topic"), Some(source_topic));
        assert!(m.header("redstream.source.partition").is_some());
        assert!(m.header("redstream.source.offset").is_some());
        assert!(
            m.header("redstream.reason").is_some_and(|r| r.len() > 10),
            "reason of {:?}",
            m.headers
        );
        assert!(
            sent.contains(&m.value),
            "a letter of {source_topic} does not carry the original bytes"
        );
    }
}

#[test]
fn poison_records_are_dead_lettered_and_real_items_all_land() {
    if !require_stack("poison_records_are_dead_lettered_and_real_items_all_land") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let codec = Codec::new().expect("codec");
    let run = RunNames::fresh("faults-poison", &run_root()).expect("run folder");

    // Real data, plus a file with a 10 MB line and a line that is not UTF-8.
    let mut files = vec![
        dump("pushshift_multi_era_submissions.ndjson"),
        dump("pushshift_multi_era_comments.ndjson"),
        dump("api_submissions.ndjson"),
    ];
    let bad_file = run.dir.join("poison.ndjson");
    let mut bad = Vec::new();
    bad.extend_from_slice(b"{\"id\":\"huge\",\"body\":\"");
    bad.extend(std::iter::repeat_n(b'x', 10 << 20));
    bad.extend_from_slice(b"\"}\n");
    bad.extend_from_slice(b"{\"id\":\"bin\",\"body\":\"\xFF\xFE not text\"}\n");
    std::fs::write(&bad_file, &bad).expect("write poison file");

    let mut expected = Expected::default();
    for f in &files {
        expected.add_file(f).expect("expected state");
    }
    files.push(bad_file);

    run.producer(&["topics"]).expect("topics created");
    let mut pipeline = Pipeline::start(&run, 19_400).expect("stages start");

    let raw = poison(&codec, "raw");
    let unique = poison(&codec, "unq");
    let enriched = poison(&codec, "enr");
    let send = |topic: &str, records: &[Poison]| {
        let records: Vec<(Option<Vec<u8>>, Vec<u8>)> = records
            .iter()
            .map(|(_, k, v, _)| (k.clone(), v.clone()))
            .collect();
        inject(&run.brokers, &run.topic(topic), &records).expect("poison written");
    };

    // Poison before, between and after the real data.
    send("raw", &raw[..2]);
    send("unique", &unique[..2]);
    send("enriched", &enriched[..2]);
    let args: Vec<String> = std::iter::once("replay".to_string())
        .chain(files.iter().map(|f| f.display().to_string()))
        .collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run.producer(&refs).expect("replay runs");
    send("raw", &raw[2..]);
    send("unique", &unique[2..]);
    send("enriched", &enriched[2..]);

    pipeline
        .wait_drained(&run, DRAIN_TIMEOUT)
        .expect("pipeline drains past the poison");

    // Every real item landed, nothing of the poison did.
    run.store_counts(&rt).assert_holds(&expected);

    // The producer dead-letters the 10 MB line and the non-UTF-8 line, with file and line.
    let producer = read_all(&run.brokers, &run.topic("dlq.producer")).expect("producer DLQ");
    let mut lines: Vec<(u64, String)> = producer
        .iter()
        .map(|m| {
            (
                m.header("redstream.source.line")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0),
                m.header("redstream.reason.kind").unwrap_or("?").to_string(),
            )
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![(1, "too_large".to_string()), (2, "parse".to_string())],
        "producer dead letters"
    );

    // Raw and unique poison: dead-lettered by the stage that reads the topic.
    let raw_kinds: Vec<&str> = raw.iter().map(|r| r.3).collect();
    let dedupe = read_all(&run.brokers, &run.topic("dlq.dedupe")).expect("dedupe DLQ");
    assert_eq!(kinds(&dedupe), count(&raw_kinds), "dedupe dead letters");
    let raw_values: Vec<Vec<u8>> = raw.iter().map(|r| r.2.clone()).collect();
    check_letters(&dedupe, &run.topic("raw"), &raw_values);

    let enrich = read_all(&run.brokers, &run.topic("dlq.enrich")).expect("enrich DLQ");
    assert_eq!(kinds(&enrich), count(&raw_kinds), "enrich dead letters");
    let unique_values: Vec<Vec<u8>> = unique.iter().map(|r| r.2.clone()).collect();
    check_letters(&enrich, &run.topic("unique"), &unique_values);

    // Enriched poison: both sinks read it, both dead-letter it. The sinks take records by
    // their value alone, so the unkeyed one is refused for what it holds: a raw item, not an
    // enriched one (`unknown_schema`, the reason says which).
    let enriched_values: Vec<Vec<u8>> = enriched.iter().map(|r| r.2.clone()).collect();
    for stage in ["sink-scylla", "sink-elasticsearch"] {
        let letters =
            read_all(&run.brokers, &run.topic(&format!("dlq.{stage}"))).expect("sink DLQ");
        assert_eq!(
            kinds(&letters),
            count(&[
                "decode",
                "decode",
                "decode",
                "unknown_schema",
                "unknown_schema"
            ]),
            "{stage} dead letters"
        );
        check_letters(&letters, &run.topic("enriched"), &enriched_values);
        assert!(
            letters.iter().any(|m| m
                .header("redstream.reason")
                .is_some_and(|r| r.contains("where an enriched item was expected"))),
            "{stage}: a raw item on the enriched topic is named as such"
        );
    }

    pipeline.stop().expect("every stage exits 0 on SIGTERM");
}
