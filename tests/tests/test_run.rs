//! BPF_PROG_TEST_RUN tests of the real programs: crafted frames in, verdict, chosen member
//! and counters out. Table-driven; each row names what it checks.

use bondxdp_common::{
    Counter, HashPolicy, Mode,
    config::{CFG_ALL_SLAVES_ACTIVE, CFG_KEEP_MEMBER_MACS},
    hash::{PacketMeta, xmit_hash_detailed},
    testing::{Frame, arp_request},
};
use bondxdp_tests::testrun::{
    TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, ifindex, run_once, with_harness, with_unconfigured,
};

const A1: [u8; 4] = [198, 18, 0, 1];
const A2: [u8; 4] = [198, 18, 0, 2];

/// Frames covering every parser path, named. The second field is the EtherType the stack
/// would put in skb->protocol (what eth_type_trans derives, as BPF_PROG_TEST_RUN does).
fn frames() -> Vec<(&'static str, Vec<u8>, u16)> {
    let tcp = Frame::eth(0x0800)
        .ipv4(A1, A2, 6, 0, 0)
        .ports(40000, 5201)
        .build();
    vec![
        ("ipv4 tcp", tcp.clone(), 0x0800),
        (
            "ipv4 udp",
            Frame::eth(0x0800)
                .ipv4(A1, A2, 17, 0, 0)
                .ports(1234, 53)
                .build(),
            0x0800,
        ),
        (
            "ipv4 options",
            Frame::eth(0x0800).ipv4(A1, A2, 6, 0, 8).ports(1, 2).build(),
            0x0800,
        ),
        (
            "ipv4 first fragment",
            Frame::eth(0x0800)
                .ipv4(A1, A2, 17, 0x2000, 0)
                .ports(9, 9)
                .build(),
            0x0800,
        ),
        (
            "ipv4 later fragment",
            Frame::eth(0x0800)
                .ipv4(A1, A2, 17, 0x00b9, 0)
                .pad_to(60)
                .build(),
            0x0800,
        ),
        (
            "icmp echo",
            Frame::eth(0x0800)
                .ipv4(A1, A2, 1, 0, 0)
                .bytes(&[8, 0, 0, 0, 0x12, 0x34, 0, 1])
                .pad_to(60)
                .build(),
            0x0800,
        ),
        (
            "icmp error quoting tcp",
            Frame::eth(0x0800)
                .ipv4([198, 19, 0, 9], A1, 1, 0, 0)
                .bytes(&[3, 4, 0, 0, 0, 0, 5, 0xdc])
                .bytes(&tcp[14..14 + 28])
                .build(),
            0x0800,
        ),
        // BPF_PROG_TEST_RUN refuses frames whose IP header is cut short (the host unit tests
        // cover those); these stop right after a complete IP header.
        (
            "ipv4 without transport header",
            Frame::eth(0x0800).ipv4(A1, A2, 6, 0, 0).build(),
            0x0800,
        ),
        (
            "ipv6 udp",
            Frame::eth(0x86dd).ipv6(1, 2, 17).ports(5000, 53).build(),
            0x86dd,
        ),
        (
            "ipv6 hop-by-hop udp",
            Frame::eth(0x86dd)
                .ipv6(1, 2, 0)
                .bytes(&[17, 0, 1, 4, 0, 0, 0, 0])
                .ports(5000, 53)
                .build(),
            0x86dd,
        ),
        (
            "ipv6 fragment",
            Frame::eth(0x86dd)
                .ipv6(1, 2, 44)
                .bytes(&[17, 0, 0, 1, 0, 0, 0, 7])
                .ports(5, 6)
                .build(),
            0x86dd,
        ),
        (
            "ipv6 without transport header",
            Frame::eth(0x86dd).ipv6(1, 2, 6).build(),
            0x86dd,
        ),
        (
            "vlan tagged tcp",
            Frame::eth(0x8100)
                .vlan(100, 0x0800)
                .ipv4(A1, A2, 6, 0, 0)
                .ports(40000, 5201)
                .build(),
            0x8100,
        ),
        (
            "gre with key carrying ethernet",
            Frame::eth(0x0800)
                .ipv4([198, 18, 9, 1], [198, 18, 9, 2], 47, 0, 0)
                .bytes(&[0x20, 0, 0x65, 0x58, 0, 0, 0, 42])
                .bytes(&tcp)
                .build(),
            0x0800,
        ),
        ("arp request", arp_request(A1, A2), 0x0806),
        (
            "unknown ethertype",
            Frame::eth(0x88b5).pad_to(60).build(),
            0x88b5,
        ),
        ("bare ethernet header", Frame::eth(0x88b5).build(), 0x88b5),
    ]
}

