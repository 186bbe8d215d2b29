//! `up`, `status` and `down` as a whole: what `down` leaves behind (nothing), pins per
//! namespace, a data plane that needs no running process.

use bondxdp_tests::{Netns, Pair};

#[test]
fn down_restores_members_and_leaves_nothing_attached_or_pinned() {
    let p = Pair::new("dn", 3);
    // Something to restore: one member up with promiscuous mode, others down.
    p.a.ip(&["link", "set", "a0", "up", "promisc", "on"]);
    let before = p.a.links();
    let ipv6_before =
        p.a.exec_ok(&["sysctl", "-n", "net.ipv6.conf.a1.disable_ipv6"]);

    p.bond_both(&["--mode", "balance-rr"]);
    // While up, the members carry the bond's MAC and the programs are attached.
    let bond_mac = p.a.link("bond0").mac;
    assert_eq!(
        bond_mac,
        before.iter().find(|l| l.name == "a0").unwrap().mac
    );
    for m in p.members("a") {
        assert_eq!(p.a.link(&m).mac, bond_mac, "{m} takes the bond's MAC");
    }
    let attached = |iface: &'static str| {
        p.a.enter(move || {
            bondxdp::loader::attached_programs(iface, aya::programs::TcAttachType::Ingress)
                .unwrap_or_default()
        })
    };
    assert_eq!(attached("a1"), vec!["member_ingress".to_string()]);
    assert!(p.a.pin_dir().join("bond0").is_dir());

    p.a.bondxdp_ok(&["down", "bond0"]);
    assert!(!p.a.has_link("bond0"), "the bond interface is deleted");
    assert_eq!(
        p.a.links(),
        before,
        "members restored exactly (MAC, flags, MTU)"
    );
    assert_eq!(
        p.a.exec_ok(&["sysctl", "-n", "net.ipv6.conf.a1.disable_ipv6"]),
        ipv6_before
    );
    for m in p.members("a") {
        let m: &'static str = Box::leak(m.into_boxed_str());
        assert!(attached(m).is_empty(), "tcx programs left on {m}");
        let eg = p.a.enter(move || {
            bondxdp::loader::attached_programs(m, aya::programs::TcAttachType::Egress)
                .unwrap_or_default()
        });
        assert!(eg.is_empty(), "tcx egress programs left on {m}");
        assert!(!p.a.has_xdp(m), "XDP left on {m}");
    }
    assert!(
        !p.a.pin_dir().exists(),
        "pins left in {}",
        p.a.pin_dir().display()
    );
    // Taking down a bond that does not exist leaves nothing either.
    assert!(!p.a.bondxdp(&["down", "bond0"]).status.success());
    assert!(!p.a.pin_dir().exists(), "a failed down left a directory");
    // The other namespace's bond0 is untouched.
    assert!(p.b.pin_dir().join("bond0").is_dir());
    assert!(p.b.has_link("bond0"));
}

#[test]
fn same_bond_name_in_two_namespaces_pins_apart() {
    let p = Pair::new("ns", 2);
    p.bond_both(&["--mode", "active-backup"]);
    assert_ne!(p.a.pin_dir(), p.b.pin_dir());
    assert!(p.a.pin_dir().join("bond0").is_dir() && p.b.pin_dir().join("bond0").is_dir());
    let sa = p.a.status("bond0");
    let sb = p.b.status("bond0");
    assert_eq!(sa["members"][0]["name"], "a0");
    assert_eq!(sb["members"][0]["name"], "b0");
    assert_ne!(sa["netns"], sb["netns"]);
}

#[test]
fn pins_left_by_a_deleted_namespace_never_pass_for_a_new_ones_bonds() {
    use std::os::unix::fs::MetadataExt;
    let p = Pair::new("gh", 2);
    // A namespace deleted without `down` leaves its pins; a new namespace may get its inode
    // number. Plant such leftovers under this namespace's inode number: a bond0 that is not
    // this namespace's.
    let inode = std::fs::metadata(format!("/run/netns/{}", p.a.name()))
        .expect("netns file")
        .ino();
    let ghost = std::path::PathBuf::from(format!("/sys/fs/bpf/bondxdp/ns{inode}"));
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    std::fs::create_dir_all(ghost.join("bond0")).expect("ghost directory");
    let _ghost = Remove(ghost.clone());
    assert_ne!(
        p.a.pin_dir(),
        ghost,
        "pins are keyed by something never reused"
    );
    p.bond_both(&["--mode", "active-backup"]);
    assert!(p.a.pin_dir().join("bond0").is_dir());
    p.a.bondxdp_ok(&["down", "bond0"]);
    assert!(
        ghost.join("bond0").is_dir(),
        "not this namespace's to remove"
    );
}

