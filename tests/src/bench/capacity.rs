//! Raw capacity: TCP through a 3-member bond over unlimited veths against one plain veth pair
//! between the same two namespaces, same flows, trials interleaved.

use super::{Row, Section, Target, iperf};
use crate::Pair;

/// Target: the bond carries at least 0.95x what one plain veth carries.
pub const TARGET: f64 = 0.95;
const FLOWS: u32 = 4;

/// Runs the section.
pub fn run(trials: usize, secs: u32) -> Section {
    let p = Pair::new("bcap", 3);
    p.bond_both(&["--mode", "balance-xor", "--xmit-hash-policy", "layer3+4"]);
    super::plain_link(&p, "pa", "pb", "198.19.0.1", "198.19.0.2");
    let mut plain = Vec::new();
    let mut bond = Vec::new();
    let run_plain = || iperf::tcp(&p.a, &p.b, "198.19.0.2", 5301, FLOWS, secs) / 1e9;
    let run_bond = || iperf::tcp(&p.a, &p.b, crate::netns::ADDR_B, 5302, FLOWS, secs) / 1e9;
    for trial in 0..trials {
        // Back-to-back pairs, alternating which goes first.
        if trial % 2 == 0 {
            plain.push(run_plain());
            bond.push(run_bond());
        } else {
            bond.push(run_bond());
            plain.push(run_plain());
        }
    }
    let plain = Row::new("one plain veth pair", "Gbit/s", plain);
    let bond = Row::new("3-member bond (balance-xor layer3+4)", "Gbit/s", bond)
        .against_paired(&plain)
        .target(Target::AtLeast(TARGET));
    Section {
        title: "Raw capacity".into(),
        method: format!(
            "iperf3 TCP, {FLOWS} flows, client on CPU 0 and server on CPU 1, {secs} s per \
             trial (1 s omitted), {trials} back-to-back pairs in alternating order, veths \
             without rate limits between the same two namespaces; the ratio is the median of \
             the per-pair ratios."
        ),
        rows: vec![plain, bond],
    }
}
