//! The maps of one bond, and the only code in the programs that touches them.
//!
//! Userspace owns the layout through `bondxdp-common` and pins every map by the name of its
//! static under the bond's bpffs directory.

use aya_ebpf::{
    btf_maps::{ArrayOfMaps, LruHashMap as BtfLruHashMap},
    helpers::{bpf_jiffies64, bpf_ktime_get_coarse_ns},
    macros::{btf_map, map},
    maps::{Array, DevMap, DevMapHash, LruHashMap, PerCpuArray, ProgramArray},
};
use bondxdp_common::{
    BondConfig, Counter, MAX_MEMBERS, MemberStats,
    config::ConfigSlots,
    counters::{COUNTER_SLOTS, UplinkSignals},
    fast_path::{
        LAST_ROUTES_PER_CPU, LastRoute, ROUTE_CACHE_SLOTS, RouteCache, RouteKey4, RouteKey6,
        RouteSlot,
    },
    modes::{
        custom::{SELECT_PROGS_LEN, SelectContext},
        load_aware::{Credits, Flowlet},
        round_robin::RrCursor,
    },
    multi_wan::{Addr, Flow, FlowEntry, FlowKey, FragEntry, FragKey, HostEntry, NatEntry},
    records::{BondState, UplinkHealth},
};

/// Double-buffered configuration: userspace writes the slot not in use, then flips
/// [`CONFIG_INDEX`], so a packet always sees one whole configuration.
///
/// Both are globals (aya turns each section into a one-entry array map): the programs read
/// them without a map lookup. They live in sections of their own so that userspace can
/// rewrite the slots (the live one with identical bytes) and then the index, in that order.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".bss.cfg")]
static mut BOND_CONFIG: ConfigSlots = ConfigSlots::ZERO;

/// Which [`BOND_CONFIG`] slot is live (its low bit); 2 until userspace writes it.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".data.cfgidx")]
static mut CONFIG_INDEX: u32 = 2;

/// XDP fast path: the route cache's epoch (a global, read without a map lookup; the
/// controller increments it through its map on every route, rule, neighbour or address
/// change the kernel reports).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".bss.routes")]
static mut ROUTE_CACHE: RouteCache = RouteCache { epoch: 0 };

/// The route cache's current epoch.
#[inline(always)]
pub fn route_epoch() -> u32 {
    // SAFETY: a global backed by a map value; volatile, since userspace changes it.
    unsafe { core::ptr::read_volatile(&raw const ROUTE_CACHE).epoch }
}

/// XDP fast path: cached FIB answers for IPv4, a direct-mapped cache per CPU (see
/// `bondxdp_common::fast_path::ROUTE_CACHE_SLOTS`): CPU `c`'s slots are entries
/// `c * ROUTE_CACHE_SLOTS ..`. A plain array (sized by the loader for every possible CPU)
/// rather than a per-CPU one: a slot's address is then computed, where a per-CPU array
/// first loads the entry's per-CPU pointer, a dependent load on every frame.
#[map]
pub static ROUTES4: Array<RouteSlot<RouteKey4>> =
    Array::with_max_entries(ROUTE_CACHE_SLOTS, aya_ebpf::bindings::BPF_F_MMAPABLE);

/// XDP fast path: cached FIB answers for IPv6, likewise.
#[map]
pub static ROUTES6: Array<RouteSlot<RouteKey6>> =
    Array::with_max_entries(ROUTE_CACHE_SLOTS, aya_ebpf::bindings::BPF_F_MMAPABLE);

/// XDP fast path: per CPU and direction, the route cache slot the last frame used (entry
/// `cpu * LAST_ROUTES_PER_CPU + direction`; sized by the loader).
#[map]
pub static LAST_ROUTES: Array<LastRoute> = Array::with_max_entries(LAST_ROUTES_PER_CPU, 0);

/// Per-member traffic counters, indexed by slot.
#[map]
static MEMBER_STATS: PerCpuArray<MemberStats> =
    PerCpuArray::with_max_entries(MAX_MEMBERS as u32, 0);

/// Drops and events by [`Counter`].
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// balance-rr's per-CPU place in the round.
#[map]
static RR_COUNTER: PerCpuArray<RrCursor> = PerCpuArray::with_max_entries(1, 0);

/// Userspace's record of the bond (original member settings). Never read here; declared so
/// it is created and pinned with the others.
#[map]
static BOND_STATE: Array<BondState> = Array::with_max_entries(1, 0);

/// multi-wan flow table: inside flow -> uplink and translated port. Sized by the loader
/// (`--max-flows`); a token size for the other modes.
#[map]
pub static NAT_FLOWS: LruHashMap<FlowKey, FlowEntry> = LruHashMap::with_max_entries(64, 0);

