//! The XDP fast path end to end: client -- router (bondxdp, `--forward-from lan0`) == links ==
//! upstream. TCP and UDP, IPv4 and IPv6, both directions; the router's own forwarding
//! counters prove the kernel did not carry the traffic; bad input and live changes.

use std::{net::SocketAddr, time::Duration};

use bondxdp_tests::{
    LACP_FAST,
    controller::Controller,
    eventually,
    router::{CLIENT, Routed, UPSTREAM, UPSTREAM6},
    traffic::{tcp_echo, udp_burst, udp_stream},
};

fn events(r: &Routed, name: &str) -> u64 {
    r.router.status("bond0")["events"][name]
        .as_u64()
        .unwrap_or(0)
}

/// One TCP connection from the client to the upstream host per port, each echoing `bytes`
/// back in full.
fn echo_tcp_to_upstream(r: &Routed, ports: std::ops::Range<u16>, bytes: usize) {
    for port in ports {
        let addr: SocketAddr = format!("{UPSTREAM}:{port}").parse().unwrap();
        assert_eq!(
            tcp_echo(&r.client, &r.upstream, addr, bytes),
            bytes,
            "{addr}"
        );
    }
}

fn member_tx(r: &Routed) -> Vec<u64> {
    r.router.status("bond0")["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["tx_packets"].as_u64().unwrap())
        .collect()
}

const XOR: [&str; 4] = ["--mode", "balance-xor", "--xmit-hash-policy", "layer3+4"];

/// What the router forwarded: in XDP, by its kernel, and out of each member.
struct Forwarded {
    fast: u64,
    kernel: u64,
    sent: Vec<u64>,
}

impl Forwarded {
    /// The router's counters now.
    fn now(r: &Routed) -> Forwarded {
        Forwarded {
            fast: events(r, "xdp_forwarded"),
            kernel: r.kernel_forwarded(),
            sent: member_tx(r),
        }
    }

    /// What the router forwarded since `self` was taken.
    fn since(&self, r: &Routed) -> Forwarded {
        let now = Forwarded::now(r);
        Forwarded {
            fast: now.fast - self.fast,
            kernel: now.kernel - self.kernel,
            sent: now
                .sent
                .iter()
                .zip(&self.sent)
                .map(|(a, b)| a - b)
                .collect(),
        }
    }
}

#[test]
fn routed_traffic_takes_the_xdp_path_both_ways_over_every_member() {
    let r = Routed::new("fpx", 2);
    let mut router = XOR.to_vec();
    router.extend_from_slice(&["--forward-from", "lan0"]);
    r.bond(&router, &XOR);
    let status = r.router.status("bond0");
    assert_eq!(status["forward_from"][0]["name"], "lan0", "{status}");
    assert!(r.router.has_xdp("lan0") && r.router.has_xdp("a0") && r.router.has_xdp("a1"));
    // The first packets resolve neighbours through the kernel.
    r.client
        .exec_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", UPSTREAM]);
    r.client
        .exec_ok(&["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", UPSTREAM6]);

    let before = Forwarded::now(&r);
    // TCP both ways (echoed), over IPv4 on several ports and over IPv6.
    echo_tcp_to_upstream(&r, 7001..7007, 400_000);
    let addr: SocketAddr = format!("[{UPSTREAM6}]:7010").parse().unwrap();
    assert_eq!(tcp_echo(&r.client, &r.upstream, addr, 400_000), 400_000);
    // UDP: a sequenced stream, nothing lost.
    let (report, ()) = udp_stream(
        &r.client,
        &r.upstream,
        format!("{CLIENT}:7100").parse().unwrap(),
        format!("{UPSTREAM}:7101").parse().unwrap(),
        2000,
        Duration::from_millis(500),
        || {},
    );
    assert_eq!(report.lost, 0, "{report:?}");

    let Forwarded { fast, kernel, sent } = before.since(&r);
    eprintln!("fast path {fast} packets, kernel forwarding {kernel}, per member {sent:?}");
    assert!(fast > 2_000, "the fast path carried {fast} packets");
    assert!(
        kernel * 50 < fast,
        "the kernel forwarded {kernel} packets next to {fast} in XDP"
    );
    assert!(
        sent.iter().all(|&s| s > 100),
        "flows spread over every member: {sent:?}"
    );

    // Broadcast mode: the devmap broadcast sends a copy through every member.
    r.router.bondxdp_ok(&["set", "bond0", "mode=broadcast"]);
    let rx_before: Vec<u64> = (0..2)
        .map(|i| r.upstream.rx_packets(&format!("b{i}")))
        .collect();
    udp_burst(
        &r.client,
        format!("{CLIENT}:7200").parse().unwrap(),
        format!("{UPSTREAM}:7201").parse().unwrap(),
        200,
        64,
    );
    std::thread::sleep(Duration::from_millis(200));
    for (i, before) in rx_before.iter().enumerate() {
        let got = r.upstream.rx_packets(&format!("b{i}")) - before;
        assert!(got >= 200, "b{i} received {got} of 200 copies");
    }
}

#[test]
fn bad_forward_from_is_refused_and_the_fast_path_changes_live() {
    let r = Routed::new("fpb", 2);
    let up = |extra: &[&str]| {
        let mut args = vec!["up", "bond0", "--mode", "balance-rr"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-m", "a0", "-m", "a1"]);
        let out = r.router.bondxdp(&args);
        assert!(!out.status.success(), "{extra:?} was accepted");
        assert!(!r.router.has_link("bond0"));
        assert!(!r.router.has_xdp("lan0") && !r.router.has_xdp("a0"));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let links = r.router.links();
    for (extra, expect) in [
        (vec!["--forward-from", "nope0"], "does not exist"),
        (vec!["--forward-from", "a1"], "part of bond0 itself"),
        (
            vec!["--forward-from", "lan0", "--forward-from", "lan0"],
            "given twice",
        ),
        (vec!["--forward-from", "lo"], "not an Ethernet interface"),
    ] {
        let err = up(&extra);
        assert!(err.contains(expect), "{extra:?}: {err}");
    }
    assert_eq!(r.router.links(), links, "nothing changed");

    // Up without the fast path: the kernel forwards.
    r.bond(&XOR, &XOR);
    let ping = |r: &Routed| {
        r.client
            .exec_ok(&["ping", "-c", "3", "-i", "0.1", "-W", "2", UPSTREAM]);
    };
    let kernel_before = r.kernel_forwarded();
    ping(&r);
    assert!(
        r.kernel_forwarded() - kernel_before >= 6,
        "kernel path in use"
    );
    // On, live.
    r.router.bondxdp_ok(&["set", "bond0", "forward_from=lan0"]);
    assert!(r.router.has_xdp("lan0") && r.router.has_xdp("a0") && r.router.has_xdp("a1"));
    ping(&r);
    let kernel_before = r.kernel_forwarded();
    let fast_before = events(&r, "xdp_forwarded");
    ping(&r);
    assert_eq!(
        r.kernel_forwarded(),
        kernel_before,
        "fast path on: kernel idle"
    );
    assert!(events(&r, "xdp_forwarded") - fast_before >= 6);
    assert_eq!(
        r.router.xdp_program("lan0").as_deref(),
        Some("xdp_lan_xor_l34")
    );
    // A bond whose pins lack the next mode's LAN-side program (brought up by an older
    // bondxdp) refuses the mode change and keeps running as it was.
    let ab = r.router.enter(|| {
        bondxdp::pins::BondPaths::current("bond0")
            .unwrap()
            .program("xdp_lan_ab")
    });
    let aside = ab.with_file_name("prog_xdp_lan_ab_aside");
    std::fs::rename(&ab, &aside).expect("pin renamed");
    let out = r.router.bondxdp(&["set", "bond0", "mode=active-backup"]);
    std::fs::rename(&aside, &ab).expect("pin restored");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("older bondxdp"),
        "{out:?}"
    );
    assert_eq!(r.router.status("bond0")["mode"], "balance-xor");
    assert_eq!(
        r.router.xdp_program("lan0").as_deref(),
        Some("xdp_lan_xor_l34")
    );
    // A mode change swaps the LAN side's program with the egress one, and the fast path
    // goes on: balance-rr sends the pings' packets through both members in turn.
    r.router.bondxdp_ok(&["set", "bond0", "mode=balance-rr"]);
    assert_eq!(r.router.xdp_program("lan0").as_deref(), Some("xdp_lan_rr"));
    assert_eq!(
        r.router.status("bond0")["forward_from"][0]["program"],
        "xdp_lan_rr"
    );
    ping(&r);
    let before = Forwarded::now(&r);
    ping(&r);
    let Forwarded { fast, kernel, sent } = before.since(&r);
    assert_eq!(kernel, 0, "still the fast path");
    assert!(fast >= 3);
    assert!(sent.iter().all(|&s| s > 0), "balance-rr: {sent:?}");
    r.router.bondxdp_ok(&[
        "set",
        "bond0",
        "mode=balance-xor",
        "xmit_hash_policy=layer3+4",
    ]);
    assert_eq!(
        r.router.xdp_program("lan0").as_deref(),
        Some("xdp_lan_xor_l34")
    );
    // Another bond cannot take the LAN interface.
    let out = r
        .router
        .bondxdp(&["up", "bond1", "--mode", "balance-rr", "-m", "lan0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--forward-from interface of bond0"));
    // Off, live: the XDP programs go (and the members leave the fast path's devmap),
    // forwarding goes on through the kernel.
    let member_ports = |r: &Routed| -> Vec<bool> {
        r.router.enter(|| {
            let paths = bondxdp::pins::BondPaths::current("bond0").unwrap();
            let pin = paths.map(bondxdp::fast_path::FWD_MEMBERS);
            let data = aya::maps::MapData::from_pin(pin).expect("members' devmap");
            let map = aya::maps::xdp::DevMap::try_from(aya::maps::Map::DevMap(data)).unwrap();
            (0..2).map(|slot| map.get(slot, 0).is_ok()).collect()
        })
    };
    assert_eq!(member_ports(&r), [true, true]);
    r.router.bondxdp_ok(&["set", "bond0", "forward_from="]);
    assert!(!r.router.has_xdp("lan0") && !r.router.has_xdp("a0") && !r.router.has_xdp("a1"));
    assert_eq!(member_ports(&r), [false, false]);
    let kernel_before = r.kernel_forwarded();
    ping(&r);
    assert!(r.kernel_forwarded() - kernel_before >= 6);
    // And `down` leaves nothing behind.
    r.router.bondxdp_ok(&["set", "bond0", "forward_from=lan0"]);
    r.router.bondxdp_ok(&["down", "bond0"]);
    assert!(!r.router.has_xdp("lan0") && !r.router.has_xdp("a0"));
}

#[test]
fn route_changes_reach_the_fast_path_at_once_while_the_controller_runs() {
    let r = Routed::new("fpr", 2);
    let mut router = XOR.to_vec();
    router.extend_from_slice(&["--forward-from", "lan0"]);
    r.bond(&router, &XOR);
    let _ctl = Controller::start(&r.router, &[], 1);
    let ping = |r: &Routed| {
        r.client
            .exec(&["ping", "-c", "3", "-i", "0.1", "-W", "1", UPSTREAM])
            .status
            .success()
    };
    assert!(ping(&r), "warm: neighbours resolved, routes cached");
    let fast_before = events(&r, "xdp_forwarded");
    assert!(ping(&r));
    assert!(
        events(&r, "xdp_forwarded") - fast_before >= 6,
        "cached and forwarded"
    );

    // Fresh cached answers first (any route event retires them and the next packets ask
    // again), so that they are well inside their one-second life below.
    let scratch = ["198.19.99.0/24", "dev", "lo"];
    r.router.ip(&[&["route", "add"][..], &scratch].concat());
    r.router.ip(&[&["route", "del"][..], &scratch].concat());
    std::thread::sleep(Duration::from_millis(200));
    let (fast_before, fib_before) = (events(&r, "xdp_forwarded"), events(&r, "xdp_pass_fib"));
    r.client.exec_ok(&["ping", "-c", "1", "-W", "1", UPSTREAM]);
    // A blackhole route for the upstream host: the kernel's event retires the cached
    // answer (which would otherwise be trusted for up to a second), so the packets sent
    // right after (200 ms: time for a loaded machine to deliver the event) ask the FIB and
    // go to the kernel, which drops them.
    r.router
        .ip(&["route", "add", "blackhole", &format!("{UPSTREAM}/32")]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!ping(&r), "the blackhole route holds at once");
    assert_eq!(
        events(&r, "xdp_forwarded"),
        fast_before + 2,
        "in XDP only the fresh ping and its reply"
    );
    assert!(events(&r, "xdp_pass_fib") - fib_before >= 3);

    // And its removal likewise.
    r.router
        .ip(&["route", "del", "blackhole", &format!("{UPSTREAM}/32")]);
    std::thread::sleep(Duration::from_millis(200));
    let fast_before = events(&r, "xdp_forwarded");
    assert!(ping(&r), "forwarding again at once");
    assert!(events(&r, "xdp_forwarded") - fast_before >= 6);
}

#[test]
fn an_8023ad_bond_forwards_in_xdp_through_the_members_lacp_distributes() {
    let r = Routed::new("fpl", 2);
    let mut router = LACP_FAST.to_vec();
    router.extend_from_slice(&["--forward-from", "lan0"]);
    r.bond(&router, LACP_FAST);
    // LACP runs in the controllers: both sides negotiate, then distribute.
    let _router_ctl = Controller::start(&r.router, &[], 1);
    let _upstream_ctl = Controller::start(&r.upstream, &[], 1);
    let distributing = |ns: &bondxdp_tests::Netns| {
        ns.status("bond0")["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["transmitting"].as_bool() == Some(true))
    };
    assert!(
        eventually(8000, || distributing(&r.router)
            && distributing(&r.upstream)),
        "{}",
        r.router.status("bond0")
    );
    assert_eq!(
        r.router.xdp_program("lan0").as_deref(),
        Some("xdp_lan_xor_l34")
    );
    r.client
        .exec_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", UPSTREAM]);

    let before = Forwarded::now(&r);
    echo_tcp_to_upstream(&r, 7301..7317, 200_000);
    let Forwarded { fast, kernel, sent } = before.since(&r);
    eprintln!("802.3ad: fast path {fast} packets, kernel {kernel}, per member {sent:?}");
    assert!(fast > 500, "the fast path carried {fast} packets");
    assert!(
        kernel * 50 < fast,
        "the kernel forwarded {kernel} next to {fast}"
    );
    assert!(sent.iter().all(|&s| s > 20), "both members carry: {sent:?}");
}
