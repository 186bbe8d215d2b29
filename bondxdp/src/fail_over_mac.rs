//! `fail_over_mac` (active-backup): which MAC addresses move when the active member changes.
//!
//! With `none` (the default) every member carries the bond's MAC and nothing moves. Members
//! that cannot take another MAC (Wi-Fi, some USB adapters, NICs a hypervisor filters) need
//! one of the kernel's other two policies:
//!
//! - `active`: members keep their own MACs and the bond takes the active member's, so the
//!   bond's MAC changes on every failover (and the failover's gratuitous ARPs tell peers);
//! - `follow`: the bond's MAC stays; the active member takes it, and the member it replaces
//!   takes the newcomer's former MAC (kernel `bond_do_fail_over_mac`).
//!
//! [`plan`] is the pure rule, also used to repair what a crash in the middle of a swap, or a
//! member re-added with the bond's MAC, left behind: a member other than the active one that
//! has the bond's MAC is given an original MAC no member uses (the kernel gives it a random
//! one). [`settle`] reads the members' MACs, applies the plan and returns what the data
//! plane's configuration must say. `down` restores every member's own MAC, whatever moved.

use bondxdp_common::{BondConfig, MAX_MEMBERS, records::BondState};
use tracing::{info, warn};

use crate::{
    error::Result, mac::format_mac, maps::name_string, netdev::Netlink, options::FailOverMac,
};

/// Per slot: a member's MAC (`None`: no member in that slot).
pub type SlotMacs = [Option<[u8; 6]>; MAX_MEMBERS];

/// What makes a member the active one under a policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The bond's MAC afterwards.
    pub bond_mac: [u8; 6],
    /// Members whose MAC changes, in the order to change them.
    pub changes: Vec<(usize, [u8; 6])>,
    /// Every member's MAC afterwards.
    pub macs: SlotMacs,
}

/// The changes that make `active` the active member: `current` are the members' MACs now,
/// `originals` their MACs before they joined the bond.
pub fn plan(
    policy: FailOverMac,
    bond_mac: [u8; 6],
    active: usize,
    current: &SlotMacs,
    originals: &SlotMacs,
) -> Plan {
    let mut out = Plan {
        bond_mac,
        changes: Vec::new(),
        macs: *current,
    };
    let Some(Some(active_mac)) = current.get(active).copied() else {
        return out; // no active member: nothing moves (as the kernel)
    };
    match policy {
        FailOverMac::None => {}
        FailOverMac::Active => out.bond_mac = active_mac,
        FailOverMac::Follow => {
            if active_mac != bond_mac {
                // The swap: the newcomer takes the bond's MAC, the member that had it takes
                // the newcomer's former one.
                out.macs[active] = Some(bond_mac);
                out.changes.push((active, bond_mac));
                if let Some(old) =
                    (0..MAX_MEMBERS).find(|&s| s != active && current[s] == Some(bond_mac))
                {
                    out.macs[old] = Some(active_mac);
                    out.changes.push((old, active_mac));
                }
            }
            // Repairs: nobody but the active member may have the bond's MAC.
            for slot in (0..MAX_MEMBERS).filter(|&s| s != active) {
                if out.macs[slot] != Some(bond_mac) {
                    continue;
                }
                let mac = spare_mac(slot, bond_mac, &out.macs, originals);
                out.macs[slot] = Some(mac);
                out.changes.push((slot, mac));
            }
        }
    }
    out
}

/// A MAC for a member that must give the bond's up: its own original if free, else another
/// member's original no member uses, else a locally administered one derived from its own.
fn spare_mac(slot: usize, bond_mac: [u8; 6], macs: &SlotMacs, originals: &SlotMacs) -> [u8; 6] {
    let free = |m: &[u8; 6]| *m != bond_mac && !macs.contains(&Some(*m));
    if let Some(own) = originals[slot].filter(free) {
        return own;
    }
    if let Some(other) = originals.iter().flatten().copied().find(free) {
        return other;
    }
    let mut mac = originals[slot].unwrap_or(bond_mac);
    mac[0] = (mac[0] | 0x02) & !0x01;
    while !free(&mac) {
        mac[5] = mac[5].wrapping_add(1);
    }
    mac
}

