//! Creating and removing bonds.
//!
//! `up` builds the logical interface (a veth pair: the bond, and a peer kept up and unused),
//! loads and pins the data plane, enslaves the members and attaches the programs. `down`
//! undoes all of it. The restore record ([`BondState`]) is pinned before any interface is
//! touched, so a failure or crash at any point leaves something `down` (or the next `up` of
//! the same name) can finish.

use aya::programs::TcAttachType;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bondxdp_common::{
    BondConfig, MAX_MEMBERS, MemberSlot, Mode,
    config::{CFG_ALL_SLAVES_ACTIVE, CFG_KEEP_MEMBER_MACS, LinkState, NAT_STICKY_HOST, NO_SLOT},
    modes::active_backup::choose_active,
    records::{
        BondState, ForwardRecord, MAX_FORWARD, MemberRestore, MwanRecord, RESTORE_UNTOUCHED,
    },
};
use tracing::{debug, info, warn};

use crate::{
    error::{Error, Result},
    fastpath, loader,
    maps::{BondMaps, name_bytes, name_string, names},
    netdev::{self, Link, Netlink},
    options::{
        BondOptions, BondSpec, IpCidr, OPTIONS, OptionSpec, Sticky, forward_names, pinned_options,
        set_option, slot_names, validate_ifname,
    },
    pins::{self, BondLock, BondPaths, NamespaceLock},
    preflight, select_program,
    uplink::{self, Discovery},
};

/// Creates bond `spec.name` and enslaves its members. On failure the host is left as it was.
pub async fn up(spec: &BondSpec) -> Result<()> {
    let mut spec = spec.clone();
    for warning in spec.normalize() {
        warn!(bond = %spec.name, "{warning}");
    }
    spec.validate()?;
    preflight::check_privileges()?;
    // A selection program that does not load is refused before anything changes.
    if let Some(program) = &spec.options.select_program {
        spec.options.select_program = Some(select_program::check(program)?);
    }
    let spec = &spec;
    let nl = Netlink::connect()?;
    let _lock = NamespaceLock::acquire()?;
    let paths = BondPaths::current(&spec.name)?;
    if nl.link_by_name(&spec.name).await?.is_some() {
        return Err(Error::NameTaken(spec.name.clone()));
    }
    if paths.exists() {
        // Pins without an interface: a bond whose `up` or `down` was interrupted.
        warn!(bond = %spec.name, "finishing the teardown of an earlier, interrupted bond");
        if let Err(e) = teardown(&nl, &paths).await {
            warn!("{e}");
        }
    }
    let members = resolve_members(&nl, spec).await?;
    let lans = resolve_forward(&nl, &spec.options.forward_from).await?;
    paths.create()?;
    match build(&nl, spec, &paths, &members, &lans).await {
        Ok(()) => {
            info!(bond = %spec.name, mode = spec.options.mode.name(), "bond is up");
            Ok(())
        }
        Err(e) => {
            if let Err(undo) = teardown(&nl, &paths).await {
                warn!("while undoing: {undo}");
            }
            Err(e)
        }
    }
}

/// Removes bond `name`: detaches the programs, restores the members, deletes the interface
/// and the pins. Works whether or not the bond was left half-built by a crash.
pub async fn down(name: &str) -> Result<()> {
    validate_ifname("bond name", name)?;
    preflight::check_privileges()?;
    let nl = Netlink::connect()?;
    let paths = BondPaths::current(name)?;
    // Checked before locking too: the lock lives in the namespace's directory, which taking
    // it would create (and leave behind) for a bond that does not exist.
    if !paths.exists() {
        return Err(Error::NotABond(name.to_string()));
    }
    let _lock = NamespaceLock::acquire()?;
    if !paths.exists() {
        return Err(Error::NotABond(name.to_string()));
    }
    teardown(&nl, &paths).await?;
    info!(bond = %name, "bond is down");
    Ok(())
}

