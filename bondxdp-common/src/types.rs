//! The basic types everything else in bondxdp-common is built from: member limits, the mode
//! and hash-policy numbers, link states, and one member's or uplink's slot in the
//! configuration. This room imports nothing from the crate; every other room may import it.
//!
//! What a mode *does* (its name, programs and rules) is the table in [`crate::modes`]; here a
//! [`Mode`] is only its kernel number.

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
/// [`Uplink::flags`]: degraded (quality thresholds crossed): new flows avoid it while an
/// uplink of the live tier is not.
pub const UPLINK_DEGRADED: u8 = 1 << 3;

/// A member of a multi-uplink bond: what translation to its network needs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uplink {
    /// The uplink's IPv4 address (bytes in packet order, as a little-endian load reads them).
    pub addr4: u32,
    /// The uplink's global IPv6 address ([`crate::multi_wan::Addr`]).
    pub addr6: crate::multi_wan::Addr,
    /// MAC of the IPv4 next hop (the gateway).
    pub gw_mac4: [u8; 6],
    /// MAC of the IPv6 next hop (the router).
    pub gw_mac6: [u8; 6],
    /// Padding; zero.
    pub pad2: u16,
    /// `UPLINK_*` flags.
    pub flags: u8,
    /// Its tier (`tier`; 0, the default, is the first): new flows go only to the lowest tier
    /// that has an uplink ready ([`crate::BondConfig::recompute`]); higher tiers are backups.
    pub tier: u8,
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
        tier: 0,
        epoch: 0,
    };

    /// The uplink's address for `family` ([`crate::multi_wan::FAMILY_V4`] or `_V6`), as a flow
    /// address (IPv4 in the first four bytes).
    #[inline(always)]
    pub fn addr(&self, family: u8) -> crate::multi_wan::Addr {
        if family == crate::multi_wan::FAMILY_V4 {
            [self.addr4, 0, 0, 0]
        } else {
            self.addr6
        }
    }

    /// The uplink's readiness flag for `family`.
    #[inline(always)]
    pub const fn family_flag(family: u8) -> u8 {
        if family == crate::multi_wan::FAMILY_V4 {
            UPLINK_V4
        } else {
            UPLINK_V6
        }
    }
}

/// `a == b`, in a const fn (program names are checked against each other at compile time).
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(core::mem::size_of::<MemberSlot>(), 12);
        assert_eq!(core::mem::size_of::<Uplink>(), 40);
    }

    #[test]
    fn modes_round_trip_their_numbers() {
        for mode in Mode::ALL {
            assert_eq!(Mode::from_u32(mode as u32), Some(mode));
        }
        assert_eq!(Mode::from_u32(7), None);
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
}
