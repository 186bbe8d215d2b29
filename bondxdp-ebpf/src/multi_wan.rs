//! multi-wan: per-flow uplink choice and translation to each uplink's address.
//!
//! * [`egress`] (tcx egress on the bond): finds or creates the flow's entry, rewrites the
//!   source address and port (or ICMP identifier) to the uplink's, the MACs to the uplink's
//!   and its gateway's, and redirects to the uplink. For raw-IP uplinks the kernel strips the
//!   Ethernet header on redirect.
//! * [`ingress`] (tcx ingress on each uplink): packets of a translated flow (and ICMP errors
//!   about one) are translated back and handed to the bond; everything else is left to the
//!   host's stack untouched.
//!
//! Checksums are updated incrementally with the kernel's helpers, which also keep
//! `CHECKSUM_PARTIAL` (locally generated) and `CHECKSUM_COMPLETE` packets consistent.

use aya_ebpf::{
    bindings::{BPF_ANY, BPF_F_INGRESS, BPF_F_MARK_MANGLED_0, BPF_F_PSEUDO_HDR, BPF_NOEXIST},
    bindings::{TC_ACT_OK, TC_ACT_SHOT},
    helpers::{bpf_csum_diff, bpf_redirect, bpf_skb_change_head},
    programs::TcContext,
};
use bondxdp_common::{
    BondConfig, Counter, MAX_MEMBERS,
    config::{LinkState, NAT_STICKY_HOST, UPLINK_L3, Uplink},
    multi_wan::{
        self, Addr, FAMILY_V4, FLOW_CLOSING, Flow, FlowEntry, FlowKey, FragEntry, FragKey,
        Fragment, HostEntry, Inner, NatEntry, PORT_TRIES, ParseError, Transport, tcp,
    },
    packet::{ETH_HLEN, ipproto},
    weights::{NO_BUCKET, bucket_of},
};

use crate::{
    maps::{self, NAT_FLOWS, NAT_FRAGS, NAT_HOSTS, NAT_TABLE},
    skb::{SkbView, write},
};

/// Masks a member slot into range: slots are checked before use, and the mask lets the
/// compiler see it (no bounds-check panic paths, which the verifier would refuse).
const SLOT_MASK: usize = MAX_MEMBERS - 1;
const _: () = assert!(MAX_MEMBERS.is_power_of_two());

/// How often (ns) a flow's `last_ns` is refreshed: the garbage collector's resolution.
const TOUCH_NS: u64 = 1_000_000_000;

/// The packet's EtherType (`skb->protocol`), host order.
#[inline(always)]
fn ethertype(ctx: &TcContext) -> u16 {
    // SAFETY: reading a __sk_buff field.
    u16::from_be(unsafe { (*ctx.skb.skb).protocol } as u16)
}

/// Entry point: every packet the bond sends.
#[inline(always)]
pub fn egress(ctx: &TcContext) -> i32 {
    let Some(cfg) = maps::config() else {
        maps::count(Counter::DropNoConfig);
        return TC_ACT_SHOT;
    };
    let Some(flow) = maps::scratch_flow() else {
        return TC_ACT_SHOT;
    };
    match multi_wan::parse_into(&SkbView::new(ctx), ethertype(ctx), ETH_HLEN, flow) {
        Ok(()) => {}
        Err(ParseError::NotIp) => return drop(Counter::NatNotIp),
        Err(_) => return drop(Counter::NatMalformed),
    }
    let flow: &Flow = flow;
    if !multi_wan::translatable(&flow.key) {
        return drop(Counter::NatUntranslatable);
    }
    if flow.fragment == Fragment::Later {
        return egress_fragment(ctx, cfg, flow);
    }
    // An ICMP error the inside sends about a packet it received: it belongs to that
    // packet's flow, translated like it (quoted packet included).
    if flow.transport == Transport::IcmpError {
        return egress_error(ctx, cfg, flow);
    }
    let Some((slot, port)) = flow_for(cfg, flow, ctx.len()) else {
        return TC_ACT_SHOT;
    };
    egress_translate(ctx, cfg, flow, slot, port)
}

