//! The XDP fast path for routed traffic (`--forward-from`): frames a LAN-side interface
//! receives for a route through the bond leave through a member chosen by the bond's mode
//! (one LAN-side program per selector, generated in `main.rs` like the tc egress programs);
//! frames a member receives for a route out of a LAN-side interface leave through it. Both
//! without the kernel's forwarding path: FIB lookup (its answers cached per CPU in `ROUTES4`
//! / `ROUTES6` until the controller retires them or they age out), MAC rewrite, TTL
//! decrement, devmap redirect. Everything else goes to the kernel unchanged, counted by reason
//! (`bondxdp_common::forward`).

use aya_ebpf::{
    EbpfContext,
    bindings::{
        BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, BPF_FIB_LKUP_RET_NO_NEIGH,
        BPF_FIB_LKUP_RET_NOT_FWDED, BPF_FIB_LKUP_RET_SUCCESS, bpf_fib_lookup,
        xdp_action::{XDP_DROP, XDP_PASS, XDP_REDIRECT},
    },
    helpers::{bpf_fib_lookup as fib_lookup, bpf_jiffies64},
    maps::PerCpuArray,
    programs::XdpContext,
};
use bondxdp_common::{
    BondConfig, Counter,
    config::{CFG_KEEP_MEMBER_MACS, MEMBER_RX_ACCEPT},
    forward::{
        self, CHECK_OFFSET_V4, HOP_LIMIT_OFFSET_V6, NextHop, Route, RouteKey, RouteSlot,
        TTL_OFFSET_V4,
    },
    hash::PacketMeta,
    modes::{Selection, Selector},
};

use crate::{
    maps,
    skb::{Env, SkbView, write::copy_macs},
};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// `xdp_lan_*`: frames a LAN-side interface receives for a route through the bond leave
/// through the member `S` picks (the tc path's selector, compiled in: no dispatch on the
/// mode).
#[inline(always)]
pub fn lan<S: Selector>(ctx: &XdpContext) -> u32 {
    verdict(try_lan::<S>(ctx))
}

/// `xdp_member`: frames a member receives for a route out of a LAN-side interface leave
/// through it; the rest goes on to `member_ingress`.
#[inline(always)]
pub fn member(ctx: &XdpContext) -> u32 {
    verdict(try_member(ctx))
}

/// `xdp_lan_pass`: the LAN side of a mode without an XDP path; every frame to the kernel.
#[inline(always)]
pub fn lan_pass() -> u32 {
    maps::count(Counter::XdpPassMode);
    XDP_PASS
}

/// The action, counting why a frame went to the kernel.
#[inline(always)]
fn verdict(result: Result<u32, Counter>) -> u32 {
    match result {
        Ok(action) => action,
        Err(reason) => {
            maps::count(reason);
            XDP_PASS
        }
    }
}

/// The bond's configuration if its mode has a fast path, and whether the mode hashes ports
/// (then fragments stay on the kernel's path). The mode is checked in every program: for
/// the moment a mode change takes, a LAN-side program may run on the next mode's
/// configuration.
#[inline(always)]
fn accelerated() -> Result<(&'static BondConfig, bool), Counter> {
    let cfg = maps::config().ok_or(Counter::XdpPassMode)?;
    let split_fragments =
        forward::fast_path(cfg.mode, cfg.hash_policy).ok_or(Counter::XdpPassMode)?;
    Ok((cfg, split_fragments))
}

#[inline(always)]
fn try_lan<S: Selector>(ctx: &XdpContext) -> Result<u32, Counter> {
    let (cfg, split_fragments) = accelerated()?;
    let pkt = SkbView::from_range(ctx.data(), ctx.data_end());
    let route = forward::classify(&pkt, split_fragments)?;
    let hop = next_hop(ctx, &route, ctx.ingress_ifindex() as u32)?;
    if hop.ifindex != cfg.bond_ifindex {
        return Err(Counter::XdpPassOtherRoute);
    }
    let meta = PacketMeta::ethernet(if route.ipv6 { 0x86dd } else { 0x0800 });
    let selection = S::select(cfg, &pkt, &meta, &mut Env);
    to_members(ctx, cfg, &route, hop, selection)
}

