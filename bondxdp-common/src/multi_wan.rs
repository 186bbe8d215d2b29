//! Multi-uplink mode: the flow tables' types and the pure decisions of the translation path.
//!
//! Every flow that leaves through the bond is pinned to one uplink and its source address (and
//! port, or ICMP echo identifier) translated to that uplink's. Two LRU hash maps hold a flow:
//!
//! * the **flow table**, keyed by the flow as the inside sends it ([`FlowKey`] from the bond's
//!   point of view): which uplink, which translated port ([`FlowEntry`]);
//! * the **NAT table**, keyed by the flow as replies arrive on the uplink (remote address and
//!   port as source, the uplink's address and translated port as destination): where to send
//!   them back ([`NatEntry`]). Inserting here with `BPF_NOEXIST` is what claims a port.
//!
//! [`parse`] reads a packet into a [`Flow`]: the tuple, the offsets of every field the
//! translation rewrites, and for ICMP errors the quoted packet. It runs on the host in unit
//! tests and in the eBPF programs unchanged.

use crate::packet::{Bytes, PacketView, ethertype, ipproto};

/// [`FlowKey::family`] of IPv4 flows.
pub const FAMILY_V4: u8 = 4;
/// [`FlowKey::family`] of IPv6 flows.
pub const FAMILY_V6: u8 = 6;

/// An IP address as four 32-bit words holding its bytes in packet order (each word is the
/// four bytes as a little-endian load reads them). IPv4 uses the first word, the rest zero.
/// Words rather than bytes: the eBPF programs load, compare and store them whole.
pub type Addr = [u32; 4];

/// The [`Addr`] of an IPv4 or IPv6 address given as bytes (4 or 16 of them).
pub const fn addr_from_bytes(b: &[u8]) -> Addr {
    let mut a = [0u32; 4];
    let mut i = 0;
    while i < 4 && i * 4 + 3 < b.len() {
        a[i] = u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        i += 1;
    }
    a
}

/// The 16 bytes of an [`Addr`] in packet order (an IPv4 address is the first four).
pub const fn addr_bytes(a: &Addr) -> [u8; 16] {
    let mut b = [0u8; 16];
    let mut i = 0;
    while i < 4 {
        let w = a[i].to_le_bytes();
        b[i * 4] = w[0];
        b[i * 4 + 1] = w[1];
        b[i * 4 + 2] = w[2];
        b[i * 4 + 3] = w[3];
        i += 1;
    }
    b
}

/// A flow's identity: addresses, ports (or ICMP echo identifier), protocol.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port (host order); ICMP echo requests: the identifier; otherwise 0.
    pub sport: u16,
    /// Destination port (host order); ICMP echo replies: the identifier; otherwise 0.
    pub dport: u16,
    /// IP protocol (after IPv6 extension headers).
    pub proto: u8,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    /// Zero.
    pub pad: [u8; 2],
}

impl FlowKey {
    /// The same flow seen from the other end: addresses and ports swapped.
    pub const fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            proto: self.proto,
            family: self.family,
            pad: [0; 2],
        }
    }

    /// The key replies to this (inside) flow carry once it is translated to `addr`:`port`
    /// on an uplink.
    pub const fn reply_key(&self, addr: Addr, port: u16) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: addr,
            sport: self.dport,
            dport: port,
            proto: self.proto,
            family: self.family,
            pad: [0; 2],
        }
    }
}

/// [`FlowEntry::flags`]: a TCP FIN or RST was seen; the flow expires sooner.
pub const FLOW_CLOSING: u8 = 1 << 0;

/// Flow table value: where an inside flow goes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowEntry {
    /// The translated source port (or ICMP identifier), host order; 0 for address-only flows.
    pub nat_port: u16,
    /// The uplink's slot.
    pub slot: u8,
    /// `FLOW_*` flags.
    pub flags: u8,
    /// The uplink's [`Uplink::epoch`] when the flow was created: a flow from an older epoch
    /// (the uplink's address changed, or it failed) is stale and is created again.
    pub epoch: u32,
    /// When the flow was created (CLOCK_MONOTONIC, coarse, ns).
    pub created_ns: u64,
    /// When a packet of the flow last left (coarse, ns; updated at most every ~second).
    pub last_ns: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

