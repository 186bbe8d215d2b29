//! iperf3 between two test namespaces.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use super::iperf3_bits_per_second;
use crate::Netns;

/// TCP throughput (bit/s, as received) from `client` to `server_addr` in `server` with
/// `flows` parallel streams for `secs` seconds, each as fast as it can.
pub fn tcp(
    client: &Netns,
    server: &Netns,
    server_addr: &str,
    port: u16,
    flows: u32,
    secs: u32,
) -> f64 {
    tcp_paced(client, server, server_addr, port, flows, secs, 0)
}

/// [`tcp`] with every stream paced by iperf3 to at most `per_flow_bps` bit/s (`-b`, which
/// iperf3 applies to each stream separately; 0: unpaced). Paced flows do not grow to fill
/// whatever link they land on, so the total shows how well flows were placed.
pub fn tcp_paced(
    client: &Netns,
    server: &Netns,
    server_addr: &str,
    port: u16,
    flows: u32,
    secs: u32,
    per_flow_bps: u64,
) -> f64 {
    let mut srv = Command::new("ip")
        .args([
            "netns",
            "exec",
            server.name(),
            "iperf3",
            "-s",
            "-1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iperf3 server");
    std::thread::sleep(Duration::from_millis(300));
    let port = port.to_string();
    let flows = flows.to_string();
    let secs = secs.to_string();
    let bitrate = per_flow_bps.to_string();
    let mut args = vec![
        "iperf3",
        "-J",
        "-c",
        server_addr,
        "-p",
        &port,
        "-P",
        &flows,
        "-t",
        &secs,
        "-O",
        "1",
    ];
    if per_flow_bps > 0 {
        args.extend(["-b", &bitrate]);
    }
    // Client on CPU 0, server on CPU 1: the veth path then always runs on the sender's CPU
    // and the receiver copies on the other, so trials differ less from one another.
    if std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2) {
        args.extend(["-A", "0,1"]);
    }
    let out = client.exec(&args);
    let _ = srv.kill();
    let _ = srv.wait();
    iperf3_bits_per_second(&String::from_utf8_lossy(&out.stdout)).unwrap_or_else(|| {
        panic!(
            "iperf3 to {server_addr} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
