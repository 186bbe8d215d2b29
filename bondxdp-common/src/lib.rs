//! Everything bondxdp's eBPF programs and its userspace must agree on.
//!
//! The rooms, each importing only rooms listed above it (a host test checks there is no
//! import circle):
//! * [`types`]: the basic types (mode and hash-policy numbers, link states, member and uplink
//!   slots); imports nothing.
//! * [`reciprocal`], [`packet`], [`counters`]: division without a divide, a read-only view of a
//!   frame (byte slices on the host, the skb in eBPF, so one parser runs in both), per-member
//!   counters with the named reasons for every drop.
//! * [`weights`]: weighted tables for choosing members for new flows.
//! * [`multi_wan`]: the multi-uplink mode's flow tables and packet parser (translation to each
//!   uplink's address).
//! * [`hash`]: the kernel bonding driver's transmit hash (`bond_xmit_hash`), bit-exact.
//! * [`config`]: the map value the data plane reads (`#[repr(C)]`, no padding surprises):
//!   mode, hash policy, member slots, and which members may transmit or receive.
//! * [`records`]: userspace's pinned records of a bond (the eBPF object declares their maps but
//!   never reads them).
//! * [`modes`]: the table of modes ([`modes::MODES`]) and one file per mode: which member
//!   sends a packet, and which members are eligible at all.
//! * [`fast_path`]: the XDP fast path's decisions for routed traffic (`--forward-from`).
//! * [`carrier`]: what the controller's carrier watch reports (its fexit programs' records).
//! * [`plan`]: what the data plane acts on, derived from the configuration
//!   ([`BondConfig::recompute`]).
//!
//! The crate is `no_std` and has no dependencies (bar `aya` for the `user` feature), so the
//! pure decisions are unit-tested on the host and called unchanged from the eBPF programs.
#![cfg_attr(not(test), no_std)]
// The eBPF target's atomic add (`load_aware::Credits`) is one instruction of inline assembly:
// core offers no read-modify-write atomics there. The eBPF crates are built with the pinned
// Rust and RUSTC_BOOTSTRAP=1 (docs/toolchain.md), so unstable features are available.
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]

pub mod carrier;
pub mod config;
pub mod counters;
pub mod fast_path;
pub mod hash;
pub mod member_mac;
pub mod modes;
pub mod multi_wan;
pub mod packet;
pub mod plan;
pub mod reciprocal;
pub mod records;
pub mod types;
pub mod weights;

#[cfg(feature = "user")]
mod pod;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::{BondConfig, HashPolicy, MAX_MEMBERS, MemberSlot, Mode};
pub use counters::{Counter, MemberStats};