/// Brings the members' and the bond's MACs to what `policy` says for `cfg`'s active member,
/// and writes them into `cfg` (each member's transmit MAC, the bond's MAC). Returns whether
/// anything changed. A MAC a member refuses is logged, as the kernel does, and the data
/// plane told the MAC it really has.
pub async fn settle(
    nl: &Netlink,
    policy: FailOverMac,
    state: &BondState,
    cfg: &mut BondConfig,
) -> Result<bool> {
    if policy == FailOverMac::None {
        return Ok(false);
    }
    let mut current: SlotMacs = [None; MAX_MEMBERS];
    let mut originals: SlotMacs = [None; MAX_MEMBERS];
    for slot in 0..MAX_MEMBERS {
        let m = cfg.members[slot];
        if !m.is_used() {
            continue;
        }
        current[slot] = nl.link_by_index(m.ifindex).await?.and_then(|l| l.mac);
        if state.members[slot].ifindex == m.ifindex {
            originals[slot] = Some(state.members[slot].mac);
        }
    }
    let plan = plan(
        policy,
        cfg.bond_mac,
        cfg.active_slot as usize,
        &current,
        &originals,
    );
    let bond = name_string(&state.name);
    let mut macs = plan.macs;
    for (slot, mac) in &plan.changes {
        let member = name_string(&state.members[*slot].name);
        match nl.set_mac(cfg.members[*slot].ifindex, *mac).await {
            Ok(()) => {
                info!(bond = %bond, member = %member, mac = %format_mac(mac), "fail_over_mac: member MAC changed")
            }
            Err(e) => {
                warn!(bond = %bond, member = %member, "fail_over_mac: setting MAC {}: {e}", format_mac(mac));
                macs[*slot] = current[*slot];
            }
        }
    }
    let mut changed = false;
    if plan.bond_mac != cfg.bond_mac {
        match nl.set_mac(state.bond_ifindex, plan.bond_mac).await {
            Ok(()) => {
                info!(bond = %bond, mac = %format_mac(&plan.bond_mac), "fail_over_mac: the bond takes the active member's MAC");
                cfg.bond_mac = plan.bond_mac;
                changed = true;
            }
            Err(e) => warn!(bond = %bond, "fail_over_mac: setting the bond's MAC: {e}"),
        }
    }
    for (member, mac) in cfg.members.iter_mut().zip(macs) {
        if let Some(mac) = mac
            && member.is_used()
            && member.mac != mac
        {
            member.mac = mac;
            changed = true;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [0, 0x0a, 0x0b, 0x0c, 0x0d, 1];
    const B: [u8; 6] = [0, 0x0a, 0x0b, 0x0c, 0x0d, 2];
    const C: [u8; 6] = [0, 0x0a, 0x0b, 0x0c, 0x0d, 3];
    const X: [u8; 6] = [2, 0, 0, 0, 0, 9];

    fn macs(list: &[[u8; 6]]) -> SlotMacs {
        let mut out = [None; MAX_MEMBERS];
        for (slot, m) in list.iter().enumerate() {
            out[slot] = Some(*m);
        }
        out
    }

    #[test]
    fn names_and_numbers_round_trip() {
        for p in [FailOverMac::None, FailOverMac::Active, FailOverMac::Follow] {
            assert_eq!(FailOverMac::parse(p.name()), Some(p));
            assert_eq!(FailOverMac::parse(&p.to_pinned().to_string()), Some(p));
            assert_eq!(FailOverMac::from_pinned(p.to_pinned()), p);
        }
        assert_eq!(FailOverMac::parse("3"), None);
        assert_eq!(FailOverMac::parse("Active"), None);
        assert_eq!(FailOverMac::from_pinned(7), FailOverMac::None);
    }

    #[test]
    fn none_moves_nothing() {
        let now = macs(&[A, A]);
        let p = plan(FailOverMac::None, A, 1, &now, &macs(&[A, B]));
        assert_eq!(p.bond_mac, A);
        assert!(p.changes.is_empty());
    }

    #[test]
    fn active_gives_the_bond_the_active_members_mac_and_touches_no_member() {
        let originals = macs(&[A, B, C]);
        let p = plan(FailOverMac::Active, A, 1, &originals, &originals);
        assert_eq!(p.bond_mac, B);
        assert!(p.changes.is_empty());
        assert_eq!(p.macs, originals);
        let p = plan(FailOverMac::Active, B, 1, &originals, &originals);
        assert_eq!(p.bond_mac, B, "already so");
    }

    /// bond_options.sh `fail_over_mac 2`: the bond keeps the first member's MAC, the active
    /// member has it, backups have the others' (never the first's), through failovers.
    #[test]
    fn follow_swaps_the_newcomer_and_the_member_it_replaces() {
        let originals = macs(&[A, B, C]);
        // eth0 active: nothing moves.
        let p = plan(FailOverMac::Follow, A, 0, &originals, &originals);
        assert!(p.changes.is_empty());
        // eth1 takes over: eth1 gets A, eth0 gets B, in that order.
        let p = plan(FailOverMac::Follow, A, 1, &originals, &originals);
        assert_eq!(p.changes, vec![(1, A), (0, B)]);
        assert_eq!(p.macs, macs(&[B, A, C]));
        assert_eq!(p.bond_mac, A);
        // Then eth2: eth2 gets A, eth1 (the one replaced) gets C.
        let p = plan(FailOverMac::Follow, A, 2, &p.macs, &originals);
        assert_eq!(p.changes, vec![(2, A), (1, C)]);
        assert_eq!(p.macs, macs(&[B, C, A]));
    }

    #[test]
    fn follow_repairs_a_half_done_swap_and_a_re_added_first_member() {
        let originals = macs(&[A, B, C]);
        // Crash after the newcomer (eth1) took A, before eth0 got B back.
        let p = plan(FailOverMac::Follow, A, 1, &macs(&[A, A, C]), &originals);
        assert_eq!(p.changes, vec![(0, B)]);
        assert_eq!(p.macs, macs(&[B, A, C]));
        // eth0 (first, MAC A) left and came back while eth1 is active with A: eth0 must not
        // keep A (kernel: random); it gets the original nobody uses, B.
        let p = plan(FailOverMac::Follow, A, 1, &macs(&[A, A, C]), &originals);
        assert_eq!(p.macs[0], Some(B));
    }

    #[test]
    fn follow_with_a_bond_mac_of_its_own_and_nothing_spare() {
        // `mac` set to X: the first active takes X and its own MAC is given to nobody.
        let originals = macs(&[A, B]);
        let p = plan(FailOverMac::Follow, X, 0, &originals, &originals);
        assert_eq!(p.changes, vec![(0, X)]);
        // No original left unused: a locally administered MAC derived from its own, unique.
        let spare = spare_mac(0, X, &macs(&[X, A, B]), &macs(&[A, B, B]));
        assert_eq!(spare, [0x02, 0x0a, 0x0b, 0x0c, 0x0d, 1]);
        let taken = [0x02, 0x0a, 0x0b, 0x0c, 0x0d, 1];
        let spare = spare_mac(0, X, &macs(&[X, A, taken]), &macs(&[A, A, A]));
        assert_eq!(
            spare,
            [0x02, 0x0a, 0x0b, 0x0c, 0x0d, 2],
            "the next one free"
        );
    }

    #[test]
    fn no_active_member_moves_nothing() {
        let originals = macs(&[A, B]);
        for policy in [FailOverMac::Active, FailOverMac::Follow] {
            let p = plan(policy, A, MAX_MEMBERS + 5, &originals, &originals);
            assert!(p.changes.is_empty());
            assert_eq!(p.bond_mac, A);
        }
    }
}
