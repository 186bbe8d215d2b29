//! The bond's configuration as the data plane reads it, and the state userspace keeps next to
//! it. All types are `#[repr(C)]` map values with explicit padding.
//!
//! The data plane reads [`BondConfig`] through a double buffer (two slots and an index), so a
//! change of mode, members or link state reaches it as one atomic index flip; see
//! `bondxdp::maps::ConfigMap`.

use crate::{
    forward,
    reciprocal::Reciprocal,
    weights::{BUCKETS, NO_BUCKET},
};

/// Most members one bond can have (the kernel has no fixed limit; 16 covers real LAGs).
pub const MAX_MEMBERS: usize = 16;
const _: () = assert!(MAX_MEMBERS.is_power_of_two(), "slots are masked into range");

/// Marks "no member" in slot-valued fields.
pub const NO_SLOT: u32 = u32::MAX;

/// Bonding modes, numbered as the kernel numbers them.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// 0: packets go to the members in turn.
    BalanceRr = 0,
    /// 1: one active member transmits and receives; the others stand by.
    ActiveBackup = 1,
    /// 2: a hash of the headers ([`HashPolicy`]) picks the member, so a flow stays on one.
    BalanceXor = 2,
    /// 3: every packet goes out of every member.
    Broadcast = 3,
    /// 4: IEEE 802.3ad dynamic link aggregation (LACP).
    Ieee8023ad = 4,
    /// 5: adaptive transmit load balancing.
    BalanceTlb = 5,
    /// 6: adaptive load balancing.
    BalanceAlb = 6,
    /// 16 (bondxdp's own): uplinks to different networks (ISPs); every flow is pinned to one
    /// uplink and translated to its address.
    MultiWan = 16,
    /// 17 (bondxdp's own): flows (and flowlets) go to members in proportion to their spare
    /// capacity, measured by the controller.
    LoadAware = 17,
    /// 18 (bondxdp's own): a user's eBPF program picks the member (`--select-program`),
    /// called through a tail call with a documented context (see [`crate::modes::custom`]).
    Custom = 18,
}

impl Mode {
    /// Every mode, in kernel order.
    pub const ALL: [Mode; 10] = [
        Mode::BalanceRr,
        Mode::ActiveBackup,
        Mode::BalanceXor,
        Mode::Broadcast,
        Mode::Ieee8023ad,
        Mode::BalanceTlb,
        Mode::BalanceAlb,
        Mode::MultiWan,
        Mode::LoadAware,
        Mode::Custom,
    ];

    /// The mode with kernel number `n`.
    pub const fn from_u32(n: u32) -> Option<Mode> {
        Some(match n {
            0 => Mode::BalanceRr,
            1 => Mode::ActiveBackup,
            2 => Mode::BalanceXor,
            3 => Mode::Broadcast,
            4 => Mode::Ieee8023ad,
            5 => Mode::BalanceTlb,
            6 => Mode::BalanceAlb,
            16 => Mode::MultiWan,
            17 => Mode::LoadAware,
            18 => Mode::Custom,
            _ => return None,
        })
    }

    /// The kernel's option name (`mode=balance-rr`).
    pub const fn name(self) -> &'static str {
        match self {
            Mode::BalanceRr => "balance-rr",
            Mode::ActiveBackup => "active-backup",
            Mode::BalanceXor => "balance-xor",
            Mode::Broadcast => "broadcast",
            Mode::Ieee8023ad => "802.3ad",
            Mode::BalanceTlb => "balance-tlb",
            Mode::BalanceAlb => "balance-alb",
            Mode::MultiWan => "multi-wan",
            Mode::LoadAware => "load-aware",
            Mode::Custom => "custom",
        }
    }

    /// The description `/proc/net/bonding` prints ("Bonding Mode: ...").
    pub const fn description(self) -> &'static str {
        match self {
            Mode::BalanceRr => "load balancing (round-robin)",
            Mode::ActiveBackup => "fault-tolerance (active-backup)",
            Mode::BalanceXor => "load balancing (xor)",
            Mode::Broadcast => "fault-tolerance (broadcast)",
            Mode::Ieee8023ad => "IEEE 802.3ad Dynamic link aggregation",
            Mode::BalanceTlb => "transmit load balancing",
            Mode::BalanceAlb => "adaptive load balancing",
            Mode::MultiWan => "multi-uplink (per-flow, translated to each uplink's address)",
            Mode::LoadAware => "load-aware (flowlets to members by spare capacity)",
            Mode::Custom => "custom (a user's selection program)",
        }
    }

    /// Parses a kernel mode name or number (`balance-rr`, `0`).
    pub fn parse(s: &str) -> Option<Mode> {
        let mut i = 0;
        while i < Mode::ALL.len() {
            let mode = Mode::ALL[i];
            if s.eq_ignore_ascii_case(mode.name()) {
                return Some(mode);
            }
            i += 1;
        }
        s.parse::<u32>().ok().and_then(Mode::from_u32)
    }

    /// Whether the mode picks members by [`HashPolicy`].
    pub const fn uses_hash(self) -> bool {
        matches!(
            self,
            Mode::BalanceXor | Mode::Ieee8023ad | Mode::BalanceTlb | Mode::Custom
        )
    }

    /// Whether one member is "active" and the others only stand by.
    pub const fn uses_active(self) -> bool {
        matches!(self, Mode::ActiveBackup)
    }

    /// Whether new flows go to members by weight (a bucket table).
    pub const fn uses_weights(self) -> bool {
        matches!(
            self,
            Mode::MultiWan | Mode::BalanceTlb | Mode::LoadAware | Mode::Custom
        )
    }

    /// Whether members are uplinks to different networks that keep their own addresses
    /// (nothing about them is changed) rather than ports of one link aggregate.
    pub const fn is_multi_uplink(self) -> bool {
        matches!(self, Mode::MultiWan)
    }
}

