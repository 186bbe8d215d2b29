//! Network devices through rtnetlink: look links up, create the bond's veth pair, change
//! MACs, flags and MTUs, and the per-interface IPv6 sysctl. Everything acts on the calling
//! thread's network namespace.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkLayerType, LinkMessage,
};
use rtnetlink::{Handle, LinkUnspec, LinkVeth};

use crate::{
    error::{Error, Result},
    options::IpCidr,
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
    /// The interface it is linked to (`IFLA_LINK`: a veth's peer, a VLAN's or macvlan's
    /// lower device), if any.
    pub lower: Option<u32>,
}

impl Link {
    /// Whether the kernel reports its carrier changes on netlink at once: linkwatch treats a
    /// device linked to another of a different index (veth, VLAN, macvlan) as urgent, and
    /// defers the rest by up to a second after the last link event it handled.
    pub fn carrier_events_immediate(&self) -> bool {
        self.lower.is_some_and(|l| l != self.index)
    }

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
            lower: None,
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
                LinkAttribute::Link(lower) => link.lower = Some(lower),
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
    /// The unicast addresses on interface `index`'s own receive filter (what `bridge fdb
    /// show dev X` lists as `self`: its MAC and the addresses of macvlans and the like
    /// stacked on it).
    pub async fn unicast_filter(&self, index: u32) -> Result<Vec<[u8; 6]>> {
        use netlink_packet_route::{
            AddressFamily,
            neighbour::{NeighbourAttribute, NeighbourFlags, NeighbourMessage},
        };
        let mut req = self.handle.neighbours().get();
        req.message_mut().header.family = AddressFamily::Bridge;
        req.message_mut().header.ifindex = index;
        let entries: Vec<NeighbourMessage> = req.execute().try_collect().await?;
        let mut macs = Vec::new();
        for n in entries {
            if n.header.ifindex != index || !n.header.flags.contains(NeighbourFlags::Own) {
                continue;
            }
            for a in n.attributes {
                if let NeighbourAttribute::LinkLocalAddress(l) = a
                    && let Ok(mac) = <[u8; 6]>::try_from(l.as_slice())
                    && mac[0] & 1 == 0
                    && !macs.contains(&mac)
                {
                    macs.push(mac);
                }
            }
        }
        Ok(macs)
    }

    /// Adds `mac` to interface `index`'s unicast receive filter (`bridge fdb add MAC dev X
    /// self permanent`).
    pub async fn add_unicast_filter(&self, index: u32, mac: [u8; 6]) -> Result<()> {
        use netlink_packet_route::neighbour::NeighbourFlags;
        self.handle
            .neighbours()
            .add_bridge(index, &mac)
            .flags(NeighbourFlags::Own)
            .execute()
            .await
            .map_err(|e| {
                Error::Netlink(format!("adding a unicast address on ifindex {index}: {e}"))
            })
    }

    /// Removes `mac` from interface `index`'s unicast receive filter.
    pub async fn del_unicast_filter(&self, index: u32, mac: [u8; 6]) -> Result<()> {
        use netlink_packet_route::{
            AddressFamily,
            neighbour::{NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState},
        };
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.header.flags = NeighbourFlags::Own;
        msg.attributes
            .push(NeighbourAttribute::LinkLocalAddress(mac.to_vec()));
        self.handle
            .neighbours()
            .del(msg)
            .execute()
            .await
            .map_err(|e| {
                Error::Netlink(format!(
                    "removing a unicast address on ifindex {index}: {e}"
                ))
            })
    }

