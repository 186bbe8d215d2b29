//! Soak: a bond under everything at once that a long-running host throws at it, with traffic
//! throughout, and what is left afterwards. An active-backup pair (primary a0) carries a
//! sequenced 5,000 datagram/s UDP stream through four phases:
//!
//! 1. the controller killed with SIGKILL and restarted, three times;
//! 2. a flap storm on the backup member (its peer's link down and up every 50 ms);
//! 3. a `set` storm (updelay, downdelay and miimon changed as fast as commands run);
//! 4. namespace churn: namespaces with bonds of their own created and deleted without
//!    `down`, their pins freed by `bondxdp gc`.
//!
//! Rows: datagrams lost in each phase (the active member stays healthy throughout: target
//! 0), programs and maps left in the kernel after everything is torn down and collected
//! (target 0), and the controller's RSS and idle CPU before phases 2-4 and after.

use std::{
    net::SocketAddr,
    process::Command,
    time::{Duration, Instant},
};

use super::{Row, Section, Target, controller::usage};
use crate::{
    Pair, bondxdp_bin,
    controller::Controller,
    netns::{ADDR_A, ADDR_B},
    traffic::udp_stream,
};

fn sock(addr: &str, port: u16) -> SocketAddr {
    format!("{addr}:{port}").parse().unwrap()
}

/// Programs and maps loaded in the kernel right now (every namespace).
fn kernel_objects() -> (usize, usize) {
    (
        aya::programs::loaded_programs().count(),
        aya::maps::loaded_maps().count(),
    )
}

/// The controller's resident set, KiB.
fn rss_kib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

/// The controller's CPU over a quiet `secs`, % of a core.
fn idle_cpu(pid: u32, secs: u64) -> f64 {
    let (c0, _) = usage(pid);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, _) = usage(pid);
    (c1 - c0) as f64 / 1e9 / t0.elapsed().as_secs_f64() * 100.0
}

/// Datagrams lost while `during` runs for `secs` of stream.
fn lost(p: &Pair, port: u16, secs: u64, during: impl FnOnce() + Send) -> f64 {
    let (report, ()) = udp_stream(
        &p.a,
        &p.b,
        sock(ADDR_A, port),
        sock(ADDR_B, port + 1),
        5000,
        Duration::from_secs(secs),
        during,
    );
    report.lost as f64
}

/// A namespace named `name` with a two-member bond, deleted without `down`.
fn churn_one(name: &str) {
    let run = |args: &[&str]| {
        let _ = Command::new("ip").args(args).output();
    };
    run(&["netns", "add", name]);
    run(&[
        "-n", name, "link", "add", "c0", "type", "veth", "peer", "name", "d0",
    ]);
    run(&[
        "-n", name, "link", "add", "c1", "type", "veth", "peer", "name", "d1",
    ]);
    let _ = Command::new("ip")
        .args(["netns", "exec", name, &bondxdp_bin(), "up", "churn0"])
        .args(["--mode", "balance-xor", "-m", "c0", "-m", "c1"])
        .output();
    run(&["netns", "del", name]);
}

