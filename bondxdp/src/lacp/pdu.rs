//! The Slow Protocols frames LACP uses (IEEE 802.1AX clause 6.4.2, Marker clause 6.5.3):
//! typed LACPDUs and Marker PDUs, their encoding to a full Ethernet frame and a decoder that
//! names every way a received frame can be malformed.
//!
//! Every frame is 124 bytes: a 14-byte Ethernet header to `01:80:c2:00:00:02` with ethertype
//! 0x8809, then a 110-byte payload (subtype, version, TLVs, terminator, reserved zeros), as the
//! Linux bonding driver and Open vSwitch send them.

use serde::{Deserialize, Serialize};

/// The Slow Protocols ethertype.
pub const SLOW_PROTOCOLS_ETHERTYPE: u16 = 0x8809;
/// The Slow Protocols multicast address every LACPDU and Marker PDU is sent to.
pub const SLOW_PROTOCOLS_MAC: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x02];
/// Slow Protocols subtype of a LACPDU.
pub const SUBTYPE_LACP: u8 = 1;
/// Slow Protocols subtype of a Marker PDU.
pub const SUBTYPE_MARKER: u8 = 2;
/// Length of the Ethernet header in front of the payload.
pub const ETH_HEADER_LEN: usize = 14;
/// Length of a LACPDU or Marker PDU payload (from subtype to the end of the reserved bytes).
pub const PAYLOAD_LEN: usize = 110;
/// Length of an encoded frame (without FCS).
pub const FRAME_LEN: usize = ETH_HEADER_LEN + PAYLOAD_LEN;
/// Longest frame accepted: a Slow Protocols frame is at most 128 octets (IEEE 802.3 annex 43B);
/// a receiver that keeps the 4-byte FCS sees exactly that.
pub const MAX_FRAME_LEN: usize = 128;

/// Length of an actor or partner information TLV.
const INFO_TLV_LEN: u8 = 20;
/// Length of the collector information TLV.
const COLLECTOR_TLV_LEN: u8 = 16;
/// Length of the Marker information/response TLV.
const MARKER_TLV_LEN: u8 = 16;

/// The eight state bits of an actor or partner (IEEE 802.1AX 6.4.2.3, field `*_State`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PortState(pub u8);

impl PortState {
    /// LACP_Activity: active (sends on its own) rather than passive.
    pub const ACTIVITY: PortState = PortState(0x01);
    /// LACP_Timeout: short timeout (wants a PDU every second) rather than long (30 s).
    pub const TIMEOUT: PortState = PortState(0x02);
    /// Aggregation: the link may be aggregated (not Individual).
    pub const AGGREGATION: PortState = PortState(0x04);
    /// Synchronization: the link is attached to the right aggregator.
    pub const SYNCHRONIZATION: PortState = PortState(0x08);
    /// Collecting: frames received on the link are accepted.
    pub const COLLECTING: PortState = PortState(0x10);
    /// Distributing: frames are sent on the link.
    pub const DISTRIBUTING: PortState = PortState(0x20);
    /// Defaulted: the partner information is the administrative default, not from a PDU.
    pub const DEFAULTED: PortState = PortState(0x40);
    /// Expired: the receive machine is in the EXPIRED state.
    pub const EXPIRED: PortState = PortState(0x80);

    const NAMES: [(&'static str, PortState); 8] = [
        ("activity", Self::ACTIVITY),
        ("timeout", Self::TIMEOUT),
        ("aggregation", Self::AGGREGATION),
        ("synchronization", Self::SYNCHRONIZATION),
        ("collecting", Self::COLLECTING),
        ("distributing", Self::DISTRIBUTING),
        ("defaulted", Self::DEFAULTED),
        ("expired", Self::EXPIRED),
    ];

    /// The raw byte.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `flag` is set.
    pub fn contains(self, flag: PortState) -> bool {
        self.0 & flag.0 == flag.0
    }

    /// Sets or clears the bits of `flag`.
    pub fn set(&mut self, flag: PortState, on: bool) {
        if on {
            self.0 |= flag.0;
        } else {
            self.0 &= !flag.0;
        }
    }

    /// A copy with the bits of `flag` set or cleared.
    pub fn with(mut self, flag: PortState, on: bool) -> PortState {
        self.set(flag, on);
        self
    }

    /// The names of the bits that are set, lowest bit first.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(_, f)| self.contains(*f))
            .map(|(n, _)| *n)
            .collect()
    }
}

