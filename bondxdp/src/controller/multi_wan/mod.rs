//! multi-wan uplinks, watched. For each uplink of a multi-wan bond:
//!
//! * its address and gateway are read again every second from netlink (a DHCP renewal or a
//!   modem reconnecting is followed without a restart), and gateways not resolved yet are
//!   nudged until they are;
//! * its health is probed ([`Prober`]): ICMP echo (or a TCP connection attempt) to the probe
//!   targets through that uplink only, from its own address, sent and heard on an AF_PACKET
//!   socket so no routing table is involved;
//! * the data plane's passive signals (SYNs sent again without an answer) start a
//!   confirmation at once;
//! * its flows are swept from the tables when it fails, and expired flows of every uplink
//!   every few seconds.
//!
//! The bond task asks [`Uplinks::healthy`] per member and lets [`Uplinks::apply`] write the
//! uplinks' settings into the configuration it publishes.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use bondxdp_common::{
    BondConfig, MAX_MEMBERS,
    config::{LinkState, UPLINK_DEGRADED},
    counters::UplinkSignals,
    multi_wan::{FAMILY_V4, FLOW_CLOSING, FlowKey, addr_bytes},
    records::{
        HEALTH_CONFIRMING, HEALTH_DOWN, HEALTH_UP, MWAN_RESET_ON_FAILOVER, MultiWanRecord,
        PROBLEM_DEGRADED, PROBLEM_GATEWAY_UNRESOLVED, PROBLEM_NO_ADDRESS, PROBLEM_NO_GATEWAY,
        UplinkHealth,
    },
};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

pub mod prober;
pub mod quality;
pub mod reset;

use prober::{ProbeSettings, Prober};

use super::{
    frames::{self, EchoReply},
    packet_socket::{PacketSocket, Reader},
};
use crate::{
    bond::discover_uplinks,
    maps::{BondMaps, monotonic_ns},
    multi_wan::{self, Discovery},
    netdev::Netlink,
    options::{MultiWanOptions, ProbeTarget},
};

/// How often addresses and gateways are read again.
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(1);
/// How often the passive signals are read.
const SIGNALS_INTERVAL: Duration = Duration::from_millis(100);
/// How often expired flows are swept.
const GC_INTERVAL: Duration = Duration::from_secs(10);

/// Probes the loss figure must cover before quality judges an uplink by it.
const QUALITY_MIN_SAMPLES: usize = 10;

/// Idle time after which a flow is forgotten, by protocol.
fn flow_timeout(proto: u8, closing: bool) -> Duration {
    match (proto, closing) {
        (6, true) => Duration::from_secs(10),
        (6, false) => Duration::from_secs(2 * 3600),
        (1 | 58, _) => Duration::from_secs(30),
        _ => Duration::from_secs(120),
    }
}

/// Something heard about a probe.
#[derive(Clone, Copy, Debug)]
pub enum UplinkProbeReply {
    /// An echo reply on the uplink in this slot.
    Echo(usize, EchoReply, Instant),
    /// A TCP probe of this round connected (or was refused: the target is alive) after rtt.
    Tcp(usize, u64, Duration, Instant),
}

/// One watched uplink.
struct Watched {
    ifindex: u32,
    name: String,
    discovery: Discovery,
    prober: Prober,
    /// Whether its loss or latency keeps new flows off it.
    quality: quality::Quality,
    socket: Option<Arc<PacketSocket>>,
    /// Reads the socket's echo replies; stops when the uplink is dropped.
    _reader: Option<Reader>,
    /// Echo identifier of this uplink's probes.
    id: u16,
    seq: u16,
    /// Probes in flight: sequence number -> (round, sent).
    outstanding: HashMap<u16, (u64, Instant)>,
    signals: UplinkSignals,
    /// Flows of this uplink removed by sweeps so far.
    swept: u64,
}

/// The uplinks of one multi-wan bond.
pub struct Uplinks {
    bond: String,
    record: MultiWanRecord,
    targets: Vec<ProbeTarget>,
    watched: BTreeMap<usize, Watched>,
    heard_tx: mpsc::UnboundedSender<UplinkProbeReply>,
    next_discovery: Instant,
    next_signals: Instant,
    next_gc: Instant,
    /// Each uplink's state as last announced (log, metrics, hooks).
    announced: BTreeMap<usize, &'static str>,
}

