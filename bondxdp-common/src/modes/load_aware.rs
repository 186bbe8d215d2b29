//! load-aware (bondxdp's 17) and balance-tlb (5): every flow is pinned to a member in a
//! flowlet table; it may move only after an idle gap longer than the flowlet timeout (a new
//! "flowlet": the packets in flight have drained, so moving cannot reorder them) or when its
//! member stops transmitting. New flows and flowlets go to members in proportion to their
//! weights (which the controller keeps current from each member's spare capacity) by smooth
//! weighted round-robin ([`place`]): any run of new flows is split as close to the weights as
//! whole flows allow, where a hash would split a burst of them binomially.
//!
//! Flows are identified by a hash of their 5-tuple (3-tuple for protocols without ports),
//! from the same dissector as layer3+4; frames without an IP header (ARP...) use the layer2
//! hash and no table.
//!
//! ## Smooth weighted round-robin
//!
//! nginx's scheme: every eligible member (transmitting, weight > 0) holds a credit; for each
//! new flow every one of them gains its weight, the one with the most credit (the lowest slot
//! on a tie) gets the flow and gives back the sum of the weights `W`. While the weights stay
//! the same the credits add up to zero, and each holds (flows so far) x weight - `W` x (flows
//! it got): how far it is behind or ahead of its share. With fixed weights the picks repeat with period `W` and every `W`
//! consecutive picks give each member exactly its weight; with weights 1:3 every 4 consecutive
//! picks give the light member exactly one.
//!
//! The credits ([`Credits`]) are one map entry shared by every CPU, not one per CPU: the
//! bond's split is what has to follow the weights, and per-CPU sequences each balanced on
//! their own add up to an error of up to one flow per CPU (each CPU's first pick goes to the
//! heaviest member: a burst of flows opened from many CPUs would mostly land there). Every
//! change to a credit is an atomic add, so concurrent picks all count: two CPUs that pick at
//! the same moment from the same view may both pick one member, but the credits then record
//! that member as ahead by one flow, and the next picks make up for it. Only new flows and
//! flowlets touch the credits, never the packets of a pinned flow.
//!
//! Weights and eligibility may change at any time: the credits carry over (a member that was
//! behind stays behind), the credit of a member that no longer takes flows (down, weight 0)
//! is reset to zero, and each credit is clamped to `[-W, W]` for the current `W`, which keeps
//! them bounded and on the scale of the current weights (after weights 3000:1000 become 3:1,
//! stale credits in the thousands would otherwise take hundreds of flows to work off). Within
//! one cycle of the new weights every member is back within one flow of its share.

use core::sync::atomic::AtomicI64;

use super::{Selection, Selector, TxEnv, nth_eligible};
use crate::{
    config::{BondConfig, MAX_MEMBERS},
    counters::Counter,
    hash::{PacketMeta, dissect, eth_hash},
    packet::PacketView,
    weights::{NO_BUCKET, bucket_of},
};

/// Entries in a bond's flowlet table (an LRU hash map; ~5.8 MB of kernel memory, allocated
/// only while the bond's mode reads it: load-aware, balance-tlb, balance-alb).
pub const FLOWLET_ENTRIES: u32 = 65536;

/// A flow's entry in the flowlet table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flowlet {
    /// The member's slot.
    pub slot: u32,
    /// Zero.
    pub pad: u32,
    /// When the flow last sent, ns (CLOCK_MONOTONIC).
    pub last_ns: u64,
}

/// The load-aware selector (also balance-tlb's).
pub struct LoadAware;

impl Selector for LoadAware {
    const PROGRAM: &'static str = "egress_load";
    const XDP_PROGRAM: &'static str = "xdp_lan_load";

