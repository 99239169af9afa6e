//! Replays real dump lines and hand-written bad lines into the local Kafka (`scripts/stack up`)
//! with the real binary, then reads the topics back: every valid line is on `{prefix}.raw`
//! keyed by its fullname and decodes to the item normalization makes of it; every bad line is
//! on `{prefix}.dlq.producer` with its file, line and reason.
//!
//! Set `REDSTREAM_SKIP_STACK_TESTS=1` to skip when no stack is running.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use redstream_common::kafka::client_config;
use redstream_common::KafkaConfig;
use redstream_schemas::{normalize_line, Codec, Item, SnapshotOrigin};

const MULTI_ERA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/reddit/dumps/pushshift_multi_era_comments.ndjson"
);
const BINARY: &str = env!("CARGO_BIN_EXE_redstream-producer");

/// A valid comment, a truncated line and a subreddit object.
const HAND_WRITTEN: &str = concat!(
    r#"{"id":"zz9","name":"t1_zz9","subreddit":"rust","subreddit_id":"t5_2s7lj","author":"ferris","body":"fine &amp; dandy","link_id":"t3_zz1","parent_id":"t3_zz1","score":"3","created_utc":"1700000000","edited":1700000100.0,"retrieved_on":1700000200}"#,
    "\n",
    r#"{"id":"zz8","body":"cut off","subreddit":"rust","created_utc":170"#,
    "\n",
    r#"{"kind":"t5","data":{"display_name":"rust","name":"t5_2s7lj","title":"Rust"}}"#,
    "\n"
);

fn kafka() -> KafkaConfig {
    let mut kafka = KafkaConfig::default();
    if let Ok(brokers) = std::env::var("REDSTREAM_KAFKA__BROKERS") {
        kafka.brokers = brokers;
    }
    kafka
}

/// False (with a loud notice) when the stack tests are skipped on purpose; panics naming the
/// fix when Kafka is simply not there.
fn stack_is_up(kafka: &KafkaConfig) -> bool {
    if std::env::var("REDSTREAM_SKIP_STACK_TESTS").as_deref() == Ok("1") {
        // Straight to stderr: the test harness would swallow eprintln! of a passing test.
        let _ = std::io::stderr().write_all(
            b"\n*** SKIPPED replay_kafka: REDSTREAM_SKIP_STACK_TESTS=1; nothing was checked \
              against Kafka ***\n\n",
        );
        return false;
    }
    let probe: BaseConsumer = client_config(kafka, "redstream-producer-test")
        .create()
        .expect("kafka client");
    if let Err(e) = probe.fetch_metadata(None, Duration::from_secs(10)) {
        panic!(
            "Kafka at {} is not reachable ({e}); start the local stack with `scripts/stack up`, \
             or set REDSTREAM_SKIP_STACK_TESTS=1 to skip this test",
            kafka.brokers
        );
    }
    true
}

