//! State machine tests: actors wired back to back (or to a scripted partner) on a simulated
//! clock, frames exchanged through `poll_transmit` / `on_frame` with no delay.

use super::pdu::{FRAME_LEN, SLOW_PROTOCOLS_MAC};
use super::port::{FAST_PERIODIC_MS, LONG_TIMEOUT_MS, SHORT_TIMEOUT_MS};
use super::*;

const SYS_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xa];
const SYS_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xb];
const G1: u32 = 1_000;
const G10: u32 = 10_000;

fn up(speed_mbps: u32) -> Link {
    Link {
        up: true,
        speed_mbps,
        full_duplex: true,
    }
}

const DOWN: Link = Link {
    up: false,
    speed_mbps: 0,
    full_duplex: false,
};

fn config(system: [u8; 6], fast: bool) -> ActorConfig {
    ActorConfig {
        lacp_fast: fast,
        ..ActorConfig::new(system)
    }
}

fn ports(system: [u8; 6], n: usize) -> Vec<PortConfig> {
    (0..n)
        .map(|i| PortConfig {
            port_number: i as u16 + 1,
            port_priority: 255,
            mac: [system[0], 0, 0, 1, system[5], i as u8 + 1],
        })
        .collect()
}

/// A frame sent by one side, as the simulation saw it.
#[derive(Clone, Copy, Debug)]
struct Sent {
    at: u64,
    from_a: bool,
    port: usize,
    pdu: SlowPdu,
}

/// Two actors whose port `i` are cabled together.
struct Wire {
    a: Actor,
    b: Actor,
    now: u64,
    /// Per cable: frames from B to A are lost.
    mute_b: Vec<bool>,
    /// Per cable: frames from A to B are lost.
    mute_a: Vec<bool>,
    sent: Vec<Sent>,
    /// Ports of A that ever distributed.
    a_distributed: Vec<bool>,
}

impl Wire {
    fn new(a: ActorConfig, b: ActorConfig, speeds: &[u32]) -> Wire {
        let n = speeds.len();
        let mut w = Wire {
            a: Actor::new(a, ports(a.system, n), 0),
            b: Actor::new(b, ports(b.system, n), 0),
            now: 0,
            mute_b: vec![false; n],
            mute_a: vec![false; n],
            sent: Vec::new(),
            a_distributed: vec![false; n],
        };
        for (i, &s) in speeds.iter().enumerate() {
            w.a.on_link(i, 0, up(s));
            w.b.on_link(i, 0, up(s));
        }
        w.settle();
        w
    }

    /// Exchanges frames at `now` until both sides are quiet.
    fn settle(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit(self.now) {
                moved = true;
                self.record(true, t);
                if !self.mute_a[t.port] {
                    self.b.on_frame(t.port, self.now, &t.frame);
                }
            }
            while let Some(t) = self.b.poll_transmit(self.now) {
                moved = true;
                self.record(false, t);
                if !self.mute_b[t.port] {
                    self.a.on_frame(t.port, self.now, &t.frame);
                }
            }
            for (i, seen) in self.a_distributed.iter_mut().enumerate() {
                *seen |= self.a.is_distributing(i);
            }
            if !moved {
                return;
            }
        }
        panic!("frames never stop at {} ms", self.now);
    }

    fn record(&mut self, from_a: bool, t: Transmit) {
        let pdu = SlowPdu::decode(&t.frame).expect("actors send well-formed frames");
        self.sent.push(Sent {
            at: self.now,
            from_a,
            port: t.port,
            pdu,
        });
    }

    /// Runs every deadline of both actors up to and including `until`.
    fn run_until(&mut self, until: u64) {
        self.settle();
        loop {
            let next = [self.a.next_deadline(), self.b.next_deadline()]
                .into_iter()
                .flatten()
                .min()
                .map_or(until, |d| d.max(self.now + 1));
            self.now = next.min(until);
            self.a.tick(self.now);
            self.b.tick(self.now);
            self.settle();
            if self.now == until {
                return;
            }
        }
    }

    fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    /// When A last received a LACPDU on port `i`.
    fn last_rx_a(&self, i: usize) -> u64 {
        self.sent
            .iter()
            .filter(|s| !s.from_a && s.port == i && matches!(s.pdu, SlowPdu::Lacp(_)))
            .map(|s| s.at)
            .next_back()
            .expect("B sent on that port")
    }
}

/// Runs until both sides distribute on every port; returns the time it took.
fn until_all_distributing(w: &mut Wire, limit: u64) -> u64 {
    let start = w.now;
    let n = w.a.ports().len();
    while w.a.distributing_ports().len() < n || w.b.distributing_ports().len() < n {
        assert!(w.now - start < limit, "not distributing after {limit} ms");
        w.run_for(10);
    }
    w.now - start
}

