//! Scenarios ported from the kernel's bonding selftests
//! (tools/testing/selftests/drivers/net/bonding/) that have no better home: each test names
//! the script it ports. docs/conformance.md maps every selftest to the test that ports it.
//!
//! The kernel's "2d1c" topology: a server whose bond has two members on one switch (a Linux
//! bridge in its own namespace), and a client on the same switch.

use std::process::Command;

use bondxdp_tests::{Netns, eventually};

/// The server's bond address.
const SERVER: &str = "198.18.0.1";
/// The client's address.
const CLIENT: &str = "198.18.0.3";

/// Server, switch and client (kernel bond_topo_2d1c.sh, without its gateway router).
struct Topo {
    server: Netns,
    switch: Netns,
    client: Netns,
}

impl Topo {
    /// `eth0`/`eth1` in the server, `eth0` in the client, all ports of `br0` in the switch.
    fn new(tag: &str) -> Topo {
        let t = Topo {
            server: Netns::new(&format!("{tag}s")),
            switch: Netns::new(&format!("{tag}w")),
            client: Netns::new(&format!("{tag}c")),
        };
        t.switch
            .exec_ok(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        t.switch.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ]);
        t.switch.ip(&["link", "set", "br0", "up"]);
        for (host, dev, port) in [
            (&t.server, "eth0", "s0"),
            (&t.server, "eth1", "s1"),
            (&t.client, "eth0", "c0"),
        ] {
            veth(host, dev, &t.switch, port);
            t.switch.ip(&["link", "set", port, "master", "br0"]);
            t.switch.ip(&["link", "set", port, "up"]);
        }
        t.client.ip(&["link", "set", "eth0", "up"]);
        t.client
            .ip(&["addr", "add", &format!("{CLIENT}/24"), "dev", "eth0"]);
        t.client
            .ip(&["addr", "add", "2001:db8::3/64", "dev", "eth0", "nodad"]);
        t
    }

    /// `bondxdp up bond0 OPTIONS -m eth0 -m eth1` in the server, with its addresses.
    fn bond(&self, options: &[&str]) {
        let mut args = vec!["up", "bond0"];
        args.extend_from_slice(options);
        args.extend_from_slice(&["-m", "eth0", "-m", "eth1"]);
        self.server.bondxdp_ok(&args);
        self.server
            .ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "bond0"]);
        self.server
            .ip(&["addr", "add", "2001:db8::1/64", "dev", "bond0", "nodad"]);
    }
}

fn veth(a: &Netns, a_name: &str, b: &Netns, b_name: &str) {
    let out = Command::new("ip")
        .args([
            "link",
            "add",
            a_name,
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            "name",
            b_name,
            "netns",
            b.name(),
        ])
        .output()
        .expect("ip");
    assert!(out.status.success(), "{out:?}");
}

/// Whether `from` reaches `to` (four pings, as the selftest's check_connection).
fn reaches(from: &Netns, to: &str) -> bool {
    from.exec(&["ping", "-c", "4", "-i", "0.1", "-W", "2", to])
        .status
        .success()
}

/// Ported from bond_macvlan_ipvlan.sh: macvlan (bridge mode) and ipvlan (l2) devices on top
/// of an active-backup, balance-tlb and balance-alb bond, each moved into its own namespace,
/// reach the client and each other over IPv4 and IPv6, and the client reaches them and the
/// bond. (ipvlan only where the kernel has it: this machine's is built without
/// CONFIG_IPVLAN.)
#[test]
fn macvlan_and_ipvlan_over_the_bond() {
    for bond_mode in ["active-backup", "balance-tlb", "balance-alb"] {
        xvlan_over_bond(bond_mode);
    }
}