/// Translates a packet of a pinned flow and sends it through its uplink. (Not inlined, like
/// [`flow_for`]: each gets a stack frame of its own.)
#[inline(never)]
fn egress_translate(ctx: &TcContext, cfg: &BondConfig, flow: &Flow, slot: usize, port: u16) -> i32 {
    let uplink = &cfg.uplinks[slot & SLOT_MASK];
    let addr = uplink.addr(flow.key.family);
    if rewrite_source(ctx, flow, &addr, port).is_err() || set_macs_out(ctx, cfg, slot).is_err() {
        return drop(Counter::DropRewriteFailed);
    }
    if flow.fragment == Fragment::First {
        remember_fragments(flow, &addr, slot);
    }
    send(ctx, cfg, slot)
}

/// The first fragment of a datagram went through: its later fragments (no ports) follow it
/// to the same address and uplink.
#[inline(always)]
fn remember_fragments(flow: &Flow, addr: &Addr, slot: usize) {
    let entry = FragEntry {
        addr: *addr,
        slot: slot as u32,
        pad: 0,
    };
    let _ = NAT_FRAGS.insert(FragKey::of(flow), entry, BPF_ANY as u64);
}

/// A later fragment from the inside: translated like its first fragment was, or dropped
/// (counted) if that was never seen.
#[inline(never)]
fn egress_fragment(ctx: &TcContext, cfg: &BondConfig, flow: &Flow) -> i32 {
    let Some(entry) = NAT_FRAGS.get_ptr(FragKey::of(flow)) else {
        return drop(Counter::NatFragmentUnknown);
    };
    // SAFETY: a map value pointer from a successful lookup.
    let (addr, slot) = unsafe { ((*entry).addr, (*entry).slot as usize & SLOT_MASK) };
    if !usable(cfg, slot, flow.key.family) {
        return drop(Counter::NatNoUplink);
    }
    let at = flow.l3_off + src_off(flow);
    if rewrite_addr(ctx, flow, at, &flow.key.src, &addr).is_err()
        || set_macs_out(ctx, cfg, slot).is_err()
    {
        return drop(Counter::DropRewriteFailed);
    }
    send(ctx, cfg, slot)
}

/// An ICMP error from the inside: translated with the flow of the packet it quotes.
/// (Not inlined: BPF-to-BPF calls have stack frames of their own, and the 512-byte stack
/// does not hold every path of the program at once.)
#[inline(never)]
fn egress_error(ctx: &TcContext, cfg: &BondConfig, flow: &Flow) -> i32 {
    let Some(inner) = flow.inner.as_ref() else {
        return drop(Counter::NatMalformed);
    };
    // The quoted packet came in on the flow: its reverse is the flow's inside key.
    let key = inner.key.reversed();
    let Some(entry) = NAT_FLOWS.get_ptr(key) else {
        // About nothing we translated: not ours to send anywhere.
        return drop(Counter::NatUntranslatable);
    };
    // SAFETY: a map value pointer from a successful lookup.
    let (slot, port, epoch) =
        unsafe { ((*entry).slot as usize, (*entry).nat_port, (*entry).epoch) };
    if slot >= MAX_MEMBERS || !usable(cfg, slot, flow.key.family) {
        return drop(Counter::NatNoUplink);
    }
    let uplink = &cfg.uplinks[slot & SLOT_MASK];
    if uplink.epoch != epoch {
        return drop(Counter::NatNoUplink);
    }
    let addr = uplink.addr(flow.key.family);
    let ok = rewrite_addr(ctx, flow, flow.l3_off + src_off(flow), &flow.key.src, &addr).is_ok()
        && rewrite_inner(ctx, flow, inner, InnerField::Destination, &addr, port).is_ok()
        && set_macs_out(ctx, cfg, slot).is_ok();
    if !ok {
        return drop(Counter::DropRewriteFailed);
    }
    send(ctx, cfg, slot)
}

