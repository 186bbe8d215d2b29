//! BPF_PROG_TEST_RUN tests of the XDP fast path (`xdp_lan_*`, `xdp_member`) on real FIB
//! lookups: a router namespace with a stand-in bond interface (`bnd`), a LAN interface
//! (`lan`), neighbours and routes; crafted frames in, verdict, rewritten bytes and counters out.

use std::process::Command;

use bondxdp_common::{
    Counter, HashPolicy, Mode,
    config::{MEMBER_LACP_COLLECTING, MEMBER_LACP_DISTRIBUTING},
    fast_path::{
        self, CHECK_OFFSET_V4, HOP_LIMIT_OFFSET_V6, TTL_OFFSET_V4, XDP_LAN_PASS, accelerates,
        lan_program_for,
    },
    hash::{PacketMeta, xmit_hash},
    testing::{Frame, arp_request, csum},
};
use bondxdp_tests::testrun::{Harness, ifindex, with_harness};

const XDP_DROP: i32 = 1;
const XDP_PASS: i32 = 2;
const XDP_REDIRECT: i32 = 4;

/// Client on the LAN, the router's LAN address, a host beyond the bond, the next hop.
const CLIENT: [u8; 4] = [198, 18, 10, 2];
const ROUTER_LAN: [u8; 4] = [198, 18, 10, 1];
const LAN_HOST: [u8; 4] = [198, 18, 10, 7];
const FAR: [u8; 4] = [198, 18, 30, 5];
const UNRESOLVED: [u8; 4] = [198, 18, 40, 5];
const NO_ROUTE: [u8; 4] = [198, 19, 200, 1];
const NEXT_HOP_MAC: [u8; 6] = [2, 0, 0, 0, 0x20, 2];
const LAN_HOST_MAC: [u8; 6] = [2, 0, 0, 0, 0x10, 7];
const BOND_MAC: [u8; 6] = [2, 0, 0, 0, 0xb0, 0x0d];

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mac_of(iface: &str) -> [u8; 6] {
    // (sysfs shows the namespace it was mounted in, not the calling thread's.)
    let out = Command::new("ip")
        .args(["-br", "link", "show", iface])
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    bondxdp::mac::parse_mac(line.split_whitespace().nth(2).unwrap()).unwrap()
}

