//! Program cost: ns per packet of the bond's egress program of each mode, through
//! BPF_PROG_TEST_RUN with a million back-to-back runs per trial, against a floor program that
//! only redirects (`bench_floor`, from the benchmark object loaded next to the data plane's;
//! same run, trials interleaved).

use bondxdp_common::{HashPolicy, Mode, testing::Frame};

use super::{Row, Section, Target};
use crate::testrun::with_harness;

/// The cases measured: name, mode, hash policy.
const CASES: &[(&str, Mode, HashPolicy)] = &[
    ("balance-rr", Mode::BalanceRr, HashPolicy::Layer2),
    ("active-backup", Mode::ActiveBackup, HashPolicy::Layer2),
    ("balance-xor layer2", Mode::BalanceXor, HashPolicy::Layer2),
    (
        "balance-xor layer2+3",
        Mode::BalanceXor,
        HashPolicy::Layer23,
    ),
    (
        "balance-xor layer3+4",
        Mode::BalanceXor,
        HashPolicy::Layer34,
    ),
    (
        "balance-xor encap3+4",
        Mode::BalanceXor,
        HashPolicy::Encap34,
    ),
];

/// The floor: a tc program of the benchmark object ([`bondxdp::loader::BENCH_OBJECT`]) that
/// only calls `bpf_redirect`.
pub const FLOOR_PROGRAM: &str = "bench_floor";

/// Target: each mode within 1.3x the floor.
pub const TARGET: f64 = 1.3;

/// Runs the section.
pub fn run(trials: usize, repeat: u32) -> Section {
    // A representative packet: IPv4/TCP, 64 bytes on the wire.
    let frame = Frame::eth(0x0800)
        .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 6, 0, 0)
        .ports(40000, 5201)
        .pad_to(64)
        .build();
    let mut floor = Vec::new();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
    let mut broadcast = Vec::new();
    let mut load_aware = Vec::new();
    with_harness(3, Mode::BalanceRr, |h| {
        h.load_bench_program(FLOOR_PROGRAM);
        for _ in 0..trials {
            floor.push(h.time_ns(FLOOR_PROGRAM, &frame, repeat));
            for (i, (_, mode, policy)) in CASES.iter().enumerate() {
                h.set(|c| {
                    c.mode = *mode as u32;
                    c.hash_policy = *policy as u32;
                });
                samples[i].push(h.time_ns(h.egress_program(), &frame, repeat));
            }
            // load-aware: the frame's flow is pinned after the first run, so this prices the
            // per-packet path of an established flow (flowlet lookup and timestamp).
            h.set(|c| c.mode = Mode::LoadAware as u32);
            load_aware.push(h.time_ns(h.egress_program(), &frame, repeat));
            h.set(|c| c.mode = Mode::Broadcast as u32);
            // Broadcast really transmits its clones: fewer runs.
            broadcast.push(h.time_ns(h.egress_program(), &frame, (repeat / 20).max(1000)));
        }
    });
    let floor = Row::new("floor (redirect only)", "ns/packet", floor);
    let mut rows = vec![floor.clone()];
    for (i, (name, _, _)) in CASES.iter().enumerate() {
        rows.push(
            Row::new(*name, "ns/packet", std::mem::take(&mut samples[i]))
                .against(&floor)
                .target(Target::AtMost(TARGET)),
        );
    }
    rows.push(Row::new("load-aware, established flow", "ns/packet", load_aware).against(&floor));
    rows.push(
        Row::new(
            "broadcast (3 members, 2 clones sent)",
            "ns/packet",
            broadcast,
        )
        .against(&floor),
    );
    Section {
        title: "Program cost".into(),
        method: format!(
            "The egress program of each mode on a 64-byte IPv4/TCP frame via BPF_PROG_TEST_RUN ({repeat} runs per \
             trial, {trials} trials, interleaved), 3 members up; the floor is a program that only \
             calls bpf_redirect. Broadcast clones really leave through veths and has no target; \
             load-aware (a flow table lookup per packet, like multi-wan's) has none either."
        ),
        rows,
    }
}
