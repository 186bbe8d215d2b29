//! bondxdp's eBPF programs. The entry points stay thin: each calls one function of its room.
//!
//! * `egress_*` (tcx egress on the bond): pick a member and redirect the packet to it; one
//!   program per mode (and hash policy), generated below from the shared selectors, so no
//!   packet pays for dispatching on the mode. The loader attaches the one configured.
//! * `member_ingress` (tcx ingress on each member): delivers what the member receives to the
//!   bond, as if it had arrived there.
//! * `egress_custom`, `custom_finish`: the custom mode's two halves, around the user's
//!   selection program (tail calls through `SELECT_PROGS`).
//! * `xdp_lan_*`, `xdp_member`: the XDP fast path for routed traffic (`--forward-from`),
//!   one LAN-side program per selector like the egress programs (`xdp_lan_pass` for modes
//!   without a fast path).
//! * `egress_mwan`, `ingress_mwan`: the multi-uplink mode's pair (flows pinned to uplinks and
//!   translated to their addresses; see `multi_wan.rs`).
//!
//! One copy of this object is loaded per bond; its maps (see `maps.rs`) hold that bond's
//! configuration and counters and are pinned under /sys/fs/bpf/bondxdp/.
#![no_std]
#![no_main]
// Single-instruction packet loads (see skb.rs); the eBPF crate is built with RUSTC_BOOTSTRAP=1.
#![feature(asm_experimental_arch)]

mod alb;
mod custom;
mod egress;
mod fast_path;
mod ingress;
mod maps;
mod member_mac;
mod multi_wan;
mod skb;

use aya_ebpf::{
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use bondxdp_common::modes::{
    Selector, active_backup::ActiveBackup, broadcast::Broadcast, load_aware::LoadAware,
    round_robin::RoundRobin, tlb::Tlb, xor::Xor,
};

/// One tcx egress program per selector, and its XDP fast-path twin for LAN-side interfaces;
/// names must match `Selector::PROGRAM` and `Selector::XDP_PROGRAM`, which the macro checks
/// at compile time (and a test checks every program the modes table names is in the object).
macro_rules! selector_programs {
    ($($name:ident, $xdp:ident => $selector:ty),* $(,)?) => {$(
        #[doc = concat!("tcx egress on the bond, selecting with `", stringify!($selector), "`.")]
        #[classifier]
        pub fn $name(ctx: TcContext) -> i32 {
            egress::bond_egress::<$selector>(&ctx)
        }

        #[doc = concat!("XDP fast path on each `--forward-from` interface: routes through the \
            bond leave through the member `", stringify!($selector), "` picks.")]
        #[xdp]
        pub fn $xdp(ctx: XdpContext) -> u32 {
            fast_path::lan::<$selector>(&ctx)
        }

        // The names userspace attaches by (the modes table reads them from the selector)
        // are these functions' names: a mismatch fails this build, not a user's `up`.
        const _: () = assert!(
            bondxdp_common::types::str_eq(stringify!($name), <$selector as Selector>::PROGRAM)
                && bondxdp_common::types::str_eq(
                    stringify!($xdp),
                    <$selector as Selector>::XDP_PROGRAM
                ),
            concat!("selector_programs!: ", stringify!($name), "/", stringify!($xdp),
                " differ from ", stringify!($selector), "'s PROGRAM/XDP_PROGRAM")
        );
    )*};
}

selector_programs! {
    egress_rr, xdp_lan_rr => RoundRobin,
    egress_ab, xdp_lan_ab => ActiveBackup,
    egress_xor_l2, xdp_lan_xor_l2 => Xor<0>,
    egress_xor_l34, xdp_lan_xor_l34 => Xor<1>,
    egress_xor_l23, xdp_lan_xor_l23 => Xor<2>,
    egress_xor_e23, xdp_lan_xor_e23 => Xor<3>,
    egress_xor_e34, xdp_lan_xor_e34 => Xor<4>,
    egress_xor_vsm, xdp_lan_xor_vsm => Xor<5>,
    egress_bcast, xdp_lan_bcast => Broadcast,
    egress_load, xdp_lan_load => LoadAware,
    egress_tlb, xdp_lan_tlb => Tlb,
}

/// balance-alb: tcx egress on the bond (ARP through its client's member, the rest as
/// balance-tlb).
#[classifier]
pub fn egress_alb(ctx: TcContext) -> i32 {
    alb::egress(&ctx)
}

/// tcx ingress on every member interface.
#[classifier]
pub fn member_ingress(ctx: TcContext) -> i32 {
    ingress::member_ingress(&ctx)
}

/// multi-wan: tcx egress on the bond (per-flow uplink choice and translation).
#[classifier]
pub fn egress_mwan(ctx: TcContext) -> i32 {
    multi_wan::egress(&ctx)
}

/// multi-wan: tcx ingress on every uplink (replies translated back to the bond).
#[classifier]
pub fn ingress_mwan(ctx: TcContext) -> i32 {
    multi_wan::ingress(&ctx)
}

/// custom mode: tcx egress on the bond (context, then the user's selection program).
#[classifier]
pub fn egress_custom(ctx: TcContext) -> i32 {
    custom::dispatch(&ctx)
}

/// custom mode: tail-called by the user's selection program (its choice, validated, sent).
#[classifier]
pub fn custom_finish(ctx: TcContext) -> i32 {
    custom::finish(&ctx)
}

/// XDP on each `--forward-from` interface of a bond whose mode has no fast path: every
/// frame to the kernel (counted).
#[xdp]
pub fn xdp_lan_pass(_ctx: XdpContext) -> u32 {
    fast_path::lan_pass()
}

/// XDP fast path on each member (with `--forward-from`): routes out of a LAN-side interface
/// leave through it; the rest goes on to `member_ingress`.
#[xdp]
pub fn xdp_member(ctx: XdpContext) -> u32 {
    fast_path::member(&ctx)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
