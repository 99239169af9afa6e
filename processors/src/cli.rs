//! The entry point both processor binaries share: config, telemetry, the metrics endpoint,
//! graceful shutdown, and an exit code with the error in one line on stderr.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use redstream_common::metrics::{self, Readiness};
use redstream_common::{load_config, telemetry, Shutdown};

use crate::config::StageConfig;

/// Runs one stage from parsed arguments to its exit code. `run` is the stage itself.
pub async fn main<C, F, Fut>(
    binary: &str,
    stage: &'static str,
    config: Option<&Path>,
    metrics_addr: SocketAddr,
    run: F,
) -> ExitCode
where
    C: StageConfig,
    F: FnOnce(C, Shutdown, Readiness) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    telemetry::init(stage);
    match start(stage, config, metrics_addr, run).await {
        Ok(()) => {
            tracing::info!(stage, "stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(stage, error = format!("{e:#}"), "stage failed");
            eprintln!("{binary}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn start<C, F, Fut>(
    stage: &'static str,
    config: Option<&Path>,
    metrics_addr: SocketAddr,
    run: F,
) -> anyhow::Result<()>
where
    C: StageConfig,
    F: FnOnce(C, Shutdown, Readiness) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let cfg: C = load_config(config)?;
    let shutdown = Shutdown::install()?;
    let readiness = Readiness::default();
    metrics::serve(metrics_addr, readiness.clone()).await?;
    tracing::info!(
        stage,
        brokers = %cfg.kafka().brokers,
        prefix = %cfg.topics().prefix,
        group_id = %cfg.group_id(),
        "starting"
    );
    run(cfg, shutdown, readiness).await
}
