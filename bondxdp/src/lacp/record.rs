//! The actor's state in the bond's pinned record ([`LacpRecord`], a fixed-size `repr(C)` part
//! of `BondState`), and back: what `status` shows and what a restarted controller resumes
//! from ([`Actor::restore`](super::Actor::restore)).
//!
//! The record is indexed by member slot, not by the actor's port index, and names the
//! member's interface index, so a record never resumes a port on another interface. States
//! are stored as small numbers ([`mux_code`] and friends); a number this version does not
//! know reads as the most conservative state (detached, disabled, unselected).

use bondxdp_common::config::MAX_MEMBERS;
use bondxdp_common::records::{
    LACP_PORT_COLLECTING, LACP_PORT_DISTRIBUTING, LACP_PORT_FULL_DUPLEX, LACP_PORT_LINK_UP,
    LACP_PORT_PARTNER_KNOWN, LacpCountersRecord, LacpInfoRecord, LacpPortRecord, LacpRecord,
};

use super::{
    ActorConfig, ActorStatus, AggregatorStatus, ChurnState, Link, MalformedCounters, MuxState,
    PortConfig, PortCounters, PortInfo, PortSnapshot, PortState, PortStatus, RxState, Selection,
    Snapshot,
};

/// A member port as the driver knows it: where it is in the data plane and how it speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberPort {
    /// Slot in the data plane ([`LacpRecord::ports`] index).
    pub slot: usize,
    /// Interface index.
    pub ifindex: u32,
    /// Port number, priority and MAC.
    pub config: PortConfig,
}

/// One port as the record has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedPort {
    /// Slot in the data plane.
    pub slot: usize,
    /// Interface index.
    pub ifindex: u32,
    /// The port's machines, actor and partner, counters.
    pub status: PortStatus,
    /// Frames the controller failed to send on it.
    pub tx_errors: u64,
}

/// The whole record, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The active aggregator.
    pub active_aggregator: Option<u16>,
    /// Aggregators in use (computed from the ports, as [`super::Actor::status`] does).
    pub aggregators: Vec<AggregatorStatus>,
    /// Ports, in slot order.
    pub ports: Vec<RecordedPort>,
    /// CLOCK_MONOTONIC time of the record, ns (0: never written).
    pub updated_ns: u64,
}

/// [`MuxState`] as stored.
pub fn mux_code(s: MuxState) -> u8 {
    match s {
        MuxState::Detached => 0,
        MuxState::Waiting => 1,
        MuxState::Attached => 2,
        MuxState::Collecting => 3,
        MuxState::Distributing => 4,
        MuxState::CollectingDistributing => 5,
    }
}

fn mux_state(code: u8) -> MuxState {
    match code {
        1 => MuxState::Waiting,
        2 => MuxState::Attached,
        3 => MuxState::Collecting,
        4 => MuxState::Distributing,
        5 => MuxState::CollectingDistributing,
        _ => MuxState::Detached,
    }
}

/// [`RxState`] as stored.
pub fn rx_code(s: RxState) -> u8 {
    match s {
        RxState::PortDisabled => 0,
        RxState::LacpDisabled => 1,
        RxState::Expired => 2,
        RxState::Defaulted => 3,
        RxState::Current => 4,
    }
}

fn rx_state(code: u8) -> RxState {
    match code {
        1 => RxState::LacpDisabled,
        2 => RxState::Expired,
        3 => RxState::Defaulted,
        4 => RxState::Current,
        _ => RxState::PortDisabled,
    }
}

/// [`Selection`] as stored.
pub fn selection_code(s: Selection) -> u8 {
    match s {
        Selection::Unselected => 0,
        Selection::Selected => 1,
        Selection::Standby => 2,
    }
}

fn selection(code: u8) -> Selection {
    match code {
        1 => Selection::Selected,
        2 => Selection::Standby,
        _ => Selection::Unselected,
    }
}

