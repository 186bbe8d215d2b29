//! balance-tlb and balance-alb in the controller, as the kernel's `bond_alb.c` does them
//! around the data plane:
//! * every `lp_interval` seconds each transmitting member sends a learning packet with its
//!   MAC (the active receiver with the bond's), so the switch keeps each MAC on its port;
//! * when the active receiver changes, the new one sends a learning packet with the bond's MAC
//!   and announces the bond's addresses (balance-tlb: gratuitous ARPs; both: unsolicited
//!   neighbour advertisements), so the bond's MAC moves to it;
//! * balance-alb: when a member stops transmitting its clients move to the least loaded
//!   members left; when one starts, every client is dealt out again; clients whose member
//!   changed, and clients the data plane marked (a new MAC learned), are sent ARP updates;
//!   after the host broadcasts an ARP request every client is told again, once the request's
//!   effect on the peers' caches can be overridden (the kernel's two-second delay).

use std::{
    collections::HashMap,
    net::IpAddr,
    time::{Duration, Instant},
};

use bondxdp_common::{
    BondConfig, Counter, Mode,
    modes::alb::{
        CLIENT_NTT, CLIENT_PEER_MAC, UPDATE_RETRIES, learning_frame, rebalance, update_frame,
    },
};
use tracing::{debug, info, warn};

use super::{frames, packet_socket::PacketSocket};
use crate::{alb::Clients, maps::BondMaps, options::IpCidr, pins::BondPaths};

/// How often the client table is looked at (new marks, requests the host sent).
const POLL: Duration = Duration::from_millis(100);
/// How long after a broadcast ARP request of the host every client is told again (the
/// kernel's `RLB_UPDATE_DELAY`): a peer ignores a changed MAC for `locktime` (1 s) after it
/// last updated the entry.
const REQUEST_DELAY: Duration = Duration::from_secs(2);
/// When the ARP updates are sent once more: a member that just came back may be heard before
/// its switch port forwards (the switch reacts to the link after the host does).
const RETELL: Duration = Duration::from_secs(1);

/// The controller's balance-tlb/alb state for one bond.
#[derive(Default)]
pub struct Alb {
    next_lp: Option<Instant>,
    next_poll: Option<Instant>,
    tx: Option<Vec<u8>>,
    active: Option<u32>,
    requests: Option<u64>,
    tell_all_at: Option<Instant>,
    retell: Vec<u32>,
    retell_at: Option<Instant>,
    sockets: HashMap<u32, PacketSocket>,
    clients: Option<Clients>,
}

/// What [`Alb::step`] needs from the bond task.
pub struct Context<'a> {
    /// The bond's name (for logs).
    pub name: &'a str,
    /// Its pins.
    pub paths: &'a BondPaths,
    /// Its maps.
    pub maps: &'a BondMaps,
    /// Its addresses.
    pub addresses: &'a [IpCidr],
    /// Gratuitous ARPs per address on a change of active receiver (`num_grat_arp`).
    pub num_grat_arp: u32,
}

