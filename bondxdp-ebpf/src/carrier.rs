//! The controller's carrier watch: one tiny object, loaded once per `bondxdp run` (not per
//! bond). fexit programs on the kernel's `netif_carrier_on`, `netif_carrier_off` and
//! `netif_carrier_event` put one record in [`CARRIER_EVENTS`] each time a driver reports a
//! carrier change, which wakes the controller at once: netlink's link notifications go
//! through the kernel's linkwatch, which may defer them by up to a second, and polling fast
//! enough to beat that costs a thousand wakeups a second per member.
//!
//! The record says only that some carrier changed (and which way); the controller then reads
//! its members' carriers itself (two ioctls each). fexit runs after the function returned,
//! so what it reads is already the new state. Reading the device's index here would need the
//! kernel's struct layout, which differs between kernels; a wakeup for another interface's
//! change costs a few ioctls, and carrier changes are rare.
#![no_std]
#![no_main]

use aya_ebpf::{
    macros::{fexit, map},
    maps::RingBuf,
    programs::FExitContext,
};
use bondxdp_common::carrier::{CARRIER_EVENT, CARRIER_OFF, CARRIER_ON, CarrierRecord};

/// Carrier changes, for the controller (a few records; it drains them at once).
#[map]
static CARRIER_EVENTS: RingBuf = RingBuf::with_byte_size(4096, 0);

#[inline(always)]
fn report(kind: u32) -> i32 {
    let _ = CARRIER_EVENTS.output::<CarrierRecord>(CarrierRecord { kind }, 0);
    0
}

/// After `netif_carrier_on(dev)`.
#[fexit(function = "netif_carrier_on")]
pub fn carrier_on(_ctx: FExitContext) -> i32 {
    report(CARRIER_ON)
}

/// After `netif_carrier_off(dev)`.
#[fexit(function = "netif_carrier_off")]
pub fn carrier_off(_ctx: FExitContext) -> i32 {
    report(CARRIER_OFF)
}

/// After `netif_carrier_event(dev)` (a down-and-up the driver saw without a state change).
#[fexit(function = "netif_carrier_event")]
pub fn carrier_event(_ctx: FExitContext) -> i32 {
    report(CARRIER_EVENT)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