#[test]
fn back_to_back_fast_reaches_distributing_on_all_ports() {
    let mut w = Wire::new(config(SYS_A, true), config(SYS_B, true), &[G10, G10, G10]);
    let took = until_all_distributing(&mut w, 5_000);
    // Two seconds of aggregate wait, then the sync handshake.
    assert!((2_000..3_100).contains(&took), "took {took} ms");
    let st = w.a.status();
    assert_eq!(st.aggregators.len(), 1, "{:?}", st.aggregators);
    let agg = &st.aggregators[0];
    assert!(agg.active);
    assert_eq!(agg.ports, vec![1, 2, 3]);
    assert_eq!(agg.partner_system, SYS_B);
    assert_eq!(agg.actor_key, port_key(0, true, G10, true));
    assert_eq!(agg.bandwidth_mbps, 30_000);
    for p in &st.ports {
        assert_eq!(p.mux_state, MuxState::CollectingDistributing);
        assert_eq!(p.rx_state, RxState::Current);
        assert_eq!(p.partner.system, SYS_B);
        assert_eq!(p.actor.state.bits(), 0x3f, "{:?}", p.actor.state);
        assert_eq!(p.partner.state.bits(), 0x3f, "{:?}", p.partner.state);
        assert!(p.collecting);
    }
    // Steady state: one PDU per second per port and side.
    let from = w.now;
    w.run_for(10_000);
    let n = w.sent.iter().filter(|s| s.at > from && s.from_a).count();
    assert!((27..=33).contains(&n), "{n} PDUs from A in 10 s on 3 ports");
    assert_eq!(w.a.distributing_ports(), vec![0, 1, 2]);
}

#[test]
fn slow_rate_also_converges() {
    let mut w = Wire::new(config(SYS_A, false), config(SYS_B, false), &[G1, G1]);
    until_all_distributing(&mut w, 5_000);
    let from = w.now;
    w.run_for(120_000);
    let n = w.sent.iter().filter(|s| s.at > from && s.from_a).count();
    assert!(
        (7..=9).contains(&n),
        "{n} PDUs from A in 120 s on 2 ports at slow rate"
    );
}

#[test]
fn partner_silence_takes_a_port_out_after_exactly_the_timeout() {
    // The standard's numbers, not the constants: 3 fast periods, 3 slow periods.
    for (fast, timeout) in [(true, 3_000), (false, 90_000)] {
        let mut w = Wire::new(config(SYS_A, fast), config(SYS_B, fast), &[G10, G10]);
        until_all_distributing(&mut w, 5_000);
        w.run_for(5_000);
        w.mute_b[0] = true;
        let last = w.last_rx_a(0);
        w.run_until(last + timeout - 1);
        assert!(
            w.a.is_distributing(0),
            "fast={fast}: still in at timeout - 1 ms"
        );
        assert_eq!(w.a.port(0).map(|p| p.rx_state()), Some(RxState::Current));
        w.run_until(last + timeout);
        assert!(!w.a.is_distributing(0), "fast={fast}: out at the timeout");
        let port = w.a.port(0).expect("port 0");
        assert_eq!(port.rx_state(), RxState::Expired);
        assert_eq!(port.counters().expiries, 1);
        assert!(w.a.is_distributing(1), "fast={fast}: the other port stays");
        // Three short timeouts later still nothing: defaulted, in an aggregator of its own.
        w.run_for(SHORT_TIMEOUT_MS + 100);
        let port = w.a.port(0).expect("port 0");
        assert_eq!(port.rx_state(), RxState::Defaulted);
        assert_eq!(port.counters().defaulted, 1);
        assert_ne!(
            port.aggregator_id(),
            w.a.port(1).and_then(Port::aggregator_id)
        );
        assert_eq!(w.a.distributing_ports(), vec![1]);
        // The partner speaks again: back in.
        w.mute_b[0] = false;
        until_all_distributing(&mut w, 2 * LONG_TIMEOUT_MS);
    }
}

#[test]
fn link_down_takes_a_port_out_at_once() {
    let mut w = Wire::new(config(SYS_A, true), config(SYS_B, true), &[G10, G10]);
    until_all_distributing(&mut w, 5_000);
    let now = w.now;
    w.a.on_link(0, now, DOWN);
    assert!(!w.a.is_distributing(0));
    assert!(!w.a.is_collecting(0));
    let port = w.a.port(0).expect("port 0");
    assert_eq!(port.mux_state(), MuxState::Attached);
    assert_eq!(port.rx_state(), RxState::PortDisabled);
    assert!(
        !port
            .partner_info()
            .state
            .contains(PortState::SYNCHRONIZATION)
    );
    assert_eq!(w.a.distributing_ports(), vec![1]);
    // The cable is cut both ways; the far side notices by the lack of PDUs.
    w.mute_a[0] = true;
    w.mute_b[0] = true;
    w.b.on_link(0, now, DOWN);
    w.run_for(1_000);
    assert_eq!(w.a.distributing_ports(), vec![1]);
    assert_eq!(w.b.distributing_ports(), vec![1]);
    // Link back: renegotiated into the same aggregator.
    w.mute_a[0] = false;
    w.mute_b[0] = false;
    let now = w.now;
    w.a.on_link(0, now, up(G10));
    w.b.on_link(0, now, up(G10));
    until_all_distributing(&mut w, 5_000);
    assert_eq!(w.a.status().aggregators.len(), 1);
}