/// [`ChurnState`] as stored.
pub fn churn_code(s: ChurnState) -> u8 {
    match s {
        ChurnState::Monitoring => 0,
        ChurnState::None => 1,
        ChurnState::Churned => 2,
    }
}

fn churn_state(code: u8) -> ChurnState {
    match code {
        1 => ChurnState::None,
        2 => ChurnState::Churned,
        _ => ChurnState::Monitoring,
    }
}

fn info_record(i: &PortInfo) -> LacpInfoRecord {
    LacpInfoRecord {
        system_priority: i.system_priority,
        system: i.system,
        key: i.key,
        port_priority: i.port_priority,
        port: i.port,
        state: i.state.bits(),
        pad: 0,
    }
}

fn info(r: &LacpInfoRecord) -> PortInfo {
    PortInfo {
        system_priority: r.system_priority,
        system: r.system,
        key: r.key,
        port_priority: r.port_priority,
        port: r.port,
        state: PortState(r.state),
    }
}

fn counters_record(c: &PortCounters, tx_errors: u64) -> LacpCountersRecord {
    let m = &c.malformed;
    LacpCountersRecord {
        lacpdu_rx: c.lacpdu_rx,
        lacpdu_tx: c.lacpdu_tx,
        marker_rx: c.marker_rx,
        marker_response_rx: c.marker_response_rx,
        marker_response_tx: c.marker_response_tx,
        marker_dropped: c.marker_dropped,
        truncated: m.truncated,
        oversized: m.oversized,
        not_slow_protocols: m.not_slow_protocols,
        wrong_destination: m.wrong_destination,
        unknown_subtype: m.unknown_subtype,
        wrong_version: m.wrong_version,
        bad_tlv: m.bad_tlv,
        loops: c.loops,
        partner_changes: c.partner_changes,
        expiries: c.expiries,
        defaulted: c.defaulted,
        actor_churns: c.actor_churns,
        partner_churns: c.partner_churns,
        tx_errors,
    }
}

fn counters(r: &LacpCountersRecord) -> PortCounters {
    PortCounters {
        lacpdu_rx: r.lacpdu_rx,
        lacpdu_tx: r.lacpdu_tx,
        marker_rx: r.marker_rx,
        marker_response_rx: r.marker_response_rx,
        marker_response_tx: r.marker_response_tx,
        marker_dropped: r.marker_dropped,
        malformed: MalformedCounters {
            truncated: r.truncated,
            oversized: r.oversized,
            not_slow_protocols: r.not_slow_protocols,
            wrong_destination: r.wrong_destination,
            unknown_subtype: r.unknown_subtype,
            wrong_version: r.wrong_version,
            bad_tlv: r.bad_tlv,
        },
        loops: r.loops,
        partner_changes: r.partner_changes,
        expiries: r.expiries,
        defaulted: r.defaulted,
        actor_churns: r.actor_churns,
        partner_churns: r.partner_churns,
    }
}

/// Whether a port in mux state `mux` got as far as ATTACHED.
fn attached(mux: MuxState) -> bool {
    !matches!(mux, MuxState::Detached | MuxState::Waiting)
}

