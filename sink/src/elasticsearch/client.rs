//! The HTTP client: nodes, authentication, TLS, and plain JSON on every request.
//!
//! Why the explicit headers: Elasticsearch clients of some versions send
//! `application/vnd.elasticsearch+json; compatible-with=N`, which OpenSearch refuses with
//! `406 Content-Type header [...] is not supported`. Every request here carries
//! `Content-Type: application/json` and `Accept: application/json` as per-request headers,
//! which the transport applies after (and over) its own defaults, so both Elasticsearch and
//! OpenSearch accept them whatever the crate's default becomes. The `x-elastic-client-meta`
//! header is turned off: it means nothing to OpenSearch.

use anyhow::Context;
use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::headers::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use elasticsearch::http::transport::{
    MultiNodeConnectionPool, SingleNodeConnectionPool, TransportBuilder,
};
use elasticsearch::http::{Method, StatusCode, Url};
use elasticsearch::Elasticsearch;

use super::config::ElasticsearchConfig;

/// A response read to the end.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text, cut to `max` bytes, for error messages.
    pub fn snippet(&self, max: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut end = text.len().min(max);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_string()
    }
}

/// Sends JSON requests to the cluster.
#[derive(Clone)]
pub struct Http {
    client: Elasticsearch,
    urls: String,
}

pub fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

impl Http {
    pub fn new(cfg: &ElasticsearchConfig) -> anyhow::Result<Self> {
        cfg.validate()?;
        let urls = cfg
            .url_list()
            .iter()
            .map(|u| {
                Url::parse(u).with_context(|| {
                    format!(
                        "elasticsearch.urls entry {u:?} is not a URL; write http(s)://host:port"
                    )
                })
            })
            .collect::<anyhow::Result<Vec<Url>>>()?;

        let mut builder = match urls.as_slice() {
            [single] => TransportBuilder::new(SingleNodeConnectionPool::new(single.clone())),
            _ => TransportBuilder::new(MultiNodeConnectionPool::round_robin(urls, None)),
        };
        builder = builder
            .headers(json_headers())
            .enable_meta_header(false)
            .timeout(cfg.request_timeout());
        if !cfg.use_system_proxy {
            builder = builder.disable_proxy();
        }
        if let (Some(user), Some(password)) = (&cfg.username, &cfg.password) {
            builder = builder.auth(Credentials::Basic(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        if let Some(key) = &cfg.api_key {
            builder = builder.auth(Credentials::EncodedApiKey(key.expose().to_string()));
        }
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca)
                .with_context(|| format!("cannot read elasticsearch.ca_file {}", ca.display()))?;
            let cert = Certificate::from_pem(&pem).with_context(|| {
                format!(
                    "elasticsearch.ca_file {} holds no PEM certificate",
                    ca.display()
                )
            })?;
            builder = builder.cert_validation(CertificateValidation::Full(cert));
        }
        let transport = builder
            .build()
            .with_context(|| format!("cannot build an HTTP client for {}", cfg.urls))?;
        Ok(Self {
            client: Elasticsearch::new(transport),
            urls: cfg.urls.clone(),
        })
    }

    pub fn urls(&self) -> &str {
        &self.urls
    }

    /// One request with a JSON (or NDJSON) body; the error is the transport's (connection
    /// refused, timeout, TLS), an HTTP error status is a normal [`Reply`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, elasticsearch::Error> {
        let query = if query.is_empty() { None } else { Some(query) };
        let response = self
            .client
            .send(method, path, json_headers(), query, body, None)
            .await?;
        let status = response.status_code();
        let body = response.bytes().await?.to_vec();
        Ok(Reply { status, body })
    }

    /// Start-up check: the cluster answers `GET /` with success. Returns its distribution
    /// and version for the log.
    pub async fn check(&self) -> anyhow::Result<String> {
        let reply = self
            .send(Method::Get, "/", &[], None)
            .await
            .with_context(|| {
                format!(
                    "cannot reach Elasticsearch/OpenSearch at {}; is it running? Locally: \
                     scripts/stack up; otherwise check elasticsearch.urls and the TLS settings",
                    self.urls
                )
            })?;
        match reply.status.as_u16() {
            200..=299 => {}
            401 | 403 => anyhow::bail!(
                "{} refused the sink's credentials (HTTP {}); check elasticsearch.username/\
                 password or elasticsearch.api_key: {}",
                self.urls,
                reply.status,
                reply.snippet(300)
            ),
            _ => anyhow::bail!(
                "{} answered GET / with HTTP {}: {}",
                self.urls,
                reply.status,
                reply.snippet(300)
            ),
        }
        let info: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        let version = &info["version"];
        Ok(format!(
            "{} {}",
            version["distribution"].as_str().unwrap_or("elasticsearch"),
            version["number"].as_str().unwrap_or("?")
        ))
    }
}
