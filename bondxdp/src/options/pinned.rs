//! The one place that converts options to and from the pinned records (`BondState` and the
//! data plane's `BondConfig`), so that `down`, `status` and a restarted controller read back
//! exactly what `up` and `set` wrote.

use bondxdp_common::{
    MAX_MEMBERS,
    config::{
        BondConfig, CFG_ALL_SLAVES_ACTIVE, CFG_KEEP_MEMBER_MACS, CFG_TLB_HASH, NAT_STICKY_HOST,
    },
    records::{BondState, ForwardRecord, actor_port_prio, admin_priority},
};

use super::*;
use crate::maps::name_string;

impl LacpOptions {
    /// Writes the options into `r`, leaving the controller's part of it as it is.
    pub fn write_pinned(&self, r: &mut LacpRecord) {
        r.flags = 0;
        if self.fast {
            r.flags |= LACP_RATE_FAST;
        }
        if !self.active {
            r.flags |= LACP_PASSIVE;
        }
        if !self.coupled_control {
            r.flags |= LACP_DECOUPLED;
        }
        if self.strict {
            r.flags |= LACP_STRICT;
        }
        r.ad_select = match self.ad_select {
            AdSelect::Stable => 0,
            AdSelect::Bandwidth => 1,
            AdSelect::Count => 2,
            AdSelect::ActorPortPrio => 3,
        };
        r.system_priority = self.system_priority;
        r.user_port_key = self.user_port_key;
        r.actor_system = self.actor_system.unwrap_or([0; 6]);
    }
    /// The options from the pinned record.
    pub fn from_pinned(r: &LacpRecord) -> LacpOptions {
        LacpOptions {
            fast: r.flags & LACP_RATE_FAST != 0,
            active: r.flags & LACP_PASSIVE == 0,
            ad_select: match r.ad_select {
                1 => AdSelect::Bandwidth,
                2 => AdSelect::Count,
                3 => AdSelect::ActorPortPrio,
                _ => AdSelect::Stable,
            },
            system_priority: r.system_priority,
            user_port_key: r.user_port_key,
            actor_system: (r.actor_system != [0; 6]).then_some(r.actor_system),
            coupled_control: r.flags & LACP_DECOUPLED == 0,
            strict: r.flags & LACP_STRICT != 0,
        }
    }
}

