//! The namespace's controller and the commands that change bonds, in touch: `up`, `down`,
//! `set` and `member` tell the controller (if one runs) that a bond changed, so that it acts
//! at once instead of at its next look (every few seconds), and the controller claims the
//! namespace through the same socket.
//!
//! The socket is an abstract unix datagram socket named [`SOCKET`]: it lives in the network
//! namespace and goes with the controller however it ends. Anyone in the namespace can send
//! to it, so the controller passes on only datagrams whose sender the kernel vouches was root
//! (`SCM_CREDENTIALS`); a datagram carries nothing but "look again".

use std::{
    io,
    os::{
        fd::AsRawFd,
        linux::net::SocketAddrExt,
        unix::net::{SocketAddr, UnixDatagram},
    },
};

use crate::error::{Error, Result};

/// The abstract name of the controller's socket.
pub const SOCKET: &[u8] = b"bondxdp-controller";

/// Tells the namespace's controller that bonds changed. Nothing happens if none runs.
pub fn changed() {
    let Ok(addr) = SocketAddr::from_abstract_name(SOCKET) else {
        return;
    };
    if let Ok(sock) = UnixDatagram::unbound() {
        let _ = sock.send_to_addr(b"changed", &addr);
    }
}

/// Claims "the controller of this network namespace" (bound to [`SOCKET`], receiving its
/// senders' credentials): [`Error::ControllerRunning`] if another controller has it.
pub fn claim() -> Result<UnixDatagram> {
    let addr = SocketAddr::from_abstract_name(SOCKET)
        .map_err(|e| Error::io("naming the controller's socket", e))?;
    let sock = UnixDatagram::bind_addr(&addr).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            Error::ControllerRunning
        } else {
            Error::io("claiming the controller's socket", e)
        }
    })?;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and option value.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(Error::io(
            "asking for senders' credentials",
            io::Error::last_os_error(),
        ));
    }
    sock.set_nonblocking(true)
        .map_err(|e| Error::io("claiming the controller's socket", e))?;
    Ok(sock)
}

/// Reads every datagram waiting on `sock` (non-blocking); `Ok(true)` if at least one came
/// from root. `Err(WouldBlock)` when none was waiting.
pub fn drain(sock: &impl AsRawFd) -> io::Result<bool> {
    let mut from_root = false;
    let mut any = false;
    loop {
        match recv_uid(sock.as_raw_fd()) {
            Ok(uid) => {
                any = true;
                from_root |= uid == Some(0);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && any => return Ok(from_root),
            Err(e) => return Err(e),
        }
    }
}

/// One datagram's sender uid (`None`: no credentials attached).
fn recv_uid(fd: i32) -> io::Result<Option<u32>> {
    let mut data = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one SCM_CREDENTIALS message, 8-byte aligned.
    let mut control = [0u64; 8];
    // SAFETY: zeroed msghdr is valid; the pointers below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control);
    // SAFETY: a valid socket and message buffers.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_CREDENTIALS
            {
                let cred = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::ucred);
                return Ok(Some(cred.uid));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(None)
}
