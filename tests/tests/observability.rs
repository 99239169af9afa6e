//! Observability as an operator meets it: the alert rules pass their promtool unit tests, a
//! real Prometheus scrapes a real stage, a killed stage ends in a notification at a webhook
//! through a real Alertmanager, and a stage run with passwords in its config never logs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use redstream_tests::faults::inject;
use redstream_tests::ops::{free_port, http_get, ops_dir, tool, wait_topics, Daemon, Webhook};
use redstream_tests::processes::Stage;
use redstream_tests::run::{Pipeline, RunNames, STAGES};
use redstream_tests::stack::require_stack;

fn run_root() -> PathBuf {
    redstream_tests::expect::test_runs_dir("observability")
}

fn run_tool(program: &Path, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {} failed:\n{}{}",
        program.display(),
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alert_rules_and_configs_pass_promtool() {
    let promtool = tool("promtool", "prometheus").unwrap_or_else(|e| panic!("{e:#}"));
    let amtool = tool("amtool", "prometheus-alertmanager").unwrap_or_else(|e| panic!("{e:#}"));
    let ops = ops_dir();
    let path = |p: &str| ops.join(p).display().to_string();
    run_tool(
        &promtool,
        &["check", "rules", &path("prometheus/alerts.yml")],
    );
    run_tool(
        &promtool,
        &["test", "rules", &path("prometheus/alerts_test.yml")],
    );
    run_tool(
        &promtool,
        &["check", "config", &path("prometheus/prometheus.yml")],
    );
    run_tool(
        &promtool,
        // Its rule file path is the container's; check the syntax only.
        &[
            "check",
            "config",
            "--syntax-only",
            &path("prometheus/compose.yml"),
        ],
    );
    run_tool(
        &amtool,
        &["check-config", &path("alertmanager/alertmanager.yml")],
    );
}

/// The first sample of `query` whose labels include `job`, as a number.
fn sample(prometheus: &str, query: &str, job: &str) -> Option<f64> {
    let (status, body) = http_get(prometheus, &format!("/api/v1/query?query={query}")).ok()?;
    if status != 200 {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    json["data"]["result"]
        .as_array()?
        .iter()
        .find(|r| r["metric"]["job"] == job)
        .and_then(|r| r["value"][1].as_str())
        .and_then(|v| v.parse().ok())
}

/// Polls `check` every 250 ms until it returns Some or `timeout` passes.
fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(v) = check() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    None
}

const JOB: &str = "redstream-enrich";

fn prometheus_config(stage: &str, alertmanager: &str) -> String {
    let rules = ops_dir().join("prometheus/alerts.yml");
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         rule_files: [\"{}\"]\n\
         alerting:\n  alertmanagers:\n    - static_configs: [{{ targets: [\"{alertmanager}\"] }}]\n\
         scrape_configs:\n  - job_name: {JOB}\n    scrape_timeout: 1s\n    \
         static_configs: [{{ targets: [\"{stage}\"] }}]\n",
        rules.display()
    )
}

/// The shipped Alertmanager config, with the test's webhook and short grouping waits.
fn alertmanager_config(webhook: &str) -> String {
    let shipped = std::fs::read_to_string(ops_dir().join("alertmanager/alertmanager.yml"))
        .expect("ops/alertmanager/alertmanager.yml is readable");
    let config = shipped
        .replace("http://127.0.0.1:9095/alerts", webhook)
        .replace("group_wait: 30s", "group_wait: 1s")
        .replace("group_interval: 5m", "group_interval: 5s");
    assert!(
        config.contains(webhook) && config.contains("group_wait: 1s"),
        "the shipped alertmanager.yml changed shape; update this test's replacements"
    );
    config
}

#[test]
fn prometheus_scrapes_a_stage_and_a_killed_stage_notifies_the_webhook() {
    if !require_stack("prometheus_scrapes_a_stage_and_a_killed_stage_notifies_the_webhook") {
        return;
    }
    let started = Instant::now();
    let prometheus_bin = tool("prometheus", "prometheus").unwrap_or_else(|e| panic!("{e:#}"));
    let alertmanager_bin = tool("prometheus-alertmanager", "prometheus-alertmanager")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let run = RunNames::fresh("obs", &run_root()).expect("run folder");
    run.producer(&["topics"]).expect("topics are created");
    wait_topics(
        &run.brokers,
        &[&run.topic("unique"), &run.topic("dlq.enrich")],
        Duration::from_secs(20),
    )
    .expect("the topics show in the metadata");
    // Five records the stage cannot decode: it reads, dead-letters and commits them, and
    // Prometheus must see all of that.
    let garbage: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..5)
        .map(|i| {
            (
                Some(format!("t3_obs{i}").into_bytes()),
                b"not avro".to_vec(),
            )
        })
        .collect();
    inject(&run.brokers, &run.topic("unique"), &garbage).expect("records written");

    let webhook = Webhook::start().expect("webhook listens");
    let stage_addr = format!("127.0.0.1:{}", free_port().expect("port"));
    let prometheus_addr = format!("127.0.0.1:{}", free_port().expect("port"));
    let alertmanager_addr = format!("127.0.0.1:{}", free_port().expect("port"));

    let am_dir = run.dir.join("alertmanager");
    std::fs::create_dir_all(&am_dir).expect("alertmanager folder");
    std::fs::write(
        am_dir.join("alertmanager.yml"),
        alertmanager_config(&webhook.url),
    )
    .expect("alertmanager config written");
    let mut alertmanager = Daemon::start(
        "alertmanager",
        &alertmanager_bin,
        &[
            format!(
                "--config.file={}",
                am_dir.join("alertmanager.yml").display()
            ),
            format!("--storage.path={}", am_dir.join("data").display()),
            format!("--web.listen-address={alertmanager_addr}"),
            "--cluster.listen-address=".into(),
        ],
        &am_dir.join("alertmanager.log"),
    )
    .expect("alertmanager starts");

    let prom_dir = run.dir.join("prometheus");
    std::fs::create_dir_all(&prom_dir).expect("prometheus folder");
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        prometheus_config(&stage_addr, &alertmanager_addr),
    )
    .expect("prometheus config written");
    let mut prometheus = Daemon::start(
        "prometheus",
        &prometheus_bin,
        &[
            format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", prom_dir.join("data").display()),
            format!("--web.listen-address={prometheus_addr}"),
        ],
        &prom_dir.join("prometheus.log"),
    )
    .expect("prometheus starts");

    let mut stage = Stage::start(
        "enrich",
        "redstream-enrich",
        &["--metrics-addr", &stage_addr],
        &run.env(),
        &run.dir.join("enrich.log"),
    )
    .expect("enrich starts");

    // Prometheus sees the stage up, ready, and connected to Kafka.
    let scraped = wait_for(Duration::from_secs(40), || {
        stage.check_alive().expect("enrich keeps running");
        prometheus.check_alive().expect("prometheus keeps running");
        alertmanager
            .check_alive()
            .expect("alertmanager keeps running");
        let up = sample(&prometheus_addr, "up", JOB)?;
        let ready = sample(&prometheus_addr, "redstream_ready", JOB)?;
        let brokers = sample(&prometheus_addr, "redstream_kafka_brokers_up", JOB)?;
        (up == 1.0 && ready == 1.0 && brokers >= 1.0).then(Instant::now)
    })
    .unwrap_or_else(|| {
        panic!(
            "prometheus at {prometheus_addr} never saw {JOB} at {stage_addr} up, ready and \
             connected (logs in {})",
            run.dir.display()
        )
    });
    eprintln!(
        "scrape: target up, ready and connected {:.1}s after the test started",
        (scraped - started).as_secs_f64()
    );
    let worked = wait_for(Duration::from_secs(30), || {
        let read = sample(&prometheus_addr, "redstream_items_in_total", JOB)?;
        let dead = sample(
            &prometheus_addr,
            "sum(redstream_dead_lettered_total)by(job)",
            JOB,
        )?;
        let lag = sample(
            &prometheus_addr,
            "sum(redstream_consumer_lag_messages)by(job)",
            JOB,
        )?;
        let partitions = sample(
            &prometheus_addr,
            "count(redstream_consumer_lag_messages)by(job)",
            JOB,
        )?;
        (read == 5.0 && dead == 5.0 && lag == 0.0).then_some(partitions)
    });
    let partitions = worked.unwrap_or_else(|| {
        panic!(
            "prometheus never saw the stage read and dead-letter the 5 records and its lag              drop to 0 after the commit (logs in {})",
            run.dir.display()
        )
    });
    assert!(partitions >= 1.0, "lag is reported per assigned partition");
    let log = std::fs::read_to_string(run.dir.join("enrich.log")).expect("enrich log");
    let unique = run.topic("unique");
    assert!(
        log.lines().any(|l| l.contains("record dead-lettered")
            && l.contains("batch")
            && l.contains("offsets")
            && l.contains(&unique)),
        "dead-letter lines carry the batch span (stage, topic, offsets):\n{log}"
    );

    // A crash: no clean shutdown, the metrics port goes away with the process.
    stage.kill();
    let killed = Instant::now();
    let notification = loop {
        let left = Duration::from_secs(100).saturating_sub(killed.elapsed());
        assert!(
            !left.is_zero(),
            "no RedstreamStageDown notification reached the webhook within 100 s of the kill \
             (logs in {})",
            run.dir.display()
        );
        let Ok(n) = webhook.received.recv_timeout(left) else {
            continue;
        };
        let fired = n.body["status"] == "firing"
            && n.body["alerts"].as_array().is_some_and(|alerts| {
                alerts.iter().any(|a| {
                    a["labels"]["alertname"] == "RedstreamStageDown"
                        && a["labels"]["job"] == JOB
                        && a["labels"]["instance"] == stage_addr.as_str()
                })
            });
        if fired {
            break n;
        }
    };
    let latency = notification.at - killed;
    eprintln!(
        "notification: RedstreamStageDown for {JOB} at the webhook {:.1}s after the kill \
         (rule `for: 1m`); test took {:.1}s",
        latency.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        latency >= Duration::from_secs(60),
        "the alert must wait for its `for: 1m`, it came after {latency:?}"
    );
}

