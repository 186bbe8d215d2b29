//! DHCPv4 on a bond (`addresses = ["dhcp"]` in the config file): the controller leases the
//! bond's IPv4 address as any DHCP client does (RFC 2131: discover, request, renew at T1
//! unicast to the server, rebind at T2 by broadcast, and at the lease's end give the address
//! up and start over). The address goes on the bond with the lease's lifetime, so the kernel
//! removes it when the lease ends even if no controller is running; the router option becomes
//! the bond's default route. A restarted controller asks again and keeps the address if the
//! server gives the same one. dhcproto encodes and decodes the messages.
//!
//! The messages travel through the bond like any traffic, so a failover (the member carrying
//! them going away) only delays a retransmission; renewals go out through whichever member
//! the mode picks.

use std::{
    net::{Ipv4Addr, SocketAddrV4},
    os::fd::{FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use dhcproto::{
    Decodable, Decoder, Encodable, Encoder,
    v4::{DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode},
};
use tokio::{net::UdpSocket, task::JoinHandle};
use tracing::{debug, info, warn};

use crate::{
    error::{Error, Result},
    netdev::Netlink,
    options::IpCidr,
};

/// The first retransmission delay (RFC 2131 4.1: 4 s, doubling to 64 s).
const FIRST_RETRY: Duration = Duration::from_secs(4);
/// The longest one.
const LAST_RETRY: Duration = Duration::from_secs(64);
/// The route metric of the lease's default route (systemd-networkd's for DHCP).
const ROUTE_METRIC: u32 = 1024;

/// A lease as an ACK grants it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The bond's address and prefix.
    pub cidr: IpCidr,
    /// The address as IPv4.
    pub addr: Ipv4Addr,
    /// The server that granted it.
    pub server: Ipv4Addr,
    /// The default gateway, if the server named one.
    pub router: Option<Ipv4Addr>,
    /// How long the lease lasts.
    pub lease: Duration,
    /// When to renew (T1), from the grant.
    pub renew: Duration,
    /// When to rebind (T2), from the grant.
    pub rebind: Duration,
}

/// The options every request asks for.
fn parameter_requests() -> DhcpOption {
    DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::DomainNameServer,
        OptionCode::AddressLeaseTime,
        OptionCode::Renewal,
        OptionCode::Rebinding,
    ])
}

/// What a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// DISCOVER: who offers an address?
    Discover,
    /// REQUEST after an offer: that address, from that server.
    Select {
        /// The offered address.
        addr: Ipv4Addr,
        /// The offering server.
        server: Ipv4Addr,
    },
    /// REQUEST to extend the lease on `addr` (renewing, unicast, or rebinding, broadcast).
    Extend {
        /// The leased address.
        addr: Ipv4Addr,
    },
}

/// A client message for `mac`, transaction `xid`.
pub fn request(mac: [u8; 6], xid: u32, what: Request) -> Vec<u8> {
    let ciaddr = match what {
        Request::Extend { addr } => addr,
        _ => Ipv4Addr::UNSPECIFIED,
    };
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let mut msg = Message::new_with_id(xid, ciaddr, unspecified, unspecified, unspecified, &mac);
    msg.set_opcode(Opcode::BootRequest).set_htype(HType::Eth);
    if !matches!(what, Request::Extend { .. }) {
        // Without an address the bond cannot take a unicast reply: ask for broadcasts.
        msg.set_flags(Flags::default().set_broadcast());
    }
    let opts = msg.opts_mut();
    let mut client_id = vec![1];
    client_id.extend_from_slice(&mac);
    opts.insert(DhcpOption::ClientIdentifier(client_id));
    match what {
        Request::Discover => {
            opts.insert(DhcpOption::MessageType(MessageType::Discover));
        }
        Request::Select { addr, server } => {
            opts.insert(DhcpOption::MessageType(MessageType::Request));
            opts.insert(DhcpOption::RequestedIpAddress(addr));
            opts.insert(DhcpOption::ServerIdentifier(server));
        }
        Request::Extend { .. } => {
            opts.insert(DhcpOption::MessageType(MessageType::Request));
        }
    }
    opts.insert(parameter_requests());
    if let Some(name) = hostname() {
        opts.insert(DhcpOption::Hostname(name));
    }
    let mut out = Vec::with_capacity(300);
    msg.encode(&mut Encoder::new(&mut out))
        .expect("encoding into a Vec cannot fail");
    out
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.len() < 64)
}

/// A server's reply to transaction `xid` of `mac`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// An offer of an address.
    Offer {
        /// The address.
        addr: Ipv4Addr,
        /// The server offering it.
        server: Ipv4Addr,
    },
    /// The lease granted.
    Ack(Lease),
    /// Refused: start over.
    Nak,
}