/// multi-wan NAT table: reply tuple on an uplink -> inside address and port. Inserting with
/// BPF_NOEXIST claims a translated port.
#[map]
pub static NAT_TABLE: LruHashMap<FlowKey, NatEntry> = LruHashMap::with_max_entries(64, 0);

/// multi-wan `sticky host`: destination address -> uplink.
#[map]
pub static NAT_HOSTS: LruHashMap<Addr, HostEntry> = LruHashMap::with_max_entries(64, 0);

/// balance-tlb / balance-alb / load-aware: the flowlet table (each flow's member and when it
/// last sent, by flow id), held in slot 0 of this one-slot array of maps so that its size
/// follows the mode: userspace puts a table of [`FLOWLET_ENTRIES`] there before a mode that
/// reads it starts, and takes it out (freeing ~5.8 MB) when the bond changes to one that does
/// not. The template here (one entry) only fixes the inner map's kind, key and value.
///
/// [`FLOWLET_ENTRIES`]: bondxdp_common::modes::load_aware::FLOWLET_ENTRIES
#[btf_map]
pub static FLOWLET_TABLE: ArrayOfMaps<BtfLruHashMap<u32, Flowlet, 1>, 1> = ArrayOfMaps::new();

/// balance-tlb / load-aware: the smooth weighted round-robin credits that place new flows
/// and flowlets. One entry shared by every CPU (not per-CPU): the bond's split of new flows
/// is what must follow the weights, and per-CPU sequences would each start their own cycle
/// (see `bondxdp_common::modes::load_aware`). Changed by atomic adds; not pinned (userspace
/// never reads it; the programs keep it alive).
#[map]
pub static CREDITS: Array<Credits> = Array::with_max_entries(1, 0);

/// multi-wan: fragmented datagrams in flight (their later fragments carry no ports).
/// Token-sized here, like the other multi-wan tables: the loader sizes it for multi-wan bonds.
#[map]
pub static NAT_FRAGS: LruHashMap<FragKey, FragEntry> = LruHashMap::with_max_entries(64, 0);

/// multi-wan: the packet being translated, parsed (too big for the stack next to the rest).
#[map]
static NAT_SCRATCH: PerCpuArray<Flow> = PerCpuArray::with_max_entries(1, 0);

/// This CPU's scratch [`Flow`].
#[inline(always)]
pub fn scratch_flow() -> Option<&'static mut Flow> {
    // SAFETY: per-CPU entry, used by one program run at a time on this CPU (tc programs do
    // not nest on one CPU).
    NAT_SCRATCH.get_ptr_mut(0).map(|f| unsafe { &mut *f })
}

/// custom mode: the context of the packet being sent, for the user's selection program
/// (declared there under the same name; the loader hands it this map).
#[map]
pub static SELECT_CTX: PerCpuArray<SelectContext> = PerCpuArray::with_max_entries(1, 0);

/// custom mode: the user's selection program and `custom_finish`, tail-called in turn.
#[map]
pub static SELECT_PROGS: ProgramArray = ProgramArray::with_max_entries(SELECT_PROGS_LEN, 0);

/// This CPU's selection context.
#[inline(always)]
pub fn select_ctx() -> Option<&'static mut SelectContext> {
    // SAFETY: per-CPU entry; the programs of one packet's tail-call chain run on this CPU
    // one after another, and tc programs do not nest on one CPU.
    SELECT_CTX.get_ptr_mut(0).map(|c| unsafe { &mut *c })
}

/// XDP fast path: the `--forward-from` interfaces, by ifindex (where frames routed out of
/// them may go).
#[map]
pub static FWD_PORTS: DevMapHash = DevMapHash::with_max_entries(64, 0);

/// XDP fast path: the members, by slot. An array devmap: the member a mode picked is one
/// load away (a hash devmap keyed by ifindex would first need the member's ifindex, then a
/// bucket walk, all on the frame's critical path).
#[map]
pub static FWD_MEMBERS: DevMap = DevMap::with_max_entries(MAX_MEMBERS as u32, 0);

/// XDP fast path, broadcast mode: every member (one copy each).
#[map]
pub static FWD_BCAST: DevMapHash = DevMapHash::with_max_entries(16, 0);

/// multi-wan: the controller's verdict on each uplink, for `status`. Never read here.
#[map]
static UPLINK_HEALTH: Array<UplinkHealth> = Array::with_max_entries(MAX_MEMBERS as u32, 0);

/// multi-wan passive health signals, per uplink slot.
#[map]
static UPLINK_SIGNALS: PerCpuArray<UplinkSignals> =
    PerCpuArray::with_max_entries(MAX_MEMBERS as u32, 0);

/// Counts on `slot`'s passive signals.
#[inline(always)]
pub fn signal(slot: usize, f: impl FnOnce(&mut UplinkSignals)) {
    if let Some(s) = UPLINK_SIGNALS.get_ptr_mut(slot as u32) {
        // SAFETY: per-CPU entry, and programs do not migrate while running.
        f(unsafe { &mut *s });
    }
}

