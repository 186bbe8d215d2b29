//! The XDP fast path for routed traffic (`--forward-from`): frames a LAN-side interface
//! receives for a route through the bond leave through a member chosen by the bond's mode
//! (one LAN-side program per selector, generated in `main.rs` like the tc egress programs);
//! frames a member receives for a route out of a LAN-side interface leave through it. Both
//! without the kernel's forwarding path: FIB lookup (its answers cached per CPU in `ROUTES4`
//! / `ROUTES6` until the controller retires them or they age out), MAC rewrite, TTL
//! decrement, devmap redirect. Everything else goes to the kernel unchanged, counted by reason
//! (`bondxdp_common::fast_path`).

use aya_ebpf::{
    EbpfContext,
    bindings::{
        BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, BPF_FIB_LKUP_RET_NO_NEIGH,
        BPF_FIB_LKUP_RET_NOT_FWDED, BPF_FIB_LKUP_RET_SUCCESS, bpf_fib_lookup,
        xdp_action::{XDP_DROP, XDP_PASS, XDP_REDIRECT},
    },
    helpers::{bpf_fib_lookup as fib_lookup, bpf_get_smp_processor_id, bpf_jiffies64},
    maps::Array,
    programs::XdpContext,
};
use bondxdp_common::{
    BondConfig, Counter, MAX_MEMBERS,
    config::{MEMBER_RX_ACCEPT, XDP_FORWARDS, XDP_PORTS},
    fast_path::{
        self, CHECK_OFFSET_V4, HOP_LIMIT_OFFSET_V6, LAST_ROUTES_PER_CPU, LastRoute, NextHop, Route,
        RouteKey, RouteSlot, TTL_OFFSET_V4,
    },
    hash::PacketMeta,
    modes::{Selection, Selector},
};