#[test]
fn xor_egress_picks_the_member_the_shared_hash_picks_for_every_frame_and_policy() {
    with_harness(3, Mode::BalanceXor, |h| {
        for policy in HashPolicy::ALL {
            h.set(|c| c.hash_policy = policy as u32);
            for (name, frame, proto) in frames() {
                let (hash, fell_back) =
                    xmit_hash_detailed(policy, &frame[..], &PacketMeta::ethernet(proto));
                let out = h.egress(&frame);
                assert_eq!(out.verdict, TC_ACT_REDIRECT, "{name} / {policy:?}");
                assert_eq!(
                    out.tx_slot(),
                    Some((hash % 3) as usize),
                    "{name} / {policy:?}: hash {hash:#x}"
                );
                assert_eq!(
                    out.counter(Counter::HashFallbackL2),
                    fell_back as u64,
                    "{name} / {policy:?}: fallback"
                );
                assert_eq!(out.data, frame, "{name}: egress must not modify the frame");
            }
        }
    });
}

#[test]
fn custom_mode_without_a_selection_program_sends_by_the_fallback_hash_and_counts() {
    with_harness(3, Mode::Custom, |h| {
        h.set(|c| c.hash_policy = HashPolicy::Layer34 as u32);
        h.set_link(1, false);
        for (name, frame, proto) in frames() {
            let (hash, _) = xmit_hash_detailed(
                HashPolicy::Layer34,
                &frame[..],
                &PacketMeta::ethernet(proto),
            );
            let out = h.egress(&frame);
            assert_eq!(out.verdict, TC_ACT_REDIRECT, "{name}");
            assert_eq!(
                out.tx_slot(),
                Some([0usize, 2][(hash % 2) as usize]),
                "{name}"
            );
            assert_eq!(out.counter(Counter::CustomNoProgram), 1, "{name}");
            assert_eq!(out.data, frame, "{name}: egress must not modify the frame");
        }
    });
}

#[test]
fn xor_only_uses_members_that_are_up() {
    with_harness(3, Mode::BalanceXor, |h| {
        h.set(|c| c.hash_policy = HashPolicy::Layer34 as u32);
        h.set_link(1, false);
        for sport in 0..200u16 {
            let frame = Frame::eth(0x0800)
                .ipv4(A1, A2, 17, 0, 0)
                .ports(sport, 53)
                .build();
            let (hash, _) = xmit_hash_detailed(
                HashPolicy::Layer34,
                &frame[..],
                &PacketMeta::ethernet(0x0800),
            );
            let out = h.egress(&frame);
            assert_eq!(
                out.tx_slot(),
                Some([0usize, 2][(hash % 2) as usize]),
                "sport {sport}"
            );
        }
    });
}

#[test]
fn round_robin_cycles_members_with_packets_per_slave() {
    with_harness(3, Mode::BalanceRr, |h| {
        let frame = Frame::eth(0x0800)
            .ipv4(A1, A2, 17, 0, 0)
            .ports(1, 2)
            .build();
        let slots: Vec<usize> = (0..9)
            .map(|_| h.egress(&frame).tx_slot().unwrap())
            .collect();
        // Consecutive slots, in order, whatever the per-CPU counter started at.
        for pair in slots.windows(2) {
            assert_eq!(pair[1], (pair[0] + 1) % 3, "{slots:?}");
        }
        h.set(|c| c.packets_per_slave = 3);
        let slots: Vec<usize> = (0..12)
            .map(|_| h.egress(&frame).tx_slot().unwrap())
            .collect();
        let changes = slots.windows(2).filter(|p| p[0] != p[1]).count();
        assert!((3..=4).contains(&changes), "runs of 3: {slots:?}");
        // IGMP always leaves through the active member.
        h.set(|c| {
            c.packets_per_slave = 1;
            c.active_slot = 2;
        });
        let igmp = Frame::eth(0x0800)
            .ipv4(A1, [224, 0, 0, 22], 2, 0, 0)
            .pad_to(60)
            .build();
        for _ in 0..5 {
            assert_eq!(h.egress(&igmp).tx_slot(), Some(2));
        }
        // packets_per_slave 0: random, but always a member.
        h.set(|c| c.packets_per_slave = 0);
        let mut seen = [false; 3];
        for _ in 0..200 {
            seen[h.egress(&frame).tx_slot().unwrap()] = true;
        }
        assert_eq!(seen, [true; 3]);
    });
}

