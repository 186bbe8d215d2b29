//! Member selection: the table of modes, and one file per bonding mode.
//!
//! [`MODES`] holds every fact about a mode that the rest of bondxdp reads: its kernel number
//! and name, its egress, ingress and XDP programs, which members are eligible, and what its
//! options mean ([`Mode`]'s methods read it). The per-packet work is in the mode's file:
//! * [`transmits`]/[`receives`]: which members are eligible at all (userspace asks, when it
//!   rebuilds the configuration after a link or option change), from the table's
//!   [`Eligibility`];
//! * [`Selector::select`]: which eligible member sends this packet (the egress program asks,
//!   per packet).
//!
//! Each selector is compiled into its own egress program ([`Selector::PROGRAM`]), so the data
//! plane never dispatches on the mode per packet; changing the mode swaps the program on the
//! bond's tcx link atomically. [`select`] is the same choice with run-time dispatch, for the
//! host.
//!
//! Adding a mode: write `modes/<name>.rs` with a [`Selector`], add its number to
//! [`crate::types::Mode`] and its row to [`MODES`]; the compiler then names every `match`
//! that must learn it (none has a `_` arm over modes), and the eBPF crate's
//! `selector_programs!` gets its programs (see `docs/modes.md`).

pub mod active_backup;
pub mod alb;
pub mod broadcast;
pub mod custom;
pub mod load_aware;
pub mod round_robin;
pub mod tlb;
pub mod xor;

use crate::{
    config::BondConfig,
    counters::Counter,
    hash::PacketMeta,
    packet::PacketView,
    types::{HashPolicy, MAX_MEMBERS, MEMBER_LACP_COLLECTING, MEMBER_LACP_DISTRIBUTING, Mode},
};

/// Where one packet goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Through the member in this slot.
    Member(u32),
    /// A copy through every eligible member.
    AllMembers,
    /// Nowhere: no member is eligible (counted as a drop).
    NoMember,
}

/// State and helpers the data plane lends a mode for one packet (per-CPU unless said
/// otherwise).
pub trait TxEnv {
    /// Moves this CPU's round-robin cursor on by one packet
    /// ([`round_robin::RrCursor::step`]) and returns the index (below `count`) of the
    /// eligible member that sends it.
    fn next_rr(&mut self, per_member: u32, count: u32) -> u32;
    /// A pseudo-random number (`get_random_u32`).
    fn random(&mut self) -> u32;
    /// Counts a non-drop event.
    fn note(&mut self, counter: Counter);
    /// Now, ns (CLOCK_MONOTONIC).
    fn now_ns(&mut self) -> u64;
    /// Runs `f` on flow `id`'s entry in the flowlet table (`None`: it has none).
    fn with_flowlet<R>(
        &mut self,
        id: u32,
        f: impl FnOnce(Option<&mut load_aware::Flowlet>) -> R,
    ) -> R;
    /// Gives flow `id` an entry in the flowlet table (replacing any it has).
    fn insert_flowlet(&mut self, id: u32, flowlet: load_aware::Flowlet);
    /// Whether the bond has a flowlet table (userspace installs one for the modes that read
    /// it, sized [`load_aware::FLOWLET_ENTRIES`]).
    fn has_flowlet_table(&mut self) -> bool;
    /// The bond's new-flow credits (smooth weighted round-robin), one set shared by every CPU
    /// and changed in place (`None`: unavailable).
    fn credits(&mut self) -> Option<&load_aware::Credits>;
}

/// A transmit algorithm, compiled into an egress program of its own.
pub trait Selector {
    /// Name of the eBPF program that runs this selector.
    const PROGRAM: &'static str;
    /// Name of the XDP fast-path program (`--forward-from`) that runs it on LAN-side
    /// interfaces.
    const XDP_PROGRAM: &'static str;
    /// The hash policy, for selectors that hash (tells the program which packet metadata to
    /// read: encap3+4 uses the stack's flow hash, vlan+srcmac the out-of-band VLAN tag).
    const POLICY: Option<HashPolicy> = None;

