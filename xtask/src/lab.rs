//! `cargo xtask run`: the lab. Two hosts in network namespaces joined by several veth links
//! (one slower than the others), a bond and a controller on each side, TCP flows and a UDP
//! stream across, a live per-member view, a link failure midway and its repair, and a summary.
//! With `--forward`, host A routes for a LAN host behind it with the XDP fast path
//! (`--forward-from lan0`) and the traffic comes from that LAN host.
//!
//! Namespaces are named `bxlab-*`; a new run removes any left by a crash. With a terminal the
//! view is drawn with ratatui (q or Ctrl-C quits and tears down); without one (CI) it prints a
//! line per second.

use std::{
    collections::VecDeque,
    io::IsTerminal,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::Args;
use ratatui::{
    crossterm::event::{self, Event, KeyCode, KeyModifiers},
    layout::{Constraint, Layout},
    style::{Color, Style, Stylize},
    text::Line,
    widgets::{Block, Gauge, Paragraph, Sparkline},
};
use serde_json::Value;

use crate::util::{cargo, cmd, output, run, step, succeeds, workspace_root};

/// Prefix of every namespace the lab owns.
const NS_PREFIX: &str = "bxlab-";
const NS_A: &str = "bxlab-a";
const NS_B: &str = "bxlab-b";
/// `--forward`: the LAN host behind host A.
const NS_LAN: &str = "bxlab-lan";
const ADDR_LAN: &str = "198.18.10.2";
const ADDR_A_LAN: &str = "198.18.10.1";
const ADDR_A: &str = "198.18.0.1";
const ADDR_B: &str = "198.18.0.2";
/// UDP stream packet rate (datagrams of 1000 bytes), used to turn losses into a gap.
const UDP_PPS: u64 = 2500;

/// Options of `cargo xtask run`.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// Which lab: `bond` (two hosts, link aggregation) or `multi-wan` (a home with three
    /// uplinks to ISPs, one a raw-IP modem).
    #[arg(long, default_value = "bond")]
    pub lab: String,
    /// Bonding mode for both bonds (balance-rr, active-backup, balance-xor, broadcast,
    /// balance-tlb, load-aware, custom: the example selection program).
    #[arg(long, default_value = "balance-xor")]
    pub mode: String,
    /// Transmit hash policy (balance-xor).
    #[arg(long, default_value = "layer3+4")]
    pub xmit_hash_policy: String,
    /// Number of links between the hosts.
    #[arg(long, default_value_t = 3)]
    pub members: usize,
    /// Rate of each link (tbf), e.g. 1gbit; the last link gets a third of it (multi-wan: the
    /// first uplink's; the second gets a third, the modem a sixth).
    #[arg(long, default_value = "1gbit")]
    pub rate: String,
    /// How long to drive traffic, in seconds.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Do not fail a link midway.
    #[arg(long)]
    pub no_failover: bool,
    /// Leave the lab up afterwards (bonds, controllers, namespaces).
    #[arg(long)]
    pub keep: bool,
    /// Only remove a lab left up by --keep (or by a crash), then exit.
    #[arg(long)]
    pub teardown: bool,
    /// Host A routes for a LAN host (namespace bxlab-lan) with the XDP fast path
    /// (`--forward-from lan0`); the traffic comes from the LAN host, and the view shows what
    /// XDP forwarded next to what the kernel did. XDP bypasses qdiscs: the links' rate
    /// limits hold only for what the kernel sends.
    #[arg(long)]
    pub forward: bool,
    /// Exit non-zero unless traffic crossed every member and the failover happened (CI);
    /// with --forward, also unless the fast path carried it.
    #[arg(long)]
    pub check: bool,
    /// Use target/debug/bondxdp as it is (`cargo xtask test` has just built it).
    #[arg(skip)]
    pub prebuilt: bool,
}

impl Default for LabArgs {
    fn default() -> Self {
        LabArgs {
            lab: "bond".into(),
            mode: "balance-xor".into(),
            xmit_hash_policy: "layer3+4".into(),
            members: 3,
            rate: "1gbit".into(),
            duration: 20,
            no_failover: false,
            keep: false,
            teardown: false,
            forward: false,
            check: false,
            prebuilt: false,
        }
    }
}