#[test]
fn partner_key_change_reselects() {
    let mut w = Wire::new(config(SYS_A, true), config(SYS_B, true), &[G10, G10]);
    until_all_distributing(&mut w, 5_000);
    let agg = w.a.port(0).and_then(Port::aggregator_id);
    // B's port 0 changes speed: a new key that A's port 0 now sees from its partner.
    let now = w.now;
    w.b.on_link(0, now, up(25_000));
    w.settle();
    let port = w.a.port(0).expect("port 0");
    assert_eq!(port.counters().partner_changes, 1);
    assert!(!w.a.is_distributing(0));
    assert_eq!(port.partner_info().key, port_key(0, true, 25_000, true));
    assert_ne!(port.aggregator_id(), agg, "moved to another aggregator");
    w.run_for(10_000);
    // Port 1 keeps the active aggregator (stable); port 0's aggregator is on standby.
    assert_eq!(w.a.distributing_ports(), vec![1]);
    assert_eq!(w.a.port(0).map(Port::selection), Some(Selection::Standby));
    assert_eq!(w.a.active_aggregator(), agg);
}

#[test]
fn different_speeds_get_different_aggregators_and_one_is_active() {
    let cfg = |s| ActorConfig {
        ad_select: AdSelect::Bandwidth,
        ..config(s, true)
    };
    let mut w = Wire::new(cfg(SYS_A), cfg(SYS_B), &[G1, G10, G1]);
    w.run_for(10_000);
    let st = w.a.status();
    assert_eq!(st.aggregators.len(), 2, "{:?}", st.aggregators);
    let active: Vec<_> = st.aggregators.iter().filter(|a| a.active).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].ports, vec![2], "10G beats 2 x 1G on bandwidth");
    assert_eq!(w.a.distributing_ports(), vec![1]);
    assert_eq!(w.b.distributing_ports(), vec![1]);
    assert_eq!(
        w.a_distributed,
        vec![false, true, false],
        "standby never distributed"
    );
    for i in [0, 2] {
        assert_eq!(w.a.port(i).map(Port::selection), Some(Selection::Standby));
    }
}

#[test]
fn ad_select_policy_picks_the_active_aggregator() {
    // Two 1G ports and one 10G port towards the same partner.
    for (policy, want) in [
        (AdSelect::Count, vec![0, 1]),
        (AdSelect::Bandwidth, vec![2]),
        (AdSelect::Stable, vec![2]),
    ] {
        let cfg = |s| ActorConfig {
            ad_select: policy,
            ..config(s, true)
        };
        let mut w = Wire::new(cfg(SYS_A), cfg(SYS_B), &[G1, G1, G10]);
        w.run_for(10_000);
        assert_eq!(w.a.distributing_ports(), want, "{policy:?}");
        assert_eq!(w.b.distributing_ports(), want, "{policy:?} (partner)");
    }
}

#[test]
fn stable_keeps_the_active_aggregator_until_it_has_no_link() {
    let cfg = |s| ActorConfig {
        ad_select: AdSelect::Stable,
        ..config(s, true)
    };
    // The 1G ports come up first and aggregate; the 10G port arrives later.
    let mut w = Wire::new(cfg(SYS_A), cfg(SYS_B), &[G1, G1]);
    until_all_distributing(&mut w, 5_000);
    let pc = ports(SYS_A, 3)[2];
    let pcb = ports(SYS_B, 3)[2];
    let now = w.now;
    w.a.add_port(now, pc);
    w.b.add_port(now, pcb);
    w.mute_a.push(false);
    w.mute_b.push(false);
    w.a_distributed.push(false);
    w.a.on_link(2, now, up(G10));
    w.b.on_link(2, now, up(G10));
    w.run_for(10_000);
    assert_eq!(w.a.distributing_ports(), vec![0, 1], "stable keeps 2 x 1G");
    // Both 1G links fail: the 10G aggregator takes over.
    let now = w.now;
    for i in 0..2 {
        w.a.on_link(i, now, DOWN);
        w.b.on_link(i, now, DOWN);
        w.mute_a[i] = true;
        w.mute_b[i] = true;
    }
    w.run_for(5_000);
    assert_eq!(w.a.distributing_ports(), vec![2]);
    assert_eq!(w.b.distributing_ports(), vec![2]);
}

