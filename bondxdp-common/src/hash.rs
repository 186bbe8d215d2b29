//! The kernel bonding driver's transmit hash (`xmit_hash_policy`), bit-exact.
//!
//! Mirrors `__bond_xmit_hash()` and its helpers in `drivers/net/bonding/bond_main.c`
//! (`bond_eth_hash`, `bond_flow_dissect`, `bond_flow_ip`, `bond_ip_hash`,
//! `bond_vlan_srcmac_hash`) and the parts of `net/core/flow_dissector.c` they call
//! (`skb_flow_get_ports`, `skb_flow_get_icmp_tci`, and `__skb_flow_dissect` with the bonding key
//! set for the encap policies), as of Linux 6.x on a little-endian CPU: the kernel mixes the
//! raw `__be32` addresses and ports as native `u32`s, so the result depends on byte order and
//! this module reproduces the little-endian value.
//!
//! Deliberate limits (documented in docs/architecture.md, "Transmit hash, bit-exact"):
//! * encap2+3/encap3+4 follow VLAN tags, IPv4/IPv6 (with extension headers), IP-in-IP and GRE
//!   version 0 like the kernel's flow dissector, and stop after [`MAX_DISSECT_HDRS`] headers;
//!   MPLS, TIPC, PPPoE and PPTP are treated as "cannot dissect" (layer2 fallback).
//! * encap3+4 returns the stack's L4 flow hash when the caller has one (`skb->l4_hash`).

use crate::{
    packet::{Bytes, ETH_HLEN, PacketView, ethertype, ipproto},
    types::HashPolicy,
};

/// How many headers the encap dissector walks before it stops (the kernel allows 15).
pub const MAX_DISSECT_HDRS: usize = 8;

/// What the stack knows about a packet besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketMeta {
    /// `skb->protocol` (host order). For XDP, the Ethernet header's type, as the kernel's
    /// `bond_xmit_hash_xdp` does.
    pub l2_proto: u16,
    /// Offset of the network header (`skb_network_offset`), normally [`ETH_HLEN`].
    pub nhoff: usize,
    /// The stack's L4 flow hash (`skb->hash` with `skb->l4_hash` set), used by encap3+4.
    pub l4_hash: Option<u32>,
    /// The out-of-band VLAN tag (`skb_vlan_tag_get`), used by vlan+srcmac.
    pub vlan_tci: Option<u16>,
}

impl PacketMeta {
    /// Metadata for a frame whose network header directly follows the Ethernet header.
    pub const fn ethernet(l2_proto: u16) -> Self {
        Self {
            l2_proto,
            nhoff: ETH_HLEN,
            l4_hash: None,
            vlan_tci: None,
        }
    }
}

/// The flow fields the bonding hash mixes, in the kernel's in-memory representation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowKeys {
    /// `flow_get_u32_src()`: the IPv4 source read as a little-endian `u32`, or the IPv6 source
    /// folded by `ipv6_addr_hash()`; 0 when the packet has no addresses (ARP under encap).
    pub src: u32,
    /// Same for the destination.
    pub dst: u32,
    /// `flow.ports.ports`: the four bytes at the port offset (source port, destination port)
    /// read as a little-endian `u32`; 0 when the protocol has no ports or is fragmented.
    pub ports: u32,
    /// ICMP type (`flow.icmp.type`).
    pub icmp_type: u8,
    /// ICMP code.
    pub icmp_code: u8,
    /// ICMP identifier in host order for echo/timestamp messages (1 when the id is 0), else 0.
    pub icmp_id: u16,
}

impl FlowKeys {
    /// `memcpy(&hash, &flow.icmp, 4)`: type, code, then the host-order id.
    pub const fn icmp_word(&self) -> u32 {
        self.icmp_type as u32 | (self.icmp_code as u32) << 8 | (self.icmp_id as u32) << 16
    }
}

/// `bond_xmit_hash()`: the hash whose value modulo the number of eligible members picks the
/// member in balance-xor (and 802.3ad).
#[inline(always)]
pub fn xmit_hash<P: PacketView + ?Sized>(policy: HashPolicy, pkt: &P, meta: &PacketMeta) -> u32 {
    xmit_hash_detailed(policy, pkt, meta).0
}

