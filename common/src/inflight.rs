//! Batches on their way. A stage hands a batch's output on (records queued to Kafka, writes
//! sent to a store) and goes on with the next batch while the first one's acknowledgements
//! arrive, instead of idling for a round trip per batch.
//!
//! Order still holds where it matters: each batch's remaining work runs as a task of its own,
//! the batches are finished oldest first, and a batch's offsets are committed only when its
//! task has ended well, so a commit never covers output that is not durable. At most
//! `batch.max_in_flight` batches are on their way, which bounds memory.

use std::collections::VecDeque;
use std::future::Future;

use tokio::task::JoinHandle;
use tracing::{Instrument, Span};

use crate::consumer::BatchOffsets;

/// The batches handed on and not yet finished, oldest first.
pub struct InFlight<T> {
    batches: VecDeque<OnItsWay<T>>,
    limit: usize,
}

struct OnItsWay<T> {
    offsets: BatchOffsets,
    span: Span,
    task: JoinHandle<T>,
}

/// A batch whose task has ended, with what the task returned.
pub struct Finished<T> {
    /// What to commit if `outcome` says the output is durable.
    pub offsets: BatchOffsets,
    /// The batch's span, for the log lines of its commit.
    pub span: Span,
    pub outcome: T,
}

impl<T: Send + 'static> InFlight<T> {
    pub fn new(limit: std::num::NonZeroUsize) -> Self {
        Self {
            batches: VecDeque::with_capacity(limit.get()),
            limit: limit.get(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// True when no other batch may be handed on before the oldest one finishes.
    pub fn is_full(&self) -> bool {
        self.batches.len() >= self.limit
    }

    /// Starts the rest of a batch's work (waiting for acknowledgements, writing) as a task of
    /// its own, inside the batch's span.
    pub fn push<F>(&mut self, offsets: BatchOffsets, span: Span, work: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let task = tokio::spawn(work.instrument(span.clone()));
        self.batches.push_back(OnItsWay {
            offsets,
            span,
            task,
        });
    }

    /// Waits for the oldest batch to finish; `None` when nothing is in flight. A task that
    /// panicked is an error: its batch must not be committed.
    pub async fn oldest(&mut self) -> Option<anyhow::Result<Finished<T>>> {
        let OnItsWay {
            offsets,
            span,
            task,
        } = self.batches.pop_front()?;
        Some(match task.await {
            Ok(outcome) => Ok(Finished {
                offsets,
                span,
                outcome,
            }),
            Err(e) => Err(anyhow::anyhow!(
                "the task finishing a batch failed ({e}); its offsets are not committed"
            )),
        })
    }

    /// The oldest batch if it has already finished, without waiting.
    pub async fn oldest_if_done(&mut self) -> Option<anyhow::Result<Finished<T>>> {
        if self.batches.front()?.task.is_finished() {
            self.oldest().await
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;
    use std::time::Duration;

    use super::*;

    fn offsets(partition: i32, next: i64) -> BatchOffsets {
        BatchOffsets::from_iter([(partition, next)])
    }

    #[tokio::test]
    async fn batches_finish_oldest_first_even_when_a_later_one_ends_sooner() {
        let mut window = InFlight::new(NonZeroUsize::new(2).expect("2 > 0"));
        window.push(offsets(0, 10), Span::none(), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            "first"
        });
        assert!(!window.is_full());
        window.push(offsets(0, 20), Span::none(), async { "second" });
        assert!(window.is_full());

        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            window.oldest_if_done().await.is_none(),
            "the second batch ended first, but the first one is still on its way"
        );

        let first = window.oldest().await.expect("one").expect("no panic");
        assert_eq!((first.outcome, first.offsets), ("first", offsets(0, 10)));
        let second = window.oldest().await.expect("two").expect("no panic");
        assert_eq!((second.outcome, second.offsets), ("second", offsets(0, 20)));
        assert!(window.oldest().await.is_none());
        assert!(window.is_empty());
    }

    #[tokio::test]
    async fn a_panicked_batch_is_an_error_not_a_commit() {
        let mut window: InFlight<()> = InFlight::new(NonZeroUsize::MIN);
        window.push(offsets(3, 7), Span::none(), async { panic!("boom") });
        let finished = window.oldest().await.expect("one batch");
        let err = finished.err().expect("a panic is an error");
        assert!(err.to_string().contains("not committed"), "{err}");
    }
}
