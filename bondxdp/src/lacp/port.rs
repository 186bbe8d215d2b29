//! One port's LACP state machines (IEEE 802.1AX 6.4.12-6.4.17): receive, periodic
//! transmission, mux, transmit with its rate limit, and churn detection.
//!
//! Nothing here reads a clock or touches a socket: every entry point takes `now`, a monotonic
//! time in milliseconds, and timers are deadlines on that scale. Selection spans the ports of
//! a bond, so the [`Actor`](super::Actor) assigns aggregators and sets [`Selection`]; a port
//! alone only runs the machines that belong to it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::key::{KEY_DUPLEX, port_key};
use super::pdu::{Lacpdu, MarkerKind, MarkerPdu, PduError, PortInfo, PortState, SlowPdu};
use super::select::LagKey;
use super::{ActorConfig, mac_serde};

/// Fast periodic time: the PDU interval a partner asking for short timeouts gets.
pub const FAST_PERIODIC_MS: u64 = 1_000;
/// Slow periodic time.
pub const SLOW_PERIODIC_MS: u64 = 30_000;
/// Short timeout: three fast periods without a PDU and the partner is gone.
pub const SHORT_TIMEOUT_MS: u64 = 3 * FAST_PERIODIC_MS;
/// Long timeout: three slow periods.
pub const LONG_TIMEOUT_MS: u64 = 3 * SLOW_PERIODIC_MS;
/// Aggregate wait time: how long a port waits for others to join its aggregator.
pub const AGGREGATE_WAIT_MS: u64 = 2_000;
/// Churn detection time.
pub const CHURN_DETECTION_MS: u64 = 60_000;
/// At most this many LACPDUs in any one-second window.
pub const MAX_LACPDUS_PER_SECOND: usize = 3;
/// At most this many Marker Responses in any one-second window (with the LACPDUs, the ten
/// frames per second IEEE 802.3 annex 43B allows Slow Protocols).
pub const MAX_MARKERS_PER_SECOND: usize = 7;
/// Marker Responses waiting for their turn; requests beyond are dropped and counted.
const MARKER_QUEUE: usize = 8;

/// The partner assumed while none answers (the kernel's administrative defaults).
const PARTNER_ADMIN: PortInfo = PortInfo {
    system_priority: 0xffff,
    system: [0; 6],
    key: 1,
    port_priority: 0xff,
    port: 1,
    state: PortState(0),
};

/// An administrator's description of one member port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortConfig {
    /// Port number sent in LACPDUs, unique in the bond and not 0 (Linux numbers members from 1).
    pub port_number: u16,
    /// Port priority (255 in Linux).
    pub port_priority: u16,
    /// The member's permanent MAC address, the source of its PDUs.
    #[serde(with = "mac_serde")]
    pub mac: [u8; 6],
}

/// A member's link as the driver last reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Carrier up.
    pub up: bool,
    /// Speed in Mbit/s (0 unknown).
    pub speed_mbps: u32,
    /// Full duplex; half-duplex links do not run LACP and stay Individual.
    pub full_duplex: bool,
}

/// Receive machine states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RxState {
    /// Link down.
    PortDisabled,
    /// Link up but half duplex: no LACP, Individual.
    LacpDisabled,
    /// The partner's information timed out once; asking for fast PDUs.
    Expired,
    /// No partner: using the administrative defaults.
    Defaulted,
    /// Partner information is current.
    Current,
}

/// Mux machine states; with coupled control (Linux's default) a port goes from `Attached`
/// straight to `CollectingDistributing`, with independent control through `Collecting` and
/// `Distributing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MuxState {
    /// Not attached to an aggregator.
    Detached,
    /// Selected, waiting for the other ports of the aggregator.
    Waiting,
    /// Attached, waiting for the partner to be in sync.
    Attached,
    /// Independent control: collecting, not yet distributing.
    Collecting,
    /// Independent control: collecting and distributing.
    Distributing,
    /// Coupled control: collecting and distributing.
    CollectingDistributing,
}