/// [`xmit_hash`], also telling whether an L3/L4 policy could not dissect the packet and used
/// the layer2 hash instead (ARP, runts, unknown EtherTypes), as the kernel does.
#[inline(always)]
pub fn xmit_hash_detailed<P: PacketView + ?Sized>(
    policy: HashPolicy,
    pkt: &P,
    meta: &PacketMeta,
) -> (u32, bool) {
    match policy {
        HashPolicy::Encap34 => {
            if let Some(hash) = meta.l4_hash {
                return (hash, false);
            }
        }
        HashPolicy::VlanSrcMac => return (vlan_srcmac_hash(pkt, meta.vlan_tci), false),
        HashPolicy::Layer2 => return (eth_hash(pkt), false),
        _ => {}
    }
    let flow = match policy {
        HashPolicy::Encap23 | HashPolicy::Encap34 => dissect_encap(pkt, meta.l2_proto, meta.nhoff),
        _ => dissect(
            pkt,
            meta.l2_proto,
            meta.nhoff,
            policy == HashPolicy::Layer34,
        ),
    };
    let Some(flow) = flow else {
        return (eth_hash(pkt), true);
    };
    let hash = match policy {
        HashPolicy::Layer23 | HashPolicy::Encap23 => eth_hash(pkt),
        _ if flow.icmp_id != 0 => flow.icmp_word(),
        _ => flow.ports,
    };
    (ip_hash(hash, &flow, policy), false)
}

/// `bond_eth_hash()`: last byte of each MAC xor the EtherType; 0 for a runt frame.
#[inline(always)]
pub fn eth_hash<P: PacketView + ?Sized>(pkt: &P) -> u32 {
    let Some(eth) = pkt.window(0, ETH_HLEN) else {
        return 0;
    };
    eth.u8::<5>() as u32 ^ eth.u8::<11>() as u32 ^ eth.be16::<12>() as u32
}

/// `bond_ip_hash()`: fold the addresses into `hash`; the L4 policies drop the lowest bit.
#[inline(always)]
pub fn ip_hash(hash: u32, flow: &FlowKeys, policy: HashPolicy) -> u32 {
    let mut hash = hash ^ flow.dst ^ flow.src;
    hash ^= hash >> 16;
    hash ^= hash >> 8;
    match policy {
        HashPolicy::Layer34 | HashPolicy::Encap34 => hash >> 1,
        _ => hash,
    }
}

/// `bond_vlan_srcmac_hash()`: source MAC vendor part xor device part xor the VLAN tag.
#[inline(always)]
pub fn vlan_srcmac_hash<P: PacketView + ?Sized>(pkt: &P, vlan_tci: Option<u16>) -> u32 {
    let Some(eth) = pkt.window(0, ETH_HLEN) else {
        return 0;
    };
    let vendor = (eth.u8::<6>() as u32) << 16 | (eth.u8::<7>() as u32) << 8 | eth.u8::<8>() as u32;
    let device =
        (eth.u8::<9>() as u32) << 16 | (eth.u8::<10>() as u32) << 8 | eth.u8::<11>() as u32;
    vlan_tci.unwrap_or(0) as u32 ^ vendor ^ device
}

/// `bond_flow_dissect()` for layer2+3 and layer3+4: IPv4/IPv6 addresses, ports (layer3+4 and
/// not a fragment), and for ICMP errors the addresses and ports of the quoted packet.
#[inline(always)]
pub fn dissect<P: PacketView + ?Sized>(
    pkt: &P,
    l2_proto: u16,
    nhoff: usize,
    l34: bool,
) -> Option<FlowKeys> {
    let mut flow = FlowKeys::default();
    let mut nhoff = nhoff;
    let mut ip_proto: i32 = -1;
    if !flow_ip(pkt, l2_proto, &mut nhoff, &mut ip_proto, l34, &mut flow) {
        return None;
    }
    let is_error = if ip_proto == ipproto::TCP as i32 || ip_proto == ipproto::UDP as i32 {
        // The common case, decided without the ICMP checks.
        false
    } else if ip_proto == ipproto::ICMP as i32 {
        icmp_tci(pkt, nhoff, &mut flow);
        icmp_is_err(flow.icmp_type)
    } else if ip_proto == ipproto::ICMPV6 as i32 {
        icmp_tci(pkt, nhoff, &mut flow);
        icmpv6_is_err(flow.icmp_type)
    } else {
        false
    };
    if is_error {
        // ICMP errors hash like the packet they quote (struct icmphdr is 8 bytes).
        nhoff += 8;
        if !flow_ip(pkt, l2_proto, &mut nhoff, &mut ip_proto, l34, &mut flow) {
            return None;
        }
    }
    Some(flow)
}