#[test]
fn configured_secrets_never_reach_the_logs() {
    if !require_stack("configured_secrets_never_reach_the_logs") {
        return;
    }
    let run = RunNames::fresh("obs-secrets", &run_root()).expect("run folder");
    run.producer(&["topics"]).expect("topics are created");
    wait_topics(
        &run.brokers,
        &[&run.topic("enriched"), &run.topic("dlq.sink-elasticsearch")],
        Duration::from_secs(20),
    )
    .expect("the topics show in the metadata");
    let kafka_secret = "kafka-pw-7Qx93mZ";
    let search_secret = "search-pw-Lp02vR8";
    let config = run.dir.join("sink.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nsasl_username = \"redstream\"\nsasl_password = \"{kafka_secret}\"\n\n\
             [elasticsearch]\nusername = \"redstream\"\npassword = \"{search_secret}\"\n"
        ),
    )
    .expect("config written");
    let addr = format!("127.0.0.1:{}", free_port().expect("port"));
    let config_arg = config.display().to_string();
    let mut env = run.env();
    env.push(("RUST_LOG".into(), "debug".into()));
    let mut stage = Stage::start(
        "sink-elasticsearch",
        "redstream-sink-elasticsearch",
        &["--config", &config_arg, "--metrics-addr", &addr],
        &env,
        &run.dir.join("sink-elasticsearch.log"),
    )
    .expect("sink starts");
    let ready = wait_for(Duration::from_secs(40), || {
        stage.check_alive().expect("the sink keeps running");
        let (status, _) = http_get(&addr, "/readyz").ok()?;
        (status == 200).then_some(())
    });
    assert!(ready.is_some(), "the sink never became ready at {addr}");
    let (status, metrics) = http_get(&addr, "/metrics").expect("metrics answer");
    assert_eq!(status, 200);
    stage.stop(Duration::from_secs(30));

    let log = std::fs::read_to_string(run.dir.join("sink-elasticsearch.log")).expect("log");
    assert!(
        log.lines().count() > 10 && log.contains("indices ready"),
        "the debug log is too thin to prove anything:\n{log}"
    );
    for secret in [kafka_secret, search_secret] {
        assert!(!log.contains(secret), "a configured password is in the log");
        assert!(
            !metrics.contains(secret),
            "a configured password is in /metrics"
        );
    }
}

