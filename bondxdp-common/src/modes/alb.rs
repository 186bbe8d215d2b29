//! balance-alb (6): receive load balancing by ARP, as the kernel's `bond_alb.c` does it, on top
//! of balance-tlb's transmit ([`super::tlb`]).
//!
//! Every IPv4 peer ("client") the host talks ARP with gets a member: the ARP replies (and
//! unicast requests) the host sends it carry that member's own MAC as the sender hardware
//! address (and Ethernet source) and leave through that member, so the peer sends to that
//! member's MAC and inbound traffic spreads over the members. The client table
//! ([`Client`], keyed by the peer's IPv4 address) is filled by the data plane
//! ([`plan_arp_tx`] when the host sends ARP, [`learn`] when a peer's reply arrives) and kept
//! by the controller: when a member fails its clients move to the least loaded members that
//! remain, when one returns every client is spread again ([`rebalance`]), and each client
//! whose member changed is sent an ARP update ([`update_frame`]) a few times.
//!
//! Broadcast requests the host sends go unchanged through the active receiver (sender = the
//! bond's MAC), as the kernel sends them; peers that hear one may point at the bond's MAC
//! again, so the controller tells every client its member again shortly after
//! (the kernel's `rlb_req_update_subnet_clients`). IPv6 has no receive balancing (neither has
//! the kernel's): neighbour discovery carries the bond's MAC, so it arrives on the active
//! receiver.

use super::nth_eligible;
use crate::{
    config::{BondConfig, MAX_MEMBERS},
    modes::Selection,
    packet::{Bytes, PacketView},
};

/// EtherType ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// Entries in the client table.
pub const MAX_CLIENTS: u32 = 1024;
/// How many times the controller sends each ARP update (the kernel's `RLB_UPDATE_RETRY`).
pub const UPDATE_RETRIES: u32 = 3;
/// The name of balance-alb's egress program (ARP rewrite, then [`super::tlb::Tlb`]).
pub const ALB_EGRESS: &str = "egress_alb";
/// The name of the client table's map.
pub const CLIENTS_MAP: &str = "ALB_CLIENTS";

/// [`Client::flags`]: the peer's MAC is known.
pub const CLIENT_PEER_MAC: u8 = 1 << 0;
/// [`Client::flags`]: the peer must be told its member (the controller sends an ARP update
/// and clears it).
pub const CLIENT_NTT: u8 = 1 << 1;

/// One peer of the client table (the key is its IPv4 address as a big-endian `u32`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Client {
    /// The peer's MAC (valid with [`CLIENT_PEER_MAC`]).
    pub peer_mac: [u8; 6],
    /// The member the peer sends to (its slot).
    pub slot: u8,
    /// `CLIENT_*` flags.
    pub flags: u8,
    /// The bond's address the peer talks to (the sender address of our ARP).
    pub bond_ip: [u8; 4],
    /// Zero.
    pub pad: u32,
    /// When the entry last changed, ns (CLOCK_MONOTONIC).
    pub updated_ns: u64,
}

/// The fields of an Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    /// 1 request, 2 reply.
    pub op: u16,
    /// Sender hardware address.
    pub sha: [u8; 6],
    /// Sender protocol address.
    pub spa: [u8; 4],
    /// Target hardware address.
    pub tha: [u8; 6],
    /// Target protocol address.
    pub tpa: [u8; 4],
}

/// Offset of the ARP sender hardware address in an Ethernet frame.
pub const ARP_SHA_OFFSET: usize = 22;

