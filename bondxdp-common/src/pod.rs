//! `aya::Pod` for the map value types (userspace only, `user` feature).

use crate::{
    config::{BondConfig, ConfigSlots},
    counters::{MemberStats, UplinkSignals},
    multi_wan::{FlowEntry, FlowKey, FragEntry, FragKey, HostEntry, NatEntry},
    records::{BondState, UplinkHealth},
};

// SAFETY: all of these are `#[repr(C)]`, `Copy`, made only of integers and byte arrays with
// explicit padding fields, so every bit pattern is a valid value.
unsafe impl aya::Pod for BondConfig {}
unsafe impl aya::Pod for BondState {}
unsafe impl aya::Pod for ConfigSlots {}
unsafe impl aya::Pod for MemberStats {}
unsafe impl aya::Pod for UplinkSignals {}
unsafe impl aya::Pod for FlowKey {}
unsafe impl aya::Pod for FlowEntry {}
unsafe impl aya::Pod for NatEntry {}
unsafe impl aya::Pod for HostEntry {}
unsafe impl aya::Pod for crate::fast_path::RouteCache {}
unsafe impl aya::Pod for UplinkHealth {}
unsafe impl aya::Pod for FragKey {}
unsafe impl aya::Pod for FragEntry {}
unsafe impl aya::Pod for crate::modes::alb::Client {}