/// The router around the harness (runs inside its namespace): `bnd` stands for the bond,
/// `lan` for the LAN side; returns (bond ifindex, lan ifindex).
fn router(h: &mut Harness, mode: Mode, policy: HashPolicy) -> (u32, u32) {
    for (a, b) in [("bnd", "bndp"), ("lan", "lanp")] {
        sh(&["ip", "link", "add", a, "type", "veth", "peer", "name", b]);
        sh(&["ip", "link", "set", a, "up"]);
        sh(&["ip", "link", "set", b, "up"]);
    }
    sh(&["ip", "link", "set", "bnd", "address", "02:00:00:00:b0:0d"]);
    for cmd in [
        "addr add 198.18.20.1/24 dev bnd",
        "addr add 198.18.10.1/24 dev lan",
        "addr add 2001:db8:20::1/64 dev bnd nodad",
        "addr add 2001:db8:10::1/64 dev lan nodad",
        "neigh add 198.18.20.2 lladdr 02:00:00:00:20:02 nud permanent dev bnd",
        "neigh add 198.18.10.7 lladdr 02:00:00:00:10:07 nud permanent dev lan",
        "neigh add 2001:db8:20::2 lladdr 02:00:00:00:20:02 nud permanent dev bnd",
        "route add 198.18.30.0/24 via 198.18.20.2",
        "route add 198.18.40.0/24 via 198.18.20.3",
        "route add unreachable 198.19.200.0/24",
        "-6 route add 2001:db8:30::/48 via 2001:db8:20::2",
    ] {
        let mut args = vec!["ip"];
        args.extend(cmd.split(' '));
        sh(&args);
    }
    sh(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    sh(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    let (bnd, lan) = (ifindex("bnd"), ifindex("lan"));
    h.set(|c| {
        c.mode = mode as u32;
        c.hash_policy = policy as u32;
        c.bond_ifindex = bnd;
        c.bond_mac = BOND_MAC;
    });
    h.add_fast_path_members();
    h.add_fast_path_port(lan);
    (bnd, lan)
}

/// The LAN-side program of balance-xor layer3+4, which most rows here run.
const XOR_L34: &str = "xdp_lan_xor_l34";

fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16) -> Vec<u8> {
    Frame::eth(0x0800)
        .ipv4(src, dst, 17, 0, 0)
        .ports(sport, 53)
        .lengths()
        .build()
}

/// UDP from 2001:db8:10::2 (a LAN client) to 2001:db8:30::5 (beyond the bond).
fn udp6_far() -> Vec<u8> {
    let mut v6 = Frame::eth(0x86dd)
        .ipv6(2, 5, 17)
        .ports(7, 53)
        .lengths()
        .build();
    v6[14 + 8..14 + 24]
        .copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    v6[14 + 24..14 + 40]
        .copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
    v6
}

fn ipv4_checksum_ok(ip: &[u8]) -> bool {
    csum::finish(csum::sum(&ip[..20])) == 0
}

#[test]
fn lan_side_forwards_routes_through_the_bond_with_rewritten_macs_ttl_and_checksum() {
    with_harness(2, Mode::BalanceXor, |h| {
        let (_, lan) = router(h, Mode::BalanceXor, HashPolicy::Layer34);
        let mut slots = std::collections::BTreeSet::new();
        for sport in 1000..1040u16 {
            let frame = udp4(CLIENT, FAR, sport);
            let out = h.run_xdp(XOR_L34, &frame, lan);
            assert_eq!(out.verdict, XDP_REDIRECT, "sport {sport}");
            assert_eq!(out.counter(Counter::XdpForwarded), 1);
            let d = &out.data;
            assert_eq!(d[..6], NEXT_HOP_MAC, "destination: the next hop's MAC");
            assert_eq!(d[6..12], BOND_MAC, "source: the bond's MAC");
            assert_eq!(d[TTL_OFFSET_V4], frame[TTL_OFFSET_V4] - 1);
            assert_ne!(
                d[CHECK_OFFSET_V4..CHECK_OFFSET_V4 + 2],
                frame[CHECK_OFFSET_V4..CHECK_OFFSET_V4 + 2]
            );
            assert!(ipv4_checksum_ok(&d[14..]), "checksum after the TTL change");
            assert_eq!(d[12..TTL_OFFSET_V4], frame[12..TTL_OFFSET_V4]);
            assert_eq!(
                d[TTL_OFFSET_V4 + 1..CHECK_OFFSET_V4],
                frame[TTL_OFFSET_V4 + 1..CHECK_OFFSET_V4]
            );
            assert_eq!(
                d[CHECK_OFFSET_V4 + 2..],
                frame[CHECK_OFFSET_V4 + 2..],
                "nothing else changed"
            );
            // The member the tc path would pick: the same shared selection code.
            let hash = xmit_hash(
                HashPolicy::Layer34,
                &frame[..],
                &PacketMeta::ethernet(0x0800),
            );
            assert_eq!(out.tx_slot(), Some((hash % 2) as usize), "sport {sport}");
            slots.insert(out.tx_slot().unwrap());
        }
        assert_eq!(slots.len(), 2, "flows spread over both members");

        // IPv6: hop limit, MACs; no checksum in the header.
        let v6 = udp6_far();
        let out = h.run_xdp(XOR_L34, &v6, lan);
        assert_eq!(out.verdict, XDP_REDIRECT, "{:?}", out.counters);
        assert_eq!(out.data[..6], NEXT_HOP_MAC);
        assert_eq!(out.data[6..12], BOND_MAC);
        assert_eq!(out.data[HOP_LIMIT_OFFSET_V6], v6[HOP_LIMIT_OFFSET_V6] - 1);
        assert_eq!(
            out.data[HOP_LIMIT_OFFSET_V6 + 1..],
            v6[HOP_LIMIT_OFFSET_V6 + 1..]
        );
    });
}

#[test]
fn everything_the_fast_path_should_not_handle_goes_to_the_kernel_unchanged_and_counted() {
    with_harness(2, Mode::BalanceXor, |h| {
        let (_, lan) = router(h, Mode::BalanceXor, HashPolicy::Layer34);
        let mut ttl1 = udp4(CLIENT, FAR, 1);
        ttl1[TTL_OFFSET_V4] = 1;
        let mut truncated = udp4(CLIENT, FAR, 1);
        truncated.truncate(30);
        let ns = Frame::eth(0x86dd)
            .ipv6(2, 1, 58)
            .bytes(&[135, 0, 0, 0, 0, 0, 0, 0])
            .lengths()
            .build();
        let rows: Vec<(&str, Vec<u8>, Counter)> = vec![
            (
                "arp",
                arp_request(CLIENT, ROUTER_LAN),
                Counter::XdpPassLocal,
            ),
            (
                "vlan tagged",
                Frame::eth(0x8100).vlan(5, 0x0800).pad_to(60).build(),
                Counter::XdpPassNotIp,
            ),
            (
                "for the router itself",
                udp4(CLIENT, ROUTER_LAN, 1),
                Counter::XdpPassLocal,
            ),
            ("ttl 1", ttl1, Counter::XdpPassTtl),
            (
                "ipv4 options",
                Frame::eth(0x0800)
                    .ipv4(CLIENT, FAR, 17, 0, 4)
                    .ports(1, 2)
                    .lengths()
                    .build(),
                Counter::XdpPassOptions,
            ),
            (
                "fragment, ports hashed",
                Frame::eth(0x0800)
                    .ipv4(CLIENT, FAR, 17, 0x2000, 0)
                    .ports(1, 2)
                    .lengths()
                    .build(),
                Counter::XdpPassFragment,
            ),
            (
                "next hop unresolved",
                udp4(CLIENT, UNRESOLVED, 1),
                Counter::XdpPassNoNeigh,
            ),
            (
                "route not through the bond",
                udp4(CLIENT, LAN_HOST, 1),
                Counter::XdpPassOtherRoute,
            ),
            (
                "unreachable route",
                udp4(CLIENT, NO_ROUTE, 1),
                Counter::XdpPassFib,
            ),
            (
                "no route at all",
                udp4(CLIENT, [198, 19, 201, 1], 1),
                Counter::XdpPassLocal,
            ),
            ("neighbour solicitation", ns, Counter::XdpPassNeighbor),
            ("truncated", truncated, Counter::XdpPassMalformed),
        ];
        // The rows that get as far as the FIB count its lookup too.
        let asks_fib = [
            "for the router itself",
            "next hop unresolved",
            "route not through the bond",
            "unreachable route",
            "no route at all",
        ];
        for (name, frame, reason) in rows {
            let out = h.run_xdp(XOR_L34, &frame, lan);
            assert_eq!(out.verdict, XDP_PASS, "{name}");
            let mut expected = vec![(reason, 1)];
            if asks_fib.contains(&name) {
                expected.push((Counter::XdpFibLookup, 1));
            }
            assert_eq!(out.counters, expected, "{name}");
            assert_eq!(out.data, frame, "{name}: unchanged");
            assert!(out.tx.is_empty(), "{name}");
        }
        // A mode without an XDP path hands everything over: its own LAN-side program, and
        // (for the moment a mode change takes) the previous mode's.
        h.set(|c| c.mode = Mode::Custom as u32);
        assert_eq!(
            lan_program_for(Mode::Custom, HashPolicy::Layer34),
            XDP_LAN_PASS
        );
        for program in [XDP_LAN_PASS, XOR_L34] {
            let out = h.run_xdp(program, &udp4(CLIENT, FAR, 1), lan);
            assert_eq!(
                (out.verdict, out.counters),
                (XDP_PASS, vec![(Counter::XdpPassMode, 1)]),
                "{program}"
            );
        }
        // No member up: dropped and counted, as the tc path does.
        h.set(|c| c.mode = Mode::BalanceXor as u32);
        h.set_link(0, false);
        h.set_link(1, false);
        let out = h.run_xdp(XOR_L34, &udp4(CLIENT, FAR, 1), lan);
        assert_eq!(out.verdict, XDP_DROP);
        assert_eq!(out.counter(Counter::DropNoMember), 1);
    });
}

#[test]
fn every_modes_lan_program_picks_the_member_its_tc_twin_picks() {
    with_harness(2, Mode::BalanceXor, |h| {
        let (_, lan) = router(h, Mode::BalanceXor, HashPolicy::Layer34);
        assert_eq!(
            lan_program_for(Mode::BalanceXor, HashPolicy::Layer34),
            XOR_L34
        );
        let frames: Vec<Vec<u8>> = (2000..2016u16).map(|p| udp4(CLIENT, FAR, p)).collect();
        for mode in Mode::ALL.into_iter().filter(|m| accelerates(*m)) {
            for policy in HashPolicy::ALL {
                let program = lan_program_for(mode, policy);
                h.set(|c| {
                    c.mode = mode as u32;
                    c.hash_policy = policy as u32;
                    // 802.3ad: both members collecting and distributing (LACP's say).
                    for m in &mut c.members[..2] {
                        m.flags = MEMBER_LACP_COLLECTING | MEMBER_LACP_DISTRIBUTING;
                    }
                });
                let mut slots = Vec::new();
                for frame in &frames {
                    let out = h.run_xdp(program, frame, lan);
                    let row = format!("{mode:?} {policy:?} ({program})");
                    assert_eq!(out.verdict, XDP_REDIRECT, "{row}: {:?}", out.counters);
                    assert_eq!(out.counter(Counter::XdpForwarded), 1, "{row}");
                    if mode == Mode::Broadcast {
                        // One frame, a copy through every member (the devmap's
                        // broadcast), each counted.
                        assert_eq!(out.tx, vec![(0, 1), (1, 1)], "{row}");
                        continue;
                    }
                    let slot = out
                        .tx_slot()
                        .unwrap_or_else(|| panic!("{row}: {:?}", out.tx));
                    if matches!(mode, Mode::BalanceXor | Mode::Ieee8023ad) {
                        let meta = PacketMeta::ethernet(0x0800);
                        let hash = xmit_hash(policy, &frame[..], &meta);
                        assert_eq!(slot, (hash % 2) as usize, "{row}");
                    }
                    slots.push(slot);
                }
                match mode {
                    Mode::ActiveBackup => {
                        let active = h.cfg.active_slot as usize;
                        assert!(slots.iter().all(|s| *s == active), "{mode:?}: {slots:?}");
                    }
                    Mode::BalanceRr => assert!(
                        slots.windows(2).all(|w| w[0] != w[1]),
                        "round-robin alternates: {slots:?}"
                    ),
                    // Weighted placement: these 16 flows use both members.
                    Mode::BalanceTlb | Mode::LoadAware => assert!(
                        slots.contains(&0) && slots.contains(&1),
                        "{mode:?}: {slots:?}"
                    ),
                    // balance-xor: checked frame by frame against the shared hash above.
                    _ => {}
                }
                if !matches!(mode, Mode::BalanceXor | Mode::Ieee8023ad) {
                    break; // the other modes have one program whatever the policy
                }
            }
        }
    });
}

#[test]
fn the_route_cache_answers_until_retired_or_aged_and_asks_again_for_longer_packets() {
    with_harness(2, Mode::BalanceXor, |h| {
        let (_, lan) = router(h, Mode::BalanceXor, HashPolicy::Layer34);
        let frame = udp4(CLIENT, FAR, 1000);
        let next_hop_at = |mac: &str| {
            let args = format!("ip neigh replace 198.18.20.2 lladdr {mac} nud permanent dev bnd");
            sh(&args.split(' ').collect::<Vec<_>>());
        };
        let run = |h: &Harness, frame: &[u8]| {
            let out = h.run_xdp(XOR_L34, frame, lan);
            assert_eq!(out.verdict, XDP_REDIRECT, "{:?}", out.counters);
            let dmac: [u8; 6] = out.data[..6].try_into().unwrap();
            (dmac, out.counter(Counter::XdpFibLookup))
        };
        assert_eq!(run(h, &frame), (NEXT_HOP_MAC, 1), "first packet: the FIB");
        assert_eq!(run(h, &frame), (NEXT_HOP_MAC, 0), "then the cache");
        // The kernel's neighbour changes: the cached answer stands until it is retired...
        let moved = [2, 0, 0, 0, 0x20, 0x99];
        next_hop_at("02:00:00:00:20:99");
        assert_eq!(run(h, &frame), (NEXT_HOP_MAC, 0));
        // ... which the controller does on the kernel's neighbour event.
        h.retire_routes();
        assert_eq!(run(h, &frame), (moved, 1), "retired: the FIB again");
        assert_eq!(run(h, &frame), (moved, 0));
        // A packet longer than any the kernel accepted for the route asks again (the kernel
        // checks the route's MTU), and then answers for both lengths.
        let long = Frame::eth(0x0800)
            .ipv4(CLIENT, FAR, 17, 0, 0)
            .ports(1000, 53)
            .pad_to(1000)
            .lengths()
            .build();
        assert_eq!(run(h, &long), (moved, 1));
        assert_eq!(run(h, &long), (moved, 0));
        assert_eq!(run(h, &frame), (moved, 0));
        // Per key: another source is another lookup.
        assert_eq!(run(h, &udp4(LAN_HOST, FAR, 1000)), (moved, 1));
        // Without a controller to retire it, an answer is trusted for the TTL only (in
        // kernel ticks: waited out for the slowest tick rate, HZ=100).
        next_hop_at("02:00:00:00:20:02");
        std::thread::sleep(std::time::Duration::from_nanos(
            fast_path::ROUTE_CACHE_TTL_MAX_NS + 100_000_000,
        ));
        assert_eq!(run(h, &frame), (NEXT_HOP_MAC, 1), "aged out: the FIB again");
    });
}

#[test]
fn interleaved_flows_and_families_each_keep_their_own_cached_route() {
    with_harness(2, Mode::BalanceXor, |h| {
        let (_, lan) = router(h, Mode::BalanceXor, HashPolicy::Layer34);
        // A second next hop, for 198.18.40.0/24.
        let other_hop = [2, 0, 0, 0, 0x20, 3];
        sh(&[
            "ip",
            "neigh",
            "add",
            "198.18.20.3",
            "lladdr",
            "02:00:00:00:20:03",
            "nud",
            "permanent",
            "dev",
            "bnd",
        ]);
        let v6 = udp6_far();
        let flows = [
            (udp4(CLIENT, FAR, 1000), NEXT_HOP_MAC),
            (udp4(CLIENT, UNRESOLVED, 1000), other_hop),
            (v6, NEXT_HOP_MAC),
        ];
        // Each frame follows one of another flow (and the IPv6 one, one of the other family),
        // so the slot the previous frame used never answers: every frame still gets its own
        // route, and each route asks the FIB once.
        for round in 0..4 {
            for (i, (frame, hop)) in flows.iter().enumerate() {
                let out = h.run_xdp(XOR_L34, frame, lan);
                assert_eq!(out.verdict, XDP_REDIRECT, "flow {i}: {:?}", out.counters);
                assert_eq!(out.data[..6], hop[..], "flow {i}, round {round}");
                let lookups = if round == 0 { 1 } else { 0 };
                assert_eq!(out.counter(Counter::XdpFibLookup), lookups, "flow {i}");
            }
        }
        // Repeats of one flow answer from the slot the previous frame used, retired like any.
        let (frame, hop) = &flows[1];
        for _ in 0..3 {
            let out = h.run_xdp(XOR_L34, frame, lan);
            assert_eq!(
                (out.data[..6].to_vec(), out.counter(Counter::XdpFibLookup)),
                (hop.to_vec(), 0)
            );
        }
        h.retire_routes();
        let out = h.run_xdp(XOR_L34, frame, lan);
        assert_eq!(
            out.counter(Counter::XdpFibLookup),
            1,
            "retired: the FIB again"
        );
    });
}

#[test]
fn member_side_forwards_replies_to_the_lan_and_passes_the_rest_to_the_bond() {
    with_harness(2, Mode::ActiveBackup, |h| {
        let (_, _) = router(h, Mode::ActiveBackup, HashPolicy::Layer2);
        let lan_mac = mac_of("lan");
        let m0 = h.members[0];
        let reply = udp4(FAR, LAN_HOST, 53);
        let out = h.run_xdp("xdp_member", &reply, m0);
        assert_eq!(out.verdict, XDP_REDIRECT, "{:?}", out.counters);
        assert_eq!(out.data[..6], LAN_HOST_MAC);
        assert_eq!(out.data[6..12], lan_mac);
        assert_eq!(out.data[TTL_OFFSET_V4], reply[TTL_OFFSET_V4] - 1);
        assert!(ipv4_checksum_ok(&out.data[14..]));
        assert_eq!(out.rx, vec![(0, 1)], "counted as received on the member");
        // For the router itself, or routed back out through the bond: the tc path's.
        for (name, frame) in [
            ("for the router", udp4(FAR, [198, 18, 20, 1], 1)),
            ("through the bond again", udp4(FAR, [198, 18, 30, 9], 1)),
        ] {
            let out = h.run_xdp("xdp_member", &frame, m0);
            assert_eq!(out.verdict, XDP_PASS, "{name}");
            assert_eq!(out.data, frame, "{name}");
        }
        // A backup member's frames are left to member_ingress (which drops them).
        let out = h.run_xdp("xdp_member", &reply, h.members[1]);
        assert_eq!((out.verdict, out.data.clone()), (XDP_PASS, reply.clone()));
        assert!(out.counters.is_empty() && out.rx.is_empty());
    });
}
