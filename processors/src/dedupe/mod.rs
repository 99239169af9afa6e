//! The dedupe stage: reads `{prefix}.raw`, writes `{prefix}.unique`, dead-letters to
//! `{prefix}.dlq.dedupe`, and keeps its state in the compacted changelog
//! `{prefix}.dedupe-state`.
//!
//! For each item it decides (see [`state::DedupeState::observe`]): an exact repeat of what was
//! last passed on is dropped (`duplicate`), a lower version than the stored one is dropped
//! (`stale`), anything else passes unchanged (same key, same bytes) with the header
//! `redstream.change: new | update`.
//!
//! **When it commits.** Per batch: the passed items are produced to `unique` and all
//! acknowledged; then their state records are produced to the changelog (same partition
//! number as the input) and all acknowledged; undecodable messages are dead-lettered; only then
//! are the input offsets committed. The acknowledgements of one batch are awaited while the
//! next batch is decided (see [`crate::stage`]); decisions themselves stay in input order. The changelog is written *after* the output so that a crash
//! in between makes the item pass again (a harmless repeat) rather than be remembered but never
//! delivered.
//!
//! **What makes it idempotent.** The state survives restarts and rebalances: on assignment,
//! each partition's state is rebuilt from its changelog partition, so input read again after a
//! crash is recognised as duplicate or stale. What slips through (an output written but its
//! changelog record not) is a repeat that the sinks absorb: they write with `version`.

pub mod changelog;
pub mod content;
pub mod state;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use anyhow::Context;
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::FutureRecord;
use redstream_common::metrics::{self, Readiness, Tally};
use redstream_common::{BatchConsumer, DeadLetterSink, RebalanceEvent, Shutdown, TopicNames};
use redstream_schemas::Codec;

use crate::config::{DedupeConfig, StageConfig};
use crate::input::{dead_letter, decode_keyed, Rejection};
use crate::output::Output;
use crate::parallel::{in_order, Runs};
use crate::stage::{self, BatchHandler, Rest, FLUSH_TIMEOUT};
use state::{key_hash, DedupeState, Seen};

pub const STAGE: &str = "dedupe";

/// Header on every output record: `new` or `update`.
pub const CHANGE_HEADER: &str = "redstream.change";

/// Runs the stage until `shutdown` fires (exit cleanly after the batch in hand) or a write
/// fails for good (error, nothing of the failed batch committed).
pub async fn run(
    cfg: DedupeConfig,
    shutdown: Shutdown,
    readiness: Readiness,
) -> anyhow::Result<()> {
    let names = TopicNames::new(&cfg.topics.prefix);
    let dlq_topic = names.dlq(STAGE);

    let partitions = stage::check_topics(
        &cfg.kafka,
        &[
            names.raw.clone(),
            names.unique.clone(),
            names.dedupe_state.clone(),
            dlq_topic.clone(),
        ],
    )
    .await?;
    if partitions[0] != partitions[2] {
        anyhow::bail!(
            "topic {} has {} partitions but the state topic {} has {} on Kafka at {}; the \
             state of input partition N lives in state partition N, so recreate {} with {} \
             partitions (cleanup.policy=compact)",
            names.raw,
            partitions[0],
            names.dedupe_state,
            partitions[2],
            cfg.kafka.brokers,
            names.dedupe_state,
            partitions[0]
        );
    }

    let codec = Codec::new().context("the bundled Avro schemas do not parse")?;
    let output = Output::new(&cfg.kafka, STAGE)?;
    let dlq = DeadLetterSink::new(&cfg.kafka, STAGE, dlq_topic)?;
    let group_id = cfg.group_id();
    let consumer = BatchConsumer::new(&cfg.kafka, STAGE, &group_id, &names.raw, cfg.batch.clone())?;

    let threads = cfg.dedupe.threads;
    let mut dedupe = Dedupe {
        cfg,
        names,
        codec,
        output,
        dlq,
        states: HashMap::new(),
        runs: Runs::new(threads, || Vec::with_capacity(4096)),
    };
    let max_in_flight = dedupe.cfg.batch.max_in_flight;
    let result = stage::consume(&consumer, &mut dedupe, &shutdown, &readiness, max_in_flight).await;
    dedupe.output.flush(FLUSH_TIMEOUT);
    result
}

struct Dedupe {
    cfg: DedupeConfig,
    names: TopicNames,
    codec: Codec,
    output: Output,
    dlq: DeadLetterSink,
    /// State of each owned input partition.
    states: HashMap<i32, DedupeState>,
    /// Threads that decode and hash, each with the buffer its hashes are computed in.
    runs: Runs<Vec<u8>, Result<Hashed, Rejection>>,
}

/// What the state needs to know of one message (worked out in parallel).
#[derive(Clone, Copy)]
struct Hashed {
    key_hash: u64,
    content_hash: u64,
    version: i64,
}

