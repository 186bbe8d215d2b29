//! balance-rr (mode 0): packets go to the eligible members in turn.
//!
//! Kernel semantics (`bond_xmit_roundrobin_slave_get`, `bond_rr_gen_slave_id`): a per-CPU
//! counter is incremented per packet; `packets_per_slave` N > 1 sends N packets in a row
//! through one member, 0 picks a random member; IGMP always leaves through the active member
//! so multicast group membership stays on one port. Two deliberate differences: the kernel
//! takes the counter modulo *all* members and skips to the next usable one, which gives the
//! member after a dead one a double share; bondxdp takes it modulo the eligible members, so
//! traffic stays even. And it keeps the counter as a cursor ([`RrCursor`]: member index and
//! run length), which gives the same sequence without a division per packet.

use super::{Selection, Selector, TxEnv, nth_eligible};
use crate::{
    config::{BondConfig, MAX_MEMBERS},
    hash::PacketMeta,
    packet::{Bytes, PacketView, ethertype, ipproto},
};

/// balance-rr's selector.
pub struct RoundRobin;

impl Selector for RoundRobin {
    const PROGRAM: &'static str = "egress_rr";
    const XDP_PROGRAM: &'static str = "xdp_lan_rr";

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
        if is_igmp(pkt, meta) {
            return igmp_member(cfg);
        }
        let index = match cfg.packets_per_slave {
            0 => return nth_eligible(cfg, env.random()),
            n => env.next_rr(n, cfg.tx_count),
        };
        // Below tx_count, so the mask changes nothing; it shows the verifier the bound (a
        // bounds check LLVM makes on a copy of the register would not).
        Selection::Member(cfg.tx_slots[index as usize & (MAX_MEMBERS - 1)] as u32)
    }
}

/// A CPU's place in balance-rr's round (per-CPU map value): the index of the eligible member
/// whose turn it is and how many packets it has sent in a row.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RrCursor {
    /// Index among the eligible members (`tx_slots`).
    pub index: u32,
    /// Packets sent in a row through it.
    pub run: u32,
}

impl RrCursor {
    /// Moves on by one packet: after `per_member` (at least 1) packets in a row the turn
    /// passes to the next of `count` eligible members. Returns the index (below `count`, or 0
    /// if there is none) of the member that sends the packet. While `count` stays, the
    /// sequence is the kernel's `(++counter / per_member) % count` from a zero counter, with
    /// compares instead of two divisions; when it changes, the round goes on from where it
    /// was (from the first member if that index is gone).
    #[inline(always)]
    pub fn step(&mut self, per_member: u32, count: u32) -> u32 {
        self.run += 1;
        if self.run >= per_member {
            self.run = 0;
            self.index += 1;
        }
        if self.index >= count {
            self.index = 0;
        }
        self.index
    }
}

/// Whether the packet is IPv4 carrying IGMP (a full IPv4 header must be present).
#[inline(always)]
fn is_igmp<P: PacketView + ?Sized>(pkt: &P, meta: &PacketMeta) -> bool {
    meta.l2_proto == ethertype::IPV4
        && pkt
            .window(meta.nhoff, 20)
            .is_some_and(|ip| ip.u8::<9>() == ipproto::IGMP)
}

