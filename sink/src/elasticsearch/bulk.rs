//! Writing items with `_bulk`: one `index` action per item, `_id` = fullname,
//! `version` = the item's version, `version_type = external_gte`.
//!
//! Idempotence: the cluster stores a document only if its version is at least the stored one,
//! so a replay rewrites the same document at the same version, and an older version arriving
//! late fails with `409 version_conflict_engine_exception`, which means "a newer one is
//! already there" and counts as done (`redstream_items_dropped_total{reason="stale"}`).
//!
//! A Kafka batch (bounded in items, bytes and wait by `[batch]`) is split into `_bulk`
//! requests of at most `bulk_max_actions` actions and `bulk_max_bytes` bytes, each bounded in
//! time by `request_timeout_ms`. A `200` answer still says, item by item, what happened:
//! `429` and `503` items are retried (at most `backoff.max_item_retries` times, then
//! dead-lettered as `retries_exhausted`), other failures are dead-lettered with the cluster's
//! reason. A failed request as a whole (`429`, `5xx`, no connection) retries every item in it.

use std::ops::Range;

use elasticsearch::http::Method;
use redstream_schemas::{EnrichedItem, Enrichment};
use serde::Serialize;
use serde_json::Value;

use super::client::Http;
use super::config::ElasticsearchConfig;
use crate::run::{Outcome, Store};

/// The document of an item: its fields and the enrichment side by side.
#[derive(Serialize)]
struct Document<'a, T: Serialize> {
    #[serde(flatten)]
    item: &'a T,
    #[serde(flatten)]
    enrichment: &'a Enrichment,
}

/// The action line of one item: `{"index": {...}}`.
#[derive(Serialize)]
struct Action<'a> {
    index: IndexAction<'a>,
}

#[derive(Serialize)]
struct IndexAction<'a> {
    #[serde(rename = "_index")]
    index: &'a str,
    #[serde(rename = "_id")]
    id: &'a str,
    version: i64,
    version_type: &'static str,
}

/// Appends the action line and the document line of one item to `out`. On error `out` may
/// hold part of the item: the caller truncates it back.
pub fn encode(item: &EnrichedItem, index: &str, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let action = Action {
        index: IndexAction {
            index,
            id: item.fullname(),
            version: item.version(),
            version_type: "external_gte",
        },
    };
    serde_json::to_writer(&mut *out, &action)?;
    out.push(b'\n');
    match item {
        EnrichedItem::Post(p) => serde_json::to_writer(
            &mut *out,
            &Document {
                item: &p.post,
                enrichment: &p.enrichment,
            },
        )?,
        EnrichedItem::Comment(c) => serde_json::to_writer(
            &mut *out,
            &Document {
                item: &c.comment,
                enrichment: &c.enrichment,
            },
        )?,
    }
    out.push(b'\n');
    Ok(())
}

/// Splits encoded items (their sizes, in order) into runs of at most `max_actions` items and
/// `max_bytes` bytes; an item larger than `max_bytes` goes alone.
pub fn chunks(sizes: &[usize], max_actions: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        let count = i - start;
        if count > 0 && (count >= max_actions || bytes + size > max_bytes) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// The outcome of each item of a `_bulk` answer, in order.
pub fn parse_items(body: &[u8], expected: usize) -> Result<Vec<Outcome>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("_bulk answer is not JSON: {e}"))?;
    let items = value["items"]
        .as_array()
        .ok_or_else(|| "_bulk answer has no items array".to_string())?;
    if items.len() != expected {
        return Err(format!(
            "_bulk answer has {} items for {expected} actions",
            items.len()
        ));
    }
    Ok(items.iter().map(item_outcome).collect())
}

fn item_outcome(item: &Value) -> Outcome {
    let result = item
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or_default();
    let status = result["status"].as_u64().unwrap_or(0);
    let error = &result["error"];
    match status {
        200..=299 => Outcome::Written,
        409 if error["type"] == "version_conflict_engine_exception" => Outcome::Stale,
        429 | 503 => Outcome::RetryItem {
            reason: format!(
                "index {} answered {status} for document {}: {}",
                result["_index"].as_str().unwrap_or("?"),
                result["_id"].as_str().unwrap_or("?"),
                describe(error)
            ),
        },
        _ => Outcome::Rejected {
            kind: "rejected",
            reason: format!(
                "index {} refused document {} (HTTP {status}): {}",
                result["_index"].as_str().unwrap_or("?"),
                result["_id"].as_str().unwrap_or("?"),
                describe(error)
            ),
        },
    }
}