impl std::ops::BitOr for PortState {
    type Output = PortState;
    fn bitor(self, rhs: PortState) -> PortState {
        PortState(self.0 | rhs.0)
    }
}

impl std::fmt::Debug for PortState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PortState({:#04x} {})", self.0, self.names().join("|"))
    }
}

/// The actor or partner information of a LACPDU: who a port is and what state it is in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortInfo {
    /// System priority (lower wins).
    pub system_priority: u16,
    /// System identifier, a MAC address.
    #[serde(with = "super::mac_serde")]
    pub system: [u8; 6],
    /// Operational key: ports with equal keys may aggregate.
    pub key: u16,
    /// Port priority (lower wins).
    pub port_priority: u16,
    /// Port number, unique within the system.
    pub port: u16,
    /// The state bits.
    pub state: PortState,
}

impl PortInfo {
    /// Whether `other` names the same port of the same system with the same key and
    /// aggregation bit: the comparison the receive machine makes before it accepts a change
    /// of partner (802.1AX `update_Selected`).
    pub fn same_identity(&self, other: &PortInfo) -> bool {
        self.system_priority == other.system_priority
            && self.system == other.system
            && self.key == other.key
            && self.port_priority == other.port_priority
            && self.port == other.port
            && self.state.contains(PortState::AGGREGATION)
                == other.state.contains(PortState::AGGREGATION)
    }

    fn encode(&self, tlv_type: u8, out: &mut [u8]) {
        out[0] = tlv_type;
        out[1] = INFO_TLV_LEN;
        out[2..4].copy_from_slice(&self.system_priority.to_be_bytes());
        out[4..10].copy_from_slice(&self.system);
        out[10..12].copy_from_slice(&self.key.to_be_bytes());
        out[12..14].copy_from_slice(&self.port_priority.to_be_bytes());
        out[14..16].copy_from_slice(&self.port.to_be_bytes());
        out[16] = self.state.0;
    }

    /// Reads an information TLV from `tlv` (at least 20 bytes), which the caller has checked.
    fn decode(tlv: &[u8]) -> PortInfo {
        PortInfo {
            system_priority: be16(tlv, 2),
            system: mac_at(tlv, 4),
            key: be16(tlv, 10),
            port_priority: be16(tlv, 12),
            port: be16(tlv, 14),
            state: PortState(tlv[16]),
        }
    }
}

/// A Link Aggregation Control PDU (version 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lacpdu {
    /// The sender's view of itself.
    pub actor: PortInfo,
    /// The sender's view of its partner (the receiver, once they talk).
    pub partner: PortInfo,
    /// Collector max delay in tens of microseconds (0 from Linux and Open vSwitch).
    pub collector_max_delay: u16,
}

/// Whether a Marker PDU asks or answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarkerKind {
    /// Marker Information (TLV type 1): the partner asks for a response.
    Information,
    /// Marker Response (TLV type 2): the answer, with the request's fields unchanged.
    Response,
}

/// A Marker PDU (IEEE 802.1AX 6.5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkerPdu {
    /// Information or Response.
    pub kind: MarkerKind,
    /// The requester's port number.
    pub requester_port: u16,
    /// The requester's system.
    #[serde(with = "super::mac_serde")]
    pub requester_system: [u8; 6],
    /// The requester's transaction identifier.
    pub transaction_id: u32,
}

impl MarkerPdu {
    /// The Marker Response to this Marker Information: the same fields, TLV type 2.
    pub fn response(&self) -> MarkerPdu {
        MarkerPdu {
            kind: MarkerKind::Response,
            ..*self
        }
    }
}

