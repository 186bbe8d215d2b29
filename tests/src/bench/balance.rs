//! Balancing over unequal links (issue 5): links of R and 3R (tbf on the sending side), 16
//! TCP flows, for load-aware, balance-xor layer3+4, balance-rr and the kernel's own weighted
//! ECMP multipath route over plain links with the same limits; and balance-rr with one flow
//! over R + R. Everything as a fraction of what the links carry alone, measured in the same
//! trial.
//!
//! Unpaced, every link that gets at least one of the 16 flows is filled, so any placement
//! that leaves no link empty scores 1.00. The paced rows tell placements apart: each flow is
//! held to a sixteenth of the links' measured total, so the flows fill both links exactly when
//! R carries 4 of them and 3R 12, and every flow placed elsewhere is lost capacity (one flow
//! off: 0.94; hashing 8:8 as balance-xor does: 0.75). A burst of flows placed by a weighted
//! hash (ECMP, 1:3) puts a binomial number of them on R: exactly 4 with probability 0.23, 3
//! or 5 with 0.39; so that row varies from trial to trial much more than the unpaced ones.
//! load-aware (weights from idle, 1:3) places new flows by smooth weighted round-robin: any
//! 4 consecutive new flows put exactly one on R, so 16 put exactly 4 there (a flow moves
//! afterwards only in a pause longer than the flowlet timeout, which paced flows seldom
//! make, so the placement is what counts).

use std::time::Duration;

use super::{Row, Section, Target, aggregation::limit, iperf, plain_link};
use crate::{Pair, controller::Controller, netns::ADDR_B};

/// The slower link's rate, Mbit/s; the other has three times as much.
pub const RATE_MBIT: u32 = 100;
/// Parallel TCP flows on the R + 3R links.
pub const FLOWS: u32 = 16;
/// load-aware must reach this fraction of the links' total, unpaced and paced.
pub const LOAD_AWARE_TARGET: f64 = 0.95;
/// The address the ECMP route leads to (on the receiver's loopback).
const ECMP_DST: &str = "198.19.9.9";

fn rate(mbit: u32) -> String {
    format!("{mbit}mbit")
}

/// Two hosts joined by links of R and 3R, bonded with `mode` on both sides.
fn unequal(tag: &str, mode: &[&str]) -> Pair {
    let p = Pair::new(tag, 2);
    limit(&p.a, "a0", &rate(RATE_MBIT));
    limit(&p.a, "a1", &rate(3 * RATE_MBIT));
    p.bond_both(mode);
    p
}

/// load-aware on R + 3R with its capacities configured, and a controller on the sender.
fn load_aware() -> (Pair, Controller) {
    let p = Pair::new("bbla", 2);
    limit(&p.a, "a0", &rate(RATE_MBIT));
    limit(&p.a, "a1", &rate(3 * RATE_MBIT));
    let (s0, s1) = (format!("a0={RATE_MBIT}"), format!("a1={}", 3 * RATE_MBIT));
    p.bond_side(
        "a",
        &["--mode", "load-aware", "--speed", &s0, "--speed", &s1],
    );
    p.bond_side("b", &["--mode", "load-aware"]);
    p.ping_ok();
    let ctl = Controller::start(&p.a, &[], 1);
    (p, ctl)
}

/// Plain links l0 (R) and l1 (3R) and a weighted (1:3) multipath route with the L4 hash to
/// [`ECMP_DST`] on the receiver's loopback: the kernel's own way to spread flows by weight.
fn ecmp() -> Pair {
    let p = Pair::new("bbec", 0);
    plain_link(&p, "l0", "m0", "198.19.1.1", "198.19.1.2");
    plain_link(&p, "l1", "m1", "198.19.2.1", "198.19.2.2");
    limit(&p.a, "l0", &rate(RATE_MBIT));
    limit(&p.a, "l1", &rate(3 * RATE_MBIT));
    p.a.exec_ok(&["sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1"]);
    // Segments to the loopback address arrive on either link, from l0's address.
    for conf in ["all", "default", "m0", "m1"] {
        p.b.exec_ok(&[
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{conf}.rp_filter=0"),
        ]);
    }
    p.b.ip(&["addr", "add", &format!("{ECMP_DST}/32"), "dev", "lo"]);
    p.a.ip(&[
        "route",
        "add",
        &format!("{ECMP_DST}/32"),
        "nexthop",
        "via",
        "198.19.1.2",
        "dev",
        "l0",
        "weight",
        "1",
        "nexthop",
        "via",
        "198.19.2.2",
        "dev",
        "l1",
        "weight",
        "3",
    ]);
    p
}

