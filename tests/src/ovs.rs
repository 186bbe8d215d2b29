//! Open vSwitch as a test's LACP partner: `ovsdb-server` and `ovs-vswitchd` on the userspace
//! (netdev) datapath, inside one of the test's namespaces, with their database, sockets,
//! pid files and logs in a temporary directory of their own. Started by [`Ovs::start`],
//! stopped (by pid file) and removed on drop, also when the test panics.
//!
//! Nothing here needs the openvswitch kernel module: the netdev datapath reads and writes
//! the member interfaces through AF_PACKET, and its bridge (`br0`) is a tap device that
//! carries the namespace's IP traffic.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use crate::Netns;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A running Open vSwitch in a namespace.
pub struct Ovs {
    ns: String,
    dir: PathBuf,
}

/// One member of an OVS bond as `ovs-appctl lacp/show` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OvsLacpMember {
    /// Interface name.
    pub name: String,
    /// `current`, `expired` or `defaulted`.
    pub status: String,
    /// Whether it is attached to the bond's aggregate.
    pub attached: bool,
    /// Its actor key.
    pub actor_key: u16,
    /// The partner's system id.
    pub partner_system: String,
    /// The partner's key.
    pub partner_key: u16,
    /// The partner's state flags, as words (`activity timeout ... distributing`).
    pub partner_state: String,
}

/// An OVS bond's LACP as `ovs-appctl lacp/show` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OvsLacp {
    /// `negotiated` appears in its status line.
    pub negotiated: bool,
    /// OVS's LACP system id.
    pub system: String,
    /// Its members.
    pub members: Vec<OvsLacpMember>,
}

impl OvsLacp {
    /// Parses `ovs-appctl lacp/show BOND` output.
    pub fn parse(text: &str) -> OvsLacp {
        let mut out = OvsLacp::default();
        let mut member: Option<OvsLacpMember> = None;
        for line in text.lines().map(str::trim) {
            let value = |key: &str| line.strip_prefix(key).map(|v| v.trim().to_string());
            if let Some(rest) = line.strip_prefix("status:") {
                out.negotiated = rest.contains("negotiated");
            } else if let Some(rest) = line.strip_prefix("member:") {
                out.members.extend(member.take());
                // "o0: current attached"
                let (name, state) = rest.trim().split_once(':').unwrap_or((rest, ""));
                let mut words = state.split_whitespace();
                member = Some(OvsLacpMember {
                    name: name.trim().to_string(),
                    status: words.next().unwrap_or_default().to_string(),
                    attached: words.next() == Some("attached"),
                    ..Default::default()
                });
            } else if let Some(m) = member.as_mut() {
                if let Some(v) = value("actor key:") {
                    m.actor_key = v.parse().unwrap_or(0);
                } else if let Some(v) = value("partner sys_id:") {
                    m.partner_system = v;
                } else if let Some(v) = value("partner key:") {
                    m.partner_key = v.parse().unwrap_or(0);
                } else if let Some(v) = value("partner state:") {
                    m.partner_state = v;
                }
            } else if let Some(v) = value("sys_id:") {
                out.system = v;
            }
        }
        out.members.extend(member);
        out
    }

    /// The member named `name`.
    pub fn member(&self, name: &str) -> Option<&OvsLacpMember> {
        self.members.iter().find(|m| m.name == name)
    }
}

