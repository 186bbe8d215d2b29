//! `cargo xtask run --lab multi-wan`: the multi-uplink lab. A home host with three uplinks:
//! two Ethernet links to ISP routers (each NATting like a real home router, at different
//! rates) and a raw-IP "USB modem" (TUN devices and a relay adding cellular-like delay) to a
//! third ISP; an "internet" namespace with the server. `mw0` at home balances flows over the
//! three with translation; a controller probes them. Midway the first ISP dies silently
//! beyond its gateway (its link stays up), later it comes back. The view shows each uplink's
//! state, rate, flows and probe round trip.

use std::{
    io::IsTerminal,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{
    lab::{LabArgs, MemberView, View, bondxdp_bin, in_ns, quit_requested, rate_gbps},
    util::{cargo, cmd, run, step, workspace_root},
};

/// Namespaces (prefix `bxlab-`, so `--teardown` and a new run clean them up).
pub const HOME: &str = "bxlab-home";
const INET: &str = "bxlab-inet";
const SERVER: &str = "198.19.0.80";
/// Cellular-like one-way delay of the modem uplink, ms.
const MODEM_DELAY_MS: u64 = 15;
const UDP_PPS: u64 = 2500;
/// iperf3 clients (two flows each).
const TCP_CLIENTS: usize = 8;

fn isp(i: usize) -> String {
    format!("bxlab-isp{i}")
}

/// Where the relay's pid is kept (`--teardown` must stop it before the namespaces go: a TUN
/// device left in a namespace being deleted would be moved to the host's).
pub fn relay_pid_file() -> std::path::PathBuf {
    std::env::temp_dir().join("bondxdp-lab").join("relay.pid")
}

/// Stops a relay left by an earlier run.
pub fn stop_relay() {
    if let Ok(pid) = std::fs::read_to_string(relay_pid_file())
        && let Ok(pid) = pid.trim().parse::<i32>()
    {
        // SAFETY: signalling a process by pid.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        thread::sleep(Duration::from_millis(100));
        let _ = std::fs::remove_file(relay_pid_file());
    }
}

/// The uplinks' rates: the first at `rate`, the second at a third, the modem at a sixth.
fn rates(rate: &str) -> Result<Vec<(String, f64)>> {
    let Some(gbps) = rate_gbps(rate) else {
        bail!("--rate {rate:?}: expected a tc rate like 300mbit");
    };
    Ok([1.0, 3.0, 6.0]
        .iter()
        .map(|div| {
            let mbit = (gbps * 1000.0 / div).round().max(1.0);
            (format!("{mbit}mbit"), mbit / 1000.0)
        })
        .collect())
}

/// Runs the multi-wan lab.
pub fn run_lab(args: &LabArgs) -> Result<()> {
    let rates = rates(&args.rate)?;
    if !args.prebuilt {
        step("building bondxdp and the modem relay");
        run(cargo().args([
            "build",
            "-p",
            "bondxdp",
            "-p",
            "bondxdp-tests",
            "--bin",
            "bondxdp",
            "--bin",
            "bondxdp-tun-relay",
        ]))?;
    }
    crate::lab::teardown_all();
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let logs = std::env::temp_dir().join("bondxdp-lab");
    std::fs::create_dir_all(&logs)?;
    let mut guard = Guard {
        children: Vec::new(),
        keep: args.keep,
    };
    step(&format!(
        "creating the lab: {HOME} with uplinks to 3 ISPs ({}, {}, and a raw-IP modem at {} with \
         {MODEM_DELAY_MS} ms each way) and {INET}",
        rates[0].0, rates[1].0, rates[2].0
    ));
    build(&rates, &mut guard)?;
    let log_path = logs.join(format!("{HOME}.log"));
    let log = std::fs::File::create(&log_path)?;
    guard.children.push(
        in_ns(
            HOME,
            &[&bondxdp_bin(), "run", "--metrics", "127.0.0.1:9477"],
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting the controller")?,
    );
    thread::sleep(Duration::from_millis(1000));
    run(in_ns(HOME, &["ping", "-c", "1", "-W", "2", SERVER]).stdout(Stdio::null()))
        .context("the bond does not reach the internet")?;

    step(&format!(
        "traffic for {} s: 8 iperf3 clients x 2 TCP flows + a sequenced UDP stream at {UDP_PPS} \
         datagrams/s",
        args.duration
    ));
    let tcp_jsons: Vec<std::path::PathBuf> = (0..TCP_CLIENTS)
        .map(|i| logs.join(format!("wan-tcp{i}.json")))
        .collect();
    for (i, json) in tcp_jsons.iter().enumerate() {
        let _ = std::fs::remove_file(json);
        let port = (5201 + i).to_string();
        guard.children.push(
            in_ns(INET, &["iperf3", "-s", "-B", SERVER, "-p", &port])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
    }
    thread::sleep(Duration::from_millis(300));
    let secs = args.duration.to_string();
    let mut clients = Vec::new();
    for (i, json) in tcp_jsons.iter().enumerate() {
        let port = (5201 + i).to_string();
        clients.push(
            in_ns(
                HOME,
                &[
                    "iperf3",
                    "-c",
                    SERVER,
                    "-p",
                    &port,
                    "-P",
                    "2",
                    "-t",
                    &secs,
                    "-J",
                    "--logfile",
                ],
            )
            .arg(json)
            .stdout(Stdio::null())
            .spawn()?,
        );
    }
    // One connection dying (its ISP did) must not stop the others: separate clients, and a
    // UDP stream of our own (an iperf3 UDP test dies with its TCP control connection).
    let udp = UdpStream::start(args.duration)?;
    let mut view = View {
        title: format!(" mw0 on {HOME}: three uplinks, translated per flow "),
        mode: "multi-wan".into(),
        members: Vec::new(),
        drops: 0,
        events: Vec::new(),
        elapsed: 0.0,
        duration: args.duration as f64,
        link_gbps: rates.iter().map(|r| r.1).collect(),
        before_failure: (0.0, 0),
        note: String::new(),
    };
    let tty = std::io::stdout().is_terminal() && !args.check;
    let mut terminal = if tty { Some(ratatui::init()) } else { None };
    let killed_at = drive(args, &mut view, &interrupted, &mut terminal);
    if terminal.is_some() {
        ratatui::restore();
    }
    let killed_at = killed_at?;
    let deadline = Instant::now() + Duration::from_secs(5);
    for c in &mut clients {
        while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
            thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    let udp = udp.finish();
    let controller_log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let detection = killed_at.and_then(|t| detection_after(&controller_log, "u0", t));
    println!("{}", summarize(&view, &tcp_jsons, &udp, detection, &rates));
    if args.keep {
        guard.keep = true;
        println!(
            "\nThe lab is still up: `ip netns exec {HOME} bash` enters the home host (mw0; try \
             `bondxdp status mw0`, `bondxdp flows mw0`, `curl 127.0.0.1:9477/metrics`); the \
             controller logs to {}. Remove it with `cargo xtask run --teardown`.",
            log_path.display()
        );
    }
    if args.check {
        let every = view.members.len() == 3 && view.members.iter().all(|m| m.total_bytes > 0);
        let detected = args.no_failover || detection.is_some();
        if !every || !detected {
            bail!(
                "lab check failed: traffic on every uplink: {every}, failure detected: {detected}"
            );
        }
        println!(
            "lab check passed: traffic crossed every uplink and the silent failure was detected"
        );
    }
    Ok(())
}

/// Processes of the lab; stopped (and the lab torn down) on drop unless kept.
struct Guard {
    children: Vec<std::process::Child>,
    keep: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        crate::lab::teardown_all();
    }
}

fn build(rates: &[(String, f64)], guard: &mut Guard) -> Result<()> {
    let ns_all: Vec<String> = [HOME.to_string(), isp(0), isp(1), isp(2), INET.to_string()].to_vec();
    for ns in &ns_all {
        run(&mut cmd("ip", ["netns", "add", ns]))?;
        run(&mut in_ns(ns, &["ip", "link", "set", "lo", "up"]))?;
    }
    let sh = |ns: &str, line: &str| -> Result<()> {
        let args: Vec<&str> = line.split_whitespace().collect();
        run(&mut in_ns(ns, &args))
    };
    sh(INET, &format!("ip addr add {SERVER}/32 dev lo"))?;
    // The raw-IP modem: TUN devices at home (u2) and at ISP 2 (up0), joined by the relay.
    let relay = workspace_root().join("target/debug/bondxdp-tun-relay");
    let mut child = std::process::Command::new(&relay)
        .args([HOME, "u2", &isp(2), "up0", &MODEM_DELAY_MS.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", relay.display()))?;
    {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        if line.trim() != "ready" {
            bail!("the modem relay did not start");
        }
    }
    std::fs::write(relay_pid_file(), child.id().to_string())?;
    guard.children.push(child);
    for (i, rate) in rates.iter().enumerate() {
        let (u, p) = (format!("u{i}"), isp(i));
        let net = 10 * (i + 1);
        let w = format!("w{i}");
        if i < 2 {
            run(&mut cmd(
                "ip",
                [
                    "link", "add", &u, "netns", HOME, "type", "veth", "peer", "name", "up0",
                    "netns", &p,
                ],
            ))?;
            sh(HOME, &format!("ip addr add 198.18.{net}.2/24 dev {u}"))?;
            sh(HOME, &format!("ip link set {u} up"))?;
            sh(
                HOME,
                &format!(
                    "ip route add default via 198.18.{net}.1 dev {u} metric {}",
                    100 * (i + 1)
                ),
            )?;
            sh(&p, &format!("ip addr add 198.18.{net}.1/24 dev up0"))?;
        } else {
            sh(
                HOME,
                &format!("ip addr add 198.18.{net}.2 peer 198.18.{net}.1 dev {u}"),
            )?;
            sh(HOME, &format!("ip link set {u} up"))?;
            sh(HOME, &format!("ip route add default dev {u} metric 300"))?;
            sh(
                &p,
                &format!("ip addr add 198.18.{net}.1 peer 198.18.{net}.2 dev up0"),
            )?;
        }
        sh(&p, "ip link set up0 up")?;
        run(&mut cmd(
            "ip",
            [
                "link", "add", "wan0", "netns", &p, "type", "veth", "peer", "name", &w, "netns",
                INET,
            ],
        ))?;
        sh(&p, &format!("ip addr add 198.19.{}.1/24 dev wan0", i + 1))?;
        sh(&p, "ip link set wan0 up")?;
        sh(&p, &format!("ip route add default via 198.19.{}.2", i + 1))?;
        sh(&p, "sysctl -qw net.ipv4.ip_forward=1")?;
        run(&mut in_ns(&p, &["nft", "add table ip nat"]))?;
        run(&mut in_ns(
            &p,
            &[
                "nft",
                "add chain ip nat post { type nat hook postrouting priority 100 ; }",
            ],
        ))?;
        run(&mut in_ns(
            &p,
            &["nft", "add rule ip nat post oifname wan0 masquerade"],
        ))?;
        for dev in ["up0", "wan0"] {
            sh(
                &p,
                &format!(
                    "tc qdisc replace dev {dev} root tbf rate {} burst 64kb latency 50ms",
                    rate.0
                ),
            )?;
        }
        sh(INET, &format!("ip addr add 198.19.{}.2/24 dev {w}", i + 1))?;
        sh(INET, &format!("ip link set {w} up"))?;
    }
    // Weights follow the rates (6:2:1), probes go to the server.
    let up = format!(
        "{} up mw0 --mode multi-wan -m u0 -m u1 -m u2 --weight u0=6 --weight u1=2 --weight u2=1 \
         --probe {SERVER} --max-flows 65536",
        bondxdp_bin()
    );
    let args: Vec<&str> = up.split_whitespace().collect();
    run(in_ns(HOME, &args).stderr(Stdio::null()))?;
    Ok(())
}

/// Samples the uplinks; returns the time ISP 0 was killed, if it was.
fn drive(
    args: &LabArgs,
    view: &mut View,
    interrupted: &AtomicBool,
    terminal: &mut Option<ratatui::DefaultTerminal>,
) -> Result<Option<SystemTime>> {
    let start = Instant::now();
    let (fail_at, repair_at) = (view.duration * 0.4, view.duration * 0.7);
    let mut killed: Option<SystemTime> = None;
    let mut revived = false;
    let mut last: Vec<u64> = Vec::new();
    let mut last_t = Instant::now();
    let mut next_line = 0.0;
    while start.elapsed().as_secs_f64() < view.duration {
        if interrupted.load(Ordering::SeqCst) || quit_requested()? {
            view.events.push("interrupted".into());
            break;
        }
        let el = start.elapsed().as_secs_f64();
        if !args.no_failover && killed.is_none() && el >= fail_at {
            let p = isp(0);
            run(&mut in_ns(&p, &["nft", "add table inet dead"]))?;
            run(&mut in_ns(
                &p,
                &[
                    "nft",
                    "add chain inet dead blackhole { type filter hook forward priority 0 ; policy drop ; }",
                ],
            ))?;
            killed = Some(SystemTime::now());
            view.events.push(format!(
                "{el:5.1}s  ISP 0 dies beyond its gateway (link stays up)"
            ));
        }
        if killed.is_some() && !revived && el >= repair_at {
            run(&mut in_ns(&isp(0), &["nft", "delete table inet dead"]))?;
            revived = true;
            view.events.push(format!("{el:5.1}s  ISP 0 is back"));
        }
        let json = crate::util::output(&mut in_ns(
            HOME,
            &[&bondxdp_bin(), "status", "mw0", "--json"],
        ))?;
        let v: Value = serde_json::from_str(&json)?;
        let members = v["members"].as_array().cloned().unwrap_or_default();
        let dt = last_t.elapsed().as_secs_f64().max(1e-3);
        if view.members.len() != members.len() {
            view.members = members
                .iter()
                .map(|m| MemberView {
                    name: m["name"].as_str().unwrap_or("?").into(),
                    ..Default::default()
                })
                .collect();
            last = members
                .iter()
                .map(|m| m["tx_bytes"].as_u64().unwrap_or(0))
                .collect();
        }
        for (i, m) in members.iter().enumerate() {
            let tx = m["tx_bytes"].as_u64().unwrap_or(0);
            let bytes = tx.saturating_sub(last.get(i).copied().unwrap_or(tx));
            let link = m["link"].as_str().unwrap_or("?");
            view.sample(i, link, bytes, dt, el);
            let u = &m["uplink"];
            let v = &mut view.members[i];
            v.extra = format!(
                "| {} flows | rtt {} | {} ",
                u["flows"].as_u64().unwrap_or(0),
                u["rtt_ms"]
                    .as_f64()
                    .map_or("-".into(), |r| format!("{r:.1} ms")),
                u["health"].as_str().unwrap_or("?")
            );
            if let Some(l) = last.get_mut(i) {
                *l = tx;
            }
        }
        view.drops = v["drops"]
            .as_object()
            .map(|d| d.values().filter_map(|x| x.as_u64()).sum())
            .unwrap_or(0);
        view.elapsed = el;
        if killed.is_none() && el > 1.5 {
            view.before_failure.0 += view.members.iter().map(|m| m.gbps).sum::<f64>();
            view.before_failure.1 += 1;
        }
        last_t = Instant::now();
        view.show(terminal, el, &mut next_line)?;
        thread::sleep(Duration::from_millis(500));
    }
    Ok(killed)
}

/// How long after `since` the controller declared `uplink` down (from its log).
fn detection_after(log: &str, uplink: &str, since: SystemTime) -> Option<Duration> {
    log.lines()
        .filter(|l| l.contains("link down") && l.contains(&format!("member={uplink}")))
        .filter_map(log_time)
        .find(|t| *t >= since)
        .and_then(|t| t.duration_since(since).ok())
}

/// The time of a log line (leading RFC 3339 UTC timestamp).
fn log_time(line: &str) -> Option<SystemTime> {
    let ts = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let d: Vec<i64> = date.split('-').filter_map(|x| x.parse().ok()).collect();
    let t: Vec<&str> = time.split(':').collect();
    let (&[y, m, day], [hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + hh.parse::<i64>().ok()? * 3600 + mm.parse::<i64>().ok()? * 60;
    Some(std::time::UNIX_EPOCH + Duration::from_secs_f64(secs as f64 + ss.parse::<f64>().ok()?))
}

fn summarize(
    view: &View,
    tcp: &[std::path::PathBuf],
    udp: &UdpReport,
    detection: Option<Duration>,
    rates: &[(String, f64)],
) -> String {
    let mut o = String::from("\n== multi-wan lab summary\n");
    let secs = view.elapsed.max(1e-3);
    for (m, r) in view.members.iter().zip(rates) {
        o.push_str(&format!(
            "  {:<3} ({:>8}) carried {:8.1} MB, {:6.1} Mb/s on average\n",
            m.name,
            r.0,
            m.total_bytes as f64 / 1e6,
            m.total_bytes as f64 * 8.0 / secs / 1e6
        ));
    }
    let total: f64 = rates.iter().map(|r| r.1 * 1000.0).sum();
    if view.before_failure.1 > 0 {
        let mbit = view.before_failure.0 / view.before_failure.1 as f64 * 1000.0;
        o.push_str(&format!(
            "  aggregate while all uplinks were up: {mbit:.0} Mb/s, {:.0} % of their {total:.0} \
             Mb/s\n",
            mbit / total * 100.0
        ));
    }
    let mut bps = 0.0;
    let mut completed = 0;
    for p in tcp {
        let Some(v) = std::fs::read_to_string(p)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        else {
            continue;
        };
        if let Some(b) = v["end"]["sum_received"]["bits_per_second"].as_f64() {
            bps += b;
            completed += 1;
        }
    }
    o.push_str(&format!(
        "  TCP: {completed} of {} iperf3 clients completed ({:.0} Mb/s between them); the others \
         had a connection through ISP 0 when it died, which breaks it as it would any \
         connection whose public address is gone\n",
        tcp.len(),
        bps / 1e6
    ));
    o.push_str(&format!(
        "  UDP stream: {} of {} datagrams lost, longest gap {:.0} ms (re-pinned to a live uplink \
         at its next datagram after the failure was declared)\n",
        udp.sent.saturating_sub(udp.received),
        udp.sent,
        udp.longest_gap.as_secs_f64() * 1000.0
    ));
    match detection {
        Some(d) => o.push_str(&format!(
            "  silent failure of ISP 0 declared after {:.0} ms\n",
            d.as_secs_f64() * 1000.0
        )),
        None => o.push_str("  no silent failure declared\n"),
    }
    for e in &view.events {
        o.push_str(&format!("  {e}\n"));
    }
    o
}

/// What the UDP stream saw.
struct UdpReport {
    sent: u64,
    received: u64,
    longest_gap: Duration,
}

/// A sequenced UDP stream from home to the server, at [`UDP_PPS`], run in threads that
/// entered the namespaces.
struct UdpStream {
    sender: thread::JoinHandle<u64>,
    receiver: thread::JoinHandle<(u64, Duration)>,
}

impl UdpStream {
    fn start(duration_s: u64) -> Result<UdpStream> {
        let enter = |ns: &str| -> std::io::Result<()> {
            let f = std::fs::File::open(format!("/run/netns/{ns}"))?;
            use std::os::fd::AsRawFd;
            // SAFETY: a namespace descriptor; affects the calling thread only.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let receiver = thread::spawn(move || {
            if enter(INET).is_err() {
                let _ = ready_tx.send(false);
                return (0, Duration::ZERO);
            }
            let Ok(sock) = std::net::UdpSocket::bind((SERVER, 5300)) else {
                let _ = ready_tx.send(false);
                return (0, Duration::ZERO);
            };
            let _ = ready_tx.send(true);
            let _ = sock.set_read_timeout(Some(Duration::from_millis(500)));
            let end = Instant::now() + Duration::from_secs(duration_s + 2);
            let (mut received, mut gap, mut last) = (0u64, Duration::ZERO, None::<Instant>);
            let mut buf = [0u8; 1500];
            while Instant::now() < end {
                if sock.recv(&mut buf).is_ok() {
                    let now = Instant::now();
                    if let Some(l) = last {
                        gap = gap.max(now - l);
                    }
                    last = Some(now);
                    received += 1;
                }
            }
            (received, gap)
        });
        if !ready_rx.recv().unwrap_or(false) {
            bail!("the UDP receiver could not start");
        }
        let sender = thread::spawn(move || {
            if enter(HOME).is_err() {
                return 0;
            }
            let Ok(sock) = std::net::UdpSocket::bind("0.0.0.0:0") else {
                return 0;
            };
            let start = Instant::now();
            let total = UDP_PPS * duration_s;
            let payload = [0x55u8; 1000];
            for n in 0..total {
                let due = start + Duration::from_micros(n * 1_000_000 / UDP_PPS);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                let _ = sock.send_to(&payload, (SERVER, 5300));
            }
            total
        });
        Ok(UdpStream { sender, receiver })
    }

    fn finish(self) -> UdpReport {
        let sent = self.sender.join().unwrap_or(0);
        let (received, longest_gap) = self.receiver.join().unwrap_or((0, Duration::ZERO));
        UdpReport {
            sent,
            received,
            longest_gap,
        }
    }
}