/// Decodes a server's datagram; `None` for anything not a reply to this transaction.
pub fn parse_reply(bytes: &[u8], mac: [u8; 6], xid: u32, from: Ipv4Addr) -> Option<Reply> {
    let msg = Message::decode(&mut Decoder::new(bytes)).ok()?;
    if msg.opcode() != Opcode::BootReply || msg.xid() != xid || msg.chaddr().get(..6)? != mac {
        return None;
    }
    let opts = msg.opts();
    let server = match opts.get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(s)) => *s,
        _ => from,
    };
    match opts.msg_type()? {
        MessageType::Offer => Some(Reply::Offer {
            addr: msg.yiaddr(),
            server,
        }),
        MessageType::Nak => Some(Reply::Nak),
        MessageType::Ack => {
            let addr = msg.yiaddr();
            if addr.is_unspecified() {
                return None;
            }
            let prefix = match opts.get(OptionCode::SubnetMask) {
                Some(DhcpOption::SubnetMask(m)) => u32::from(*m).count_ones() as u8,
                _ => 24,
            };
            let router = match opts.get(OptionCode::Router) {
                Some(DhcpOption::Router(r)) => r.first().copied(),
                _ => None,
            };
            let secs = |code| match opts.get(code) {
                Some(DhcpOption::AddressLeaseTime(s))
                | Some(DhcpOption::Renewal(s))
                | Some(DhcpOption::Rebinding(s)) => Some(Duration::from_secs(u64::from(*s))),
                _ => None,
            };
            // A lease without a time is for ever (0xffffffff); a day will do between renewals.
            let lease = secs(OptionCode::AddressLeaseTime).unwrap_or(Duration::from_secs(86_400));
            let renew = secs(OptionCode::Renewal)
                .filter(|t| *t < lease)
                .unwrap_or(lease / 2);
            let rebind = secs(OptionCode::Rebinding)
                .filter(|t| *t < lease && *t >= renew)
                .unwrap_or(lease * 7 / 8);
            Some(Reply::Ack(Lease {
                cidr: IpCidr {
                    addr: addr.into(),
                    prefix,
                },
                addr,
                server,
                router,
                lease,
                renew,
                rebind,
            }))
        }
        _ => None,
    }
}

/// The DHCP client of one bond, running until dropped.
pub struct DhcpClient {
    task: JoinHandle<()>,
}

impl DhcpClient {
    /// Starts leasing an address for bond `bond` (waiting for it to exist).
    pub fn start(bond: &str) -> DhcpClient {
        let bond = bond.to_string();
        DhcpClient {
            task: tokio::spawn(async move {
                loop {
                    match run(&bond).await {
                        Ok(()) => return,
                        Err(e) => warn!(bond = %bond, "dhcp: {e}; starting over"),
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }),
        }
    }
}

impl Drop for DhcpClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A UDP socket on port 68 of `bond` only, allowed to broadcast.
fn client_socket(bond: &str) -> Result<UdpSocket> {
    let io = |what: &str, e| Error::io(format!("dhcp socket on {bond}: {what}"), e);
    // SAFETY: plain socket(2); the descriptor is owned right after.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io("socket", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let one: libc::c_int = 1;
    for (opt, what) in [
        (libc::SO_REUSEADDR, "SO_REUSEADDR"),
        (libc::SO_BROADCAST, "SO_BROADCAST"),
    ] {
        // SAFETY: a c_int option of the right size.
        let r = unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                opt,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io(what, std::io::Error::last_os_error()));
        }
    }
    // SAFETY: the name and its length.
    let r = unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            bond.as_ptr() as *const libc::c_void,
            bond.len() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io("SO_BINDTODEVICE", std::io::Error::last_os_error()));
    }
    let std_socket = std::net::UdpSocket::from(fd);
    let addr: std::net::SocketAddr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68).into();
    let sock_addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 68u16.to_be(),
        sin_addr: libc::in_addr { s_addr: 0 },
        sin_zero: [0; 8],
    };
    // SAFETY: a sockaddr_in and its size.
    let r = unsafe {
        libc::bind(
            raw,
            &sock_addr as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io(&format!("bind {addr}"), std::io::Error::last_os_error()));
    }
    UdpSocket::from_std(std_socket).map_err(|e| io("tokio", e))
}

/// The client's state between messages.
struct Client {
    bond: String,
    ifindex: u32,
    mac: [u8; 6],
    socket: UdpSocket,
    nl: Netlink,
}

