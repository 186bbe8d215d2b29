//! The bond's configuration as the data plane reads it, and the state userspace keeps next to
//! it. All types are `#[repr(C)]` map values with explicit padding.
//!
//! The data plane reads [`BondConfig`] through a double buffer (two slots and an index), so a
//! change of mode, members or link state reaches it as one atomic index flip; see
//! `bondxdp::maps::ConfigMap`.

use crate::{
    reciprocal::Reciprocal,
    weights::{BUCKETS, NO_BUCKET},
};

// The types a configuration is made of (defined in their own room, which imports nothing).
pub use crate::types::*;

/// [`BondConfig::nat_flags`]: all flows to one destination host use one uplink.
pub const NAT_STICKY_HOST: u32 = 1 << 0;

/// [`BondConfig::flags`]: members keep their own MACs; the egress program writes the member's
/// MAC as the source and the ingress program maps it back to the bond's.
pub const CFG_KEEP_MEMBER_MACS: u32 = 1 << 0;
/// [`BondConfig::flags`]: deliver frames received on inactive members too (kernel
/// `all_slaves_active`).
pub const CFG_ALL_SLAVES_ACTIVE: u32 = 1 << 1;

/// [`BondConfig::flags`] (derived from the mode by [`BondConfig::recompute`]): balance-tlb and
/// balance-alb. The active member is the "active receiver": it sends with the bond's MAC and
/// receives for it (and receives broadcasts); every other member sends with its own MAC and
/// delivers only unicast to its own MAC.
pub const CFG_ACTIVE_RECEIVER: u32 = 1 << 2;
/// [`BondConfig::flags`]: balance-tlb/alb with `tlb_dynamic_lb=0`: transmit by the
/// `xmit_hash_policy` hash instead of by load.
pub const CFG_TLB_HASH: u32 = 1 << 3;

/// [`BondConfig::xdp_flags`]: the XDP fast path forwards for the mode.
pub const XDP_FORWARDS: u8 = 1 << 0;
/// [`BondConfig::xdp_flags`]: the mode hashes transport ports, so fragments (the later ones
/// carry none) stay on the kernel's path.
pub const XDP_PORTS: u8 = 1 << 1;

/// Everything the data plane needs to know about one bond (one value of the config map).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BondConfig {
    /// Bumped by userspace on every change; lets readers tell configurations apart.
    pub generation: u64,
    /// CLOCK_MONOTONIC time (ns) at which this configuration was published: a writer waits
    /// until the previous one is old enough before reusing its slot.
    pub published_ns: u64,
    /// Interface index of the bond (the logical interface the stack uses).
    pub bond_ifindex: u32,
    /// [`Mode`] number.
    pub mode: u32,
    /// [`HashPolicy`] number (balance-xor and other hashing modes).
    pub hash_policy: u32,
    /// balance-rr: packets sent through a member before moving on; 0 = a random member.
    pub packets_per_slave: u32,
    /// `CFG_*` flags.
    pub flags: u32,
    /// The active member's slot ([`NO_SLOT`] if none): the only transmitter in
    /// active-backup, and the one that sends IGMP in balance-rr.
    pub active_slot: u32,
    /// Number of valid entries in `tx_slots`.
    pub tx_count: u32,
    /// Minimum number of members that must be up for the bond to transmit (`min_links`;
    /// 0 and 1 both mean "any").
    pub min_links: u32,
    /// Reciprocal of `tx_count` (derived): member choice without a divide instruction.
    pub tx_count_recip: Reciprocal,
    /// MAC address of the bond.
    pub bond_mac: [u8; 6],
    /// XDP fast path (derived from `mode` and `hash_policy`): the index in
    /// [`fast_path::XDP_LAN_PROGRAMS`] of the LAN-side program that forwards for this
    /// configuration. A LAN-side program forwards only when it is that one: for the moment a
    /// mode change takes, the previous mode's program may run on the new configuration.
    pub xdp_lan: u8,
    /// XDP fast path (derived): `XDP_*` flags saying what the fast path does for the mode.
    pub xdp_flags: u8,
    /// Slots eligible to transmit, in order (derived by [`BondConfig::recompute`]).
    pub tx_slots: [u8; MAX_MEMBERS],
    /// The members, indexed by slot. A member keeps its slot while it is in the bond, so
    /// per-member counters stay attached to it.
    pub members: [MemberSlot; MAX_MEMBERS],
    /// multi-wan: translation settings of each member, indexed by slot.
    pub uplinks: [Uplink; MAX_MEMBERS],
    /// Share of new flows per member (relative; weighted modes: multi-wan, balance-tlb,
    /// load-aware), indexed by slot.
    pub weights: [u16; MAX_MEMBERS],
    /// Weighted choice of a member for new flows (derived from `weights`): `[0]` for IPv4
    /// (and the link-aggregation modes), `[1]` for IPv6 (multi-wan).
    pub buckets: [[u8; BUCKETS]; 2],
    /// balance-tlb / load-aware: a flow idle longer than this may move (a new flowlet), ns.
    pub flowlet_ns: u64,
    /// multi-wan: lowest translated port.
    pub nat_port_min: u16,
    /// multi-wan: highest translated port.
    pub nat_port_max: u16,
    /// multi-wan: `NAT_*` flags.
    pub nat_flags: u32,
    /// balance-tlb/alb: seconds between learning packets from each member (`lp_interval`).
    pub lp_interval: u32,
    /// Explicit padding (keeps the layout free of implicit holes).
    pub _pad_tlb: u32,
}

