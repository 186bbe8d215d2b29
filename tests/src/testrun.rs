//! BPF_PROG_TEST_RUN harness: the real eBPF object, loaded as `bondxdp up` loads it, its
//! maps written through bondxdp's own typed wrappers, and its programs run on crafted frames.
//! Benchmark programs (`bench_floor`) come from the separate benchmark object
//! ([`loader::BENCH_OBJECT`]), loaded next to it on demand ([`Harness::load_bench_program`]).
//!
//! Runs inside a namespace that owns veth pairs `m0`/`p0`, `m1`/`p1`, ... so member ifindexes
//! are real (broadcast's clones really leave through them).

use aya::{
    Ebpf, EbpfLoader,
    programs::{SchedClassifier, TestRun, TestRunOptions, Xdp},
};
use bondxdp::{loader, maps::BondMaps};
use bondxdp_common::{
    BondConfig, Counter, MAX_MEMBERS, MemberSlot, Mode,
    config::{LinkState, NO_SLOT},
};

use crate::Netns;

/// `TC_ACT_OK`.
pub const TC_ACT_OK: i32 = 0;
/// `TC_ACT_SHOT`.
pub const TC_ACT_SHOT: i32 = 2;
/// `TC_ACT_REDIRECT`.
pub const TC_ACT_REDIRECT: i32 = 7;

/// Size of `struct __sk_buff` (the context passed to tc programs).
const SKB_CTX_LEN: usize = 192;
/// Offset of `__sk_buff.ifindex`.
const SKB_CTX_IFINDEX: usize = 40;

/// What one program run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The program's return value.
    pub verdict: i32,
    /// Slots whose tx counter moved, with the packet delta.
    pub tx: Vec<(usize, u64)>,
    /// Slots whose rx counter moved, with the packet delta.
    pub rx: Vec<(usize, u64)>,
    /// Named counters that moved, with their delta.
    pub counters: Vec<(Counter, u64)>,
    /// The frame as the program left it.
    pub data: Vec<u8>,
}

impl Outcome {
    /// The single slot that transmitted, if exactly one did.
    pub fn tx_slot(&self) -> Option<usize> {
        match self.tx.as_slice() {
            [(slot, 1)] => Some(*slot),
            _ => None,
        }
    }

    /// Delta of one named counter.
    pub fn counter(&self, c: Counter) -> u64 {
        self.counters
            .iter()
            .find(|(k, _)| *k == c)
            .map_or(0, |(_, v)| *v)
    }
}

/// One loaded copy of the data plane with `n` members.
pub struct Harness {
    ebpf: Ebpf,
    /// The benchmark object, once a program of it is loaded ([`Harness::load_bench_program`]).
    bench: Option<Ebpf>,
    /// The bond's maps.
    pub maps: BondMaps,
    /// Member ifindexes, by slot.
    pub members: Vec<u32>,
    /// The configuration last published.
    pub cfg: BondConfig,
}

