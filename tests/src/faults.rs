//! Tools of the fault tests: start a stage with settings of its own (small batches, a proxy in
//! front of a store), write arbitrary bytes into a topic, read a stage's metrics, and run a
//! second stack of real servers on other ports that a test may stop and start at will.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use redstream_schemas::{normalize_line, Item, SnapshotOrigin};

use crate::processes::Stage;
use crate::run::{RunNames, STAGES};

/// Writes the stage config the fault tests share into `dir/stages.toml`: group timeouts of
/// seconds (a dead member is noticed fast) and small batches, `max_in_flight` of them on their
/// way, so that a stage is caught with work in hand. Returns the environment that points a
/// stage at it.
pub fn small_batch_config(
    dir: &std::path::Path,
    max_items: i64,
    max_in_flight: i64,
) -> anyhow::Result<Vec<(String, String)>> {
    let config = dir.join("stages.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka.client]\n\"session.timeout.ms\" = \"6000\"\n\
             \"heartbeat.interval.ms\" = \"1000\"\n\n[batch]\nmax_items = {max_items}\n\
             max_in_flight = {max_in_flight}\n"
        ),
    )?;
    Ok(vec![(
        "REDSTREAM_CONFIG".to_string(),
        config.display().to_string(),
    )])
}

/// The binary of a stage named as in [`STAGES`].
pub fn binary_of(stage: &str) -> anyhow::Result<&'static str> {
    STAGES
        .iter()
        .find(|(name, _)| *name == stage)
        .map(|(_, bin)| *bin)
        .with_context(|| format!("no stage named {stage}"))
}

/// Starts one stage of `run` with extra environment (after the run's own), logging to
/// `<run dir>/<log_name>.log`, metrics on `metrics_port`.
pub fn start_stage(
    run: &RunNames,
    stage: &str,
    log_name: &str,
    metrics_port: u16,
    extra_env: &[(String, String)],
) -> anyhow::Result<Stage> {
    let mut env = run.env();
    env.extend(extra_env.iter().cloned());
    let addr = format!("127.0.0.1:{metrics_port}");
    Stage::start(
        log_name,
        binary_of(stage)?,
        &["--metrics-addr", &addr],
        &env,
        &run.dir.join(format!("{log_name}.log")),
    )
}

/// Writes records with arbitrary keys and bytes to `topic` and waits until Kafka has them.
pub fn inject(
    brokers: &str,
    topic: &str,
    records: &[(Option<Vec<u8>>, Vec<u8>)],
) -> anyhow::Result<()> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.max.bytes", "16777216")
        .set("message.timeout.ms", "30000")
        .create()
        .with_context(|| format!("cannot create a producer for {brokers}"))?;
    for (key, value) in records {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(&value[..]);
        if let Some(k) = key {
            record = record.key(&k[..]);
        }
        producer
            .send(record)
            .map_err(|(e, _)| e)
            .with_context(|| format!("cannot queue a record for {topic}"))?;
    }
    producer
        .flush(Duration::from_secs(30))
        .with_context(|| format!("Kafka at {brokers} did not take the records for {topic}"))?;
    Ok(())
}