/// Transmit hash policies, numbered as the kernel numbers them (`xmit_hash_policy`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashPolicy {
    /// 0: MAC addresses and EtherType.
    Layer2 = 0,
    /// 1: IP addresses and ports.
    Layer34 = 1,
    /// 2: MAC addresses and IP addresses.
    Layer23 = 2,
    /// 3: like layer2+3, but the innermost headers of tunnelled packets.
    Encap23 = 3,
    /// 4: like layer3+4, but the innermost headers of tunnelled packets.
    Encap34 = 4,
    /// 5: source MAC and VLAN id.
    VlanSrcMac = 5,
}

impl HashPolicy {
    /// Every policy, in kernel order.
    pub const ALL: [HashPolicy; 6] = [
        HashPolicy::Layer2,
        HashPolicy::Layer34,
        HashPolicy::Layer23,
        HashPolicy::Encap23,
        HashPolicy::Encap34,
        HashPolicy::VlanSrcMac,
    ];

    /// The policy with kernel number `n`.
    pub const fn from_u32(n: u32) -> Option<HashPolicy> {
        Some(match n {
            0 => HashPolicy::Layer2,
            1 => HashPolicy::Layer34,
            2 => HashPolicy::Layer23,
            3 => HashPolicy::Encap23,
            4 => HashPolicy::Encap34,
            5 => HashPolicy::VlanSrcMac,
            _ => return None,
        })
    }

    /// The kernel's option name (`xmit_hash_policy=layer3+4`).
    pub const fn name(self) -> &'static str {
        match self {
            HashPolicy::Layer2 => "layer2",
            HashPolicy::Layer34 => "layer3+4",
            HashPolicy::Layer23 => "layer2+3",
            HashPolicy::Encap23 => "encap2+3",
            HashPolicy::Encap34 => "encap3+4",
            HashPolicy::VlanSrcMac => "vlan+srcmac",
        }
    }

    /// Parses a kernel policy name or number (`layer3+4`, `1`).
    pub fn parse(s: &str) -> Option<HashPolicy> {
        let mut i = 0;
        while i < HashPolicy::ALL.len() {
            let policy = HashPolicy::ALL[i];
            if s.eq_ignore_ascii_case(policy.name()) {
                return Some(policy);
            }
            i += 1;
        }
        s.parse::<u32>().ok().and_then(HashPolicy::from_u32)
    }
}

/// A member's link as the controller last judged it.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// Not usable: no carrier, or a monitor declared it failed.
    Down = 0,
    /// Usable.
    Up = 1,
}

impl LinkState {
    /// Decodes the byte stored in [`MemberSlot::link`]; unknown values read as down.
    pub const fn from_u8(v: u8) -> LinkState {
        if v == LinkState::Up as u8 {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }
}

/// [`MemberSlot::flags`]: frames received on this member are delivered to the bond.
pub const MEMBER_RX_ACCEPT: u8 = 1 << 0;
/// [`MemberSlot::flags`], 802.3ad: the controller's LACP actor has the member collecting
/// (what it receives may be delivered). Set by the controller, kept by
/// [`BondConfig::recompute`], cleared outside 802.3ad.
pub const MEMBER_LACP_COLLECTING: u8 = 1 << 1;
/// [`MemberSlot::flags`], 802.3ad: the controller's LACP actor has the member distributing
/// (it may transmit). Set by the controller like [`MEMBER_LACP_COLLECTING`].
pub const MEMBER_LACP_DISTRIBUTING: u8 = 1 << 2;
/// The flags the controller sets rather than [`BondConfig::recompute`] derives.
pub const MEMBER_LACP_MASK: u8 = MEMBER_LACP_COLLECTING | MEMBER_LACP_DISTRIBUTING;

/// One member as the data plane sees it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberSlot {
    /// Interface index of the member; 0 marks an empty slot.
    pub ifindex: u32,
    /// Source MAC the member transmits with (with `keep_member_macs`: its own).
    pub mac: [u8; 6],
    /// [`LinkState`] as a byte.
    pub link: u8,
    /// `MEMBER_*` flags: `MEMBER_RX_ACCEPT` derived by [`BondConfig::recompute`], the
    /// `MEMBER_LACP_*` ones set by the controller (802.3ad).
    pub flags: u8,
}

