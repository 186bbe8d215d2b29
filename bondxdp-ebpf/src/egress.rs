//! Transmit: the bond's egress program picks a member per packet and redirects to it.

use aya_ebpf::{
    bindings::{TC_ACT_REDIRECT, TC_ACT_SHOT},
    helpers::bpf_redirect,
    programs::TcContext,
};
use aya_log_ebpf::debug;
use bondxdp_common::{
    BondConfig, Counter, HashPolicy, MAX_MEMBERS,
    config::CFG_KEEP_MEMBER_MACS,
    hash::PacketMeta,
    modes::{Selection, Selector},
};

use crate::{
    maps, member_mac,
    skb::{Env, SkbView},
};

/// Entry point: every packet the stack sends through the bond, with selector `S`.
#[inline(always)]
pub fn bond_egress<S: Selector>(ctx: &TcContext) -> i32 {
    let Some(cfg) = maps::config() else {
        maps::count(Counter::DropNoConfig);
        if maps::first_time(Counter::DropNoConfig) {
            debug!(
                ctx,
                "bond_egress: no configuration yet, dropping (logged once)"
            );
        }
        return TC_ACT_SHOT;
    };
    let pkt = SkbView::new(ctx);
    let meta = packet_meta(ctx, S::POLICY);
    match S::select(cfg, &pkt, &meta, &mut Env) {
        Selection::Member(slot) => transmit(ctx, cfg, slot),
        Selection::AllMembers => broadcast(ctx, cfg),
        Selection::NoMember => {
            maps::count(Counter::DropNoMember);
            TC_ACT_SHOT
        }
    }
}

/// What the stack knows about the packet (read only when the hash policy needs it).
#[inline(always)]
pub fn packet_meta(ctx: &TcContext, policy: Option<HashPolicy>) -> PacketMeta {
    // SAFETY: reads of __sk_buff fields the verifier allows for tc programs.
    let skb = unsafe { &*ctx.skb.skb };
    let mut meta = PacketMeta::ethernet(u16::from_be(skb.protocol as u16));
    match policy {
        Some(HashPolicy::Encap34) if skb.hash != 0 => meta.l4_hash = Some(skb.hash),
        Some(HashPolicy::VlanSrcMac) if skb.vlan_present != 0 => {
            meta.vlan_tci = Some(skb.vlan_tci as u16)
        }
        _ => {}
    }
    meta
}

/// Sends the packet through the member in `slot`.
#[inline(always)]
pub fn transmit(ctx: &TcContext, cfg: &BondConfig, slot: u32) -> i32 {
    let Some(ifindex) = prepare(ctx, cfg, slot, true) else {
        return TC_ACT_SHOT;
    };
    maps::count_tx(slot, ctx.len());
    // SAFETY: plain helper call; returns TC_ACT_REDIRECT (or TC_ACT_SHOT for bad flags).
    unsafe { bpf_redirect(ifindex, 0) as i32 }
}

/// Sends a copy through every eligible member: clones to all but the last, which gets the
/// original.
#[inline(always)]
fn broadcast(ctx: &TcContext, cfg: &BondConfig) -> i32 {
    let count = (cfg.tx_count as usize).min(MAX_MEMBERS);
    let mut verdict = TC_ACT_SHOT;
    for pos in 0..MAX_MEMBERS {
        if pos >= count {
            break;
        }
        let slot = cfg.tx_slots[pos] as u32;
        let Some(ifindex) = prepare(ctx, cfg, slot, false) else {
            continue;
        };
        if pos + 1 == count {
            maps::count_tx(slot, ctx.len());
            // SAFETY: plain helper call.
            verdict = unsafe { bpf_redirect(ifindex, 0) as i32 };
        } else if ctx.clone_redirect(ifindex, 0).is_ok() {
            maps::count_tx(slot, ctx.len());
        } else {
            maps::count(Counter::DropCloneFailed);
            if maps::first_time(Counter::DropCloneFailed) {
                debug!(
                    ctx,
                    "broadcast: clone to ifindex {} failed (logged once)", ifindex
                );
            }
        }
    }
    if verdict != TC_ACT_REDIRECT {
        maps::count(Counter::DropNoMember);
    }
    verdict
}

/// Validates `slot` and writes the member's source MAC when it is not the bond's
/// (`keep_member_macs`; balance-tlb/alb members other than the active receiver), and with
/// `keep_member_macs` and `payload` the MACs inside ARP and ND payloads too (not for the
/// copies a broadcast sends: one parse per member would pass the verifier's budget; they keep
/// the bond's MAC there). Returns the member's ifindex.
#[inline(always)]
fn prepare(ctx: &TcContext, cfg: &BondConfig, slot: u32, payload: bool) -> Option<u32> {
    let member = cfg.members.get(slot as usize)?;
    if member.ifindex == 0 {
        maps::count(Counter::DropNoMember);
        return None;
    }
    if cfg.rewrites_source() {
        let mac = cfg.source_mac(slot as usize);
        if ctx.store(6, mac, 0).is_err()
            || (payload
                && cfg.has_flag(CFG_KEEP_MEMBER_MACS)
                && !member_mac::rewrite(ctx, cfg, mac))
        {
            maps::count(Counter::DropRewriteFailed);
            return None;
        }
    }
    Some(member.ifindex)
}
