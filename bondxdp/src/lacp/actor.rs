//! The LACP actor of one bond: its ports, aggregator selection across them, status and
//! snapshots. This is the API an async driver uses; see the [module docs](super) for the
//! calling pattern.

use serde::{Deserialize, Serialize};

use super::mac_serde;
use super::pdu::{FRAME_LEN, MarkerKind, PduError, PortInfo, SlowPdu};
use super::port::{
    ChurnState, Link, MuxState, Port, PortConfig, PortCounters, RxState, RxVerdict, Selection,
};
use super::select::{AdSelect, Candidate, LagKey, choose_active, pick_aggregator};

/// Bond-wide LACP settings (the bonding driver's `ad_*` and `lacp_*` options).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorConfig {
    /// The actor system identifier (the bond's MAC, or `ad_actor_system`).
    #[serde(with = "mac_serde")]
    pub system: [u8; 6],
    /// `ad_actor_sys_prio` (65535 in Linux).
    pub system_priority: u16,
    /// `ad_user_port_key`: the upper 10 bits of every port's key.
    pub user_key: u16,
    /// `lacp_active`: send PDUs unasked (active) or only answer (passive).
    pub lacp_active: bool,
    /// `lacp_rate fast`: ask the partner for a PDU every second (timeout 3 s) instead of
    /// every 30 s (timeout 90 s).
    pub lacp_fast: bool,
    /// `ad_select`.
    pub ad_select: AdSelect,
    /// `coupled_control`: collecting and distributing switch together (Linux's default).
    pub coupled_control: bool,
    /// `lacp_strict`: only ports LACP put in COLLECTING/DISTRIBUTING carry traffic. Off (the
    /// kernel's default): while the active aggregator has no partner (nobody speaks LACP on
    /// its link), its attached ports carry traffic anyway, as the kernel enables them.
    #[serde(default)]
    pub lacp_strict: bool,
}

impl ActorConfig {
    /// Linux's defaults for system `system`: priority 65535, user key 0, active, slow rate,
    /// `ad_select stable`, coupled control.
    pub fn new(system: [u8; 6]) -> ActorConfig {
        ActorConfig {
            system,
            system_priority: 0xffff,
            user_key: 0,
            lacp_active: true,
            lacp_fast: false,
            ad_select: AdSelect::Stable,
            coupled_control: true,
            lacp_strict: false,
        }
    }
}

/// A frame to send on a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Index of the member port (as given to [`Actor::new`] / [`Actor::add_port`]).
    pub port: usize,
    /// The complete Ethernet frame, 124 bytes.
    pub frame: [u8; FRAME_LEN],
}

/// What [`Actor::on_frame`] made of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A LACPDU, recorded.
    Lacpdu,
    /// A LACPDU from our own system (a loop): ignored, counted.
    Loop,
    /// A LACPDU on a port that does not run LACP now (link down, half duplex): ignored.
    Ignored,
    /// A Marker Information PDU: a response is queued.
    MarkerInformation,
    /// A Marker Response: counted.
    MarkerResponse,
    /// Not a usable PDU: counted by reason.
    Malformed(PduError),
    /// No port with that index.
    NoSuchPort,
}

/// The LACP actor of one bond.
#[derive(Clone, Debug)]
pub struct Actor {
    cfg: ActorConfig,
    ports: Vec<Port>,
    active: Option<u16>,
}

