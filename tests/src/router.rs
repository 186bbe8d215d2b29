//! A routed world for the XDP fast path: a client on a LAN, a router (bondxdp, XDP on the
//! LAN side), and an upstream host joined to the router by `n` links.
//!
//! ```text
//! client eth0 ── lan0 router a0..an ══ b0..bn upstream
//! 198.18.10.2    198.18.10.1  bond0 198.18.20.1   bond0 198.18.20.2
//! ```
//!
//! The peers of interfaces XDP redirects into (the client's eth0, upstream's members) get
//! GRO, which gives a veth the NAPI context redirected frames need; the interfaces that send
//! into the router's XDP programs compute checksums in software (`tx off`): an XDP frame
//! carries no "checksum still to do" mark, which real NICs never need (they checksum on the
//! wire) but veth pairs rely on.

use crate::{Netns, wan::veth};

/// The client's address.
pub const CLIENT: &str = "198.18.10.2";
/// The upstream host's address (beyond the bond).
pub const UPSTREAM: &str = "198.18.20.2";
/// The client's IPv6 address.
pub const CLIENT6: &str = "2001:db8:10::2";
/// The upstream host's IPv6 address.
pub const UPSTREAM6: &str = "2001:db8:20::2";

/// The three namespaces.
pub struct Routed {
    /// The LAN client.
    pub client: Netns,
    /// The router, where bondxdp runs with `--forward-from lan0`.
    pub router: Netns,
    /// The host at the far end of the bond.
    pub upstream: Netns,
    /// Number of links between router and upstream.
    pub n: usize,
}

impl Routed {
    /// Namespaces, links and addresses (no bonds yet); forwarding on in the router.
    pub fn new(tag: &str, n: usize) -> Routed {
        let r = Routed {
            client: Netns::new(&format!("{tag}c")),
            router: Netns::new(&format!("{tag}r")),
            upstream: Netns::new(&format!("{tag}u")),
            n,
        };
        veth(&r.client, "eth0", &r.router, "lan0");
        for i in 0..n {
            veth(&r.router, &format!("a{i}"), &r.upstream, &format!("b{i}"));
            r.upstream
                .exec_ok(&["ethtool", "-K", &format!("b{i}"), "gro", "on", "tx", "off"]);
        }
        r.client
            .exec_ok(&["ethtool", "-K", "eth0", "gro", "on", "tx", "off"]);
        for (ns, dev, v4, v6) in [
            (&r.client, "eth0", "198.18.10.2/24", "2001:db8:10::2/64"),
            (&r.router, "lan0", "198.18.10.1/24", "2001:db8:10::1/64"),
        ] {
            ns.ip(&["addr", "add", v4, "dev", dev]);
            ns.ip(&["addr", "add", v6, "dev", dev, "nodad"]);
            ns.ip(&["link", "set", dev, "up"]);
        }
        r.client
            .ip(&["route", "add", "default", "via", "198.18.10.1"]);
        r.client
            .ip(&["-6", "route", "add", "default", "via", "2001:db8:10::1"]);
        r.router
            .exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        r.router
            .exec_ok(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
        r
    }

    /// Bonds the links on both sides (`bondxdp up bond0 OPTIONS -m ...`), addresses them and
    /// routes the LAN through the router.
    pub fn bond(&self, router: &[&str], upstream: &[&str]) {
        for (ns, side, opts, v4, v6) in [
            (
                &self.router,
                "a",
                router,
                "198.18.20.1/24",
                "2001:db8:20::1/64",
            ),
            (
                &self.upstream,
                "b",
                upstream,
                "198.18.20.2/24",
                "2001:db8:20::2/64",
            ),
        ] {
            let members: Vec<String> = (0..self.n).map(|i| format!("{side}{i}")).collect();
            let mut args = vec!["up", "bond0"];
            args.extend_from_slice(opts);
            for m in &members {
                args.extend_from_slice(&["-m", m]);
            }
            ns.bondxdp_ok(&args);
            ns.ip(&["addr", "add", v4, "dev", "bond0"]);
            ns.ip(&["addr", "add", v6, "dev", "bond0", "nodad"]);
        }
        // The upstream bond's own sends reach the router's XDP: software checksums there too.
        self.upstream
            .exec_ok(&["ethtool", "-K", "bond0", "tx", "off"]);
        self.upstream
            .ip(&["route", "add", "198.18.10.0/24", "via", "198.18.20.1"]);
        self.upstream.ip(&[
            "-6",
            "route",
            "add",
            "2001:db8:10::/64",
            "via",
            "2001:db8:20::1",
        ]);
    }

    /// Packets the router's kernel forwarded (IPv4 and IPv6 ForwDatagrams): what did *not*
    /// take the fast path.
    pub fn kernel_forwarded(&self) -> u64 {
        let snmp = self
            .router
            .exec_ok(&["cat", "/proc/net/snmp", "/proc/net/snmp6"]);
        let mut total = 0;
        let mut header: Vec<String> = Vec::new();
        for line in snmp.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.first() == Some(&"Ip:") {
                if fields.get(1).is_some_and(|f| f.parse::<u64>().is_err()) {
                    header = fields.iter().map(|s| s.to_string()).collect();
                } else if let Some(i) = header.iter().position(|h| h == "ForwDatagrams") {
                    total += fields[i].parse::<u64>().unwrap_or(0);
                }
            } else if fields.first() == Some(&"Ip6OutForwDatagrams") {
                total += fields[1].parse::<u64>().unwrap_or(0);
            }
        }
        total
    }
}