/// The selection logic's verdict on a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Needs an aggregator.
    Unselected,
    /// In the active aggregator.
    Selected,
    /// In an aggregator that is not active: must not distribute.
    Standby,
}

/// A churn detection machine's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnState {
    /// Out of sync, watching for sync within the churn detection time.
    Monitoring,
    /// In sync.
    None,
    /// Out of sync for longer than the churn detection time.
    Churned,
}

/// Frames rejected by the decoder, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MalformedCounters {
    /// Shorter than a PDU.
    pub truncated: u64,
    /// Longer than 128 bytes.
    pub oversized: u64,
    /// Not ethertype 0x8809.
    pub not_slow_protocols: u64,
    /// Not to 01:80:c2:00:00:02.
    pub wrong_destination: u64,
    /// A Slow Protocol other than LACP and Marker.
    pub unknown_subtype: u64,
    /// Version 0.
    pub wrong_version: u64,
    /// A TLV with the wrong type or length.
    pub bad_tlv: u64,
}

impl MalformedCounters {
    /// Counts one rejected frame.
    pub fn count(&mut self, e: &PduError) {
        let c = match e {
            PduError::Truncated { .. } => &mut self.truncated,
            PduError::Oversized { .. } => &mut self.oversized,
            PduError::NotSlowProtocols { .. } => &mut self.not_slow_protocols,
            PduError::WrongDestination => &mut self.wrong_destination,
            PduError::UnknownSubtype(_) => &mut self.unknown_subtype,
            PduError::WrongVersion(_) => &mut self.wrong_version,
            PduError::BadTlv { .. } => &mut self.bad_tlv,
        };
        *c += 1;
    }

    /// All rejected frames.
    pub fn total(&self) -> u64 {
        self.truncated
            + self.oversized
            + self.not_slow_protocols
            + self.wrong_destination
            + self.unknown_subtype
            + self.wrong_version
            + self.bad_tlv
    }
}

/// What happened on a port, counted since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortCounters {
    /// LACPDUs received (well-formed, including loops and ones ignored while disabled).
    pub lacpdu_rx: u64,
    /// LACPDUs sent.
    pub lacpdu_tx: u64,
    /// Marker Information PDUs received.
    pub marker_rx: u64,
    /// Marker Responses received.
    pub marker_response_rx: u64,
    /// Marker Responses sent.
    pub marker_response_tx: u64,
    /// Marker Information PDUs left unanswered (queue full).
    pub marker_dropped: u64,
    /// Frames the decoder rejected.
    pub malformed: MalformedCounters,
    /// Our own LACPDUs received back (a loop), ignored.
    pub loops: u64,
    /// LACPDUs that named another partner (system, key, port or aggregation) than the
    /// current one: each forces reselection.
    pub partner_changes: u64,
    /// Partner information timed out (current_while expired in CURRENT).
    pub expiries: u64,
    /// Fell back to the default partner (no PDU after expiry).
    pub defaulted: u64,
    /// Times the actor churn machine found churn.
    pub actor_churns: u64,
    /// Times the partner churn machine found churn.
    pub partner_churns: u64,
}

/// What the receive side made of a LACPDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RxVerdict {
    /// Recorded.
    Accepted,
    /// Our own system's PDU: ignored.
    Loop,
    /// The port does not run LACP now (link down or half duplex): ignored.
    Ignored,
}

/// A churn machine: its state and, while monitoring, its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Churn {
    state: ChurnState,
    deadline: Option<u64>,
}

impl Churn {
    fn monitoring(now: u64) -> Churn {
        Churn {
            state: ChurnState::Monitoring,
            deadline: Some(now + CHURN_DETECTION_MS),
        }
    }

    /// Advances on `in_sync` at `now`; true when churn was found.
    fn run(&mut self, now: u64, in_sync: bool) -> bool {
        match self.state {
            _ if in_sync => {
                *self = Churn {
                    state: ChurnState::None,
                    deadline: None,
                };
            }
            ChurnState::None => *self = Churn::monitoring(now),
            ChurnState::Monitoring if self.deadline.is_some_and(|d| d <= now) => {
                *self = Churn {
                    state: ChurnState::Churned,
                    deadline: None,
                };
                return true;
            }
            ChurnState::Monitoring | ChurnState::Churned => {}
        }
        false
    }
}