impl Actor {
    /// An actor with `ports`, all with link down until [`on_link`](Self::on_link).
    pub fn new(cfg: ActorConfig, ports: impl IntoIterator<Item = PortConfig>, now: u64) -> Actor {
        let ports = ports.into_iter().map(|p| Port::new(p, cfg, now)).collect();
        Actor {
            cfg,
            ports,
            active: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ActorConfig {
        &self.cfg
    }

    /// The ports, by index.
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// Port `index`.
    pub fn port(&self, index: usize) -> Option<&Port> {
        self.ports.get(index)
    }

    /// Adds a member (link down); returns its index.
    pub fn add_port(&mut self, now: u64, cfg: PortConfig) -> usize {
        self.ports.push(Port::new(cfg, self.cfg, now));
        self.step(now);
        self.ports.len() - 1
    }

    /// Sets port `index`'s priority (`actor_port_prio`): its LACPDUs carry it from the next
    /// one, sent at once, and `ad_select actor_port_prio` weighs it.
    pub fn set_port_priority(&mut self, index: usize, now: u64, priority: u16) {
        let Some(port) = self.ports.get_mut(index) else {
            return;
        };
        if port.cfg.port_priority != priority {
            port.cfg.port_priority = priority;
            port.ntt = true;
            self.step(now);
        }
    }

    /// Removes member `index` (the ports after it move down one index) and returns the last
    /// LACPDU to send on it, telling the partner it no longer aggregates, if its link is up.
    pub fn remove_port(&mut self, now: u64, index: usize) -> Option<[u8; FRAME_LEN]> {
        if index >= self.ports.len() {
            return None;
        }
        let port = self.ports.remove(index);
        self.step(now);
        port.link()
            .up
            .then(|| port.farewell().encode(port.config().mac))
    }

    /// A link report for member `index`: carrier, speed in Mbit/s, duplex. Call it once at
    /// start and on every change; a port whose link is down never collects or distributes.
    pub fn on_link(&mut self, index: usize, now: u64, link: Link) {
        if let Some(port) = self.ports.get_mut(index) {
            port.set_link(now, link);
            self.step(now);
        }
    }

    /// A Slow Protocols frame received on member `index` (the whole Ethernet frame).
    pub fn on_frame(&mut self, index: usize, now: u64, frame: &[u8]) -> Received {
        let Some(port) = self.ports.get_mut(index) else {
            return Received::NoSuchPort;
        };
        let received = match SlowPdu::decode(frame) {
            Err(e) => {
                port.counters_mut().malformed.count(&e);
                Received::Malformed(e)
            }
            Ok(SlowPdu::Lacp(pdu)) => match port.on_lacpdu(now, &pdu) {
                RxVerdict::Accepted => Received::Lacpdu,
                RxVerdict::Loop => Received::Loop,
                RxVerdict::Ignored => Received::Ignored,
            },
            Ok(SlowPdu::Marker(marker)) => {
                port.on_marker(&marker);
                match marker.kind {
                    MarkerKind::Information => Received::MarkerInformation,
                    MarkerKind::Response => Received::MarkerResponse,
                }
            }
        };
        self.step(now);
        received
    }

    /// Runs the timers due at `now`. Call it at [`next_deadline`](Self::next_deadline).
    pub fn tick(&mut self, now: u64) {
        self.step(now);
    }

    /// The next frame to send, if any; call it until `None` after every other call.
    pub fn poll_transmit(&mut self, now: u64) -> Option<Transmit> {
        self.ports.iter_mut().enumerate().find_map(|(i, p)| {
            let pdu = p.poll_transmit(now)?;
            Some(Transmit {
                port: i,
                frame: pdu.encode(p.config().mac),
            })
        })
    }

    /// When [`tick`](Self::tick) must run next (milliseconds on the caller's clock).
    pub fn next_deadline(&self) -> Option<u64> {
        self.ports.iter().filter_map(Port::next_deadline).min()
    }

    /// Whether member `index` may deliver what it receives.
    pub fn is_collecting(&self, index: usize) -> bool {
        self.ports.get(index).is_some_and(Port::is_collecting) || self.is_fallback(index)
    }

    /// Whether member `index` may send.
    pub fn is_distributing(&self, index: usize) -> bool {
        self.ports.get(index).is_some_and(Port::is_distributing) || self.is_fallback(index)
    }

    /// Whether member `index` carries traffic without LACP (`lacp_strict` off): it is
    /// attached to the active aggregator, which has no partner, and its link is up. The
    /// kernel does the same (it enables the ports of an active aggregator without partner);
    /// an aggregator with a partner always wins the selection over one without, so this
    /// ends as soon as the partner answers on any member.
    pub fn is_fallback(&self, index: usize) -> bool {
        !self.cfg.lacp_strict
            && self.ports.get(index).is_some_and(|p| {
                p.link().up
                    && p.selection() == Selection::Selected
                    && p.attached()
                    && p.aggregator.is_some_and(|(_, lag)| !lag.has_partner())
            })
    }

    /// The members that may send: the data plane's member list in 802.3ad mode.
    pub fn distributing_ports(&self) -> Vec<usize> {
        (0..self.ports.len())
            .filter(|&i| self.is_distributing(i))
            .collect()
    }

    /// The active aggregator's identifier.
    pub fn active_aggregator(&self) -> Option<u16> {
        self.active
    }

    /// Runs every machine at `now` until nothing changes.
    fn step(&mut self, now: u64) {
        // Each round makes progress (a state entered or left); a handful suffices, the bound
        // only guards against a bug turning into a hang.
        for _ in 0..32 {
            let mut changed = false;
            for port in &mut self.ports {
                changed |= port.run(now);
            }
            changed |= self.select();
            let ready = self.ready_aggregators();
            for port in &mut self.ports {
                let ready = port.aggregator_id().is_some_and(|id| ready.contains(&id));
                changed |= port.run_mux(now, ready);
            }
            if !changed {
                break;
            }
        }
    }

    /// The selection logic: unselected ports leave their aggregator, detached ones join one,
    /// the active aggregator is chosen and every port in an aggregator is marked Selected
    /// (the active one) or Standby. True if anything changed.
    fn select(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.ports.len() {
            let port = &self.ports[i];
            if port.selection != Selection::Unselected {
                continue;
            }
            if port.aggregator.is_some() {
                self.ports[i].aggregator = None;
                changed = true;
            }
            let port = &self.ports[i];
            if port.mux_state() == MuxState::Detached && port.link().up {
                let lag = port.lag_key();
                let existing: Vec<(u16, LagKey)> =
                    self.ports.iter().filter_map(|p| p.aggregator).collect();
                let id = pick_aggregator(&lag, &existing);
                self.ports[i].aggregator = Some((id, lag));
                self.ports[i].selection = Selection::Standby;
                changed = true;
            }
        }
        let active = choose_active(&self.candidates(), self.cfg.ad_select, self.active);
        if active != self.active {
            self.active = active;
            changed = true;
        }
        for port in &mut self.ports {
            if let Some((id, _)) = port.aggregator {
                let want = if Some(id) == active {
                    Selection::Selected
                } else {
                    Selection::Standby
                };
                if port.selection != want {
                    port.selection = want;
                    changed = true;
                }
            }
        }
        changed
    }

    /// The aggregators in use, with their ports that have link.
    fn candidates(&self) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = Vec::new();
        for port in &self.ports {
            let Some((id, lag)) = port.aggregator else {
                continue;
            };
            let i = match out.iter().position(|c| c.id == id) {
                Some(i) => i,
                None => {
                    out.push(Candidate {
                        id,
                        lag,
                        ports_up: 0,
                        bandwidth_mbps: 0,
                        priority: 0,
                        attached: false,
                    });
                    out.len() - 1
                }
            };
            out[i].attached |= port.attached();
            if port.link().up {
                out[i].ports_up += 1;
                out[i].bandwidth_mbps += u64::from(port.link().speed_mbps);
                out[i].priority += u64::from(port.config().port_priority);
            }
        }
        out
    }

    /// Aggregators all of whose ports have waited the aggregate wait time.
    fn ready_aggregators(&self) -> Vec<u16> {
        let mut ids: Vec<u16> = self.ports.iter().filter_map(Port::aggregator_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|&id| {
            self.ports
                .iter()
                .filter(|p| p.aggregator_id() == Some(id))
                .all(Port::ready_n)
        });
        ids
    }

    /// Everything `status` shows for the bond, as /proc/net/bonding does for 802.3ad.
    pub fn status(&self) -> ActorStatus {
        let aggregators = self
            .candidates()
            .into_iter()
            .map(|c| AggregatorStatus {
                id: c.id,
                active: Some(c.id) == self.active,
                ports: self
                    .ports
                    .iter()
                    .filter(|p| p.aggregator_id() == Some(c.id))
                    .map(|p| p.config().port_number)
                    .collect(),
                ports_up: c.ports_up,
                bandwidth_mbps: c.bandwidth_mbps,
                actor_key: c.lag.actor_key,
                partner_key: c.lag.partner_key,
                partner_system: c.lag.partner_system,
                partner_system_priority: c.lag.partner_system_priority,
                individual: c.lag.individual,
            })
            .collect();
        let ports = self
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (actor_churn, partner_churn) = p.churn();
                PortStatus {
                    config: *p.config(),
                    link: p.link(),
                    aggregator: p.aggregator_id(),
                    selection: p.selection(),
                    rx_state: p.rx_state(),
                    mux_state: p.mux_state(),
                    collecting: p.is_collecting() || self.is_fallback(i),
                    distributing: p.is_distributing() || self.is_fallback(i),
                    actor: p.actor_info(),
                    partner: p.partner_info(),
                    actor_churn,
                    partner_churn,
                    counters: *p.counters(),
                }
            })
            .collect();
        ActorStatus {
            config: self.cfg,
            active_aggregator: self.active,
            aggregators,
            ports,
        }
    }

    /// What a restarted controller needs to resume: configuration, links, partners,
    /// aggregator membership and counters; no timers.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            config: self.cfg,
            active_aggregator: self.active,
            ports: self
                .ports
                .iter()
                .map(|p| {
                    let partner_known = matches!(p.rx_state(), RxState::Current | RxState::Expired);
                    PortSnapshot {
                        config: *p.config(),
                        link: p.link(),
                        partner: partner_known.then(|| p.partner_info()),
                        aggregator: p.attached().then(|| p.aggregator_id()).flatten(),
                        counters: *p.counters(),
                    }
                })
                .collect(),
        }
    }

    /// An actor resumed from `snapshot` at `now` (the new process's clock). Ports that were
    /// attached are back in their aggregator in ATTACHED, with their partner recorded but out
    /// of sync: none distributes until the partner's next PDU shows it in sync, and the
    /// first PDU each sends asks the partner for one at once. A partner that stays silent
    /// times out as usual.
    pub fn restore(snapshot: &Snapshot, now: u64) -> Actor {
        let mut actor = Actor::new(
            snapshot.config,
            snapshot.ports.iter().map(|p| p.config),
            now,
        );
        for (port, saved) in actor.ports.iter_mut().zip(&snapshot.ports) {
            port.restore(
                now,
                saved.link,
                saved.partner,
                saved.aggregator,
                saved.counters,
            );
        }
        actor.active = snapshot.active_aggregator;
        actor.step(now);
        actor
    }
}