#[test]
fn active_backup_sends_and_receives_on_the_active_member_only() {
    with_harness(3, Mode::ActiveBackup, |h| {
        let frame = Frame::eth(0x0800)
            .ipv4(A1, A2, 17, 0, 0)
            .ports(1, 2)
            .build();
        h.set(|c| c.active_slot = 1);
        for _ in 0..5 {
            let out = h.egress(&frame);
            assert_eq!((out.verdict, out.tx_slot()), (TC_ACT_REDIRECT, Some(1)));
        }
        let m = h.members.clone();
        let on_active = h.ingress(m[1], &frame);
        assert_eq!(on_active.verdict, TC_ACT_REDIRECT);
        assert_eq!(on_active.rx, vec![(1, 1)]);
        let on_backup = h.ingress(m[0], &frame);
        assert_eq!(on_backup.verdict, TC_ACT_SHOT);
        assert_eq!(on_backup.counter(Counter::DropInactiveMember), 1);
        assert!(on_backup.rx.is_empty());
        // all_slaves_active delivers from backups too, but still sends on the active only.
        h.set(|c| c.flags |= CFG_ALL_SLAVES_ACTIVE);
        assert_eq!(h.ingress(m[0], &frame).verdict, TC_ACT_REDIRECT);
        assert_eq!(h.egress(&frame).tx_slot(), Some(1));
        // Failover: the active member goes down and nobody else is chosen (userspace would
        // choose); the data plane must not send through a down member.
        h.set_link(1, false);
        let out = h.egress(&frame);
        assert_eq!(out.verdict, TC_ACT_SHOT);
        assert_eq!(out.counter(Counter::DropNoMember), 1);
        h.set(|c| c.active_slot = 2);
        assert_eq!(h.egress(&frame).tx_slot(), Some(2));
    });
}

#[test]
fn broadcast_copies_to_every_member_that_is_up() {
    with_harness(3, Mode::Broadcast, |h| {
        let frame = Frame::eth(0x0800)
            .ipv4(A1, A2, 17, 0, 0)
            .ports(1, 2)
            .build();
        let out = h.egress(&frame);
        assert_eq!(out.verdict, TC_ACT_REDIRECT);
        assert_eq!(out.tx, vec![(0, 1), (1, 1), (2, 1)]);
        h.set_link(0, false);
        let out = h.egress(&frame);
        assert_eq!(out.tx, vec![(1, 1), (2, 1)]);
    });
}

#[test]
fn no_eligible_member_drops_and_counts() {
    for mode in [
        Mode::BalanceRr,
        Mode::BalanceXor,
        Mode::ActiveBackup,
        Mode::Broadcast,
        Mode::Custom,
    ] {
        with_harness(2, mode, |h| {
            h.set_link(0, false);
            h.set_link(1, false);
            let out = h.egress(
                &Frame::eth(0x0800)
                    .ipv4(A1, A2, 17, 0, 0)
                    .ports(1, 2)
                    .build(),
            );
            assert_eq!(out.verdict, TC_ACT_SHOT, "{mode:?}");
            assert_eq!(out.counter(Counter::DropNoMember), 1, "{mode:?}");
            assert!(out.tx.is_empty());
            h.clear_members();
            assert_eq!(h.egress(&arp_request(A1, A2)).verdict, TC_ACT_SHOT);
        });
    }
}

#[test]
fn ingress_table() {
    with_harness(2, Mode::BalanceXor, |h| {
        let m = h.members.clone();
        let udp = Frame::eth(0x0800)
            .ipv4(A2, A1, 17, 0, 0)
            .ports(53, 1234)
            .build();
        let lacpdu = Frame::eth_between([0x01, 0x80, 0xc2, 0, 0, 0x02], [2, 0, 0, 0, 0, 9], 0x8809)
            .bytes(&[1, 1])
            .pad_to(124)
            .build();
        let not_a_member = ifindex("p0");
        type Row = (
            &'static str,
            u32,
            Vec<u8>,
            i32,
            Option<Counter>,
            Vec<(usize, u64)>,
        );
        let rows: Vec<Row> = vec![
            (
                "udp on member 0",
                m[0],
                udp.clone(),
                TC_ACT_REDIRECT,
                None,
                vec![(0, 1)],
            ),
            (
                "udp on member 1",
                m[1],
                udp.clone(),
                TC_ACT_REDIRECT,
                None,
                vec![(1, 1)],
            ),
            (
                "arp on member 1",
                m[1],
                arp_request(A2, A1),
                TC_ACT_REDIRECT,
                None,
                vec![(1, 1)],
            ),
            (
                "lacpdu stays on the member",
                m[0],
                lacpdu,
                TC_ACT_OK,
                Some(Counter::RxSlowProtocols),
                vec![],
            ),
            (
                "not a member",
                not_a_member,
                udp.clone(),
                TC_ACT_OK,
                Some(Counter::RxNotMember),
                vec![],
            ),
            (
                "bare ethernet header",
                m[0],
                Frame::eth(0x88b5).build(),
                TC_ACT_REDIRECT,
                None,
                vec![(0, 1)],
            ),
        ];
        for (name, ifindex, frame, verdict, counter, rx) in rows {
            let out = h.ingress(ifindex, &frame);
            assert_eq!(out.verdict, verdict, "{name}");
            assert_eq!(out.rx, rx, "{name}");
            if let Some(c) = counter {
                assert_eq!(out.counter(c), 1, "{name}");
            }
            assert_eq!(out.data, frame, "{name}: ingress must not modify the frame");
        }
    });
}

