//! 802.3ad end to end: bondxdp against bondxdp and against Open vSwitch, with the
//! controller (`bondxdp run`) speaking LACP on every member. Negotiation, traffic spread over
//! every distributing member both ways, a partner gone silent on one link (nftables drops its
//! LACPDUs) or losing carrier, members leaving and joining on the partner's side, a member
//! of another aggregation key kept out, and a controller crash and restart that never sends
//! through a member its partner has not confirmed.
//!
//! Times are measured from the controller's log (each change of a member's distributing state
//! is logged right after the configuration that makes it is published) and printed.

use std::{
    net::{SocketAddr, UdpSocket},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant, SystemTime},
};

use bondxdp::lacp::{Lacpdu, PortInfo, PortState, SlowPdu};
use bondxdp_tests::{
    LACP_FAST, Netns, Pair,
    capture::Capture,
    controller::{Controller, metric, scrape},
    eventually,
    netns::{ADDR_A, ADDR_B},
    ovs::Ovs,
    traffic::{udp_burst, udp_stream},
};
use serde_json::Value;

/// Slow Protocols, LACP's ethertype.
const SLOW_PROTOCOLS: u16 = 0x8809;

fn sock(addr: &str, port: u16) -> SocketAddr {
    format!("{addr}:{port}").parse().unwrap()
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn ms_since(t: SystemTime, since: SystemTime) -> u128 {
    t.duration_since(since).unwrap_or_default().as_millis()
}

/// `status bond0 --json` members, by name.
fn members(ns: &Netns) -> Vec<Value> {
    ns.status("bond0")["members"].as_array().unwrap().clone()
}

/// Per member: (name, data plane transmits through it, LACP has it distributing).
fn distributing(ns: &Netns) -> Vec<(String, bool, bool)> {
    members(ns)
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["transmitting"].as_bool().unwrap(),
                m["lacp"]["distributing"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

/// Whether every member transmits and LACP has it distributing.
fn all_distributing_now(ns: &Netns) -> bool {
    distributing(ns).iter().all(|m| m.1 && m.2)
}

/// The active aggregator as `status` shows it (`Null` if there is none).
fn active_aggregator(ns: &Netns) -> Value {
    let s = ns.status("bond0");
    let active = s["lacp"]["active_aggregator"].as_u64();
    s["lacp"]["aggregators"]
        .as_array()
        .and_then(|aggs| aggs.iter().find(|a| a["id"].as_u64() == active))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Packets sent through each member so far (bondxdp's per-member counters).
fn tx(ns: &Netns) -> Vec<u64> {
    members(ns)
        .iter()
        .map(|m| m["tx_packets"].as_u64().unwrap())
        .collect()
}

/// Packets received on each member and delivered to the bond so far.
fn rx(ns: &Netns) -> Vec<u64> {
    members(ns)
        .iter()
        .map(|m| m["rx_packets"].as_u64().unwrap())
        .collect()
}

fn delta(after: &[u64], before: &[u64]) -> Vec<u64> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

/// Sends `flows` UDP flows (one source port each) of `count` datagrams from `from` to `to`.
fn flows(from: &Netns, src: &str, to: &str, base: u16, flows: u16, count: usize) {
    for i in 0..flows {
        udp_burst(
            from,
            sock(src, base + i),
            sock(to, 9000 + (i % 7)),
            count,
            200,
        );
    }
}

/// Sends `flows` UDP flows of 1000-byte datagrams from `from` to `to` for `duration`, at
/// about `pps` datagrams per second in all (long enough for OVS to rebalance its hashes).
fn flows_for(
    from: &Netns,
    src: &str,
    to: &str,
    base: u16,
    flows: u16,
    duration: Duration,
    pps: u32,
) {
    from.enter(|| {
        let socks: Vec<UdpSocket> = (0..flows)
            .map(|i| UdpSocket::bind(sock(src, base + i)).expect("bind"))
            .collect();
        let round = Duration::from_secs_f64(flows as f64 / pps as f64);
        let end = Instant::now() + duration;
        let payload = [0x5au8; 1000];
        while Instant::now() < end {
            for (i, s) in socks.iter().enumerate() {
                let _ = s.send_to(&payload, sock(to, 9000 + (i as u16 % 7)));
            }
            std::thread::sleep(round);
        }
    })
}

/// Waits until the controller logged "lacp: distributing" for every one of `names` after
/// `since`; returns the latest of those times.
fn all_distributing(ctl: &Controller, names: &[&str], since: SystemTime) -> SystemTime {
    names
        .iter()
        .map(|n| {
            ctl.when_logged_after(
                &["lacp: distributing", &format!("member={n} ")],
                since,
                Duration::from_secs(10),
            )
        })
        .max()
        .unwrap()
}

#[test]
fn bondxdp_pair_negotiates_spreads_traffic_and_drops_a_silent_or_dark_member() {
    let p = Pair::new("lp", 3);
    p.bond_side("a", LACP_FAST);
    p.bond_side("b", LACP_FAST);
    let start = SystemTime::now();
    let ctl_a = Controller::start(&p.a, &[], 1);
    let ctl_b = Controller::start(&p.b, &[], 1);
    let ready = all_distributing(&ctl_a, &["a0", "a1", "a2"], start);
    all_distributing(&ctl_b, &["b0", "b1", "b2"], start);
    eprintln!(
        "bondxdp pair: every member distributing {} ms after the controllers started",
        ms_since(ready, start)
    );
    assert!(
        eventually(1000, || all_distributing_now(&p.a)),
        "{:?}",
        distributing(&p.a)
    );
    p.ping_ok();

    // Both sides show the same aggregate, each naming the other as partner (once the PDUs
    // announcing "distributing" went out: at most three per second per port).
    let settled = |ns: &Netns| {
        members(ns)
            .iter()
            .all(|m| m["lacp"]["partner"]["state"].as_u64() == Some(0x3f))
    };
    assert!(
        eventually(3000, || settled(&p.a) && settled(&p.b)),
        "{:#?}",
        members(&p.a)
    );
    let (sa, sb) = (p.a.status("bond0"), p.b.status("bond0"));
    for (me, peer) in [(&sa, &sb), (&sb, &sa)] {
        let lacp = &me["lacp"];
        assert_eq!(lacp["lacp_rate"], "fast");
        let active = lacp["active_aggregator"]
            .as_u64()
            .expect("an active aggregator");
        let agg = lacp["aggregators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"].as_u64() == Some(active))
            .unwrap();
        assert_eq!(agg["partner_system"], peer["mac"], "{lacp}");
        // veth: 10 Gbit/s, full duplex: key 0x0f on both ends.
        assert_eq!(
            (agg["actor_key"].as_u64(), agg["partner_key"].as_u64()),
            (Some(15), Some(15))
        );
        assert_eq!(agg["ports"].as_array().unwrap().len(), 3);
        for (i, m) in me["members"].as_array().unwrap().iter().enumerate() {
            let l = &m["lacp"];
            assert_eq!(l["aggregator"].as_u64(), Some(active));
            assert_eq!(l["mux_state"], "collecting_distributing");
            assert_eq!(l["rx_state"], "current");
            assert_eq!(l["config"]["port_number"].as_u64(), Some(i as u64 + 1));
            // activity, short timeout, aggregation, in sync, collecting, distributing.
            assert_eq!(l["actor"]["state"].as_u64(), Some(0x3f));
            assert_eq!(l["partner"]["state"].as_u64(), Some(0x3f));
            assert_eq!(l["partner"]["system"], peer["mac"]);
        }
    }
    let text = p.a.bondxdp_ok(&["status", "bond0"]);
    for needle in [
        "802.3ad info",
        "LACP rate: fast",
        "Active Aggregator Info:",
        "details partner lacp pdu:",
        "port state: 63",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }

    // Traffic both ways over every member.
    let (ta, rb) = (tx(&p.a), rx(&p.b));
    flows(&p.a, ADDR_A, ADDR_B, 20000, 32, 20);
    let (ta2, rb2) = (tx(&p.a), rx(&p.b));
    let (tb, ra) = (tx(&p.b), rx(&p.a));
    flows(&p.b, ADDR_B, ADDR_A, 21000, 32, 20);
    let (tb2, ra2) = (tx(&p.b), rx(&p.a));
    eprintln!(
        "A->B by member: sent {:?}, delivered {:?}; B->A: sent {:?}, delivered {:?}",
        delta(&ta2, &ta),
        delta(&rb2, &rb),
        delta(&tb2, &tb),
        delta(&ra2, &ra)
    );
    for d in [
        delta(&ta2, &ta),
        delta(&rb2, &rb),
        delta(&tb2, &tb),
        delta(&ra2, &ra),
    ] {
        assert!(
            d.iter().all(|n| *n > 0),
            "every member carries some flows: {d:?}"
        );
    }

    // Bad frames on link 0 are counted by reason and change nothing: a truncated LACPDU, a
    // Slow Protocol of another subtype, and a LACPDU claiming to come from A itself (a loop).
    let a_mac = bondxdp::mac::parse_mac(sa["mac"].as_str().unwrap()).unwrap();
    let good = Lacpdu {
        actor: PortInfo {
            system_priority: 0xffff,
            system: a_mac,
            key: 15,
            port_priority: 255,
            port: 9,
            state: PortState::ACTIVITY | PortState::AGGREGATION,
        },
        ..Lacpdu::default()
    }
    .encode([2, 0, 0x5e, 0, 0, 0x99]);
    let mut other_subtype = good;
    other_subtype[14] = 10;
    let cap = Capture::start(&p.b, "b0");
    cap.send(&good[..30]);
    cap.send(&other_subtype);
    cap.send(&good);
    let counted = || {
        let c = &members(&p.a)[0]["lacp"]["counters"];
        c["malformed"]["truncated"].as_u64() >= Some(1)
            && c["malformed"]["unknown_subtype"].as_u64() >= Some(1)
            && c["loops"].as_u64() >= Some(1)
    };
    assert!(eventually(3000, counted), "{:#}", members(&p.a)[0]["lacp"]);
    assert!(all_distributing_now(&p.a));
    let text = p.a.bondxdp_ok(&["status", "bond0"]);
    assert!(
        text.contains("LACP faults: 2 malformed (truncated 1"),
        "{text}"
    );
    assert!(text.contains(", 1 loops"), "{text}");

    // B's LACPDUs on link 1 stop (its carrier stays up): A takes a1 out within the short
    // timeout (3 s after the last PDU it heard), B follows once A's port defaults.
    let silenced = SystemTime::now();
    let rule = p.b.drop_ethertype("b1", "egress", SLOW_PROTOCOLS);
    let out_a = ctl_a.when_logged_after(
        &["lacp: not distributing", "member=a1 "],
        silenced,
        Duration::from_secs(5),
    );
    let out_b = ctl_b.when_logged_after(
        &["lacp: not distributing", "member=b1 "],
        silenced,
        Duration::from_secs(8),
    );
    let removal = ms_since(out_a, silenced);
    eprintln!(
        "partner silent on link 1: A stopped using a1 after {removal} ms, B stopped using b1 \
         after {} ms",
        ms_since(out_b, silenced)
    );
    assert!(removal <= 3_200, "a1 removed after {removal} ms");
    let now = distributing(&p.a);
    assert!(!now[1].1 && !now[1].2, "{now:?}");
    assert!(now[0].1 && now[2].1, "{now:?}");
    // Nothing more leaves through a1; the other two carry every flow.
    let before = tx(&p.a);
    flows(&p.a, ADDR_A, ADDR_B, 22000, 32, 10);
    let d = delta(&tx(&p.a), &before);
    assert_eq!(d[1], 0, "{d:?}");
    assert!(d[0] > 0 && d[2] > 0, "{d:?}");
    p.ping_ok();

    // The PDUs come back: a1 rejoins (aggregate wait included).
    let healed = SystemTime::now();
    p.b.allow(&rule);
    let back = ctl_a.when_logged_after(
        &["lacp: distributing", "member=a1 "],
        healed,
        Duration::from_secs(8),
    );
    eprintln!(
        "LACPDUs back on link 1: a1 distributing again after {} ms",
        ms_since(back, healed)
    );
    assert!(eventually(2000, || distributing(&p.a).iter().all(|m| m.1)));

    // Carrier loss on link 2 (B's end goes down): out at once, no timeout to wait for.
    let dark = SystemTime::now();
    p.b.ip(&["link", "set", "b2", "down"]);
    let out = ctl_a.when_logged_after(
        &["lacp: not distributing", "member=a2 "],
        dark,
        Duration::from_secs(3),
    );
    let carrier_ms = ms_since(out, dark);
    eprintln!("carrier lost on link 2: a2 out after {carrier_ms} ms");
    assert!(carrier_ms < 500, "a2 removed after {carrier_ms} ms");
    assert!(!distributing(&p.a)[2].1);
    let lit = SystemTime::now();
    p.b.ip(&["link", "set", "b2", "up"]);
    let back = ctl_a.when_logged_after(
        &["lacp: distributing", "member=a2 "],
        lit,
        Duration::from_secs(8),
    );
    eprintln!(
        "carrier back on link 2: a2 distributing after {} ms",
        ms_since(back, lit)
    );
    p.ping_ok();

    // An option changed on a running bond reaches the partner at once; nothing stops.
    p.a.bondxdp_ok(&["set", "bond0", "ad_actor_sys_prio=100"]);
    let seen = || {
        members(&p.b)
            .iter()
            .all(|m| m["lacp"]["partner"]["system_priority"].as_u64() == Some(100))
            && distributing(&p.a).iter().all(|m| m.1)
            && distributing(&p.b).iter().all(|m| m.1)
    };
    assert!(eventually(3000, seen), "{:#?}", members(&p.b));
    p.ping_ok();
}

#[test]
fn restarted_controller_resumes_and_never_sends_through_an_unconfirmed_member() {
    let p = Pair::new("lr", 3);
    p.bond_side("a", LACP_FAST);
    p.bond_side("b", LACP_FAST);
    let start = SystemTime::now();
    let mut ctl_a = Controller::start(&p.a, &[], 1);
    let _ctl_b = Controller::start(&p.b, &[], 1);
    all_distributing(&ctl_a, &["a0", "a1", "a2"], start);
    assert!(eventually(1000, || distributing(&p.a).iter().all(|m| m.1)));

    // Which member carries the measured stream (port 7000 -> 7001)? Silence another one.
    let before = tx(&p.a);
    udp_burst(&p.a, sock(ADDR_A, 7000), sock(ADDR_B, 7001), 100, 64);
    let d = delta(&tx(&p.a), &before);
    let stream_member = (0..3).max_by_key(|i| d[*i]).unwrap();
    let silent = (stream_member + 1) % 3;
    let silent_name = format!("a{silent}");

    let background = AtomicBool::new(true);
    let mut log_after = String::new();
    let (report, (t_dead, t1, t2)) = std::thread::scope(|s| {
        // 64 flows in the background, so every distributing member carries some.
        s.spawn(|| {
            p.a.enter(|| {
                let socks: Vec<UdpSocket> = (0..64)
                    .map(|i| UdpSocket::bind(sock(ADDR_A, 30000 + i)).expect("bind"))
                    .collect();
                while background.load(Ordering::Relaxed) {
                    for s in &socks {
                        let _ = s.send_to(&[0u8; 64], sock(ADDR_B, 9100));
                    }
                    sleep_ms(20);
                }
            })
        });
        let result = udp_stream(
            &p.a,
            &p.b,
            sock(ADDR_A, 7000),
            sock(ADDR_B, 7001),
            2000,
            Duration::from_secs(5),
            || {
                sleep_ms(1000);
                ctl_a.kill9();
                // While A's controller is down, B stops answering on the silent link.
                sleep_ms(200);
                p.b.drop_ethertype(&format!("b{silent}"), "egress", SLOW_PROTOCOLS);
                let t_dead = tx(&p.a)[silent];
                let restarted = SystemTime::now();
                let ctl = Controller::start(&p.a, &[], 1);
                ctl.when_logged_after(
                    &["lacp: resumed from the pinned record"],
                    restarted,
                    Duration::from_secs(5),
                );
                for i in (0..3).filter(|i| *i != silent) {
                    let t = ctl.when_logged_after(
                        &["lacp: distributing", &format!("member=a{i} ")],
                        restarted,
                        Duration::from_secs(5),
                    );
                    eprintln!(
                        "after the restart a{i} distributes again at +{} ms",
                        ms_since(t, restarted)
                    );
                }
                sleep_ms(1000);
                let t1 = tx(&p.a)[silent];
                sleep_ms(1500);
                let t2 = tx(&p.a)[silent];
                log_after = ctl.log();
                (t_dead, t1, t2)
            },
        );
        background.store(false, Ordering::Relaxed);
        result
    });
    eprintln!(
        "restart under a 2000 pps stream: {report:?}; {silent_name} sent {t_dead} before the \
         restart, {t1} one second after, {t2} 2.5 s after"
    );
    assert!(
        report.longest_gap_ms < 50.0,
        "stream gap {:.1} ms: {report:?}\n{log_after}",
        report.longest_gap_ms
    );
    assert_eq!(
        t1, t2,
        "{silent_name} kept sending after the restart\n{log_after}"
    );
    assert!(
        !log_after.contains(&format!(
            "lacp: distributing bond=bond0 member={silent_name} "
        )),
        "{log_after}"
    );
    let now = distributing(&p.a);
    assert!(!now[silent].1, "{now:?}");
    assert!(
        now.iter().enumerate().all(|(i, m)| i == silent || m.1),
        "{now:?}"
    );
}

/// A bondxdp host (`p.a`, members a0..) and an Open vSwitch host (`p.b`) whose bond `bond0`
/// holds `b0..b{n-1}`, both fast; returns OVS and A's controller once A distributes on every
/// member, with the time that took.
fn with_ovs(p: &Pair, bond_members: usize) -> (Ovs, Controller, u128) {
    let ovs = Ovs::start(&p.b);
    let names: Vec<String> = (0..bond_members).map(|i| format!("b{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    ovs.lacp_bridge(&p.b, "bond0", &refs, &format!("{ADDR_B}/24"));
    p.bond_side("a", LACP_FAST);
    let start = SystemTime::now();
    let ctl = Controller::start(&p.a, &[], 1);
    let a_names: Vec<String> = (0..bond_members).map(|i| format!("a{i}")).collect();
    let a_refs: Vec<&str> = a_names.iter().map(String::as_str).collect();
    let ready = all_distributing(&ctl, &a_refs, start);
    (ovs, ctl, ms_since(ready, start))
}

#[test]
fn open_vswitch_negotiates_carries_traffic_and_follows_its_members() {
    let p = Pair::new("lo", 3);
    let (ovs, ctl, ready_ms) = with_ovs(&p, 3);
    eprintln!(
        "bondxdp with OVS: every member distributing {ready_ms} ms after the controller started"
    );
    let a_mac = p.a.status("bond0")["mac"].as_str().unwrap().to_string();
    let negotiated = || {
        let l = ovs.lacp("bond0");
        l.negotiated
            && l.members.len() == 3
            && l.members.iter().all(|m| {
                m.status == "current"
                    && m.attached
                    && m.partner_system == a_mac
                    && m.partner_state.contains("distributing")
            })
    };
    assert!(eventually(3000, negotiated), "{:?}", ovs.lacp("bond0"));
    let l = ovs.lacp("bond0");
    // bondxdp names OVS's system as its partner, with OVS's key.
    let agg = active_aggregator(&p.a);
    assert_eq!(
        agg["partner_system"].as_str(),
        Some(l.system.as_str()),
        "{agg}"
    );
    assert_eq!(
        agg["partner_key"].as_u64(),
        Some(l.members[0].actor_key as u64)
    );
    assert_eq!(l.members[0].partner_key, 15);
    p.ping_ok();

    // Traffic both ways, spread: bondxdp hashes layer3+4; OVS balance-tcp starts every
    // flow on its active member and moves hash buckets away from a loaded member when it
    // rebalances (every second here).
    let (ta, ra) = (tx(&p.a), rx(&p.a));
    flows(&p.a, ADDR_A, ADDR_B, 20000, 32, 20);
    flows_for(
        &p.b,
        ADDR_B,
        ADDR_A,
        21000,
        32,
        Duration::from_millis(3500),
        2000,
    );
    let (dt, dr) = (delta(&tx(&p.a), &ta), delta(&rx(&p.a), &ra));
    eprintln!("with OVS, by member: sent {dt:?}, received {dr:?}");
    assert!(
        dt.iter().all(|n| *n > 0),
        "bondxdp sends on every member: {dt:?}"
    );
    assert!(
        dr.iter().filter(|n| **n > 0).count() >= 2,
        "OVS spreads its flows: {dr:?}"
    );

    // OVS takes one member out of its bond (it stops sending LACPDUs there) and that
    // member leaves. Not OVS's key member: without a configured lacp-aggregation-key OVS
    // uses its lowest port number as the bond's key, so removing that member changes the
    // key on the others; they then form a new aggregator, which ad_select=stable (like the
    // kernel's) selects only once the old one is empty, an outage of several seconds that
    // a real switch with a fixed LAG key never causes.
    let key = ovs.lacp("bond0").members[0].actor_key.to_string();
    let gone = (0..3)
        .rev()
        .find(|i| {
            ovs.vsctl(&["get", "interface", &format!("b{i}"), "ofport"])
                .trim()
                != key
        })
        .expect("a member that is not OVS's key member");
    let (b_gone, a_gone) = (format!("b{gone}"), format!("member=a{gone} "));
    let removed = SystemTime::now();
    ovs.vsctl(&["del-bond-iface", "bond0", &b_gone]);
    let out = ctl.when_logged_after(
        &["lacp: not distributing", &a_gone],
        removed,
        Duration::from_secs(5),
    );
    let out_ms = ms_since(out, removed);
    eprintln!("OVS removed {b_gone}: a{gone} out of distribution after {out_ms} ms");
    assert!(out_ms <= 3_200, "a{gone} removed after {out_ms} ms");
    let before = tx(&p.a);
    flows(&p.a, ADDR_A, ADDR_B, 22000, 32, 10);
    let d = delta(&tx(&p.a), &before);
    assert!(
        (0..3).all(|i| (d[i] == 0) == (i == gone)),
        "only a{gone} idle: {d:?}"
    );
    p.ping_ok();

    // And puts it back.
    let added = SystemTime::now();
    ovs.vsctl(&["add-bond-iface", "bond0", &b_gone]);
    let back = ctl.when_logged_after(
        &["lacp: distributing", &a_gone],
        added,
        Duration::from_secs(8),
    );
    eprintln!(
        "OVS added {b_gone} back: a{gone} distributing after {} ms",
        ms_since(back, added)
    );
    assert!(eventually(3000, negotiated), "{:?}", ovs.lacp("bond0"));
    p.ping_ok();
}

#[test]
fn open_vswitch_port_with_another_aggregation_key_stays_out_of_the_aggregate() {
    // b0..b2 in OVS's bond0; b3, b4 in bond1 with its own aggregation key (same system).
    let p = Pair::new("lk", 5);
    let ovs = Ovs::start(&p.b);
    ovs.lacp_bridge(&p.b, "bond0", &["b0", "b1", "b2"], &format!("{ADDR_B}/24"));
    for m in ["b3", "b4"] {
        p.b.ip(&["link", "set", m, "up"]);
    }
    ovs.vsctl(&[
        "add-bond",
        "br0",
        "bond1",
        "b3",
        "b4",
        "lacp=active",
        "bond_mode=balance-tcp",
        "--",
        "set",
        "port",
        "bond1",
        "other_config:lacp-time=fast",
        "--",
        "set",
        "interface",
        "b3",
        "other_config:lacp-aggregation-key=77",
        "--",
        "set",
        "interface",
        "b4",
        "other_config:lacp-aggregation-key=77",
    ]);
    p.bond_side("a", LACP_FAST);
    let start = SystemTime::now();
    let ctl = Controller::start(&p.a, &[], 1);
    all_distributing(&ctl, &["a0", "a1", "a2"], start);
    // Let a3 and a4 settle too (they hear bond1's key-77 PDUs).
    let settled = || {
        let m = members(&p.a);
        m[3]["lacp"]["rx_state"] == "current" && m[4]["lacp"]["rx_state"] == "current"
    };
    assert!(eventually(5000, settled), "{:#?}", members(&p.a));
    sleep_ms(2500);
    let s = p.a.status("bond0");
    let lacp = &s["lacp"];
    let active = lacp["active_aggregator"].as_u64().unwrap();
    let aggs = lacp["aggregators"].as_array().unwrap();
    assert_eq!(aggs.len(), 2, "{lacp:#}");
    let ours = aggs
        .iter()
        .find(|a| a["id"].as_u64() == Some(active))
        .unwrap();
    let other = aggs
        .iter()
        .find(|a| a["id"].as_u64() != Some(active))
        .unwrap();
    assert_eq!(ours["ports"].as_array().unwrap().len(), 3, "{lacp:#}");
    assert_eq!(other["partner_key"].as_u64(), Some(77), "{lacp:#}");
    assert_eq!(
        other["partner_system"], ours["partner_system"],
        "same OVS system"
    );
    let m = members(&p.a);
    for (i, member) in m.iter().enumerate() {
        let l = &member["lacp"];
        let in_ours = i < 3;
        assert_eq!(
            l["aggregator"].as_u64() == Some(active),
            in_ours,
            "{member:#}"
        );
        assert_eq!(
            member["transmitting"].as_bool(),
            Some(in_ours),
            "{member:#}"
        );
        assert_eq!(member["receiving"].as_bool(), Some(in_ours), "{member:#}");
        if !in_ours {
            assert_eq!(l["selection"], "standby", "{member:#}");
        }
    }
    let text = p.a.bondxdp_ok(&["status", "bond0"]);
    assert!(text.contains("Standby Aggregator Info:"), "{text}");
    // OVS does not enable bond1's members either: we never tell it they are in sync.
    let l1 = ovs.lacp("bond1");
    for m in &l1.members {
        assert!(!m.partner_state.contains("synchronized"), "{l1:?}");
    }
    let before = tx(&p.a);
    flows(&p.a, ADDR_A, ADDR_B, 20000, 32, 10);
    let d = delta(&tx(&p.a), &before);
    eprintln!("key 77 kept out: sent by member {d:?}");
    assert!(d[3] == 0 && d[4] == 0, "{d:?}");
    assert!(d[..3].iter().all(|n| *n > 0), "{d:?}");
    p.ping_ok();
}

#[test]
fn passive_meets_passive_no_aggregate_until_one_side_turns_active_live() {
    let p = Pair::new("lq", 2);
    // lacp_strict: without it each side would carry traffic on one member without a
    // partner, as the kernel does (see without_lacp_partner_one_member_carries_traffic_...).
    let passive: Vec<&str> = LACP_FAST
        .iter()
        .copied()
        .chain(["--lacp-active", "off", "--lacp-strict", "on"])
        .collect();
    p.bond_side("a", &passive);
    p.bond_side("b", &passive);
    let _ctl_a = Controller::start(&p.a, &[], 1);
    let _ctl_b = Controller::start(&p.b, &[], 1);
    // Passive ports speak only when spoken to: with both sides passive nobody speaks, so
    // there is no aggregate and, strict, nothing transmits (the standard's rule).
    sleep_ms(3500);
    for ns in [&p.a, &p.b] {
        for m in members(ns) {
            assert_eq!(
                m["lacp"]["counters"]["lacpdu_tx"].as_u64(),
                Some(0),
                "{m:#}"
            );
            assert_eq!(
                m["lacp"]["counters"]["lacpdu_rx"].as_u64(),
                Some(0),
                "{m:#}"
            );
            assert_eq!(m["transmitting"].as_bool(), Some(false), "{m:#}");
        }
    }
    let out =
        p.a.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "1", ADDR_B]);
    assert!(!out.status.success(), "no aggregate, no traffic");

    // One side turns active, live: it speaks, the passive side answers, both aggregate.
    let turned = SystemTime::now();
    p.a.bondxdp_ok(&["set", "bond0", "lacp_active=on"]);
    assert!(
        eventually(6000, || all_distributing_now(&p.a)
            && all_distributing_now(&p.b)),
        "{:?} / {:?}",
        distributing(&p.a),
        distributing(&p.b)
    );
    eprintln!(
        "active again: both sides distributing after {} ms",
        ms_since(SystemTime::now(), turned)
    );
    p.ping_ok();
    for m in members(&p.b) {
        assert!(
            m["lacp"]["counters"]["lacpdu_tx"].as_u64() > Some(0),
            "B answers: {m:#}"
        );
    }
}

#[test]
fn a_partner_that_changes_its_key_or_system_mid_run_is_followed() {
    let p = Pair::new("lk2", 2);
    p.bond_side("a", LACP_FAST);
    p.bond_side("b", LACP_FAST);
    let start = SystemTime::now();
    let ctl_a = Controller::start(&p.a, &["--metrics", "127.0.0.1:9481"], 1);
    let _ctl_b = Controller::start(&p.b, &[], 1);
    all_distributing(&ctl_a, &["a0", "a1"], start);
    let partner = |ns: &Netns| {
        let agg = active_aggregator(ns);
        (agg["partner_system"].clone(), agg["partner_key"].clone())
    };
    let changes = |ns: &Netns| -> u64 {
        members(ns)
            .iter()
            .map(|m| m["lacp"]["counters"]["partner_changes"].as_u64().unwrap())
            .sum()
    };
    // B's key changes (ad_user_port_key sits in the key's top bits), then its system ID:
    // each time A's ports see another partner, re-select, and aggregate again with it.
    for (change, system, key) in [
        ("ad_user_port_key=5", None, (5 << 6) | 15),
        (
            "ad_actor_system=02:00:00:00:00:77",
            Some("02:00:00:00:00:77"),
            (5 << 6) | 15,
        ),
    ] {
        let before = changes(&p.a);
        let at = SystemTime::now();
        p.b.bondxdp_ok(&["set", "bond0", change]);
        let followed = || {
            let (sys, k) = partner(&p.a);
            k.as_u64() == Some(key)
                && system.is_none_or(|s| sys == s)
                && all_distributing_now(&p.a)
                && all_distributing_now(&p.b)
        };
        assert!(
            eventually(8000, followed),
            "{change}: {:?} {:?}",
            partner(&p.a),
            distributing(&p.a)
        );
        eprintln!(
            "{change}: followed, distributing again after {} ms",
            ms_since(SystemTime::now(), at)
        );
        assert!(changes(&p.a) > before, "{change}: counted");
        p.ping_ok();
    }
    // The same in Prometheus metrics.
    let m = scrape(&p.a, 9481);
    for member in ["a0", "a1"] {
        let l = format!("{{bond=\"bond0\",member=\"{member}\"}}");
        assert_eq!(metric(&m, &format!("bondxdp_lacp_distributing{l}")), 1.0);
        assert_eq!(metric(&m, &format!("bondxdp_lacp_collecting{l}")), 1.0);
        assert!(metric(&m, &format!("bondxdp_lacp_pdus_tx_total{l}")) > 0.0);
        assert!(metric(&m, &format!("bondxdp_lacp_pdus_rx_total{l}")) > 0.0);
        assert!(metric(&m, &format!("bondxdp_lacp_partner_changes_total{l}")) >= 2.0);
        assert_eq!(metric(&m, &format!("bondxdp_lacp_malformed_total{l}")), 0.0);
    }
}

/// The active aggregator's ports (LACP port numbers) as `status` lists them.
fn active_ports(ns: &Netns) -> Vec<u64> {
    active_aggregator(ns)["ports"]
        .as_array()
        .map(|ports| ports.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

#[test]
fn ad_select_stable_keeps_the_first_aggregate_count_takes_the_larger_one() {
    for ad_select in ["stable", "count"] {
        // OVS offers a 2-port bond first (b3, b4), then a 3-port one (b0..b2) with another
        // key: two aggregators on our side, formed one after the other.
        let p = Pair::new(&format!("la{}", &ad_select[..1]), 5);
        let ovs = Ovs::start(&p.b);
        ovs.lacp_bridge(&p.b, "bond1", &["b3", "b4"], &format!("{ADDR_B}/24"));
        let options: Vec<&str> = LACP_FAST
            .iter()
            .copied()
            .chain(["--ad-select", ad_select])
            .collect();
        p.bond_side("a", &options);
        let start = SystemTime::now();
        let ctl = Controller::start(&p.a, &[], 1);
        all_distributing(&ctl, &["a3", "a4"], start);
        for m in ["b0", "b1", "b2"] {
            p.b.ip(&["link", "set", m, "up"]);
        }
        ovs.vsctl(&[
            "add-bond",
            "br0",
            "bond0",
            "b0",
            "b1",
            "b2",
            "lacp=active",
            "bond_mode=balance-tcp",
            "--",
            "set",
            "port",
            "bond0",
            "other_config:lacp-time=fast",
        ]);
        let larger = || {
            active_ports(&p.a) == [1, 2, 3] && distributing(&p.a)[..3].iter().all(|m| m.1 && m.2)
        };
        if ad_select == "count" {
            // The larger aggregator wins as soon as it is ready; the smaller one stands by.
            assert!(eventually(8000, larger), "{:?}", active_ports(&p.a));
            let d = distributing(&p.a);
            assert!(d[3..].iter().all(|m| !m.1), "{d:?}");
        } else {
            // Stable: the aggregate in use stays while it has ports.
            sleep_ms(5000);
            assert_eq!(active_ports(&p.a), [4, 5], "{:#}", p.a.status("bond0"));
            let d = distributing(&p.a);
            assert!(
                d[..3].iter().all(|m| !m.1) && d[3..].iter().all(|m| m.1),
                "{d:?}"
            );
        }
        eprintln!(
            "ad_select={ad_select}: active aggregator {:?}",
            active_ports(&p.a)
        );
    }
}

/// `coupled_control 0` (the kernel's option, 802.1AX-2014 6.4.15 independent control)
/// against a partner with the kernel's default coupled control: A's ports go through
/// COLLECTING to DISTRIBUTING once B collects, traffic flows, and `set coupled_control=1`
/// brings A back to COLLECTING_DISTRIBUTING live.
#[test]
fn independent_control_interoperates_with_coupled_and_changes_live() {
    let p = Pair::new("lcc", 2);
    let decoupled: Vec<&str> = LACP_FAST
        .iter()
        .copied()
        .chain(["--coupled-control", "0"])
        .collect();
    p.bond_side("a", &decoupled);
    p.bond_side("b", LACP_FAST);
    assert_eq!(p.a.status("bond0")["options"]["coupled_control"], "0");
    let start = SystemTime::now();
    let ctl_a = Controller::start(&p.a, &[], 1);
    let _ctl_b = Controller::start(&p.b, &[], 1);
    all_distributing(&ctl_a, &["a0", "a1"], start);
    let mux = |ns: &Netns| -> Vec<String> {
        members(ns)
            .iter()
            .map(|m| m["lacp"]["mux_state"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert!(
        eventually(3000, || mux(&p.a) == ["distributing", "distributing"]
            && all_distributing_now(&p.a)
            && all_distributing_now(&p.b)),
        "{:?} {:?}",
        mux(&p.a),
        distributing(&p.a)
    );
    assert_eq!(mux(&p.b), ["collecting_distributing"; 2]);
    p.ping_ok();
    let before = tx(&p.a);
    flows(&p.a, ADDR_A, ADDR_B, 20000, 16, 10);
    let d = delta(&tx(&p.a), &before);
    assert!(d.iter().all(|n| *n > 0), "both members send: {d:?}");

    p.a.bondxdp_ok(&["set", "bond0", "coupled_control=1"]);
    assert!(
        eventually(5000, || mux(&p.a) == ["collecting_distributing"; 2]
            && all_distributing_now(&p.a)),
        "{:?}",
        mux(&p.a)
    );
    p.ping_ok();
}

/// `ad_select bandwidth` against `count` with members of different speeds (veth always
/// reports 10 Gbit/s, so the `speed` option sets the LACP speed of two members to 1 Gbit/s on
/// both ends, as two slower cables would): one aggregator of one 10G link, one of two 1G
/// links. `bandwidth` carries everything on the 10G link, `count` (set live on both ends) on
/// the two 1G links. Ports the kernel's `ad_select` option, documented in its bonding.rst.
#[test]
fn ad_select_bandwidth_takes_the_fast_link_count_the_two_slow_ones() {
    let p = Pair::new("lbw", 3);
    for side in ["a", "b"] {
        let slow1 = format!("{side}1=1000");
        let slow2 = format!("{side}2=1000");
        let options: Vec<&str> = LACP_FAST
            .iter()
            .copied()
            .chain([
                "--ad-select",
                "bandwidth",
                "--speed",
                &slow1,
                "--speed",
                &slow2,
            ])
            .collect();
        p.bond_side(side, &options);
    }
    let start = SystemTime::now();
    let ctl_a = Controller::start(&p.a, &[], 1);
    let _ctl_b = Controller::start(&p.b, &[], 1);
    all_distributing(&ctl_a, &["a0"], start);
    let aggs = |ns: &Netns| -> Vec<(Vec<u64>, u64)> {
        let mut v: Vec<(Vec<u64>, u64)> = ns.status("bond0")["lacp"]["aggregators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let ports = a["ports"].as_array().unwrap();
                let ports = ports.iter().filter_map(Value::as_u64).collect();
                (ports, a["bandwidth_mbps"].as_u64().unwrap())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(aggs(&p.a), [(vec![1], 10_000), (vec![2, 3], 2_000)]);
    let sends_on = |want: [bool; 3]| {
        let (da, db) = (tx(&p.a), tx(&p.b));
        flows(&p.a, ADDR_A, ADDR_B, 20000, 32, 5);
        flows(&p.b, ADDR_B, ADDR_A, 21000, 32, 5);
        let (da, db) = (delta(&tx(&p.a), &da), delta(&tx(&p.b), &db));
        for d in [&da, &db] {
            let used: Vec<bool> = d.iter().map(|n| *n > 0).collect();
            assert_eq!(used, want, "sent by member: A {da:?}, B {db:?}");
        }
    };
    assert!(
        eventually(3000, || active_ports(&p.a) == [1]
            && active_ports(&p.b) == [1]),
        "{:#}",
        p.a.status("bond0")["lacp"]
    );
    sends_on([true, false, false]);
    p.ping_ok();

    let changed = SystemTime::now();
    for ns in [&p.a, &p.b] {
        ns.bondxdp_ok(&["set", "bond0", "ad_select=count"]);
    }
    assert!(
        eventually(8000, || active_ports(&p.a) == [2, 3]
            && active_ports(&p.b) == [2, 3]
            && distributing(&p.a)[1..].iter().all(|m| m.1 && m.2)
            && distributing(&p.b)[1..].iter().all(|m| m.1 && m.2)),
        "{:?} {:?}",
        active_ports(&p.a),
        distributing(&p.a)
    );
    eprintln!(
        "ad_select count: the two 1G links carry traffic {} ms after the change",
        ms_since(SystemTime::now(), changed)
    );
    assert!(!distributing(&p.a)[0].1, "the 10G link stands by");
    sends_on([false, true, true]);
    p.ping_ok();
}

/// Whether the kernel reports carrier on `bond0` in `ns`.
fn bond_carrier(ns: &Netns) -> bool {
    ns.exec(&["cat", "/sys/class/net/bond0/carrier"]).stdout == b"1\n"
}

/// A partner that does not speak LACP (a Linux bridge over all of B's ends): with
/// `lacp_strict` off (the kernel's default) one member carries traffic, fails over to another
/// when its link goes, and `lacp_strict on` carries nothing and drops the carrier. Ports the
/// kernel's bond_lacp_strict.sh ("eth0 and eth1 stopped sending LACP": carrier up with
/// lacp_strict off, down with it on) and Open vSwitch's `lacp-fallback-ab` (lacp.at, bond.at:
/// a bond without LACP partner falls back to active-backup).
#[test]
fn without_lacp_partner_one_member_carries_traffic_unless_lacp_strict() {
    let p = Pair::new("lfb", 3);
    p.b.ip(&["link", "add", "br0", "type", "bridge", "stp_state", "0"]);
    for m in ["b0", "b1", "b2"] {
        p.b.ip(&["link", "set", m, "master", "br0"]);
        p.b.ip(&["link", "set", m, "up"]);
    }
    p.b.ip(&["addr", "add", &format!("{ADDR_B}/24"), "dev", "br0"]);
    p.b.ip(&["link", "set", "br0", "up"]);
    p.bond_side("a", LACP_FAST);
    let start = SystemTime::now();
    let ctl = Controller::start(&p.a, &[], 1);
    let carrying = |ns: &Netns| -> Vec<usize> {
        distributing(ns)
            .iter()
            .enumerate()
            .filter(|(_, m)| m.1 && m.2)
            .map(|(i, _)| i)
            .collect()
    };
    assert!(
        eventually(5000, || carrying(&p.a).len() == 1),
        "{:?}",
        distributing(&p.a)
    );
    eprintln!(
        "no LACP partner: one member carries traffic {} ms after the controller started",
        ms_since(SystemTime::now(), start)
    );
    let first = carrying(&p.a)[0];
    for m in members(&p.a) {
        let mux = m["lacp"]["mux_state"].as_str().unwrap_or("");
        assert!(
            mux == "attached" || mux == "waiting",
            "LACP itself never aggregates: {m:#}"
        );
    }
    assert!(bond_carrier(&p.a));
    let text = p.a.bondxdp_ok(&["status", "bond0"]);
    assert_eq!(
        text.matches("Carrying traffic without a LACP partner")
            .count(),
        1,
        "{text}"
    );
    p.ping_ok();
    let before = tx(&p.a);
    flows(&p.a, ADDR_A, ADDR_B, 20000, 16, 5);
    let d = delta(&tx(&p.a), &before);
    assert!(
        (0..3).all(|i| (d[i] > 0) == (i == first)),
        "only a{first} sends: {d:?}"
    );

    // Its link fails: another member takes over (active-backup).
    p.b.ip(&["link", "set", &format!("b{first}"), "down"]);
    assert!(
        eventually(3000, || {
            let c = carrying(&p.a);
            c.len() == 1 && c[0] != first
        }),
        "{:?}",
        distributing(&p.a)
    );
    p.ping_ok();

    // lacp_strict on: nothing without a partner, and no carrier.
    p.a.bondxdp_ok(&["set", "bond0", "lacp_strict=on"]);
    assert!(
        eventually(3000, || carrying(&p.a).is_empty() && !bond_carrier(&p.a)),
        "{:?}",
        distributing(&p.a)
    );
    let out =
        p.a.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "1", ADDR_B]);
    assert!(!out.status.success(), "strict: no traffic");
    p.a.bondxdp_ok(&["set", "bond0", "lacp_strict=off"]);
    assert!(
        eventually(5000, || carrying(&p.a).len() == 1 && bond_carrier(&p.a)),
        "{:?}",
        distributing(&p.a)
    );
    p.ping_ok();
    drop(ctl);
}

/// Open vSwitch's lacp.at "lacp - multi port config" and "lacp - negotiation", against
/// bondxdp: OVS's configured system id, system priority, port ids, port priorities and
/// aggregation key are what bondxdp reports as partner; with the LACPDUs of one link dropped
/// both ways (nftables, where lacp.at re-patches the link), both ends call that member
/// `expired` within the 3 s short timeout and `defaulted` 3 s later, the other member stays
/// current and carries the traffic.
#[test]
fn open_vswitch_lacp_at_multi_port_config_and_negotiation() {
    let p = Pair::new("lon", 2);
    let ovs = Ovs::start(&p.b);
    ovs.lacp_bridge(&p.b, "bond0", &["b0", "b1"], &format!("{ADDR_B}/24"));
    ovs.vsctl(&[
        "set",
        "port",
        "bond0",
        "other_config:lacp-system-id=11:22:33:44:55:66",
        "other_config:lacp-system-priority=54321",
        "--",
        "set",
        "interface",
        "b0",
        "other_config:lacp-port-id=11",
        "other_config:lacp-port-priority=111",
        "other_config:lacp-aggregation-key=3333",
        "--",
        "set",
        "interface",
        "b1",
        "other_config:lacp-port-id=22",
        "other_config:lacp-port-priority=222",
        "other_config:lacp-aggregation-key=3333",
    ]);
    p.bond_side("a", LACP_FAST);
    let start = SystemTime::now();
    let ctl = Controller::start(&p.a, &[], 1);
    all_distributing(&ctl, &["a0", "a1"], start);
    let a_mac = p.a.status("bond0")["mac"].as_str().unwrap().to_string();
    let ovs_current = |names: &[&str]| {
        let l = ovs.lacp("bond0");
        l.negotiated
            && names.iter().all(|n| {
                l.member(n).is_some_and(|m| {
                    m.status == "current" && m.attached && m.partner_system == a_mac
                })
            })
    };
    assert!(
        eventually(3000, || ovs_current(&["b0", "b1"])),
        "{:?}",
        ovs.lacp("bond0")
    );
    assert!(eventually(3000, || members(&p.a)
        .iter()
        .all(|m| m["lacp"]["partner"]["state"].as_u64() == Some(0x3f))));
    for (m, (port, prio)) in members(&p.a).iter().zip([(11, 111), (22, 222)]) {
        let partner = &m["lacp"]["partner"];
        assert_eq!(partner["system"], "11:22:33:44:55:66", "{m:#}");
        assert_eq!(partner["system_priority"].as_u64(), Some(54321), "{m:#}");
        assert_eq!(partner["key"].as_u64(), Some(3333), "{m:#}");
        assert_eq!(partner["port"].as_u64(), Some(port), "{m:#}");
        assert_eq!(partner["port_priority"].as_u64(), Some(prio), "{m:#}");
    }
    assert_eq!(active_ports(&p.a), [1, 2]);
    p.ping_ok();

    // lacp.at re-patches p0 to a null port: nothing passes either way on that link.
    let silenced = SystemTime::now();
    let rules = [
        (&p.a, p.a.drop_ethertype("a0", "egress", SLOW_PROTOCOLS)),
        (&p.b, p.b.drop_ethertype("b0", "egress", SLOW_PROTOCOLS)),
    ];
    let rx_state = |i: usize| members(&p.a)[i]["lacp"]["rx_state"].clone();
    let ovs_status = |n: &str| ovs.lacp("bond0").member(n).map(|m| m.status.clone());
    assert!(
        eventually(4000, || rx_state(0) == "expired"
            && ovs_status("b0").as_deref() == Some("expired")),
        "{} {:?}",
        rx_state(0),
        ovs.lacp("bond0")
    );
    let expired = ms_since(SystemTime::now(), silenced);
    assert!(!distributing(&p.a)[0].1, "{:?}", distributing(&p.a));
    assert!(
        eventually(4000, || rx_state(0) == "defaulted"
            && ovs_status("b0").as_deref() == Some("defaulted")),
        "{} {:?}",
        rx_state(0),
        ovs.lacp("bond0")
    );
    eprintln!(
        "lacp.at negotiation: link 0 expired after {expired} ms, defaulted after {} ms",
        ms_since(SystemTime::now(), silenced)
    );
    let m0 = &members(&p.a)[0]["lacp"];
    assert_eq!(m0["partner"]["system"], "00:00:00:00:00:00", "{m0:#}");
    assert!(!ovs.lacp("bond0").member("b0").unwrap().attached);
    assert_eq!(rx_state(1), "current");
    assert!(ovs_current(&["b1"]), "{:?}", ovs.lacp("bond0"));
    let d = distributing(&p.a);
    assert!(!d[0].1 && d[1].1 && d[1].2, "{d:?}");
    p.ping_ok();
    for (ns, rule) in &rules {
        ns.allow(rule);
    }
}

/// The kernel's bond-break-lacpdu-tx.sh: a bond whose MAC is set (to its bridge's) before
/// its members join, enslaved to that bridge, still sends LACPDUs on every member, from the
/// configured system id.
#[test]
fn lacpdus_go_out_with_the_bond_mac_set_and_the_bond_in_a_bridge() {
    let p = Pair::new("lbm", 2);
    let mac = "52:54:00:3b:7c:a6";
    p.a.ip(&["link", "add", "fab-br0", "address", mac, "type", "bridge"]);
    let options: Vec<&str> = LACP_FAST.iter().copied().chain(["--mac", mac]).collect();
    p.a.bondxdp_ok(&[&["up", "bond0"], &options[..], &["-m", "a0", "-m", "a1"]].concat());
    p.a.ip(&["link", "set", "bond0", "master", "fab-br0"]);
    p.a.ip(&["link", "set", "fab-br0", "up"]);
    let caps: Vec<Capture> = ["b0", "b1"]
        .iter()
        .map(|m| {
            p.b.ip(&["link", "set", m, "up"]);
            Capture::start(&p.b, m)
        })
        .collect();
    let _ctl = Controller::start(&p.a, &[], 1);
    let system = bondxdp::mac::parse_mac(mac).unwrap();
    for (cap, m) in caps.iter().zip(["b0", "b1"]) {
        let until = Instant::now() + Duration::from_secs(3);
        let mut lacpdus: Vec<Lacpdu> = Vec::new();
        while lacpdus.is_empty() && Instant::now() < until {
            lacpdus.extend(
                cap.frames(Duration::from_millis(200), 16)
                    .iter()
                    .filter_map(|f| match SlowPdu::decode(f) {
                        Ok(SlowPdu::Lacp(l)) => Some(l),
                        _ => None,
                    }),
            );
        }
        assert!(!lacpdus.is_empty(), "no LACPDU on {m}");
        assert!(
            lacpdus.iter().all(|l| l.actor.system == system),
            "{m}: {lacpdus:?}"
        );
    }
}

/// LACPDUs sent on each member so far (bondxdp's LACP counters).
fn lacpdus_sent(ns: &Netns) -> Vec<u64> {
    members(ns)
        .iter()
        .map(|m| m["lacp"]["counters"]["lacpdu_tx"].as_u64().unwrap_or(0))
        .collect()
}

/// The kernel's bond_passive_lacp.sh: a passive bond (A) sends nothing until its active
/// partner (B) speaks, never claims activity, keeps the aggregate up on B's PDUs alone; once
/// one member leaves each bond, B keeps sending on the member whose partner left, and A
/// stops sending on its member whose partner left as soon as that partner defaulted.
#[test]
fn passive_bond_speaks_only_to_an_active_partner_and_falls_silent_when_it_leaves() {
    let p = Pair::new("lpa", 2);
    let passive: Vec<&str> = LACP_FAST
        .iter()
        .copied()
        .chain(["--lacp-active", "off"])
        .collect();
    p.bond_side("a", &passive);
    p.bond_side("b", LACP_FAST);
    let start = SystemTime::now();
    let ctl_a = Controller::start(&p.a, &[], 1);
    sleep_ms(1000);
    // 1. The passive side sends nothing while nobody speaks to it (an active port sends its
    // first PDU as soon as its link is up).
    assert_eq!(lacpdus_sent(&p.a), [0, 0]);
    let _ctl_b = Controller::start(&p.b, &[], 1);
    all_distributing(&ctl_a, &["a0", "a1"], start);
    let activity = |ns: &Netns| -> Vec<bool> {
        members(ns)
            .iter()
            .map(|m| m["lacp"]["actor"]["state"].as_u64().unwrap_or(0) & 1 != 0)
            .collect()
    };
    // 2, 3. Activity: off on the passive side, on on the active side.
    assert_eq!(activity(&p.a), [false, false]);
    assert_eq!(activity(&p.b), [true, true]);
    // 4. B's PDUs keep the aggregate: still current past the 3 s short timeout.
    sleep_ms(3200);
    assert!(all_distributing_now(&p.a) && all_distributing_now(&p.b));
    for m in members(&p.b) {
        assert_eq!(m["lacp"]["rx_state"], "current", "{m:#}");
    }
    p.ping_ok();

    // One member leaves each side: b0 (a0's partner) and a1 (b1's partner).
    let (b_before, a_before) = (lacpdus_sent(&p.b), lacpdus_sent(&p.a));
    p.b.bondxdp_ok(&["member", "del", "bond0", "b0"]);
    p.a.bondxdp_ok(&["member", "del", "bond0", "a1"]);
    // As the kernel test does: the ex-members stay up (plain interfaces, no LACP).
    p.b.ip(&["link", "set", "b0", "up"]);
    p.a.ip(&["link", "set", "a1", "up"]);
    let a0_rx = || members(&p.a)[0]["lacp"]["rx_state"].clone();
    assert!(eventually(8000, || a0_rx() == "defaulted"), "{}", a0_rx());
    // 5. The active side still speaks on b1 (its partner a1 is gone).
    let b_now = lacpdus_sent(&p.b);
    assert!(
        b_now[0] > b_before[1],
        "B keeps sending on b1: {b_before:?} -> {b_now:?}"
    );
    // 6. The passive side fell silent on a0.
    let a_then = lacpdus_sent(&p.a)[0];
    assert!(a_then >= a_before[0]);
    sleep_ms(1500);
    assert_eq!(lacpdus_sent(&p.a)[0], a_then, "A silent on a0");
}

/// Ported from bond_lacp_prio.sh: a client bond with two members to a switch (eth0, eth1)
/// and two to a backup switch (eth2, eth3), each switch a bondxdp 802.3ad bond, all with
/// lacp_rate fast. With `ad_select actor_port_prio`, eth0=1000 and eth2=10, the switch's
/// aggregator (1000 + 255) is active; swapped live (eth0=10, eth2=1000) and after a link
/// change on eth1, the backup switch's. The priorities travel in the LACPDUs: each switch
/// sees them as its partner's port priorities.
#[test]
fn actor_port_prio_chooses_the_aggregator_as_bond_lacp_prio_sh() {
    let client = Netns::new("lpc");
    let switch = Netns::new("lps");
    let backup = Netns::new("lpb");
    for (i, (peer, dev)) in [
        (&switch, "eth0"),
        (&switch, "eth1"),
        (&backup, "eth0"),
        (&backup, "eth1"),
    ]
    .into_iter()
    .enumerate()
    {
        bondxdp_tests::wan::veth(&client, &format!("eth{i}"), peer, dev);
    }
    for ns in [&switch, &backup] {
        let mut args = vec!["up", "bond0"];
        args.extend_from_slice(LACP_FAST);
        args.extend_from_slice(&["-m", "eth0", "-m", "eth1"]);
        ns.bondxdp_ok(&args);
    }
    let mut args = vec!["up", "bond0"];
    args.extend_from_slice(LACP_FAST);
    args.extend_from_slice(&[
        "--ad-select",
        "actor_port_prio",
        "--actor-port-prio",
        "eth0=1000",
        "--actor-port-prio",
        "eth2=10",
    ]);
    for i in 0..4 {
        args.push("-m");
        args.push(["eth0", "eth1", "eth2", "eth3"][i]);
    }
    client.bondxdp_ok(&args);
    assert_eq!(
        client.status("bond0")["options"]["actor_port_prio"],
        "eth0=1000,eth2=10"
    );
    let ctl = Controller::start(&client, &[], 1);
    let _s = Controller::start(&switch, &[], 1);
    let _b = Controller::start(&backup, &[], 1);
    // Ports are numbered by slot from 1: eth0/eth1 are 1 and 2, eth2/eth3 3 and 4.
    let settles_on = |want: [u64; 2], what: &str| {
        assert!(
            eventually(10_000, || active_ports(&client) == want
                && distributing(&client).iter().all(|(name, tx, _)| *tx
                    == (name == &format!("eth{}", want[0] - 1)
                        || name == &format!("eth{}", want[1] - 1)))),
            "{what}: active {:?}, {:?}\n{:#}\n{}",
            active_ports(&client),
            distributing(&client),
            client.status("bond0")["lacp"],
            ctl.log()
        );
    };
    settles_on([1, 2], "eth0=1000 + eth1=255 over eth2=10 + eth3=255");
    let partner_prio = |ns: &Netns, member: &str| {
        members(ns)
            .iter()
            .find(|m| m["name"] == member)
            .map(|m| m["lacp"]["partner"]["port_priority"].clone())
            .unwrap_or(Value::Null)
    };
    assert!(
        eventually(3000, || partner_prio(&switch, "eth0") == 1000
            && partner_prio(&backup, "eth0") == 10
            && partner_prio(&backup, "eth1") == 255),
        "LACPDUs carry the priorities: switch eth0 {}, backup eth0 {}, eth1 {}",
        partner_prio(&switch, "eth0"),
        partner_prio(&backup, "eth0"),
        partner_prio(&backup, "eth1")
    );

    client.bondxdp_ok(&["set", "bond0", "actor_port_prio=eth0=10,eth2=1000"]);
    // The selftest triggers the reselection with a link change on eth1.
    client.ip(&["link", "set", "eth1", "down"]);
    std::thread::sleep(Duration::from_secs(1));
    client.ip(&["link", "set", "eth1", "up"]);
    settles_on([3, 4], "eth0=10 + eth1=255 under eth2=1000 + eth3=255");
    assert!(
        eventually(3000, || partner_prio(&switch, "eth0") == 10
            && partner_prio(&backup, "eth0") == 1000),
        "the new priorities reach the partners"
    );
    // bondxdp reselects on the change itself (the kernel waits for a link change, as the
    // selftest's flap of eth1 provides).
    client.bondxdp_ok(&["set", "bond0", "actor_port_prio.eth0=60000"]);
    settles_on([1, 2], "eth0=60000 set alone");
}
