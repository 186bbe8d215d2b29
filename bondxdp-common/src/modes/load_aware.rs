//! load-aware (bondxdp's 17) and balance-tlb (5): every flow is pinned to a member in a
//! flowlet table; it may move only after an idle gap longer than the flowlet timeout (a new
//! "flowlet": the packets in flight have drained, so moving cannot reorder them) or when its
//! member stops transmitting. New flows and flowlets go to members in proportion to their
//! weights (a bucket table the controller keeps current from each member's spare capacity).
//!
//! Flows are identified by a hash of their 5-tuple (3-tuple for protocols without ports),
//! from the same dissector as layer3+4; frames without an IP header (ARP...) use the layer2
//! hash and no table.

use super::{Selection, Selector, TxEnv, nth_eligible};
use crate::{
    config::BondConfig,
    counters::Counter,
    hash::{PacketMeta, dissect, eth_hash},
    packet::PacketView,
    weights::{NO_BUCKET, bucket_of},
};

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
        let now = env.now_ns();
        let (slot, moved, new) = env.with_flowlet(id, |entry| match entry {
            Some(f) => match decide(cfg, f, now) {
                Some(slot) => {
                    f.last_ns = now;
                    (slot, false, false)
                }
                None => {
                    let slot = weighted(cfg, id);
                    let moved = slot != f.slot;
                    f.slot = slot;
                    f.last_ns = now;
                    (slot, moved, false)
                }
            },
            None => (weighted(cfg, id), false, true),
        });
        if slot >= crate::config::MAX_MEMBERS as u32 {
            return Selection::NoMember;
        }
        if new {
            env.insert_flowlet(
                id,
                Flowlet {
                    slot,
                    pad: 0,
                    last_ns: now,
                },
            );
        }
        if moved {
            env.note(Counter::FlowletMoved);
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

/// The member for a new flow or flowlet with id `id`: the weighted bucket its id falls in
/// (every eligible member by turn if the table is empty).
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

    #[test]
    fn new_flows_follow_the_weights() {
        let cfg = weighted_bond(&[1, 3]);
        let mut env = FakeEnv::default();
        let mut count = [0usize; 2];
        for port in 0..4000u16 {
            count[pick(&cfg, &mut env, &tcp(10000 + port)) as usize] += 1;
        }
        let share = count[1] as f64 / 4000.0;
        assert!((share - 0.75).abs() < 0.03, "{count:?}");
    }

    #[test]
    fn frames_without_ip_use_the_layer2_hash_and_no_table() {
        let cfg = weighted_bond(&[1, 1]);
        let mut env = FakeEnv::default();
        let arp = crate::testing::arp_request([198, 18, 0, 1], [198, 18, 0, 2]);
        pick(&cfg, &mut env, &arp);
        assert!(env.flowlets.is_empty());
    }
}