/// The periodic machine's timer: next transmission and the period it was set with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Periodic {
    deadline: u64,
    period: u64,
}

/// One member port: its configuration, link, actor and partner information and the state
/// of its machines.
#[derive(Clone, Debug)]
pub struct Port {
    pub(super) cfg: PortConfig,
    actor_cfg: ActorConfig,
    link: Link,
    key: u16,
    state: PortState,
    partner: PortInfo,
    rx: RxState,
    current_while: Option<u64>,
    periodic: Option<Periodic>,
    mux: MuxState,
    wait_while: Option<u64>,
    ready_n: bool,
    pub(super) selection: Selection,
    pub(super) aggregator: Option<(u16, LagKey)>,
    pub(super) ntt: bool,
    lacp_sent: VecDeque<u64>,
    markers_sent: VecDeque<u64>,
    markers: VecDeque<MarkerPdu>,
    actor_churn: Churn,
    partner_churn: Churn,
    counters: PortCounters,
}

impl Port {
    /// A port whose link is down, as after BEGIN.
    pub(super) fn new(cfg: PortConfig, actor_cfg: ActorConfig, now: u64) -> Port {
        let mut port = Port {
            cfg,
            actor_cfg,
            link: Link::default(),
            key: port_key(actor_cfg.user_key, false, 0, false),
            state: PortState(0),
            partner: PARTNER_ADMIN,
            rx: RxState::PortDisabled,
            current_while: None,
            periodic: None,
            mux: MuxState::Detached,
            wait_while: None,
            ready_n: false,
            selection: Selection::Unselected,
            aggregator: None,
            ntt: false,
            lacp_sent: VecDeque::new(),
            markers_sent: VecDeque::new(),
            markers: VecDeque::new(),
            actor_churn: Churn::monitoring(now),
            partner_churn: Churn::monitoring(now),
            counters: PortCounters::default(),
        };
        port.begin(now);
        port
    }

    /// BEGIN: every machine back to its initial state, partner information defaulted.
    fn begin(&mut self, now: u64) {
        self.state = PortState::AGGREGATION
            .with(PortState::ACTIVITY, self.actor_cfg.lacp_active)
            .with(PortState::TIMEOUT, self.actor_cfg.lacp_fast);
        self.selection = Selection::Unselected;
        self.record_default();
        self.rx = RxState::PortDisabled;
        self.partner.state.set(PortState::SYNCHRONIZATION, false);
        self.current_while = None;
        self.periodic = None;
        self.enter_mux(now, MuxState::Detached);
        self.actor_churn = Churn::monitoring(now);
        self.partner_churn = Churn::monitoring(now);
    }

    /// The configuration.
    pub fn config(&self) -> &PortConfig {
        &self.cfg
    }

    /// The link as last reported.
    pub fn link(&self) -> Link {
        self.link
    }

    /// What this port tells its partner about itself.
    pub fn actor_info(&self) -> PortInfo {
        PortInfo {
            system_priority: self.actor_cfg.system_priority,
            system: self.actor_cfg.system,
            key: self.key,
            port_priority: self.cfg.port_priority,
            port: self.cfg.port_number,
            state: self.state,
        }
    }

    /// The partner as this port knows it (the defaults while none answers).
    pub fn partner_info(&self) -> PortInfo {
        self.partner
    }

    /// The receive machine's state.
    pub fn rx_state(&self) -> RxState {
        self.rx
    }

    /// The mux machine's state.
    pub fn mux_state(&self) -> MuxState {
        self.mux
    }

    /// The selection logic's verdict.
    pub fn selection(&self) -> Selection {
        self.selection
    }

    /// The aggregator the port is in.
    pub fn aggregator_id(&self) -> Option<u16> {
        self.aggregator.map(|(id, _)| id)
    }

    /// The actor and partner churn machines' states.
    pub fn churn(&self) -> (ChurnState, ChurnState) {
        (self.actor_churn.state, self.partner_churn.state)
    }

