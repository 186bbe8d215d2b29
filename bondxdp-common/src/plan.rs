//! Planning: what the data plane acts on, derived from what userspace configured. After a
//! link, option or LACP change userspace calls [`BondConfig::recompute`] once and publishes
//! the result; the rules it applies live with each mode ([`crate::modes`]) and the fast path
//! ([`crate::fast_path`]). This room sits above both.

use crate::{
    config::{BondConfig, CFG_ACTIVE_RECEIVER, CFG_ALL_SLAVES_ACTIVE, XDP_FORWARDS, XDP_PORTS},
    fast_path,
    reciprocal::Reciprocal,
    types::{
        HashPolicy, LinkState, MAX_MEMBERS, MEMBER_LACP_MASK, MEMBER_RX_ACCEPT, Mode,
        UPLINK_DEGRADED, UPLINK_V4, UPLINK_V6,
    },
};

impl BondConfig {
    /// Derives what the data plane acts on from the members' link states, the mode and (in
    /// 802.3ad) the controller's `MEMBER_LACP_*` flags: the transmit list and each member's
    /// receive flag. `active_slot` must already be chosen (see
    /// [`crate::modes::active_backup::choose_active`]). Outside 802.3ad the LACP flags are
    /// cleared, so a bond switched to 802.3ad starts with no member collecting or
    /// distributing.
    pub fn recompute(&mut self) {
        let mode = self.mode().unwrap_or(Mode::BalanceRr);
        if matches!(mode, Mode::BalanceTlb | Mode::BalanceAlb) {
            self.flags |= CFG_ACTIVE_RECEIVER;
        } else {
            self.flags &= !CFG_ACTIVE_RECEIVER;
        }
        let mut count = 0usize;
        for slot in 0..MAX_MEMBERS {
            let member = self.members[slot];
            let lacp = if mode == Mode::Ieee8023ad && member.is_used() {
                member.flags & MEMBER_LACP_MASK
            } else {
                0
            };
            let up = member.is_used() && member.link_state() == LinkState::Up;
            let transmits =
                up && crate::modes::transmits(mode, slot as u32, self.active_slot, lacp);
            if transmits {
                self.tx_slots[count] = slot as u8;
                count += 1;
            }
            let receives = member.is_used()
                && (self.has_flag(CFG_ALL_SLAVES_ACTIVE)
                    || crate::modes::receives(mode, slot as u32, self.active_slot, lacp));
            self.members[slot].flags = lacp | if receives { MEMBER_RX_ACCEPT } else { 0 };
        }
        for rest in &mut self.tx_slots[count..] {
            *rest = 0;
        }
        self.tx_count = count as u32;
        if !self.has_carrier() {
            // Below min_links the bond is down: nothing transmits.
            self.tx_count = 0;
        }
        self.tx_count_recip = Reciprocal::new(self.tx_count);
        if mode.uses_weights() {
            self.rebuild_buckets(mode);
        }
        self.derive_fast_path();
    }

    /// Sets `xdp_lan` and `xdp_flags` from the mode and hash policy (also done by
    /// [`BondConfig::recompute`]). The fast path's programs read these two bytes instead of
    /// decoding the mode on every frame.
    pub fn derive_fast_path(&mut self) {
        let policy = self.hash_policy().unwrap_or(HashPolicy::Layer2);
        let (program, flags) = match self.mode() {
            Some(mode) if fast_path::accelerates(mode) => {
                let ports = if fast_path::uses_ports(mode, policy) {
                    XDP_PORTS
                } else {
                    0
                };
                (
                    fast_path::lan_program_for(mode, policy),
                    XDP_FORWARDS | ports,
                )
            }
            _ => (fast_path::XDP_LAN_PASS, 0),
        };
        self.xdp_lan = fast_path::lan_index(program);
        self.xdp_flags = flags;
    }

    /// Rebuilds the weighted tables from the members that transmit (for multi-wan: per
    /// address family, those ready for it, of the tier [`BondConfig::placement`] picks),
    /// moving as few buckets as possible.
    fn rebuild_buckets(&mut self, mode: Mode) {
        for (family, flag) in [(0, UPLINK_V4), (1, UPLINK_V6)] {
            let mut weights = [0u32; MAX_MEMBERS];
            if mode.is_multi_uplink() {
                if let Some((tier, degraded)) = self.placement(flag) {
                    for &slot in self.tx_slots() {
                        let u = &self.uplinks[slot as usize];
                        if u.flags & flag != 0
                            && u.tier == tier
                            && (degraded || u.flags & UPLINK_DEGRADED == 0)
                        {
                            weights[slot as usize] = self.weights[slot as usize] as u32;
                        }
                    }
                }
            } else {
                for &slot in self.tx_slots() {
                    weights[slot as usize] = self.weights[slot as usize] as u32;
                }
            }
            crate::weights::rebuild(&mut self.buckets[family], &weights);
        }
    }

