//! The credential pool: every API request goes through [`Pool::get`], which picks a working
//! credential whose client id has budget left (the one with the most left, round-robin on
//! ties), keeps its token fresh, and handles what Reddit answers:
//!
//! - 401: renew the token once and retry; a second 401 takes the credential out of the pool;
//! - 429: that client id sends nothing until `retry-after` / `x-ratelimit-reset`;
//! - 5xx and timeouts: jittered exponential backoff, `live.max_retries` times;
//! - 403 / 404: [`FetchError::Unavailable`], for the caller to skip the subreddit.
//!
//! Requests are sent one at a time, so the budget read from the last response is exact; no
//! request ever goes to a client id whose remaining budget is zero before its reset.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redstream_common::Shutdown;
use reqwest::StatusCode;

use super::auth::{request_token, AuthError, Token};
use super::budget::{self, Budget};
use super::config::{LiveConfig, ResolvedCredential};
use super::metrics;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// 403 or 404: private, banned or missing.
    #[error("{path} answered {status}")]
    Unavailable { path: String, status: u16 },
    /// Retries ran out; the caller tries again at its next poll.
    #[error("{0}")]
    Failed(String),
    /// Every credential is broken: nothing more can be fetched.
    #[error("every credential is broken; fix them (see the earlier log lines) and restart")]
    NoCredentials,
    #[error("shutdown requested")]
    Shutdown,
}

struct Member {
    cred: ResolvedCredential,
    token: Option<Token>,
    broken: bool,
    /// A 401 came back and the token was renewed; another 401 breaks the credential.
    renewed_after_401: bool,
}

pub struct Pool {
    http: reqwest::Client,
    auth_url: String,
    api_url: String,
    user_agent: String,
    margin: Duration,
    max_retries: u32,
    backoff_base: Duration,
    rate_limited_default: Duration,
    members: Vec<Member>,
    /// Keyed by client id: every token of one client id shares its budget.
    budgets: HashMap<String, Budget>,
    next: usize,
    shutdown: Shutdown,
}

enum Pick {
    Ready(usize),
    WaitUntil(Instant),
    NoneLeft,
}