    /// The counters.
    pub fn counters(&self) -> &PortCounters {
        &self.counters
    }

    pub(super) fn counters_mut(&mut self) -> &mut PortCounters {
        &mut self.counters
    }

    /// Frames received on the port may be delivered.
    pub fn is_collecting(&self) -> bool {
        self.link.up
            && matches!(
                self.mux,
                MuxState::Collecting | MuxState::Distributing | MuxState::CollectingDistributing
            )
    }

    /// Frames may be sent on the port.
    pub fn is_distributing(&self) -> bool {
        self.link.up
            && matches!(
                self.mux,
                MuxState::Distributing | MuxState::CollectingDistributing
            )
    }

    /// Whether the port runs LACP at all: link up and full duplex (as Linux decides it).
    fn lacp_enabled(&self) -> bool {
        self.link.up && self.key & KEY_DUPLEX != 0
    }

    /// The key of the aggregator this port fits, from the current actor and partner.
    pub(super) fn lag_key(&self) -> LagKey {
        LagKey {
            actor_key: self.key,
            partner_system_priority: self.partner.system_priority,
            partner_system: self.partner.system,
            partner_key: self.partner.key,
            individual: !self.state.contains(PortState::AGGREGATION)
                || !self.partner.state.contains(PortState::AGGREGATION),
        }
    }

    /// Whether the port has waited long enough to attach (ready_n).
    pub(super) fn ready_n(&self) -> bool {
        self.ready_n
    }

    /// A new link report. A link that comes up, or changes speed or duplex while up, starts
    /// the port afresh (BEGIN, as Linux does on a key change); a link that goes down stops it
    /// at once: not collecting or distributing, partner out of sync.
    pub(super) fn set_link(&mut self, now: u64, link: Link) {
        let was_up = self.link.up;
        let old_key = self.key;
        self.link = link;
        self.key = port_key(
            self.actor_cfg.user_key,
            link.up,
            link.speed_mbps,
            link.full_duplex,
        );
        if link.up && (!was_up || self.key != old_key) {
            self.begin(now);
        } else if !link.up && was_up {
            self.rx = RxState::PortDisabled;
            self.current_while = None;
            self.partner.state.set(PortState::SYNCHRONIZATION, false);
            self.periodic = None;
            self.ntt = false;
        }
    }

    /// The receive machine on a LACPDU from the partner.
    pub(super) fn on_lacpdu(&mut self, now: u64, pdu: &Lacpdu) -> RxVerdict {
        self.counters.lacpdu_rx += 1;
        if pdu.actor.system == self.actor_cfg.system {
            self.counters.loops += 1;
            return RxVerdict::Loop;
        }
        if !matches!(
            self.rx,
            RxState::Expired | RxState::Defaulted | RxState::Current
        ) {
            return RxVerdict::Ignored;
        }
        // update_Selected: a different partner means a different aggregator.
        if !pdu.actor.same_identity(&self.partner) {
            self.selection = Selection::Unselected;
            if !self.state.contains(PortState::DEFAULTED) {
                self.counters.partner_changes += 1;
            }
        }
        // update_NTT: tell the partner when its view of us is wrong.
        let me = self.actor_info();
        let bits = PortState::ACTIVITY
            | PortState::TIMEOUT
            | PortState::SYNCHRONIZATION
            | PortState::AGGREGATION;
        if !same_port(&pdu.partner, &me) || (pdu.partner.state.0 ^ me.state.0) & bits.0 != 0 {
            self.ntt = true;
        }
        // recordPDU: the partner is in sync only if it sees us as we are, or is Individual,
        // and LACP actively maintains the link.
        let matched = (same_port(&pdu.partner, &me)
            && pdu.partner.state.contains(PortState::AGGREGATION)
                == me.state.contains(PortState::AGGREGATION))
            || !pdu.actor.state.contains(PortState::AGGREGATION);
        let maintained = pdu.actor.state.contains(PortState::ACTIVITY)
            || (me.state.contains(PortState::ACTIVITY)
                && pdu.partner.state.contains(PortState::ACTIVITY));
        self.partner = pdu.actor;
        self.partner.state.set(
            PortState::SYNCHRONIZATION,
            matched && maintained && pdu.actor.state.contains(PortState::SYNCHRONIZATION),
        );
        self.state.set(PortState::DEFAULTED, false);
        self.state.set(PortState::EXPIRED, false);
        self.rx = RxState::Current;
        self.current_while = Some(now + self.timeout_ms());
        RxVerdict::Accepted
    }

