//! The multi-uplink world: a home host with one uplink per ISP, each ISP a router doing its
//! own NAT (nftables masquerade, like a home router) towards an "internet" namespace with
//! servers. Addresses (all in 198.18.0.0/15 and 2001:db8::/32):
//!
//! | where | IPv4 | IPv6 |
//! | --- | --- | --- |
//! | home uplink `uI` | 198.18.(10·(I+1)).2/24, gateway .1 | 2001:db8:(I+1)0::2/64, gateway ::1 |
//! | ISP I towards the internet | 198.19.(I+1).1/24 (its public address) | 2001:db8:ff0(I+1)::1/64 |
//! | internet side of ISP I | 198.19.(I+1).2/24 | 2001:db8:ff0(I+1)::2/64 |
//! | servers (internet loopback) | 198.19.0.80 | 2001:db8:ff::80 |
//! | home bond (`mw0`) | 198.18.0.1/32 | 2001:db8:1::1/128 |
//!
//! IPv6 is routed, not translated, by the ISPs (as real ones do): the internet routes each
//! uplink's prefix back through its ISP.

use std::process::Command;

use crate::Netns;

/// The server address on the internet (IPv4).
pub const SERVER4: &str = "198.19.0.80";
/// The server address on the internet (IPv6).
pub const SERVER6: &str = "2001:db8:ff::80";
/// The home bond's IPv4 address.
pub const BOND4: &str = "198.18.0.1";
/// The home bond's IPv6 address.
pub const BOND6: &str = "2001:db8:1::1";

/// Home, ISPs, internet.
pub struct Wan {
    /// The relay of a raw-IP modem uplink, if one was added. First, so it is dropped (and its
    /// TUN devices destroyed) before the namespaces go: a device left in a namespace being
    /// deleted would be moved to the host's.
    pub modem: Option<crate::tun::Relay>,
    /// The home host, with uplinks `u0`, `u1`, ...
    pub home: Netns,
    /// One router per ISP: `up0` faces home, `wan0` the internet.
    pub isps: Vec<Netns>,
    /// The internet: links `wI` to each ISP, servers on loopback.
    pub inet: Netns,
}

