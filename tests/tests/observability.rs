//! What an operator watches: Prometheus metrics from the controller, and `status --watch`.

use std::{net::SocketAddr, time::Duration};

use bondxdp_tests::{
    Pair, bondxdp_bin,
    controller::{Controller, metric, scrape},
    netns::{ADDR_A, ADDR_B},
    traffic::udp_burst,
};

fn sock(addr: &str, port: u16) -> SocketAddr {
    format!("{addr}:{port}").parse().unwrap()
}

#[test]
fn prometheus_metrics_move_with_traffic_and_failovers() {
    let p = Pair::new("met", 2);
    p.bond_side("a", &["--mode", "active-backup", "--all-slaves-active"]);
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    let _ctl = Controller::start(&p.a, &["--metrics", "127.0.0.1:9477"], 1);
    let before = scrape(&p.a, 9477);
    let a0 = r#"{bond="bond0",member="a0"}"#;
    let tx0 = metric(&before, &format!("bondxdp_member_tx_packets_total{a0}"));
    assert_eq!(
        metric(&before, r#"bondxdp_bond_carrier{bond="bond0"}"#),
        1.0
    );
    assert_eq!(metric(&before, &format!("bondxdp_member_up{a0}")), 1.0);
    assert_eq!(
        metric(&before, r#"bondxdp_failovers_total{bond="bond0"}"#),
        0.0
    );
    assert!(before.contains(r#"bondxdp_drops_total{bond="bond0",reason="no_member"}"#));
    assert!(
        before
            .contains(r#"bondxdp_selections_total{bond="bond0",mode="active-backup",member="a0"}"#)
    );

    udp_burst(&p.a, sock(ADDR_A, 7300), sock(ADDR_B, 9), 500, 100);
    let after = scrape(&p.a, 9477);
    let tx1 = metric(&after, &format!("bondxdp_member_tx_packets_total{a0}"));
    assert!(tx1 >= tx0 + 500.0, "tx packets moved from {tx0} to {tx1}");
    assert!(metric(&after, &format!("bondxdp_member_tx_bytes_total{a0}")) > 500.0 * 100.0);

    p.b.ip(&["link", "set", "b0", "down"]);
    std::thread::sleep(Duration::from_millis(300));
    let failed = scrape(&p.a, 9477);
    assert_eq!(
        metric(&failed, r#"bondxdp_failovers_total{bond="bond0"}"#),
        1.0,
        "{failed}"
    );
    assert_eq!(metric(&failed, &format!("bondxdp_member_up{a0}")), 0.0);
    assert_eq!(
        metric(&failed, &format!("bondxdp_member_link_failures_total{a0}")),
        1.0
    );
    assert_eq!(
        metric(
            &failed,
            r#"bondxdp_member_transmitting{bond="bond0",member="a1"}"#
        ),
        1.0
    );
}

#[test]
fn status_watch_shows_live_rates() {
    let p = Pair::new("wat", 2);
    p.bond_both(&["--mode", "balance-rr"]);
    let mut watch = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            p.a.name(),
            &bondxdp_bin(),
            "status",
            "bond0",
            "--watch",
            "--interval",
            "0.3",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    udp_burst(&p.a, sock(ADDR_A, 7301), sock(ADDR_B, 9), 20000, 1000);
    std::thread::sleep(Duration::from_millis(400));
    let _ = watch.kill();
    let out = watch.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tx Mbit/s"), "{text}");
    // Some refresh saw both members transmitting at a non-zero rate.
    let busy = text
        .lines()
        .filter(|l| l.trim_start().starts_with("a0") || l.trim_start().starts_with("a1"))
        .filter_map(|l| l.split_whitespace().nth(3)?.parse::<f64>().ok())
        .any(|mbps| mbps > 1.0);
    assert!(busy, "no non-zero tx rate in:\n{text}");
}

/// Issue 18, item 2: with the descriptor limit a systemd service gets (1,024), 1,100 idle
/// connections to the metrics endpoint (all accepted before) used to exhaust the controller's descriptors, after
/// which it stopped ("Too many open files") and a carrier loss was no longer acted on. Now
/// only a few connections are served at once, each for a bounded time: the failover still
/// happens, and the endpoint serves again once the idle clients are dropped.
#[test]
fn idle_metrics_connections_cannot_starve_the_controller() {
    let p = Pair::new("mfd", 2);
    p.bond_side("a", &["--mode", "active-backup", "--all-slaves-active"]);
    p.bond_side("b", &["--mode", "balance-xor"]);
    p.ping_ok();
    let ctl = Controller::start(&p.a, &["--metrics", "127.0.0.1:9478"], 1);
    let limit = std::process::Command::new("prlimit")
        .args(["--pid", &ctl.pid().to_string(), "--nofile=1024:1024"])
        .output()
        .unwrap();
    assert!(limit.status.success(), "{limit:?}");
    let idle: Vec<std::net::TcpStream> = p.a.enter(|| {
        // As many as the controller accepts or the kernel queues for it (all of them before
        // the fix; ten connections in a row that do not complete end the loop).
        let mut open = Vec::new();
        let mut failed_in_a_row = 0;
        while open.len() < 1100 && failed_in_a_row < 10 {
            match std::net::TcpStream::connect_timeout(
                &sock("127.0.0.1", 9478),
                Duration::from_millis(200),
            ) {
                Ok(s) => {
                    open.push(s);
                    failed_in_a_row = 0;
                }
                Err(_) => failed_in_a_row += 1,
            }
        }
        open
    });
    assert!(idle.len() > 32, "only {} connections opened", idle.len());
    // Give the controller time to accept what it will.
    std::thread::sleep(Duration::from_millis(500));
    p.b.ip(&["link", "set", "b0", "down"]);
    let active = || {
        p.a.status("bond0")["active"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        bondxdp_tests::eventually(2000, || active() == "a1"),
        "no failover with {} idle metrics connections (active {})\n{}",
        idle.len(),
        active(),
        ctl.log()
    );
    assert!(!ctl.log().contains("Too many open files"), "{}", ctl.log());
    drop(idle);
    assert!(
        bondxdp_tests::eventually(8000, || {
            let s = scrape(&p.a, 9478);
            metric(&s, r#"bondxdp_failovers_total{bond="bond0"}"#) == 1.0
        }),
        "{}",
        ctl.log()
    );
}
