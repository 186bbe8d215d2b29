//! bondxdp's eBPF programs. The entry points stay thin: each calls one function of its room.
//!
//! * `bond_egress` (tcx egress on the bond): picks a member and redirects the packet to it.
//! * `member_ingress` (tcx ingress on each member): delivers what the member receives to the
//!   bond, as if it had arrived there.
//!
//! One copy of this object is loaded per bond; its maps (see `maps.rs`) hold that bond's
//! configuration and counters and are pinned under /sys/fs/bpf/bondxdp/.
#![no_std]
#![no_main]
// Single-instruction packet loads (see skb.rs); the eBPF crate is built with nightly anyway.
#![feature(asm_experimental_arch)]

mod egress;
mod ingress;
mod maps;
mod skb;

use aya_ebpf::{macros::classifier, programs::TcContext};

/// tcx egress on the bond interface.
#[classifier]
pub fn bond_egress(ctx: TcContext) -> i32 {
    egress::bond_egress(&ctx)
}

/// tcx ingress on every member interface.
#[classifier]
pub fn member_ingress(ctx: TcContext) -> i32 {
    ingress::member_ingress(&ctx)
}

/// Benchmark floor: the least a transmit program can do (redirect, nothing else). Never
/// attached; `cargo xtask bench` runs it next to `bond_egress` to price the selection.
#[classifier]
pub fn bench_floor(_ctx: TcContext) -> i32 {
    // SAFETY: plain helper call.
    unsafe { aya_ebpf::helpers::bpf_redirect(1, 0) as i32 }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
