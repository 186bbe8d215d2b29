//! Forwarding: packets per second a router delivers out of the bond's members for frames
//! arriving on its LAN side, driven by XDP live frames (BPF_PROG_TEST_RUN with
//! BPF_F_TEST_XDP_LIVE_FRAMES, as xdp-trafficgen does) injected as if received on `lan0`:
//!
//! * bondxdp's fast path (`xdp_lan_rr`, balance-rr's LAN-side program: route (cached FIB
//!   answer), member choice, rewrite, devmap redirect);
//! * the floor: a program that only writes a MAC and redirects through the members' devmap
//!   to one member (it never reads the frame);
//! * for reference, the kernel's and bcc's `xdp_redirect_map` sample as commonly benchmarked:
//!   a per-CPU counter, the MACs swapped (read and written), the same redirect;
//! * the kernel: a program that passes every frame to the stack, which forwards it through
//!   the bond (its tc path) the usual way.
//!
//! The far end counts arrivals in XDP and drops them, so its own stack does not limit the
//! figures. Trials interleaved; same frames for all. Every program but the fast path's comes
//! from the benchmark object ([`loader::BENCH_OBJECT`]).

use std::time::Instant;

use aya::{
    EbpfLoader,
    maps::PerCpuArray,
    programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp},
};
use bondxdp::{fast_path, loader, pins::BondPaths};
use bondxdp_common::{HashPolicy, Mode, testing::Frame};

use super::{Row, Section, Target};
use crate::{router::Routed, testrun::ifindex};

/// Fast path against the floor.
pub const FLOOR_TARGET: f64 = 0.90;
/// Fast path against the kernel's forwarding.
pub const KERNEL_TARGET: f64 = 3.0;

/// The benchmark object's XDP programs this section runs ([`loader::BENCH_OBJECT`]): the
/// floor, the `xdp_redirect_map` sample, the kernel path, and the far end's sink.
pub const FLOOR_PROGRAM: &str = "bench_xdp_floor";
/// See [`FLOOR_PROGRAM`].
pub const SAMPLE_PROGRAM: &str = "bench_xdp_redirect_map";
/// See [`FLOOR_PROGRAM`].
pub const KERNEL_PROGRAM: &str = "bench_xdp_pass";
/// See [`FLOOR_PROGRAM`].
pub const SINK_PROGRAM: &str = "bench_xdp_sink";
/// The sink's per-CPU count of frames it dropped.
pub const SINK_MAP: &str = "BENCH_SINK";
/// The globals the section sets at load time: the member slot the floor and the sample
/// redirect to (a `u32`), and the 34 bytes of headers the kernel path restores.
pub const GLOBALS: [&str; 2] = ["BENCH_XDP_TARGET", "BENCH_XDP_HEADERS"];

/// Frames per trial and variant.
fn frames(quick: bool) -> u32 {
    if quick { 200_000 } else { 2_000_000 }
}

/// Frames per BPF_PROG_TEST_RUN call. Live frames come from a page pool (one page per frame
/// of a batch) whose pages are recycled without rewriting their data, so the TTL the fast
/// path decrements would run out after about 250 reuses of a page with TTL 255: each call
/// starts a fresh pool. (The kernel path's program restores the headers itself.)
const CHUNK: u32 = 64 * 240;

/// Runs `program` on `frame` `count` times as live frames arriving on `ingress`; returns
/// the seconds it took.
fn inject(program: &Xdp, frame: &[u8], ingress: u32, count: u32) -> f64 {
    let mut ctx = [0u8; 24];
    ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    ctx[12..16].copy_from_slice(&ingress.to_ne_bytes());
    let start = Instant::now();
    let mut left = count;
    while left > 0 {
        let n = left.min(CHUNK);
        program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                ctx_in: Some(&ctx),
                repeat: n,
                attrs: TestRunAttrs::new().xdp_live_frames(64),
                ..Default::default()
            })
            .expect("BPF_PROG_TEST_RUN with live frames");
        left -= n;
    }
    start.elapsed().as_secs_f64()
}

