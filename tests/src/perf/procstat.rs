//! CPU time and peak memory of a running process, read from `/proc` the way `ps` does, so the
//! benchmark can charge each stage for the CPU it used and the memory it held.

use std::sync::OnceLock;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// User plus system CPU seconds since the process started.
    pub cpu_secs: f64,
    /// Peak resident set size (`VmHWM`) in KiB; 0 once the process has exited.
    pub peak_rss_kib: u64,
    /// The process has exited and waits to be reaped (its CPU counters are final).
    pub exited: bool,
}

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`, 100 on Linux in practice).
fn ticks_per_sec() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Reads `/proc/<pid>/stat` (utime + stime) and `/proc/<pid>/status` (VmHWM); `None` when the
/// process is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are
    // state (3), ..., utime (14), stime (15).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = *fields.first()?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let peak_rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0);
    Some(ProcSample {
        cpu_secs: (utime + stime) / ticks_per_sec(),
        peak_rss_kib,
        exited: state == "Z" || state == "X",
    })
}

/// The services of the local stack (`scripts/stack`) that are running, by the pid files it
/// keeps under `$REDSTREAM_STATE` (default `<repo>/.stack`).
pub fn stack_pids() -> Vec<(String, u32)> {
    let state = std::env::var_os("REDSTREAM_STATE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(".stack")
        });
    ["kafka", "cassandra", "opensearch"]
        .iter()
        .filter_map(|svc| {
            let pid = std::fs::read_to_string(state.join(svc).join(format!("{svc}.pid"))).ok()?;
            let pid: u32 = pid.trim().parse().ok()?;
            sample(pid).map(|_| (svc.to_string(), pid))
        })
        .collect()
}

/// CPU used by a set of processes between [`CpuLedger::open`] and [`CpuLedger::close`]: who
/// spent the machine's cores during a run.
pub struct CpuLedger {
    open: Vec<(String, u32, f64)>,
}

impl CpuLedger {
    pub fn open(processes: &[(String, u32)]) -> Self {
        Self {
            open: processes
                .iter()
                .filter_map(|(name, pid)| Some((name.clone(), *pid, sample(*pid)?.cpu_secs)))
                .collect(),
        }
    }

    /// Adds a process that starts after the ledger was opened (all its CPU counts).
    pub fn add(&mut self, name: &str, pid: u32) {
        self.open.push((name.to_string(), pid, 0.0));
    }

    /// CPU seconds per process since it was opened or added; `last_seen` gives the final
    /// reading of processes that have exited since (their `/proc` entry is gone).
    pub fn close(&self, last_seen: &[(u32, f64)]) -> Vec<(String, f64)> {
        self.open
            .iter()
            .map(|(name, pid, start)| {
                let now = sample(*pid).map(|s| s.cpu_secs).or_else(|| {
                    last_seen
                        .iter()
                        .find(|(p, _)| p == pid)
                        .map(|(_, cpu)| *cpu)
                });
                (name.clone(), now.map_or(0.0, |cpu| (cpu - start).max(0.0)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        // Burn a little CPU so that the counters cannot both be zero.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.cpu_secs > 0.0, "{s:?}");
        assert!(s.peak_rss_kib > 1000, "{s:?}");
        assert!(!s.exited);
    }
}