impl Uplinks {
    /// Watches the uplinks of bond `bond` with options `record`; what probes hear arrives on
    /// the returned receiver (feed it to [`Uplinks::on_heard`]).
    pub fn new(
        bond: &str,
        record: MultiWanRecord,
    ) -> (Uplinks, mpsc::UnboundedReceiver<UplinkProbeReply>) {
        let (heard_tx, heard_rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let targets = MultiWanOptions::from_pinned(&record, &[]).probes;
        (
            Uplinks {
                bond: bond.to_string(),
                record,
                targets,
                watched: BTreeMap::new(),
                heard_tx,
                next_discovery: now,
                next_signals: now,
                next_gc: now + GC_INTERVAL,
                announced: BTreeMap::new(),
            },
            heard_rx,
        )
    }

    fn settings(&self) -> ProbeSettings {
        let r = &self.record;
        ProbeSettings {
            interval: Duration::from_millis(r.probe_interval_ms as u64),
            failure_interval: Duration::from_millis(r.probe_failure_interval_ms as u64),
            timeout: Duration::from_millis(r.probe_timeout_ms as u64),
            down: r.probe_down,
            up: r.probe_up,
            max_rtt: (r.probe_max_rtt_ms > 0)
                .then(|| Duration::from_millis(r.probe_max_rtt_ms as u64)),
        }
    }

    fn quality_settings(&self) -> quality::QualitySettings {
        let r = &self.record;
        quality::QualitySettings {
            max_loss: r.quality_loss_permille as f64 / 1000.0,
            max_rtt: (r.quality_rtt_ms > 0).then(|| Duration::from_millis(r.quality_rtt_ms as u64)),
            hold: Duration::from_millis(r.quality_hold_ms as u64),
            recover: Duration::from_millis(r.quality_recover_ms as u64),
        }
    }

    /// Takes new options (`bondxdp set`): probers start over if the probing changed.
    pub fn set_record(&mut self, record: MultiWanRecord) {
        let probing_changed = record.probes != self.record.probes
            || record.probe_ports != self.record.probe_ports
            || record.probe_count != self.record.probe_count
            || record.probe_interval_ms != self.record.probe_interval_ms
            || record.probe_timeout_ms != self.record.probe_timeout_ms
            || record.probe_failure_interval_ms != self.record.probe_failure_interval_ms
            || record.probe_down != self.record.probe_down
            || record.probe_up != self.record.probe_up
            || record.probe_max_rtt_ms != self.record.probe_max_rtt_ms;
        self.record = record;
        self.targets = MultiWanOptions::from_pinned(&record, &[]).probes;
        self.next_discovery = Instant::now();
        if probing_changed {
            let settings = self.settings();
            let n = self.targets.len();
            for w in self.watched.values_mut() {
                let healthy = w.prober.healthy();
                w.prober = Prober::new(settings, n, healthy, Instant::now());
                w.outstanding.clear();
            }
        }
    }

    /// Matches the watched uplinks to the bond's members: (slot, ifindex, name, whether the
    /// data plane has it up now).
    pub async fn sync(
        &mut self,
        nl: &Netlink,
        maps: &BondMaps,
        members: &[(usize, u32, String, bool)],
    ) {
        self.watched
            .retain(|slot, w| members.iter().any(|m| m.0 == *slot && m.1 == w.ifindex));
        for (slot, ifindex, name, up) in members {
            if self.watched.contains_key(slot) {
                continue;
            }
            let ethernet = match nl.link_by_index(*ifindex).await {
                Ok(Some(l)) => l.ethernet,
                _ => true,
            };
            let socket = PacketSocket::open(
                *ifindex,
                &frames::echo_reply_filter(if ethernet { 14 } else { 0 }),
            )
            .map(Arc::new);
            let socket = match socket {
                Ok(s) => Some(s),
                Err(e) => {
                    warn!(bond = %self.bond, uplink = %name, "no probe socket: {e}");
                    None
                }
            };
            let reader = socket.clone().map(|s| {
                let tx = self.heard_tx.clone();
                let slot = *slot;
                let l3 = if ethernet { 14 } else { 0 };
                Reader::spawn(async move {
                    let mut buf = vec![0u8; 2048];
                    while let Ok(n) = s.recv(&mut buf).await {
                        if let Some(r) = frames::parse_echo_reply(&buf[..n], l3)
                            && tx
                                .send(UplinkProbeReply::Echo(slot, r, Instant::now()))
                                .is_err()
                        {
                            break;
                        }
                    }
                })
            });
            let id = (monotonic_ns() as u16) ^ (*slot as u16) << 12 ^ 0x6278;
            self.watched.insert(
                *slot,
                Watched {
                    ifindex: *ifindex,
                    name: name.clone(),
                    discovery: Discovery {
                        name: name.clone(),
                        l3: !ethernet,
                        ..Default::default()
                    },
                    prober: Prober::new(self.settings(), self.targets.len(), *up, Instant::now()),
                    quality: Default::default(),
                    socket,
                    _reader: reader,
                    id,
                    seq: 0,
                    outstanding: HashMap::new(),
                    signals: UplinkSignals::default(),
                    // A restarted controller carries on counting.
                    swept: maps.nat.health(*slot).map_or(0, |h| h.swept),
                },
            );
        }
        self.next_discovery = Instant::now();
    }

    /// Whether probes say the uplink in `slot` works (true for uplinks not watched, and
    /// when there are no probe targets).
    pub fn healthy(&self, slot: usize) -> bool {
        self.watched.get(&slot).is_none_or(|w| w.prober.healthy())
    }

    /// When something is next due.
    pub fn next_due(&self) -> Instant {
        let mut due = self.next_discovery.min(self.next_signals).min(self.next_gc);
        for w in self.watched.values() {
            due = due.min(w.prober.due());
        }
        due
    }

    /// Reads the uplinks again if due; returns whether anything the data plane uses changed.
    pub async fn refresh(&mut self, nl: &Netlink, now: Instant) -> bool {
        if now < self.next_discovery {
            return false;
        }
        self.next_discovery = now + DISCOVERY_INTERVAL;
        let mut links = Vec::new();
        for (slot, w) in &self.watched {
            if let Ok(Some(link)) = nl.link_by_index(w.ifindex).await {
                links.push((*slot, link));
            }
        }
        let Ok(found) = discover_uplinks(nl, &links, &self.record).await else {
            return false;
        };
        let mut changed = false;
        for ((slot, d), (_, link)) in found.into_iter().zip(&links) {
            let Some(w) = self.watched.get_mut(&slot) else {
                continue;
            };
            if d != w.discovery {
                if d.addr4 != w.discovery.addr4 || d.addr6 != w.discovery.addr6 {
                    info!(bond = %self.bond, uplink = %w.name, v4 = ?d.addr4.map(|c| c.to_string()),
                          v6 = ?d.addr6.map(|c| c.to_string()), "uplink address");
                }
                if d.gw4 != w.discovery.gw4 || d.gw_mac4 != w.discovery.gw_mac4 {
                    debug!(bond = %self.bond, uplink = %w.name, gw = ?d.gw4, mac = ?d.gw_mac4, "gateway");
                }
                w.discovery = d;
                changed = true;
            }
            multi_wan::nudge_resolution(&w.discovery, link.index);
        }
        changed
    }

    /// Sends the probes that are due, closes expired rounds, reads the passive signals.
    /// Returns whether a verdict changed.
    pub fn tick(&mut self, maps: &BondMaps, now: Instant) -> bool {
        let mut changed = false;
        if now >= self.next_signals {
            self.next_signals = now + SIGNALS_INTERVAL;
            for (slot, w) in self.watched.iter_mut() {
                let Ok(s) = maps.nat.signals(*slot) else {
                    continue;
                };
                let retries = s.syn_retransmits - w.signals.syn_retransmits.min(s.syn_retransmits);
                let answers = s.syn_acks - w.signals.syn_acks.min(s.syn_acks);
                if retries > 0 && answers == 0 && w.prober.healthy() {
                    debug!(bond = %self.bond, uplink = %w.name, retries, "SYNs unanswered; probing now");
                    w.prober.suspect(now);
                }
                w.signals = s;
            }
        }
        let targets = self.targets.clone();
        let quality = self.quality_settings();
        for (slot, w) in self.watched.iter_mut() {
            let (send, verdict) = w.prober.poll(now);
            changed |= verdict;
            // Quality counts only while the uplink answers at all (a dead one is down), and
            // once the loss figure covers enough probes to mean something.
            if w.prober.healthy()
                && !self.targets.is_empty()
                && w.prober.samples() >= QUALITY_MIN_SAMPLES
                && let Some(degraded) =
                    w.quality
                        .observe(&quality, w.prober.loss(), w.prober.srtt(), now)
            {
                let loss = w.prober.loss() * 100.0;
                let rtt = w.prober.srtt().map_or(0.0, |r| r.as_secs_f64() * 1000.0);
                if degraded {
                    warn!(bond = %self.bond, uplink = %w.name, loss_percent = loss, rtt_ms = rtt,
                          "uplink degraded: no new flows while its tier has a better one");
                } else {
                    info!(bond = %self.bond, uplink = %w.name, loss_percent = loss, rtt_ms = rtt,
                          "uplink recovered: takes new flows again");
                }
                changed = true;
            }
            let Some(send) = send else { continue };
            // Forget probes of rounds long gone.
            w.outstanding
                .retain(|_, (_, sent)| now.duration_since(*sent) < Duration::from_secs(10));
            for t in send.targets {
                let Some(target) = targets.get(t) else {
                    continue;
                };
                match target.tcp_port {
                    None => send_echo(w, *target, send.round, now),
                    Some(port) => spawn_tcp_probe(
                        self.heard_tx.clone(),
                        *slot,
                        w,
                        target.addr,
                        port,
                        send.round,
                    ),
                }
            }
        }
        changed
    }

    /// Takes a probe answer; returns whether a verdict changed.
    pub fn on_heard(&mut self, heard: UplinkProbeReply) -> bool {
        match heard {
            UplinkProbeReply::Echo(slot, reply, at) => {
                let Some(w) = self.watched.get_mut(&slot) else {
                    return false;
                };
                if reply.id != w.id {
                    return false;
                }
                let Some((round, sent)) = w.outstanding.remove(&reply.seq) else {
                    return false;
                };
                w.prober.on_reply(round, at.duration_since(sent), at)
            }
            UplinkProbeReply::Tcp(slot, round, rtt, at) => self
                .watched
                .get_mut(&slot)
                .is_some_and(|w| w.prober.on_reply(round, rtt, at)),
        }
    }

    /// Writes the uplinks' settings into `cfg` (about to be published over `live`): address,
    /// gateway MACs, readiness. An uplink whose link goes down in `cfg` starts a new epoch,
    /// so its flows are pinned anew elsewhere. Returns the slots that went down.
    pub fn apply(&self, cfg: &mut BondConfig, live: &BondConfig) -> Vec<usize> {
        let mut failed = Vec::new();
        for (slot, w) in &self.watched {
            let slot = *slot;
            if slot >= MAX_MEMBERS || !cfg.members[slot].is_used() {
                continue;
            }
            let mut u = w.discovery.to_uplink(&live.uplinks[slot]);
            let was_up = live.members[slot].link_state() == LinkState::Up;
            let is_up = cfg.members[slot].link_state() == LinkState::Up;
            if was_up && !is_up {
                u.epoch = u.epoch.wrapping_add(1).max(1);
                failed.push(slot);
            }
            if w.quality.degraded() && w.prober.healthy() {
                u.flags |= UPLINK_DEGRADED;
            }
            cfg.uplinks[slot] = u;
            if w.discovery.l3 {
                cfg.members[slot].mac = [0; 6];
            } else {
                cfg.members[slot].mac = w.discovery.mac;
            }
        }
        failed
    }

    /// Records each uplink's verdict for `status`.
    pub fn write_health(&self, maps: &mut BondMaps, cfg: &BondConfig) {
        for (slot, w) in &self.watched {
            let d = &w.discovery;
            let mut problems = 0;
            if d.addr4.is_none() && d.addr6.is_none() {
                problems |= PROBLEM_NO_ADDRESS;
            }
            if !d.l3 && d.addr4.is_some() && !d.routable4() {
                problems |= PROBLEM_NO_GATEWAY;
            }
            if !d.l3
                && ((d.gw4.is_some() && d.gw_mac4.is_none())
                    || (d.addr6.is_some() && d.gw6.is_some() && d.gw_mac6.is_none()))
            {
                problems |= PROBLEM_GATEWAY_UNRESOLVED;
            }
            if w.quality.degraded() && w.prober.healthy() {
                problems |= PROBLEM_DEGRADED;
            }
            let up = cfg.members[*slot].link_state() == LinkState::Up;
            let health = UplinkHealth {
                state: if !up {
                    HEALTH_DOWN
                } else if w.prober.confirming() {
                    HEALTH_CONFIRMING
                } else {
                    HEALTH_UP
                },
                pad: [0; 3],
                srtt_us: w.prober.srtt().map_or(0, |r| r.as_micros() as u32),
                loss_permille: (w.prober.loss() * 1000.0) as u32,
                problems,
                probes_sent: w.prober.sent,
                replies: w.prober.replies,
                swept: w.swept,
                updated_ns: monotonic_ns(),
                gw4: d.gw4.map_or([0; 4], |g| g.octets()),
                gw6: d.gw6.map_or([0; 16], |g| g.octets()),
            };
            let _ = maps.nat.set_health(*slot, health);
        }
    }

    /// Announces each uplink whose state (`up`, `degraded`, `down`, as published in `cfg`)
    /// changed: a log line, a count for the metrics, and the hooks ([`super::hooks`]).
    pub fn announce(&mut self, cfg: &BondConfig, counts: &crate::metrics::SharedCounts) {
        self.announced
            .retain(|slot, _| self.watched.contains_key(slot));
        for (slot, w) in &self.watched {
            let new = if cfg.members[*slot].link_state() != LinkState::Up {
                "down"
            } else if cfg.uplinks[*slot].flags & UPLINK_DEGRADED != 0 {
                "degraded"
            } else {
                "up"
            };
            let old = self.announced.insert(*slot, new).unwrap_or("none");
            if old == new {
                continue;
            }
            info!(bond = %self.bond, uplink = %w.name, old, new, "uplink state");
            if let Ok(mut c) = counts.lock() {
                *c.entry(self.bond.clone())
                    .or_default()
                    .uplink_states
                    .entry((w.name.clone(), new.to_string()))
                    .or_default() += 1;
            }
            super::hooks::uplink_changed(super::hooks::UplinkEvent {
                bond: self.bond.clone(),
                uplink: w.name.clone(),
                old,
                new,
            });
        }
    }

    /// Removes flows that expired, that belong to an older epoch of their uplink, or (all of
    /// them) that went through one of `failed`. Runs every few seconds, and at once for a
    /// failure. Returns how many flows went.
    pub fn sweep(
        &mut self,
        maps: &mut BondMaps,
        cfg: &BondConfig,
        failed: &[usize],
        now: Instant,
    ) -> usize {
        if failed.is_empty() && now < self.next_gc {
            return 0;
        }
        self.next_gc = now + GC_INTERVAL;
        let mono = monotonic_ns();
        let stale = |slot: u8, epoch: u32| {
            let slot = slot as usize;
            slot >= MAX_MEMBERS
                || failed.contains(&slot)
                || cfg.uplinks[slot].epoch != epoch
                || !cfg.members[slot].is_used()
        };
        let expired = |proto: u8, closing: bool, last: u64| {
            Duration::from_nanos(mono.saturating_sub(last)) > flow_timeout(proto, closing)
        };
        let mut reset = Vec::new();
        let resetting = self.record.flags & MWAN_RESET_ON_FAILOVER != 0 && !failed.is_empty();
        let flows: Vec<(FlowKey, u8, bool)> = maps
            .nat
            .flows
            .iter()
            .filter_map(|r| r.ok())
            .map(|(k, e)| {
                if resetting
                    && k.proto == 6
                    && failed.contains(&(e.slot as usize))
                    && let Some(c) = self.local_connection(&k)
                {
                    reset.push(c);
                }
                let gone = stale(e.slot, e.epoch)
                    || expired(k.proto, e.flags & FLOW_CLOSING != 0, e.last_ns);
                (k, e.slot, gone)
            })
            .collect();
        if !reset.is_empty() {
            match reset::destroy(&reset) {
                Ok(n) => info!(
                    bond = %self.bond,
                    connections = n,
                    "reset the host's connections through the failed uplink"
                ),
                Err(e) => warn!(bond = %self.bond, "cannot reset connections: {e}"),
            }
        }
        let mut removed = 0;
        for (k, slot, gone) in &flows {
            if *gone && maps.nat.flows.remove(k).is_ok() {
                removed += 1;
                if let Some(w) = self.watched.get_mut(&(*slot as usize)) {
                    w.swept += 1;
                }
            }
        }
        // NAT entries whose flow is gone (or stale) go too: their ports become free.
        let live: std::collections::HashSet<FlowKey> = flows
            .iter()
            .filter(|(_, _, gone)| !gone)
            .map(|(k, _, _)| *k)
            .collect();
        let nat: Vec<FlowKey> = maps
            .nat
            .table
            .iter()
            .filter_map(|r| r.ok())
            .filter(|(reply, e)| {
                let inside = FlowKey {
                    src: e.inside,
                    dst: reply.src,
                    sport: e.inside_port,
                    dport: reply.sport,
                    proto: reply.proto,
                    family: reply.family,
                    pad: [0; 2],
                };
                stale(e.slot, e.epoch) || !live.contains(&inside)
            })
            .map(|(k, _)| k)
            .collect();
        for k in &nat {
            let _ = maps.nat.table.remove(k);
        }
        if removed > 0 || !failed.is_empty() {
            debug!(bond = %self.bond, removed, nat = nat.len(), "flows swept");
        }
        removed
    }
}

impl Uplinks {
    /// The host's own connection behind flow `k`, if its inside end is the bond's address.
    fn local_connection(&self, k: &FlowKey) -> Option<reset::Connection> {
        let r = &self.record;
        let (local, remote): (IpAddr, IpAddr) = if k.family == FAMILY_V4 {
            let a = std::net::Ipv4Addr::from(k.src[0].to_le_bytes());
            if r.prefix4 == 0 || a.octets() != r.address4 {
                return None;
            }
            (
                a.into(),
                std::net::Ipv4Addr::from(k.dst[0].to_le_bytes()).into(),
            )
        } else {
            let a = std::net::Ipv6Addr::from(addr_bytes(&k.src));
            if r.prefix6 == 0 || a.octets() != r.address6 {
                return None;
            }
            (
                a.into(),
                std::net::Ipv6Addr::from(addr_bytes(&k.dst)).into(),
            )
        };
        Some(reset::Connection {
            local,
            local_port: k.sport,
            remote,
            remote_port: k.dport,
        })
    }
}

/// Sends one echo request of `round` to `target` through `w`, if it can carry the family.
fn send_echo(w: &mut Watched, target: ProbeTarget, round: u64, now: Instant) {
    let d = &w.discovery;
    let (src, gw_mac) = match target.addr {
        IpAddr::V4(_) => (d.addr4.map(|c| c.addr), d.gw_mac4),
        IpAddr::V6(_) => (d.addr6.map(|c| c.addr), d.gw_mac6),
    };
    let Some(src) = src else { return };
    let macs = match (d.l3, gw_mac) {
        (true, _) => None,
        (false, Some(gw)) => Some((gw, d.mac)),
        (false, None) => return,
    };
    w.seq = w.seq.wrapping_add(1);
    let Some(frame) = frames::echo_request(macs, src, target.addr, w.id, w.seq) else {
        return;
    };
    if let Some(s) = &w.socket
        && s.send(&frame).is_ok()
    {
        w.outstanding.insert(w.seq, (round, now));
    }
}

/// Opens a TCP connection to `addr`:`port` through `w` from its own address; a connection
/// or a refusal (the target is alive) within 5 s is an answer to `round`.
fn spawn_tcp_probe(
    tx: mpsc::UnboundedSender<UplinkProbeReply>,
    slot: usize,
    w: &Watched,
    addr: IpAddr,
    port: u16,
    round: u64,
) {
    let src = match addr {
        IpAddr::V4(_) => w.discovery.addr4,
        IpAddr::V6(_) => w.discovery.addr6,
    };
    let Some(src) = src else { return };
    let device = w.name.clone();
    tokio::spawn(async move {
        let sent = Instant::now();
        let socket = match addr {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        };
        let Ok(socket) = socket else { return };
        if socket.bind_device(Some(device.as_bytes())).is_err()
            || socket.bind(SocketAddr::new(src.addr, 0)).is_err()
        {
            return;
        }
        let result = tokio::time::timeout(
            Duration::from_secs(5),
            socket.connect(SocketAddr::new(addr, port)),
        )
        .await;
        let alive = match result {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionRefused,
            Err(_) => false,
        };
        if alive {
            let _ = tx.send(UplinkProbeReply::Tcp(
                slot,
                round,
                sent.elapsed(),
                Instant::now(),
            ));
        }
    });
}