impl Dedupe {
    /// Rebuilds the state of the partitions not yet in memory from the changelog.
    async fn load(&mut self, partitions: &[i32]) -> anyhow::Result<()> {
        let missing: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !self.states.contains_key(p))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let kafka = self.cfg.kafka.clone();
        let topic = self.names.dedupe_state.clone();
        let timeout = Duration::from_secs(self.cfg.dedupe.state_load_timeout_secs);
        let loaded =
            tokio::task::spawn_blocking(move || changelog::load(&kafka, &topic, &missing, timeout))
                .await
                .context("the dedupe state loader panicked")??;
        self.states.extend(loaded);
        self.report_state();
        Ok(())
    }

    fn report_state(&self) {
        let items: usize = self.states.values().map(DedupeState::len).sum();
        let bytes: usize = self.states.values().map(DedupeState::allocated_bytes).sum();
        crate::metrics::DEDUPE_TRACKED_ITEMS.set(items as i64);
        crate::metrics::DEDUPE_STATE_BYTES.set(bytes as i64);
    }
}

impl BatchHandler for Dedupe {
    async fn on_rebalance(&mut self, events: &[RebalanceEvent]) -> anyhow::Result<()> {
        for event in events {
            match event {
                RebalanceEvent::Revoked(partitions) => {
                    // Whoever gets them next rebuilds them from the changelog, which has every
                    // record this process wrote: each batch's records are acknowledged before
                    // its commit.
                    for p in partitions {
                        self.states.remove(p);
                    }
                    self.report_state();
                }
                RebalanceEvent::Assigned(partitions) => self.load(partitions).await?,
            }
        }
        Ok(())
    }

    async fn start(&mut self, messages: Vec<OwnedMessage>) -> anyhow::Result<Rest> {
        // Normally loaded on assignment; this covers a batch that raced its rebalance event.
        let partitions: BTreeSet<i32> = messages.iter().map(Message::partition).collect();
        let partitions: Vec<i32> = partitions.into_iter().collect();
        self.load(&partitions).await?;

        let codec = &self.codec;
        let runs = self.runs.work(
            &messages,
            |_| {},
            |buf, message| {
                let mut item = decode_keyed(codec, message)?;
                let content_hash = content::content_hash(codec, &mut item, buf)
                    .map_err(|e| Rejection::codec(&e))?;
                Ok(Hashed {
                    key_hash: key_hash(item.fullname()),
                    content_hash,
                    version: item.version(),
                })
            },
        );

        let mut outputs = self.output.acks();
        let mut accepted: Vec<(usize, Seen)> = Vec::with_capacity(messages.len());
        let mut rejected: Vec<(usize, Rejection)> = Vec::new();
        let (mut passed, mut dropped) = (Tally::default(), Tally::default());
        for (index, (message, (_, hashed))) in messages.iter().zip(in_order(runs)).enumerate() {
            let Hashed {
                key_hash,
                content_hash,
                version,
            } = match hashed {
                Ok(hashed) => *hashed,
                Err(rejection) => {
                    rejected.push((index, rejection.clone()));
                    continue;
                }
            };

            let state = self.states.entry(message.partition()).or_default();
            let decision = state.observe(key_hash, content_hash, version);
            if !decision.passes() {
                dropped.add(decision.label());
                continue;
            }

            passed.add(decision.label());
            let headers = OwnedHeaders::new().insert(Header {
                key: CHANGE_HEADER,
                value: Some(decision.label()),
            });
            // The key was checked to be the item's fullname when it was decoded.
            let record = FutureRecord::to(&self.names.unique)
                .key(message.key().unwrap_or_default())
                .payload(message.payload().unwrap_or_default())
                .headers(headers);
            self.output.enqueue(record, &mut outputs).await?;
            accepted.push((
                index,
                Seen {
                    content_hash,
                    version,
                },
            ));
        }

        passed.flush(&metrics::ITEMS_OUT, STAGE);
        dropped.flush(&metrics::ITEMS_DROPPED, STAGE);
        for (index, rejection) in rejected {
            dead_letter(&self.dlq, &messages[index], rejection).await?;
        }
        self.report_state();

        let output = self.output.clone();
        let state_topic = self.names.dedupe_state.clone();
        Ok(Box::pin(async move {
            outputs.all().await?;

            // Only now that the outputs exist may the state remember them.
            let mut logged = output.acks();
            for (index, seen) in accepted {
                let message = &messages[index];
                let value = seen.to_bytes();
                let record = FutureRecord::to(&state_topic)
                    .key(message.key().unwrap_or_default())
                    .payload(&value[..])
                    .partition(message.partition());
                output.enqueue(record, &mut logged).await?;
            }
            logged.all().await
        }))
    }
}
