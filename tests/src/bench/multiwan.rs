//! multi-wan: aggregate throughput over two ISPs of rates R and 2R against the way people do
//! it in the kernel today (an ECMP default route with per-uplink nftables masquerade, as
//! mwan3 sets up) and the best single uplink, all in the same run on the same links; the
//! silent-failure detection time with default probe settings; the per-packet cost of the
//! translation path against the plain balance-xor program.

use std::time::{Duration, SystemTime};

use bondxdp_common::{
    Mode,
    config::{UPLINK_V4, Uplink},
    multi_wan::addr_from_bytes,
    testing::ip,
};

use super::{Row, Section, Target, iperf};
use crate::{
    controller::Controller,
    testrun::{TC_ACT_REDIRECT, with_harness},
    wan::{SERVER4, Wan},
};

/// Rate of the slower uplink; the other has twice as much.
pub const RATE_MBIT: u64 = 100;
/// bondxdp must reach this fraction of 3R...
pub const AGGREGATE_TARGET: f64 = 0.90;
/// ...and detect a silent failure within this, with default settings.
pub const DETECTION_TARGET_MS: f64 = 1000.0;
/// The translation path within this factor of the plain balance-xor program.
pub const COST_TARGET: f64 = 1.5;
/// mwan3's defaults: a probe every 10 s, down after 5 lost.
const MWAN3_DETECTION_S: f64 = 50.0;

/// Runs the section.
pub fn run(trials: usize, secs: u32, detection_trials: usize, repeat: u32) -> Section {
    let mut rows = throughput(trials, secs);
    rows.extend(detection(detection_trials));
    rows.extend(cost(trials, repeat));
    Section {
        title: "Multi-WAN".into(),
        method: format!(
            "Two ISPs that each NAT (nftables masquerade), uplinks of R = {RATE_MBIT} Mbit/s \
             and 2R (tbf at the ISP), 16 TCP flows to one server, {secs} s per trial, {trials} \
             trials interleaved: bondxdp multi-wan (weights 1:2), the kernel's ECMP default \
             route (weights 1:2, L4 hash) with masquerade on each uplink, and the faster uplink \
             alone; each as a fraction of 3R. Detection: a silent failure beyond one ISP's \
             gateway (its link stays up), default probe settings, {detection_trials} trials; \
             mwan3's figure is computed from its defaults (a probe every 10 s, down after 5 \
             lost), not run. Cost: BPF_PROG_TEST_RUN of the egress program on a packet of an \
             established IPv4/TCP flow ({repeat} runs per trial) against balance-xor \
             layer3+4's program on the same packet."
        ),
        rows,
    }
}

fn throughput(trials: usize, secs: u32) -> Vec<Row> {
    let wan = Wan::new("bmw", 2);
    wan.limit(0, &format!("{RATE_MBIT}mbit"));
    wan.limit(1, &format!("{}mbit", 2 * RATE_MBIT));
    let h = &wan.home;
    h.exec_ok(&["sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1"]);
    h.exec_ok(&["nft", "add table ip masq"]);
    h.exec_ok(&[
        "nft",
        "add chain ip masq post { type nat hook postrouting priority 100 ; }",
    ]);
    for u in ["u0", "u1"] {
        h.exec_ok(&[
            "nft",
            &format!("add rule ip masq post oifname {u} masquerade"),
        ]);
    }
    let three_r = (3 * RATE_MBIT) as f64;
    let (mut bond, mut ecmp, mut single) = (Vec::new(), Vec::new(), Vec::new());
    let port = |base: u16, t: usize| base + t as u16;
    for t in 0..trials {
        // bondxdp (its routes win over the default routes while it is up).
        wan.bond(&["--weight", "u0=1", "--weight", "u1=2"]);
        bond.push(iperf::tcp(h, &wan.inet, SERVER4, port(5601, t), 16, secs) / 1e6 / three_r);
        h.bondxdp_ok(&["down", "mw0"]);
        // ECMP: one default route over both uplinks, preferred (metric 0) over theirs.
        h.ip(&[
            "route",
            "add",
            "default",
            "metric",
            "0",
            "nexthop",
            "via",
            "198.18.10.1",
            "dev",
            "u0",
            "weight",
            "1",
            "nexthop",
            "via",
            "198.18.20.1",
            "dev",
            "u1",
            "weight",
            "2",
        ]);
        ecmp.push(iperf::tcp(h, &wan.inet, SERVER4, port(5621, t), 16, secs) / 1e6 / three_r);
        h.ip(&["route", "del", "default", "metric", "0"]);
        // The faster uplink alone.
        h.ip(&[
            "route",
            "add",
            "default",
            "metric",
            "0",
            "via",
            "198.18.20.1",
            "dev",
            "u1",
        ]);
        single.push(iperf::tcp(h, &wan.inet, SERVER4, port(5641, t), 16, secs) / 1e6 / three_r);
        h.ip(&["route", "del", "default", "metric", "0"]);
    }
    let ecmp = Row::new(
        "kernel ECMP + masquerade (mwan3 style), 16 flows",
        "of 3R",
        ecmp,
    );
    let single = Row::new("the 2R uplink alone, 16 flows", "of 3R", single);
    // Held to a fraction of 3R on its own, and to at least the kernel's way as a ratio.
    let absolute = Row::new("bondxdp multi-wan, 16 flows", "of 3R", bond.clone())
        .target(Target::AtLeast(AGGREGATE_TARGET));
    let versus = Row::new("bondxdp multi-wan vs kernel ECMP", "of 3R", bond)
        .against(&ecmp)
        .target(Target::AtLeast(1.0));
    vec![single, ecmp, absolute, versus]
}

