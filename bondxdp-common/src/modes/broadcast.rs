//! broadcast (mode 3): every eligible member sends a copy of every packet.

use super::Selection;
use crate::config::BondConfig;

/// Picks the members for one packet: all eligible ones.
#[inline(always)]
pub fn select(cfg: &BondConfig) -> Selection {
    if cfg.tx_count == 0 {
        Selection::NoMember
    } else {
        Selection::AllMembers
    }
}

#[cfg(test)]
mod tests {
    use super::{super::testing::*, *};
    use crate::config::{LinkState, Mode};

    #[test]
    fn copies_to_all_or_nothing() {
        let mut cfg = bond(Mode::Broadcast, 2);
        assert_eq!(select(&cfg), Selection::AllMembers);
        for slot in 0..2 {
            cfg.members[slot].link = LinkState::Down as u8;
        }
        cfg.recompute();
        assert_eq!(select(&cfg), Selection::NoMember);
    }
}
