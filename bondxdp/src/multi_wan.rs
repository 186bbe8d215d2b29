//! multi-wan uplinks: what translating to each uplink's network needs, read from the host
//! (its address, its gateway and the gateway's MAC, whether it carries raw IP), and turned
//! into the data plane's [`Uplink`] entries. Nothing about the uplink itself is changed: its
//! addresses, routes, MAC and DHCP client stay the user's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use bondxdp_common::{
    config::{UPLINK_L3, UPLINK_V4, UPLINK_V6, Uplink},
    multi_wan::addr_from_bytes,
};

use crate::{
    error::Result,
    netdev::{Link, Netlink},
    options::IpCidr,
};

/// One uplink as the host has it now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    /// Interface name.
    pub name: String,
    /// Raw IP (TUN, PPP, raw-IP modems): no Ethernet header, no gateway MAC.
    pub l3: bool,
    /// The uplink's own MAC (Ethernet uplinks).
    pub mac: [u8; 6],
    /// Its IPv4 address.
    pub addr4: Option<IpCidr>,
    /// Its global IPv6 address.
    pub addr6: Option<IpCidr>,
    /// IPv4 gateway (configured, else from the default route).
    pub gw4: Option<Ipv4Addr>,
    /// IPv6 gateway (configured, else from the default route).
    pub gw6: Option<Ipv6Addr>,
    /// Whether a default route leaves through it without a gateway (point-to-point).
    pub direct4: bool,
    /// Likewise for IPv6.
    pub direct6: bool,
    /// The IPv4 gateway's MAC, once resolved.
    pub gw_mac4: Option<[u8; 6]>,
    /// The IPv6 gateway's MAC, once resolved.
    pub gw_mac6: Option<[u8; 6]>,
}

impl Discovery {
    /// Whether IPv4 flows can use the uplink now.
    pub fn ready4(&self) -> bool {
        self.addr4.is_some() && (self.l3 || self.gw_mac4.is_some())
    }

    /// Whether IPv6 flows can use the uplink now.
    pub fn ready6(&self) -> bool {
        self.addr6.is_some() && (self.l3 || self.gw_mac6.is_some())
    }

    /// Whether the uplink has a way out for IPv4 (an address and a gateway, or a
    /// point-to-point route), resolved or not.
    pub fn routable4(&self) -> bool {
        self.addr4.is_some() && (self.l3 || self.direct4 || self.gw4.is_some())
    }

    /// Likewise for IPv6.
    pub fn routable6(&self) -> bool {
        self.addr6.is_some() && (self.l3 || self.direct6 || self.gw6.is_some())
    }

    /// What keeps the uplink from carrying flows, for logs and `status` (empty: nothing).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.addr4.is_none() && self.addr6.is_none() {
            p.push("no address".to_string());
        }
        if self.addr4.is_some() && !self.l3 && !self.routable4() {
            p.push("no IPv4 gateway (no default route and none configured)".to_string());
        }
        if let Some(gw) = self.gw4
            && !self.l3
            && self.gw_mac4.is_none()
        {
            p.push(format!("gateway {gw} not resolved yet"));
        }
        if let Some(gw) = self.gw6
            && !self.l3
            && self.gw_mac6.is_none()
            && self.addr6.is_some()
        {
            p.push(format!("gateway {gw} not resolved yet"));
        }
        p
    }

    /// The data plane's entry for this uplink, keeping `prev`'s epoch unless the addresses
    /// changed (then flows through the old ones are stale).
    pub fn to_uplink(&self, prev: &Uplink) -> Uplink {
        let addr4 = self.addr4.map_or(0, |c| match c.addr {
            IpAddr::V4(a) => u32::from_le_bytes(a.octets()),
            IpAddr::V6(_) => 0,
        });
        let addr6 = self.addr6.map_or([0; 4], |c| match c.addr {
            IpAddr::V6(a) => addr_from_bytes(&a.octets()),
            IpAddr::V4(_) => [0; 4],
        });
        let mut flags = 0;
        if self.l3 {
            flags |= UPLINK_L3;
        }
        if self.ready4() {
            flags |= UPLINK_V4;
        }
        if self.ready6() {
            flags |= UPLINK_V6;
        }
        let moved = (prev.addr4 != 0 && prev.addr4 != addr4)
            || (prev.addr6 != [0; 4] && prev.addr6 != addr6);
        Uplink {
            addr4,
            addr6,
            gw_mac4: self.gw_mac4.unwrap_or_default(),
            gw_mac6: self.gw_mac6.unwrap_or_default(),
            pad2: 0,
            flags,
            // The options' (written by `up`/`set`), kept across rediscoveries.
            tier: prev.tier,
            epoch: prev.epoch.wrapping_add(moved as u32).max(1),
        }
    }
}