/// Every `redstream_*` word in `text`.
fn metric_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("redstream_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        words.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    words
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn dashboards_and_rules_use_only_metrics_the_stages_export() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources = Vec::new();
    for krate in ["common", "processors", "sink", "producer"] {
        rust_sources(&root.join(krate).join("src"), &mut sources);
    }
    let mut defined = std::collections::BTreeSet::new();
    for file in &sources {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for word in metric_words(&text) {
            if text.contains(&format!("\"{word}\"")) {
                defined.insert(word);
            }
        }
    }
    assert!(
        defined.contains("redstream_consumer_lag_messages"),
        "metric names not found in the sources: {defined:?}"
    );

    let dashboard_text =
        std::fs::read_to_string(ops_dir().join("grafana/dashboards/redstream.json"))
            .expect("dashboard readable");
    let dashboard: serde_json::Value =
        serde_json::from_str(&dashboard_text).expect("the Grafana dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("dashboard panels");
    let rows: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    for stage in [
        "producer",
        "dedupe",
        "enrich",
        "sink-scylla",
        "sink-elasticsearch",
    ] {
        assert!(
            rows.contains(&stage),
            "no dashboard row for {stage}: {rows:?}"
        );
    }

    let rules = std::fs::read_to_string(ops_dir().join("prometheus/alerts.yml")).expect("rules");
    for (file, text) in [("alerts.yml", &rules), ("redstream.json", &dashboard_text)] {
        for word in metric_words(text) {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| word.strip_suffix(s).filter(|b| defined.contains(*b)))
                .unwrap_or(&word);
            assert!(
                defined.contains(base),
                "{file} uses {word}, which no stage exports (known: {defined:?})"
            );
        }
    }

    let objects = std::fs::read_to_string(ops_dir().join("kibana/redstream.ndjson"))
        .expect("Kibana objects readable");
    let objects: Vec<serde_json::Value> = objects
        .lines()
        .map(|l| serde_json::from_str(l).expect("each Kibana object is a JSON line"))
        .collect();
    let ids: Vec<&str> = objects.iter().filter_map(|o| o["id"].as_str()).collect();
    for object in &objects {
        for reference in object["references"].as_array().into_iter().flatten() {
            let id = reference["id"].as_str().unwrap_or_default();
            assert!(
                ids.contains(&id),
                "Kibana object {} refers to missing {id}",
                object["id"]
            );
        }
    }
    assert!(objects.iter().any(|o| o["type"] == "dashboard"));
    assert!(objects.iter().any(|o| o["type"] == "index-pattern"));
}

