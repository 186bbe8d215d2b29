//! `cargo xtask bench`: measurements, not tests. Each section measures bondxdp and a baseline
//! in the same run (these shared machines are noisy), repeats trials, and reports the median
//! with min and max, the ratio to the baseline and the target it is held to.
//!
//! This module holds the pure part (statistics, ratios, targets, tables, iperf3 parsing),
//! unit-tested; the sections that drive namespaces and programs live next to it.

pub mod aggregation;
pub mod balance;
pub mod capacity;
pub mod controller;
pub mod failover;
pub mod forwarding;
pub mod iperf;
pub mod multiwan;
pub mod plots;
pub mod prog_cost;
pub mod soak;

use crate::Pair;

/// Adds a plain veth pair `a_if`/`b_if` between the two hosts of `p`, addressed `a_ip`/24
/// and `b_ip`/24: the baseline link.
pub fn plain_link(p: &Pair, a_if: &str, b_if: &str, a_ip: &str, b_ip: &str) {
    let out = std::process::Command::new("ip")
        .args([
            "link",
            "add",
            a_if,
            "netns",
            p.a.name(),
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            p.b.name(),
        ])
        .output()
        .expect("ip link add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (ns, iface, ip) in [(&p.a, a_if, a_ip), (&p.b, b_if, b_ip)] {
        ns.ip(&["addr", "add", &format!("{ip}/24"), "dev", iface]);
        ns.ip(&["link", "set", iface, "up"]);
    }
}

use serde::{Deserialize, Serialize};

/// Median of `v` (mean of the two middle values for even lengths); NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// A target a measured value (or ratio) is held to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// The value must not exceed this.
    AtMost(f64),
    /// The value must reach this.
    AtLeast(f64),
}

impl Target {
    /// Whether `value` meets the target.
    pub fn met_by(&self, value: f64) -> bool {
        match *self {
            Target::AtMost(t) => value <= t,
            Target::AtLeast(t) => value >= t,
        }
    }

    fn describe(&self) -> String {
        match *self {
            Target::AtMost(t) => format!("<= {}", fmt_num(t)),
            Target::AtLeast(t) => format!(">= {}", fmt_num(t)),
        }
    }
}

/// One measured quantity: its trials, and what it is compared with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// What was measured ("balance-xor layer3+4 egress").
    pub name: String,
    /// Unit of the samples ("ns/packet", "Gbit/s", "ms").
    pub unit: String,
    /// One value per trial.
    pub samples: Vec<f64>,
    /// Median of the samples.
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Name of the row this one is divided by, if any.
    pub baseline: Option<String>,
    /// median / baseline median.
    pub ratio: Option<f64>,
    /// What the ratio (or, without a baseline, the median) must meet.
    pub target: Option<Target>,
    /// Whether the target is met.
    pub met: Option<bool>,
}

impl Row {
    /// A row from its samples.
    pub fn new(name: impl Into<String>, unit: impl Into<String>, samples: Vec<f64>) -> Row {
        let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Row {
            name: name.into(),
            unit: unit.into(),
            median: median(&samples),
            min,
            max,
            samples,
            baseline: None,
            ratio: None,
            target: None,
            met: None,
        }
    }

    /// Compares this row with `baseline` (same run): sets the ratio of the medians.
    pub fn against(mut self, baseline: &Row) -> Row {
        self.baseline = Some(baseline.name.clone());
        self.ratio = Some(self.median / baseline.median);
        self.check();
        self
    }

    /// Compares this row with `baseline` trial by trial: the ratio is the median of the
    /// per-trial ratios. For throughput measured in back-to-back pairs, where the machine's
    /// speed drifts between pairs more than within one.
    pub fn against_paired(mut self, baseline: &Row) -> Row {
        assert_eq!(self.samples.len(), baseline.samples.len(), "paired trials");
        let ratios: Vec<f64> = self
            .samples
            .iter()
            .zip(&baseline.samples)
            .map(|(s, b)| s / b)
            .collect();
        self.baseline = Some(baseline.name.clone());
        self.ratio = Some(median(&ratios));
        self.check();
        self
    }