/// Runs `f` with a fresh harness of `n` members in `mode`, inside a new namespace, on a
/// thread pinned to one CPU (so per-CPU state is deterministic).
pub fn with_harness<T: Send>(n: usize, mode: Mode, f: impl FnOnce(&mut Harness) -> T + Send) -> T {
    let ns = Netns::new("tr");
    for i in 0..n {
        ns.ip(&[
            "link",
            "add",
            &format!("m{i}"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("p{i}"),
        ]);
        ns.ip(&["link", "set", &format!("m{i}"), "up"]);
        ns.ip(&["link", "set", &format!("p{i}"), "up"]);
    }
    ns.enter(|| {
        pin_to_cpu0();
        let mut h = Harness::load(n, mode);
        f(&mut h)
    })
}

fn pin_to_cpu0() {
    // SAFETY: a zeroed cpu_set_t with one bit set, for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Index of interface `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid C string.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert!(index != 0, "no interface {name}");
    index
}

impl Harness {
    fn load(n: usize, mode: Mode) -> Harness {
        let flows = if mode.is_multi_uplink() { 4096 } else { 0 };
        let mut ebpf = loader::load_sized(flows).expect("the object loads and passes the verifier");
        let maps = BondMaps::from_ebpf(&mut ebpf).expect("maps");
        bondxdp::tables::fit_loaded(&ebpf, mode).expect("the mode's tables");
        let members: Vec<u32> = (0..n).map(|i| ifindex(&format!("m{i}"))).collect();
        let mut cfg = BondConfig {
            bond_ifindex: ifindex("lo"),
            mode: mode as u32,
            bond_mac: [2, 0, 0, 0, 0xb0, 0x0d],
            active_slot: 0,
            ..Default::default()
        };
        for (slot, ifindex) in members.iter().enumerate() {
            cfg.members[slot] = MemberSlot {
                ifindex: *ifindex,
                mac: cfg.bond_mac,
                link: LinkState::Up as u8,
                flags: 0,
            };
        }
        let mut h = Harness {
            ebpf,
            bench: None,
            maps,
            members,
            cfg,
        };
        h.publish();
        h
    }

    /// Changes the configuration and publishes it (recomputing the derived fields).
    pub fn set(&mut self, f: impl FnOnce(&mut BondConfig)) {
        f(&mut self.cfg);
        self.publish();
    }

    fn publish(&mut self) {
        self.cfg.recompute();
        self.cfg.generation = self.maps.config.publish(self.cfg).expect("publish");
    }

    /// The tc program `name`: the data plane's, or else the benchmark object's.
    fn program(&self, name: &str) -> &SchedClassifier {
        self.ebpf
            .program(name)
            .or_else(|| self.bench.as_ref().and_then(|b| b.program(name)))
            .unwrap_or_else(|| panic!("program {name}"))
            .try_into()
            .expect("classifier")
    }

    /// balance-alb's client table, sorted by peer address.
    pub fn alb_clients(&self) -> Vec<(u32, bondxdp_common::modes::alb::Client)> {
        let map = self
            .ebpf
            .map(bondxdp_common::modes::alb::CLIENTS_MAP)
            .expect("client table");
        let map: aya::maps::HashMap<_, u32, bondxdp_common::modes::alb::Client> =
            aya::maps::HashMap::try_from(map).expect("a hash map");
        let mut v: Vec<_> = map.iter().filter_map(Result::ok).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    /// The egress program for the configured mode and hash policy.
    pub fn egress_program(&self) -> &'static str {
        loader::programs::program_for(
            self.cfg.mode().expect("mode"),
            self.cfg.hash_policy().expect("policy"),
        )
        .expect("a mode with a data plane")
    }

    /// Runs the bond's egress program (the one its mode uses) on `frame`.
    pub fn egress(&self, frame: &[u8]) -> Outcome {
        self.run(self.egress_program(), frame, 0)
    }

    /// Runs the members' ingress program (the one the mode uses) on `frame` as if received
    /// on interface `ifindex`.
    pub fn ingress(&self, ifindex: u32, frame: &[u8]) -> Outcome {
        let mode = self.cfg.mode().expect("mode");
        self.run(loader::programs::ingress_program_for(mode), frame, ifindex)
    }

    fn snapshot(
        &self,
    ) -> (
        [bondxdp_common::MemberStats; MAX_MEMBERS],
        Vec<(Counter, u64)>,
    ) {
        (
            self.maps.all_member_stats().expect("stats"),
            self.maps.counters().expect("counters"),
        )
    }

    /// Runs program `program` on `frame` with `__sk_buff.ifindex` set to `ifindex`.
    pub fn run(&self, program: &str, frame: &[u8], ifindex: u32) -> Outcome {
        let mut ctx = [0u8; SKB_CTX_LEN];
        ctx[SKB_CTX_IFINDEX..SKB_CTX_IFINDEX + 4].copy_from_slice(&ifindex.to_ne_bytes());
        self.measure(|| run_once_with(self.program(program), program, frame, &ctx))
    }

    /// Runs XDP program `program` on `frame` as received on interface `ingress_ifindex`.
    pub fn run_xdp(&self, program: &str, frame: &[u8], ingress_ifindex: u32) -> Outcome {
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index,
        // egress_ifindex.
        let mut ctx = [0u8; 24];
        ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        ctx[12..16].copy_from_slice(&ingress_ifindex.to_ne_bytes());
        let xdp: &Xdp = self
            .ebpf
            .program(program)
            .expect("program")
            .try_into()
            .expect("xdp");
        self.measure(|| run_once_with(xdp, program, frame, &ctx))
    }

    /// Retires the XDP fast path's cached FIB answers, as the controller does on a route,
    /// rule, neighbour or address change.
    pub fn retire_routes(&mut self) {
        let map = self
            .ebpf
            .map_mut(bondxdp::fast_path::ROUTE_CACHE)
            .expect("route cache");
        let mut map: aya::maps::Array<_, bondxdp_common::fast_path::RouteCache> =
            aya::maps::Array::try_from(map).expect("array");
        let mut cache = map.get(&0, 0).expect("epoch");
        cache.epoch += 1;
        map.set(0, cache, 0).expect("epoch");
    }

    /// Lets the XDP fast path redirect to LAN-side interface `ifindex` (an entry in its
    /// devmap of those).
    pub fn add_fast_path_port(&mut self, ifindex: u32) {
        let map = self.ebpf.map_mut("FWD_PORTS").expect("FWD_PORTS");
        let mut ports = aya::maps::xdp::DevMapHash::try_from(map).expect("devmap");
        ports
            .insert(ifindex, ifindex, None, 0)
            .expect("devmap insert");
    }

    /// Puts every member on the XDP fast path's devmaps (by slot, and for broadcast).
    pub fn add_fast_path_members(&mut self) {
        for (slot, ifindex) in self.members.clone().into_iter().enumerate() {
            let map = self.ebpf.map_mut("FWD_MEMBERS").expect("FWD_MEMBERS");
            let mut members = aya::maps::xdp::DevMap::try_from(map).expect("devmap");
            members
                .set(slot as u32, ifindex, None, 0)
                .expect("devmap set");
            let map = self.ebpf.map_mut("FWD_BCAST").expect("FWD_BCAST");
            let mut bcast = aya::maps::xdp::DevMapHash::try_from(map).expect("devmap");
            bcast
                .insert(ifindex, ifindex, None, 0)
                .expect("devmap insert");
        }
    }

    /// Runs `f` (one program run: its verdict and output frame) and says what it changed.
    fn measure(&self, f: impl FnOnce() -> (i32, Vec<u8>)) -> Outcome {
        let (stats0, counters0) = self.snapshot();
        let (verdict, data) = f();
        let (stats1, counters1) = self.snapshot();
        let delta = |f: fn(&bondxdp_common::MemberStats) -> u64| {
            (0..MAX_MEMBERS)
                .filter_map(|s| {
                    let d = f(&stats1[s]) - f(&stats0[s]);
                    (d > 0).then_some((s, d))
                })
                .collect()
        };
        Outcome {
            verdict,
            tx: delta(|s| s.tx_packets),
            rx: delta(|s| s.rx_packets),
            counters: counters1
                .iter()
                .zip(&counters0)
                .filter(|(a, b)| a.1 > b.1)
                .map(|(a, b)| (a.0, a.1 - b.1))
                .collect(),
            data,
        }
    }

    /// Loads tc program `name` of the benchmark object ([`loader::BENCH_OBJECT`], e.g.
    /// `bench_floor`), loading that object first if need be; [`Harness::time_ns`] then runs it
    /// by name, as it runs the data plane's programs.
    pub fn load_bench_program(&mut self, name: &str) {
        let bench = self.bench.get_or_insert_with(|| {
            EbpfLoader::new()
                .load(loader::BENCH_OBJECT)
                .expect("the benchmark object loads")
        });
        loader::classifier(bench, name)
            .expect("program")
            .load()
            .expect("load");
    }

    /// Average run time of `program` (the data plane's, or a benchmark program loaded with
    /// [`Harness::load_bench_program`]) on `frame` over `repeat` back-to-back runs, in
    /// nanoseconds. Timed around the syscall rather than read from BPF_PROG_TEST_RUN's
    /// `duration`, which the kernel truncates to whole nanoseconds (a 3 % step at 32 ns);
    /// the one-off setup of the call is well under 0.01 ns per run at 100,000 runs.
    pub fn time_ns(&self, program: &str, frame: &[u8], repeat: u32) -> f64 {
        let program = self.program(program);
        let start = std::time::Instant::now();
        program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                repeat,
                ..Default::default()
            })
            .expect("BPF_PROG_TEST_RUN");
        start.elapsed().as_nanos() as f64 / repeat as f64
    }

    /// Marks member `slot` down or up and publishes.
    pub fn set_link(&mut self, slot: usize, up: bool) {
        self.set(|c| {
            c.members[slot].link = if up { LinkState::Up } else { LinkState::Down } as u8;
        });
    }

    /// Publishes an empty configuration slot-wise (no members at all).
    pub fn clear_members(&mut self) {
        self.set(|c| {
            c.members = [MemberSlot::default(); MAX_MEMBERS];
            c.active_slot = NO_SLOT;
        });
    }
}