#[test]
fn systemd_failure_hook_posts_to_the_webhook() {
    let webhook = Webhook::start().expect("webhook listens");
    let script = ops_dir().join("systemd/notify-failure");
    let out = Command::new("sh")
        .arg(&script)
        .arg("redstream@enrich.service")
        .env("REDSTREAM_NOTIFY_URL", &webhook.url)
        .output()
        .expect("the hook runs");
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let message = webhook
        .received
        .recv_timeout(Duration::from_secs(10))
        .expect("the hook posted to the webhook");
    assert_eq!(message.body["unit"], "redstream@enrich.service");
    assert_eq!(message.body["status"], "failed");
    for unit in ["redstream@.service", "redstream-producer-live.service"] {
        let text = std::fs::read_to_string(ops_dir().join("systemd").join(unit)).expect("unit");
        for line in [
            "Restart=on-failure",
            "StartLimitBurst=",
            "OnFailure=redstream-notify@%n.service",
        ] {
            assert!(text.contains(line), "{unit} lacks {line}");
        }
    }
}

/// Real Prometheus scrapes every long-running stage of a running pipeline while a sample flows
/// through it, and sees each one up and counting the items it read.
#[test]
fn prometheus_scrapes_every_stage_of_a_running_pipeline() {
    if !require_stack("prometheus_scrapes_every_stage_of_a_running_pipeline") {
        return;
    }
    let prometheus_bin = tool("prometheus", "prometheus").unwrap_or_else(|e| panic!("{e:#}"));
    let run = RunNames::fresh("obs-all", &run_root()).expect("run folder");
    run.producer(&["topics"]).expect("topics are created");

    // Pipeline::start puts stage i on metrics port base + 1 + i.
    const BASE: u16 = 19_300;
    let mut pipeline = Pipeline::start(&run, BASE).expect("stages start");
    let targets: Vec<(String, String)> = STAGES
        .iter()
        .enumerate()
        .map(|(i, (_, binary))| {
            (
                binary.to_string(),
                format!("127.0.0.1:{}", BASE + 1 + i as u16),
            )
        })
        .collect();
    let jobs: String = targets
        .iter()
        .map(|(job, target)| {
            format!(
                "  - job_name: {job}\n    scrape_timeout: 1s\n    \
                 static_configs: [{{ targets: [\"{target}\"] }}]\n"
            )
        })
        .collect();
    let prometheus_addr = format!("127.0.0.1:{}", free_port().expect("port"));
    let prom_dir = run.dir.join("prometheus");
    std::fs::create_dir_all(&prom_dir).expect("prometheus folder");
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n{jobs}"),
    )
    .expect("prometheus config written");
    let mut prometheus = Daemon::start(
        "prometheus",
        &prometheus_bin,
        &[
            format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", prom_dir.join("data").display()),
            format!("--web.listen-address={prometheus_addr}"),
        ],
        &prom_dir.join("prometheus.log"),
    )
    .expect("prometheus starts");

    let (lines, stats) = redstream_tests::sample::generate(5, 20, 3);
    let input = run.dir.join("sample.ndjson");
    std::fs::write(&input, lines.join("\n") + "\n").expect("sample written");
    run.producer(&["replay", &input.display().to_string()])
        .expect("replay runs");
    pipeline
        .wait_drained(&run, Duration::from_secs(120))
        .expect("pipeline drains");

    // Every stage read something; the sinks read every enriched item.
    let distinct = (stats.distinct_posts + stats.distinct_comments) as f64;
    for (job, target) in &targets {
        let seen = wait_for(Duration::from_secs(30), || {
            prometheus.check_alive().expect("prometheus keeps running");
            let up = sample(&prometheus_addr, "up", job)?;
            let read = sample(&prometheus_addr, "redstream_items_in_total", job)?;
            (up == 1.0 && read >= distinct).then_some(read)
        });
        assert!(
            seen.is_some(),
            "prometheus at {prometheus_addr} never saw {job} at {target} up with at least \
             {distinct} items read (logs in {})",
            run.dir.display()
        );
    }
    pipeline.stop().expect("every stage exits 0 on SIGTERM");
}
