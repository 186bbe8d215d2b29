//! The bond's unicast address list, mirrored onto its members.
//!
//! A macvlan (or anything else that adds a unicast address to the bond's receive filter)
//! stacked on the bond only receives if the members' NICs accept its address: the kernel
//! driver copies the bond's address lists to its slaves for that reason. bondxdp does the
//! same for unicast addresses (multicast needs nothing: members are `allmulti` while in a
//! bond). The controller calls [`sync`] on every tick; `down` and `member del` call
//! [`clear`] before they give a member back.

use std::collections::BTreeSet;

use crate::{error::Result, netdev::Netlink};

/// The addresses on the bond's unicast filter other than its own MAC (none once the bond's
/// interface is gone).
async fn stacked(nl: &Netlink, bond_ifindex: u32) -> Result<BTreeSet<[u8; 6]>> {
    let Some(bond) = nl.link_by_index(bond_ifindex).await? else {
        return Ok(BTreeSet::new());
    };
    Ok(nl
        .unicast_filter(bond_ifindex)
        .await?
        .into_iter()
        .filter(|m| Some(*m) != bond.mac)
        .collect())
}

/// Makes every member's unicast filter carry the bond's stacked addresses: adds the new
/// ones, removes those that left the bond since the last call (`synced` remembers what this
/// controller added). A member that joined later gets the whole list.
pub async fn sync(
    nl: &Netlink,
    bond_ifindex: u32,
    members: &[u32],
    synced: &mut BTreeSet<(u32, [u8; 6])>,
) -> Result<()> {
    let want = stacked(nl, bond_ifindex).await?;
    let mut first_error = None;
    for &member in members {
        for mac in &want {
            if !synced.contains(&(member, *mac)) {
                match nl.add_unicast_filter(member, *mac).await {
                    Ok(()) => {
                        synced.insert((member, *mac));
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
    }
    let stale: Vec<(u32, [u8; 6])> = synced
        .iter()
        .filter(|(member, mac)| !members.contains(member) || !want.contains(mac))
        .copied()
        .collect();
    for (member, mac) in stale {
        // A member that left the bond had its list cleared by `member del`.
        if members.contains(&member)
            && let Err(e) = nl.del_unicast_filter(member, mac).await
        {
            first_error.get_or_insert(e);
        }
        synced.remove(&(member, mac));
    }
    first_error.map_or(Ok(()), Err)
}

/// Removes the bond's stacked addresses from `member`'s unicast filter (those it does not
/// have are skipped).
pub async fn clear(nl: &Netlink, bond_ifindex: u32, member: u32) -> Result<()> {
    let have: BTreeSet<[u8; 6]> = nl.unicast_filter(member).await?.into_iter().collect();
    for mac in stacked(nl, bond_ifindex).await? {
        if have.contains(&mac) {
            nl.del_unicast_filter(member, mac).await?;
        }
    }
    Ok(())
}
