//! `up` for multi-wan: uplinks to different networks, read and never changed; the bond gets
//! its own address and, unless told otherwise, the routes that make it the way out.

use super::*;

/// Link aggregation needs every member on one segment behind one peer. Members that carry
/// addresses of different subnets are uplinks to different networks (two ISPs, say): say so
/// instead of building a bond that would break every connection.
pub(super) async fn refuse_separate_networks(
    nl: &Netlink,
    spec: &BondSpec,
    members: &[Link],
) -> Result<()> {
    let mut seen: Vec<(String, IpCidr)> = Vec::new();
    for m in members {
        for a in nl.address_info(m.index).await? {
            if !a.global || !a.cidr.addr.is_ipv4() {
                continue;
            }
            if let Some((other, theirs)) = seen.iter().find(|(n, c)| {
                n != &m.name && !c.contains(&a.cidr.addr) && !a.cidr.contains(&c.addr)
            }) {
                return Err(Error::invalid(
                    "mode",
                    format!(
                        "{} spreads packets over all members, which only works when they share \
                         one network behind one peer; {other} ({theirs}) and {} ({}) are on \
                         different networks. Uplinks to different networks (ISPs) need \
                         --mode multi-wan: per-flow balancing with translation to each \
                         uplink's address",
                        spec.options.mode.name(),
                        m.name,
                        a.cidr
                    ),
                ));
            }
            seen.push((m.name.clone(), a.cidr));
        }
    }
    Ok(())
}

/// Placeholder next hop of the routes through a multi-wan bond (ARP is off on it, so no
/// one is ever asked for this address; one next hop keeps the neighbour table at one entry
/// however many destinations there are).
pub(super) const MWAN_NEXT_HOP4: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 9);

/// The same for IPv6.
pub(super) const MWAN_NEXT_HOP6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// How long `up` waits for the uplinks' gateways to resolve before going ahead without
/// them (the controller keeps trying; an uplink takes flows once its gateway resolves).
pub(super) const RESOLVE_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// `up` for multi-wan: the uplinks are read, never changed; the bond gets its own address,
/// no ARP, and (unless told otherwise) the routes that make it the way out.
pub(super) async fn build_multi_wan(
    nl: &Netlink,
    spec: &BondSpec,
    paths: &BondPaths,
    members: &[Link],
) -> Result<()> {
    let opts = &spec.options;
    let w = &opts.multi_wan;
    let slots: Vec<Option<String>> = spec.members.iter().cloned().map(Some).collect();
    let record = w.to_pinned(&slots);
    let links: Vec<(usize, Link)> = members.iter().cloned().enumerate().collect();
    let mut found = discover_uplinks(nl, &links, &record).await?;
    for (_, d) in &found {
        if !d.routable4() && !d.routable6() {
            return Err(Error::UnsuitableMember {
                iface: d.name.clone(),
                reason: format!(
                    "it has no way out: {} (give --gateway {}=IP)",
                    d.problems().join(", "),
                    d.name
                ),
            });
        }
    }
    let addresses = w.addresses_or_default();
    let uplinks: Vec<Discovery> = found.iter().map(|(_, d)| d.clone()).collect();
    for cidr in &addresses {
        if let Some(why) = crate::multi_wan::overlaps(cidr, &uplinks) {
            return Err(Error::invalid("address", why));
        }
    }
    // Gateways not resolved yet: ask the kernel to, and give it a moment.
    let deadline = std::time::Instant::now() + RESOLVE_WAIT;
    while found.iter().any(|(_, d)| {
        (d.gw4.is_some() && d.addr4.is_some() && !d.ready4())
            || (d.gw6.is_some() && d.addr6.is_some() && !d.ready6())
    }) && std::time::Instant::now() < deadline
    {
        for ((_, d), (_, link)) in found.iter().zip(&links) {
            crate::multi_wan::nudge_resolution(d, link.index);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        found = discover_uplinks(nl, &links, &record).await?;
    }
    for (_, d) in &found {
        for problem in d.problems() {
            warn!(bond = %spec.name, uplink = %d.name, "{problem}; it takes flows once fixed");
        }
    }

    let mut ebpf = loader::load_sized(w.max_flows)?;
    loader::pin(&mut ebpf, paths)?;
    let mut maps = BondMaps::from_ebpf(&mut ebpf)?;
    let mut state = BondState {
        name: name_bytes(&spec.name),
        mwan: record,
        tc_attach: opts.tc_attach.to_pinned(),
        ..Default::default()
    };
    for (slot, m) in members.iter().enumerate() {
        state.members[slot] = untouched_record(m);
    }
    state.monitor = opts.monitor.to_pinned();
    state.balance = opts.balance.to_pinned(&slots);
    let (bond, peer_link) =
        create_interface(nl, &spec.name, members, &mut state, &mut maps).await?;
    // No ARP or neighbour discovery on the bond: the program writes every MAC itself.
    nl.set_arp(bond.index, false).await?;
    let v6 = addresses.iter().any(|c| c.addr.is_ipv6());
    let _ = netdev::set_ipv6_disabled(&spec.name, !v6);

    let bond_mac = bond.mac.unwrap_or_default();
    let mut cfg = BondConfig {
        bond_ifindex: bond.index,
        bond_mac,
        ..Default::default()
    };
    for ((slot, d), m) in found.iter().zip(members) {
        cfg.members[*slot] = MemberSlot {
            ifindex: m.index,
            mac: d.mac,
            link: LinkState::Up as u8,
            flags: 0,
        };
        cfg.uplinks[*slot] = d.to_uplink(&cfg.uplinks[*slot]);
    }
    apply_options(&mut cfg, opts, NO_SLOT, &slots);
    maps.config.publish(cfg)?;

    for slot in 0..members.len() {
        attach::attach_member(
            paths,
            &mut maps,
            &mut state,
            slot,
            loader::programs::MULTI_WAN_INGRESS,
        )?;
    }
    go_live(
        nl,
        &mut ebpf,
        loader::programs::MULTI_WAN_EGRESS_PROGRAM,
        paths,
        &state,
        &bond,
        &peer_link,
    )
    .await?;
    for cidr in &addresses {
        nl.add_address(bond.index, *cidr).await?;
    }
    if w.default_route {
        for cidr in &addresses {
            let (halves, via): ([&str; 2], IpAddr) = match cidr.addr {
                IpAddr::V4(_) => (["0.0.0.0/1", "128.0.0.0/1"], MWAN_NEXT_HOP4.into()),
                IpAddr::V6(_) => (["::/1", "8000::/1"], MWAN_NEXT_HOP6.into()),
            };
            // Two halves of the address space: more specific than any default route, so
            // preferred over the uplinks' own without touching them.
            for half in halves {
                let dst: IpCidr = half.parse().expect("constant");
                nl.add_onlink_route(dst, via, bond.index).await?;
            }
        }
    }
    Ok(())
}
