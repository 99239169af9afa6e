//! Metrics every stage shares, in the process-wide Prometheus registry, and the HTTP endpoint
//! that serves them with the health probes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge_vec, Encoder,
    HistogramVec, IntCounterVec, IntGaugeVec, TextEncoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Items taken from the stage's input, by stage.
pub static ITEMS_IN: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "redstream_items_in_total",
        "Items read by a stage",
        &["stage"]
    )
    .expect("metric registers once")
});

/// Items written to the stage's output, by stage and outcome (`new`, `update`, `written`...).
pub static ITEMS_OUT: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "redstream_items_out_total",
        "Items a stage passed on or wrote, by outcome",
        &["stage", "outcome"]
    )
    .expect("metric registers once")
});

/// Items a stage dropped on purpose (duplicates, stale versions), by reason.
pub static ITEMS_DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "redstream_items_dropped_total",
        "Items a stage dropped on purpose, by reason",
        &["stage", "reason"]
    )
    .expect("metric registers once")
});

/// Records sent to a dead-letter topic, by stage and failure class.
pub static DEAD_LETTERED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "redstream_dead_lettered_total",
        "Records sent to a dead-letter topic",
        &["stage", "kind"]
    )
    .expect("metric registers once")
});

/// Retries of a write to a store or to Kafka, by stage.
pub static RETRIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "redstream_retries_total",
        "Retried writes",
        &["stage", "target"]
    )
    .expect("metric registers once")
});

/// Size of the batches a stage handled.
pub static BATCH_SIZE: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "redstream_batch_items",
        "Items per batch",
        &["stage"],
        vec![1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0]
    )
    .expect("metric registers once")
});

/// Time to write one batch to its destination.
pub static WRITE_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "redstream_write_duration_seconds",
        "Time to write one batch",
        &["stage", "target"],
        prometheus::exponential_buckets(0.001, 2.0, 16).expect("valid buckets")
    )
    .expect("metric registers once")
});

/// Partitions currently assigned to this process, by stage.
pub static ASSIGNED_PARTITIONS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "redstream_assigned_partitions",
        "Partitions assigned to this consumer",
        &["stage"]
    )
    .expect("metric registers once")
});

/// Readiness as the `/readyz` probe reports it.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, readiness: Readiness) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("cannot listen for metrics on {addr}: {e}; pick another --metrics-addr")
    })?;
    tracing::info!(%addr, "metrics and health endpoints listening");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let readiness = readiness.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = match path {
                    "/metrics" => ("200 OK", render()),
                    "/healthz" => ("200 OK", "ok\n".to_string()),
                    "/readyz" if readiness.get() => ("200 OK", "ready\n".to_string()),
                    "/readyz" => ("503 Service Unavailable", "not ready\n".to_string()),
                    _ => (
                        "404 Not Found",
                        "try /metrics, /healthz or /readyz\n".to_string(),
                    ),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(())
}

fn render() -> String {
    let mut out = Vec::new();
    let families = prometheus::gather();
    if TextEncoder::new().encode(&families, &mut out).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}
