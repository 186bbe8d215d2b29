//! Everything bondxdp's eBPF programs and its userspace must agree on.
//!
//! * [`config`]: the map value types (`#[repr(C)]`, no padding surprises) describing a bond:
//!   mode, hash policy, member slots, and which members may transmit or receive.
//! * [`counters`]: per-member traffic counters and the named reasons for every drop.
//! * [`packet`]: a tiny read-only view of a frame, implemented by byte slices on the host and by
//!   the skb in the eBPF programs, so the same parsing code runs in both places.
//! * [`hash`]: the kernel bonding driver's transmit hash (`bond_xmit_hash`), bit-exact.
//! * [`forward`]: the XDP fast path's decisions for routed traffic (`--forward-from`).
//! * [`modes`]: one file per bonding mode: which member sends a packet, and which members are
//!   eligible at all.
//! * [`nat`]: the multi-uplink mode's flow tables and packet parser (translation to each
//!   uplink's address).
//! * [`weights`]: weighted tables for choosing members for new flows.
//!
//! The crate is `no_std` and has no dependencies (bar `aya` for the `user` feature), so the
//! pure decisions are unit-tested on the host and called unchanged from the eBPF programs.
#![cfg_attr(not(test), no_std)]
// The eBPF target's atomic add (`load_aware::Credits`) is one instruction of inline assembly:
// core offers no read-modify-write atomics there. The eBPF crates are built with the pinned
// Rust and RUSTC_BOOTSTRAP=1 (docs/toolchain.md), so unstable features are available.
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]

pub mod config;
pub mod counters;
pub mod forward;
pub mod hash;
pub mod modes;
pub mod nat;
pub mod packet;
pub mod reciprocal;
pub mod weights;

#[cfg(feature = "user")]
mod pod;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::{BondConfig, HashPolicy, MAX_MEMBERS, MemberSlot, Mode};
pub use counters::{Counter, MemberStats};
