//! The translation parser against crafted packets, the key algebra the two tables rely on,
//! and the statistics of flow spreading and port allocation.

extern crate std;

use std::{collections::HashSet, vec::Vec};

use super::*;
use crate::{
    config::MAX_MEMBERS,
    testing::ip,
    weights::{self, BUCKETS, bucket_of},
};

const IN4: [u8; 4] = [198, 18, 0, 1];
const UPLINK4: [u8; 4] = [198, 18, 10, 2];
const REMOTE4: [u8; 4] = [198, 19, 0, 80];

fn v6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[15] = last;
    a
}

fn a16(v4: [u8; 4]) -> Addr {
    addr_from_bytes(&v4)
}

fn parse_eth(frame: &[u8]) -> Result<Flow, ParseError> {
    let ether = u16::from_be_bytes([frame[12], frame[13]]);
    parse(frame, ether, 14)
}

#[test]
fn ipv4_tcp() {
    let f = ip::tcp(true, &IN4, &REMOTE4, 40000, 443, tcp::SYN, b"");
    let flow = parse_eth(&f).unwrap();
    assert_eq!(flow.key.family, FAMILY_V4);
    assert_eq!(flow.key.proto, 6);
    assert_eq!(flow.key.src, a16(IN4));
    assert_eq!(flow.key.dst, a16(REMOTE4));
    assert_eq!((flow.key.sport, flow.key.dport), (40000, 443));
    assert_eq!((flow.l3_off, flow.l4_off, flow.l4_csum_off), (14, 34, 50));
    assert_eq!(flow.tcp_flags, tcp::SYN);
    assert_eq!(flow.transport, Transport::Ports);
    assert_eq!(flow.fragment, Fragment::None);
}

#[test]
fn ipv4_options_are_skipped() {
    let mut f = ip::udp(true, &IN4, &REMOTE4, 5000, 53, b"q", false);
    // Rebuild with 8 bytes of options: IHL 7.
    f[14] = 0x47;
    f.splice(34..34, [1u8; 8]);
    let flow = parse_eth(&f).unwrap();
    assert_eq!(flow.l4_off, 42);
    assert_eq!((flow.key.sport, flow.key.dport), (5000, 53));
    // An IHL below 5 is refused, so is one longer than the packet.
    f[14] = 0x44;
    assert_eq!(parse_eth(&f), Err(ParseError::Truncated));
    f[14] = 0x4f;
    assert_eq!(parse_eth(&f[..50]), Err(ParseError::Truncated));
}

#[test]
fn icmp_echo_identifier_plays_the_port() {
    let req = parse_eth(&ip::echo(true, &IN4, &REMOTE4, 0x1234, false)).unwrap();
    assert_eq!(req.transport, Transport::IcmpEcho);
    assert_eq!((req.key.sport, req.key.dport), (0x1234, 0));
    assert_eq!(req.l4_csum_off, 36);
    let rep = parse_eth(&ip::echo(true, &REMOTE4, &UPLINK4, 0x4321, true)).unwrap();
    assert_eq!((rep.key.sport, rep.key.dport), (0, 0x4321));
    // The same for ICMPv6.
    let req6 = parse_eth(&ip::echo(true, &v6(1), &v6(2), 7, false)).unwrap();
    assert_eq!((req6.key.proto, req6.key.sport), (58, 7));
}

#[test]
fn replies_find_what_the_flow_table_stored() {
    // A UDP flow, a TCP flow, a ping: the reply's parsed key is the forward key's reply_key.
    let cases: Vec<(Vec<u8>, Vec<u8>)> = std::vec![
        (
            ip::udp(true, &IN4, &REMOTE4, 5353, 53, b"q", false),
            ip::udp(true, &REMOTE4, &UPLINK4, 53, 61000, b"a", false),
        ),
        (
            ip::tcp(true, &IN4, &REMOTE4, 40000, 443, tcp::SYN, b""),
            ip::tcp(
                true,
                &REMOTE4,
                &UPLINK4,
                443,
                61000,
                tcp::SYN | tcp::ACK,
                b""
            ),
        ),
        (
            ip::echo(true, &IN4, &REMOTE4, 99, false),
            ip::echo(true, &REMOTE4, &UPLINK4, 61000, true),
        ),
        (
            ip::tcp(true, &v6(1), &v6(80), 40000, 443, tcp::SYN, b""),
            ip::tcp(true, &v6(80), &v6(2), 443, 61000, tcp::SYN | tcp::ACK, b""),
        ),
    ];
    for (out, back) in cases {
        let fwd = parse_eth(&out).unwrap();
        let rep = parse_eth(&back).unwrap();
        let uplink = rep.key.dst;
        assert_eq!(fwd.key.reply_key(uplink, 61000), rep.key, "{:?}", fwd.key);
        if back[12..14] == [8, 0] {
            assert_eq!(&addr_bytes(&uplink)[..4], &back[30..34]);
        }
        assert_eq!(fwd.key.reversed().reversed(), fwd.key);
    }
}

