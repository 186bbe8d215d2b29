//! Receive: each member's ingress program hands what arrives to the bond.

use aya_ebpf::{
    bindings::{BPF_F_INGRESS, TC_ACT_OK, TC_ACT_SHOT},
    helpers::bpf_redirect,
    programs::TcContext,
};
use bondxdp_common::{
    Counter,
    config::{CFG_KEEP_MEMBER_MACS, MEMBER_RX_ACCEPT},
    packet::{PacketView, ethertype},
};

use crate::{maps, skb::SkbView};

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
    let pkt = SkbView::new(ctx);
    if pkt.be16_at(12) == Some(ethertype::SLOW_PROTOCOLS) {
        // LACP and Marker frames belong to the controller, which reads them on the member.
        maps::count(Counter::RxSlowProtocols);
        return TC_ACT_OK;
    }
    if member.flags & MEMBER_RX_ACCEPT == 0 {
        maps::count(Counter::DropInactiveMember);
        return TC_ACT_SHOT;
    }
    if cfg.has_flag(CFG_KEEP_MEMBER_MACS)
        && pkt.load::<6>(0) == Some(member.mac)
        && ctx.store(0, &cfg.bond_mac, 0).is_err()
    {
        maps::count(Counter::DropRewriteFailed);
        return TC_ACT_SHOT;
    }
    maps::count_rx(slot as u32, ctx.len());
    // SAFETY: plain helper call.
    unsafe { bpf_redirect(cfg.bond_ifindex, BPF_F_INGRESS as u64) as i32 }
}
