//! multi-wan `reset_on_failover`: the host's own TCP connections through a failed uplink are
//! closed at once (`SOCK_DESTROY` over sock_diag netlink, what `ss -K` does), so applications
//! see an error and reconnect through a healthy uplink instead of waiting out TCP's
//! retransmission timeouts on a path that is gone.

use std::{
    io,
    net::IpAddr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

/// `NETLINK_SOCK_DIAG`.
const NETLINK_SOCK_DIAG: i32 = 4;
/// `SOCK_DESTROY`.
const SOCK_DESTROY: u16 = 21;
/// `INET_DIAG_NOCOOKIE`.
const NOCOOKIE: u32 = !0;

/// One TCP connection of this host: its local and remote ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    /// Local address.
    pub local: IpAddr,
    /// Local port.
    pub local_port: u16,
    /// Remote address.
    pub remote: IpAddr,
    /// Remote port.
    pub remote_port: u16,
}

/// The `SOCK_DESTROY` request for `c` (netlink header included).
pub fn destroy_request(c: &Connection, seq: u32) -> Vec<u8> {
    let family = if c.local.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    } as u8;
    // struct inet_diag_req_v2: family, protocol, ext, pad, states, then inet_diag_sockid.
    let mut req = vec![family, libc::IPPROTO_TCP as u8, 0, 0];
    req.extend_from_slice(&(!0u32).to_ne_bytes()); // every state
    req.extend_from_slice(&c.local_port.to_be_bytes());
    req.extend_from_slice(&c.remote_port.to_be_bytes());
    for a in [c.local, c.remote] {
        let mut words = [0u8; 16];
        match a {
            IpAddr::V4(v4) => words[..4].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => words.copy_from_slice(&v6.octets()),
        }
        req.extend_from_slice(&words);
    }
    req.extend_from_slice(&0u32.to_ne_bytes()); // any interface
    req.extend_from_slice(&NOCOOKIE.to_ne_bytes());
    req.extend_from_slice(&NOCOOKIE.to_ne_bytes());
    let len = 16 + req.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&SOCK_DESTROY.to_ne_bytes());
    msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&req);
    msg
}

/// Destroys every connection of `conns` that still exists; returns how many went.
pub fn destroy(conns: &[Connection]) -> io::Result<usize> {
    if conns.is_empty() {
        return Ok(0);
    }
    // SAFETY: plain socket creation.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw was just created and is owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut destroyed = 0;
    let mut buf = [0u8; 512];
    for (i, c) in conns.iter().enumerate() {
        let msg = destroy_request(c, i as u32 + 1);
        // SAFETY: msg is valid for its length; the kernel is the default destination.
        let n = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            continue;
        }
        // The ack: an NLMSG_ERROR whose error is 0 on success (ENOENT: already gone).
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 20 {
            let error = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
            if error == 0 {
                destroyed += 1;
            }
        }
    }
    Ok(destroyed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_has_the_kernels_layout() {
        let c = Connection {
            local: "198.18.0.1".parse().unwrap(),
            local_port: 40000,
            remote: "198.19.0.80".parse().unwrap(),
            remote_port: 443,
        };
        let m = destroy_request(&c, 7);
        // nlmsghdr (16) + inet_diag_req_v2 (8 + sockid 48).
        assert_eq!(m.len(), 16 + 56);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 72);
        assert_eq!(
            u16::from_ne_bytes(m[4..6].try_into().unwrap()),
            SOCK_DESTROY
        );
        assert_eq!(
            (m[16], m[17]),
            (libc::AF_INET as u8, libc::IPPROTO_TCP as u8)
        );
        assert_eq!(&m[24..26], &40000u16.to_be_bytes());
        assert_eq!(&m[26..28], &443u16.to_be_bytes());
        assert_eq!(&m[28..32], &[198, 18, 0, 1]);
        assert_eq!(&m[44..48], &[198, 19, 0, 80]);
    }
}