/// One flag per [`Counter`]: set once its event has been logged (aya-log is for rare events,
/// never one line per packet).
#[map]
static LOGGED: Array<u32> = Array::with_max_entries(COUNTER_SLOTS, 0);

/// Whether `counter`'s event should be logged now: true the first time only.
#[inline(always)]
pub fn first_time(counter: Counter) -> bool {
    match LOGGED.get_ptr_mut(counter as u32) {
        // SAFETY: a plain u32 in an array map; a race only logs twice.
        Some(flag) => unsafe {
            if *flag == 0 {
                *flag = 1;
                true
            } else {
                false
            }
        },
        None => false,
    }
}

/// The live configuration slot, written or not (all zeroes until userspace writes it: for
/// readers to whom a zero configuration already means "do nothing").
#[inline(always)]
pub fn live_config() -> &'static BondConfig {
    // SAFETY: globals backed by map values; userspace only rewrites the spare slot before it
    // flips the index, so the slot read here is whole. Volatile: userspace changes them.
    unsafe {
        let index = core::ptr::read_volatile(&raw const CONFIG_INDEX) & 1;
        &*(&raw const BOND_CONFIG)
            .cast::<BondConfig>()
            .add(index as usize)
    }
}

/// The live configuration, if userspace has written one.
#[inline(always)]
pub fn config() -> Option<&'static BondConfig> {
    let cfg = live_config();
    // A zero generation is a slot userspace never wrote.
    if cfg.generation == 0 { None } else { Some(cfg) }
}

/// Counts one event.
#[inline(always)]
pub fn count(counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: per-CPU entry, and programs do not migrate while running.
        unsafe { *slot += 1 };
    }
}

/// This CPU's traffic counters of the member in `slot`.
#[inline(always)]
fn member_stats(slot: u32) -> Option<&'static mut MemberStats> {
    // SAFETY: per-CPU entry, and programs do not migrate while running.
    MEMBER_STATS.get_ptr_mut(slot).map(|s| unsafe { &mut *s })
}

/// Counts a packet sent through the member in `slot`.
#[inline(always)]
pub fn count_tx(slot: u32, bytes: u32) {
    if let Some(stats) = member_stats(slot) {
        stats.sent(bytes);
    }
}

/// Counts a packet received on the member in `slot`.
#[inline(always)]
pub fn count_rx(slot: u32, bytes: u32) {
    if let Some(stats) = member_stats(slot) {
        stats.received(bytes);
    }
}

/// Counts a packet the XDP fast path forwarded through the member in `slot`: sent through
/// it (`tx`) or received on it.
#[inline(always)]
pub fn count_xdp(slot: u32, bytes: u32, tx: bool) {
    if let Some(stats) = member_stats(slot) {
        if tx {
            stats.sent(bytes);
        } else {
            stats.received(bytes);
        }
        stats.xdp_forwarded += 1;
    }
}

/// The clock as this CPU last read it, and at which kernel tick.
#[repr(C)]
pub struct TickClock {
    tick: u64,
    ns: u64,
}

/// Per-CPU: the clock as of the latest tick (see [`coarse_now_ns`]).
#[map]
static TICK_CLOCK: PerCpuArray<TickClock> = PerCpuArray::with_max_entries(1, 0);

/// CLOCK_MONOTONIC (coarse), ns, as of this CPU's latest kernel tick: reads the tick counter
/// (a load: the verifier inlines the helper) and calls the clock helper (about 10 ns) only
/// when a tick has passed since this CPU last did, at most HZ times a second. Behind the
/// coarse clock by at most a tick (10 ms at HZ=100): for timestamps that mark flows idle
/// after seconds, not for measuring gaps.
#[inline(always)]
pub fn coarse_now_ns() -> u64 {
    // SAFETY: helpers without arguments.
    let tick = unsafe { bpf_jiffies64() };
    match TICK_CLOCK.get_ptr_mut(0) {
        // SAFETY: this CPU's entry; programs on one CPU do not interleave.
        Some(clock) => unsafe {
            if (*clock).tick != tick {
                (*clock).tick = tick;
                (*clock).ns = bpf_ktime_get_coarse_ns();
            }
            (*clock).ns
        },
        // SAFETY: as above.
        None => unsafe { bpf_ktime_get_coarse_ns() },
    }
}

/// Moves this CPU's round-robin cursor on by one packet; the eligible member's index.
#[inline(always)]
pub fn next_rr(per_member: u32, count: u32) -> u32 {
    match RR_COUNTER.get_ptr_mut(0) {
        // SAFETY: as in `count`.
        Some(cursor) => unsafe { (*cursor).step(per_member, count) },
        None => 0,
    }
}