/// `type: reason`, followed by the chain of causes, as the cluster said it.
fn describe(error: &Value) -> String {
    let mut parts = Vec::new();
    let mut current = error;
    while current.is_object() && parts.len() < 4 {
        parts.push(format!(
            "{}: {}",
            current["type"].as_str().unwrap_or("error"),
            current["reason"].as_str().unwrap_or("")
        ));
        current = &current["caused_by"];
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join("; caused by ")
    }
}

/// An error and its causes on one line: the transport's top error alone ("error sending
/// request") does not say whether the connection was refused, reset or timed out.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub struct ElasticsearchStore {
    http: Http,
    posts_index: String,
    comments_index: String,
    max_actions: usize,
    max_bytes: usize,
}

impl ElasticsearchStore {
    pub fn new(http: Http, cfg: &ElasticsearchConfig) -> Self {
        Self {
            http,
            posts_index: cfg.posts_index(),
            comments_index: cfg.comments_index(),
            max_actions: cfg.bulk_max_actions,
            max_bytes: cfg.bulk_max_bytes,
        }
    }

    /// One `_bulk` request; outcomes for its items in order.
    async fn send_bulk(&self, body: Vec<u8>, count: usize) -> Vec<Outcome> {
        let retry_all = |reason: String| vec![Outcome::Retry { reason }; count];
        let reply = match self
            .http
            .send(Method::Post, "/_bulk", &[], Some(body))
            .await
        {
            Ok(reply) => reply,
            Err(e) => {
                return retry_all(format!(
                    "_bulk to {} failed: {}",
                    self.http.urls(),
                    error_chain(&e)
                ))
            }
        };
        if !reply.status.is_success() {
            return retry_all(format!(
                "_bulk to {} answered HTTP {}: {}",
                self.http.urls(),
                reply.status,
                reply.snippet(500)
            ));
        }
        parse_items(&reply.body, count).unwrap_or_else(retry_all)
    }
}

impl Store for ElasticsearchStore {
    const STAGE: &'static str = "sink-elasticsearch";
    const TARGET: &'static str = "elasticsearch";

    fn hosts(&self) -> &str {
        self.http.urls()
    }

    async fn write(&self, items: &[&EnrichedItem]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];

