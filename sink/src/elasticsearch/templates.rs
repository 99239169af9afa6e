//! Index templates and indices, created at start.
//!
//! The composable templates (`_index_template`) are written on every start, so that a new
//! version of the sink brings its mappings to every index created afterwards; the indices
//! themselves are created only when missing, and then take the template.
//!
//! Mappings: ids, names and link lists are `keyword` (exact filters and aggregations), the
//! prose fields `text`, the Unix times `date` (`epoch_second`, `created_at` in
//! `epoch_millis`). `dynamic: false` keeps a field this version does not know in `_source`
//! without indexing it, instead of refusing the document. Keyword values longer than
//! `ignore_above` stay in `_source` but are not indexed: Lucene refuses terms over 32 KiB,
//! and a long data: URL must not cost us the whole post.

use anyhow::{bail, Context};
use elasticsearch::http::Method;
use serde_json::{json, Map, Value};

use super::client::Http;
use super::config::ElasticsearchConfig;

/// Longest keyword value indexed, in characters (4 bytes each at worst, under 32 KiB).
const IGNORE_ABOVE: u32 = 8191;

fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": IGNORE_ABOVE})
}

/// Fields both kinds have.
fn common_properties() -> Map<String, Value> {
    let mut p = Map::new();
    for name in [
        "fullname",
        "id",
        "subreddit",
        "subreddit_id",
        "author",
        "author_fullname",
        "distinguished",
        "state",
        "language",
        "links",
        "domains",
    ] {
        p.insert(name.into(), keyword());
    }
    p.insert("text".into(), json!({"type": "text"}));
    p.insert("stickied".into(), json!({"type": "boolean"}));
    for name in ["score", "version", "word_count"] {
        p.insert(name.into(), json!({"type": "long"}));
    }
    for name in ["sentiment", "language_confidence"] {
        p.insert(name.into(), json!({"type": "float"}));
    }
    for name in ["created_utc", "edited_utc", "retrieved_utc"] {
        p.insert(
            name.into(),
            json!({"type": "date", "format": "epoch_second"}),
        );
    }
    p.insert(
        "created_at".into(),
        json!({"type": "date", "format": "epoch_millis"}),
    );
    p
}

pub fn post_properties() -> Map<String, Value> {
    let mut p = common_properties();
    for name in ["title", "selftext"] {
        p.insert(name.into(), json!({"type": "text"}));
    }
    for name in [
        "url",
        "domain",
        "permalink",
        "link_flair_text",
        "crosspost_parent",
    ] {
        p.insert(name.into(), keyword());
    }
    for name in ["is_self", "over_18"] {
        p.insert(name.into(), json!({"type": "boolean"}));
    }
    p.insert("num_comments".into(), json!({"type": "long"}));
    p.insert("upvote_ratio".into(), json!({"type": "float"}));
    p
}

pub fn comment_properties() -> Map<String, Value> {
    let mut p = common_properties();
    p.insert("body".into(), json!({"type": "text"}));
    for name in ["link_id", "parent_id"] {
        p.insert(name.into(), keyword());
    }
    p.insert("is_submitter".into(), json!({"type": "boolean"}));
    p.insert("controversiality".into(), json!({"type": "long"}));
    p
}

/// The body of `PUT _index_template/{index}`.
pub fn template(index: &str, cfg: &ElasticsearchConfig, properties: Map<String, Value>) -> Value {
    json!({
        "index_patterns": [index],
        "priority": 200,
        "template": {
            "settings": {
                "index": {
                    "number_of_shards": cfg.number_of_shards,
                    "number_of_replicas": cfg.number_of_replicas,
                }
            },
            "mappings": {
                "dynamic": false,
                "properties": properties,
            }
        },
        "_meta": {"managed_by": "redstream-sink-elasticsearch"}
    })
}

/// Writes both templates and creates both indices when missing.
pub async fn ensure_indices(http: &Http, cfg: &ElasticsearchConfig) -> anyhow::Result<()> {
    for (index, properties) in [
        (cfg.posts_index(), post_properties()),
        (cfg.comments_index(), comment_properties()),
    ] {
        let body = serde_json::to_vec(&template(&index, cfg, properties))?;
        let reply = http
            .send(
                Method::Put,
                &format!("/_index_template/{index}"),
                &[],
                Some(body),
            )
            .await
            .with_context(|| format!("cannot write index template {index} to {}", http.urls()))?;
        if !reply.status.is_success() {
            bail!(
                "{} refused index template {index} (HTTP {}): {}; the sink's user needs the \
                 manage_index_templates privilege",
                http.urls(),
                reply.status,
                reply.snippet(500)
            );
        }

        let reply = http
            .send(Method::Put, &format!("/{index}"), &[], None)
            .await
            .with_context(|| format!("cannot create index {index} on {}", http.urls()))?;
        let exists = reply.status.as_u16() == 400
            && String::from_utf8_lossy(&reply.body).contains("resource_already_exists_exception");
        if !reply.status.is_success() && !exists {
            bail!(
                "{} refused to create index {index} (HTTP {}): {}; the sink's user needs the \
                 create_index privilege on it",
                http.urls(),
                reply.status,
                reply.snippet(500)
            );
        }
        tracing::info!(index = %index, created = !exists, "index ready");
    }
    Ok(())
}
