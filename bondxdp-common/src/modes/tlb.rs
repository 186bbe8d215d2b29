//! balance-tlb (5) and the transmit side of balance-alb (6), as the kernel's `bond_alb.c`
//! does them.
//!
//! * Broadcast and multicast frames, and frames that are neither IPv4 nor IPv6 (ARP...), go
//!   through the active member, the "active receiver" (the kernel's `curr_active_slave`),
//!   with the bond's MAC: it is the member the segment knows the bond's MAC on.
//! * Unicast IPv4/IPv6 is balanced: with `tlb_dynamic_lb=1` (the default) by load, through
//!   [`LoadAware`]'s flow table and smooth weighted round-robin (per flow and flowlet, where
//!   the kernel balances per destination hash bucket); with `tlb_dynamic_lb=0`
//!   ([`CFG_TLB_HASH`]) by the `xmit_hash_policy` hash, as the kernel does.
//! * Members other than the active receiver transmit with their own MAC as the source
//!   ([`BondConfig::source_mac`]), so the switch never sees the bond's MAC move: inbound
//!   traffic to the bond's MAC keeps arriving on the active receiver.

use super::{Selection, Selector, TxEnv, load_aware::LoadAware, xor};
use crate::{
    config::{BondConfig, CFG_TLB_HASH, LinkState, MAX_MEMBERS},
    hash::PacketMeta,
    packet::{Bytes, PacketView},
};

/// EtherType IPv4.
const ETH_P_IP: u16 = 0x0800;
/// EtherType IPv6.
const ETH_P_IPV6: u16 = 0x86dd;

/// balance-tlb's selector (also balance-alb's for everything but the ARP it rewrites).
pub struct Tlb;

impl Selector for Tlb {
    const PROGRAM: &'static str = "egress_tlb";
    const XDP_PROGRAM: &'static str = "xdp_lan_tlb";

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
        let group = pkt.window(0, 14).is_none_or(|w| w.u8::<0>() & 1 != 0);
        let ip = meta.l2_proto == ETH_P_IP || meta.l2_proto == ETH_P_IPV6;
        if group || !ip {
            return active_receiver(cfg);
        }
        if cfg.has_flag(CFG_TLB_HASH) {
            xor::select(cfg, pkt, meta, env)
        } else {
            LoadAware::select(cfg, pkt, meta, env)
        }
    }
}

/// The active receiver, if it is up (the kernel drops what it would send through none).
#[inline(always)]
pub fn active_receiver(cfg: &BondConfig) -> Selection {
    let slot = cfg.active_slot as usize;
    match cfg.members.get(slot & (MAX_MEMBERS - 1)) {
        Some(m) if slot < MAX_MEMBERS && m.is_used() && m.link_state() == LinkState::Up => {
            Selection::Member(slot as u32)
        }
        _ => Selection::NoMember,
    }
}

#[cfg(test)]
mod tests {
    use super::{super::testing::*, *};
    use crate::config::{CFG_ACTIVE_RECEIVER, Mode};

    fn frame(dst0: u8, proto: u16) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[0] = dst0;
        f[12..14].copy_from_slice(&proto.to_be_bytes());
        f[14] = 0x45;
        f[23] = 17;
        f[26..30].copy_from_slice(&[198, 18, 0, 1]);
        f[30..34].copy_from_slice(&[198, 18, 0, 2]);
        f
    }

    #[test]
    fn broadcast_and_non_ip_go_through_the_active_receiver() {
        let mut cfg = bond(Mode::BalanceTlb, 3);
        cfg.active_slot = 2;
        cfg.recompute();
        assert!(cfg.has_flag(CFG_ACTIVE_RECEIVER));
        let mut env = FakeEnv::default();
        for (dst0, proto) in [(0xff, ETH_P_IP), (0x01, ETH_P_IPV6), (0x02, 0x0806)] {
            let f = frame(dst0, proto);
            let meta = PacketMeta::ethernet(proto);
            assert_eq!(
                Tlb::select(&cfg, &f[..], &meta, &mut env),
                Selection::Member(2)
            );
        }
        // The active receiver down: nothing (as the kernel, no other member sends them).
        cfg.members[2].link = LinkState::Down as u8;
        assert_eq!(active_receiver(&cfg), Selection::NoMember);
    }

    #[test]
    fn unicast_ip_is_balanced_by_load_or_by_hash() {
        let mut cfg = bond(Mode::BalanceTlb, 2);
        let meta = PacketMeta::ethernet(ETH_P_IP);
        let mut env = FakeEnv::default();
        // By load: consecutive new flows alternate between equal weights.
        let mut seen = [0; 2];
        for port in 0..8u8 {
            let mut f = frame(0x02, ETH_P_IP);
            f[35] = port;
            if let Selection::Member(s) = Tlb::select(&cfg, &f[..], &meta, &mut env) {
                seen[s as usize] += 1;
            }
        }
        assert_eq!(seen, [4, 4]);
        // By hash: what balance-xor picks.
        cfg.flags |= CFG_TLB_HASH;
        cfg.hash_policy = crate::config::HashPolicy::Layer34 as u32;
        for port in 0..8u8 {
            let mut f = frame(0x02, ETH_P_IP);
            f[35] = port;
            assert_eq!(
                Tlb::select(&cfg, &f[..], &meta, &mut env),
                xor::select(&cfg, &f[..], &meta, &mut env)
            );
        }
    }

    #[test]
    fn only_non_active_members_use_their_own_source_mac() {
        let mut cfg = bond(Mode::BalanceTlb, 3);
        cfg.bond_mac = [2, 0xb, 0, 0, 0, 0];
        cfg.active_slot = 1;
        cfg.recompute();
        assert_eq!(*cfg.source_mac(1), cfg.bond_mac);
        assert_eq!(*cfg.source_mac(0), cfg.members[0].mac);
        assert_eq!(*cfg.source_mac(2), cfg.members[2].mac);
        assert!(cfg.rewrites_source());
        // Another mode without keep_member_macs: the bond's MAC, nothing rewritten.
        cfg.mode = Mode::BalanceXor as u32;
        cfg.recompute();
        assert_eq!(*cfg.source_mac(0), cfg.bond_mac);
        assert!(!cfg.rewrites_source());
    }
}
