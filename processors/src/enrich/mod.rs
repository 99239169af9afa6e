//! The enrich stage: reads `{prefix}.unique`, writes `{prefix}.enriched`, dead-letters to
//! `{prefix}.dlq.enrich`.
//!
//! Each raw item becomes an enriched item (same key, single-object Avro) carrying plain text,
//! word count, links and domains, language and sentiment (each enricher can be switched off in
//! `[enrichers]`). The `redstream.change` header of the input is passed on.
//!
//! **When it commits.** Per batch: every output is produced and undecodable messages are
//! dead-lettered; the acknowledgements are awaited while the next batch is enriched (see
//! [`crate::stage`]), and only once they are all in are the batch's input offsets committed.
//!
//! **What makes it idempotent.** Enrichment is a pure function of the item, so a batch read
//! again after a crash yields the same records; the sinks write them with `version`, which
//! makes the repeat a no-op.

pub mod enricher;
pub mod language;
pub mod lexicon;
pub mod links;
#[cfg(test)]
mod real_data;
pub mod sentiment;
pub mod text;

use anyhow::Context;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::FutureRecord;
use redstream_common::metrics::{self, Readiness, Tally};
use redstream_common::{BatchConsumer, DeadLetterSink, RebalanceEvent, Shutdown, TopicNames};
use redstream_schemas::Codec;

use crate::config::{EnrichConfig, StageConfig};
use crate::dedupe::CHANGE_HEADER;
use crate::input::{dead_letter, decode_keyed, Rejection};
use crate::output::Output;
use crate::parallel::{in_order, Runs};
use crate::stage::{self, BatchHandler, Rest, FLUSH_TIMEOUT};
use enricher::Enricher;

pub const STAGE: &str = "enrich";

/// Runs the stage until `shutdown` fires (exit cleanly after the batch in hand) or a write
/// fails for good (error, nothing of the failed batch committed).
pub async fn run(
    cfg: EnrichConfig,
    shutdown: Shutdown,
    readiness: Readiness,
) -> anyhow::Result<()> {
    let names = TopicNames::new(&cfg.topics.prefix);
    let dlq_topic = names.dlq(STAGE);
    stage::check_topics(
        &cfg.kafka,
        &[
            names.unique.clone(),
            names.enriched.clone(),
            dlq_topic.clone(),
        ],
    )
    .await?;

    let codec = Codec::new().context("the bundled Avro schemas do not parse")?;
    let output = Output::new(&cfg.kafka, STAGE)?;
    let dlq = DeadLetterSink::new(&cfg.kafka, STAGE, dlq_topic)?;
    let consumer = BatchConsumer::new(
        &cfg.kafka,
        STAGE,
        &cfg.group_id(),
        &names.unique,
        cfg.batch.clone(),
    )?;
    tracing::info!(stage = STAGE, enrichers = ?cfg.enrichers, "enrichers configured");

    let mut enrich = Enrich {
        enricher: Enricher::new(cfg.enrichers),
        names,
        codec,
        output,
        dlq,
        runs: Runs::new(cfg.enrichers.threads, || Vec::with_capacity(1 << 20)),
    };
    let result = stage::consume(
        &consumer,
        &mut enrich,
        &shutdown,
        &readiness,
        cfg.batch.max_in_flight,
    )
    .await;
    enrich.output.flush(FLUSH_TIMEOUT);
    result
}

struct Enrich {
    enricher: Enricher,
    names: TopicNames,
    codec: Codec,
    output: Output,
    dlq: DeadLetterSink,
    /// Threads of the CPU part, each with the buffer its encoded records go to.
    runs: Runs<Vec<u8>, Result<Encoded, Rejection>>,
}

/// An enriched record, encoded at `range` of its run's buffer.
struct Encoded {
    range: std::ops::Range<usize>,
    kind: &'static str,
}

/// Decodes, enriches and encodes one message into `buf` (the CPU part, run in parallel).
fn enrich_one(
    enricher: &Enricher,
    codec: &Codec,
    buf: &mut Vec<u8>,
    message: &OwnedMessage,
) -> Result<Encoded, Rejection> {
    let enriched = enricher.enrich(decode_keyed(codec, message)?);
    let start = buf.len();
    match codec.encode_enriched(&enriched, buf) {
        Ok(()) => Ok(Encoded {
            range: start..buf.len(),
            kind: enriched.kind().as_str(),
        }),
        Err(e) => {
            buf.truncate(start);
            Err(Rejection::codec(&e))
        }
    }
}

impl BatchHandler for Enrich {
    async fn on_rebalance(&mut self, _events: &[RebalanceEvent]) -> anyhow::Result<()> {
        // Stateless: nothing to load or drop.
        Ok(())
    }

    async fn start(&mut self, messages: Vec<OwnedMessage>) -> anyhow::Result<Rest> {
        let (enricher, codec) = (&self.enricher, &self.codec);
        let runs = self.runs.work(&messages, Vec::clear, |buf, message| {
            enrich_one(enricher, codec, buf, message)
        });

        let mut outputs = self.output.acks();
        let mut rejected: Vec<(usize, Rejection)> = Vec::new();
        let mut kinds = Tally::default();
        for (index, (message, (bytes, result))) in messages.iter().zip(in_order(runs)).enumerate() {
            let Encoded { range, kind } = match result {
                Ok(encoded) => encoded,
                Err(rejection) => {
                    rejected.push((index, rejection.clone()));
                    continue;
                }
            };
            // The key was checked to be the item's fullname when it was decoded.
            let mut record = FutureRecord::to(&self.names.enriched)
                .key(message.key().unwrap_or_default())
                .payload(&bytes[range.clone()]);
            if let Some(change) = change_header(message) {
                record = record.headers(OwnedHeaders::new().insert(Header {
                    key: CHANGE_HEADER,
                    value: Some(change),
                }));
            }
            self.output.enqueue(record, &mut outputs).await?;
            kinds.add(kind);
        }
        kinds.flush(&metrics::ITEMS_OUT, STAGE);

        for (index, rejection) in rejected {
            dead_letter(&self.dlq, &messages[index], rejection).await?;
        }
        Ok(Box::pin(outputs.all()))
    }
}

fn change_header(message: &OwnedMessage) -> Option<&[u8]> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == CHANGE_HEADER)
        .and_then(|h| h.value)
}