/// Counts on the uplink and redirects the packet to it.
#[inline(always)]
fn send(ctx: &TcContext, cfg: &BondConfig, slot: usize) -> i32 {
    maps::count_tx(slot as u32, ctx.len());
    // SAFETY: plain helper call.
    unsafe { bpf_redirect(cfg.members[slot & SLOT_MASK].ifindex, 0) as i32 }
}

/// Counts a drop and says so.
#[inline(always)]
fn drop(counter: Counter) -> i32 {
    maps::count(counter);
    TC_ACT_SHOT
}

/// Whether the uplink in `slot` can carry flows of `family` now.
#[inline(always)]
fn usable(cfg: &BondConfig, slot: usize, family: u8) -> bool {
    let Some(member) = cfg.members.get(slot) else {
        return false;
    };
    member.is_used()
        && member.link_state() == LinkState::Up
        && cfg.uplinks[slot & SLOT_MASK].flags & Uplink::family_flag(family) != 0
}

/// The flow's uplink slot and translated port: from its entry, or a new entry (uplink by
/// weight or sticky host, port claimed in the NAT table). `None`: dropped and counted.
/// Not inlined (see [`egress_error`]).
#[inline(never)]
fn flow_for(cfg: &BondConfig, flow: &Flow, len: u32) -> Option<(usize, u16)> {
    let key = &flow.key;
    let now = maps::coarse_now_ns();
    let syn = key.proto == ipproto::TCP && flow.tcp_flags & (tcp::SYN | tcp::ACK) == tcp::SYN;
    if let Some(entry) = NAT_FLOWS.get_ptr_mut(key) {
        // SAFETY: a map value pointer from a successful lookup; races only blur counters.
        let entry = unsafe { &mut *entry };
        let slot = entry.slot as usize;
        if slot < MAX_MEMBERS
            && usable(cfg, slot, key.family)
            && entry.epoch == cfg.uplinks[slot & SLOT_MASK].epoch
        {
            entry.tx_packets += 1;
            entry.tx_bytes += len as u64;
            if flow.tcp_flags & (tcp::FIN | tcp::RST) != 0 {
                entry.flags |= FLOW_CLOSING;
            }
            if now.wrapping_sub(entry.last_ns) > TOUCH_NS {
                entry.last_ns = now;
                touch_reply(cfg, key, slot, entry.nat_port, now);
            }
            if syn {
                maps::signal(slot, |s| s.syn_retransmits += 1);
            }
            return Some((slot, entry.nat_port));
        }
        maps::count(Counter::NatStaleFlow);
    } else if key.proto == ipproto::TCP && !syn {
        maps::count(Counter::NatFlowRecreated);
    }
    let slot = choose_uplink(cfg, key)?;
    let port = claim_port(cfg, flow, slot, now)?;
    let entry = FlowEntry {
        nat_port: port,
        slot: slot as u8,
        flags: 0,
        epoch: cfg.uplinks[slot & SLOT_MASK].epoch,
        created_ns: now,
        last_ns: now,
        tx_packets: 1,
        tx_bytes: len as u64,
    };
    if NAT_FLOWS.insert(key, entry, BPF_ANY as u64).is_err() {
        maps::count(Counter::NatTableFull);
        return None;
    }
    maps::count(Counter::NatNewFlow);
    maps::signal(slot, |s| {
        s.new_flows += 1;
        if syn {
            s.syns += 1;
        }
    });
    Some((slot, port))
}

