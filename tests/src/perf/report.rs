//! The benchmark's verdict: each stage's throughput as a ratio of its baseline, the targets of
//! issue 6 beside them, a table for people and JSON for tools.

use serde_json::{json, Value};

use super::measure::round;

/// One target: a measured value, the bound, and which side of it passes.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: &'static str,
    /// What the value is (the ratio or quantity, in words).
    pub what: String,
    pub value: Option<f64>,
    pub bound: f64,
    /// True when the value must be at least the bound, false when at most.
    pub at_least: bool,
}

impl Target {
    pub fn at_least(name: &'static str, what: String, value: Option<f64>, bound: f64) -> Self {
        Self {
            name,
            what,
            value,
            bound,
            at_least: true,
        }
    }

    pub fn at_most(name: &'static str, what: String, value: Option<f64>, bound: f64) -> Self {
        Self {
            at_least: false,
            ..Self::at_least(name, what, value, bound)
        }
    }

    pub fn passed(&self) -> Option<bool> {
        let v = self.value?;
        Some(if self.at_least {
            v >= self.bound
        } else {
            v <= self.bound
        })
    }

    pub fn verdict(&self) -> &'static str {
        match self.passed() {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "n/a",
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "target": self.name,
            "what": self.what,
            "value": self.value.map(|v| round(v, 3)),
            "bound": self.bound,
            "at_least": self.at_least,
            "verdict": self.verdict(),
        })
    }
}

/// One row of the stage table.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub items: i64,
    pub rate: f64,
    pub cpu_per_million: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub baseline: Option<(String, f64)>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

/// The stage table and the targets, as printed at the end of a run.
pub fn render(rows: &[Row], targets: &[Target]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "| {:<34} | {:>9} | {:>10} | {:>12} | {:>9} | {:<28} | {:>6} |\n",
        "run", "items", "items/s", "CPU s / 1M", "peak MiB", "baseline", "ratio"
    ));
    out.push_str(&format!(
        "|{:-<36}|{:->11}|{:->12}|{:->14}|{:->11}|{:-<30}|{:->8}|\n",
        "", "", "", "", "", "", ""
    ));
    for r in rows {
        let (base, ratio) = match &r.baseline {
            Some((name, rate)) if *rate > 0.0 => (name.clone(), format!("{:.2}", r.rate / rate)),
            _ => ("-".into(), "-".into()),
        };
        out.push_str(&format!(
            "| {:<34} | {:>9} | {:>10.0} | {:>12} | {:>9} | {:<28} | {:>6} |\n",
            r.name,
            r.items,
            r.rate,
            opt(r.cpu_per_million, 1),
            opt(r.peak_rss_mib, 1),
            base,
            ratio
        ));
    }
    out.push('\n');
    out.push_str(&format!(
        "| {:<26} | {:<56} | {:>9} | {:>8} | {:<7} |\n",
        "target", "measured", "value", "bound", "verdict"
    ));
    out.push_str(&format!(
        "|{:-<28}|{:-<58}|{:->11}|{:->10}|{:-<9}|\n",
        "", "", "", "", ""
    ));
    for t in targets {
        out.push_str(&format!(
            "| {:<26} | {:<56} | {:>9} | {:>8} | {:<7} |\n",
            t.name,
            t.what,
            opt(t.value, 2),
            format!("{} {}", if t.at_least { ">=" } else { "<=" }, t.bound),
            t.verdict()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_bound_direction() {
        let fast = Target::at_least("producer", "ratio".into(), Some(0.75), 0.7);
        let slow = Target::at_least("dedupe", "ratio".into(), Some(0.5), 0.8);
        let small = Target::at_most("memory", "bytes".into(), Some(52.0), 64.0);
        let unknown = Target::at_most("memory", "bytes".into(), None, 64.0);
        assert_eq!(fast.verdict(), "pass");
        assert_eq!(slow.verdict(), "FAIL");
        assert_eq!(small.verdict(), "pass");
        assert_eq!(unknown.verdict(), "n/a");
        let table = render(&[], &[fast, slow]);
        assert!(table.contains("FAIL") && table.contains("pass"), "{table}");
    }
}
