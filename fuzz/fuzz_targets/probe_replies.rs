//! The controller's probe reply parsers (`bondxdp::controller::frames`): ARP replies
//! (arp_interval), neighbour discovery (ns_ip6_target) and ICMP echo replies (multi-wan
//! health probes), each fed every frame its packet socket receives.
//!
//! Invariants: no panic; what a parser returns is read from the frame's bytes where the
//! format puts it.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use bondxdp::controller::frames::{parse_arp, parse_echo_reply, parse_nd};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    if let Some(arp) = parse_arp(frame) {
        assert!(frame.len() >= 42);
        assert_eq!(arp.op, u16::from_be_bytes([frame[20], frame[21]]));
        assert_eq!(arp.sender.octets(), frame[28..32]);
        assert_eq!(arp.target.octets(), frame[38..42]);
    }
    if let Some(nd) = parse_nd(frame) {
        assert!(nd.kind == 135 || nd.kind == 136);
        assert_eq!(nd.source.octets(), frame[22..38]);
        assert_eq!(nd.target.octets(), frame[62..78]);
    }
    // Ethernet uplinks (IP at 14) and raw-IP ones (at 0).
    for l3 in [14, 0] {
        if let Some(reply) = parse_echo_reply(frame, l3) {
            let ip = &frame[l3..];
            match reply.from {
                IpAddr::V4(a) => {
                    assert_eq!(ip[0] >> 4, 4);
                    assert_eq!(a, Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
                }
                IpAddr::V6(a) => {
                    assert_eq!(ip[0] >> 4, 6);
                    assert_eq!(a.octets(), ip[8..24]);
                }
            }
        }
    }
});
