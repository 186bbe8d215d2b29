//! Aggregator selection (IEEE 802.1AX 6.4.14), as pure functions of the ports' state.
//!
//! Ports that see the same partner system through the same keys share an aggregator
//! ([`pick_aggregator`]); of all aggregators, one is active ([`choose_active`]) by the bond's
//! `ad_select` policy. Ports of the other aggregators are on standby and never distribute.
//!
//! Aggregator identifiers are small numbers from 1: a port that needs a new aggregator takes
//! the lowest identifier no port uses, so identifiers stay stable while their ports stay.

use serde::{Deserialize, Serialize};

/// How the active aggregator is chosen (the bonding driver's `ad_select`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdSelect {
    /// Keep the active aggregator while it has a port with link; choose anew (by bandwidth)
    /// only when it has none, or when a partner answers on another aggregator and not on it.
    /// Until one of its ports is attached (during the aggregate wait at start) it is chosen
    /// as with `Bandwidth`, so partners that answer a little later still count.
    #[default]
    Stable,
    /// The aggregator with the most total speed of ports with link.
    Bandwidth,
    /// The aggregator with the most ports with link; equal counts by bandwidth.
    Count,
    /// The aggregator whose ports with link have the highest sum of `actor_port_prio`
    /// (kernel 6.18+); equal sums as `Count`.
    #[serde(rename = "actor_port_prio")]
    ActorPortPrio,
}

impl AdSelect {
    /// Parses `stable`, `bandwidth`, `count` or `actor_port_prio` (or the kernel's numbers
    /// 0-3).
    pub fn parse(s: &str) -> Option<AdSelect> {
        match s {
            "stable" | "0" => Some(AdSelect::Stable),
            "bandwidth" | "1" => Some(AdSelect::Bandwidth),
            "count" | "2" => Some(AdSelect::Count),
            "actor_port_prio" | "3" => Some(AdSelect::ActorPortPrio),
            _ => None,
        }
    }

    /// The kernel's name.
    pub fn name(self) -> &'static str {
        match self {
            AdSelect::Stable => "stable",
            AdSelect::Bandwidth => "bandwidth",
            AdSelect::Count => "count",
            AdSelect::ActorPortPrio => "actor_port_prio",
        }
    }
}

/// What ports must have in common to share an aggregator: the actor's key and the partner's
/// system and key (the Link Aggregation Group identifier, less the actor system, which is the
/// same for all ports of a bond), and whether the link may aggregate at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LagKey {
    /// The actor's operational key of the port.
    pub actor_key: u16,
    /// The partner's system priority.
    pub partner_system_priority: u16,
    /// The partner's system; all zeros when no partner answered (defaulted).
    #[serde(with = "super::mac_serde")]
    pub partner_system: [u8; 6],
    /// The partner's operational key.
    pub partner_key: u16,
    /// The link is Individual (either side's aggregation bit is clear): it gets an
    /// aggregator of its own.
    pub individual: bool,
}

impl LagKey {
    /// Whether a partner answered (its system is not all zeros).
    pub fn has_partner(&self) -> bool {
        self.partner_system != [0; 6]
    }
}

/// The aggregator a port with `lag` joins: an existing aggregator of `existing` (id and key of
/// each aggregator in use) with the same key, when both can aggregate with an answering
/// partner; otherwise the lowest identifier not in use.
pub fn pick_aggregator(lag: &LagKey, existing: &[(u16, LagKey)]) -> u16 {
    let shareable = |l: &LagKey| !l.individual && l.has_partner();
    if shareable(lag)
        && let Some(&(id, _)) = existing
            .iter()
            .filter(|(_, l)| l == lag)
            .min_by_key(|(id, _)| *id)
    {
        return id;
    }
    (1..=u16::MAX)
        .find(|id| existing.iter().all(|(used, _)| used != id))
        .unwrap_or(u16::MAX)
}

