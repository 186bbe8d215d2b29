//! Traffic generators that run inside a namespace (on a thread that entered it).

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    time::Duration,
};

use crate::Netns;

/// Sends `count` UDP datagrams of `len` bytes from `src` to `dst`, from namespace `ns`.
pub fn udp_burst(ns: &Netns, src: SocketAddr, dst: SocketAddr, count: usize, len: usize) {
    ns.enter(|| {
        let sock = UdpSocket::bind(src).expect("bind UDP source");
        let payload = vec![0x5au8; len];
        for _ in 0..count {
            // A full socket buffer only delays us; the kernel queues per destination.
            while sock.send_to(&payload, dst).is_err() {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    });
}

/// Opens a TCP connection from `client` to a listener in `server` at `addr`, sends `bytes`
/// bytes and reads them back (the server echoes): exercises TCP in both directions.
/// Returns the number of bytes echoed back.
pub fn tcp_echo(client: &Netns, server: &Netns, addr: SocketAddr, bytes: usize) -> usize {
    let listener = server.enter(|| TcpListener::bind(addr).expect("listen"));
    std::thread::scope(|s| {
        s.spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stream = client
            .enter(|| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect"));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = stream.try_clone().unwrap();
        let got = s.spawn(move || {
            let mut total = 0;
            let mut buf = vec![0u8; 64 * 1024];
            while total < bytes {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
            total
        });
        let mut writer = stream;
        let chunk = vec![0xa5u8; 64 * 1024];
        let mut sent = 0;
        while sent < bytes {
            let n = chunk.len().min(bytes - sent);
            writer.write_all(&chunk[..n]).expect("write");
            sent += n;
        }
        let total = got.join().unwrap();
        let _ = writer.shutdown(std::net::Shutdown::Both);
        total
    })
}

/// What a sequenced UDP stream saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamReport {
    /// Datagrams sent.
    pub sent: u64,
    /// Distinct datagrams received.
    pub received: u64,
    /// Datagrams never received.
    pub lost: u64,
    /// Send rate actually achieved (datagrams per second).
    pub rate: f64,
    /// Longest run of consecutive lost datagrams, as time at the achieved rate (ms).
    pub longest_gap_ms: f64,
}

/// Sends a stream of sequence-numbered UDP datagrams from `src` in `tx` to `dst` in `rx` at
/// `rate` per second for `duration`, running `during` on the side while it flows. Returns what
/// arrived; the loss during a failover is `longest_gap_ms`.
pub fn udp_stream<T: Send>(
    tx: &Netns,
    rx: &Netns,
    src: SocketAddr,
    dst: SocketAddr,
    rate: u32,
    duration: Duration,
    during: impl FnOnce() -> T + Send,
) -> (StreamReport, T) {
    let receiver = rx.enter(|| {
        let s = UdpSocket::bind(dst).expect("bind receiver");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s
    });
    let sender = tx.enter(|| UdpSocket::bind(src).expect("bind sender"));
    std::thread::scope(|scope| {
        let total = (rate as f64 * duration.as_secs_f64()) as u64;
        let recv = scope.spawn(move || {
            let mut seen = vec![false; total as usize];
            let mut buf = [0u8; 64];
            let mut idle = 0;
            while idle < 5 {
                match receiver.recv(&mut buf) {
                    Ok(n) if n >= 8 => {
                        idle = 0;
                        let seq = u64::from_be_bytes(buf[..8].try_into().unwrap());
                        if let Some(slot) = seen.get_mut(seq as usize) {
                            *slot = true;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => idle += 1,
                }
            }
            seen
        });
        let send = scope.spawn(move || {
            let start = std::time::Instant::now();
            let interval = Duration::from_secs_f64(1.0 / rate as f64);
            for seq in 0..total {
                let due = start + interval * seq as u32;
                let now = std::time::Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let _ = sender.send_to(&seq.to_be_bytes(), dst);
            }
            total as f64 / start.elapsed().as_secs_f64()
        });
        let out = during();
        let achieved = send.join().unwrap();
        let seen = recv.join().unwrap();
        let received = seen.iter().filter(|s| **s).count() as u64;
        let mut longest = 0u64;
        let mut run = 0u64;
        for s in &seen {
            if *s {
                run = 0;
            } else {
                run += 1;
                longest = longest.max(run);
            }
        }
        (
            StreamReport {
                sent: total,
                received,
                lost: total - received,
                rate: achieved,
                longest_gap_ms: longest as f64 * 1000.0 / achieved,
            },
            out,
        )
    })
}