fn run(prefix: &str, args: &[&str]) -> Output {
    let output = Command::new(BINARY)
        .args(args)
        .env("REDSTREAM_TOPICS__PREFIX", prefix)
        .env("REDSTREAM_TOPICS__PARTITIONS", "3")
        .env("REDSTREAM_LOG_FORMAT", "text")
        .env_remove("REDSTREAM_CONFIG")
        .output()
        .expect("the producer binary runs");
    eprintln!(
        "$ redstream-producer {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn summary(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().expect("a summary line on stdout");
    serde_json::from_str(last).expect("the summary is JSON")
}

fn mtime(path: &Path) -> i64 {
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime");
    modified
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Reads every message of `topic` from the beginning until `expected` have arrived, then a
/// little longer to catch any extra one.
fn consume(kafka: &KafkaConfig, topic: &str, expected: usize) -> Vec<OwnedMessage> {
    let mut cfg = client_config(kafka, "redstream-producer-test");
    cfg.set("group.id", format!("{topic}.test-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    let consumer: BaseConsumer = cfg.create().expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata.topics()[0].partitions().len();
    assert!(partitions > 0, "topic {topic} has no partitions");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition offset");
    }
    consumer.assign(&tpl).expect("assign");

    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|t| Instant::now() < t) {
        if let Some(result) = consumer.poll(Duration::from_millis(200)) {
            messages.push(result.expect("consume").detach());
        }
        if messages.len() >= expected && settle.is_none() {
            settle = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    messages
}

fn header(message: &OwnedMessage, name: &str) -> String {
    let headers = message.headers().expect("dead letters carry headers");
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| panic!("header {name} missing"))
}

/// What normalization makes of each line of a file, by fullname.
fn expected_items(path: &Path) -> BTreeMap<String, Item> {
    let text = std::fs::read_to_string(path).expect("readable");
    let fallback = mtime(path);
    let mut items = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let origin = SnapshotOrigin {
            fallback_retrieved_utc: fallback,
            line_no: i as u64 + 1,
        };
        if let Ok(item) = normalize_line(line.as_bytes(), &origin) {
            items.insert(item.fullname().to_string(), item);
        }
    }
    items
}

fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(prefix);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn replay_publishes_items_and_dead_letters_bad_lines() {
    let kafka = kafka();
    if !stack_is_up(&kafka) {
        return;
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let prefix = format!("test-producer-{}-{nanos}", std::process::id());
    let dir = temp_dir(&prefix);

    let bad = dir.join("hand_written.ndjson");
    std::fs::File::create(&bad)
        .and_then(|mut f| f.write_all(HAND_WRITTEN.as_bytes()))
        .expect("write hand-written file");
    let multi_era = std::fs::canonicalize(MULTI_ERA).expect("shared data present");

    let created = run(&prefix, &["topics"]);
    assert!(created.status.success(), "topics failed");
    let stdout = String::from_utf8_lossy(&created.stdout);
    assert!(
        stdout.contains(&format!("created {prefix}.raw")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("created {prefix}.dlq.producer")),
        "{stdout}"
    );

    // 27 real comments, then 1 valid and 2 bad hand-written lines.
    let replay = run(
        &prefix,
        &[
            "replay",
            "--summary-json",
            multi_era.to_str().expect("utf-8 path"),
            bad.to_str().expect("utf-8 path"),
        ],
    );
    assert!(
        replay.status.success(),
        "replay failed: {:?}",
        replay.status
    );
    assert_eq!(
        summary(&replay),
        serde_json::json!({"read": 30, "produced": 28, "dead_lettered": 2, "failed": 0, "interrupted": false})
    );

    let mut expected = expected_items(&multi_era);
    expected.extend(expected_items(&bad));
    assert_eq!(expected.len(), 28);

    let codec = Codec::new().expect("schemas");
    let raw = consume(&kafka, &format!("{prefix}.raw"), 28);
    assert_eq!(raw.len(), 28, "messages on {prefix}.raw");
    let mut seen = BTreeMap::new();
    for message in &raw {
        let key = String::from_utf8(message.key().expect("keyed").to_vec()).expect("utf-8 key");
        let item = codec
            .decode_item(message.payload().expect("payload"))
            .expect("decodes as a raw item");
        assert_eq!(item.fullname(), key, "key is the fullname");
        seen.insert(key, item);
    }
    assert_eq!(seen, expected);

    let ferris = match &seen["t1_zz9"] {
        Item::Comment(c) => c,
        other => panic!("t1_zz9 is a comment: {other:?}"),
    };
    assert_eq!(ferris.body, "fine & dandy");
    assert_eq!(ferris.edited_utc, Some(1_700_000_100));
    assert_eq!(ferris.version, 1_700_000_200_000_001);
    let c13 = &seen["t1_c13"];
    assert_eq!(c13.version(), 1_473_738_411_000_016);

    let dead = consume(&kafka, &format!("{prefix}.dlq.producer"), 2);
    assert_eq!(dead.len(), 2, "messages on {prefix}.dlq.producer");
    let by_line: HashMap<String, &OwnedMessage> = dead
        .iter()
        .map(|m| (header(m, "redstream.source.line"), m))
        .collect();
    let lines: Vec<&str> = HAND_WRITTEN.lines().collect();
    for (line, kind, reason) in [
        ("2", "parse", "EOF while parsing"),
        ("3", "not_an_item", "a subreddit (kind `t5`)"),
    ] {
        let message = by_line
            .get(line)
            .unwrap_or_else(|| panic!("a dead letter for line {line}"));
        assert_eq!(header(message, "redstream.stage"), "producer");
        assert_eq!(
            header(message, "redstream.source.file"),
            bad.to_string_lossy()
        );
        assert_eq!(header(message, "redstream.reason.kind"), kind);
        let full = header(message, "redstream.reason");
        assert!(full.contains(reason), "reason of line {line}: {full}");
        let index: usize = line.parse().expect("number");
        assert_eq!(message.payload(), Some(lines[index - 1].as_bytes()));
    }

    // The same lines from a zstd copy with another name: same keys, same bytes (versions come
    // from retrieved_on, so a replay is a repeat, not an update).
    let compressed = dir.join("copy.bin");
    let bytes = std::fs::read(&multi_era).expect("read");
    std::fs::write(&compressed, zstd::encode_all(&bytes[..], 3).expect("zstd")).expect("write");
    let again = run(
        &prefix,
        &[
            "replay",
            "--summary-json",
            compressed.to_str().expect("utf-8"),
        ],
    );
    assert!(again.status.success());
    assert_eq!(summary(&again)["produced"], 27);
    let raw = consume(&kafka, &format!("{prefix}.raw"), 55);
    assert_eq!(raw.len(), 55);
    let mut values: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
    for message in &raw {
        values
            .entry(message.key().expect("key").to_vec())
            .or_default()
            .push(message.payload().expect("payload").to_vec());
    }
    for (key, copies) in &values {
        if key.as_slice() == b"t1_zz9" {
            continue;
        }
        assert_eq!(copies.len(), 2, "{}", String::from_utf8_lossy(key));
        assert_eq!(copies[0], copies[1], "{}", String::from_utf8_lossy(key));
    }

    let deleted = run(&prefix, &["topics", "--delete"]);
    assert!(deleted.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
