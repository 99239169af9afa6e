//! OAuth2 tokens from Reddit's token endpoint for the three kinds of app: script (password
//! grant), app-only (client_credentials) and installed app (installed_client with a device id).
//!
//! Reddit answers a refused grant with HTTP 200 and `{"error": "invalid_grant"}` (or
//! `unauthorized_client`, `invalid_request`): a 200 is a token only when it carries one.
//! Refusals are permanent for the credential; 429, 5xx and network failures are transient.

use std::time::{Duration, Instant};

use redstream_common::Secret;

use super::config::{CredentialKind, ResolvedCredential};
use super::metrics;

const INSTALLED_GRANT: &str = "https://oauth.reddit.com/grants/installed_client";

/// A bearer token and when it stops working.
#[derive(Debug, Clone)]
pub struct Token {
    pub access: Secret,
    pub expires_at: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The endpoint refused this credential; retrying will not help.
    #[error("{0}")]
    Refused(String),
    /// Try again later.
    #[error("{0}")]
    Transient(String),
}

pub async fn request_token(
    http: &reqwest::Client,
    url: &str,
    user_agent: &str,
    cred: &ResolvedCredential,
) -> Result<Token, AuthError> {
    let form: Vec<(&str, &str)> = match cred.kind {
        CredentialKind::Script => vec![
            ("grant_type", "password"),
            ("username", &cred.username),
            ("password", cred.password.expose()),
        ],
        CredentialKind::AppOnly => vec![("grant_type", "client_credentials")],
        CredentialKind::Installed => vec![
            ("grant_type", INSTALLED_GRANT),
            ("device_id", &cred.device_id),
        ],
    };
    let sent = Instant::now();
    let response = http
        .post(url)
        .basic_auth(&cred.client_id, Some(cred.client_secret.expose()))
        .header(reqwest::header::USER_AGENT, user_agent)
        .form(&form)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            metrics::REQUESTS
                .with_label_values(&[&cred.name, "error"])
                .inc();
            return Err(AuthError::Transient(format!(
                "token endpoint {url} unreachable for credential {}: {}",
                cred.name,
                e.without_url()
            )));
        }
    };
    let status = response.status();
    metrics::REQUESTS
        .with_label_values(&[&cred.name, status.as_str()])
        .inc();
    let body = response.bytes().await.unwrap_or_default();
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();

    if status.as_u16() == 429 || status.is_server_error() {
        return Err(AuthError::Transient(format!(
            "token endpoint {url} answered {status} for credential {}; retrying later",
            cred.name
        )));
    }
    let error = json
        .as_ref()
        .and_then(|j| j.get("error"))
        .map(|e| e.to_string());
    if !status.is_success() || error.is_some() {
        return Err(AuthError::Refused(format!(
            "token endpoint refused credential {} (client id {}, {:?} app): HTTP {status}, \
             error {}; check its client id, secret, account and app type",
            cred.name,
            cred.client_id,
            cred.kind,
            error.as_deref().unwrap_or("none given")
        )));
    }
    let json = json.unwrap_or_default();
    let Some(access) = json.get("access_token").and_then(|t| t.as_str()) else {
        return Err(AuthError::Transient(format!(
            "token endpoint {url} answered 200 without access_token for credential {}",
            cred.name
        )));
    };
    let lifetime = json
        .get("expires_in")
        .and_then(serde_json::Value::as_f64)
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(3600.0);
    Ok(Token {
        access: Secret::new(access),
        expires_at: sent + Duration::from_secs_f64(lifetime.min(86_400.0)),
    })
}