impl Client {
    /// Sends `what` and waits for a matching reply until `deadline`, retransmitting with
    /// doubling delays.
    async fn exchange(
        &self,
        what: Request,
        to: Ipv4Addr,
        deadline: Option<Instant>,
    ) -> Result<Option<Reply>> {
        let xid: u32 = rand_xid();
        let frame = request(self.mac, xid, what);
        let mut retry = FIRST_RETRY;
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(None);
            }
            debug!(bond = %self.bond, request = ?what, to = %to, xid, "dhcp: sending");
            self.socket
                .send_to(&frame, SocketAddrV4::new(to, 67))
                .await
                .map_err(|e| Error::io(format!("dhcp: sending on {}", self.bond), e))?;
            let wait = deadline.map_or(retry, |d| retry.min(d - now));
            let until = tokio::time::Instant::now() + wait;
            let mut buf = [0u8; 1500];
            loop {
                match tokio::time::timeout_at(until, self.socket.recv_from(&mut buf)).await {
                    Err(_) => break,
                    Ok(Err(e)) => {
                        return Err(Error::io(format!("dhcp: receiving on {}", self.bond), e));
                    }
                    Ok(Ok((n, from))) => {
                        let from = match from.ip() {
                            std::net::IpAddr::V4(a) => a,
                            _ => continue,
                        };
                        if let Some(reply) = parse_reply(&buf[..n], self.mac, xid, from) {
                            return Ok(Some(reply));
                        }
                    }
                }
            }
            retry = (retry * 2).min(LAST_RETRY);
        }
    }

    /// Puts the lease on the bond: the address with the lease's lifetime, the default route.
    async fn apply(&self, lease: &Lease, previous: Option<&Lease>) -> Result<()> {
        if let Some(old) = previous.filter(|o| o.addr != lease.addr) {
            self.give_up(old).await;
        }
        let secs = lease.lease.as_secs().min(u64::from(u32::MAX - 1)) as u32;
        self.nl
            .replace_address_with_lifetime(self.ifindex, lease.cidr, secs, secs)
            .await?;
        if let Some(router) = lease.router {
            self.nl
                .replace_default_route_v4(router, self.ifindex, ROUTE_METRIC)
                .await?;
        }
        Ok(())
    }

    /// Takes a lease's address and route off the bond.
    async fn give_up(&self, lease: &Lease) {
        if let Some(router) = lease.router {
            let _ = self
                .nl
                .del_default_route_v4(router, self.ifindex, ROUTE_METRIC)
                .await;
        }
        if let Err(e) = self.nl.del_address(self.ifindex, lease.cidr).await {
            debug!(bond = %self.bond, "dhcp: removing {}: {e}", lease.cidr);
        }
    }
}

fn rand_xid() -> u32 {
    let mut b = [0u8; 4];
    // SAFETY: getrandom into a 4-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, 4, 0) };
    if n != 4 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return t.subsec_nanos() ^ std::process::id();
    }
    u32::from_ne_bytes(b)
}