    #[inline(always)]
    fn select<P: PacketView + ?Sized, E: TxEnv>(
        cfg: &BondConfig,
        pkt: &P,
        meta: &PacketMeta,
        env: &mut E,
    ) -> Selection {
        if cfg.tx_count == 0 {
            return Selection::NoMember;
        }
        let Some(id) = flow_id(pkt, meta) else {
            return nth_eligible(cfg, eth_hash(pkt));
        };
        if !env.has_flowlet_table() {
            // Never expected (userspace installs the table before the mode starts): placed by
            // hash, the flow at least stays on one member.
            env.note(Counter::NoFlowletTable);
            let slot = weighted(cfg, id);
            return if (slot as usize) < MAX_MEMBERS {
                Selection::Member(slot)
            } else {
                Selection::NoMember
            };
        }
        let now = env.now_ns();
        // Keep the flow's member if it may (the common case: one lookup); otherwise the
        // flow is new (`None`) or starts a new flowlet (`Some(previous member)`).
        let placed = env.with_flowlet(id, |entry| match entry {
            Some(f) => match decide(cfg, f, now) {
                Some(slot) => {
                    f.last_ns = now;
                    Ok(slot)
                }
                None => Err(Some(f.slot)),
            },
            None => Err(None),
        });
        let slot = match placed {
            Ok(slot) => slot,
            Err(previous) => {
                let slot = match env.credits().and_then(|c| place(cfg, c)) {
                    Some(slot) => slot as usize,
                    None => weighted(cfg, id) as usize,
                };
                // Checked on an opaque 64-bit copy, which is then the value used: the
                // compiler otherwise checks a zero-extended copy of a register it knows holds
                // a byte and indexes the members with the original, which the verifier cannot
                // bound (it does not relate the two).
                let slot = opaque(slot);
                if slot >= MAX_MEMBERS {
                    return Selection::NoMember;
                }
                let slot = slot as u32;
                // A new flowlet updates the flow's entry in place (cheaper than replacing it);
                // a new flow, or one whose entry is gone meanwhile, gets one.
                let updated = previous.is_some()
                    && env.with_flowlet(id, |entry| match entry {
                        Some(f) => {
                            f.slot = slot;
                            f.last_ns = now;
                            true
                        }
                        None => false,
                    });
                if !updated {
                    env.insert_flowlet(
                        id,
                        Flowlet {
                            slot,
                            pad: 0,
                            last_ns: now,
                        },
                    );
                }
                if previous.is_some_and(|p| p != slot) {
                    env.note(Counter::FlowletMoved);
                }
                slot
            }
        };
        if slot >= MAX_MEMBERS as u32 {
            return Selection::NoMember;
        }
        Selection::Member(slot)
    }
}

/// Whether a flow keeps its member: `Some(slot)` if the member still transmits and the flow
/// was idle no longer than the flowlet timeout.
#[inline(always)]
pub fn decide(cfg: &BondConfig, f: &Flowlet, now: u64) -> Option<u32> {
    let fresh = now.wrapping_sub(f.last_ns) <= cfg.flowlet_ns;
    let transmits = cfg.tx_slots().iter().any(|s| *s as u32 == f.slot);
    (fresh && transmits).then_some(f.slot)
}

/// The smooth weighted round-robin credit of each member slot (see the module
/// documentation): one map entry, shared by every CPU and changed only by atomic adds. 64-bit:
/// the eBPF target has no smaller atomic add.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Credits {
    /// Indexed by slot.
    pub credit: [AtomicI64; MAX_MEMBERS],
}

impl Credits {
    /// The credits as plain numbers (tests, diagnostics).
    pub fn snapshot(&self) -> [i64; MAX_MEMBERS] {
        let mut out = [0; MAX_MEMBERS];
        for (o, c) in out.iter_mut().zip(self.credit.iter()) {
            *o = cell::load(c);
        }
        out
    }
}

/// Access to one credit, shared by every CPU. The eBPF target has no atomic operations that
/// LLVM will select (not even a relaxed load, at the instruction set the programs target), so
/// there a load is a volatile plain one (an aligned 8-byte access does not tear) and the add
/// is the instruction set's atomic add (`lock +=`, "xadd": every eBPF version; the verifier
/// allows it on map values). On the host, `AtomicI64`'s own operations.
mod cell {
    use core::sync::atomic::AtomicI64;
    #[cfg(not(target_arch = "bpf"))]
    use core::sync::atomic::Ordering::Relaxed;

