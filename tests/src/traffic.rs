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