/// Runs the section: `trials` interleaved trials of `secs` seconds each, after `warmup`
/// seconds of traffic through the load-aware bond.
pub fn run(trials: usize, secs: u32, warmup: u32) -> Section {
    let ec = ecmp();
    let (la, _ctl) = load_aware();
    let xor = unequal(
        "bbxo",
        &["--mode", "balance-xor", "--xmit-hash-policy", "layer3+4"],
    );
    let rr = unequal("bbrr", &["--mode", "balance-rr"]);
    let rr2 = Pair::new("bbr2", 2);
    for i in 0..2 {
        limit(&rr2.a, &format!("a{i}"), &rate(RATE_MBIT));
    }
    rr2.bond_both(&["--mode", "balance-rr"]);
    // The controller has measured rates under load before anything is timed.
    if warmup > 0 {
        iperf::tcp(&la.a, &la.b, ADDR_B, 5710, FLOWS, warmup);
        std::thread::sleep(Duration::from_millis(200));
    }
    let mbit = |v: f64| v / 1e6;
    let (mut one, mut three, mut l, mut x, mut r, mut e, mut r2) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut pace, mut lp, mut xp, mut ep) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..trials {
        one.push(mbit(iperf::tcp(
            &ec.a,
            &ec.b,
            "198.19.1.2",
            5701,
            FLOWS,
            secs,
        )));
        three.push(mbit(iperf::tcp(
            &ec.a,
            &ec.b,
            "198.19.2.2",
            5702,
            FLOWS,
            secs,
        )));
        l.push(mbit(iperf::tcp(&la.a, &la.b, ADDR_B, 5703, FLOWS, secs)));
        x.push(mbit(iperf::tcp(&xor.a, &xor.b, ADDR_B, 5704, FLOWS, secs)));
        r.push(mbit(iperf::tcp(&rr.a, &rr.b, ADDR_B, 5705, FLOWS, secs)));
        e.push(mbit(iperf::tcp(&ec.a, &ec.b, ECMP_DST, 5706, FLOWS, secs)));
        r2.push(mbit(iperf::tcp(&rr2.a, &rr2.b, ADDR_B, 5707, 1, secs)));
        // Paced: a sixteenth of this trial's total per flow. The load-aware bond last carried
        // traffic four runs ago, so its weights start from idle, as for a burst of new flows.
        let per_flow = (one[one.len() - 1] + three[three.len() - 1]) / FLOWS as f64;
        pace.push(per_flow);
        let bps = (per_flow * 1e6) as u64;
        lp.push(mbit(iperf::tcp_paced(
            &la.a, &la.b, ADDR_B, 5708, FLOWS, secs, bps,
        )));
        xp.push(mbit(iperf::tcp_paced(
            &xor.a, &xor.b, ADDR_B, 5709, FLOWS, secs, bps,
        )));
        ep.push(mbit(iperf::tcp_paced(
            &ec.a, &ec.b, ECMP_DST, 5711, FLOWS, secs, bps,
        )));
    }
    let unit = "Mbit/s";
    let one = Row::new(format!("R link alone, {FLOWS} flows"), unit, one);
    let three = Row::new(format!("3R link alone, {FLOWS} flows"), unit, three);
    let total = Row::sum_of("R+3R total (sum of the two)", &[&one, &three]);
    let of_total =
        |name: String, samples: Vec<f64>| Row::new(name, unit, samples).against_paired(&total);
    let l = of_total(format!("load-aware, R+3R, {FLOWS} flows"), l)
        .target(Target::AtLeast(LOAD_AWARE_TARGET));
    let x = of_total(format!("balance-xor layer3+4, R+3R, {FLOWS} flows"), x);
    let r = of_total(format!("balance-rr, R+3R, {FLOWS} flows"), r);
    let e = of_total(
        format!("kernel ECMP (nexthop weights 1:3, L4 hash), R+3R, {FLOWS} flows"),
        e,
    );
    let pace = Row::new(format!("pace per flow (total / {FLOWS})"), unit, pace);
    let lp = of_total(format!("load-aware, R+3R, {FLOWS} paced flows"), lp)
        .target(Target::AtLeast(LOAD_AWARE_TARGET));
    let xp = of_total(
        format!("balance-xor layer3+4, R+3R, {FLOWS} paced flows"),
        xp,
    );
    let ep = of_total(
        format!("kernel ECMP (nexthop weights 1:3, L4 hash), R+3R, {FLOWS} paced flows"),
        ep,
    );
    let two_r = one.scaled("R+R total (twice the R link)", 2.0);
    let r2 = Row::new("balance-rr, R+R, 1 flow", unit, r2).against_paired(&two_r);
    Section {
        title: "Balancing over unequal links".into(),
        method: format!(
            "Links of R = {RATE_MBIT} Mbit/s and 3R (tbf on the sender's side), iperf3 TCP \
             {secs} s per trial, {trials} trials interleaved. R+3R with {FLOWS} flows: \
             load-aware (--speed set to the links' rates, default flowlet timeout and \
             rebalance interval, `bondxdp run` on the sender; {warmup} s of traffic before \
             the first trial so its weights come from measured rates), balance-xor layer3+4, \
             balance-rr, and the kernel's weighted multipath route (nexthop weights 1:3, \
             fib_multipath_hash_policy=1) over two plain veth links with the same tbf, to an \
             address on the receiver's loopback. The links' total is measured in each trial: \
             {FLOWS} flows over the ECMP pair's R link alone plus its 3R link alone; each ratio \
             is the median of the per-trial fractions of that total. Paced: the same \
             {FLOWS} flows each held to a sixteenth of that trial's total (iperf3 -b per \
             stream), so only a placement of 4 flows on R and 12 on 3R fills both links; \
             load-aware, balance-xor layer3+4 and ECMP; load-aware's paced run comes four \
             runs after its unpaced one, so its weights start from idle, as for any burst of \
             new flows. R+R: balance-rr with one flow against \
             twice the R link alone."
        ),
        rows: vec![one, three, total, l, x, r, e, pace, lp, xp, ep, two_r, r2],
    }
}