    /// Reads the credit.
    #[inline(always)]
    pub fn load(cell: &AtomicI64) -> i64 {
        #[cfg(target_arch = "bpf")]
        // SAFETY: a valid, aligned 8-byte location.
        return unsafe { core::ptr::read_volatile(cell.as_ptr()) };
        #[cfg(not(target_arch = "bpf"))]
        cell.load(Relaxed)
    }

    /// Adds `delta` to the credit atomically.
    #[inline(always)]
    pub fn add(cell: &AtomicI64, delta: i64) {
        #[cfg(target_arch = "bpf")]
        // SAFETY: as in `load`; the instruction only adds to the location.
        unsafe {
            core::arch::asm!(
                "lock *(u64 *)({p} + 0) += {d}",
                p = in(reg) cell.as_ptr(),
                d = in(reg) delta,
                options(nostack)
            )
        };
        #[cfg(not(target_arch = "bpf"))]
        cell.fetch_add(delta, Relaxed);
    }
}

/// A choice made by [`choose`], to be charged with [`charge`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    /// The chosen member's slot.
    pub slot: u32,
    /// Bit `s` set: the member in slot `s` takes flows (transmits, weight > 0).
    pub eligible: u32,
    /// The sum of their weights, `W`.
    pub total: i64,
}

/// The member for a new flow or flowlet by smooth weighted round-robin over the members that
/// transmit, charging `credits` for it. `None` if no transmitting member has a weight (the
/// caller falls back to [`weighted`], which takes every member in turn then).
///
/// Per new flow, not per packet: three passes over [`MAX_MEMBERS`] slots, no division.
#[inline(always)]
pub fn place(cfg: &BondConfig, credits: &Credits) -> Option<u32> {
    let pick = choose(cfg, credits)?;
    charge(cfg, credits, pick);
    Some(pick.slot)
}

/// The first half of [`place`]: the eligible member whose credit plus weight is largest (the
/// lowest slot on a tie).
///
/// The maximum is kept without branches (masks from the sign of a difference instead): with
/// a branch per member, the eBPF verifier would follow every combination and carry the chosen
/// slot as a different constant down the rest of the program, checking that once per member.
#[inline(always)]
pub fn choose(cfg: &BondConfig, credits: &Credits) -> Option<Pick> {
    let mut eligible = 0u64;
    let count = cfg.tx_count as usize;
    for (pos, &slot) in cfg.tx_slots.iter().enumerate() {
        if pos >= count {
            break;
        }
        let slot = slot as usize;
        if slot < MAX_MEMBERS && cfg.weights[slot] > 0 {
            eligible |= 1 << slot;
        }
    }
    if eligible == 0 {
        return None;
    }
    let mut total = 0i64;
    let mut best = 0u64;
    // Below any credit (they stay within +-W, W < 2^21), far from overflowing.
    let mut best_credit = -(1i64 << 40);
    for (slot, (credit, &weight)) in credits.credit.iter().zip(cfg.weights.iter()).enumerate() {
        // All ones if the slot takes flows, else zero.
        let takes = 0u64.wrapping_sub((eligible >> slot) & 1);
        let weight = (weight as u64 & takes) as i64;
        total = total.wrapping_add(weight);
        let c = cell::load(credit).wrapping_add(weight);
        // All ones if the slot takes flows and `c` beats the best so far (strictly: ties go
        // to the lower slot).
        let better = mask_if_negative(best_credit.wrapping_sub(c)) as u64 & takes;
        best = (best & !better) | (slot as u64 & better);
        best_credit = (best_credit & !better as i64) | (c & better as i64);
    }
    Some(Pick {
        slot: best as u32,
        eligible: eligible as u32,
        total,
    })
}

