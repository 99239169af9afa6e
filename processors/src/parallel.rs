//! The per-item CPU work of a batch (decoding, hashing, enriching, encoding), spread over
//! threads.
//!
//! That work is a pure function of each message, so a batch can be cut into contiguous runs,
//! one per thread, and the results read back run after run: in input order, as with one
//! thread. Whatever must follow input order (dedupe's decisions, queueing records to Kafka)
//! stays with the caller. Each run keeps a scratch value (a reusable buffer) from batch to
//! batch, so the work allocates no buffer per item.

use rdkafka::message::OwnedMessage;

/// Runs shorter than this are not worth a thread of their own.
const MIN_RUN: usize = 256;

/// The output of one run of consecutive messages: one result per message, and the run's
/// scratch (which results may point into, such as byte ranges of an output buffer).
pub struct Run<S, T> {
    pub scratch: S,
    pub results: Vec<T>,
}

/// One run per thread, kept from batch to batch.
pub struct Runs<S, T> {
    runs: Vec<Run<S, T>>,
}

impl<S: Send, T: Send> Runs<S, T> {
    /// `threads` = 0 means one per core.
    pub fn new(threads: usize, scratch: impl Fn() -> S) -> Self {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        Self {
            runs: (0..threads)
                .map(|_| Run {
                    scratch: scratch(),
                    results: Vec::new(),
                })
                .collect(),
        }
    }

    /// Applies `work` to every message; returns the runs in input order (together, one result
    /// per message). `reset` prepares a run's scratch for a new batch.
    pub fn work<F>(
        &mut self,
        messages: &[OwnedMessage],
        reset: impl Fn(&mut S),
        work: F,
    ) -> &[Run<S, T>]
    where
        F: Fn(&mut S, &OwnedMessage) -> T + Sync,
    {
        let threads = self.runs.len().min(messages.len().div_ceil(MIN_RUN)).max(1);
        let per_run = messages.len().div_ceil(threads).max(1);
        let runs = &mut self.runs[..threads];
        for run in runs.iter_mut() {
            reset(&mut run.scratch);
            run.results.clear();
        }

        let work = &work;
        let one = move |run: &mut Run<S, T>, chunk: &[OwnedMessage]| {
            for message in chunk {
                let result = work(&mut run.scratch, message);
                run.results.push(result);
            }
        };
        if threads == 1 {
            one(&mut runs[0], messages);
        } else {
            // Blocks this runtime worker for the batch's CPU time, as one thread would; the
            // other runs use threads of their own, joined before the scope ends.
            std::thread::scope(|scope| {
                let mut pieces = runs.iter_mut().zip(messages.chunks(per_run));
                let first = pieces.next();
                for (run, chunk) in pieces {
                    scope.spawn(move || one(run, chunk));
                }
                if let Some((run, chunk)) = first {
                    one(run, chunk);
                }
            });
        }
        &self.runs[..threads]
    }
}

/// Every result of `runs` in input order, with the scratch of its run.
pub fn in_order<S, T>(runs: &[Run<S, T>]) -> impl Iterator<Item = (&S, &T)> {
    runs.iter()
        .flat_map(|run| run.results.iter().map(move |r| (&run.scratch, r)))
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{OwnedMessage, Timestamp};

    use super::*;

    fn message(offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            Some(offset.to_string().into_bytes()),
            None,
            "t".into(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        )
    }

    #[test]
    fn results_come_back_in_input_order_over_several_threads() {
        let messages: Vec<OwnedMessage> = (0..1000).map(message).collect();
        let mut runs: Runs<Vec<u8>, std::ops::Range<usize>> = Runs::new(3, Vec::new);

        for _ in 0..2 {
            // Each result is a range of its run's buffer holding the payload, as enrich does.
            let done = runs.work(&messages, Vec::clear, |buf, m| {
                let start = buf.len();
                buf.extend_from_slice(rdkafka::Message::payload(m).unwrap_or_default());
                start..buf.len()
            });
            assert_eq!(done.len(), 3, "1000 messages are worth three runs");
            let seen: Vec<String> = in_order(done)
                .map(|(buf, range)| String::from_utf8_lossy(&buf[range.clone()]).into_owned())
                .collect();
            let expected: Vec<String> = (0..1000).map(|i: i64| i.to_string()).collect();
            assert_eq!(seen, expected);
        }
    }

    #[test]
    fn a_small_batch_stays_on_one_thread() {
        let messages: Vec<OwnedMessage> = (0..10).map(message).collect();
        let mut runs: Runs<(), i64> = Runs::new(4, || ());
        let done = runs.work(&messages, |_| {}, |_, m| rdkafka::Message::offset(m));
        assert_eq!(done.len(), 1);
        assert_eq!(
            in_order(done).map(|(_, o)| *o).collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
    }
}
