//! load-aware selection on unequal links: each member carries its share, weights follow spare
//! capacity, and a flow never changes member while it keeps sending.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use bondxdp_tests::{
    Pair,
    bench::{aggregation::limit, iperf},
    capture::Capture,
    controller::Controller,
    netns::ADDR_B,
};

fn tx_bytes(p: &Pair) -> Vec<u64> {
    p.a.status("bond0")["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["tx_bytes"].as_u64().unwrap())
        .collect()
}

/// The slower link's rate, Mbit/s (the other is three times as fast). Low enough that the
/// links, not the CPU, limit the flows even on a loaded 2-core CI machine: at 100 + 300 Mbit/s
/// sixteen TCP flows there were CPU-bound (304 Mbit/s in all), both links had room, and the
/// split then said nothing about the weights.
const R_MBIT: u32 = 25;

/// Links of R and 3R from A to B, load-aware bonds on both sides (A's flowlet timeout
/// `flowlet_ms`), a controller on A.
fn unequal(tag: &str, flowlet_ms: u32) -> (Pair, Controller) {
    let flowlet = flowlet_ms.to_string();
    let p = Pair::new(tag, 2);
    let (slow, fast) = (R_MBIT, 3 * R_MBIT);
    limit(&p.a, "a0", &format!("{slow}mbit"));
    limit(&p.a, "a1", &format!("{fast}mbit"));
    let (slow, fast) = (format!("a0={slow}"), format!("a1={fast}"));
    p.bond_side(
        "a",
        &[
            "--mode",
            "load-aware",
            "--speed",
            &slow,
            "--speed",
            &fast,
            "--rebalance-interval",
            "200",
            "--flowlet-timeout",
            &flowlet,
        ],
    );
    p.bond_side("b", &["--mode", "load-aware"]);
    p.ping_ok();
    let ctl = Controller::start(&p.a, &[], 1);
    (p, ctl)
}

#[test]
fn each_member_carries_its_share_of_sixteen_flows() {
    let (p, _ctl) = unequal("la16", 20);
    std::thread::sleep(Duration::from_millis(500));
    let before = tx_bytes(&p);
    let mbit = iperf::tcp(&p.a, &p.b, ADDR_B, 5801, 16, 5) / 1e6;
    let after = tx_bytes(&p);
    let d: Vec<f64> = after
        .iter()
        .zip(&before)
        .map(|(a, b)| (a - b) as f64)
        .collect();
    let share = d[1] / (d[0] + d[1]);
    let total = 4.0 * R_MBIT as f64;
    eprintln!(
        "16 flows over {R_MBIT} + {} Mbit/s: {mbit:.0} Mbit/s, the 3R member carried {share:.3}",
        3 * R_MBIT
    );
    assert!(
        (0.68..=0.82).contains(&share),
        "3R member's share {share:.3}, expected 0.75 +- 0.07"
    );
    assert!(mbit > 0.85 * total, "{mbit:.0} Mbit/s of {total}");
    // The controller weighed the members by spare capacity: roughly 1:3.
    let w: Vec<f64> = p.a.status("bond0")["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["weight"].as_u64().unwrap() as f64)
        .collect();
    assert!((w[1] / w[0] - 3.0).abs() < 1.0, "weights {w:?}");
}

/// The flowlet timeout of the stickiness test: far above its 2 ms send interval even on a
/// loaded CI machine, where a sender thread can stall for tens of milliseconds (a real idle
/// gap, after which moving would be correct).
const FLOWLET_MS: u32 = 300;

#[test]
fn a_flow_never_changes_member_while_it_keeps_sending() {
    let (p, _ctl) = unequal("lasticky", FLOWLET_MS);
    let caps = [Capture::start(&p.b, "b0"), Capture::start(&p.b, "b1")];
    let dst: SocketAddr = format!("{ADDR_B}:9").parse().unwrap();
    // 12 flows, a datagram each every 2 ms for 3 s (well inside the flowlet timeout), while
    // the weights change under them twice.
    let senders: Vec<UdpSocket> = p.a.enter(|| {
        (0..12)
            .map(|i| UdpSocket::bind(format!("198.18.0.1:{}", 31000 + i)).unwrap())
            .collect()
    });
    let start = Instant::now();
    let mut changed = 0;
    while start.elapsed() < Duration::from_secs(3) {
        for s in &senders {
            let _ = s.send_to(b"stick", dst);
        }
        std::thread::sleep(Duration::from_millis(2));
        let t = start.elapsed().as_millis();
        if (t > 1000 && changed == 0) || (t > 2000 && changed == 1) {
            let w = if changed == 0 {
                "weight.a0=20"
            } else {
                "weight.a1=20"
            };
            p.a.bondxdp_ok(&["set", "bond0", w]);
            changed += 1;
        }
    }
    // Which member each flow arrived on, from B's own interfaces.
    let mut seen: BTreeMap<u16, BTreeSet<usize>> = BTreeMap::new();
    for (member, cap) in caps.iter().enumerate() {
        for f in cap.frames(Duration::from_millis(300), 100_000) {
            let udp_to_9 =
                f.len() > 42 && f[12..14] == [8, 0] && f[23] == 17 && f[36..38] == [0, 9];
            if udp_to_9 {
                let sport = u16::from_be_bytes([f[34], f[35]]);
                seen.entry(sport).or_default().insert(member);
            }
        }
    }
    assert_eq!(seen.len(), 12, "every flow was seen: {seen:?}");
    for (sport, members) in &seen {
        assert_eq!(
            members.len(),
            1,
            "flow from port {sport} arrived on members {members:?}"
        );
    }
    let used: BTreeSet<usize> = seen.values().flatten().copied().collect();
    assert_eq!(used.len(), 2, "flows went to both members: {seen:?}");
    // After a pause longer than the flowlet timeout, the flows are placed anew by the
    // weights now configured (20:20, where they were placed at about 1:3): some move, and
    // every move is counted.
    let moved_before = p.a.status("bond0")["events"]["flowlets_moved"]
        .as_u64()
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(FLOWLET_MS as u64 + 200));
    for s in &senders {
        let _ = s.send_to(b"again", dst);
    }
    let moved = p.a.status("bond0")["events"]["flowlets_moved"]
        .as_u64()
        .unwrap_or(0)
        - moved_before;
    eprintln!("flowlets moved after the pause: {moved}");
    assert!(
        moved >= 1,
        "no flow moved after an idle gap past the timeout"
    );
}
