//! active-backup (mode 1): one member carries all traffic; the others wait.
//!
//! The data plane only ever sends through `active_slot` (the transmit list holds it alone).
//! Which member is active is decided in userspace by [`choose_active`], with the kernel's
//! rules: the primary when it is up, else the current active member while it stays up, else
//! the usable member of highest `prio` (the first of equals).

use super::{Selection, Selector, TxEnv, nth_eligible};
use crate::{
    config::{BondConfig, LinkState, MAX_MEMBERS, NO_SLOT},
    hash::PacketMeta,
    packet::PacketView,
};

/// active-backup's selector: the active member, if it is eligible.
pub struct ActiveBackup;

impl Selector for ActiveBackup {
    const PROGRAM: &'static str = "egress_ab";
    const XDP_PROGRAM: &'static str = "xdp_lan_ab";

    #[inline(always)]
    fn select<P: PacketView + ?Sized, E: TxEnv>(
        cfg: &BondConfig,
        _pkt: &P,
        _meta: &PacketMeta,
        _env: &mut E,
    ) -> Selection {
        nth_eligible(cfg, 0)
    }
}

/// When the primary member takes over again after it recovers (kernel `primary_reselect`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrimaryReselect {
    /// As soon as it is up again (the default).
    #[default]
    Always,
    /// Only if it is faster than the current active member.
    Better,
    /// Only when the current active member fails.
    Failure,
}

/// Chooses the active member: `current` and `primary` are slots or [`NO_SLOT`]; `speed`
/// gives a member's link speed in Mb/s (for [`PrimaryReselect::Better`]) and `prio` its
/// priority (`prio`, kernel 6.0+).
///
/// As the kernel's `bond_choose_primary_or_current`: the primary while it is up; without a
/// usable primary, the usable member of highest priority (the first of equals) stands in for
/// it. Either takes over from a usable current member as `reselect` says; a member of equal
/// priority never displaces the current one (the kernel only reselects when a member of
/// higher priority comes up).
pub fn choose_active(
    cfg: &BondConfig,
    current: u32,
    primary: u32,
    reselect: PrimaryReselect,
    speed: impl Fn(u32) -> u32,
    prio: impl Fn(u32) -> i32,
) -> u32 {
    let is_up = |slot: u32| {
        (slot as usize) < MAX_MEMBERS && {
            let m = cfg.members[slot as usize];
            m.is_used() && m.link_state() == LinkState::Up
        }
    };
    let current_up = is_up(current);
    let candidate = if is_up(primary) {
        Some(primary)
    } else {
        let mut best: Option<u32> = None;
        for s in (0..MAX_MEMBERS as u32).filter(|s| is_up(*s)) {
            if best.is_none_or(|b| prio(s) > prio(b)) {
                best = Some(s);
            }
        }
        // Only a strictly higher priority displaces a usable current member.
        best.filter(|b| !current_up || prio(*b) > prio(current))
    };
    if let Some(candidate) = candidate {
        let take = !current_up
            || current == candidate
            || match reselect {
                PrimaryReselect::Always => true,
                PrimaryReselect::Better => speed(candidate) > speed(current),
                PrimaryReselect::Failure => false,
            };
        if take {
            return candidate;
        }
    }
    if current_up { current } else { NO_SLOT }
}

#[cfg(test)]
mod tests {
    use super::{super::testing::*, *};
    use crate::config::Mode;

    fn with_links(links: &[LinkState]) -> BondConfig {
        let mut cfg = bond(Mode::ActiveBackup, links.len());
        for (slot, link) in links.iter().enumerate() {
            cfg.members[slot].link = *link as u8;
        }
        cfg
    }

    #[test]
    fn only_the_active_member_transmits() {
        let mut cfg = bond(Mode::ActiveBackup, 3);
        cfg.active_slot = 2;
        cfg.recompute();
        let pick = |cfg: &BondConfig| {
            let meta = PacketMeta::ethernet(0x0800);
            ActiveBackup::select(cfg, &[0u8; 60][..], &meta, &mut FakeEnv::default())
        };
        for _ in 0..5 {
            assert_eq!(pick(&cfg), Selection::Member(2));
        }
        cfg.members[2].link = LinkState::Down as u8;
        cfg.recompute();
        assert_eq!(pick(&cfg), Selection::NoMember);
    }