impl MultiWanOptions {
    /// The options as pinned; member settings go to the slot of the member's name
    /// (`slots[i]`: the member in slot `i`, if any).
    pub fn to_pinned(&self, slots: &[Option<String>]) -> MultiWanRecord {
        let mut r = MultiWanRecord {
            probe_interval_ms: self.probe_interval,
            probe_timeout_ms: self.probe_timeout,
            probe_failure_interval_ms: self.probe_failure_interval,
            probe_down: self.probe_down,
            probe_up: self.probe_up,
            probe_max_rtt_ms: self.probe_max_rtt,
            probe_count: self.probes.len().min(MAX_TARGETS) as u32,
            max_flows: self.max_flows,
            port_min: self.nat_ports.0,
            port_max: self.nat_ports.1,
            quality_loss_permille: self.quality_loss * 10,
            quality_rtt_ms: self.quality_rtt,
            quality_hold_ms: self.quality_hold,
            quality_recover_ms: self.quality_recover,
            ..MultiWanRecord::default()
        };
        if self.sticky == Sticky::Host {
            r.flags |= MWAN_STICKY_HOST;
        }
        if !self.default_route {
            r.flags |= MWAN_NO_DEFAULT_ROUTE;
        }
        if self.reset_on_failover {
            r.flags |= MWAN_RESET_ON_FAILOVER;
        }
        for (i, p) in self.probes.iter().take(MAX_TARGETS).enumerate() {
            r.probes[i] = match p.addr {
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                IpAddr::V6(a) => a.octets(),
            };
            r.probe_ports[i] = p.tcp_port.unwrap_or(0);
        }
        for cidr in &self.addresses {
            match cidr.addr {
                IpAddr::V4(a) => {
                    r.address4 = a.octets();
                    r.prefix4 = cidr.prefix;
                }
                IpAddr::V6(a) => {
                    r.address6 = a.octets();
                    r.prefix6 = cidr.prefix;
                }
            }
        }
        for (slot, member) in slots.iter().enumerate().take(MAX_MEMBERS) {
            let Some(member) = member else { continue };
            for (m, gw) in &self.gateways {
                if m == member {
                    match gw {
                        IpAddr::V4(a) => r.gateways4[slot] = a.octets(),
                        IpAddr::V6(a) => r.gateways6[slot] = a.octets(),
                    }
                }
            }
        }
        r
    }
    /// The options from the pinned record (`slots` as for [`MultiWanOptions::to_pinned`]).
    pub fn from_pinned(r: &MultiWanRecord, slots: &[Option<String>]) -> MultiWanOptions {
        let n = (r.probe_count as usize).min(MAX_TARGETS);
        let probes = (0..n)
            .map(|i| {
                let v6 = Ipv6Addr::from(r.probes[i]);
                ProbeTarget {
                    addr: match v6.to_ipv4_mapped() {
                        Some(v4) => IpAddr::V4(v4),
                        None => IpAddr::V6(v6),
                    },
                    tcp_port: (r.probe_ports[i] != 0).then_some(r.probe_ports[i]),
                }
            })
            .collect();
        let mut addresses = Vec::new();
        if r.prefix4 != 0 {
            addresses.push(IpCidr {
                addr: IpAddr::V4(Ipv4Addr::from(r.address4)),
                prefix: r.prefix4,
            });
        }
        if r.prefix6 != 0 {
            addresses.push(IpCidr {
                addr: IpAddr::V6(Ipv6Addr::from(r.address6)),
                prefix: r.prefix6,
            });
        }
        let mut gateways = Vec::new();
        for (slot, member) in slots.iter().enumerate().take(MAX_MEMBERS) {
            let Some(member) = member else { continue };
            if r.gateways4[slot] != [0; 4] {
                gateways.push((member.clone(), IpAddr::V4(r.gateways4[slot].into())));
            }
            if r.gateways6[slot] != [0; 16] {
                gateways.push((member.clone(), IpAddr::V6(r.gateways6[slot].into())));
            }
        }
        MultiWanOptions {
            gateways,
            probes,
            probe_interval: r.probe_interval_ms,
            probe_timeout: r.probe_timeout_ms,
            probe_failure_interval: r.probe_failure_interval_ms,
            probe_down: r.probe_down,
            probe_up: r.probe_up,
            probe_max_rtt: r.probe_max_rtt_ms,
            sticky: if r.flags & MWAN_STICKY_HOST != 0 {
                Sticky::Host
            } else {
                Sticky::Flow
            },
            addresses,
            default_route: r.flags & MWAN_NO_DEFAULT_ROUTE == 0,
            reset_on_failover: r.flags & MWAN_RESET_ON_FAILOVER != 0,
            max_flows: r.max_flows,
            nat_ports: (r.port_min, r.port_max),
            // In the configuration, not this record: [`pinned_options`] reads them there.
            tiers: Vec::new(),
            quality_loss: r.quality_loss_permille / 10,
            quality_rtt: r.quality_rtt_ms,
            quality_hold: r.quality_hold_ms,
            quality_recover: r.quality_recover_ms,
        }
    }
}

impl BalanceOptions {
    /// The pinned record (`slots` as for [`MultiWanOptions::to_pinned`]).
    pub fn to_pinned(&self, slots: &[Option<String>]) -> BalanceRecord {
        let mut r = BalanceRecord {
            rebalance_interval_ms: self.rebalance_interval,
            ..BalanceRecord::default()
        };
        for (slot, member) in slots.iter().enumerate().take(MAX_MEMBERS) {
            let Some(member) = member else { continue };
            if let Some((_, w)) = self.weights.iter().find(|(m, _)| m == member) {
                r.weights[slot] = *w;
            }
            if let Some((_, s)) = self.speeds.iter().find(|(m, _)| m == member) {
                r.speeds_mbps[slot] = *s;
            }
        }
        r
    }
    /// The options from the pinned record and the flowlet timeout in the configuration.
    pub fn from_pinned(r: &BalanceRecord, slots: &[Option<String>], flowlet_ns: u64) -> Self {
        let mut o = BalanceOptions {
            rebalance_interval: r.rebalance_interval_ms,
            flowlet_timeout: (flowlet_ns / 1_000_000) as u32,
            ..BalanceOptions::default()
        };
        for (slot, member) in slots.iter().enumerate().take(MAX_MEMBERS) {
            let Some(member) = member else { continue };
            if r.weights[slot] != 0 {
                o.weights.push((member.clone(), r.weights[slot]));
            }
            if r.speeds_mbps[slot] != 0 {
                o.speeds.push((member.clone(), r.speeds_mbps[slot]));
            }
        }
        o
    }
}

