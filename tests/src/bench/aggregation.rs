//! Aggregation on rate-limited links: two links of rate R (tbf on the sending side); bonds
//! should carry close to 2R. The 1R reference is one plain link with the same tbf, measured
//! in the same run.

use super::{Row, Section, Target, iperf};
use crate::{Netns, Pair, netns::ADDR_B};

/// Per-link rate.
pub const RATE: &str = "200mbit";
/// balance-xor layer3+4 with 8 flows must reach this fraction of 2R.
pub const XOR_TARGET: f64 = 0.97;
/// balance-rr with one flow must reach this fraction of 2R.
pub const RR_TARGET: f64 = 0.90;

/// Limits `iface` in `ns` to [`RATE`] on egress.
pub fn limit(ns: &Netns, iface: &str, rate: &str) {
    ns.exec_ok(&[
        "tc", "qdisc", "replace", "dev", iface, "root", "tbf", "rate", rate, "burst", "64kb",
        "latency", "50ms",
    ]);
}

fn bonded(tag: &str, mode: &[&str]) -> Pair {
    let p = Pair::new(tag, 2);
    for i in 0..2 {
        limit(&p.a, &format!("a{i}"), RATE);
    }
    p.bond_both(mode);
    p
}

/// Runs the section.
pub fn run(trials: usize, secs: u32) -> Section {
    let single = Pair::new("bag1", 1);
    super::plain_link(&single, "pa", "pb", "198.19.0.1", "198.19.0.2");
    limit(&single.a, "pa", RATE);
    let xor = bonded(
        "bagx",
        &["--mode", "balance-xor", "--xmit-hash-policy", "layer3+4"],
    );
    let rr = bonded("bagr", &["--mode", "balance-rr"]);
    let (mut one, mut x, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..trials {
        one.push(iperf::tcp(&single.a, &single.b, "198.19.0.2", 5401, 1, secs) / 1e6);
        x.push(iperf::tcp(&xor.a, &xor.b, ADDR_B, 5402, 8, secs) / 1e6);
        r.push(iperf::tcp(&rr.a, &rr.b, ADDR_B, 5403, 1, secs) / 1e6);
    }
    let one = Row::new("single link, 1 flow (1R reference)", "Mbit/s", one);
    let two_r = Row {
        name: "2R (twice the reference)".into(),
        samples: one.samples.iter().map(|v| v * 2.0).collect(),
        median: one.median * 2.0,
        min: one.min * 2.0,
        max: one.max * 2.0,
        ..one.clone()
    };
    let x = Row::new("balance-xor layer3+4, 8 flows", "Mbit/s", x)
        .against(&two_r)
        .target(Target::AtLeast(XOR_TARGET));
    let r = Row::new("balance-rr, 1 flow", "Mbit/s", r)
        .against(&two_r)
        .target(Target::AtLeast(RR_TARGET));
    Section {
        title: "Aggregation on rate-limited links".into(),
        method: format!(
            "2 links of R = {RATE} (tbf on the sender's members), iperf3 TCP {secs} s per trial, \
             {trials} trials interleaved; ratios against twice the single-link reference measured \
             the same way."
        ),
        rows: vec![one, two_r, x, r],
    }
}
