//! LACP (IEEE 802.1AX, formerly 802.3ad) for `--mode 802.3ad`: the protocol itself, without
//! IO, so that the controller's async driver only moves frames and time.
//!
//! The room holds:
//! * [`pdu`]: LACPDU and Marker PDU encoding and decoding, with a named error per malformation;
//! * [`key`]: port keys from link speed and duplex, as the Linux bonding driver lays them out;
//! * [`port`]: one port's receive, periodic, mux, transmit and churn machines;
//! * [`select`]: which aggregator a port joins and which aggregator is active (`ad_select`);
//! * [`Actor`]: a bond's ports and selection together, its status and snapshots;
//! * [`record`]: the actor's state in the bond's pinned record and back (status, restarts).
//!
//! Time is a monotonic count of milliseconds chosen by the caller (`now`); nothing here reads
//! a clock, so the tests drive two actors back to back through simulated seconds.
//!
//! # Driving an actor
//!
//! ```text
//! let mut actor = Actor::new(cfg, members, now);      // or Actor::restore(&snapshot, now)
//! actor.on_link(i, now, Link { up, speed_mbps, full_duplex });   // at start and on change
//! loop {
//!     select! {
//!         frame on member i (ethertype 0x8809) => actor.on_frame(i, now, &frame),
//!         link change on member i              => actor.on_link(i, now, link),
//!         sleep until actor.next_deadline()    => actor.tick(now),
//!     }
//!     while let Some(t) = actor.poll_transmit(now) { send t.frame on member t.port }
//!     push actor.distributing_ports() to the data plane if it changed;
//! }
//! ```
//!
//! Frames out are complete Ethernet frames from the member's own MAC (its
//! [`PortConfig::mac`]) to 01:80:c2:00:00:02: send them raw on the member itself (a packet
//! socket), not through the bond. Frames in are whatever arrived on the member with ethertype
//! 0x8809. A deadline at or before `now` means "tick now". Use one clock for every call;
//! after a restart, [`Actor::restore`] takes the new clock's `now`.
//!
//! [`Actor::status`] is what `status` shows; [`Actor::snapshot`] is what to persist for a
//! restart (and [`Actor::restore`] what to resume from).
//!
//! [`pdu`]: crate::lacp::pdu
//! [`key`]: crate::lacp::key
//! [`port`]: crate::lacp::port
//! [`select`]: crate::lacp::select
//! [`record`]: crate::lacp::record
//! [`Actor`]: crate::lacp::Actor
//! [`Actor::status`]: crate::lacp::Actor::status
//! [`Actor::snapshot`]: crate::lacp::Actor::snapshot
//! [`Actor::restore`]: crate::lacp::Actor::restore
//! [`PortConfig::mac`]: crate::lacp::PortConfig::mac

pub mod actor;
pub mod key;
pub mod pdu;
pub mod port;
pub mod record;
pub mod select;

#[cfg(test)]
mod tests;

pub use actor::{
    Actor, ActorConfig, ActorStatus, AggregatorStatus, PortSnapshot, PortStatus, Received,
    Snapshot, Transmit,
};
pub use key::port_key;
pub use pdu::{Lacpdu, MarkerKind, MarkerPdu, PduError, PortInfo, PortState, SlowPdu};
pub use port::{
    ChurnState, Link, MalformedCounters, MuxState, Port, PortConfig, PortCounters, RxState,
    Selection,
};
pub use select::{AdSelect, LagKey};

/// Serializes a MAC address as `aa:bb:cc:dd:ee:ff`.
mod mac_serde {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use crate::mac::{format_mac, parse_mac};

    /// Writes `aa:bb:cc:dd:ee:ff`.
    pub fn serialize<S: Serializer>(mac: &[u8; 6], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_mac(mac))
    }

    /// Reads `aa:bb:cc:dd:ee:ff`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 6], D::Error> {
        let s = String::deserialize(d)?;
        parse_mac(&s).map_err(D::Error::custom)
    }
}
