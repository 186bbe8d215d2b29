//! active-backup (mode 1): one member carries all traffic; the others wait.
//!
//! The data plane only ever sends through `active_slot` (the transmit list holds it alone).
//! Which member is active is decided in userspace by [`choose_active`], with the kernel's
//! rules: the primary when it is up, else the current active member while it stays up, else
//! the first member that is up.

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
/// gives a member's link speed in Mb/s (for [`PrimaryReselect::Better`]).
pub fn choose_active(
    cfg: &BondConfig,
    current: u32,
    primary: u32,
    reselect: PrimaryReselect,
    speed: impl Fn(u32) -> u32,
) -> u32 {
    let is_up = |slot: u32| {
        (slot as usize) < MAX_MEMBERS && {
            let m = cfg.members[slot as usize];
            m.is_used() && m.link_state() == LinkState::Up
        }
    };
    let current_up = is_up(current);
    if is_up(primary) {
        let take_primary = !current_up
            || current == primary
            || match reselect {
                PrimaryReselect::Always => true,
                PrimaryReselect::Better => speed(primary) > speed(current),
                PrimaryReselect::Failure => false,
            };
        if take_primary {
            return primary;
        }
    }
    if current_up {
        return current;
    }
    (0..MAX_MEMBERS as u32)
        .find(|s| is_up(*s))
        .unwrap_or(NO_SLOT)
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
        assert_eq!(
            choose_active(&cfg, NO_SLOT, NO_SLOT, PrimaryReselect::Always, no_speed),
            1
        );
        // The current active member stays while it is up.
        assert_eq!(
            choose_active(&cfg, 2, NO_SLOT, PrimaryReselect::Always, no_speed),
            2
        );
        let all_down = with_links(&[Down, Down]);
        assert_eq!(
            choose_active(&all_down, 0, NO_SLOT, PrimaryReselect::Always, no_speed),
            NO_SLOT
        );
    }

    #[test]
    fn primary_reselect_policies() {
        use LinkState::*;
        let cfg = with_links(&[Up, Up]);
        let speed = |slot| if slot == 0 { 1000 } else { 10000 };
        // Primary 0 recovered while 1 is active.
        assert_eq!(choose_active(&cfg, 1, 0, PrimaryReselect::Always, speed), 0);
        assert_eq!(
            choose_active(&cfg, 1, 0, PrimaryReselect::Failure, speed),
            1
        );
        assert_eq!(choose_active(&cfg, 1, 0, PrimaryReselect::Better, speed), 1);
        assert_eq!(
            choose_active(&cfg, 1, 0, PrimaryReselect::Better, |s| 10 - s),
            0
        );
        // Whatever the policy, the primary takes over when the active member is down.
        let failed = with_links(&[Up, Down]);
        assert_eq!(
            choose_active(&failed, 1, 0, PrimaryReselect::Failure, speed),
            0
        );
        // A down primary is never chosen.
        let primary_down = with_links(&[Down, Up]);
        assert_eq!(
            choose_active(&primary_down, 1, 0, PrimaryReselect::Always, speed),
            1
        );
    }
}