impl MemberSlot {
    /// Whether the slot holds a member.
    pub const fn is_used(&self) -> bool {
        self.ifindex != 0
    }

    /// The member's link state.
    pub const fn link_state(&self) -> LinkState {
        LinkState::from_u8(self.link)
    }
}

/// [`Uplink::flags`]: the uplink carries raw IP (TUN, PPP, raw-IP modems): no Ethernet header.
pub const UPLINK_L3: u8 = 1 << 0;
/// [`Uplink::flags`]: IPv4 flows can use the uplink (address and next hop known).
pub const UPLINK_V4: u8 = 1 << 1;
/// [`Uplink::flags`]: IPv6 flows can use the uplink (global address and next hop known).
pub const UPLINK_V6: u8 = 1 << 2;

/// A member of a multi-uplink bond: what translation to its network needs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uplink {
    /// The uplink's IPv4 address (bytes in packet order, as a little-endian load reads them).
    pub addr4: u32,
    /// The uplink's global IPv6 address ([`crate::nat::Addr`]).
    pub addr6: crate::nat::Addr,
    /// MAC of the IPv4 next hop (the gateway).
    pub gw_mac4: [u8; 6],
    /// MAC of the IPv6 next hop (the router).
    pub gw_mac6: [u8; 6],
    /// Padding; zero.
    pub pad2: u16,
    /// `UPLINK_*` flags.
    pub flags: u8,
    /// Padding; zero.
    pub pad: u8,
    /// Bumped whenever flows through the uplink become invalid (address change, failure):
    /// flows created under an older epoch are created again.
    pub epoch: u32,
}

impl Uplink {
    /// All zeros (const).
    pub const ZERO: Uplink = Uplink {
        addr4: 0,
        addr6: [0; 4],
        gw_mac4: [0; 6],
        gw_mac6: [0; 6],
        pad2: 0,
        flags: 0,
        pad: 0,
        epoch: 0,
    };

    /// The uplink's address for `family` ([`crate::nat::FAMILY_V4`] or `_V6`), as a flow
    /// address (IPv4 in the first four bytes).
    #[inline(always)]
    pub fn addr(&self, family: u8) -> crate::nat::Addr {
        if family == crate::nat::FAMILY_V4 {
            [self.addr4, 0, 0, 0]
        } else {
            self.addr6
        }
    }

    /// The uplink's readiness flag for `family`.
    #[inline(always)]
    pub const fn family_flag(family: u8) -> u8 {
        if family == crate::nat::FAMILY_V4 {
            UPLINK_V4
        } else {
            UPLINK_V6
        }
    }
}

/// [`BondConfig::nat_flags`]: all flows to one destination host use one uplink.
pub const NAT_STICKY_HOST: u32 = 1 << 0;

/// [`BondConfig::flags`]: members keep their own MACs; the egress program writes the member's
/// MAC as the source and the ingress program maps it back to the bond's.
pub const CFG_KEEP_MEMBER_MACS: u32 = 1 << 0;
/// [`BondConfig::flags`]: deliver frames received on inactive members too (kernel
/// `all_slaves_active`).
pub const CFG_ALL_SLAVES_ACTIVE: u32 = 1 << 1;

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
    /// [`forward::XDP_LAN_PROGRAMS`] of the LAN-side program that forwards for this
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
            nat_port_min: crate::nat::DEFAULT_PORT_MIN,
            nat_port_max: crate::nat::DEFAULT_PORT_MAX,
            nat_flags: 0,
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

    /// Derives what the data plane acts on from the members' link states, the mode and (in
    /// 802.3ad) the controller's `MEMBER_LACP_*` flags: the transmit list and each member's
    /// receive flag. `active_slot` must already be chosen (see
    /// [`crate::modes::active_backup::choose_active`]). Outside 802.3ad the LACP flags are
    /// cleared, so a bond switched to 802.3ad starts with no member collecting or
    /// distributing.
    pub fn recompute(&mut self) {
        let mode = self.mode().unwrap_or(Mode::BalanceRr);
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
            Some(mode) if forward::accelerates(mode) => {
                let ports = if forward::uses_ports(mode, policy) {
                    XDP_PORTS
                } else {
                    0
                };
                (forward::lan_program_for(mode, policy), XDP_FORWARDS | ports)
            }
            _ => (forward::XDP_LAN_PASS, 0),
        };
        self.xdp_lan = forward::lan_index(program);
        self.xdp_flags = flags;
    }

    /// Rebuilds the weighted tables from the members that transmit (for multi-wan: per
    /// address family, those ready for it), moving as few buckets as possible.
    fn rebuild_buckets(&mut self, mode: Mode) {
        for (family, flag) in [(0, UPLINK_V4), (1, UPLINK_V6)] {
            let mut weights = [0u32; MAX_MEMBERS];
            for &slot in self.tx_slots() {
                let slot = slot as usize;
                if !mode.is_multi_uplink() || self.uplinks[slot].flags & flag != 0 {
                    weights[slot] = self.weights[slot] as u32;
                }
            }
            crate::weights::rebuild(&mut self.buckets[family], &weights);
        }
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

/// What userspace must remember to put a member back as it found it (never read by eBPF).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberRestore {
    /// Interface index at enslave time; 0 marks an empty entry.
    pub ifindex: u32,
    /// MTU before enslaving.
    pub mtu: u32,
    /// Interface name, NUL-padded.
    pub name: [u8; 16],
    /// MAC address before enslaving.
    pub mac: [u8; 6],
    /// Whether the link was administratively up.
    pub was_up: u8,
    /// Whether promiscuous mode was on.
    pub was_promisc: u8,
    /// Whether all-multicast was on.
    pub was_allmulti: u8,
    /// `net.ipv6.conf.IF.disable_ipv6` before enslaving (0xff: unknown, leave alone).
    pub ipv6_disabled: u8,
    /// `RESTORE_*` flags.
    pub flags: u8,
    /// Padding; zero.
    pub pad: u8,
}