impl Ovs {
    /// Starts ovsdb-server and ovs-vswitchd in `ns`. The namespace's kernel stack is told to
    /// answer ARP only on the interface that owns the address: the bond's member interfaces
    /// are also ordinary interfaces of the namespace, and must not answer for `br0`.
    pub fn start(ns: &Netns) -> Ovs {
        let dir = std::env::temp_dir().join(format!(
            "bondxdp-ovs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("OVS directory");
        let ovs = Ovs {
            ns: ns.name().to_string(),
            dir,
        };
        ns.exec_ok(&["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"]);
        let d = ovs.dir.display().to_string();
        ovs.run(&[
            "ovsdb-tool",
            "create",
            &format!("{d}/conf.db"),
            "/usr/share/openvswitch/vswitch.ovsschema",
        ]);
        ovs.run(&[
            "ovsdb-server",
            &format!("{d}/conf.db"),
            &format!("--remote=punix:{d}/db.sock"),
            &format!("--pidfile={d}/ovsdb.pid"),
            &format!("--unixctl={d}/ovsdb.ctl"),
            &format!("--log-file={d}/ovsdb.log"),
            "--detach",
        ]);
        ovs.vsctl(&["--no-wait", "init"]);
        ovs.run(&[
            "ovs-vswitchd",
            &format!("unix:{d}/db.sock"),
            &format!("--pidfile={d}/vswitchd.pid"),
            &format!("--unixctl={d}/vswitchd.ctl"),
            &format!("--log-file={d}/vswitchd.log"),
            "--detach",
        ]);
        ovs
    }

    /// Runs an OVS program in the namespace with every run/db/log directory pointing at
    /// ours; panics with its output if it fails.
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .env("OVS_RUNDIR", &self.dir)
            .env("OVS_LOGDIR", &self.dir)
            .env("OVS_DBDIR", &self.dir)
            .env("OVS_SYSCONFDIR", &self.dir)
            .output()
            .expect("spawn an OVS program");
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ovs-vsctl ARGS` against our database.
    pub fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}/db.sock", self.dir.display());
        self.run(&[&["ovs-vsctl", db.as_str(), "--timeout=10"], args].concat())
    }

    /// `ovs-appctl ARGS` against our ovs-vswitchd.
    pub fn appctl(&self, args: &[&str]) -> String {
        let target = format!("{}/vswitchd.ctl", self.dir.display());
        self.run(&[&["ovs-appctl", "-t", target.as_str()], args].concat())
    }

    /// `ovs-appctl lacp/show BOND`, parsed.
    pub fn lacp(&self, bond: &str) -> OvsLacp {
        OvsLacp::parse(&self.appctl(&["lacp/show", bond]))
    }

    /// A bridge `br0` on the userspace datapath with an LACP bond `bond` of `members`
    /// (active, fast, balance-tcp, rebalanced every second), and `addr` (CIDR) on the
    /// bridge's own interface.
    pub fn lacp_bridge(&self, ns: &Netns, bond: &str, members: &[&str], addr: &str) {
        for m in members {
            ns.ip(&["link", "set", m, "up"]);
        }
        self.vsctl(&[
            "add-br",
            "br0",
            "--",
            "set",
            "bridge",
            "br0",
            "datapath_type=netdev",
        ]);
        let mut args = vec!["add-bond", "br0", bond];
        args.extend_from_slice(members);
        args.extend_from_slice(&[
            "lacp=active",
            "bond_mode=balance-tcp",
            "--",
            "set",
            "port",
            bond,
            "other_config:lacp-time=fast",
            "other_config:bond-rebalance-interval=1000",
        ]);
        self.vsctl(&args);
        ns.ip(&["link", "set", "br0", "up"]);
        ns.ip(&["addr", "add", addr, "dev", "br0"]);
    }

    /// ovs-vswitchd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("vswitchd.log")).unwrap_or_default()
    }

    /// Where its files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops one daemon by its pid file: SIGTERM, then SIGKILL if it lingers.
    fn stop(&self, pidfile: &str) {
        let Ok(pid) = std::fs::read_to_string(self.dir.join(pidfile)) else {
            return;
        };
        let Ok(pid) = pid.trim().parse::<i32>() else {
            return;
        };
        // SAFETY: signalling a process this harness started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        for _ in 0..100 {
            // SAFETY: signal 0 only checks that the process exists.
            if unsafe { libc::kill(pid, 0) } != 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- ovs-vswitchd log ---\n{}", self.log());
        }
        self.stop("vswitchd.pid");
        self.stop("ovsdb.pid");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lacp_show_parses() {
        let text = "---- bond0 ----\n  status: active negotiated\n  sys_id: 86:b0:58:5f:b8:46\n  \
                    sys_priority: 65534\n  aggregation key: 1\n  lacp_time: fast\n\nmember: o0: \
                    current attached\n  port_id: 2\n\n  actor sys_id: 86:b0:58:5f:b8:46\n  actor \
                    key: 1\n  actor state: activity\n\n  partner sys_id: 0e:5d:16:12:c0:5f\n  \
                    partner key: 15\n  partner state: activity timeout aggregation synchronized \
                    collecting distributing\n\nmember: o1: expired detached\n  actor key: 1\n";
        let l = OvsLacp::parse(text);
        assert!(l.negotiated);
        assert_eq!(l.system, "86:b0:58:5f:b8:46");
        assert_eq!(l.members.len(), 2);
        let o0 = l.member("o0").unwrap();
        assert_eq!((o0.status.as_str(), o0.attached), ("current", true));
        assert_eq!(o0.partner_system, "0e:5d:16:12:c0:5f");
        assert_eq!((o0.actor_key, o0.partner_key), (1, 15));
        assert!(o0.partner_state.ends_with("distributing"));
        let o1 = l.member("o1").unwrap();
        assert_eq!((o1.status.as_str(), o1.attached), ("expired", false));
    }
}