    /// Picks the member that sends one packet.
    fn select<P: PacketView + ?Sized, E: TxEnv>(
        cfg: &BondConfig,
        pkt: &P,
        meta: &PacketMeta,
        env: &mut E,
    ) -> Selection;
}

/// The multi-uplink mode's egress program (not a [`Selector`]: it translates too).
pub const MULTI_WAN_EGRESS: &str = "egress_mwan";
/// The multi-uplink mode's ingress program (on each uplink).
pub const MULTI_WAN_INGRESS: &str = "ingress_mwan";
/// The custom mode's egress program: fills the selection context and tail-calls the user's
/// program ([`custom`]).
pub const CUSTOM_EGRESS: &str = "egress_custom";
/// The custom mode's second half: validates the user's choice and sends the packet.
pub const CUSTOM_FINISH: &str = "custom_finish";
/// The ingress program of the link-aggregation modes (on each member).
pub const MEMBER_INGRESS: &str = "member_ingress";

/// A mode's egress program (tc, on the bond).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Egress {
    /// This program.
    One(&'static str),
    /// balance-xor's program for the bond's hash policy ([`xor::program`]).
    ByPolicy,
    /// None yet: the mode has no data plane, and a bond cannot be put in it.
    Missing,
}

/// A mode's LAN-side XDP program on the fast path (`--forward-from`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastPath {
    /// This program.
    One(&'static str),
    /// balance-xor's program for the bond's hash policy ([`xor::xdp_program`]).
    ByPolicy,
    /// Not accelerated: every frame goes to the kernel (`fast_path::XDP_LAN_PASS`).
    Pass,
}

/// Which members may transmit and deliver what they receive (given their link is up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eligibility {
    /// Every member.
    Every,
    /// Only the active member ([`BondConfig::active_slot`]).
    ActiveOnly,
    /// The members the LACP actor has distributing (transmit) and collecting (receive).
    Lacp,
}

/// Whether the member a packet takes depends on its transport ports (so the later fragments
/// of a datagram, which carry none, would take another member than its first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// Never.
    Never,
    /// When the hash policy is layer3+4 or encap3+4.
    ByPolicy,
    /// Always (flows are identified by their 5-tuple).
    Always,
}

/// [`ModeInfo::flags`]: the transmit hash policy (`xmit_hash_policy`) applies.
pub const USES_HASH: u8 = 1 << 0;
/// [`ModeInfo::flags`]: one member is active and the others stand by (`primary`,
/// `primary_reselect`, `fail_over_mac` apply).
pub const USES_ACTIVE: u8 = 1 << 1;
/// [`ModeInfo::flags`]: new flows go to members by weight (a bucket table).
pub const USES_WEIGHTS: u8 = 1 << 2;
/// [`ModeInfo::flags`]: members are uplinks to different networks that keep their own
/// addresses, not ports of one link aggregate.
pub const MULTI_UPLINK: u8 = 1 << 3;

/// Everything bondxdp knows about one mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModeInfo {
    /// The mode (its kernel number).
    pub mode: Mode,
    /// The kernel's option name (`mode=balance-rr`).
    pub name: &'static str,
    /// The description `/proc/net/bonding` prints ("Bonding Mode: ...").
    pub description: &'static str,
    /// Its egress program.
    pub egress: Egress,
    /// The ingress program on each member.
    pub ingress: &'static str,
    /// Its XDP fast-path program.
    pub fast_path: FastPath,
    /// Which members are eligible.
    pub eligibility: Eligibility,
    /// Whether the member choice reads transport ports.
    pub ports: Ports,
    /// `USES_*` and [`MULTI_UPLINK`] flags.
    pub flags: u8,
}

