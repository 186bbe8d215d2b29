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

#[cfg(test)]
mod tests {
    use super::*;

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
