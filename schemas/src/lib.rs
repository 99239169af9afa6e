//! Shared vocabulary of every redstream stage: the item types, their Avro schemas and codec,
//! and the normalization of dump lines and API objects into items.
//!
//! Messages on every topic are Avro single-object encoded (`C3 01`, then the 8-byte Rabin
//! fingerprint of the writer schema, then the datum). We chose it over the Confluent wire
//! format because it needs no schema registry: the fingerprint alone tells a reader which of
//! the schemas in `schemas/avro/` wrote a message, and an unknown fingerprint is a clear,
//! dead-letterable error instead of a lookup against a service that may be down.

pub mod codec;
pub mod item;
pub mod normalize;

pub use codec::{Codec, CodecError, Decoded};
pub use item::{
    ContentState, EnrichedComment, EnrichedItem, EnrichedPost, Enrichment, Item, ItemKind,
    RawComment, RawPost,
};
pub use normalize::{normalize_line, normalize_value, NormalizeError, SnapshotOrigin};