/// Removes every lab namespace: bonds down, processes killed, namespace deleted.
pub fn teardown_all() {
    // The modem relay first: its TUN devices must not outlive their namespaces.
    crate::lab_wan::stop_relay();
    let Ok(list) = output(&mut cmd("ip", ["netns", "list"])) else {
        return;
    };
    let bin = bondxdp_bin();
    for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if !ns.starts_with(NS_PREFIX) {
            continue;
        }
        if let Ok(pids) = output(&mut cmd("ip", ["netns", "pids", ns])) {
            for pid in pids.split_whitespace() {
                let _ = succeeds(&mut cmd("kill", ["-9", pid]));
            }
        }
        for bond in ["bond0", "mw0"] {
            let _ = succeeds(&mut cmd("ip", ["netns", "exec", ns, &bin, "down", bond]));
        }
        let _ = succeeds(&mut cmd("ip", ["netns", "del", ns]));
    }
}

pub(crate) fn bondxdp_bin() -> String {
    workspace_root()
        .join("target/debug/bondxdp")
        .to_string_lossy()
        .into_owned()
}

pub(crate) fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = cmd("ip", ["netns", "exec", ns]);
    c.args(args);
    c
}

/// Processes the lab started; killed on drop unless the lab is kept.
struct Lab {
    children: Vec<Child>,
    keep: bool,
    logs: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        teardown_all();
    }
}

/// One sample of a member.
#[derive(Clone, Debug, Default)]
struct MemberSample {
    name: String,
    link: String,
    tx_bytes: u64,
}

/// What the view shows for one member.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemberView {
    pub(crate) name: String,
    pub(crate) link: String,
    pub(crate) gbps: f64,
    pub(crate) history: VecDeque<u64>,
    pub(crate) total_bytes: u64,
    /// More to say about it (multi-wan: flows, round trip).
    pub(crate) extra: String,
}

/// The view's state.
pub(crate) struct View {
    pub(crate) title: String,
    pub(crate) mode: String,
    pub(crate) members: Vec<MemberView>,
    pub(crate) drops: u64,
    pub(crate) events: Vec<String>,
    pub(crate) elapsed: f64,
    pub(crate) duration: f64,
    pub(crate) link_gbps: Vec<f64>,
    /// Mean aggregate rate (Gb/s) before the failure, after the first second.
    pub(crate) before_failure: (f64, u32),
    /// A line more for the header (`--forward`: what XDP and the kernel forwarded).
    pub(crate) note: String,
}

impl View {
    /// Takes one sample of member `i`: its link state and the bytes it sent in the last
    /// `dt` seconds (`el` seconds into the run). A state change becomes an event.
    pub(crate) fn sample(&mut self, i: usize, link: &str, bytes: u64, dt: f64, el: f64) {
        let v = &mut self.members[i];
        if v.link != link && !v.link.is_empty() {
            self.events
                .push(format!("{el:5.1}s  {} is {link} (controller)", v.name));
        }
        v.link = link.to_string();
        v.gbps = bytes as f64 * 8.0 / dt.max(1e-3) / 1e9;
        v.total_bytes += bytes;
        v.history.push_back((v.gbps * 1000.0) as u64);
        if v.history.len() > 120 {
            v.history.pop_front();
        }
    }

    /// Shows the view: redrawn in the terminal, or without one a plain line a second (the
    /// next due at `next_line`, which is advanced).
    pub(crate) fn show(
        &self,
        terminal: &mut Option<ratatui::DefaultTerminal>,
        el: f64,
        next_line: &mut f64,
    ) -> Result<()> {
        match terminal {
            Some(t) => {
                t.draw(|f| draw(f, self))?;
            }
            None if el >= *next_line => {
                let members: Vec<String> = self
                    .members
                    .iter()
                    .map(|m| format!("{} {:>4} {:6.3} Gb/s", m.name, m.link, m.gbps))
                    .collect();
                println!(
                    "t={el:5.1}s  {}  drops {}{}",
                    members.join("  "),
                    self.drops,
                    if self.note.is_empty() {
                        String::new()
                    } else {
                        format!("  {}", self.note)
                    }
                );
                *next_line = el.floor() + 1.0;
            }
            None => {}
        }
        Ok(())
    }
}