/// Reads an Ethernet/IPv4 ARP packet (`None`: not one).
#[inline(always)]
pub fn parse_arp<P: PacketView + ?Sized>(pkt: &P) -> Option<Arp> {
    let w = pkt.window(12, 30)?;
    if w.be16::<0>() != ETH_P_ARP
        || w.be16::<2>() != 1
        || w.be16::<4>() != 0x0800
        || w.u8::<6>() != 6
        || w.u8::<7>() != 4
    {
        return None;
    }
    Some(Arp {
        op: w.be16::<8>(),
        sha: [
            w.u8::<10>(),
            w.u8::<11>(),
            w.u8::<12>(),
            w.u8::<13>(),
            w.u8::<14>(),
            w.u8::<15>(),
        ],
        spa: [w.u8::<16>(), w.u8::<17>(), w.u8::<18>(), w.u8::<19>()],
        tha: [
            w.u8::<20>(),
            w.u8::<21>(),
            w.u8::<22>(),
            w.u8::<23>(),
            w.u8::<24>(),
            w.u8::<25>(),
        ],
        tpa: [w.u8::<26>(), w.u8::<27>(), w.u8::<28>(), w.u8::<29>()],
    })
}

/// What to do with an ARP packet the host sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpTx {
    /// Not ours to change: send it as balance-tlb would (through the active receiver).
    Unchanged,
    /// A broadcast request: send it unchanged, and give its target this placeholder entry if
    /// it has none (its reply fills in the peer's MAC).
    Request {
        /// The target's key.
        key: u32,
        /// The placeholder.
        client: Client,
    },
    /// Write the member's MAC as the ARP sender and Ethernet source, send it through the
    /// member, and store the client.
    Rewrite {
        /// The peer's key.
        key: u32,
        /// Its entry (new or updated).
        client: Client,
    },
}

/// Whether the member in `slot` transmits now.
#[inline(always)]
pub fn transmitting(cfg: &BondConfig, slot: u8) -> bool {
    let n = (cfg.tx_count as usize).min(MAX_MEMBERS);
    let mut i = 0;
    while i < n {
        if cfg.tx_slots[i] == slot {
            return true;
        }
        i += 1;
    }
    false
}

/// The member for a client: the one it has while that one transmits, else the `rr`-th
/// transmitting member (the data plane's shared round-robin counter).
#[inline(always)]
pub fn choose_slot(cfg: &BondConfig, existing: Option<&Client>, rr: u32) -> Option<u8> {
    if let Some(c) = existing
        && transmitting(cfg, c.slot)
    {
        return Some(c.slot);
    }
    match nth_eligible(cfg, rr) {
        Selection::Member(slot) => Some(slot as u8),
        _ => None,
    }
}

const BROADCAST: [u8; 6] = [0xff; 6];

/// Whether `mac` is the bond's or one of its members'.
#[inline(always)]
fn own_mac(cfg: &BondConfig, mac: [u8; 6]) -> bool {
    mac == cfg.bond_mac || cfg.members.iter().any(|m| m.ifindex != 0 && m.mac == mac)
}

/// Decides what happens to an ARP packet the host sends (`dst`: its Ethernet destination;
/// `existing`: the target's entry; `rr`: the round-robin counter for a new assignment).
#[inline(always)]
pub fn plan_arp_tx(
    cfg: &BondConfig,
    arp: &Arp,
    dst: [u8; 6],
    existing: Option<&Client>,
    rr: u32,
    now: u64,
) -> ArpTx {
    let key = u32::from_be_bytes(arp.tpa);
    if key == 0 || arp.spa == arp.tpa || arp.spa == [0; 4] {
        // Gratuitous ARP and probes announce the bond itself: its MAC, as sent.
        return ArpTx::Unchanged;
    }
    if !own_mac(cfg, arp.sha) {
        // Someone else's ARP leaving through the bond (a macvlan on top of it): its MAC is
        // the one its peers must use, as the kernel leaves it (`bond_slave_has_mac_rx`).
        return ArpTx::Unchanged;
    }
    let Some(slot) = choose_slot(cfg, existing, rr) else {
        return ArpTx::Unchanged;
    };
    let mut client = existing.copied().unwrap_or_default();
    if client.slot != slot || existing.is_none() {
        client.updated_ns = now;
    }
    client.slot = slot;
    client.bond_ip = arp.spa;
    match arp.op {
        2 => {
            if arp.tha != [0; 6] && arp.tha != BROADCAST {
                client.peer_mac = arp.tha;
                client.flags |= CLIENT_PEER_MAC;
            }
            ArpTx::Rewrite { key, client }
        }
        1 if dst == BROADCAST => ArpTx::Request { key, client },
        1 => {
            client.peer_mac = dst;
            client.flags |= CLIENT_PEER_MAC;
            ArpTx::Rewrite { key, client }
        }
        _ => ArpTx::Unchanged,
    }
}

