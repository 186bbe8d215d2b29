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
            let net = 10 * (i + 1);
            let v6home = format!("2001:db8:{}0", i + 1);
            let (h, u) = (&wan.home, format!("u{i}"));
            let metric = (100 * (i + 1)).to_string();
            let home4 = format!("198.18.{net}.2/24");
            let home6 = format!("{v6home}::2/64");
            h.ip(&["addr", "add", &home4, "dev", &u]);
            h.ip(&["addr", "add", &home6, "dev", &u, "nodad"]);
            h.ip(&["link", "set", &u, "up"]);
            let gw4 = format!("198.18.{net}.1");
            let gw6 = format!("{v6home}::1");
            h.ip(&[
                "route", "add", "default", "via", &gw4, "dev", &u, "metric", &metric,
            ]);
            h.ip(&[
                "-6", "route", "add", "default", "via", &gw6, "dev", &u, "metric", &metric,
            ]);
            isp.ip(&["addr", "add", &format!("{gw4}/24"), "dev", "up0"]);
            isp.ip(&["addr", "add", &format!("{gw6}/64"), "dev", "up0", "nodad"]);
            isp.ip(&["link", "set", "up0", "up"]);
            upstream(isp, inet, i, true);
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
        upstream(&isp, &self.inet, i, false);
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

/// ISP `i`'s side towards the internet: its `wan0` link (198.19.(i+1).0/24, and with `v6`
/// 2001:db8:ff0(i+1)::/64), forwarding, masquerade of IPv4 like a home router, and the
/// internet's route back to the ISP's home-facing IPv6 prefix.
fn upstream(isp: &Netns, inet: &Netns, i: usize, v6: bool) {
    let w = format!("w{i}");
    veth(isp, "wan0", inet, &w);
    let (isp4, inet4) = (format!("198.19.{}.1", i + 1), format!("198.19.{}.2", i + 1));
    let (isp6, inet6) = (
        format!("2001:db8:ff0{}::1", i + 1),
        format!("2001:db8:ff0{}::2", i + 1),
    );
    isp.ip(&["addr", "add", &format!("{isp4}/24"), "dev", "wan0"]);
    inet.ip(&["addr", "add", &format!("{inet4}/24"), "dev", &w]);
    if v6 {
        isp.ip(&["addr", "add", &format!("{isp6}/64"), "dev", "wan0", "nodad"]);
        inet.ip(&["addr", "add", &format!("{inet6}/64"), "dev", &w, "nodad"]);
    }
    isp.ip(&["link", "set", "wan0", "up"]);
    inet.ip(&["link", "set", &w, "up"]);
    isp.ip(&["route", "add", "default", "via", &inet4]);
    isp.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    if v6 {
        isp.ip(&["-6", "route", "add", "default", "via", &inet6]);
        isp.exec_ok(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
        let home6 = format!("2001:db8:{}0::/64", i + 1);
        inet.ip(&["-6", "route", "add", &home6, "via", &isp6]);
    }
    isp.exec_ok(&["nft", "add table ip nat"]);
    isp.exec_ok(&[
        "nft",
        "add chain ip nat post { type nat hook postrouting priority 100 ; }",
    ]);
    isp.exec_ok(&["nft", "add rule ip nat post oifname wan0 masquerade"]);
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