/// One look at a bond: its members, its drops, and the packets its XDP fast path forwarded.
fn sample(ns: &str) -> Result<(Vec<MemberSample>, u64, u64)> {
    let json = output(&mut in_ns(
        ns,
        &[&bondxdp_bin(), "status", "bond0", "--json"],
    ))?;
    let v: Value = serde_json::from_str(&json)?;
    let members = v["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| MemberSample {
                    name: m["name"].as_str().unwrap_or("?").into(),
                    link: m["link"].as_str().unwrap_or("?").into(),
                    tx_bytes: m["tx_bytes"].as_u64().unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    let drops = v["drops"]
        .as_object()
        .map(|d| d.values().filter_map(|x| x.as_u64()).sum())
        .unwrap_or(0);
    let xdp_forwarded = v["events"]["xdp_forwarded"].as_u64().unwrap_or(0);
    Ok((members, drops, xdp_forwarded))
}

/// IPv4 packets the kernel of `ns` forwarded (`ForwDatagrams` of /proc/net/snmp).
fn kernel_forwarded(ns: &str) -> Result<u64> {
    let snmp = output(&mut in_ns(ns, &["cat", "/proc/net/snmp"]))?;
    let mut ip = snmp.lines().filter(|l| l.starts_with("Ip:"));
    let (Some(names), Some(values)) = (ip.next(), ip.next()) else {
        bail!("no Ip: lines in /proc/net/snmp");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ForwDatagrams")
        .and_then(|(_, v)| v.parse().ok())
        .context("no ForwDatagrams in /proc/net/snmp")
}

/// Parses a tc rate ("1gbit", "300mbit") into Gbit/s.
pub(crate) fn rate_gbps(rate: &str) -> Option<f64> {
    let r = rate.to_ascii_lowercase();
    let (num, mult) = [("gbit", 1.0), ("mbit", 1e-3), ("kbit", 1e-6)]
        .into_iter()
        .find_map(|(unit, mult)| Some((r.strip_suffix(unit)?, mult)))?;
    num.parse::<f64>().ok().map(|n| n * mult)
}

/// Runs the lab.
pub fn run_lab(args: &LabArgs) -> Result<()> {
    if args.teardown {
        teardown_all();
        return Ok(());
    }
    match args.lab.as_str() {
        "bond" => {}
        "multi-wan" => return crate::lab_wan::run_lab(args),
        other => bail!("--lab {other:?}: expected bond or multi-wan"),
    }
    if args.members < 1 || args.members > 16 {
        bail!("--members must be between 1 and 16");
    }
    let Some(link_rate) = rate_gbps(&args.rate) else {
        bail!(
            "--rate {:?}: expected a tc rate like 1gbit or 300mbit",
            args.rate
        );
    };
    if !args.prebuilt {
        step("building bondxdp");
        run(cargo().args(["build", "-p", "bondxdp"]))?;
    }
    teardown_all();
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let logs = std::env::temp_dir().join("bondxdp-lab");
    std::fs::create_dir_all(&logs)?;
    let mut lab = Lab {
        children: Vec::new(),
        keep: args.keep,
        logs,
    };
    let slow_rate = format!("{}mbit", (link_rate * 1000.0 / 3.0).round() as u64);
    let rates: Vec<String> = (0..args.members)
        .map(|i| {
            if i + 1 == args.members && args.members > 1 {
                slow_rate.clone()
            } else {
                args.rate.clone()
            }
        })
        .collect();
    step(&format!(
        "creating the lab: {NS_A} <-> {NS_B}, {} links ({})",
        args.members,
        rates.join(", ")
    ));
    if args.forward {
        step(&format!(
            "{NS_LAN} ({ADDR_LAN}) routed through {NS_A}'s bond with the XDP fast path"
        ));
    }
    build_lab(args, &rates)?;
    // Where the traffic comes from: host A, or with --forward the LAN host behind it.
    let source = if args.forward { NS_LAN } else { NS_A };
    let bin = bondxdp_bin();
    for ns in [NS_A, NS_B] {
        let log = std::fs::File::create(lab.logs.join(format!("{ns}.log")))?;
        let child = in_ns(ns, &[&bin, "run"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the controller")?;
        lab.children.push(child);
    }
    thread::sleep(Duration::from_millis(800));
    run(in_ns(source, &["ping", "-c", "1", "-W", "2", ADDR_B]).stdout(Stdio::null()))
        .context("the bond does not pass traffic")?;

    step(&format!(
        "traffic for {} s: iperf3 8 TCP flows + a UDP stream at {UDP_PPS} datagrams/s",
        args.duration
    ));
    let udp_json = lab.logs.join("udp.json");
    let tcp_json = lab.logs.join("tcp.json");
    // iperf3 --logfile appends.
    let _ = std::fs::remove_file(&udp_json);
    let _ = std::fs::remove_file(&tcp_json);
    for port in ["5201", "5202"] {
        let server = in_ns(NS_B, &["iperf3", "-s", "-p", port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        lab.children.push(server);
    }
    thread::sleep(Duration::from_millis(300));
    let secs = args.duration.to_string();
    let tcp = in_ns(
        source,
        &[
            "iperf3",
            "-c",
            ADDR_B,
            "-p",
            "5201",
            "-P",
            "8",
            // Fixed client ports (40000-40007): the flows, and so their spread over the
            // members under a hash policy, are the same every run. With ephemeral ports, one
            // run in about fifty left a member of the default three without a flow, and
            // `--check` without traffic to see there.
            "--cport",
            "40000",
            "-t",
            &secs,
            "-J",
            "--logfile",
        ],
    )
    .arg(&tcp_json)
    .stdout(Stdio::null())
    .spawn()?;
    let udp_rate = format!("{}", UDP_PPS * 1000 * 8);
    let udp = in_ns(
        source,
        &[
            "iperf3",
            "-c",
            ADDR_B,
            "-p",
            "5202",
            "-u",
            "-b",
            &udp_rate,
            "-l",
            "1000",
            "--cport",
            "40100",
            "-t",
            &secs,
            "-J",
            "--logfile",
        ],
    )
    .arg(&udp_json)
    .stdout(Stdio::null())
    .spawn()?;
    let mut clients = vec![tcp, udp];

    let duration = args.duration as f64;
    let fail_at = duration * 0.4;
    let repair_at = duration * 0.7;
    let mut view = View {
        title: if args.forward {
            format!(" {NS_LAN} -> bond0 on {NS_A} (XDP fast path) -> {NS_B} ")
        } else {
            format!(" bond0 on {NS_A} -> {NS_B} ")
        },
        mode: args.mode.clone(),
        members: Vec::new(),
        drops: 0,
        events: Vec::new(),
        elapsed: 0.0,
        duration,
        link_gbps: rates.iter().map(|r| rate_gbps(r).unwrap_or(0.0)).collect(),
        before_failure: (0.0, 0),
        note: String::new(),
    };
    let mut forwarded = Forwarded::default();
    let tty = std::io::stdout().is_terminal();
    let mut terminal = if tty { Some(ratatui::init()) } else { None };
    let result = drive(
        args,
        &mut view,
        &mut forwarded,
        &interrupted,
        fail_at,
        repair_at,
        &mut terminal,
    );
    if terminal.is_some() {
        ratatui::restore();
    }
    result?;
    // Let the iperf3 clients finish and write their reports.
    let deadline = Instant::now() + Duration::from_secs(5);
    for client in &mut clients {
        while Instant::now() < deadline && matches!(client.try_wait(), Ok(None)) {
            thread::sleep(Duration::from_millis(50));
        }
        let _ = client.kill();
        let _ = client.wait();
    }
    // With --forward the links' rate limits do not hold (XDP bypasses qdiscs): the TCP flows
    // fill the CPUs and the UDP stream's losses say nothing about the failover.
    let gap = !args.no_failover && !args.forward;
    let mut summary = summarize(&view, &tcp_json, &udp_json, gap);
    if args.forward {
        summary.push_str(&format!(
            "  forwarded by host A: {} packets in XDP, {} by the kernel (XDP bypasses the \
             links' qdiscs, so their rate limits do not apply)\n",
            forwarded.xdp, forwarded.kernel
        ));
    }
    println!("{summary}");
    if args.keep {
        println!(
            "\nThe lab is still up: `ip netns exec {NS_A} bash` enters host A ({ADDR_A}, bond0), \
             `ip netns exec {NS_B} bash` host B ({ADDR_B}){}; controllers log to {}.\n\
             Remove it with `cargo xtask run --teardown`.",
            if args.forward {
                format!(", `ip netns exec {NS_LAN} bash` the LAN host ({ADDR_LAN})")
            } else {
                String::new()
            },
            lab.logs.display()
        );
    }
    if args.check {
        let every_member = view.members.iter().all(|m| m.total_bytes > 0);
        let failed_over = args.no_failover || view.events.iter().any(|e| e.contains("down"));
        // The fast path carried the traffic: the kernel forwarded a few packets at most
        // (the first ones, while neighbours resolve).
        let fast = !args.forward || (forwarded.xdp > 1000 && forwarded.kernel * 20 < forwarded.xdp);
        if !every_member || !failed_over || !fast || view.members.is_empty() {
            bail!(
                "lab check failed: traffic on every member: {every_member}, failover seen: \
                 {failed_over}, fast path carried it: {fast}"
            );
        }
        println!(
            "lab check passed: traffic crossed every member and the failover happened{}",
            if args.forward {
                ", forwarded in XDP"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn build_lab(args: &LabArgs, rates: &[String]) -> Result<()> {
    let namespaces: &[&str] = if args.forward {
        &[NS_A, NS_B, NS_LAN]
    } else {
        &[NS_A, NS_B]
    };
    for ns in namespaces {
        run(&mut cmd("ip", ["netns", "add", ns]))?;
        run(&mut in_ns(ns, &["ip", "link", "set", "lo", "up"]))?;
    }
    for (i, rate) in rates.iter().enumerate() {
        let (a, b) = (format!("a{i}"), format!("b{i}"));
        run(&mut cmd(
            "ip",
            [
                "link", "add", &a, "netns", NS_A, "type", "veth", "peer", "name", &b, "netns", NS_B,
            ],
        ))?;
        for (ns, dev) in [(NS_A, &a), (NS_B, &b)] {
            run(&mut in_ns(
                ns,
                &[
                    "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst",
                    "256kb", "latency", "20ms",
                ],
            ))?;
        }
    }
    if args.forward {
        build_lan(args)?;
    }
    for (ns, side, addr) in [(NS_A, "a", ADDR_A), (NS_B, "b", ADDR_B)] {
        let mut up: Vec<String> = vec![
            "up".into(),
            "bond0".into(),
            "--mode".into(),
            args.mode.clone(),
            "--xmit-hash-policy".into(),
            args.xmit_hash_policy.clone(),
        ];
        if args.mode == "active-backup" || args.mode == "1" {
            up.push("--all-slaves-active".into());
        }
        if args.mode == "custom" {
            // The example selection program that ships with bondxdp (examples/select-program).
            let object = std::env::temp_dir().join("bondxdp-lab-select.o");
            run(in_ns(ns, &[&bondxdp_bin(), "example-select-program"])
                .arg(&object)
                .stdout(Stdio::null()))?;
            up.push("--select-program".into());
            up.push(format!("{}:weighted_hash", object.display()));
        }
        for i in 0..args.members {
            up.push("-m".into());
            up.push(format!("{side}{i}"));
        }
        if args.forward && ns == NS_A {
            up.push("--forward-from".into());
            up.push("lan0".into());
        }
        let mut c = in_ns(ns, &[&bondxdp_bin()]);
        c.args(&up).stderr(Stdio::null());
        run(&mut c)?;
        run(&mut in_ns(
            ns,
            &["ip", "addr", "add", &format!("{addr}/24"), "dev", "bond0"],
        ))?;
    }
    if args.forward {
        // B's way back to the LAN, and software checksums on what it sends into A's XDP.
        run(&mut in_ns(
            NS_B,
            &["ip", "route", "add", "198.18.10.0/24", "via", ADDR_A],
        ))?;
        run(in_ns(NS_B, &["ethtool", "-K", "bond0", "tx", "off"]).stdout(Stdio::null()))?;
    }
    Ok(())
}

/// `--forward`: the LAN host behind host A (`bxlab-lan`, eth0 -- lan0 on A) and A routing
/// for it (B's route back comes with its bond). Veth needs two things real NICs do not
/// (docs/fast-path.md): the peers XDP redirects into need NAPI (GRO on: B's members,
/// the LAN host's eth0), and the hosts sending into A's XDP compute checksums in software
/// (tx off: the LAN host's eth0, B's members and bond).
fn build_lan(args: &LabArgs) -> Result<()> {
    run(&mut cmd(
        "ip",
        [
            "link", "add", "lan0", "netns", NS_A, "type", "veth", "peer", "name", "eth0", "netns",
            NS_LAN,
        ],
    ))?;
    let a_lan = format!("{ADDR_A_LAN}/24");
    let lan = format!("{ADDR_LAN}/24");
    for (ns, args) in [
        (NS_A, vec!["ip", "addr", "add", &a_lan, "dev", "lan0"]),
        (NS_A, vec!["ip", "link", "set", "lan0", "up"]),
        (NS_A, vec!["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
        (NS_LAN, vec!["ip", "addr", "add", &lan, "dev", "eth0"]),
        (NS_LAN, vec!["ip", "link", "set", "eth0", "up"]),
        (
            NS_LAN,
            vec!["ip", "route", "add", "default", "via", ADDR_A_LAN],
        ),
        (
            NS_LAN,
            vec!["ethtool", "-K", "eth0", "gro", "on", "tx", "off"],
        ),
    ] {
        run(in_ns(ns, &args).stdout(Stdio::null()))?;
    }
    for i in 0..args.members {
        let b = format!("b{i}");
        run(in_ns(NS_B, &["ethtool", "-K", &b, "gro", "on", "tx", "off"]).stdout(Stdio::null()))?;
    }
    Ok(())
}

/// Packets host A forwarded since the traffic started (`--forward`).
#[derive(Debug, Default)]
struct Forwarded {
    xdp: u64,
    kernel: u64,
}

fn drive(
    args: &LabArgs,
    view: &mut View,
    forwarded: &mut Forwarded,
    interrupted: &AtomicBool,
    fail_at: f64,
    repair_at: f64,
    terminal: &mut Option<ratatui::DefaultTerminal>,
) -> Result<()> {
    let start = Instant::now();
    let (mut last, _, xdp_start) = sample(NS_A)?;
    let kernel_start = kernel_forwarded(NS_A)?;
    let (mut last_xdp, mut last_kernel) = (xdp_start, kernel_start);
    let mut last_t = Instant::now();
    let (mut failed, mut repaired) = (false, false);
    let mut next_line = 0.0;
    while start.elapsed().as_secs_f64() < view.duration {
        if interrupted.load(Ordering::SeqCst) || quit_requested()? {
            view.events.push("interrupted".into());
            break;
        }
        let el = start.elapsed().as_secs_f64();
        if !args.no_failover && !failed && el >= fail_at {
            run(&mut in_ns(NS_B, &["ip", "link", "set", "b0", "down"]))?;
            view.events
                .push(format!("{el:5.1}s  link a0-b0 down (peer b0 set down)"));
            failed = true;
        }
        if !args.no_failover && failed && !repaired && el >= repair_at {
            run(&mut in_ns(NS_B, &["ip", "link", "set", "b0", "up"]))?;
            view.events.push(format!("{el:5.1}s  link a0-b0 back up"));
            repaired = true;
        }
        let (now, drops, xdp) = sample(NS_A)?;
        let dt = last_t.elapsed().as_secs_f64().max(1e-3);
        if args.forward {
            let kernel = kernel_forwarded(NS_A)?;
            view.note = format!(
                "host A forwards: XDP {:.0} packets/s, kernel {:.0} packets/s",
                xdp.saturating_sub(last_xdp) as f64 / dt,
                kernel.saturating_sub(last_kernel) as f64 / dt
            );
            (last_xdp, last_kernel) = (xdp, kernel);
            forwarded.xdp = xdp - xdp_start;
            forwarded.kernel = kernel - kernel_start;
        }
        if view.members.len() != now.len() {
            view.members = now
                .iter()
                .map(|m| MemberView {
                    name: m.name.clone(),
                    ..Default::default()
                })
                .collect();
        }
        for (i, m) in now.iter().enumerate() {
            let prev = last.get(i).map_or(m.tx_bytes, |p| p.tx_bytes);
            view.sample(i, &m.link, m.tx_bytes.saturating_sub(prev), dt, el);
        }
        view.drops = drops;
        view.elapsed = el;
        last = now;
        last_t = Instant::now();
        view.show(terminal, el, &mut next_line)?;
        thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

/// Whether the user pressed q or Ctrl-C in the live view.
pub(crate) fn quit_requested() -> Result<bool> {
    if !std::io::stdout().is_terminal() {
        return Ok(false);
    }
    while event::poll(Duration::ZERO)? {
        if let Event::Key(k) = event::read()? {
            let ctrl_c =
                k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
            if ctrl_c || k.code == KeyCode::Char('q') {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

pub(crate) fn draw(f: &mut ratatui::Frame, view: &View) {
    let rows = view.members.len();
    let mut constraints = vec![Constraint::Length(4)];
    constraints.extend(std::iter::repeat_n(Constraint::Length(4), rows));
    constraints.push(Constraint::Min(4));
    let areas = Layout::vertical(constraints).split(f.area());
    let total: f64 = view.members.iter().map(|m| m.gbps).sum();
    let header = Paragraph::new(vec![
        Line::from(format!(
            "bondxdp lab  mode {}  t={:.1}/{:.0}s  total {:.3} Gb/s  drops {}   (q quits)",
            view.mode, view.elapsed, view.duration, total, view.drops
        ))
        .bold(),
        Line::from(view.note.as_str()),
    ])
    .block(Block::bordered().title(view.title.as_str()));
    f.render_widget(header, areas[0]);
    for (i, m) in view.members.iter().enumerate() {
        let cap = view.link_gbps.get(i).copied().unwrap_or(1.0).max(1e-6);
        let color = if m.link == "up" {
            Color::Green
        } else {
            Color::Red
        };
        let cols = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
            .split(areas[1 + i]);
        let gauge = Gauge::default()
            .block(Block::bordered().title(format!(
                " {} [{}] link {:.2} Gb/s {}",
                m.name, m.link, cap, m.extra
            )))
            .gauge_style(Style::default().fg(color))
            .ratio((m.gbps / cap).clamp(0.0, 1.0))
            .label(format!("{:.3} Gb/s", m.gbps));
        f.render_widget(gauge, cols[0]);
        let data: Vec<u64> = m.history.iter().copied().collect();
        let spark = Sparkline::default()
            .block(Block::bordered().title(" history "))
            .data(&data)
            .max((cap * 1000.0) as u64)
            .style(Style::default().fg(color));
        f.render_widget(spark, cols[1]);
    }
    let events: Vec<Line> = view
        .events
        .iter()
        .rev()
        .take(8)
        .rev()
        .map(|e| Line::from(e.as_str()))
        .collect();
    f.render_widget(
        Paragraph::new(events).block(Block::bordered().title(" events ")),
        areas[1 + rows],
    );
}

fn summarize(view: &View, tcp: &PathBuf, udp: &PathBuf, failover: bool) -> String {
    let mut o = String::from("\n== lab summary\n");
    let secs = view.elapsed.max(1e-3);
    for m in &view.members {
        o.push_str(&format!(
            "  {:<4} carried {:8.1} MB, {:6.3} Gb/s on average\n",
            m.name,
            m.total_bytes as f64 / 1e6,
            m.total_bytes as f64 * 8.0 / secs / 1e9
        ));
    }
    let read = |p: &PathBuf| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
    };
    if let Some(v) = read(tcp)
        && let Some(bps) = v["end"]["sum_received"]["bits_per_second"].as_f64()
    {
        o.push_str(&format!(
            "  TCP (8 flows): {:.3} Gb/s received\n",
            bps / 1e9
        ));
    }
    if let Some(v) = read(udp) {
        let lost = v["end"]["sum"]["lost_packets"].as_u64().unwrap_or(0);
        let total = v["end"]["sum"]["packets"].as_u64().unwrap_or(0);
        o.push_str(&format!("  UDP stream: {lost} of {total} datagrams lost"));
        if failover {
            o.push_str(&format!(
                "; failover gap about {:.1} ms (losses / {UDP_PPS} per second)",
                lost as f64 * 1000.0 / UDP_PPS as f64
            ));
        }
        o.push('\n');
    }
    for e in &view.events {
        o.push_str(&format!("  {e}\n"));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(rate_gbps("1gbit"), Some(1.0));
        assert_eq!(rate_gbps("300mbit"), Some(0.3));
        assert_eq!(rate_gbps("fast"), None);
    }
}