/// Looks the members up and refuses any that cannot be enslaved.
async fn resolve_members(nl: &Netlink, spec: &BondSpec) -> Result<Vec<Link>> {
    let owners = member_owners().await?;
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

/// Link aggregation needs every member on one segment behind one peer. Members that carry
/// addresses of different subnets are uplinks to different networks (two ISPs, say): say so
/// instead of building a bond that would break every connection.
async fn refuse_separate_networks(nl: &Netlink, spec: &BondSpec, members: &[Link]) -> Result<()> {
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Member,
    Bond,
    Forward,
}

/// Every interface of this namespace that bondxdp already uses: (ifindex, bond, role).
async fn member_owners() -> Result<Vec<(u32, String, Role)>> {
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
async fn build(
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
    let mut ebpf = loader::load()?;
    loader::pin(&mut ebpf, paths)?;
    let mut maps = BondMaps::from_ebpf(&mut ebpf)?;

    // The journal first: what the members looked like, before anything changes.
    let mut state = BondState {
        name: name_bytes(&spec.name),
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
    state.balance = opts.balance.to_pinned(&slots);
    opts.lacp.write_pinned(&mut state.lacp);
    let peer = peer_name(nl, &spec.name).await?;
    state.peer_name = name_bytes(&peer);
    maps.set_state(state)?;

    // The logical interface.
    nl.create_veth(&spec.name, &peer).await?;
    let bond = nl.require(&spec.name).await?;
    let peer_link = nl.require(&peer).await?;
    state.bond_ifindex = bond.index;
    state.peer_ifindex = peer_link.index;
    maps.set_state(state)?;
    let bond_mac = opts.mac.or(members[0].mac).expect("members have MACs");
    let mtu = members
        .iter()
        .map(|m| m.mtu)
        .min()
        .expect("at least one member");
    nl.set_mac(bond.index, bond_mac).await?;
    nl.set_mtu(bond.index, mtu).await?;
    nl.set_mtu(peer_link.index, mtu).await?;
    // The peer only keeps the bond's carrier up; it must never speak.
    let _ = netdev::set_ipv6_disabled(&peer, true);
    nl.set_arp(peer_link.index, false).await?;

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
    apply_options(&mut cfg, opts, primary, &slots);
    maps.config.publish(cfg)?;

    // Members.
    let mut ingress = loader::pinned_program(paths, loader::programs::MEMBER_INGRESS)?;
    for m in members {
        enslave(nl, m, bond_mac, opts.keep_member_macs).await?;
        loader::attach_and_pin(
            &mut ingress,
            &m.name,
            TcAttachType::Ingress,
            &paths.ingress_link(m.index),
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
        let program = fastpath::lan_program(opts.mode, opts.xmit_hash_policy);
        for l in lans {
            attach_lan_fast_path(paths, &mut state.forward, l, program)?;
        }
        maps.set_state(state)?;
        if !fastpath::ip_forwarding() {
            warn!(
                bond = %spec.name,
                "net.ipv4.ip_forward is 0: the XDP fast path forwards only what the kernel \
                 would, so nothing yet"
            );
        }
    }

    // Transmit path last: the bond starts sending once everything else is in place.
    let program = loader::egress_program(opts.mode, opts.xmit_hash_policy)?;
    let egress = loader::classifier(&mut ebpf, program)?;
    loader::attach_and_pin(
        egress,
        &spec.name,
        TcAttachType::Egress,
        &paths.egress_link(),
    )?;
    nl.set_up(peer_link.index, true).await?;
    nl.set_up(bond.index, true).await?;
    Ok(())
}

/// Looks up the `--forward-from` interfaces and refuses unusable ones.
async fn resolve_forward(nl: &Netlink, names: &[String]) -> Result<Vec<Link>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let owners = member_owners().await?;
    let mut lans = Vec::new();
    for name in names {
        let link = nl.require(name).await?;
        let bad = |reason: String| Error::invalid("forward_from", format!("{name}: {reason}"));
        if link.loopback || !link.ethernet {
            return Err(bad("not an Ethernet interface".into()));
        }
        if let Some((_, bond, role)) = owners.iter().find(|o| o.0 == link.index) {
            return Err(bad(match role {
                Role::Member => format!("a member of bond {bond}"),
                Role::Bond => format!("bondxdp bond {bond} itself"),
                Role::Forward => format!("already a --forward-from interface of {bond}"),
            }));
        }
        lans.push(link);
    }
    Ok(lans)
}

/// Puts member `m` (in `slot`) on the XDP fast path: a devmap port and `xdp_member`.
fn attach_member_fast_path(
    paths: &BondPaths,
    record: &mut ForwardRecord,
    slot: usize,
    ifindex: u32,
    name: &str,
) -> Result<()> {
    fastpath::add_member_port(paths, slot, ifindex)?;
    let mut program = fastpath::pinned(paths, fastpath::XDP_MEMBER)?;
    let generic = fastpath::attach(&mut program, name, ifindex, &paths.xdp_link(ifindex))?;
    let bit = 1 << (16 + slot);
    record.generic = if generic {
        record.generic | bit
    } else {
        record.generic & !bit
    };
    Ok(())
}

/// Takes member `ifindex` (in `slot`) off the fast path.
fn detach_member_fast_path(
    paths: &BondPaths,
    record: &mut ForwardRecord,
    slot: usize,
    ifindex: u32,
) -> Result<()> {
    loader::unpin_link(&paths.xdp_link(ifindex))?;
    fastpath::remove_member_port(paths, slot, ifindex)?;
    record.generic &= !(1 << (16 + slot));
    Ok(())
}

/// Attaches the LAN-side XDP program `program` (the mode's) to interface `l` and records it.
fn attach_lan_fast_path(
    paths: &BondPaths,
    record: &mut ForwardRecord,
    l: &Link,
    program: &str,
) -> Result<()> {
    let i = record
        .ifindex
        .iter()
        .position(|&x| x == 0)
        .ok_or_else(|| Error::invalid("forward_from", format!("at most {MAX_FORWARD}")))?;
    fastpath::add_lan_port(paths, l.index)?;
    let mut program = fastpath::pinned(paths, program)?;
    let generic = fastpath::attach(&mut program, &l.name, l.index, &paths.xdp_link(l.index))?;
    record.ifindex[i] = l.index;
    record.names[i] = name_bytes(&l.name);
    if generic {
        record.generic |= 1 << i;
    }
    Ok(())
}

/// Takes LAN-side interface `i` of the record off the fast path.
fn detach_lan_fast_path(paths: &BondPaths, record: &mut ForwardRecord, i: usize) -> Result<()> {
    let ifindex = record.ifindex[i];
    loader::unpin_link(&paths.xdp_link(ifindex))?;
    fastpath::remove_lan_port(paths, ifindex)?;
    record.ifindex[i] = 0;
    record.names[i] = [0; 16];
    record.generic &= !(1 << i);
    Ok(())
}

/// Placeholder next hop of the routes through a multi-wan bond (ARP is off on it, so no
/// one is ever asked for this address; one next hop keeps the neighbour table at one entry
/// however many destinations there are).
const MWAN_NEXT_HOP4: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 9);
/// The same for IPv6.
const MWAN_NEXT_HOP6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// How long `up` waits for the uplinks' gateways to resolve before going ahead without
/// them (the controller keeps trying; an uplink takes flows once its gateway resolves).
const RESOLVE_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// Reads every uplink, with the configured gateways of `record`, by slot.
pub(crate) async fn discover_uplinks(
    nl: &Netlink,
    links: &[(usize, Link)],
    record: &MwanRecord,
) -> Result<Vec<(usize, Discovery)>> {
    let mut out = Vec::new();
    for (slot, link) in links {
        let gw4 =
            (record.gateways4[*slot] != [0; 4]).then(|| Ipv4Addr::from(record.gateways4[*slot]));
        let gw6 =
            (record.gateways6[*slot] != [0; 16]).then(|| Ipv6Addr::from(record.gateways6[*slot]));
        out.push((*slot, uplink::discover(nl, link, gw4, gw6).await?));
    }
    Ok(out)
}

/// `up` for multi-wan: the uplinks are read, never changed; the bond gets its own address,
/// no ARP, and (unless told otherwise) the routes that make it the way out.
async fn build_multi_wan(
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
        if let Some(why) = uplink::overlaps(cidr, &uplinks) {
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
            uplink::nudge_resolution(d, link.index);
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
        ..Default::default()
    };
    for (slot, m) in members.iter().enumerate() {
        state.members[slot] = untouched_record(m);
    }
    state.monitor = opts.monitor.to_pinned();
    state.balance = opts.balance.to_pinned(&slots);
    let peer = peer_name(nl, &spec.name).await?;
    state.peer_name = name_bytes(&peer);
    maps.set_state(state)?;

    nl.create_veth(&spec.name, &peer).await?;
    let bond = nl.require(&spec.name).await?;
    let peer_link = nl.require(&peer).await?;
    state.bond_ifindex = bond.index;
    state.peer_ifindex = peer_link.index;
    maps.set_state(state)?;
    // Translated packets must fit every uplink as they are: the smallest MTU.
    let mtu = members.iter().map(|m| m.mtu).min().expect("members");
    nl.set_mtu(bond.index, mtu).await?;
    nl.set_mtu(peer_link.index, mtu).await?;
    let _ = netdev::set_ipv6_disabled(&peer, true);
    nl.set_arp(peer_link.index, false).await?;
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

    let mut ingress = loader::pinned_program(paths, loader::programs::MULTI_WAN_INGRESS)?;
    for m in members {
        loader::attach_and_pin(
            &mut ingress,
            &m.name,
            TcAttachType::Ingress,
            &paths.ingress_link(m.index),
        )?;
    }
    let egress = loader::classifier(&mut ebpf, loader::programs::MULTI_WAN_EGRESS_PROGRAM)?;
    loader::attach_and_pin(
        egress,
        &spec.name,
        TcAttachType::Egress,
        &paths.egress_link(),
    )?;
    nl.set_up(peer_link.index, true).await?;
    nl.set_up(bond.index, true).await?;
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

/// Prepares one member: the bond's MAC (unless members keep theirs), no IPv6 of its own,
/// multicast (and with kept MACs, all unicast) delivered to the bond. Leaves it down.
async fn enslave(nl: &Netlink, m: &Link, bond_mac: [u8; 6], keep_mac: bool) -> Result<()> {
    nl.set_up(m.index, false).await?;
    if !keep_mac {
        nl.set_mac(m.index, bond_mac).await?;
    } else {
        nl.set_promisc(m.index, true).await?;
    }
    nl.set_allmulti(m.index, true).await?;
    if netdev::ipv6_disabled(&m.name).is_some() {
        netdev::set_ipv6_disabled(&m.name, true)?;
    }
    Ok(())
}

/// Writes the data-plane side of `opts` into `cfg`, chooses the active member and derives the
/// transmit list (and weighted tables). `primary` is the primary's slot or [`NO_SLOT`];
/// `slots` names the member in each slot (for per-member options).
pub(crate) fn apply_options(
    cfg: &mut BondConfig,
    opts: &BondOptions,
    primary: u32,
    slots: &[Option<String>],
) {
    cfg.mode = opts.mode as u32;
    cfg.flowlet_ns = opts.balance.flowlet_timeout as u64 * 1_000_000;
    // A configured weight wins; the others keep what the controller last set (1 at first).
    for slot in 0..MAX_MEMBERS {
        let manual = slots
            .get(slot)
            .and_then(|n| n.as_ref())
            .and_then(|n| opts.balance.weights.iter().find(|(m, _)| m == n))
            .map(|(_, w)| (*w).clamp(1, u16::MAX as u32) as u16);
        cfg.weights[slot] = match (cfg.members[slot].is_used(), manual) {
            (false, _) => 0,
            (true, Some(w)) => w,
            (true, None) => cfg.weights[slot].max(1),
        };
    }
    let w = &opts.multi_wan;
    cfg.nat_port_min = w.nat_ports.0;
    cfg.nat_port_max = w.nat_ports.1;
    cfg.nat_flags = if w.sticky == Sticky::Host {
        NAT_STICKY_HOST
    } else {
        0
    };
    cfg.hash_policy = opts.xmit_hash_policy as u32;
    cfg.packets_per_slave = opts.packets_per_slave;
    cfg.min_links = opts.min_links;
    cfg.flags &= !(CFG_KEEP_MEMBER_MACS | CFG_ALL_SLAVES_ACTIVE);
    if opts.keep_member_macs {
        cfg.flags |= CFG_KEEP_MEMBER_MACS;
    }
    if opts.all_slaves_active {
        cfg.flags |= CFG_ALL_SLAVES_ACTIVE;
    }
    cfg.active_slot = choose_active(
        cfg,
        cfg.active_slot,
        primary,
        opts.monitor.primary_reselect,
        |slot| member_speed(cfg, slot),
    );
    cfg.recompute();
}

/// Link speed of the member in `slot` (Mb/s, 0 if unknown), for `primary_reselect=better`.
fn member_speed(cfg: &BondConfig, slot: u32) -> u32 {
    cfg.members
        .get(slot as usize)
        .filter(|m| m.is_used())
        .and_then(|m| netdev::link_speed_by_index(m.ifindex))
        .unwrap_or(0)
}

/// Member names of a bond in slot order.
pub fn pinned_members(state: &BondState) -> Vec<String> {
    state
        .members
        .iter()
        .filter(|m| m.ifindex != 0)
        .map(|m| name_string(&m.name))
        .collect()
}

/// An open bond with its lock held: what `set` and `member` work on.
struct OpenBond {
    paths: BondPaths,
    maps: BondMaps,
    state: BondState,
    cfg: BondConfig,
    /// Load the selection program again even if its name did not change (the user named it
    /// in `set`: the file was rebuilt).
    reload_select_program: bool,
    /// `--forward-from` interfaces to add in the next commit, resolved and checked.
    new_lans: Vec<Link>,
    _lock: BondLock,
}

impl OpenBond {
    fn open(name: &str) -> Result<OpenBond> {
        validate_ifname("bond name", name)?;
        let paths = BondPaths::current(name)?;
        if !paths.exists() {
            return Err(Error::NotABond(name.to_string()));
        }
        let lock = BondLock::acquire(&paths)?;
        let maps = BondMaps::open(&paths)?;
        let bad = || Error::BadPinnedState(paths.dir().to_path_buf());
        let state = maps.state()?.ok_or_else(bad)?;
        let cfg = maps.config.current()?.ok_or_else(bad)?;
        Ok(OpenBond {
            paths,
            maps,
            state,
            cfg,
            reload_select_program: false,
            new_lans: Vec::new(),
            _lock: lock,
        })
    }

    fn spec(&self) -> BondSpec {
        BondSpec {
            name: self.paths.name(),
            members: pinned_members(&self.state),
            options: pinned_options(&self.cfg, &self.state),
        }
    }

    fn slot_of(&self, member: &str) -> Option<usize> {
        self.state
            .members
            .iter()
            .position(|m| m.ifindex != 0 && name_string(&m.name) == member)
    }

    fn primary_slot(&self, opts: &BondOptions) -> u32 {
        opts.primary
            .as_deref()
            .and_then(|p| self.slot_of(p))
            .map_or(NO_SLOT, |s| s as u32)
    }

    /// Pins the state, publishes the configuration derived from `opts`, and if the mode or
    /// hash policy changed, swaps the egress program (after the configuration, so the new
    /// program starts on a configuration made for it).
    fn commit(&mut self, opts: &BondOptions) -> Result<()> {
        let before = self.egress_program();
        let after = loader::egress_program(opts.mode, opts.xmit_hash_policy)?;
        let lan_before = self.lan_program();
        let lan_after = fastpath::lan_program(opts.mode, opts.xmit_hash_policy);
        let has_lans = self.state.forward.ifindex.iter().any(|&i| i != 0);
        if lan_before != lan_after && has_lans && !self.paths.program(lan_after).exists() {
            // Bonds brought up by a bondxdp before per-mode XDP programs have none pinned.
            return Err(Error::invalid(
                "mode",
                format!(
                    "{lan_after} is not pinned for this bond (brought up by an older \
                     bondxdp?); `down` and `up` it to change its mode"
                ),
            ));
        }
        let was_multi = self.cfg.mode().is_some_and(Mode::is_multi_uplink);
        if was_multi != opts.mode.is_multi_uplink() {
            return Err(Error::invalid(
                "mode",
                "a bond cannot switch between multi-wan and link aggregation; recreate it \
                 (down, up)",
            ));
        }
        let primary = self.primary_slot(opts);
        self.state.primary_slot = primary;
        self.state.monitor = opts.monitor.to_pinned();
        let slots = slot_names(&self.state);
        self.state.mwan = opts.multi_wan.to_pinned(&slots);
        self.state.balance = opts.balance.to_pinned(&slots);
        opts.lacp.write_pinned(&mut self.state.lacp);
        // A new selection program goes in before the custom mode can run without one.
        let recorded = Some(name_string(&self.state.custom.program)).filter(|p| !p.is_empty());
        if let Some(program) = &opts.select_program
            && (recorded.as_ref() != Some(program) || self.reload_select_program)
        {
            self.state.custom.program = name_bytes(&select_program::install(&self.paths, program)?);
            info!(bond = %self.paths.name(), program = %program, "selection program swapped in");
        }
        if opts.select_program.is_none() {
            self.state.custom = Default::default();
        }
        self.maps.set_state(self.state)?;
        apply_options(&mut self.cfg, opts, primary, &slots);
        self.maps.config.publish(self.cfg)?;
        if before != Some(after) {
            loader::swap_egress(&self.paths, after)?;
            debug!(bond = %self.paths.name(), program = after, "egress program swapped");
        }
        if lan_before != lan_after {
            for &ifindex in self.state.forward.ifindex.iter().filter(|&&i| i != 0) {
                fastpath::swap(&self.paths, ifindex, lan_after)?;
            }
            debug!(bond = %self.paths.name(), program = lan_after, "LAN-side XDP program swapped");
        }
        // ... and leaves only once the custom mode no longer runs.
        if opts.select_program.is_none() && recorded.is_some() {
            select_program::uninstall(&self.paths)?;
        }
        self.sync_fast_path(&opts.forward_from)?;
        Ok(())
    }

    /// Brings the XDP fast path to `wanted` LAN-side interfaces: members get `xdp_member`
    /// while there is at least one; removed interfaces are detached, [`Self::new_lans`]
    /// attached.
    fn sync_fast_path(&mut self, wanted: &[String]) -> Result<()> {
        let program = self.lan_program();
        let had = forward_names(&self.state.forward);
        let record = &mut self.state.forward;
        for i in 0..MAX_FORWARD {
            if record.ifindex[i] != 0 && !wanted.contains(&name_string(&record.names[i])) {
                detach_lan_fast_path(&self.paths, record, i)?;
            }
        }
        let members: Vec<(usize, u32, String)> = self
            .state
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.ifindex != 0)
            .map(|(slot, m)| (slot, m.ifindex, name_string(&m.name)))
            .collect();
        let record = &mut self.state.forward;
        if had.is_empty() && !wanted.is_empty() {
            for (slot, ifindex, name) in &members {
                attach_member_fast_path(&self.paths, record, *slot, *ifindex, name)?;
            }
        }
        for l in std::mem::take(&mut self.new_lans) {
            attach_lan_fast_path(&self.paths, record, &l, program)?;
        }
        if !had.is_empty() && wanted.is_empty() {
            for (slot, ifindex, _) in &members {
                detach_member_fast_path(&self.paths, record, *slot, *ifindex)?;
            }
        }
        self.maps.set_state(self.state)?;
        Ok(())
    }

    /// The LAN-side XDP program the current configuration runs with.
    fn lan_program(&self) -> &'static str {
        match (self.cfg.mode(), self.cfg.hash_policy()) {
            (Some(mode), Some(policy)) => fastpath::lan_program(mode, policy),
            _ => fastpath::XDP_LAN_PASS,
        }
    }

    /// The egress program the current configuration runs with.
    fn egress_program(&self) -> Option<&'static str> {
        loader::programs::program_for(self.cfg.mode()?, self.cfg.hash_policy()?)
    }
}