/// `bond_flow_ip()`: one IPv4 or IPv6 header at `nhoff`. Sets `ip_proto` unless the packet
/// is an IPv4 fragment, and the ports for layer3+4.
#[inline(always)]
fn flow_ip<P: PacketView + ?Sized>(
    pkt: &P,
    l2_proto: u16,
    nhoff: &mut usize,
    ip_proto: &mut i32,
    l34: bool,
    flow: &mut FlowKeys,
) -> bool {
    if l2_proto == ethertype::IPV4 {
        let Some(ip) = pkt.window(*nhoff, 20) else {
            return false;
        };
        flow.src = ip.le32::<12>();
        flow.dst = ip.le32::<16>();
        // The kernel trusts ihl here (no check for < 5).
        *nhoff += ((ip.u8::<0>() & 0x0f) as usize) << 2;
        if ip.be16::<6>() & 0x3fff == 0 {
            *ip_proto = ip.u8::<9>() as i32;
        }
    } else if l2_proto == ethertype::IPV6 {
        let Some(ip) = pkt.window(*nhoff, 40) else {
            return false;
        };
        flow.src = ipv6_src_hash(&ip);
        flow.dst = ipv6_dst_hash(&ip);
        *nhoff += 40;
        *ip_proto = ip.u8::<6>() as i32;
    } else {
        return false;
    }
    if l34 && *ip_proto >= 0 {
        flow.ports = flow_ports(pkt, *nhoff, *ip_proto as u8);
    }
    true
}

/// `ipv6_addr_hash()` of the source address of the IPv6 header `ip`.
#[inline(always)]
fn ipv6_src_hash<B: Bytes>(ip: &B) -> u32 {
    ip.le32::<8>() ^ ip.le32::<12>() ^ ip.le32::<16>() ^ ip.le32::<20>()
}

/// `ipv6_addr_hash()` of the destination address of the IPv6 header `ip`.
#[inline(always)]
fn ipv6_dst_hash<B: Bytes>(ip: &B) -> u32 {
    ip.le32::<24>() ^ ip.le32::<28>() ^ ip.le32::<32>() ^ ip.le32::<36>()
}

/// `proto_ports_offset()`: where the 32 bits hashed as "ports" sit in the transport header.
#[inline(always)]
pub const fn ports_offset(ip_proto: u8) -> Option<usize> {
    match ip_proto {
        ipproto::TCP
        | ipproto::UDP
        | ipproto::DCCP
        | ipproto::ESP
        | ipproto::SCTP
        | ipproto::UDPLITE => Some(0),
        ipproto::AH => Some(4),
        _ => None,
    }
}

/// `skb_flow_get_ports()`.
#[inline(always)]
fn flow_ports<P: PacketView + ?Sized>(pkt: &P, thoff: usize, ip_proto: u8) -> u32 {
    match ports_offset(ip_proto) {
        Some(poff) => pkt.window(thoff + poff, 4).map_or(0, |p| p.le32::<0>()),
        None => 0,
    }
}

/// `skb_flow_get_icmp_tci()`: leaves the keys untouched when the 8-byte header is missing.
#[inline(always)]
fn icmp_tci<P: PacketView + ?Sized>(pkt: &P, thoff: usize, flow: &mut FlowKeys) {
    let Some(icmp) = pkt.window(thoff, 8) else {
        return;
    };
    let icmp_type = icmp.u8::<0>();
    flow.icmp_type = icmp_type;
    flow.icmp_code = icmp.u8::<1>();
    flow.icmp_id = if icmp_has_id(icmp_type) {
        match icmp.be16::<4>() {
            0 => 1,
            id => id,
        }
    } else {
        0
    };
}

