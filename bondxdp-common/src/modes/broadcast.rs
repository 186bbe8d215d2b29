//! broadcast (mode 3): every eligible member sends a copy of every packet.

use super::{Selection, Selector, TxEnv};
use crate::{config::BondConfig, hash::PacketMeta, packet::PacketView};

/// broadcast's selector: every eligible member.
pub struct Broadcast;

impl Selector for Broadcast {
    const PROGRAM: &'static str = "egress_bcast";
    const XDP_PROGRAM: &'static str = "xdp_lan_bcast";

    #[inline(always)]
    fn select<P: PacketView + ?Sized, E: TxEnv>(
        cfg: &BondConfig,
        _pkt: &P,
        _meta: &PacketMeta,
        _env: &mut E,
    ) -> Selection {
        if cfg.tx_count == 0 {
            Selection::NoMember
        } else {
            Selection::AllMembers
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{super::testing::*, *};
    use crate::config::{LinkState, Mode};

    #[test]
    fn copies_to_all_or_nothing() {
        let pick = |cfg: &BondConfig| {
            let meta = PacketMeta::ethernet(0x0800);
            Broadcast::select(cfg, &[0u8; 60][..], &meta, &mut FakeEnv::default())
        };
        let mut cfg = bond(Mode::Broadcast, 2);
        assert_eq!(pick(&cfg), Selection::AllMembers);
        for slot in 0..2 {
            cfg.members[slot].link = LinkState::Down as u8;
        }
        cfg.recompute();
        assert_eq!(pick(&cfg), Selection::NoMember);
    }
}
