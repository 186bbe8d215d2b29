//! `cargo xtask run`: the lab. Two hosts in network namespaces joined by several veth links,
//! a bond on each side, traffic across, and a per-member view of where it goes.

use std::{
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
use serde_json::Value;

use crate::util::{cargo, cmd, output, run, step, succeeds, workspace_root};

/// Prefix of every namespace the lab owns (stale ones are removed on start).
const NS_PREFIX: &str = "bxlab-";

/// Options of `cargo xtask run`.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// Bonding mode for both bonds.
    #[arg(long, default_value = "balance-xor")]
    pub mode: String,
    /// Transmit hash policy (balance-xor).
    #[arg(long, default_value = "layer3+4")]
    pub xmit_hash_policy: String,
    /// Number of links between the hosts.
    #[arg(long, default_value_t = 3)]
    pub members: usize,
    /// How long to drive traffic, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Leave the lab up afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Only remove a lab left up by --keep (or by a crash), then exit.
    #[arg(long)]
    pub teardown: bool,
}

struct Lab {
    a: String,
    b: String,
    bin: String,
    members: usize,
    children: Vec<Child>,
    keep: bool,
}

impl Lab {
    fn ns(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = cmd("ip", ["netns", "exec", ns]);
        c.args(args);
        c
    }

    fn bondxdp(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = cmd("ip", ["netns", "exec", ns, &self.bin]);
        c.args(args);
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.keep {
            return;
        }
        teardown_all();
    }
}

/// Removes every lab namespace, bringing its bonds down first.
pub fn teardown_all() {
    let Ok(list) = output(&mut cmd("ip", ["netns", "list"])) else {
        return;
    };
    let bin = bondxdp_bin();
    for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if !ns.starts_with(NS_PREFIX) {
            continue;
        }
        let _ = succeeds(&mut cmd("ip", ["netns", "exec", ns, &bin, "down", "bond0"]));
        if let Ok(pids) = output(&mut cmd("ip", ["netns", "pids", ns])) {
            for pid in pids.split_whitespace() {
                let _ = succeeds(&mut cmd("kill", ["-9", pid]));
            }
        }
        let _ = succeeds(&mut cmd("ip", ["netns", "del", ns]));
    }
}

fn bondxdp_bin() -> String {
    workspace_root()
        .join("target/debug/bondxdp")
        .to_string_lossy()
        .into_owned()
}

/// Runs the lab.
pub fn run_lab(args: &LabArgs) -> Result<()> {
    if args.members < 1 || args.members > 16 {
        bail!("--members must be between 1 and 16");
    }
    if args.teardown {
        teardown_all();
        return Ok(());
    }
    step("building bondxdp");
    run(cargo().args(["build", "-p", "bondxdp"]))?;
    teardown_all();
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }

    let mut lab = Lab {
        a: format!("{NS_PREFIX}a"),
        b: format!("{NS_PREFIX}b"),
        bin: bondxdp_bin(),
        members: args.members,
        children: Vec::new(),
        keep: args.keep,
    };
    step(&format!(
        "creating the lab: {} <-> {}, {} links",
        lab.a, lab.b, lab.members
    ));
    for ns in [&lab.a, &lab.b] {
        run(&mut cmd("ip", ["netns", "add", ns]))?;
        run(&mut lab.ns(ns, &["ip", "link", "set", "lo", "up"]))?;
    }
    for i in 0..lab.members {
        run(&mut cmd(
            "ip",
            [
                "link",
                "add",
                &format!("a{i}"),
                "netns",
                &lab.a,
                "type",
                "veth",
                "peer",
                "name",
                &format!("b{i}"),
                "netns",
                &lab.b,
            ],
        ))?;
    }
    for (ns, side, addr) in [
        (&lab.a, "a", "198.18.0.1/24"),
        (&lab.b, "b", "198.18.0.2/24"),
    ] {
        let mut up: Vec<String> = vec![
            "up".into(),
            "bond0".into(),
            "--mode".into(),
            args.mode.clone(),
            "--xmit-hash-policy".into(),
            args.xmit_hash_policy.clone(),
        ];
        for i in 0..lab.members {
            up.push("-m".into());
            up.push(format!("{side}{i}"));
        }
        let up: Vec<&str> = up.iter().map(String::as_str).collect();
        run(&mut lab.bondxdp(ns, &up))?;
        run(&mut lab.ns(ns, &["ip", "addr", "add", addr, "dev", "bond0"]))?;
    }
    run(&mut lab.ns(&lab.a, &["ping", "-c", "1", "-W", "2", "198.18.0.2"]))
        .context("the bond does not pass traffic")?;

    step(&format!(
        "driving traffic for {} s (iperf3, 4 TCP flows)",
        args.duration
    ));
    let server = lab
        .ns(&lab.b, &["iperf3", "-s", "-1"])
        .stdout(Stdio::null())
        .spawn()?;
    lab.children.push(server);
    thread::sleep(Duration::from_millis(300));
    let client = lab
        .ns(
            &lab.a,
            &[
                "iperf3",
                "-c",
                "198.18.0.2",
                "-P",
                "4",
                "-t",
                &args.duration.to_string(),
            ],
        )
        .stdout(Stdio::null())
        .spawn()?;
    lab.children.push(client);

    let start = Instant::now();
    let mut last = member_tx(&lab)?;
    let mut last_t = Instant::now();
    while start.elapsed() < Duration::from_secs(args.duration) {
        if interrupted.load(Ordering::SeqCst) {
            eprintln!("interrupted; tearing the lab down");
            return Ok(());
        }
        thread::sleep(Duration::from_millis(500));
        let now = member_tx(&lab)?;
        let dt = last_t.elapsed().as_secs_f64();
        let line: Vec<String> = now
            .iter()
            .zip(&last)
            .map(|((name, bytes), (_, prev))| {
                format!("{name} {:7.2} Gb/s", (bytes - prev) as f64 * 8.0 / dt / 1e9)
            })
            .collect();
        println!(
            "t={:5.1}s  {}",
            start.elapsed().as_secs_f64(),
            line.join("  ")
        );
        last = now;
        last_t = Instant::now();
    }
    run(&mut lab.bondxdp(&lab.a, &["status"]))?;
    if args.keep {
        println!(
            "\nThe lab is still up. Enter it with `ip netns exec {} bash`; \
             remove it with `cargo xtask run --teardown`.",
            lab.a
        );
    }
    Ok(())
}

/// (member name, tx bytes) of bond0 in namespace a.
fn member_tx(lab: &Lab) -> Result<Vec<(String, u64)>> {
    let json = output(&mut lab.bondxdp(&lab.a, &["status", "bond0", "--json"]))?;
    let v: Value = serde_json::from_str(&json)?;
    Ok(v["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap_or("?").to_string(),
                        m["tx_bytes"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}
