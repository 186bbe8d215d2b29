//! The skb as a [`PacketView`] for the shared parsers, and the [`TxEnv`] the modes use.
//!
//! Field reads are single loads written in eBPF assembly: LLVM's BPF backend splits every
//! misaligned multi-byte load into byte loads (headers sit at arbitrary offsets), which costs
//! a large share of the program's time; the JITs handle misaligned loads natively.

use core::arch::asm;

use aya_ebpf::{helpers::bpf_get_prandom_u32, programs::TcContext};
use bondxdp_common::{
    Counter,
    modes::{
        TxEnv,
        load_aware::{Credits, Flowlet},
    },
    packet::{Bytes, ETH_HLEN, PacketView, plain_headers_within},
};

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
    /// A view of the headers of `ctx`, an Ethernet frame (see [`SkbView::network_at`]).
    #[inline(always)]
    pub fn new(ctx: &TcContext) -> SkbView {
        SkbView::network_at(ctx, ETH_HLEN)
    }

    /// A view of the headers of `ctx`, whose network header starts at `l3_off`. Makes sure
    /// that every header the parsers read is linear, so reads of headers succeed whenever the
    /// kernel's would: the first [`PARSE_WINDOW`] bytes (or the whole packet, if shorter),
    /// unless the linear part already holds all of a plain TCP or UDP packet's headers
    /// ([`plain_headers_within`]).
    #[inline(always)]
    pub fn network_at(ctx: &TcContext, l3_off: usize) -> SkbView {
        let view = SkbView::from_range(ctx.data(), ctx.data_end());
        let want = if ctx.len() < PARSE_WINDOW {
            ctx.len()
        } else {
            PARSE_WINDOW
        };
        // SAFETY: reading a __sk_buff field.
        let protocol = u16::from_be(unsafe { (*ctx.skb.skb).protocol } as u16);
        if view.data + want as usize <= view.data_end
            || plain_headers_within(&view, protocol, l3_off)
        {
            return view;
        }
        // Failure only means that some reads return None.
        let _ = ctx.pull_data(want);
        SkbView::from_range(ctx.data(), ctx.data_end())
    }

    /// A view of the bytes between `data` and `data_end` (an XDP frame).
    #[inline(always)]
    pub fn from_range(data: usize, data_end: usize) -> SkbView {
        SkbView { data, data_end }
    }

    /// The address of the first `len` bytes, if the data holds them (to write there).
    #[inline(always)]
    pub fn start(&self, len: usize) -> Option<usize> {
        if self.data + len > self.data_end {
            return None;
        }
        Some(self.data)
    }

    /// A header struct (e.g. `network_types::eth::EthHdr`) read at `offset`, if present.
    #[inline(always)]
    pub fn header<T: Copy>(&self, offset: usize) -> Option<T> {
        let window = self.window(offset, core::mem::size_of::<T>())?;
        // SAFETY: the window covers size_of::<T>() bytes; `T` is a plain-old-data header.
        Some(unsafe { core::ptr::read_unaligned(window.ptr as *const T) })
    }
}

/// `len` bytes of packet checked to lie between `data` and `data_end`.
pub struct SkbWindow {
    ptr: usize,
}

impl Bytes for SkbWindow {
    #[inline(always)]
    fn u8<const AT: usize>(&self) -> u8 {
        let v: u64;
        // SAFETY: `AT` is within the checked window (callers read inside what they asked for).
        unsafe {
            asm!("{v} = *(u8 *)({p} + {at})", v = lateout(reg) v, p = in(reg) self.ptr,
                 at = const AT, options(readonly, nostack))
        };
        v as u8
    }

    #[inline(always)]
    fn be16<const AT: usize>(&self) -> u16 {
        let v: u64;
        // SAFETY: as in `u8`; eBPF JITs handle misaligned loads.
        unsafe {
            asm!("{v} = *(u16 *)({p} + {at})", v = lateout(reg) v, p = in(reg) self.ptr,
                 at = const AT, options(readonly, nostack))
        };
        u16::from_be(v as u16)
    }