#[test]
fn keep_member_macs_rewrites_source_on_egress_and_destination_on_ingress() {
    with_harness(2, Mode::BalanceRr, |h| {
        let own = [[2, 0, 0, 0, 0xaa, 0], [2, 0, 0, 0, 0xaa, 1]];
        h.set(|c| {
            c.flags |= CFG_KEEP_MEMBER_MACS;
            c.members[0].mac = own[0];
            c.members[1].mac = own[1];
        });
        let frame = Frame::eth_between([2, 0, 0, 0, 0, 9], h.cfg.bond_mac, 0x0800)
            .ipv4(A1, A2, 17, 0, 0)
            .ports(1, 2)
            .build();
        for _ in 0..4 {
            let out = h.egress(&frame);
            let slot = out.tx_slot().unwrap();
            assert_eq!(&out.data[6..12], &own[slot], "source MAC of slot {slot}");
            assert_eq!(&out.data[12..], &frame[12..]);
        }
        let m = h.members.clone();
        let to_member = Frame::eth_between(own[1], [2, 0, 0, 0, 0, 9], 0x0800)
            .ipv4(A2, A1, 17, 0, 0)
            .ports(2, 1)
            .build();
        let out = h.ingress(m[1], &to_member);
        assert_eq!(out.verdict, TC_ACT_REDIRECT);
        assert_eq!(
            &out.data[0..6],
            &h.cfg.bond_mac,
            "destination mapped to the bond"
        );
        let broadcast = arp_request(A2, A1);
        assert_eq!(
            h.ingress(m[1], &broadcast).data,
            broadcast,
            "broadcast left alone"
        );
    });
}

#[test]
fn programs_without_configuration_drop_on_egress_and_pass_on_ingress() {
    with_unconfigured(|ebpf, maps| {
        let frame = Frame::eth(0x0800)
            .ipv4(A1, A2, 17, 0, 0)
            .ports(1, 2)
            .build();
        for program in bondxdp::loader::programs::EGRESS_PROGRAMS {
            assert_eq!(run_once(ebpf, program, &frame), TC_ACT_SHOT, "{program}");
        }
        let programs = bondxdp::loader::programs::EGRESS_PROGRAMS.len() as u64;
        assert_eq!(maps.counter(Counter::DropNoConfig).unwrap(), programs);
        assert_eq!(run_once(ebpf, "member_ingress", &frame), TC_ACT_OK);
        assert_eq!(maps.counter(Counter::RxNotMember).unwrap(), 1);
    });
}

#[test]
fn load_aware_places_new_flows_by_smooth_weighted_round_robin() {
    with_harness(3, Mode::LoadAware, |h| {
        let flow = |sport: u16| {
            Frame::eth(0x0800)
                .ipv4(A1, A2, 6, 0, 0)
                .ports(sport, 5201)
                .build()
        };
        let mut next_port = 10000u16;
        let mut new_flows = |h: &mut bondxdp_tests::testrun::Harness, n: usize| {
            let mut slots = Vec::new();
            for _ in 0..n {
                let frame = flow(next_port);
                next_port += 1;
                let slot = h.egress(&frame).tx_slot().expect("one member sends");
                // A flow that keeps sending keeps its member.
                assert_eq!(h.egress(&frame).tx_slot(), Some(slot));
                slots.push(slot);
            }
            slots
        };
        let count = |w: &[usize], s: usize| w.iter().filter(|&&x| x == s).count();
        // 1:2:5: every 8 consecutive new flows split exactly so.
        h.set(|c| c.weights[..3].copy_from_slice(&[1, 2, 5]));
        let slots = new_flows(h, 80);
        for w in slots.windows(8) {
            assert_eq!(
                [count(w, 0), count(w, 1), count(w, 2)],
                [1, 2, 5],
                "{slots:?}"
            );
        }
        // A member going down gets nothing; the rest go 1:2 within one flow after a cycle.
        h.set_link(2, false);
        let slots = new_flows(h, 30);
        assert_eq!(count(&slots, 2), 0, "{slots:?}");
        for w in slots[3..].windows(3) {
            assert!(count(w, 0) <= 2 && count(w, 1) >= 1, "{slots:?}");
        }
        // 1:3 (and the third member back, with weight 0: nothing): after one cycle, every
        // 4 consecutive new flows put exactly one on the light member.
        h.set_link(2, true);
        h.set(|c| c.weights[..3].copy_from_slice(&[1, 3, 0]));
        let slots = new_flows(h, 44);
        assert_eq!(count(&slots, 2), 0, "{slots:?}");
        for w in slots[4..].windows(4) {
            assert_eq!(count(w, 0), 1, "{slots:?}");
        }
    });
}

