//! `redstream-producer replay`: NDJSON dump files into `{prefix}.raw`.
//!
//! Writes `{prefix}.raw` (items keyed by fullname, Avro single-object encoded) and
//! `{prefix}.dlq.producer` (lines that are not items, unchanged, with `redstream.reason`,
//! `redstream.reason.kind`, `redstream.source.file` and `redstream.source.line` headers).
//! Reads no topic and commits nothing: a replay that stops half-way is simply run again, and
//! the repeated records carry the same versions (`retrieved_on` or the file's mtime, plus the
//! line number), so dedupe drops them and the stores ignore them.
//!
//! A reader thread reads, normalizes and encodes lines ([`reader`]); the async side hands them
//! to the idempotent producer without awaiting each one and collects acknowledgements in bulk
//! ([`publish`]).

pub(crate) mod input;
pub(crate) mod publish;
mod reader;
pub(crate) mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rdkafka::producer::FutureProducer;
use redstream_common::kafka::{check_topics, producer_config};
use redstream_common::{DeadLetterSink, Shutdown, TopicNames};
use tokio::sync::mpsc;

use self::input::Input;
use self::publish::{Handed, Publisher};
use self::reader::{Event, Record};
use self::report::Stats;
use crate::config::ProducerConfig;

/// Batches of records waiting between the reader thread and the publisher.
const CHANNEL_BATCHES: usize = 16;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// NDJSON dump files, plain or zstd-compressed (told by their first bytes, whatever their
    /// name). One post or comment per line: Pushshift, Arctic Shift or Reddit API objects.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    /// At the end, print one JSON line on stdout:
    /// {"read":N,"produced":N,"dead_lettered":N,"failed":N,"interrupted":false}.
    #[arg(long)]
    summary_json: bool,
}

/// How a replay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every line was read and every record acknowledged.
    Complete,
    /// A delivery failed or a file could not be read to its end.
    Failed,
    /// Stopped by Ctrl-C or SIGTERM after flushing what was read.
    Interrupted,
}

pub async fn run(config: &ProducerConfig, args: &ReplayArgs) -> anyhow::Result<Outcome> {
    let inputs = args
        .files
        .iter()
        .map(|path| Input::inspect(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let inputs = Arc::new(inputs);

    let names = TopicNames::new(&config.topics.prefix);
    let dlq_topic = names.dlq("producer");
    let kafka = config.kafka.clone();
    let wanted = [names.raw.clone(), dlq_topic.clone()];
    tokio::task::spawn_blocking(move || {
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        check_topics(&kafka, &wanted)
    })
    .await
    .context("topic check did not finish")??;

    let producer: FutureProducer = producer_config(&config.kafka, "redstream-producer")
        .create()
        .with_context(|| {
            format!(
                "cannot create a Kafka producer for {}",
                config.kafka.brokers
            )
        })?;
    let dlq = DeadLetterSink::new(&config.kafka, "producer", dlq_topic.clone())?;
    let shutdown = Shutdown::install().context("cannot install the SIGTERM/Ctrl-C handler")?;

    tracing::info!(
        stage = "producer",
        files = inputs.len(),
        brokers = %config.kafka.brokers,
        topic = %names.raw,
        dlq = %dlq_topic,
        "replay starting"
    );

    let replay = &config.replay;
    let stats = Stats::new(
        Arc::clone(&inputs),
        Duration::from_millis(replay.progress_interval_ms.max(100)),
    );
    let mut publisher = Publisher::new(
        producer,
        names.raw.clone(),
        dlq,
        replay.max_in_flight,
        shutdown.clone(),
        stats,
    );

    let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
    let reader = {
        let inputs = Arc::clone(&inputs);
        let shutdown = shutdown.clone();
        let max_line = replay.max_line_bytes.max(1024);
        let threads = match replay.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        std::thread::Builder::new()
            .name("replay-reader".into())
            .spawn(move || reader::read_all(inputs, max_line, threads, shutdown, tx))
            .context("cannot start the reader thread")?
    };

    publish_all(rx, &mut publisher, &inputs).await;
    let interrupted = shutdown.requested();
    finish(&mut publisher, interrupted, replay.flush_timeout_secs).await;
    if reader.join().is_err() {
        publisher
            .stats
            .file_errors
            .push("the reader thread panicked; the replay is incomplete".into());
    }

    let stats = &publisher.stats;
    stats.summarize(interrupted);
    if args.summary_json {
        println!("{}", serde_json::to_string(&stats.json(interrupted))?);
    }
    Ok(if interrupted {
        Outcome::Interrupted
    } else if stats.has_failures() {
        Outcome::Failed
    } else {
        Outcome::Complete
    })
}

/// Hands every record the reader produces to Kafka, reporting progress as it goes.
async fn publish_all(mut rx: mpsc::Receiver<Event>, publisher: &mut Publisher, inputs: &[Input]) {
    let paths: Vec<Arc<PathBuf>> = inputs.iter().map(|i| Arc::new(i.path.clone())).collect();
    let mut ticker = tokio::time::interval(Duration::from_millis(500));

    loop {
        let event = tokio::select! {
            event = rx.recv() => event,
            _ = ticker.tick() => {
                publisher.collect_ready();
                publisher.stats.maybe_report(publisher.in_flight());
                continue;
            }
        };
        let Some(event) = event else { break };

        match event {
            Event::Records {
                file,
                records,
                lines_read,
            } => {
                publisher.stats.read(file, lines_read);
                for record in records {
                    let (line, handed) = match record {
                        Record::Item { line, key, value } => {
                            (line, publisher.publish(file, &key, &value).await)
                        }
                        Record::Dead {
                            line,
                            payload,
                            kind,
                            reason,
                        } => {
                            let path = Arc::clone(&paths[file]);
                            let handed = publisher
                                .dead_letter(file, path, line, payload, kind, reason)
                                .await;
                            (line, handed)
                        }
                    };
                    if handed == Handed::Interrupted {
                        // Lines from here on were read but never sent: they do not count.
                        publisher.stats.read_only_up_to(file, line - 1);
                        return;
                    }
                }
            }
            Event::FileFailed { file, line, error } => {
                tracing::error!(stage = "producer", file = %paths[file].display(), line, error = %error, "cannot read file");
                publisher.stats.file_errors.push(error);
            }
            Event::FileDone { file, lines_read } => {
                publisher.stats.read(file, lines_read);
                tracing::info!(stage = "producer", file = %paths[file].display(), lines = lines_read, "file read");
            }
        }
        publisher.stats.maybe_report(publisher.in_flight());
    }
}

/// Waits for outstanding deliveries: fully on a normal end (librdkafka gives up on its own
/// after `message.timeout.ms`), at most `flush_timeout_secs` after an interruption, and not at
/// all after a second Ctrl-C.
async fn finish(publisher: &mut Publisher, interrupted: bool, flush_timeout_secs: u64) {
    if !interrupted {
        publisher.drain().await;
        return;
    }
    tracing::info!(
        stage = "producer",
        in_flight = publisher.in_flight(),
        timeout_secs = flush_timeout_secs,
        "interrupted; flushing what was read (Ctrl-C again to stop now)"
    );
    let flushed = tokio::select! {
        _ = publisher.drain() => true,
        _ = tokio::time::sleep(Duration::from_secs(flush_timeout_secs)) => false,
        _ = tokio::signal::ctrl_c() => false,
    };
    if !flushed {
        publisher.abandon();
    }
}
