//! Rust mirrors of the Avro records in `schemas/avro/`. Field order and names must match the
//! `.avsc` files: serde_avro_fast maps struct fields to record fields by name.

use serde::{Deserialize, Serialize};

/// Whether an item's text is still there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContentState {
    /// Text as its author wrote it.
    Present,
    /// Deleted by its author: Reddit shows `[deleted]`.
    Deleted,
    /// Removed by a moderator or by Reddit: Reddit shows `[removed]`.
    Removed,
}

/// A post (`t3_…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawPost {
    pub fullname: String,
    pub id: String,
    pub subreddit: String,
    pub subreddit_id: Option<String>,
    pub author: Option<String>,
    pub author_fullname: Option<String>,
    pub title: String,
    pub selftext: String,
    pub url: Option<String>,
    pub domain: Option<String>,
    pub permalink: Option<String>,
    pub is_self: bool,
    pub over_18: bool,
    pub link_flair_text: Option<String>,
    pub num_comments: i64,
    pub upvote_ratio: Option<f64>,
    pub crosspost_parent: Option<String>,
    pub score: i64,
    pub distinguished: Option<String>,
    pub stickied: bool,
    pub created_utc: i64,
    pub edited_utc: Option<i64>,
    pub state: ContentState,
    pub retrieved_utc: i64,
    pub version: i64,
}

/// A comment (`t1_…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawComment {
    pub fullname: String,
    pub id: String,
    pub subreddit: String,
    pub subreddit_id: Option<String>,
    pub author: Option<String>,
    pub author_fullname: Option<String>,
    pub body: String,
    pub link_id: String,
    pub parent_id: String,
    pub is_submitter: Option<bool>,
    pub controversiality: Option<i32>,
    pub score: i64,
    pub distinguished: Option<String>,
    pub stickied: bool,
    pub created_utc: i64,
    pub edited_utc: Option<i64>,
    pub state: ContentState,
    pub retrieved_utc: i64,
    pub version: i64,
}

/// What the enrich stage adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    pub language: Option<String>,
    pub language_confidence: f64,
    pub sentiment: f64,
    pub links: Vec<String>,
    pub domains: Vec<String>,
    pub text: String,
    pub word_count: i64,
    /// Milliseconds since the epoch (Avro `timestamp-millis`).
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedPost {
    pub post: RawPost,
    pub enrichment: Enrichment,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedComment {
    pub comment: RawComment,
    pub enrichment: Enrichment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    Post,
    Comment,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Post => "post",
            ItemKind::Comment => "comment",
        }
    }
}

/// A raw item as the producer publishes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Post(RawPost),
    Comment(RawComment),
}

/// An item after enrichment, as the sinks consume it.
#[derive(Debug, Clone, PartialEq)]
pub enum EnrichedItem {
    Post(EnrichedPost),
    Comment(EnrichedComment),
}

impl Item {
    pub fn kind(&self) -> ItemKind {
        match self {
            Item::Post(_) => ItemKind::Post,
            Item::Comment(_) => ItemKind::Comment,
        }
    }

    pub fn fullname(&self) -> &str {
        match self {
            Item::Post(p) => &p.fullname,
            Item::Comment(c) => &c.fullname,
        }
    }

    pub fn version(&self) -> i64 {
        match self {
            Item::Post(p) => p.version,
            Item::Comment(c) => c.version,
        }
    }

    pub fn state(&self) -> ContentState {
        match self {
            Item::Post(p) => p.state,
            Item::Comment(c) => c.state,
        }
    }

    pub fn created_utc(&self) -> i64 {
        match self {
            Item::Post(p) => p.created_utc,
            Item::Comment(c) => c.created_utc,
        }
    }

    /// Sets the snapshot fields, which say when an item was seen, not what it says.
    pub fn set_snapshot(&mut self, retrieved_utc: i64, version: i64) {
        match self {
            Item::Post(p) => (p.retrieved_utc, p.version) = (retrieved_utc, version),
            Item::Comment(c) => (c.retrieved_utc, c.version) = (retrieved_utc, version),
        }
    }
}

impl EnrichedItem {
    pub fn kind(&self) -> ItemKind {
        match self {
            EnrichedItem::Post(_) => ItemKind::Post,
            EnrichedItem::Comment(_) => ItemKind::Comment,
        }
    }

    pub fn enrichment(&self) -> &Enrichment {
        match self {
            EnrichedItem::Post(p) => &p.enrichment,
            EnrichedItem::Comment(c) => &c.enrichment,
        }
    }

    pub fn fullname(&self) -> &str {
        match self {
            EnrichedItem::Post(p) => &p.post.fullname,
            EnrichedItem::Comment(c) => &c.comment.fullname,
        }
    }

    pub fn version(&self) -> i64 {
        match self {
            EnrichedItem::Post(p) => p.post.version,
            EnrichedItem::Comment(c) => c.comment.version,
        }
    }

    pub fn created_utc(&self) -> i64 {
        match self {
            EnrichedItem::Post(p) => p.post.created_utc,
            EnrichedItem::Comment(c) => c.comment.created_utc,
        }
    }
}
