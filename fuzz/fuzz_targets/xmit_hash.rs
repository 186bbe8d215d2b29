//! Every transmit hash policy and the selection built on it
//! (`bondxdp_common::hash::xmit_hash`, `bondxdp_common::modes::select`): the packet parsers
//! the eBPF egress programs share with the host, fed any frame the stack may send.
//!
//! Input: byte 0 picks the policy and the member count, bytes 2..=3 which members are down,
//! byte 4 the active one, bytes 1..=6 also the metadata (L4 hash, VLAN tag); then the frame.
//!
//! Invariants: no panic; the hash of a frame is the same every time; the member chosen (every
//! mode with a host-side selector) is a slot of the bond that is up, or none when none is.
#![no_main]

use bondxdp_common::{
    Counter, HashPolicy, MAX_MEMBERS, Mode,
    hash::{PacketMeta, xmit_hash, xmit_hash_detailed},
    modes::{Selection, TxEnv, load_aware, round_robin::RrCursor, select},
    testing::bond_with_links,
    types::LinkState,
};
use libfuzzer_sys::fuzz_target;

/// A deterministic environment: fixed "random" numbers, no flowlets remembered.
#[derive(Default)]
struct Env {
    rr: RrCursor,
    credits: load_aware::Credits,
    flowlet: Option<load_aware::Flowlet>,
}

impl TxEnv for Env {
    fn next_rr(&mut self, per_member: u32, count: u32) -> u32 {
        self.rr.step(per_member, count)
    }
    fn random(&mut self) -> u32 {
        0x9e37_79b9
    }
    fn note(&mut self, _: Counter) {}
    fn now_ns(&mut self) -> u64 {
        1_000_000_000
    }
    fn with_flowlet<R>(
        &mut self,
        _: u32,
        f: impl FnOnce(Option<&mut load_aware::Flowlet>) -> R,
    ) -> R {
        f(self.flowlet.as_mut())
    }
    fn insert_flowlet(&mut self, _: u32, flowlet: load_aware::Flowlet) {
        self.flowlet = Some(flowlet);
    }
    fn has_flowlet_table(&mut self) -> bool {
        true
    }
    fn credits(&mut self) -> Option<&load_aware::Credits> {
        Some(&self.credits)
    }
}

const MODES: [Mode; 6] = [
    Mode::BalanceRr,
    Mode::ActiveBackup,
    Mode::BalanceXor,
    Mode::Broadcast,
    Mode::BalanceTlb,
    Mode::LoadAware,
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 7 {
        return;
    }
    let (head, frame) = data.split_at(7);
    let policy = HashPolicy::ALL[head[0] as usize % HashPolicy::ALL.len()];
    let members = 1 + (head[0] as usize >> 3) % MAX_MEMBERS;
    let l2_proto = if frame.len() >= 14 {
        u16::from_be_bytes([frame[12], frame[13]])
    } else {
        0
    };
    let meta = PacketMeta {
        l4_hash: (head[1] & 1 != 0)
            .then(|| u32::from_le_bytes([head[1], head[2], head[3], head[4]])),
        vlan_tci: (head[1] & 2 != 0).then(|| u16::from_le_bytes([head[5], head[6]])),
        ..PacketMeta::ethernet(l2_proto)
    };
    let hash = xmit_hash(policy, frame, &meta);
    assert_eq!(
        xmit_hash(policy, frame, &meta),
        hash,
        "{policy:?}: hash not stable"
    );
    assert_eq!(xmit_hash_detailed(policy, frame, &meta).0, hash);

    // Links: bit i of head[2..4] set: slot i down.
    let down = u16::from_le_bytes([head[2], head[3]]);
    let links: Vec<LinkState> = (0..members)
        .map(|i| {
            if down >> i & 1 != 0 {
                LinkState::Down
            } else {
                LinkState::Up
            }
        })
        .collect();
    // The active member (active-backup, balance-tlb's receiver): one of the slots.
    let active = head[4] as usize % members;
    for mode in MODES {
        let mut cfg = bond_with_links(mode, &links);
        cfg.hash_policy = policy as u32;
        cfg.active_slot = active as u32;
        cfg.recompute();
        let mut env = Env::default();
        let choice = select(&cfg, frame, &meta, &mut env);
        let any_up = links.contains(&LinkState::Up);
        match choice {
            Selection::Member(slot) => {
                assert!(
                    (slot as usize) < members,
                    "{mode:?}: slot {slot} of {members}"
                );
                assert_eq!(
                    links[slot as usize],
                    LinkState::Up,
                    "{mode:?}: chose a down member"
                );
            }
            Selection::AllMembers => assert_eq!(mode, Mode::Broadcast),
            Selection::NoMember => {
                // What goes through the active member (all of active-backup; balance-tlb's
                // group and non-IP frames) has nowhere to go when it is down; otherwise an
                // up member is found.
                let active_down = links[active] == LinkState::Down;
                let via_active = matches!(mode, Mode::ActiveBackup | Mode::BalanceTlb);
                assert!(
                    !any_up || (via_active && active_down),
                    "{mode:?}: none chosen"
                );
            }
        }
        if mode == Mode::BalanceXor {
            let again = select(&cfg, frame, &meta, &mut Env::default());
            assert_eq!(again, choice, "balance-xor: the same frame changed member");
        }
    }
});
