//! Network namespaces owned by a test, and the two-host topology most tests use.

use std::{
    path::PathBuf,
    process::{Command, Output},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use serde_json::Value;

use crate::bondxdp_bin;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A network namespace created for one test and deleted (with everything in it) on drop.
pub struct Netns {
    name: String,
    /// What bondxdp names the namespace's pin directory by (`pins::netns_pin_id`).
    pin_id: u64,
    bonds: Mutex<Vec<String>>,
}

/// Interface state as `ip -j -s link` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkState {
    /// Name.
    pub name: String,
    /// MAC address.
    pub mac: String,
    /// Configured flags (`UP`, `PROMISC`, `ALLMULTI`...). Carrier flags (`LOWER_UP`,
    /// `NO-CARRIER`) are left out: they follow the peer, not this host's configuration.
    pub flags: Vec<String>,
    /// MTU.
    pub mtu: u64,
}

impl Netns {
    /// Creates `bxt-<tag>-<pid>-<n>` with loopback up.
    pub fn new(tag: &str) -> Netns {
        let name = format!(
            "bxt-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let mut ns = Netns {
            name,
            pin_id: 0,
            bonds: Mutex::new(Vec::new()),
        };
        ns.pin_id = ns.enter(|| bondxdp::pins::netns_pin_id().expect("namespace id"));
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("ip netns exec")
    }

    /// Runs a command inside the namespace; panics with its output if it fails.
    pub fn exec_ok(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert!(
            out.status.success(),
            "{args:?} in {} failed: {}{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip -n <ns> ARGS`, which must succeed.
    pub fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .expect("ip");
        assert!(
            out.status.success(),
            "ip {args:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `bondxdp ARGS` inside the namespace. Bonds it brings up are taken down on drop.
    pub fn bondxdp(&self, args: &[&str]) -> Output {
        let out = self.exec(&[&[bondxdp_bin().as_str()], args].concat());
        if out.status.success() && args.first() == Some(&"up") {
            self.bonds.lock().unwrap().push(args[1].to_string());
        }
        out
    }

    /// Runs `bondxdp ARGS`, which must succeed; returns stdout.
    pub fn bondxdp_ok(&self, args: &[&str]) -> String {
        let out = self.bondxdp(args);
        assert!(
            out.status.success(),
            "bondxdp {args:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `bondxdp status NAME --json`.
    pub fn status(&self, bond: &str) -> Value {
        serde_json::from_str(&self.bondxdp_ok(&["status", bond, "--json"])).expect("status JSON")
    }

    /// Runs `f` on a thread that has entered this namespace (sockets it opens live here).
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("open netns");
                use std::os::fd::AsRawFd;
                // SAFETY: valid namespace descriptor; affects only this thread.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("thread in netns panicked")
        })
    }

    /// Where bondxdp pins this namespace's bonds.
    pub fn pin_dir(&self) -> PathBuf {
        PathBuf::from(format!("/sys/fs/bpf/bondxdp/ns{}", self.pin_id))
    }

    /// Every interface with its MAC, flags and MTU.
    pub fn links(&self) -> Vec<LinkState> {
        let v: Value = serde_json::from_str(&self.ip(&["-j", "link", "show"])).expect("ip -j");
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| LinkState {
                name: l["ifname"].as_str().unwrap_or_default().to_string(),
                mac: l["address"].as_str().unwrap_or_default().to_string(),
                flags: l["flags"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .map(|x| x.as_str().unwrap().to_string())
                            .filter(|x| !matches!(x.as_str(), "LOWER_UP" | "NO-CARRIER" | "M-DOWN"))
                            .collect()
                    })
                    .unwrap_or_default(),
                mtu: l["mtu"].as_u64().unwrap_or(0),
            })
            .collect()
    }

    /// One interface's state.
    pub fn link(&self, name: &str) -> LinkState {
        self.links()
            .into_iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no interface {name} in {}", self.name))
    }

    /// Whether interface `name` exists.
    pub fn has_link(&self, name: &str) -> bool {
        self.links().iter().any(|l| l.name == name)
    }

