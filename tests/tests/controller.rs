//! The controller (`bondxdp run`) against real link failures: carrier loss, silent failures
//! caught by the ARP monitor, updelay/downdelay, min_links, primary_reselect, crash and
//! restart, live reconfiguration, config files.

use std::{net::SocketAddr, time::Duration};

use bondxdp_tests::{
    Pair,
    capture::Capture,
    controller::Controller,
    eventually,
    netns::{ADDR_A, ADDR_B},
    traffic::{udp_burst, udp_stream},
};

fn sock(addr: &str, port: u16) -> SocketAddr {
    format!("{addr}:{port}").parse().unwrap()
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// The data-plane link state of each member, from `status --json`.
fn links(p: &Pair) -> Vec<String> {
    p.a.status("bond0")["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["link"].as_str().unwrap().to_string())
        .collect()
}

fn active(p: &Pair) -> String {
    p.a.status("bond0")["active"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn carrier_loss_fails_over_under_a_5000_pps_stream() {
    let p = Pair::new("fo", 3);
    // A sends through its active member and (back to back, with no switch to steer B's
    // replies) accepts on every member; B hashes and accepts on every member.
    p.bond_side(
        "a",
        &[
            "--mode",
            "active-backup",
            "--miimon",
            "100",
            "--all-slaves-active",
        ],
    );
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    let ctl = Controller::start(&p.a, &[], 1);
    assert_eq!(active(&p), "a0");
    let (report, ()) = udp_stream(
        &p.a,
        &p.b,
        sock(ADDR_A, 7000),
        sock(ADDR_B, 7001),
        5000,
        Duration::from_secs(3),
        || {
            sleep_ms(1000);
            p.b.ip(&["link", "set", "b0", "down"]);
        },
    );
    eprintln!("carrier-loss failover: {report:?}");
    assert!(report.rate > 4000.0, "sender too slow: {report:?}");
    assert!(
        report.longest_gap_ms < 100.0,
        "failover gap {:.1} ms: {report:?}\n{}",
        report.longest_gap_ms,
        ctl.log()
    );
    assert_eq!(active(&p), "a1");
    assert_eq!(links(&p), ["down", "up", "up"]);
    // The link comes back: usable again (no primary, so a1 stays active).
    p.b.ip(&["link", "set", "b0", "up"]);
    assert!(
        eventually(2000, || links(&p) == ["up", "up", "up"]),
        "{:?}",
        links(&p)
    );
    assert_eq!(active(&p), "a1");
}

#[test]
fn new_active_member_announces_itself_with_gratuitous_arp() {
    let p = Pair::new("ga", 2);
    p.bond_side(
        "a",
        &[
            "--mode",
            "active-backup",
            "--num-grat-arp",
            "3",
            "--all-slaves-active",
        ],
    );
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    let _ctl = Controller::start(&p.a, &[], 1);
    let cap = Capture::start(&p.b, "b1");
    p.b.ip(&["link", "set", "b0", "down"]);
    let frames = cap.frames(Duration::from_secs(2), 20);
    let garps = frames
        .iter()
        .filter(|f| {
            f.len() >= 42
                && f[12..14] == [8, 6]
                && f[28..32] == [198, 18, 0, 1]
                && f[38..42] == [198, 18, 0, 1]
        })
        .count();
    assert_eq!(garps, 3, "gratuitous ARPs for 198.18.0.1 on b1");
    let unsolicited_na = frames
        .iter()
        .filter(|f| f.len() > 62 && f[12..14] == [0x86, 0xdd] && f[54] == 136)
        .count();
    assert!(
        unsolicited_na >= 3,
        "unsolicited NAs for 2001:db8::1: {unsolicited_na}"
    );
}

#[test]
fn arp_monitor_removes_a_silently_dead_member_and_traffic_recovers() {
    let p = Pair::switched("arp", 3);
    // A validates its active member only: each link is its own segment, so A's backups never
    // hear A's own probes, and those (flooded back by a shared switch) are all that validates
    // a backup in the kernel; with `all`, A's backups would rightly stay down.
    let a_opts = [
        "--mode",
        "active-backup",
        "--all-slaves-active",
        "--arp-interval",
        "20",
        "--arp-ip-target",
        ADDR_B,
        "--arp-validate",
        "active",
    ];
    let b_opts = [
        "--mode",
        "balance-xor",
        "--arp-interval",
        "20",
        "--arp-ip-target",
        ADDR_A,
        "--arp-validate",
        "all",
    ];
    p.bond_side("a", &a_opts);
    p.bond_side("b", &b_opts);
    p.ping_ok();
    let ctl_a = Controller::start(&p.a, &[], 1);
    let _ctl_b = Controller::start(&p.b, &[], 1);
    // Probing keeps every member up while all is well.
    sleep_ms(300);
    assert_eq!(links(&p), ["up", "up", "up"], "{}", ctl_a.log());
    let before = active(&p);
    let cut: usize = before[1..].parse().unwrap();
    let (report, ()) = udp_stream(
        &p.a,
        &p.b,
        sock(ADDR_A, 7010),
        sock(ADDR_B, 7011),
        5000,
        Duration::from_secs(3),
        || {
            sleep_ms(1000);
            p.cut_silently(cut);
        },
    );
    eprintln!("silent-failure failover (arp_interval 20 ms): {report:?}");
    assert!(report.lost > 0, "the cut really lost traffic: {report:?}");
    let carrier = |ns: &bondxdp_tests::Netns, i: &str| {
        !ns.exec_ok(&["ip", "-br", "link", "show", i])
            .contains("NO-CARRIER")
    };
    let (ai, bi) = (format!("a{cut}"), format!("b{cut}"));
    assert!(carrier(&p.a, &ai) && carrier(&p.b, &bi), "carriers stay up");
    assert_eq!(links(&p)[cut], "down", "{}", ctl_a.log());
    assert_ne!(active(&p), before);
    assert!(
        report.longest_gap_ms < 500.0,
        "gap {:.1} ms: {report:?}",
        report.longest_gap_ms
    );
    assert!(
        report.received > report.sent * 8 / 10,
        "traffic recovered: {report:?}"
    );
    // The member returns once its peer answers again.
    p.repair(cut);
    assert!(
        eventually(3000, || links(&p) == ["up", "up", "up"]),
        "{:?}",
        links(&p)
    );
}

#[test]
fn downdelay_and_updelay_follow_kernel_semantics() {
    let p = Pair::new("dly", 2);
    p.bond_side(
        "a",
        &[
            "--mode",
            "balance-xor",
            "--miimon",
            "50",
            "--downdelay",
            "400",
            "--updelay",
            "400",
        ],
    );
    p.bond_side("b", &["--mode", "balance-xor"]);
    let ctl = Controller::start(&p.a, &[], 1);
    let generation = |p: &Pair| p.a.status("bond0")["generation"].as_u64().unwrap();

    // A flap shorter than downdelay never changes the data plane.
    let g0 = generation(&p);
    p.b.ip(&["link", "set", "b0", "down"]);
    sleep_ms(150);
    p.b.ip(&["link", "set", "b0", "up"]);
    sleep_ms(600);
    assert_eq!(links(&p), ["up", "up"]);
    assert_eq!(
        generation(&p),
        g0,
        "a flap within downdelay published nothing"
    );

    // A real failure is acted on only after downdelay.
    p.b.ip(&["link", "set", "b0", "down"]);
    sleep_ms(200);
    assert_eq!(links(&p)[0], "up", "still used during downdelay");
    assert!(eventually(600, || links(&p)[0] == "down"), "{}", ctl.log());

    // And a recovered link is used only after updelay.
    p.b.ip(&["link", "set", "b0", "up"]);
    sleep_ms(200);
    assert_eq!(links(&p)[0], "down", "not used during updelay");
    assert!(eventually(600, || links(&p)[0] == "up"), "{}", ctl.log());
}

/// Ported from the kernel selftest mode-1-recovery-updelay.sh (active-backup, miimon 100,
/// updelay 5000): with no member up, the kernel uses the one still inside its updelay at
/// once (`ignore_updelay`) instead of carrying nothing until the delay ends.
#[test]
fn updelay_is_skipped_when_no_member_is_up() {
    recovery_updelay("upd1", "active-backup");
}

/// Ported from the kernel selftest mode-2-recovery-updelay.sh: the same in balance-xor.
#[test]
fn updelay_is_skipped_when_no_member_is_up_in_balance_xor() {
    recovery_updelay("upd2", "balance-xor");
}

/// The kernel's `test_bond_recovery` (lag_lib.sh) on two members: member 0's link fails and
/// comes back (so it sits in its 5 s updelay), then member 1's fails.
fn recovery_updelay(tag: &str, mode: &str) {
    let p = Pair::new(tag, 2);
    let mut opts = vec!["--mode", mode, "--miimon", "100", "--updelay", "5000"];
    if mode == "active-backup" {
        opts.extend(["--primary", "a1", "--all-slaves-active"]);
    }
    p.bond_side("a", &opts);
    // Back to back, no switch: B hashes over the members its own controller sees up.
    p.bond_side("b", &["--mode", "balance-xor"]);
    let ctl = Controller::start(&p.a, &[], 1);
    let _ctl_b = Controller::start(&p.b, &[], 1);
    p.ping_ok();
    p.b.ip(&["link", "set", "b0", "down"]);
    assert!(eventually(1000, || links(&p)[0] == "down"), "{}", ctl.log());
    p.b.ip(&["link", "set", "b0", "up"]);
    sleep_ms(500);
    assert_eq!(
        links(&p),
        ["down", "up"],
        "a0 inside its updelay, a1 carries"
    );
    // The last member up fails: a0 is used at once, 4 s before its updelay ends.
    p.b.ip(&["link", "set", "b1", "down"]);
    assert!(
        eventually(1000, || links(&p) == ["up", "down"]),
        "a0 not used before its updelay ended: {:?}\n{}",
        links(&p),
        ctl.log()
    );
    if mode == "active-backup" {
        assert_eq!(active(&p), "a0");
    }
    assert!(
        ctl.log().contains("before its updelay ends"),
        "{}",
        ctl.log()
    );
    p.ping_ok();
}

#[test]
fn min_links_takes_the_carrier_down_and_back() {
    let p = Pair::new("ml", 3);
    p.bond_side("a", &["--mode", "balance-rr", "--min-links", "2"]);
    p.bond_side("b", &["--mode", "balance-rr"]);
    let _ctl = Controller::start(&p.a, &[], 1);
    let _ctl_b = Controller::start(&p.b, &[], 1);
    let carrier = |p: &Pair| p.a.status("bond0")["up"].as_bool().unwrap();
    assert!(eventually(1000, || carrier(&p)));
    p.b.ip(&["link", "set", "b0", "down"]);
    sleep_ms(300);
    assert!(carrier(&p), "2 of 3 up: carrier stays");
    p.b.ip(&["link", "set", "b1", "down"]);
    assert!(eventually(1000, || !carrier(&p)), "1 of 3 up: carrier goes");
    let tx = |p: &Pair| -> u64 {
        p.a.status("bond0")["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["tx_packets"].as_u64().unwrap())
            .sum()
    };
    let before = tx(&p);
    let _ =
        p.a.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "1", ADDR_B]);
    assert_eq!(tx(&p), before, "nothing is transmitted below min_links");
    p.b.ip(&["link", "set", "b1", "up"]);
    assert!(
        eventually(1000, || carrier(&p)),
        "back to 2 of 3: carrier returns"
    );
    p.ping_ok();
}

#[test]
fn primary_reselect_policies() {
    for (policy, expect_back_on_primary) in
        [("always", true), ("failure", false), ("better", false)]
    {
        let p = Pair::new("prs", 2);
        p.bond_side(
            "a",
            &[
                "--mode",
                "active-backup",
                "--primary",
                "a0",
                "--primary-reselect",
                policy,
                "--all-slaves-active",
            ],
        );
        p.bond_side("b", &["--mode", "balance-xor"]);
        let _ctl = Controller::start(&p.a, &[], 1);
        assert_eq!(active(&p), "a0");
        p.b.ip(&["link", "set", "b0", "down"]);
        assert!(
            eventually(1000, || active(&p) == "a1"),
            "{policy}: failover to a1"
        );
        p.b.ip(&["link", "set", "b0", "up"]);
        sleep_ms(500);
        let expected = if expect_back_on_primary { "a0" } else { "a1" };
        assert_eq!(active(&p), expected, "primary_reselect={policy}");
    }
}

#[test]
fn killed_controller_leaves_traffic_flowing_and_a_restart_adopts_without_loss() {
    let p = Pair::new("kill", 3);
    p.bond_side(
        "a",
        &["--mode", "balance-xor", "--xmit-hash-policy", "layer3+4"],
    );
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    let mut ctl = Controller::start(&p.a, &[], 1);
    let before = p.a.status("bond0");
    let (report, restarted) = udp_stream(
        &p.a,
        &p.b,
        sock(ADDR_A, 7020),
        sock(ADDR_B, 7021),
        5000,
        Duration::from_secs(3),
        || {
            sleep_ms(700);
            ctl.kill9();
            sleep_ms(800);
            Controller::start(&p.a, &[], 1)
        },
    );
    eprintln!("kill -9 and restart under load: {report:?}");
    assert_eq!(report.lost, 0, "no datagram lost: {report:?}");
    let after = p.a.status("bond0");
    assert_eq!(
        after["ifindex"], before["ifindex"],
        "the bond was not re-created"
    );
    assert_eq!(
        after["generation"], before["generation"],
        "adopted without republishing"
    );
    // The adopted bond is really managed: a failure is still handled.
    p.b.ip(&["link", "set", "b2", "down"]);
    assert!(
        eventually(1000, || links(&p)[2] == "down"),
        "{}",
        restarted.log()
    );
    // And `down` works after all that.
    drop(restarted);
    p.a.bondxdp_ok(&["down", "bond0"]);
}

#[test]
fn live_changes_keep_untouched_members_flowing() {
    let p = Pair::new("live", 3);
    p.bond_side(
        "a",
        &["--mode", "balance-xor", "--xmit-hash-policy", "layer3+4"],
    );
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    // Find a flow that hashes to a member other than a2, then remove a2 while it runs.
    let (report, ()) = udp_stream(
        &p.a,
        &p.b,
        sock(ADDR_A, 7031),
        sock(ADDR_B, 7030),
        3000,
        Duration::from_secs(2),
        || {
            sleep_ms(500);
            p.a.bondxdp_ok(&["set", "bond0", "miimon=50", "xmit_hash_policy=layer3+4"]);
            p.a.bondxdp_ok(&["member", "del", "bond0", "a2"]);
            p.a.bondxdp_ok(&["member", "add", "bond0", "a2"]);
        },
    );
    let s = p.a.status("bond0");
    // status renders every option of the mode through the option table, as `set` takes it.
    assert_eq!(s["options"]["miimon"], "50", "{}", s["options"]);
    assert_eq!(s["options"]["xmit_hash_policy"], "layer3+4");
    assert!(s["options"].get("lacp_rate").is_none(), "802.3ad only");
    let carrier_slot = s["members"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|m| m["tx_packets"].as_u64().unwrap())
        .unwrap()["name"]
        .clone();
    eprintln!("live changes: {report:?}, flow on {carrier_slot}");
    if carrier_slot != "a2" {
        assert_eq!(
            report.lost, 0,
            "the flow on {carrier_slot} never noticed: {report:?}"
        );
    }
    assert_eq!(s["members"].as_array().unwrap().len(), 3);
    // A mode change takes effect at once.
    p.a.bondxdp_ok(&["set", "bond0", "mode=active-backup", "primary=a1"]);
    let s = p.a.status("bond0");
    assert_eq!(
        (s["mode"].as_str(), s["active"].as_str()),
        (Some("active-backup"), Some("a1"))
    );
    // ... in the data plane too: the egress link now runs the active-backup program, so
    // flows that xor spread over all members leave through a1 alone.
    let before: Vec<u64> = p.members("a").iter().map(|m| p.a.tx_packets(m)).collect();
    for port in 7100..7120 {
        udp_burst(&p.a, sock(ADDR_A, port), sock(ADDR_B, 9), 20, 64);
    }
    let delta: Vec<u64> = p
        .members("a")
        .iter()
        .zip(&before)
        .map(|(m, b)| p.a.tx_packets(m) - b)
        .collect();
    assert!(
        delta[1] >= 400 && delta[0] + delta[2] < 5,
        "after mode=active-backup primary=a1, tx per member {delta:?}"
    );
    // And to round-robin: a single flow now spreads over every member (the xor program
    // would keep it on one).
    p.a.bondxdp_ok(&["set", "bond0", "mode=balance-rr"]);
    let before: Vec<u64> = p.members("a").iter().map(|m| p.a.tx_packets(m)).collect();
    udp_burst(&p.a, sock(ADDR_A, 7200), sock(ADDR_B, 9), 300, 64);
    let delta: Vec<u64> = p
        .members("a")
        .iter()
        .zip(&before)
        .map(|(m, b)| p.a.tx_packets(m) - b)
        .collect();
    assert!(
        delta.iter().all(|&d| (90..=120).contains(&d)),
        "after mode=balance-rr, one flow's packets per member {delta:?}"
    );
    let s = p.a.status("bond0");
    // Bad values change nothing.
    for bad in [
        "mode=7",
        "miimon=fast",
        "primary=nosuch",
        "keep_member_macs=1",
        "mac=02:00:5e:00:00:77",
        "colour=blue",
        // Members that took the bond's MAC cannot become balance-alb members live.
        "mode=balance-alb",
    ] {
        let out = p.a.bondxdp(&["set", "bond0", bad]);
        assert!(!out.status.success(), "{bad} accepted");
        // The option table marks the bond's MACs as not changeable live.
        if bad.starts_with("keep_member_macs") || bad.starts_with("mac") {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("cannot change on a running bond"),
                "{bad}: {stderr}"
            );
        }
        if bad == "mode=balance-alb" {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("recreate the bond"), "{bad}: {stderr}");
        }
    }
    assert_eq!(p.a.status("bond0")["generation"], s["generation"]);
}

#[test]
fn config_file_creates_bonds_reloads_on_sighup_and_keeps_running_on_a_bad_reload() {
    let p = Pair::new("cfg", 2);
    let dir = std::env::temp_dir().join(format!("bondxdp-cfg-{}", p.a.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bondxdp.toml");
    let write = |mode: &str| {
        std::fs::write(
            &path,
            format!(
                "[[bond]]\nname = \"bond0\"\nmembers = [\"a0\", \"a1\"]\nmode = \"{mode}\"\n\
                 miimon = 100\nupdelay = 150\naddresses = [\"198.18.0.1/24\"]\n"
            ),
        )
        .unwrap()
    };
    write("balance-rr");
    p.bond_side("b", &["--mode", "balance-rr"]);
    let path_s = path.to_string_lossy().to_string();
    let ctl = Controller::start(&p.a, &["--config", &path_s], 1);
    assert!(
        ctl.log().contains("rounded to 100"),
        "updelay rounded with a warning"
    );
    assert_eq!(p.a.status("bond0")["mode"], "balance-rr");
    p.ping_ok();
    // A valid change is applied on SIGHUP.
    write("balance-xor");
    ctl.hangup();
    ctl.wait_for_log(|l| l.contains("config reloaded"), Duration::from_secs(5));
    assert_eq!(p.a.status("bond0")["mode"], "balance-xor");
    // An invalid one is refused and the running configuration stays.
    std::fs::write(
        &path,
        "[[bond]]\nname = \"bond0\"\nmembers = [\"a0\"]\nmode = \"fastest\"\n",
    )
    .unwrap();
    ctl.hangup();
    ctl.wait_for_log(|l| l.contains("reload refused"), Duration::from_secs(5));
    assert_eq!(p.a.status("bond0")["mode"], "balance-xor");
    p.ping_ok();
    // One that parses but that the host cannot take (a second bond's member does not
    // exist) changes nothing either, not even the first bond it could have changed
    // (issue 18, item 5).
    std::fs::write(
        &path,
        "[[bond]]\nname = \"bond0\"\nmembers = [\"a0\", \"a1\"]\nmode = \"balance-rr\"\n\
         [[bond]]\nname = \"bond1\"\nmembers = [\"nosuch0\"]\nmode = \"active-backup\"\n",
    )
    .unwrap();
    ctl.hangup();
    ctl.wait_for_log(
        |l| l.matches("reload refused").count() >= 2,
        Duration::from_secs(5),
    );
    assert_eq!(p.a.status("bond0")["mode"], "balance-xor", "{}", ctl.log());
    assert!(!p.a.has_link("bond1"));
    p.ping_ok();
    drop(ctl);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_config_files_are_refused_at_start_without_changes() {
    let p = Pair::new("badcfg", 2);
    let dir = std::env::temp_dir().join(format!("bondxdp-badcfg-{}", p.a.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let before = p.a.links();
    for (text, needle) in [
        ("[[bond]\n", "invalid TOML"),
        (
            "[[bond]]\nname = \"bond0\"\nmembers = [\"a0\"]\nmode = 0\ncolour = 1\n",
            "unknown option",
        ),
        (
            "[[bond]]\nname = \"b0\"\nmembers = [\"a0\"]\nmode = 0\n[[bond]]\nname = \"b1\"\nmembers = [\"a0\"]\nmode = 0\n",
            "member of both",
        ),
        (
            "[[bond]]\nname = \"bond0\"\nmembers = [\"a0\"]\nmode = 0\narp_ip_target = [\"gateway\"]\n",
            "not an IPv4 address",
        ),
        // Valid on paper; the host has no nosuch0: the first bond is not created either.
        (
            "[[bond]]\nname = \"bond0\"\nmembers = [\"a0\"]\nmode = 0\n[[bond]]\nname = \"bond1\"\nmembers = [\"nosuch0\"]\nmode = 0\n",
            "\"nosuch0\" does not exist",
        ),
    ] {
        let path = dir.join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = p.a.bondxdp(&["run", "--config", &path.to_string_lossy()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text:?} accepted");
        assert!(
            stderr.contains(needle),
            "{text:?}: expected {needle:?} in {stderr}"
        );
        assert_eq!(p.a.links(), before, "{text:?} changed the host");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 18, item 7: a second `bondxdp run` in a namespace that has one is refused (both
/// would probe and both would run an LACP actor); a controller in another namespace is not
/// in the way, and once the first one is gone a new one starts.
#[test]
fn a_second_controller_in_the_namespace_is_refused() {
    let p = Pair::new("twice", 2);
    p.bond_both(&["--mode", "active-backup"]);
    let first = Controller::start(&p.a, &[], 1);
    let bin = bondxdp_tests::bondxdp_bin();
    let second = p.a.exec(&["timeout", "5", &bin, "run"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(
        second.status.code(),
        Some(1),
        "second controller: {second:?}"
    );
    assert!(
        stderr.contains("already running in this network namespace"),
        "{stderr}"
    );
    assert!(
        !first.log().contains("controller stopping"),
        "{}",
        first.log()
    );
    let _other = Controller::start(&p.b, &[], 1);
    drop(first);
    let _again = Controller::start(&p.a, &[], 1);
}

/// Issue 18, item 6: a bond's MTU change reaches its members, as the kernel sets every
/// slave's MTU: jumbo frames then cross the bond. A member joining later takes the bond's
/// MTU too, and `down` gives members back the MTU they had.
#[test]
fn the_bonds_mtu_reaches_its_members() {
    let p = Pair::new("mtu", 2);
    p.bond_both(&["--mode", "balance-rr"]);
    let ctl_a = Controller::start(&p.a, &[], 1);
    let _ctl_b = Controller::start(&p.b, &[], 1);
    for ns in [&p.a, &p.b] {
        ns.ip(&["link", "set", "bond0", "mtu", "9000"]);
    }
    let mtus = |ns: &bondxdp_tests::Netns, side: &str| -> Vec<u64> {
        (0..2).map(|i| ns.link(&format!("{side}{i}")).mtu).collect()
    };
    assert!(
        eventually(3000, || mtus(&p.a, "a") == [9000, 9000]
            && mtus(&p.b, "b") == [9000, 9000]),
        "member MTUs {:?} {:?}\n{}",
        mtus(&p.a, "a"),
        mtus(&p.b, "b"),
        ctl_a.log()
    );
    p.a.exec_ok(&[
        "ping", "-c", "3", "-i", "0.2", "-W", "2", "-s", "8000", "-M", "do", ADDR_B,
    ]);
    drop(ctl_a);
    p.a.bondxdp_ok(&["down", "bond0"]);
    assert_eq!(
        mtus(&p.a, "a"),
        [1500, 1500],
        "down did not restore the MTUs"
    );
}

#[test]
fn an_idle_controller_sleeps_and_hears_commands_at_once() {
    // Issue 18: a 1 ms carrier poll cost ~1,000 wakeups a second per bond. Carrier changes
    // now wake the controller (netlink for members whose notifications the kernel does not
    // defer, the carrier watch for the rest) and commands notify it.
    use bondxdp_tests::bench::controller::{bonds, usage};
    let (ns, ctl) = bonds(5, &[]);
    sleep_ms(2000);
    let (_, w0) = usage(ctl.pid());
    let t0 = std::time::Instant::now();
    sleep_ms(3000);
    let (_, w1) = usage(ctl.pid());
    let per_s = (w1 - w0) as f64 / t0.elapsed().as_secs_f64();
    assert!(per_s < 10.0, "{per_s:.0} wakeups/s with 5 idle bonds");
    // A command reaches it at once, not at its next look (every 5 s).
    ns.bondxdp_ok(&["set", "b3", "updelay=100"]);
    ctl.wait_for_log(
        |l| l.contains("options reloaded bond=b3"),
        Duration::from_millis(1500),
    );
    // And so does a carrier loss.
    let t = std::time::Instant::now();
    ns.ip(&["link", "set", "p2a", "down"]);
    assert!(
        eventually(2000, || ns.status("b2")["active"] == "m2b"),
        "no failover: {}",
        ns.status("b2")
    );
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "failover took {:?}",
        t.elapsed()
    );
}

/// "Boot" (issue 19): the service's command (`bondxdp run --config FILE`) creates the bonds the
/// file describes, with their addresses, and they carry traffic; the controller is killed and
/// started again with the same file (a service restart, an upgrade) under a 5,000 datagram/s
/// stream: nothing is lost, the bond is adopted, not re-created or republished.
#[test]
fn boot_creates_the_configured_bonds_and_a_restart_with_the_file_disturbs_nothing() {
    let p = Pair::new("boot", 2);
    let dir = std::env::temp_dir().join(format!("bondxdp-boot-{}", p.a.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bondxdp.toml");
    std::fs::write(
        &path,
        format!(
            "[[bond]]\nname = \"bond0\"\nmembers = [\"a0\", \"a1\"]\nmode = \"balance-xor\"\n\
             xmit_hash_policy = \"layer3+4\"\nmiimon = 100\naddresses = [\"{ADDR_A}/24\"]\n"
        ),
    )
    .unwrap();
    let path_s = path.to_string_lossy().to_string();
    p.bond_side("b", &["--mode", "balance-xor"]);
    assert!(
        !p.a.has_link("bond0"),
        "nothing before the controller starts"
    );
    let mut ctl = Controller::start(&p.a, &["--config", &path_s], 1);
    assert!(p.a.has_link("bond0"), "created from the file");
    p.ping_ok();
    let before = p.a.status("bond0");
    let (report, restarted) = udp_stream(
        &p.a,
        &p.b,
        sock(ADDR_A, 7040),
        sock(ADDR_B, 7041),
        5000,
        Duration::from_secs(3),
        || {
            sleep_ms(700);
            ctl.kill9();
            sleep_ms(500);
            Controller::start(&p.a, &["--config", &path_s], 1)
        },
    );
    eprintln!("boot, kill -9 and a restart with the file: {report:?}");
    assert_eq!(report.lost, 0, "no datagram lost: {report:?}");
    let after = p.a.status("bond0");
    assert_eq!(after["ifindex"], before["ifindex"], "not re-created");
    assert_eq!(after["generation"], before["generation"], "not republished");
    let log = restarted.log();
    assert!(
        !log.contains("refused") && !log.contains("failed"),
        "the file applied again without complaint:\n{log}"
    );
    drop(restarted);
    p.a.bondxdp_ok(&["down", "bond0"]);
    let _ = std::fs::remove_dir_all(&dir);
}