#[test]
fn both_passive_never_aggregate() {
    let passive = |s| ActorConfig {
        lacp_active: false,
        ..config(s, true)
    };
    let mut w = Wire::new(passive(SYS_A), passive(SYS_B), &[G10, G10]);
    w.run_for(30_000);
    assert!(w.sent.is_empty(), "passive ports speak only when spoken to");
    // No aggregate: LACP has no port distributing (lacp_strict off still lets one member
    // carry traffic, see without_a_partner_one_member_carries_traffic_unless_strict).
    for a in [&w.a, &w.b] {
        assert!(a.ports().iter().all(|p| !p.is_distributing()));
    }
}

#[test]
fn passive_answers_an_active_partner() {
    let passive = ActorConfig {
        lacp_active: false,
        ..config(SYS_B, true)
    };
    let mut w = Wire::new(config(SYS_A, true), passive, &[G10, G10]);
    until_all_distributing(&mut w, 5_000);
    let b = w.b.status();
    assert!(
        b.ports
            .iter()
            .all(|p| !p.actor.state.contains(PortState::ACTIVITY))
    );
}

#[test]
fn partner_answering_on_one_member_only() {
    let mut w = Wire::new(config(SYS_A, true), config(SYS_B, true), &[G10, G10]);
    w.mute_b[1] = true;
    w.run_for(10_000);
    assert_eq!(w.a.distributing_ports(), vec![0]);
    assert_eq!(w.b.distributing_ports(), vec![0]);
    let port = w.a.port(1).expect("port 1");
    assert_eq!(port.rx_state(), RxState::Defaulted);
    assert_eq!(port.selection(), Selection::Standby);
    assert_eq!(w.a_distributed, vec![true, false]);
}

#[test]
fn own_pdus_looped_back_are_ignored_and_counted() {
    // A cable from port 0 to port 1 of the same bond.
    let mut a = Actor::new(config(SYS_A, true), ports(SYS_A, 2), 0);
    a.on_link(0, 0, up(G10));
    a.on_link(1, 0, up(G10));
    let mut now = 0;
    while now < 10_000 {
        while let Some(t) = a.poll_transmit(now) {
            assert_eq!(a.on_frame(1 - t.port, now, &t.frame), Received::Loop);
        }
        now = a.next_deadline().map_or(now + 100, |d| d.max(now + 1));
        a.tick(now);
    }
    for p in a.ports() {
        assert!(p.counters().loops >= 3, "{:?}", p.counters());
        assert_eq!(p.rx_state(), RxState::Defaulted);
        assert_eq!(p.partner_info().system, [0; 6]);
        assert!(!p.is_distributing(), "a loop is no partner");
    }
}

/// A single actor port facing a partner the test writes PDUs for.
struct Scripted {
    a: Actor,
    now: u64,
    tx: Vec<(u64, SlowPdu)>,
}

impl Scripted {
    fn new(cfg: ActorConfig) -> Scripted {
        let mut a = Actor::new(cfg, ports(cfg.system, 1), 0);
        a.on_link(0, 0, up(G10));
        let mut s = Scripted {
            a,
            now: 0,
            tx: Vec::new(),
        };
        s.drain();
        s
    }

    fn drain(&mut self) {
        while let Some(t) = self.a.poll_transmit(self.now) {
            let pdu = SlowPdu::decode(&t.frame).expect("well-formed");
            self.tx.push((self.now, pdu));
        }
    }

    /// The partner's answer to what A last said: in sync and distributing, as `partner`.
    fn answer(&self, partner: PortInfo) -> [u8; FRAME_LEN] {
        let actor_said = self
            .tx
            .iter()
            .rev()
            .find_map(|(_, p)| match p {
                SlowPdu::Lacp(l) => Some(l.actor),
                SlowPdu::Marker(_) => None,
            })
            .expect("A spoke");
        Lacpdu {
            actor: partner,
            partner: actor_said,
            collector_max_delay: 0,
        }
        .encode([0x02, 9, 9, 9, 9, 9])
    }

    fn advance(&mut self, to: u64, partner: Option<PortInfo>) {
        while self.now < to {
            self.now = (self.now + 100).min(to);
            self.a.tick(self.now);
            self.drain();
            if let Some(p) = partner
                && self.now.is_multiple_of(1000)
            {
                let f = self.answer(p);
                self.a.on_frame(0, self.now, &f);
                self.drain();
            }
        }
    }
}

fn scripted_partner(system: [u8; 6], key: u16) -> PortInfo {
    PortInfo {
        system_priority: 0x8000,
        system,
        key,
        port_priority: 0x8000,
        port: 7,
        state: PortState(0x3f),
    }
}