    /// Addresses of interface `index` with their prefix lengths.
    pub async fn addresses(&self, index: u32) -> Result<Vec<IpCidr>> {
        Ok(self
            .address_info(index)
            .await?
            .into_iter()
            .map(|a| a.cidr)
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

impl Netlink {
    /// Adds, or refreshes, an address that lasts `valid` seconds (preferred for `preferred`):
    /// a DHCP lease, which the kernel removes when it runs out.
    pub async fn replace_address_with_lifetime(
        &self,
        index: u32,
        cidr: IpCidr,
        valid: u32,
        preferred: u32,
    ) -> Result<()> {
        use netlink_packet_route::address::CacheInfo;
        let mut req = self
            .handle
            .address()
            .add(index, cidr.addr, cidr.prefix)
            .replace();
        let mut lifetime = CacheInfo::default();
        lifetime.ifa_preferred = preferred;
        lifetime.ifa_valid = valid;
        req.message_mut()
            .attributes
            .push(AddressAttribute::CacheInfo(lifetime));
        req.execute()
            .await
            .map_err(|e| Error::Netlink(format!("adding {cidr} to ifindex {index}: {e}")))
    }

    /// Removes address `cidr` from interface `index` (nothing if it does not have it).
    pub async fn del_address(&self, index: u32, cidr: IpCidr) -> Result<()> {
        let stream = self
            .handle
            .clone()
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let msgs: Vec<AddressMessage> = stream.try_collect().await?;
        for m in msgs {
            let ours = m.header.prefix_len == cidr.prefix
                && m.attributes.iter().any(|a| {
                    matches!(a, AddressAttribute::Local(x) | AddressAttribute::Address(x)
                        if *x == cidr.addr)
                });
            if ours {
                self.handle.address().del(m).execute().await.map_err(|e| {
                    Error::Netlink(format!("removing {cidr} from ifindex {index}: {e}"))
                })?;
            }
        }
        Ok(())
    }

    /// Sets the IPv4 default route via `gateway` on interface `index` at `metric` (replacing
    /// the one of that metric), as a DHCP client installs it.
    pub async fn replace_default_route_v4(
        &self,
        gateway: Ipv4Addr,
        index: u32,
        metric: u32,
    ) -> Result<()> {
        use netlink_packet_route::route::RouteProtocol;
        let msg = rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .priority(metric)
            .protocol(RouteProtocol::Dhcp)
            .build();
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| Error::Netlink(format!("default route via {gateway}: {e}")))
    }

    /// Removes the IPv4 default route via `gateway` on interface `index` at `metric`.
    pub async fn del_default_route_v4(
        &self,
        gateway: Ipv4Addr,
        index: u32,
        metric: u32,
    ) -> Result<()> {
        let msg = rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .priority(metric)
            .build();
        self.handle
            .route()
            .del(msg)
            .execute()
            .await
            .map_err(|e| Error::Netlink(format!("removing default route via {gateway}: {e}")))
    }
}

/// An interface address with what the multi-uplink mode needs to know of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrInfo {
    /// The address and prefix.
    pub cidr: IpCidr,
    /// Global scope (not link-local or host).
    pub global: bool,
    /// Neither tentative (DAD running) nor deprecated.
    pub usable: bool,
}

/// A default route through one interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultRoute {
    /// Its gateway; `None` for point-to-point links (PPP, TUN) that need none.
    pub gateway: Option<IpAddr>,
    /// Its metric.
    pub metric: u32,
}

