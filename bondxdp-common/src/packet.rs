//! A read-only view of a frame, shared by the host (byte slices) and the eBPF programs (the
//! skb or xdp buffer), plus the protocol numbers the parsers need.
//!
//! Parsers written against [`PacketView`] run unchanged in both places, so they are unit-tested
//! on the host with crafted frames and then used by the data plane.

/// Read access to the bytes of an Ethernet frame.
///
/// Implementations must return `None` for any read that is not entirely inside the frame;
/// parsers treat that as "header missing" exactly where the kernel would.
pub trait PacketView {
    /// Copies `N` bytes starting at `offset`, or `None` if the frame is shorter.
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]>;

    /// One byte at `offset`.
    #[inline(always)]
    fn u8_at(&self, offset: usize) -> Option<u8> {
        self.load::<1>(offset).map(|b| b[0])
    }

    /// A big-endian (network order) 16-bit field at `offset`.
    #[inline(always)]
    fn be16_at(&self, offset: usize) -> Option<u16> {
        self.load::<2>(offset).map(u16::from_be_bytes)
    }

    /// Four bytes at `offset` as the kernel's `u32` view of a `__be32` on a little-endian CPU
    /// (the byte order in which `bond_xmit_hash` mixes addresses and ports).
    #[inline(always)]
    fn le32_at(&self, offset: usize) -> Option<u32> {
        self.load::<4>(offset).map(u32::from_le_bytes)
    }
}

impl PacketView for [u8] {
    #[inline(always)]
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let end = offset.checked_add(N)?;
        let bytes = self.get(offset..end)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Some(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_reads_are_bounds_checked() {
        let frame = [1u8, 2, 3, 4, 5];
        assert_eq!(frame[..].be16_at(0), Some(0x0102));
        assert_eq!(frame[..].le32_at(1), Some(0x0504_0302));
        assert_eq!(frame[..].le32_at(2), None);
        assert_eq!(frame[..].u8_at(5), None);
        assert_eq!(frame[..].load::<2>(usize::MAX), None);
    }
}
