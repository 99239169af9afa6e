//! What a replay of some dump files must leave in the stores, computed independently of the
//! pipeline: normalize every line the way the producer does and keep, per fullname, the
//! snapshot with the highest version.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context;
use redstream_schemas::{normalize_line, Item, SnapshotOrigin};

/// One of the shared real dump files (`../shared/data/reddit/dumps/<name>`, beside the
/// checkout), read by path and never copied into the project.
pub fn shared_dump(name: &str) -> std::path::PathBuf {
    shared_dumps_dir().join(name)
}

pub fn shared_dumps_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/reddit/dumps")
}

/// Where the stack tests keep their run folders (logs, generated inputs).
pub fn test_runs_dir(kind: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(kind)
}

/// The final state per fullname, and the lines that are not items.
#[derive(Debug, Default)]
pub struct Expected {
    pub latest: BTreeMap<String, Item>,
    /// (file, 1-based line number) of every line that must be dead-lettered.
    pub malformed: Vec<(String, u64)>,
    pub lines: u64,
}

impl Expected {
    pub fn posts(&self) -> i64 {
        self.latest.keys().filter(|k| k.starts_with("t3_")).count() as i64
    }

    pub fn comments(&self) -> i64 {
        self.latest.keys().filter(|k| k.starts_with("t1_")).count() as i64
    }

    /// Adds one plain NDJSON file (the harness does not decompress).
    pub fn add_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let mtime = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .with_context(|| format!("cannot stat {}", path.display()))?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = line?;
            let line_no = i as u64 + 1;
            self.lines += 1;
            let origin = SnapshotOrigin {
                fallback_retrieved_utc: mtime,
                line_no,
            };
            match normalize_line(&line, &origin) {
                Ok(item) => {
                    let keep = self
                        .latest
                        .get(item.fullname())
                        .is_none_or(|old| old.version() < item.version());
                    if keep {
                        self.latest.insert(item.fullname().to_string(), item);
                    }
                }
                Err(_) => self.malformed.push((path.display().to_string(), line_no)),
            }
        }
        Ok(())
    }
}