impl Pool {
    pub fn new(
        cfg: &LiveConfig,
        creds: Vec<ResolvedCredential>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.request_timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))?;
        let budgets = creds
            .iter()
            .map(|c| (c.client_id.clone(), Budget::default()))
            .collect();
        Ok(Self {
            http,
            auth_url: cfg.auth_url.clone(),
            api_url: cfg.api_url.trim_end_matches('/').to_string(),
            user_agent: cfg.user_agent.clone(),
            margin: Duration::from_secs(cfg.token_refresh_margin_secs),
            max_retries: cfg.max_retries,
            backoff_base: Duration::from_millis(cfg.backoff_base_ms.max(1)),
            rate_limited_default: Duration::from_secs(cfg.rate_limited_default_secs.max(1)),
            members: creds
                .into_iter()
                .map(|cred| Member {
                    cred,
                    token: None,
                    broken: false,
                    renewed_after_401: false,
                })
                .collect(),
            budgets,
            next: 0,
            shutdown,
        })
    }

    /// GETs `path` from the API base and returns the parsed JSON body.
    pub async fn get(
        &mut self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<serde_json::Value, FetchError> {
        let mut failures = 0u32;
        loop {
            if self.shutdown.requested() {
                return Err(FetchError::Shutdown);
            }
            let idx = match self.pick() {
                Pick::Ready(i) => i,
                Pick::NoneLeft => return Err(FetchError::NoCredentials),
                Pick::WaitUntil(t) => {
                    tracing::info!(
                        stage = "producer",
                        wait_ms = t.saturating_duration_since(Instant::now()).as_millis() as u64,
                        "every client id is out of budget; waiting for a reset"
                    );
                    self.sleep_until(t).await?;
                    continue;
                }
            };

            let token = match self.token(idx).await {
                Ok(t) => t,
                Err(AuthError::Refused(msg)) => {
                    self.mark_broken(idx, &msg);
                    continue;
                }
                Err(AuthError::Transient(msg)) => {
                    self.backoff(&mut failures, &msg).await?;
                    continue;
                }
            };

            let client_id = self.members[idx].cred.client_id.clone();
            let name = self.members[idx].cred.name.clone();
            self.budget(&client_id).reserve();
            let url = format!("{}{path}", self.api_url);
            let sent = self
                .http
                .get(&url)
                .query(query)
                .bearer_auth(token.expose())
                .header(reqwest::header::USER_AGENT, &self.user_agent)
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    metrics::REQUESTS.with_label_values(&[&name, "error"]).inc();
                    let msg = format!(
                        "GET {path} with credential {name} failed: {}",
                        e.without_url()
                    );
                    self.backoff(&mut failures, &msg).await?;
                    continue;
                }
            };
            let status = response.status();
            let now = Instant::now();
            let headers = response.headers().clone();
            self.budget(&client_id).update(&headers, now);
            self.publish_budget(&client_id);
            metrics::REQUESTS
                .with_label_values(&[&name, status.as_str()])
                .inc();

            match status {
                s if s.is_success() => {
                    self.members[idx].renewed_after_401 = false;
                    let body = match response.bytes().await {
                        Ok(b) => b,
                        Err(e) => {
                            let msg =
                                format!("reading the body of {path} failed: {}", e.without_url());
                            self.backoff(&mut failures, &msg).await?;
                            continue;
                        }
                    };
                    return serde_json::from_slice(&body).map_err(|e| {
                        FetchError::Failed(format!(
                            "{path} answered {s} with a body that is not JSON: {e}"
                        ))
                    });
                }
                StatusCode::UNAUTHORIZED => {
                    if self.members[idx].renewed_after_401 {
                        self.mark_broken(
                            idx,
                            &format!("{path} answered 401 again right after a token renewal"),
                        );
                    } else {
                        tracing::info!(stage = "producer", credential = %name, client_id = %client_id, "401; renewing the token once");
                        self.members[idx].token = None;
                        self.members[idx].renewed_after_401 = true;
                    }
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    metrics::RATE_LIMITED.with_label_values(&[&name]).inc();
                    let wait = budget::number(&headers, "retry-after")
                        .or_else(|| budget::number(&headers, "x-ratelimit-reset"))
                        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
                        .unwrap_or(self.rate_limited_default);
                    tracing::warn!(stage = "producer", credential = %name, client_id = %client_id, wait_ms = wait.as_millis() as u64, "429 too many requests; backing off this client id");
                    self.budget(&client_id).exhaust_until(now + wait);
                    self.publish_budget(&client_id);
                }
                StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                    return Err(FetchError::Unavailable {
                        path: path.to_string(),
                        status: status.as_u16(),
                    });
                }
                s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                    let msg = format!("{path} answered {s} (credential {name})");
                    self.backoff(&mut failures, &msg).await?;
                }
                s => {
                    return Err(FetchError::Failed(format!(
                        "{path} answered {s} (credential {name}); not retried"
                    )));
                }
            }
        }
    }

    /// Credentials still in the pool.
    pub fn working(&self) -> usize {
        self.members.iter().filter(|m| !m.broken).count()
    }

    fn pick(&mut self) -> Pick {
        let now = Instant::now();
        let n = self.members.len();
        let mut best: Option<(usize, f64)> = None;
        let mut earliest: Option<Instant> = None;
        for step in 0..n {
            let i = (self.next + step) % n;
            let m = &self.members[i];
            if m.broken {
                continue;
            }
            let Some(budget) = self.budgets.get_mut(&m.cred.client_id) else {
                continue;
            };
            if budget.allows(now) {
                let left = budget.remaining();
                if best.is_none_or(|(_, b)| left > b) {
                    best = Some((i, left));
                }
            } else if let Some(t) = budget.ready_at() {
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
        }
        match (best, earliest) {
            (Some((i, _)), _) => {
                self.next = (i + 1) % n;
                Pick::Ready(i)
            }
            (None, Some(t)) => Pick::WaitUntil(t),
            (None, None) if self.working() > 0 => Pick::WaitUntil(now + self.rate_limited_default),
            (None, None) => Pick::NoneLeft,
        }
    }

    async fn token(&mut self, idx: usize) -> Result<redstream_common::Secret, AuthError> {
        let margin = self.margin;
        let member = &mut self.members[idx];
        if let Some(t) = &member.token {
            if t.expires_at > Instant::now() + margin {
                return Ok(t.access.clone());
            }
        }
        let token =
            request_token(&self.http, &self.auth_url, &self.user_agent, &member.cred).await?;
        tracing::info!(
            stage = "producer",
            credential = %member.cred.name,
            client_id = %member.cred.client_id,
            expires_in_secs = token.expires_at.saturating_duration_since(Instant::now()).as_secs(),
            "token obtained"
        );
        let access = token.access.clone();
        member.token = Some(token);
        Ok(access)
    }

    fn mark_broken(&mut self, idx: usize, why: &str) {
        let working = self.working().saturating_sub(1);
        let m = &mut self.members[idx];
        m.broken = true;
        m.token = None;
        metrics::BROKEN.with_label_values(&[&m.cred.name]).inc();
        tracing::error!(
            stage = "producer",
            credential = %m.cred.name,
            client_id = %m.cred.client_id,
            reason = %why,
            working,
            "credential broken; taken out of the pool"
        );
    }

    fn budget(&mut self, client_id: &str) -> &mut Budget {
        self.budgets.entry(client_id.to_string()).or_default()
    }

    fn publish_budget(&self, client_id: &str) {
        let Some(b) = self.budgets.get(client_id) else {
            return;
        };
        for m in self
            .members
            .iter()
            .filter(|m| m.cred.client_id == client_id)
        {
            metrics::BUDGET_REMAINING
                .with_label_values(&[&m.cred.name])
                .set(b.reported());
        }
    }

    /// Waits `base * 2^n`, jittered to 50..150 %, capped at a minute; gives up after
    /// `max_retries` failures in a row.
    async fn backoff(&self, failures: &mut u32, msg: &str) -> Result<(), FetchError> {
        *failures += 1;
        if *failures > self.max_retries {
            return Err(FetchError::Failed(format!(
                "{msg}; gave up after {} retries",
                self.max_retries
            )));
        }
        let exp = self
            .backoff_base
            .saturating_mul(1 << (*failures - 1).min(16));
        let jitter = 0.5 + rand::random::<f64>();
        let wait = exp.mul_f64(jitter).min(Duration::from_secs(60));
        tracing::warn!(stage = "producer", error = %msg, attempt = *failures, wait_ms = wait.as_millis() as u64, "request failed; retrying");
        self.sleep_until(Instant::now() + wait).await
    }

    async fn sleep_until(&self, t: Instant) -> Result<(), FetchError> {
        tokio::select! {
            _ = tokio::time::sleep_until(t.into()) => Ok(()),
            _ = self.shutdown.wait() => Err(FetchError::Shutdown),
        }
    }
}
