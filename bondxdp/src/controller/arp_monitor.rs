//! The ARP monitor's rules (`arp_interval`), as the kernel's bonding driver has them: which
//! members send the probes, and which frames heard on a member prove its path to a target.
//! Pure: the bond task passes what it knows (the active member, the addresses, the targets).
//!
//! In active-backup (the kernel's `bond_ab_arp_probe` and `bond_arp_rcv`):
//!
//! * probes go out through the active member only; while there is none, through one member
//!   at a time, the next each interval (`current_arp_slave`). Probing through every member
//!   with the bond's MAC, as bondxdp once did, teaches a switch that MAC on whichever member
//!   probed last, and unicast to the bond then arrives on a backup, which drops it;
//! * the active member (with `arp_validate` on it) is proved alive by frames from a target to
//!   the bond: replies, or requests for one of the bond's addresses;
//! * a backup (validated) is proved alive by the bond's own probes, which the switch floods
//!   to it, but only once the active member has heard from a target since it became active:
//!   otherwise a segment where the targets are gone would keep every backup "alive" on the
//!   bond's own probes alone;
//! * while no member is active, a target's reply proves the path of the member it arrives on,
//!   if the rotating prober sent within the last interval.
//!
//! In the other modes every member probes and is judged like an active member
//! (`bond_loadbalance_arp_mon`).
//!
//! Members whose traffic is not validated (`arp_validate` none, or the other role's) are
//! judged by any frame they receive, or with the `filter` values by any ARP/ND frame.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::frames::{Arp, Nd};

/// A member's part in the ARP monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The active member (active-backup), or any member in the other modes.
    Active,
    /// A backup (active-backup), while there is an active member.
    Backup {
        /// The active member heard from a target since it became active.
        active_heard: bool,
    },
    /// Any member while there is no active one (active-backup).
    NoActive {
        /// The rotating prober sent within the last interval.
        probed_recently: bool,
    },
}

/// What the monitor is looking for: the targets, in the order of the bond's combined list
/// (IPv4 then IPv6), and the bond's own addresses.
#[derive(Clone, Copy, Debug)]
pub struct Targets<'a> {
    /// `arp_ip_target`.
    pub v4: &'a [Ipv4Addr],
    /// `ns_ip6_target`.
    pub v6: &'a [Ipv6Addr],
    /// The bond's IPv4 addresses.
    pub own4: &'a [Ipv4Addr],
    /// The bond's IPv6 addresses.
    pub own6: &'a [Ipv6Addr],
}

/// A probe-relevant frame heard on a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// ARP.
    Arp(Arp),
    /// IPv6 neighbour discovery.
    Nd(Nd),
}

impl Targets<'_> {
    fn v4_index(&self, ip: Ipv4Addr) -> Option<usize> {
        self.v4.iter().position(|t| *t == ip)
    }

    fn v6_index(&self, ip: Ipv6Addr) -> Option<usize> {
        self.v6
            .iter()
            .position(|t| *t == ip)
            .map(|i| self.v4.len() + i)
    }

    /// Which target (index into the combined list) `heard`, validated, proves alive for a
    /// member in `role`: `None` if it proves nothing.
    pub fn proves(&self, role: Role, heard: Heard) -> Option<usize> {
        match (role, heard) {
            // From a target to the bond: a reply, or a request for one of its addresses.
            (Role::Active, Heard::Arp(a)) => self
                .v4_index(a.sender)
                .filter(|_| self.own4.contains(&a.target)),
            (Role::Active, Heard::Nd(n)) => self
                .v6_index(n.source)
                .filter(|_| n.kind == ND_ADVERT || self.own6.contains(&n.target)),
            // The bond's own probe, flooded by the switch.
            (Role::Backup { active_heard: true }, Heard::Arp(a)) => self
                .v4_index(a.target)
                .filter(|_| self.own4.contains(&a.sender)),
            (Role::Backup { active_heard: true }, Heard::Nd(n)) => self
                .v6_index(n.target)
                .filter(|_| n.kind == ND_SOLICIT && self.own6.contains(&n.source)),
            (
                Role::Backup {
                    active_heard: false,
                },
                _,
            ) => None,
            // A target's reply to the rotating prober's probe.
            (
                Role::NoActive {
                    probed_recently: true,
                },
                Heard::Arp(a),
            ) if a.op == ARP_REPLY => self
                .v4_index(a.sender)
                .filter(|_| self.own4.contains(&a.target)),
            (
                Role::NoActive {
                    probed_recently: true,
                },
                Heard::Nd(n),
            ) if n.kind == ND_ADVERT => self.v6_index(n.source),
            (Role::NoActive { .. }, _) => None,
        }
    }
}