/// Changes options of a running bond (`KEY=VALUE`, kernel names) without recreating it:
/// traffic keeps flowing; the data plane switches to the new configuration atomically.
/// Returns warnings (rounded delays).
pub async fn set(name: &str, assignments: &[(String, String)]) -> Result<Vec<String>> {
    preflight::check_privileges()?;
    let mut bond = OpenBond::open(name)?;
    let mut options = bond.spec().options;
    for (key, value) in assignments {
        set_option(&mut options, key, value)?;
    }
    let mut warnings = Vec::new();
    if let Some((_, program)) = assignments
        .iter()
        .rfind(|(k, _)| k.replace('-', "_") == "select_program")
        && !program.trim().is_empty()
    {
        // Its path made absolute; `commit` loads it before anything changes.
        options.select_program = Some(select_program::canonical(program.trim())?);
        bond.reload_select_program = true;
    }
    let program_given = assignments
        .iter()
        .any(|(k, _)| k.replace('-', "_") == "select_program");
    if options.mode != Mode::Custom
        && !program_given
        && let Some(program) = options.select_program.take()
    {
        warnings.push(format!(
            "selection program {program} unloaded: {} does not use one",
            options.mode.name()
        ));
    }
    // Leaving active-backup drops a primary the user did not set in the same breath, rather
    // than refusing the mode change because of an option the new mode ignores.
    let primary_given = assignments.iter().any(|(k, _)| k == "primary");
    if !options.mode.uses_active()
        && !primary_given
        && let Some(primary) = options.primary.take()
    {
        warnings.push(format!(
            "primary {primary} cleared: {} has no active member",
            options.mode.name()
        ));
    }
    warnings.extend(change_options(&mut bond, options).await?);
    info!(bond = %name, "options changed");
    Ok(warnings)
}