#[test]
fn partner_system_change_reselects_and_is_counted() {
    let mut s = Scripted::new(config(SYS_A, true));
    let first = scripted_partner([0x52, 0x54, 0, 0, 0, 1], 0x21);
    s.advance(5_000, Some(first));
    assert!(s.a.is_distributing(0));
    let agg = s.a.status().aggregators;
    assert_eq!(agg[0].partner_system, first.system);
    assert_eq!(agg[0].partner_key, 0x21);
    // Another switch answers on the same cable: out at once, then in again with it.
    let second = scripted_partner([0x52, 0x54, 0, 0, 0, 2], 0x22);
    let f = s.answer(second);
    let now = s.now;
    assert_eq!(s.a.on_frame(0, now, &f), Received::Lacpdu);
    assert!(!s.a.is_distributing(0));
    let c = s.a.port(0).map(|p| *p.counters()).expect("port");
    assert_eq!(c.partner_changes, 1);
    s.advance(now + 5_000, Some(second));
    assert!(s.a.is_distributing(0));
    let agg = s.a.status().aggregators;
    assert_eq!(agg.len(), 1);
    assert_eq!(agg[0].partner_system, second.system);
    assert_eq!(agg[0].partner_key, 0x22);
}

#[test]
fn partner_asking_for_fast_rate_gets_it_at_once() {
    let mut s = Scripted::new(config(SYS_A, false));
    let mut partner = scripted_partner([0x52, 0x54, 0, 0, 0, 1], 0x21);
    partner.state = partner.state.with(PortState::TIMEOUT, false);
    s.advance(40_000, Some(partner));
    let sent_since = |s: &Scripted, t: u64| s.tx.iter().filter(|(at, _)| *at > t).count();
    assert_eq!(sent_since(&s, 10_000), 1, "slow: one PDU in 30 s");
    partner.state = partner.state.with(PortState::TIMEOUT, true);
    let f = s.answer(partner);
    s.now = 40_050;
    s.a.on_frame(0, s.now, &f);
    s.drain();
    assert_eq!(sent_since(&s, 40_000), 1, "a PDU at once");
    s.advance(45_000, Some(partner));
    assert_eq!(sent_since(&s, 40_000), 5, "then one a second");
}

#[test]
fn transmission_never_exceeds_three_pdus_in_any_second() {
    let mut s = Scripted::new(config(SYS_A, true));
    // A partner that keeps getting A wrong (alternating keys) every 10 ms wants a PDU each time.
    let mut now = 0;
    let mut flip = false;
    while now < 5_000 {
        now += 10;
        flip = !flip;
        let partner = scripted_partner([0x52, 0x54, 0, 0, 0, 1], 0x21);
        let mut f = s.answer(partner);
        // Its view of A's key: wrong every other time.
        if flip {
            f[14 + 22 + 10] ^= 0x40;
        }
        s.now = now;
        s.a.on_frame(0, now, &f);
        s.a.tick(now);
        s.drain();
    }
    let times: Vec<u64> =
        s.tx.iter()
            .filter(|(_, p)| matches!(p, SlowPdu::Lacp(_)))
            .map(|(t, _)| *t)
            .collect();
    for (i, &t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|&&u| u < t + FAST_PERIODIC_MS)
            .count();
        assert!(
            in_window <= 3,
            "{in_window} PDUs in [{t}, {t}+1s): {times:?}"
        );
    }
    assert!(
        times.len() >= 14,
        "the limit is reached, not starved: {}",
        times.len()
    );
}

#[test]
fn marker_information_gets_a_response_with_the_same_fields() {
    let mut s = Scripted::new(config(SYS_A, true));
    let info = MarkerPdu {
        kind: MarkerKind::Information,
        requester_port: 7,
        requester_system: [0x52, 0x54, 0, 0, 0, 1],
        transaction_id: 0x0102_0304,
    };
    let mut frame = info.encode([0x52, 0x54, 0, 0, 0, 1]).to_vec();
    frame.extend_from_slice(&[0; 4]); // an FCS left on
    assert_eq!(s.a.on_frame(0, 1, &frame), Received::MarkerInformation);
    let t = s.a.poll_transmit(1).expect("a response");
    assert_eq!(t.port, 0);
    assert_eq!(t.frame[..6], SLOW_PROTOCOLS_MAC);
    assert_eq!(t.frame[6..12], ports(SYS_A, 1)[0].mac);
    assert_eq!(
        SlowPdu::decode(&t.frame),
        Ok(SlowPdu::Marker(MarkerPdu {
            kind: MarkerKind::Response,
            ..info
        }))
    );
    let response = t.frame;
    assert_eq!(s.a.on_frame(0, 2, &response), Received::MarkerResponse);
    let c = *s.a.port(0).expect("port").counters();
    assert_eq!(
        (c.marker_rx, c.marker_response_tx, c.marker_response_rx),
        (1, 1, 1)
    );
    // A flood is answered at most seven times a second, the rest dropped and counted.
    for _ in 0..20 {
        s.a.on_frame(0, 10, &frame);
    }
    let mut answered = 0;
    while let Some(t) = s.a.poll_transmit(10) {
        answered += usize::from(matches!(SlowPdu::decode(&t.frame), Ok(SlowPdu::Marker(_))));
    }
    assert_eq!(answered, 6, "seven per second, one already sent");
    let c = *s.a.port(0).expect("port").counters();
    assert_eq!(c.marker_dropped, 12);
}