#[inline(always)]
fn try_member(ctx: &XdpContext) -> Result<u32, Counter> {
    let (cfg, split_fragments) = accelerated()?;
    // Frames of members that may not receive (or of an interface that left the bond) are
    // the tc path's to drop and count.
    let Some(rx_slot) = cfg.slot_of(ctx.ingress_ifindex() as u32) else {
        return Ok(XDP_PASS);
    };
    if cfg.members[rx_slot].flags & MEMBER_RX_ACCEPT == 0 {
        return Ok(XDP_PASS);
    }
    let pkt = SkbView::from_range(ctx.data(), ctx.data_end());
    let route = forward::classify(&pkt, split_fragments)?;
    // A member's frames arrive, for the kernel, on the bond.
    let hop = next_hop(ctx, &route, cfg.bond_ifindex)?;
    // Only the --forward-from interfaces are in the devmap next to the members, so the
    // redirect itself says whether the route leads to one (the frame is rewritten only once
    // it does; the redirect takes effect when we return).
    if cfg.slot_of(hop.ifindex).is_some() || redirect_port(hop.ifindex) != XDP_REDIRECT {
        return Err(Counter::XdpPassOtherRoute);
    }
    rewrite(ctx, &route, &hop.dmac, &hop.smac)?;
    maps::count_rx(rx_slot as u32, len(ctx));
    maps::count(Counter::XdpForwarded);
    Ok(XDP_REDIRECT)
}

/// Sends a frame routed through the bond out of the selected member(s).
#[inline(always)]
fn to_members(
    ctx: &XdpContext,
    cfg: &BondConfig,
    route: &Route,
    hop: &NextHop,
    selection: Selection,
) -> Result<u32, Counter> {
    match selection {
        Selection::Member(slot) => {
            let member = cfg
                .members
                .get(slot as usize)
                .ok_or(Counter::DropNoMember)?;
            let src = if cfg.has_flag(CFG_KEEP_MEMBER_MACS) {
                &member.mac
            } else {
                &cfg.bond_mac
            };
            rewrite(ctx, route, &hop.dmac, src)?;
            maps::count_tx(slot, len(ctx));
            maps::count(Counter::XdpForwarded);
            Ok(redirect_port(member.ifindex))
        }
        Selection::AllMembers => {
            rewrite(ctx, route, &hop.dmac, &cfg.bond_mac)?;
            maps::count(Counter::XdpForwarded);
            let flags = (BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS) as u64;
            Ok(match maps::FWD_BCAST.redirect(0, flags) {
                Ok(action) | Err(action) => action,
            })
        }
        Selection::NoMember => {
            maps::count(Counter::DropNoMember);
            Ok(XDP_DROP)
        }
    }
}

/// Redirects to `ifindex` through the devmap (to the kernel if it is not there).
#[inline(always)]
fn redirect_port(ifindex: u32) -> u32 {
    match maps::FWD_PORTS.redirect(ifindex, XDP_PASS as u64) {
        Ok(action) | Err(action) => action,
    }
}

#[inline(always)]
fn len(ctx: &XdpContext) -> u32 {
    (ctx.data_end() - ctx.data()) as u32
}

/// Where `route` (arriving, for the kernel, on `ifindex`) leaves: the route cache's answer
/// while it holds (same key and epoch, not expired, packet no longer than one the kernel
/// accepted), else the kernel's FIB, whose answer then takes the key's slot.
#[inline(always)]
fn next_hop(ctx: &XdpContext, route: &Route, ifindex: u32) -> Result<&'static NextHop, Counter> {
    let epoch = maps::route_epoch();
    // SAFETY: helper without arguments (inlined by the verifier: a load of `jiffies`).
    let now = unsafe { bpf_jiffies64() };
    if route.ipv6 {
        via_cache(
            &maps::ROUTES6,
            route.key6(ifindex),
            ctx,
            route,
            ifindex,
            epoch,
            now,
        )
    } else {
        via_cache(
            &maps::ROUTES4,
            route.key4(ifindex),
            ctx,
            route,
            ifindex,
            epoch,
            now,
        )
    }
}

/// [`next_hop`] through one family's cache: the answer in `key`'s slot if it still holds,
/// else the FIB's, stored there.
#[inline(always)]
fn via_cache<K: RouteKey>(
    cache: &PerCpuArray<RouteSlot<K>>,
    key: K,
    ctx: &XdpContext,
    route: &Route,
    ifindex: u32,
    epoch: u32,
    now: u64,
) -> Result<&'static NextHop, Counter> {
    // Slots are below the array's size: the lookup cannot fail.
    let slot = cache.get_ptr_mut(key.slot()).ok_or(Counter::XdpPassFib)?;
    // SAFETY: a value of this CPU's copy of the array: nothing else writes it while this
    // program runs (XDP runs with migration off, and only these programs touch the cache).
    let slot = unsafe { &mut *slot };
    if !slot.answers(&key, epoch, now, route.tot_len) {
        slot.hop = fib(ctx, route, ifindex, epoch, now)?;
        slot.key = key;
    }
    Ok(&slot.hop)
}