impl Alb {
    /// When [`Alb::step`] next has something to do (`None`: never, the mode is another).
    pub fn next_due(&self) -> Option<Instant> {
        match (self.next_lp, self.next_poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Acts on the published configuration `cfg`.
    pub fn step(&mut self, cfg: &BondConfig, cx: &Context) {
        let mode = cfg.mode();
        if !matches!(mode, Some(Mode::BalanceTlb | Mode::BalanceAlb)) {
            *self = Alb::default();
            return;
        }
        let now = Instant::now();
        let alb = mode == Some(Mode::BalanceAlb);
        let tx = cfg.tx_slots().to_vec();
        let active = cfg.active_slot;
        if self.active.is_some_and(|a| a != active) && tx.contains(&(active as u8)) {
            self.announce(cfg, cx, alb);
        }
        self.active = Some(active);
        if self.next_lp.is_none_or(|t| now >= t) {
            self.learning_packets(cfg, alb);
            self.next_lp = Some(now + Duration::from_secs(cfg.lp_interval.max(1) as u64));
        }
        let previous = self.tx.replace(tx.clone());
        if alb {
            self.next_poll = Some(now + POLL);
            self.receive_balancing(cfg, cx, previous.as_deref(), &tx, now);
        }
    }

    /// Learning packets from every transmitting member (the kernel's
    /// `alb_send_learning_packets`).
    fn learning_packets(&mut self, cfg: &BondConfig, alb: bool) {
        for &slot in cfg.tx_slots() {
            let mut macs = vec![*cfg.source_mac(slot as usize)];
            let own = cfg.members[slot as usize].mac;
            // balance-alb tells clients of the active receiver its own MAC too.
            if alb && !macs.contains(&own) {
                macs.push(own);
            }
            for mac in macs {
                self.send(cfg, slot, &learning_frame(mac));
            }
        }
    }

    /// A new active receiver: the bond's MAC moves to it.
    fn announce(&mut self, cfg: &BondConfig, cx: &Context, alb: bool) {
        let slot = cfg.active_slot as u8;
        info!(bond = %cx.name, slot, "new active receiver");
        self.send(cfg, slot, &learning_frame(cfg.bond_mac));
        for _ in 0..cx.num_grat_arp.max(1) {
            for cidr in cx.addresses {
                let frame = match cidr.addr {
                    // balance-alb's peers are told their members' MACs: a gratuitous ARP with
                    // the bond's would undo that (the kernel sends none either).
                    IpAddr::V4(_) if alb => continue,
                    IpAddr::V4(a) => frames::gratuitous_arp(cfg.bond_mac, a),
                    IpAddr::V6(a) => frames::unsolicited_advertisement(cfg.bond_mac, a),
                };
                self.send(cfg, slot, &frame);
            }
        }
    }

    /// balance-alb: clients moved off members that stopped, spread again when one started,
    /// and told their members.
    fn receive_balancing(
        &mut self,
        cfg: &BondConfig,
        cx: &Context,
        previous: Option<&[u8]>,
        tx: &[u8],
        now: Instant,
    ) {
        if self.clients.is_none() {
            match Clients::open(cx.paths) {
                Ok(c) => self.clients = c,
                Err(e) => warn!(bond = %cx.name, "balance-alb client table: {e}"),
            }
        }
        let Some(clients) = self.clients.as_mut() else {
            return;
        };
        let requests = cx.maps.counter(Counter::RlbArpRequest).unwrap_or(0);
        if self.requests.is_some_and(|r| r != requests) {
            self.tell_all_at = Some(now + REQUEST_DELAY);
        }
        self.requests = Some(requests);
        let mut all = clients.all();
        let before = all.clone();
        if let Some(previous) = previous {
            let lost = previous.iter().any(|s| !tx.contains(s));
            let gained = tx.iter().any(|s| !previous.contains(s));
            let mut moved = 0;
            if lost {
                moved += rebalance(cfg, &mut all, false);
            }
            if gained {
                moved += rebalance(cfg, &mut all, true);
            }
            if moved > 0 {
                info!(bond = %cx.name, moved, "members changed; clients moved");
            }
        }
        let waiting = self.tell_all_at.is_some_and(|t| now < t);
        if !waiting && self.tell_all_at.take().is_some() {
            for (_, c) in all.iter_mut() {
                c.flags |= CLIENT_NTT;
            }
        }
        let retelling = self.retell_at.is_some_and(|t| now >= t);
        if retelling {
            self.retell_at = None;
            for (key, client) in all.iter_mut() {
                if self.retell.contains(key) {
                    client.flags |= CLIENT_NTT;
                }
            }
            self.retell.clear();
        }
        let mut told = Vec::new();
        for (i, (key, client)) in all.iter_mut().enumerate() {
            if client.flags & CLIENT_NTT != 0
                && !waiting
                && client.flags & CLIENT_PEER_MAC != 0
                && tx.contains(&client.slot)
            {
                let member = cfg.members[client.slot as usize].mac;
                let frame =
                    update_frame(member, client.bond_ip, client.peer_mac, key.to_be_bytes());
                for _ in 0..UPDATE_RETRIES {
                    self.send(cfg, client.slot, &frame);
                }
                debug!(bond = %cx.name, peer = %crate::alb::peer_ip(*key), slot = client.slot, "ARP update");
                client.flags &= !CLIENT_NTT;
                told.push(*key);
            }
            if before.get(i).map(|(_, c)| c) != Some(client) {
                // The data plane may have changed the entry since it was read; the next round
                // sees what it wrote.
                if let Some(clients) = self.clients.as_mut()
                    && let Err(e) = clients.set(*key, client)
                {
                    warn!(bond = %cx.name, "balance-alb client table: {e}");
                }
            }
        }
        if !told.is_empty() && !retelling && self.retell_at.is_none() {
            // Once more, a second later (only after a first telling, not after the repeat).
            self.retell = told;
            self.retell_at = Some(now + RETELL);
        }
    }

    /// Sends a frame through the member in `slot`.
    fn send(&mut self, cfg: &BondConfig, slot: u8, frame: &[u8]) {
        let ifindex = cfg.members[slot as usize % cfg.members.len()].ifindex;
        if ifindex == 0 {
            return;
        }
        let socket = match self.sockets.entry(ifindex) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                match PacketSocket::open(ifindex, &[drop_all()]) {
                    Ok(s) => e.insert(s),
                    Err(err) => {
                        warn!("balance-tlb/alb: no socket on ifindex {ifindex}: {err}");
                        return;
                    }
                }
            }
        };
        if let Err(e) = socket.send(frame) {
            debug!("balance-tlb/alb: sending on ifindex {ifindex}: {e}");
        }
    }
}

/// A socket filter that accepts nothing (send-only sockets).
fn drop_all() -> libc::sock_filter {
    libc::sock_filter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: 0,
    }
}