impl MonitorOptions {
    /// The options as pinned in the bond's state.
    pub fn to_pinned(&self) -> MonitorConfig {
        let mut m = MonitorConfig {
            miimon_ms: self.miimon,
            updelay_ms: self.updelay,
            downdelay_ms: self.downdelay,
            arp_interval_ms: self.arp_interval,
            arp_missed_max: self.arp_missed_max,
            num_grat_arp: self.num_grat_arp,
            peer_notif_delay_ms: self.peer_notif_delay,
            resend_igmp: self.resend_igmp,
            primary_reselect: self.primary_reselect as u8,
            arp_validate: self.arp_validate as u8,
            arp_all_targets: self.arp_all_targets as u8,
            link_events: self.link_events as u8,
            arp_target_count: self.arp_ip_targets.len() as u32,
            ns_target_count: self.ns_ip6_targets.len() as u32,
            ..MonitorConfig::default()
        };
        for (slot, ip) in m.arp_targets.iter_mut().zip(&self.arp_ip_targets) {
            *slot = ip.octets();
        }
        for (slot, ip) in m.ns_targets.iter_mut().zip(&self.ns_ip6_targets) {
            *slot = ip.octets();
        }
        m
    }
    /// The options from the bond's pinned state.
    pub fn from_pinned(m: &MonitorConfig) -> MonitorOptions {
        let arp = (m.arp_target_count as usize).min(MAX_TARGETS);
        let ns = (m.ns_target_count as usize).min(MAX_TARGETS);
        MonitorOptions {
            miimon: m.miimon_ms,
            updelay: m.updelay_ms,
            downdelay: m.downdelay_ms,
            arp_interval: m.arp_interval_ms,
            arp_missed_max: m.arp_missed_max,
            arp_ip_targets: m.arp_targets[..arp]
                .iter()
                .map(|o| Ipv4Addr::from(*o))
                .collect(),
            ns_ip6_targets: m.ns_targets[..ns]
                .iter()
                .map(|o| Ipv6Addr::from(*o))
                .collect(),
            arp_validate: match m.arp_validate {
                1 => ArpValidate::Active,
                2 => ArpValidate::Backup,
                3 => ArpValidate::All,
                4 => ArpValidate::Filter,
                5 => ArpValidate::FilterActive,
                6 => ArpValidate::FilterBackup,
                _ => ArpValidate::None,
            },
            arp_all_targets: if m.arp_all_targets == 1 {
                ArpAllTargets::All
            } else {
                ArpAllTargets::Any
            },
            primary_reselect: match m.primary_reselect {
                1 => PrimaryReselect::Better,
                2 => PrimaryReselect::Failure,
                _ => PrimaryReselect::Always,
            },
            num_grat_arp: m.num_grat_arp,
            peer_notif_delay: m.peer_notif_delay_ms,
            resend_igmp: m.resend_igmp,
            link_events: m.link_events != 0,
        }
    }
}

/// The options a running bond has, read back from its pinned configuration and state.
pub fn pinned_options(cfg: &BondConfig, state: &BondState) -> BondOptions {
    BondOptions {
        mode: cfg.mode().unwrap_or(Mode::BalanceRr),
        xmit_hash_policy: cfg.hash_policy().unwrap_or(HashPolicy::Layer2),
        packets_per_slave: cfg.packets_per_slave,
        primary: state
            .members
            .get(state.primary_slot as usize)
            .filter(|m| m.ifindex != 0)
            .map(|m| name_string(&m.name)),
        keep_member_macs: cfg.has_flag(CFG_KEEP_MEMBER_MACS),
        fail_over_mac: super::FailOverMac::from_pinned(state.fail_over_mac),
        all_slaves_active: cfg.has_flag(CFG_ALL_SLAVES_ACTIVE),
        mac: Some(cfg.bond_mac),
        min_links: cfg.min_links,
        monitor: MonitorOptions::from_pinned(&state.monitor),
        multi_wan: MultiWanOptions {
            tiers: slot_names(state)
                .into_iter()
                .zip(cfg.uplinks)
                .filter_map(|(name, u)| (u.tier != 0).then_some((name?, u.tier)))
                .collect(),
            ..MultiWanOptions::from_pinned(&state.mwan, &slot_names(state))
        },
        balance: BalanceOptions {
            tlb_dynamic_lb: !cfg.has_flag(CFG_TLB_HASH),
            lp_interval: cfg.lp_interval,
            ..BalanceOptions::from_pinned(&state.balance, &slot_names(state), cfg.flowlet_ns)
        },
        select_program: Some(name_string(&state.custom.program)).filter(|p| !p.is_empty()),
        forward_from: forward_names(&state.forward),
        lacp: LacpOptions::from_pinned(&state.lacp),
        prios: slot_names(state)
            .into_iter()
            .zip(state.monitor.prio)
            .filter_map(|(name, p)| (p != 0).then_some((name?, p)))
            .collect(),
        actor_port_prios: slot_names(state)
            .into_iter()
            .zip(state.lacp.ports)
            .filter_map(|(name, p)| {
                (p.admin_priority != 0).then_some((name?, actor_port_prio(p.admin_priority)))
            })
            .collect(),
        active_slave: None,
        tc_attach: super::TcAttach::from_pinned(state.tc_attach),
    }
}