/// Keeps the flow's NAT entry alive in the LRU (replies may be rare) and restores it if it was
/// evicted.
#[inline(always)]
fn touch_reply(cfg: &BondConfig, key: &FlowKey, slot: usize, port: u16, now: u64) {
    let uplink = &cfg.uplinks[slot & SLOT_MASK];
    let reply = key.reply_key(uplink.addr(key.family), port);
    if NAT_TABLE.get_ptr(reply).is_none() {
        let entry = nat_entry(key, slot, uplink.epoch, now);
        if NAT_TABLE.insert(reply, entry, BPF_NOEXIST as u64).is_err() {
            // Evicted, and its port taken by another flow since: start this flow over with
            // a port of its own at its next packet.
            let _ = NAT_FLOWS.remove(key);
        }
    }
}

/// The NAT table entry of an inside flow.
#[inline(always)]
fn nat_entry(key: &FlowKey, slot: usize, epoch: u32, now: u64) -> NatEntry {
    NatEntry {
        inside: key.src,
        inside_port: key.sport,
        slot: slot as u8,
        pad: 0,
        epoch,
        last_ns: now,
        rx_packets: 0,
        rx_bytes: 0,
    }
}

/// The uplink for a new flow: the sticky host's if it is still usable, else by weight.
#[inline(always)]
fn choose_uplink(cfg: &BondConfig, key: &FlowKey) -> Option<usize> {
    let sticky = cfg.nat_flags & NAT_STICKY_HOST != 0;
    let host = multi_wan::host_key(key);
    if sticky && let Some(h) = NAT_HOSTS.get_ptr(host) {
        // SAFETY: a map value pointer from a successful lookup.
        let (slot, epoch) = unsafe { ((*h).slot as usize, (*h).epoch) };
        if slot < MAX_MEMBERS
            && usable(cfg, slot, key.family)
            && cfg.uplinks[slot & SLOT_MASK].epoch == epoch
        {
            return Some(slot);
        }
    }
    let family = (key.family != FAMILY_V4) as usize;
    let table = cfg.buckets.get(family)?;
    let bucket = table.get(bucket_of(multi_wan::flow_hash(key)))?;
    if *bucket == NO_BUCKET || *bucket as usize >= MAX_MEMBERS {
        maps::count(Counter::NatNoUplink);
        return None;
    }
    let slot = *bucket as usize;
    if sticky {
        let entry = HostEntry {
            slot: slot as u32,
            epoch: cfg.uplinks[slot & SLOT_MASK].epoch,
        };
        let _ = NAT_HOSTS.insert(host, entry, BPF_ANY as u64);
    }
    Some(slot)
}

/// Claims a translated port for a new flow on `slot` by inserting its NAT entry with
/// BPF_NOEXIST: the original port if free, then up to [`PORT_TRIES`] pseudo-random ones.
/// Address-only flows have no port: one try.
#[inline(always)]
fn claim_port(cfg: &BondConfig, flow: &Flow, slot: usize, now: u64) -> Option<u16> {
    let key = &flow.key;
    let uplink = &cfg.uplinks[slot & SLOT_MASK];
    let addr = uplink.addr(key.family);
    let entry = nat_entry(key, slot, uplink.epoch, now);
    // Echo identifiers have no well-known range: any 16-bit value but 0 will do.
    let (tries, min, max) = match flow.transport {
        Transport::Ports => (PORT_TRIES, cfg.nat_port_min, cfg.nat_port_max),
        Transport::IcmpEcho => (PORT_TRIES, 1, u16::MAX),
        _ => (1, 0, 0),
    };
    let seed = multi_wan::flow_hash(key);
    for i in 0..tries {
        let port = if tries == 1 {
            0
        } else {
            multi_wan::port_candidate(i, key.sport, seed, min, max)
        };
        let reply = key.reply_key(addr, port);
        if NAT_TABLE.insert(reply, entry, BPF_NOEXIST as u64).is_ok() {
            return Some(port);
        }
    }
    maps::count(Counter::NatPortsExhausted);
    None
}

/// Offset of the source address within the IP header.
#[inline(always)]
fn src_off(flow: &Flow) -> usize {
    if flow.key.family == FAMILY_V4 { 12 } else { 8 }
}

