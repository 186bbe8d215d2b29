//! A read-only view of a frame, shared by the host (byte slices) and the eBPF programs (the
//! skb or xdp buffer), plus the protocol numbers the parsers need.
//!
//! Parsers written against [`PacketView`] run unchanged in both places, so they are unit-tested
//! on the host with crafted frames and then used by the data plane.

/// Bounds-checked reads of a header: a window of a frame whose length was checked once.
/// Offsets are relative to the window and constant (the eBPF implementation folds them into
/// the load instruction); reads past its end yield 0 (callers only read within the length
/// they asked for).
pub trait Bytes {
    /// The byte at `AT`.
    fn u8<const AT: usize>(&self) -> u8;
    /// The big-endian (network order) 16-bit field at `AT`.
    fn be16<const AT: usize>(&self) -> u16;
    /// The four bytes at `AT` read as a little-endian `u32`: the kernel's `u32` view of a
    /// `__be32` on a little-endian CPU (the order `bond_xmit_hash` mixes addresses and ports).
    fn le32<const AT: usize>(&self) -> u32;
}

impl Bytes for [u8] {
    #[inline(always)]
    fn u8<const AT: usize>(&self) -> u8 {
        self.get(AT).copied().unwrap_or(0)
    }

    #[inline(always)]
    fn be16<const AT: usize>(&self) -> u16 {
        match self.get(AT..AT + 2) {
            Some(b) => u16::from_be_bytes([b[0], b[1]]),
            None => 0,
        }
    }

    #[inline(always)]
    fn le32<const AT: usize>(&self) -> u32 {
        match self.get(AT..AT + 4) {
            Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => 0,
        }
    }
}

/// Read access to an Ethernet frame: windows of checked length at an offset.
///
/// The eBPF implementation checks `offset + len` against the end of the packet once and then
/// reads the fields with single, possibly misaligned loads; the host implementation is a
/// sub-slice. Parsers ask for exactly the header they are about to read.
pub trait PacketView {
    /// A checked window of the frame.
    type Window<'a>: Bytes
    where
        Self: 'a;

    /// `len` bytes at `offset`, or `None` if the frame is shorter.
    fn window(&self, offset: usize, len: usize) -> Option<Self::Window<'_>>;
}

impl PacketView for [u8] {
    type Window<'a> = &'a [u8];

    #[inline(always)]
    fn window(&self, offset: usize, len: usize) -> Option<&[u8]> {
        self.get(offset..offset.checked_add(len)?)
    }
}

impl Bytes for &[u8] {
    #[inline(always)]
    fn u8<const AT: usize>(&self) -> u8 {
        (**self).u8::<AT>()
    }

    #[inline(always)]
    fn be16<const AT: usize>(&self) -> u16 {
        (**self).be16::<AT>()
    }

    #[inline(always)]
    fn le32<const AT: usize>(&self) -> u32 {
        (**self).le32::<AT>()
    }
}

/// Length of an Ethernet II header.
pub const ETH_HLEN: usize = 14;
/// Length of one 802.1Q/802.1ad tag.
pub const VLAN_HLEN: usize = 4;

/// EtherType values (host order).
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// Reverse ARP.
    pub const RARP: u16 = 0x8035;
    /// 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag (QinQ).
    pub const QINQ: u16 = 0x88A8;
    /// IPv6.
    pub const IPV6: u16 = 0x86DD;
    /// IEEE 802.3 Slow Protocols (LACP, Marker).
    pub const SLOW_PROTOCOLS: u16 = 0x8809;
    /// Transparent Ethernet Bridging (Ethernet inside GRE).
    pub const TEB: u16 = 0x6558;
}

/// IP protocol numbers.
pub mod ipproto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPTS: u8 = 0;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IGMP.
    pub const IGMP: u8 = 2;
    /// IPv4 in IP.
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// DCCP.
    pub const DCCP: u8 = 33;
    /// IPv6 in IP.
    pub const IPV6: u8 = 41;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// GRE.
    pub const GRE: u8 = 47;
    /// IPsec ESP.
    pub const ESP: u8 = 50;
    /// IPsec AH.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
    /// SCTP.
    pub const SCTP: u8 = 132;
    /// UDP-Lite.
    pub const UDPLITE: u8 = 136;
}