/// Writes `status` (ports by actor index) into `rec`: port `i` goes to the slot of
/// `members[i]`, with `tx_errors[i]`; slots without a port are cleared. Options in `rec` are
/// left alone.
pub fn write_record(
    rec: &mut LacpRecord,
    status: &ActorStatus,
    members: &[MemberPort],
    tx_errors: &[u64],
    now_ns: u64,
) {
    rec.ports = [LacpPortRecord::default(); MAX_MEMBERS];
    rec.active_aggregator = status.active_aggregator.unwrap_or(0);
    rec.updated_ns = now_ns;
    for (i, (port, member)) in status.ports.iter().zip(members).enumerate() {
        let Some(slot) = rec.ports.get_mut(member.slot) else {
            continue;
        };
        let partner_known = matches!(port.rx_state, RxState::Current | RxState::Expired);
        let mut flags = 0;
        for (on, flag) in [
            (port.link.up, LACP_PORT_LINK_UP),
            (port.link.full_duplex, LACP_PORT_FULL_DUPLEX),
            (partner_known, LACP_PORT_PARTNER_KNOWN),
            (port.collecting, LACP_PORT_COLLECTING),
            (port.distributing, LACP_PORT_DISTRIBUTING),
        ] {
            if on {
                flags |= flag;
            }
        }
        *slot = LacpPortRecord {
            ifindex: member.ifindex,
            speed_mbps: port.link.speed_mbps,
            flags,
            mux: mux_code(port.mux_state),
            rx: rx_code(port.rx_state),
            selection: selection_code(port.selection),
            actor_churn: churn_code(port.actor_churn),
            partner_churn: churn_code(port.partner_churn),
            admin_priority: 0,
            aggregator: port.aggregator.unwrap_or(0),
            port_number: port.config.port_number,
            port_priority: port.config.port_priority,
            mac: port.config.mac,
            pad2: [0; 4],
            actor: info_record(&port.actor),
            partner: info_record(&port.partner),
            counters: counters_record(&port.counters, tx_errors.get(i).copied().unwrap_or(0)),
        };
    }
}

/// Reads `rec` back: every slot that names an interface, with the aggregators its ports form.
pub fn read_record(rec: &LacpRecord) -> Recorded {
    let mut ports = Vec::new();
    for (slot, r) in rec.ports.iter().enumerate() {
        if r.ifindex == 0 {
            continue;
        }
        let status = PortStatus {
            config: PortConfig {
                port_number: r.port_number,
                port_priority: r.port_priority,
                mac: r.mac,
            },
            link: Link {
                up: r.flags & LACP_PORT_LINK_UP != 0,
                speed_mbps: r.speed_mbps,
                full_duplex: r.flags & LACP_PORT_FULL_DUPLEX != 0,
            },
            aggregator: (r.aggregator != 0).then_some(r.aggregator),
            selection: selection(r.selection),
            rx_state: rx_state(r.rx),
            mux_state: mux_state(r.mux),
            collecting: r.flags & LACP_PORT_COLLECTING != 0,
            distributing: r.flags & LACP_PORT_DISTRIBUTING != 0,
            actor: info(&r.actor),
            partner: info(&r.partner),
            actor_churn: churn_state(r.actor_churn),
            partner_churn: churn_state(r.partner_churn),
            counters: counters(&r.counters),
        };
        ports.push(RecordedPort {
            slot,
            ifindex: r.ifindex,
            status,
            tx_errors: r.counters.tx_errors,
        });
    }
    let active = (rec.active_aggregator != 0).then_some(rec.active_aggregator);
    Recorded {
        active_aggregator: active,
        aggregators: aggregators(&ports, active),
        ports,
        updated_ns: rec.updated_ns,
    }
}

/// The aggregators `ports` are in, each described by its first port (they share their keys
/// and partner by construction).
fn aggregators(ports: &[RecordedPort], active: Option<u16>) -> Vec<AggregatorStatus> {
    let mut out: Vec<AggregatorStatus> = Vec::new();
    for p in ports {
        let s = &p.status;
        let Some(id) = s.aggregator else { continue };
        let i = match out.iter().position(|a| a.id == id) {
            Some(i) => i,
            None => {
                out.push(AggregatorStatus {
                    id,
                    active: Some(id) == active,
                    ports: Vec::new(),
                    ports_up: 0,
                    bandwidth_mbps: 0,
                    actor_key: s.actor.key,
                    partner_key: s.partner.key,
                    partner_system: s.partner.system,
                    partner_system_priority: s.partner.system_priority,
                    individual: !s.actor.state.contains(PortState::AGGREGATION)
                        || !s.partner.state.contains(PortState::AGGREGATION),
                });
                out.len() - 1
            }
        };
        out[i].ports.push(s.config.port_number);
        if s.link.up {
            out[i].ports_up += 1;
            out[i].bandwidth_mbps += u64::from(s.link.speed_mbps);
        }
    }
    out.sort_by_key(|a| a.id);
    out
}