/// Offset of the destination address within the IP header.
#[inline(always)]
fn dst_off(flow: &Flow) -> usize {
    if flow.key.family == FAMILY_V4 { 16 } else { 24 }
}

/// `l4_csum_replace` flags for the packet's transport checksum: UDP's zero (no checksum)
/// stays zero.
#[inline(always)]
fn l4_flags(flow: &Flow) -> u64 {
    if flow.key.proto == ipproto::UDP {
        BPF_F_MARK_MANGLED_0 as u64
    } else {
        0
    }
}

/// Whether the transport checksum covers the IP addresses (a pseudo-header).
#[inline(always)]
fn has_pseudo_header(flow: &Flow) -> bool {
    flow.l4_csum_off != 0 && flow.key.proto != ipproto::ICMP
}

/// Writes `new` over the address at `at` (currently `old`) and fixes the IPv4 header
/// checksum and, through the pseudo-header, the transport checksum.
#[inline(always)]
fn rewrite_addr(
    ctx: &TcContext,
    flow: &Flow,
    at: usize,
    old: &Addr,
    new: &Addr,
) -> Result<(), i64> {
    let pseudo = has_pseudo_header(flow) && flow.fragment != Fragment::Later;
    if flow.key.family == FAMILY_V4 {
        let (from, to) = (old[0], new[0]);
        if pseudo {
            ctx.l4_csum_replace(
                flow.l4_csum_off,
                from as u64,
                to as u64,
                BPF_F_PSEUDO_HDR as u64 | 4 | l4_flags(flow),
            )?;
        }
        // The IPv4 header checksum is never offloaded: updated here, no helper needed.
        let check = write::read_u16(ctx, flow.l3_off + 10)?;
        write::u16(
            ctx,
            flow.l3_off + 10,
            multi_wan::csum_replace4(check, from, to),
        )?;
        write::u32(ctx, at, to)?;
    } else {
        if pseudo {
            let diff = csum_diff16(old, new);
            ctx.l4_csum_replace(
                flow.l4_csum_off,
                0,
                diff as u64,
                BPF_F_PSEUDO_HDR as u64 | l4_flags(flow),
            )?;
        }
        write::words4(ctx, at, new)?;
    }
    Ok(())
}

/// The checksum difference of replacing 16 bytes `old` by `new`.
#[inline(always)]
fn csum_diff16(old: &Addr, new: &Addr) -> u32 {
    let mut from = *old;
    let mut to = *new;
    // SAFETY: both buffers are 16 bytes on the stack.
    unsafe { bpf_csum_diff(from.as_mut_ptr(), 16, to.as_mut_ptr(), 16, 0) as u32 }
}

/// Rewrites a 16-bit port (or ICMP identifier) at `at` from `old` to `new` and fixes the
/// transport checksum.
#[inline(always)]
fn rewrite_port(ctx: &TcContext, flow: &Flow, at: usize, old: u16, new: u16) -> Result<(), i64> {
    if old == new {
        return Ok(());
    }
    let (from, to) = (old.to_be(), new.to_be());
    if flow.l4_csum_off != 0 {
        ctx.l4_csum_replace(flow.l4_csum_off, from as u64, to as u64, 2 | l4_flags(flow))?;
    }
    write::u16(ctx, at, to)
}

/// Egress: source address and port (or identifier) to the uplink's.
#[inline(always)]
fn rewrite_source(ctx: &TcContext, flow: &Flow, addr: &Addr, port: u16) -> Result<(), i64> {
    rewrite_addr(ctx, flow, flow.l3_off + src_off(flow), &flow.key.src, addr)?;
    match flow.transport {
        Transport::Ports => rewrite_port(ctx, flow, flow.l4_off, flow.key.sport, port),
        Transport::IcmpEcho => rewrite_port(ctx, flow, flow.l4_off + 4, flow.key.sport, port),
        _ => Ok(()),
    }
}

