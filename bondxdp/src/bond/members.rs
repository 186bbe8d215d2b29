//! Members: checking interfaces before they are enslaved, adding and removing them on a
//! running bond, and the records that put them back as they were found.

use super::*;

/// Looks the members up and refuses any that cannot be enslaved. Interfaces of the bonds in
/// `leaving` (going down in the same change: a config reload) count as free.
pub(super) async fn resolve_members(
    nl: &Netlink,
    spec: &BondSpec,
    leaving: &[String],
) -> Result<Vec<Link>> {
    let mut owners = member_owners().await?;
    owners.retain(|(_, bond, _)| !leaving.contains(bond));
    let mut members = Vec::with_capacity(spec.members.len());
    for name in &spec.members {
        let link = nl.require(name).await?;
        let unsuitable = |reason: &str| Error::UnsuitableMember {
            iface: name.clone(),
            reason: reason.to_string(),
        };
        if link.loopback {
            return Err(unsuitable("it is the loopback device"));
        }
        if let Some((bond, role)) = owners
            .iter()
            .find(|o| o.0 == link.index)
            .map(|o| (&o.1, o.2))
        {
            return Err(match role {
                Role::Member => Error::AlreadyInBond {
                    iface: name.clone(),
                    bond: bond.clone(),
                },
                Role::Bond => unsuitable("it is a bondxdp bond itself"),
                Role::Forward => unsuitable(&format!("it is a --forward-from interface of {bond}")),
            });
        }
        if let Some(master) = link.master {
            let master = match nl.link_by_index(master).await? {
                Some(m) => m.name,
                None => format!("ifindex {master}"),
            };
            return Err(Error::HasMaster {
                iface: name.clone(),
                master,
            });
        }
        if !spec.options.mode.is_multi_uplink() && (!link.ethernet || link.mac.is_none()) {
            return Err(unsuitable(
                "it is not an Ethernet device (raw-IP uplinks need --mode multi-wan)",
            ));
        }
        members.push(link);
    }
    if !spec.options.mode.is_multi_uplink() {
        refuse_separate_networks(nl, spec, &members).await?;
    }
    Ok(members)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Member,
    Bond,
    Forward,
}

/// Every interface of this namespace that bondxdp already uses: (ifindex, bond, role).
pub(super) async fn member_owners() -> Result<Vec<(u32, String, Role)>> {
    let mut owners = Vec::new();
    for bond in pins::list_bonds()? {
        let Ok(state) = BondMaps::open(&BondPaths::current(&bond)?).and_then(|m| m.state()) else {
            continue;
        };
        let Some(state) = state else { continue };
        owners.push((state.bond_ifindex, bond.clone(), Role::Bond));
        owners.push((state.peer_ifindex, bond.clone(), Role::Bond));
        for m in state.members.iter().filter(|m| m.ifindex != 0) {
            owners.push((m.ifindex, bond.clone(), Role::Member));
        }
        for &ifindex in state.forward.ifindex.iter().filter(|&&i| i != 0) {
            owners.push((ifindex, bond.clone(), Role::Forward));
        }
    }
    Ok(owners)
}

/// Adds member `iface` to a running bond.
pub async fn member_add(name: &str, iface: &str) -> Result<()> {
    preflight::check_privileges()?;
    let nl = Netlink::connect()?;
    let _ns_lock = NamespaceLock::acquire()?;
    let mut bond = OpenBond::open(name)?;
    let mut spec = bond.spec();
    spec.members.push(iface.to_string());
    spec.validate()?;
    let probe = BondSpec {
        members: vec![iface.to_string()],
        ..spec.clone()
    };
    let link = resolve_members(&nl, &probe, &[]).await?.remove(0);
    let slot = bond.cfg.free_slot().ok_or_else(|| {
        Error::invalid(
            "members",
            format!("the bond already has {MAX_MEMBERS} members"),
        )
    })?;
    if let Some(bond_link) = nl.link_by_index(bond.state.bond_ifindex).await?
        && link.mtu < bond_link.mtu
    {
        return Err(Error::invalid(
            "member",
            format!(
                "{iface} has MTU {} but {name} has {}; raise the member's MTU first",
                link.mtu, bond_link.mtu
            ),
        ));
    }
    bond.state.members[slot] = restore_record(&link);
    bond.maps.set_state(bond.state)?;
    let keep = spec.options.keep_member_macs;
    let member_macs = super::create::MemberMacs::of(&spec.options);
    let result: Result<()> = async {
        enslave(&nl, &link, bond.cfg.bond_mac, member_macs).await?;
        attach::attach_member(
            &bond.paths,
            &mut bond.maps,
            &mut bond.state,
            slot,
            loader::programs::MEMBER_INGRESS,
        )?;
        bond.maps.reset_member_stats(slot)?;
        if !spec.options.forward_from.is_empty() {
            attach_member_fast_path(
                &bond.paths,
                &mut bond.state.forward,
                slot,
                link.index,
                &link.name,
            )?;
            bond.maps.set_state(bond.state)?;
        }
        nl.set_up(link.index, true).await?;
        bond.cfg.members[slot] = MemberSlot {
            ifindex: link.index,
            mac: if keep {
                link.mac.expect("checked")
            } else {
                bond.cfg.bond_mac
            },
            link: LinkState::Up as u8,
            flags: 0,
        };
        bond.commit(&spec.options)?;
        // fail_over_mac follow: a member that joins with the bond's MAC gives it up.
        bond.settle_macs(&nl).await
    }
    .await;
    if let Err(e) = result {
        let mut undo = Undo::default();
        bond.cfg.members[slot] = MemberSlot::default();
        undo.step(
            "taking the member out of the configuration",
            bond.maps.config.publish(bond.cfg).map(drop),
        );
        undo.step(
            format!("detaching {iface}'s ingress program"),
            attach::detach_member(&bond.paths, &bond.state, &bond.state.members[slot]),
        );
        undo.step(
            format!("detaching {iface}'s fast path"),
            detach_member_fast_path(&bond.paths, &mut bond.state.forward, slot, link.index),
        );
        undo.step(
            format!("restoring {iface}"),
            restore_member(&nl, &bond.state.members[slot]).await,
        );
        bond.state.members[slot] = MemberRestore::default();
        undo.step(
            "forgetting its restore record",
            bond.maps.set_state(bond.state),
        );
        return Err(undo.report(e));
    }
    info!(bond = %name, member = %iface, "member added");
    Ok(())
}