    /// A Marker PDU: Information is answered (queued for [`poll_transmit`](Self::poll_transmit)),
    /// a Response only counted.
    pub(super) fn on_marker(&mut self, marker: &MarkerPdu) {
        match marker.kind {
            MarkerKind::Information => {
                self.counters.marker_rx += 1;
                if self.markers.len() < MARKER_QUEUE {
                    self.markers.push_back(marker.response());
                } else {
                    self.counters.marker_dropped += 1;
                }
            }
            MarkerKind::Response => self.counters.marker_response_rx += 1,
        }
    }

    /// The current_while time the actor asks for: short if it asked for fast PDUs.
    fn timeout_ms(&self) -> u64 {
        if self.state.contains(PortState::TIMEOUT) {
            SHORT_TIMEOUT_MS
        } else {
            LONG_TIMEOUT_MS
        }
    }

    fn record_default(&mut self) {
        self.partner = PARTNER_ADMIN;
        self.state.set(PortState::DEFAULTED, true);
    }

    /// Runs the timers and the machines that depend on this port only (receive, periodic,
    /// churn); true if anything changed.
    pub(super) fn run(&mut self, now: u64) -> bool {
        let before = (self.rx, self.selection, self.partner, self.state, self.ntt);
        self.run_rx(now);
        self.run_periodic(now);
        if self.wait_while.is_some_and(|d| d <= now) {
            self.wait_while = None;
            self.ready_n = true;
        }
        if self
            .actor_churn
            .run(now, self.state.contains(PortState::SYNCHRONIZATION))
        {
            self.counters.actor_churns += 1;
        }
        if self
            .partner_churn
            .run(now, self.partner.state.contains(PortState::SYNCHRONIZATION))
        {
            self.counters.partner_churns += 1;
        }
        before != (self.rx, self.selection, self.partner, self.state, self.ntt)
    }

    fn run_rx(&mut self, now: u64) {
        match self.rx {
            RxState::PortDisabled if self.lacp_enabled() => self.enter_expired(now),
            RxState::PortDisabled if self.link.up => {
                // Half duplex: Individual, with the default partner.
                self.rx = RxState::LacpDisabled;
                self.selection = Selection::Unselected;
                self.record_default();
                self.partner.state.set(PortState::AGGREGATION, false);
                self.state.set(PortState::EXPIRED, false);
            }
            RxState::Current if self.current_while.is_some_and(|d| d <= now) => {
                self.counters.expiries += 1;
                self.enter_expired(now);
            }
            RxState::Expired if self.current_while.is_some_and(|d| d <= now) => {
                self.counters.defaulted += 1;
                self.rx = RxState::Defaulted;
                self.current_while = None;
                // update_Default_Selected, then recordDefault.
                if !PARTNER_ADMIN.same_identity(&self.partner) {
                    self.selection = Selection::Unselected;
                }
                self.record_default();
                self.state.set(PortState::EXPIRED, false);
            }
            _ => {}
        }
    }

    fn enter_expired(&mut self, now: u64) {
        self.rx = RxState::Expired;
        self.partner.state.set(PortState::SYNCHRONIZATION, false);
        self.partner.state.set(PortState::TIMEOUT, true);
        self.current_while = Some(now + SHORT_TIMEOUT_MS);
        self.state.set(PortState::EXPIRED, true);
    }

    /// Whether the periodic machine runs: LACP on, and either side active.
    fn periodic_on(&self) -> bool {
        self.lacp_enabled()
            && (self.state.contains(PortState::ACTIVITY)
                || self.partner.state.contains(PortState::ACTIVITY))
    }

