//! Frames the controller sends and recognises: ARP probes and gratuitous ARPs, IPv6
//! neighbour solicitations and unsolicited advertisements, and the multi-wan health probes
//! (ICMP echo through one uplink, from its own address). Pure byte building and parsing, and
//! the socket filters that keep everything else in the kernel (LACPDUs are built by
//! [`crate::lacp`]; only their filter is here).

use std::net::{Ipv4Addr, Ipv6Addr};

const BROADCAST: [u8; 6] = [0xff; 6];
const ETH_ARP: u16 = 0x0806;
const ETH_IPV6: u16 = 0x86dd;
const ICMPV6: u8 = 58;
const ND_SOLICIT: u8 = 135;
const ND_ADVERT: u8 = 136;

fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(90);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

fn arp(op: u16, dst: [u8; 6], sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = eth(dst, sha, ETH_ARP);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f.resize(60, 0);
    f
}

/// A broadcast ARP request for `target` from (`mac`, `ip`); `ip` may be 0.0.0.0 (an ARP
/// probe) when the bond has no IPv4 address yet.
pub fn arp_request(mac: [u8; 6], ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    arp(1, BROADCAST, mac, ip, [0; 6], target)
}

/// A gratuitous ARP announcing that `ip` is at `mac` (a request for itself, broadcast).
pub fn gratuitous_arp(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    arp(1, BROADCAST, mac, ip, [0; 6], ip)
}

/// The fields of an Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    /// 1 request, 2 reply.
    pub op: u16,
    /// Sender protocol address.
    pub sender: Ipv4Addr,
    /// Target protocol address.
    pub target: Ipv4Addr,
}

/// Parses an Ethernet frame as ARP (Ethernet/IPv4 only).
pub fn parse_arp(frame: &[u8]) -> Option<Arp> {
    if frame.len() < 42
        || frame[12..14] != ETH_ARP.to_be_bytes()
        || frame[14..20] != [0, 1, 8, 0, 6, 4]
    {
        return None;
    }
    let ip = |at: usize| Ipv4Addr::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3]);
    Some(Arp {
        op: u16::from_be_bytes([frame[20], frame[21]]),
        sender: ip(28),
        target: ip(38),
    })
}

/// The ICMPv6 checksum over the pseudo-header and `body`.
pub(crate) fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, body: &[u8]) -> u16 {
    let mut pseudo = [0u8; 40];
    pseudo[..16].copy_from_slice(&src.octets());
    pseudo[16..32].copy_from_slice(&dst.octets());
    pseudo[32..36].copy_from_slice(&(body.len() as u32).to_be_bytes());
    pseudo[39] = ICMPV6;
    let mut sum = 0u32;
    for w in pseudo.chunks(2) {
        sum += u16::from_be_bytes([w[0], w[1]]) as u32;
    }
    inet_checksum(sum, body)
}

fn ipv6(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    mut icmp: Vec<u8>,
) -> Vec<u8> {
    let sum = icmpv6_checksum(&src, &dst, &icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut f = eth(dst_mac, src_mac, ETH_IPV6);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[ICMPV6, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&icmp);
    f
}

/// Multicast MAC for an IPv6 multicast group (33:33 + the last four bytes).
fn multicast_mac(group: &Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// A neighbour solicitation for `target` from (`mac`, `src`), to the target's
/// solicited-node multicast group, with our link-layer address.
pub fn neighbour_solicitation(mac: [u8; 6], src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let t = target.octets();
    let group = Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | t[13] as u16,
        u16::from_be_bytes([t[14], t[15]]),
    );
    let mut icmp = vec![ND_SOLICIT, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&t);
    icmp.extend_from_slice(&[1, 1]);
    icmp.extend_from_slice(&mac);
    ipv6(multicast_mac(&group), mac, src, group, icmp)
}

/// An unsolicited neighbour advertisement (override flag) telling all nodes that `addr` is
/// at `mac`.
pub fn unsolicited_advertisement(mac: [u8; 6], addr: Ipv6Addr) -> Vec<u8> {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut icmp = vec![ND_ADVERT, 0, 0, 0, 0x20, 0, 0, 0];
    icmp.extend_from_slice(&addr.octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&mac);
    ipv6(multicast_mac(&all_nodes), mac, addr, all_nodes, icmp)
}

/// A neighbour discovery message: its type and the address it solicits or advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nd {
    /// 135 solicitation, 136 advertisement.
    pub kind: u8,
    /// IPv6 source address.
    pub source: Ipv6Addr,
    /// The ND target address.
    pub target: Ipv6Addr,
}

