//! The Kafka-to-Kafka stages of redstream.
//!
//! - [`dedupe`]: `{prefix}.raw` → `{prefix}.unique`, dropping exact repeats and stale
//!   versions, with its state in the compacted changelog `{prefix}.dedupe-state`.
//! - [`enrich`]: `{prefix}.unique` → `{prefix}.enriched`, adding plain text, links, language
//!   and sentiment.
//!
//! Both follow the delivery contract of docs/design.md through [`stage::consume`]: outputs
//! produced and acknowledged, failures dead-lettered, then the input committed.

pub mod cli;
pub mod config;
pub mod dedupe;
pub mod enrich;
pub mod input;
pub mod metrics;
pub mod output;
pub mod parallel;
pub mod stage;

#[cfg(test)]
mod test_items;
