//! The XDP fast path of a bond (`--forward-from`): its LAN-side interfaces checked, and its
//! programs attached to and detached from members and LAN-side interfaces.

use super::*;

/// Looks up the `--forward-from` interfaces and refuses unusable ones.
pub(super) async fn resolve_forward(nl: &Netlink, names: &[String]) -> Result<Vec<Link>> {
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
pub(super) fn attach_member_fast_path(
    paths: &BondPaths,
    record: &mut ForwardRecord,
    slot: usize,
    ifindex: u32,
    name: &str,
) -> Result<()> {
    crate::fast_path::add_member_port(paths, slot, ifindex)?;
    let mut program = crate::fast_path::pinned(paths, crate::fast_path::XDP_MEMBER)?;
    let generic = crate::fast_path::attach(&mut program, name, ifindex, &paths.xdp_link(ifindex))?;
    let bit = 1 << (16 + slot);
    record.generic = if generic {
        record.generic | bit
    } else {
        record.generic & !bit
    };
    Ok(())
}

/// Takes member `ifindex` (in `slot`) off the fast path.
pub(super) fn detach_member_fast_path(
    paths: &BondPaths,
    record: &mut ForwardRecord,
    slot: usize,
    ifindex: u32,
) -> Result<()> {
    loader::unpin_link(&paths.xdp_link(ifindex))?;
    crate::fast_path::remove_member_port(paths, slot, ifindex)?;
    record.generic &= !(1 << (16 + slot));
    Ok(())
}

/// Attaches the LAN-side XDP program `program` (the mode's) to interface `l` and records it.
pub(super) fn attach_lan_fast_path(
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
    crate::fast_path::add_lan_port(paths, l.index)?;
    let mut program = crate::fast_path::pinned(paths, program)?;
    let generic =
        crate::fast_path::attach(&mut program, &l.name, l.index, &paths.xdp_link(l.index))?;
    record.ifindex[i] = l.index;
    record.names[i] = name_bytes(&l.name);
    if generic {
        record.generic |= 1 << i;
    }
    Ok(())
}

/// Takes LAN-side interface `i` of the record off the fast path.
pub(super) fn detach_lan_fast_path(
    paths: &BondPaths,
    record: &mut ForwardRecord,
    i: usize,
) -> Result<()> {
    let ifindex = record.ifindex[i];
    loader::unpin_link(&paths.xdp_link(ifindex))?;
    crate::fast_path::remove_lan_port(paths, ifindex)?;
    record.ifindex[i] = 0;
    record.names[i] = [0; 16];
    record.generic &= !(1 << i);
    Ok(())
}