/// A decoded Slow Protocols frame of a kind this module handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowPdu {
    /// A LACPDU.
    Lacp(Lacpdu),
    /// A Marker PDU.
    Marker(MarkerPdu),
}

/// The TLVs a PDU must carry at fixed offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tlv {
    /// Actor information (type 1, length 20).
    Actor,
    /// Partner information (type 2, length 20).
    Partner,
    /// Collector information (type 3, length 16).
    Collector,
    /// Terminator (type 0, length 0).
    Terminator,
    /// Marker information or response (type 1 or 2, length 16).
    Marker,
}

/// Why a received frame is not a usable LACPDU or Marker PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// Shorter than its PDU.
    #[error("truncated: {len} bytes, need {need}")]
    Truncated {
        /// Length received.
        len: usize,
        /// Length required.
        need: usize,
    },
    /// Longer than the 128 octets a Slow Protocols frame may have.
    #[error("oversized: {len} bytes, at most {MAX_FRAME_LEN}")]
    Oversized {
        /// Length received.
        len: usize,
    },
    /// Not a Slow Protocols frame at all.
    #[error("ethertype {ethertype:#06x} is not Slow Protocols")]
    NotSlowProtocols {
        /// The ethertype found.
        ethertype: u16,
    },
    /// Not sent to the Slow Protocols multicast address.
    #[error("destination is not 01:80:c2:00:00:02")]
    WrongDestination,
    /// A Slow Protocol other than LACP and Marker (OAM, OSSP, ...).
    #[error("unknown Slow Protocols subtype {0}")]
    UnknownSubtype(u8),
    /// Version number 0, which no version of the protocol uses.
    #[error("version {0} is not a protocol version")]
    WrongVersion(u8),
    /// A TLV with the wrong type or length at its fixed position.
    #[error("bad {tlv:?} TLV: type {tlv_type}, length {length}")]
    BadTlv {
        /// Which TLV.
        tlv: Tlv,
        /// The type found.
        tlv_type: u8,
        /// The length found.
        length: u8,
    },
}

impl Lacpdu {
    /// This LACPDU as a full Ethernet frame from `src` to the Slow Protocols address.
    pub fn encode(&self, src: [u8; 6]) -> [u8; FRAME_LEN] {
        let mut frame = header(src);
        let p = &mut frame[ETH_HEADER_LEN..];
        p[0] = SUBTYPE_LACP;
        p[1] = 1;
        self.actor.encode(1, &mut p[2..22]);
        self.partner.encode(2, &mut p[22..42]);
        p[42] = 3;
        p[43] = COLLECTOR_TLV_LEN;
        p[44..46].copy_from_slice(&self.collector_max_delay.to_be_bytes());
        // Terminator (type 0, length 0) and the reserved bytes are already zero.
        frame
    }
}

impl MarkerPdu {
    /// This Marker PDU as a full Ethernet frame from `src` to the Slow Protocols address.
    pub fn encode(&self, src: [u8; 6]) -> [u8; FRAME_LEN] {
        let mut frame = header(src);
        let p = &mut frame[ETH_HEADER_LEN..];
        p[0] = SUBTYPE_MARKER;
        p[1] = 1;
        p[2] = match self.kind {
            MarkerKind::Information => 1,
            MarkerKind::Response => 2,
        };
        p[3] = MARKER_TLV_LEN;
        p[4..6].copy_from_slice(&self.requester_port.to_be_bytes());
        p[6..12].copy_from_slice(&self.requester_system);
        p[12..16].copy_from_slice(&self.transaction_id.to_be_bytes());
        frame
    }
}

impl SlowPdu {
    /// This PDU as a full Ethernet frame from `src`.
    pub fn encode(&self, src: [u8; 6]) -> [u8; FRAME_LEN] {
        match self {
            SlowPdu::Lacp(p) => p.encode(src),
            SlowPdu::Marker(m) => m.encode(src),
        }
    }

