//! The reading side of a replay, on a thread of its own: reads each file's lines, normalizes
//! and Avro-encodes them, and hands batches of ready records to the publishing side. Reading
//! and decompression block, so they stay off the async runtime; the bounded channel makes the
//! reader wait whenever Kafka falls behind.
//!
//! Normalizing is most of a replay's CPU, so lines are read into a chunk of `BATCH` lines per
//! thread and the chunk is normalized one run per thread (`replay.threads`), the records put
//! back in line order: what reaches Kafka is the same, in the same order, as with one thread.

use std::ops::Range;
use std::sync::Arc;

use redstream_common::Shutdown;
use redstream_schemas::{normalize_line, Codec, Item, SnapshotOrigin};
use tokio::sync::mpsc;

use super::input::{Input, Line, LineReader};

/// Lines per thread in a chunk (and so records per thread in a message on the channel):
/// amortizes the hand-over and the threads' start without delaying progress.
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
    threads: usize,
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
        let work = Work {
            input,
            codec: &codec,
            max_line_bytes,
            threads: threads.max(1),
        };
        if !read_file(index, &work, &shutdown, &tx) {
            return;
        }
    }
}

/// What turning one file's lines into records needs.
struct Work<'a> {
    input: &'a Input,
    codec: &'a Codec,
    max_line_bytes: usize,
    threads: usize,
}

/// Lines read but not yet turned into records: their bytes back to back, and where each one
/// lies (line number, bytes, and the full length of a line cut at the limit).
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    lines: Vec<(u64, Range<usize>, Option<u64>)>,
}

impl Chunk {
    fn push(&mut self, line_no: u64, line: Line<'_>) {
        let (data, cut_from) = match line {
            Line::Whole(bytes) => (bytes, None),
            Line::TooLong { head, len } => (head, Some(len)),
        };
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.lines
            .push((line_no, start..self.bytes.len(), cut_from));
    }

    fn len(&self) -> usize {
        self.lines.len()
    }

    /// Normalizes and encodes every line, one run of consecutive lines per thread; the records
    /// come back in line order. Empties the chunk.
    fn records(&mut self, work: &Work<'_>) -> Vec<Record> {
        let bytes = &self.bytes;
        let run = |lines: &[(u64, Range<usize>, Option<u64>)]| -> Vec<Record> {
            let mut encoded = Vec::with_capacity(ENCODE_BUFFER);
            lines
                .iter()
                .map(|(line_no, range, cut_from)| {
                    let data = &bytes[range.clone()];
                    let line = match cut_from {
                        None => Line::Whole(data),
                        Some(len) => Line::TooLong {
                            head: data,
                            len: *len,
                        },
                    };
                    record(
                        *line_no,
                        line,
                        work.input,
                        work.codec,
                        work.max_line_bytes,
                        &mut encoded,
                    )
                })
                .collect()
        };

        let per_run = self.lines.len().div_ceil(work.threads).max(BATCH / 4);
        let records = if self.lines.len() <= per_run {
            run(&self.lines)
        } else {
            std::thread::scope(|scope| {
                let runs: Vec<_> = self
                    .lines
                    .chunks(per_run)
                    .map(|lines| scope.spawn(move || run(lines)))
                    .collect();
                let mut records = Vec::with_capacity(self.lines.len());
                for handle in runs {
                    match handle.join() {
                        Ok(part) => records.extend(part),
                        // A bug, not bad input: fail the reader as one thread would have.
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                records
            })
        };
        self.bytes.clear();
        self.lines.clear();
        records
    }
}

/// Returns false when the publisher is gone and reading should stop.
fn read_file(index: usize, work: &Work<'_>, shutdown: &Shutdown, tx: &mpsc::Sender<Event>) -> bool {
    let input = work.input;
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
    let mut lines = LineReader::new(reader, work.max_line_bytes);
    let mut chunk = Chunk::default();
    let chunk_lines = BATCH * work.threads;
    let mut lines_read = 0;

    loop {
        let next = match lines.next_line() {
            Ok(next) => next,
            Err(e) => {
                let flushed = flush(tx, index, chunk.records(work), lines_read);
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
        chunk.push(line_no, line);

        if chunk.len() >= chunk_lines {
            if !flush(tx, index, chunk.records(work), lines_read) {
                return false;
            }
            if shutdown.requested() {
                tracing::info!(stage = "producer", file = %input.path.display(), line = lines_read, "stopped reading");
                return false;
            }
        }
    }

    flush(tx, index, chunk.records(work), lines_read)
        && tx
            .blocking_send(Event::FileDone {
                file: index,
                lines_read,
            })
            .is_ok()
}

fn flush(tx: &mpsc::Sender<Event>, file: usize, records: Vec<Record>, lines_read: u64) -> bool {
    if records.is_empty() {
        return true;
    }
    tx.blocking_send(Event::Records {
        file,
        records,
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
    fn a_chunk_worked_on_several_threads_keeps_line_order() {
        let codec = Codec::new().expect("schemas parse");
        let input = Input::live("reader-test");
        let path = format!("{DUMPS}/pushshift_RC_2015-01_sample.ndjson");
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut lines: Vec<&[u8]> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        lines.insert(7, br#"{"not":"an item"}"#);
        assert!(lines.len() > 1000, "{path} has {} lines", lines.len());

        let outcome = |threads: usize| -> Vec<(u64, String)> {
            let work = Work {
                input: &input,
                codec: &codec,
                max_line_bytes: 1 << 20,
                threads,
            };
            let mut chunk = Chunk::default();
            for (i, line) in lines.iter().enumerate() {
                chunk.push(i as u64 + 1, Line::Whole(line));
            }
            let records = chunk.records(&work);
            assert_eq!(chunk.len(), 0, "the chunk is emptied");
            records
                .into_iter()
                .map(|r| match r {
                    Record::Item { line, key, .. } => (line, key),
                    Record::Dead { line, kind, .. } => (line, format!("dead: {kind}")),
                })
                .collect()
        };

        let one = outcome(1);
        assert_eq!(one.len(), lines.len());
        assert_eq!(one[7], (8, "dead: not_an_item".to_string()));
        assert!(one.windows(2).all(|w| w[0].0 + 1 == w[1].0), "line order");
        assert_eq!(
            outcome(3),
            one,
            "three threads give the same records in the same order"
        );
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