fn xvlan_over_bond(bond_mode: &str) {
    for (kind, mode) in [("macvlan", "bridge"), ("ipvlan", "l2")] {
        let tag = bond_mode
            .trim_start_matches("balance-")
            .trim_start_matches("active-");
        let t = Topo::new(&format!("{}{tag}", &kind[..3]));
        let probe = t.client.exec(&[
            "ip", "link", "add", "link", "eth0", "name", "probe0", "type", kind,
        ]);
        if String::from_utf8_lossy(&probe.stderr).contains("Unknown device type") {
            eprintln!("skipping {kind}: the kernel has no {kind} devices");
            continue;
        }
        t.client.ip(&["link", "del", "probe0"]);
        t.bond(&["--mode", bond_mode, "--miimon", "100"]);
        let ctl = bondxdp_tests::controller::Controller::start(&t.server, &[], 1);
        let xv: Vec<Netns> = (1..=2)
            .map(|i| {
                let ns = Netns::new(&format!("{}x{i}", &kind[..3]));
                let dev = format!("{kind}{i}");
                t.server.ip(&[
                    "link", "add", "link", "bond0", "name", &dev, "type", kind, "mode", mode,
                ]);
                t.server.ip(&["link", "set", &dev, "netns", ns.name()]);
                ns.ip(&["link", "set", &dev, "up"]);
                ns.ip(&["addr", "add", &format!("198.18.0.1{i}/24"), "dev", &dev]);
                ns.ip(&[
                    "addr",
                    "add",
                    &format!("2001:db8::1{i}/64"),
                    "dev",
                    &dev,
                    "nodad",
                ]);
                ns
            })
            .collect();
        let checks: [(&Netns, &str); 14] = [
            (&t.client, SERVER),
            (&t.client, "2001:db8::1"),
            (&t.client, "198.18.0.11"),
            (&t.client, "2001:db8::11"),
            (&t.client, "198.18.0.12"),
            (&t.client, "2001:db8::12"),
            (&xv[0], "198.18.0.12"),
            (&xv[0], "2001:db8::12"),
            (&t.server, CLIENT),
            (&t.server, "2001:db8::3"),
            (&xv[0], CLIENT),
            (&xv[0], "2001:db8::3"),
            (&xv[1], CLIENT),
            (&xv[1], "2001:db8::3"),
        ];
        for (from, to) in checks {
            assert!(
                eventually(3000, || reaches(from, to)),
                "{bond_mode}/{kind}: {} cannot reach {to}\n{}",
                from.name(),
                ctl.log()
            );
        }
    }
}

