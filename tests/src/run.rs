//! One pipeline run with names of its own: topics under a fresh prefix, a fresh keyspace and
//! fresh indices, every stage as its own process, logs in the run folder.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::drain::{self, GroupInput};
use crate::processes::{bin_path, Stage};

/// Names and settings of one isolated run.
#[derive(Debug, Clone)]
pub struct RunNames {
    pub prefix: String,
    pub keyspace: String,
    pub index_prefix: String,
    pub brokers: String,
    pub dir: PathBuf,
}

impl RunNames {
    /// Fresh names from `tag` and the current time, with logs under `root/<prefix>`.
    pub fn fresh(tag: &str, root: &Path) -> anyhow::Result<Self> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let prefix = format!("{tag}-{stamp}");
        let dir = root.join(&prefix);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self {
            keyspace: prefix.replace('-', "_"),
            index_prefix: prefix.clone(),
            prefix,
            brokers: std::env::var("REDSTREAM_KAFKA__BROKERS")
                .unwrap_or_else(|_| "127.0.0.1:9092".into()),
            dir,
        })
    }

    /// Environment that points every stage at this run's names.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("REDSTREAM_KAFKA__BROKERS".into(), self.brokers.clone()),
            ("REDSTREAM_TOPICS__PREFIX".into(), self.prefix.clone()),
            ("REDSTREAM_SCYLLA__KEYSPACE".into(), self.keyspace.clone()),
            (
                "REDSTREAM_ELASTICSEARCH__INDEX_PREFIX".into(),
                self.index_prefix.clone(),
            ),
        ]
    }

    /// What the run's keyspace and indices hold now, at the stores of the environment
    /// (`StoreEndpoints::from_env`). Panics when a store does not answer: for tests.
    pub fn store_counts(&self, rt: &tokio::runtime::Runtime) -> crate::stores::StoreCounts {
        rt.block_on(crate::stores::count_stores(
            &crate::stores::StoreEndpoints::from_env(),
            &self.keyspace,
            &self.index_prefix,
        ))
        .expect("stores answer")
    }

    pub fn topic(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    /// The four consumer groups and what each reads.
    pub fn groups(&self) -> Vec<GroupInput> {
        let g = |group: &str, topic: &str| GroupInput {
            group: format!("{}.{group}", self.prefix),
            topic: self.topic(topic),
        };
        vec![
            g("dedupe", "raw"),
            g("enrich", "unique"),
            g("sink-scylla", "enriched"),
            g("sink-elasticsearch", "enriched"),
        ]
    }

    /// Runs a producer subcommand to completion and returns its stdout.
    pub fn producer(&self, args: &[&str]) -> anyhow::Result<String> {
        let path = bin_path("redstream-producer")?;
        let log = self
            .dir
            .join(format!("producer-{}.log", args.first().unwrap_or(&"run")));
        let err = std::fs::File::create(&log)?;
        let output = Command::new(&path)
            .args(args)
            .envs(self.env())
            .env("REDSTREAM_LOG_FORMAT", "text")
            .stderr(err)
            .output()
            .with_context(|| format!("cannot run {}", path.display()))?;
        if !output.status.success() {
            bail!(
                "redstream-producer {} failed ({}); log {}:\n{}",
                args.join(" "),
                output.status,
                log.display(),
                crate::processes::tail(&log, 30)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// The four long-running stages of a run.
pub struct Pipeline {
    pub stages: Vec<Stage>,
}

/// The stage binaries, their names and the metrics port each gets in a run (`base + i`).
pub const STAGES: [(&str, &str); 4] = [
    ("dedupe", "redstream-dedupe"),
    ("enrich", "redstream-enrich"),
    ("sink-scylla", "redstream-sink-scylla"),
    ("sink-elasticsearch", "redstream-sink-elasticsearch"),
];

impl Pipeline {
    /// Starts every stage; metrics ports are `metrics_base + 1..=4`.
    pub fn start(run: &RunNames, metrics_base: u16) -> anyhow::Result<Self> {
        let mut stages = Vec::new();
        for (i, (name, binary)) in STAGES.iter().enumerate() {
            let addr = format!("127.0.0.1:{}", metrics_base + 1 + i as u16);
            let log = run.dir.join(format!("{name}.log"));
            stages.push(Stage::start(
                name,
                binary,
                &["--metrics-addr", &addr],
                &run.env(),
                &log,
            )?);
        }
        Ok(Self { stages })
    }

    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.stages.iter_mut().try_for_each(Stage::check_alive)
    }

    /// Waits until every group has consumed and committed all of its input.
    pub fn wait_drained(&mut self, run: &RunNames, timeout: Duration) -> anyhow::Result<()> {
        let groups = run.groups();
        drain::wait_drained(
            &run.brokers,
            &groups,
            timeout,
            Duration::from_millis(1500),
            || self.check_alive(),
        )
    }

    /// SIGTERM to every stage; fails if one did not exit cleanly.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let mut failures = Vec::new();
        for stage in &mut self.stages {
            match stage.stop(Duration::from_secs(30)) {
                Some(status) if status.success() => {}
                other => failures.push(format!(
                    "{} exited with {other:?} (log {})",
                    stage.name,
                    stage.log.display()
                )),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            bail!("stages did not stop cleanly: {}", failures.join("; "))
        }
    }
}