/// `icmp_has_id()`: echo and timestamp messages, ICMPv4 and ICMPv6 numbers alike.
#[inline(always)]
const fn icmp_has_id(icmp_type: u8) -> bool {
    matches!(icmp_type, 0 | 8 | 13 | 14 | 128 | 129)
}

/// `icmp_is_err()`: destination unreachable, source quench, redirect, time exceeded,
/// parameter problem.
#[inline(always)]
const fn icmp_is_err(icmp_type: u8) -> bool {
    matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
}

/// `icmpv6_is_err()`: destination unreachable, packet too big, time exceeded, parameter
/// problem.
#[inline(always)]
const fn icmpv6_is_err(icmp_type: u8) -> bool {
    matches!(icmp_type, 1..=4)
}

/// What one step of the encap dissector decided. A plain struct rather than an enum with
/// payloads: every field is always initialised, which keeps LLVM from spilling undefined
/// registers (the eBPF verifier rejects reading them).
#[derive(Clone, Copy)]
struct Step {
    kind: u8,
    /// EtherType (network steps) or IP protocol (transport steps).
    proto: u16,
    /// Where the header to parse starts.
    off: usize,
}

/// Parse the network header `proto` at `off`.
const NETWORK: u8 = 0;
/// Parse the transport header `proto` at `off` (then take its ports unless fragmented).
const TRANSPORT: u8 = 1;
/// Dissection finished ("out_good").
const DONE: u8 = 2;
/// Dissection failed ("out_bad"): the caller falls back to the layer2 hash.
const BAD: u8 = 3;

impl Step {
    const fn network(proto: u16, off: usize) -> Step {
        Step {
            kind: NETWORK,
            proto,
            off,
        }
    }
    const fn transport(ip_proto: u8, off: usize) -> Step {
        Step {
            kind: TRANSPORT,
            proto: ip_proto as u16,
            off,
        }
    }
    const DONE: Step = Step {
        kind: DONE,
        proto: 0,
        off: 0,
    };
    const BAD: Step = Step {
        kind: BAD,
        proto: 0,
        off: 0,
    };
}

/// `__skb_flow_dissect()` with the bonding key set and no flags, as used by encap2+3 and
/// encap3+4: follows VLAN tags and tunnels and hashes the innermost addresses and ports.
/// `None` is the kernel's "out_bad" (the caller then falls back to the layer2 hash).
#[inline(always)]
pub fn dissect_encap<P: PacketView + ?Sized>(
    pkt: &P,
    l2_proto: u16,
    nhoff: usize,
) -> Option<FlowKeys> {
    let mut flow = FlowKeys::default();
    // The common case first, straight-line: one IP header, then a transport header that
    // ends the walk (not a tunnel or an IPv6 extension header).
    let mut step = network_step(pkt, l2_proto, nhoff, &mut flow);
    if step.kind == TRANSPORT && !continues_walk(step.proto as u8) {
        return match transport_step(pkt, step.proto as u8, step.off, &mut flow).kind {
            BAD => None,
            _ => Some(flow),
        };
    }
    for _ in 1..MAX_DISSECT_HDRS {
        step = match step.kind {
            NETWORK => network_step(pkt, step.proto, step.off, &mut flow),
            TRANSPORT => transport_step(pkt, step.proto as u8, step.off, &mut flow),
            DONE => return Some(flow),
            _ => return None,
        };
    }
    match step.kind {
        // Out of header budget while walking IPv6 extension headers: the kernel still reads
        // the ports at the current offset.
        TRANSPORT => flow.ports = flow_ports(pkt, step.off, step.proto as u8),
        BAD => return None,
        _ => {}
    }
    Some(flow)
}

/// Whether [`transport_step`] goes on to another header after `ip_proto`.
#[inline(always)]
const fn continues_walk(ip_proto: u8) -> bool {
    matches!(
        ip_proto,
        ipproto::HOPOPTS
            | ipproto::ROUTING
            | ipproto::DSTOPTS
            | ipproto::IPIP
            | ipproto::IPV6
            | ipproto::GRE
    )
}