    #[inline(always)]
    fn le32<const AT: usize>(&self) -> u32 {
        let v: u64;
        // SAFETY: as in `be16`.
        unsafe {
            asm!("{v} = *(u32 *)({p} + {at})", v = lateout(reg) v, p = in(reg) self.ptr,
                 at = const AT, options(readonly, nostack))
        };
        v as u32
    }
}

impl PacketView for SkbView {
    type Window<'a> = SkbWindow;

    #[inline(always)]
    fn window(&self, offset: usize, len: usize) -> Option<SkbWindow> {
        if offset > MAX_OFFSET {
            return None;
        }
        let ptr = self.data + offset;
        if ptr + len > self.data_end {
            return None;
        }
        Some(SkbWindow { ptr })
    }
}

/// The data plane's side of [`TxEnv`]: per-CPU counter, kernel PRNG, counter map, the
/// flowlet table and the shared new-flow credits.
pub struct Env;

impl TxEnv for Env {
    #[inline(always)]
    fn next_rr(&mut self, per_member: u32, count: u32) -> u32 {
        maps::next_rr(per_member, count)
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

    #[inline(always)]
    fn now_ns(&mut self) -> u64 {
        // SAFETY: helper without arguments.
        unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() }
    }

    #[inline(always)]
    fn with_flowlet<R>(&mut self, id: u32, f: impl FnOnce(Option<&mut Flowlet>) -> R) -> R {
        // SAFETY: a map value pointer from a successful lookup, used for this packet only;
        // concurrent writers only race on the timestamp.
        f(maps::FLOWLET_TABLE
            .get_value_ptr_mut(0, &id)
            .map(|p| unsafe { &mut *p }))
    }

    #[inline(always)]
    fn insert_flowlet(&mut self, id: u32, flowlet: Flowlet) {
        if let Some(table) = maps::FLOWLET_TABLE.get(0) {
            let _ = table.insert(id, flowlet, 0);
        }
    }

    #[inline(always)]
    fn has_flowlet_table(&mut self) -> bool {
        maps::FLOWLET_TABLE.get(0).is_some()
    }

    #[inline(always)]
    fn credits(&mut self) -> Option<&Credits> {
        // A shared reference is all it takes: every change goes through `Credits`' cells.
        maps::CREDITS.get(0)
    }
}

/// Direct writes into the skb's linear data: one store instruction each, where
/// `bpf_skb_store_bytes` is a helper call. (The verifier unclones the skb before a program
/// that writes packet data runs.) Values are as they sit in the packet (native-endian
/// representations of the bytes). Every write checks its bounds against the current
/// `data_end`: helpers that change the packet (`l4_csum_replace`...) invalidate old pointers.
pub mod write {
    use core::arch::asm;

    use aya_ebpf::programs::TcContext;

    use super::MAX_OFFSET;

    /// The address of `len` writable bytes at `off`, if the linear data holds them.
    #[inline(always)]
    fn at(ctx: &TcContext, off: usize, len: usize) -> Result<usize, i64> {
        if off > MAX_OFFSET {
            return Err(-1);
        }
        let p = ctx.data() + off;
        if p + len > ctx.data_end() {
            return Err(-1);
        }
        Ok(p)
    }

    /// Two bytes.
    #[inline(always)]
    pub fn u16(ctx: &TcContext, off: usize, v: u16) -> Result<(), i64> {
        let p = at(ctx, off, 2)?;
        // SAFETY: p..p+2 lies inside the packet (checked above).
        unsafe { store_u16(p, v) };
        Ok(())
    }

    /// Stores two bytes of packet data (an skb's or an XDP frame's) at `p` in one store:
    /// LLVM splits an access it cannot prove aligned into bytes; the JITs store misaligned
    /// words natively.
    ///
    /// # Safety
    /// `p..p + 2` must lie in packet data checked against `data_end`.
    #[inline(always)]
    pub unsafe fn store_u16(p: usize, v: u16) {
        // SAFETY: per the contract.
        unsafe {
            asm!("*(u16 *)({p} + 0) = {v}", p = in(reg) p, v = in(reg) v as u64, options(nostack))
        };
    }

