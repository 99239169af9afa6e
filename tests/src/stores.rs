//! Counting and reading what the sinks wrote, straight from the stores (CQL and the search
//! count API), never from the pipeline's own counters.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use elasticsearch::http::headers::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::http::Method;
use elasticsearch::Elasticsearch;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use serde_json::Value;

use crate::drain::TopicMessage;

/// The first entry of a comma-separated setting from the environment, or the default.
fn first(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .and_then(|v| v.split(',').next().map(|s| s.trim().to_string()))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Where the stores are: the same variables the sinks read (`REDSTREAM_SCYLLA__NODES`,
/// `REDSTREAM_ELASTICSEARCH__URLS`), defaulting to `scripts/stack up`.
#[derive(Debug, Clone)]
pub struct StoreEndpoints {
    pub cql: String,
    pub search: String,
}

impl StoreEndpoints {
    pub fn from_env() -> Self {
        Self {
            cql: first("REDSTREAM_SCYLLA__NODES", "127.0.0.1:9042"),
            search: first("REDSTREAM_ELASTICSEARCH__URLS", "http://127.0.0.1:9200"),
        }
    }
}

pub async fn cql_session(endpoints: &StoreEndpoints) -> anyhow::Result<Session> {
    SessionBuilder::new()
        .known_node(&endpoints.cql)
        .connection_timeout(Duration::from_secs(10))
        .build()
        .await
        .with_context(|| {
            format!(
                "cannot connect to CQL at {}; is the stack up (scripts/stack up)?",
                endpoints.cql
            )
        })
}

/// `SELECT COUNT(*)` of one table.
pub async fn cql_count(session: &Session, keyspace: &str, table: &str) -> anyhow::Result<i64> {
    let query = format!("SELECT COUNT(*) FROM {keyspace}.{table}");
    let rows = session
        .query_unpaged(query.as_str(), &[])
        .await
        .with_context(|| format!("cannot count {keyspace}.{table}"))?
        .into_rows_result()
        .with_context(|| format!("count of {keyspace}.{table} returned no rows"))?;
    let (count,): (i64,) = rows
        .single_row()
        .with_context(|| format!("bad count row from {keyspace}.{table}"))?;
    Ok(count)
}

/// A plain-JSON client for the search store (OpenSearch rejects the vendor media type the
/// crate sends by default, so every request sets `application/json` itself).
pub struct Search {
    client: Elasticsearch,
    url: String,
}

impl Search {
    pub fn new(endpoints: &StoreEndpoints) -> anyhow::Result<Self> {
        let url = endpoints
            .search
            .parse()
            .with_context(|| format!("bad search URL {}", endpoints.search))?;
        let transport = TransportBuilder::new(SingleNodeConnectionPool::new(url))
            .disable_proxy()
            .build()
            .context("cannot build the search client")?;
        Ok(Self {
            client: Elasticsearch::new(transport),
            url: endpoints.search.clone(),
        })
    }

    /// Sends one request with plain JSON headers and returns the parsed body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let body = body.map(|b| b.to_string());
        let response = self
            .client
            .transport()
            .send(method, path, headers, None::<&()>, body, None)
            .await
            .with_context(|| format!("cannot reach the search store at {}", self.url))?;
        let status = response.status_code().as_u16();
        let text = response.text().await.unwrap_or_default();
        if status >= 300 {
            bail!("{path} on {} answered {status}: {text}", self.url);
        }
        serde_json::from_str(&text).with_context(|| format!("{path} returned non-JSON: {text}"))
    }

    /// Document count of an index, after a refresh so that every write is visible.
    pub async fn count(&self, index: &str) -> anyhow::Result<i64> {
        self.call(Method::Post, &format!("/{index}/_refresh"), None)
            .await?;
        let body = self
            .call(Method::Get, &format!("/{index}/_count"), None)
            .await?;
        body["count"]
            .as_i64()
            .with_context(|| format!("no count in the answer for {index}: {body}"))
    }

    /// The `_source` of one document, or None when it does not exist.
    pub async fn get(&self, index: &str, id: &str) -> anyhow::Result<Option<Value>> {
        match self
            .call(Method::Get, &format!("/{index}/_doc/{id}"), None)
            .await
        {
            Ok(doc) => Ok(doc.get("_source").cloned()),
            Err(e) if e.to_string().contains(" 404") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// What the stores hold for one run.
#[derive(Debug, Clone, Default)]
pub struct StoreCounts {
    pub scylla_posts: i64,
    pub scylla_comments: i64,
    pub es_posts: i64,
    pub es_comments: i64,
}

impl StoreCounts {
    /// Asserts that both stores hold exactly the distinct posts and comments of `expected`.
    pub fn assert_holds(&self, expected: &crate::expect::Expected) {
        assert_eq!(self.scylla_posts, expected.posts(), "posts in Cassandra");
        assert_eq!(
            self.scylla_comments,
            expected.comments(),
            "comments in Cassandra"
        );
        assert_eq!(self.es_posts, expected.posts(), "posts in the search store");
        assert_eq!(
            self.es_comments,
            expected.comments(),
            "comments in the search store"
        );
    }
}

pub async fn count_stores(
    endpoints: &StoreEndpoints,
    keyspace: &str,
    index_prefix: &str,
) -> anyhow::Result<StoreCounts> {
    let session = cql_session(endpoints).await?;
    let search = Search::new(endpoints)?;
    Ok(StoreCounts {
        scylla_posts: cql_count(&session, keyspace, "posts").await?,
        scylla_comments: cql_count(&session, keyspace, "comments").await?,
        es_posts: search.count(&format!("{index_prefix}-posts")).await?,
        es_comments: search.count(&format!("{index_prefix}-comments")).await?,
    })
}

/// Counts by header value over a topic's messages (e.g. `redstream.change` on the unique topic).
pub fn count_by_header(messages: &[TopicMessage], header: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for value in messages.iter().filter_map(|m| m.header(header)) {
        *counts.entry(value.to_string()).or_insert(0) += 1;
    }
    counts
}