/// Which end of a quoted packet the translation changes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InnerField {
    /// Its source: an error arriving about a packet we sent.
    Source,
    /// Its destination: an error the inside sends about a packet it received.
    Destination,
}

/// Translates the packet an ICMP error quotes: its address and port (or identifier) become
/// `addr` and `port`, with the quoted IPv4 header checksum and the quoted transport checksum
/// (if the quote holds it) fixed, and every changed word reported to the ICMP checksum.
#[inline(always)]
fn rewrite_inner(
    ctx: &TcContext,
    flow: &Flow,
    inner: &Inner,
    which: InnerField,
    addr: &Addr,
    port: u16,
) -> Result<(), i64> {
    let v4 = inner.key.family == FAMILY_V4;
    let (old_addr, addr_off, old_port, port_off) = match which {
        InnerField::Source => (
            inner.key.src,
            if v4 { 12 } else { 8 },
            inner.key.sport,
            inner.l4_off,
        ),
        InnerField::Destination => (
            inner.key.dst,
            if v4 { 16 } else { 24 },
            inner.key.dport,
            inner.l4_off + 2,
        ),
    };
    let icmp = flow.l4_csum_off;
    // The quoted transport checksum, where the quote holds one that is in use.
    let quoted_csum = inner.l4_csum_off != 0 && !quoted_udp_without_csum(ctx, inner);
    // Its pseudo-header holds the address (not for ICMPv4, which has none).
    let quoted_pseudo = quoted_csum && inner.key.proto != ipproto::ICMP;
    if v4 {
        let (from, to) = (old_addr[0] as u64, addr[0] as u64);
        if quoted_pseudo {
            quoted_csum_replace(ctx, icmp, inner.l4_csum_off, from, to, 4)?;
        }
        quoted_csum_replace(ctx, icmp, inner.l3_off + 10, from, to, 4)?;
        ctx.l4_csum_replace(icmp, from, to, 4)?;
        write::u32(ctx, inner.l3_off + addr_off, to as u32)?;
    } else {
        let diff = csum_diff16(&old_addr, addr) as u64;
        if quoted_pseudo {
            quoted_csum_replace(ctx, icmp, inner.l4_csum_off, 0, diff, 0)?;
        }
        ctx.l4_csum_replace(icmp, 0, diff, 0)?;
        write::words4(ctx, inner.l3_off + addr_off, addr)?;
    }
    // The quoted port, or the quoted echo's identifier.
    let port_off = match inner.key.proto {
        ipproto::TCP | ipproto::UDP | ipproto::UDPLITE => port_off,
        ipproto::ICMP | ipproto::ICMPV6 => inner.l4_off + 4,
        _ => return Ok(()),
    };
    if old_port != port {
        let (from, to) = (old_port.to_be() as u64, port.to_be() as u64);
        if quoted_csum {
            quoted_csum_replace(ctx, icmp, inner.l4_csum_off, from, to, 2)?;
        }
        ctx.l4_csum_replace(icmp, from, to, 2)?;
        write::u16(ctx, port_off, port.to_be())?;
    }
    Ok(())
}

/// Updates a checksum field inside an ICMP error's payload (`l3_csum_replace`: plain
/// arithmetic) and reports the field's own change to the ICMP checksum at `icmp`.
#[inline(always)]
fn quoted_csum_replace(
    ctx: &TcContext,
    icmp: usize,
    field: usize,
    from: u64,
    to: u64,
    size: u64,
) -> Result<(), i64> {
    let before: u16 = ctx.load(field)?;
    ctx.l3_csum_replace(field, from, to, size)?;
    let after: u16 = ctx.load(field)?;
    ctx.l4_csum_replace(icmp, before as u64, after as u64, 2)
}

/// Whether the quoted packet is UDP over IPv4 without a checksum (left at zero).
#[inline(always)]
fn quoted_udp_without_csum(ctx: &TcContext, inner: &Inner) -> bool {
    inner.key.proto == ipproto::UDP
        && inner.key.family == FAMILY_V4
        && ctx.load::<u16>(inner.l4_csum_off).is_ok_and(|c| c == 0)
}

