//! The Kafka baselines, run with kcat (Debian package `kafkacat`): what the machine does with
//! the same bytes when nothing but librdkafka touches them.
//!
//! - producing the dump lines as raw bytes (the limit of `redstream-producer replay`);
//! - consuming a topic and producing every message to another topic (the limit of a
//!   Kafka-to-Kafka stage such as dedupe or enrich).
//!
//! kcat's producer gets the settings the stages' producers use (idempotent, `acks=all`, zstd,
//! `linger.ms=20`), so the ratio compares code, not configuration.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::Context;

/// Separates messages in the pipe between the two kcat processes: Avro values are binary and
/// may hold any single byte, but not this string of ASCII letters and symbols.
const MESSAGE_DELIMITER: &str = "~#rs-msg#~";
const KEY_DELIMITER: &str = "~#rs-key#~";

/// The producer settings of `redstream_common::kafka::producer_config`, as kcat flags.
fn producer_flags() -> Vec<String> {
    [
        "enable.idempotence=true",
        "acks=all",
        "compression.type=zstd",
        "linger.ms=20",
        "queue.buffering.max.kbytes=65536",
    ]
    .iter()
    .flat_map(|s| ["-X".to_string(), s.to_string()])
    .collect()
}

/// Fails with the fix when kcat is not installed.
pub fn check_installed() -> anyhow::Result<()> {
    let ok = Command::new("kcat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    anyhow::ensure!(
        ok,
        "kcat is not installed; install the Debian package kafkacat (scripts/setup does)"
    );
    Ok(())
}

/// Starts kcat producing every line of `file` to `topic`, one message per line.
pub fn produce_lines(brokers: &str, topic: &str, file: &Path, log: &Path) -> anyhow::Result<Child> {
    let input = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let err = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    Command::new("kcat")
        .args(["-P", "-q", "-b", brokers, "-t", topic])
        .args(producer_flags())
        .stdin(input)
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .context("cannot start kcat; install the Debian package kafkacat")
}

/// Starts `kcat -C | kcat -P` copying every message of `from` (key and value) to `to`.
pub fn pass_through(brokers: &str, from: &str, to: &str, log: &Path) -> anyhow::Result<Child> {
    let err = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let script = format!(
        "set -o pipefail; kcat -C -q -e -o beginning -b '{brokers}' -t '{from}' \
         -f '%k{KEY_DELIMITER}%s{MESSAGE_DELIMITER}' \
         | kcat -P -q -b '{brokers}' -t '{to}' -K '{KEY_DELIMITER}' -D '{MESSAGE_DELIMITER}' {}",
        producer_flags().join(" ")
    );
    Command::new("bash")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .context("cannot start bash for the kcat pass-through")
}