/// Reads uplink `link` from the host. `gw4`/`gw6` are configured gateways (else the
/// uplink's default routes say).
pub async fn discover(
    nl: &Netlink,
    link: &Link,
    gw4: Option<Ipv4Addr>,
    gw6: Option<Ipv6Addr>,
) -> Result<Discovery> {
    let mut d = Discovery {
        name: link.name.clone(),
        l3: !link.ethernet,
        mac: link.mac.unwrap_or_default(),
        ..Default::default()
    };
    for a in nl.address_info(link.index).await? {
        if !a.global || !a.usable {
            continue;
        }
        match a.cidr.addr {
            IpAddr::V4(_) if d.addr4.is_none() => d.addr4 = Some(a.cidr),
            IpAddr::V6(_) if d.addr6.is_none() => d.addr6 = Some(a.cidr),
            _ => {}
        }
    }
    let route4 = nl.default_route(link.index, false).await?;
    let route6 = nl.default_route(link.index, true).await?;
    d.direct4 = route4.is_some_and(|r| r.gateway.is_none());
    d.direct6 = route6.is_some_and(|r| r.gateway.is_none());
    d.gw4 = gw4.or(match route4.and_then(|r| r.gateway) {
        Some(IpAddr::V4(g)) => Some(g),
        _ => None,
    });
    d.gw6 = gw6.or(match route6.and_then(|r| r.gateway) {
        Some(IpAddr::V6(g)) => Some(g),
        _ => None,
    });
    if !d.l3 {
        if let Some(gw) = d.gw4 {
            d.gw_mac4 = nl.neighbour_mac(link.index, IpAddr::V4(gw)).await?;
        }
        if let Some(gw) = d.gw6 {
            d.gw_mac6 = nl.neighbour_mac(link.index, IpAddr::V6(gw)).await?;
        }
    }
    Ok(d)
}

/// Makes the kernel resolve the uplink's gateways it has not resolved yet: one empty UDP
/// datagram to each gateway's discard port, sent through the uplink (the gateway drops it;
/// the ARP or neighbour solicitation it takes to send it is the point).
pub fn nudge_resolution(d: &Discovery, ifindex: u32) {
    if d.l3 {
        return;
    }
    let mut targets = Vec::new();
    if let (Some(gw), None) = (d.gw4, d.gw_mac4) {
        targets.push(SocketAddr::from((gw, 9)));
    }
    if let (Some(gw), None, Some(_)) = (d.gw6, d.gw_mac6, d.addr6) {
        let scope = if gw.is_unicast_link_local() {
            ifindex
        } else {
            0
        };
        targets.push(SocketAddr::V6(std::net::SocketAddrV6::new(gw, 9, 0, scope)));
    }
    for target in targets {
        let bind: SocketAddr = if target.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        if let Ok(sock) = UdpSocket::bind(bind) {
            let _ = bind_to_device(&sock, &d.name);
            let _ = sock.send_to(&[], target);
        }
    }
}

/// `SO_BINDTODEVICE`.
fn bind_to_device(sock: &UdpSocket, ifname: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket and a byte string of the given length.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            ifname.as_ptr().cast(),
            ifname.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether `cidr` (the bond's own address) falls into the subnet of one of `uplinks`'
/// addresses, or theirs into its: then its traffic could not be told apart.
pub fn overlaps(cidr: &IpCidr, uplinks: &[Discovery]) -> Option<String> {
    for d in uplinks {
        for a in [d.addr4, d.addr6].into_iter().flatten() {
            if cidr.contains(&a.addr) || a.contains(&cidr.addr) {
                return Some(format!("{cidr} overlaps {} ({a})", d.name));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> IpCidr {
        s.parse().unwrap()
    }

    #[test]
    fn readiness_needs_an_address_and_a_resolved_gateway_unless_raw_ip() {
        let mut d = Discovery {
            addr4: Some(cidr("198.18.10.2/24")),
            gw4: Some(Ipv4Addr::new(198, 18, 10, 1)),
            ..Default::default()
        };
        assert!(d.routable4() && !d.ready4());
        assert_eq!(d.problems(), vec!["gateway 198.18.10.1 not resolved yet"]);
        d.gw_mac4 = Some([2, 0, 0, 0, 0, 1]);
        assert!(d.ready4() && d.problems().is_empty());
        let tun = Discovery {
            l3: true,
            addr4: Some(cidr("198.18.30.2/32")),
            ..Default::default()
        };
        assert!(tun.ready4() && !tun.ready6());
        let u = tun.to_uplink(&Uplink::ZERO);
        assert_eq!(u.flags, UPLINK_L3 | UPLINK_V4);
        assert_eq!(u.addr4.to_le_bytes(), [198, 18, 30, 2]);
    }

    #[test]
    fn an_address_change_starts_a_new_epoch() {
        let mut d = Discovery {
            l3: true,
            addr4: Some(cidr("198.18.30.2/32")),
            ..Default::default()
        };
        let first = d.to_uplink(&Uplink::ZERO);
        assert_eq!(first.epoch, 1);
        assert_eq!(d.to_uplink(&first).epoch, 1, "same address, same epoch");
        d.addr4 = Some(cidr("198.18.30.3/32"));
        assert_eq!(d.to_uplink(&first).epoch, 2);
    }

    #[test]
    fn overlapping_bond_addresses_are_found() {
        let d = Discovery {
            name: "eth1".into(),
            addr4: Some(cidr("198.18.10.2/24")),
            ..Default::default()
        };
        assert!(overlaps(&cidr("198.18.10.77/32"), std::slice::from_ref(&d)).is_some());
        assert!(overlaps(&cidr("198.18.0.0/16"), std::slice::from_ref(&d)).is_some());
        assert!(overlaps(&cidr("192.0.0.8/32"), &[d]).is_none());
    }
}
