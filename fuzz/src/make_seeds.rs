//! Writes the seed corpus (`fuzz/corpus/<target>/seed-*`) from the frames the unit tests use
//! and the example config: `cargo run -p bondxdp-fuzz --example make-seeds`. The fuzz runs add
//! what they find next to these (`cargo xtask fuzz` keeps the corpus minimal).

use std::{
    fs,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
};

use bondxdp::{
    controller::frames,
    lacp::pdu::{Lacpdu, MarkerKind, MarkerPdu, PortInfo, PortState, SlowPdu},
    options::{BondOptions, OPTIONS},
};
use bondxdp_common::testing::{Frame, arp_request, ip};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];
const V4A: [u8; 4] = [198, 18, 0, 1];
const V4B: [u8; 4] = [198, 19, 0, 1];
const V6A: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6B: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join(format!("seed-{name}")), bytes).unwrap();
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("corpus");
    let a4 = Ipv4Addr::from(V4A);
    let b4 = Ipv4Addr::from(V4B);
    let a6 = Ipv6Addr::from(V6A);
    let b6 = Ipv6Addr::from(V6B);

    // LACPDUs and Marker PDUs.
    let info = PortInfo {
        system_priority: 65535,
        system: MAC,
        key: 9,
        port_priority: 255,
        port: 1,
        state: PortState::ACTIVITY | PortState::AGGREGATION | PortState::SYNCHRONIZATION,
    };
    let lacp = Lacpdu {
        actor: info,
        partner: PortInfo::default(),
        collector_max_delay: 0,
    };
    write(&dir, "lacp_pdu", "lacpdu", &SlowPdu::Lacp(lacp).encode(MAC));
    let marker = MarkerPdu {
        kind: MarkerKind::Information,
        requester_port: 1,
        requester_system: MAC,
        transaction_id: 7,
    };
    write(
        &dir,
        "lacp_pdu",
        "marker",
        &SlowPdu::Marker(marker).encode(MAC),
    );
    let response = SlowPdu::Marker(marker.response()).encode(MAC);
    write(&dir, "lacp_pdu", "marker-response", &response);

    // Probe replies: ARP, ND, echo replies on Ethernet and raw-IP links.
    let mut arp_reply = frames::arp_request(MAC, a4, b4);
    arp_reply[21] = 2;
    write(&dir, "probe_replies", "arp-reply", &arp_reply);
    write(
        &dir,
        "probe_replies",
        "garp",
        &frames::gratuitous_arp(MAC, a4),
    );
    write(
        &dir,
        "probe_replies",
        "ns",
        &frames::neighbour_solicitation(MAC, a6, b6),
    );
    write(
        &dir,
        "probe_replies",
        "na",
        &frames::unsolicited_advertisement(MAC, a6),
    );
    write(
        &dir,
        "probe_replies",
        "echo4-eth",
        &ip::echo(true, &V4B, &V4A, 7, true),
    );
    write(
        &dir,
        "probe_replies",
        "echo6-eth",
        &ip::echo(true, &V6B, &V6A, 7, true),
    );
    write(
        &dir,
        "probe_replies",
        "echo4-raw",
        &ip::echo(false, &V4B, &V4A, 7, true),
    );
    write(
        &dir,
        "probe_replies",
        "echo6-raw",
        &ip::echo(false, &V6B, &V6A, 7, true),
    );
    let req = frames::echo_request(None, IpAddr::V4(a4), IpAddr::V4(b4), 1, 2).unwrap();
    write(&dir, "probe_replies", "echo-request-raw", &req);

    // balance-alb's ARP parser.
    write(&dir, "alb_arp", "request", &arp_request(V4A, V4B));
    write(&dir, "alb_arp", "reply", &arp_reply);

    // The hash policies: 7 bytes of selector and metadata, then the frame.
    let hash_frames: [(&str, Vec<u8>); 8] = [
        ("udp4", ip::udp(true, &V4A, &V4B, 1000, 53, b"x", false)),
        ("tcp4", ip::tcp(true, &V4A, &V4B, 40000, 80, 0x02, b"")),
        ("tcp6", ip::tcp(true, &V6A, &V6B, 40000, 443, 0x10, b"y")),
        ("icmp4", ip::echo(true, &V4A, &V4B, 9, false)),
        ("icmp6", ip::echo(true, &V6A, &V6B, 9, false)),
        ("arp", arp_request(V4A, V4B)),
        (
            "vlan-udp4",
            Frame::eth(0x8100)
                .vlan(5, 0x0800)
                .ipv4(V4A, V4B, 17, 0, 0)
                .ports(1, 2)
                .build(),
        ),
        (
            "frag4",
            Frame::eth(0x0800)
                .ipv4(V4A, V4B, 6, 0x2000, 4)
                .ports(3, 4)
                .lengths()
                .build(),
        ),
    ];
    for (i, (name, frame)) in hash_frames.iter().enumerate() {
        // Policy i % 6, 2..=4 members, VLAN tag and L4 hash on every other one.
        let sel = (i as u8 % 6) | ((i as u8 % 3 + 1) << 3);
        let mut input = vec![sel, (i as u8 & 1) * 3, 0, 0, 0, 5, 0];
        input.extend_from_slice(frame);
        write(&dir, "xmit_hash", name, &input);
    }

    // The multi-wan flow parser: 1 selector byte (EtherType, IP offset), then the packet.
    let flows: [(&str, u8, Vec<u8>); 8] = [
        (
            "tcp4-eth",
            0,
            ip::tcp(true, &V4A, &V4B, 40000, 80, 0x02, b""),
        ),
        (
            "udp6-eth",
            1,
            ip::udp(true, &V6A, &V6B, 5000, 53, b"q", false),
        ),
        (
            "tcp4-raw",
            2,
            ip::tcp(false, &V4A, &V4B, 40000, 80, 0x12, b""),
        ),
        ("echo6-raw", 3, ip::echo(false, &V6A, &V6B, 3, false)),
        ("echo4-eth", 0, ip::echo(true, &V4A, &V4B, 3, true)),
        (
            "error4-eth",
            0,
            ip::error(
                true,
                &V4B,
                &V4A,
                3,
                3,
                &ip::udp(false, &V4A, &V4B, 1, 2, b"", false),
                28,
            ),
        ),
        (
            "error6-eth",
            1,
            ip::error(
                true,
                &V6B,
                &V6A,
                1,
                4,
                &ip::tcp(false, &V6A, &V6B, 1, 2, 0, b""),
                60,
            ),
        ),
        (
            "frag4-eth",
            0,
            Frame::eth(0x0800)
                .ipv4(V4A, V4B, 17, 0x2000, 0)
                .ports(1, 2)
                .lengths()
                .build(),
        ),
    ];
    for (name, sel, pkt) in flows {
        let mut input = vec![sel];
        input.extend_from_slice(&pkt);
        write(&dir, "multi_wan_flow", name, &input);
    }

    // Config files.
    let example = fs::read(root.join("../examples/bondxdp.toml")).unwrap();
    write(&dir, "config_toml", "example", &example);
    let small = "[[bond]]\nname = \"bond0\"\nmembers = [\"veth0\", \"veth1\"]\nmode = \
                 \"802.3ad\"\nlacp_rate = \"fast\"\nxmit_hash_policy = \"layer3+4\"\n\
                 addresses = [\"198.18.0.1/24\", \"2001:db8::1/64\"]\n";
    write(&dir, "config_toml", "lacp", small.as_bytes());
    let wan = "[[bond]]\nname = \"wan0\"\nmembers = [\"up0\", \"up1\"]\nmode = \"multi-wan\"\n\
               weights = [\"up0=3\", \"up1=1\"]\n";
    write(&dir, "config_toml", "multi-wan", wan.as_bytes());

    // Option values: each option's default as `get` shows it (when it shows one).
    let defaults = BondOptions::default();
    for (i, o) in OPTIONS.iter().enumerate() {
        let mut input = vec![i as u8];
        input.extend_from_slice((o.get)(&defaults).as_bytes());
        write(&dir, "option_values", o.name, &input);
    }
}