/// Every mode, in the order of [`Mode::ALL`] (checked at compile time).
pub const MODES: [ModeInfo; 10] = [
    ModeInfo {
        mode: Mode::BalanceRr,
        name: "balance-rr",
        description: "load balancing (round-robin)",
        egress: Egress::One(round_robin::RoundRobin::PROGRAM),
        ingress: MEMBER_INGRESS,
        fast_path: FastPath::One(round_robin::RoundRobin::XDP_PROGRAM),
        eligibility: Eligibility::Every,
        ports: Ports::Never,
        flags: 0,
    },
    ModeInfo {
        mode: Mode::ActiveBackup,
        name: "active-backup",
        description: "fault-tolerance (active-backup)",
        egress: Egress::One(active_backup::ActiveBackup::PROGRAM),
        ingress: MEMBER_INGRESS,
        fast_path: FastPath::One(active_backup::ActiveBackup::XDP_PROGRAM),
        eligibility: Eligibility::ActiveOnly,
        ports: Ports::Never,
        flags: USES_ACTIVE,
    },
    ModeInfo {
        mode: Mode::BalanceXor,
        name: "balance-xor",
        description: "load balancing (xor)",
        egress: Egress::ByPolicy,
        ingress: MEMBER_INGRESS,
        fast_path: FastPath::ByPolicy,
        eligibility: Eligibility::Every,
        ports: Ports::ByPolicy,
        flags: USES_HASH,
    },
    ModeInfo {
        mode: Mode::Broadcast,
        name: "broadcast",
        description: "fault-tolerance (broadcast)",
        egress: Egress::One(broadcast::Broadcast::PROGRAM),
        ingress: MEMBER_INGRESS,
        fast_path: FastPath::One(broadcast::Broadcast::XDP_PROGRAM),
        eligibility: Eligibility::Every,
        ports: Ports::Never,
        flags: 0,
    },
    // 802.3ad transmits like balance-xor, over the members LACP has distributing; members
    // deliver only what they may collect.
    ModeInfo {
        mode: Mode::Ieee8023ad,
        name: "802.3ad",
        description: "IEEE 802.3ad Dynamic link aggregation",
        egress: Egress::ByPolicy,
        ingress: MEMBER_INGRESS,
        fast_path: FastPath::ByPolicy,
        eligibility: Eligibility::Lacp,
        ports: Ports::ByPolicy,
        flags: USES_HASH,
    },
    ModeInfo {
        mode: Mode::BalanceTlb,
        name: "balance-tlb",
        description: "transmit load balancing",
        egress: Egress::One(tlb::Tlb::PROGRAM),
        ingress: MEMBER_INGRESS,
        fast_path: FastPath::One(tlb::Tlb::XDP_PROGRAM),
        eligibility: Eligibility::Every,
        ports: Ports::Always,
        flags: USES_HASH | USES_WEIGHTS | USES_ACTIVE,
    },
    ModeInfo {
        mode: Mode::BalanceAlb,
        name: "balance-alb",
        description: "adaptive load balancing",
        egress: Egress::One(alb::ALB_EGRESS),
        ingress: MEMBER_INGRESS,
        fast_path: FastPath::One(tlb::Tlb::XDP_PROGRAM),
        eligibility: Eligibility::Every,
        ports: Ports::Always,
        flags: USES_HASH | USES_WEIGHTS | USES_ACTIVE,
    },
    ModeInfo {
        mode: Mode::MultiWan,
        name: "multi-wan",
        description: "multi-uplink (per-flow, translated to each uplink's address)",
        egress: Egress::One(MULTI_WAN_EGRESS),
        ingress: MULTI_WAN_INGRESS,
        fast_path: FastPath::Pass,
        eligibility: Eligibility::Every,
        ports: Ports::Never,
        flags: USES_WEIGHTS | MULTI_UPLINK,
    },
    ModeInfo {
        mode: Mode::LoadAware,
        name: "load-aware",
        description: "load-aware (flowlets to members by spare capacity)",
        egress: Egress::One(load_aware::LoadAware::PROGRAM),
        ingress: MEMBER_INGRESS,
        fast_path: FastPath::One(load_aware::LoadAware::XDP_PROGRAM),
        eligibility: Eligibility::Every,
        ports: Ports::Always,
        flags: USES_WEIGHTS,
    },
    ModeInfo {
        mode: Mode::Custom,
        name: "custom",
        description: "custom (a user's selection program)",
        egress: Egress::One(CUSTOM_EGRESS),
        ingress: MEMBER_INGRESS,
        fast_path: FastPath::Pass,
        eligibility: Eligibility::Every,
        ports: Ports::ByPolicy,
        flags: USES_HASH | USES_WEIGHTS,
    },
];

