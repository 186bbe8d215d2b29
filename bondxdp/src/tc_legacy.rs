//! The legacy tc attach, for kernels without tcx (before Linux 6.6): a clsact qdisc on the
//! interface and a cls_bpf filter in direct-action mode in it, spoken in raw rtnetlink by
//! interface index (synchronous: `set` swaps programs outside any async context).
//!
//! bondxdp's filters sit at one priority and handle ([`PRIORITY`], [`HANDLE`]), protocol all,
//! so they are found again from the pinned state alone (after a crash too), replaced in
//! place on a program swap (cls_bpf swaps the program under RCU: every packet meets the old
//! program or the new one), and removed without touching anyone else's: a filter is deleted
//! only if it sits there and runs a program of bondxdp's ([`crate::loader::programs::all`]).
//! Unlike tcx links these filters cannot be pinned: they live until removed or until the
//! interface goes.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::{Error, Result};

/// Priority ("pref") of bondxdp's filters: apart from tc's automatic ones (49152 and down).
pub const PRIORITY: u16 = 0xbd00;
/// Handle of bondxdp's filters at [`PRIORITY`].
pub const HANDLE: u32 = 0xbd;

/// Which side of the clsact qdisc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Frames arriving on the interface.
    Ingress,
    /// Frames leaving through it.
    Egress,
}

impl Direction {
    /// The filter parent: `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS / _EGRESS)`.
    fn parent(self) -> u32 {
        match self {
            Direction::Ingress => 0xffff_fff2,
            Direction::Egress => 0xffff_fff3,
        }
    }

    /// As `tc filter show dev X ingress|egress` names it.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// One cls_bpf filter of an interface, as the kernel dumps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Priority ("pref").
    pub priority: u16,
    /// Handle.
    pub handle: u32,
    /// The program's name as given at attach time (`TCA_BPF_NAME`).
    pub name: String,
    /// The program's id (`TCA_BPF_ID`), 0 if not reported.
    pub program_id: u32,
}

// rtnetlink message types and flags.
const RTM_NEWQDISC: u16 = 36;
const RTM_DELQDISC: u16 = 37;
const RTM_GETQDISC: u16 = 38;
const RTM_NEWTFILTER: u16 = 44;
const RTM_DELTFILTER: u16 = 45;
const RTM_GETTFILTER: u16 = 46;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
// tc attributes.
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_ID: u16 = 11;
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
const NLA_F_NESTED: u16 = 1 << 15;
/// `TC_H_CLSACT`: the clsact qdisc's parent.
const TC_H_CLSACT: u32 = 0xffff_fff1;
/// The clsact qdisc's handle (`ffff:`).
const CLSACT_HANDLE: u32 = 0xffff_0000;
/// `htons(ETH_P_ALL)`, as `tcm_info`'s low half carries it.
const PROTOCOL_ALL: u32 = 0x0003u16.to_be() as u32;
/// Size of `struct nlmsghdr`.
const NLMSG_HDR: usize = 16;

/// Whether `ifindex` has a clsact qdisc.
pub fn has_clsact(ifindex: u32) -> Result<bool> {
    let replies = request(
        RTM_GETQDISC,
        NLM_F_DUMP,
        &tcmsg(0, 0, 0, 0),
        "listing qdiscs",
    )?;
    Ok(replies.iter().any(|m| {
        m.ifindex == ifindex && m.parent == TC_H_CLSACT && m.kind.as_deref() == Some("clsact")
    }))
}