/// [`MemberRestore::flags`]: the member was never changed (multi-wan uplinks keep
/// everything): nothing to put back.
pub const RESTORE_UNTOUCHED: u8 = 1 << 0;

/// Most ARP (and NS) targets a bond can probe (kernel `BOND_MAX_ARP_TARGETS`).
pub const MAX_TARGETS: usize = 16;

/// How the controller watches a bond's links (kernel option names in parentheses). Stored
/// in [`BondState`] so a restarted controller honours what `up` or `set` configured.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Carrier polling interval in ms; 0 = no polling (`miimon`).
    pub miimon_ms: u32,
    /// Delay before a recovered link is used, ms (`updelay`).
    pub updelay_ms: u32,
    /// Delay before a failed link is abandoned, ms (`downdelay`).
    pub downdelay_ms: u32,
    /// ARP/NS probe interval in ms; 0 = no probing (`arp_interval`).
    pub arp_interval_ms: u32,
    /// Probe intervals without an answer before a link is down (`arp_missed_max`).
    pub arp_missed_max: u32,
    /// Gratuitous ARPs / unsolicited NAs sent after a failover (`num_grat_arp`).
    pub num_grat_arp: u32,
    /// `primary_reselect`: 0 always, 1 better, 2 failure.
    pub primary_reselect: u8,
    /// `arp_validate`: 0 none, 1 active, 2 backup, 3 all.
    pub arp_validate: u8,
    /// `arp_all_targets`: 0 any, 1 all.
    pub arp_all_targets: u8,
    /// 1: act on netlink link events at once (default); 0: rely on polling only.
    pub link_events: u8,
    /// Number of valid entries in `arp_targets`.
    pub arp_target_count: u32,
    /// Number of valid entries in `ns_targets`.
    pub ns_target_count: u32,
    /// IPv4 probe targets (`arp_ip_target`).
    pub arp_targets: [[u8; 4]; MAX_TARGETS],
    /// IPv6 probe targets (`ns_ip6_target`).
    pub ns_targets: [[u8; 16]; MAX_TARGETS],
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            miimon_ms: 100,
            updelay_ms: 0,
            downdelay_ms: 0,
            arp_interval_ms: 0,
            arp_missed_max: 2,
            num_grat_arp: 1,
            primary_reselect: 0,
            arp_validate: 0,
            arp_all_targets: 0,
            link_events: 1,
            arp_target_count: 0,
            ns_target_count: 0,
            arp_targets: [[0; 4]; MAX_TARGETS],
            ns_targets: [[0; 16]; MAX_TARGETS],
        }
    }
}

/// [`MwanRecord::flags`]: all flows to one destination host use one uplink.
pub const MWAN_STICKY_HOST: u32 = 1 << 0;
/// [`MwanRecord::flags`]: do not install the default routes through the bond.
pub const MWAN_NO_DEFAULT_ROUTE: u32 = 1 << 1;
/// [`MwanRecord::flags`]: reset the host's TCP connections through an uplink that fails.
pub const MWAN_RESET_ON_FAILOVER: u32 = 1 << 2;

