//! balance-tlb and balance-alb against a Linux bridge with several peers: which source MAC
//! each member sends, where inbound traffic arrives (the members' own counters and the
//! data plane's per-member counts), the peers' ARP caches, and a member failing under the
//! controller.
//!
//! Topology: host `h` with `bond0` over `h0..h{n-1}`, each a veth to port `sh{i}` of bridge
//! `br0` in a switch namespace; peers `p{j}` (one namespace each, `eth0` to port `sp{j}`).

use std::{net::SocketAddr, process::Command, time::Duration};

use bondxdp_tests::{Netns, capture::Capture, controller::Controller, eventually};

const BOND_IP: &str = "198.18.0.1";

struct Lan {
    h: Netns,
    sw: Netns,
    peers: Vec<Netns>,
    n: usize,
}

fn veth(a: &str, a_ns: &Netns, b: &str, b_ns: &Netns) {
    let out = Command::new("ip")
        .args([
            "link",
            "add",
            a,
            "netns",
            a_ns.name(),
            "type",
            "veth",
            "peer",
            "name",
            b,
            "netns",
            b_ns.name(),
        ])
        .output()
        .expect("ip");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lan {
    /// A host with `n` links to the bridge and `peers` peers (198.18.0.11, .12, ...).
    fn new(tag: &str, n: usize, peers: usize) -> Lan {
        let lan = Lan {
            h: Netns::new(&format!("{tag}h")),
            sw: Netns::new(&format!("{tag}s")),
            peers: (0..peers)
                .map(|j| Netns::new(&format!("{tag}p{j}")))
                .collect(),
            n,
        };
        let sw = &lan.sw;
        sw.exec_ok(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        sw.ip(&[
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
        sw.ip(&["link", "set", "br0", "up"]);
        let mut ports = Vec::new();
        for i in 0..n {
            veth(&format!("h{i}"), &lan.h, &format!("sh{i}"), sw);
            ports.push(format!("sh{i}"));
        }
        for (j, p) in lan.peers.iter().enumerate() {
            veth("eth0", p, &format!("sp{j}"), sw);
            ports.push(format!("sp{j}"));
            p.ip(&["addr", "add", &format!("{}/24", peer_ip(j)), "dev", "eth0"]);
            p.ip(&["link", "set", "eth0", "up"]);
        }
        for port in ports {
            sw.ip(&["link", "set", &port, "master", "br0"]);
            sw.ip(&["link", "set", &port, "up"]);
        }
        lan
    }

    fn up(&self, options: &[&str]) {
        let mut args = vec!["up", "bond0"];
        args.extend_from_slice(options);
        let members: Vec<String> = (0..self.n).map(|i| format!("h{i}")).collect();
        for m in &members {
            args.extend_from_slice(&["-m", m]);
        }
        self.h.bondxdp_ok(&args);
        self.h
            .ip(&["addr", "add", &format!("{BOND_IP}/24"), "dev", "bond0"]);
    }

    /// The data plane's received count per member (what it delivered to the bond).
    fn delivered(&self) -> Vec<u64> {
        let s = self.h.status("bond0");
        s["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["rx_packets"].as_u64().unwrap())
            .collect()
    }

    fn member_mac(&self, i: usize) -> String {
        self.h.link(&format!("h{i}")).mac
    }

    /// The MAC peer `j` has for the bond's address (empty if none).
    fn peer_cache(&self, j: usize) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&self.peers[j].ip(&["-j", "neigh", "show", BOND_IP])).unwrap();
        v[0]["lladdr"].as_str().unwrap_or_default().to_string()
    }

    fn ping(&self, j: usize, count: &str) {
        self.peers[j].exec_ok(&["ping", "-c", count, "-i", "0.01", "-W", "2", BOND_IP]);
    }
}

fn peer_ip(j: usize) -> String {
    format!("198.18.0.{}", 11 + j)
}

fn mac_text(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn balance_tlb_members_send_their_own_mac_and_inbound_arrives_on_the_active_receiver() {
    let lan = Lan::new("tlb", 2, 1);
    lan.up(&["--mode", "balance-tlb", "--primary", "h0"]);
    let _ctl = Controller::start(&lan.h, &[], 1);
    let bond_mac = lan.h.link("bond0").mac;
    let own = [lan.member_mac(0), lan.member_mac(1)];
    // Members keep their own MACs, and the bond's (which moves between them) is neither.
    assert!(!own.contains(&bond_mac), "{own:?} {bond_mac}");
    lan.ping(0, "3");
    // 32 UDP flows from the host: the second member sends some of them, with its own MAC;
    // the active receiver sends with the bond's (never its own).
    let cap = Capture::start(&lan.peers[0], "eth0");
    for port in 0..32u16 {
        let src: SocketAddr = format!("{BOND_IP}:{}", 20000 + port).parse().unwrap();
        let dst: SocketAddr = format!("{}:9", peer_ip(0)).parse().unwrap();
        bondxdp_tests::traffic::udp_burst(&lan.h, src, dst, 2, 100);
    }
    let sources: std::collections::BTreeSet<String> = cap
        .frames(Duration::from_secs(1), 10_000)
        .iter()
        .filter(|f| f.len() > 37 && f[12..14] == [8, 0] && f[23] == 17 && f[36..38] == [0, 9])
        .map(|f| mac_text(&f[6..12]))
        .collect();
    assert!(sources.contains(&bond_mac), "{sources:?}");
    assert!(sources.contains(&own[1]), "{sources:?}");
    assert!(!sources.contains(&own[0]), "{sources:?}");
    // Inbound: everything to the bond's MAC arrives on h0 (the active receiver) only.
    let before = lan.delivered();
    lan.ping(0, "50");
    let after = lan.delivered();
    assert!(after[0] - before[0] >= 50, "{before:?} -> {after:?}");
    assert_eq!(after[1], before[1], "{before:?} -> {after:?}");
    assert_eq!(lan.peer_cache(0), bond_mac);
    // Learning packets: every lp_interval (1 s), h1 sends one from its MAC to itself.
    let port = Capture::start(&lan.sw, "sh1");
    let learning = port
        .frames(Duration::from_millis(1500), 10_000)
        .iter()
        .filter(|f| f.len() >= 14 && f[12..14] == [0x00, 0x60])
        .map(|f| (mac_text(&f[0..6]), mac_text(&f[6..12])))
        .collect::<Vec<_>>();
    assert!(
        learning.contains(&(own[1].clone(), own[1].clone())),
        "{learning:?}"
    );
    // The active receiver fails: h1 takes the bond's MAC (the switch learns it there).
    lan.sw.ip(&["link", "set", "sh0", "down"]);
    assert!(
        eventually(5000, || lan.h.status("bond0")["active"] == "h1"),
        "{}",
        lan.h.status("bond0")
    );
    let before = lan.delivered();
    lan.ping(0, "20");
    let after = lan.delivered();
    assert!(after[1] - before[1] >= 20, "{before:?} -> {after:?}");
}

#[test]
fn balance_alb_spreads_peers_over_members_and_moves_them_when_one_fails() {
    let peers = 6;
    let lan = Lan::new("alb", 3, peers);
    lan.up(&["--mode", "balance-alb"]);
    let _ctl = Controller::start(&lan.h, &[], 1);
    let own: Vec<String> = (0..3).map(|i| lan.member_mac(i)).collect();
    for j in 0..peers {
        lan.ping(j, "2");
    }
    // Every peer was told a member's own MAC; the members share them two each.
    let caches: Vec<String> = (0..peers).map(|j| lan.peer_cache(j)).collect();
    let member_of = |mac: &str| own.iter().position(|m| m == mac);
    let mut per_member = [0; 3];
    for (j, mac) in caches.iter().enumerate() {
        let m = member_of(mac).unwrap_or_else(|| panic!("peer {j} has {mac}, not a member's"));
        per_member[m] += 1;
    }
    assert_eq!(per_member, [2, 2, 2], "{caches:?}");
    // The status shows the same table.
    let status = lan.h.status("bond0");
    let clients = status["alb_clients"]
        .as_array()
        .expect("client table")
        .clone();
    assert_eq!(clients.len(), peers, "{status}");
    for (j, mac) in caches.iter().enumerate() {
        let c = clients
            .iter()
            .find(|c| c["ip"] == peer_ip(j))
            .unwrap_or_else(|| panic!("no client {}", peer_ip(j)));
        assert_eq!(c["member"], format!("h{}", member_of(mac).unwrap()), "{c}");
        assert_eq!(c["mac"], lan.peers[j].link("eth0").mac, "{c}");
    }
    // Inbound traffic arrives where each peer was sent: every member receives.
    let before = lan.delivered();
    for j in 0..peers {
        lan.ping(j, "30");
    }
    let after = lan.delivered();
    for m in 0..3 {
        assert!(
            after[m] - before[m] >= 60,
            "member {m}: {before:?} -> {after:?}"
        );
    }
    // h1 loses its carrier: its peers are told other members and keep talking to the bond.
    std::thread::sleep(Duration::from_millis(1100)); // past the peers' ARP locktime
    lan.sw.ip(&["link", "set", "sh1", "down"]);
    assert!(
        eventually(5000, || (0..peers).all(|j| {
            let mac = lan.peer_cache(j);
            mac == own[0] || mac == own[2]
        })),
        "{:?}",
        (0..peers).map(|j| lan.peer_cache(j)).collect::<Vec<_>>()
    );
    let before = lan.delivered();
    for j in 0..peers {
        lan.ping(j, "20");
    }
    let after = lan.delivered();
    assert_eq!(after[1], before[1]);
    assert!(
        after[0] - before[0] >= 40 && after[2] - before[2] >= 40,
        "{before:?} -> {after:?}"
    );
    // h1 returns: the clients are dealt out over all three again.
    lan.sw.ip(&["link", "set", "sh1", "up"]);
    assert!(
        eventually(6000, || (0..peers)
            .filter(|j| lan.peer_cache(*j) == own[1])
            .count()
            == 2),
        "{:?}",
        (0..peers).map(|j| lan.peer_cache(j)).collect::<Vec<_>>()
    );
    for j in 0..peers {
        lan.ping(j, "2");
    }
}
