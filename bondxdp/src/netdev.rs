//! Network devices through rtnetlink: look links up, create the bond's veth pair, change
//! MACs, flags and MTUs, and the per-interface IPv6 sysctl. Everything acts on the calling
//! thread's network namespace.

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkLayerType, LinkMessage,
};
use rtnetlink::{Handle, LinkUnspec, LinkVeth};

use crate::{
    config::IpCidr,
    error::{Error, Result},
};

/// What bondxdp needs to know about one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Hardware address, if the link has an Ethernet-sized one.
    pub mac: Option<[u8; 6]>,
    /// Whether it is administratively up.
    pub up: bool,
    /// Whether it has carrier (IFF_LOWER_UP).
    pub carrier: bool,
    /// Whether promiscuous mode is on.
    pub promisc: bool,
    /// Whether all-multicast is on.
    pub allmulti: bool,
    /// Whether it is the loopback device.
    pub loopback: bool,
    /// Whether its link layer is Ethernet.
    pub ethernet: bool,
    /// MTU.
    pub mtu: u32,
    /// Index of its master device (bridge, kernel bond...), if any.
    pub master: Option<u32>,
    /// Link kind (`veth`, `bridge`, ...), if the kernel reports one.
    pub kind: Option<String>,
    /// Packets received (the interface's own counter).
    pub rx_packets: u64,
}

impl Link {
    /// Decodes an RTM_NEWLINK message.
    pub fn from_message(msg: LinkMessage) -> Link {
        let flags = msg.header.flags;
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            mac: None,
            up: flags.contains(LinkFlags::Up),
            carrier: flags.contains(LinkFlags::LowerUp),
            promisc: flags.contains(LinkFlags::Promisc),
            allmulti: flags.contains(LinkFlags::Allmulti),
            loopback: flags.contains(LinkFlags::Loopback)
                || msg.header.link_layer_type == LinkLayerType::Loopback,
            ethernet: msg.header.link_layer_type == LinkLayerType::Ether,
            mtu: 0,
            master: None,
            kind: None,
            rx_packets: 0,
        };
        for attr in msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name,
                LinkAttribute::Address(addr) if addr.len() == 6 => {
                    link.mac = Some(addr.try_into().expect("length checked"))
                }
                LinkAttribute::Mtu(mtu) => link.mtu = mtu,
                LinkAttribute::Stats64(stats) => link.rx_packets = stats.rx_packets,
                LinkAttribute::Controller(master) if master != 0 => link.master = Some(master),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let NlLinkInfo::Kind(kind) = info {
                            link.kind = Some(match kind {
                                InfoKind::Other(s) => s,
                                other => other.to_string(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// A netlink connection (driven by a task on the current tokio runtime).
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens a connection in the calling thread's network namespace.
    pub fn connect() -> Result<Netlink> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|e| Error::io("opening a netlink socket", e))?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    /// The link named `name`, if it exists.
    pub async fn link_by_name(&self, name: &str) -> Result<Option<Link>> {
        let mut req = self
            .handle
            .clone()
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match req.try_next().await {
            Ok(msg) => Ok(msg.map(Link::from_message)),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The link with index `index`, if it exists.
    pub async fn link_by_index(&self, index: u32) -> Result<Option<Link>> {
        let mut req = self
            .handle
            .clone()
            .link()
            .get()
            .match_index(index)
            .execute();
        match req.try_next().await {
            Ok(msg) => Ok(msg.map(Link::from_message)),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The link named `name`, or [`Error::UnknownInterface`].
    pub async fn require(&self, name: &str) -> Result<Link> {
        self.link_by_name(name)
            .await?
            .ok_or_else(|| Error::UnknownInterface(name.to_string()))
    }

    /// Every link in the namespace.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let stream = self.handle.clone().link().get().execute();
        let msgs: Vec<LinkMessage> = stream.try_collect().await?;
        Ok(msgs.into_iter().map(Link::from_message).collect())
    }

    /// Creates a veth pair.
    pub async fn create_veth(&self, name: &str, peer: &str) -> Result<()> {
        self.handle
            .link()
            .add(LinkVeth::new(name, peer).build())
            .execute()
            .await
            .map_err(|e| Error::Netlink(format!("creating veth pair {name}/{peer}: {e}")))
    }

    /// Deletes link `index`.
    pub async fn delete(&self, index: u32) -> Result<()> {
        self.handle
            .clone()
            .link()
            .del(index)
            .execute()
            .await
            .map_err(Into::into)
    }

    async fn set(&self, index: u32, what: &str, msg: LinkMessage) -> Result<()> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| Error::Netlink(format!("{what} on ifindex {index}: {e}")))
    }

    /// Sets the link administratively up or down.
    pub async fn set_up(&self, index: u32, up: bool) -> Result<()> {
        let b = LinkUnspec::new_with_index(index);
        let msg = if up { b.up() } else { b.down() }.build();
        self.set(index, if up { "setting up" } else { "setting down" }, msg)
            .await
    }

    /// Sets the hardware address.
    pub async fn set_mac(&self, index: u32, mac: [u8; 6]) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index)
            .address(mac.to_vec())
            .build();
        self.set(index, "setting the MAC address", msg).await
    }

    /// Sets the MTU.
    pub async fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).mtu(mtu).build();
        self.set(index, "setting the MTU", msg).await
    }