/// multi-wan options as pinned in [`BondState`] (userspace only). Addresses are in packet
/// byte order; IPv4 addresses of mixed lists are IPv4-mapped IPv6 (`::ffff:a.b.c.d`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MwanRecord {
    /// Probe interval while an uplink looks healthy, ms.
    pub probe_interval_ms: u32,
    /// Time after which an unanswered probe counts as lost (at least; grows with the
    /// measured round trip), ms.
    pub probe_timeout_ms: u32,
    /// Probe interval while confirming a suspected failure, ms.
    pub probe_failure_interval_ms: u32,
    /// Failed probe rounds in a row before an uplink is down.
    pub probe_down: u32,
    /// Successful probe rounds in a row before a down uplink is up again.
    pub probe_up: u32,
    /// A reply slower than this counts as lost (0: no limit), ms.
    pub probe_max_rtt_ms: u32,
    /// Number of valid entries in `probes`.
    pub probe_count: u32,
    /// `MWAN_*` flags.
    pub flags: u32,
    /// Flow table size.
    pub max_flows: u32,
    /// Lowest translated port.
    pub port_min: u16,
    /// Highest translated port.
    pub port_max: u16,
    /// Probe targets.
    pub probes: [[u8; 16]; MAX_TARGETS],
    /// TCP port to probe each target on (0: ICMP echo).
    pub probe_ports: [u16; MAX_TARGETS],
    /// The bond's own IPv4 address (what local flows start from).
    pub address4: [u8; 4],
    /// Its prefix length; 0: none.
    pub prefix4: u8,
    /// Its IPv6 prefix length; 0: none.
    pub prefix6: u8,
    /// Padding; zero.
    pub pad: [u8; 2],
    /// The bond's own IPv6 address.
    pub address6: [u8; 16],
    /// Configured IPv4 gateway per member slot (zero: from the member's default route).
    pub gateways4: [[u8; 4]; MAX_MEMBERS],
    /// Configured IPv6 gateway per member slot (zero: from the member's default route).
    pub gateways6: [[u8; 16]; MAX_MEMBERS],
}

impl Default for MwanRecord {
    fn default() -> Self {
        MwanRecord {
            probe_interval_ms: 300,
            probe_timeout_ms: 150,
            probe_failure_interval_ms: 100,
            probe_down: 3,
            probe_up: 3,
            probe_max_rtt_ms: 0,
            probe_count: 0,
            flags: 0,
            max_flows: 524_288,
            port_min: crate::nat::DEFAULT_PORT_MIN,
            port_max: crate::nat::DEFAULT_PORT_MAX,
            probes: [[0; 16]; MAX_TARGETS],
            probe_ports: [0; MAX_TARGETS],
            address4: [0; 4],
            prefix4: 0,
            prefix6: 0,
            pad: [0; 2],
            address6: [0; 16],
            gateways4: [[0; 4]; MAX_MEMBERS],
            gateways6: [[0; 16]; MAX_MEMBERS],
        }
    }
}

/// [`UplinkHealth::state`]: no controller has judged the uplink yet.
pub const HEALTH_UNKNOWN: u8 = 0;
/// [`UplinkHealth::state`]: probes answered.
pub const HEALTH_UP: u8 = 1;
/// [`UplinkHealth::state`]: probes went unanswered; confirming.
pub const HEALTH_CONFIRMING: u8 = 2;
/// [`UplinkHealth::state`]: declared down (carrier lost or probes unanswered).
pub const HEALTH_DOWN: u8 = 3;

/// [`UplinkHealth::problems`]: the uplink has no usable address.
pub const PROBLEM_NO_ADDRESS: u32 = 1 << 0;
/// [`UplinkHealth::problems`]: no gateway (no default route through it, none configured).
pub const PROBLEM_NO_GATEWAY: u32 = 1 << 1;
/// [`UplinkHealth::problems`]: the gateway's MAC is not known yet.
pub const PROBLEM_GATEWAY_UNRESOLVED: u32 = 1 << 2;

/// What the controller last concluded about one multi-wan uplink (userspace record, pinned
/// so that `status` can show it; the programs never read it).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UplinkHealth {
    /// `HEALTH_*`.
    pub state: u8,
    /// Padding; zero.
    pub pad: [u8; 3],
    /// Smoothed probe round trip, µs (0: none measured).
    pub srtt_us: u32,
    /// Recent probe loss, per mille.
    pub loss_permille: u32,
    /// `PROBLEM_*` flags.
    pub problems: u32,
    /// Probes sent.
    pub probes_sent: u64,
    /// Replies received in time.
    pub replies: u64,
    /// Flows of this uplink the controller removed (expired, or the uplink failed).
    pub swept: u64,
    /// CLOCK_MONOTONIC time of this record, ns.
    pub updated_ns: u64,
    /// The IPv4 gateway in use.
    pub gw4: [u8; 4],
    /// The IPv6 gateway in use.
    pub gw6: [u8; 16],
}

