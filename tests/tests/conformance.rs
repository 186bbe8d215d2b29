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
    // carrier, so the probes were what kept them up.
    t.switch.ip(&["addr", "del", "fe80::5/64", "dev", "br0"]);
    assert!(
        eventually(8000, || links(&t.server) == ["down", "down"]),
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

/// The server's active member, from `status`.
fn active(ns: &Netns) -> String {
    ns.status("bond0")["active"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Issue 17: the ARP monitor in active-backup on a shared segment (the bond's members on one
/// switch, the target behind it) sent its probes through every member with the bond's MAC,
/// so the switch learned that MAC on whichever member probed last and unicast to the bond
/// landed on a backup and was dropped (10 of 16 bond starts lost nearly all of it). The
/// kernel's `bond_ab_arp_probe` probes through the active member only. Four starts, each
/// receiving 300 datagrams from the client: the old code lost most of them in most starts.
#[test]
fn arp_monitor_on_a_shared_segment_delivers_unicast_to_the_active_member() {
    use bondxdp_tests::{controller::Controller, traffic::udp_stream};
    for round in 0..4 {
        let t = Topo::new(&format!("aru{round}"));
        t.bond(&[
            "--mode",
            "active-backup",
            "--arp-interval",
            "100",
            "--arp-ip-target",
            CLIENT,
            "--arp-validate",
            "all",
        ]);
        let ctl = Controller::start(&t.server, &[], 1);
        assert!(
            eventually(5000, || links(&t.server) == ["up", "up"]),
            "round {round}: members {:?}\n{}",
            links(&t.server),
            ctl.log()
        );
        // Several probe rounds: the switch has learned what the probes teach it.
        std::thread::sleep(std::time::Duration::from_millis(800));
        let (report, ()) = udp_stream(
            &t.client,
            &t.server,
            format!("{CLIENT}:7600").parse().unwrap(),
            format!("{SERVER}:7601").parse().unwrap(),
            1000,
            std::time::Duration::from_millis(300),
            || {},
        );
        assert!(
            report.lost <= 3,
            "round {round}: {} of {} datagrams to the bond lost (status drops: {})",
            report.lost,
            report.sent,
            t.server.status("bond0")["drops"]
        );
        t.server.bondxdp_ok(&["down", "bond0"]);
    }
}

/// Issue 17: with the target's replies no longer reaching the active member (dropped at its
/// switch port), the kernel fails over (the active member's `last_rx` goes stale; the bond's
/// own probes, flooded back by the switch, count only for backups and only once the active
/// member had a valid reply since it became active). bondxdp counted those flooded probes for
/// the active member too and never failed over. Every arp_validate value that validates the
/// active member, and none (judged by any received traffic).
#[test]
fn arp_monitor_fails_over_when_the_target_stops_reaching_the_active_member() {
    use bondxdp_tests::controller::Controller;
    for validate in ["all", "active", "none"] {
        let t = Topo::new(&format!("arf{}", &validate[..2]));
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
        let ctl = Controller::start(&t.server, &[], 1);
        assert!(
            eventually(5000, || links(&t.server) == ["up", "up"]
                && active(&t.server) == "eth0"),
            "{validate}: members {:?}, active {}\n{}",
            links(&t.server),
            active(&t.server),
            ctl.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
        // The switch stops delivering ARP replies to the active member's port: its path to
        // the target is dead, its carrier up; requests (the bond's own probes, flooded) still
        // arrive there.
        t.switch
            .exec_ok(&["nft", "add", "table", "netdev", "arpdrop"]);
        t.switch.exec_ok(&[
            "nft",
            "add chain netdev arpdrop c { type filter hook egress device s0 priority 0; }",
        ]);
        t.switch.exec_ok(&[
            "nft",
            "add rule netdev arpdrop c ether type arp arp operation reply drop",
        ]);
        assert!(
            eventually(3000, || active(&t.server) == "eth1"),
            "{validate}: no failover: active {}, members {:?}\n{}",
            active(&t.server),
            links(&t.server),
            ctl.log()
        );
        assert!(
            reaches(&t.client, SERVER),
            "{validate}: the bond unreachable after failover"
        );
    }
}

/// `arp_validate` filter values (bonding.rst): members whose answers are not validated count
/// only ARP as received traffic. Backup eth1 (not validated with `active` or
/// `filter_active`) stops receiving ARP at its switch port while the client broadcasts pings:
/// with `active` the pings keep it up, with `filter_active` it goes down.
#[test]
fn arp_validate_filter_counts_only_arp_as_received_traffic() {
    use bondxdp_tests::controller::Controller;
    for (validate, backup_stays_up) in [("active", true), ("filter_active", false)] {
        let t = Topo::new(&format!("avf{}", &validate[..3]));
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
        let ctl = Controller::start(&t.server, &[], 1);
        assert!(
            eventually(5000, || links(&t.server) == ["up", "up"]),
            "{validate}: members {:?}\n{}",
            links(&t.server),
            ctl.log()
        );
        let mut pings = Command::new("ip")
            .args(["netns", "exec", t.client.name(), "ping", "-q", "-b"])
            .args(["-i", "0.05", "-w", "6", "198.18.0.255"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ping");
        std::thread::sleep(std::time::Duration::from_millis(300));
        t.switch.drop_ethertype("s1", "egress", 0x0806);
        let went_down = eventually(2500, || links(&t.server)[1] == "down");
        let _ = pings.kill();
        let _ = pings.wait();
        assert_eq!(
            went_down,
            !backup_stays_up,
            "{validate}: backup {:?}\n{}",
            links(&t.server),
            ctl.log()
        );
    }
}