/// Runs the section; each phase streams for `secs`.
pub fn run(secs: u64) -> Section {
    let objects_before = kernel_objects();
    let mut rows = Vec::new();
    let (rss, cpu);
    {
        let p = Pair::new("soak", 2);
        p.bond_side(
            "a",
            &[
                "--mode",
                "active-backup",
                "--primary",
                "a0",
                "--all-slaves-active",
            ],
        );
        p.bond_side("b", &["--mode", "balance-xor"]);
        p.ping_ok();
        let mut ctl = Controller::start(&p.a, &[], 1);

        // 1. kill -9 and restart, three times.
        let kills = lost(&p, 7200, secs, || {
            for _ in 0..3 {
                std::thread::sleep(Duration::from_secs(secs) / 4);
                ctl.kill9();
                ctl = Controller::start(&p.a, &[], 1);
            }
        });
        rows.push(
            Row::new(
                "lost: controller kill -9 and restart x3",
                "datagrams",
                vec![kills],
            )
            .target(Target::AtMost(0.0)),
        );
        std::thread::sleep(Duration::from_secs(1));
        let pid = ctl.pid();
        let (rss_before, cpu_before) = (rss_kib(pid), idle_cpu(pid, 3));

        // 2. flap storm on the backup member.
        let mut flaps = 0;
        let flapped = lost(&p, 7300, secs, || {
            let end = Instant::now() + Duration::from_secs(secs) - Duration::from_millis(300);
            while Instant::now() < end {
                p.b.ip(&["link", "set", "b1", "down"]);
                std::thread::sleep(Duration::from_millis(50));
                p.b.ip(&["link", "set", "b1", "up"]);
                std::thread::sleep(Duration::from_millis(50));
                flaps += 1;
            }
        });
        rows.push(
            Row::new(
                format!("lost: {flaps} flaps of the backup member"),
                "datagrams",
                vec![flapped],
            )
            .target(Target::AtMost(0.0)),
        );

        // 3. set storm.
        let mut sets = 0;
        let set = lost(&p, 7400, secs, || {
            let end = Instant::now() + Duration::from_secs(secs) - Duration::from_millis(300);
            while Instant::now() < end {
                let v = (sets % 5 * 50).to_string();
                let opt = match sets % 3 {
                    0 => format!("updelay={v}"),
                    1 => format!("downdelay={v}"),
                    _ => format!("miimon={}", 50 + sets % 5 * 10),
                };
                p.a.bondxdp_ok(&["set", "bond0", &opt]);
                sets += 1;
            }
        });
        rows.push(
            Row::new(format!("lost: {sets} set commands"), "datagrams", vec![set])
                .target(Target::AtMost(0.0)),
        );

        // 4. namespace churn.
        let mut churned = 0;
        let churn = lost(&p, 7500, secs, || {
            let end = Instant::now() + Duration::from_secs(secs) - Duration::from_millis(500);
            while Instant::now() < end {
                churn_one(&format!("bxt-soakchurn-{}-{churned}", std::process::id()));
                churned += 1;
            }
            let _ = Command::new(bondxdp_bin()).arg("gc").output();
        });
        rows.push(
            Row::new(
                format!("lost: {churned} namespaces with bonds deleted without down"),
                "datagrams",
                vec![churn],
            )
            .target(Target::AtMost(0.0)),
        );

        std::thread::sleep(Duration::from_secs(1));
        rss = (rss_before, rss_kib(pid));
        cpu = (cpu_before, idle_cpu(pid, 3));
    }
    // Everything torn down (the pair's bonds by `down`, the churned ones by gc).
    let _ = Command::new(bondxdp_bin()).arg("gc").output();
    std::thread::sleep(Duration::from_millis(500));
    let objects_after = kernel_objects();
    rows.push(
        Row::new(
            "programs left in the kernel",
            "programs",
            vec![objects_after.0.saturating_sub(objects_before.0) as f64],
        )
        .target(Target::AtMost(0.0)),
    );
    rows.push(
        Row::new(
            "maps left in the kernel",
            "maps",
            vec![objects_after.1.saturating_sub(objects_before.1) as f64],
        )
        .target(Target::AtMost(0.0)),
    );
    rows.push(Row::new(
        "controller RSS before phases 2-4",
        "KiB",
        vec![rss.0],
    ));
    let mut after = Row::new("controller RSS after", "KiB", vec![rss.1]);
    let before = Row::new("controller RSS before phases 2-4", "KiB", vec![rss.0]);
    after = after.against(&before).target(Target::AtMost(1.2));
    rows.push(after);
    rows.push(Row::new(
        "controller idle CPU before phases 2-4",
        "% of a core",
        vec![cpu.0],
    ));
    rows.push(Row::new(
        "controller idle CPU after",
        "% of a core",
        vec![cpu.1],
    ));
    Section {
        title: "Soak".into(),
        method: format!(
            "active-backup bond (primary a0) of two members carrying a sequenced 5,000 \
             datagram/s UDP stream through four phases of {secs} s: controller kill -9 and \
             restart x3, flap storm on the backup member (50 ms down, 50 ms up), `set` storm \
             (updelay/downdelay/miimon), namespace churn (bonds in namespaces deleted without \
             `down`, then `bondxdp gc`). Programs and maps counted in the whole kernel before \
             and after (the machine otherwise idle); the controller's RSS (target: within 1.2x) \
             and idle CPU before and after phases 2-4."
        ),
        rows,
    }
}
