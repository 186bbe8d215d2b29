//! custom mode: the user's selection program, between two halves of bondxdp's own (the
//! contract is in `bondxdp_common::modes::custom`).

use aya_ebpf::{bindings::TC_ACT_SHOT, programs::TcContext};
use bondxdp_common::{
    BondConfig, Counter,
    hash::xmit_hash,
    modes::{
        Selection,
        custom::{SELECT_SLOT, fallback, prepare, resolve},
    },
};

use crate::{egress, maps, skb::SkbView};

/// First half (tcx egress on the bond): the context, then the user's program.
#[inline(always)]
pub fn dispatch(ctx: &TcContext) -> i32 {
    let Some(cfg) = maps::config() else {
        maps::count(Counter::DropNoConfig);
        return TC_ACT_SHOT;
    };
    let policy = cfg.hash_policy();
    let pkt = SkbView::new(ctx);
    let meta = egress::packet_meta(ctx, policy);
    let hash = match policy {
        Some(p) => xmit_hash(p, &pkt, &meta),
        None => 0,
    };
    let Some(select) = maps::select_ctx() else {
        return send(ctx, cfg, fallback(cfg, hash));
    };
    if !prepare(cfg, hash, ctx.len(), select) {
        maps::count(Counter::DropNoMember);
        return TC_ACT_SHOT;
    }
    // SAFETY: a tail call; on success it does not return.
    unsafe { maps::SELECT_PROGS.tail_call(ctx, SELECT_SLOT) };
    maps::count(Counter::CustomNoProgram);
    send(ctx, cfg, fallback(cfg, hash))
}

/// Second half (tail-called by the user's program): the choice, validated, sent.
#[inline(always)]
pub fn finish(ctx: &TcContext) -> i32 {
    let Some(cfg) = maps::config() else {
        maps::count(Counter::DropNoConfig);
        return TC_ACT_SHOT;
    };
    let Some(select) = maps::select_ctx() else {
        return TC_ACT_SHOT;
    };
    let (selection, valid) = resolve(cfg, select.choice, select.flow_hash);
    if !valid {
        maps::count(Counter::CustomBadChoice);
    }
    send(ctx, cfg, selection)
}

/// Sends through the selected member (custom mode never broadcasts).
#[inline(always)]
fn send(ctx: &TcContext, cfg: &BondConfig, selection: Selection) -> i32 {
    match selection {
        Selection::Member(slot) => egress::transmit(ctx, cfg, slot),
        _ => {
            maps::count(Counter::DropNoMember);
            TC_ACT_SHOT
        }
    }
}
