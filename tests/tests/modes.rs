//! Each mode with real traffic between two namespaces joined by three veth links, a bond on
//! each side. Assertions come from the peer's own interface counters.

use std::net::SocketAddr;

use bondxdp_common::{
    HashPolicy,
    hash::{PacketMeta, xmit_hash},
    testing::Frame,
};
use bondxdp_tests::{
    Pair,
    netns::{ADDR_A, ADDR_B},
    traffic::{tcp_echo, udp_burst},
};

fn sock(addr: &str, port: u16) -> SocketAddr {
    format!("{addr}:{port}").parse().unwrap()
}

/// Difference of two counter snapshots.
fn delta(after: &[u64], before: &[u64]) -> Vec<u64> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

/// TCP both ways, and ping both ways.
fn assert_ip_works(p: &Pair, port: u16) {
    p.ping_ok();
    p.b.exec_ok(&["ping", "-c", "1", "-W", "2", ADDR_A]);
    let bytes = 4 << 20;
    assert_eq!(tcp_echo(&p.a, &p.b, sock(ADDR_B, port), bytes), bytes);
}

#[test]
fn balance_rr_spreads_packets_within_5_percent() {
    let p = Pair::new("rr", 3);
    p.bond_both(&["--mode", "balance-rr"]);
    assert_ip_works(&p, 5001);
    let before = p.b_rx();
    let total = 6000;
    udp_burst(&p.a, sock(ADDR_A, 4000), sock(ADDR_B, 9), total, 100);
    let got = delta(&p.b_rx(), &before);
    let share = total as f64 / 3.0;
    for (i, n) in got.iter().enumerate() {
        let dev = (*n as f64 - share).abs() / share;
        assert!(
            dev <= 0.05,
            "b{i} got {n} of {total} packets ({got:?}): off by {:.1}%",
            dev * 100.0
        );
    }
}

#[test]
fn balance_xor_keeps_each_flow_on_one_member_and_spreads_64_flows() {
    let p = Pair::new("xor", 3);
    p.bond_both(&["--mode", "balance-xor", "--xmit-hash-policy", "layer3+4"]);
    assert_ip_works(&p, 5002);
    let mac_a = p.a.link("bond0").mac;
    let mac_b = p.b.link("bond0").mac;
    let parse = |m: &str| bondxdp::mac::parse_mac(m).unwrap();
    let mut flows_per_member = [0; 3];
    for flow in 0..64u16 {
        let sport = 20000 + flow * 7;
        let before = p.b_rx();
        udp_burst(&p.a, sock(ADDR_A, sport), sock(ADDR_B, 9), 20, 64);
        let got = delta(&p.b_rx(), &before);
        let carrier: Vec<usize> = (0..3).filter(|i| got[*i] >= 20).collect();
        assert_eq!(carrier.len(), 1, "flow {sport} arrived on {got:?}");
        // Background frames (ARP, ND) are few; the flow's 20 packets are on one member only.
        for (i, n) in got.iter().enumerate() {
            if i != carrier[0] {
                assert!(*n <= 2, "flow {sport} leaked {n} packets to b{i}: {got:?}");
            }
        }
        // And it is the member the kernel's layer3+4 hash picks.
        let frame = Frame::eth_between(parse(&mac_b), parse(&mac_a), 0x0800)
            .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 17, 0, 0)
            .ports(sport, 9)
            .build();
        let hash = xmit_hash(
            HashPolicy::Layer34,
            &frame[..],
            &PacketMeta::ethernet(0x0800),
        );
        assert_eq!(carrier[0], (hash % 3) as usize, "flow {sport}");
        flows_per_member[carrier[0]] += 1;
    }
    assert!(
        flows_per_member.iter().all(|n| *n >= 8),
        "64 flows spread as {flows_per_member:?}"
    );
}

