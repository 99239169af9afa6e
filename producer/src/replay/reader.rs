//! The reading side of a replay, on a thread of its own: reads each file's lines, normalizes
//! and Avro-encodes them, and hands batches of ready records to the publishing side. Reading
//! and decompression block, so they stay off the async runtime; the bounded channel makes the
//! reader wait whenever Kafka falls behind.

use std::sync::Arc;

use redstream_common::Shutdown;
use redstream_schemas::{normalize_line, Codec, SnapshotOrigin};
use tokio::sync::mpsc;

use super::input::{Input, Line, LineReader};

/// Records per message on the channel: amortizes the hand-over without delaying progress.
const BATCH: usize = 512;

/// One line, ready for its topic.
pub enum Record {
    /// A post or comment for `{prefix}.raw`.
    Item {
        line: u64,
        key: String,
        value: Vec<u8>,
    },
    /// A line that is not an item, for `{prefix}.dlq.producer`.
    Dead {
        line: u64,
        payload: Vec<u8>,
        kind: &'static str,
        reason: String,
    },
}

/// What the reader tells the publisher.
pub enum Event {
    Records {
        file: usize,
        records: Vec<Record>,
        /// Lines of this file read so far.
        lines_read: u64,
    },
    /// A file could not be read to its end (I/O error, corrupt zstd frame).
    FileFailed {
        file: usize,
        line: u64,
        error: String,
    },
    FileDone {
        file: usize,
        lines_read: u64,
    },
}

/// Reads every input in order. Returns when all are read, when shutdown is asked for, or when
/// the publisher is gone.
pub fn read_all(
    inputs: Arc<Vec<Input>>,
    max_line_bytes: usize,
    shutdown: Shutdown,
    tx: mpsc::Sender<Event>,
) {
    let codec = match Codec::new() {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.blocking_send(Event::FileFailed {
                file: 0,
                line: 0,
                error: format!("cannot load the Avro schemas: {e}"),
            });
            return;
        }
    };
    for (index, input) in inputs.iter().enumerate() {
        if shutdown.requested() {
            return;
        }
        if !read_file(index, input, &codec, max_line_bytes, &shutdown, &tx) {
            return;
        }
    }
}

/// Returns false when the publisher is gone and reading should stop.
fn read_file(
    index: usize,
    input: &Input,
    codec: &Codec,
    max_line_bytes: usize,
    shutdown: &Shutdown,
    tx: &mpsc::Sender<Event>,
) -> bool {
    let reader = match input.open() {
        Ok(r) => r,
        Err(e) => {
            return tx
                .blocking_send(Event::FileFailed {
                    file: index,
                    line: 0,
                    error: format!("{e:#}"),
                })
                .is_ok()
        }
    };
    let mut lines = LineReader::new(reader, max_line_bytes);
    let mut records = Vec::with_capacity(BATCH);
    let mut lines_read = 0;

    loop {
        let next = match lines.next_line() {
            Ok(next) => next,
            Err(e) => {
                let flushed = flush(tx, index, &mut records, lines_read);
                return flushed
                    && tx
                        .blocking_send(Event::FileFailed {
                            file: index,
                            line: lines_read + 1,
                            error: format!(
                                "cannot read {} after line {lines_read}: {e}",
                                input.path.display()
                            ),
                        })
                        .is_ok();
            }
        };
        let Some((line_no, line)) = next else { break };
        lines_read = line_no;
        records.push(record(line_no, line, input, codec, max_line_bytes));

        if records.len() >= BATCH {
            if !flush(tx, index, &mut records, lines_read) {
                return false;
            }
            if shutdown.requested() {
                tracing::info!(stage = "producer", file = %input.path.display(), line = lines_read, "stopped reading");
                return false;
            }
        }
    }

    flush(tx, index, &mut records, lines_read)
        && tx
            .blocking_send(Event::FileDone {
                file: index,
                lines_read,
            })
            .is_ok()
}

fn flush(
    tx: &mpsc::Sender<Event>,
    file: usize,
    records: &mut Vec<Record>,
    lines_read: u64,
) -> bool {
    if records.is_empty() {
        return true;
    }
    let batch = std::mem::replace(records, Vec::with_capacity(BATCH));
    tx.blocking_send(Event::Records {
        file,
        records: batch,
        lines_read,
    })
    .is_ok()
}

fn record(line_no: u64, line: Line<'_>, input: &Input, codec: &Codec, max: usize) -> Record {
    let bytes = match line {
        Line::Whole(bytes) => bytes,
        Line::TooLong { head, len } => {
            return Record::Dead {
                line: line_no,
                payload: head.to_vec(),
                kind: "too_large",
                reason: format!(
                    "line is {len} bytes, over the limit of {max} (replay.max_line_bytes); the \
                     payload holds its first {max} bytes"
                ),
            }
        }
    };

    let origin = SnapshotOrigin {
        fallback_retrieved_utc: input.mtime,
        line_no,
    };
    let item = match normalize_line(bytes, &origin) {
        Ok(item) => item,
        Err(e) => {
            return Record::Dead {
                line: line_no,
                payload: bytes.to_vec(),
                kind: e.kind(),
                reason: e.to_string(),
            }
        }
    };

    let mut value = Vec::with_capacity(bytes.len() / 2);
    match codec.encode_item(&item, &mut value) {
        Ok(()) => Record::Item {
            line: line_no,
            key: item.fullname().to_string(),
            value,
        },
        Err(e) => Record::Dead {
            line: line_no,
            payload: bytes.to_vec(),
            kind: "encode",
            reason: format!("normalized {} cannot be Avro-encoded: {e}", item.fullname()),
        },
    }
}
