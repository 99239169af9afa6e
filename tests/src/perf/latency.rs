//! Latency from produce to visible in both stores: while the pipeline works through the bulk
//! input, probe posts (fresh fullnames, encoded exactly as the producer encodes a dump line) are
//! produced to `{prefix}.raw` at a steady pace, and both stores are polled for them. A probe's
//! latency is the time from handing it to the Kafka client to the moment it is found in the
//! search index (by a search, so after a refresh) and in the CQL table, whichever is later.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use elasticsearch::http::Method;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use redstream_schemas::{normalize_line, Codec, SnapshotOrigin};
use serde_json::json;

use crate::stores::{cql_session, Search, StoreEndpoints};

/// Where probes go and where they are looked for.
pub struct ProbeTarget {
    pub brokers: String,
    pub raw_topic: String,
    pub keyspace: String,
    pub posts_index: String,
}

#[derive(Default)]
struct Probe {
    sent: Option<Instant>,
    in_search: Option<Instant>,
    in_cql: Option<Instant>,
}

/// Latencies (milliseconds) of the probes that became visible in both stores, and how many
/// were sent in all.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    pub sent: usize,
    pub millis: Vec<f64>,
}

impl Latencies {
    /// The `q` quantile (0..=1) by nearest rank, None without samples.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let mut v = self.millis.clone();
        v.sort_by(f64::total_cmp);
        let last = v.len().checked_sub(1)?;
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v.get(rank.min(last)).copied()
    }
}

fn probe_line(n: usize, now: i64) -> String {
    let id = format!("zzprobe{n}");
    json!({
        "id": id,
        "name": format!("t3_{id}"),
        "subreddit": "redstream_bench",
        "subreddit_id": "t5_bench",
        "author": "bench_probe",
        "title": format!("Latency probe number {n} of the redstream benchmark"),
        "selftext": "It measures the time from produce to visible in both stores.",
        "is_self": true,
        "over_18": false,
        "score": 1,
        "num_comments": 0,
        "created_utc": now,
        "retrieved_on": now,
        "edited": false,
    })
    .to_string()
}

