//! Receive: each member's ingress program hands what arrives to the bond.

use aya_ebpf::{
    bindings::{BPF_F_INGRESS, TC_ACT_OK, TC_ACT_SHOT},
    helpers::bpf_redirect,
    programs::TcContext,
};
use bondxdp_common::{
    Counter, Mode,
    config::{CFG_ACTIVE_RECEIVER, CFG_KEEP_MEMBER_MACS, MEMBER_RX_ACCEPT},
};
use network_types::eth::{EthHdr, EtherType};

use crate::{alb, maps, skb::SkbView};

/// IEEE 802.3 Slow Protocols (LACP, Marker), as it appears in `EthHdr::ether_type`.
const SLOW_PROTOCOLS: u16 = 0x8809u16.to_be();
/// ARP, likewise.
const ARP: u16 = 0x0806u16.to_be();

// network-types spells EtherTypes in network byte order; make sure ours agrees.
const _: () = assert!(EtherType::Ipv4 as u16 == 0x0800u16.to_be());

/// Entry point: every frame a member receives.
#[inline(always)]
pub fn member_ingress(ctx: &TcContext) -> i32 {
    let Some(cfg) = maps::config() else {
        maps::count(Counter::RxNotMember);
        return TC_ACT_OK;
    };
    // SAFETY: reading a __sk_buff field.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let Some(slot) = cfg.slot_of(ifindex) else {
        maps::count(Counter::RxNotMember);
        return TC_ACT_OK;
    };
    let member = cfg.members[slot];
    let eth = SkbView::new(ctx).header::<EthHdr>(0);
    if eth.is_some_and(|e| e.ether_type == SLOW_PROTOCOLS) {
        // LACP and Marker frames belong to the controller, which reads them on the member.
        maps::count(Counter::RxSlowProtocols);
        return TC_ACT_OK;
    }
    if member.flags & MEMBER_RX_ACCEPT == 0 {
        maps::count(Counter::DropInactiveMember);
        return TC_ACT_SHOT;
    }
    let to_member = eth.is_some_and(|e| e.dst_addr == member.mac);
    if cfg.has_flag(CFG_ACTIVE_RECEIVER) && slot as u32 != cfg.active_slot && !to_member {
        // balance-tlb/alb: broadcasts and the bond's MAC arrive on the active receiver; the
        // others deliver only what is sent to their own MAC (no copy twice).
        maps::count(Counter::DropNotReceiver);
        return TC_ACT_SHOT;
    }
    if cfg.mode == Mode::BalanceAlb as u32 && eth.is_some_and(|e| e.ether_type == ARP) {
        alb::learn(ctx);
    }
    // keep_member_macs: peers learn each member's MAC from its ARP and ND, and may send to
    // it over any link (a bonded peer, a switch that has not learned it yet): a frame for
    // another member's MAC is the bond's too.
    let to_a_member = to_member
        || (cfg.has_flag(CFG_KEEP_MEMBER_MACS)
            && !cfg.has_flag(CFG_ACTIVE_RECEIVER)
            && eth.is_some_and(|e| is_member_mac(cfg, &e.dst_addr)));
    if cfg.rewrites_source() && to_a_member && ctx.store(0, &cfg.bond_mac, 0).is_err() {
        maps::count(Counter::DropRewriteFailed);
        return TC_ACT_SHOT;
    }
    maps::count_rx(slot as u32, ctx.len());
    // SAFETY: plain helper call.
    unsafe { bpf_redirect(cfg.bond_ifindex, BPF_F_INGRESS as u64) as i32 }
}

/// A MAC as a number (6 byte loads and shifts: what the verifier follows where a 6-byte
/// compare of a stack copy may not be).
#[inline(always)]
fn mac_value(mac: &[u8; 6]) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < 6 {
        v = (v << 8) | mac[i] as u64;
        i += 1;
    }
    v
}

/// Whether `mac` is one of the bond's members' (as the data plane has them).
#[inline(always)]
fn is_member_mac(cfg: &bondxdp_common::BondConfig, mac: &[u8; 6]) -> bool {
    let wanted = mac_value(mac);
    let mut slot = 0;
    while slot < bondxdp_common::MAX_MEMBERS {
        let m = &cfg.members[slot];
        if m.ifindex != 0 && mac_value(&m.mac) == wanted {
            return true;
        }
        slot += 1;
    }
    false
}