/// ARP reply.
const ARP_REPLY: u16 = 2;
/// Neighbour solicitation.
const ND_SOLICIT: u8 = 135;
/// Neighbour advertisement.
const ND_ADVERT: u8 = 136;

/// The members the next probe round goes through, and the rotating prober afterwards:
/// `members` are the slots with carrier, in slot order; `active` the active member in
/// active-backup (`None`: none, or another mode when `ab` is false).
pub fn probers(
    ab: bool,
    active: Option<usize>,
    members: &[usize],
    current: Option<usize>,
) -> (Vec<usize>, Option<usize>) {
    if !ab {
        return (members.to_vec(), None);
    }
    if let Some(a) = active {
        return (vec![a], None);
    }
    // The next member after the current prober, wrapping.
    let next = current
        .and_then(|c| members.iter().find(|&&s| s > c))
        .or(members.first())
        .copied();
    (next.into_iter().collect(), next)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const OTHER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 9);
    const T6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3);
    const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

    fn targets() -> Targets<'static> {
        Targets {
            v4: &[T],
            v6: &[T6],
            own4: &[US],
            own6: &[US6],
        }
    }

    fn arp(op: u16, sender: Ipv4Addr, target: Ipv4Addr) -> Heard {
        Heard::Arp(Arp { op, sender, target })
    }

    fn nd(kind: u8, source: Ipv6Addr, target: Ipv6Addr) -> Heard {
        Heard::Nd(Nd {
            kind,
            source,
            target,
        })
    }

    #[test]
    fn the_active_member_is_proved_by_the_target_only() {
        let t = targets();
        let a = Role::Active;
        assert_eq!(t.proves(a, arp(2, T, US)), Some(0), "reply");
        assert_eq!(
            t.proves(a, arp(1, T, US)),
            Some(0),
            "the target asks for us"
        );
        // The bond's own probe flooded back (the defect: it kept a dead path "alive").
        assert_eq!(t.proves(a, arp(1, US, T)), None);
        assert_eq!(t.proves(a, arp(2, T, OTHER)), None, "not to us");
        assert_eq!(t.proves(a, arp(2, OTHER, US)), None, "not a target");
        assert_eq!(t.proves(a, nd(136, T6, T6)), Some(1));
        assert_eq!(t.proves(a, nd(135, T6, US6)), Some(1));
        assert_eq!(t.proves(a, nd(135, US6, T6)), None, "our own solicitation");
    }

    #[test]
    fn backups_are_proved_by_the_bonds_own_probes_once_the_active_heard_a_target() {
        let t = targets();
        let b = Role::Backup { active_heard: true };
        assert_eq!(t.proves(b, arp(1, US, T)), Some(0));
        assert_eq!(t.proves(b, nd(135, US6, T6)), Some(1));
        assert_eq!(t.proves(b, arp(2, T, US)), None, "replies go to the active");
        assert_eq!(t.proves(b, arp(1, US, OTHER)), None, "not for a target");
        let b = Role::Backup {
            active_heard: false,
        };
        assert_eq!(t.proves(b, arp(1, US, T)), None);
        assert_eq!(t.proves(b, nd(135, US6, T6)), None);
    }

    #[test]
    fn without_an_active_member_replies_count_while_the_prober_probes() {
        let t = targets();
        let r = Role::NoActive {
            probed_recently: true,
        };
        assert_eq!(t.proves(r, arp(2, T, US)), Some(0));
        assert_eq!(t.proves(r, arp(1, T, US)), None, "requests do not");
        assert_eq!(t.proves(r, nd(136, T6, T6)), Some(1));
        let r = Role::NoActive {
            probed_recently: false,
        };
        assert_eq!(t.proves(r, arp(2, T, US)), None);
    }

    #[test]
    fn active_backup_probes_through_the_active_member_or_one_in_turn() {
        assert_eq!(probers(true, Some(1), &[0, 1, 2], None), (vec![1], None));
        // No active member: one at a time, in slot order, wrapping.
        let (p, c) = probers(true, None, &[0, 2, 3], None);
        assert_eq!((p, c), (vec![0], Some(0)));
        assert_eq!(probers(true, None, &[0, 2, 3], Some(0)), (vec![2], Some(2)));
        assert_eq!(probers(true, None, &[0, 2, 3], Some(3)), (vec![0], Some(0)));
        assert_eq!(probers(true, None, &[], Some(3)), (vec![], None));
        // The other modes: every member.
        assert_eq!(probers(false, Some(1), &[0, 1], None), (vec![0, 1], None));
    }
}
