//! Network devices through rtnetlink: look links up, create the bond's veth pair, change
//! MACs, flags and MTUs, and the per-interface IPv6 sysctl. Everything acts on the calling
//! thread's network namespace.

use futures::TryStreamExt;
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkLayerType, LinkMessage,
};
use rtnetlink::{Handle, LinkUnspec, LinkVeth};

use crate::error::{Error, Result};

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
}

impl Link {
    fn from_message(msg: LinkMessage) -> Link {
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
        };
        for attr in msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name,
                LinkAttribute::Address(addr) if addr.len() == 6 => {
                    link.mac = Some(addr.try_into().expect("length checked"))
                }
                LinkAttribute::Mtu(mtu) => link.mtu = mtu,
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