    /// Loads two bytes of packet data at `p` in one load (see [`store_u16`]).
    ///
    /// # Safety
    /// As for [`store_u16`].
    #[inline(always)]
    pub unsafe fn load_u16(p: usize) -> u16 {
        let v: u64;
        // SAFETY: per the contract.
        unsafe {
            asm!("{v} = *(u16 *)({p} + 0)", v = lateout(reg) v, p = in(reg) p, options(readonly, nostack))
        };
        v as u16
    }

    /// Four bytes.
    #[inline(always)]
    pub fn u32(ctx: &TcContext, off: usize, v: u32) -> Result<(), i64> {
        let p = at(ctx, off, 4)?;
        // SAFETY: as in `u16`.
        unsafe {
            asm!("*(u32 *)({p} + 0) = {v}", p = in(reg) p, v = in(reg) v as u64, options(nostack))
        };
        Ok(())
    }

    /// Sixteen bytes given as four words.
    #[inline(always)]
    pub fn words4(ctx: &TcContext, off: usize, w: &[u32; 4]) -> Result<(), i64> {
        let p = at(ctx, off, 16)?;
        // SAFETY: as in `u16`, for 16 bytes.
        unsafe {
            asm!(
                "*(u32 *)({p} + 0) = {a}",
                "*(u32 *)({p} + 4) = {b}",
                "*(u32 *)({p} + 8) = {c}",
                "*(u32 *)({p} + 12) = {d}",
                p = in(reg) p,
                a = in(reg) w[0] as u64,
                b = in(reg) w[1] as u64,
                c = in(reg) w[2] as u64,
                d = in(reg) w[3] as u64,
                options(nostack)
            )
        };
        Ok(())
    }

    /// Two MAC addresses (destination, source): the start of an Ethernet header. `dst` and
    /// `src` must lie in map values (see [`copy_macs`]).
    #[inline(always)]
    pub fn macs(ctx: &TcContext, off: usize, dst: &[u8; 6], src: &[u8; 6]) -> Result<(), i64> {
        let p = at(ctx, off, 12)?;
        // SAFETY: as in `u16`, for 12 bytes; the sources are map values (callers).
        unsafe { copy_macs(p, dst, src) };
        Ok(())
    }

    /// Writes the destination and source MACs at `frame` (packet data of an skb or an XDP
    /// frame) in four loads and four stores: in eBPF assembly, since LLVM splits accesses it
    /// cannot prove aligned into bytes, a dozen loads and shifts per MAC; the JITs handle
    /// misaligned accesses natively.
    ///
    /// # Safety
    /// `frame` must have 12 writable bytes (checked against `data_end` for the verifier);
    /// `dst` and `src` must lie in map values or packet data, not on the stack, where the
    /// verifier requires aligned access (it refuses the program otherwise).
    #[inline(always)]
    pub unsafe fn copy_macs(frame: usize, dst: &[u8; 6], src: &[u8; 6]) {
        // SAFETY: per the contract above.
        unsafe {
            asm!(
                "{t} = *(u32 *)({d} + 0)",
                "*(u32 *)({p} + 0) = {t}",
                "{t} = *(u16 *)({d} + 4)",
                "*(u16 *)({p} + 4) = {t}",
                "{t} = *(u16 *)({s} + 0)",
                "*(u16 *)({p} + 6) = {t}",
                "{t} = *(u32 *)({s} + 2)",
                "*(u32 *)({p} + 8) = {t}",
                p = in(reg) frame,
                d = in(reg) dst.as_ptr(),
                s = in(reg) src.as_ptr(),
                t = out(reg) _,
                options(nostack)
            )
        };
    }

    /// Reads two bytes (for a checksum field about to be updated).
    #[inline(always)]
    pub fn read_u16(ctx: &TcContext, off: usize) -> Result<u16, i64> {
        let p = at(ctx, off, 2)?;
        // SAFETY: p..p+2 lies inside the packet (checked above).
        Ok(unsafe { load_u16(p) })
    }
}