// The table is in the order of Mode::ALL, so a mode's row is found by its position.
const _: () = {
    assert!(MODES.len() == Mode::ALL.len());
    let mut i = 0;
    while i < MODES.len() {
        assert!(
            MODES[i].mode as u32 == Mode::ALL[i] as u32,
            "MODES out of Mode::ALL's order"
        );
        assert!(
            MODES[i].mode.position() == i,
            "Mode::position disagrees with Mode::ALL"
        );
        i += 1;
    }
};

impl Mode {
    /// This mode's row of [`MODES`].
    pub const fn info(self) -> &'static ModeInfo {
        &MODES[self.position()]
    }

    /// Position in [`Mode::ALL`] and [`MODES`].
    const fn position(self) -> usize {
        match self {
            Mode::BalanceRr => 0,
            Mode::ActiveBackup => 1,
            Mode::BalanceXor => 2,
            Mode::Broadcast => 3,
            Mode::Ieee8023ad => 4,
            Mode::BalanceTlb => 5,
            Mode::BalanceAlb => 6,
            Mode::MultiWan => 7,
            Mode::LoadAware => 8,
            Mode::Custom => 9,
        }
    }

    /// The kernel's option name (`mode=balance-rr`).
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// The description `/proc/net/bonding` prints ("Bonding Mode: ...").
    pub const fn description(self) -> &'static str {
        self.info().description
    }

    /// Parses a kernel mode name or number (`balance-rr`, `0`).
    pub fn parse(s: &str) -> Option<Mode> {
        MODES
            .iter()
            .find(|m| s.eq_ignore_ascii_case(m.name))
            .map(|m| m.mode)
            .or_else(|| s.parse::<u32>().ok().and_then(Mode::from_u32))
    }

    /// Whether the mode picks members by [`HashPolicy`].
    pub const fn uses_hash(self) -> bool {
        self.info().flags & USES_HASH != 0
    }

    /// Whether one member is "active" and the others only stand by.
    pub const fn uses_active(self) -> bool {
        self.info().flags & USES_ACTIVE != 0
    }

    /// Whether new flows go to members by weight (a bucket table).
    pub const fn uses_weights(self) -> bool {
        self.info().flags & USES_WEIGHTS != 0
    }

    /// Whether members are uplinks to different networks that keep their own addresses
    /// (nothing about them is changed) rather than ports of one link aggregate.
    pub const fn is_multi_uplink(self) -> bool {
        self.info().flags & MULTI_UPLINK != 0
    }

    /// Whether a bond can be put in this mode (it has a data plane).
    pub const fn has_data_plane(self) -> bool {
        !matches!(self.info().egress, Egress::Missing)
    }
}

/// The ingress program members of a bond in `mode` run.
pub const fn ingress_program_for(mode: Mode) -> &'static str {
    mode.info().ingress
}

/// Every egress program, in the order of [`Mode`] and [`HashPolicy`] numbers.
pub const EGRESS_PROGRAMS: [&str; 14] = [
    round_robin::RoundRobin::PROGRAM,
    active_backup::ActiveBackup::PROGRAM,
    xor::Xor::<{ HashPolicy::Layer2 as u32 }>::PROGRAM,
    xor::Xor::<{ HashPolicy::Layer34 as u32 }>::PROGRAM,
    xor::Xor::<{ HashPolicy::Layer23 as u32 }>::PROGRAM,
    xor::Xor::<{ HashPolicy::Encap23 as u32 }>::PROGRAM,
    xor::Xor::<{ HashPolicy::Encap34 as u32 }>::PROGRAM,
    xor::Xor::<{ HashPolicy::VlanSrcMac as u32 }>::PROGRAM,
    broadcast::Broadcast::PROGRAM,
    MULTI_WAN_EGRESS,
    load_aware::LoadAware::PROGRAM,
    CUSTOM_EGRESS,
    tlb::Tlb::PROGRAM,
    alb::ALB_EGRESS,
];