impl Netlink {
    /// Addresses of interface `index` with scope and flags.
    pub async fn address_info(&self, index: u32) -> Result<Vec<AddrInfo>> {
        use netlink_packet_route::address::{AddressHeaderFlags, AddressScope};
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
                let global = m.header.scope == AddressScope::Universe;
                let mut usable = !m
                    .header
                    .flags
                    .intersects(AddressHeaderFlags::Tentative | AddressHeaderFlags::Deprecated);
                let mut addr = None;
                for a in m.attributes {
                    match a {
                        // IFA_ADDRESS; on point-to-point links IFA_LOCAL is ours.
                        AddressAttribute::Local(l) => addr = Some(l),
                        AddressAttribute::Address(x) if addr.is_none() => addr = Some(x),
                        AddressAttribute::Flags(f) => {
                            usable &=
                                !f.intersects(AddressFlags::Tentative | AddressFlags::Deprecated)
                        }
                        _ => {}
                    }
                }
                addr.map(|addr| AddrInfo {
                    cidr: IpCidr { addr, prefix },
                    global,
                    usable,
                })
            })
            .collect())
    }

    /// The main table's default route through interface `index` for one family (the one
    /// with the lowest metric), including a multipath route's next hop through it.
    pub async fn default_route(&self, index: u32, v6: bool) -> Result<Option<DefaultRoute>> {
        use netlink_packet_route::route::{RouteAddress, RouteAttribute};
        use rtnetlink::RouteMessageBuilder;
        let msg = if v6 {
            RouteMessageBuilder::<Ipv6Addr>::new().build()
        } else {
            RouteMessageBuilder::<Ipv4Addr>::new().build()
        };
        let routes: Vec<_> = self.handle.route().get(msg).execute().try_collect().await?;
        let addr = |a: &RouteAddress| match a {
            RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
            RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
            _ => None,
        };
        let mut best: Option<DefaultRoute> = None;
        for r in routes {
            if r.header.destination_prefix_length != 0 {
                continue;
            }
            let mut table = r.header.table as u32;
            let (mut oif, mut gateway, mut metric) = (None, None, 0);
            let mut hops = Vec::new();
            for a in &r.attributes {
                match a {
                    RouteAttribute::Table(t) => table = *t,
                    RouteAttribute::Oif(o) => oif = Some(*o),
                    RouteAttribute::Gateway(g) => gateway = addr(g),
                    RouteAttribute::Priority(p) => metric = *p,
                    RouteAttribute::MultiPath(nh) => hops = nh.clone(),
                    _ => {}
                }
            }
            if table != 254 {
                continue;
            }
            let found = if oif == Some(index) {
                Some(gateway)
            } else {
                hops.iter().find(|h| h.interface_index == index).map(|h| {
                    h.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => addr(g),
                        _ => None,
                    })
                })
            };
            if let Some(gateway) = found
                && best.is_none_or(|b| metric < b.metric)
            {
                best = Some(DefaultRoute { gateway, metric });
            }
        }
        Ok(best)
    }

    /// The link-layer address the neighbour table has for `ip` on interface `index`, if it
    /// is resolved (reachable, stale, delayed, probing, permanent or static).
    pub async fn neighbour_mac(&self, index: u32, ip: IpAddr) -> Result<Option<[u8; 6]>> {
        use netlink_packet_route::neighbour::{
            NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
        };
        let version = if ip.is_ipv4() {
            rtnetlink::IpVersion::V4
        } else {
            rtnetlink::IpVersion::V6
        };
        let neighbours: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .set_family(version)
            .execute()
            .try_collect()
            .await?;
        for n in neighbours {
            if n.header.ifindex != index
                || matches!(
                    n.header.state,
                    NeighbourState::Incomplete | NeighbourState::Failed | NeighbourState::None
                )
            {
                continue;
            }
            let mut dst = None;
            let mut mac = None;
            for a in n.attributes {
                match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                        dst = Some(IpAddr::V4(a))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                        dst = Some(IpAddr::V6(a))
                    }
                    NeighbourAttribute::LinkLocalAddress(l) if l.len() == 6 => {
                        mac = Some(<[u8; 6]>::try_from(l.as_slice()).expect("length checked"))
                    }
                    _ => {}
                }
            }
            if dst == Some(ip) && mac.is_some() {
                return Ok(mac);
            }
        }
        Ok(None)
    }

    /// Adds a route to `dst` via `gateway` on interface `index`, on-link (the gateway need
    /// not be in one of the interface's subnets).
    pub async fn add_onlink_route(&self, dst: IpCidr, gateway: IpAddr, index: u32) -> Result<()> {
        use rtnetlink::RouteMessageBuilder;
        let msg = match (dst.addr, gateway) {
            (IpAddr::V4(d), IpAddr::V4(g)) => RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(d, dst.prefix)
                .gateway(g)
                .output_interface(index)
                .onlink()
                .build(),
            (IpAddr::V6(d), IpAddr::V6(g)) => RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(d, dst.prefix)
                .gateway(g)
                .output_interface(index)
                .onlink()
                .build(),
            _ => {
                return Err(Error::invalid(
                    "route",
                    format!("{dst} via {gateway}: mixed address families"),
                ));
            }
        };
        self.handle
            .route()
            .add(msg)
            .execute()
            .await
            .map_err(|e| Error::Netlink(format!("adding route {dst} via {gateway}: {e}")))
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
