//! A bond takes its addresses like any interface: a real DHCP server (dnsmasq) and IPv6
//! router advertisements (dnsmasq's) on the far side, the config file's `addresses = ["dhcp",
//! "slaac"]` on ours: an IPv4 lease with its lifetime and default route, renewed through the
//! other member after the one carrying it failed, and a SLAAC address with a default route.

use std::{
    process::{Child, Command, Stdio},
    time::Instant,
};

use bondxdp_tests::{Pair, controller::Controller, eventually};

/// dnsmasq on B's bond: DHCP for 198.18.0.100-150 (leases of 2 minutes, dnsmasq's shortest,
/// renewed every 3 s) with B as router, and router advertisements for 2001:db8:5::/64.
struct Dnsmasq {
    child: Child,
    log: std::path::PathBuf,
}

impl Dnsmasq {
    fn start(p: &Pair) -> Dnsmasq {
        let dir = std::env::temp_dir().join(format!("bondxdp-dnsmasq-{}", p.b.name()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                p.b.name(),
                "dnsmasq",
                "--no-daemon",
                "--conf-file=/dev/null",
            ])
            .args([
                "--port=0",
                "--interface=bond0",
                "--bind-interfaces",
                "--dhcp-authoritative",
                // Offer at once (dnsmasq pings an address for 3 s before offering it).
                "--no-ping",
                "--dhcp-range=198.18.0.100,198.18.0.150,255.255.255.0,2m",
                "--dhcp-option=option:router,198.18.0.2",
                "--dhcp-option=option:T1,3",
                "--dhcp-option=option:T2,100",
                "--enable-ra",
                "--ra-param=bond0,3",
                "--dhcp-range=::,constructor:bond0,ra-only,64",
                "--log-dhcp",
            ])
            .arg(format!("--dhcp-leasefile={}", dir.join("leases").display()))
            .arg(format!("--log-facility={}", log.display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (cargo xtask setup installs dnsmasq-base)");
        Dnsmasq { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bond's IPv4 lease as `ip -4 addr` shows it: (address, valid lifetime in seconds).
fn lease(p: &Pair) -> Option<(String, u64)> {
    let shown = p.a.ip(&["-4", "-o", "addr", "show", "dev", "bond0"]);
    let line = shown.lines().find(|l| l.contains("198.18.0.1"))?;
    let addr = line.split_whitespace().nth(3)?.to_string();
    let valid = line
        .split("valid_lft ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .trim_end_matches("sec")
        .parse()
        .ok()?;
    Some((addr, valid))
}

#[test]
fn dhcp_lease_renews_after_failover_and_slaac_configures_ipv6() {
    let p = Pair::new("dhc", 2);
    p.bond_side("b", &["--mode", "active-backup", "--miimon", "100"]);
    p.b.ip(&["addr", "add", "2001:db8:5::2/64", "dev", "bond0", "nodad"]);
    let server = Dnsmasq::start(&p);
    // B's bond follows the failover too (B's traffic then arrives on the member A now uses).
    let _ctl_b = Controller::start(&p.b, &[], 1);
    // A forwards (a router's WAN bond): without `slaac` (accept_ra 2) the kernel would ignore
    // the router advertisements.
    p.a.exec_ok(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    let dir = std::env::temp_dir().join(format!("bondxdp-dhcp-{}", p.a.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bondxdp.toml");
    std::fs::write(
        &config,
        "[[bond]]\nname = \"bond0\"\nmembers = [\"a0\", \"a1\"]\nmode = \"active-backup\"\n\
         miimon = 100\naddresses = [\"dhcp\", \"slaac\"]\n",
    )
    .unwrap();
    let ctl = Controller::start(&p.a, &["--config", &config.to_string_lossy()], 1);

    // IPv4: a lease from the range, with a lifetime (not "forever"), and the router.
    assert!(
        eventually(20_000, || lease(&p).is_some()),
        "no lease\n{}\n{}",
        ctl.log(),
        server.log()
    );
    let (addr, valid) = lease(&p).unwrap();
    assert!(addr.ends_with("/24"), "{addr}");
    assert!(
        valid > 0 && valid <= 120,
        "the lease's lifetime, 2 min: {valid}"
    );
    let route = p.a.ip(&["-4", "route", "show", "default"]);
    assert!(
        route.contains("via 198.18.0.2 dev bond0"),
        "default route from the lease: {route}"
    );
    p.a.exec_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "198.18.0.2"]);

    // The member carrying traffic fails; the renewals after it go through the other.
    let active = p.a.status("bond0")["active"].as_str().unwrap().to_string();
    let peer = active.replace('a', "b");
    let renewed = |log: &str| log.matches("dhcp: renewed").count();
    let before = renewed(&ctl.log());
    let failed = Instant::now();
    p.b.ip(&["link", "set", &peer, "down"]);
    assert!(
        eventually(5000, || p.a.status("bond0")["active"] != active.as_str()),
        "no failover from {active}"
    );
    assert!(
        eventually(15_000, || renewed(&ctl.log()) >= before + 2),
        "no renewal after the failover ({:?} since)\n{}\n{}",
        failed.elapsed(),
        ctl.log(),
        server.log()
    );
    let (again, valid) = lease(&p).expect("still leased");
    assert_eq!(again, addr, "the same address");
    assert!(valid >= 110, "the renewal refreshed the lifetime: {valid}");
    assert!(
        server.log().matches("DHCPACK").count() >= 3,
        "the server acknowledged the renewals:\n{}",
        server.log()
    );
    p.a.exec_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "198.18.0.2"]);

    // IPv6: a SLAAC address in the advertised prefix and a default route via B.
    assert!(
        eventually(20_000, || {
            let shown = p.a.ip(&["-6", "-o", "addr", "show", "dev", "bond0"]);
            shown.contains("2001:db8:5:") && shown.contains("dynamic")
        }),
        "no SLAAC address: {}",
        p.a.ip(&["-6", "addr", "show", "dev", "bond0"])
    );
    assert!(
        eventually(5000, || {
            let r = p.a.ip(&["-6", "route", "show", "default"]);
            r.contains("via fe80:") && r.contains("dev bond0")
        }),
        "no IPv6 default route: {}",
        p.a.ip(&["-6", "route"])
    );
    p.a.exec_ok(&[
        "ping",
        "-6",
        "-c",
        "2",
        "-i",
        "0.2",
        "-W",
        "2",
        "2001:db8:5::2",
    ]);
    drop(ctl);
    let _ = std::fs::remove_dir_all(&dir);
}
