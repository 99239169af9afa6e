//! Metrics every stage shares, in the process-wide Prometheus registry, and the HTTP endpoint
//! that serves them with the health probes.
//!
//! Names follow the Prometheus conventions: `redstream_` prefix, counters end in `_total`,
//! durations are in seconds (`_seconds`), sizes in bytes or items. The stage is a label (and
//! the scrape job), so one dashboard and one set of alert rules cover every stage. The alert
//! rules in `ops/prometheus/alerts.yml` and the dashboard in `ops/grafana/` use these names:
//! rename one there too.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge, register_int_gauge_vec,
    Encoder, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, TextEncoder,
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

/// Counts of one batch by label, added to a counter family once per batch: looking a labelled
/// counter up costs a hash of its labels, too much to pay per item.
#[derive(Debug, Default)]
pub struct Tally {
    counts: Vec<(&'static str, u64)>,
}

impl Tally {
    pub fn add(&mut self, label: &'static str) {
        match self.counts.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) => *n += 1,
            None => self.counts.push((label, 1)),
        }
    }

    /// Adds the counts to `family{stage, <label>}` and starts again from zero.
    pub fn flush(&mut self, family: &IntCounterVec, stage: &str) {
        for (label, n) in self.counts.drain(..) {
            family.with_label_values(&[stage, label]).inc_by(n);
        }
    }
}

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

/// Messages of a partition not yet consumed and committed by the stage's group, as librdkafka
/// reports it every few seconds (`consumer_lag`: high watermark minus committed offset).
pub static CONSUMER_LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "redstream_consumer_lag_messages",
        "Messages behind the partition's end, per assigned partition",
        &["stage", "topic", "partition"]
    )
    .expect("metric registers once")
});

/// Kafka brokers this process holds an open connection to, from librdkafka statistics.
pub static KAFKA_BROKERS_UP: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "redstream_kafka_brokers_up",
        "Kafka brokers the stage is connected to",
        &["stage"]
    )
    .expect("metric registers once")
});

/// Age of an item when a sink wrote it. `since="created"` counts from the item's creation on
/// Reddit (what a reader of the store experiences; years for dump replays, hence buckets up to
/// ten years), `since="retrieved"` from its retrieval by the producer (the pipeline's own delay
/// for live items; for dumps, the dump's retrieval time).
pub static END_TO_END_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "redstream_end_to_end_latency_seconds",
        "Time from an item's creation or retrieval to its write to a store",
        &["stage", "since"],
        AGE_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

/// One second to ten years, about four buckets per decade of interest: seconds and minutes for
/// live items, hours and days for late comments, months and years for dump replays.
const AGE_BUCKETS: [f64; 16] = [
    1.0,
    5.0,
    15.0,
    60.0,
    300.0,
    900.0,
    3_600.0,
    6.0 * 3_600.0,
    86_400.0,
    7.0 * 86_400.0,
    30.0 * 86_400.0,
    90.0 * 86_400.0,
    365.0 * 86_400.0,
    2.0 * 365.0 * 86_400.0,
    5.0 * 365.0 * 86_400.0,
    10.0 * 365.0 * 86_400.0,
];

/// Records the age at write time of the items a stage wrote, from their creation and from
/// their retrieval (Unix seconds). Timestamps in the future (clock skew) count as zero. Takes
/// a batch at a time: the clock and the labelled histograms are looked up once.
pub fn observe_item_ages(stage: &str, items: impl IntoIterator<Item = (i64, i64)>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let since_created = END_TO_END_SECONDS.with_label_values(&[stage, "created"]);
    let since_retrieved = END_TO_END_SECONDS.with_label_values(&[stage, "retrieved"]);
    for (created_utc, retrieved_utc) in items {
        for (histogram, at) in [
            (&since_created, created_utc),
            (&since_retrieved, retrieved_utc),
        ] {
            if at > 0 {
                histogram.observe((now - at as f64).max(0.0));
            }
        }
    }
}

/// 1 while `/readyz` answers 200, else 0; alerts use it to tell "up but not ready" (a store or
/// the broker unreachable) from "down".
pub static READY: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "redstream_ready",
        "1 when the stage is ready (connected to Kafka and its store), else 0"
    )
    .expect("metric registers once")
});

/// Whether librdkafka's last statistics showed a broker connection (true until the first).
static KAFKA_CONNECTED: AtomicBool = AtomicBool::new(true);

/// Records whether the stage's Kafka client holds at least one broker connection; `/readyz`
/// fails while it does not.
pub fn set_kafka_connected(connected: bool) {
    KAFKA_CONNECTED.store(connected, Ordering::Relaxed);
    refresh_ready(None);
}

/// Readiness as the `/readyz` probe reports it: the stage says it is working (its store
/// answers) and its Kafka client is connected.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

static STAGE_READY: AtomicBool = AtomicBool::new(false);

fn refresh_ready(stage_ready: Option<bool>) {
    if let Some(ready) = stage_ready {
        STAGE_READY.store(ready, Ordering::Relaxed);
    }
    let ready = STAGE_READY.load(Ordering::Relaxed) && KAFKA_CONNECTED.load(Ordering::Relaxed);
    READY.set(i64::from(ready));
}

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
        refresh_ready(Some(ready));
    }

    /// True when the stage is ready and its Kafka client connected.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed) && KAFKA_CONNECTED.load(Ordering::Relaxed)
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, readiness: Readiness) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("cannot listen for metrics on {addr}: {e}; pick another --metrics-addr")
    })?;
    LazyLock::force(&READY);
    tracing::info!(%addr, "metrics and health endpoints listening");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let readiness = readiness.clone();
            tokio::spawn(async move {
                let request = read_request_head(&mut stream).await;
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

/// The request line and headers (up to 8 KiB, 5 s): enough to route, whatever segments the
/// client sends them in.
async fn read_request_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while buf.len() < 8192 && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn render() -> String {
    let mut out = Vec::new();
    let families = prometheus::gather();
    if TextEncoder::new().encode(&families, &mut out).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::core::Metric;

    fn count_at_most(stage: &str, since: &str, le: f64) -> u64 {
        let h = END_TO_END_SECONDS.with_label_values(&[stage, since]);
        let proto = h.metric();
        let buckets = proto.get_histogram().get_bucket();
        buckets
            .iter()
            .find(|b| b.upper_bound() == le)
            .map(|b| b.cumulative_count())
            .unwrap_or_default()
    }

    #[test]
    fn a_dump_item_years_old_lands_in_a_finite_bucket_and_a_live_one_in_the_first_minute() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let year = 365 * 86_400;
        // A 2019 dump item retrieved in 2020, written now; a live item from 20 s ago.
        observe_item_ages(
            "test-sink",
            [
                (now - 6 * year, now - 5 * year - 3_600),
                (now - 20, now - 2),
            ],
        );
        assert_eq!(count_at_most("test-sink", "created", 60.0), 1);
        assert_eq!(
            count_at_most("test-sink", "created", 10.0 * 365.0 * 86_400.0),
            2
        );
        assert_eq!(count_at_most("test-sink", "retrieved", 5.0), 1);
        assert_eq!(
            count_at_most("test-sink", "retrieved", 5.0 * 365.0 * 86_400.0),
            1
        );
        assert_eq!(
            count_at_most("test-sink", "retrieved", 10.0 * 365.0 * 86_400.0),
            2
        );
    }
}
