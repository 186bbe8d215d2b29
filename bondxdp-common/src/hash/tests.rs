//! Hash vectors derived by hand from the kernel's formulas.
//!
//! Source: Linux 6.x `drivers/net/bonding/bond_main.c`:
//! * `bond_eth_hash`  = `h_dest[5] ^ h_source[5] ^ be16_to_cpu(h_proto)`
//! * `bond_ip_hash`   = `h ^= daddr ^ saddr; h ^= h >> 16; h ^= h >> 8;` then `>> 1` for
//!   layer3+4/encap3+4, where `daddr`/`saddr` are the raw `__be32` read as a native
//!   (little-endian) `u32`, IPv6 addresses folded by `ipv6_addr_hash` (xor of the four words)
//! * layer2+3 starts from `bond_eth_hash`; layer3+4 from `flow.ports.ports` (the four port
//!   bytes read as a native `u32`) or, when an ICMP id is present, from `flow.icmp`
//!   (`type | code << 8 | id << 16`).
//!
//! Common values used below (frames from [`Frame`]): dst MAC ends in 0x0b, src MAC in 0x0a;
//! 198.18.0.1 as LE u32 = 0x010012c6, 198.18.0.2 = 0x020012c6, xor = 0x03000000;
//! ports 40000 -> 5201 = bytes 9c 40 14 51 = 0x5114409c.

use super::*;
use crate::{config::HashPolicy::*, testing::Frame};

const TCP: u8 = 6;
const UDP: u8 = 17;

const A1: [u8; 4] = [198, 18, 0, 1];
const A2: [u8; 4] = [198, 18, 0, 2];

fn v4_tcp() -> Vec<u8> {
    Frame::eth(0x0800)
        .ipv4(A1, A2, TCP, 0, 0)
        .ports(40000, 5201)
        .build()
}

fn h(policy: HashPolicy, frame: &[u8], proto: u16) -> u32 {
    xmit_hash(policy, frame, &PacketMeta::ethernet(proto))
}

#[test]
fn layer2_is_mac_bytes_xor_ethertype() {
    // 0x0b ^ 0x0a ^ 0x0800 = 0x0801
    assert_eq!(h(Layer2, &v4_tcp(), 0x0800), 0x0801);
    // ARP: 0x0b ^ 0x0a ^ 0x0806
    assert_eq!(h(Layer2, &Frame::eth(0x0806).0, 0x0806), 0x0807);
    // A runt frame without a whole Ethernet header hashes to 0.
    assert_eq!(h(Layer2, &v4_tcp()[..13], 0x0800), 0);
}

#[test]
fn layer23_ipv4() {
    // h = 0x0801 ^ 0x03000000 = 0x03000801; h ^= h>>16 -> 0x03000b01;
    // h ^= h>>8 (0x0003000b) -> 0x03030b0a; no final shift for layer2+3.
    assert_eq!(h(Layer23, &v4_tcp(), 0x0800), 0x0303_0b0a);
}

#[test]
fn layer34_ipv4_tcp() {
    // h = 0x5114409c ^ 0x03000000 = 0x5214409c; h ^= h>>16 (0x5214) -> 0x52141288;
    // h ^= h>>8 (0x00521412) -> 0x5246069a; >> 1 = 0x2923034d.
    assert_eq!(h(Layer34, &v4_tcp(), 0x0800), 0x2923_034d);
    // encap3+4 on a plain packet dissects the same fields.
    assert_eq!(h(Encap34, &v4_tcp(), 0x0800), 0x2923_034d);
    assert_eq!(h(Encap23, &v4_tcp(), 0x0800), 0x0303_0b0a);
}

#[test]
fn layer34_ignores_ports_of_fragments() {
    // MF set (0x2000): ports are not used: h = 0x03000000 -> 0x03000300 -> 0x03030303 -> >>1.
    let first = Frame::eth(0x0800)
        .ipv4(A1, A2, TCP, 0x2000, 0)
        .ports(40000, 5201)
        .build();
    assert_eq!(h(Layer34, &first, 0x0800), 0x0181_8181);
    // A later fragment (offset 185 * 8) whose payload happens to look like ports.
    let later = Frame::eth(0x0800)
        .ipv4(A1, A2, UDP, 185, 0)
        .ports(1, 2)
        .build();
    assert_eq!(h(Layer34, &later, 0x0800), 0x0181_8181);
    assert_eq!(h(Encap34, &first, 0x0800), 0x0181_8181);
    assert_eq!(h(Encap34, &later, 0x0800), 0x0181_8181);
}

