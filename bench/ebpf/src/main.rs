//! Benchmark-only eBPF programs: the baselines `cargo xtask bench` measures bondxdp's
//! programs against, and the far end of its forwarding benchmark. Never attached by bondxdp
//! itself and not part of its data-plane object (bondxdp-ebpf); bondxdp/build.rs builds this
//! object too and embeds it as `bondxdp::loader::BENCH_OBJECT`, for the benchmark harness
//! (tests/src/bench/).
//!
//! * [`bench_floor`] (tc): the least a transmit program can do, priced next to the data
//!   plane's `egress_*` programs (program cost section).
//! * [`bench_xdp_floor`], [`bench_xdp_redirect_map`] (XDP): the forwarding section's floor and
//!   the kernel's `xdp_redirect_map` sample, redirecting through [`FWD_MEMBERS`], which the
//!   harness replaces with the bond's own pinned devmap of that name.
//! * [`bench_xdp_pass`] (XDP): the kernel's forwarding path (every frame to the stack).
//! * [`bench_xdp_sink`] (XDP): counts in [`BENCH_SINK`] and drops what arrives.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action,
    macros::{classifier, map, xdp},
    maps::{DevMap, PerCpuArray},
    programs::{TcContext, XdpContext},
};
use bondxdp_common::MAX_MEMBERS;

/// The members, by slot: the same definition as the data plane's devmap of that name, so
/// that the harness can load this object with the bond's pinned one in its place and the
/// floors redirect exactly as the fast path does.
#[map]
static FWD_MEMBERS: DevMap = DevMap::with_max_entries(MAX_MEMBERS as u32, 0);

/// Frames [`bench_xdp_sink`] dropped.
#[map]
static BENCH_SINK: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Frames [`bench_xdp_redirect_map`] forwarded.
#[map]
static BENCH_FLOOR: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The member slot [`bench_xdp_floor`] and [`bench_xdp_redirect_map`] redirect to (set at
/// load time).
#[unsafe(no_mangle)]
static BENCH_XDP_TARGET: u32 = 0;

/// The headers [`bench_xdp_pass`] restores (set at load time).
#[unsafe(no_mangle)]
static BENCH_XDP_HEADERS: [u8; 34] = [0; 34];

/// Adds one to the per-CPU counter `map`.
#[inline(always)]
fn count(map: &PerCpuArray<u64>) {
    if let Some(n) = map.get_ptr_mut(0) {
        // SAFETY: per-CPU entry.
        unsafe { *n += 1 };
    }
}

/// Floor of the program cost section: the least a transmit program can do (redirect,
/// nothing else). Run next to the data plane's `egress_*` programs to price the selection.
#[classifier]
pub fn bench_floor(_ctx: TcContext) -> i32 {
    // SAFETY: plain helper call.
    unsafe { aya_ebpf::helpers::bpf_redirect(1, 0) as i32 }
}

/// Floor of the XDP fast path: what any forwarder must do at least (the next hop's MAC in
/// the frame) and a redirect through the members' devmap, as cheap as the fast path's own,
/// nothing else.
#[xdp]
pub fn bench_xdp_floor(ctx: XdpContext) -> u32 {
    // SAFETY: a global the loader may set; read once.
    let target = unsafe { core::ptr::read_volatile(&raw const BENCH_XDP_TARGET) };
    let p = ctx.data();
    if p + 6 <= ctx.data_end() {
        // SAFETY: six bytes inside the frame (checked).
        unsafe { *(p as *mut [u8; 6]) = [2, 0, 0, 0, 0x20, 2] };
    }
    match FWD_MEMBERS.redirect(target, 0) {
        Ok(action) | Err(action) => action,
    }
}

/// Reference for the XDP fast path, as the kernel's and bcc's `xdp_redirect_map` samples
/// (and xdp-bench's redirect-map) write it: a per-CPU counter, the frame's MACs swapped
/// (read, then written), a devmap redirect.
#[xdp]
pub fn bench_xdp_redirect_map(ctx: XdpContext) -> u32 {
    // SAFETY: a global the loader may set; read once.
    let target = unsafe { core::ptr::read_volatile(&raw const BENCH_XDP_TARGET) };
    let p = ctx.data();
    if p + 14 > ctx.data_end() {
        return xdp_action::XDP_DROP;
    }
    count(&BENCH_FLOOR);
    // SAFETY: twelve bytes inside the frame (checked).
    unsafe {
        let macs = p as *mut [u16; 6];
        let [d0, d1, d2, s0, s1, s2] = core::ptr::read_unaligned(macs);
        core::ptr::write_unaligned(macs, [s0, s1, s2, d0, d1, d2]);
    }
    match FWD_MEMBERS.redirect(target, 0) {
        Ok(action) | Err(action) => action,
    }
}

/// Hands every frame to the kernel (the forwarding path without XDP). Live frames recycle
/// their pages with whatever the kernel wrote into them (next hop's MAC, TTL), so it first
/// puts the original Ethernet and IPv4 headers back.
#[xdp]
pub fn bench_xdp_pass(ctx: XdpContext) -> u32 {
    let p = ctx.data();
    if p + 34 <= ctx.data_end() {
        for i in 0..34 {
            // SAFETY: i < 34 and the frame holds 34 bytes (checked); the global is 34 bytes.
            unsafe {
                *((p + i) as *mut u8) =
                    core::ptr::read_volatile((&raw const BENCH_XDP_HEADERS as *const u8).add(i));
            }
        }
    }
    xdp_action::XDP_PASS
}

/// Counts and drops what arrives (the far end of a forwarding benchmark).
#[xdp]
pub fn bench_xdp_sink(_ctx: XdpContext) -> u32 {
    count(&BENCH_SINK);
    xdp_action::XDP_DROP
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