#[test]
fn malformed_frames_are_counted_by_reason() {
    let mut a = Actor::new(config(SYS_A, true), ports(SYS_A, 1), 0);
    a.on_link(0, 0, up(G10));
    let good = Lacpdu::default().encode([2, 2, 2, 2, 2, 2]);
    let mut wrong_version = good;
    wrong_version[15] = 0;
    let mut bad_tlv = good;
    bad_tlv[17] = 18;
    let mut oam = good;
    oam[14] = 3;
    let frames: Vec<Vec<u8>> = vec![
        good[..60].to_vec(),
        [good.as_slice(), &[0; 100]].concat(),
        wrong_version.to_vec(),
        bad_tlv.to_vec(),
        oam.to_vec(),
    ];
    for f in &frames {
        assert!(matches!(a.on_frame(0, 1, f), Received::Malformed(_)));
    }
    assert_eq!(a.on_frame(3, 1, &good), Received::NoSuchPort);
    let m = a.port(0).expect("port").counters().malformed;
    assert_eq!(
        (
            m.truncated,
            m.oversized,
            m.wrong_version,
            m.bad_tlv,
            m.unknown_subtype
        ),
        (1, 1, 1, 1, 1)
    );
    assert_eq!(m.total(), 5);
    assert_eq!(a.port(0).expect("port").rx_state(), RxState::Expired);
}

#[test]
fn restore_waits_for_the_partner_to_be_in_sync() {
    let mut w = Wire::new(config(SYS_A, true), config(SYS_B, true), &[G10, G10]);
    until_all_distributing(&mut w, 5_000);
    w.run_for(500);
    let json = serde_json::to_string(&w.a.snapshot()).expect("serializes");
    let snapshot: Snapshot = serde_json::from_str(&json).expect("deserializes");
    let before = w.a.status();
    // The controller restarts; its clock starts over.
    let mut a = Actor::restore(&snapshot, 7);
    assert!(
        a.distributing_ports().is_empty(),
        "nothing distributes after a restart"
    );
    let st = a.status();
    assert_eq!(st.active_aggregator, before.active_aggregator);
    for (p, old) in st.ports.iter().zip(&before.ports) {
        assert_eq!(p.mux_state, MuxState::Attached);
        assert_eq!(p.aggregator, old.aggregator);
        assert_eq!(p.partner.system, SYS_B);
        assert!(!p.partner.state.contains(PortState::SYNCHRONIZATION));
        assert_eq!(p.counters.lacpdu_rx, old.counters.lacpdu_rx);
    }
    // Silence from the partner: never distributing, expired after the short timeout.
    let mut lonely = a.clone();
    let mut now = 7;
    while now < 7 + SHORT_TIMEOUT_MS {
        while lonely.poll_transmit(now).is_some() {}
        now += 100;
        lonely.tick(now);
        assert!(lonely.distributing_ports().is_empty());
    }
    assert_eq!(lonely.port(0).map(Port::rx_state), Some(RxState::Expired));
    // With the partner there: A's first PDUs make it answer, and A is back at once.
    let mut sends = Vec::new();
    while let Some(t) = a.poll_transmit(7) {
        sends.push(t);
    }
    assert_eq!(sends.len(), 2, "one PDU per port right away");
    let b_now = w.now;
    for t in sends {
        w.b.on_frame(t.port, b_now, &t.frame);
    }
    while let Some(t) = w.b.poll_transmit(b_now) {
        a.on_frame(t.port, 8, &t.frame);
    }
    assert_eq!(a.distributing_ports(), vec![0, 1]);
}

#[test]
fn independent_control_goes_through_collecting() {
    let cfg = |s| ActorConfig {
        coupled_control: false,
        ..config(s, true)
    };
    let mut w = Wire::new(cfg(SYS_A), cfg(SYS_B), &[G10]);
    until_all_distributing(&mut w, 5_000);
    assert_eq!(
        w.a.port(0).map(Port::mux_state),
        Some(MuxState::Distributing)
    );
    let collecting_first = w.sent.iter().any(|s| match s.pdu {
        SlowPdu::Lacp(p) => {
            p.actor.state.contains(PortState::COLLECTING)
                && !p.actor.state.contains(PortState::DISTRIBUTING)
        }
        SlowPdu::Marker(_) => false,
    });
    assert!(
        collecting_first,
        "a PDU said collecting before distributing"
    );
}