/// Adds a clsact qdisc to `ifindex`: `true` if added, `false` if it had one already.
pub fn add_clsact(ifindex: u32) -> Result<bool> {
    let mut msg = tcmsg(ifindex, CLSACT_HANDLE, TC_H_CLSACT, 0);
    attr(&mut msg, TCA_KIND, b"clsact\0");
    match request(
        RTM_NEWQDISC,
        NLM_F_CREATE | NLM_F_EXCL,
        &msg,
        "adding a clsact qdisc",
    ) {
        Ok(_) => Ok(true),
        Err(e) if errno_of(&e) == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes the clsact qdisc of `ifindex` if no filter is left in it (someone else's filters
/// keep it); a missing qdisc or interface is not an error.
pub fn remove_clsact_if_empty(ifindex: u32) -> Result<()> {
    if !has_clsact(ifindex)? {
        return Ok(());
    }
    for direction in [Direction::Ingress, Direction::Egress] {
        if !filters(ifindex, direction)?.is_empty() {
            return Ok(());
        }
    }
    let mut msg = tcmsg(ifindex, CLSACT_HANDLE, TC_H_CLSACT, 0);
    attr(&mut msg, TCA_KIND, b"clsact\0");
    match request(RTM_DELQDISC, 0, &msg, "removing a clsact qdisc") {
        Err(e) if gone(&e) => Ok(()),
        other => other.map(drop),
    }
}

/// Every filter in `direction` of `ifindex`'s clsact qdisc, with the program names and ids
/// of cls_bpf ones (empty if it has no clsact qdisc).
pub fn filters(ifindex: u32, direction: Direction) -> Result<Vec<Filter>> {
    let replies = match request(
        RTM_GETTFILTER,
        NLM_F_DUMP,
        &tcmsg(ifindex, 0, direction.parent(), 0),
        "listing tc filters",
    ) {
        Ok(r) => r,
        Err(e) if gone(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(replies
        .into_iter()
        // The kernel also reports each priority's classifier itself, without a handle.
        .filter(|m| m.ifindex == ifindex && m.handle != 0)
        .map(|m| Filter {
            priority: (m.info >> 16) as u16,
            handle: m.handle,
            name: m.bpf_name.unwrap_or_default(),
            program_id: m.bpf_id,
        })
        .collect())
}

/// Attaches `program` (named `name`) to `ifindex` in `direction` as bondxdp's filter, which
/// must not exist yet. The clsact qdisc must exist.
pub fn attach(ifindex: u32, direction: Direction, program: BorrowedFd, name: &str) -> Result<()> {
    let msg = filter_msg(ifindex, direction, Some((program, name)));
    request(
        RTM_NEWTFILTER,
        NLM_F_CREATE | NLM_F_EXCL,
        &msg,
        &format!("attaching {name} ({} filter)", direction.name()),
    )
    .map(drop)
}

/// Replaces the program of bondxdp's existing filter on `ifindex` in place (same priority
/// and handle): atomic for packets.
pub fn replace(ifindex: u32, direction: Direction, program: BorrowedFd, name: &str) -> Result<()> {
    let msg = filter_msg(ifindex, direction, Some((program, name)));
    request(
        RTM_NEWTFILTER,
        0,
        &msg,
        &format!("swapping in {name} ({} filter)", direction.name()),
    )
    .map(drop)
}

/// Removes bondxdp's filter from `ifindex` in `direction` if it is there and runs a program
/// named in `ours`; a missing interface, qdisc or filter is not an error.
pub fn detach(ifindex: u32, direction: Direction, ours: &[&str]) -> Result<()> {
    let present = filters(ifindex, direction)?
        .into_iter()
        .any(|f| f.priority == PRIORITY && f.handle == HANDLE && ours.contains(&f.name.as_str()));
    if !present {
        return Ok(());
    }
    let msg = filter_msg(ifindex, direction, None);
    match request(
        RTM_DELTFILTER,
        0,
        &msg,
        &format!("removing bondxdp's {} filter", direction.name()),
    ) {
        Err(e) if gone(&e) => Ok(()),
        other => other.map(drop),
    }
}

/// A filter request for bondxdp's priority and handle; with a program for adding it.
fn filter_msg(ifindex: u32, direction: Direction, program: Option<(BorrowedFd, &str)>) -> Vec<u8> {
    let info = ((PRIORITY as u32) << 16) | PROTOCOL_ALL;
    let mut msg = tcmsg(ifindex, HANDLE, direction.parent(), info);
    attr(&mut msg, TCA_KIND, b"bpf\0");
    if let Some((fd, name)) = program {
        let mut options = Vec::new();
        attr(&mut options, TCA_BPF_FD, &fd.as_raw_fd().to_ne_bytes());
        let mut cname = name.as_bytes().to_vec();
        cname.push(0);
        attr(&mut options, TCA_BPF_NAME, &cname);
        attr(
            &mut options,
            TCA_BPF_FLAGS,
            &TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes(),
        );
        attr(&mut msg, TCA_OPTIONS | NLA_F_NESTED, &options);
    }
    msg
}

/// `struct tcmsg`.
fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> Vec<u8> {
    let mut m = vec![0u8; 4]; // family (AF_UNSPEC) and padding
    for v in [ifindex, handle, parent, info] {
        m.extend_from_slice(&v.to_ne_bytes());
    }
    m
}

/// Appends one netlink attribute (padded to 4 bytes).
fn attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    buf.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// The attributes in `buf`: (type without flags, value).
fn attrs(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            break;
        }
        out.push((kind, &buf[4..len]));
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
    }
    out
}

/// A tc message of a reply, decoded as far as bondxdp reads it.
#[derive(Debug, Default)]
struct TcReply {
    ifindex: u32,
    handle: u32,
    parent: u32,
    info: u32,
    kind: Option<String>,
    bpf_name: Option<String>,
    bpf_id: u32,
}

impl TcReply {
    fn decode(body: &[u8]) -> Option<TcReply> {
        if body.len() < 20 {
            return None;
        }
        let word = |i: usize| u32::from_ne_bytes(body[i..i + 4].try_into().expect("4 bytes"));
        let mut r = TcReply {
            ifindex: word(4),
            handle: word(8),
            parent: word(12),
            info: word(16),
            ..Default::default()
        };
        let text = |v: &[u8]| {
            String::from_utf8_lossy(v.split(|&b| b == 0).next().unwrap_or_default()).into_owned()
        };
        for (kind, value) in attrs(&body[20..]) {
            match kind {
                TCA_KIND => r.kind = Some(text(value)),
                TCA_OPTIONS => {
                    for (k, v) in attrs(value) {
                        match k {
                            TCA_BPF_NAME => r.bpf_name = Some(text(v)),
                            TCA_BPF_ID if v.len() >= 4 => {
                                r.bpf_id = u32::from_ne_bytes(v[..4].try_into().expect("4 bytes"))
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Some(r)
    }
}

/// Sends one request (with `NLM_F_REQUEST | NLM_F_ACK`) and collects the tc messages of the
/// reply until its acknowledgement or the end of the dump.
fn request(kind: u16, flags: u16, body: &[u8], what: &str) -> Result<Vec<TcReply>> {
    let fail = |e: std::io::Error| Error::io(what.to_string(), e);
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(fail)?;
    socket.bind_auto().map_err(fail)?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(fail)?;
    let seq = 1u32;
    let mut msg = Vec::with_capacity(NLMSG_HDR + body.len());
    msg.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK | flags).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(body);
    socket.send(&msg, 0).map_err(fail)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = socket.recv(&mut &mut buf[..], 0).map_err(fail)?;
        let mut rest = &buf[..n];
        while rest.len() >= NLMSG_HDR {
            let len = u32::from_ne_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
            let typ = u16::from_ne_bytes([rest[4], rest[5]]);
            if len < NLMSG_HDR || len > rest.len() {
                return Err(Error::Netlink(format!("{what}: truncated reply")));
            }
            let payload = &rest[NLMSG_HDR..len];
            match typ {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let code = payload
                        .get(..4)
                        .map(|c| i32::from_ne_bytes(c.try_into().expect("4 bytes")))
                        .unwrap_or(-libc::EIO);
                    return if code == 0 {
                        Ok(out)
                    } else {
                        Err(fail(std::io::Error::from_raw_os_error(-code)))
                    };
                }
                _ => out.extend(TcReply::decode(payload)),
            }
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
        }
    }
}

/// The errno of a failed request, if it was one.
fn errno_of(e: &Error) -> Option<i32> {
    match e {
        Error::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

/// Whether a request failed because its interface, qdisc or filter is gone.
fn gone(e: &Error) -> bool {
    matches!(
        errno_of(e),
        Some(libc::ENODEV | libc::ENOENT | libc::EINVAL)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_request_carries_priority_protocol_and_direct_action() {
        // SAFETY: descriptor 0 is only read as a number here.
        let fd = unsafe { BorrowedFd::borrow_raw(0) };
        let msg = filter_msg(7, Direction::Egress, Some((fd, "egress_rr")));
        let r = TcReply::decode(&msg).unwrap();
        assert_eq!((r.ifindex, r.handle, r.parent), (7, HANDLE, 0xffff_fff3));
        assert_eq!(r.info >> 16, PRIORITY as u32);
        assert_eq!((r.info & 0xffff).to_ne_bytes()[..2], [0x00, 0x03]);
        assert_eq!(r.kind.as_deref(), Some("bpf"));
        assert_eq!(r.bpf_name.as_deref(), Some("egress_rr"));
        let options = attrs(&msg[20..])
            .into_iter()
            .find(|(k, _)| *k == TCA_OPTIONS)
            .unwrap()
            .1;
        let flags = attrs(options)
            .into_iter()
            .find(|(k, _)| *k == TCA_BPF_FLAGS)
            .unwrap()
            .1;
        assert_eq!(flags, TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes());
    }

    #[test]
    fn attributes_round_trip_with_padding() {
        let mut buf = Vec::new();
        attr(&mut buf, 1, b"ab\0");
        attr(&mut buf, 2, &5u32.to_ne_bytes());
        assert_eq!(buf.len(), 8 + 8);
        assert_eq!(
            attrs(&buf),
            vec![(1, &b"ab\0"[..]), (2, &5u32.to_ne_bytes()[..])]
        );
    }
}