/// Learns from an ARP reply a peer sent (the kernel's `rlb_update_entry_from_arp`): the
/// client's entry with the peer's MAC, marked to be told its member when the MAC is new (the
/// peer answered a broadcast request, so it now points at the bond's MAC). `None`: nothing
/// changes.
#[inline(always)]
pub fn learn(existing: &Client, arp: &Arp, now: u64) -> Option<Client> {
    if arp.op != 2 || arp.sha == [0; 6] || arp.sha[0] & 1 != 0 || arp.tpa != existing.bond_ip {
        return None;
    }
    if existing.flags & CLIENT_PEER_MAC != 0 && existing.peer_mac == arp.sha {
        return None;
    }
    Some(Client {
        peer_mac: arp.sha,
        flags: existing.flags | CLIENT_PEER_MAC | CLIENT_NTT,
        updated_ns: now,
        ..*existing
    })
}

/// After the transmitting members changed: clients of members that no longer transmit move
/// to the transmitting member with the fewest clients; with `spread` (a member came back or
/// joined) every client is dealt out again over the transmitting members in turn (the
/// kernel's `rlb_rebalance`). Clients that moved get [`CLIENT_NTT`]. Returns how many moved.
pub fn rebalance(cfg: &BondConfig, clients: &mut [(u32, Client)], spread: bool) -> usize {
    let tx = cfg.tx_slots();
    if tx.is_empty() {
        return 0;
    }
    let mut load = [0usize; MAX_MEMBERS];
    let mut moved = 0;
    if spread {
        clients.sort_unstable_by_key(|(k, _)| *k);
        for (i, (_, c)) in clients.iter_mut().enumerate() {
            let slot = tx[i % tx.len()];
            if c.slot != slot {
                c.slot = slot;
                c.flags |= CLIENT_NTT;
                moved += 1;
            }
        }
        return moved;
    }
    for (_, c) in clients.iter() {
        if transmitting(cfg, c.slot) {
            load[c.slot as usize % MAX_MEMBERS] += 1;
        }
    }
    for (_, c) in clients.iter_mut() {
        if transmitting(cfg, c.slot) {
            continue;
        }
        let Some(&slot) = tx.iter().min_by_key(|s| load[**s as usize % MAX_MEMBERS]) else {
            break;
        };
        load[slot as usize % MAX_MEMBERS] += 1;
        c.slot = slot;
        c.flags |= CLIENT_NTT;
        moved += 1;
    }
    moved
}