/// NAT table value: where replies go back to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatEntry {
    /// The inside address the flow came from.
    pub inside: Addr,
    /// The inside source port (or ICMP identifier), host order.
    pub inside_port: u16,
    /// The uplink's slot.
    pub slot: u8,
    /// Zero.
    pub pad: u8,
    /// As [`FlowEntry::epoch`].
    pub epoch: u32,
    /// When a reply last arrived (coarse, ns; updated at most every ~second).
    pub last_ns: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
}

/// Fragment table key: one fragmented datagram in flight, as its packets carry it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// IPv4 identification or IPv6 fragment identification.
    pub id: u32,
    /// Protocol.
    pub proto: u8,
    /// Family.
    pub family: u8,
    /// Zero.
    pub pad: [u8; 2],
}

impl FragKey {
    /// The datagram `flow` is a fragment of.
    pub const fn of(flow: &Flow) -> FragKey {
        FragKey {
            src: flow.key.src,
            dst: flow.key.dst,
            id: flow.frag_id,
            proto: flow.key.proto,
            family: flow.key.family,
            pad: [0; 2],
        }
    }
}

/// Fragment table value: the address the datagram's later fragments get (source on the way
/// out, destination on the way back) and the uplink they belong to. Filled from the first
/// fragment, the only one with the ports that identify the flow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragEntry {
    /// The translated (or restored) address.
    pub addr: Addr,
    /// The uplink's slot.
    pub slot: u32,
    /// Zero.
    pub pad: u32,
}

/// `sticky host` table value: the uplink flows to a host use.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostEntry {
    /// The uplink's slot.
    pub slot: u32,
    /// The uplink's epoch when chosen.
    pub epoch: u32,
}

/// What [`parse`] found above the IP header.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP, UDP or UDP-Lite: ports at the start of the header.
    Ports = 0,
    /// ICMP echo request or reply: the identifier plays the port.
    IcmpEcho = 1,
    /// An ICMP error quoting a packet ([`Flow::inner`] describes it).
    IcmpError = 2,
    /// Anything else: translated by address only.
    AddressOnly = 3,
}

/// Fragmentation of a packet.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragment {
    /// Not a fragment.
    None = 0,
    /// The first fragment: carries the transport header.
    First = 1,
    /// A later fragment: no transport header.
    Later = 2,
}

/// The packet an ICMP error quotes: the offsets of what the translation rewrites in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inner {
    /// The quoted packet's tuple as it was sent.
    pub key: FlowKey,
    /// Offset of the quoted IP header.
    pub l3_off: usize,
    /// Offset of the quoted transport header.
    pub l4_off: usize,
    /// Offset of the quoted transport checksum, if the quote holds it (0 when not).
    pub l4_csum_off: usize,
}

/// A packet as the translation sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// The packet's tuple (for ICMP errors: the error's own addresses, ports 0).
    pub key: FlowKey,
    /// Offset of the IP header.
    pub l3_off: usize,
    /// Offset of the transport header (meaningless for [`Fragment::Later`]).
    pub l4_off: usize,
    /// What the transport is.
    pub transport: Transport,
    /// Fragmentation.
    pub fragment: Fragment,
    /// IPv4 identification or IPv6 fragment identification (fragments only).
    pub frag_id: u32,
    /// TCP flags byte (TCP only, else 0).
    pub tcp_flags: u8,
    /// ICMP type (ICMP only).
    pub icmp_type: u8,
    /// Offset of the transport checksum (0: none to fix).
    pub l4_csum_off: usize,
    /// The quoted packet of an ICMP error.
    pub inner: Option<Inner>,
}