/// Egress MACs: the uplink's own as source, its gateway's as destination (not for raw-IP
/// uplinks, whose Ethernet header the kernel strips).
#[inline(always)]
fn set_macs_out(ctx: &TcContext, cfg: &BondConfig, slot: usize) -> Result<(), i64> {
    let uplink = &cfg.uplinks[slot & SLOT_MASK];
    if uplink.flags & UPLINK_L3 != 0 {
        return Ok(());
    }
    let family_v4 = ethertype(ctx) == 0x0800;
    let gw = if family_v4 {
        &uplink.gw_mac4
    } else {
        &uplink.gw_mac6
    };
    write::macs(ctx, 0, gw, &cfg.members[slot & SLOT_MASK].mac)
}

/// Entry point: every packet an uplink receives.
#[inline(always)]
pub fn ingress(ctx: &TcContext) -> i32 {
    let Some(cfg) = maps::config() else {
        return TC_ACT_OK;
    };
    // SAFETY: reading a __sk_buff field.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let Some(slot) = cfg.slot_of(ifindex) else {
        maps::count(Counter::RxNotMember);
        return TC_ACT_OK;
    };
    let l3 = cfg.uplinks[slot & SLOT_MASK].flags & UPLINK_L3 != 0;
    let ether = ethertype(ctx);
    let Some(flow) = maps::scratch_flow() else {
        return TC_ACT_OK;
    };
    let l3_off = if l3 { 0 } else { ETH_HLEN };
    if multi_wan::parse_into(&SkbView::network_at(ctx, l3_off), ether, l3_off, flow).is_err() {
        return pass();
    }
    let flow: &Flow = flow;
    if flow.fragment == Fragment::Later {
        return ingress_fragment(ctx, cfg, flow, slot);
    }
    let reply = match flow.inner.as_ref() {
        Some(inner) if flow.transport == Transport::IcmpError => inner.key.reversed(),
        _ => flow.key,
    };
    let Some(entry) = NAT_TABLE.get_ptr_mut(reply) else {
        return pass();
    };
    // SAFETY: a map value pointer from a successful lookup; races only blur counters.
    let entry = unsafe { &mut *entry };
    let (inside, inside_port) = (entry.inside, entry.inside_port);
    entry.rx_packets += 1;
    entry.rx_bytes += ctx.len() as u64;
    let now = maps::coarse_now_ns();
    if now.wrapping_sub(entry.last_ns) > TOUCH_NS {
        entry.last_ns = now;
    }
    let ok = match flow.inner.as_ref() {
        Some(inner) if flow.transport == Transport::IcmpError => {
            rewrite_addr(
                ctx,
                flow,
                flow.l3_off + dst_off(flow),
                &flow.key.dst,
                &inside,
            )
            .is_ok()
                && rewrite_inner(ctx, flow, inner, InnerField::Source, &inside, inside_port).is_ok()
        }
        _ => rewrite_destination(ctx, flow, &inside, inside_port).is_ok(),
    };
    if !ok {
        return drop(Counter::DropRewriteFailed);
    }
    if flow.fragment == Fragment::First {
        // Later fragments carry the address as it arrived (the uplink's).
        remember_fragments(flow, &inside, slot);
    }
    if flow.key.proto == ipproto::TCP
        && flow.tcp_flags & (tcp::SYN | tcp::ACK) == tcp::SYN | tcp::ACK
    {
        maps::signal(slot, |s| s.syn_acks += 1);
    }
    if flow.key.proto == ipproto::TCP && flow.tcp_flags & (tcp::FIN | tcp::RST) != 0 {
        close_flow(flow, &inside, inside_port);
    }
    if deliver_to_bond(ctx, cfg, l3, ether).is_err() {
        return drop(Counter::DropRewriteFailed);
    }
    maps::count_rx(slot as u32, ctx.len());
    // SAFETY: plain helper call.
    unsafe { bpf_redirect(cfg.bond_ifindex, BPF_F_INGRESS as u64) as i32 }
}

