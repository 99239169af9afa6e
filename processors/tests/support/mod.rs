//! Helpers for the tests against the local Kafka (`scripts/stack up`): topics under a prefix
//! of their own, the stage binaries as real processes, and readers of whole topics.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use redstream_common::kafka::{client_config, producer_config};
use redstream_common::{KafkaConfig, TopicsConfig};

pub fn kafka() -> KafkaConfig {
    let mut kafka = KafkaConfig::default();
    if let Ok(brokers) = std::env::var("REDSTREAM_KAFKA__BROKERS") {
        kafka.brokers = brokers;
    }
    kafka
}

/// False (with a loud notice) when stack tests are skipped on purpose; panics naming the fix
/// when Kafka is simply not there.
pub fn stack_is_up(test: &str, kafka: &KafkaConfig) -> bool {
    if std::env::var("REDSTREAM_SKIP_STACK_TESTS").as_deref() == Ok("1") {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {test}: REDSTREAM_SKIP_STACK_TESTS=1; nothing was checked against \
             Kafka ***\n"
        );
        return false;
    }
    let probe: BaseConsumer = client_config(kafka, "redstream-processors-test")
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

/// A topic prefix no other test or run uses.
pub fn unique_prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "test-proc-{test}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000
    )
}

pub fn topics_config(prefix: &str) -> TopicsConfig {
    TopicsConfig {
        prefix: prefix.to_string(),
        partitions: 3,
        retention_hours: 2,
        dlq_retention_hours: 2,
        ..TopicsConfig::default()
    }
}

/// One record to produce.
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Record {
    pub fn keyed(key: &str, payload: Vec<u8>) -> Self {
        Self {
            key: Some(key.as_bytes().to_vec()),
            payload,
            headers: Vec::new(),
        }
    }
}

/// Produces `records` in order and waits until Kafka has them all.
pub async fn produce(kafka: &KafkaConfig, topic: &str, records: &[Record]) {
    let producer: FutureProducer = producer_config(kafka, "redstream-processors-test")
        .create()
        .expect("producer");
    let mut pending = Vec::new();
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &r.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        let mut record = FutureRecord::to(topic)
            .payload(r.payload.as_slice())
            .headers(headers);
        if let Some(key) = &r.key {
            record = record.key(key.as_slice());
        }
        pending.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("queued"),
        );
    }
    for p in pending {
        p.await.expect("not cancelled").expect("delivered");
    }
}

/// Every message of `topic` up to its current end, in partition then offset order.
pub fn read_topic(kafka: &KafkaConfig, topic: &str) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = client_config(kafka, "redstream-processors-test-reader")
        .set("group.id", "redstream-processors-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();

    let mut ends = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("watermarks");
        if high > low {
            ends.insert(p, high);
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("partition");
        }
    }
    let mut by_partition: BTreeMap<i32, Vec<OwnedMessage>> = BTreeMap::new();
    if ends.is_empty() {
        return Vec::new();
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut done = 0;
    while done < ends.len() {
        assert!(Instant::now() < deadline, "reading {topic} took over 30 s");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let m = m.detach();
                if m.offset() + 1 == ends[&m.partition()] {
                    done += 1;
                }
                by_partition.entry(m.partition()).or_default().push(m);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    by_partition.into_values().flatten().collect()
}

/// Waits until `topic` holds at least `count` messages, then returns them all.
pub fn wait_for_messages(
    kafka: &KafkaConfig,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let deadline = Instant::now() + timeout;
    loop {
        let messages = read_topic(kafka, topic);
        if messages.len() >= count {
            return messages;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} holds {} messages after {timeout:?}, expected {count}",
            messages.len()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Waits until `group` has committed the end of every partition of `topic`: the stage has
/// handled everything that was there.
pub fn wait_until_caught_up(kafka: &KafkaConfig, group: &str, topic: &str, timeout: Duration) {
    let consumer: BaseConsumer = client_config(kafka, "redstream-processors-test-lag")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("lag reader");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let deadline = Instant::now() + timeout;
    loop {
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition(topic, *p);
        }
        let committed = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        let mut behind = Vec::new();
        for p in &partitions {
            let (_, high) = consumer
                .fetch_watermarks(topic, *p, Duration::from_secs(10))
                .expect("watermarks");
            let at = match committed.find_partition(topic, *p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => 0,
            };
            if at < high {
                behind.push((*p, at, high));
            }
        }
        if behind.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group {group} has not caught up on {topic} after {timeout:?}: (partition, \
             committed, end) {behind:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    message.headers().and_then(|h| {
        h.iter()
            .find(|x| x.key == name)
            .and_then(|x| x.value.map(|v| String::from_utf8_lossy(v).into_owned()))
    })
}

pub fn key(message: &OwnedMessage) -> String {
    String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned()
}

/// A stage binary running as a real process, with its log in a file.
pub struct StageProcess {
    child: Option<Child>,
    name: String,
    log: PathBuf,
}

impl StageProcess {
    pub fn start(
        binary: &str,
        name: &str,
        kafka: &KafkaConfig,
        prefix: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{prefix}-{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(binary);
        command
            .args(["--metrics-addr", "127.0.0.1:0"])
            .env_remove("REDSTREAM_CONFIG")
            .env_remove("REDSTREAM_METRICS_ADDR")
            .env("REDSTREAM_KAFKA__BROKERS", &kafka.brokers)
            .env("REDSTREAM_TOPICS__PREFIX", prefix)
            .env("REDSTREAM_BATCH__MAX_WAIT_MS", "50")
            .env("REDSTREAM_LOG_FORMAT", "text")
            .env("RUST_LOG", "info,rdkafka=warn")
            .stdout(Stdio::null())
            .stderr(file);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("the stage binary starts");
        Self {
            child: Some(child),
            name: name.to_string(),
            log,
        }
    }

    /// Asks for a graceful stop (SIGTERM) and returns how the process ended.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "cannot signal {}", self.name);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "{} did not stop within 60 s of SIGTERM; log: {}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fails the test with the log if the process already died.
    pub fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait().expect("wait") {
                panic!(
                    "{} exited early with {status}; log:\n{}",
                    self.name,
                    self.log()
                );
            }
        }
    }

    /// Waits until the log holds `needle` `times` times.
    pub fn wait_for_log(&mut self, needle: &str, times: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.log().matches(needle).count() < times {
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "{} did not log {needle:?} {times} times within {timeout:?}; log:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for StageProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("--- log of {} ---\n{}", self.name, self.log());
        }
    }
}