/// The egress program for a mode (and, for hashing modes, a hash policy); `None` for modes
/// without a data plane.
pub const fn program_for(mode: Mode, policy: HashPolicy) -> Option<&'static str> {
    match mode.info().egress {
        Egress::One(program) => Some(program),
        Egress::ByPolicy => Some(xor::program(policy)),
        Egress::Missing => None,
    }
}

/// Picks the member that sends one packet, dispatching on the configured mode at run time
/// (the eBPF programs call their [`Selector`] directly).
#[inline(always)]
pub fn select<P: PacketView + ?Sized, E: TxEnv>(
    cfg: &BondConfig,
    pkt: &P,
    meta: &PacketMeta,
    env: &mut E,
) -> Selection {
    match cfg.mode() {
        Some(Mode::BalanceRr) => round_robin::RoundRobin::select(cfg, pkt, meta, env),
        Some(Mode::ActiveBackup) => active_backup::ActiveBackup::select(cfg, pkt, meta, env),
        Some(Mode::BalanceXor | Mode::Ieee8023ad) => xor::select(cfg, pkt, meta, env),
        Some(Mode::Broadcast) => broadcast::Broadcast::select(cfg, pkt, meta, env),
        // balance-alb's ARP rewrite is the data plane's (it needs the client table).
        Some(Mode::BalanceTlb | Mode::BalanceAlb) => tlb::Tlb::select(cfg, pkt, meta, env),
        Some(Mode::LoadAware) => load_aware::LoadAware::select(cfg, pkt, meta, env),
        // The user's program is not here: what the data plane does without one.
        Some(Mode::Custom) => xor::select(cfg, pkt, meta, env),
        // multi-wan translates as it sends (its own program, not a selector): the host has
        // no answer for it.
        Some(Mode::MultiWan) | None => Selection::NoMember,
    }
}

/// Whether the member in `slot` may transmit (given it is up). `lacp` holds its
/// `MEMBER_LACP_*` flags: in 802.3ad only members the LACP actor has distributing transmit.
pub fn transmits(mode: Mode, slot: u32, active_slot: u32, lacp: u8) -> bool {
    match mode.info().eligibility {
        Eligibility::Every => true,
        Eligibility::ActiveOnly => slot == active_slot,
        Eligibility::Lacp => lacp & MEMBER_LACP_DISTRIBUTING != 0,
    }
}

/// Whether frames received on the member in `slot` reach the bond. `lacp` as for
/// [`transmits`]: in 802.3ad only members the LACP actor has collecting deliver.
pub fn receives(mode: Mode, slot: u32, active_slot: u32, lacp: u8) -> bool {
    match mode.info().eligibility {
        Eligibility::Every => true,
        Eligibility::ActiveOnly => slot == active_slot,
        Eligibility::Lacp => lacp & MEMBER_LACP_COLLECTING != 0,
    }
}

/// The eligible member at position `index modulo the number of eligible members`.
///
/// Written for the eBPF verifier: no panicking paths, and the index into `tx_slots` is
/// masked into range (the verifier cannot bound the remainder by itself). The reciprocal
/// must match `tx_count` ([`BondConfig::recompute`] keeps them together).
#[inline(always)]
pub fn nth_eligible(cfg: &BondConfig, index: u32) -> Selection {
    if cfg.tx_count == 0 {
        return Selection::NoMember;
    }
    // index % tx_count, with the reciprocal userspace derived (no divide per packet).
    let pos = cfg.tx_count_recip.remainder(index, cfg.tx_count) as usize;
    // Below tx_count, so at most MAX_MEMBERS: the mask changes nothing but shows the
    // verifier the bound (a range check may be made on another copy of `pos` than the one
    // indexing, and LLVM drops a mask after a range check).
    Selection::Member(cfg.tx_slots[pos & (MAX_MEMBERS - 1)] as u32)
}

