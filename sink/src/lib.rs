//! The two sinks of redstream. Both read `{prefix}.enriched` and write every item into a store,
//! idempotently, with the same loop ([`run`]):
//!
//! - [`scylla`]: `redstream-sink-scylla`, into ScyllaDB/Cassandra tables, each insert
//!   `USING TIMESTAMP <version>`;
//! - [`elasticsearch`]: `redstream-sink-elasticsearch`, into Elasticsearch/OpenSearch
//!   indices, each document indexed with `version_type=external_gte`.
//!
//! Deleted and removed items are made final deletion events first ([`deletion`]).
//!
//! Offsets are committed only once the batch is in the store and its dead letters in
//! `{prefix}.dlq.sink-…`; a store that is down is retried, never skipped.

pub mod deletion;
pub mod elasticsearch;
pub mod retry;
pub mod run;
pub mod scylla;