    #[test]
    fn first_up_member_without_primary() {
        use LinkState::*;
        let cfg = with_links(&[Down, Up, Up]);
        let no_speed = |_| 0;
        let no_prio = |_| 0;
        assert_eq!(
            choose_active(
                &cfg,
                NO_SLOT,
                NO_SLOT,
                PrimaryReselect::Always,
                no_speed,
                no_prio
            ),
            1
        );
        // The current active member stays while it is up.
        assert_eq!(
            choose_active(&cfg, 2, NO_SLOT, PrimaryReselect::Always, no_speed, no_prio),
            2
        );
        let all_down = with_links(&[Down, Down]);
        assert_eq!(
            choose_active(
                &all_down,
                0,
                NO_SLOT,
                PrimaryReselect::Always,
                no_speed,
                no_prio
            ),
            NO_SLOT
        );
    }

    #[test]
    fn primary_reselect_policies() {
        use LinkState::*;
        let cfg = with_links(&[Up, Up]);
        let speed = |slot| if slot == 0 { 1000 } else { 10000 };
        // Primary 0 recovered while 1 is active.
        assert_eq!(
            choose_active(&cfg, 1, 0, PrimaryReselect::Always, speed, |_| 0),
            0
        );
        assert_eq!(
            choose_active(&cfg, 1, 0, PrimaryReselect::Failure, speed, |_| 0),
            1
        );
        assert_eq!(
            choose_active(&cfg, 1, 0, PrimaryReselect::Better, speed, |_| 0),
            1
        );
        assert_eq!(
            choose_active(&cfg, 1, 0, PrimaryReselect::Better, |s| 10 - s, |_| 0),
            0
        );
        // Whatever the policy, the primary takes over when the active member is down.
        let failed = with_links(&[Up, Down]);
        assert_eq!(
            choose_active(&failed, 1, 0, PrimaryReselect::Failure, speed, |_| 0),
            0
        );
        // A down primary is never chosen.
        let primary_down = with_links(&[Down, Up]);
        assert_eq!(
            choose_active(&primary_down, 1, 0, PrimaryReselect::Always, speed, |_| 0),
            1
        );
    }

    #[test]
    fn highest_prio_without_a_usable_primary() {
        use LinkState::*;
        let prio = |s: u32| [0, 10, 11][s as usize];
        let same = |_| 1000;
        let r = PrimaryReselect::Always;
        // option_prio.sh: primary eth1 active; eth1 fails: eth2 (prio 11) over eth0 (prio 0).
        let cfg = with_links(&[Up, Down, Up]);
        assert_eq!(choose_active(&cfg, 1, 1, r, same, prio), 2);
        // eth2 fails too: eth0.
        let cfg = with_links(&[Up, Down, Down]);
        assert_eq!(choose_active(&cfg, 2, 1, r, same, prio), 0);
        // eth2 comes back: always takes it, better (same speed) and failure keep eth0.
        let cfg = with_links(&[Up, Down, Up]);
        assert_eq!(choose_active(&cfg, 0, 1, r, same, prio), 2);
        for keep in [PrimaryReselect::Better, PrimaryReselect::Failure] {
            assert_eq!(choose_active(&cfg, 0, 1, keep, same, prio), 0);
        }
        // A faster member of higher priority wins under better.
        let faster = |s: u32| if s == 2 { 10000 } else { 1000 };
        assert_eq!(
            choose_active(&cfg, 0, 1, PrimaryReselect::Better, faster, prio),
            2
        );
        // Equal priorities never displace a usable current member.
        let cfg = with_links(&[Up, Up, Up]);
        assert_eq!(choose_active(&cfg, 1, NO_SLOT, r, same, |_| 0), 1);
        // Without a primary, no current: the highest priority, the first of equals.
        assert_eq!(choose_active(&cfg, NO_SLOT, NO_SLOT, r, same, prio), 2);
        assert_eq!(
            choose_active(&cfg, NO_SLOT, NO_SLOT, r, same, |s| [5, 7, 7][s as usize]),
            1
        );
    }
}