/// The second half of [`place`]: every eligible member gains its weight, the chosen one gives
/// back `W`, each credit stays within `[-W, W]`; the credit of a member that does not take
/// flows goes back to zero (it returns neutral). One atomic add per credit that changes, so
/// concurrent picks all count. No branch on the chosen slot or the credits (see [`choose`]).
#[inline(always)]
pub fn charge(cfg: &BondConfig, credits: &Credits, pick: Pick) {
    let total = pick.total;
    let chosen = pick.slot as u64;
    for (slot, (credit, &weight)) in credits.credit.iter().zip(cfg.weights.iter()).enumerate() {
        let takes = 0i64.wrapping_sub(((pick.eligible >> slot) & 1) as i64);
        // All ones for the chosen slot, else zero (`slot ^ chosen` is below 16).
        let is_chosen = mask_if_negative(((slot as u64 ^ chosen) as i64).wrapping_sub(1));
        let now = cell::load(credit);
        let mut next = now
            .wrapping_add(weight as i64)
            .wrapping_sub(total & is_chosen);
        let above = mask_if_negative(total.wrapping_sub(next));
        next = (next & !above) | (total & above);
        let below = mask_if_negative(next.wrapping_add(total));
        next = (next & !below) | (total.wrapping_neg() & below);
        let delta = (next & takes).wrapping_sub(now);
        if delta != 0 {
            cell::add(credit, delta);
        }
    }
}

/// All ones if `x` is negative, else zero, computed so that the compiler cannot turn it back
/// into a comparison and branch (which the verifier would follow both ways).
#[inline(always)]
fn mask_if_negative(x: i64) -> i64 {
    opaque((x >> 63) as usize) as i64
}

/// `x`, with all the compiler knew about it forgotten (in eBPF; elsewhere `x` as it is): it
/// cannot fold a mask made from it back into a branch, and a bounds check on the result is
/// made on the very register later uses read.
#[inline(always)]
fn opaque(x: usize) -> usize {
    #[cfg(target_arch = "bpf")]
    {
        let mut x = x;
        // SAFETY: one register move onto itself.
        unsafe { core::arch::asm!("{x} = {x}", x = inout(reg) x, options(pure, nomem, nostack)) };
        x
    }
    #[cfg(not(target_arch = "bpf"))]
    x
}

/// The member for a new flow or flowlet with id `id` by the weighted bucket its id falls in
/// (every eligible member by turn if the table is empty): what [`place`] falls back to.
#[inline(always)]
pub fn weighted(cfg: &BondConfig, id: u32) -> u32 {
    match cfg.buckets[0].get(bucket_of(id)) {
        Some(&b) if b != NO_BUCKET => b as u32,
        _ => match nth_eligible(cfg, id) {
            Selection::Member(s) => s,
            _ => u32::MAX,
        },
    }
}

