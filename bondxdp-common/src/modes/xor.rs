//! balance-xor (mode 2): the transmit hash ([`crate::hash::xmit_hash`]) modulo the number of
//! eligible members picks the member, so every packet of a flow leaves through the same one
//! (kernel `bond_xmit_3ad_xor_slave_get`).

use super::{Selection, Selector, TxEnv, nth_eligible};
use crate::{
    config::{BondConfig, HashPolicy},
    counters::Counter,
    hash::{PacketMeta, xmit_hash_detailed},
    packet::PacketView,
};

/// balance-xor's selector for hash policy `POLICY` (a [`HashPolicy`] number): one egress
/// program per policy, so the policy is a constant in each.
pub struct Xor<const POLICY: u32>;

impl<const POLICY: u32> Selector for Xor<POLICY> {
    const PROGRAM: &'static str = program(match HashPolicy::from_u32(POLICY) {
        Some(p) => p,
        None => HashPolicy::Layer2,
    });
    const XDP_PROGRAM: &'static str = xdp_program(match HashPolicy::from_u32(POLICY) {
        Some(p) => p,
        None => HashPolicy::Layer2,
    });
    const POLICY: Option<HashPolicy> = HashPolicy::from_u32(POLICY);

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
        let policy = match HashPolicy::from_u32(POLICY) {
            Some(p) => p,
            None => HashPolicy::Layer2,
        };
        let (hash, fell_back) = xmit_hash_detailed(policy, pkt, meta);
        if fell_back {
            env.note(Counter::HashFallbackL2);
        }
        nth_eligible(cfg, hash)
    }
}

/// The egress program of balance-xor with `policy`.
pub const fn program(policy: HashPolicy) -> &'static str {
    match policy {
        HashPolicy::Layer2 => "egress_xor_l2",
        HashPolicy::Layer34 => "egress_xor_l34",
        HashPolicy::Layer23 => "egress_xor_l23",
        HashPolicy::Encap23 => "egress_xor_e23",
        HashPolicy::Encap34 => "egress_xor_e34",
        HashPolicy::VlanSrcMac => "egress_xor_vsm",
    }
}

/// The XDP fast-path program for balance-xor with `policy`.
pub const fn xdp_program(policy: HashPolicy) -> &'static str {
    match policy {
        HashPolicy::Layer2 => "xdp_lan_xor_l2",
        HashPolicy::Layer34 => "xdp_lan_xor_l34",
        HashPolicy::Layer23 => "xdp_lan_xor_l23",
        HashPolicy::Encap23 => "xdp_lan_xor_e23",
        HashPolicy::Encap34 => "xdp_lan_xor_e34",
        HashPolicy::VlanSrcMac => "xdp_lan_xor_vsm",
    }
}

/// balance-xor with the policy in `cfg`, dispatched at run time (host side).
#[inline(always)]
pub fn select<P: PacketView + ?Sized, E: TxEnv>(
    cfg: &BondConfig,
    pkt: &P,
    meta: &PacketMeta,
    env: &mut E,
) -> Selection {
    match cfg.hash_policy().unwrap_or(HashPolicy::Layer2) {
        HashPolicy::Layer2 => Xor::<0>::select(cfg, pkt, meta, env),
        HashPolicy::Layer34 => Xor::<1>::select(cfg, pkt, meta, env),
        HashPolicy::Layer23 => Xor::<2>::select(cfg, pkt, meta, env),
        HashPolicy::Encap23 => Xor::<3>::select(cfg, pkt, meta, env),
        HashPolicy::Encap34 => Xor::<4>::select(cfg, pkt, meta, env),
        HashPolicy::VlanSrcMac => Xor::<5>::select(cfg, pkt, meta, env),
    }
}

#[cfg(test)]
mod tests {
    use super::{super::testing::*, *};
    use crate::config::{LinkState, Mode};

    /// IPv4/UDP from 198.18.0.1 to 198.19.0.1 with the given ports.
    fn udp(sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 42];
        f[12] = 0x08;
        f[14] = 0x45;
        f[23] = 17;
        f[26..30].copy_from_slice(&[198, 18, 0, 1]);
        f[30..34].copy_from_slice(&[198, 19, 0, 1]);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    fn pick(cfg: &BondConfig, frame: &[u8], env: &mut FakeEnv) -> u32 {
        match select(cfg, frame, &PacketMeta::ethernet(0x0800), env) {
            Selection::Member(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_flow_always_takes_the_same_member() {
        let mut cfg = bond(Mode::BalanceXor, 3);
        cfg.hash_policy = HashPolicy::Layer34 as u32;
        let mut env = FakeEnv::default();
        let first = pick(&cfg, &udp(4000, 5001), &mut env);
        for _ in 0..10 {
            assert_eq!(pick(&cfg, &udp(4000, 5001), &mut env), first);
        }
    }

    #[test]
    fn many_flows_use_every_member() {
        let mut cfg = bond(Mode::BalanceXor, 3);
        cfg.hash_policy = HashPolicy::Layer34 as u32;
        let mut env = FakeEnv::default();
        let mut per_member = [0u32; 3];
        for flow in 0..64u16 {
            per_member[pick(&cfg, &udp(40000 + flow, 5001), &mut env) as usize] += 1;
        }
        assert!(per_member.iter().all(|n| *n >= 10), "{per_member:?}");
    }

    #[test]
    fn member_choice_is_hash_modulo_eligible_members() {
        let mut cfg = bond(Mode::BalanceXor, 3);
        cfg.hash_policy = HashPolicy::Layer34 as u32;
        cfg.members[0].link = LinkState::Down as u8;
        cfg.recompute();
        let frame = udp(1234, 80);
        let hash = crate::hash::xmit_hash(
            HashPolicy::Layer34,
            &frame[..],
            &PacketMeta::ethernet(0x0800),
        );
        let expected = [1u32, 2][(hash % 2) as usize];
        assert_eq!(pick(&cfg, &frame, &mut FakeEnv::default()), expected);
    }

    #[test]
    fn unparsable_frames_fall_back_to_layer2_and_are_noted() {
        let mut cfg = bond(Mode::BalanceXor, 2);
        cfg.hash_policy = HashPolicy::Layer34 as u32;
        let mut env = FakeEnv::default();
        let mut arp = [0u8; 42];
        arp[12] = 0x08;
        arp[13] = 0x06;
        let meta = PacketMeta::ethernet(0x0806);
        assert!(matches!(
            select(&cfg, &arp[..], &meta, &mut env),
            Selection::Member(_)
        ));
        assert_eq!(env.notes, vec![Counter::HashFallbackL2]);
        // Layer2 itself never "falls back".
        cfg.hash_policy = HashPolicy::Layer2 as u32;
        let mut env = FakeEnv::default();
        select(&cfg, &arp[..], &meta, &mut env);
        assert!(env.notes.is_empty());
    }
}