#[test]
fn removed_port_says_goodbye() {
    let mut w = Wire::new(config(SYS_A, true), config(SYS_B, true), &[G10, G10]);
    until_all_distributing(&mut w, 5_000);
    let now = w.now;
    let frame = w.a.remove_port(now, 0).expect("link is up");
    let Ok(SlowPdu::Lacp(pdu)) = SlowPdu::decode(&frame) else {
        panic!("a LACPDU");
    };
    assert!(!pdu.actor.state.contains(PortState::AGGREGATION));
    assert!(!pdu.actor.state.contains(PortState::SYNCHRONIZATION));
    assert_eq!(w.b.on_frame(0, now, &frame), Received::Lacpdu);
    assert!(!w.b.is_distributing(0));
    assert_eq!(w.a.ports().len(), 1);
    assert_eq!(w.a.distributing_ports(), vec![0]);
}

#[test]
fn status_serializes_like_proc_net_bonding() {
    let mut w = Wire::new(config(SYS_A, true), config(SYS_B, true), &[G10]);
    until_all_distributing(&mut w, 5_000);
    let json = serde_json::to_value(w.a.status()).expect("serializes");
    assert_eq!(json["config"]["system"], "02:00:00:00:00:0a");
    assert_eq!(json["config"]["ad_select"], "stable");
    assert_eq!(json["active_aggregator"], 1);
    assert_eq!(
        json["aggregators"][0]["partner_system"],
        "02:00:00:00:00:0b"
    );
    let port = &json["ports"][0];
    assert_eq!(port["aggregator"], 1);
    assert_eq!(port["mux_state"], "collecting_distributing");
    assert_eq!(port["actor"]["key"], 15);
    assert_eq!(port["actor"]["state"], 0x3f);
    assert_eq!(port["partner"]["system"], "02:00:00:00:00:0b");
    assert_eq!(port["actor_churn"], "none");
    assert!(port["counters"]["lacpdu_rx"].as_u64() > Some(0));
}

#[test]
fn churn_is_detected_when_the_partner_never_syncs() {
    // The partner answers but never claims sync.
    let mut s = Scripted::new(config(SYS_A, true));
    let mut partner = scripted_partner([0x52, 0x54, 0, 0, 0, 1], 0x21);
    partner.state = PortState(0x07);
    s.advance(61_000, Some(partner));
    let p = s.a.port(0).expect("port");
    assert_eq!(p.churn().1, ChurnState::Churned);
    assert_eq!(p.counters().partner_churns, 1);
    assert_eq!(p.churn().0, ChurnState::None, "the actor itself is in sync");
    assert!(!s.a.is_distributing(0));
}

#[test]
fn independent_control_distributes_only_while_the_partner_collects() {
    // A partner in sync that does not collect (yet): 802.1AX-2014 6.4.15 independent control
    // collects but must not distribute; coupled control (the kernel's default) does both.
    let mut not_collecting = scripted_partner([0x52, 0x54, 0, 0, 0, 1], 0x21);
    not_collecting.state = PortState(0x0f);
    let collecting = scripted_partner([0x52, 0x54, 0, 0, 0, 1], 0x21);
    let mut coupled = Scripted::new(config(SYS_A, true));
    coupled.advance(5_000, Some(not_collecting));
    assert_eq!(
        coupled.a.port(0).map(Port::mux_state),
        Some(MuxState::CollectingDistributing)
    );
    assert!(coupled.a.is_distributing(0));

    let mut s = Scripted::new(ActorConfig {
        coupled_control: false,
        ..config(SYS_A, true)
    });
    s.advance(5_000, Some(not_collecting));
    assert_eq!(s.a.port(0).map(Port::mux_state), Some(MuxState::Collecting));
    assert!(s.a.is_collecting(0));
    assert!(!s.a.is_distributing(0));
    let said = |s: &Scripted| match s.tx.last() {
        Some((_, SlowPdu::Lacp(l))) => l.actor.state,
        _ => panic!("a LACPDU"),
    };
    assert!(said(&s).contains(PortState::COLLECTING));
    assert!(!said(&s).contains(PortState::DISTRIBUTING));
    // The partner collects: distributing, and the partner is told.
    s.advance(7_000, Some(collecting));
    assert_eq!(
        s.a.port(0).map(Port::mux_state),
        Some(MuxState::Distributing)
    );
    assert!(s.a.is_distributing(0));
    assert!(said(&s).contains(PortState::DISTRIBUTING));
    // It stops collecting: back to collecting only, still in the aggregate.
    s.advance(9_000, Some(not_collecting));
    assert_eq!(s.a.port(0).map(Port::mux_state), Some(MuxState::Collecting));
    assert!(s.a.is_collecting(0) && !s.a.is_distributing(0));
    // Out of sync: attached, neither.
    let mut out_of_sync = not_collecting;
    out_of_sync.state = PortState(0x07);
    s.advance(11_000, Some(out_of_sync));
    assert_eq!(s.a.port(0).map(Port::mux_state), Some(MuxState::Attached));
    assert!(!s.a.is_collecting(0));
}