/// Sum of every sample of the metric `name` whose labels contain all of `labels`
/// (`("stage", "sink-scylla")`), from a stage's `/metrics`. Zero when absent.
pub fn metric(metrics_port: u16, name: &str, labels: &[(&str, &str)]) -> anyhow::Result<f64> {
    let mut stream = TcpStream::connect(("127.0.0.1", metrics_port))
        .with_context(|| format!("no metrics endpoint on 127.0.0.1:{metrics_port}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    let mut total = 0.0;
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let metric_name = series.split('{').next().unwrap_or_default();
        if metric_name != name {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        {
            total += value.parse::<f64>().unwrap_or(0.0);
        }
    }
    Ok(total)
}

/// Waits until `check` holds, calling it every 200 ms, at most `timeout`.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if check()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{what} did not happen within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A stack of our own (`scripts/stack` with its own state folder and ports), for tests that
/// stop servers: the shared default stack is never touched. Wiped when dropped.
pub struct OwnStack {
    state: PathBuf,
    ports: Vec<(String, String)>,
    services: Vec<String>,
}

impl OwnStack {
    /// Starts `services` with every port shifted by `offset` from the defaults.
    pub fn up(state: &Path, offset: u16, services: &[&str]) -> anyhow::Result<Self> {
        let ports = [
            ("REDSTREAM_KAFKA_PORT", 9092),
            ("REDSTREAM_KAFKA_CONTROLLER_PORT", 9093),
            ("REDSTREAM_CASSANDRA_PORT", 9042),
            ("REDSTREAM_CASSANDRA_STORAGE_PORT", 7000),
            ("REDSTREAM_OPENSEARCH_PORT", 9200),
            ("REDSTREAM_OPENSEARCH_TRANSPORT_PORT", 9300),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), (v + offset).to_string()))
        .collect();
        let stack = Self {
            state: state.to_path_buf(),
            ports,
            services: services.iter().map(|s| s.to_string()).collect(),
        };
        stack.script(&["down", "--wipe"])?;
        let mut args = vec!["up"];
        args.extend(services);
        stack.script(&args)?;
        Ok(stack)
    }

    /// The port of a variable such as `REDSTREAM_CASSANDRA_PORT`.
    pub fn port(&self, var: &str) -> u16 {
        self.ports
            .iter()
            .find(|(k, _)| k == var)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn stop(&self, service: &str) -> anyhow::Result<()> {
        self.script(&["down", service])
    }

    pub fn start(&self, service: &str) -> anyhow::Result<()> {
        self.script(&["up", service])
    }

    fn script(&self, args: &[&str]) -> anyhow::Result<()> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/stack");
        let output = Command::new(&script)
            .args(args)
            .env("REDSTREAM_STATE", &self.state)
            .envs(self.ports.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .with_context(|| format!("cannot run {}", script.display()))?;
        if !output.status.success() {
            bail!(
                "scripts/stack {} (state {}) failed: {}{}",
                args.join(" "),
                self.state.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for OwnStack {
    fn drop(&mut self) {
        let mut args = vec!["down", "--wipe"];
        let services = self.services.clone();
        args.extend(services.iter().map(String::as_str));
        let _ = self.script(&args);
    }
}

/// Sum over partitions of the offsets a group has committed on its topic (0 where none): how
/// many records of the topic the group is done with, when the topic starts at offset 0.
pub fn committed_total(brokers: &str, input: &crate::drain::GroupInput) -> anyhow::Result<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", &input.group)
        .set("enable.auto.commit", "false")
        .create()
        .with_context(|| format!("cannot create a Kafka client for {brokers}"))?;
    let metadata = consumer
        .fetch_metadata(Some(&input.topic), Duration::from_secs(10))
        .with_context(|| format!("cannot read metadata of {}", input.topic))?;
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition(&input.topic, p.id());
        }
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .with_context(|| format!("cannot read committed offsets of group {}", input.group))?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum())
}

/// How many records dedupe passes on for `files` replayed in this order (one producer run
/// per file, so the order in which dedupe sees an item's snapshots is known), computed the way
/// the design says (stale if older than the last passed, duplicate if the same content, else
/// passed), independently of the pipeline.
pub fn distinct_changes(files: &[PathBuf]) -> anyhow::Result<i64> {
    let mut last: BTreeMap<String, (Item, i64)> = BTreeMap::new();
    let mut passed = 0;
    for path in files {
        let mtime = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .with_context(|| format!("cannot stat {}", path.display()))?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let origin = SnapshotOrigin {
                fallback_retrieved_utc: mtime,
                line_no: i as u64 + 1,
            };
            let Ok(item) = normalize_line(line, &origin) else {
                continue;
            };
            let version = item.version();
            let mut content = item.clone();
            content.set_snapshot(0, 0);
            match last.get(item.fullname()) {
                Some((_, v)) if version < *v => {}
                Some((c, _)) if *c == content => {}
                _ => {
                    passed += 1;
                    last.insert(item.fullname().to_string(), (content, version));
                }
            }
        }
    }
    Ok(passed)
}