/// The data-plane link state of each of the server's members, from `status --json`.
fn links(ns: &Netns) -> Vec<String> {
    ns.status("bond0")["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["link"].as_str().unwrap().to_string())
        .collect()
}

/// Ported from bond-lladdr-target.sh: active-backup whose only probe target is the switch's
/// IPv6 link-local address (`ns_ip6_target`, arp_validate all, arp_interval 1000), with only
/// a link-local address on the bond, gets its carrier; and, as bond_options.sh's
/// arp_validate test expects, every member is judged up (the backup by the active member's
/// solicitations the switch floods to it).
#[test]
fn link_local_ns_target_brings_the_bond_up() {
    let t = Topo::new("lla");
    t.switch
        .exec_ok(&["sysctl", "-qw", "net.ipv6.conf.br0.disable_ipv6=0"]);
    t.switch
        .ip(&["addr", "add", "fe80::5/64", "dev", "br0", "nodad"]);
    t.server.bondxdp_ok(&[
        "up",
        "bond0",
        "--mode",
        "active-backup",
        "--ns-ip6-target",
        "fe80::5",
        "--arp-validate",
        "all",
        "--arp-interval",
        "1000",
        "-m",
        "eth0",
        "-m",
        "eth1",
    ]);
    t.server
        .ip(&["addr", "add", "fe80::beef/64", "dev", "bond0", "nodad"]);
    let ctl = bondxdp_tests::controller::Controller::start(&t.server, &[], 1);
    assert!(
        eventually(8000, || links(&t.server) == ["up", "up"]),
        "members {:?}\n{}",
        links(&t.server),
        ctl.log()
    );
    let shown = t.server.ip(&["link", "show", "bond0"]);
    assert!(shown.contains("LOWER_UP"), "no carrier: {shown}");
    // Answers stop (the switch loses its address): both members go down, and so does the
    // carrier, so the probes were what kept them up. As in the kernel, the backup stays up
    // on the active member's probes until that member fails; then, once active itself, it
    // needs its own missed intervals: two detections in series, up to ~8 s at 1 s intervals.
    t.switch.ip(&["addr", "del", "fe80::5/64", "dev", "br0"]);
    assert!(
        eventually(15000, || links(&t.server) == ["down", "down"]),
        "members {:?}\n{}",
        links(&t.server),
        ctl.log()
    );
}

/// Whether `dev`'s own unicast filter (`bridge fdb show dev DEV`, `self` entries) has `mac`.
fn filter_has(ns: &Netns, dev: &str, mac: &str) -> bool {
    ns.exec_ok(&["bridge", "fdb", "show", "dev", dev])
        .lines()
        .any(|l| l.starts_with(mac) && l.contains("self"))
}

/// Ported from dev_addr_lists.sh / lag_lib.sh `test_LAG_cleanup` (active-backup and
/// 802.3ad): a macvlan's unicast address on the bond reaches the members' receive filters
/// (so a real NIC accepts its frames), leaves them when the macvlan goes, and nothing is left
/// on any member after `down`. Multicast differs on purpose: members are `allmulti` while in
/// the bond instead of carrying the bond's multicast list (docs/conformance.md).
#[test]
fn stacked_unicast_addresses_reach_the_members_and_leave_with_the_bond() {
    const MV: &str = "02:00:00:12:34:56";
    for mode in ["active-backup", "802.3ad"] {
        let t = Topo::new(if mode == "802.3ad" { "dal4" } else { "dal1" });
        t.bond(&["--mode", mode, "--miimon", "100"]);
        let ctl = bondxdp_tests::controller::Controller::start(&t.server, &[], 1);
        let members = ["eth0", "eth1"];
        let everywhere = |present: bool| {
            members
                .iter()
                .all(|m| filter_has(&t.server, m, MV) == present)
        };
        assert!(
            !everywhere(true),
            "{mode}: {MV} on a member before any macvlan"
        );
        t.server.ip(&[
            "link", "add", "mv0", "link", "bond0", "up", "address", MV, "type", "macvlan",
        ]);
        assert!(
            eventually(3000, || everywhere(true)),
            "{mode}: {MV} never reached the members\n{}",
            ctl.log()
        );
        for m in members {
            assert!(
                t.server.link(m).flags.iter().any(|f| f == "ALLMULTI"),
                "{mode}: {m} not allmulti"
            );
        }
        t.server.ip(&["link", "del", "mv0"]);
        assert!(
            eventually(3000, || everywhere(false)),
            "{mode}: {MV} stayed on a member after its macvlan went\n{}",
            ctl.log()
        );
        t.server.ip(&[
            "link", "add", "mv0", "link", "bond0", "up", "address", MV, "type", "macvlan",
        ]);
        assert!(eventually(3000, || everywhere(true)), "{mode}: not back");
        drop(ctl);
        t.server.bondxdp_ok(&["down", "bond0"]);
        assert!(
            everywhere(false),
            "{mode}: {MV} left on a member after down"
        );
    }
}

/// The server's active member and the MAC of `dev` in `ns`.
fn active_member(ns: &Netns) -> String {
    ns.status("bond0")["active"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn mac_of(ns: &Netns, dev: &str) -> String {
    ns.exec_ok(&["cat", &format!("/sys/class/net/{dev}/address")])
        .trim()
        .to_string()
}

/// Active-backup with the ARP monitor (arp_interval 100) and its target behind the switch:
/// `arp_validate` as given.
fn arp_bond(t: &Topo, validate: &str) {
    t.bond(&[
        "--mode",
        "active-backup",
        "--arp-interval",
        "100",
        "--arp-ip-target",
        CLIENT,
        "--arp-validate",
        validate,
    ]);
}

/// Issue 17 defect 2 (bond_options.sh arp_validate on a shared segment): the ARP monitor
/// probes only through the active member, as the kernel's bond_ab_arp_probe, so the switch
/// learns the bond's MAC there and unicast to the bond arrives. Before the fix every member
/// probed with the bond's MAC: the switch delivered to whichever probed last, often a backup
/// that drops it (most starts lost ~all datagrams).
#[test]
fn arp_monitor_on_a_shared_segment_delivers_unicast_to_the_active_member() {
    let t = Topo::new("arpu");
    let mut lost_starts = Vec::new();
    for start in 0..5 {
        arp_bond(&t, ["none", "active", "backup", "all"][start % 4]);
        let ctl = bondxdp_tests::controller::Controller::start(&t.server, &[], 1);
        assert!(
            eventually(5000, || links(&t.server) == ["up", "up"]),
            "start {start}: members {:?}\n{}",
            links(&t.server),
            ctl.log()
        );
        // Several probe rounds, so the switch has seen whatever the probes teach it.
        std::thread::sleep(std::time::Duration::from_millis(600));
        let (report, ()) = bondxdp_tests::traffic::udp_stream(
            &t.client,
            &t.server,
            format!("{CLIENT}:7100").parse().unwrap(),
            format!("{SERVER}:7101").parse().unwrap(),
            500,
            std::time::Duration::from_millis(400),
            || {},
        );
        if report.received * 2 < report.sent {
            lost_starts.push((start, report));
        }
        drop(ctl);
        t.server.bondxdp_ok(&["down", "bond0"]);
    }
    assert!(
        lost_starts.is_empty(),
        "starts whose unicast to the bond was lost: {lost_starts:?}"
    );
}

/// Issue 17 defect 2: the switch stops forwarding the target's frames to the active member's
/// port (nftables in the switch); the active member hears no answers, its own probes (flooded
/// to the other member) do not count for it, so the bond fails over, as the kernel's
/// bond_ab_arp_inspect. Before the fix the bond's own probes kept it up forever.
#[test]
fn arp_monitor_fails_over_when_the_target_stops_reaching_the_active_member() {
    for validate in ["active", "all"] {
        let t = Topo::new(if validate == "all" { "arpf3" } else { "arpf1" });
        arp_bond(&t, validate);
        let ctl = bondxdp_tests::controller::Controller::start(&t.server, &[], 1);
        assert!(
            eventually(5000, || links(&t.server) == ["up", "up"]),
            "{validate}: members {:?}\n{}",
            links(&t.server),
            ctl.log()
        );
        let before = active_member(&t.server);
        let port = if before == "eth0" { "s0" } else { "s1" };
        let client_mac = mac_of(&t.client, "eth0");
        t.switch.exec_ok(&["nft", "add table bridge cut"]);
        t.switch.exec_ok(&[
            "nft",
            "add chain bridge cut forward { type filter hook forward priority 0; }",
        ]);
        t.switch.exec_ok(&[
            "nft",
            &format!("add rule bridge cut forward oifname {port} ether saddr {client_mac} drop"),
        ]);
        assert!(
            eventually(3000, || active_member(&t.server) != before),
            "{validate}: still on {before}, members {:?}\n{}",
            links(&t.server),
            ctl.log()
        );
        // (The old active member may come back as a backup: the bond's probes, flooded to it,
        // are what a backup is judged by.)
        assert!(reaches(&t.client, SERVER), "{validate}: after the failover");
    }
}

/// bonding.rst arp_validate filter: nothing is validated, but only ARP frames count as
/// received traffic. The client stops sending ARP (nftables) but streams unicast to the
/// bond: with `none` that traffic keeps the active member up; after `set arp_validate
/// filter` it no longer counts and the active member fails.
#[test]
fn arp_validate_filter_counts_only_arp_as_received_traffic() {
    let t = Topo::new("arpflt");
    arp_bond(&t, "none");
    let ctl = bondxdp_tests::controller::Controller::start(&t.server, &[], 1);
    assert!(
        eventually(5000, || links(&t.server) == ["up", "up"]),
        "members {:?}\n{}",
        links(&t.server),
        ctl.log()
    );
    let bond_mac = mac_of(&t.server, "bond0");
    t.client.ip(&[
        "neigh",
        "replace",
        SERVER,
        "lladdr",
        &bond_mac,
        "dev",
        "eth0",
        "nud",
        "permanent",
    ]);
    t.client.exec_ok(&["nft", "add table arp quiet"]);
    t.client.exec_ok(&[
        "nft",
        "add chain arp quiet out { type filter hook output priority 0; policy drop; }",
    ]);
    let before = active_member(&t.server);
    let still = |ms: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        while std::time::Instant::now() < deadline {
            if active_member(&t.server) != before || links(&t.server) != ["up", "up"] {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        true
    };
    let (report, (kept, moved)) = bondxdp_tests::traffic::udp_stream(
        &t.client,
        &t.server,
        format!("{CLIENT}:7200").parse().unwrap(),
        format!("{SERVER}:7201").parse().unwrap(),
        200,
        std::time::Duration::from_secs(6),
        || {
            // No ARP from the target, but unicast keeps arriving: any frame counts.
            let kept = still(2000);
            t.server
                .bondxdp_ok(&["set", "bond0", "arp_validate=filter"]);
            let moved = eventually(3000, || active_member(&t.server) != before);
            (kept, moved)
        },
    );
    assert!(
        report.received > 0,
        "the unicast stream arrived: {report:?}"
    );
    assert!(
        kept,
        "with none, unicast kept the active member up\n{}",
        ctl.log()
    );
    assert!(
        moved,
        "with filter, {before} stayed active on unicast alone: members {:?}\n{}",
        links(&t.server),
        ctl.log()
    );
}

/// bond_topo_3d1c.sh's member MACs.
const MACS: [&str; 3] = [
    "00:0a:0b:0c:0d:01",
    "00:0a:0b:0c:0d:02",
    "00:0a:0b:0c:0d:03",
];

/// The 3d1c topology with the selftest's MACs on eth0-eth2, eth0's switch port down (so the
/// bond must pick another member than the first), `bondxdp up` with `options` and a running
/// controller; waits for eth1 to be active.
fn three_members(tag: &str, options: &[&str]) -> (Topo, bondxdp_tests::controller::Controller) {
    let t = Topo::new(tag);
    veth(&t.server, "eth2", &t.switch, "s2");
    t.switch.ip(&["link", "set", "s2", "master", "br0"]);
    t.switch.ip(&["link", "set", "s2", "up"]);
    for (i, mac) in MACS.iter().enumerate() {
        t.server
            .ip(&["link", "set", &format!("eth{i}"), "address", mac]);
    }
    t.switch.ip(&["link", "set", "s0", "down"]);
    let mut args = vec!["up", "bond0", "--mode", "active-backup", "--miimon", "100"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["-m", "eth0", "-m", "eth1", "-m", "eth2"]);
    t.server.bondxdp_ok(&args);
    t.server
        .ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "bond0"]);
    let ctl = bondxdp_tests::controller::Controller::start(&t.server, &[], 1);
    wait_active(&t, "eth1", &ctl);
    (t, ctl)
}

fn wait_active(t: &Topo, want: &str, ctl: &bondxdp_tests::controller::Controller) {
    assert!(
        eventually(5000, || active_member(&t.server) == want),
        "active {} (want {want})\n{}",
        active_member(&t.server),
        ctl.log()
    );
}

/// bond_options.sh `do_active_backup_failover`: the active member goes down until another
/// takes over, then comes back (eth0 stays cut at the switch, so eth2 takes over).
fn fail_over(t: &Topo, ctl: &bondxdp_tests::controller::Controller) {
    let was = active_member(&t.server);
    t.server.ip(&["link", "set", &was, "down"]);
    assert!(
        eventually(5000, || {
            let now = active_member(&t.server);
            !now.is_empty() && now != was
        }),
        "no failover from {was}\n{}",
        ctl.log()
    );
    t.server.ip(&["link", "set", &was, "up"]);
}

/// Every member's MAC, eth0 first.
fn member_macs(t: &Topo) -> Vec<String> {
    (0..3)
        .map(|i| mac_of(&t.server, &format!("eth{i}")))
        .collect()
}

/// `what` holds within a few hundred ms (the controller moves MACs just before it publishes
/// the failover that status shows).
fn settles(what: &str, mut ok: impl FnMut() -> bool, t: &Topo) {
    assert!(
        eventually(2000, &mut ok),
        "{what}: members {:?}, bond {}",
        member_macs(t),
        mac_of(&t.server, "bond0")
    );
}

/// Ported from bond_options.sh `fail_over_mac` (3d1c, eth0's switch port down), mode
/// active-backup, miimon 100, with traffic checked too:
/// - `none`: every member has the bond's MAC, before and after a failover;
/// - `active`: the bond's MAC is the active member's, no member's MAC changes, and the
///   client reaches the bond after the failover (the gratuitous ARPs carry the new MAC);
/// - `follow`: the bond keeps the first member's MAC, the active member has it, backups have
///   the other members' (mac[1], mac[2]), through a failover; the first member removed and
///   added back does not keep the bond's MAC, and gets its own back when it leaves.
///
/// `down` gives every member its own MAC back (the kernel leaves fail_over_mac members as
/// they are; bondxdp restores, docs/conformance.md).
#[test]
fn fail_over_mac_none_active_and_follow_move_the_macs_as_the_kernel_does() {
    // none
    let (t, ctl) = three_members("fom0", &[]);
    let all_bonds = |t: &Topo| {
        let bond = mac_of(&t.server, "bond0");
        member_macs(t).iter().all(|m| *m == bond)
    };
    settles(
        "none: all members have the bond's MAC",
        || all_bonds(&t),
        &t,
    );
    fail_over(&t, &ctl);
    settles(
        "none, failover: all members have the bond's MAC",
        || all_bonds(&t),
        &t,
    );
    drop(ctl);
    drop(t);

    // active
    let (t, ctl) = three_members("fom1", &["--fail-over-mac", "active"]);
    let bond_is_active =
        |t: &Topo| mac_of(&t.server, "bond0") == mac_of(&t.server, &active_member(&t.server));
    let members_unchanged = |t: &Topo| member_macs(t) == MACS;
    settles(
        "active: the bond has the active member's MAC",
        || bond_is_active(&t),
        &t,
    );
    assert!(
        members_unchanged(&t),
        "active: members {:?}",
        member_macs(&t)
    );
    assert_eq!(mac_of(&t.server, "bond0"), MACS[1]);
    for i in 0..3 {
        let shown = t.server.ip(&["-d", "link", "show", &format!("eth{i}")]);
        assert!(
            shown.contains("promiscuity 0"),
            "members are not promiscuous: {shown}"
        );
    }
    assert!(
        reaches(&t.client, SERVER),
        "active: client reaches the bond"
    );
    fail_over(&t, &ctl);
    assert_eq!(active_member(&t.server), "eth2");
    settles(
        "active, failover: the bond has eth2's MAC",
        || mac_of(&t.server, "bond0") == MACS[2],
        &t,
    );
    assert!(
        members_unchanged(&t),
        "active, failover: members {:?}",
        member_macs(&t)
    );
    assert!(
        reaches(&t.client, SERVER),
        "active, failover: client reaches the bond"
    );
    let neigh = t.client.ip(&["neigh", "show", SERVER]);
    assert!(
        neigh.contains(MACS[2]),
        "the client learned the new MAC: {neigh}"
    );
    t.server.bondxdp_ok(&["down", "bond0"]);
    assert_eq!(member_macs(&t), MACS, "active: down restores");
    drop(ctl);
    drop(t);

    // follow
    let (t, ctl) = three_members("fom2", &["--fail-over-mac", "follow"]);
    let follow_holds = |t: &Topo| {
        let bond = mac_of(&t.server, "bond0");
        let active = active_member(&t.server);
        bond == MACS[0]
            && mac_of(&t.server, &active) == bond
            && (0..3)
                .map(|i| format!("eth{i}"))
                .filter(|m| *m != active)
                .all(|m| {
                    let mac = mac_of(&t.server, &m);
                    mac == MACS[1] || mac == MACS[2]
                })
    };
    settles(
        "follow: bond has the first MAC, the active has it, backups inherit",
        || follow_holds(&t),
        &t,
    );
    assert_eq!(
        member_macs(&t),
        [MACS[1], MACS[0], MACS[2]],
        "eth1 and eth0 swapped"
    );
    assert!(
        reaches(&t.client, SERVER),
        "follow: client reaches the bond"
    );
    fail_over(&t, &ctl);
    assert_eq!(active_member(&t.server), "eth2");
    settles("follow, failover", || follow_holds(&t), &t);
    assert_eq!(
        member_macs(&t),
        [MACS[1], MACS[2], MACS[0]],
        "eth2 took the bond's, eth1 eth2's"
    );
    assert!(
        reaches(&t.client, SERVER),
        "follow, failover: client reaches the bond"
    );
    // check_first_slave_random_mac: eth0 leaves (its own MAC back) and joins again with
    // the bond's MAC, which the active member has: it must not keep it.
    t.server.bondxdp_ok(&["member", "del", "bond0", "eth0"]);
    assert_eq!(
        mac_of(&t.server, "eth0"),
        MACS[0],
        "eth0 left with its own MAC"
    );
    t.server.bondxdp_ok(&["member", "add", "bond0", "eth0"]);
    let eth0 = mac_of(&t.server, "eth0");
    assert_ne!(
        eth0, MACS[0],
        "eth0 joined with the bond's MAC and gave it up"
    );
    assert_ne!(eth0, mac_of(&t.server, "eth1"));
    assert_ne!(eth0, mac_of(&t.server, "eth2"));
    t.server.bondxdp_ok(&["member", "del", "bond0", "eth0"]);
    assert_eq!(
        mac_of(&t.server, "eth0"),
        MACS[0],
        "eth0's own MAC restored"
    );
    t.server.bondxdp_ok(&["down", "bond0"]);
    assert_eq!(member_macs(&t), MACS, "follow: down restores");
}
