//! Members that keep their own MACs: what peers learn from ARP and neighbour discovery.

use bondxdp_tests::{
    Pair, eventually,
    netns::{ADDR_A, Netns},
};

/// The MAC B's neighbour table holds for `addr` on bond0 (empty when none).
fn neighbour(ns: &Netns, addr: &str) -> String {
    let out = ns.ip(&["neigh", "show", addr, "dev", "bond0"]);
    let words: Vec<&str> = out.split_whitespace().collect();
    words
        .iter()
        .position(|w| *w == "lladdr")
        .and_then(|i| words.get(i + 1))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

#[test]
fn keep_member_macs_peer_learns_the_members_mac_from_arp_and_nd() {
    let p = Pair::new("kmn", 2);
    let bond_mac = "02:b0:00:00:00:01";
    p.bond_side(
        "a",
        &[
            "--mode",
            "active-backup",
            "--keep-member-macs",
            "--mac",
            bond_mac,
        ],
    );
    p.bond_side("b", &["--mode", "active-backup"]);
    let members: Vec<String> = p.members("a").iter().map(|m| p.a.link(m).mac).collect();
    assert!(!members.contains(&bond_mac.to_string()));
    for (addr, peer, ping) in [
        (ADDR_A, "198.18.0.2", "ping"),
        ("2001:db8::1", "2001:db8::2", "ping"),
    ] {
        p.b.ip(&["neigh", "flush", "dev", "bond0"]);
        p.a.ip(&["neigh", "flush", "dev", "bond0"]);
        // A resolves B (ARP request / neighbour solicitation from A), B answers: B learns
        // A's address from A's request, with the link-layer address A put in it.
        p.a.exec_ok(&[ping, "-c", "2", "-i", "0.2", "-W", "2", peer]);
        let mut seen = String::new();
        let learned = eventually(5000, || {
            seen = neighbour(&p.b, addr);
            !seen.is_empty()
        });
        assert!(learned, "B has no neighbour entry for {addr}");
        assert!(
            members.contains(&seen),
            "B learned {seen} for {addr}: not a member's MAC ({members:?}; bond {bond_mac})"
        );
        // And B reaches A through it.
        p.b.exec_ok(&["ping", "-c", "1", "-W", "2", addr]);
    }
}