#[test]
fn ipv4_options_move_the_ports() {
    // ihl = 6: ports sit after 24 bytes of IP header; same flow, same hash.
    let frame = Frame::eth(0x0800)
        .ipv4(A1, A2, TCP, 0, 4)
        .ports(40000, 5201)
        .build();
    assert_eq!(h(Layer34, &frame, 0x0800), 0x2923_034d);
    assert_eq!(h(Encap34, &frame, 0x0800), 0x2923_034d);
}

#[test]
fn truncated_headers() {
    // IP header cut short: the L3 policies fall back to the layer2 hash (0x0801).
    let cut = &v4_tcp()[..30];
    assert_eq!(
        xmit_hash_detailed(Layer34, cut, &PacketMeta::ethernet(0x0800)),
        (0x0801, true)
    );
    assert_eq!(
        xmit_hash_detailed(Layer23, cut, &PacketMeta::ethernet(0x0800)),
        (0x0801, true)
    );
    // Ports missing: layer3+4 uses 0 for them (as the fragment case above).
    let no_ports = &v4_tcp()[..34 + 2];
    assert_eq!(h(Layer34, no_ports, 0x0800), 0x0181_8181);
}

#[test]
fn icmp_echo_hashes_by_identifier() {
    // type 8, code 0, id 0x1234: word = 0x12340008; ^ 0x03000000 = 0x11340008;
    // ^>>16 -> 0x1134113c; ^>>8 -> 0x1125252d; >>1 = 0x08929296.
    let echo = Frame::eth(0x0800)
        .ipv4(A1, A2, 1, 0, 0)
        .bytes(&[8, 0, 0, 0, 0x12, 0x34, 0, 1])
        .build();
    assert_eq!(h(Layer34, &echo, 0x0800), 0x0892_9296);
    assert_eq!(h(Encap34, &echo, 0x0800), 0x0892_9296);
    // id 0 is hashed as 1 ("0 means no id" in the flow dissector): word 0x00010008.
    let echo0 = Frame::eth(0x0800)
        .ipv4(A1, A2, 1, 0, 0)
        .bytes(&[8, 0, 0, 0, 0, 0, 0, 1])
        .build();
    assert_eq!(h(Layer34, &echo0, 0x0800), 0x0181_0105);
}

#[test]
fn icmp_errors_hash_like_the_quoted_packet() {
    // "Fragmentation needed" from a router (198.19.0.9) to 198.18.0.1 quoting our TCP packet:
    // bond_flow_dissect re-parses the inner header, so addresses and ports are the inner ones.
    let inner = v4_tcp();
    let error = Frame::eth(0x0800)
        .ipv4([198, 19, 0, 9], A1, 1, 0, 0)
        .bytes(&[3, 4, 0, 0, 0, 0, 0x05, 0xdc])
        .bytes(&inner[14..14 + 28])
        .build();
    assert_eq!(h(Layer34, &error, 0x0800), 0x2923_034d);
    assert_eq!(h(Layer23, &error, 0x0800), 0x0303_0b0a);
    // An error whose quote is cut short cannot be dissected: layer2 fallback.
    assert_eq!(
        xmit_hash_detailed(
            Layer34,
            &error[..14 + 20 + 8 + 10],
            &PacketMeta::ethernet(0x0800)
        ),
        (0x0801, true)
    );
}

#[test]
fn ipv6() {
    // 2001:db8::1 folds to 0xb90d0120 (0xb80d0120 ^ 0x01000000), 2001:db8::2 to 0xba0d0120;
    // xor = 0x03000000.
    // layer2+3: eth = 0x0b ^ 0x0a ^ 0x86dd = 0x86dc; 0x030086dc -> 0x030085dc -> 0x03038559.
    let udp = Frame::eth(0x86dd).ipv6(1, 2, UDP).ports(5000, 53).build();
    assert_eq!(h(Layer23, &udp, 0x86dd), 0x0303_8559);
    // layer3+4: ports 5000 -> 53 = bytes 13 88 00 35 = 0x35008813; ^0x03000000 = 0x36008813
    // -> 0x3600be13 -> 0x3636bead -> >>1 = 0x1b1b5f56.
    assert_eq!(h(Layer34, &udp, 0x86dd), 0x1b1b_5f56);
    assert_eq!(h(Encap34, &udp, 0x86dd), 0x1b1b_5f56);
}

#[test]
fn ipv6_extension_headers() {
    // Hop-by-hop options before UDP: bond_flow_ip takes nexthdr (0) as the protocol, which
    // has no ports; the encap dissector walks the extension header and finds them.
    let hbh = Frame::eth(0x86dd)
        .ipv6(1, 2, 0)
        .bytes(&[UDP, 0, 1, 4, 0, 0, 0, 0])
        .ports(5000, 53)
        .build();
    assert_eq!(h(Layer34, &hbh, 0x86dd), 0x0181_8181);
    assert_eq!(h(Encap34, &hbh, 0x86dd), 0x1b1b_5f56);
    // Fragment header: never ports, in either dissector.
    let frag = Frame::eth(0x86dd)
        .ipv6(1, 2, 44)
        .bytes(&[UDP, 0, 0, 1, 0, 0, 0, 7])
        .ports(5000, 53)
        .build();
    assert_eq!(h(Layer34, &frag, 0x86dd), 0x0181_8181);
    assert_eq!(h(Encap34, &frag, 0x86dd), 0x0181_8181);
}