/// How new flows are weighed (multi-wan, balance-tlb, load-aware), as pinned in
/// [`BondState`] (userspace only).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BalanceRecord {
    /// How often the controller recomputes weights from spare capacity, ms (0: never).
    pub rebalance_interval_ms: u32,
    /// Padding; zero.
    pub pad: u32,
    /// Configured weight per member slot (0: none; the controller's, else 1).
    pub weights: [u32; MAX_MEMBERS],
    /// Configured capacity per member slot, Mbit/s (0: the link's speed).
    pub speeds_mbps: [u32; MAX_MEMBERS],
}

impl Default for BalanceRecord {
    fn default() -> Self {
        BalanceRecord {
            rebalance_interval_ms: 1000,
            pad: 0,
            weights: [0; MAX_MEMBERS],
            speeds_mbps: [0; MAX_MEMBERS],
        }
    }
}

/// Longest `select_program` (`FILE.o[:PROGRAM]`) a [`CustomRecord`] holds, bytes.
pub const SELECT_PROGRAM_MAX: usize = 256;

/// The custom mode's selection program, as pinned in [`BondState`] (userspace only).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CustomRecord {
    /// `FILE.o[:PROGRAM]` as loaded (absolute path), NUL-padded; empty: none loaded.
    pub program: [u8; SELECT_PROGRAM_MAX],
}

impl Default for CustomRecord {
    fn default() -> Self {
        CustomRecord {
            program: [0; SELECT_PROGRAM_MAX],
        }
    }
}

/// Most `--forward-from` interfaces per bond.
pub const MAX_FORWARD: usize = 8;

/// The XDP fast path's LAN-side interfaces, as pinned in [`BondState`] (userspace only).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardRecord {
    /// Interface indexes (0: free).
    pub ifindex: [u32; MAX_FORWARD],
    /// Their names, NUL-padded.
    pub names: [[u8; 16]; MAX_FORWARD],
    /// Bit `i`: interface `i` runs its program in generic (skb) mode; bit 16 + slot: member
    /// `slot` does.
    pub generic: u32,
    /// Padding; zero.
    pub pad: u32,
}

/// [`LacpRecord::flags`]: `lacp_rate fast` (ask the partner for a LACPDU every second).
pub const LACP_RATE_FAST: u8 = 1 << 0;
/// [`LacpRecord::flags`]: `lacp_active off` (passive: only answer a partner that speaks).
pub const LACP_PASSIVE: u8 = 1 << 1;

/// [`LacpPortRecord::flags`]: carrier up (as last reported to the actor).
pub const LACP_PORT_LINK_UP: u8 = 1 << 0;
/// [`LacpPortRecord::flags`]: the link is full duplex.
pub const LACP_PORT_FULL_DUPLEX: u8 = 1 << 1;
/// [`LacpPortRecord::flags`]: `partner` was heard (not the administrative default).
pub const LACP_PORT_PARTNER_KNOWN: u8 = 1 << 2;
/// [`LacpPortRecord::flags`]: collecting.
pub const LACP_PORT_COLLECTING: u8 = 1 << 3;
/// [`LacpPortRecord::flags`]: distributing.
pub const LACP_PORT_DISTRIBUTING: u8 = 1 << 4;

/// The far end of a port as a LACPDU describes it (IEEE 802.1AX actor/partner information).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LacpInfoRecord {
    /// System priority.
    pub system_priority: u16,
    /// System identifier (a MAC address).
    pub system: [u8; 6],
    /// Operational key.
    pub key: u16,
    /// Port priority.
    pub port_priority: u16,
    /// Port number.
    pub port: u16,
    /// The eight LACP state bits.
    pub state: u8,
    /// Padding; zero.
    pub pad: u8,
}

/// What one LACP port counted (userspace record; the fields of `lacp::PortCounters`, the
/// decoder's rejections by reason flattened in, plus the driver's own send failures).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LacpCountersRecord {
    /// LACPDUs received.
    pub lacpdu_rx: u64,
    /// LACPDUs sent.
    pub lacpdu_tx: u64,
    /// Marker Information PDUs received.
    pub marker_rx: u64,
    /// Marker Responses received.
    pub marker_response_rx: u64,
    /// Marker Responses sent.
    pub marker_response_tx: u64,
    /// Marker Information PDUs left unanswered.
    pub marker_dropped: u64,
    /// Rejected: shorter than a PDU.
    pub truncated: u64,
    /// Rejected: longer than 128 bytes.
    pub oversized: u64,
    /// Rejected: not ethertype 0x8809.
    pub not_slow_protocols: u64,
    /// Rejected: not to 01:80:c2:00:00:02.
    pub wrong_destination: u64,
    /// Rejected: a Slow Protocol other than LACP and Marker.
    pub unknown_subtype: u64,
    /// Rejected: version 0.
    pub wrong_version: u64,
    /// Rejected: a TLV with the wrong type or length.
    pub bad_tlv: u64,
    /// Our own LACPDUs heard back (a loop).
    pub loops: u64,
    /// LACPDUs naming another partner than the current one.
    pub partner_changes: u64,
    /// Partner information timed out.
    pub expiries: u64,
    /// Fell back to the default partner.
    pub defaulted: u64,
    /// Actor churn found.
    pub actor_churns: u64,
    /// Partner churn found.
    pub partner_churns: u64,
    /// Frames the controller failed to send on the member.
    pub tx_errors: u64,
}