#[test]
fn icmp_errors_quote_the_translated_packet() {
    // What left through the uplink: UPLINK4:61000 -> REMOTE4:53.
    let sent = ip::udp(false, &UPLINK4, &REMOTE4, 61000, 53, b"query", false);
    let err = ip::error(true, &[198, 19, 0, 1], &UPLINK4, 3, 4, &sent, 28);
    let flow = parse_eth(&err).unwrap();
    assert_eq!(flow.transport, Transport::IcmpError);
    let inner = flow.inner.unwrap();
    assert_eq!(inner.key.src, a16(UPLINK4));
    assert_eq!((inner.key.sport, inner.key.dport), (61000, 53));
    assert_eq!(
        (inner.l3_off, inner.l4_off, inner.l4_csum_off),
        (42, 62, 68)
    );
    // Its reverse is the key the NAT table holds for the flow.
    let inside = parse_eth(&ip::udp(true, &IN4, &REMOTE4, 5353, 53, b"q", false)).unwrap();
    assert_eq!(
        inside.key.reply_key(a16(UPLINK4), 61000),
        inner.key.reversed()
    );

    // A TCP quote of only 8 bytes: ports, but no checksum to fix.
    let syn = ip::tcp(false, &UPLINK4, &REMOTE4, 61000, 443, tcp::SYN, b"");
    let err = ip::error(true, &[198, 19, 0, 1], &UPLINK4, 11, 0, &syn, 28);
    let inner = parse_eth(&err).unwrap().inner.unwrap();
    assert_eq!((inner.key.sport, inner.l4_csum_off), (61000, 0));
    // The whole header quoted: the checksum can be fixed.
    let err = ip::error(true, &[198, 19, 0, 1], &UPLINK4, 11, 0, &syn, 40);
    assert_eq!(
        parse_eth(&err).unwrap().inner.unwrap().l4_csum_off,
        42 + 20 + 16
    );

    // ICMPv6 packet too big quoting a TCP segment.
    let sent = ip::tcp(false, &v6(2), &v6(80), 61000, 443, tcp::ACK, &[0; 64]);
    let err = ip::error(true, &v6(9), &v6(2), 2, 0, &sent, 48);
    let inner = parse_eth(&err).unwrap().inner.unwrap();
    assert_eq!((inner.key.family, inner.key.sport), (FAMILY_V6, 61000));
    assert_eq!(inner.l4_off, 14 + 40 + 8 + 40);

    // Other ICMP messages are translated by address only.
    let mut ts = ip::echo(true, &IN4, &REMOTE4, 1, false);
    ts[34] = 13; // timestamp
    assert_eq!(parse_eth(&ts).unwrap().transport, Transport::AddressOnly);
}

#[test]
fn fragments() {
    let mut f = ip::udp(true, &IN4, &REMOTE4, 5000, 53, &[0; 32], false);
    f[20] = 0x20; // MF, offset 0
    let first = parse_eth(&f).unwrap();
    assert_eq!(
        (first.fragment, first.key.sport, first.frag_id),
        (Fragment::First, 5000, 0x1234)
    );
    f[20] = 0x00;
    f[21] = 0x10; // offset 16*8, no MF
    let later = parse_eth(&f).unwrap();
    assert_eq!((later.fragment, later.key.sport), (Fragment::Later, 0));
    // IPv6: a fragment header before UDP.
    let mut g = ip::udp(true, &v6(1), &v6(2), 5000, 53, &[0; 16], false);
    g[20] = 44;
    g.splice(54..54, [17u8, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef]);
    let first = parse_eth(&g).unwrap();
    assert_eq!(
        (first.fragment, first.key.proto, first.key.sport),
        (Fragment::First, 17, 5000)
    );
    assert_eq!(first.frag_id, 0xdead_beef);
    g[56] = 0x01;
    g[57] = 0x00; // offset 32, no M
    assert_eq!(parse_eth(&g).unwrap().fragment, Fragment::Later);
}