#[test]
fn vlan_tagged_frames() {
    // In-band tag: skb->protocol is 0x8100, which bond_flow_dissect does not parse, so the
    // layer3+4 policy falls back to layer2 with h_proto 0x8100: 0x0b ^ 0x0a ^ 0x8100.
    let tagged = Frame::eth(0x8100)
        .vlan(100, 0x0800)
        .ipv4(A1, A2, TCP, 0, 0)
        .ports(40000, 5201)
        .build();
    assert_eq!(h(Layer34, &tagged, 0x8100), 0x8101);
    // The encap policies use the full flow dissector, which skips the tag.
    assert_eq!(h(Encap34, &tagged, 0x8100), 0x2923_034d);
    // vlan+srcmac: vendor 0x020000 ^ device 0x00000a ^ tci 100.
    let meta = PacketMeta {
        vlan_tci: Some(100),
        ..PacketMeta::ethernet(0x0800)
    };
    assert_eq!(xmit_hash(VlanSrcMac, &v4_tcp()[..], &meta), 0x0002_006e);
}

#[test]
fn tunnels_hash_the_inner_flow_under_encap() {
    let inner_v4 = &v4_tcp()[14..];
    let ipip = Frame::eth(0x0800)
        .ipv4([198, 18, 9, 1], [198, 18, 9, 2], 4, 0, 0)
        .bytes(inner_v4)
        .build();
    assert_eq!(h(Encap34, &ipip, 0x0800), 0x2923_034d);
    assert_ne!(h(Layer34, &ipip, 0x0800), 0x2923_034d);
    // GRE with checksum and key, carrying Ethernet (TEB) carrying our TCP packet.
    let gre = Frame::eth(0x0800)
        .ipv4([198, 18, 9, 1], [198, 18, 9, 2], 47, 0, 0)
        .bytes(&[0xa0, 0x00, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0, 42])
        .bytes(&v4_tcp())
        .build();
    assert_eq!(h(Encap34, &gre, 0x0800), 0x2923_034d);
    // GRE with routing is not followed: outer addresses only, no ports.
    let routed = Frame::eth(0x0800)
        .ipv4(A1, A2, 47, 0, 0)
        .bytes(&[0x40, 0x00, 0x08, 0x00])
        .build();
    assert_eq!(h(Encap34, &routed, 0x0800), 0x0181_8181);
}

#[test]
fn arp_under_each_policy() {
    let arp = Frame::eth(0x0806).bytes(&[0; 28]).build();
    // layer2+3 cannot dissect ARP: plain layer2 hash, reported as a fallback.
    assert_eq!(
        xmit_hash_detailed(Layer23, &arp[..], &PacketMeta::ethernet(0x0806)),
        (0x0807, true)
    );
    // The flow dissector accepts ARP without addresses: ip_hash(0x0807) = 0x080f.
    assert_eq!(
        xmit_hash_detailed(Encap23, &arp[..], &PacketMeta::ethernet(0x0806)),
        (0x080f, false)
    );
}

#[test]
fn encap34_prefers_the_stack_flow_hash() {
    let meta = PacketMeta {
        l4_hash: Some(0xdead_beef),
        ..PacketMeta::ethernet(0x0800)
    };
    assert_eq!(xmit_hash(Encap34, &v4_tcp()[..], &meta), 0xdead_beef);
    assert_eq!(xmit_hash(Layer34, &v4_tcp()[..], &meta), 0x2923_034d);
}

#[test]
fn garbage_never_panics() {
    // Every prefix of every test frame, under every policy and protocol claim.
    let frames = [
        v4_tcp(),
        Frame::eth(0x86dd).ipv6(1, 2, 0).bytes(&[0, 255, 1, 4]).0,
        Frame::eth(0x0800)
            .ipv4(A1, A2, 47, 0, 0)
            .bytes(&[0xb0, 0, 0x65, 0x58])
            .build(),
        Frame::eth(0x0800).bytes(&[0x42; 40]).0,
    ];
    for frame in &frames {
        for len in 0..=frame.len() {
            for policy in HashPolicy::ALL {
                for proto in [0x0800, 0x86dd, 0x8100, 0x0806, 0x1234] {
                    let _ = xmit_hash(policy, &frame[..len], &PacketMeta::ethernet(proto));
                }
            }
        }
    }
}
