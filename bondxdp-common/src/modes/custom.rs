//! custom (bondxdp's 18): a user's eBPF program picks the member, loaded from an object file
//! (`--select-program FILE.o[:PROGRAM]`) and replaceable while traffic flows.
//!
//! The contract, shared with selection programs written outside this tree:
//! 1. The bond's egress program (`egress_custom`) computes the flow hash with the bond's
//!    `xmit_hash_policy`, fills this CPU's [`SelectContext`] in the map [`SELECT_CTX`]
//!    ([`prepare`]) and tail-calls slot [`SELECT_SLOT`] of the program array
//!    [`SELECT_PROGS`]: the user's program.
//! 2. The user's program (a tc classifier declaring both maps under these names; bondxdp
//!    hands it the bond's own copies) reads the context, writes the index of its choice into
//!    [`SelectContext::choice`] (an index into `members`, below `member_count`), and
//!    tail-calls slot [`FINISH_SLOT`] of [`SELECT_PROGS`].
//! 3. bondxdp's `custom_finish` validates the choice against the live configuration
//!    ([`resolve`]): a valid index sends through that member; anything else sends through the
//!    fallback member (the flow hash modulo the eligible members, as balance-xor) and counts
//!    `custom_bad_choice`. No program loaded counts `custom_no_program` and falls back too.
//!
//! The user's program never sees interface indexes it could misuse: it returns a position
//! and bondxdp maps it to a member, so a buggy selection program can misroute load but not
//! packets.

use super::{Selection, nth_eligible};
use crate::config::{BondConfig, MAX_MEMBERS};

/// Name of the per-CPU array (one entry) holding the [`SelectContext`] of the packet being
/// sent.
pub const SELECT_CTX: &str = "SELECT_CTX";
/// Name of the program array: [`SELECT_SLOT`] holds the user's program, [`FINISH_SLOT`]
/// bondxdp's `custom_finish`.
pub const SELECT_PROGS: &str = "SELECT_PROGS";
/// Slot of the user's selection program in [`SELECT_PROGS`].
pub const SELECT_SLOT: u32 = 0;
/// Slot of bondxdp's finishing program in [`SELECT_PROGS`].
pub const FINISH_SLOT: u32 = 1;
/// Entries in [`SELECT_PROGS`].
pub const SELECT_PROGS_LEN: u32 = 2;
/// [`SelectContext::choice`] before the user's program writes it (invalid on purpose).
pub const NO_CHOICE: u32 = u32::MAX;
/// Version of the context layout, in [`SelectContext::version`].
pub const CONTEXT_VERSION: u32 = 1;

/// One member a selection program may choose.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SelectMember {
    /// The member's slot in the bond (stable while it is a member; shown by `status`).
    pub slot: u32,
    /// Its weight (`weight.IF=N`, or the controller's from `speed.IF` and measured load).
    pub weight: u32,
}

/// What a selection program knows about the packet being sent: the context of the custom
/// mode's contract (layout version [`CONTEXT_VERSION`]; fields are only ever appended).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectContext {
    /// [`CONTEXT_VERSION`].
    pub version: u32,
    /// The transmit hash of the packet, with the bond's `xmit_hash_policy` (the kernel's
    /// `bond_xmit_hash`: equal for every packet of a flow).
    pub flow_hash: u32,
    /// The packet's length, bytes.
    pub packet_len: u32,
    /// How many entries of `members` are valid: the members that may transmit now (up, and
    /// past their delays). Zero never reaches a selection program.
    pub member_count: u32,
    /// Written by the selection program: the index into `members` of its choice.
    pub choice: u32,
    /// Sum of the weights of the valid `members`.
    pub weight_sum: u32,
    /// The eligible members, in slot order.
    pub members: [SelectMember; MAX_MEMBERS],
}

impl SelectContext {
    /// An empty context (no members).
    pub const ZERO: SelectContext = SelectContext {
        version: CONTEXT_VERSION,
        flow_hash: 0,
        packet_len: 0,
        member_count: 0,
        choice: NO_CHOICE,
        weight_sum: 0,
        members: [SelectMember { slot: 0, weight: 0 }; MAX_MEMBERS],
    };
}

impl Default for SelectContext {
    fn default() -> Self {
        SelectContext::ZERO
    }
}

