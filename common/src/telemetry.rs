//! Logging: readable lines on a terminal, JSON lines otherwise (or when asked), filtered by
//! `RUST_LOG` (default `info`). Batch handling runs inside a [`batch_span`], so every line a
//! stage logs while handling a batch names its stage, topic, partitions and offsets, in both
//! formats. Secrets never reach a log line: they are [`crate::Secret`]s, which print as `***`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::io::IsTerminal;

use rdkafka::message::{Message, OwnedMessage};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `REDSTREAM_LOG_FORMAT=json|text` overrides the guess.
pub fn init(stage: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,scylla=warn,elasticsearch=warn"));
    let json = match std::env::var("REDSTREAM_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    if result.is_ok() {
        tracing::debug!(stage, "logging initialised");
    }
}

/// A span for the handling of one batch: `stage`, `topic`, `items`, `offsets` (each partition
/// with its first and last offset, `0:120-171,3:88-90`) and, when the batch comes from one
/// partition, `partition` and `offset` (its first) as fields of their own.
pub fn batch_span(stage: &'static str, topic: &str, messages: &[OwnedMessage]) -> tracing::Span {
    let mut ranges: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    for m in messages {
        let range = ranges
            .entry(m.partition())
            .or_insert((m.offset(), m.offset()));
        range.0 = range.0.min(m.offset());
        range.1 = range.1.max(m.offset());
    }
    let mut offsets = String::new();
    for (partition, (first, last)) in &ranges {
        if !offsets.is_empty() {
            offsets.push(',');
        }
        let _ = write!(offsets, "{partition}:{first}-{last}");
    }
    let span = tracing::info_span!(
        "batch",
        stage,
        topic,
        items = messages.len(),
        offsets = %offsets,
        partition = tracing::field::Empty,
        offset = tracing::field::Empty,
    );
    if let (1, Some((partition, (first, _)))) = (ranges.len(), ranges.iter().next()) {
        span.record("partition", partition);
        span.record("offset", first);
    }
    span
}
