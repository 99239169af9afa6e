//! The pieces of `redstream-bench` (see BENCHMARKS.md): reading a stage's CPU and memory from
//! `/proc`, measuring a run from outside, the kcat and plain-client baselines, the latency
//! probes, and the report.

pub mod inproc;
pub mod kcat;
pub mod latency;
pub mod measure;
pub mod procstat;
pub mod report;
pub mod storeload;