/// One aggregator as the choice of the active one sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Its identifier.
    pub id: u16,
    /// The key its ports share.
    pub lag: LagKey,
    /// Its ports with link up.
    pub ports_up: u32,
    /// The total speed of those ports in Mbit/s.
    pub bandwidth_mbps: u64,
    /// The sum of those ports' actor port priorities (`actor_port_prio`).
    pub priority: u64,
    /// Whether a port of it got past the aggregate wait (attached or beyond).
    pub attached: bool,
}

/// The active aggregator among `candidates` (those without a port with link are never
/// chosen), given the one active so far.
///
/// As in Linux: an aggregator that can aggregate beats an Individual one, one with an
/// answering partner beats one without, then the policy decides; on a tie the current active
/// aggregator stays, else the lowest identifier wins. With [`AdSelect::Stable`] the current
/// one, once attached, stays while it has a port with link, unless it lost its partner and
/// another has one.
pub fn choose_active(
    candidates: &[Candidate],
    policy: AdSelect,
    current: Option<u16>,
) -> Option<u16> {
    let mut up: Vec<&Candidate> = candidates.iter().filter(|c| c.ports_up > 0).collect();
    // Current first, then by identifier: the first of equals wins.
    up.sort_by_key(|c| (Some(c.id) != current, c.id));
    let rank = |c: &Candidate| {
        let policy_rank = match policy {
            AdSelect::ActorPortPrio => (c.priority, u64::from(c.ports_up), c.bandwidth_mbps),
            AdSelect::Count => (u64::from(c.ports_up), c.bandwidth_mbps, 0),
            AdSelect::Stable | AdSelect::Bandwidth => (c.bandwidth_mbps, 0, 0),
        };
        (!c.lag.individual, c.lag.has_partner(), policy_rank)
    };
    let mut best: Option<&Candidate> = None;
    for c in up.iter().copied() {
        if best.is_none_or(|b| rank(c) > rank(b)) {
            best = Some(c);
        }
    }
    let best = best?;
    if policy == AdSelect::Stable
        && let Some(cur) = up.iter().find(|c| Some(c.id) == current)
        && cur.attached
        && (cur.lag.has_partner() || !best.lag.has_partner())
    {
        return Some(cur.id);
    }
    Some(best.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(actor_key: u16, partner: u8) -> LagKey {
        LagKey {
            actor_key,
            partner_system_priority: 0x8000,
            partner_system: [0, 0, 0, 0, 0, partner],
            partner_key: 1,
            individual: false,
        }
    }

    fn cand(id: u16, ports_up: u32, speed: u64) -> Candidate {
        Candidate {
            id,
            lag: lag(id, 1),
            ports_up,
            bandwidth_mbps: u64::from(ports_up) * speed,
            priority: u64::from(ports_up) * 255,
            attached: true,
        }
    }

    /// bond_lacp_prio.sh: the aggregator whose ports sum the highest actor_port_prio wins,
    /// whatever its bandwidth; equal sums fall back to count, then bandwidth.
    #[test]
    fn actor_port_prio_picks_the_highest_sum_of_priorities() {
        let with = |id, ports_up, speed, priority| Candidate {
            priority,
            ..cand(id, ports_up, speed)
        };
        // eth0=1000 + eth1=255 against eth2=10 + eth3=255 (10x the bandwidth).
        let c = [with(1, 2, 1_000, 1255), with(2, 2, 10_000, 265)];
        assert_eq!(choose_active(&c, AdSelect::ActorPortPrio, Some(2)), Some(1));
        assert_eq!(choose_active(&c, AdSelect::Bandwidth, Some(1)), Some(2));
        // Swapped priorities: the other one.
        let c = [with(1, 2, 1_000, 265), with(2, 2, 10_000, 1255)];
        assert_eq!(choose_active(&c, AdSelect::ActorPortPrio, Some(1)), Some(2));
        // Equal sums: more ports, then more bandwidth.
        let c = [with(1, 2, 1_000, 510), with(2, 3, 1_000, 510)];
        assert_eq!(choose_active(&c, AdSelect::ActorPortPrio, Some(1)), Some(2));
        let c = [with(1, 2, 1_000, 510), with(2, 2, 10_000, 510)];
        assert_eq!(choose_active(&c, AdSelect::ActorPortPrio, Some(1)), Some(2));
        for p in [
            AdSelect::Stable,
            AdSelect::Bandwidth,
            AdSelect::Count,
            AdSelect::ActorPortPrio,
        ] {
            assert_eq!(AdSelect::parse(p.name()), Some(p));
        }
        assert_eq!(AdSelect::parse("3"), Some(AdSelect::ActorPortPrio));
        assert_eq!(AdSelect::parse("4"), None);
    }

    #[test]
    fn ports_join_by_key() {
        let a = lag(9, 1);
        let existing = [(1, a), (2, lag(15, 1)), (4, a)];
        let cases = [
            ("same key joins the lowest", a, 1),
            ("other actor key", lag(11, 1), 3),
            ("other partner", lag(9, 2), 3),
            (
                "individual never joins",
                LagKey {
                    individual: true,
                    ..a
                },
                3,
            ),
            (
                "no partner never joins",
                LagKey {
                    partner_system: [0; 6],
                    ..a
                },
                3,
            ),
        ];
        for (name, l, want) in cases {
            assert_eq!(pick_aggregator(&l, &existing), want, "{name}");
        }
        assert_eq!(pick_aggregator(&lag(1, 1), &[]), 1);
    }

    #[test]
    fn ad_select_chooses_as_documented() {
        use AdSelect::*;
        let two_slow = cand(1, 2, 1_000);
        let one_fast = cand(2, 1, 10_000);
        let two_fast = cand(3, 2, 10_000);
        let mut no_partner = cand(4, 3, 10_000);
        no_partner.lag.partner_system = [0; 6];
        let mut individual = cand(5, 1, 100_000);
        individual.lag.individual = true;
        let down = cand(6, 0, 0);
        let waiting = Candidate {
            attached: false,
            ..two_slow
        };
        // (name, aggregators, policy, active so far, chosen)
        type Case = (
            &'static str,
            Vec<Candidate>,
            AdSelect,
            Option<u16>,
            Option<u16>,
        );
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("nothing up", vec![down], Bandwidth, None, None),
            ("bandwidth: most speed", vec![two_slow, one_fast], Bandwidth, None, Some(2)),
            ("bandwidth: leaves current", vec![two_slow, one_fast], Bandwidth, Some(1), Some(2)),
            ("count: most ports", vec![two_slow, one_fast], Count, None, Some(1)),
            ("count: leaves current", vec![two_slow, one_fast], Count, Some(2), Some(1)),
            ("count: equal count by bandwidth", vec![two_slow, two_fast], Count, None, Some(3)),
            ("stable: first choice by bandwidth", vec![two_slow, one_fast], Stable, None, Some(2)),
            ("stable: keeps current", vec![two_slow, one_fast], Stable, Some(1), Some(1)),
            ("stable: current down", vec![down, one_fast], Stable, Some(6), Some(2)),
            ("stable: not attached yet", vec![waiting, one_fast], Stable, Some(1), Some(2)),
            ("partner beats none", vec![no_partner, two_slow], Bandwidth, None, Some(1)),
            ("stable: leaves one without partner", vec![no_partner, two_slow], Stable, Some(4),
                Some(1)),
            ("aggregatable beats individual", vec![individual, two_slow], Count, None, Some(1)),
            ("tie: lowest id", vec![cand(8, 1, 1_000), cand(7, 1, 1_000)], Bandwidth, None,
                Some(7)),
            ("tie: current stays", vec![cand(7, 1, 1_000), cand(8, 1, 1_000)], Count, Some(8),
                Some(8)),
        ];
        for (name, cands, policy, current, want) in cases {
            assert_eq!(choose_active(&cands, policy, current), want, "{name}");
        }
    }

    #[test]
    fn parses_policies() {
        assert_eq!(AdSelect::parse("count"), Some(AdSelect::Count));
        assert_eq!(AdSelect::parse("1"), Some(AdSelect::Bandwidth));
        assert_eq!(AdSelect::parse("fastest"), None);
    }
}
