//! Taking a bond apart, whatever exists of it: after `down`, a failed `up`, or a crash.

use super::*;

/// Undoes whatever exists of a bond, best effort: every step is tried, failures collected.
pub(super) async fn teardown(nl: &Netlink, paths: &BondPaths) -> Result<()> {
    let mut undo = Undo::default();
    for link in paths.links() {
        undo.step(
            format_args!("detaching {}", link.display()),
            loader::unpin_link(&link),
        );
    }
    let state = if paths.map(names::BOND_STATE).exists() {
        BondMaps::open(paths).and_then(|maps| maps.state())
    } else {
        Ok(None) // interrupted before anything was touched
    };
    match state {
        Ok(Some(state)) => {
            // Legacy attach: bondxdp's filters (and the clsact qdiscs it added) go first;
            // tcx links went with their pins above.
            undo.step(
                format_args!("detaching {}'s egress filter", name_string(&state.name)),
                attach::detach_egress(&state),
            );
            for m in state.members.iter().filter(|m| m.ifindex != 0) {
                undo.step(
                    format_args!("detaching {}'s ingress program", name_string(&m.name)),
                    attach::detach_member(paths, &state, m),
                );
            }
            for m in state.members.iter().filter(|m| m.ifindex != 0) {
                undo.step(
                    format_args!("clearing {}'s stacked addresses", name_string(&m.name)),
                    addresses::clear(nl, state.bond_ifindex, m.ifindex).await,
                );
                undo.step(
                    format_args!("restoring {}", name_string(&m.name)),
                    restore_member(nl, m).await,
                );
            }
            undo.step(
                format_args!("deleting {}", name_string(&state.name)),
                delete_bond_interface(nl, &state).await,
            );
        }
        Ok(None) => {}
        Err(e) => undo.step("reading the pinned state", Err(e)),
    }
    undo.step("removing the pins", paths.remove());
    if undo.is_clean() {
        Ok(())
    } else {
        Err(Error::Teardown {
            bond: paths.name(),
            errors: undo.into_failures(),
        })
    }
}

/// Deletes the bond's veth pair (only if the interface is still the one bondxdp created).
pub(super) async fn delete_bond_interface(nl: &Netlink, state: &BondState) -> Result<()> {
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