    /// Decodes a received Ethernet frame (starting at the destination MAC, without VLAN tag).
    ///
    /// Versions above 1 are read as version 1 (802.1AX keeps later versions compatible by
    /// only appending); version 0, TLVs of the wrong type or length, frames that are short,
    /// longer than 128 bytes, not Slow Protocols or not to the Slow Protocols address are
    /// errors. Reserved bytes are not checked, as the standard asks.
    pub fn decode(frame: &[u8]) -> Result<SlowPdu, PduError> {
        if frame.len() < ETH_HEADER_LEN + 2 {
            return Err(PduError::Truncated {
                len: frame.len(),
                need: FRAME_LEN,
            });
        }
        let ethertype = be16(frame, 12);
        if ethertype != SLOW_PROTOCOLS_ETHERTYPE {
            return Err(PduError::NotSlowProtocols { ethertype });
        }
        if frame[..6] != SLOW_PROTOCOLS_MAC {
            return Err(PduError::WrongDestination);
        }
        let p = &frame[ETH_HEADER_LEN..];
        let subtype = p[0];
        if subtype != SUBTYPE_LACP && subtype != SUBTYPE_MARKER {
            return Err(PduError::UnknownSubtype(subtype));
        }
        if frame.len() < FRAME_LEN {
            return Err(PduError::Truncated {
                len: frame.len(),
                need: FRAME_LEN,
            });
        }
        if frame.len() > MAX_FRAME_LEN {
            return Err(PduError::Oversized { len: frame.len() });
        }
        if p[1] == 0 {
            return Err(PduError::WrongVersion(p[1]));
        }
        if subtype == SUBTYPE_LACP {
            expect_tlv(p, 2, Tlv::Actor, 1, INFO_TLV_LEN)?;
            expect_tlv(p, 22, Tlv::Partner, 2, INFO_TLV_LEN)?;
            expect_tlv(p, 42, Tlv::Collector, 3, COLLECTOR_TLV_LEN)?;
            expect_tlv(p, 58, Tlv::Terminator, 0, 0)?;
            return Ok(SlowPdu::Lacp(Lacpdu {
                actor: PortInfo::decode(&p[2..22]),
                partner: PortInfo::decode(&p[22..42]),
                collector_max_delay: be16(p, 44),
            }));
        }
        let kind = match (p[2], p[3]) {
            (1, MARKER_TLV_LEN) => MarkerKind::Information,
            (2, MARKER_TLV_LEN) => MarkerKind::Response,
            (tlv_type, length) => {
                return Err(PduError::BadTlv {
                    tlv: Tlv::Marker,
                    tlv_type,
                    length,
                });
            }
        };
        expect_tlv(p, 18, Tlv::Terminator, 0, 0)?;
        Ok(SlowPdu::Marker(MarkerPdu {
            kind,
            requester_port: be16(p, 4),
            requester_system: mac_at(p, 6),
            transaction_id: u32::from_be_bytes([p[12], p[13], p[14], p[15]]),
        }))
    }
}

/// A zeroed frame with the Ethernet header filled in.
fn header(src: [u8; 6]) -> [u8; FRAME_LEN] {
    let mut frame = [0u8; FRAME_LEN];
    frame[..6].copy_from_slice(&SLOW_PROTOCOLS_MAC);
    frame[6..12].copy_from_slice(&src);
    frame[12..14].copy_from_slice(&SLOW_PROTOCOLS_ETHERTYPE.to_be_bytes());
    frame
}

/// Checks the type and length bytes of the TLV at `at` in payload `p` (long enough).
fn expect_tlv(p: &[u8], at: usize, tlv: Tlv, tlv_type: u8, length: u8) -> Result<(), PduError> {
    if p[at] == tlv_type && p[at + 1] == length {
        Ok(())
    } else {
        Err(PduError::BadTlv {
            tlv,
            tlv_type: p[at],
            length: p[at + 1],
        })
    }
}

