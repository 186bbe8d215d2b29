//! The legacy tc attach (`--tc-attach legacy`: a clsact qdisc and cls_bpf filters, what
//! kernels without tcx get), forced on this kernel: each mode's traffic, a live mode change
//! under a stream (the filter's program replaced in place, nothing lost), failover and a
//! `kill -9` of the controller with traffic flowing, and `down` (also after the bond
//! interface vanished) leaving no filter, qdisc or pin of bondxdp's, and nobody else's
//! removed. Host B keeps tcx, so every test also runs legacy against tcx.

use std::{net::SocketAddr, time::Duration};

use bondxdp_tests::{
    LACP_FAST, Netns, Pair,
    controller::Controller,
    eventually,
    netns::{ADDR_A, ADDR_B},
    traffic::{tcp_echo, udp_burst, udp_stream},
    wan::{SERVER4, Wan},
};

const LEGACY: [&str; 2] = ["--tc-attach", "legacy"];

fn sock(addr: &str, port: u16) -> SocketAddr {
    format!("{addr}:{port}").parse().unwrap()
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// `up` options with the legacy attach forced.
fn legacy(options: &[&'static str]) -> Vec<&'static str> {
    options.iter().copied().chain(LEGACY).collect()
}

/// `tc filter show dev IFACE DIRECTION`.
fn filters(ns: &Netns, iface: &str, direction: &str) -> String {
    ns.exec_ok(&["tc", "filter", "show", "dev", iface, direction])
}

/// Whether `iface` has a clsact qdisc.
fn has_clsact(ns: &Netns, iface: &str) -> bool {
    ns.exec_ok(&["tc", "qdisc", "show", "dev", iface])
        .contains("clsact")
}

/// The program of bondxdp's filter (pref 48384, handle 0xbd) on `iface` in `direction`.
fn legacy_program(ns: &Netns, iface: &str, direction: &str) -> Option<String> {
    let text = filters(ns, iface, direction);
    let line = text
        .lines()
        .find(|l| l.contains("pref 48384") && l.contains("handle 0xbd "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "handle")?;
    Some(words.get(at + 2)?.to_string())
}

/// Names of the tcx programs on `iface` in `direction` (none, with legacy forced).
fn tcx_programs(ns: &Netns, iface: &str, direction: aya::programs::TcAttachType) -> Vec<String> {
    let iface = iface.to_string();
    ns.enter(move || bondxdp::loader::attached_programs(&iface, direction).unwrap_or_default())
}

/// Packets each of host `ns`'s `members` sent.
fn tx(ns: &Netns, members: &[String]) -> Vec<u64> {
    members.iter().map(|m| ns.tx_packets(m)).collect()
}

fn delta(after: &[u64], before: &[u64]) -> Vec<u64> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

/// Asserts that A's bond runs on bondxdp's filters: `egress` on bond0, `member_ingress` on
/// every member, no tcx program anywhere.
fn assert_on_filters(p: &Pair, egress: &str, ingress: &str) {
    use aya::programs::TcAttachType::{Egress, Ingress};
    assert_eq!(
        legacy_program(&p.a, "bond0", "egress").as_deref(),
        Some(egress),
        "{}",
        filters(&p.a, "bond0", "egress")
    );
    assert!(tcx_programs(&p.a, "bond0", Egress).is_empty());
    for m in p.members("a") {
        assert_eq!(
            legacy_program(&p.a, &m, "ingress").as_deref(),
            Some(ingress),
            "{m}: {}",
            filters(&p.a, &m, "ingress")
        );
        assert!(tcx_programs(&p.a, &m, Ingress).is_empty(), "{m}");
    }
}

/// Asserts that nothing of bondxdp's is left on A: no filter on its members, no clsact
/// qdisc on those in `bare` (the ones that had none), no pins.
fn assert_nothing_left(ns: &Netns, members: &[String], bare: &[String]) {
    for m in members {
        for direction in ["ingress", "egress"] {
            let f = filters(ns, m, direction);
            assert!(
                !f.contains("pref 48384"),
                "bondxdp's filter left on {m} {direction}: {f}"
            );
        }
    }
    for m in bare {
        assert!(!has_clsact(ns, m), "clsact left on {m}");
    }
    assert!(
        !ns.pin_dir().exists(),
        "pins left in {}",
        ns.pin_dir().display()
    );
}

#[test]
fn modes_carry_traffic_and_a_live_mode_change_loses_nothing() {
    let p = Pair::new("lgm", 3);
    p.bond_side("a", &legacy(&["--mode", "balance-rr"]));
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    let members = p.members("a");
    assert_on_filters(&p, "egress_rr", "member_ingress");
    // status says how: JSON and text; B, not forced, has tcx.
    assert_eq!(p.a.status("bond0")["tc_attach"], "legacy");
    assert_eq!(p.b.status("bond0")["tc_attach"], "tcx");
    assert!(
        p.a.bondxdp_ok(&["status", "bond0"])
            .contains("TC Attach: legacy (clsact qdisc, cls_bpf filters)")
    );
    // Fixed at `up`.
    let out = p.a.bondxdp(&["set", "bond0", "tc_attach=tcx"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot change on a running bond"));

    // balance-rr: TCP both ways; one flow over every member.
    let bytes = 1 << 20;
    assert_eq!(tcp_echo(&p.a, &p.b, sock(ADDR_B, 5001), bytes), bytes);
    let before = tx(&p.a, &members);
    udp_burst(&p.a, sock(ADDR_A, 4000), sock(ADDR_B, 9), 300, 64);
    let d = delta(&tx(&p.a, &members), &before);
    assert!(
        d.iter().all(|&n| (90..=115).contains(&n)),
        "balance-rr {d:?}"
    );

    // Mode changes under a 4000/s stream: each replaces the egress filter's program in
    // place; a packet meeting no filter would leave through the bond's idle veth peer.
    let (report, ()) = udp_stream(
        &p.a,
        &p.b,
        sock(ADDR_A, 7000),
        sock(ADDR_B, 7001),
        4000,
        Duration::from_millis(2500),
        || {
            sleep_ms(300);
            for mode in [
                "mode=balance-xor",
                "mode=broadcast",
                "mode=active-backup",
                "mode=balance-rr",
                "mode=broadcast",
                "mode=balance-xor",
            ] {
                p.a.bondxdp_ok(&["set", "bond0", mode]);
            }
        },
    );
    eprintln!("live mode changes on legacy filters: {report:?}");
    assert!(report.rate > 3000.0, "sender too slow: {report:?}");
    assert_eq!(report.lost, 0, "lost across the swaps: {report:?}");

    // balance-xor (layer2): every flow to B through one member.
    assert_on_filters(&p, "egress_xor_l2", "member_ingress");
    let before = tx(&p.a, &members);
    udp_burst(&p.a, sock(ADDR_A, 4001), sock(ADDR_B, 9), 300, 64);
    let d = delta(&tx(&p.a, &members), &before);
    assert_eq!(
        d.iter().filter(|&&n| n >= 300).count(),
        1,
        "balance-xor {d:?}"
    );

    // broadcast: every packet through every member.
    p.a.bondxdp_ok(&["set", "bond0", "mode=broadcast"]);
    assert_eq!(
        legacy_program(&p.a, "bond0", "egress").as_deref(),
        Some("egress_bcast")
    );
    let before = tx(&p.a, &members);
    udp_burst(&p.a, sock(ADDR_A, 4002), sock(ADDR_B, 9), 300, 64);
    let d = delta(&tx(&p.a, &members), &before);
    assert!(
        d.iter().all(|&n| (300..=305).contains(&n)),
        "broadcast {d:?}"
    );

    // active-backup: the active member only.
    p.a.bondxdp_ok(&["set", "bond0", "mode=active-backup", "primary=a1"]);
    assert_eq!(
        legacy_program(&p.a, "bond0", "egress").as_deref(),
        Some("egress_ab")
    );
    let before = tx(&p.a, &members);
    udp_burst(&p.a, sock(ADDR_A, 4003), sock(ADDR_B, 9), 300, 64);
    let d = delta(&tx(&p.a, &members), &before);
    assert!(d[1] >= 300 && d[0] + d[2] <= 2, "active-backup {d:?}");

    // member del/add: the member's filter goes and comes back; so does its clsact qdisc.
    p.a.bondxdp_ok(&["member", "del", "bond0", "a2"]);
    assert!(legacy_program(&p.a, "a2", "ingress").is_none());
    assert!(
        !has_clsact(&p.a, "a2"),
        "{}",
        filters(&p.a, "a2", "ingress")
    );
    p.a.bondxdp_ok(&["member", "add", "bond0", "a2"]);
    assert_on_filters(&p, "egress_ab", "member_ingress");

    p.a.bondxdp_ok(&["down", "bond0"]);
    assert_nothing_left(&p.a, &members, &members);
    assert!(!p.a.has_link("bond0"));
}

#[test]
fn down_removes_only_bondxdps_filters_and_qdiscs_also_after_a_crash() {
    let p = Pair::new("lgd", 3);
    // a1 has a clsact qdisc and a filter of someone else's: both stay.
    p.a.exec_ok(&["tc", "qdisc", "add", "dev", "a1", "clsact"]);
    p.a.exec_ok(&[
        "tc",
        "filter",
        "add",
        "dev",
        "a1",
        "ingress",
        "protocol",
        "ip",
        "pref",
        "7",
        "u32",
        "match",
        "ip",
        "dst",
        "198.19.255.255/32",
        "classid",
        "1:1",
    ]);
    let foreign = filters(&p.a, "a1", "ingress");
    assert!(foreign.contains("pref 7"), "{foreign}");
    let members = p.members("a");
    let bare: Vec<String> = vec!["a0".into(), "a2".into()];

    p.bond_side("a", &legacy(&["--mode", "balance-xor"]));
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    assert_on_filters(&p, "egress_xor_l2", "member_ingress");
    p.a.bondxdp_ok(&["down", "bond0"]);
    assert_nothing_left(&p.a, &members, &bare);
    assert_eq!(
        filters(&p.a, "a1", "ingress"),
        foreign,
        "the other filter kept"
    );

    // A bond whose interface vanished under it (as after a crash): `down` works from the
    // pinned state alone.
    p.bond_side("a", &legacy(&["--mode", "balance-rr"]));
    p.ping_ok();
    p.a.ip(&["link", "del", "bond0"]);
    p.a.bondxdp_ok(&["down", "bond0"]);
    assert_nothing_left(&p.a, &members, &bare);
    assert_eq!(
        filters(&p.a, "a1", "ingress"),
        foreign,
        "the other filter kept"
    );
}

#[test]
fn failover_and_a_killed_controller_keep_the_stream_flowing() {
    let p = Pair::new("lgf", 3);
    p.bond_side(
        "a",
        &legacy(&[
            "--mode",
            "active-backup",
            "--miimon",
            "100",
            "--all-slaves-active",
        ]),
    );
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    let mut ctl = Controller::start(&p.a, &[], 1);
    let active = || {
        p.a.status("bond0")["active"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(active(), "a0");
    let (report, ()) = udp_stream(
        &p.a,
        &p.b,
        sock(ADDR_A, 7010),
        sock(ADDR_B, 7011),
        4000,
        Duration::from_millis(2500),
        || {
            sleep_ms(600);
            p.b.ip(&["link", "set", "b0", "down"]);
            sleep_ms(700);
            ctl.kill9();
        },
    );
    eprintln!("legacy failover, then kill -9: {report:?}");
    assert!(report.rate > 3000.0, "sender too slow: {report:?}");
    assert!(
        report.longest_gap_ms < 100.0,
        "failover gap {:.1} ms: {report:?}\n{}",
        report.longest_gap_ms,
        ctl.log()
    );
    assert_eq!(active(), "a1");
    // The data plane goes on alone after the kill: nothing lost after the failover.
    let (report, ()) = udp_stream(
        &p.a,
        &p.b,
        sock(ADDR_A, 7012),
        sock(ADDR_B, 7013),
        2000,
        Duration::from_millis(1000),
        || (),
    );
    assert_eq!(report.lost, 0, "{report:?}");
    // A restarted controller adopts it; `down` still cleans up.
    drop(Controller::start(&p.a, &[], 1));
    p.a.bondxdp_ok(&["down", "bond0"]);
    assert_nothing_left(&p.a, &p.members("a"), &p.members("a"));
}

#[test]
fn balance_tlb_alb_and_802_3ad_carry_traffic() {
    let p = Pair::new("lgt", 2);
    let mut b_options = LACP_FAST.to_vec();
    b_options.push("--all-slaves-active");
    p.bond_side("b", &b_options);
    let members = p.members("a");
    for mode in ["balance-tlb", "balance-alb"] {
        // B sends through b0 to A's active receiver a0, and accepts on both members (no
        // switch in between to steer A's frames); its LACP waits for a partner meanwhile.
        p.b.bondxdp_ok(&["set", "bond0", "mode=active-backup", "primary=b0"]);
        p.bond_side("a", &legacy(&["--mode", mode]));
        let ctl = Controller::start(&p.a, &[], 1);
        assert!(
            eventually(5000, || p
                .a
                .exec(&["ping", "-c", "1", "-W", "1", ADDR_B])
                .status
                .success()),
            "{mode}: no ping\n{}",
            ctl.log()
        );
        let bytes = 1 << 20;
        assert_eq!(
            tcp_echo(&p.a, &p.b, sock(ADDR_B, 5002), bytes),
            bytes,
            "{mode}"
        );
        assert_eq!(
            legacy_program(&p.a, "a0", "ingress").as_deref(),
            Some("member_ingress")
        );
        drop(ctl);
        p.a.bondxdp_ok(&["down", "bond0"]);
        assert_nothing_left(&p.a, &members, &members);
    }
    // 802.3ad: LACPDUs reach the controller past the ingress filter, the aggregate forms.
    p.b.bondxdp_ok(&["set", "bond0", "mode=802.3ad"]);
    p.bond_side("a", &legacy(LACP_FAST));
    let _ctl_a = Controller::start(&p.a, &[], 1);
    let _ctl_b = Controller::start(&p.b, &[], 1);
    let distributing = |ns: &Netns| {
        ns.status("bond0")["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["transmitting"].as_bool() == Some(true))
    };
    assert!(
        eventually(10_000, || distributing(&p.a) && distributing(&p.b)),
        "{:#}",
        p.a.status("bond0")
    );
    p.ping_ok();
    assert_eq!(
        legacy_program(&p.a, "bond0", "egress").as_deref(),
        Some("egress_xor_l34")
    );
}

#[test]
fn multi_wan_runs_on_legacy_filters_and_down_removes_them() {
    let wan = Wan::new("lgw", 1);
    wan.bond(&LEGACY);
    wan.home
        .exec_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", SERVER4]);
    assert_eq!(
        legacy_program(&wan.home, "u0", "ingress").as_deref(),
        Some("ingress_mwan")
    );
    assert_eq!(
        legacy_program(&wan.home, "mw0", "egress").as_deref(),
        Some("egress_mwan")
    );
    assert_eq!(wan.home.status("mw0")["tc_attach"], "legacy");
    wan.home.bondxdp_ok(&["down", "mw0"]);
    let uplinks = wan.uplinks();
    assert_nothing_left(&wan.home, &uplinks, &uplinks);
}