#[test]
fn active_backup_uses_only_the_active_member() {
    let p = Pair::new("ab", 3);
    p.bond_both(&["--mode", "active-backup"]);
    assert_ip_works(&p, 5003);
    let before = p.b_rx();
    udp_burst(&p.a, sock(ADDR_A, 4001), sock(ADDR_B, 9), 2000, 100);
    let got = delta(&p.b_rx(), &before);
    assert!(got[0] >= 2000, "active member b0 got {got:?}");
    assert!(
        got[1] <= 2 && got[2] <= 2,
        "backups carried traffic: {got:?}"
    );
    let status = p.a.status("bond0");
    assert_eq!(status["active"], "a0");
}

#[test]
fn active_backup_primary_is_the_active_member() {
    let p = Pair::new("abp", 3);
    p.bond_side("a", &["--mode", "active-backup", "--primary", "a2"]);
    p.bond_side("b", &["--mode", "active-backup", "--primary", "b2"]);
    assert_ip_works(&p, 5004);
    let before = p.b_rx();
    udp_burst(&p.a, sock(ADDR_A, 4002), sock(ADDR_B, 9), 1000, 100);
    let got = delta(&p.b_rx(), &before);
    assert!(got[2] >= 1000 && got[0] <= 2 && got[1] <= 2, "{got:?}");
    assert_eq!(p.a.status("bond0")["active"], "a2");
}

#[test]
fn broadcast_delivers_every_packet_on_every_member() {
    let p = Pair::new("bc", 3);
    p.bond_both(&["--mode", "broadcast"]);
    p.ping_ok();
    let before = p.b_rx();
    udp_burst(&p.a, sock(ADDR_A, 4003), sock(ADDR_B, 9), 1000, 100);
    let got = delta(&p.b_rx(), &before);
    for (i, n) in got.iter().enumerate() {
        assert!((1000..=1005).contains(n), "b{i} got {n}: {got:?}");
    }
}

#[test]
fn ipv6_neighbour_discovery_and_traffic() {
    let p = Pair::new("v6", 3);
    p.bond_both(&["--mode", "balance-xor", "--xmit-hash-policy", "layer3+4"]);
    p.a.exec_ok(&[
        "ping",
        "-6",
        "-c",
        "2",
        "-i",
        "0.2",
        "-W",
        "3",
        "2001:db8::2",
    ]);
    let neigh = p.a.ip(&["-6", "neigh", "show", "dev", "bond0"]);
    assert!(
        neigh.contains("2001:db8::2"),
        "neighbour discovery resolved nothing: {neigh}"
    );
    let bytes = 1 << 20;
    assert_eq!(
        tcp_echo(&p.a, &p.b, "[2001:db8::2]:5005".parse().unwrap(), bytes),
        bytes
    );
}

#[test]
fn keep_member_macs_sends_each_members_own_source_mac() {
    use bondxdp_tests::capture::Capture;
    use std::time::Duration;

    let p = Pair::new("km", 2);
    let macs_before: Vec<String> = p.members("a").iter().map(|m| p.a.link(m).mac).collect();
    p.bond_both(&["--mode", "balance-rr", "--keep-member-macs"]);
    let macs_after: Vec<String> = p.members("a").iter().map(|m| p.a.link(m).mac).collect();
    assert_eq!(macs_before, macs_after, "members must keep their MACs");
    assert_ip_works(&p, 5006);
    for (i, mac) in macs_before.iter().enumerate() {
        let cap = Capture::start(&p.b, &format!("b{i}"));
        udp_burst(&p.a, sock(ADDR_A, 4100 + i as u16), sock(ADDR_B, 9), 20, 64);
        let frames = cap.frames(Duration::from_secs(2), 10);
        let udp: Vec<&Vec<u8>> = frames
            .iter()
            .filter(|f| f.len() > 23 && f[12..14] == [8, 0] && f[23] == 17)
            .collect();
        assert!(!udp.is_empty(), "no UDP seen on b{i}");
        for f in udp {
            let src = f[6..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            assert_eq!(&src, mac, "source MAC on link {i}");
        }
    }
}
