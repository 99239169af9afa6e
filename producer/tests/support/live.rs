//! Running `redstream-producer live` against the replay server and reading Kafka back.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use redstream_common::kafka::client_config;
use redstream_common::KafkaConfig;

pub const BINARY: &str = env!("CARGO_BIN_EXE_redstream-producer");

pub fn kafka() -> KafkaConfig {
    let mut kafka = KafkaConfig::default();
    if let Ok(brokers) = std::env::var("REDSTREAM_KAFKA__BROKERS") {
        kafka.brokers = brokers;
    }
    kafka
}

/// False (with a loud notice) when stack tests are skipped on purpose; panics naming the fix
/// when Kafka is simply not there.
pub fn stack_is_up(kafka: &KafkaConfig, test: &str) -> bool {
    if std::env::var("REDSTREAM_SKIP_STACK_TESTS").as_deref() == Ok("1") {
        let _ = std::io::stderr().write_all(
            format!(
                "\n*** SKIPPED {test}: REDSTREAM_SKIP_STACK_TESTS=1; nothing was checked ***\n\n"
            )
            .as_bytes(),
        );
        return false;
    }
    let probe: BaseConsumer = client_config(kafka, "redstream-live-test")
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

/// A fresh topic prefix and a scratch folder for its config and logs.
pub struct Run {
    pub prefix: String,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Run {
    pub fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let prefix = format!("test-live-{tag}-{}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let run = Self {
            prefix,
            dir,
            env: Vec::new(),
        };
        let out = run.producer(&["topics"], "");
        assert!(out.status.success(), "topics failed");
        run
    }

    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write scratch file");
        path
    }

    /// Runs the producer with `config` as its TOML file; returns its output (stderr = logs).
    pub fn producer(&self, args: &[&str], config: &str) -> Output {
        let config = self.file("config.toml", config);
        let mut cmd = Command::new(BINARY);
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .env("REDSTREAM_TOPICS__PREFIX", &self.prefix)
            .env("REDSTREAM_TOPICS__PARTITIONS", "3")
            .env("REDSTREAM_LOG_FORMAT", "json")
            .env("REDSTREAM_METRICS_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info,rdkafka=warn")
            .env_remove("REDSTREAM_CONFIG");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let output = cmd.output().expect("the producer binary runs");
        eprintln!(
            "$ redstream-producer {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `live` in a blocking task, so that the replay server keeps serving meanwhile.
    pub async fn live(&self, config: &str) -> Output {
        let config = config.to_string();
        let me = Self {
            prefix: self.prefix.clone(),
            dir: self.dir.clone(),
            env: self.env.clone(),
        };
        tokio::task::spawn_blocking(move || me.producer(&["live"], &config))
            .await
            .expect("producer task")
    }

    pub fn topic(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    pub fn cleanup(&self) {
        let out = self.producer(&["topics", "--delete"], "");
        assert!(out.status.success());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads `topic` from the beginning until `expected` messages arrived, then 2 s more to catch
/// extra ones.
pub fn consume(kafka: &KafkaConfig, topic: &str, expected: usize) -> Vec<OwnedMessage> {
    let mut cfg = client_config(kafka, "redstream-live-test");
    cfg.set("group.id", format!("{topic}.test-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    let consumer: BaseConsumer = cfg.create().expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata.topics()[0].partitions().len();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("offset");
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

/// How many times each key appears.
pub fn key_counts(messages: &[OwnedMessage]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for m in messages {
        let key = String::from_utf8_lossy(m.key().expect("keyed")).to_string();
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// Log lines (JSON) whose message contains `needle`.
pub fn log_lines(output: &Output, needle: &str) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v.pointer("/fields/message")
                .and_then(|m| m.as_str())
                .is_some_and(|m| m.contains(needle))
        })
        .collect()
}

/// The fullnames in recorded or written listing children.
pub fn names(children: &[serde_json::Value]) -> Vec<String> {
    children
        .iter()
        .filter_map(|c| {
            c.pointer("/data/name")
                .and_then(|n| n.as_str())
                .map(str::to_string)
        })
        .collect()
}