#[test]
fn status_reports_mode_members_and_counters() {
    let p = Pair::new("st", 2);
    p.bond_both(&["--mode", "balance-xor", "--xmit-hash-policy", "layer2+3"]);
    let s = p.a.status("bond0");
    assert_eq!(s["mode"], "balance-xor");
    assert_eq!(s["mode_number"], 2);
    assert_eq!(s["xmit_hash_policy"], "layer2+3");
    assert_eq!(s["up"], true);
    let members = s["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    let tx: u64 = members
        .iter()
        .map(|m| m["tx_packets"].as_u64().unwrap())
        .sum();
    let rx: u64 = members
        .iter()
        .map(|m| m["rx_packets"].as_u64().unwrap())
        .sum();
    assert!(tx >= 2 && rx >= 2, "the pings are counted: tx {tx} rx {rx}");
    assert!(s["drops"].as_object().unwrap().contains_key("no_member"));
    // The text view, like /proc/net/bonding.
    let text = p.a.bondxdp_ok(&["status", "bond0"]);
    for needle in [
        "Bonding Mode: load balancing (xor)",
        "Transmit Hash Policy: layer2+3",
        "Slave Interface: a0",
        "Slave Interface: a1",
        "Permanent HW addr:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // All bonds of the namespace.
    let all: serde_json::Value =
        serde_json::from_str(&p.a.bondxdp_ok(&["status", "--json"])).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[test]
fn the_flowlet_table_exists_only_while_the_mode_reads_it() {
    // Issue 18: a 5.8 MB flowlet table was allocated for every bond, active-backup included.
    let p = Pair::new("ftab", 2);
    p.bond_both(&["--mode", "active-backup"]);
    let table = |p: &Pair| p.a.status("bond0")["flowlet_table"].as_u64();
    assert_eq!(table(&p), None, "active-backup reads no flowlet table");
    // Changed live into a mode that reads it: the table is there before the mode runs, and
    // flows use it (none placed without one).
    for side in [&p.a, &p.b] {
        side.bondxdp_ok(&["set", "bond0", "mode=load-aware"]);
    }
    assert_eq!(table(&p), Some(65536));
    p.ping_ok();
    let s = p.a.status("bond0");
    assert_eq!(s["events"]["no_flowlet_table"], 0, "{s}");
    let text = p.a.bondxdp_ok(&["status", "bond0"]);
    assert!(text.contains("Flowlet Table: 65536 entries"), "{text}");
    // And out again: freed.
    for side in [&p.a, &p.b] {
        side.bondxdp_ok(&["set", "bond0", "mode=balance-xor"]);
    }
    assert_eq!(table(&p), None);
    p.ping_ok();
    // A bond created in a mode that reads it has it from the start.
    let q = Pair::new("ftab2", 2);
    q.bond_both(&["--mode", "load-aware"]);
    assert_eq!(table(&q), Some(65536));
    q.ping_ok();
    assert_eq!(q.a.status("bond0")["events"]["no_flowlet_table"], 0);
}

#[test]
fn down_finishes_a_bond_whose_interface_was_deleted_behind_its_back() {
    let ns = Netns::new("gone");
    ns.ip(&["link", "add", "m0", "type", "veth", "peer", "name", "p0"]);
    let mac = ns.link("m0").mac;
    ns.bondxdp_ok(&["up", "bond0", "--mode", "balance-rr", "-m", "m0"]);
    ns.ip(&["link", "del", "bond0"]);
    ns.bondxdp_ok(&["down", "bond0"]);
    assert_eq!(ns.link("m0").mac, mac);
    assert!(!ns.pin_dir().exists());
}

/// Issue 18, item 3: a namespace deleted without `down` (a container torn down, a killed
/// test) leaves its bond's programs and maps pinned. `bondxdp gc` (and a controller, at start
/// and every minute) finds bonds none of whose links is attached any more and frees them; a live
/// bond in another namespace is left alone.
#[test]
fn gc_frees_the_pins_of_bonds_whose_namespace_is_gone() {
    let live = Pair::new("gclive", 2);
    live.bond_both(&["--mode", "balance-rr"]);
    let doomed = Pair::new("gcdead", 2);
    doomed.bond_both(&["--mode", "active-backup"]);
    let pins = doomed.a.pin_dir();
    assert!(pins.join("bond0").is_dir());
    doomed.a.exec_ok(&["true"]); // the namespace is alive until here
    std::process::Command::new("ip")
        .args(["netns", "del", doomed.a.name()])
        .output()
        .unwrap();
    // The kernel tears the namespace's devices down asynchronously.
    let out = bondxdp_tests::eventually(10_000, || {
        let out = live.b.bondxdp_ok(&["gc"]);
        // (Printed as bondxdp sees bpffs from inside `ip netns exec`: compare the tail.)
        let ns_dir = pins.file_name().unwrap().to_string_lossy().to_string();
        out.contains(&format!("{ns_dir}/bond0"))
    });
    let links: Vec<_> = bondxdp::pins::BondPaths::new(&pins, "bond0")
        .links()
        .into_iter()
        .map(|l| (l.clone(), bondxdp::pins::link_ifindex(&l)))
        .collect();
    assert!(out, "gc never freed {}: links {links:?}", pins.display());
    assert!(!pins.exists(), "{} still there", pins.display());
    // The live bonds keep their pins and keep working.
    assert!(live.a.pin_dir().join("bond0").is_dir());
    assert!(live.b.pin_dir().join("bond0").is_dir());
    live.ping_ok();
    assert!(!live.b.bondxdp_ok(&["gc"]).contains("freed"));
    // A controller starting up does the same (and again every minute).
    let doomed = Pair::new("gcdead2", 2);
    doomed.bond_side("a", &["--mode", "balance-rr"]);
    let pins = bondxdp::pins::BondPaths::new(&doomed.a.pin_dir(), "bond0");
    std::process::Command::new("ip")
        .args(["netns", "del", doomed.a.name()])
        .output()
        .unwrap();
    assert!(bondxdp_tests::eventually(10_000, || {
        bondxdp::pins::is_orphan(&pins)
    }));
    let ctl = bondxdp_tests::controller::Controller::start(&live.a, &[], 1);
    ctl.wait_for_log(
        |l| l.contains("freed a bond whose network namespace is gone"),
        std::time::Duration::from_secs(5),
    );
    assert!(!pins.dir().exists());
    assert!(live.a.pin_dir().join("bond0").is_dir());
}