    /// Turns promiscuous mode on or off.
    pub async fn set_promisc(&self, index: u32, on: bool) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).promiscuous(on).build();
        self.set(index, "setting promiscuous mode", msg).await
    }

    /// Turns ARP on or off.
    pub async fn set_arp(&self, index: u32, on: bool) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).arp(on).build();
        self.set(index, "setting ARP", msg).await
    }

    /// Turns all-multicast reception on or off.
    pub async fn set_allmulti(&self, index: u32, on: bool) -> Result<()> {
        let mut msg = LinkUnspec::new_with_index(index).build();
        if on {
            msg.header.flags |= LinkFlags::Allmulti;
        } else {
            msg.header.flags.remove(LinkFlags::Allmulti);
        }
        msg.header.change_mask |= LinkFlags::Allmulti;
        self.set(index, "setting all-multicast", msg).await
    }
}

impl Netlink {
    /// Addresses of interface `index` with their prefix lengths.
    pub async fn addresses(&self, index: u32) -> Result<Vec<IpCidr>> {
        let stream = self
            .handle
            .clone()
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let msgs: Vec<AddressMessage> = stream.try_collect().await?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| {
                let prefix = m.header.prefix_len;
                m.attributes.into_iter().find_map(|a| match a {
                    AddressAttribute::Address(addr) => Some(IpCidr { addr, prefix }),
                    _ => None,
                })
            })
            .collect())
    }

    /// Adds an address to interface `index` (IPv6 without duplicate address detection).
    pub async fn add_address(&self, index: u32, cidr: IpCidr) -> Result<()> {
        let mut req = self.handle.address().add(index, cidr.addr, cidr.prefix);
        if cidr.addr.is_ipv6() {
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        req.execute()
            .await
            .map_err(|e| Error::Netlink(format!("adding {cidr} to ifindex {index}: {e}")))
    }
}

/// `net.ipv6.conf.<ifname>.disable_ipv6`, if IPv6 is available on the interface.
pub fn ipv6_disabled(ifname: &str) -> Option<bool> {
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
    std::fs::read_to_string(path).ok().map(|s| s.trim() == "1")
}

/// Sets `net.ipv6.conf.<ifname>.disable_ipv6`.
pub fn set_ipv6_disabled(ifname: &str, disabled: bool) -> Result<()> {
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
    std::fs::write(&path, if disabled { "1" } else { "0" })
        .map_err(|e| Error::io(format!("writing {path}"), e))
}