/// Asks the kernel's FIB, for the route cache.
#[inline(always)]
fn fib(
    ctx: &XdpContext,
    route: &Route,
    ifindex: u32,
    epoch: u32,
    now: u64,
) -> Result<NextHop, Counter> {
    maps::count(Counter::XdpFibLookup);
    let mut slot = core::mem::MaybeUninit::uninit();
    let params = FibParams::zeroed_in(&mut slot);
    lookup(ctx, route, ifindex, params)?;
    let p = &params.0;
    Ok(NextHop {
        ifindex: p.ifindex,
        dmac: p.dmac,
        smac: p.smac,
        max_len: route.tot_len,
        pad: 0,
        epoch,
        expires: now + forward::ROUTE_CACHE_TTL_TICKS,
    })
}

/// `bpf_fib_lookup`'s parameter block, aligned so that it can be cleared a word at a time.
#[repr(C, align(8))]
struct FibParams(bpf_fib_lookup);

impl FibParams {
    /// Clears the block at `slot` by eight-byte stores and hands it out, in place: both
    /// `mem::zeroed()` and a zeroed value moved into place become memset calls, which in
    /// eBPF are byte-at-a-time loops (64 iterations per packet here).
    #[inline(always)]
    fn zeroed_in(slot: &mut core::mem::MaybeUninit<FibParams>) -> &mut FibParams {
        let words = slot.as_mut_ptr() as *mut u64;
        for i in 0..core::mem::size_of::<FibParams>() / 8 {
            // SAFETY: within the (8-aligned, multiple-of-8-sized) block; volatile so that
            // LLVM keeps the stores instead of merging them back into a memset.
            unsafe { core::ptr::write_volatile(words.add(i), 0) };
        }
        // SAFETY: every byte was written; all zeroes is a valid `bpf_fib_lookup`.
        unsafe { slot.assume_init_mut() }
    }
}

/// The kernel's route for `route` arriving on `ifindex`, with resolved MACs, into `params`
/// (zeroed).
#[inline(always)]
fn lookup(
    ctx: &XdpContext,
    route: &Route,
    ifindex: u32,
    params: &mut FibParams,
) -> Result<(), Counter> {
    let p = &mut params.0;
    p.family = if route.ipv6 { AF_INET6 } else { AF_INET };
    p.l4_protocol = route.proto;
    p.ifindex = ifindex;
    p.__bindgen_anon_1.tot_len = route.tot_len;
    if route.ipv6 {
        p.__bindgen_anon_2.flowinfo = route.flowinfo;
        p.__bindgen_anon_3.ipv6_src = route.src;
        p.__bindgen_anon_4.ipv6_dst = route.dst;
    } else {
        p.__bindgen_anon_2.tos = route.tos;
        p.__bindgen_anon_3.ipv4_src = route.src[0];
        p.__bindgen_anon_4.ipv4_dst = route.dst[0];
    }
    // SAFETY: helper call with a valid context and a parameter struct of the size given.
    let rc = unsafe {
        fib_lookup(
            ctx.as_ptr(),
            p,
            core::mem::size_of::<bpf_fib_lookup>() as i32,
            0,
        )
    };
    match rc as u32 {
        BPF_FIB_LKUP_RET_SUCCESS => Ok(()),
        BPF_FIB_LKUP_RET_NOT_FWDED => Err(Counter::XdpPassLocal),
        BPF_FIB_LKUP_RET_NO_NEIGH => Err(Counter::XdpPassNoNeigh),
        _ => Err(Counter::XdpPassFib),
    }
}

/// Rewrites the MACs and decrements the TTL / hop limit (IPv4 checksum updated). `dst` and
/// `src` lie in map values (the route cache, the configuration).
#[inline(always)]
fn rewrite(ctx: &XdpContext, route: &Route, dst: &[u8; 6], src: &[u8; 6]) -> Result<(), Counter> {
    let start = ctx.data();
    if start + forward::ETH_HLEN + 40 > ctx.data_end() {
        // classify() saw at least a full IPv4 header; IPv6 frames are at least this long.
        if route.ipv6 || start + forward::ETH_HLEN + 20 > ctx.data_end() {
            return Err(Counter::XdpPassMalformed);
        }
    }
    let p = start as *mut u8;
    // SAFETY: the first 34 bytes (IPv4) or 54 bytes (IPv6) lie inside the frame, checked
    // above against data_end; `dst` and `src` are six bytes each.
    unsafe {
        copy_macs(start, dst, src);
        if route.ipv6 {
            *p.add(HOP_LIMIT_OFFSET_V6) -= 1;
        } else {
            *p.add(TTL_OFFSET_V4) -= 1;
            let c = p.add(CHECK_OFFSET_V4) as *mut u16;
            let check = u16::from_be(core::ptr::read_unaligned(c));
            let new = forward::checksum_after_ttl_decrement(check).to_be();
            core::ptr::write_unaligned(c, new);
        }
    }
    Ok(())
}