/// What [`Actor::restore`](super::Actor::restore) needs for `members` (in actor port order)
/// under `config`, from `rec`; and the send-failure counts to carry on, by port. A member
/// whose slot in the record names another interface (or another port number) starts afresh.
pub fn snapshot(
    config: ActorConfig,
    rec: &LacpRecord,
    members: &[MemberPort],
) -> (Snapshot, Vec<u64>) {
    let mut tx_errors = Vec::with_capacity(members.len());
    let ports = members
        .iter()
        .map(|m| {
            let r = rec
                .ports
                .get(m.slot)
                .filter(|r| r.ifindex == m.ifindex && r.port_number == m.config.port_number);
            let Some(r) = r else {
                tx_errors.push(0);
                return PortSnapshot {
                    config: m.config,
                    link: Link::default(),
                    partner: None,
                    aggregator: None,
                    counters: PortCounters::default(),
                };
            };
            tx_errors.push(r.counters.tx_errors);
            PortSnapshot {
                config: m.config,
                link: Link {
                    up: r.flags & LACP_PORT_LINK_UP != 0,
                    speed_mbps: r.speed_mbps,
                    full_duplex: r.flags & LACP_PORT_FULL_DUPLEX != 0,
                },
                partner: (r.flags & LACP_PORT_PARTNER_KNOWN != 0).then(|| info(&r.partner)),
                aggregator: (attached(mux_state(r.mux)) && r.aggregator != 0)
                    .then_some(r.aggregator),
                counters: counters(&r.counters),
            }
        })
        .collect();
    let snapshot = Snapshot {
        config,
        active_aggregator: (rec.active_aggregator != 0).then_some(rec.active_aggregator),
        ports,
    };
    (snapshot, tx_errors)
}

#[cfg(test)]
mod tests {
    use super::super::{Actor, pdu::FRAME_LEN};
    use super::*;

