//! Creating a link-aggregation bond: the journal first, then the interface, the data
//! plane's configuration, the members, and the transmit path last.

use super::*;
use crate::options::FailOverMac;

/// The name of the bond's hidden veth peer: `bxp` and a hash of the bond name, avoiding
/// names already in use.
async fn peer_name(nl: &Netlink, bond: &str) -> Result<String> {
    for salt in 0u32..64 {
        let mut h: u32 = 0x811c_9dc5 ^ salt;
        for b in bond.bytes() {
            h = (h ^ b as u32).wrapping_mul(0x0100_0193);
        }
        let name = format!("bxp{h:08x}");
        if nl.link_by_name(&name).await?.is_none() {
            return Ok(name);
        }
    }
    Err(Error::NameTaken(format!("bxp* (peer of {bond})")))
}

/// The steps of `up` after validation; any error is undone by the caller.
pub(super) async fn build(
    nl: &Netlink,
    spec: &BondSpec,
    paths: &BondPaths,
    members: &[Link],
    lans: &[Link],
) -> Result<()> {
    if spec.options.mode.is_multi_uplink() {
        return build_multi_wan(nl, spec, paths, members).await;
    }
    let opts = &spec.options;
    let tlb = matches!(opts.mode, Mode::BalanceTlb | Mode::BalanceAlb);
    if tlb
        && let Some(mac) = opts.mac
        && let Some(m) = members.iter().find(|m| m.mac == Some(mac))
    {
        // The bond's MAC moves between members that keep their own: it must be none of them.
        return Err(Error::invalid(
            "mac",
            format!(
                "{} is {}'s MAC; in {} the bond's MAC must differ from every member's",
                crate::mac::format_mac(&mac),
                m.name,
                opts.mode.name()
            ),
        ));
    }
    if opts.mode == Mode::ActiveBackup
        && opts.fail_over_mac == FailOverMac::Active
        && let Some(mac) = opts.mac
    {
        return Err(Error::invalid(
            "mac",
            format!(
                "{} cannot be the bond's MAC with fail_over_mac active: the bond takes its \
                 active member's MAC",
                crate::mac::format_mac(&mac)
            ),
        ));
    }
    let mut ebpf = loader::load()?;
    loader::pin(&mut ebpf, paths)?;
    crate::tables::fit(paths, opts.mode)?;
    let mut maps = BondMaps::from_ebpf(&mut ebpf)?;

    // The journal first: what the members looked like, before anything changes.
    let mut state = BondState {
        name: name_bytes(&spec.name),
        tc_attach: opts.tc_attach.to_pinned(),
        ..Default::default()
    };
    for (slot, m) in members.iter().enumerate() {
        state.members[slot] = restore_record(m);
    }
    let primary = opts
        .primary
        .as_ref()
        .and_then(|p| spec.members.iter().position(|m| m == p))
        .map_or(NO_SLOT, |s| s as u32);
    state.primary_slot = primary;
    state.monitor = opts.monitor.to_pinned();
    let slots: Vec<Option<String>> = spec.members.iter().cloned().map(Some).collect();
    state.monitor.prio = crate::options::prio_slots(&opts.prios, &slots);
    state.balance = opts.balance.to_pinned(&slots);
    opts.lacp.write_pinned(&mut state.lacp);
    crate::options::write_actor_port_prios(&opts.actor_port_prios, &slots, &mut state.lacp);
    let fail_over_mac = if opts.mode == Mode::ActiveBackup {
        opts.fail_over_mac
    } else {
        FailOverMac::None
    };
    state.fail_over_mac = opts.fail_over_mac.to_pinned();
    // The logical interface.
    let (bond, peer_link) =
        create_interface(nl, &spec.name, members, &mut state, &mut maps).await?;
    // balance-tlb/alb: members keep their MACs and the bond's moves between them, so it is
    // its own (the interface's random one), not the first member's as in the other modes.
    let default_mac = if tlb { bond.mac } else { members[0].mac };
    let bond_mac = opts.mac.or(default_mac).expect("interfaces have MACs");
    nl.set_mac(bond.index, bond_mac).await?;

    // The data plane's configuration, before any program is attached.
    let mut cfg = BondConfig {
        bond_ifindex: bond.index,
        bond_mac,
        ..Default::default()
    };
    for (slot, m) in members.iter().enumerate() {
        cfg.members[slot] = MemberSlot {
            ifindex: m.index,
            mac: if opts.keep_member_macs {
                m.mac.expect("checked")
            } else {
                bond_mac
            },
            // Assumed up until the controller says otherwise (kernel: miimon=0).
            link: LinkState::Up as u8,
            flags: 0,
        };
    }
    // `active_slave` at creation: that member starts as the active one.
    if let Some(slot) = opts
        .active_slave
        .as_ref()
        .and_then(|a| spec.members.iter().position(|m| m == a))
    {
        cfg.active_slot = slot as u32;
    }
    apply_options(&mut cfg, opts, primary, &slots);
    // fail_over_mac: the bond's MAC, or the active member's, as the policy says.
    crate::fail_over_mac::settle(nl, fail_over_mac, &state, &mut cfg).await?;
    maps.config.publish(cfg)?;

    // Members.
    let member_macs = MemberMacs::of(opts);
    for (slot, m) in members.iter().enumerate() {
        enslave(nl, m, bond_mac, member_macs).await?;
        attach::attach_member(
            paths,
            &mut maps,
            &mut state,
            slot,
            loader::programs::MEMBER_INGRESS,
        )?;
        nl.set_up(m.index, true).await?;
        debug!(member = %m.name, "enslaved");
    }

    if let Some(program) = &opts.select_program {
        state.custom.program = name_bytes(&select_program::install(paths, program)?);
        maps.set_state(state)?;
    }
    if !lans.is_empty() {
        for (slot, m) in members.iter().enumerate() {
            attach_member_fast_path(paths, &mut state.forward, slot, m.index, &m.name)?;
        }
        let program = crate::fast_path::lan_program(opts.mode, opts.xmit_hash_policy);
        for l in lans {
            attach_lan_fast_path(paths, &mut state.forward, l, program)?;
        }
        maps.set_state(state)?;
        if !crate::fast_path::ip_forwarding() {
            warn!(
                bond = %spec.name,
                "net.ipv4.ip_forward is 0: the XDP fast path forwards only what the kernel \
                 would, so nothing yet"
            );
        }
    }

    // Transmit path last: the bond starts sending once everything else is in place.
    let program = loader::egress_program(opts.mode, opts.xmit_hash_policy)?;
    go_live(nl, &mut ebpf, program, paths, &state, &bond, &peer_link).await
}

