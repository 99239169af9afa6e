//! The sink baselines: the same enriched items loaded into the same stores by the plainest
//! client code, with no Kafka in the way. They use the sinks' own row and document encodings
//! (`redstream_sink`), so that the ratio measures what the sink adds (consuming, decoding,
//! batching, retries, dead letters, commits), not a different amount of data.

use std::time::Instant;

use anyhow::{bail, Context};
use elasticsearch::http::Method;
use futures::stream::{self, StreamExt, TryStreamExt};
use redstream_schemas::EnrichedItem;
use redstream_sink::elasticsearch::client::Http;
use redstream_sink::elasticsearch::config::ElasticsearchConfig;
use redstream_sink::elasticsearch::{bulk, templates};
use redstream_sink::scylla::encode::{CommentRow, PostRow};
use redstream_sink::scylla::schema::{ensure_schema, insert_cql, TABLES};

use super::measure::Measured;
use crate::stores::{cql_session, StoreEndpoints};

/// Bulk-loads `items` into `{index_prefix}-posts` / `-comments` (created through the sink's
/// index templates), `actions` documents per `_bulk` request, `in_flight` requests at a time.
pub async fn search_bulk(
    endpoints: &StoreEndpoints,
    index_prefix: &str,
    items: &[EnrichedItem],
    actions: usize,
    in_flight: usize,
) -> anyhow::Result<Measured> {
    let cfg = ElasticsearchConfig {
        urls: endpoints.search.clone(),
        index_prefix: index_prefix.to_string(),
        ..ElasticsearchConfig::default()
    };
    let http = Http::new(&cfg)?;
    templates::ensure_indices(&http, &cfg).await?;
    let (posts, comments) = (cfg.posts_index(), cfg.comments_index());

    let started = Instant::now();
    stream::iter(items.chunks(actions.max(1)))
        .map(|chunk| {
            let http = http.clone();
            let (posts, comments) = (&posts, &comments);
            async move {
                let mut body = Vec::with_capacity(chunk.len() * 1024);
                for item in chunk {
                    let index = match item {
                        EnrichedItem::Post(_) => posts,
                        EnrichedItem::Comment(_) => comments,
                    };
                    bulk::encode(item, index, &mut body)?;
                }
                let reply = http
                    .send(Method::Post, "/_bulk", &[], Some(body))
                    .await
                    .with_context(|| format!("bulk request to {} failed", http.urls()))?;
                if !reply.status.is_success() {
                    bail!(
                        "bulk request answered {}: {}",
                        reply.status,
                        reply.snippet(300)
                    );
                }
                // Conflicts (409) are older versions of an item, as the sink counts them.
                let text = String::from_utf8_lossy(&reply.body);
                if text.contains("\"errors\":true") && !text.contains("\"status\":409") {
                    bail!("bulk request had item errors: {}", reply.snippet(300));
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(in_flight.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(Measured {
        items: items.len() as i64,
        secs: started.elapsed().as_secs_f64(),
        ..Measured::default()
    })
}

/// Writes every item's two rows (by fullname, and in its query table) with prepared inserts
/// into `keyspace` (created with the sink's schema), `in_flight` inserts at a time.
pub async fn cql_prepared(
    endpoints: &StoreEndpoints,
    keyspace: &str,
    items: &[EnrichedItem],
    in_flight: usize,
) -> anyhow::Result<Measured> {
    let session = cql_session(endpoints).await?;
    ensure_schema(&session, keyspace, 1, &endpoints.cql).await?;
    let mut prepared = Vec::new();
    for table in &TABLES {
        let mut statement = session
            .prepare(insert_cql(keyspace, table))
            .await
            .with_context(|| format!("cannot prepare the insert into {keyspace}.{}", table.name))?;
        statement.set_is_idempotent(true);
        prepared.push(statement);
    }
    let [posts, posts_by_subreddit, comments, comments_by_post] = &prepared[..] else {
        bail!("expected four tables in the sink's schema");
    };

    let session = &session;
    let started = Instant::now();
    stream::iter(items.iter().flat_map(|item| [(item, true), (item, false)]))
        .map(|(item, by_fullname)| async move {
            match item {
                EnrichedItem::Post(p) => {
                    let statement = if by_fullname {
                        posts
                    } else {
                        posts_by_subreddit
                    };
                    session.execute_unpaged(statement, PostRow::new(p)).await
                }
                EnrichedItem::Comment(c) => {
                    let statement = if by_fullname {
                        comments
                    } else {
                        comments_by_post
                    };
                    session.execute_unpaged(statement, CommentRow::new(c)).await
                }
            }
            .with_context(|| format!("insert of {} into {keyspace} failed", item.fullname()))
            .map(|_| ())
        })
        .buffer_unordered(in_flight.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(Measured {
        items: items.len() as i64,
        secs: started.elapsed().as_secs_f64(),
        ..Measured::default()
    })
}