/// Parses an Ethernet frame as IPv6 neighbour discovery (no extension headers).
pub fn parse_nd(frame: &[u8]) -> Option<Nd> {
    if frame.len() < 14 + 40 + 24 || frame[12..14] != ETH_IPV6.to_be_bytes() || frame[20] != ICMPV6
    {
        return None;
    }
    let kind = frame[54];
    if kind != ND_SOLICIT && kind != ND_ADVERT {
        return None;
    }
    let addr = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&frame[at..at + 16]).unwrap());
    Some(Nd {
        kind,
        source: addr(22),
        target: addr(62),
    })
}

/// The one's-complement checksum of `bytes` (with `sum` of anything before).
pub(crate) fn inet_checksum(mut sum: u32, bytes: &[u8]) -> u16 {
    for chunk in bytes.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from_be_bytes([chunk[0], 0])
        };
        sum += word as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Bytes of probe payload after the ICMP header (kept small: probes cost bandwidth).
const PROBE_PAYLOAD: &[u8] = b"bondxdp!";

/// An ICMP echo request (IPv4) or ICMPv6 echo request from `src` to `dst` with `id`/`seq`,
/// as an Ethernet frame (`macs` = (destination, source)) or, for raw-IP uplinks (`macs`
/// `None`), a bare IP packet.
pub fn echo_request(
    macs: Option<([u8; 6], [u8; 6])>,
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    id: u16,
    seq: u16,
) -> Option<Vec<u8>> {
    use std::net::IpAddr;
    let mut f = Vec::with_capacity(80);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            if let Some((dm, sm)) = macs {
                f = eth(dm, sm, 0x0800);
            }
            let ip0 = f.len();
            let total = 20 + 8 + PROBE_PAYLOAD.len();
            f.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 1, 0, 0]);
            f[ip0 + 2..ip0 + 4].copy_from_slice(&(total as u16).to_be_bytes());
            f[ip0 + 4..ip0 + 6].copy_from_slice(&seq.to_be_bytes());
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
            let c = inet_checksum(0, &f[ip0..ip0 + 20]);
            f[ip0 + 10..ip0 + 12].copy_from_slice(&c.to_be_bytes());
            let icmp0 = f.len();
            f.extend_from_slice(&[8, 0, 0, 0]);
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(&seq.to_be_bytes());
            f.extend_from_slice(PROBE_PAYLOAD);
            let c = inet_checksum(0, &f[icmp0..]);
            f[icmp0 + 2..icmp0 + 4].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut icmp = vec![128, 0, 0, 0];
            icmp.extend_from_slice(&id.to_be_bytes());
            icmp.extend_from_slice(&seq.to_be_bytes());
            icmp.extend_from_slice(PROBE_PAYLOAD);
            let c = icmpv6_checksum(&s, &d, &icmp);
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            if let Some((dm, sm)) = macs {
                f = eth(dm, sm, ETH_IPV6);
            }
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
            f.extend_from_slice(&[ICMPV6, 64]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
            f.extend_from_slice(&icmp);
        }
        _ => return None,
    }
    if macs.is_some() && f.len() < 60 {
        f.resize(60, 0);
    }
    Some(f)
}

/// An echo reply: who answered, with which identifier and sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoReply {
    /// The replying address.
    pub from: std::net::IpAddr,
    /// Identifier.
    pub id: u16,
    /// Sequence number.
    pub seq: u16,
}

/// Parses an echo reply (ICMP type 0 or ICMPv6 type 129, no IPv6 extension headers) at
/// `l3` (14 on Ethernet, 0 on raw-IP links).
pub fn parse_echo_reply(frame: &[u8], l3: usize) -> Option<EchoReply> {
    let ip = frame.get(l3..)?;
    match ip.first()? >> 4 {
        4 => {
            let ihl = (ip[0] & 15) as usize * 4;
            // An IHL below 5 is malformed (and would let the fixed header run past the end).
            if ihl < 20 || ip.len() < ihl + 8 || ip[9] != 1 || ip[ihl] != 0 {
                return None;
            }
            Some(EchoReply {
                from: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]).into(),
                id: u16::from_be_bytes([ip[ihl + 4], ip[ihl + 5]]),
                seq: u16::from_be_bytes([ip[ihl + 6], ip[ihl + 7]]),
            })
        }
        6 => {
            if ip.len() < 48 || ip[6] != ICMPV6 || ip[40] != 129 {
                return None;
            }
            Some(EchoReply {
                from: Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?).into(),
                id: u16::from_be_bytes([ip[44], ip[45]]),
                seq: u16::from_be_bytes([ip[46], ip[47]]),
            })
        }
        _ => None,
    }
}

