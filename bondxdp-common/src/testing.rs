//! Frame builders for tests (host unit tests here, BPF_PROG_TEST_RUN and namespace tests in
//! the `tests` crate). Only built with `cfg(test)` or the `testing` feature.

pub(crate) extern crate std;

use std::{iter, vec, vec::Vec};

/// Destination MAC of frames built by [`Frame::eth`] (last byte 0x0b).
pub const DST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0b];
/// Source MAC of frames built by [`Frame::eth`] (last byte 0x0a).
pub const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];

/// An Ethernet frame under construction; each method appends one header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame(pub Vec<u8>);

impl Frame {
    /// Ethernet header from [`SRC_MAC`] to [`DST_MAC`].
    pub fn eth(ethertype: u16) -> Frame {
        Frame::eth_between(DST_MAC, SRC_MAC, ethertype)
    }

    /// Ethernet header with the given addresses.
    pub fn eth_between(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Frame {
        let mut f = Vec::with_capacity(128);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&ethertype.to_be_bytes());
        Frame(f)
    }

    /// An 802.1Q tag (appended after an Ethernet header of type 0x8100).
    pub fn vlan(mut self, tci: u16, inner: u16) -> Frame {
        self.0.extend_from_slice(&tci.to_be_bytes());
        self.0.extend_from_slice(&inner.to_be_bytes());
        self
    }

    /// IPv4 header: `frag` is the flags+offset field, `options` bytes of NOP options.
    /// Checksum and total length are left zero (nothing here validates them).
    pub fn ipv4(
        mut self,
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        frag: u16,
        options: usize,
    ) -> Frame {
        let ihl = 5 + options / 4;
        self.0.extend_from_slice(&[0x40 | ihl as u8, 0, 0, 0, 0, 0]);
        self.0.extend_from_slice(&frag.to_be_bytes());
        self.0.extend_from_slice(&[64, proto, 0, 0]);
        self.0.extend_from_slice(&src);
        self.0.extend_from_slice(&dst);
        self.0.extend(iter::repeat_n(1u8, options));
        self
    }

    /// IPv6 header between 2001:db8::`src_last` and 2001:db8::`dst_last`.
    pub fn ipv6(mut self, src_last: u8, dst_last: u8, next: u8) -> Frame {
        self.0.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, next, 64]);
        for last in [src_last, dst_last] {
            self.0.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            self.0.extend_from_slice(&[0; 11]);
            self.0.push(last);
        }
        self
    }

    /// Source and destination ports followed by 16 zero bytes (enough for UDP or TCP).
    pub fn ports(mut self, sport: u16, dport: u16) -> Frame {
        self.0.extend_from_slice(&sport.to_be_bytes());
        self.0.extend_from_slice(&dport.to_be_bytes());
        self.0.extend_from_slice(&[0; 16]);
        self
    }

    /// Raw bytes.
    pub fn bytes(mut self, b: &[u8]) -> Frame {
        self.0.extend_from_slice(b);
        self
    }

    /// Pads with zeros to at least `len` bytes.
    pub fn pad_to(mut self, len: usize) -> Frame {
        if self.0.len() < len {
            self.0.resize(len, 0);
        }
        self
    }

    /// Fills in the IP header's length (IPv4 total length and header checksum, IPv6 payload
    /// length) for the bytes appended so far; Ethernet header untagged.
    pub fn lengths(mut self) -> Frame {
        let f = &mut self.0;
        match (f.get(12..14), f.len()) {
            (Some([0x08, 0x00]), n) if n >= 34 => {
                let ihl = (f[14] & 0x0f) as usize * 4;
                f[16..18].copy_from_slice(&((n - 14) as u16).to_be_bytes());
                f[24..26].copy_from_slice(&[0, 0]);
                let check = csum::finish(csum::sum(&f[14..14 + ihl]));
                f[24..26].copy_from_slice(&check.to_be_bytes());
            }
            (Some([0x86, 0xdd]), n) if n >= 54 => {
                f[18..20].copy_from_slice(&((n - 54) as u16).to_be_bytes());
            }
            _ => {}
        }
        self
    }

    /// The frame's bytes.
    pub fn build(self) -> Vec<u8> {
        self.0
    }
}

/// An ARP request (Ethernet/IPv4) as a complete frame.
pub fn arp_request(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut body = vec![0, 1, 8, 0, 6, 4, 0, 1];
    body.extend_from_slice(&SRC_MAC);
    body.extend_from_slice(&sender);
    body.extend_from_slice(&[0; 6]);
    body.extend_from_slice(&target);
    Frame::eth_between([0xff; 6], SRC_MAC, 0x0806)
        .bytes(&body)
        .build()
}

/// Internet checksums, computed from scratch: builders of valid packets, and verification of
/// what the translation wrote.
pub mod csum {

