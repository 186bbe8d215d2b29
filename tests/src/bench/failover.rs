//! Failover: how much of a 5,000 datagram/s stream a failure costs, as time (longest run of
//! lost datagrams), over several trials, for (a) carrier loss noticed by miimon=100 polling
//! alone, (b) carrier loss with bondxdp's event-driven carrier watch, (c) a silent failure
//! (link dead inside a switch, carriers up) caught by the ARP monitor at arp_interval=10.
//! Also records per-member throughput through a failover for the plot.

use std::{net::SocketAddr, time::Duration};

use serde::{Deserialize, Serialize};

use super::{Row, Section, Target, iperf};
use crate::{
    Pair,
    controller::Controller,
    netns::{ADDR_A, ADDR_B},
    traffic::udp_stream,
};

/// Target for carrier loss with link events (ms).
pub const EVENTS_TARGET_MS: f64 = 5.0;
/// Target for a silent failure at arp_interval=10 (ms).
pub const SILENT_TARGET_MS: f64 = 30.0;

/// Samples over time, one line per name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Plot title.
    pub title: String,
    /// Unit of the values.
    pub unit: String,
    /// Line names.
    pub names: Vec<String>,
    /// Sample times (s).
    pub t: Vec<f64>,
    /// `values[line][sample]`.
    pub values: Vec<Vec<f64>>,
    /// Marked events: (time, label).
    pub marks: Vec<(f64, String)>,
}

fn sock(addr: &str, port: u16) -> SocketAddr {
    format!("{addr}:{port}").parse().unwrap()
}

/// One failover trial: returns the gap in ms.
/// One failover trial of `kind` (a, b or c, as in the section's rows): the gap, ms.
pub(crate) fn trial(kind: char, n: usize) -> f64 {
    let p = if kind == 'c' {
        Pair::switched(&format!("bf{kind}{n}"), 2)
    } else {
        Pair::new(&format!("bf{kind}{n}"), 2)
    };
    let mut a = vec!["--mode", "active-backup", "--all-slaves-active"];
    let mut b = vec!["--mode", "balance-xor"];
    match kind {
        'a' => a.extend(["--miimon", "100", "--no-link-events"]),
        'b' => {}
        _ => {
            // active: each link is its own segment, so A's backups never hear A's probes
            // (sent through the active member only, as the kernel's); they are judged by the
            // traffic they receive (B's probes).
            a.extend([
                "--arp-interval",
                "10",
                "--arp-ip-target",
                ADDR_B,
                "--arp-validate",
                "active",
            ]);
            b.extend([
                "--arp-interval",
                "10",
                "--arp-ip-target",
                ADDR_A,
                "--arp-validate",
                "all",
            ]);
        }
    }
    p.bond_side("a", &a);
    p.bond_side("b", &b);
    p.ping_ok();
    let _ca = Controller::start(&p.a, &[], 1);
    let _cb = (kind == 'c').then(|| Controller::start(&p.b, &[], 1));
    std::thread::sleep(Duration::from_millis(300));
    let (report, ()) = udp_stream(
        &p.a,
        &p.b,
        sock(ADDR_A, 7100),
        sock(ADDR_B, 7101),
        5000,
        Duration::from_millis(1500),
        || {
            std::thread::sleep(Duration::from_millis(500));
            if kind == 'c' {
                p.cut_silently(0);
            } else {
                p.b.ip(&["link", "set", "b0", "down"]);
            }
        },
    );
    report.longest_gap_ms
}

/// Per-member throughput of a 3-member balance-xor bond under 8 TCP flows while member 0's
/// link fails at 2 s and returns at 4 s.
fn timeline(secs: u32) -> Series {
    let p = Pair::new("bftl", 3);
    p.bond_both(&["--mode", "balance-xor", "--xmit-hash-policy", "layer3+4"]);
    let _ca = Controller::start(&p.a, &[], 1);
    let _cb = Controller::start(&p.b, &[], 1);
    let mut series = Series {
        title: "Per-member throughput through a failover (balance-xor layer3+4, 8 TCP flows)"
            .into(),
        unit: "Gbit/s".into(),
        names: p.members("a"),
        values: vec![Vec::new(); 3],
        marks: vec![(2.0, "a0 link down".into()), (4.0, "a0 link up".into())],
        ..Default::default()
    };
    std::thread::scope(|s| {
        let traffic = s.spawn(|| iperf::tcp(&p.a, &p.b, ADDR_B, 5501, 8, secs));
        std::thread::sleep(Duration::from_millis(500));
        let start = std::time::Instant::now();
        let tx = || -> Vec<u64> {
            p.a.status("bond0")["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["tx_bytes"].as_u64().unwrap())
                .collect()
        };
        let mut last = tx();
        let mut last_t = start;
        let (mut cut, mut healed) = (false, false);
        while start.elapsed() < Duration::from_secs(secs as u64 - 1) {
            std::thread::sleep(Duration::from_millis(100));
            let el = start.elapsed().as_secs_f64();
            if el >= 2.0 && !cut {
                p.b.ip(&["link", "set", "b0", "down"]);
                cut = true;
            }
            if el >= 4.0 && !healed {
                p.b.ip(&["link", "set", "b0", "up"]);
                healed = true;
            }
            let now = tx();
            let dt = last_t.elapsed().as_secs_f64();
            series.t.push(el);
            for i in 0..3 {
                series.values[i].push((now[i] - last[i]) as f64 * 8.0 / dt / 1e9);
            }
            last = now;
            last_t = std::time::Instant::now();
        }
        traffic.join().unwrap();
    });
    series
}

/// Runs the section; also returns the throughput timeline.
pub fn run(trials: usize) -> (Section, Series) {
    let mut gaps: [Vec<f64>; 3] = Default::default();
    for n in 0..trials {
        for (i, kind) in ['a', 'b', 'c'].into_iter().enumerate() {
            gaps[i].push(trial(kind, n));
        }
    }
    let [a, b, c] = gaps;
    let rows = vec![
        Row::new("(a) carrier loss, miimon=100 polling only", "ms", a),
        Row::new("(b) carrier loss, link events + carrier watch", "ms", b)
            .target(Target::AtMost(EVENTS_TARGET_MS)),
        Row::new("(c) silent failure, arp_interval=10", "ms", c)
            .target(Target::AtMost(SILENT_TARGET_MS)),
    ];
    let section = Section {
        title: "Failover".into(),
        method: format!(
            "active-backup bond of 2 members sending a 5,000 datagram/s UDP stream; a failure \
             0.5 s in; the gap is the longest run of lost datagrams, as time. {trials} trials each; \
             (c) cuts the link inside a switch namespace so both carriers stay up."
        ),
        rows,
    };
    (section, timeline(7))
}