// Classic BPF opcodes for the socket filters below.
const LDH_ABS: u16 = 0x28;
const LDB_ABS: u16 = 0x30;
const JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;

/// A classic BPF statement.
fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A classic BPF conditional jump.
fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Classic BPF program for a multi-wan probe socket: accept echo replies (IPv4 ICMP type 0
/// with a 20-byte header, ICMPv6 type 129 right after the IPv6 header), drop everything
/// else in the kernel. `l3` is where the IP header starts (14, or 0 on raw-IP uplinks).
pub fn echo_reply_filter(l3: u32) -> Vec<libc::sock_filter> {
    vec![
        stmt(LDB_ABS, l3),                // 0: version/IHL
        jump(JEQ_K, 0x45, 0, 4),          // 1: IPv4 without options?
        stmt(LDB_ABS, l3 + 9),            // 2: protocol
        jump(JEQ_K, 1, 0, 7),             // 3: not ICMP -> drop
        stmt(LDB_ABS, l3 + 20),           // 4: ICMP type
        jump(JEQ_K, 0, 4, 5),             // 5: echo reply -> accept, else drop
        stmt(LDB_ABS, l3 + 6),            // 6: IPv6 next header (or IPv4 junk)
        jump(JEQ_K, ICMPV6 as u32, 0, 3), // 7: not ICMPv6 -> drop
        stmt(LDB_ABS, l3 + 40),           // 8: ICMPv6 type
        jump(JEQ_K, 129, 0, 1),           // 9: echo reply -> accept
        stmt(RET_K, 0xffff),              // 10: accept
        stmt(RET_K, 0),                   // 11: drop
    ]
}

/// Classic BPF program for AF_PACKET sockets: accept ARP, and ICMPv6 neighbour
/// solicitations/advertisements without extension headers; drop everything else before it
/// reaches userspace (a member may carry line-rate traffic).
pub fn probe_socket_filter() -> Vec<libc::sock_filter> {
    vec![
        stmt(LDH_ABS, 12),                    // 0: ethertype
        jump(JEQ_K, ETH_ARP as u32, 6, 0),    // 1: ARP -> accept
        jump(JEQ_K, ETH_IPV6 as u32, 0, 6),   // 2: not IPv6 -> drop
        stmt(LDB_ABS, 20),                    // 3: next header
        jump(JEQ_K, ICMPV6 as u32, 0, 4),     // 4: not ICMPv6 -> drop
        stmt(LDB_ABS, 54),                    // 5: ICMPv6 type
        jump(JEQ_K, ND_SOLICIT as u32, 1, 0), // 6: NS -> accept
        jump(JEQ_K, ND_ADVERT as u32, 0, 1),  // 7: NA -> accept, else drop
        stmt(RET_K, 0xffff),                  // 8: accept
        stmt(RET_K, 0),                       // 9: drop
    ]
}

/// Classic BPF program for a member's LACP socket: accept Slow Protocols frames (LACPDUs and
/// Marker PDUs, ethertype 0x8809; the decoder judges them), drop everything else in the
/// kernel.
pub fn slow_protocols_filter() -> Vec<libc::sock_filter> {
    vec![
        stmt(LDH_ABS, 12), // 0: ethertype
        jump(
            JEQ_K,
            crate::lacp::pdu::SLOW_PROTOCOLS_ETHERTYPE as u32,
            0,
            1,
        ), // 1: Slow Protocols -> accept, else drop
        stmt(RET_K, 0xffff), // 2: accept
        stmt(RET_K, 0),    // 3: drop
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    #[test]
    fn arp_round_trip() {
        let f = arp_request(
            MAC,
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
        );
        assert_eq!(f.len(), 60);
        assert_eq!(&f[0..6], &BROADCAST);
        assert_eq!(&f[6..12], &MAC);
        let a = parse_arp(&f).unwrap();
        assert_eq!(
            a,
            Arp {
                op: 1,
                sender: Ipv4Addr::new(198, 18, 0, 1),
                target: Ipv4Addr::new(198, 18, 0, 2)
            }
        );
        let g = parse_arp(&gratuitous_arp(MAC, Ipv4Addr::new(198, 18, 0, 1))).unwrap();
        assert_eq!(g.sender, g.target);
        assert_eq!(parse_arp(&f[..30]), None);
    }

    #[test]
    fn icmpv6_checksum_matches_a_known_packet() {
        // RFC 1071 property: re-summing a packet with its checksum gives 0 (i.e. !0xffff).
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let f = neighbour_solicitation(MAC, src, "2001:db8::2".parse().unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&f[38..54]).unwrap());
        assert_eq!(icmpv6_checksum(&src, &dst, &f[54..]), 0);
        // Solicited-node group and its MAC.
        assert_eq!(dst, "ff02::1:ff00:2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(&f[0..6], &[0x33, 0x33, 0xff, 0, 0, 2]);
    }

    /// Found by the probe_replies fuzz target: an IPv4 header length below 20 bytes made
    /// the parser index past a short packet (it panicked on these).
    #[test]
    fn echo_reply_with_a_short_ipv4_header_length_is_refused() {
        // The fuzzer's input: 22 bytes, at 14 an 8-byte "IPv4 header" with IHL 0.
        let crash =
            b"\x02\x01\x00\x00\x00\x00\x00\x0bE\x00\x00$\x00\x02@\x00\x02\x00\x00\x00\x00\x0a";
        assert_eq!(parse_echo_reply(crash, 14), None);
        assert_eq!(parse_echo_reply(crash, 0), None);
        // IHL 0 and 1 on an 8-byte packet: ihl + 8 fits, the fixed header does not.
        for first in [0x40, 0x41] {
            let ip = [first, 0, 0, 0, 0, 0, 0, 0];
            assert_eq!(parse_echo_reply(&ip, 0), None);
        }
    }

    #[test]
    fn echo_probes_are_valid_and_replies_parse() {
        let src: std::net::IpAddr = "198.18.10.2".parse().unwrap();
        let dst: std::net::IpAddr = "198.19.0.80".parse().unwrap();
        let f = echo_request(Some(([2; 6], MAC)), src, dst, 0x1234, 7).unwrap();
        assert_eq!(f.len(), 60, "padded to the Ethernet minimum");
        assert_eq!(inet_checksum(0, &f[14..34]), 0, "IPv4 header checksum");
        assert_eq!(inet_checksum(0, &f[34..50]), 0, "ICMP checksum");
        // Turn it into the reply a target would send, and parse it.
        let mut r = f.clone();
        r[34] = 0;
        r[26..30].copy_from_slice(&[198, 19, 0, 80]);
        let reply = parse_echo_reply(&r, 14).unwrap();
        assert_eq!((reply.from, reply.id, reply.seq), (dst, 0x1234, 7));
        assert_eq!(parse_echo_reply(&f, 14), None, "a request is not a reply");
        // Raw IP (TUN uplink), IPv6.
        let s6: std::net::IpAddr = "2001:db8:10::2".parse().unwrap();
        let d6: std::net::IpAddr = "2001:db8:ff::80".parse().unwrap();
        let g = echo_request(None, s6, d6, 9, 1).unwrap();
        assert_eq!(g[0] >> 4, 6);
        let (sv6, dv6) = (
            s6.to_string().parse().unwrap(),
            d6.to_string().parse().unwrap(),
        );
        assert_eq!(icmpv6_checksum(&sv6, &dv6, &g[40..]), 0);
        let mut r6 = g.clone();
        r6[40] = 129;
        assert_eq!(parse_echo_reply(&r6, 0).unwrap().id, 9);
        assert!(
            echo_request(None, src, d6, 1, 1).is_none(),
            "mixed families"
        );
    }

    #[test]
    fn nd_round_trip() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let ns = parse_nd(&neighbour_solicitation(
            MAC,
            src,
            "2001:db8::2".parse().unwrap(),
        ))
        .unwrap();
        assert_eq!((ns.kind, ns.source), (135, src));
        assert_eq!(ns.target, "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        let na = unsolicited_advertisement(MAC, src);
        let nd = parse_nd(&na).unwrap();
        assert_eq!((nd.kind, nd.target), (136, src));
        assert_eq!(na[58], 0x20, "override flag");
        let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
        assert_eq!(icmpv6_checksum(&src, &all_nodes, &na[54..]), 0);
    }
}
