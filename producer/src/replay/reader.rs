//! The reading side of a replay, on a thread of its own: reads each file's lines, normalizes
//! and Avro-encodes them, and hands batches of ready records to the publishing side. Reading
//! and decompression block, so they stay off the async runtime; the bounded channel makes the
//! reader wait whenever Kafka falls behind.

use std::sync::Arc;

use redstream_common::Shutdown;
use redstream_schemas::{normalize_line, Codec, Item, SnapshotOrigin};
use tokio::sync::mpsc;

use super::input::{Input, Line, LineReader};

/// Records per message on the channel: amortizes the hand-over without delaying progress.
const BATCH: usize = 512;

/// Starting size of the reused encode buffer: more than most encoded items, so it rarely grows.
const ENCODE_BUFFER: usize = 16 << 10;

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
    // Every line is encoded here first, then copied out at its exact size: one allocation per
    // record, never a regrow, and no slack carried through the channel.
    let mut encoded = Vec::with_capacity(ENCODE_BUFFER);

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
        records.push(record(
            line_no,
            line,
            input,
            codec,
            max_line_bytes,
            &mut encoded,
        ));

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

fn record(
    line_no: u64,
    line: Line<'_>,
    input: &Input,
    codec: &Codec,
    max: usize,
    encoded: &mut Vec<u8>,
) -> Record {
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

    encoded.clear();
    match codec.encode_item(&item, encoded) {
        Ok(()) => Record::Item {
            line: line_no,
            value: encoded.to_vec(),
            // The item is done with: its fullname becomes the key without a copy.
            key: match item {
                Item::Post(p) => p.fullname,
                Item::Comment(c) => c.fullname,
            },
        },
        Err(e) => Record::Dead {
            line: line_no,
            payload: bytes.to_vec(),
            kind: "encode",
            reason: format!("normalized {} cannot be Avro-encoded: {e}", item.fullname()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMPS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/reddit/dumps"
    );

    #[test]
    fn records_carry_each_line_alone_through_the_reused_buffer() {
        let codec = Codec::new().expect("schemas parse");
        let input = Input::live("reader-test");
        let mut encoded = Vec::new();
        let mut items = 0;
        for file in [
            "pushshift_multi_era_submissions.ndjson",
            "pushshift_multi_era_comments.ndjson",
        ] {
            let path = format!("{DUMPS}/{file}");
            let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            for (i, line) in text.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let n = i as u64 + 1;
                let origin = SnapshotOrigin {
                    fallback_retrieved_utc: input.mtime,
                    line_no: n,
                };
                let expected = normalize_line(line, &origin).expect("real lines normalize");
                match record(n, Line::Whole(line), &input, &codec, 1 << 20, &mut encoded) {
                    Record::Item { line, key, value } => {
                        assert_eq!(line, n);
                        assert_eq!(key, expected.fullname(), "{file}:{n}");
                        assert_eq!(codec.decode_item(&value).expect("decodes"), expected);
                    }
                    Record::Dead { reason, .. } => panic!("{file}:{n}: {reason}"),
                }
                items += 1;
            }
        }
        assert_eq!(items, 58);
    }

    #[test]
    fn bad_and_overlong_lines_become_dead_letters() {
        let codec = Codec::new().expect("schemas parse");
        let input = Input::live("reader-test");
        let mut encoded = Vec::new();

        let bad = br#"{"id":"abc","body":"#;
        match record(4, Line::Whole(bad), &input, &codec, 100, &mut encoded) {
            Record::Dead {
                line,
                payload,
                kind,
                reason,
            } => {
                assert_eq!((line, kind), (4, "parse"));
                assert_eq!(payload, bad);
                assert!(reason.contains("EOF"), "{reason}");
            }
            Record::Item { key, .. } => panic!("{key} from a truncated line"),
        }

        let head = b"{\"id\":\"abc\"";
        let long = Line::TooLong {
            head: &head[..],
            len: 5000,
        };
        match record(5, long, &input, &codec, 11, &mut encoded) {
            Record::Dead { kind, payload, .. } => {
                assert_eq!(kind, "too_large");
                assert_eq!(payload, head);
            }
            Record::Item { key, .. } => panic!("{key} from an overlong line"),
        }
    }
}