/// Removes member `iface` from a running bond and restores it.
pub async fn member_del(name: &str, iface: &str) -> Result<()> {
    preflight::check_privileges()?;
    let nl = Netlink::connect()?;
    let mut bond = OpenBond::open(name)?;
    let slot = bond
        .slot_of(iface)
        .ok_or_else(|| Error::invalid("member", format!("{iface} is not a member of {name}")))?;
    let mut spec = bond.spec();
    if spec.members.len() == 1 {
        return Err(Error::invalid(
            "member",
            format!("{iface} is the last member of {name}; use `bondxdp down {name}`"),
        ));
    }
    if spec.options.primary.as_deref() == Some(iface) {
        warn!(bond = %name, "{iface} was the primary; the bond has no primary now");
        spec.options.primary = None;
    }
    spec.members.retain(|m| m != iface);
    spec.options.prios.retain(|(m, _)| m != iface);
    spec.options.actor_port_prios.retain(|(m, _)| m != iface);
    spec.options.multi_wan.tiers.retain(|(m, _)| m != iface);
    if (spec.options.min_links as usize) > spec.members.len() {
        spec.options.min_links = spec.members.len() as u32;
    }
    // Out of the data plane first, so not one more packet is sent through it.
    let saved = bond.state.members[slot];
    bond.cfg.members[slot] = MemberSlot::default();
    bond.state.members[slot] = MemberRestore::default();
    bond.commit(&spec.options)?;
    attach::detach_member(&bond.paths, &bond.state, &saved)?;
    detach_member_fast_path(&bond.paths, &mut bond.state.forward, slot, saved.ifindex)?;
    bond.maps.set_state(bond.state)?;
    addresses::clear(&nl, bond.state.bond_ifindex, saved.ifindex).await?;
    restore_member(&nl, &saved).await?;
    // fail_over_mac: the active member the removal left gets the MACs the policy wants.
    bond.settle_macs(&nl).await?;
    info!(bond = %name, member = %iface, "member removed");
    Ok(())
}

/// What to remember about a member before enslaving it.
pub(super) fn restore_record(m: &Link) -> MemberRestore {
    MemberRestore {
        ifindex: m.index,
        mtu: m.mtu,
        name: name_bytes(&m.name),
        mac: m.mac.unwrap_or_default(),
        was_up: m.up as u8,
        was_promisc: m.promisc as u8,
        was_allmulti: m.allmulti as u8,
        ipv6_disabled: netdev::ipv6_disabled(&m.name).map_or(0xff, |d| d as u8),
        flags: 0,
        pad: 0,
    }
}

/// The record of an uplink that bondxdp never changes (multi-wan): nothing to restore.
pub(super) fn untouched_record(m: &Link) -> MemberRestore {
    MemberRestore {
        flags: RESTORE_UNTOUCHED,
        ..restore_record(m)
    }
}

/// Puts a member back as it was found (if it still exists under the same name).
pub(super) async fn restore_member(nl: &Netlink, saved: &MemberRestore) -> Result<()> {
    if saved.flags & RESTORE_UNTOUCHED != 0 {
        return Ok(());
    }
    let name = name_string(&saved.name);
    let Some(link) = nl
        .link_by_index(saved.ifindex)
        .await?
        .filter(|l| l.name == name)
    else {
        debug!(member = %name, "gone; nothing to restore");
        return Ok(());
    };
    if link.mac != Some(saved.mac) {
        nl.set_up(link.index, false).await?;
        nl.set_mac(link.index, saved.mac).await?;
    }
    if saved.mtu != 0 && link.mtu != saved.mtu {
        nl.set_mtu(link.index, saved.mtu).await?;
    }
    if link.promisc != (saved.was_promisc != 0) {
        nl.set_promisc(link.index, saved.was_promisc != 0).await?;
    }
    if link.allmulti != (saved.was_allmulti != 0) {
        nl.set_allmulti(link.index, saved.was_allmulti != 0).await?;
    }
    if saved.ipv6_disabled != 0xff {
        netdev::set_ipv6_disabled(&name, saved.ipv6_disabled != 0)?;
    }
    nl.set_up(link.index, saved.was_up != 0).await?;
    Ok(())
}