    fn run_periodic(&mut self, now: u64) {
        if !self.periodic_on() {
            // NO_PERIODIC: nothing is sent, not even on NTT.
            self.periodic = None;
            self.ntt = false;
            return;
        }
        let partner_fast = self.partner.state.contains(PortState::TIMEOUT);
        let period = if partner_fast {
            FAST_PERIODIC_MS
        } else {
            SLOW_PERIODIC_MS
        };
        match self.periodic {
            // NO_PERIODIC -> FAST_PERIODIC.
            None => {
                self.periodic = Some(Periodic {
                    deadline: now + FAST_PERIODIC_MS,
                    period: FAST_PERIODIC_MS,
                })
            }
            // PERIODIC_TX, then FAST or SLOW by the partner's timeout; a partner that asks
            // for short timeouts while we wait the slow period gets a PDU at once.
            Some(p) if p.deadline <= now || (p.period == SLOW_PERIODIC_MS && partner_fast) => {
                self.ntt = true;
                self.periodic = Some(Periodic {
                    deadline: now + period,
                    period,
                });
            }
            Some(_) => {}
        }
    }

    /// One mux machine transition given the port's aggregator is `ready` (all its ports have
    /// waited); true if the state changed.
    pub(super) fn run_mux(&mut self, now: u64, ready: bool) -> bool {
        let sel = self.selection;
        let partner_sync = self.partner.state.contains(PortState::SYNCHRONIZATION);
        let partner_collecting = self.partner.state.contains(PortState::COLLECTING);
        let leave = sel != Selection::Selected || !partner_sync;
        let next = match self.mux {
            MuxState::Detached if sel != Selection::Unselected => MuxState::Waiting,
            MuxState::Waiting if sel == Selection::Unselected => MuxState::Detached,
            MuxState::Waiting if sel == Selection::Selected && ready => MuxState::Attached,
            MuxState::Attached if sel != Selection::Selected => MuxState::Detached,
            MuxState::Attached if partner_sync && self.actor_cfg.coupled_control => {
                MuxState::CollectingDistributing
            }
            MuxState::Attached if partner_sync => MuxState::Collecting,
            MuxState::CollectingDistributing | MuxState::Collecting if leave => MuxState::Attached,
            MuxState::Collecting if partner_collecting => MuxState::Distributing,
            MuxState::Distributing if leave || !partner_collecting => MuxState::Collecting,
            // A port whose control mode changed under it falls back through Attached.
            MuxState::Collecting | MuxState::Distributing if self.actor_cfg.coupled_control => {
                MuxState::Attached
            }
            MuxState::CollectingDistributing if !self.actor_cfg.coupled_control => {
                MuxState::Attached
            }
            state => state,
        };
        if next == self.mux {
            return false;
        }
        self.enter_mux(now, next);
        true
    }

    fn enter_mux(&mut self, now: u64, state: MuxState) {
        self.mux = state;
        let (sync, collecting, distributing) = match state {
            MuxState::Detached => {
                self.ready_n = false;
                self.wait_while = None;
                (false, false, false)
            }
            MuxState::Waiting => {
                self.ready_n = false;
                self.wait_while = Some(now + AGGREGATE_WAIT_MS);
                return;
            }
            MuxState::Attached => (true, false, false),
            MuxState::Collecting => (true, true, false),
            MuxState::Distributing | MuxState::CollectingDistributing => (true, true, true),
        };
        self.state.set(PortState::SYNCHRONIZATION, sync);
        self.state.set(PortState::COLLECTING, collecting);
        self.state.set(PortState::DISTRIBUTING, distributing);
        if state != MuxState::Distributing {
            self.ntt = true;
        }
    }

    /// The LACPDU this port sends now.
    fn lacpdu(&self) -> Lacpdu {
        Lacpdu {
            actor: self.actor_info(),
            partner: self.partner,
            collector_max_delay: 0,
        }
    }

    /// The LACPDU a port leaving the bond sends: no longer aggregatable or in sync.
    pub(super) fn farewell(&self) -> Lacpdu {
        let mut pdu = self.lacpdu();
        for flag in [
            PortState::AGGREGATION,
            PortState::SYNCHRONIZATION,
            PortState::COLLECTING,
            PortState::DISTRIBUTING,
        ] {
            pdu.actor.state.set(flag, false);
        }
        pdu
    }