/// An aggregator as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregatorStatus {
    /// Aggregator ID.
    pub id: u16,
    /// Whether it is the active aggregator.
    pub active: bool,
    /// Port numbers of its members.
    pub ports: Vec<u16>,
    /// Members with link up.
    pub ports_up: u32,
    /// Total speed of those members in Mbit/s.
    pub bandwidth_mbps: u64,
    /// Actor key.
    pub actor_key: u16,
    /// Partner key.
    pub partner_key: u16,
    /// Partner system (00:00:00:00:00:00 when none answers).
    #[serde(with = "mac_serde")]
    pub partner_system: [u8; 6],
    /// Partner system priority.
    pub partner_system_priority: u16,
    /// Whether its link is Individual.
    pub individual: bool,
}

/// A member port as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStatus {
    /// Port number, priority and MAC.
    pub config: PortConfig,
    /// Link as last reported.
    pub link: Link,
    /// Aggregator ID.
    pub aggregator: Option<u16>,
    /// Selected, standby or unselected.
    pub selection: Selection,
    /// Receive machine state.
    pub rx_state: RxState,
    /// Mux machine state.
    pub mux_state: MuxState,
    /// May deliver what it receives.
    pub collecting: bool,
    /// May send.
    pub distributing: bool,
    /// Details actor (what this port tells its partner).
    pub actor: PortInfo,
    /// Details partner.
    pub partner: PortInfo,
    /// Actor churn state.
    pub actor_churn: ChurnState,
    /// Partner churn state.
    pub partner_churn: ChurnState,
    /// Counters.
    pub counters: PortCounters,
}

/// The bond's LACP status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorStatus {
    /// System, priority, user key, rate, activity, ad_select.
    pub config: ActorConfig,
    /// Active aggregator ID.
    pub active_aggregator: Option<u16>,
    /// Aggregators in use.
    pub aggregators: Vec<AggregatorStatus>,
    /// Member ports, by index.
    pub ports: Vec<PortStatus>,
}

/// One port in a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSnapshot {
    /// Its configuration.
    pub config: PortConfig,
    /// Its last link report.
    pub link: Link,
    /// The partner last heard (none if defaulted).
    pub partner: Option<PortInfo>,
    /// The aggregator it was attached to (none if not attached).
    pub aggregator: Option<u16>,
    /// Its counters.
    pub counters: PortCounters,
}

/// The state of an [`Actor`] that survives a controller restart ([`Actor::restore`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The configuration.
    pub config: ActorConfig,
    /// The active aggregator.
    pub active_aggregator: Option<u16>,
    /// The ports, by index.
    pub ports: Vec<PortSnapshot>,
}