    /// Raw `ip -j -s link show dev NAME` JSON.
    fn link_json(&self, name: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ip(&["-j", "-s", "link", "show", "dev", name]))
            .expect("ip -j -s");
        v[0].clone()
    }

    /// Packets the interface received (its own counter).
    pub fn rx_packets(&self, name: &str) -> u64 {
        self.link_json(name)["stats64"]["rx"]["packets"]
            .as_u64()
            .unwrap()
    }

    /// Packets the interface sent (its own counter).
    pub fn tx_packets(&self, name: &str) -> u64 {
        self.link_json(name)["stats64"]["tx"]["packets"]
            .as_u64()
            .unwrap()
    }

    /// Whether an XDP program is attached to the interface.
    pub fn has_xdp(&self, name: &str) -> bool {
        self.link_json(name).get("xdp").is_some()
    }

    /// The name of the XDP program attached to interface `name`, if any.
    pub fn xdp_program(&self, name: &str) -> Option<String> {
        let v: Value = serde_json::from_str(&self.ip(&["-j", "-d", "link", "show", "dev", name]))
            .expect("ip -j -d");
        v[0]["xdp"]["prog"]["name"].as_str().map(str::to_string)
    }

    /// Drops every frame of `ethertype` that `dev` sends (`hook` "egress") or receives
    /// ("ingress"), with an nftables netdev rule: a silent failure of one protocol on one
    /// link. Returns the rule's table, for [`Netns::allow`].
    pub fn drop_ethertype(&self, dev: &str, hook: &str, ethertype: u16) -> String {
        let table = format!("drop_{hook}_{dev}_{ethertype:04x}");
        self.exec_ok(&["nft", "add", "table", "netdev", &table]);
        self.exec_ok(&[
            "nft",
            &format!(
                "add chain netdev {table} c {{ type filter hook {hook} device {dev} priority 0; }}"
            ),
        ]);
        self.exec_ok(&[
            "nft",
            &format!("add rule netdev {table} c ether type {ethertype:#06x} drop"),
        ]);
        table
    }

    /// Removes a rule of [`Netns::drop_ethertype`].
    pub fn allow(&self, table: &str) {
        self.exec_ok(&["nft", "delete", "table", "netdev", table]);
    }

    /// Sets `net.ipv6.conf.IF.disable_ipv6`.
    pub fn disable_ipv6(&self, ifname: &str) {
        self.exec_ok(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{ifname}.disable_ipv6=1"),
        ]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let bin = bondxdp_bin();
        for bond in self.bonds.lock().unwrap().drain(..) {
            let _ = Command::new("ip")
                .args(["netns", "exec", &self.name, &bin, "down", &bond])
                .output();
        }
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).output();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        // Pins of bonds a test left behind on purpose (crash tests) or by failing.
        let _ = std::fs::remove_dir_all(self.pin_dir());
    }
}

/// Two hosts, `a` and `b`, joined by `n` links: `a0`..`a{n-1}` in `a` are paired with
/// `b0`..`b{n-1}` in `b`, either directly (veth pairs) or through a switch namespace.
pub struct Pair {
    /// Host A.
    pub a: Netns,
    /// Host B.
    pub b: Netns,
    /// Number of links.
    pub n: usize,
    /// The switch between them, if any ([`Pair::switched`]).
    pub sw: Option<Netns>,
}

/// Address of bond0 in host A.
pub const ADDR_A: &str = "198.18.0.1";
/// Address of bond0 in host B.
pub const ADDR_B: &str = "198.18.0.2";

impl Pair {
    /// Creates the two hosts and their links.
    pub fn new(tag: &str, n: usize) -> Pair {
        let pair = Pair {
            a: Netns::new(&format!("{tag}a")),
            b: Netns::new(&format!("{tag}b")),
            n,
            sw: None,
        };
        for i in 0..n {
            run_ok(Command::new("ip").args([
                "link",
                "add",
                &format!("a{i}"),
                "netns",
                pair.a.name(),
                "type",
                "veth",
                "peer",
                "name",
                &format!("b{i}"),
                "netns",
                pair.b.name(),
            ]));
        }
        pair
    }