/// Leases and keeps an address for `bond` until the task is dropped; returns an error to be
/// started over (the bond went away, a socket failed).
async fn run(bond: &str) -> Result<()> {
    let nl = Netlink::connect()?;
    let link = loop {
        match nl.link_by_name(bond).await? {
            Some(l) => break l,
            None => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    let client = Client {
        bond: bond.to_string(),
        ifindex: link.index,
        mac: link
            .mac
            .ok_or_else(|| Error::invalid("addresses", format!("{bond} has no MAC")))?,
        socket: client_socket(bond)?,
        nl,
    };
    loop {
        // INIT / SELECTING / REQUESTING.
        let (addr, server) = match client
            .exchange(Request::Discover, Ipv4Addr::BROADCAST, None)
            .await?
        {
            Some(Reply::Offer { addr, server }) => (addr, server),
            _ => continue,
        };
        let deadline = Some(Instant::now() + 3 * FIRST_RETRY);
        let granted = match client
            .exchange(
                Request::Select { addr, server },
                Ipv4Addr::BROADCAST,
                deadline,
            )
            .await?
        {
            Some(Reply::Ack(l)) => l,
            _ => continue,
        };
        client.apply(&granted, None).await?;
        info!(bond = %bond, address = %granted.cidr, server = %granted.server,
              router = ?granted.router, lease_s = granted.lease.as_secs(), "dhcp: leased");
        let mut current = granted;
        // BOUND / RENEWING / REBINDING.
        loop {
            let granted_at = Instant::now();
            tokio::time::sleep(current.renew).await;
            let t2 = granted_at + current.rebind;
            let end = granted_at + current.lease;
            let renewed = match client
                .exchange(
                    Request::Extend { addr: current.addr },
                    current.server,
                    Some(t2),
                )
                .await?
            {
                Some(reply) => Some(reply),
                None => {
                    client
                        .exchange(
                            Request::Extend { addr: current.addr },
                            Ipv4Addr::BROADCAST,
                            Some(end),
                        )
                        .await?
                }
            };
            match renewed {
                Some(Reply::Ack(l)) if l.addr == current.addr => {
                    client.apply(&l, Some(&current)).await?;
                    info!(bond = %bond, address = %l.cidr, lease_s = l.lease.as_secs(), "dhcp: renewed");
                    current = l;
                }
                other => {
                    warn!(bond = %bond, address = %current.cidr, reply = ?other, "dhcp: lease lost; asking again");
                    client.give_up(&current).await;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 7];

    fn decode(bytes: &[u8]) -> Message {
        Message::decode(&mut Decoder::new(bytes)).unwrap()
    }

    fn reply(xid: u32, kind: MessageType, opts: &[DhcpOption]) -> Vec<u8> {
        let z = Ipv4Addr::UNSPECIFIED;
        let mut m = Message::new_with_id(xid, z, Ipv4Addr::new(198, 18, 0, 50), z, z, &MAC);
        m.set_opcode(Opcode::BootReply);
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        for o in opts {
            m.opts_mut().insert(o.clone());
        }
        let mut out = Vec::new();
        m.encode(&mut Encoder::new(&mut out)).unwrap();
        out
    }

    #[test]
    fn requests_carry_what_each_step_needs() {
        let d = decode(&request(MAC, 7, Request::Discover));
        assert_eq!(d.opts().msg_type(), Some(MessageType::Discover));
        assert!(
            d.flags().broadcast(),
            "no address yet: replies by broadcast"
        );
        assert_eq!(&d.chaddr()[..6], &MAC);
        assert_eq!(d.xid(), 7);
        let server = Ipv4Addr::new(198, 18, 0, 1);
        let addr = Ipv4Addr::new(198, 18, 0, 50);
        let s = decode(&request(MAC, 8, Request::Select { addr, server }));
        assert_eq!(s.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(
            s.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(addr))
        );
        assert_eq!(
            s.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(server))
        );
        let r = decode(&request(MAC, 9, Request::Extend { addr }));
        assert_eq!(r.ciaddr(), addr, "renewal names the leased address");
        assert!(!r.flags().broadcast());
        assert!(r.opts().get(OptionCode::ServerIdentifier).is_none());
    }

    #[test]
    fn replies_are_matched_and_leases_read() {
        let server = Ipv4Addr::new(198, 18, 0, 1);
        let offer = reply(
            5,
            MessageType::Offer,
            &[DhcpOption::ServerIdentifier(server)],
        );
        assert_eq!(
            parse_reply(&offer, MAC, 5, server),
            Some(Reply::Offer {
                addr: Ipv4Addr::new(198, 18, 0, 50),
                server
            })
        );
        assert_eq!(
            parse_reply(&offer, MAC, 6, server),
            None,
            "another transaction"
        );
        assert_eq!(
            parse_reply(&offer, [9; 6], 5, server),
            None,
            "another client"
        );
        assert_eq!(parse_reply(&offer[..20], MAC, 5, server), None, "truncated");
        let ack = reply(
            5,
            MessageType::Ack,
            &[
                DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 254, 0)),
                DhcpOption::Router(vec![Ipv4Addr::new(198, 18, 0, 1)]),
                DhcpOption::AddressLeaseTime(120),
                DhcpOption::Renewal(5),
            ],
        );
        let Some(Reply::Ack(lease)) = parse_reply(&ack, MAC, 5, server) else {
            panic!("an ACK");
        };
        assert_eq!(lease.cidr.to_string(), "198.18.0.50/23");
        assert_eq!(lease.router, Some(server));
        assert_eq!(lease.lease, Duration::from_secs(120));
        assert_eq!(lease.renew, Duration::from_secs(5));
        assert_eq!(lease.rebind, Duration::from_secs(105), "T2 defaults to 7/8");
        let bare = reply(5, MessageType::Ack, &[DhcpOption::AddressLeaseTime(100)]);
        let Some(Reply::Ack(lease)) = parse_reply(&bare, MAC, 5, server) else {
            panic!("an ACK");
        };
        assert_eq!(lease.renew, Duration::from_secs(50), "T1 defaults to half");
        assert_eq!(lease.server, server, "the sender when no server identifier");
        let nak = reply(5, MessageType::Nak, &[]);
        assert_eq!(parse_reply(&nak, MAC, 5, server), Some(Reply::Nak));
    }
}