/// One BPF_PROG_TEST_RUN of `prog` (named `name`) on `frame` with context `ctx`: its
/// return value and the frame as it left the program.
fn run_once_with<P>(prog: &P, name: &str, frame: &[u8], ctx: &[u8]) -> (i32, Vec<u8>)
where
    P: for<'a> TestRun<Opts<'a> = TestRunOptions<'a>, Result = aya::TestRunResult>,
{
    let mut out = vec![0u8; frame.len() + 256];
    let result = prog
        .test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ctx_in: Some(ctx),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN of {name} on {frame:02x?}: {e}"));
    out.truncate(result.data_size_out as usize);
    (result.return_value as i32, out)
}

/// Loads the object without publishing any configuration (the state just after load).
pub fn with_unconfigured<T: Send>(f: impl FnOnce(&Ebpf, &BondMaps) -> T + Send) -> T {
    let ns = Netns::new("tru");
    ns.enter(|| {
        let mut ebpf = loader::load().expect("load");
        let maps = BondMaps::from_ebpf(&mut ebpf).expect("maps");
        f(&ebpf, &maps)
    })
}

/// Runs program `name` of `ebpf` once on `frame` and returns its verdict.
pub fn run_once(ebpf: &Ebpf, name: &str, frame: &[u8]) -> i32 {
    let prog: &SchedClassifier = ebpf.program(name).unwrap().try_into().unwrap();
    prog.test_run(TestRunOptions {
        data_in: Some(frame),
        ..Default::default()
    })
    .expect("BPF_PROG_TEST_RUN")
    .return_value as i32
}
