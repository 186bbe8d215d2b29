//! The skb as a [`PacketView`] for the shared parsers, and the [`TxEnv`] the modes use.

use aya_ebpf::{helpers::bpf_get_prandom_u32, programs::TcContext};
use bondxdp_common::{Counter, modes::TxEnv, packet::PacketView};

use crate::maps;

/// Headers the parsers may need in the linear part of the skb (Ethernet, two VLAN tags, IPv6
/// with a few extension headers, an ICMP error's quote). Pulled in only when missing.
const PARSE_WINDOW: u32 = 192;

/// Largest offset a read may start at; keeps offsets bounded for the verifier.
const MAX_OFFSET: usize = 1024;

/// Direct, bounds-checked reads of the skb's linear data.
pub struct SkbView {
    data: usize,
    data_end: usize,
}

impl SkbView {
    /// A view of `ctx`'s headers. Makes sure the first [`PARSE_WINDOW`] bytes (or the whole
    /// packet, if shorter) are linear, so reads of headers succeed whenever the kernel's would.
    #[inline(always)]
    pub fn new(ctx: &TcContext) -> SkbView {
        let want = if ctx.len() < PARSE_WINDOW {
            ctx.len()
        } else {
            PARSE_WINDOW
        };
        if ctx.data() + want as usize > ctx.data_end() {
            // Rare (locally generated and forwarded headers are linear); failure only means
            // some reads return None.
            let _ = ctx.pull_data(want);
        }
        SkbView {
            data: ctx.data(),
            data_end: ctx.data_end(),
        }
    }
}

impl SkbView {
    /// A header struct (e.g. `network_types::eth::EthHdr`) read at `offset`, if present.
    #[inline(always)]
    pub fn header<T: Copy>(&self, offset: usize) -> Option<T> {
        if offset > MAX_OFFSET {
            return None;
        }
        let start = self.data + offset;
        if start + core::mem::size_of::<T>() > self.data_end {
            return None;
        }
        // SAFETY: in bounds (checked above); `T` is a plain-old-data header.
        Some(unsafe { core::ptr::read_unaligned(start as *const T) })
    }
}

impl PacketView for SkbView {
    #[inline(always)]
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        if offset > MAX_OFFSET {
            return None;
        }
        let start = self.data + offset;
        if start + N > self.data_end {
            return None;
        }
        // SAFETY: [start, start + N) was checked to lie inside the packet.
        Some(unsafe { core::ptr::read_unaligned(start as *const [u8; N]) })
    }
}

/// The data plane's side of [`TxEnv`]: per-CPU counter, kernel PRNG, counter map.
pub struct Env;

impl TxEnv for Env {
    #[inline(always)]
    fn next_rr(&mut self) -> u32 {
        maps::next_rr()
    }

    #[inline(always)]
    fn random(&mut self) -> u32 {
        // SAFETY: helper without arguments.
        unsafe { bpf_get_prandom_u32() }
    }

    #[inline(always)]
    fn note(&mut self, counter: Counter) {
        maps::count(counter);
    }
}