/// The last step of creating any bond: its egress program attached, then the bond (and its
/// peer) up, so it transmits only once everything else is in place.
pub(super) async fn go_live(
    nl: &Netlink,
    ebpf: &mut aya::Ebpf,
    egress_program: &str,
    paths: &BondPaths,
    state: &BondState,
    bond: &Link,
    peer: &Link,
) -> Result<()> {
    let egress = loader::classifier(ebpf, egress_program)?;
    attach::attach_egress(paths, state, egress, egress_program, &bond.name, bond.index)?;
    nl.set_up(peer.index, true).await?;
    nl.set_up(bond.index, true).await?;
    Ok(())
}

/// What a member's MAC becomes in a bond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MemberMacs {
    /// The bond's.
    Bonds,
    /// Its own, and the member accepts every unicast frame (the bond's MAC may arrive on
    /// any member: keep_member_macs, balance-tlb/alb).
    OwnPromiscuous,
    /// Its own, and the bond's MAC is only ever the active member's (fail_over_mac
    /// active/follow): no promiscuous mode, which Wi-Fi cannot do anyway.
    Own,
}

impl MemberMacs {
    /// For a bond with `opts`.
    pub(super) fn of(opts: &BondOptions) -> MemberMacs {
        match (opts.keep_member_macs, opts.mode, opts.fail_over_mac) {
            (false, _, _) => MemberMacs::Bonds,
            (true, Mode::ActiveBackup, f) if f != FailOverMac::None => MemberMacs::Own,
            (true, _, _) => MemberMacs::OwnPromiscuous,
        }
    }
}

/// Prepares one member: the bond's MAC (unless members keep theirs), no IPv6 of its own,
/// multicast (and with kept MACs where the bond's may arrive anywhere, all unicast)
/// delivered to the bond. Leaves it down.
pub(super) async fn enslave(
    nl: &Netlink,
    m: &Link,
    bond_mac: [u8; 6],
    macs: MemberMacs,
) -> Result<()> {
    nl.set_up(m.index, false).await?;
    match macs {
        MemberMacs::Bonds => nl.set_mac(m.index, bond_mac).await?,
        MemberMacs::OwnPromiscuous => nl.set_promisc(m.index, true).await?,
        MemberMacs::Own => {}
    }
    nl.set_allmulti(m.index, true).await?;
    if netdev::ipv6_disabled(&m.name).is_some() {
        netdev::set_ipv6_disabled(&m.name, true)?;
    }
    Ok(())
}

/// Creates the bond's interface, the same way for every mode: a veth pair (the bond, and a
/// peer that only keeps the bond's carrier up and never speaks) at the members' smallest MTU,
/// recorded in the pinned state before and after it exists.
pub(super) async fn create_interface(
    nl: &Netlink,
    name: &str,
    members: &[Link],
    state: &mut BondState,
    maps: &mut BondMaps,
) -> Result<(Link, Link)> {
    let peer = peer_name(nl, name).await?;
    state.peer_name = name_bytes(&peer);
    maps.set_state(*state)?;
    nl.create_veth(name, &peer).await?;
    let bond = nl.require(name).await?;
    let peer_link = nl.require(&peer).await?;
    state.bond_ifindex = bond.index;
    state.peer_ifindex = peer_link.index;
    maps.set_state(*state)?;
    // Frames must fit every member as they are (multi-wan translates, never fragments).
    let mtu = members
        .iter()
        .map(|m| m.mtu)
        .min()
        .expect("at least one member");
    nl.set_mtu(bond.index, mtu).await?;
    nl.set_mtu(peer_link.index, mtu).await?;
    let _ = netdev::set_ipv6_disabled(&peer, true);
    nl.set_arp(peer_link.index, false).await?;
    Ok((bond, peer_link))
}