/// The active member if it may transmit, else the first eligible one.
#[inline(always)]
fn igmp_member(cfg: &BondConfig) -> Selection {
    let active = cfg.active_slot;
    if cfg.tx_slots().iter().any(|s| *s as u32 == active) {
        Selection::Member(active)
    } else {
        nth_eligible(cfg, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::{super::testing::*, *};
    use crate::config::{LinkState, Mode};

    fn ipv4(proto: u8) -> [u8; 34] {
        let mut f = [0u8; 34];
        f[12] = 0x08;
        f[14] = 0x45;
        f[23] = proto;
        f
    }

    fn run(cfg: &BondConfig, env: &mut FakeEnv, frame: &[u8], packets: usize) -> Vec<u32> {
        let meta = PacketMeta::ethernet(0x0800);
        (0..packets)
            .map(|_| match RoundRobin::select(cfg, frame, &meta, env) {
                Selection::Member(s) => s,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn one_packet_per_member_in_turn() {
        let cfg = bond(Mode::BalanceRr, 3);
        let got = run(&cfg, &mut FakeEnv::default(), &ipv4(17), 6);
        // The kernel pre-increments the counter: the first packet uses id 1.
        assert_eq!(got, vec![1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn packets_per_slave_sends_runs() {
        let mut cfg = bond(Mode::BalanceRr, 2);
        cfg.packets_per_slave = 3;
        cfg.recompute();
        let got = run(&cfg, &mut FakeEnv::default(), &ipv4(6), 8);
        // ids 1..=8 divided by 3: 0,0,1,1,1,2,2,2 -> modulo 2.
        assert_eq!(got, vec![0, 0, 1, 1, 1, 0, 0, 0]);
    }

    #[test]
    fn the_cursor_matches_the_kernels_counter_and_survives_changes_of_the_member_count() {
        for per_member in [1u32, 2, 3, 7] {
            for count in [1u32, 2, 3, 5, 16] {
                let mut cursor = RrCursor::default();
                for counter in 1..=200u32 {
                    assert_eq!(
                        cursor.step(per_member, count),
                        counter / per_member % count,
                        "per_member {per_member}, count {count}, packet {counter}"
                    );
                }
            }
        }
        // A member leaves while the turn is beyond the new count: the round restarts at the
        // first member; one joins: the round goes on.
        let mut cursor = RrCursor { index: 2, run: 0 };
        assert_eq!(cursor.step(1, 2), 0);
        assert_eq!(cursor.step(1, 3), 1);
        assert_eq!(cursor.step(1, 3), 2);
        // No eligible member: index 0, which the selector finds empty.
        assert_eq!(RrCursor::default().step(1, 0), 0);
    }

    #[test]
    fn packets_per_slave_zero_is_random() {
        let mut cfg = bond(Mode::BalanceRr, 3);
        cfg.packets_per_slave = 0;
        cfg.recompute();
        let mut env = FakeEnv {
            randoms: vec![5, 7, 9],
            ..Default::default()
        };
        assert_eq!(run(&cfg, &mut env, &ipv4(6), 3), vec![0, 1, 2]);
    }

    #[test]
    fn down_members_are_skipped_evenly() {
        let mut cfg = bond(Mode::BalanceRr, 3);
        cfg.members[1].link = LinkState::Down as u8;
        cfg.recompute();
        let got = run(&cfg, &mut FakeEnv::default(), &ipv4(17), 4);
        assert_eq!(got, vec![2, 0, 2, 0]);
    }

    #[test]
    fn igmp_sticks_to_the_active_member() {
        let mut cfg = bond(Mode::BalanceRr, 3);
        cfg.active_slot = 2;
        let got = run(&cfg, &mut FakeEnv::default(), &ipv4(2), 3);
        assert_eq!(got, vec![2, 2, 2]);
        cfg.members[2].link = LinkState::Down as u8;
        cfg.recompute();
        assert_eq!(run(&cfg, &mut FakeEnv::default(), &ipv4(2), 1), vec![0]);
        // A truncated IPv4 header is not IGMP.
        assert_eq!(
            run(&cfg, &mut FakeEnv::default(), &ipv4(2)[..30], 1),
            vec![1]
        );
    }

    #[test]
    fn no_members_no_selection() {
        let cfg = bond(Mode::BalanceRr, 0);
        let meta = PacketMeta::ethernet(0x0800);
        assert_eq!(
            RoundRobin::select(&cfg, &ipv4(6)[..], &meta, &mut FakeEnv::default()),
            Selection::NoMember
        );
    }
}
