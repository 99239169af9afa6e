//! Connecting to the cluster: contact points, password authentication, TLS, and the execution
//! profile (consistency, timeout, preferred datacenter) every insert runs with.

use anyhow::Context;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;

use super::config::{parse_consistency, ScyllaConfig};

/// Opens a session, or fails with a message that names the nodes and what to check.
pub async fn connect(cfg: &ScyllaConfig) -> anyhow::Result<Session> {
    cfg.validate()?;

    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = &cfg.local_datacenter {
        policy = policy.prefer_datacenter(dc.clone());
    }
    let profile = ExecutionProfile::builder()
        .consistency(parse_consistency(&cfg.consistency)?)
        .request_timeout(Some(cfg.request_timeout()))
        .load_balancing_policy(policy.build())
        .build();

    let mut builder = SessionBuilder::new()
        .known_nodes(cfg.node_list())
        .connection_timeout(cfg.connect_timeout())
        .default_execution_profile_handle(profile.into_handle());
    if let (Some(user), Some(password)) = (&cfg.username, &cfg.password) {
        builder = builder.user(user.clone(), password.expose().to_string());
    }
    if cfg.tls_enabled() {
        builder = builder.tls_context(Some(tls_connector(cfg)?));
    }

    let session = tokio::time::timeout(cfg.connect_timeout() * 3, builder.build())
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {:?}", cfg.connect_timeout() * 3))
        .and_then(|r| r.map_err(anyhow::Error::from))
        .with_context(|| {
            format!(
                "cannot connect to ScyllaDB/Cassandra at {} (tls {}); is it running and \
                 reachable? Locally: scripts/stack up; otherwise check scylla.nodes, \
                 scylla.username/password and the TLS settings",
                cfg.nodes,
                if cfg.tls_enabled() { "on" } else { "off" }
            )
        })?;
    Ok(session)
}

/// An OpenSSL client context that verifies the nodes against `ca_file` (or the system's CAs),
/// with the client certificate when one is configured.
fn tls_connector(cfg: &ScyllaConfig) -> anyhow::Result<scylla::client::session::TlsContext> {
    let mut builder = SslConnector::builder(SslMethod::tls_client())
        .context("cannot initialise OpenSSL for the scylla TLS connection")?;
    builder.set_verify(SslVerifyMode::PEER);
    if let Some(ca) = &cfg.ca_file {
        builder.set_ca_file(ca).with_context(|| {
            format!(
                "cannot read scylla.ca_file {}; it must be a PEM file of CA certificates",
                ca.display()
            )
        })?;
    }
    if let (Some(cert), Some(key)) = (&cfg.cert_file, &cfg.key_file) {
        builder.set_certificate_chain_file(cert).with_context(|| {
            format!(
                "cannot read scylla.cert_file {} (PEM certificate chain)",
                cert.display()
            )
        })?;
        builder
            .set_private_key_file(key, SslFiletype::PEM)
            .with_context(|| format!("cannot read scylla.key_file {} (PEM key)", key.display()))?;
    }
    Ok(builder.into())
}