    /// A row whose trial `i` is the sum of trial `i` of every one of `rows` (links measured
    /// one after the other in the same trial: their total capacity in that trial).
    pub fn sum_of(name: impl Into<String>, rows: &[&Row]) -> Row {
        let first = rows.first().expect("at least one row");
        let n = first.samples.len();
        assert!(
            rows.iter()
                .all(|r| r.samples.len() == n && r.unit == first.unit),
            "summed rows must have the same trials and unit"
        );
        let samples = (0..n)
            .map(|i| rows.iter().map(|r| r.samples[i]).sum())
            .collect();
        Row::new(name, first.unit.clone(), samples)
    }

    /// A row with every sample of this one multiplied by `k` (twice a one-link reference).
    pub fn scaled(&self, name: impl Into<String>, k: f64) -> Row {
        Row::new(
            name,
            self.unit.clone(),
            self.samples.iter().map(|v| v * k).collect(),
        )
    }

    /// Holds the ratio (or the median, without a baseline) to `target`.
    pub fn target(mut self, target: Target) -> Row {
        self.target = Some(target);
        self.check();
        self
    }

    fn check(&mut self) {
        if let Some(t) = self.target {
            self.met = Some(t.met_by(self.ratio.unwrap_or(self.median)));
        }
    }
}

/// A titled group of rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Title.
    pub title: String,
    /// How it was measured.
    pub method: String,
    /// Rows.
    pub rows: Vec<Row>,
}

/// The machine the numbers come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `uname -r`.
    pub kernel: String,
    /// Online CPUs.
    pub cpus: usize,
    /// CPU model.
    pub cpu_model: String,
    /// When (UTC, RFC 3339).
    pub date: String,
}

impl Machine {
    /// Describes this machine.
    pub fn here() -> Machine {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default();
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Machine {
            kernel,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            date,
        }
    }
}

/// Everything one bench run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Where.
    pub machine: Machine,
    /// Reduced run (`--quick`)?
    pub quick: bool,
    /// Sections in order.
    pub sections: Vec<Section>,
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The report as markdown: one table per section.
pub fn render_markdown(r: &Report) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "# bondxdp benchmark{}\n\nkernel {}, {} CPUs ({}), {}\n",
        if r.quick { " (quick)" } else { "" },
        r.machine.kernel,
        r.machine.cpus,
        r.machine.cpu_model,
        r.machine.date
    ));
    for s in &r.sections {
        o.push_str(&format!("\n## {}\n\n{}\n\n", s.title, s.method));
        o.push_str("| measurement | median | min | max | unit | vs | ratio | target | met |\n");
        o.push_str("| --- | ---: | ---: | ---: | --- | --- | ---: | --- | --- |\n");
        for row in &s.rows {
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                row.name,
                fmt_num(row.median),
                fmt_num(row.min),
                fmt_num(row.max),
                row.unit,
                row.baseline.as_deref().unwrap_or(""),
                row.ratio.map(fmt_num).unwrap_or_default(),
                row.target.map(|t| t.describe()).unwrap_or_default(),
                match row.met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "",
                }
            ));
        }
    }
    o
}

