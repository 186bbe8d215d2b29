//! A raw-IP "USB modem": two TUN devices in two namespaces with a relay process moving
//! packets between them (optionally late, like a cellular link). The home side is an uplink
//! without an Ethernet header, the way raw-IP LTE modems and PPP links look to the host.

use std::{
    fs::File,
    io::{BufRead, BufReader, Read, Write},
    os::fd::{AsRawFd, FromRawFd},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::Netns;

/// Opens TUN device `name` (raw IP, no packet information header) in the calling thread's
/// namespace.
pub fn open_tun(name: &str) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: i16,
        pad: [u8; 22],
    }
    let mut req = IfReq {
        name: [0; 16],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI) as i16,
        pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    // SAFETY: a valid ifreq for TUNSETIFF on a /dev/net/tun descriptor.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut req) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

/// Opens `dev` as a TUN device inside network namespace `ns` (by its /run/netns name).
pub fn open_tun_in(ns: &str, dev: &str) -> std::io::Result<File> {
    let dev = dev.to_string();
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let nsfile = File::open(&path)?;
        // SAFETY: valid namespace descriptor; affects only this thread.
        if unsafe { libc::setns(nsfile.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        open_tun(&dev)
    })
    .join()
    .expect("tun thread")
}

/// Copies packets from `from` to `to`, each `delay` late, until either side fails.
fn pump(mut from: File, mut to: File, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0
                || tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for (due, packet) in rx {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            // A device that is not up yet refuses writes (EIO): that packet is lost, as on
            // a real link, and the next one goes through.
            if let Err(e) = to.write_all(&packet)
                && e.raw_os_error() == Some(libc::EBADF)
            {
                break;
            }
        }
    });
}

/// The relay's main: `NS_A DEV_A NS_B DEV_B [DELAY_MS]`. Prints `ready` once both devices
/// exist, then relays until killed.
pub fn relay_main(args: &[String]) -> std::io::Result<()> {
    let [ns_a, dev_a, ns_b, dev_b, rest @ ..] = args else {
        return Err(std::io::Error::other(
            "usage: bondxdp-tun-relay NS_A DEV_A NS_B DEV_B [DELAY_MS]",
        ));
    };
    let delay = Duration::from_millis(rest.first().map_or(Ok(0), |d| d.parse()).unwrap_or(0));
    let a = open_tun_in(ns_a, dev_a)?;
    let b = open_tun_in(ns_b, dev_b)?;
    // SAFETY: duplicated descriptors owned by the new File values.
    let (a2, b2) = unsafe {
        (
            File::from_raw_fd(libc::dup(a.as_raw_fd())),
            File::from_raw_fd(libc::dup(b.as_raw_fd())),
        )
    };
    pump(a, b2, delay);
    pump(b, a2, delay);
    println!("ready");
    std::io::stdout().flush()?;
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// A running relay process; killed on drop (its TUN devices go with it).
pub struct Relay {
    child: Child,
}

impl Relay {
    /// Starts `bin` (the `bondxdp-tun-relay` executable) between `a`:`dev_a` and
    /// `b`:`dev_b` and waits until both devices exist.
    pub fn start(
        bin: &str,
        a: &Netns,
        dev_a: &str,
        b: &Netns,
        dev_b: &str,
        delay_ms: u64,
    ) -> Relay {
        let mut child = Command::new(bin)
            .args([a.name(), dev_a, b.name(), dev_b, &delay_ms.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the TUN relay");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("relay output");
        assert_eq!(line.trim(), "ready", "the relay did not start");
        Relay { child }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