/// One 802.3ad member port as the controller's LACP actor last had it (userspace record):
/// enough to show it (`status`) and to resume it after a controller restart.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LacpPortRecord {
    /// Interface index of the member this record describes; 0: none.
    pub ifindex: u32,
    /// Link speed as last reported, Mbit/s.
    pub speed_mbps: u32,
    /// `LACP_PORT_*` flags.
    pub flags: u8,
    /// Mux machine state (`lacp::MuxState` as numbered in `bondxdp::lacp::record`).
    pub mux: u8,
    /// Receive machine state (likewise).
    pub rx: u8,
    /// Selection (likewise).
    pub selection: u8,
    /// Actor churn machine state (likewise).
    pub actor_churn: u8,
    /// Partner churn machine state (likewise).
    pub partner_churn: u8,
    /// Padding; zero.
    pub pad: [u8; 2],
    /// The aggregator the port is in; 0: none.
    pub aggregator: u16,
    /// Port number in our LACPDUs.
    pub port_number: u16,
    /// Port priority in our LACPDUs.
    pub port_priority: u16,
    /// The member's own MAC (the source of its LACPDUs).
    pub mac: [u8; 6],
    /// Padding; zero.
    pub pad2: [u8; 4],
    /// What the port tells its partner (our system, key, port and state bits).
    pub actor: LacpInfoRecord,
    /// The partner as the port knows it.
    pub partner: LacpInfoRecord,
    /// Counters.
    pub counters: LacpCountersRecord,
}

/// 802.3ad: the LACP options and the controller's record of its actor (userspace record in
/// [`BondState`]). `up`/`set` write the options; the controller writes the rest (without
/// bumping [`BondState::generation`]) whenever its actor changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LacpRecord {
    /// `LACP_RATE_FAST`, `LACP_PASSIVE`.
    pub flags: u8,
    /// `ad_select`: 0 stable, 1 bandwidth, 2 count.
    pub ad_select: u8,
    /// `ad_actor_sys_prio` (1-65535).
    pub system_priority: u16,
    /// `ad_user_port_key` (0-1023).
    pub user_port_key: u16,
    /// `ad_actor_system`; all zeros: the bond's MAC.
    pub actor_system: [u8; 6],
    /// The active aggregator's identifier; 0: none.
    pub active_aggregator: u16,
    /// Padding; zero.
    pub pad: [u8; 2],
    /// CLOCK_MONOTONIC time the controller last wrote the ports, ns (0: never).
    pub updated_ns: u64,
    /// The member ports, indexed like [`BondConfig::members`].
    pub ports: [LacpPortRecord; MAX_MEMBERS],
}

impl Default for LacpRecord {
    fn default() -> Self {
        LacpRecord {
            flags: 0,
            ad_select: 0,
            system_priority: 0xffff,
            user_port_key: 0,
            actor_system: [0; 6],
            active_aggregator: 0,
            pad: [0; 2],
            updated_ns: 0,
            ports: [LacpPortRecord::default(); MAX_MEMBERS],
        }
    }
}

/// Magic value of a written [`BondState`].
pub const BOND_STATE_MAGIC: u32 = 0x6278_6470; // "bxdp"
/// Layout version of [`BondState`].
pub const BOND_STATE_VERSION: u32 = 9;

/// Userspace's persistent record of a bond, pinned with its maps so that `down`, `status` and
/// a restarted controller work without any process having stayed alive.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BondState {
    /// [`BOND_STATE_MAGIC`] once written.
    pub magic: u32,
    /// [`BOND_STATE_VERSION`].
    pub version: u32,
    /// Interface index of the bond.
    pub bond_ifindex: u32,
    /// Interface index of the bond's veth peer (kept up, never used).
    pub peer_ifindex: u32,
    /// The configured primary's slot ([`NO_SLOT`]: none).
    pub primary_slot: u32,
    /// Bumped on every change of this record (the controller re-reads options when it moves).
    pub generation: u32,
    /// Bond name, NUL-padded.
    pub name: [u8; 16],
    /// Peer name, NUL-padded.
    pub peer_name: [u8; 16],
    /// Restore records, indexed like [`BondConfig::members`].
    pub members: [MemberRestore; MAX_MEMBERS],
    /// Link monitoring options.
    pub monitor: MonitorConfig,
    /// multi-wan options.
    pub mwan: MwanRecord,
    /// Weighing of new flows.
    pub balance: BalanceRecord,
    /// custom mode: the selection program.
    pub custom: CustomRecord,
    /// The XDP fast path's interfaces.
    pub forward: ForwardRecord,
    /// Padding; zero.
    pub pad: u32,
    /// 802.3ad: LACP options and the controller's record of its actor.
    pub lacp: LacpRecord,
}