/// Every program the modes table names (egress for each hash policy, ingress, the XDP fast
/// path's LAN-side program) is in the object, so a mode whose program was forgotten in the
/// eBPF crate fails here rather than at a user's `up`.
#[test]
fn every_program_the_modes_table_names_is_in_the_object() {
    let ebpf = bondxdp::loader::load().expect("loading the object");
    let mut checked = 0;
    for info in bondxdp_common::modes::MODES {
        let mut names = vec![info.ingress];
        for policy in HashPolicy::ALL {
            names.extend(bondxdp::loader::programs::program_for(info.mode, policy));
            names.push(bondxdp_common::fast_path::lan_program_for(
                info.mode, policy,
            ));
        }
        for name in names {
            assert!(
                ebpf.program(name).is_some(),
                "{}: program {name} is not in the object",
                info.name
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
    // And the ones no mode names directly.
    for name in bondxdp::loader::programs::all() {
        assert!(ebpf.program(name).is_some(), "{name} is not in the object");
    }
}

/// Whether `name` is a benchmark-only name (`bench_*` programs, `BENCH_*` maps and globals).
fn is_bench_name(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with("bench")
}

/// The data plane's object carries only what a bond runs: no benchmark program, map or
/// global (those live in the benchmark object, bench/ebpf), neither among what aya loads nor
/// anywhere in the ELF symbol table.
#[test]
fn production_object_has_no_benchmark_programs_maps_or_globals() {
    let ebpf = bondxdp::loader::load().expect("loading the object");
    let programs: Vec<&str> = ebpf.programs().map(|(name, _)| name).collect();
    let maps: Vec<&str> = ebpf.maps().map(|(name, _)| name).collect();
    assert!(
        programs.len() > 20 && maps.len() > 10,
        "{programs:?} {maps:?}"
    );
    for name in programs.iter().chain(&maps) {
        assert!(!is_bench_name(name), "{name} is in the data plane's object");
    }
    use object::{Object, ObjectSymbol};
    let elf = object::File::parse(bondxdp::loader::EBPF_OBJECT).expect("an ELF object");
    let symbols: Vec<&str> = elf.symbols().filter_map(|s| s.name().ok()).collect();
    assert!(symbols.contains(&"BOND_CONFIG"), "{symbols:?}");
    for name in symbols {
        assert!(
            !is_bench_name(name),
            "symbol {name} is in the data plane's object"
        );
    }
}

/// The benchmark object has every program, map and global the benchmark sections use, its
/// programs pass the verifier, and its `FWD_MEMBERS` is defined as the data plane's (the
/// forwarding section loads it with the bond's pinned one in its place).
#[test]
fn bench_object_has_what_the_benchmarks_use() {
    use aya::{
        EbpfLoader,
        maps::Map,
        programs::{SchedClassifier, Xdp},
    };
    use bondxdp_tests::bench::{forwarding, prog_cost};
    let target = 0u32;
    let headers = [0u8; 34];
    let mut bench = EbpfLoader::new()
        .override_global(forwarding::GLOBALS[0], &target, true)
        .override_global(forwarding::GLOBALS[1], &headers, true)
        .load(bondxdp::loader::BENCH_OBJECT)
        .expect("loading the benchmark object, its globals set");
    let tc: &mut SchedClassifier = bench
        .program_mut(prog_cost::FLOOR_PROGRAM)
        .expect("the program cost floor")
        .try_into()
        .expect("a tc program");
    tc.load().expect("the floor passes the verifier");
    for name in [
        forwarding::FLOOR_PROGRAM,
        forwarding::SAMPLE_PROGRAM,
        forwarding::KERNEL_PROGRAM,
        forwarding::SINK_PROGRAM,
    ] {
        let xdp: &mut Xdp = bench
            .program_mut(name)
            .unwrap_or_else(|| panic!("{name} is not in the benchmark object"))
            .try_into()
            .expect("an XDP program");
        xdp.load()
            .unwrap_or_else(|e| panic!("{name} fails to load: {e}"));
    }
    for name in bench.programs().map(|(name, _)| name) {
        assert!(is_bench_name(name), "{name}: not a benchmark program");
    }
    assert!(matches!(
        bench.map(forwarding::SINK_MAP),
        Some(Map::PerCpuArray(_))
    ));
    let production = bondxdp::loader::load().expect("loading the data plane's object");
    let devmap = |ebpf: &aya::Ebpf| match ebpf.map(bondxdp::fast_path::FWD_MEMBERS) {
        Some(Map::DevMap(map)) => {
            let info = map.info().expect("map info");
            (
                info.key_size(),
                info.value_size(),
                info.max_entries(),
                info.map_flags(),
            )
        }
        other => panic!("FWD_MEMBERS: {other:?}"),
    };
    assert_eq!(devmap(&bench), devmap(&production));
}

/// Members with MACs of their own (balance-tlb/alb keep them).
const OWN: [[u8; 6]; 3] = [
    [2, 0, 0, 0, 0xaa, 0],
    [2, 0, 0, 0, 0xaa, 1],
    [2, 0, 0, 0, 0xaa, 2],
];

fn own_macs(h: &mut bondxdp_tests::testrun::Harness) {
    h.set(|c| {
        c.flags |= CFG_KEEP_MEMBER_MACS;
        for (slot, mac) in OWN.iter().enumerate() {
            c.members[slot].mac = *mac;
        }
    });
}

#[test]
fn balance_tlb_sends_broadcasts_as_the_bond_and_unicast_with_member_macs() {
    with_harness(3, Mode::BalanceTlb, |h| {
        own_macs(h);
        h.set(|c| c.active_slot = 1);
        let peer = [2, 0, 0, 0, 0, 9];
        // Balanced unicast: every member but the active receiver writes its own MAC.
        let mut seen = std::collections::BTreeSet::new();
        for port in 0..12 {
            let frame = Frame::eth_between(peer, h.cfg.bond_mac, 0x0800)
                .ipv4(A1, A2, 17, 0, 0)
                .ports(1000 + port, 9)
                .build();
            let out = h.egress(&frame);
            let slot = out.tx_slot().expect("sent");
            let want = if slot == 1 { h.cfg.bond_mac } else { OWN[slot] };
            assert_eq!(&out.data[6..12], &want, "slot {slot}");
            seen.insert(slot);
        }
        assert_eq!(seen.len(), 3, "{seen:?}");
        // Broadcast ARP: through the active receiver, with the bond's MAC.
        let out = h.egress(&arp_request(A1, A2));
        assert_eq!(out.tx_slot(), Some(1));
        assert_eq!(&out.data[6..12], &h.cfg.bond_mac);
        // Receive: a broadcast only on the active receiver; unicast to a member's own MAC on
        // it, mapped to the bond's.
        let m = h.members.clone();
        let bcast = arp_request(A2, A1);
        assert_eq!(h.ingress(m[1], &bcast).verdict, TC_ACT_REDIRECT);
        let out = h.ingress(m[0], &bcast);
        assert_eq!(out.verdict, TC_ACT_SHOT);
        assert_eq!(out.counter(Counter::DropNotReceiver), 1);
        let to_bond = Frame::eth_between(h.cfg.bond_mac, peer, 0x0800)
            .ipv4(A2, A1, 17, 0, 0)
            .ports(9, 1)
            .build();
        assert_eq!(h.ingress(m[1], &to_bond).verdict, TC_ACT_REDIRECT);
        assert_eq!(
            h.ingress(m[2], &to_bond).verdict,
            TC_ACT_SHOT,
            "no second copy"
        );
        let to_member = Frame::eth_between(OWN[2], peer, 0x0800)
            .ipv4(A2, A1, 17, 0, 0)
            .ports(9, 1)
            .build();
        let out = h.ingress(m[2], &to_member);
        assert_eq!(out.verdict, TC_ACT_REDIRECT);
        assert_eq!(&out.data[0..6], &h.cfg.bond_mac);
    });
}

#[test]
fn balance_tlb_without_dynamic_lb_sends_unicast_ip_by_the_hash() {
    with_harness(3, Mode::BalanceTlb, |h| {
        h.set(|c| c.flags |= bondxdp_common::config::CFG_TLB_HASH);
        let mut hashed = std::collections::BTreeSet::new();
        for policy in HashPolicy::ALL {
            h.set(|c| c.hash_policy = policy as u32);
            for (name, frame, proto) in frames() {
                let unicast_ip = frame[0] & 1 == 0 && (proto == 0x0800 || proto == 0x86dd);
                let out = h.egress(&frame);
                let want = if unicast_ip {
                    let (hash, _) =
                        xmit_hash_detailed(policy, &frame[..], &PacketMeta::ethernet(proto));
                    hashed.insert((hash % 3) as usize);
                    (hash % 3) as usize
                } else {
                    0 // the active receiver
                };
                assert_eq!(out.tx_slot(), Some(want), "{name} / {policy:?}");
            }
        }
        assert_eq!(hashed.len(), 3, "the frames hash to every member");
    });
}

#[test]
fn balance_alb_rewrites_the_arp_the_host_sends_and_learns_from_replies() {
    use bondxdp_common::modes::alb::{CLIENT_NTT, CLIENT_PEER_MAC, update_frame};
    with_harness(3, Mode::BalanceAlb, |h| {
        own_macs(h);
        let peer = |j: u8| [2, 0, 0, 0, 0x10, j];
        let peer_ip = |j: u8| [198, 18, 0, 10 + j];
        // The host's replies to six peers: each carries (sender and Ethernet source) its
        // member's own MAC and leaves through that member; the members take two each.
        let mut per_slot = [0; 3];
        let mut slot_of = Vec::new();
        for j in 0..6 {
            let reply = update_frame(h.cfg.bond_mac, A1, peer(j), peer_ip(j));
            let out = h.egress(&reply);
            assert_eq!(out.verdict, TC_ACT_REDIRECT);
            let slot = out.tx_slot().expect("sent");
            assert_eq!(&out.data[6..12], &OWN[slot], "Ethernet source");
            assert_eq!(&out.data[22..28], &OWN[slot], "ARP sender");
            assert_eq!(&out.data[..6], &reply[..6]);
            assert_eq!(&out.data[12..22], &reply[12..22]);
            assert_eq!(&out.data[28..], &reply[28..]);
            assert_eq!(out.counter(Counter::RlbArpRewritten), 1);
            per_slot[slot] += 1;
            slot_of.push(slot);
        }
        assert_eq!(per_slot, [2, 2, 2]);
        // Again: each peer keeps its member.
        for j in 0..6 {
            let out = h.egress(&update_frame(h.cfg.bond_mac, A1, peer(j), peer_ip(j)));
            assert_eq!(out.tx_slot(), Some(slot_of[j as usize]), "peer {j}");
        }
        let clients = h.alb_clients();
        assert_eq!(clients.len(), 6);
        for (j, (key, c)) in clients.iter().enumerate() {
            assert_eq!(*key, u32::from_be_bytes(peer_ip(j as u8)));
            assert_eq!((c.peer_mac, c.slot as usize), (peer(j as u8), slot_of[j]));
            assert_eq!((c.bond_ip, c.flags), (A1, CLIENT_PEER_MAC));
        }
        // A member down: its peers' next reply goes through another member.
        let gone = slot_of[0];
        h.set_link(gone, false);
        let out = h.egress(&update_frame(h.cfg.bond_mac, A1, peer(0), peer_ip(0)));
        let now = out.tx_slot().expect("sent");
        assert_ne!(now, gone);
        assert_eq!(&out.data[22..28], &OWN[now]);
        h.set_link(gone, true);
        // A broadcast request: unchanged through the active receiver, counted, and its target
        // gets a placeholder; the target's reply (on any member) fills in its MAC and marks
        // it to be told its member.
        let target = [198, 18, 0, 99];
        // The bond's own request (ARP from any other MAC, a macvlan's, is left alone).
        let mut request = arp_request(A1, target);
        request[6..12].copy_from_slice(&h.cfg.bond_mac);
        request[22..28].copy_from_slice(&h.cfg.bond_mac);
        let out = h.egress(&request);
        assert_eq!(out.tx_slot(), Some(0));
        assert_eq!(
            &out.data[6..12],
            &h.cfg.bond_mac,
            "the active receiver sends as the bond"
        );
        assert_eq!(&out.data[12..], &request[12..], "the ARP itself unchanged");
        assert_eq!(out.counter(Counter::RlbArpRequest), 1);
        let key = u32::from_be_bytes(target);
        let placeholder = h
            .alb_clients()
            .into_iter()
            .find(|(k, _)| *k == key)
            .unwrap()
            .1;
        assert_eq!(placeholder.flags, 0);
        let answer = update_frame(peer(99), target, OWN[2], A1);
        let out = h.ingress(h.members[2], &answer);
        assert_eq!(out.verdict, TC_ACT_REDIRECT);
        let learned = h
            .alb_clients()
            .into_iter()
            .find(|(k, _)| *k == key)
            .unwrap()
            .1;
        assert_eq!(learned.peer_mac, peer(99));
        assert_eq!(learned.flags, CLIENT_PEER_MAC | CLIENT_NTT);
        assert_eq!(learned.slot, placeholder.slot);
    });
}

/// An ARP frame (Ethernet/IPv4) with operation `op`, sender hardware address `sha`, behind an
/// optional 802.1Q tag.
fn arp_frame(op: u16, sha: [u8; 6], vlan: bool) -> Vec<u8> {
    let mut body = vec![0, 1, 8, 0, 6, 4];
    body.extend_from_slice(&op.to_be_bytes());
    body.extend_from_slice(&sha);
    body.extend_from_slice(&A1);
    body.extend_from_slice(&[0; 6]);
    body.extend_from_slice(&A2);
    let f = if vlan {
        Frame::eth_between([0xff; 6], sha, 0x8100).vlan(7, 0x0806)
    } else {
        Frame::eth_between([0xff; 6], sha, 0x0806)
    };
    f.bytes(&body).build()
}

/// An ND message of ICMPv6 `kind` (135 NS, 136 NA) with one link-layer address option
/// (`opt`: 1 source, 2 target) carrying `ll`, valid lengths and checksum, behind an optional
/// 802.1Q tag. Returns the frame and the offset of its IPv6 header.
fn nd_frame(kind: u8, opt: u8, ll: [u8; 6], vlan: bool) -> (Vec<u8>, usize) {
    let f = if vlan {
        Frame::eth_between([0x33, 0x33, 0xff, 0, 0, 2], ll, 0x8100).vlan(7, 0x86dd)
    } else {
        Frame::eth_between([0x33, 0x33, 0xff, 0, 0, 2], ll, 0x86dd)
    };
    let flags = if kind == 136 { 0x60 } else { 0 };
    let mut f = f
        .ipv6(1, 2, 58)
        .bytes(&[kind, 0, 0, 0, flags, 0, 0, 0])
        .bytes(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])
        .bytes(&[opt, 1])
        .bytes(&ll)
        .build();
    let l3 = if vlan { 18 } else { 14 };
    bondxdp_common::testing::csum::fill(&mut f, l3, false);
    (f, l3)
}

#[test]
fn keep_member_macs_rewrites_arp_and_nd_link_layer_addresses() {
    with_harness(2, Mode::BalanceRr, |h| {
        let own = [[2, 0, 0, 0, 0xaa, 0], [2, 0, 0, 0, 0xaa, 1]];
        h.set(|c| {
            c.flags |= CFG_KEEP_MEMBER_MACS;
            c.members[0].mac = own[0];
            c.members[1].mac = own[1];
        });
        let bond = h.cfg.bond_mac;
        let foreign = [2, 0x77, 0, 0, 0, 1];
        // (name, frame, IPv6 header offset (0: ARP), the address's offset, rewritten?)
        let mut rows: Vec<(&str, Vec<u8>, usize, usize, bool)> = vec![
            ("arp request", arp_frame(1, bond, false), 0, 22, true),
            ("arp reply", arp_frame(2, bond, false), 0, 22, true),
            ("arp request, vlan", arp_frame(1, bond, true), 0, 26, true),
            (
                "arp from a macvlan",
                arp_frame(1, foreign, false),
                0,
                22,
                false,
            ),
        ];
        for (name, kind, opt, vlan) in [
            ("ns", 135, 1, false),
            ("na", 136, 2, false),
            ("ns, vlan", 135, 1, true),
            ("na, vlan", 136, 2, true),
        ] {
            let (f, l3) = nd_frame(kind, opt, bond, vlan);
            let at = f.len() - 6;
            rows.push((name, f, l3, at, true));
        }
        let (f, l3) = nd_frame(135, 1, foreign, false);
        let at = f.len() - 6;
        rows.push(("ns from a macvlan", f, l3, at, false));
        for (name, frame, l3, at, rewritten) in rows {
            for _ in 0..2 {
                let out = h.egress(&frame);
                assert_eq!(out.verdict, TC_ACT_REDIRECT, "{name}");
                let slot = out.tx_slot().unwrap();
                let want = if rewritten { own[slot] } else { foreign };
                assert_eq!(&out.data[at..at + 6], &want, "{name}: slot {slot}");
                assert_eq!(
                    out.counter(Counter::MemberMacRewritten),
                    rewritten as u64,
                    "{name}"
                );
                assert_eq!(out.counter(Counter::MemberMacMalformed), 0, "{name}");
                if l3 != 0 {
                    bondxdp_common::testing::csum::verify(&out.data, l3)
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                }
                // Nothing else changed but the Ethernet source.
                let mut expect = frame.clone();
                expect[6..12].copy_from_slice(&out.data[6..12]);
                expect[at..at + 6].copy_from_slice(&want);
                if l3 != 0 {
                    let c = l3 + 42;
                    expect[c..c + 2].copy_from_slice(&out.data[c..c + 2]);
                }
                assert_eq!(out.data, expect, "{name}");
            }
        }
        // Malformed ND: sent as it was, counted.
        let (mut zero_len, _) = nd_frame(135, 1, bond, false);
        let n = zero_len.len();
        zero_len[n - 7] = 0;
        let (mut cut, _) = nd_frame(136, 2, bond, false);
        cut[18..20].copy_from_slice(&64u16.to_be_bytes());
        let mut short_arp = arp_frame(1, bond, false);
        short_arp.truncate(14 + 20);
        for (name, frame) in [
            ("nd option of length 0", zero_len),
            ("nd payload length beyond the frame", cut),
            ("arp cut short", short_arp),
        ] {
            let out = h.egress(&frame);
            assert_eq!(out.verdict, TC_ACT_REDIRECT, "{name}");
            assert_eq!(out.counter(Counter::MemberMacMalformed), 1, "{name}");
            assert_eq!(out.counter(Counter::MemberMacRewritten), 0, "{name}");
            assert_eq!(&out.data[12..], &frame[12..], "{name}");
        }
    });
}