/// A deterministic [`TxEnv`] for host tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::config::{LinkState, MemberSlot};

    /// Counts like one CPU would; "random" numbers come from a fixed sequence.
    #[derive(Default)]
    pub struct FakeEnv {
        pub rr: round_robin::RrCursor,
        pub randoms: Vec<u32>,
        pub notes: Vec<Counter>,
        pub now: u64,
        pub flowlets: std::collections::HashMap<u32, load_aware::Flowlet>,
        pub credits: load_aware::Credits,
        /// The credits are unavailable (a failed map lookup).
        pub no_credits: bool,
        /// The bond has no flowlet table.
        pub no_flowlet_table: bool,
    }

    impl TxEnv for FakeEnv {
        fn next_rr(&mut self, per_member: u32, count: u32) -> u32 {
            self.rr.step(per_member, count)
        }
        fn random(&mut self) -> u32 {
            self.randoms.pop().unwrap_or(0)
        }
        fn note(&mut self, counter: Counter) {
            self.notes.push(counter);
        }
        fn now_ns(&mut self) -> u64 {
            self.now
        }
        fn with_flowlet<R>(
            &mut self,
            id: u32,
            f: impl FnOnce(Option<&mut load_aware::Flowlet>) -> R,
        ) -> R {
            f(self.flowlets.get_mut(&id))
        }
        fn insert_flowlet(&mut self, id: u32, flowlet: load_aware::Flowlet) {
            if !self.no_flowlet_table {
                self.flowlets.insert(id, flowlet);
            }
        }
        fn has_flowlet_table(&mut self) -> bool {
            !self.no_flowlet_table
        }
        fn credits(&mut self) -> Option<&load_aware::Credits> {
            (!self.no_credits).then_some(&self.credits)
        }
    }

    /// A bond of `n` up members in slots 0..n.
    pub fn bond(mode: Mode, n: usize) -> BondConfig {
        let mut cfg = BondConfig {
            mode: mode as u32,
            active_slot: 0,
            ..Default::default()
        };
        for slot in 0..n {
            cfg.members[slot] = MemberSlot {
                ifindex: 100 + slot as u32,
                mac: [2, 0, 0, 0, 0, slot as u8],
                link: LinkState::Up as u8,
                flags: 0,
            };
        }
        cfg.recompute();
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::{testing::*, *};
    use crate::config::LinkState;

    #[test]
    fn nth_eligible_wraps_and_handles_empty() {
        let mut cfg = bond(Mode::BalanceRr, 3);
        assert_eq!(nth_eligible(&cfg, 4), Selection::Member(1));
        cfg.members[1].link = LinkState::Down as u8;
        cfg.recompute();
        assert_eq!(nth_eligible(&cfg, 1), Selection::Member(2));
        cfg.tx_count = 0;
        assert_eq!(nth_eligible(&cfg, 7), Selection::NoMember);
        // Corrupt input (more eligible members than slots) must neither panic nor index
        // outside the table: the position wraps into it.
        cfg.tx_count = 99;
        cfg.tx_count_recip = crate::reciprocal::Reciprocal::new(99);
        assert!(matches!(nth_eligible(&cfg, 7), Selection::Member(_)));
        assert_eq!(
            nth_eligible(&cfg, 50),
            Selection::Member(cfg.tx_slots[50 % MAX_MEMBERS] as u32)
        );
    }

    #[test]
    fn every_mode_and_policy_has_its_own_program() {
        use crate::config::HashPolicy;
        let mut seen = std::collections::BTreeSet::new();
        for policy in HashPolicy::ALL {
            let name = program_for(Mode::BalanceXor, policy).unwrap();
            assert!(EGRESS_PROGRAMS.contains(&name));
            assert!(
                name.len() <= 15,
                "{name}: kernel program names are 15 bytes"
            );
            seen.insert(name);
        }
        for mode in [
            Mode::BalanceRr,
            Mode::ActiveBackup,
            Mode::Broadcast,
            Mode::MultiWan,
            Mode::LoadAware,
            Mode::Custom,
            Mode::BalanceTlb,
            Mode::BalanceAlb,
        ] {
            let name = program_for(mode, HashPolicy::Layer2).unwrap();
            assert!(name.len() <= 15, "{name}");
            seen.insert(name);
        }
        assert_eq!(seen.len(), EGRESS_PROGRAMS.len());
        // 802.3ad transmits with balance-xor's programs.
        for policy in HashPolicy::ALL {
            assert_eq!(
                program_for(Mode::Ieee8023ad, policy),
                program_for(Mode::BalanceXor, policy)
            );
        }
        assert_eq!(
            program_for(Mode::BalanceAlb, HashPolicy::Layer2),
            Some(alb::ALB_EGRESS)
        );
    }

    #[test]
    fn every_mode_has_a_data_plane() {
        // Every kernel mode and bondxdp's own can be put on a bond.
        for mode in Mode::ALL {
            assert!(mode.has_data_plane(), "{mode:?}");
        }
        // balance-alb transmits like balance-tlb (broadcasts through the active receiver).
        let cfg = bond(Mode::BalanceAlb, 2);
        let frame = [0xffu8; 64];
        let meta = PacketMeta::ethernet(0x0806);
        assert_eq!(
            select(&cfg, &frame[..], &meta, &mut FakeEnv::default()),
            Selection::Member(0)
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
    fn the_table_answers_as_the_rules_it_replaced() {
        // The rules as they were written per mode before the table; the table must keep them.
        for mode in Mode::ALL {
            let tlb = matches!(mode, Mode::BalanceTlb | Mode::BalanceAlb);
            let hashes = tlb || matches!(mode, Mode::BalanceXor | Mode::Ieee8023ad | Mode::Custom);
            let weighs = tlb || matches!(mode, Mode::MultiWan | Mode::LoadAware | Mode::Custom);
            assert_eq!(mode.uses_hash(), hashes, "{mode:?}");
            assert_eq!(mode.uses_weights(), weighs, "{mode:?}");
            // balance-tlb/alb's active member is the "active receiver" (kernel: primary
            // applies to them).
            assert_eq!(
                mode.uses_active(),
                tlb || mode == Mode::ActiveBackup,
                "{mode:?}"
            );
            assert_eq!(mode.is_multi_uplink(), mode == Mode::MultiWan, "{mode:?}");
            assert!(mode.has_data_plane(), "{mode:?}");
            let ingress = if mode == Mode::MultiWan {
                MULTI_WAN_INGRESS
            } else {
                MEMBER_INGRESS
            };
            assert_eq!(ingress_program_for(mode), ingress);
            for (slot, lacp) in [
                (0, 0),
                (1, 0),
                (1, MEMBER_LACP_DISTRIBUTING),
                (1, MEMBER_LACP_COLLECTING),
            ] {
                let (tx, rx) = match mode {
                    Mode::ActiveBackup => (slot == 1, slot == 1),
                    Mode::Ieee8023ad => (
                        lacp & MEMBER_LACP_DISTRIBUTING != 0,
                        lacp & MEMBER_LACP_COLLECTING != 0,
                    ),
                    _ => (true, true),
                };
                assert_eq!(transmits(mode, slot, 1, lacp), tx, "{mode:?} {slot} {lacp}");
                assert_eq!(receives(mode, slot, 1, lacp), rx, "{mode:?} {slot} {lacp}");
            }
        }
        assert_eq!(
            program_for(Mode::Ieee8023ad, HashPolicy::Layer34),
            Some(xor::program(HashPolicy::Layer34))
        );
        // Every egress program a mode can name is one the eBPF object is asked to build.
        for mode in Mode::ALL {
            for policy in HashPolicy::ALL {
                if let Some(program) = program_for(mode, policy) {
                    assert!(EGRESS_PROGRAMS.contains(&program), "{mode:?} {program}");
                }
            }
        }
    }
}