/// Speed and duplex as ethtool reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkSettings {
    /// Speed in Mb/s.
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Speed and duplex of interface `ifname` (ethtool `ETHTOOL_GSET`), if the driver knows them.
pub fn link_settings(ifname: &str) -> Option<LinkSettings> {
    #[repr(C)]
    #[derive(Default)]
    struct EthtoolCmd {
        cmd: u32,
        supported: u32,
        advertising: u32,
        speed: u16,
        duplex: u8,
        port: u8,
        phy_address: u8,
        transceiver: u8,
        autoneg: u8,
        mdio_support: u8,
        maxtxpkt: u32,
        maxrxpkt: u32,
        speed_hi: u16,
        eth_tp_mdix: u8,
        eth_tp_mdix_ctrl: u8,
        lp_advertising: u32,
        reserved: [u32; 2],
    }
    const ETHTOOL_GSET: u32 = 1;
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    if ifname.len() >= libc::IFNAMSIZ {
        return None;
    }
    // SAFETY: plain socket creation; closed by OwnedFd.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is ours.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut cmd = EthtoolCmd {
        cmd: ETHTOOL_GSET,
        ..Default::default()
    };
    // SAFETY: zeroed ifreq is valid; we fill the name and the data pointer.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(ifname.bytes()) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&mut cmd as *mut EthtoolCmd).cast();
    // SAFETY: SIOCETHTOOL with a valid ifreq pointing at a properly sized ethtool_cmd.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            SIOCETHTOOL,
            &mut ifr as *mut libc::ifreq,
        )
    };
    if rc != 0 {
        return None;
    }
    let speed = (cmd.speed_hi as u32) << 16 | cmd.speed as u32;
    (speed != 0 && speed != u32::MAX && speed != u16::MAX as u32).then_some(LinkSettings {
        speed_mbps: speed,
        full_duplex: cmd.duplex == 1,
    })
}

/// Name of interface `index` in the calling thread's namespace.
pub fn ifname(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IFNAMSIZ];
    // SAFETY: buf has IFNAMSIZ bytes as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into buf.
    Some(
        unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Link speed (Mb/s) of interface `index`.
pub fn link_speed_by_index(index: u32) -> Option<u32> {
    link_settings(&ifname(index)?).map(|s| s.speed_mbps)
}

/// Carrier of interface `ifname` right now: administratively up (`SIOCGIFFLAGS`) and with
/// carrier (`ETHTOOL_GLINK`, the driver's `netif_carrier_ok`). Two cheap ioctls, unlike
/// netlink link notifications, which the kernel's linkwatch may defer by up to a second.
pub fn carrier_now(socket: &std::os::fd::OwnedFd, ifname: &str) -> Option<bool> {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    const ETHTOOL_GLINK: u32 = 0x0000_000a;
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    if ifname.len() >= libc::IFNAMSIZ {
        return None;
    }
    // SAFETY: zeroed ifreq is valid; the name fits.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(ifname.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills ifr_flags.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } != 0 {
        return None;
    }
    // SAFETY: the union member SIOCGIFFLAGS wrote.
    if unsafe { ifr.ifr_ifru.ifru_flags } as i32 & libc::IFF_UP == 0 {
        return Some(false);
    }
    let mut value = EthtoolValue {
        cmd: ETHTOOL_GLINK,
        data: 0,
    };
    ifr.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: SIOCETHTOOL with a valid ifreq pointing at an ethtool_value.
    if unsafe { libc::ioctl(socket.as_raw_fd(), SIOCETHTOOL, &mut ifr) } != 0 {
        return None;
    }
    Some(value.data != 0)
}

/// A datagram socket for [`carrier_now`] and other interface ioctls.
pub fn ioctl_socket() -> Result<std::os::fd::OwnedFd> {
    // SAFETY: plain socket creation.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::io(
            "opening an ioctl socket",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: fd is ours.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}