/// Member priorities by slot (`slots` as for [`MultiWanOptions::to_pinned`]); 0 for members
/// without one.
pub fn prio_slots(prios: &[(String, i32)], slots: &[Option<String>]) -> [i32; MAX_MEMBERS] {
    let mut out = [0; MAX_MEMBERS];
    for (slot, member) in slots.iter().enumerate().take(MAX_MEMBERS) {
        if let Some(member) = member
            && let Some((_, p)) = prios.iter().find(|(m, _)| m == member)
        {
            out[slot] = *p;
        }
    }
    out
}

/// Writes the members' `actor_port_prio` into the LACP port records (by slot; `slots` as
/// for [`prio_slots`]), leaving the controller's part of each record alone.
pub fn write_actor_port_prios(
    prios: &[(String, u16)],
    slots: &[Option<String>],
    rec: &mut LacpRecord,
) {
    for (port, member) in rec.ports.iter_mut().zip(slots) {
        port.admin_priority = member
            .as_ref()
            .and_then(|member| prios.iter().find(|(m, _)| m == member))
            .map_or(0, |(_, p)| admin_priority(*p));
    }
}

/// Member names by slot (`None` for free slots).
pub fn slot_names(state: &BondState) -> Vec<Option<String>> {
    state
        .members
        .iter()
        .map(|m| (m.ifindex != 0).then(|| name_string(&m.name)))
        .collect()
}

/// The `--forward-from` interfaces a bond records.
pub fn forward_names(record: &ForwardRecord) -> Vec<String> {
    record
        .ifindex
        .iter()
        .zip(&record.names)
        .filter(|(i, _)| **i != 0)
        .map(|(_, n)| name_string(n))
        .collect()
}

impl BondOptions {
    /// Writes the data plane's side of the options into `cfg` (`slots` names the member in
    /// each slot, for per-member options); what is derived from them (the active member, the
    /// transmit list) is `bond::apply_options`'s.
    pub fn write_config(&self, cfg: &mut BondConfig, slots: &[Option<String>]) {
        let opts = self;
        cfg.mode = opts.mode as u32;
        cfg.flowlet_ns = opts.balance.flowlet_timeout as u64 * 1_000_000;
        // A configured weight wins; the others keep what the controller last set (1 at first).
        for slot in 0..MAX_MEMBERS {
            let manual = slots
                .get(slot)
                .and_then(|n| n.as_ref())
                .and_then(|n| opts.balance.weights.iter().find(|(m, _)| m == n))
                .map(|(_, w)| (*w).clamp(1, u16::MAX as u32) as u16);
            cfg.weights[slot] = match (cfg.members[slot].is_used(), manual) {
                (false, _) => 0,
                (true, Some(w)) => w,
                (true, None) => cfg.weights[slot].max(1),
            };
        }
        let w = &opts.multi_wan;
        for (slot, uplink) in cfg.uplinks.iter_mut().enumerate() {
            uplink.tier = slots
                .get(slot)
                .and_then(|n| n.as_ref())
                .and_then(|n| w.tiers.iter().find(|(m, _)| m == n))
                .map_or(0, |(_, t)| *t);
        }
        cfg.nat_port_min = w.nat_ports.0;
        cfg.nat_port_max = w.nat_ports.1;
        cfg.nat_flags = if w.sticky == Sticky::Host {
            NAT_STICKY_HOST
        } else {
            0
        };
        cfg.hash_policy = opts.xmit_hash_policy as u32;
        cfg.packets_per_slave = opts.packets_per_slave;
        cfg.min_links = opts.min_links;
        cfg.flags &= !(CFG_KEEP_MEMBER_MACS | CFG_ALL_SLAVES_ACTIVE | CFG_TLB_HASH);
        if !opts.balance.tlb_dynamic_lb {
            cfg.flags |= CFG_TLB_HASH;
        }
        cfg.lp_interval = opts.balance.lp_interval;
        if opts.keep_member_macs {
            cfg.flags |= CFG_KEEP_MEMBER_MACS;
        }
        if opts.all_slaves_active {
            cfg.flags |= CFG_ALL_SLAVES_ACTIVE;
        }
    }
}
