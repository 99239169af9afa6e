//! The dedupe binary against the local Kafka (`scripts/stack up`): real comments go into
//! `{prefix}.raw` with exact repeats, later snapshots that say the same, a changed score, a
//! deletion, older versions and undecodable messages. Exactly the new items and the real
//! changes must come out on `{prefix}.unique`; the garbage must land in `{prefix}.dlq.dedupe`
//! with a reason. Then a second process replays everything and must pass nothing more: the
//! state survived the restart through `{prefix}.dedupe-state`. Finally a third process joins,
//! the partitions are split between the two, and a further replay still passes nothing: state
//! moves with its partitions.
//!
//! Set `REDSTREAM_SKIP_STACK_TESTS=1` to skip when no stack is running.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::message::Message;
use redstream_common::topics::{delete_topics, ensure_topics};
use redstream_common::TopicNames;
use redstream_schemas::{
    normalize_line, Codec, ContentState, EnrichedComment, EnrichedItem, Enrichment, Item,
    RawComment, SnapshotOrigin,
};
use support::{
    header, kafka, key, produce, read_topic, stack_is_up, topics_config, unique_prefix,
    wait_for_messages, wait_until_caught_up, Record, StageProcess,
};

const BINARY: &str = env!("CARGO_BIN_EXE_redstream-dedupe");
const API_COMMENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/reddit/dumps/api_comments.ndjson"
);
const FETCHED_AT: i64 = 1_700_000_000;

/// The first `n` distinct, present comments of the real API data, normalized as the producer
/// would (each line's version = fetch time and line number).
fn real_comments(n: usize) -> Vec<RawComment> {
    let content = std::fs::read_to_string(API_COMMENTS)
        .unwrap_or_else(|e| panic!("cannot read {API_COMMENTS}: {e}"));
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let origin = SnapshotOrigin {
            fallback_retrieved_utc: FETCHED_AT,
            line_no: i as u64 + 1,
        };
        let item = normalize_line(line.as_bytes(), &origin)
            .unwrap_or_else(|e| panic!("{API_COMMENTS}:{}: {e}", i + 1));
        if let Item::Comment(c) = item {
            if c.state == ContentState::Present && seen.insert(c.fullname.clone()) {
                out.push(c);
            }
        }
        if out.len() == n {
            break;
        }
    }
    assert_eq!(
        out.len(),
        n,
        "not enough distinct comments in {API_COMMENTS}"
    );
    out
}

fn encode(codec: &Codec, comment: &RawComment) -> Record {
    let mut buf = Vec::new();
    codec
        .encode_item(&Item::Comment(comment.clone()), &mut buf)
        .expect("encodes");
    Record::keyed(&comment.fullname, buf)
}

