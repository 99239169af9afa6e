//! The CPU part of an enrich batch (decode, enrich, encode), spread over threads.
//!
//! Enrichment is a pure function of each item, so a batch can be cut into contiguous runs, one
//! per thread, and the runs' outputs read back in input order: the records reach Kafka in the
//! same order as with one thread. Each run writes its encoded records into one reused buffer,
//! so a batch allocates no buffer per item.

use std::ops::Range;

use rdkafka::message::OwnedMessage;
use redstream_schemas::Codec;

use super::enricher::Enricher;
use crate::input::{decode_keyed, Rejection};

/// Runs shorter than this are not worth a thread of their own.
const MIN_RUN: usize = 256;

/// What became of one message.
pub enum Outcome {
    /// Its enriched record lies at `range` of the run's buffer.
    Encoded {
        range: Range<usize>,
        kind: &'static str,
    },
    Rejected(Rejection),
}

/// The output of one run of consecutive messages.
#[derive(Default)]
pub struct Run {
    pub bytes: Vec<u8>,
    pub outcomes: Vec<Outcome>,
}

impl Run {
    fn clear(&mut self) {
        self.bytes.clear();
        self.outcomes.clear();
    }

    fn work(&mut self, enricher: &Enricher, codec: &Codec, messages: &[OwnedMessage]) {
        for message in messages {
            let outcome = match decode_keyed(codec, message) {
                Err(rejection) => Outcome::Rejected(rejection),
                Ok(item) => {
                    let enriched = enricher.enrich(item);
                    let start = self.bytes.len();
                    match codec.encode_enriched(&enriched, &mut self.bytes) {
                        Ok(()) => Outcome::Encoded {
                            range: start..self.bytes.len(),
                            kind: enriched.kind().as_str(),
                        },
                        Err(e) => {
                            self.bytes.truncate(start);
                            Outcome::Rejected(Rejection::codec(&e))
                        }
                    }
                }
            };
            self.outcomes.push(outcome);
        }
    }
}

/// Threads and their buffers, kept from batch to batch.
pub struct Workers {
    runs: Vec<Run>,
}

impl Workers {
    /// `threads` = 0 means one per core.
    pub fn new(threads: usize) -> Self {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        Self {
            runs: (0..threads).map(|_| Run::default()).collect(),
        }
    }

    /// Works the batch; returns its runs in input order (together, one outcome per message).
    pub fn work(
        &mut self,
        enricher: &Enricher,
        codec: &Codec,
        messages: &[OwnedMessage],
    ) -> &[Run] {
        let threads = self.runs.len().min(messages.len().div_ceil(MIN_RUN)).max(1);
        let per_run = messages.len().div_ceil(threads).max(1);
        let runs = &mut self.runs[..threads];
        runs.iter_mut().for_each(Run::clear);

        if threads == 1 {
            runs[0].work(enricher, codec, messages);
        } else {
            // Blocks this runtime worker for the batch's CPU time, as one thread would; the
            // other runs use threads of their own, joined before the scope ends.
            std::thread::scope(|scope| {
                let mut pieces = runs.iter_mut().zip(messages.chunks(per_run));
                let first = pieces.next();
                for (run, chunk) in pieces {
                    scope.spawn(move || run.work(enricher, codec, chunk));
                }
                if let Some((run, chunk)) = first {
                    run.work(enricher, codec, chunk);
                }
            });
        }
        &self.runs[..threads]
    }
}