impl Default for BondState {
    fn default() -> Self {
        BondState {
            magic: 0,
            version: 0,
            bond_ifindex: 0,
            peer_ifindex: 0,
            primary_slot: NO_SLOT,
            generation: 0,
            name: [0; 16],
            peer_name: [0; 16],
            members: [MemberRestore::default(); MAX_MEMBERS],
            monitor: MonitorConfig::default(),
            mwan: MwanRecord::default(),
            balance: BalanceRecord::default(),
            custom: CustomRecord::default(),
            forward: ForwardRecord::default(),
            pad: 0,
            lacp: LacpRecord::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(core::mem::size_of::<MemberSlot>(), 12);
        assert_eq!(core::mem::size_of::<Uplink>(), 40);
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
        );
        assert_eq!(core::mem::size_of::<MemberRestore>(), 36);
        assert_eq!(core::mem::size_of::<MonitorConfig>(), 36 + 20 * MAX_TARGETS);
        assert_eq!(
            core::mem::size_of::<MwanRecord>(),
            40 + 16 * MAX_TARGETS + 2 * MAX_TARGETS + 8 + 16 + 20 * MAX_MEMBERS
        );
        assert_eq!(core::mem::size_of::<BalanceRecord>(), 8 + 8 * MAX_MEMBERS);
        assert_eq!(
            core::mem::size_of::<BondState>(),
            24 + 32
                + 36 * MAX_MEMBERS
                + core::mem::size_of::<MonitorConfig>()
                + core::mem::size_of::<MwanRecord>()
                + core::mem::size_of::<BalanceRecord>()
                + core::mem::size_of::<CustomRecord>()
                + core::mem::size_of::<ForwardRecord>()
                + 4
                + core::mem::size_of::<LacpRecord>()
        );
        assert_eq!(core::mem::size_of::<LacpInfoRecord>(), 16);
        assert_eq!(core::mem::size_of::<LacpCountersRecord>(), 8 * 20);
        assert_eq!(core::mem::size_of::<LacpPortRecord>(), 32 + 16 + 16 + 160);
        assert_eq!(
            core::mem::size_of::<LacpRecord>(),
            24 + core::mem::size_of::<LacpPortRecord>() * MAX_MEMBERS
        );
    }

    #[test]
    fn modes_parse_by_name_and_number() {
        assert_eq!(Mode::parse("balance-rr"), Some(Mode::BalanceRr));
        assert_eq!(Mode::parse("0"), Some(Mode::BalanceRr));
        assert_eq!(Mode::parse("ACTIVE-BACKUP"), Some(Mode::ActiveBackup));
        assert_eq!(Mode::parse("2"), Some(Mode::BalanceXor));
        assert_eq!(Mode::parse("broadcast"), Some(Mode::Broadcast));
        assert_eq!(Mode::parse("802.3ad"), Some(Mode::Ieee8023ad));
        assert_eq!(Mode::parse("7"), None);
        assert_eq!(Mode::parse("multi-wan"), Some(Mode::MultiWan));
        assert_eq!(Mode::parse("16"), Some(Mode::MultiWan));
        assert_eq!(Mode::parse("round-robin"), None);
        for mode in Mode::ALL {
            assert_eq!(Mode::from_u32(mode as u32), Some(mode));
            assert_eq!(Mode::parse(mode.name()), Some(mode));
        }
    }

    #[test]
    fn hash_policies_parse_by_name_and_number() {
        assert_eq!(HashPolicy::parse("layer3+4"), Some(HashPolicy::Layer34));
        assert_eq!(HashPolicy::parse("1"), Some(HashPolicy::Layer34));
        assert_eq!(HashPolicy::parse("layer2+3"), Some(HashPolicy::Layer23));
        assert_eq!(HashPolicy::parse("encap3+4"), Some(HashPolicy::Encap34));
        assert_eq!(HashPolicy::parse("layer4"), None);
        assert_eq!(HashPolicy::parse("9"), None);
        for policy in HashPolicy::ALL {
            assert_eq!(HashPolicy::parse(policy.name()), Some(policy));
        }
    }

    fn bond(mode: Mode, links: &[LinkState]) -> BondConfig {
        let mut cfg = BondConfig {
            mode: mode as u32,
            ..Default::default()
        };
        for (slot, link) in links.iter().enumerate() {
            cfg.members[slot] = MemberSlot {
                ifindex: 10 + slot as u32,
                mac: [2, 0, 0, 0, 0, slot as u8],
                link: *link as u8,
                flags: 0,
            };
        }
        cfg
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
