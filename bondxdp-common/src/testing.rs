//! Frame builders for tests (host unit tests here, BPF_PROG_TEST_RUN and namespace tests in
//! the `tests` crate). Only built with `cfg(test)` or the `testing` feature.

extern crate std;

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