    const SYS_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
    const SYS_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];

    fn members(sys: [u8; 6], n: usize) -> Vec<MemberPort> {
        (0..n)
            .map(|i| MemberPort {
                slot: 2 * i,
                ifindex: 10 + i as u32,
                config: PortConfig {
                    port_number: 2 * i as u16 + 1,
                    port_priority: 255,
                    mac: [2, 0, 1, 0, sys[5], i as u8],
                },
            })
            .collect()
    }

    fn fast(sys: [u8; 6]) -> ActorConfig {
        ActorConfig {
            lacp_fast: true,
            ..ActorConfig::new(sys)
        }
    }

    /// Two actors of `n` ports cabled port to port, run for `ms` on a 10 ms step.
    fn run(a: &mut Actor, b: &mut Actor, from: u64, ms: u64) -> u64 {
        let mut now = from;
        while now < from + ms {
            for _ in 0..8 {
                let mut moved = false;
                while let Some(t) = a.poll_transmit(now) {
                    b.on_frame(t.port, now, &t.frame);
                    moved = true;
                }
                while let Some(t) = b.poll_transmit(now) {
                    a.on_frame(t.port, now, &t.frame);
                    moved = true;
                }
                if !moved {
                    break;
                }
            }
            now += 10;
            a.tick(now);
            b.tick(now);
        }
        now
    }

    fn negotiated(n: usize) -> (Actor, Actor, u64) {
        let up = Link {
            up: true,
            speed_mbps: 10_000,
            full_duplex: true,
        };
        let ma = members(SYS_A, n);
        let mb = members(SYS_B, n);
        let mut a = Actor::new(fast(SYS_A), ma.iter().map(|m| m.config), 0);
        let mut b = Actor::new(fast(SYS_B), mb.iter().map(|m| m.config), 0);
        for i in 0..n {
            a.on_link(i, 0, up);
            b.on_link(i, 0, up);
        }
        let now = run(&mut a, &mut b, 0, 5_000);
        assert_eq!(a.distributing_ports(), (0..n).collect::<Vec<_>>());
        (a, b, now)
    }

    #[test]
    fn the_record_reads_back_as_the_actor_showed_it() {
        let (a, _, now) = negotiated(3);
        let ma = members(SYS_A, 3);
        let mut rec = LacpRecord::default();
        write_record(&mut rec, &a.status(), &ma, &[0, 7, 0], now);
        // Port i sits in slot 2i.
        assert_eq!(rec.ports[2].ifindex, 11);
        assert_eq!(rec.ports[1].ifindex, 0);
        assert_eq!(rec.ports[2].counters.tx_errors, 7);
        let back = read_record(&rec);
        let status = a.status();
        assert_eq!(back.active_aggregator, status.active_aggregator);
        assert_eq!(back.aggregators, status.aggregators);
        assert_eq!(back.updated_ns, now);
        assert_eq!(back.ports.len(), 3);
        for (p, want) in back.ports.iter().zip(&status.ports) {
            assert_eq!(&p.status, want);
        }
        assert_eq!(back.ports[1].slot, 2);
        assert_eq!(back.ports[1].tx_errors, 7);
    }

    #[test]
    fn unknown_state_numbers_read_as_the_most_conservative_state() {
        let mut rec = LacpRecord::default();
        rec.ports[0].ifindex = 3;
        rec.ports[0].mux = 99;
        rec.ports[0].rx = 99;
        rec.ports[0].selection = 99;
        rec.ports[0].actor_churn = 99;
        let p = &read_record(&rec).ports[0].status;
        assert_eq!(p.mux_state, MuxState::Detached);
        assert_eq!(p.rx_state, RxState::PortDisabled);
        assert_eq!(p.selection, Selection::Unselected);
        assert_eq!(p.actor_churn, ChurnState::Monitoring);
    }

    #[test]
    fn a_restart_from_the_record_distributes_only_after_the_partner_answers() {
        let (a, mut b, now) = negotiated(2);
        let ma = members(SYS_A, 2);
        let mut rec = LacpRecord::default();
        write_record(&mut rec, &a.status(), &ma, &[0, 0], now);
        // The controller restarts on a new clock.
        let (snap, _) = snapshot(fast(SYS_A), &rec, &ma);
        let mut a = Actor::restore(&snap, 5);
        assert!(
            a.distributing_ports().is_empty(),
            "nothing before the partner speaks"
        );
        assert_eq!(a.active_aggregator(), rec_active(&rec));
        // A asks at once; B answers at once; both ports distribute again within one exchange.
        let mut frames: Vec<(usize, [u8; FRAME_LEN])> = Vec::new();
        while let Some(t) = a.poll_transmit(5) {
            frames.push((t.port, t.frame));
        }
        assert_eq!(frames.len(), 2);
        for (port, f) in frames {
            b.on_frame(port, now, &f);
        }
        while let Some(t) = b.poll_transmit(now) {
            a.on_frame(t.port, 6, &t.frame);
        }
        assert_eq!(a.distributing_ports(), vec![0, 1]);
        // A record of another interface in the slot is not resumed.
        let mut moved = ma.clone();
        moved[1].ifindex = 99;
        let (snap, _) = snapshot(fast(SYS_A), &rec, &moved);
        assert!(snap.ports[0].partner.is_some());
        assert_eq!(snap.ports[1].partner, None);
        assert_eq!(snap.ports[1].aggregator, None);
    }

    fn rec_active(rec: &LacpRecord) -> Option<u16> {
        (rec.active_aggregator != 0).then_some(rec.active_aggregator)
    }
}