fn detection(trials: usize) -> Vec<Row> {
    let wan = Wan::new("bmwd", 2);
    wan.bond(&["--probe", SERVER4]);
    let ctl = Controller::start(&wan.home, &[], 1);
    let mut ms = Vec::new();
    for _ in 0..trials {
        std::thread::sleep(Duration::from_millis(1200));
        let t0 = SystemTime::now();
        wan.kill_upstream(0);
        let down = ctl.when_logged_after(
            &["link down (probes unanswered)", "member=u0"],
            t0,
            Duration::from_secs(5),
        );
        ms.push(down.duration_since(t0).unwrap_or_default().as_secs_f64() * 1000.0);
        wan.revive_upstream(0);
        ctl.when_logged_after(&["link up", "member=u0"], t0, Duration::from_secs(5));
    }
    let mwan3 = Row::new(
        "mwan3 defaults (computed: 5 probes 10 s apart)",
        "ms",
        vec![MWAN3_DETECTION_S * 1000.0],
    );
    let ours = Row::new("bondxdp silent-failure detection, default probes", "ms", ms)
        .target(Target::AtMost(DETECTION_TARGET_MS));
    vec![mwan3, ours]
}

fn cost(trials: usize, repeat: u32) -> Vec<Row> {
    let frame = ip::tcp(
        true,
        &[198, 18, 0, 1],
        &[198, 19, 0, 80],
        40000,
        443,
        0x10,
        &[0; 10],
    );
    let mut xor = Vec::new();
    with_harness(2, Mode::BalanceXor, |h| {
        h.set(|c| c.hash_policy = bondxdp_common::HashPolicy::Layer34 as u32);
        for _ in 0..trials {
            xor.push(h.time_ns(h.egress_program(), &frame, repeat));
        }
    });
    let mut nat = Vec::new();
    with_harness(2, Mode::MultiWan, |h| {
        h.set(|c| {
            // BPF_PROG_TEST_RUN runs the program again and again on the same buffer: with the
            // uplinks' address equal to the inside one, the translation writes what is
            // already there, so every run takes the established-flow path with all its work
            // (lookup, checksum updates, stores) instead of starting a new flow.
            for slot in 0..2 {
                c.uplinks[slot] = Uplink {
                    addr4: u32::from_le_bytes([198, 18, 0, 1]),
                    addr6: addr_from_bytes(&[0; 16]),
                    gw_mac4: [2, 0, 0, 0, 0x10, 1],
                    gw_mac6: [0; 6],
                    pad2: 0,
                    flags: UPLINK_V4,
                    tier: 0,
                    epoch: 1,
                };
            }
        });
        // The flow exists: every timed run is the established-flow path.
        assert_eq!(h.egress(&frame).verdict, TC_ACT_REDIRECT);
        for _ in 0..trials {
            nat.push(h.time_ns(h.egress_program(), &frame, repeat));
        }
    });
    let xor = Row::new("balance-xor layer3+4 egress", "ns/packet", xor);
    let nat = Row::new("multi-wan egress (translation)", "ns/packet", nat)
        .against(&xor)
        .target(Target::AtMost(COST_TARGET));
    vec![xor, nat]
}