/// A well-mixed id of the packet's flow: its addresses and ports (or ICMP identifier) as the
/// layer3+4 dissector sees them. `None` for frames without an IPv4/IPv6 header.
#[inline(always)]
pub fn flow_id<P: PacketView + ?Sized>(pkt: &P, meta: &PacketMeta) -> Option<u32> {
    let f = dissect(pkt, meta.l2_proto, meta.nhoff, true)?;
    let mut h = 0x2545_f491u32;
    for w in [f.src, f.dst, f.ports, f.icmp_word()] {
        h ^= w;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^= h >> 16;
    }
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::{super::testing::*, *};
    use crate::{
        config::{LinkState, Mode},
        testing::Frame,
    };

    fn tcp(sport: u16) -> Vec<u8> {
        Frame::eth(0x0800)
            .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 6, 0, 0)
            .ports(sport, 443)
            .build()
    }

    fn pick(cfg: &BondConfig, env: &mut FakeEnv, frame: &[u8]) -> u32 {
        let meta = PacketMeta::ethernet(u16::from_be_bytes([frame[12], frame[13]]));
        match LoadAware::select(cfg, frame, &meta, env) {
            Selection::Member(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn weighted_bond(weights: &[u16]) -> BondConfig {
        let mut cfg = bond(Mode::LoadAware, weights.len());
        cfg.weights[..weights.len()].copy_from_slice(weights);
        cfg.flowlet_ns = 20_000_000;
        cfg.recompute();
        cfg
    }

    #[test]
    fn a_flow_stays_while_it_sends_and_may_move_after_a_gap() {
        let mut cfg = weighted_bond(&[1, 1]);
        let mut env = FakeEnv::default();
        let first = pick(&cfg, &mut env, &tcp(40000));
        // The weights change completely: a busy flow does not move.
        cfg.weights[first as usize] = 0;
        cfg.weights[1 - first as usize] = 10;
        cfg.recompute();
        for _ in 0..100 {
            env.now += 1_000_000; // 1 ms apart: one flowlet
            assert_eq!(pick(&cfg, &mut env, &tcp(40000)), first);
        }
        assert!(env.notes.is_empty());
        // Idle longer than the flowlet timeout: it goes where the weights say now.
        env.now += 25_000_000;
        assert_eq!(pick(&cfg, &mut env, &tcp(40000)), 1 - first);
        assert_eq!(env.notes, vec![Counter::FlowletMoved]);
    }

    #[test]
    fn a_flow_leaves_a_member_that_stops_transmitting_at_once() {
        let mut cfg = weighted_bond(&[1, 1, 1]);
        let mut env = FakeEnv::default();
        let slot = pick(&cfg, &mut env, &tcp(40001));
        cfg.members[slot as usize].link = LinkState::Down as u8;
        cfg.recompute();
        env.now += 1_000;
        let now = pick(&cfg, &mut env, &tcp(40001));
        assert_ne!(now, slot);
    }

    /// The members `n` new flows (distinct ports from `first`) go to, in order.
    fn new_flows(cfg: &BondConfig, env: &mut FakeEnv, first: u16, n: u16) -> Vec<u32> {
        (0..n).map(|i| pick(cfg, env, &tcp(first + i))).collect()
    }

    /// How many of `picks` went to each slot.
    fn tally(picks: &[u32]) -> [i64; MAX_MEMBERS] {
        let mut c = [0; MAX_MEMBERS];
        for &p in picks {
            c[p as usize] += 1;
        }
        c
    }

    /// Panics unless every `len` consecutive picks of `seq` are within `slack` flows of
    /// `len * weight / W` for each slot.
    fn every_window_within(seq: &[u32], len: usize, weights: &[u16], slack: f64, what: &str) {
        let total: f64 = weights.iter().map(|&w| w as f64).sum();
        for (start, window) in seq.windows(len).enumerate() {
            let got = tally(window);
            for (slot, &w) in weights.iter().enumerate() {
                let want = len as f64 * w as f64 / total;
                assert!(
                    (got[slot] as f64 - want).abs() <= slack,
                    "{what}: window {start}..{}: slot {slot} got {} of {len}, want {want}",
                    start + len,
                    got[slot]
                );
            }
        }
    }

    #[test]
    fn new_flows_follow_the_weights_exactly() {
        let cfg = weighted_bond(&[1, 3]);
        let mut env = FakeEnv::default();
        let picks = new_flows(&cfg, &mut env, 10000, 4000);
        assert_eq!(&tally(&picks)[..2], &[1000, 3000]);
        assert_eq!(env.flowlets.len(), 4000);
        assert!(env.notes.is_empty());
    }

    #[test]
    fn any_window_of_4k_new_flows_puts_exactly_k_on_the_light_member() {
        // The weights as given, and as the controller publishes them (scaled to 1000).
        for weights in [[1u16, 3], [250, 750], [1000, 3000]] {
            let cfg = weighted_bond(&weights);
            let mut env = FakeEnv::default();
            let picks = new_flows(&cfg, &mut env, 10000, 2000);
            for k in 1..=8 {
                for (start, window) in picks.windows(4 * k).enumerate() {
                    assert_eq!(
                        tally(window)[0],
                        k as i64,
                        "weights {weights:?}: flows {start}..{}",
                        start + 4 * k
                    );
                }
            }
            // Sixteen flows, wherever the run starts: 4 on R, 12 on 3R.
            assert!(picks.windows(16).all(|w| tally(w)[..2] == [4, 12]));
        }
    }

    #[test]
    fn weights_1_2_5_are_exact_in_every_full_cycle() {
        let cfg = weighted_bond(&[1, 2, 5]);
        let mut env = FakeEnv::default();
        let picks = new_flows(&cfg, &mut env, 10000, 800);
        for (start, cycle) in picks.windows(8).enumerate() {
            assert_eq!(
                &tally(cycle)[..3],
                &[1, 2, 5],
                "flows {start}..{}",
                start + 8
            );
        }
        // Smooth, not in runs: the heaviest member never gets more than two in a row here.
        assert!(picks.windows(3).all(|w| w != [2, 2, 2]));
    }

    #[test]
    fn a_weight_change_mid_sequence_is_within_one_flow_after_one_cycle() {
        let cases: [(&[u16], &[u16]); 6] = [
            (&[1, 3], &[3, 1]),
            (&[1, 3], &[1, 1]),
            // A change of scale: stale credits in the thousands must not linger.
            (&[3000, 1000], &[1, 3]),
            (&[1, 3], &[300, 700]),
            (&[1, 2, 5], &[5, 2, 1]),
            (&[1, 1, 0], &[1, 1, 6]),
        ];
        for (before, after) in cases {
            for offset in 0..8u16 {
                let mut cfg = weighted_bond(before);
                let mut env = FakeEnv::default();
                let total: u16 = before.iter().sum();
                // Mid-cycle: some flows into the old cycle.
                new_flows(&cfg, &mut env, 10000, total.min(50) + offset);
                cfg.weights[..after.len()].copy_from_slice(after);
                cfg.recompute();
                let cycle: u16 = after.iter().sum();
                let picks = new_flows(&cfg, &mut env, 20000, 4 * cycle);
                let what = format!("{before:?} -> {after:?}, offset {offset}");
                every_window_within(&picks[cycle as usize..], cycle as usize, after, 1.0, &what);
            }
        }
    }

    #[test]
    fn a_member_going_down_mid_sequence_gets_nothing_and_the_rest_stay_in_proportion() {
        for offset in 0..8u16 {
            let mut cfg = weighted_bond(&[1, 2, 5]);
            let mut env = FakeEnv::default();
            new_flows(&cfg, &mut env, 10000, 11 + offset);
            cfg.members[2].link = LinkState::Down as u8;
            cfg.recompute();
            let picks = new_flows(&cfg, &mut env, 20000, 30);
            assert!(!picks.contains(&2));
            every_window_within(&picks[3..], 3, &[1, 2], 1.0, "slot 2 down");
            assert_eq!(env.credits.snapshot()[2], 0);
            // And back up: within one flow of 1:2:5 after a cycle.
            cfg.members[2].link = LinkState::Up as u8;
            cfg.recompute();
            let picks = new_flows(&cfg, &mut env, 30000, 40);
            every_window_within(&picks[8..], 8, &[1, 2, 5], 1.0, "slot 2 back");
        }
    }

    #[test]
    fn credits_stay_bounded_under_random_weight_changes() {
        let mut cfg = weighted_bond(&[1; MAX_MEMBERS]);
        let credits = Credits::default();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut since_change = 0;
        for _ in 0..1_000_000 {
            if since_change == 0 {
                let scale = [1u64, 5, 1000, 65536][(next() % 4) as usize];
                for slot in 0..MAX_MEMBERS {
                    cfg.weights[slot] = (next() % scale) as u16;
                    cfg.members[slot].link = if next() % 5 == 0 {
                        LinkState::Down as u8
                    } else {
                        LinkState::Up as u8
                    };
                }
                cfg.recompute();
                since_change = 1 + next() % 100;
            }
            since_change -= 1;
            let total: i64 = cfg
                .tx_slots()
                .iter()
                .map(|&s| cfg.weights[s as usize] as i64)
                .sum();
            match place(&cfg, &credits) {
                Some(slot) => {
                    assert!(
                        cfg.tx_slots().contains(&(slot as u8)),
                        "{slot} does not transmit"
                    );
                    assert!(cfg.weights[slot as usize] > 0);
                }
                None => assert_eq!(total, 0),
            }
            for (slot, c) in credits.snapshot().into_iter().enumerate() {
                let takes = cfg.tx_slots().contains(&(slot as u8)) && cfg.weights[slot] > 0;
                if takes {
                    assert!(c.abs() <= total, "slot {slot}: credit {c}, W {total}");
                } else if total > 0 {
                    assert_eq!(c, 0, "slot {slot} takes no flows");
                }
            }
        }
    }

    #[test]
    fn picks_racing_on_a_stale_view_are_made_up_for() {
        // Two CPUs at a time choose from the same credits before either charges: they may
        // pick the same member, and the next picks make up for it.
        let cfg = weighted_bond(&[1, 3]);
        let credits = Credits::default();
        let mut got = [0i64; 2];
        for n in 1..=1000i64 {
            let a = choose(&cfg, &credits).unwrap();
            let b = choose(&cfg, &credits).unwrap();
            charge(&cfg, &credits, a);
            charge(&cfg, &credits, b);
            got[a.slot as usize] += 1;
            got[b.slot as usize] += 1;
            assert!(
                (got[0] - 2 * n / 4).abs() <= 1,
                "{got:?} after {} flows",
                2 * n
            );
        }
    }

    #[test]
    fn without_credits_or_weights_new_flows_still_go_somewhere() {
        // No credits (a failed lookup): the bucket table.
        let cfg = weighted_bond(&[1, 3]);
        let mut env = FakeEnv {
            no_credits: true,
            ..Default::default()
        };
        let picks = new_flows(&cfg, &mut env, 10000, 400);
        let t = tally(&picks);
        assert!(t[0] > 50 && t[1] > 200, "{t:?}");
        // No member with a weight: every member in turn by flow id.
        let cfg = weighted_bond(&[0, 0]);
        let mut env = FakeEnv::default();
        let picks = new_flows(&cfg, &mut env, 10000, 400);
        let t = tally(&picks);
        assert!(t[0] > 100 && t[1] > 100, "{t:?}");
    }

    #[test]
    fn frames_without_ip_use_the_layer2_hash_and_no_table() {
        let cfg = weighted_bond(&[1, 1]);
        let mut env = FakeEnv::default();
        let arp = crate::testing::arp_request([198, 18, 0, 1], [198, 18, 0, 2]);
        pick(&cfg, &mut env, &arp);
        assert!(env.flowlets.is_empty());
    }

    #[test]
    fn without_a_flowlet_table_every_packet_of_a_flow_takes_the_same_member() {
        // Placing each packet as a new flow (the credits) would spray one flow over the
        // members; by hash it stays on one, and the miss is counted.
        let cfg = weighted_bond(&[1, 1]);
        let mut env = FakeEnv {
            no_flowlet_table: true,
            ..Default::default()
        };
        let first = pick(&cfg, &mut env, &tcp(40000));
        for _ in 0..50 {
            env.now += 1_000_000;
            assert_eq!(pick(&cfg, &mut env, &tcp(40000)), first);
        }
        assert!(env.notes.iter().all(|c| *c == Counter::NoFlowletTable));
        assert_eq!(env.notes.len(), 51);
        // Flows still spread by their hash.
        let t = tally(&new_flows(&cfg, &mut env, 10000, 400));
        assert!(t[0] > 100 && t[1] > 100, "{t:?}");
    }
}