/// Sends a probe every `every` until `stop` is set, then keeps polling the stores until every
/// probe is visible or `grace` has passed since `stop`.
pub async fn run(
    target: ProbeTarget,
    endpoints: StoreEndpoints,
    every: Duration,
    stop: Arc<AtomicBool>,
    grace: Duration,
) -> anyhow::Result<Latencies> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &target.brokers)
        .set("linger.ms", "0")
        .create()
        .with_context(|| format!("cannot create a probe producer for {}", target.brokers))?;
    let codec = Codec::new()?;
    let probes: Arc<Mutex<HashMap<String, Probe>>> = Arc::default();

    let sender = {
        let probes = Arc::clone(&probes);
        let stop = Arc::clone(&stop);
        let topic = target.raw_topic.clone();
        async move {
            let mut n = 0usize;
            let mut buf = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or_default();
                let line = probe_line(n, now);
                let origin = SnapshotOrigin {
                    fallback_retrieved_utc: now,
                    line_no: n as u64,
                };
                let item = normalize_line(line.as_bytes(), &origin)
                    .context("a probe line does not normalize")?;
                buf.clear();
                codec.encode_item(&item, &mut buf)?;
                let key = item.fullname().to_string();
                if let Ok(mut p) = probes.lock() {
                    p.entry(key.clone()).or_default().sent = Some(Instant::now());
                }
                let record = FutureRecord::to(&topic).key(&key).payload(&buf);
                producer
                    .send(record, Duration::from_secs(10))
                    .await
                    .map_err(|(e, _)| {
                        anyhow::anyhow!("probe {key} not delivered to {topic}: {e}")
                    })?;
                tokio::time::sleep(every).await;
            }
            anyhow::Ok(n)
        }
    };

    let poller = {
        let probes = Arc::clone(&probes);
        let stop = Arc::clone(&stop);
        async move {
            let session = cql_session(&endpoints).await?;
            let search = Search::new(&endpoints)?;
            let mut stopped_at: Option<Instant> = None;
            loop {
                let (missing_search, missing_cql): (Vec<String>, Vec<String>) = {
                    let p = probes
                        .lock()
                        .map_err(|_| anyhow::anyhow!("probe table poisoned"))?;
                    (
                        p.iter()
                            .filter(|(_, v)| v.in_search.is_none())
                            .map(|(k, _)| k.clone())
                            .collect(),
                        p.iter()
                            .filter(|(_, v)| v.in_cql.is_none())
                            .map(|(k, _)| k.clone())
                            .collect(),
                    )
                };
                if stop.load(Ordering::Relaxed) {
                    let since = *stopped_at.get_or_insert_with(Instant::now);
                    if (missing_search.is_empty() && missing_cql.is_empty())
                        || since.elapsed() > grace
                    {
                        break;
                    }
                }
                let found_search = if missing_search.is_empty() {
                    Vec::new()
                } else {
                    let body = json!({
                        "size": missing_search.len(),
                        "_source": false,
                        "query": {"ids": {"values": missing_search}},
                    });
                    // The index appears only when the sink starts: an error means "not yet".
                    search
                        .call(
                            Method::Post,
                            &format!("/{}/_search", target.posts_index),
                            Some(&body),
                        )
                        .await
                        .ok()
                        .and_then(|v| {
                            v["hits"]["hits"].as_array().map(|hits| {
                                hits.iter()
                                    .filter_map(|h| h["_id"].as_str().map(String::from))
                                    .collect()
                            })
                        })
                        .unwrap_or_default()
                };
                let found_cql: Vec<String> = if missing_cql.is_empty() {
                    Vec::new()
                } else {
                    let list: Vec<String> = missing_cql.iter().map(|k| format!("'{k}'")).collect();
                    let query = format!(
                        "SELECT fullname FROM {}.posts WHERE fullname IN ({})",
                        target.keyspace,
                        list.join(",")
                    );
                    match session.query_unpaged(query.as_str(), &[]).await {
                        Ok(result) => result
                            .into_rows_result()
                            .ok()
                            .and_then(|rows| {
                                rows.rows::<(String,)>()
                                    .ok()
                                    .map(|it| it.filter_map(Result::ok).map(|(k,)| k).collect())
                            })
                            .unwrap_or_default(),
                        Err(_) => Vec::new(),
                    }
                };
                let now = Instant::now();
                if let Ok(mut p) = probes.lock() {
                    for k in found_search {
                        if let Some(probe) = p.get_mut(&k) {
                            probe.in_search.get_or_insert(now);
                        }
                    }
                    for k in found_cql {
                        if let Some(probe) = p.get_mut(&k) {
                            probe.in_cql.get_or_insert(now);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(())
        }
    };

    let (sent, polled) = tokio::join!(sender, poller);
    let sent = sent?;
    polled?;
    let p = probes
        .lock()
        .map_err(|_| anyhow::anyhow!("probe table poisoned"))?;
    let millis = p
        .values()
        .filter_map(|v| {
            let visible = v.in_search?.max(v.in_cql?);
            Some(visible.duration_since(v.sent?).as_secs_f64() * 1000.0)
        })
        .collect();
    Ok(Latencies { sent, millis })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lines_are_posts() {
        let origin = SnapshotOrigin {
            fallback_retrieved_utc: 1,
            line_no: 1,
        };
        let item = normalize_line(probe_line(3, 1_700_000_000).as_bytes(), &origin).unwrap();
        assert_eq!(item.fullname(), "t3_zzprobe3");
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let l = Latencies {
            sent: 4,
            millis: vec![40.0, 10.0, 30.0, 20.0],
        };
        assert_eq!(l.quantile(0.5), Some(20.0));
        assert_eq!(l.quantile(0.99), Some(40.0));
        assert_eq!(Latencies::default().quantile(0.5), None);
    }
}