    /// Like [`Pair::new`], but each link goes through its own bridge in a switch namespace:
    /// `aI` - `saI` [brI] `sbI` - `bI`. [`Pair::cut_silently`] then fails a link the way a
    /// dead switch port does: every carrier stays up, nothing gets through.
    pub fn switched(tag: &str, n: usize) -> Pair {
        let pair = Pair {
            a: Netns::new(&format!("{tag}a")),
            b: Netns::new(&format!("{tag}b")),
            n,
            sw: Some(Netns::new(&format!("{tag}s"))),
        };
        let sw = pair.sw.as_ref().unwrap();
        // A switch does not speak: no IPv6 chatter from its bridges and ports.
        sw.exec_ok(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        for i in 0..n {
            for (side, host) in [("a", &pair.a), ("b", &pair.b)] {
                run_ok(Command::new("ip").args([
                    "link",
                    "add",
                    &format!("{side}{i}"),
                    "netns",
                    host.name(),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &format!("s{side}{i}"),
                    "netns",
                    sw.name(),
                ]));
            }
            let br = format!("br{i}");
            sw.ip(&[
                "link",
                "add",
                &br,
                "type",
                "bridge",
                "stp_state",
                "0",
                "forward_delay",
                "0",
            ]);
            sw.ip(&["link", "set", &br, "up"]);
            for port in [format!("sa{i}"), format!("sb{i}")] {
                sw.ip(&["link", "set", &port, "master", &br]);
                sw.ip(&["link", "set", &port, "up"]);
            }
        }
        pair
    }

    /// Fails link `i` silently (switch namespace only): both carriers stay up, but the
    /// switch forwards nothing between the two ends.
    pub fn cut_silently(&self, i: usize) {
        let sw = self.sw.as_ref().expect("a switched pair");
        sw.ip(&["link", "set", &format!("sa{i}"), "nomaster"]);
    }

    /// Repairs a link cut by [`Pair::cut_silently`].
    pub fn repair(&self, i: usize) {
        let sw = self.sw.as_ref().expect("a switched pair");
        sw.ip(&[
            "link",
            "set",
            &format!("sa{i}"),
            "master",
            &format!("br{i}"),
        ]);
    }

    /// Member names on side `side` ("a" or "b").
    pub fn members(&self, side: &str) -> Vec<String> {
        (0..self.n).map(|i| format!("{side}{i}")).collect()
    }

    /// Brings up `bond0` on both sides with the same extra options, gives it
    /// [`ADDR_A`]/[`ADDR_B`] (and 2001:db8::1/2), and checks that ping works.
    pub fn bond_both(&self, options: &[&str]) {
        self.bond_side("a", options);
        self.bond_side("b", options);
        self.ping_ok();
    }

    /// Brings up `bond0` on one side with its addresses.
    pub fn bond_side(&self, side: &str, options: &[&str]) {
        let (ns, v4, v6) = match side {
            "a" => (&self.a, ADDR_A, "2001:db8::1"),
            _ => (&self.b, ADDR_B, "2001:db8::2"),
        };
        let members = self.members(side);
        let mut args = vec!["up", "bond0"];
        args.extend_from_slice(options);
        for m in &members {
            args.extend_from_slice(&["-m", m]);
        }
        ns.bondxdp_ok(&args);
        ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", "bond0"]);
        ns.ip(&["addr", "add", &format!("{v6}/64"), "dev", "bond0", "nodad"]);
    }

    /// Pings B from A (IPv4); panics if no reply comes back.
    pub fn ping_ok(&self) {
        self.a
            .exec_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", ADDR_B]);
    }

    /// Packets received by each of B's members (B's own counters).
    pub fn b_rx(&self) -> Vec<u64> {
        self.members("b")
            .iter()
            .map(|m| self.b.rx_packets(m))
            .collect()
    }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