    /// multi-wan: where new flows of a family (`UPLINK_V4` or `UPLINK_V6`) go: the lowest
    /// tier with an uplink that transmits, is ready for the family and is not degraded; else
    /// (every such uplink degraded) the lowest with one at all, degraded ones included
    /// (`true`). `None`: no uplink transmits for the family.
    pub fn placement(&self, family_flag: u8) -> Option<(u8, bool)> {
        let ready = || {
            self.tx_slots()
                .iter()
                .map(|&s| &self.uplinks[s as usize])
                .filter(move |u| u.flags & family_flag != 0)
        };
        ready()
            .filter(|u| u.flags & UPLINK_DEGRADED == 0)
            .map(|u| u.tier)
            .min()
            .map(|t| (t, false))
            .or_else(|| ready().map(|u| u.tier).min().map(|t| (t, true)))
    }

    /// multi-wan: the tier new flows of the family go to ([`BondConfig::placement`]).
    pub fn live_tier(&self, family_flag: u8) -> Option<u8> {
        self.placement(family_flag).map(|(tier, _)| tier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{MEMBER_LACP_COLLECTING, MEMBER_LACP_DISTRIBUTING};

    use crate::testing::bond_with_links as bond;

    /// multi-wan tiers: new flows (the weighted tables) go only to the lowest tier with an
    /// uplink up and ready for the family; a backup tier takes them only when the lower is
    /// gone, per family.
    #[test]
    fn multi_wan_new_flows_use_the_lowest_live_tier() {
        use LinkState::*;
        let mut cfg = bond(Mode::MultiWan, &[Up, Up, Up]);
        for slot in 0..3 {
            cfg.uplinks[slot].flags = UPLINK_V4 | UPLINK_V6;
            cfg.weights[slot] = 1;
        }
        cfg.uplinks[1].tier = 1; // LTE, a backup
        cfg.uplinks[2].tier = 0;
        let used = |cfg: &BondConfig, family: usize| {
            let mut u: [bool; 3] = [false; 3];
            for b in cfg.buckets[family] {
                u[b as usize] = true;
            }
            u
        };
        cfg.recompute();
        assert_eq!(cfg.live_tier(UPLINK_V4), Some(0));
        assert_eq!(
            used(&cfg, 0),
            [true, false, true],
            "tier 0 shares, tier 1 idles"
        );
        // One tier-0 uplink left: it takes every new flow, the backup still none.
        cfg.members[0].link = Down as u8;
        cfg.recompute();
        assert_eq!(used(&cfg, 0), [false, false, true]);
        // Tier 0 gone: the backup tier.
        cfg.members[2].link = Down as u8;
        cfg.recompute();
        assert_eq!(cfg.live_tier(UPLINK_V4), Some(1));
        assert_eq!(used(&cfg, 0), [false, true, false]);
        // Per family: the tier-0 uplink back for IPv6 only takes IPv6's new flows.
        cfg.members[2].link = Up as u8;
        cfg.uplinks[2].flags = UPLINK_V6;
        cfg.recompute();
        assert_eq!(cfg.live_tier(UPLINK_V4), Some(1));
        assert_eq!(cfg.live_tier(UPLINK_V6), Some(0));
        assert_eq!(used(&cfg, 0), [false, true, false]);
        assert_eq!(used(&cfg, 1), [false, false, true]);
        // Quality: a degraded tier-0 uplink gives way to its tier-mate, and with the whole
        // tier degraded to the next tier; every uplink degraded: the lowest tier still works.
        cfg.uplinks[2].flags = UPLINK_V4 | UPLINK_V6;
        cfg.members[0].link = Up as u8;
        cfg.uplinks[0].flags |= UPLINK_DEGRADED;
        cfg.recompute();
        assert_eq!(
            used(&cfg, 0),
            [false, false, true],
            "degraded u0 takes no new flows"
        );
        cfg.uplinks[2].flags |= UPLINK_DEGRADED;
        cfg.recompute();
        assert_eq!(cfg.placement(UPLINK_V4), Some((1, false)));
        assert_eq!(
            used(&cfg, 0),
            [false, true, false],
            "tier 0 all degraded: tier 1"
        );
        cfg.uplinks[1].flags |= UPLINK_DEGRADED;
        cfg.recompute();
        assert_eq!(cfg.placement(UPLINK_V4), Some((0, true)));
        assert_eq!(
            used(&cfg, 0),
            [true, false, true],
            "all degraded: the lowest tier"
        );
        // Nothing up: no tier.
        for slot in 0..3 {
            cfg.members[slot].link = Down as u8;
        }
        cfg.recompute();
        assert_eq!(cfg.live_tier(UPLINK_V4), None);
    }

    #[test]
    fn recompute_lists_up_members_for_balancing_modes() {
        use LinkState::*;
        for mode in [Mode::BalanceRr, Mode::BalanceXor, Mode::Broadcast] {
            let mut cfg = bond(mode, &[Up, Down, Up]);
            cfg.recompute();
            assert_eq!(cfg.tx_slots(), &[0, 2], "{mode:?}");
            for slot in 0..3 {
                assert_eq!(cfg.members[slot].flags, MEMBER_RX_ACCEPT, "{mode:?}");
            }
            assert_eq!(cfg.members[3].flags, 0);
        }
    }

    #[test]
    fn recompute_active_backup_sends_and_receives_on_the_active_only() {
        use LinkState::*;
        let mut cfg = bond(Mode::ActiveBackup, &[Up, Up, Up]);
        cfg.active_slot = 1;
        cfg.recompute();
        assert_eq!(cfg.tx_slots(), &[1]);
        assert_eq!(cfg.members[0].flags, 0);
        assert_eq!(cfg.members[1].flags, MEMBER_RX_ACCEPT);
        cfg.flags |= CFG_ALL_SLAVES_ACTIVE;
        cfg.recompute();
        assert_eq!(cfg.tx_slots(), &[1]);
        assert_eq!(cfg.members[0].flags, MEMBER_RX_ACCEPT);
        // An active member that went down transmits nothing until a new one is chosen.
        cfg.members[1].link = Down as u8;
        cfg.recompute();
        assert_eq!(cfg.tx_slots(), &[] as &[u8]);
    }

    #[test]
    fn recompute_8023ad_follows_the_controllers_lacp_flags() {
        use LinkState::*;
        let mut cfg = bond(Mode::Ieee8023ad, &[Up, Up, Down, Up]);
        // Members start neither collecting nor distributing: nothing moves.
        cfg.recompute();
        assert_eq!(cfg.tx_slots(), &[] as &[u8]);
        assert!(cfg.members[..4].iter().all(|m| m.flags == 0));
        assert!(!cfg.has_carrier());
        // Distributing on 0 and 2 (2 is down: not sent through), collecting on 0, 1 and 2.
        cfg.members[0].flags = MEMBER_LACP_COLLECTING | MEMBER_LACP_DISTRIBUTING;
        cfg.members[1].flags = MEMBER_LACP_COLLECTING;
        cfg.members[2].flags = MEMBER_LACP_COLLECTING | MEMBER_LACP_DISTRIBUTING;
        cfg.recompute();
        assert_eq!(cfg.tx_slots(), &[0]);
        let rx: [bool; 4] = core::array::from_fn(|s| cfg.members[s].flags & MEMBER_RX_ACCEPT != 0);
        assert_eq!(rx, [true, true, true, false]);
        // The controller's flags survive a recompute.
        assert_eq!(
            cfg.members[1].flags & MEMBER_LACP_MASK,
            MEMBER_LACP_COLLECTING
        );
        // Carrier and min_links count distributing members that are up.
        assert_eq!(cfg.carrier_members(), 1);
        assert!(cfg.has_carrier());
        cfg.min_links = 2;
        cfg.recompute();
        assert!(!cfg.has_carrier());
        assert_eq!(
            cfg.tx_slots(),
            &[] as &[u8],
            "below min_links nothing transmits"
        );
        cfg.members[3].flags = MEMBER_LACP_COLLECTING | MEMBER_LACP_DISTRIBUTING;
        cfg.recompute();
        assert_eq!(cfg.tx_slots(), &[0, 3]);
        // all_slaves_active delivers from every member, as in the other modes.
        cfg.flags |= CFG_ALL_SLAVES_ACTIVE;
        cfg.recompute();
        assert!(
            cfg.members[..4]
                .iter()
                .all(|m| m.flags & MEMBER_RX_ACCEPT != 0)
        );
        // Another mode drops the LACP flags: switching back starts from nothing.
        cfg.mode = Mode::BalanceXor as u32;
        cfg.recompute();
        assert!(cfg.members.iter().all(|m| m.flags & MEMBER_LACP_MASK == 0));
        assert_eq!(cfg.tx_slots(), &[0, 1, 3]);
        cfg.mode = Mode::Ieee8023ad as u32;
        cfg.recompute();
        assert_eq!(cfg.tx_slots(), &[] as &[u8]);
    }
}