/// The L3 half of `__skb_flow_dissect()` (its switch on `proto`).
#[inline(always)]
fn network_step<P: PacketView + ?Sized>(
    pkt: &P,
    proto: u16,
    nhoff: usize,
    flow: &mut FlowKeys,
) -> Step {
    match proto {
        ethertype::VLAN | ethertype::QINQ => match pkt.window(nhoff, 4) {
            Some(tag) => Step::network(tag.be16::<2>(), nhoff + 4),
            None => Step::BAD,
        },
        ethertype::IPV4 => {
            let Some(ip) = pkt.window(nhoff, 20) else {
                return Step::BAD;
            };
            let ihl = (ip.u8::<0>() & 0x0f) as usize;
            if ihl < 5 {
                return Step::BAD;
            }
            flow.src = ip.le32::<12>();
            flow.dst = ip.le32::<16>();
            if ip.be16::<6>() & 0x3fff != 0 {
                // Non-first fragments and (without FLOW_DISSECTOR_F_PARSE_1ST_FRAG) first
                // fragments both end here: addresses only.
                return Step::DONE;
            }
            Step::transport(ip.u8::<9>(), nhoff + ihl * 4)
        }
        ethertype::IPV6 => {
            let Some(ip) = pkt.window(nhoff, 40) else {
                return Step::BAD;
            };
            flow.src = ipv6_src_hash(&ip);
            flow.dst = ipv6_dst_hash(&ip);
            Step::transport(ip.u8::<6>(), nhoff + 40)
        }
        // The bonding key set has no ARP key: "good" without addresses.
        ethertype::ARP | ethertype::RARP => Step::DONE,
        _ => Step::BAD,
    }
}

/// The L4 half of `__skb_flow_dissect()` (its switch on `ip_proto`), with the port
/// extraction that follows it. `thoff` is where the header named by `ip_proto` starts.
#[inline(always)]
fn transport_step<P: PacketView + ?Sized>(
    pkt: &P,
    ip_proto: u8,
    thoff: usize,
    flow: &mut FlowKeys,
) -> Step {
    match ip_proto {
        ipproto::HOPOPTS | ipproto::ROUTING | ipproto::DSTOPTS => {
            // Only reached after an IPv6 header in practice; the kernel also checks that.
            match pkt.window(thoff, 2) {
                Some(opt) => {
                    Step::transport(opt.u8::<0>(), thoff + ((opt.u8::<1>() as usize + 1) << 3))
                }
                None => Step::BAD,
            }
        }
        ipproto::FRAGMENT => {
            // IPv6 fragment header: fragments are never hashed by ports.
            if pkt.window(thoff, 8).is_some() {
                Step::DONE
            } else {
                Step::BAD
            }
        }
        ipproto::IPIP => Step::network(ethertype::IPV4, thoff),
        ipproto::IPV6 => Step::network(ethertype::IPV6, thoff),
        ipproto::GRE => gre_step(pkt, thoff),
        ipproto::ICMP | ipproto::ICMPV6 => {
            icmp_tci(pkt, thoff, flow);
            Step::DONE
        }
        _ => {
            flow.ports = flow_ports(pkt, thoff, ip_proto);
            Step::DONE
        }
    }
}

/// `__skb_flow_dissect_gre()` for GRE version 0 (PPTP, version 1, is not followed).
#[inline(always)]
fn gre_step<P: PacketView + ?Sized>(pkt: &P, off: usize) -> Step {
    const CSUM: u16 = 0x8000;
    const ROUTING: u16 = 0x4000;
    const KEY: u16 = 0x2000;
    const SEQ: u16 = 0x1000;
    const VERSION: u16 = 0x0007;

    let Some(base) = pkt.window(off, 4) else {
        return Step::BAD;
    };
    let flags = base.be16::<0>();
    let mut proto = base.be16::<2>();
    if flags & ROUTING != 0 || flags & VERSION != 0 {
        return Step::DONE;
    }
    let mut len = 4;
    if flags & CSUM != 0 {
        len += 4;
    }
    if flags & KEY != 0 {
        if pkt.window(off + len, 4).is_none() {
            return Step::BAD;
        }
        len += 4;
    }
    if flags & SEQ != 0 {
        len += 4;
    }
    if proto == ethertype::TEB {
        let Some(eth) = pkt.window(off + len, ETH_HLEN) else {
            return Step::BAD;
        };
        proto = eth.be16::<12>();
        len += ETH_HLEN;
    }
    Step::network(proto, off + len)
}

#[cfg(test)]
mod tests;