/// Why [`parse`] refused a packet.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not IPv4 or IPv6.
    NotIp = 0,
    /// A header is cut short, or a length field is impossible.
    Truncated = 1,
    /// IPv6 extension headers deeper than [`MAX_EXT_HDRS`].
    TooManyHeaders = 2,
}

/// IPv6 extension headers [`parse`] walks through before giving up.
pub const MAX_EXT_HDRS: usize = 4;

/// TCP flag bits.
pub mod tcp {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

impl Flow {
    /// Nothing parsed yet.
    pub const EMPTY: Flow = Flow {
        key: FlowKey {
            src: [0; 4],
            dst: [0; 4],
            sport: 0,
            dport: 0,
            proto: 0,
            family: 0,
            pad: [0; 2],
        },
        l3_off: 0,
        l4_off: 0,
        transport: Transport::AddressOnly,
        fragment: Fragment::None,
        frag_id: 0,
        tcp_flags: 0,
        icmp_type: 0,
        l4_csum_off: 0,
        inner: None,
    };
}

/// Reads the IP packet at `l3_off` (an Ethernet frame's payload at 14, or a raw IP packet at
/// 0). `ether` is the EtherType (`skb->protocol`).
pub fn parse<P: PacketView + ?Sized>(
    pkt: &P,
    ether: u16,
    l3_off: usize,
) -> Result<Flow, ParseError> {
    let mut flow = Flow::EMPTY;
    parse_into(pkt, ether, l3_off, &mut flow)?;
    Ok(flow)
}

/// [`parse`] into `flow` (the eBPF programs keep it in a per-CPU scratch map: it is too
/// big for their stack next to everything else).
#[inline(always)]
pub fn parse_into<P: PacketView + ?Sized>(
    pkt: &P,
    ether: u16,
    l3_off: usize,
    flow: &mut Flow,
) -> Result<(), ParseError> {
    // Field by field rather than `*flow = Flow::EMPTY`, and the key's words as stores of
    // their own: either way LLVM would emit a memset call (a byte loop in eBPF).
    for i in 0..4 {
        zero(&mut flow.key.src[i]);
        zero(&mut flow.key.dst[i]);
    }
    zero(&mut flow.key.sport);
    zero(&mut flow.key.dport);
    zero(&mut flow.key.pad);
    flow.l3_off = l3_off;
    zero(&mut flow.l4_off);
    flow.transport = Transport::AddressOnly;
    flow.fragment = Fragment::None;
    zero(&mut flow.frag_id);
    zero(&mut flow.tcp_flags);
    zero(&mut flow.icmp_type);
    zero(&mut flow.l4_csum_off);
    flow.inner = None;
    match ether {
        ethertype::IPV4 => ipv4(pkt, l3_off, flow)?,
        ethertype::IPV6 => ipv6(pkt, l3_off, flow)?,
        _ => return Err(ParseError::NotIp),
    }
    if flow.fragment == Fragment::Later {
        return Ok(());
    }
    let l4 = flow.l4_off;
    match flow.key.proto {
        ipproto::TCP => {
            let th = pkt.window(l4, 20).ok_or(ParseError::Truncated)?;
            flow.key.sport = th.be16::<0>();
            flow.key.dport = th.be16::<2>();
            flow.tcp_flags = th.u8::<13>();
            flow.transport = Transport::Ports;
            flow.l4_csum_off = l4 + 16;
        }
        ipproto::UDP | ipproto::UDPLITE => {
            let uh = pkt.window(l4, 8).ok_or(ParseError::Truncated)?;
            flow.key.sport = uh.be16::<0>();
            flow.key.dport = uh.be16::<2>();
            flow.transport = Transport::Ports;
            flow.l4_csum_off = l4 + 6;
        }
        ipproto::ICMP | ipproto::ICMPV6 => icmp(pkt, flow)?,
        // Everything else (SCTP, DCCP, GRE, ESP, ...) is translated by address only.
        _ => {}
    }
    Ok(())
}

/// Stores zero in `slot` as a single store: LLVM merges runs of plain zero stores into a
/// memset call, which costs a byte-at-a-time loop in eBPF.
#[inline(always)]
fn zero<T: Copy + Default>(slot: &mut T) {
    // SAFETY: `slot` is a valid, aligned and exclusive reference.
    unsafe { core::ptr::write_volatile(slot, T::default()) }
}

/// The IPv4 header: addresses, protocol, fragmentation, options skipped.
#[inline(always)]
fn ipv4<P: PacketView + ?Sized>(pkt: &P, off: usize, flow: &mut Flow) -> Result<(), ParseError> {
    let ip = pkt.window(off, 20).ok_or(ParseError::Truncated)?;
    let ihl = (ip.u8::<0>() & 0x0f) as usize * 4;
    if ip.u8::<0>() >> 4 != 4 || ihl < 20 {
        return Err(ParseError::Truncated);
    }
    flow.key.family = FAMILY_V4;
    flow.key.proto = ip.u8::<9>();
    flow.key.src[0] = ip.le32::<12>();
    flow.key.dst[0] = ip.le32::<16>();
    let frag = ip.be16::<6>();
    let offset = frag & 0x1fff;
    let more = frag & 0x2000 != 0;
    if offset != 0 {
        flow.fragment = Fragment::Later;
    } else if more {
        flow.fragment = Fragment::First;
    }
    if flow.fragment != Fragment::None {
        flow.frag_id = ip.be16::<4>() as u32;
    }
    // Options (ihl > 5) are skipped, and must be present.
    if pkt.window(off, ihl).is_none() {
        return Err(ParseError::Truncated);
    }
    flow.l4_off = off + ihl;
    Ok(())
}

/// The IPv6 header and the extension headers before the transport.
#[inline(always)]
fn ipv6<P: PacketView + ?Sized>(pkt: &P, off: usize, flow: &mut Flow) -> Result<(), ParseError> {
    let ip = pkt.window(off, 40).ok_or(ParseError::Truncated)?;
    if ip.u8::<0>() >> 4 != 6 {
        return Err(ParseError::Truncated);
    }
    flow.key.family = FAMILY_V6;
    read16(&ip, &mut flow.key.src, &mut flow.key.dst);
    let mut next = ip.u8::<6>();
    let mut at = off + 40;
    for _ in 0..MAX_EXT_HDRS {
        match next {
            ipproto::HOPOPTS | ipproto::ROUTING | ipproto::DSTOPTS => {
                let ext = pkt.window(at, 2).ok_or(ParseError::Truncated)?;
                next = ext.u8::<0>();
                at += (ext.u8::<1>() as usize + 1) * 8;
            }
            ipproto::FRAGMENT => {
                let fh = pkt.window(at, 8).ok_or(ParseError::Truncated)?;
                next = fh.u8::<0>();
                let offset = fh.be16::<2>() >> 3;
                let more = fh.be16::<2>() & 1 != 0;
                flow.fragment = if offset != 0 {
                    Fragment::Later
                } else if more {
                    Fragment::First
                } else {
                    // An atomic fragment (RFC 6946): a whole packet.
                    Fragment::None
                };
                flow.frag_id = u32::from_be_bytes(fh.le32::<4>().to_le_bytes());
                at += 8;
            }
            _ => {
                flow.key.proto = next;
                flow.l4_off = at;
                return Ok(());
            }
        }
    }
    match next {
        ipproto::HOPOPTS | ipproto::ROUTING | ipproto::DSTOPTS | ipproto::FRAGMENT => {
            Err(ParseError::TooManyHeaders)
        }
        _ => {
            flow.key.proto = next;
            flow.l4_off = at;
            Ok(())
        }
    }
}

/// ICMP and ICMPv6: echo (identifier as port), errors (the quoted packet), the rest by
/// address.
#[inline(always)]
fn icmp<P: PacketView + ?Sized>(pkt: &P, flow: &mut Flow) -> Result<(), ParseError> {
    let l4 = flow.l4_off;
    let ih = pkt.window(l4, 8).ok_or(ParseError::Truncated)?;
    let ty = ih.u8::<0>();
    flow.icmp_type = ty;
    flow.l4_csum_off = l4 + 2;
    let v6 = flow.key.family == FAMILY_V6;
    let (request, reply) = if v6 { (128, 129) } else { (8, 0) };
    if ty == request {
        flow.key.sport = ih.be16::<4>();
        flow.transport = Transport::IcmpEcho;
    } else if ty == reply {
        flow.key.dport = ih.be16::<4>();
        flow.transport = Transport::IcmpEcho;
    } else if (v6 && matches!(ty, 1..=4)) || (!v6 && matches!(ty, 3 | 4 | 5 | 11 | 12)) {
        if flow.fragment != Fragment::None {
            // An error in fragments cannot be followed.
            return Ok(());
        }
        flow.inner = Some(quoted(pkt, l4 + 8, v6)?);
        flow.transport = Transport::IcmpError;
    }
    Ok(())
}

/// The packet an ICMP error quotes, at `off`: its IP header whole, and the first eight bytes
/// of its transport header (all an ICMPv4 error must carry).
#[inline(always)]
fn quoted<P: PacketView + ?Sized>(pkt: &P, off: usize, v6: bool) -> Result<Inner, ParseError> {
    let mut key = FlowKey::default();
    let l4 = if v6 {
        let ip = pkt.window(off, 40).ok_or(ParseError::Truncated)?;
        key.family = FAMILY_V6;
        key.proto = ip.u8::<6>();
        read16(&ip, &mut key.src, &mut key.dst);
        off + 40
    } else {
        let ip = pkt.window(off, 20).ok_or(ParseError::Truncated)?;
        let ihl = (ip.u8::<0>() & 0x0f) as usize * 4;
        if ihl < 20 || pkt.window(off, ihl).is_none() {
            return Err(ParseError::Truncated);
        }
        key.family = FAMILY_V4;
        key.proto = ip.u8::<9>();
        key.src[0] = ip.le32::<12>();
        key.dst[0] = ip.le32::<16>();
        off + ihl
    };
    let th = pkt.window(l4, 8).ok_or(ParseError::Truncated)?;
    let mut csum = 0;
    match key.proto {
        ipproto::TCP => {
            key.sport = th.be16::<0>();
            key.dport = th.be16::<2>();
            // The checksum sits at 16: fixed only if the quote goes that far.
            if pkt.window(l4, 18).is_some() {
                csum = l4 + 16;
            }
        }
        ipproto::UDP | ipproto::UDPLITE => {
            key.sport = th.be16::<0>();
            key.dport = th.be16::<2>();
            csum = l4 + 6;
        }
        ipproto::ICMP | ipproto::ICMPV6 => {
            let ty = th.u8::<0>();
            if ty == 8 || ty == 128 {
                key.sport = th.be16::<4>();
            } else if ty == 0 || ty == 129 {
                key.dport = th.be16::<4>();
            }
            csum = l4 + 2;
        }
        _ => {}
    }
    Ok(Inner {
        key,
        l3_off: off,
        l4_off: l4,
        l4_csum_off: csum,
    })
}

/// Reads the source and destination of the IPv6 header `ip`.
#[inline(always)]
fn read16<B: Bytes>(ip: &B, src: &mut Addr, dst: &mut Addr) {
    *src = [
        ip.le32::<8>(),
        ip.le32::<12>(),
        ip.le32::<16>(),
        ip.le32::<20>(),
    ];
    *dst = [
        ip.le32::<24>(),
        ip.le32::<28>(),
        ip.le32::<32>(),
        ip.le32::<36>(),
    ];
}

/// A well-mixed 32-bit hash of a flow (murmur3's finaliser over the key's words): which
/// weighted bucket a new flow lands in, and where its port search starts.
#[inline(always)]
pub fn flow_hash(key: &FlowKey) -> u32 {
    let mut h: u32 = 0x9e37_79b9 ^ key.proto as u32 ^ (key.family as u32) << 8;
    let mut i = 0;
    while i < 4 {
        h = mix(h ^ key.src[i]);
        h = mix(h ^ key.dst[i]);
        i += 1;
    }
    mix(h ^ ((key.sport as u32) << 16 | key.dport as u32))
}

/// The `sticky host` table key of a flow's destination: IPv6 as is, IPv4 as an IPv4-mapped
/// IPv6 address (so the two families cannot collide).
#[inline(always)]
pub fn host_key(key: &FlowKey) -> Addr {
    if key.family == FAMILY_V4 {
        [0, 0, u32::from_le_bytes([0, 0, 0xff, 0xff]), key.dst[0]]
    } else {
        key.dst
    }
}

/// Whether a flow's addresses mean anything beyond the bond: not link-local, multicast,
/// broadcast, loopback or unspecified. Others are dropped (counted), never translated.
#[inline(always)]
pub fn translatable(key: &FlowKey) -> bool {
    let (s, d) = (key.src, key.dst);
    // First and second bytes of an address, and its last word with the bytes in order.
    let b0 = |a: &Addr| a[0] as u8;
    let b1 = |a: &Addr| (a[0] >> 8) as u8;
    if key.family == FAMILY_V4 {
        let bad =
            |a: &Addr| b0(a) == 0 || b0(a) == 127 || b0(a) >= 224 || (b0(a) == 169 && b1(a) == 254);
        !bad(&s) && !bad(&d)
    } else {
        let link_local = |a: &Addr| b0(a) == 0xfe && b1(a) & 0xc0 == 0x80;
        let unspecified_or_loopback =
            |a: &Addr| a[0] == 0 && a[1] == 0 && a[2] == 0 && u32::from_be(a[3]) <= 1;
        !(link_local(&s)
            || link_local(&d)
            || b0(&d) == 0xff
            || unspecified_or_loopback(&s)
            || unspecified_or_loopback(&d))
    }
}

/// Hash of a destination address alone (`sticky host`).
#[inline(always)]
pub fn host_hash(addr: &Addr) -> u32 {
    let mut h: u32 = 0x85eb_ca6b;
    let mut i = 0;
    while i < 4 {
        h = mix(h ^ addr[i]);
        i += 1;
    }
    h
}

/// murmur3's 32-bit finaliser.
#[inline(always)]
const fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// RFC 1624 (eqn. 3): a 16-bit one's-complement checksum field after the 32-bit word
/// `from` in the data it covers becomes `to`. All three are taken as they sit in the packet
/// (read with a little-endian load): one's-complement sums commute with byte swapping, so no
/// conversion is needed.
#[inline(always)]
pub const fn csum_replace4(check: u16, from: u32, to: u32) -> u16 {
    let mut sum = (!check) as u32;
    sum += (!(from as u16)) as u32 + (!((from >> 16) as u16)) as u32;
    sum += (to as u16) as u32 + ((to >> 16) as u16) as u32;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// Candidate translated ports tried for a new flow, in order, before giving up.
pub const PORT_TRIES: u32 = 64;

/// The `i`-th translated port to try for a flow whose original port is `orig` and hash
/// `seed`, within `[min, max]`: the original port first (if in range), then pseudo-random
/// ports, each independent of the last (no clustering as the range fills up).
#[inline(always)]
pub fn port_candidate(i: u32, orig: u16, seed: u32, min: u16, max: u16) -> u16 {
    let (min, max) = if min <= max { (min, max) } else { (max, min) };
    if i == 0 && orig >= min && orig <= max {
        return orig;
    }
    let range = (max - min) as u32 + 1;
    let r = mix(seed ^ i.wrapping_mul(0x9e37_79b9));
    min + (r % range) as u16
}

/// Default translated port range (the first port after the well-known ones, to the top).
pub const DEFAULT_PORT_MIN: u16 = 1024;
/// See [`DEFAULT_PORT_MIN`].
pub const DEFAULT_PORT_MAX: u16 = 65535;

#[cfg(test)]
mod tests;