/// Validates and commits new options for an open bond.
async fn change_options(bond: &mut OpenBond, options: BondOptions) -> Result<Vec<String>> {
    let current = forward_names(&bond.state.forward);
    let added: Vec<String> = options
        .forward_from
        .iter()
        .filter(|f| !current.contains(f))
        .cloned()
        .collect();
    if !added.is_empty() {
        let nl = Netlink::connect()?;
        bond.new_lans = resolve_forward(&nl, &added).await?;
    }
    let mut spec = bond.spec();
    let before = &spec.options;
    // Options the option table marks as not live (the bond's MACs) need a new bond; one left
    // unset (a config file without `mac`) keeps what the bond has.
    let fixed = || OPTIONS.iter().filter(|o| !o.live);
    let changed = |o: &OptionSpec| {
        let new = (o.get)(&options);
        !new.is_empty() && new != (o.get)(before)
    };
    if fixed().any(changed) {
        let names: Vec<&str> = fixed().map(|o| o.name).collect();
        return Err(Error::invalid(
            "option",
            format!(
                "{} cannot change on a running bond; recreate it (down, up)",
                names.join(" and ")
            ),
        ));
    }
    spec.options = BondOptions {
        mac: before.mac,
        ..options
    };
    let warnings = spec.normalize();
    spec.validate()?;
    if spec.options != bond.spec().options {
        bond.commit(&spec.options)?;
    }
    Ok(warnings)
}

