//! Packet capture on one interface of a namespace (AF_PACKET), to check what is on the wire
//! (and to put frames on it that no well-behaved stack would send).

use std::{
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use crate::Netns;

/// A raw socket receiving every frame of one interface.
pub struct Capture {
    fd: OwnedFd,
}

impl Capture {
    /// Starts capturing on `ifname` in `ns`.
    pub fn start(ns: &Netns, ifname: &str) -> Capture {
        let ifname = ifname.to_string();
        ns.enter(move || {
            let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
            // SAFETY: plain socket creation.
            let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto) };
            assert!(
                fd >= 0,
                "AF_PACKET socket: {}",
                std::io::Error::last_os_error()
            );
            // SAFETY: fd was just created and is owned here.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let cname = std::ffi::CString::new(ifname.clone()).unwrap();
            // SAFETY: valid C string.
            let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
            assert!(index != 0, "no interface {ifname}");
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = proto as u16;
            sll.sll_ifindex = index as i32;
            // SAFETY: sll is a valid sockaddr_ll of the given size.
            let rc = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            // Room for tens of thousands of frames between reads (root may force it).
            let size: libc::c_int = 64 << 20;
            // SAFETY: an int option on a valid socket.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as u32,
                )
            };
            Capture { fd }
        })
    }

    /// Sends one whole Ethernet frame out of the interface, as a peer's faulty (or hostile)
    /// software would.
    pub fn send(&self, frame: &[u8]) {
        // SAFETY: frame is valid for its length; the socket is bound to the interface.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            n,
            frame.len() as isize,
            "send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Frames received within `timeout` (stops early once `max` frames arrived).
    pub fn frames(&self, timeout: Duration, max: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while out.len() < max {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
            if ready <= 0 {
                continue;
            }
            // SAFETY: buf is valid for its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n > 0 {
                out.push(buf[..n as usize].to_vec());
            }
        }
        out
    }

    /// Like [`Capture::frames`], each frame with the time the kernel received it
    /// (`SIOCGSTAMP`), so spacing is measured on the wire, not by when this thread ran.
    pub fn frames_stamped(&self, timeout: Duration, max: usize) -> Vec<(Duration, Vec<u8>)> {
        const SIOCGSTAMP: libc::c_ulong = 0x8906;
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while out.len() < max {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
            if ready <= 0 {
                continue;
            }
            // SAFETY: buf is valid for its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                continue;
            }
            let mut tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            // SAFETY: SIOCGSTAMP writes one timeval.
            let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), SIOCGSTAMP, &mut tv) };
            assert_eq!(rc, 0, "SIOCGSTAMP: {}", std::io::Error::last_os_error());
            let at = Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
            out.push((at, buf[..n as usize].to_vec()));
        }
        out
    }
}