/// A later snapshot of the same comment: one hour later, same line.
fn later(c: &RawComment, hours: i64) -> RawComment {
    let mut c = c.clone();
    c.retrieved_utc += hours * 3600;
    c.version += hours * 3600 * 1_000_000;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_changes_drops_repeats_and_survives_restart() {
    let kafka = kafka();
    if !stack_is_up("dedupe_kafka", &kafka) {
        return;
    }
    let prefix = unique_prefix("dedupe");
    let topics = topics_config(&prefix);
    let names = TopicNames::new(&prefix);
    ensure_topics(&kafka, &topics).await.expect("topics");
    let codec = Codec::new().expect("schemas");

    // 20 real comments: all new.
    let base = real_comments(20);
    let mut input: Vec<Record> = base.iter().map(|c| encode(&codec, c)).collect();
    let mut expected: BTreeSet<(String, i64, String)> = base
        .iter()
        .map(|c| (c.fullname.clone(), c.version, "new".to_string()))
        .collect();

    // Exact repeats of 5, and later snapshots of 5 others that say the same: all duplicates.
    input.extend(base[..5].iter().map(|c| encode(&codec, c)));
    input.extend(base[5..10].iter().map(|c| encode(&codec, &later(c, 1))));

    // A new score for 3, and a deletion of 1: updates.
    for c in &base[10..13] {
        let mut rescored = later(c, 2);
        rescored.score += 10;
        expected.insert((rescored.fullname.clone(), rescored.version, "update".into()));
        input.push(encode(&codec, &rescored));
    }
    let mut deleted = later(&base[13], 2);
    deleted.body = "[deleted]".into();
    deleted.author = None;
    deleted.author_fullname = None;
    deleted.state = ContentState::Deleted;
    expected.insert((deleted.fullname.clone(), deleted.version, "update".into()));
    input.push(encode(&codec, &deleted));

    // Older snapshots of 2 of the rescored ones, with other text: stale.
    for c in &base[10..12] {
        let mut older = c.clone();
        older.version -= 1_000_000;
        older.retrieved_utc -= 1;
        older.body.push_str(" (older edit)");
        input.push(encode(&codec, &older));
    }

    // What dedupe cannot read: garbage, and an enriched item where a raw one belongs.
    input.push(Record::keyed(
        "t1_garbage",
        b"this is not avro at all".to_vec(),
    ));
    let mut enriched = Vec::new();
    codec
        .encode_enriched(
            &EnrichedItem::Comment(EnrichedComment {
                comment: base[0].clone(),
                enrichment: Enrichment {
                    language: None,
                    language_confidence: 0.0,
                    sentiment: 0.0,
                    links: vec![],
                    domains: vec![],
                    text: String::new(),
                    word_count: 0,
                    created_at: 0,
                },
            }),
            &mut enriched,
        )
        .expect("encodes");
    input.push(Record::keyed(&base[0].fullname, enriched));

    produce(&kafka, &names.raw, &input).await;

    // First process: exactly the new items and the real changes come out.
    let mut first = StageProcess::start(BINARY, "dedupe-1", &kafka, &prefix, &[]);
    let unique = wait_for_messages(
        &kafka,
        &names.unique,
        expected.len(),
        Duration::from_secs(90),
    );
    first.assert_running();
    wait_until_caught_up(
        &kafka,
        &names.dedupe_group(),
        &names.raw,
        Duration::from_secs(60),
    );
    let unique = if unique.len() == expected.len() {
        read_topic(&kafka, &names.unique)
    } else {
        unique
    };

    let got: BTreeSet<(String, i64, String)> = unique
        .iter()
        .map(|m| {
            let item = codec
                .decode_item(m.payload().unwrap_or_default())
                .expect("unique holds raw items");
            assert_eq!(key(m), item.fullname(), "output keeps the input key");
            let change = header(m, "redstream.change").expect("redstream.change header");
            (item.fullname().to_string(), item.version(), change)
        })
        .collect();
    assert_eq!(
        unique.len(),
        expected.len(),
        "no repeats on {}",
        names.unique
    );
    assert_eq!(got, expected);

    let deleted_out = unique
        .iter()
        .map(|m| {
            codec
                .decode_item(m.payload().unwrap_or_default())
                .expect("decodes")
        })
        .find(|i| i.fullname() == deleted.fullname && i.version() == deleted.version)
        .expect("the deletion passed");
    assert_eq!(deleted_out.state(), ContentState::Deleted);

    let dlq = wait_for_messages(&kafka, &names.dlq("dedupe"), 2, Duration::from_secs(30));
    let mut kinds: Vec<(String, String)> = dlq
        .iter()
        .map(|m| {
            let reason = header(m, "redstream.reason").expect("reason header");
            assert!(!reason.is_empty());
            assert_eq!(header(m, "redstream.stage").as_deref(), Some("dedupe"));
            assert_eq!(
                header(m, "redstream.source.topic").as_deref(),
                Some(names.raw.as_str())
            );
            (
                key(m),
                header(m, "redstream.reason.kind").expect("kind header"),
            )
        })
        .collect();
    kinds.sort();
    let mut expected_kinds = vec![
        ("t1_garbage".to_string(), "decode".to_string()),
        (base[0].fullname.clone(), "unknown_schema".to_string()),
    ];
    expected_kinds.sort();
    assert_eq!(kinds, expected_kinds);
    let garbage = dlq
        .iter()
        .find(|m| key(m) == "t1_garbage")
        .expect("garbage");
    assert_eq!(
        garbage.payload(),
        Some(&b"this is not avro at all"[..]),
        "original bytes"
    );

    // One state record per passed item, at the input's partition number.
    let state = read_topic(&kafka, &names.dedupe_state);
    assert_eq!(state.len(), expected.len());
    let raw = read_topic(&kafka, &names.raw);
    for record in &state {
        assert_eq!(record.payload().map(<[u8]>::len), Some(16));
        let input_partition = raw
            .iter()
            .find(|m| m.key() == record.key())
            .map(|m| m.partition());
        assert_eq!(Some(record.partition()), input_partition, "{}", key(record));
    }

    let status = first.stop();
    assert!(status.success(), "graceful stop exits 0, got {status}");

    // Second process, same group: replay all of it. Nothing more may pass.
    let mut second = StageProcess::start(BINARY, "dedupe-2", &kafka, &prefix, &[]);
    produce(&kafka, &names.raw, &input).await;
    wait_until_caught_up(
        &kafka,
        &names.dedupe_group(),
        &names.raw,
        Duration::from_secs(90),
    );
    second.assert_running();
    let after = read_topic(&kafka, &names.unique);
    assert_eq!(
        after.len(),
        expected.len(),
        "the replay passed items again: the state did not survive the restart"
    );
    assert_eq!(read_topic(&kafka, &names.dlq("dedupe")).len(), 4);

    // A third process joins: the group rebalances, each loads the state of what it now owns.
    let mut third = StageProcess::start(BINARY, "dedupe-3", &kafka, &prefix, &[]);
    third.wait_for_log("partitions assigned", 1, Duration::from_secs(60));
    second.wait_for_log("partitions assigned", 2, Duration::from_secs(60));
    produce(&kafka, &names.raw, &input).await;
    wait_until_caught_up(
        &kafka,
        &names.dedupe_group(),
        &names.raw,
        Duration::from_secs(90),
    );
    second.assert_running();
    third.assert_running();
    assert_eq!(
        read_topic(&kafka, &names.unique).len(),
        expected.len(),
        "the replay after a rebalance passed items again: state did not move with its partitions"
    );
    assert_eq!(read_topic(&kafka, &names.dlq("dedupe")).len(), 6);

    for process in [second, third] {
        let status = process.stop();
        assert!(status.success(), "graceful stop exits 0, got {status}");
    }

    delete_topics(&kafka, &topics).await.expect("cleanup");
}

trait DedupeGroup {
    fn dedupe_group(&self) -> String;
}

impl DedupeGroup for TopicNames {
    fn dedupe_group(&self) -> String {
        format!("{}.dedupe", self.raw.trim_end_matches(".raw"))
    }
}