/// Fills `ctx` for one packet: its hash and length, and the members that may transmit under
/// `cfg` with their weights. Returns false when no member may transmit (nothing to choose).
#[inline(always)]
pub fn prepare(cfg: &BondConfig, flow_hash: u32, packet_len: u32, ctx: &mut SelectContext) -> bool {
    let count = (cfg.tx_count as usize).min(MAX_MEMBERS);
    ctx.version = CONTEXT_VERSION;
    ctx.flow_hash = flow_hash;
    ctx.packet_len = packet_len;
    ctx.member_count = count as u32;
    ctx.choice = NO_CHOICE;
    let mut sum = 0u32;
    for pos in 0..MAX_MEMBERS {
        if pos >= count {
            break;
        }
        let slot = cfg.tx_slots[pos] as usize;
        let weight = match cfg.weights.get(slot) {
            Some(w) => *w as u32,
            None => 0,
        };
        ctx.members[pos] = SelectMember {
            slot: slot as u32,
            weight,
        };
        sum += weight;
    }
    ctx.weight_sum = sum;
    count > 0
}

/// The member a selection program's `choice` names, validated against the live `cfg` (which
/// may have changed since [`prepare`]: the choice is a position among the members eligible
/// now). Returns the selection and whether the choice was valid; an invalid one selects the
/// fallback member for `flow_hash`.
#[inline(always)]
pub fn resolve(cfg: &BondConfig, choice: u32, flow_hash: u32) -> (Selection, bool) {
    if choice < cfg.tx_count
        && let Some(slot) = cfg.tx_slots.get(choice as usize)
    {
        return (Selection::Member(*slot as u32), true);
    }
    (fallback(cfg, flow_hash), false)
}

/// The member that sends when the selection program is missing or chose badly: the flow
/// hash modulo the eligible members (balance-xor's choice).
#[inline(always)]
pub fn fallback(cfg: &BondConfig, flow_hash: u32) -> Selection {
    nth_eligible(cfg, flow_hash)
}

#[cfg(test)]
mod tests {
    use super::{super::testing::bond, *};
    use crate::config::{LinkState, Mode};

    #[test]
    fn context_lists_eligible_members_with_weights() {
        let mut cfg = bond(Mode::Custom, 3);
        cfg.weights[0] = 1;
        cfg.weights[1] = 7;
        cfg.weights[2] = 3;
        cfg.members[1].link = LinkState::Down as u8;
        cfg.recompute();
        let mut ctx = SelectContext::ZERO;
        ctx.choice = 0;
        assert!(prepare(&cfg, 0xabcd, 1500, &mut ctx));
        assert_eq!(ctx.member_count, 2);
        assert_eq!(ctx.choice, NO_CHOICE, "a stale choice never survives");
        assert_eq!(ctx.flow_hash, 0xabcd);
        assert_eq!(ctx.packet_len, 1500);
        assert_eq!(
            &ctx.members[..2],
            &[
                SelectMember { slot: 0, weight: 1 },
                SelectMember { slot: 2, weight: 3 }
            ]
        );
        assert_eq!(ctx.weight_sum, 4);
    }

    #[test]
    fn no_eligible_member_means_nothing_to_choose() {
        let mut cfg = bond(Mode::Custom, 2);
        for m in &mut cfg.members[..2] {
            m.link = LinkState::Down as u8;
        }
        cfg.recompute();
        let mut ctx = SelectContext::ZERO;
        assert!(!prepare(&cfg, 1, 60, &mut ctx));
    }

    #[test]
    fn choices_are_positions_among_eligible_members_and_bad_ones_fall_back() {
        let mut cfg = bond(Mode::Custom, 3);
        cfg.members[0].link = LinkState::Down as u8;
        cfg.recompute();
        // Eligible: slots 1 and 2.
        assert_eq!(resolve(&cfg, 0, 5), (Selection::Member(1), true));
        assert_eq!(resolve(&cfg, 1, 5), (Selection::Member(2), true));
        for bad in [2, 3, 15, 16, 1000, NO_CHOICE] {
            let (sel, ok) = resolve(&cfg, bad, 5);
            assert!(!ok, "{bad}");
            assert_eq!(sel, fallback(&cfg, 5));
            assert!(matches!(sel, Selection::Member(1 | 2)));
        }
        // The fallback follows the flow hash, like balance-xor.
        assert_ne!(resolve(&cfg, 9, 0).0, resolve(&cfg, 9, 1).0);
        cfg.members[1].link = LinkState::Down as u8;
        cfg.members[2].link = LinkState::Down as u8;
        cfg.recompute();
        assert_eq!(resolve(&cfg, 0, 5), (Selection::NoMember, false));
    }

    #[test]
    fn context_layout_is_stable() {
        assert_eq!(core::mem::size_of::<SelectMember>(), 8);
        assert_eq!(
            core::mem::size_of::<SelectContext>(),
            24 + 8 * MAX_MEMBERS,
            "the context is an external contract: append only"
        );
    }
}