/// The data plane's two configuration slots (one live, one spare), as one global.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigSlots {
    /// Indexed by the live-slot index.
    pub slots: [BondConfig; 2],
}

impl ConfigSlots {
    /// Both slots unwritten (generation 0).
    pub const ZERO: ConfigSlots = ConfigSlots {
        slots: [BondConfig::ZERO; 2],
    };
}

impl Default for BondConfig {
    fn default() -> Self {
        BondConfig {
            generation: 0,
            published_ns: 0,
            bond_ifindex: 0,
            mode: Mode::BalanceRr as u32,
            hash_policy: HashPolicy::Layer2 as u32,
            packets_per_slave: 1,
            flags: 0,
            active_slot: NO_SLOT,
            tx_count: 0,
            min_links: 0,
            tx_count_recip: Reciprocal::new(0),
            bond_mac: [0; 6],
            xdp_lan: 0,
            xdp_flags: 0,
            tx_slots: [0; MAX_MEMBERS],
            members: [MemberSlot::default(); MAX_MEMBERS],
            uplinks: [Uplink::ZERO; MAX_MEMBERS],
            weights: [1; MAX_MEMBERS],
            buckets: [[NO_BUCKET; BUCKETS]; 2],
            flowlet_ns: 20_000_000,
            nat_port_min: crate::multi_wan::DEFAULT_PORT_MIN,
            nat_port_max: crate::multi_wan::DEFAULT_PORT_MAX,
            nat_flags: 0,
            lp_interval: 1,
            _pad_tlb: 0,
        }
    }
}

impl BondConfig {
    /// All zeros: what the data plane sees before userspace writes anything.
    pub const ZERO: BondConfig = BondConfig {
        generation: 0,
        published_ns: 0,
        bond_ifindex: 0,
        mode: 0,
        hash_policy: 0,
        packets_per_slave: 0,
        flags: 0,
        active_slot: 0,
        tx_count: 0,
        min_links: 0,
        tx_count_recip: Reciprocal::new(0),
        bond_mac: [0; 6],
        xdp_lan: 0,
        xdp_flags: 0,
        tx_slots: [0; MAX_MEMBERS],
        members: [MemberSlot {
            ifindex: 0,
            mac: [0; 6],
            link: 0,
            flags: 0,
        }; MAX_MEMBERS],
        uplinks: [Uplink::ZERO; MAX_MEMBERS],
        weights: [0; MAX_MEMBERS],
        buckets: [[0; BUCKETS]; 2],
        flowlet_ns: 0,
        nat_port_min: 0,
        nat_port_max: 0,
        nat_flags: 0,
        lp_interval: 0,
        _pad_tlb: 0,
    };

    /// The configured mode, if the number is known.
    pub const fn mode(&self) -> Option<Mode> {
        Mode::from_u32(self.mode)
    }

