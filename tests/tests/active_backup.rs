//! active-backup's kernel options beyond the primary: per-member `prio` (the kernel
//! selftests option_prio.sh and bond_options.sh `prio`), `active_slave`, `peer_notif_delay`
//! (bond_options.sh `num_grat_arp`) and `resend_igmp`, against a running controller.

use std::time::Duration;

use bondxdp_tests::{Pair, capture::Capture, controller::Controller, eventually};

fn active(p: &Pair) -> String {
    p.a.status("bond0")["active"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Waits until the data plane has `member` up (or down), so a decision that follows a link
/// change has been made.
fn wait_link(p: &Pair, member: &str, up: bool) {
    let want = if up { "up" } else { "down" };
    let ok = eventually(3000, || {
        p.a.status("bond0")["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == member && m["link"] == want)
    });
    assert!(ok, "{member} never {want}");
}

fn wait_active(p: &Pair, want: &str, what: &str) {
    assert!(
        eventually(3000, || active(p) == want),
        "{what}: active {} (want {want})",
        active(p)
    );
}

/// Gratuitous ARPs for 198.18.0.1 (host A's address) among `frames`.
fn is_garp(f: &[u8]) -> bool {
    f.len() >= 42
        && f[12..14] == [8, 6]
        && f[28..32] == [198, 18, 0, 1]
        && f[38..42] == [198, 18, 0, 1]
}

/// option_prio.sh / bond_options.sh `prio`: primary a1, prio a0=0, a1=10, a2=11; the primary
/// fails, then the next highest, then the higher comes back, then the primary, under each
/// primary_reselect policy.
#[test]
fn prio_with_a_primary_follows_primary_reselect() {
    for (policy, after_a2_up, after_a1_up) in [
        ("always", "a2", "a1"),
        ("better", "a0", "a0"),
        ("failure", "a0", "a0"),
    ] {
        let p = Pair::new("abp", 3);
        p.bond_side(
            "a",
            &[
                "--mode",
                "active-backup",
                "--miimon",
                "100",
                "--primary",
                "a1",
                "--primary-reselect",
                policy,
                "--prio",
                "a0=0",
                "--prio",
                "a1=10",
                "--all-slaves-active",
            ],
        );
        // `set` takes one member's priority by itself.
        p.a.bondxdp_ok(&["set", "bond0", "prio.a2=11"]);
        assert_eq!(
            p.a.status("bond0")["options"]["prio"],
            "a1=10,a2=11",
            "{policy}"
        );
        p.bond_side("b", &["--mode", "balance-xor"]);
        let _ctl = Controller::start(&p.a, &[], 1);
        wait_active(&p, "a1", &format!("{policy}: the primary"));
        p.b.ip(&["link", "set", "b1", "down"]);
        wait_active(&p, "a2", &format!("{policy}: primary down, highest prio"));
        p.b.ip(&["link", "set", "b2", "down"]);
        wait_active(&p, "a0", &format!("{policy}: the only member up"));
        p.b.ip(&["link", "set", "b2", "up"]);
        wait_link(&p, "a2", true);
        wait_active(&p, after_a2_up, &format!("{policy}: higher prio back"));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            active(&p),
            after_a2_up,
            "{policy}: higher prio back, settled"
        );
        p.b.ip(&["link", "set", "b1", "up"]);
        wait_link(&p, "a1", true);
        wait_active(&p, after_a1_up, &format!("{policy}: primary back"));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(active(&p), after_a1_up, "{policy}: primary back, settled");
        p.ping_ok();
    }
}

/// option_prio.sh without a primary: the highest priority is active, the next takes over,
/// and the highest takes over again when it comes back (primary_reselect always).
#[test]
fn prio_without_a_primary_picks_the_highest_usable_member() {
    let p = Pair::new("abn", 3);
    p.bond_side(
        "a",
        &[
            "--mode",
            "active-backup",
            "--prio",
            "a0=-3",
            "--prio",
            "a1=20",
            "--prio",
            "a2=7",
            "--all-slaves-active",
        ],
    );
    p.bond_side("b", &["--mode", "balance-xor"]);
    let _ctl = Controller::start(&p.a, &[], 1);
    wait_active(&p, "a1", "highest prio");
    p.b.ip(&["link", "set", "b1", "down"]);
    wait_active(&p, "a2", "next highest");
    p.b.ip(&["link", "set", "b1", "up"]);
    wait_active(&p, "a1", "highest back");
    p.ping_ok();
    // A priority change on the running bond takes effect at once.
    p.a.bondxdp_ok(&["set", "bond0", "prio.a0=30"]);
    wait_active(&p, "a0", "a0 raised above the others");
    p.ping_ok();
}

/// `set bond0 active_slave IF` moves traffic at once and announces the move as a failover
/// does; a member that is down or not a member is refused.
#[test]
fn active_slave_moves_traffic_and_announces_it() {
    let p = Pair::new("abs", 3);
    p.bond_side(
        "a",
        &[
            "--mode",
            "active-backup",
            "--num-grat-arp",
            "2",
            "--all-slaves-active",
        ],
    );
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    let _ctl = Controller::start(&p.a, &[], 1);
    wait_active(&p, "a0", "first member");
    let cap = Capture::start(&p.b, "b2");
    let b2_before = p.b.rx_packets("b2");
    p.a.bondxdp_ok(&["set", "bond0", "active_slave=a2"]);
    assert_eq!(active(&p), "a2", "active at once");
    let garps = cap
        .frames(Duration::from_secs(2), 50)
        .iter()
        .filter(|f| is_garp(f))
        .count();
    assert_eq!(garps, 2, "gratuitous ARPs through the new active member");
    p.a.exec_ok(&[
        "ping",
        "-c",
        "5",
        "-i",
        "0.1",
        "-W",
        "2",
        bondxdp_tests::netns::ADDR_B,
    ]);
    assert!(
        p.b.rx_packets("b2") >= b2_before + 5,
        "the pings went through a2"
    );
    // It stays: no primary to take over.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(active(&p), "a2");
    // Refused: a member whose link is down, an interface that is not a member.
    p.b.ip(&["link", "set", "b1", "down"]);
    wait_link(&p, "a1", false);
    let out = p.a.bondxdp(&["set", "bond0", "active_slave=a1"]);
    assert!(!out.status.success(), "a down member accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("down"));
    let out = p.a.bondxdp(&["set", "bond0", "active_slave=lo"]);
    assert!(!out.status.success(), "a non-member accepted");
    assert_eq!(active(&p), "a2");
}

/// bond_options.sh `num_grat_arp` with `peer_notif_delay`: after a failover, num_grat_arp
/// gratuitous ARPs reach the new active member's peer, peer_notif_delay apart.
#[test]
fn peer_notif_delay_spaces_the_gratuitous_arps() {
    let p = Pair::new("abd", 2);
    p.bond_side(
        "a",
        &[
            "--mode",
            "active-backup",
            "--miimon",
            "100",
            "--num-grat-arp",
            "4",
            "--peer-notif-delay",
            "300",
            "--all-slaves-active",
        ],
    );
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    // Not a multiple of miimon: refused, as the kernel does.
    let out = p.a.bondxdp(&["set", "bond0", "peer_notif_delay=150"]);
    assert!(!out.status.success(), "150 ms with miimon 100 accepted");
    let _ctl = Controller::start(&p.a, &[], 1);
    wait_active(&p, "a0", "first member");
    let cap = Capture::start(&p.b, "b1");
    p.b.ip(&["link", "set", "b0", "down"]);
    let garps: Vec<Duration> = cap
        .frames_stamped(Duration::from_secs(3), 200)
        .into_iter()
        .filter(|(_, f)| is_garp(f))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(garps.len(), 4, "gratuitous ARPs: {garps:?}");
    for w in garps.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(280) && gap <= Duration::from_millis(1000),
            "gap {gap:?} (peer_notif_delay 300 ms): {garps:?}"
        );
    }
    // The monitor was not held up meanwhile: the link comes back at once.
    p.b.ip(&["link", "set", "b0", "up"]);
    wait_link(&p, "a0", true);
}

/// `resend_igmp`: after a failover, membership reports for the bond's groups go out through
/// the new active member, 200 ms apart: IGMPv3 for its IPv4 groups and MLDv2 (from its
/// link-local address) for its IPv6 groups, as the kernel's NETDEV_RESEND_IGMP does.
#[test]
fn resend_igmp_reports_the_bonds_groups_through_the_new_active_member() {
    let p = Pair::new("abi", 2);
    p.bond_side(
        "a",
        &[
            "--mode",
            "active-backup",
            "--resend-igmp",
            "3",
            "--all-slaves-active",
        ],
    );
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    p.a.ip(&["addr", "add", "239.1.2.3/32", "dev", "bond0", "autojoin"]);
    p.a.ip(&["addr", "add", "ff0e::1234/128", "dev", "bond0", "autojoin"]);
    let group6: [u8; 16] = "ff0e::1234".parse::<std::net::Ipv6Addr>().unwrap().octets();
    let _ctl = Controller::start(&p.a, &[], 1);
    wait_active(&p, "a0", "first member");
    // Let the stack's own unsolicited reports (through a0) be done with.
    std::thread::sleep(Duration::from_millis(2500));
    let cap = Capture::start(&p.b, "b1");
    p.b.ip(&["link", "set", "b0", "down"]);
    let frames = cap.frames_stamped(Duration::from_secs(3), 500);
    let igmp: Vec<Duration> = frames
        .iter()
        .filter(|(_, f)| {
            f.len() >= 38
                && f[12..14] == [8, 0]
                && f[14 + 9] == 2
                && f.windows(4).skip(38).any(|w| w == [239, 1, 2, 3])
        })
        .map(|(t, _)| *t)
        .collect();
    // MLDv2 reports: IPv6, hop-by-hop first, ICMPv6 type 143 after it, naming the group.
    let mld: Vec<Duration> = frames
        .iter()
        .filter(|(_, f)| {
            f.len() >= 70
                && f[12..14] == [0x86, 0xdd]
                && f[20] == 0
                && f[21] == 1
                && f[22..24] == [0xfe, 0x80]
                && f[62] == 143
                && f.windows(16).skip(62).any(|w| w == group6)
        })
        .map(|(t, _)| *t)
        .collect();
    for (what, reports) in [
        ("IGMP reports for 239.1.2.3", &igmp),
        ("MLD reports for ff0e::1234", &mld),
    ] {
        assert_eq!(reports.len(), 3, "{what} on b1: {reports:?}");
        for w in reports.windows(2) {
            let gap = w[1] - w[0];
            assert!(
                gap >= Duration::from_millis(180) && gap <= Duration::from_millis(1000),
                "{what}: gap {gap:?} (200 ms): {reports:?}"
            );
        }
    }
}
