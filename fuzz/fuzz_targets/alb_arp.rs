//! balance-alb's ARP parser shared with the eBPF programs
//! (`bondxdp_common::modes::alb::parse_arp`): every ARP frame the bond sends or receives.
//!
//! Invariants: no panic; only Ethernet/IPv4 ARP (EtherType 0x0806, htype 1, ptype 0x0800,
//! lengths 6 and 4) is accepted, and parsing is deterministic.
#![no_main]

use bondxdp_common::modes::alb::parse_arp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let parsed = parse_arp(frame);
    if parsed.is_some() {
        assert!(frame.len() >= 42, "accepted a {}-byte frame", frame.len());
        assert_eq!(frame[12..14], [0x08, 0x06]);
        assert_eq!(frame[14..20], [0, 1, 8, 0, 6, 4]);
    }
    assert_eq!(parse_arp(frame), parsed);
});