/// A later fragment on an uplink: back to the inside like its first fragment, or left to
/// the host (it may be for the uplink's own sockets).
#[inline(never)]
fn ingress_fragment(ctx: &TcContext, cfg: &BondConfig, flow: &Flow, slot: usize) -> i32 {
    let l3 = cfg.uplinks[slot & SLOT_MASK].flags & UPLINK_L3 != 0;
    let ether = ethertype(ctx);
    let Some(entry) = NAT_FRAGS.get_ptr(FragKey::of(flow)) else {
        return pass();
    };
    // SAFETY: a map value pointer from a successful lookup.
    let inside = unsafe { (*entry).addr };
    let at = flow.l3_off + dst_off(flow);
    if rewrite_addr(ctx, flow, at, &flow.key.dst, &inside).is_err()
        || deliver_to_bond(ctx, cfg, l3, ether).is_err()
    {
        return drop(Counter::DropRewriteFailed);
    }
    maps::count_rx(slot as u32, ctx.len());
    // SAFETY: plain helper call.
    unsafe { bpf_redirect(cfg.bond_ifindex, BPF_F_INGRESS as u64) as i32 }
}

/// Marks the inside flow of a reply closing (a FIN or RST came back).
#[inline(always)]
fn close_flow(flow: &Flow, inside: &Addr, inside_port: u16) {
    let key = FlowKey {
        src: *inside,
        dst: flow.key.src,
        sport: inside_port,
        dport: flow.key.sport,
        proto: flow.key.proto,
        family: flow.key.family,
        pad: [0; 2],
    };
    if let Some(e) = NAT_FLOWS.get_ptr_mut(key) {
        // SAFETY: a map value pointer from a successful lookup.
        unsafe { (*e).flags |= FLOW_CLOSING };
    }
}

/// Leaves a packet to the host's stack.
#[inline(always)]
fn pass() -> i32 {
    maps::count(Counter::NatRxPassed);
    TC_ACT_OK
}

/// Ingress: destination address and port (or identifier) back to the inside's.
#[inline(always)]
fn rewrite_destination(ctx: &TcContext, flow: &Flow, addr: &Addr, port: u16) -> Result<(), i64> {
    rewrite_addr(ctx, flow, flow.l3_off + dst_off(flow), &flow.key.dst, addr)?;
    match flow.transport {
        Transport::Ports => rewrite_port(ctx, flow, flow.l4_off + 2, flow.key.dport, port),
        Transport::IcmpEcho => rewrite_port(ctx, flow, flow.l4_off + 4, flow.key.dport, port),
        _ => Ok(()),
    }
}

/// Makes the packet an Ethernet frame addressed to the bond: raw-IP packets get a header
/// (`bpf_skb_change_head`), Ethernet frames the bond's MAC as destination.
#[inline(always)]
fn deliver_to_bond(ctx: &TcContext, cfg: &BondConfig, l3: bool, ether: u16) -> Result<(), i64> {
    let m = &cfg.bond_mac;
    if l3 {
        // SAFETY: helper call on this program's skb.
        let r = unsafe { bpf_skb_change_head(ctx.skb.skb, ETH_HLEN as u32, 0) };
        if r != 0 {
            return Err(r);
        }
        write::macs(ctx, 0, m, m)?;
        write::u16(ctx, 12, u16::from_ne_bytes(ether.to_be_bytes()))
    } else {
        // The source MAC stays what it was: only the destination (first six bytes) changes.
        write::u32(ctx, 0, u32::from_ne_bytes([m[0], m[1], m[2], m[3]]))?;
        write::u16(ctx, 4, u16::from_ne_bytes([m[4], m[5]]))
    }
}