use crate::{
    maps,
    skb::{
        Env, SkbView,
        write::{copy_macs, load_u16, store_u16},
    },
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

/// The bond's configuration if the fast path forwards for its mode, and whether the mode
/// hashes ports (then fragments stay on the kernel's path).
#[inline(always)]
fn accelerated() -> Result<(&'static BondConfig, bool), Counter> {
    // An unwritten configuration has no flags.
    let cfg = maps::live_config();
    if cfg.xdp_flags & XDP_FORWARDS == 0 {
        return Err(Counter::XdpPassMode);
    }
    Ok((cfg, cfg.xdp_flags & XDP_PORTS != 0))
}

/// The bond's configuration if LAN-side program `S` is the one that forwards for it (for the
/// moment a mode change takes, the previous mode's program may still run on the new
/// configuration), and whether the mode hashes ports.
#[inline(always)]
fn accelerated_by<S: Selector>() -> Result<(&'static BondConfig, bool), Counter> {
    // An unwritten configuration names `xdp_lan_pass` (index 0).
    let cfg = maps::live_config();
    if cfg.xdp_lan != const { fast_path::lan_index(S::XDP_PROGRAM) } {
        return Err(Counter::XdpPassMode);
    }
    Ok((cfg, cfg.xdp_flags & XDP_PORTS != 0))
}

#[inline(always)]
fn try_lan<S: Selector>(ctx: &XdpContext) -> Result<u32, Counter> {
    let (cfg, split_fragments) = accelerated_by::<S>()?;
    let t = CacheTime::read(false);
    let pkt = SkbView::from_range(ctx.data(), ctx.data_end());
    fast_path::classify_then(
        &pkt,
        split_fragments,
        #[inline(always)]
        |route| {
            let hop = next_hop(ctx, &route, ctx.ingress_ifindex() as u32, t)?;
            if hop.ifindex != cfg.bond_ifindex {
                return Err(Counter::XdpPassOtherRoute);
            }
            let meta = PacketMeta::ethernet(if route.ipv6 { 0x86dd } else { 0x0800 });
            let selection = S::select(cfg, &pkt, &meta, &mut Env);
            to_members(ctx, &pkt, cfg, &route, hop, selection)
        },
    )
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
    let t = CacheTime::read(true);
    let pkt = SkbView::from_range(ctx.data(), ctx.data_end());
    let route = fast_path::classify(&pkt, split_fragments)?;
    // A member's frames arrive, for the kernel, on the bond.
    let hop = next_hop(ctx, &route, cfg.bond_ifindex, t)?;
    // Only the --forward-from interfaces are in this devmap, so the redirect itself says
    // whether the route leads to one (the frame is rewritten only once it does; the
    // redirect takes effect when we return).
    if redirect_port(hop.ifindex) != XDP_REDIRECT {
        return Err(Counter::XdpPassOtherRoute);
    }
    rewrite(&pkt, &route, &hop.dmac, &hop.smac)?;
    maps::count_xdp(rx_slot as u32, len(ctx), false);
    Ok(XDP_REDIRECT)
}

/// Sends a frame routed through the bond out of the selected member(s).
#[inline(always)]
fn to_members(
    ctx: &XdpContext,
    pkt: &SkbView,
    cfg: &BondConfig,
    route: &Route,
    hop: &NextHop,
    selection: Selection,
) -> Result<u32, Counter> {
    match selection {
        Selection::Member(slot) => {
            if slot as usize >= MAX_MEMBERS {
                return Err(Counter::DropNoMember);
            }
            rewrite(pkt, route, &hop.dmac, cfg.source_mac(slot as usize))?;
            maps::count_xdp(slot, len(ctx), true);
            Ok(redirect_member(slot))
        }
        Selection::AllMembers => {
            rewrite(pkt, route, &hop.dmac, &cfg.bond_mac)?;
            maps::count(Counter::XdpForwarded);
            // One copy per member: counted on each member that transmits, as the tc path
            // does (the devmap holds every member; the kernel drops copies to one that is
            // down).
            let (count, bytes) = ((cfg.tx_count as usize).min(MAX_MEMBERS), len(ctx));
            for pos in 0..MAX_MEMBERS {
                if pos >= count {
                    break;
                }
                maps::count_tx(cfg.tx_slots[pos] as u32, bytes);
            }
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

/// Redirects to the member in `slot` (to the kernel if it has no port there).
#[inline(always)]
fn redirect_member(slot: u32) -> u32 {
    match maps::FWD_MEMBERS.redirect(slot, XDP_PASS as u64) {
        Ok(action) | Err(action) => action,
    }
}

/// Redirects to LAN-side interface `ifindex` (to the kernel if it is none).
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

/// What the route cache needs besides the key: read first thing, so that the helper calls
/// (inlined by the verifier, but calls to LLVM, which saves every live value around them)
/// come before the packet's fields are live, and so that the last slot used is on its way
/// from memory while the packet's headers are.
#[derive(Clone, Copy)]
struct CacheTime {
    /// The kernel tick (jiffies).
    now: u64,
    /// The route cache's epoch.
    epoch: u32,
    /// This CPU (whose slots are used).
    cpu: u32,
    /// This CPU's record of the last slot used in this direction (null: none).
    last: *mut LastRoute,
    /// That slot (null: none), a `RouteSlot<RouteKey6>` if `last_v6`, else of `RouteKey4`.
    last_slot: *const u8,
    /// The family of `last_slot`.
    last_v6: bool,
}

impl CacheTime {
    /// For frames arriving on a LAN-side interface (`member` false) or on a member.
    #[inline(always)]
    fn read(member: bool) -> CacheTime {
        // SAFETY: helpers without arguments (both inlined by the verifier: loads).
        let (now, cpu) = unsafe { (bpf_jiffies64(), bpf_get_smp_processor_id()) };
        let mut t = CacheTime {
            now,
            epoch: maps::route_epoch(),
            cpu,
            last: core::ptr::null_mut(),
            last_slot: core::ptr::null(),
            last_v6: false,
        };
        // The loader sizes the record array for every possible CPU.
        if let Some(last) = maps::LAST_ROUTES.get_ptr_mut(cpu * LAST_ROUTES_PER_CPU + member as u32)
        {
            // SAFETY: this CPU's record; programs on one CPU do not interleave.
            let LastRoute { slot, ipv6 } = unsafe { *last };
            let at =
                cpu * fast_path::ROUTE_CACHE_SLOTS + (slot & (fast_path::ROUTE_CACHE_SLOTS - 1));
            t.last = last;
            t.last_v6 = ipv6 != 0;
            t.last_slot = if t.last_v6 {
                maps::ROUTES6
                    .get_ptr(at)
                    .map_or(core::ptr::null(), |s| s.cast())
            } else {
                maps::ROUTES4
                    .get_ptr(at)
                    .map_or(core::ptr::null(), |s| s.cast())
            };
        }
        t
    }
}

/// Where `route` (arriving, for the kernel, on `ifindex`) leaves: the route cache's answer
/// while it holds (same key and epoch, not expired, packet no longer than one the kernel
/// accepted), else the kernel's FIB, whose answer then takes the key's slot.
#[inline(always)]
fn next_hop(
    ctx: &XdpContext,
    route: &Route,
    ifindex: u32,
    t: CacheTime,
) -> Result<&'static NextHop, Counter> {
    if route.ipv6 {
        via_cache(&maps::ROUTES6, route.key6(ifindex), ctx, route, ifindex, t)
    } else {
        via_cache(&maps::ROUTES4, route.key4(ifindex), ctx, route, ifindex, t)
    }
}

/// [`next_hop`] through one family's cache: the last slot used if it answers for `key`, else
/// the answer in `key`'s slot (among this CPU's) if it still holds, else the FIB's, stored
/// there.
#[inline(always)]
fn via_cache<K: RouteKey>(
    cache: &Array<RouteSlot<K>>,
    key: K,
    ctx: &XdpContext,
    route: &Route,
    ifindex: u32,
    t: CacheTime,
) -> Result<&'static NextHop, Counter> {
    if !t.last_slot.is_null() && t.last_v6 == route.ipv6 {
        // SAFETY: a slot of this family's cache (`last_v6` says which), this CPU's.
        let last = unsafe { &*(t.last_slot as *const RouteSlot<K>) };
        if last.answers(&key, t.epoch, t.now, route.tot_len) {
            return Ok(&last.hop);
        }
    }
    let index = key.slot();
    // The loader sizes the array for every possible CPU: the lookup cannot fail.
    let slot = cache
        .get_ptr_mut(t.cpu * fast_path::ROUTE_CACHE_SLOTS + index)
        .ok_or(Counter::XdpPassFib)?;
    // SAFETY: one of this CPU's slots: nothing else writes it while this program runs (XDP
    // runs with migration off, and only these programs touch the cache).
    let slot = unsafe { &mut *slot };
    if !slot.answers(&key, t.epoch, t.now, route.tot_len) {
        slot.hop = fib(ctx, route, ifindex, t.epoch, t.now)?;
        slot.key = key;
    }
    if !t.last.is_null() {
        // SAFETY: this CPU's record (see `CacheTime::read`).
        unsafe {
            *t.last = LastRoute {
                slot: index,
                ipv6: route.ipv6 as u32,
            }
        };
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
        expires: now + fast_path::ROUTE_CACHE_TTL_TICKS,
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

/// Rewrites the MACs and decrements the TTL / hop limit (IPv4 checksum updated) of the frame
/// `pkt` views ([`fast_path::classify`] saw its whole IP header). `dst` and `src` lie in map
/// values (the route cache, the configuration).
#[inline(always)]
fn rewrite(pkt: &SkbView, route: &Route, dst: &[u8; 6], src: &[u8; 6]) -> Result<(), Counter> {
    let ip_header = if route.ipv6 { 40 } else { 20 };
    let frame = pkt
        .start(fast_path::ETH_HLEN + ip_header)
        .ok_or(Counter::XdpPassMalformed)?;
    // SAFETY: the frame holds the Ethernet and IP headers (checked above against data_end);
    // `dst` and `src` are six bytes each, in map values.
    unsafe {
        copy_macs(frame, dst, src);
        if route.ipv6 {
            *((frame + HOP_LIMIT_OFFSET_V6) as *mut u8) -= 1;
        } else {
            *((frame + TTL_OFFSET_V4) as *mut u8) -= 1;
            let check = u16::from_be(load_u16(frame + CHECK_OFFSET_V4));
            store_u16(
                frame + CHECK_OFFSET_V4,
                fast_path::checksum_after_ttl_decrement(check).to_be(),
            );
        }
    }
    Ok(())
}