/// Throughput in bit/s from `iperf3 -J` output: what the receiver got (TCP), or the
/// stream sum (UDP).
pub fn iperf3_bits_per_second(json: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let end = v.get("end")?;
    end.get("sum_received")
        .or_else(|| end.get("sum"))
        .and_then(|s| s.get("bits_per_second"))
        .and_then(|b| b.as_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn rows_ratios_and_targets() {
        let floor = Row::new("floor", "ns", vec![10.0, 12.0, 11.0]);
        let mode = Row::new("xor", "ns", vec![13.0, 12.0, 14.0])
            .against(&floor)
            .target(Target::AtMost(1.3));
        assert_eq!((mode.median, mode.min, mode.max), (13.0, 12.0, 14.0));
        assert!((mode.ratio.unwrap() - 13.0 / 11.0).abs() < 1e-9);
        assert_eq!(mode.met, Some(true));
        let slow = Row::new("slow", "ns", vec![20.0])
            .against(&floor)
            .target(Target::AtMost(1.3));
        assert_eq!(slow.met, Some(false));
        let gap = Row::new("gap", "ms", vec![3.0, 4.0, 9.0]).target(Target::AtMost(5.0));
        assert_eq!(
            gap.met,
            Some(true),
            "without a baseline the median is checked"
        );
        assert!(Target::AtLeast(0.95).met_by(0.96) && !Target::AtLeast(0.95).met_by(0.9));
    }

    #[test]
    fn paired_ratios_cancel_drift() {
        // The machine slows down over the run; each pair is measured back to back.
        let plain = Row::new("plain", "Gbit/s", vec![40.0, 20.0, 30.0]);
        let bond = Row::new("bond", "Gbit/s", vec![38.0, 19.0, 28.5])
            .against_paired(&plain)
            .target(Target::AtLeast(0.95));
        assert!((bond.ratio.unwrap() - 0.95).abs() < 1e-9);
        assert_eq!(bond.met, Some(true));
        // Ratio of the medians would say 28.5 / 30.0 as well here, but not in general:
        let skew = Row::new("bond", "Gbit/s", vec![38.0, 29.0, 19.0]).against_paired(&plain);
        assert!(
            (skew.ratio.unwrap() - 0.95).abs() < 1e-9,
            "{:?}",
            skew.ratio
        );
    }

    #[test]
    fn sums_and_scales_trial_by_trial() {
        let r = Row::new("R", "Mbit/s", vec![95.0, 90.0, 96.0]);
        let three = Row::new("3R", "Mbit/s", vec![285.0, 288.0, 270.0]);
        let total = Row::sum_of("total", &[&r, &three]);
        assert_eq!(total.samples, vec![380.0, 378.0, 366.0]);
        assert_eq!((total.median, total.min, total.max), (378.0, 366.0, 380.0));
        // A bond measured in the same trials, as a fraction of each trial's total.
        let bond = Row::new("bond", "Mbit/s", vec![361.0, 378.0, 347.7])
            .against_paired(&total)
            .target(Target::AtLeast(0.95));
        assert!(
            (bond.ratio.unwrap() - 0.95).abs() < 1e-9,
            "{:?}",
            bond.ratio
        );
        assert_eq!(bond.met, Some(true));
        let two = r.scaled("2R", 2.0);
        assert_eq!(two.samples, vec![190.0, 180.0, 192.0]);
        assert_eq!((two.median, two.min, two.max), (190.0, 180.0, 192.0));
        assert_eq!(two.unit, "Mbit/s");
    }

    #[test]
    fn markdown_has_every_row() {
        let floor = Row::new("floor", "ns/packet", vec![10.0]);
        let r = Report {
            machine: Machine {
                kernel: "6.18".into(),
                cpus: 2,
                cpu_model: "x".into(),
                date: "d".into(),
            },
            quick: true,
            sections: vec![Section {
                title: "Program cost".into(),
                method: "m".into(),
                rows: vec![
                    floor.clone(),
                    Row::new("rr", "ns/packet", vec![20.0])
                        .against(&floor)
                        .target(Target::AtMost(1.3)),
                ],
            }],
        };
        let md = render_markdown(&r);
        assert!(md.contains("## Program cost"));
        assert!(
            md.contains(
                "| rr | 20.0 | 20.0 | 20.0 | ns/packet | floor | 2.00 | <= 1.30 | **no** |"
            ),
            "{md}"
        );
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r);
    }

    #[test]
    fn iperf3_json() {
        let tcp = r#"{"end":{"sum_sent":{"bits_per_second":2e9},"sum_received":{"bits_per_second":1.5e9}}}"#;
        assert_eq!(iperf3_bits_per_second(tcp), Some(1.5e9));
        let udp = r#"{"end":{"sum":{"bits_per_second":9.5e8,"lost_percent":0.1}}}"#;
        assert_eq!(iperf3_bits_per_second(udp), Some(9.5e8));
        assert_eq!(iperf3_bits_per_second("{}"), None);
        assert_eq!(iperf3_bits_per_second("not json"), None);
    }
}