        // Every item's two lines into one buffer; `spans` says where each one lies.
        let mut encoded: Vec<u8> = Vec::with_capacity(items.len() * 1024);
        let mut spans: Vec<(usize, Range<usize>)> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let index = match item {
                EnrichedItem::Post(_) => &self.posts_index,
                EnrichedItem::Comment(_) => &self.comments_index,
            };
            let start = encoded.len();
            match encode(item, index, &mut encoded) {
                Ok(()) => spans.push((i, start..encoded.len())),
                Err(e) => {
                    encoded.truncate(start);
                    outcomes[i] = Some(Outcome::Rejected {
                        kind: "encode",
                        reason: format!("cannot write {} as JSON: {e}", item.fullname()),
                    })
                }
            }
        }

        let sizes: Vec<usize> = spans.iter().map(|(_, span)| span.len()).collect();
        for range in chunks(&sizes, self.max_actions, self.max_bytes) {
            let part = &spans[range];
            // Spans of consecutive items are contiguous: one copy of the run is the body.
            let bytes = part[0].1.start..part[part.len() - 1].1.end;
            let results = self.send_bulk(encoded[bytes].to_vec(), part.len()).await;
            for ((i, _), outcome) in part.iter().zip(results) {
                outcomes[*i] = Some(outcome);
            }
        }

        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(Outcome::Retry {
                    reason: "not sent".into(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elasticsearch::templates::{comment_properties, post_properties};
    use redstream_schemas::{ContentState, EnrichedComment, EnrichedPost, RawComment, RawPost};

    fn enrichment() -> Enrichment {
        Enrichment {
            language: Some("eng".into()),
            language_confidence: 0.9,
            sentiment: 0.5,
            links: vec!["https://example.org/a".into()],
            domains: vec!["example.org".into()],
            text: "hello world".into(),
            word_count: 2,
            created_at: 1_420_070_400_000,
        }
    }

    fn post() -> EnrichedItem {
        EnrichedItem::Post(EnrichedPost {
            post: RawPost {
                fullname: "t3_abc".into(),
                id: "abc".into(),
                subreddit: "rust".into(),
                subreddit_id: Some("t5_2s7lj".into()),
                author: Some("ferris".into()),
                author_fullname: None,
                title: "Hello".into(),
                selftext: "world".into(),
                url: None,
                domain: Some("self.rust".into()),
                permalink: None,
                is_self: true,
                over_18: false,
                link_flair_text: None,
                num_comments: 3,
                upvote_ratio: Some(0.97),
                crosspost_parent: None,
                score: 10,
                distinguished: None,
                stickied: false,
                created_utc: 1_420_070_400,
                edited_utc: None,
                state: ContentState::Present,
                retrieved_utc: 1_420_080_000,
                version: 1_420_080_000_000_001,
            },
            enrichment: enrichment(),
        })
    }

    fn comment() -> EnrichedItem {
        EnrichedItem::Comment(EnrichedComment {
            comment: RawComment {
                fullname: "t1_xyz".into(),
                id: "xyz".into(),
                subreddit: "rust".into(),
                subreddit_id: None,
                author: None,
                author_fullname: None,
                body: "[deleted]".into(),
                link_id: "t3_abc".into(),
                parent_id: "t3_abc".into(),
                is_submitter: Some(false),
                controversiality: Some(0),
                score: -1,
                distinguished: None,
                stickied: false,
                created_utc: 1_420_070_500,
                edited_utc: Some(1_420_070_600),
                state: ContentState::Deleted,
                retrieved_utc: 1_420_080_000,
                version: 1_420_080_000_000_002,
            },
            enrichment: enrichment(),
        })
    }

    #[test]
    fn action_carries_id_and_external_version() {
        let mut buf = Vec::new();
        encode(&post(), "rs-posts", &mut buf).expect("encodes");
        let text = String::from_utf8(buf).expect("utf-8");
        let mut lines = text.lines();
        let action: Value = serde_json::from_str(lines.next().expect("action")).expect("json");
        assert_eq!(action["index"]["_id"], "t3_abc");
        assert_eq!(action["index"]["_index"], "rs-posts");
        assert_eq!(action["index"]["version"], 1_420_080_000_000_001i64);
        assert_eq!(action["index"]["version_type"], "external_gte");
        let doc: Value = serde_json::from_str(lines.next().expect("doc")).expect("json");
        assert_eq!(doc["title"], "Hello");
        assert_eq!(doc["state"], "PRESENT");
        assert_eq!(doc["domains"][0], "example.org");
        assert!(text.ends_with('\n'));
    }

    /// Every field of a document has a mapping: `dynamic: false` would otherwise keep it
    /// unsearchable without anyone noticing.
    #[test]
    fn every_document_field_is_mapped() {
        for (item, properties) in [
            (post(), post_properties()),
            (comment(), comment_properties()),
        ] {
            let mut buf = Vec::new();
            encode(&item, "x", &mut buf).expect("encodes");
            let doc_line = String::from_utf8(buf).expect("utf-8");
            let doc: Value =
                serde_json::from_str(doc_line.lines().nth(1).expect("doc")).expect("json");
            let fields = doc.as_object().expect("object");
            for key in fields.keys() {
                assert!(properties.contains_key(key), "field {key} has no mapping");
            }
            for key in properties.keys() {
                assert!(fields.contains_key(key), "mapping {key} matches no field");
            }
        }
    }

    #[test]
    fn chunks_respect_count_and_bytes() {
        assert_eq!(
            chunks(&[10, 10, 10, 10, 10], 2, 1000),
            vec![0..2, 2..4, 4..5]
        );
        assert_eq!(chunks(&[10, 10, 10], 100, 25), vec![0..2, 2..3]);
        assert_eq!(chunks(&[50, 10], 100, 25), vec![0..1, 1..2]);
        assert!(chunks(&[], 10, 10).is_empty());
    }

    #[test]
    fn per_item_results_map_to_outcomes() {
        let body = br#"{"errors":true,"items":[
            {"index":{"_index":"p","_id":"a","status":201}},
            {"index":{"_index":"p","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"current version [5] is higher"}}},
            {"index":{"_index":"p","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"index":{"_index":"p","_id":"d","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [created_utc]","caused_by":{"type":"date_time_exception","reason":"Instant exceeds minimum or maximum instant"}}}}
        ]}"#;
        let outcomes = parse_items(body, 4).expect("parses");
        assert_eq!(outcomes[0], Outcome::Written);
        assert_eq!(outcomes[1], Outcome::Stale);
        assert!(
            matches!(&outcomes[2], Outcome::RetryItem { reason } if reason.contains("queue full"))
        );
        match &outcomes[3] {
            Outcome::Rejected { kind, reason } => {
                assert_eq!(*kind, "rejected");
                assert!(
                    reason.contains("index p refused document d (HTTP 400)"),
                    "{reason}"
                );
                assert!(reason.contains("caused by date_time_exception"), "{reason}");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(parse_items(body, 3).is_err());
    }
}