/// Brings a running bond to `spec`: members added and removed, options changed.
pub async fn reconfigure(spec: &BondSpec) -> Result<()> {
    let current = OpenBond::open(&spec.name)?.spec();
    for member in spec.members.iter().filter(|m| !current.members.contains(m)) {
        member_add(&spec.name, member).await?;
    }
    for member in current.members.iter().filter(|m| !spec.members.contains(m)) {
        member_del(&spec.name, member).await?;
    }
    let mut bond = OpenBond::open(&spec.name)?;
    for warning in change_options(&mut bond, spec.options.clone()).await? {
        warn!(bond = %spec.name, "{warning}");
    }
    Ok(())
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
    let link = resolve_members(&nl, &probe).await?.remove(0);
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
    let result: Result<()> = async {
        enslave(&nl, &link, bond.cfg.bond_mac, keep).await?;
        let mut ingress = loader::pinned_program(&bond.paths, loader::programs::MEMBER_INGRESS)?;
        loader::attach_and_pin(
            &mut ingress,
            iface,
            TcAttachType::Ingress,
            &bond.paths.ingress_link(link.index),
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
        bond.commit(&spec.options)
    }
    .await;
    if let Err(e) = result {
        bond.cfg.members[slot] = MemberSlot::default();
        let _ = bond.maps.config.publish(bond.cfg);
        let _ = loader::unpin_link(&bond.paths.ingress_link(link.index));
        let _ = detach_member_fast_path(&bond.paths, &mut bond.state.forward, slot, link.index);
        let _ = restore_member(&nl, &bond.state.members[slot]).await;
        bond.state.members[slot] = MemberRestore::default();
        let _ = bond.maps.set_state(bond.state);
        return Err(e);
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
    if (spec.options.min_links as usize) > spec.members.len() {
        spec.options.min_links = spec.members.len() as u32;
    }
    // Out of the data plane first, so not one more packet is sent through it.
    let saved = bond.state.members[slot];
    bond.cfg.members[slot] = MemberSlot::default();
    bond.state.members[slot] = MemberRestore::default();
    bond.commit(&spec.options)?;
    loader::unpin_link(&bond.paths.ingress_link(saved.ifindex))?;
    detach_member_fast_path(&bond.paths, &mut bond.state.forward, slot, saved.ifindex)?;
    bond.maps.set_state(bond.state)?;
    restore_member(&nl, &saved).await?;
    info!(bond = %name, member = %iface, "member removed");
    Ok(())
}

/// What to remember about a member before enslaving it.
fn restore_record(m: &Link) -> MemberRestore {
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
fn untouched_record(m: &Link) -> MemberRestore {
    MemberRestore {
        flags: RESTORE_UNTOUCHED,
        ..restore_record(m)
    }
}

/// Undoes whatever exists of a bond, best effort: every step is tried, failures collected.
async fn teardown(nl: &Netlink, paths: &BondPaths) -> Result<()> {
    let mut errors = Vec::new();
    for link in paths.links() {
        if let Err(e) = loader::unpin_link(&link) {
            errors.push(format!("detaching {}: {e}", link.display()));
        }
    }
    let state = if paths.map(names::BOND_STATE).exists() {
        BondMaps::open(paths).and_then(|maps| maps.state())
    } else {
        Ok(None) // interrupted before anything was touched
    };
    match state {
        Ok(Some(state)) => {
            for m in state.members.iter().filter(|m| m.ifindex != 0) {
                if let Err(e) = restore_member(nl, m).await {
                    errors.push(format!("restoring {}: {e}", name_string(&m.name)));
                }
            }
            if let Err(e) = delete_bond_interface(nl, &state).await {
                errors.push(format!("deleting {}: {e}", name_string(&state.name)));
            }
        }
        Ok(None) => {}
        Err(e) => errors.push(format!("reading the pinned state: {e}")),
    }
    if let Err(e) = paths.remove() {
        errors.push(e.to_string());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Teardown {
            bond: paths.name(),
            errors,
        })
    }
}

/// Puts a member back as it was found (if it still exists under the same name).
async fn restore_member(nl: &Netlink, saved: &MemberRestore) -> Result<()> {
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

/// Deletes the bond's veth pair (only if the interface is still the one bondxdp created).
async fn delete_bond_interface(nl: &Netlink, state: &BondState) -> Result<()> {
    let name = name_string(&state.name);
    let link = match nl.link_by_index(state.bond_ifindex).await? {
        Some(l) if l.name == name => Some(l),
        _ => None,
    };
    if let Some(link) = link {
        nl.delete(link.index).await?;
        return Ok(());
    }
    // Created but its index never recorded (crash in between): find the pair by the peer.
    let peer = name_string(&state.peer_name);
    if !peer.is_empty()
        && let Some(p) = nl.link_by_name(&peer).await?
        && p.kind.as_deref() == Some("veth")
    {
        nl.delete(p.index).await?;
    }
    Ok(())
}