impl Wan {
    /// Builds home, `n` ISPs and the internet, all links up and routed.
    pub fn new(tag: &str, n: usize) -> Wan {
        let wan = Wan {
            modem: None,
            home: Netns::new(&format!("{tag}h")),
            isps: (0..n).map(|i| Netns::new(&format!("{tag}i{i}"))).collect(),
            inet: Netns::new(&format!("{tag}n")),
        };
        let inet = &wan.inet;
        inet.ip(&["addr", "add", &format!("{SERVER4}/32"), "dev", "lo"]);
        inet.ip(&["addr", "add", &format!("{SERVER6}/128"), "dev", "lo"]);
        for (i, isp) in wan.isps.iter().enumerate() {
            veth(&wan.home, &format!("u{i}"), isp, "up0");
            veth(isp, "wan0", inet, &format!("w{i}"));
            let net = 10 * (i + 1);
            let (v6home, v6wan) = (
                format!("2001:db8:{}0", i + 1),
                format!("2001:db8:ff0{}", i + 1),
            );
            let h = &wan.home;
            let u = format!("u{i}");
            h.ip(&["addr", "add", &format!("198.18.{net}.2/24"), "dev", &u]);
            h.ip(&[
                "addr",
                "add",
                &format!("{v6home}::2/64"),
                "dev",
                &u,
                "nodad",
            ]);
            h.ip(&["link", "set", &u, "up"]);
            let metric = (100 * (i + 1)).to_string();
            h.ip(&[
                "route",
                "add",
                "default",
                "via",
                &format!("198.18.{net}.1"),
                "dev",
                &u,
                "metric",
                &metric,
            ]);
            h.ip(&[
                "-6",
                "route",
                "add",
                "default",
                "via",
                &format!("{v6home}::1"),
                "dev",
                &u,
                "metric",
                &metric,
            ]);
            isp.ip(&["addr", "add", &format!("198.18.{net}.1/24"), "dev", "up0"]);
            isp.ip(&[
                "addr",
                "add",
                &format!("{v6home}::1/64"),
                "dev",
                "up0",
                "nodad",
            ]);
            isp.ip(&[
                "addr",
                "add",
                &format!("198.19.{}.1/24", i + 1),
                "dev",
                "wan0",
            ]);
            isp.ip(&[
                "addr",
                "add",
                &format!("{v6wan}::1/64"),
                "dev",
                "wan0",
                "nodad",
            ]);
            isp.ip(&["link", "set", "up0", "up"]);
            isp.ip(&["link", "set", "wan0", "up"]);
            isp.ip(&[
                "route",
                "add",
                "default",
                "via",
                &format!("198.19.{}.2", i + 1),
            ]);
            isp.ip(&[
                "-6",
                "route",
                "add",
                "default",
                "via",
                &format!("{v6wan}::2"),
            ]);
            isp.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
            isp.exec_ok(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
            isp.exec_ok(&["nft", "add table ip nat"]);
            isp.exec_ok(&[
                "nft",
                "add chain ip nat post { type nat hook postrouting priority 100 ; }",
            ]);
            isp.exec_ok(&["nft", "add rule ip nat post oifname wan0 masquerade"]);
            let w = format!("w{i}");
            inet.ip(&["addr", "add", &format!("198.19.{}.2/24", i + 1), "dev", &w]);
            inet.ip(&["addr", "add", &format!("{v6wan}::2/64"), "dev", &w, "nodad"]);
            inet.ip(&["link", "set", &w, "up"]);
            inet.ip(&[
                "-6",
                "route",
                "add",
                &format!("{v6home}::/64"),
                "via",
                &format!("{v6wan}::1"),
            ]);
        }
        wan
    }

    /// Adds one more ISP reached through a raw-IP "USB modem": TUN devices at both ends
    /// (`uN` at home, `up0` at the ISP) joined by `relay_bin`, `delay_ms` each way. IPv4
    /// only, point to point (no gateway MAC: no Ethernet at all).
    pub fn add_modem(&mut self, tag: &str, relay_bin: &str, delay_ms: u64) {
        let i = self.isps.len();
        let isp = Netns::new(&format!("{tag}m"));
        let u = format!("u{i}");
        let relay = crate::tun::Relay::start(relay_bin, &self.home, &u, &isp, "up0", delay_ms);
        let net = 10 * (i + 1);
        let (home_ip, isp_ip) = (format!("198.18.{net}.2"), format!("198.18.{net}.1"));
        self.home
            .ip(&["addr", "add", &home_ip, "peer", &isp_ip, "dev", &u]);
        self.home.ip(&["link", "set", &u, "up"]);
        let metric = (100 * (i + 1)).to_string();
        self.home
            .ip(&["route", "add", "default", "dev", &u, "metric", &metric]);
        isp.ip(&["addr", "add", &isp_ip, "peer", &home_ip, "dev", "up0"]);
        isp.ip(&["link", "set", "up0", "up"]);
        veth(&isp, "wan0", &self.inet, &format!("w{i}"));
        isp.ip(&[
            "addr",
            "add",
            &format!("198.19.{}.1/24", i + 1),
            "dev",
            "wan0",
        ]);
        isp.ip(&["link", "set", "wan0", "up"]);
        isp.ip(&[
            "route",
            "add",
            "default",
            "via",
            &format!("198.19.{}.2", i + 1),
        ]);
        isp.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        isp.exec_ok(&["nft", "add table ip nat"]);
        isp.exec_ok(&[
            "nft",
            "add chain ip nat post { type nat hook postrouting priority 100 ; }",
        ]);
        isp.exec_ok(&["nft", "add rule ip nat post oifname wan0 masquerade"]);
        let w = format!("w{i}");
        self.inet
            .ip(&["addr", "add", &format!("198.19.{}.2/24", i + 1), "dev", &w]);
        self.inet.ip(&["link", "set", &w, "up"]);
        self.isps.push(isp);
        self.modem = Some(relay);
    }

    /// Uplink names at home.
    pub fn uplinks(&self) -> Vec<String> {
        (0..self.isps.len()).map(|i| format!("u{i}")).collect()
    }

    /// ISP `i`'s public IPv4 address (what servers see through it).
    pub fn public4(&self, i: usize) -> String {
        format!("198.19.{}.1", i + 1)
    }

    /// Home uplink `i`'s global IPv6 address.
    pub fn uplink6(&self, i: usize) -> String {
        format!("2001:db8:{}0::2", i + 1)
    }

    /// Brings up `mw0` at home over every uplink with the given extra options, addresses
    /// [`BOND4`] and [`BOND6`].
    pub fn bond(&self, options: &[&str]) {
        let mut args = vec![
            "up",
            "mw0",
            "--mode",
            "multi-wan",
            "--address",
            "198.18.0.1/32",
            "--address",
            "2001:db8:1::1/128",
            "--max-flows",
            "65536",
        ];
        args.extend_from_slice(options);
        let uplinks = self.uplinks();
        for u in &uplinks {
            args.extend_from_slice(&["-m", u]);
        }
        self.home.bondxdp_ok(&args);
    }

    /// Limits ISP `i` to `rate` (a tc rate, e.g. `100mbit`) both ways, with tbf.
    pub fn limit(&self, i: usize, rate: &str) {
        for dev in ["up0", "wan0"] {
            self.isps[i].exec_ok(&[
                "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", "64kb",
                "latency", "50ms",
            ]);
        }
    }

    /// ISP `i` dies beyond its gateway: it keeps answering ARP and its links stay up, but
    /// forwards nothing (the silent failure probes exist for).
    pub fn kill_upstream(&self, i: usize) {
        let isp = &self.isps[i];
        isp.exec_ok(&["nft", "add table inet dead"]);
        isp.exec_ok(&[
            "nft",
            "add chain inet dead blackhole { type filter hook forward priority 0 ; policy drop ; }",
        ]);
    }

    /// Undoes [`Wan::kill_upstream`].
    pub fn revive_upstream(&self, i: usize) {
        self.isps[i].exec_ok(&["nft", "delete table inet dead"]);
    }
}

/// A veth pair between two namespaces.
pub fn veth(a: &Netns, a_name: &str, b: &Netns, b_name: &str) {
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
        .expect("ip link add");
    assert!(
        out.status.success(),
        "veth {a_name}/{b_name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
