//! The idle controller: how much CPU and how many wakeups a second `bondxdp run` costs while
//! nothing happens, for 1, 5 and 20 active-backup bonds of two members, against the same 20
//! bonds watched by miimon=100 polling (the kernel driver's usual setting: ten looks a second
//! per bond); and, in the same run, the failover gap on carrier loss that the event-driven
//! watch keeps (failover section's row (b)).
//!
//! CPU is the controller's threads' time on CPU (`/proc/PID/task/*/schedstat`, ns) over the
//! window; wakeups are their voluntary context switches (each sleep that ended).

use std::time::{Duration, Instant};

use super::{Row, Section, Target, failover};
use crate::{Netns, controller::Controller};

/// Idle CPU of a controller with 20 bonds, % of one core.
pub const IDLE_CPU_TARGET: f64 = 1.0;
/// Wakeups a second of a controller with 20 bonds.
pub const WAKEUPS_TARGET: f64 = 20.0;

/// A namespace with `n` active-backup bonds `b0..` of two veth members each (their peers in
/// the same namespace, up), with `extra` bond options, and a controller managing them.
pub fn bonds(n: usize, extra: &[&str]) -> (Netns, Controller) {
    let ns = Netns::new("bidle");
    for i in 0..n {
        for side in ["a", "b"] {
            let (m, peer) = (format!("m{i}{side}"), format!("p{i}{side}"));
            ns.ip(&["link", "add", &m, "type", "veth", "peer", "name", &peer]);
            ns.ip(&["link", "set", &peer, "up"]);
        }
        let name = format!("b{i}");
        let (m0, m1) = (format!("m{i}a"), format!("m{i}b"));
        let mut args = vec!["up", &name, "--mode", "active-backup", "-m", &m0, "-m", &m1];
        args.extend_from_slice(extra);
        ns.bondxdp_ok(&args);
    }
    let ctl = Controller::start(&ns, &[], n);
    (ns, ctl)
}

/// The controller's CPU time (ns) and wakeups so far, over all its threads.
pub fn usage(pid: u32) -> (u64, u64) {
    let mut cpu_ns = 0;
    let mut wakeups = 0;
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, 0);
    };
    for task in tasks.flatten() {
        let dir = task.path();
        if let Ok(s) = std::fs::read_to_string(dir.join("schedstat")) {
            cpu_ns += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
        if let Ok(s) = std::fs::read_to_string(dir.join("status")) {
            wakeups += s
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    (cpu_ns, wakeups)
}

/// `trials` windows of `secs` each: (% of a core, wakeups per second) per window.
fn idle(pid: u32, trials: usize, secs: u64) -> (Vec<f64>, Vec<f64>) {
    // Adoption and the first publishes are over well before this.
    std::thread::sleep(Duration::from_secs(2));
    let (mut cpu, mut wakeups) = (Vec::new(), Vec::new());
    for _ in 0..trials {
        let (c0, w0) = usage(pid);
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs(secs));
        let (c1, w1) = usage(pid);
        let dt = t0.elapsed().as_secs_f64();
        cpu.push((c1 - c0) as f64 / 1e9 / dt * 100.0);
        wakeups.push((w1 - w0) as f64 / dt);
    }
    (cpu, wakeups)
}

/// Runs the section.
pub fn run(trials: usize, secs: u64) -> Section {
    let mut rows = Vec::new();
    let mut polled = None;
    for (n, extra, label) in [
        (
            20,
            &["--no-link-events", "--miimon", "100"][..],
            "miimon=100 polling",
        ),
        (1, &[][..], "event-driven"),
        (5, &[][..], "event-driven"),
        (20, &[][..], "event-driven"),
    ] {
        let (_ns, ctl) = bonds(n, extra);
        let (cpu, wakeups) = idle(ctl.pid(), trials, secs);
        let mut cpu = Row::new(format!("idle CPU, {n} bonds, {label}"), "% of a core", cpu);
        let mut wakeups = Row::new(format!("wakeups, {n} bonds, {label}"), "1/s", wakeups);
        match (&polled, label) {
            (None, _) => {
                polled = Some((cpu.clone(), wakeups.clone()));
            }
            (Some((pc, pw)), _) if n == 20 => {
                cpu = cpu.against(pc);
                wakeups = wakeups.against(pw);
                // Absolute targets, kept on the ratio's row by its median.
                cpu.target = Some(Target::AtMost(IDLE_CPU_TARGET));
                cpu.met = Some(cpu.median <= IDLE_CPU_TARGET);
                wakeups.target = Some(Target::AtMost(WAKEUPS_TARGET));
                wakeups.met = Some(wakeups.median <= WAKEUPS_TARGET);
            }
            _ => {}
        }
        rows.push(cpu);
        rows.push(wakeups);
    }
    let gaps: Vec<f64> = (0..trials).map(|t| failover::trial('b', 100 + t)).collect();
    rows.push(
        Row::new("carrier-loss failover gap, event-driven", "ms", gaps)
            .target(Target::AtMost(failover::EVENTS_TARGET_MS)),
    );
    Section {
        title: "Idle controller".into(),
        method: format!(
            "`bondxdp run` managing N active-backup bonds of two veth members, nothing \
             happening: CPU time of its threads and their voluntary context switches \
             (wakeups), {trials} windows of {secs} s each after 2 s of settling; the first \
             rows are the same 20 bonds with miimon=100 polling and link events off (the \
             baseline, same run). Targets for 20 event-driven bonds: <= {IDLE_CPU_TARGET} % \
             of a core and <= {WAKEUPS_TARGET} wakeups/s (the medians; the ratio is to the \
             polled bonds). Last row: the failover section's carrier-loss trial (b), \
             {trials} times, target <= {} ms.",
            failover::EVENTS_TARGET_MS
        ),
        rows,
    }
}