#[test]
fn ipv6_extension_headers() {
    let mut g = ip::tcp(true, &v6(1), &v6(2), 1234, 80, tcp::ACK, b"");
    // hop-by-hop (8 bytes) then destination options (16 bytes) before TCP.
    g[20] = 0;
    g.splice(54..54, [60u8, 0, 1, 4, 0, 0, 0, 0]);
    g.splice(62..62, [6u8, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let flow = parse_eth(&g).unwrap();
    assert_eq!((flow.key.proto, flow.l4_off, flow.key.sport), (6, 78, 1234));
    // Five headers deep: refused.
    let mut deep = ip::tcp(true, &v6(1), &v6(2), 1, 2, 0, b"");
    deep[20] = 60;
    for _ in 0..MAX_EXT_HDRS {
        deep.splice(54..54, [60u8, 0, 0, 0, 0, 0, 0, 0]);
    }
    assert_eq!(parse_eth(&deep), Err(ParseError::TooManyHeaders));
}

#[test]
fn truncation_anywhere_is_an_error_never_a_panic() {
    let frames = [
        ip::tcp(true, &IN4, &REMOTE4, 1, 2, 0, b"data"),
        ip::echo(true, &v6(1), &v6(2), 3, false),
        ip::error(
            true,
            &REMOTE4,
            &UPLINK4,
            3,
            4,
            &ip::udp(false, &UPLINK4, &REMOTE4, 9, 9, b"x", false),
            29,
        ),
    ];
    for f in frames {
        for len in 0..f.len() {
            let _ = parse_eth(&f[..len.max(14)]);
            let _ = parse(&f[..len], 0x0800, 14);
            let _ = parse(&f[..len], 0x86dd, 14);
        }
    }
    assert_eq!(parse(&[0u8; 60][..], 0x0806, 14), Err(ParseError::NotIp));
}

/// xorshift64*, for reproducible "random" flows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn random_flow(rng: &mut Rng) -> FlowKey {
    let r = rng.next();
    let mut key = FlowKey {
        src: a16([198, 18, (r >> 8) as u8, r as u8]),
        dst: a16([198, 19, (r >> 16) as u8, (r >> 24) as u8]),
        sport: (r >> 32) as u16 | 1024,
        dport: [443, 80, 53, 8080][(r >> 48) as usize % 4],
        proto: 6,
        family: FAMILY_V4,
        pad: [0; 2],
    };
    if r >> 63 == 1 {
        key.proto = 17;
    }
    key
}

#[test]
fn ten_thousand_new_flows_follow_the_weights_within_three_percent() {
    for w in [[1u32, 1, 0], [1, 2, 0], [1, 3, 0], [2, 3, 5]] {
        let mut weights = [0u32; MAX_MEMBERS];
        weights[..3].copy_from_slice(&w);
        let mut table = [weights::NO_BUCKET; BUCKETS];
        weights::rebuild(&mut table, &weights);
        let mut rng = Rng(0x5eed_0000 + w[1] as u64);
        let mut count = [0usize; 3];
        for _ in 0..10_000 {
            let key = random_flow(&mut rng);
            count[table[bucket_of(flow_hash(&key))] as usize] += 1;
        }
        let total: u32 = w.iter().sum();
        for slot in 0..3 {
            let share = count[slot] as f64 / 10_000.0;
            let want = w[slot] as f64 / total as f64;
            assert!(
                (share - want).abs() <= 0.03,
                "weights {w:?}: slot {slot} got {share}"
            );
        }
    }
}

#[test]
fn port_allocation_rarely_fails_with_the_range_eighty_percent_used() {
    // Every flow to one remote endpoint competes for the same ports: fill 80 % of the range,
    // then allocate 20,000 more flows, each released again (occupancy stays at 80 %).
    let (min, max) = (DEFAULT_PORT_MIN, DEFAULT_PORT_MAX);
    let range = (max - min) as usize + 1;
    let mut used: HashSet<u16> = HashSet::new();
    let mut rng = Rng(0xfeed);
    let try_alloc = |used: &HashSet<u16>, key: &FlowKey| -> Option<u16> {
        let seed = flow_hash(key);
        (0..PORT_TRIES)
            .map(|i| port_candidate(i, key.sport, seed, min, max))
            .find(|p| !used.contains(p))
    };
    while used.len() < range * 8 / 10 {
        let key = random_flow(&mut rng);
        if let Some(p) = try_alloc(&used, &key) {
            used.insert(p);
        }
    }
    let mut failures = 0;
    for _ in 0..20_000 {
        let key = random_flow(&mut rng);
        match try_alloc(&used, &key) {
            Some(p) => {
                assert!((min..=max).contains(&p));
            }
            None => failures += 1,
        }
    }
    // 0.8^64 per flow is about 6e-7: expect none in 20,000 (1 in 10,000 would be 2).
    assert!(failures <= 1, "{failures} failures in 20000");
}

#[test]
fn the_original_port_is_kept_when_free() {
    assert_eq!(port_candidate(0, 40000, 12345, 1024, 65535), 40000);
    // Out of range: never returned.
    for i in 0..PORT_TRIES {
        let p = port_candidate(i, 80, 777, 1024, 2047);
        assert!((1024..=2047).contains(&p), "{p}");
    }
    // Candidates differ from one another.
    let distinct: HashSet<u16> = (1..PORT_TRIES)
        .map(|i| port_candidate(i, 0, 99, 1024, 65535))
        .collect();
    assert!(distinct.len() >= PORT_TRIES as usize - 2);
}

#[test]
fn what_is_never_translated() {
    let key = |src: [u8; 4], dst: [u8; 4]| FlowKey {
        src: a16(src),
        dst: a16(dst),
        family: FAMILY_V4,
        ..Default::default()
    };
    assert!(translatable(&key(IN4, REMOTE4)));
    for dst in [
        [224, 0, 0, 251],
        [255, 255, 255, 255],
        [169, 254, 1, 1],
        [127, 0, 0, 1],
        [0; 4],
    ] {
        assert!(!translatable(&key(IN4, dst)), "{dst:?}");
    }
    assert!(!translatable(&key([169, 254, 9, 9], REMOTE4)));
    let key6 = |src: [u8; 16], dst: [u8; 16]| FlowKey {
        src: addr_from_bytes(&src),
        dst: addr_from_bytes(&dst),
        family: FAMILY_V6,
        ..Default::default()
    };
    assert!(translatable(&key6(v6(1), v6(2))));
    let mut ll = [0u8; 16];
    ll[0] = 0xfe;
    ll[1] = 0x80;
    ll[15] = 1;
    let mut mc = [0u8; 16];
    mc[0] = 0xff;
    mc[1] = 0x02;
    let mut lo = [0u8; 16];
    lo[15] = 1;
    assert!(!translatable(&key6(ll, v6(2))));
    assert!(!translatable(&key6(v6(1), mc)));
    assert!(!translatable(&key6(v6(1), lo)));
    // Host keys keep families apart.
    let k4 = key(IN4, [32, 1, 13, 184]);
    let mut k6 = key6(v6(1), [0; 16]);
    k6.dst[0] = u32::from_le_bytes([32, 1, 13, 184]);
    assert_ne!(host_key(&k4), host_key(&k6));
}

#[test]
fn incremental_header_checksums_match_a_full_recomputation() {
    let mut rng = Rng(0xc0ffee);
    for _ in 0..10_000 {
        let r = rng.next();
        let src = [(r >> 8) as u8, r as u8, (r >> 16) as u8, (r >> 24) as u8];
        let dst = [(r >> 32) as u8, (r >> 40) as u8, 1, 2];
        let new = [(r >> 48) as u8, (r >> 56) as u8, (r >> 20) as u8, 7];
        let mut f = ip::udp(true, &src, &dst, 1, 2, b"x", false);
        let check = u16::from_le_bytes([f[24], f[25]]);
        let from = u32::from_le_bytes(src);
        let to = u32::from_le_bytes(new);
        let updated = csum_replace4(check, from, to);
        f[24..26].copy_from_slice(&updated.to_le_bytes());
        f[26..30].copy_from_slice(&new);
        let sum = crate::testing::csum::finish(crate::testing::csum::sum(&f[14..34]));
        assert_eq!(sum, 0, "header {:02x?}", &f[14..34]);
    }
}