/// Whether `pkt` (the linear part of a packet) holds every header the parsers (the bonding
/// hashes, the multi-wan translation) read of a plain TCP or UDP packet: IPv4 without options
/// or IPv6 without extension headers, EtherType `protocol`, network header at `l3_off`. For
/// such packets they read nothing past the first 20 (TCP) or 8 (UDP) bytes of the transport
/// header. The programs then leave the packet as it is instead of pulling a fixed window into
/// the linear part: locally sent TCP keeps exactly its headers linear and its payload in
/// pages, and the pull would copy payload into the linear part of every such packet (often
/// reallocating it).
#[inline(always)]
pub fn plain_headers_within<P: PacketView + ?Sized>(pkt: &P, protocol: u16, l3_off: usize) -> bool {
    let (ip_len, proto) = match protocol {
        ethertype::IPV4 => match pkt.window(l3_off, 20) {
            Some(ip) if ip.u8::<0>() == 0x45 => (20, ip.u8::<9>()),
            _ => return false,
        },
        ethertype::IPV6 => match pkt.window(l3_off, 40) {
            Some(ip) if ip.u8::<0>() >> 4 == 6 => (40, ip.u8::<6>()),
            _ => return false,
        },
        _ => return false,
    };
    let l4_len = match proto {
        ipproto::TCP => 20,
        ipproto::UDP => 8,
        _ => return false,
    };
    pkt.window(l3_off + ip_len, l4_len).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::HashPolicy,
        hash::{PacketMeta, xmit_hash},
        multi_wan,
        testing::{Frame, ip},
    };

    #[test]
    fn plain_tcp_and_udp_headers_are_all_the_parsers_read() {
        let (s4, d4) = ([198, 18, 0, 1], [198, 19, 0, 2]);
        let mut s6 = [0u8; 16];
        s6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        let mut d6 = s6;
        s6[15] = 1;
        d6[15] = 2;
        let payload = [7u8; 100];
        for (name, frame, headers) in [
            (
                "v4 tcp",
                ip::tcp(true, &s4, &d4, 40000, 443, 0x18, &payload),
                54,
            ),
            (
                "v4 udp",
                ip::udp(true, &s4, &d4, 5000, 53, &payload, false),
                42,
            ),
            (
                "v6 tcp",
                ip::tcp(true, &s6, &d6, 40000, 443, 0x18, &payload),
                74,
            ),
            (
                "v6 udp",
                ip::udp(true, &s6, &d6, 5000, 53, &payload, false),
                62,
            ),
        ] {
            let protocol = u16::from_be_bytes([frame[12], frame[13]]);
            let linear = &frame[..headers];
            assert!(plain_headers_within(linear, protocol, 14), "{name}");
            assert!(
                !plain_headers_within(&frame[..headers - 1], protocol, 14),
                "{name}: one byte short"
            );
            // The parsers see the same in the headers alone as in the whole packet.
            let meta = PacketMeta::ethernet(protocol);
            for policy in HashPolicy::ALL {
                assert_eq!(
                    xmit_hash(policy, linear, &meta),
                    xmit_hash(policy, &frame[..], &meta),
                    "{name} {policy:?}"
                );
            }
            assert_eq!(
                multi_wan::parse(linear, protocol, 14),
                multi_wan::parse(&frame[..], protocol, 14),
                "{name}"
            );
            // Without an Ethernet header (raw-IP uplinks) likewise.
            assert!(
                plain_headers_within(&frame[14..headers], protocol, 0),
                "{name}"
            );
        }
        // Everything else gets the window pulled.
        let options = Frame::eth(ethertype::IPV4)
            .ipv4(s4, d4, ipproto::TCP, 0, 4)
            .ports(1, 2)
            .pad_to(200)
            .build();
        let hop_by_hop = Frame::eth(ethertype::IPV6)
            .ipv6(1, 2, ipproto::HOPOPTS)
            .pad_to(200)
            .build();
        let icmp = ip::echo(true, &s4, &d4, 7, false);
        let tagged = Frame::eth(ethertype::VLAN)
            .vlan(5, ethertype::IPV4)
            .ipv4(s4, d4, ipproto::UDP, 0, 0)
            .ports(1, 2)
            .pad_to(200)
            .build();
        for (name, frame, protocol) in [
            ("IPv4 options", &options, ethertype::IPV4),
            ("IPv6 hop-by-hop", &hop_by_hop, ethertype::IPV6),
            ("ICMP", &icmp, ethertype::IPV4),
            ("VLAN tag in the frame", &tagged, ethertype::VLAN),
            ("ARP", &crate::testing::arp_request(s4, d4), ethertype::ARP),
            ("IPv4 type, IPv6 header", &hop_by_hop, ethertype::IPV4),
        ] {
            assert!(!plain_headers_within(&frame[..], protocol, 14), "{name}");
        }
    }

    #[test]
    fn windows_are_bounds_checked() {
        let frame = [1u8, 2, 3, 4, 5];
        let w = frame[..].window(1, 4).unwrap();
        assert_eq!(w.le32::<0>(), 0x0504_0302);
        assert_eq!(w.be16::<0>(), 0x0203);
        assert_eq!(w.u8::<3>(), 5);
        // Reads past the window's end yield 0.
        assert_eq!((w.u8::<4>(), w.be16::<3>(), w.le32::<1>()), (0, 0, 0));
        assert!(frame[..].window(2, 4).is_none());
        assert!(frame[..].window(usize::MAX, 2).is_none());
        assert!(frame[..].window(5, 0).is_some());
    }
}