/// The big-endian u16 at `at` (the caller has checked the length).
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The six bytes at `at` (the caller has checked the length).
fn mac_at(b: &[u8], at: usize) -> [u8; 6] {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&b[at..at + 6]);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A LACPDU as a Linux bond (system 02:00:00:00:00:01, priority 65535, fast rate, active)
    /// sends it on port 1 of a 10G full-duplex link once in sync with an Open vSwitch partner,
    /// written out byte by byte from the 802.1AX layout.
    #[rustfmt::skip]
    const GOLDEN: [u8; FRAME_LEN] = [
        // Ethernet: Slow Protocols address, source 02:00:00:00:01:01, ethertype 0x8809
        0x01, 0x80, 0xc2, 0x00, 0x00, 0x02,
        0x02, 0x00, 0x00, 0x00, 0x01, 0x01,
        0x88, 0x09,
        // subtype LACP, version 1
        0x01, 0x01,
        // actor TLV: type 1 length 20, prio 0xffff, system, key 0x000f (10G, full duplex),
        // port priority 255, port 1, state 0x3f, reserved
        0x01, 0x14, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x0f,
        0x00, 0xff, 0x00, 0x01, 0x3f, 0x00, 0x00, 0x00,
        // partner TLV: type 2 length 20, prio 0x8000, system 52:54:00:ab:cd:ef, key 0x03e9,
        // port priority 0x8000, port 0x0005, state 0x3d, reserved
        0x02, 0x14, 0x80, 0x00, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 0x03, 0xe9,
        0x80, 0x00, 0x00, 0x05, 0x3d, 0x00, 0x00, 0x00,
        // collector TLV: type 3 length 16, max delay 0, 12 reserved
        0x03, 0x10, 0x00, 0x00,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        // terminator: type 0 length 0, then 50 reserved bytes
        0x00, 0x00,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    fn golden_pdu() -> Lacpdu {
        Lacpdu {
            actor: PortInfo {
                system_priority: 0xffff,
                system: [2, 0, 0, 0, 0, 1],
                key: 0x0f,
                port_priority: 255,
                port: 1,
                state: PortState(0x3f),
            },
            partner: PortInfo {
                system_priority: 0x8000,
                system: [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef],
                key: 0x3e9,
                port_priority: 0x8000,
                port: 5,
                state: PortState(0x3d),
            },
            collector_max_delay: 0,
        }
    }

    const SRC: [u8; 6] = [2, 0, 0, 0, 1, 1];

    #[test]
    fn golden_lacpdu_decodes_and_encodes_byte_exact() {
        assert_eq!(SlowPdu::decode(&GOLDEN), Ok(SlowPdu::Lacp(golden_pdu())));
        assert_eq!(golden_pdu().encode(SRC), GOLDEN);
        let state = golden_pdu().actor.state;
        assert!(state.contains(PortState::ACTIVITY | PortState::TIMEOUT | PortState::DISTRIBUTING));
        assert!(!state.contains(PortState::DEFAULTED));
    }

    #[test]
    fn round_trips() {
        let marker = MarkerPdu {
            kind: MarkerKind::Information,
            requester_port: 7,
            requester_system: [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff],
            transaction_id: 0xdead_beef,
        };
        let mut odd = golden_pdu();
        odd.actor.state = PortState(0xc2);
        odd.partner = PortInfo::default();
        odd.collector_max_delay = 0x1234;
        for pdu in [
            SlowPdu::Lacp(golden_pdu()),
            SlowPdu::Lacp(odd),
            SlowPdu::Lacp(Lacpdu::default()),
            SlowPdu::Marker(marker),
            SlowPdu::Marker(marker.response()),
        ] {
            let frame = pdu.encode(SRC);
            assert_eq!(frame.len(), FRAME_LEN);
            assert_eq!(frame[6..12], SRC);
            assert_eq!(SlowPdu::decode(&frame), Ok(pdu), "{pdu:?}");
        }
    }

    #[test]
    fn marker_response_keeps_the_fields() {
        let info = MarkerPdu {
            kind: MarkerKind::Information,
            requester_port: 3,
            requester_system: [1, 2, 3, 4, 5, 6],
            transaction_id: 42,
        };
        let frame = info.response().encode(SRC);
        assert_eq!(frame[ETH_HEADER_LEN + 2], 2, "TLV type of a response");
        let info_frame = info.encode(SRC);
        // Only the TLV type differs.
        let diff: Vec<usize> = (0..FRAME_LEN)
            .filter(|&i| frame[i] != info_frame[i])
            .collect();
        assert_eq!(diff, vec![ETH_HEADER_LEN + 2]);
    }

    #[test]
    fn malformations_have_their_error() {
        let with = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut f = GOLDEN.to_vec();
            edit(&mut f);
            f
        };
        let p = ETH_HEADER_LEN;
        let short = |len| PduError::Truncated {
            len,
            need: FRAME_LEN,
        };
        let tlv = |tlv, tlv_type, length| PduError::BadTlv {
            tlv,
            tlv_type,
            length,
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, Vec<u8>, PduError)> = vec![
            ("empty", vec![], short(0)),
            ("header only", GOLDEN[..14].to_vec(), short(14)),
            ("cut in the partner TLV", GOLDEN[..40].to_vec(), short(40)),
            ("one byte short", GOLDEN[..123].to_vec(), short(123)),
            ("oversized", with(&|f| f.resize(200, 0)), PduError::Oversized { len: 200 }),
            ("ipv4", with(&|f| f[12..14].copy_from_slice(&[0x08, 0x00])),
                PduError::NotSlowProtocols { ethertype: 0x0800 }),
            ("unicast destination", with(&|f| f[0] = 0x02), PduError::WrongDestination),
            ("OAM subtype", with(&|f| f[p] = 3), PduError::UnknownSubtype(3)),
            ("subtype 0", with(&|f| f[p] = 0), PduError::UnknownSubtype(0)),
            ("version 0", with(&|f| f[p + 1] = 0), PduError::WrongVersion(0)),
            ("actor TLV type", with(&|f| f[p + 2] = 2), tlv(Tlv::Actor, 2, 20)),
            ("actor TLV length", with(&|f| f[p + 3] = 19), tlv(Tlv::Actor, 1, 19)),
            ("partner TLV type", with(&|f| f[p + 22] = 1), tlv(Tlv::Partner, 1, 20)),
            ("partner TLV length", with(&|f| f[p + 23] = 0), tlv(Tlv::Partner, 2, 0)),
            ("collector TLV", with(&|f| f[p + 43] = 20), tlv(Tlv::Collector, 3, 20)),
            ("terminator", with(&|f| f[p + 58] = 9), tlv(Tlv::Terminator, 9, 0)),
            ("marker TLV type", with(&|f| { f[p] = 2; f[p + 2] = 3; f[p + 3] = 16 }),
                tlv(Tlv::Marker, 3, 16)),
            ("marker TLV length", with(&|f| { f[p] = 2; f[p + 2] = 1; f[p + 3] = 20 }),
                tlv(Tlv::Marker, 1, 20)),
        ];
        for (name, frame, want) in cases {
            assert_eq!(SlowPdu::decode(&frame), Err(want), "{name}");
        }
    }

    #[test]
    fn tolerated_variations() {
        // A trailing FCS (128 bytes), a later protocol version and non-zero reserved bytes
        // still decode to the same PDU.
        let mut f = GOLDEN.to_vec();
        f.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        f[ETH_HEADER_LEN + 1] = 2;
        f[ETH_HEADER_LEN + 19] = 0x55;
        f[FRAME_LEN - 1] = 0x66;
        assert_eq!(SlowPdu::decode(&f), Ok(SlowPdu::Lacp(golden_pdu())));
    }

    #[test]
    fn port_state_names() {
        let s = PortState::ACTIVITY | PortState::SYNCHRONIZATION;
        assert_eq!(s.names(), vec!["activity", "synchronization"]);
        assert_eq!(
            s.with(PortState::ACTIVITY, false),
            PortState::SYNCHRONIZATION
        );
        assert_eq!(serde_json::to_string(&s).ok().as_deref(), Some("9"));
    }
}