/// An ARP update telling a client that the bond's address is at `member_mac`: an ARP reply
/// to the peer (the kernel's `rlb_update_client`), padded to the Ethernet minimum.
pub fn update_frame(
    member_mac: [u8; 6],
    bond_ip: [u8; 4],
    peer_mac: [u8; 6],
    peer_ip: [u8; 4],
) -> [u8; 60] {
    let mut f = [0u8; 60];
    f[0..6].copy_from_slice(&peer_mac);
    f[6..12].copy_from_slice(&member_mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    f[22..28].copy_from_slice(&member_mac);
    f[28..32].copy_from_slice(&bond_ip);
    f[32..38].copy_from_slice(&peer_mac);
    f[38..42].copy_from_slice(&peer_ip);
    f
}

/// A learning packet (the kernel's `alb_send_learning_packets`): from `mac` to itself, of the
/// loopback EtherType, so the switch (re)learns `mac` on the port that sends it.
pub fn learning_frame(mac: [u8; 6]) -> [u8; 60] {
    let mut f = [0u8; 60];
    f[0..6].copy_from_slice(&mac);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0060u16.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::{super::testing::bond, *};
    use crate::config::{LinkState, Mode};

    const PEER: [u8; 6] = [2, 0xaa, 0, 0, 0, 1];
    const BOND_IP: [u8; 4] = [198, 18, 0, 1];
    const PEER_IP: [u8; 4] = [198, 18, 0, 2];

    fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Arp {
        Arp {
            op,
            sha,
            spa,
            tha,
            tpa,
        }
    }

    #[test]
    fn parses_what_update_frame_builds_and_refuses_other_frames() {
        let f = update_frame([2, 0, 0, 0, 0, 1], BOND_IP, PEER, PEER_IP);
        assert_eq!(
            parse_arp(&f[..]),
            Some(arp(2, [2, 0, 0, 0, 0, 1], BOND_IP, PEER, PEER_IP))
        );
        assert_eq!(&f[6..12], &f[ARP_SHA_OFFSET..ARP_SHA_OFFSET + 6]);
        let mut ipv6 = f;
        ipv6[16] = 0x86;
        assert_eq!(parse_arp(&ipv6[..]), None);
        assert_eq!(parse_arp(&f[..41]), None);
        let lp = learning_frame(PEER);
        assert_eq!(
            (&lp[0..6], &lp[6..12], &lp[12..14]),
            (&PEER[..], &PEER[..], &[0, 0x60][..])
        );
    }

    #[test]
    fn replies_spread_peers_round_robin_and_keep_their_member() {
        let cfg = bond(Mode::BalanceAlb, 3);
        let mut slots = [0usize; 3];
        for rr in 0..6u32 {
            let a = arp(2, cfg.bond_mac, BOND_IP, PEER, [198, 18, 0, 10 + rr as u8]);
            let ArpTx::Rewrite { key, client } = plan_arp_tx(&cfg, &a, PEER, None, rr, 5) else {
                panic!("a reply is rewritten");
            };
            assert_eq!(key, u32::from_be_bytes(a.tpa));
            assert_eq!(client.peer_mac, PEER);
            assert_eq!(client.bond_ip, BOND_IP);
            assert_eq!(client.flags, CLIENT_PEER_MAC);
            slots[client.slot as usize] += 1;
            // The next reply to the same peer keeps the member, whatever the counter says.
            let again = plan_arp_tx(&cfg, &a, PEER, Some(&client), rr + 1, 6);
            assert_eq!(again, ArpTx::Rewrite { key, client });
        }
        assert_eq!(slots, [2, 2, 2]);
    }

    #[test]
    fn arp_of_a_stacked_device_is_left_as_sent() {
        let cfg = bond(Mode::BalanceAlb, 2);
        let macvlan = [2, 0, 0, 0x12, 0x34, 0x56];
        let a = arp(2, macvlan, [198, 18, 0, 11], PEER, PEER_IP);
        assert_eq!(plan_arp_tx(&cfg, &a, PEER, None, 0, 5), ArpTx::Unchanged);
        // A member's own MAC is the bond's to rewrite.
        let a = arp(2, cfg.members[1].mac, BOND_IP, PEER, PEER_IP);
        assert!(matches!(
            plan_arp_tx(&cfg, &a, PEER, None, 0, 5),
            ArpTx::Rewrite { .. }
        ));
    }

    #[test]
    fn a_client_of_a_failed_member_gets_another() {
        let mut cfg = bond(Mode::BalanceAlb, 2);
        let old = Client {
            slot: 1,
            flags: CLIENT_PEER_MAC,
            peer_mac: PEER,
            bond_ip: BOND_IP,
            ..Default::default()
        };
        cfg.members[1].link = LinkState::Down as u8;
        cfg.recompute();
        let a = arp(2, cfg.bond_mac, BOND_IP, PEER, PEER_IP);
        let ArpTx::Rewrite { client, .. } = plan_arp_tx(&cfg, &a, PEER, Some(&old), 1, 9) else {
            panic!()
        };
        assert_eq!((client.slot, client.updated_ns), (0, 9));
    }

    #[test]
    fn requests_gratuitous_and_probes() {
        let cfg = bond(Mode::BalanceAlb, 2);
        // A broadcast request: a placeholder, sent unchanged.
        let req = arp(1, cfg.bond_mac, BOND_IP, [0; 6], PEER_IP);
        let ArpTx::Request { client, .. } = plan_arp_tx(&cfg, &req, BROADCAST, None, 0, 1) else {
            panic!()
        };
        assert_eq!(client.flags & CLIENT_PEER_MAC, 0);
        // A unicast request (a neighbour probe): rewritten, the peer's MAC from the frame.
        let ArpTx::Rewrite { client, .. } = plan_arp_tx(&cfg, &req, PEER, None, 1, 1) else {
            panic!()
        };
        assert_eq!((client.peer_mac, client.slot), (PEER, 1));
        // Gratuitous ARP and probes (sender 0.0.0.0) carry the bond's MAC.
        let grat = arp(1, cfg.bond_mac, BOND_IP, [0; 6], BOND_IP);
        assert_eq!(
            plan_arp_tx(&cfg, &grat, BROADCAST, None, 0, 1),
            ArpTx::Unchanged
        );
        let probe = arp(1, cfg.bond_mac, [0; 4], [0; 6], PEER_IP);
        assert_eq!(
            plan_arp_tx(&cfg, &probe, BROADCAST, None, 0, 1),
            ArpTx::Unchanged
        );
        // No member transmits: nothing to assign.
        let mut down = cfg;
        down.tx_count = 0;
        assert_eq!(plan_arp_tx(&down, &req, PEER, None, 0, 1), ArpTx::Unchanged);
    }

    #[test]
    fn learning_marks_a_new_peer_mac_to_be_told() {
        let placeholder = Client {
            slot: 1,
            bond_ip: BOND_IP,
            ..Default::default()
        };
        let reply = arp(2, PEER, PEER_IP, [2, 0, 0, 0, 0, 0], BOND_IP);
        let learned = learn(&placeholder, &reply, 3).unwrap();
        assert_eq!(learned.peer_mac, PEER);
        assert_eq!(learned.flags, CLIENT_PEER_MAC | CLIENT_NTT);
        assert_eq!(learned.slot, 1);
        // The same MAC again: nothing; a request: nothing; a reply to another address: nothing.
        assert_eq!(learn(&learned, &reply, 4), None);
        assert_eq!(learn(&placeholder, &Arp { op: 1, ..reply }, 4), None);
        assert_eq!(
            learn(
                &placeholder,
                &Arp {
                    tpa: [198, 18, 0, 9],
                    ..reply
                },
                4
            ),
            None
        );
    }

    #[test]
    fn failure_moves_clients_to_the_least_loaded_and_return_spreads_them() {
        let mut cfg = bond(Mode::BalanceAlb, 3);
        let client = |slot| Client {
            slot,
            ..Default::default()
        };
        let mut clients: Vec<(u32, Client)> = [0, 0, 1, 2, 2, 2]
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u32, client(*s)))
            .collect();
        cfg.members[2].link = LinkState::Down as u8;
        cfg.recompute();
        assert_eq!(rebalance(&cfg, &mut clients, false), 3);
        let on = |clients: &[(u32, Client)], s| clients.iter().filter(|(_, c)| c.slot == s).count();
        assert_eq!(
            (on(&clients, 0), on(&clients, 1), on(&clients, 2)),
            (3, 3, 0)
        );
        assert!(clients[3..].iter().all(|(_, c)| c.flags & CLIENT_NTT != 0));
        assert!(clients[..3].iter().all(|(_, c)| c.flags & CLIENT_NTT == 0));
        // Back: two clients each.
        cfg.members[2].link = LinkState::Up as u8;
        cfg.recompute();
        rebalance(&cfg, &mut clients, true);
        assert_eq!(
            (on(&clients, 0), on(&clients, 1), on(&clients, 2)),
            (2, 2, 2)
        );
        // Nobody transmits: nothing moves.
        cfg.tx_count = 0;
        assert_eq!(rebalance(&cfg, &mut clients, false), 0);
    }
}