    /// One's-complement sum of `data` (odd length padded with a zero byte), not folded.
    pub fn sum(data: &[u8]) -> u32 {
        let mut s: u32 = 0;
        for pair in data.chunks(2) {
            let word = if pair.len() == 2 {
                u16::from_be_bytes([pair[0], pair[1]])
            } else {
                u16::from_be_bytes([pair[0], 0])
            };
            s = s.wrapping_add(word as u32);
        }
        s
    }

    /// Folds a sum to 16 bits and complements it.
    pub fn finish(mut s: u32) -> u16 {
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    /// The pseudo-header sum for a transport segment of `len` bytes between `src` and `dst`
    /// (4 or 16 bytes each).
    pub fn pseudo(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u32 {
        let mut s = sum(src).wrapping_add(sum(dst));
        s = s.wrapping_add(proto as u32);
        if src.len() == 16 {
            s = s
                .wrapping_add((len >> 16) as u32)
                .wrapping_add(len as u32 & 0xffff);
        } else {
            s = s.wrapping_add(len as u32);
        }
        s
    }

    /// Checks the IP header checksum (IPv4), the transport checksum (TCP, UDP unless zero,
    /// ICMP, ICMPv6) and, in an ICMP error, the quoted IPv4 header's checksum, of the IP
    /// packet at `l3` in `frame`. The packet must be whole (not a fragment).
    pub fn verify(frame: &[u8], l3: usize) -> Result<(), super::std::string::String> {
        use super::std::format;
        let ip = &frame[l3..];
        let (src, dst, proto, l4): (&[u8], &[u8], u8, usize) = match ip[0] >> 4 {
            4 => {
                let ihl = (ip[0] & 15) as usize * 4;
                if finish(sum(&ip[..ihl])) != 0 {
                    return Err(format!("IPv4 header checksum wrong: {:02x?}", &ip[10..12]));
                }
                let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
                if total != ip.len() {
                    return Err(format!("IPv4 total length {total}, packet {}", ip.len()));
                }
                (&ip[12..16], &ip[16..20], ip[9], ihl)
            }
            6 => {
                let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
                if plen + 40 != ip.len() {
                    return Err(format!("IPv6 payload length {plen}, packet {}", ip.len()));
                }
                (&ip[8..24], &ip[24..40], ip[6], 40)
            }
            v => return Err(format!("IP version {v}")),
        };
        let seg = &ip[l4..];
        let ok = match proto {
            6 | 17 => {
                if proto == 17 && seg[6] == 0 && seg[7] == 0 && src.len() == 4 {
                    return Ok(()); // UDP over IPv4 without a checksum
                }
                finish(pseudo(src, dst, proto, seg.len()).wrapping_add(sum(seg))) == 0
            }
            1 => finish(sum(seg)) == 0,
            58 => finish(pseudo(src, dst, proto, seg.len()).wrapping_add(sum(seg))) == 0,
            _ => true,
        };
        if !ok {
            return Err(format!("protocol {proto} checksum wrong"));
        }
        // The quoted header of an ICMPv4 error.
        if proto == 1 && matches!(seg[0], 3 | 4 | 5 | 11 | 12) && seg.len() >= 28 {
            let q = &seg[8..];
            let ihl = (q[0] & 15) as usize * 4;
            if q.len() >= ihl && finish(sum(&q[..ihl])) != 0 {
                return Err("quoted IPv4 header checksum wrong".into());
            }
        }
        Ok(())
    }

    /// Writes correct lengths and checksums into the IP packet at `l3` of `frame` (IPv4
    /// header, then TCP/UDP/ICMP/ICMPv6), as a sender would. `udp_zero` leaves an IPv4 UDP
    /// checksum at zero.
    pub fn fill(frame: &mut [u8], l3: usize, udp_zero: bool) {
        let len = frame.len() - l3;
        let version = frame[l3] >> 4;
        let (l4, proto, src, dst) = if version == 4 {
            let ihl = (frame[l3] & 15) as usize * 4;
            frame[l3 + 2..l3 + 4].copy_from_slice(&(len as u16).to_be_bytes());
            frame[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
            let c = finish(sum(&frame[l3..l3 + ihl]));
            frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
            (
                l3 + ihl,
                frame[l3 + 9],
                frame[l3 + 12..l3 + 16].to_vec(),
                frame[l3 + 16..l3 + 20].to_vec(),
            )
        } else {
            frame[l3 + 4..l3 + 6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
            (
                l3 + 40,
                frame[l3 + 6],
                frame[l3 + 8..l3 + 24].to_vec(),
                frame[l3 + 24..l3 + 40].to_vec(),
            )
        };
        let seg_len = frame.len() - l4;
        let at = match proto {
            6 => 16,
            17 => 6,
            1 | 58 => 2,
            _ => return,
        };
        if proto == 17 {
            frame[l4 + 4..l4 + 6].copy_from_slice(&(seg_len as u16).to_be_bytes());
        }
        frame[l4 + at..l4 + at + 2].copy_from_slice(&[0, 0]);
        if proto == 17 && udp_zero && version == 4 {
            return;
        }
        let mut s = sum(&frame[l4..]);
        if proto != 1 {
            s = s.wrapping_add(pseudo(&src, &dst, proto, seg_len));
        }
        let mut c = finish(s);
        if proto == 17 && c == 0 {
            c = 0xffff;
        }
        frame[l4 + at..l4 + at + 2].copy_from_slice(&c.to_be_bytes());
    }
}

/// Builders of whole, valid IP packets (lengths and checksums right) for the translation
/// tests. Addresses are 4 bytes (IPv4) or 16 (IPv6).
pub mod ip {
    use super::std::vec::Vec;

    use super::{Frame, csum};

    /// IP header(s) for `proto` from `src` to `dst`, starting an Ethernet frame (or, with
    /// `eth` false, a raw IP packet).
    fn header(eth: bool, src: &[u8], dst: &[u8], proto: u8) -> Vec<u8> {
        let v6 = src.len() == 16;
        let mut f = if eth {
            Frame::eth(if v6 { 0x86dd } else { 0x0800 }).build()
        } else {
            Vec::new()
        };
        if v6 {
            f.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, proto, 64]);
            f.extend_from_slice(src);
            f.extend_from_slice(dst);
        } else {
            f.extend_from_slice(&[0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0]);
            f.extend_from_slice(src);
            f.extend_from_slice(dst);
        }
        f
    }

    /// A TCP segment with `flags` and `payload`.
    pub fn tcp(
        eth: bool,
        src: &[u8],
        dst: &[u8],
        sport: u16,
        dport: u16,
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut f = header(eth, src, dst, 6);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        let l3 = if eth { 14 } else { 0 };
        csum::fill(&mut f, l3, false);
        f
    }

    /// A UDP datagram (`zero_csum`: IPv4 without a checksum).
    pub fn udp(
        eth: bool,
        src: &[u8],
        dst: &[u8],
        sport: u16,
        dport: u16,
        payload: &[u8],
        zero_csum: bool,
    ) -> Vec<u8> {
        let mut f = header(eth, src, dst, 17);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend_from_slice(payload);
        let l3 = if eth { 14 } else { 0 };
        csum::fill(&mut f, l3, zero_csum);
        f
    }

    /// An ICMP (IPv4) or ICMPv6 echo request (`reply` false) or reply with identifier `id`.
    pub fn echo(eth: bool, src: &[u8], dst: &[u8], id: u16, reply: bool) -> Vec<u8> {
        let v6 = src.len() == 16;
        let proto = if v6 { 58 } else { 1 };
        let ty = match (v6, reply) {
            (false, false) => 8,
            (false, true) => 0,
            (true, false) => 128,
            (true, true) => 129,
        };
        let mut f = header(eth, src, dst, proto);
        f.extend_from_slice(&[ty, 0, 0, 0]);
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&[0, 7]);
        f.extend_from_slice(b"bondxdp!");
        let l3 = if eth { 14 } else { 0 };
        csum::fill(&mut f, l3, false);
        f
    }

    /// An ICMP error (`ty`, `code`; IPv4 "fragmentation needed" is 3/4, ICMPv6 "packet too
    /// big" 2/0) from `src` to `dst`, quoting the IP packet `quoted` (its first
    /// `quote_len` bytes).
    pub fn error(
        eth: bool,
        src: &[u8],
        dst: &[u8],
        ty: u8,
        code: u8,
        quoted: &[u8],
        quote_len: usize,
    ) -> Vec<u8> {
        let v6 = src.len() == 16;
        let mut f = header(eth, src, dst, if v6 { 58 } else { 1 });
        f.extend_from_slice(&[ty, code, 0, 0, 0, 0, 0x05, 0xdc]);
        f.extend_from_slice(&quoted[..quote_len.min(quoted.len())]);
        let l3 = if eth { 14 } else { 0 };
        csum::fill(&mut f, l3, false);
        f
    }
}

/// A configuration in `mode` with one member per entry of `links` (slot `i`: ifindex `10 + i`,
/// MAC `02:00:00:00:00:i`), nothing derived yet.
pub fn bond_with_links(
    mode: crate::types::Mode,
    links: &[crate::types::LinkState],
) -> crate::config::BondConfig {
    let mut cfg = crate::config::BondConfig {
        mode: mode as u32,
        ..Default::default()
    };
    for (slot, link) in links.iter().enumerate() {
        cfg.members[slot] = crate::types::MemberSlot {
            ifindex: 10 + slot as u32,
            mac: [2, 0, 0, 0, 0, slot as u8],
            link: *link as u8,
            flags: 0,
        };
    }
    cfg
}