/// Runs the section.
pub fn run(trials: usize, quick: bool) -> Section {
    // One link: the floor and the fast path then deliver to the same receiver, whose cost
    // (the veth peer's NAPI, on the injecting CPU) is part of every figure alike.
    let r = Routed::new("bfw", 1);
    // The far end: every member's peer counts and drops in XDP (no bond there).
    let mut sink = r.upstream.enter(|| {
        let mut ebpf = EbpfLoader::new()
            .load(loader::BENCH_OBJECT)
            .expect("load the benchmark object");
        let prog: &mut Xdp = ebpf.program_mut(SINK_PROGRAM).unwrap().try_into().unwrap();
        prog.load().expect("load sink");
        for i in 0..r.n {
            let b = format!("b{i}");
            r.upstream.ip(&["link", "set", &b, "up"]);
            prog.attach(&b, aya::programs::xdp::XdpMode::Driver)
                .expect("attach sink");
        }
        ebpf
    });
    // The router: a bond with the fast path on lan0, and a static neighbour for the far end.
    let members: Vec<String> = (0..r.n).map(|i| format!("a{i}")).collect();
    let mut up = vec![
        "up",
        "bond0",
        "--mode",
        "balance-rr",
        "--forward-from",
        "lan0",
    ];
    for m in &members {
        up.extend_from_slice(&["-m", m]);
    }
    r.router.bondxdp_ok(&up);
    r.router
        .ip(&["addr", "add", "198.18.20.1/24", "dev", "bond0"]);
    r.router.ip(&[
        "neigh",
        "add",
        "198.18.20.2",
        "lladdr",
        "02:00:00:00:20:02",
        "nud",
        "permanent",
        "dev",
        "bond0",
    ]);
    let dst = bondxdp::mac::parse_mac(&r.router.link("lan0").mac).expect("lan0's MAC");
    let mut frame = Frame::eth_between(dst, [2, 0, 0, 0, 0x10, 2], 0x0800)
        .ipv4([198, 18, 10, 2], [198, 18, 20, 2], 17, 0, 0)
        .ports(9000, 9)
        .pad_to(60)
        .build();
    frame[22] = 255; // TTL: see CHUNK
    let frame = Frame(frame).lengths().build();

    let count = frames(quick);
    let (mut fast, mut floor, mut kernel, mut sample) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    r.router.enter(|| {
        let lan = ifindex("lan0");
        // The floor redirects to member slot 0 (a0) through the members' devmap: the
        // benchmark object's devmap of that name is the bond's pinned one.
        let slot0 = 0u32;
        let paths = BondPaths::current("bond0").expect("paths");
        let program = fast_path::lan_program(Mode::BalanceRr, HashPolicy::Layer2);
        let xdp_lan = fast_path::pinned(&paths, program).expect("pinned LAN-side program");
        let headers: [u8; 34] = frame[..34].try_into().unwrap();
        let members_pin = paths.map(fast_path::FWD_MEMBERS);
        let mut bench = EbpfLoader::new()
            .map_pin_path(fast_path::FWD_MEMBERS, members_pin.as_path())
            .override_global(GLOBALS[0], &slot0, true)
            .override_global(GLOBALS[1], &headers, true)
            .load(loader::BENCH_OBJECT)
            .expect("load the benchmark object");
        // Each program is also attached to an idle interface of its own: a BPF_PROG_TEST_RUN
        // of an XDP program that is attached nowhere first installs it in the kernel's XDP
        // dispatcher and removes it afterwards (an RCU grace period per call), which would
        // be charged to the floor and the kernel rows only.
        for (i, name) in [FLOOR_PROGRAM, KERNEL_PROGRAM, SAMPLE_PROGRAM]
            .into_iter()
            .enumerate()
        {
            let (a, b) = (format!("idle{i}"), format!("idle{i}p"));
            r.router
                .ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
            r.router.ip(&["link", "set", &a, "up"]);
            let p: &mut Xdp = bench.program_mut(name).unwrap().try_into().unwrap();
            p.load().expect("load");
            p.attach(&a, aya::programs::xdp::XdpMode::Driver)
                .expect("attach to an idle interface");
        }
        let delivered = || -> u64 {
            let map = PerCpuArray::<_, u64>::try_from(sink.map(SINK_MAP).unwrap()).unwrap();
            map.get(&0, 0).unwrap().iter().sum()
        };
        let program = |name: &str| -> &Xdp { bench.program(name).unwrap().try_into().unwrap() };
        // Warm-up: the first frames of the kernel path resolve nothing (static neighbour),
        // but caches and the page pool settle.
        inject(&xdp_lan, &frame, lan, count / 10);
        for _ in 0..trials {
            for (samples, prog) in [
                (&mut floor, program(FLOOR_PROGRAM)),
                (&mut sample, program(SAMPLE_PROGRAM)),
                (&mut fast, &xdp_lan),
                (&mut kernel, program(KERNEL_PROGRAM)),
            ] {
                let before = delivered();
                let secs = inject(prog, &frame, lan, count);
                // Frames redirected into a veth are delivered by its peer's NAPI soon after.
                std::thread::sleep(std::time::Duration::from_millis(50));
                samples.push((delivered() - before) as f64 / secs / 1e6);
            }
        }
    });
    drop(sink.take_map(SINK_MAP));
    let floor = Row::new("floor: MAC rewrite and devmap redirect only", "Mpps", floor);
    let kernel = Row::new(
        "kernel forwarding (XDP_PASS, then the stack and the bond's tc path)",
        "Mpps",
        kernel,
    );
    let sample = Row::new(
        "reference: xdp_redirect_map sample (counter, MAC swap, redirect)",
        "Mpps",
        sample,
    )
    .against(&floor);
    let fast_vs_floor = Row::new(
        "bondxdp fast path (xdp_lan_rr), vs floor",
        "Mpps",
        fast.clone(),
    )
    .against(&floor)
    .target(Target::AtLeast(FLOOR_TARGET));
    let fast_vs_kernel = Row::new("bondxdp fast path (xdp_lan_rr), vs kernel", "Mpps", fast)
        .against(&kernel)
        .target(Target::AtLeast(KERNEL_TARGET));
    Section {
        title: "Forwarding with the XDP fast path".into(),
        method: format!(
            "XDP live frames (BPF_PROG_TEST_RUN, BPF_F_TEST_XDP_LIVE_FRAMES, batch 64): {count} \
             64-byte UDP frames per trial injected as received on the router's LAN interface, \
             routed to a host behind a balance-rr bond (one veth link, so that every row \
             delivers to the same receiver); packets counted where \
             they arrive (an XDP counter on each link's far end, which drops them). The kernel \
             row's program puts the original headers back before XDP_PASS (live frames \
             recycle pages with the kernel's rewrites in them). One flow, so after its first \
             frame the fast path takes the route from its cache, in the slot the CPU's previous \
             frame used (a frame of another flow than the previous one hashes its key first; a \
             frame whose route is not cached costs one FIB lookup more: 4.10 Mpps when every \
             frame paid it, measured before the cache). The floor writes a MAC without reading the frame, which no \
             forwarder can do; the xdp_redirect_map row (the kernel's sample program, as \
             commonly benchmarked) shows where a minimal program that reads the frame lands. \
             The target is against the floor. {trials} trials interleaved; Mpps = delivered / \
             time of the run."
        ),
        rows: vec![floor, sample, kernel, fast_vs_floor, fast_vs_kernel],
    }
}