#[test]
fn control_mode_changed_live_takes_effect_through_attached() {
    // `set coupled_control 0` on a running bond: the actor is rebuilt from its snapshot
    // (as the controller does) and the ports reach DISTRIBUTING through COLLECTING.
    let mut w = Wire::new(config(SYS_A, true), config(SYS_B, true), &[G10, G10]);
    until_all_distributing(&mut w, 5_000);
    let mut snap = w.a.snapshot();
    snap.config.coupled_control = false;
    w.a = Actor::restore(&snap, w.now);
    assert!(
        w.a.distributing_ports().is_empty(),
        "rebuilt: attached until B answers"
    );
    until_all_distributing(&mut w, 5_000);
    for p in w.a.ports() {
        assert_eq!(p.mux_state(), MuxState::Distributing);
    }
    // The partner already collects, so A passes COLLECTING without a PDU of its own there.
    assert!(w.a_distributed.iter().all(|d| *d));
}

/// An actor whose partner never speaks LACP (frames out are dropped), run to `until`.
fn lonely(cfg: ActorConfig, speeds: &[u32], until: u64) -> Actor {
    let mut a = Actor::new(cfg, ports(cfg.system, speeds.len()), 0);
    for (i, &s) in speeds.iter().enumerate() {
        a.on_link(i, 0, up(s));
    }
    let mut now = 0;
    while now < until {
        while a.poll_transmit(now).is_some() {}
        now += 100;
        a.tick(now);
    }
    a
}

#[test]
fn without_a_partner_one_member_carries_traffic_unless_strict() {
    // The kernel's default (lacp_strict off): the active aggregator has no partner, so its
    // port is enabled; the LACP state itself stays out of sync (no Collecting/Distributing
    // bits in our LACPDUs).
    let mut a = lonely(config(SYS_A, true), &[G10, G10, G10], 2_500);
    assert_eq!(a.distributing_ports(), vec![0]);
    assert!(a.is_collecting(0) && a.is_fallback(0));
    let p = a.port(0).expect("port");
    assert!(!p.is_distributing(), "not distributing as far as LACP goes");
    assert!(!p.actor_info().state.contains(PortState::DISTRIBUTING));
    let st = a.status();
    assert!(st.ports[0].distributing && !st.ports[1].distributing);
    // Still so once the partner information defaulted.
    let mut now = 2_500;
    while now < 8_000 {
        while a.poll_transmit(now).is_some() {}
        now += 100;
        a.tick(now);
    }
    assert_eq!(a.port(0).map(Port::rx_state), Some(RxState::Defaulted));
    assert_eq!(a.distributing_ports(), vec![0]);
    // Its link fails: another member takes over at once (active-backup).
    a.on_link(0, now, DOWN);
    let d = a.distributing_ports();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_ne!(d, vec![0]);

    // lacp_strict: nothing, as the standard has it.
    let strict = ActorConfig {
        lacp_strict: true,
        ..config(SYS_A, true)
    };
    let a = lonely(strict, &[G10, G10, G10], 8_000);
    assert!(a.distributing_ports().is_empty());
    assert!((0..3).all(|i| !a.is_collecting(i)));
}

#[test]
fn fallback_ends_as_soon_as_the_partner_speaks_lacp() {
    // Both passive: nobody speaks, each side carries traffic on one member.
    let passive = |s| ActorConfig {
        lacp_active: false,
        ..config(s, true)
    };
    let mut w = Wire::new(passive(SYS_A), passive(SYS_B), &[G10, G10]);
    w.run_for(3_000);
    assert!(w.sent.is_empty(), "passive sides never speak");
    assert_eq!(w.a.distributing_ports().len(), 1);
    assert_eq!(w.b.distributing_ports().len(), 1);
    // A turns active: LACP aggregates both members on both sides, no fallback left.
    let mut snap = w.a.snapshot();
    snap.config.lacp_active = true;
    w.a = Actor::restore(&snap, w.now);
    until_all_distributing(&mut w, 5_000);
    for i in 0..2 {
        assert!(!w.a.is_fallback(i) && !w.b.is_fallback(i));
        assert_eq!(
            w.a.port(i).map(Port::mux_state),
            Some(MuxState::CollectingDistributing)
        );
    }
}