    /// The configured hash policy, if the number is known.
    pub const fn hash_policy(&self) -> Option<HashPolicy> {
        HashPolicy::from_u32(self.hash_policy)
    }

    /// Whether flag `CFG_*` is set.
    pub const fn has_flag(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// The source MAC of frames the member in `slot` sends: its own with `keep_member_macs`,
    /// and in balance-tlb/alb for every member but the active receiver; the bond's otherwise (a
    /// reference into the configuration: the XDP path copies it in aligned words).
    #[inline(always)]
    pub fn source_mac(&self, slot: usize) -> &[u8; 6] {
        let Some(member) = self.members.get(slot) else {
            return &self.bond_mac;
        };
        if self.has_flag(CFG_ACTIVE_RECEIVER) {
            if slot as u32 == self.active_slot {
                &self.bond_mac
            } else {
                &member.mac
            }
        } else if self.has_flag(CFG_KEEP_MEMBER_MACS) {
            &member.mac
        } else {
            &self.bond_mac
        }
    }

    /// Whether frames sent through a member need their source MAC written (the bond's MAC is
    /// what the stack wrote).
    #[inline(always)]
    pub const fn rewrites_source(&self) -> bool {
        self.flags & (CFG_KEEP_MEMBER_MACS | CFG_ACTIVE_RECEIVER) != 0
    }

    /// The slot holding interface `ifindex`.
    #[inline(always)]
    pub fn slot_of(&self, ifindex: u32) -> Option<usize> {
        if ifindex == 0 {
            return None;
        }
        let mut slot = 0;
        while slot < MAX_MEMBERS {
            if self.members[slot].ifindex == ifindex {
                return Some(slot);
            }
            slot += 1;
        }
        None
    }

    /// The first empty slot.
    pub fn free_slot(&self) -> Option<usize> {
        self.members.iter().position(|m| !m.is_used())
    }

    /// Number of members.
    pub fn member_count(&self) -> usize {
        self.members.iter().filter(|m| m.is_used()).count()
    }

    /// The slots eligible to transmit.
    pub fn tx_slots(&self) -> &[u8] {
        let n = (self.tx_count as usize).min(MAX_MEMBERS);
        &self.tx_slots[..n]
    }

    /// Number of members whose link is up.
    pub fn members_up(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.is_used() && m.link_state() == LinkState::Up)
            .count()
    }

    /// Members that count for the bond's carrier: those up, and in 802.3ad only those also
    /// distributing (the kernel counts the active aggregator's ports).
    pub fn carrier_members(&self) -> usize {
        if self.mode() != Some(Mode::Ieee8023ad) {
            return self.members_up();
        }
        self.members
            .iter()
            .filter(|m| {
                m.is_used()
                    && m.link_state() == LinkState::Up
                    && m.flags & MEMBER_LACP_DISTRIBUTING != 0
            })
            .count()
    }

    /// Whether the bond has carrier: at least `min_links` (and at least one) members up (in
    /// 802.3ad: distributing).
    pub fn has_carrier(&self) -> bool {
        self.carrier_members() >= (self.min_links as usize).max(1)
    }

    /// Whether two configurations would make the data plane act the same (ignores the
    /// generation and publication time).
    pub fn same_effect(&self, other: &BondConfig) -> bool {
        let strip = |c: &BondConfig| BondConfig {
            generation: 0,
            published_ns: 0,
            ..*c
        };
        strip(self) == strip(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_has_no_implicit_padding() {
        assert_eq!(
            core::mem::size_of::<BondConfig>(),
            16 + 8 * 4
                + 8
                + 8
                + 16
                + 12 * MAX_MEMBERS
                + 40 * MAX_MEMBERS
                + 2 * MAX_MEMBERS
                + 2 * BUCKETS
                + 8
                + 8
                + 8
        );
    }

    use crate::testing::bond_with_links as bond;

    #[test]
    fn slot_lookup() {
        let cfg = bond(Mode::BalanceRr, &[LinkState::Up, LinkState::Up]);
        assert_eq!(cfg.slot_of(11), Some(1));
        assert_eq!(cfg.slot_of(12), None);
        assert_eq!(cfg.slot_of(0), None);
        assert_eq!(cfg.free_slot(), Some(2));
        assert_eq!(cfg.member_count(), 2);
    }
}
