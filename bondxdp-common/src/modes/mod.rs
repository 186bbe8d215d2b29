//! Member selection: one file per bonding mode.
//!
//! A mode answers two questions, both pure and host-tested:
//! * [`transmits`]/[`receives`]: which members are eligible at all (userspace asks, when it
//!   rebuilds the configuration after a link or option change);
//! * [`Selector::select`]: which eligible member sends this packet (the egress program asks,
//!   per packet).
//!
//! Each selector is compiled into its own egress program ([`Selector::PROGRAM`]), so the data
//! plane never dispatches on the mode per packet; changing the mode swaps the program on the
//! bond's tcx link atomically. [`select`] is the same choice with run-time dispatch, for the
//! host.
//!
//! Adding a mode: write `modes/<name>.rs` with a [`Selector`], add its number to
//! [`crate::config::Mode`], and register it in [`program_for`], [`select`] and
//! [`EGRESS_PROGRAMS`] here and in the eBPF crate's `egress_programs!` (see `docs/modes.md`).

pub mod active_backup;
pub mod broadcast;
pub mod custom;
pub mod load_aware;
pub mod round_robin;
pub mod xor;

use crate::{
    config::{
        BondConfig, HashPolicy, MAX_MEMBERS, MEMBER_LACP_COLLECTING, MEMBER_LACP_DISTRIBUTING, Mode,
    },
    counters::Counter,
    hash::PacketMeta,
    packet::PacketView,
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

/// The ingress program members of a bond in `mode` run.
pub const fn ingress_program_for(mode: Mode) -> &'static str {
    if mode.is_multi_uplink() {
        MULTI_WAN_INGRESS
    } else {
        MEMBER_INGRESS
    }
}

/// Every egress program, in the order of [`Mode`] and [`HashPolicy`] numbers.
pub const EGRESS_PROGRAMS: [&str; 12] = [
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
];

/// The egress program for a mode (and, for hashing modes, a hash policy); `None` for modes
/// without a data plane.
pub const fn program_for(mode: Mode, policy: HashPolicy) -> Option<&'static str> {
    Some(match mode {
        Mode::BalanceRr => round_robin::RoundRobin::PROGRAM,
        Mode::ActiveBackup => active_backup::ActiveBackup::PROGRAM,
        // 802.3ad transmits like balance-xor, over the members LACP has distributing.
        Mode::BalanceXor | Mode::Ieee8023ad => xor::program(policy),
        Mode::Broadcast => broadcast::Broadcast::PROGRAM,
        Mode::MultiWan => MULTI_WAN_EGRESS,
        Mode::BalanceTlb | Mode::LoadAware => load_aware::LoadAware::PROGRAM,
        Mode::Custom => CUSTOM_EGRESS,
        _ => return None,
    })
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
        Some(Mode::BalanceTlb | Mode::LoadAware) => {
            load_aware::LoadAware::select(cfg, pkt, meta, env)
        }
        // The user's program is not here: what the data plane does without one.
        Some(Mode::Custom) => xor::select(cfg, pkt, meta, env),
        // Modes without a data plane yet transmit nothing rather than guess.
        _ => Selection::NoMember,
    }
}

/// Whether the member in `slot` may transmit (given it is up). `lacp` holds its
/// `MEMBER_LACP_*` flags: in 802.3ad only members the LACP actor has distributing transmit.
pub fn transmits(mode: Mode, slot: u32, active_slot: u32, lacp: u8) -> bool {
    match mode {
        Mode::ActiveBackup => slot == active_slot,
        Mode::Ieee8023ad => lacp & MEMBER_LACP_DISTRIBUTING != 0,
        _ => true,
    }
}

/// Whether frames received on the member in `slot` reach the bond. `lacp` as for
/// [`transmits`]: in 802.3ad only members the LACP actor has collecting deliver.
pub fn receives(mode: Mode, slot: u32, active_slot: u32, lacp: u8) -> bool {
    match mode {
        Mode::ActiveBackup => slot == active_slot,
        Mode::Ieee8023ad => lacp & MEMBER_LACP_COLLECTING != 0,
        _ => true,
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
            self.flowlets.insert(id, flowlet);
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
        assert_eq!(program_for(Mode::BalanceAlb, HashPolicy::Layer2), None);
    }

    #[test]
    fn unimplemented_modes_select_nothing() {
        let cfg = bond(Mode::BalanceAlb, 2);
        let frame = [0u8; 64];
        let meta = PacketMeta::ethernet(0x0800);
        assert_eq!(
            select(&cfg, &frame[..], &meta, &mut FakeEnv::default()),
            Selection::NoMember
        );
    }
}
