//! Writing items: every item is two single-partition inserts (its row in the query table, then
//! its row by fullname), prepared once; items are written concurrently, up to
//! `scylla.max_concurrency` inserts in flight.
//!
//! Why not batches: an unlogged batch whose statements hit different partitions makes one
//! coordinator fan the writes out to every replica involved and hold them all in memory, which
//! is slower than letting the token-aware driver send each insert straight to a replica, and
//! fails as a whole. A logged batch adds a batchlog write on top. Items of one Kafka batch
//! almost never share a partition, so concurrent prepared inserts are the right tool here.
//!
//! Idempotence: each insert carries `USING TIMESTAMP <version>`, so the cell with the higher
//! version wins whatever the order of arrival, and a replay writes identical cells. Inserts
//! are marked idempotent, so the driver may retry them on its own.

use std::sync::Arc;

use anyhow::Context;
use futures::stream::{self, StreamExt};
use redstream_schemas::EnrichedItem;
use scylla::client::session::Session;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;

use super::config::ScyllaConfig;
use super::encode::{approx_bytes, CommentRow, PostRow};
use super::schema::{insert_cql, TABLES};
use crate::run::{Outcome, Store};

pub struct ScyllaStore {
    session: Arc<Session>,
    nodes: String,
    keyspace: String,
    posts: PreparedStatement,
    posts_by_subreddit: PreparedStatement,
    comments: PreparedStatement,
    comments_by_post: PreparedStatement,
    max_concurrency: usize,
    max_item_bytes: usize,
}

impl ScyllaStore {
    /// Prepares the four inserts; the tables must exist (see [`super::schema::ensure_schema`]).
    pub async fn new(session: Arc<Session>, cfg: &ScyllaConfig) -> anyhow::Result<Self> {
        let mut prepared = Vec::with_capacity(TABLES.len());
        for table in &TABLES {
            let mut statement = session
                .prepare(insert_cql(&cfg.keyspace, table))
                .await
                .with_context(|| {
                    format!(
                        "cannot prepare the insert into {}.{} on {}; does the table have the \
                         columns this version writes? Drop it or use a fresh scylla.keyspace",
                        cfg.keyspace, table.name, cfg.nodes
                    )
                })?;
            statement.set_is_idempotent(true);
            prepared.push(statement);
        }
        let [posts, posts_by_subreddit, comments, comments_by_post]: [PreparedStatement; 4] =
            prepared
                .try_into()
                .map_err(|_| anyhow::anyhow!("expected four prepared inserts"))?;
        Ok(Self {
            session,
            nodes: cfg.nodes.clone(),
            keyspace: cfg.keyspace.clone(),
            posts,
            posts_by_subreddit,
            comments,
            comments_by_post,
            max_concurrency: cfg.max_concurrency,
            max_item_bytes: cfg.max_item_bytes,
        })
    }

    async fn write_one(&self, item: &EnrichedItem) -> Outcome {
        let size = match item {
            EnrichedItem::Post(p) => approx_bytes(
                &[&p.post.title, &p.post.selftext, &p.enrichment.text],
                &[&p.enrichment.links, &p.enrichment.domains],
            ),
            EnrichedItem::Comment(c) => approx_bytes(
                &[&c.comment.body, &c.enrichment.text],
                &[&c.enrichment.links, &c.enrichment.domains],
            ),
        };
        if size > self.max_item_bytes {
            return Outcome::Rejected {
                kind: "too_large",
                reason: format!(
                    "item {} would be a mutation of about {size} bytes, over scylla.max_item_bytes \
                     ({}); no node would accept it",
                    item.fullname(),
                    self.max_item_bytes
                ),
            };
        }

        match item {
            EnrichedItem::Post(p) => {
                let row = PostRow::new(p);
                self.insert_twice(
                    ("posts_by_subreddit", &self.posts_by_subreddit),
                    ("posts", &self.posts),
                    &row,
                )
                .await
            }
            EnrichedItem::Comment(c) => {
                let row = CommentRow::new(c);
                self.insert_twice(
                    ("comments_by_post", &self.comments_by_post),
                    ("comments", &self.comments),
                    &row,
                )
                .await
            }
        }
    }

    /// Writes the query-table row first and the row by fullname only once that worked, so
    /// that an item the cluster refuses (say, an empty partition key) is either in both tables
    /// or in neither of the tables that say "this item exists". A retry rewrites both.
    async fn insert_twice<R: SerializeRow>(
        &self,
        (first_table, first): (&str, &PreparedStatement),
        (second_table, second): (&str, &PreparedStatement),
        row: &R,
    ) -> Outcome {
        if let Err(e) = self.session.execute_unpaged(first, row).await {
            return classify(&self.keyspace, first_table, &e);
        }
        match self.session.execute_unpaged(second, row).await {
            Ok(_) => Outcome::Written,
            Err(e) => classify(&self.keyspace, second_table, &e),
        }
    }
}

/// Sorts a failed insert into "the item is the problem" (dead-letter it) and "the cluster is
/// the problem" (retry). Refusals of the cluster's own making (no permission, bad schema)
/// count as the cluster's problem: dead-lettering every item until an operator fixes a grant
/// would empty the topic into the DLQ.
pub fn classify(keyspace: &str, table: &str, error: &ExecutionError) -> Outcome {
    let reason = format!("insert into {keyspace}.{table} failed: {error}");
    let permanent = match error {
        ExecutionError::BadQuery(_) => true,
        ExecutionError::LastAttemptError(RequestAttemptError::SerializationError(_)) => true,
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => {
            matches!(db, DbError::Invalid | DbError::FunctionFailure { .. })
        }
        _ => false,
    };
    if permanent {
        Outcome::Rejected {
            kind: "rejected",
            reason,
        }
    } else {
        Outcome::Retry { reason }
    }
}

impl Store for ScyllaStore {
    const STAGE: &'static str = "sink-scylla";
    const TARGET: &'static str = "scylla";

    fn hosts(&self) -> &str {
        &self.nodes
    }

    async fn write(&self, items: &[&EnrichedItem]) -> Vec<Outcome> {
        // The futures are made up front (they do nothing until polled): a `map` closure over
        // borrowed items would defeat the compiler's proof that the write is `Send`.
        let writes: Vec<_> = items.iter().map(|item| self.write_one(item)).collect();
        stream::iter(writes)
            .buffered(self.max_concurrency)
            .collect()
            .await
    }
}