    /// The next PDU to send at `now`, if any: a LACPDU when NTT is set (at most three in any
    /// second), else a queued Marker Response (at most seven in any second).
    pub(super) fn poll_transmit(&mut self, now: u64) -> Option<SlowPdu> {
        forget_before(&mut self.lacp_sent, now);
        forget_before(&mut self.markers_sent, now);
        if self.ntt && !self.periodic_on() {
            self.ntt = false;
        }
        if self.ntt && self.lacp_sent.len() < MAX_LACPDUS_PER_SECOND {
            self.ntt = false;
            self.lacp_sent.push_back(now);
            self.counters.lacpdu_tx += 1;
            return Some(SlowPdu::Lacp(self.lacpdu()));
        }
        if self.link.up && self.markers_sent.len() < MAX_MARKERS_PER_SECOND {
            let marker = self.markers.pop_front()?;
            self.markers_sent.push_back(now);
            self.counters.marker_response_tx += 1;
            return Some(SlowPdu::Marker(marker));
        }
        None
    }

    /// The earliest time this port needs [`Actor::tick`](super::Actor::tick): a timer, or the
    /// end of a rate-limit window holding back a PDU. A time not after the last `now` means
    /// a PDU can go out at once.
    pub fn next_deadline(&self) -> Option<u64> {
        let window_end = |sent: &VecDeque<u64>, max| {
            if sent.len() < max {
                Some(0)
            } else {
                sent.front().map(|t| t + FAST_PERIODIC_MS)
            }
        };
        let lacp = (self.ntt && self.periodic_on())
            .then(|| window_end(&self.lacp_sent, MAX_LACPDUS_PER_SECOND))
            .flatten();
        let marker = (self.link.up && !self.markers.is_empty())
            .then(|| window_end(&self.markers_sent, MAX_MARKERS_PER_SECOND))
            .flatten();
        [
            self.current_while,
            self.wait_while,
            self.periodic.map(|p| p.deadline),
            self.actor_churn.deadline,
            self.partner_churn.deadline,
            lacp,
            marker,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Restores what a [`PortSnapshot`](super::PortSnapshot) kept: the link and, if the port
    /// was attached, its partner (out of sync until its next PDU) and aggregator, so that it
    /// is back in ATTACHED and distributes again on the partner's first in-sync PDU.
    pub(super) fn restore(
        &mut self,
        now: u64,
        link: Link,
        partner: Option<PortInfo>,
        aggregator: Option<u16>,
        counters: PortCounters,
    ) {
        self.set_link(now, link);
        self.counters = counters;
        if !self.lacp_enabled() {
            return;
        }
        let Some(mut partner) = partner else {
            return;
        };
        partner.state.set(PortState::SYNCHRONIZATION, false);
        self.partner = partner;
        self.state.set(PortState::DEFAULTED, false);
        self.rx = RxState::Current;
        self.current_while = Some(now + self.timeout_ms());
        if let Some(id) = aggregator {
            self.aggregator = Some((id, self.lag_key()));
            self.selection = Selection::Standby;
            self.ready_n = true;
            self.enter_mux(now, MuxState::Attached);
        }
    }

    /// Whether the port got as far as ATTACHED.
    pub(super) fn attached(&self) -> bool {
        !matches!(self.mux, MuxState::Detached | MuxState::Waiting)
    }
}

/// Whether `a` and `b` name the same port of the same system with the same key.
fn same_port(a: &PortInfo, b: &PortInfo) -> bool {
    a.port == b.port
        && a.port_priority == b.port_priority
        && a.system == b.system
        && a.system_priority == b.system_priority
        && a.key == b.key
}

/// Drops send times that left the one-second window ending at `now`.
fn forget_before(sent: &mut VecDeque<u64>, now: u64) {
    while sent.front().is_some_and(|&t| t + FAST_PERIODIC_MS <= now) {
        sent.pop_front();
    }
}
