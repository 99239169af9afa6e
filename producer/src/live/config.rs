//! `[live]` settings: where Reddit is, who we are (User-Agent), which subreddits to follow,
//! and the credentials of the pool.
//!
//! The base URLs have no default on purpose: nothing is contacted until the operator names the
//! endpoints (docs/live.md gives Reddit's real ones). Secrets may sit in the file, in an
//! environment variable named by `*_env`, or in a mounted file named by `*_file` (Kubernetes
//! secrets); a file or variable wins over an inline value.

use std::path::PathBuf;

use anyhow::{bail, Context};
use redstream_common::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Token endpoint, e.g. `https://www.reddit.com/api/v1/access_token`.
    pub auth_url: String,
    /// OAuth API base, e.g. `https://oauth.reddit.com`.
    pub api_url: String,
    /// Reddit's required form: `<platform>:<app id>:<version> (by /u/<reddit username>)`.
    pub user_agent: String,
    /// Subreddit names without `r/`.
    pub subreddits: Vec<String>,
    /// Follow posts (`/r/{sub}/new`).
    pub posts: bool,
    /// Follow comments (`/r/{sub}/comments`).
    pub comments: bool,
    /// Items per listing page (Reddit allows at most 100).
    pub page_limit: u32,
    /// Pages fetched back to the cursor in one poll; Reddit's listings end near 1000 items.
    pub max_pages: u32,
    /// Bounds of the adaptive poll interval of one subreddit feed.
    pub poll_min_secs: u64,
    pub poll_max_secs: u64,
    /// New items per poll the interval aims at: busier feeds are polled more often.
    pub poll_target_items: u32,
    pub request_timeout_secs: u64,
    /// Retries of a 5xx or a timeout, with jittered exponential backoff.
    pub max_retries: u32,
    pub backoff_base_ms: u64,
    /// A token is renewed this long before it expires.
    pub token_refresh_margin_secs: u64,
    /// How long a 429 without `retry-after` or `x-ratelimit-reset` backs off.
    pub rate_limited_default_secs: u64,
    /// Re-poll published items through `/api/info` this often (0: never), to pick up score
    /// changes, edits and deletions.
    pub refresh_interval_secs: u64,
    /// Items remembered for re-polling, newest kept.
    pub refresh_max_items: usize,
    /// Split the subreddits with other replicas of the same prefix through the consumer group
    /// `{prefix}.producer-live` (docs/live.md). Off: this process follows every subreddit.
    pub coordinate: bool,
    /// A replica silent this long loses its subreddits to the others.
    pub replica_session_timeout_ms: u64,
    /// Stop once every followed feed was polled this many times (0: run until SIGTERM). For
    /// cron-style runs and tests.
    pub max_rounds: u64,
    pub credentials: Vec<CredentialConfig>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            auth_url: String::new(),
            api_url: String::new(),
            user_agent: format!(
                "server:redstream:v{} (by /u/set_live_user_agent)",
                env!("CARGO_PKG_VERSION")
            ),
            subreddits: Vec::new(),
            posts: true,
            comments: true,
            page_limit: 100,
            max_pages: 10,
            poll_min_secs: 5,
            poll_max_secs: 300,
            poll_target_items: 50,
            request_timeout_secs: 30,
            max_retries: 5,
            backoff_base_ms: 500,
            token_refresh_margin_secs: 300,
            rate_limited_default_secs: 60,
            refresh_interval_secs: 0,
            refresh_max_items: 10_000,
            coordinate: true,
            replica_session_timeout_ms: 10_000,
            max_rounds: 0,
            credentials: Vec::new(),
        }
    }
}

/// Which OAuth flow a credential uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A "script" app acting as its developer: password grant.
    Script,
    /// A confidential app acting as itself: client_credentials grant.
    AppOnly,
    /// An installed app (no secret): installed_client grant with a device id.
    Installed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// Shown in logs and metrics instead of any secret.
    pub name: String,
    pub kind: CredentialKind,
    /// The OAuth client id. Reddit's budget belongs to it.
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Script apps: the Reddit account.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// Installed apps: 20 to 30 characters, unique per device.
    #[serde(default)]
    pub device_id: Option<String>,
}

/// A credential with its secrets read from wherever they live.
#[derive(Debug, Clone)]
pub struct ResolvedCredential {
    pub name: String,
    pub kind: CredentialKind,
    pub client_id: String,
    pub client_secret: Secret,
    pub username: String,
    pub password: Secret,
    pub device_id: String,
}

impl LiveConfig {
    /// Checks the settings that have no usable default and reads every secret.
    pub fn resolve(&self) -> anyhow::Result<Vec<ResolvedCredential>> {
        if self.auth_url.is_empty() || self.api_url.is_empty() {
            bail!(
                "live.auth_url and live.api_url are not set; for Reddit use \
                 auth_url = \"https://www.reddit.com/api/v1/access_token\" and \
                 api_url = \"https://oauth.reddit.com\" (see docs/live.md)"
            );
        }
        if self.subreddits.is_empty() {
            bail!("live.subreddits is empty; list the subreddits to follow, e.g. [\"rust\"]");
        }
        if !(self.posts || self.comments) {
            bail!("live.posts and live.comments are both false; enable at least one");
        }
        if self.credentials.is_empty() {
            bail!("no [[live.credentials]] configured; add at least one (see docs/live.md)");
        }
        if self.user_agent.contains("set_live_user_agent") {
            tracing::warn!(
                user_agent = %self.user_agent,
                "live.user_agent is the placeholder; Reddit expects your app id and username in it"
            );
        }
        self.credentials.iter().map(resolve_one).collect()
    }
}

fn resolve_one(c: &CredentialConfig) -> anyhow::Result<ResolvedCredential> {
    let name = &c.name;
    let client_secret = secret(
        name,
        "client_secret",
        &c.client_secret,
        &c.client_secret_file,
        &c.client_secret_env,
    )?;
    let password = secret(
        name,
        "password",
        &c.password,
        &c.password_file,
        &c.password_env,
    )?;
    let username = c.username.clone().unwrap_or_default();
    let device_id = c.device_id.clone().unwrap_or_default();
    match c.kind {
        CredentialKind::Script if username.is_empty() || password.is_empty() => bail!(
            "credential {name} (script) needs username and password (or password_file / \
             password_env)"
        ),
        CredentialKind::Script | CredentialKind::AppOnly if client_secret.is_empty() => bail!(
            "credential {name} needs client_secret (or client_secret_file / client_secret_env)"
        ),
        CredentialKind::Installed if !(20..=30).contains(&device_id.len()) => {
            bail!("credential {name} (installed) needs a device_id of 20 to 30 characters")
        }
        _ => {}
    }
    if c.client_id.is_empty() {
        bail!("credential {name} has an empty client_id");
    }
    Ok(ResolvedCredential {
        name: name.clone(),
        kind: c.kind,
        client_id: c.client_id.clone(),
        client_secret,
        username,
        password,
        device_id,
    })
}

/// A mounted file, then an environment variable, then the inline value.
fn secret(
    credential: &str,
    field: &str,
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
    env: &Option<String>,
) -> anyhow::Result<Secret> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read {field}_file {} of credential {credential}; mount the secret there \
                 or remove the setting",
                path.display()
            )
        })?;
        return Ok(Secret::new(text.trim()));
    }
    if let Some(var) = env {
        let value = std::env::var(var).with_context(|| {
            format!("{field}_env of credential {credential} names {var}, which is not set")
        })?;
        return Ok(Secret::new(value.trim()));
    }
    Ok(inline.clone().unwrap_or_default())
}
