//! What a bond is asked to be: its name, members and options, validated before anything on
//! the host is touched. Option names and values follow the kernel bonding driver, and one
//! setter ([`set_option`]) serves the command line, `bondxdp set` and the TOML config file,
//! so all three accept and refuse the same things with the same messages.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
};

use bondxdp_common::{
    HashPolicy, MAX_MEMBERS, Mode,
    modes::active_backup::PrimaryReselect,
    records::{
        BalanceRecord, LACP_PASSIVE, LACP_RATE_FAST, LacpRecord, MAX_FORWARD, MAX_TARGETS,
        MWAN_NO_DEFAULT_ROUTE, MWAN_RESET_ON_FAILOVER, MWAN_STICKY_HOST, MonitorConfig, MwanRecord,
        SELECT_PROGRAM_MAX,
    },
};

use crate::{
    error::{Error, Result},
    lacp::{AdSelect, key::MAX_USER_KEY},
    mac::{format_mac, parse_mac},
};

/// Options of one bond (kernel names in parentheses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondOptions {
    /// Bonding mode (`mode`).
    pub mode: Mode,
    /// Transmit hash policy for hashing modes (`xmit_hash_policy`).
    pub xmit_hash_policy: HashPolicy,
    /// balance-rr: packets per member before moving on; 0 = random (`packets_per_slave`).
    pub packets_per_slave: u32,
    /// active-backup: the preferred member (`primary`).
    pub primary: Option<String>,
    /// Members keep their own MAC addresses; frames are rewritten per member instead.
    pub keep_member_macs: bool,
    /// Deliver frames received on inactive members too (`all_slaves_active`).
    pub all_slaves_active: bool,
    /// The bond's MAC address (default: the first member's, as the kernel does).
    pub mac: Option<[u8; 6]>,
    /// Members that must be up for the bond to have carrier and transmit (`min_links`).
    pub min_links: u32,
    /// Link monitoring.
    pub monitor: MonitorOptions,
    /// multi-wan settings.
    pub multi_wan: MultiWanOptions,
    /// Weighing of new flows (weighted modes).
    pub balance: BalanceOptions,
    /// custom mode: the selection program, `FILE.o[:PROGRAM]` (`select_program`).
    pub select_program: Option<String>,
    /// LAN-side interfaces whose routed traffic through the bond takes the XDP fast path
    /// (`forward_from`), and whose replies take it back.
    pub forward_from: Vec<String>,
    /// 802.3ad: LACP settings.
    pub lacp: LacpOptions,
}

/// 802.3ad's LACP settings (kernel names in parentheses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LacpOptions {
    /// Ask the partner for a LACPDU every second rather than every 30 (`lacp_rate fast`).
    pub fast: bool,
    /// Send LACPDUs unasked (`lacp_active on`, the default) or only answer (`off`).
    pub active: bool,
    /// How the active aggregator is chosen (`ad_select`).
    pub ad_select: AdSelect,
    /// System priority in our LACPDUs, 1-65535 (`ad_actor_sys_prio`, default 65535).
    pub system_priority: u16,
    /// The upper 10 bits of every port key, 0-1023 (`ad_user_port_key`).
    pub user_port_key: u16,
    /// The system identifier in our LACPDUs (`ad_actor_system`; default: the bond's MAC).
    pub actor_system: Option<[u8; 6]>,
}

impl Default for LacpOptions {
    fn default() -> Self {
        LacpOptions::from_pinned(&LacpRecord::default())
    }
}

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
        r.ad_select = match self.ad_select {
            AdSelect::Stable => 0,
            AdSelect::Bandwidth => 1,
            AdSelect::Count => 2,
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
                _ => AdSelect::Stable,
            },
            system_priority: r.system_priority,
            user_port_key: r.user_port_key,
            actor_system: (r.actor_system != [0; 6]).then_some(r.actor_system),
        }
    }

    /// `lacp_rate` as the kernel names it (`slow`, `fast`).
    pub fn rate_name(&self) -> &'static str {
        if self.fast { "fast" } else { "slow" }
    }

    /// `ad_select` as the kernel names it.
    pub fn ad_select_name(&self) -> &'static str {
        match self.ad_select {
            AdSelect::Stable => "stable",
            AdSelect::Bandwidth => "bandwidth",
            AdSelect::Count => "count",
        }
    }
}

/// Which flows of one host share an uplink (multi-wan `sticky`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sticky {
    /// Each flow by itself (default).
    #[default]
    Flow,
    /// Every flow to one destination host on one uplink (sites that tie a session to the
    /// client's address).
    Host,
}

/// A multi-wan health probe: ICMP echo, or a TCP connection attempt to a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    /// The address probed through every uplink.
    pub addr: IpAddr,
    /// TCP port to open a connection to (a SYN answered by SYN-ACK or RST); `None`: ping.
    pub tcp_port: Option<u16>,
}

impl std::fmt::Display for ProbeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.tcp_port, self.addr) {
            (None, a) => write!(f, "{a}"),
            (Some(p), IpAddr::V4(a)) => write!(f, "tcp:{a}:{p}"),
            (Some(p), IpAddr::V6(a)) => write!(f, "tcp:[{a}]:{p}"),
        }
    }
}

impl std::str::FromStr for ProbeTarget {
    type Err = Error;
    fn from_str(s: &str) -> Result<ProbeTarget> {
        let bad = || {
            Error::invalid(
                "probe",
                format!("{s:?} is not an address or tcp:ADDRESS:PORT"),
            )
        };
        if let Some(rest) = s.strip_prefix("tcp:") {
            let sock: std::net::SocketAddr = rest.parse().map_err(|_| bad())?;
            return Ok(ProbeTarget {
                addr: sock.ip(),
                tcp_port: Some(sock.port()),
            });
        }
        Ok(ProbeTarget {
            addr: s.parse().map_err(|_| bad())?,
            tcp_port: None,
        })
    }
}

/// multi-wan options (`bondxdp up --mode multi-wan`); times in ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultiWanOptions {
    /// Gateways by member (`gateway=IF=IP`); others come from the member's default route.
    pub gateways: Vec<(String, IpAddr)>,
    /// Health probe targets (`probe`).
    pub probes: Vec<ProbeTarget>,
    /// Probe interval while healthy (`probe_interval`, default 300).
    pub probe_interval: u32,
    /// Minimum time before an unanswered probe is lost (`probe_timeout`, default 150;
    /// grows to three round trips).
    pub probe_timeout: u32,
    /// Probe interval while confirming a failure (`probe_failure_interval`, default 100).
    pub probe_failure_interval: u32,
    /// Failed rounds in a row before an uplink is down (`probe_down`, default 3).
    pub probe_down: u32,
    /// Good rounds in a row before it is up again (`probe_up`, default 3).
    pub probe_up: u32,
    /// Replies slower than this count as lost (`probe_max_rtt`; 0: no limit).
    pub probe_max_rtt: u32,
    /// `sticky`: flow (default) or host.
    pub sticky: Sticky,
    /// The bond's own addresses, one per family (`address`; default 192.0.0.8/32, the IPv4
    /// "dummy address" of RFC 7600; IPv6 only when given).
    pub addresses: Vec<IpCidr>,
    /// Install default routes through the bond, preferred over the members' own
    /// (`default_route`, default on).
    pub default_route: bool,
    /// Reset the host's TCP connections through an uplink when it fails
    /// (`reset_on_failover`).
    pub reset_on_failover: bool,
    /// Flow table size (`max_flows`, default 524288).
    pub max_flows: u32,
    /// Translated port range (`nat_ports`, default 1024-65535).
    pub nat_ports: (u16, u16),
}

/// The bond's own IPv4 address when none is given (RFC 7600's IPv4 dummy address).
pub const DEFAULT_MWAN_ADDRESS: IpCidr = IpCidr {
    addr: IpAddr::V4(Ipv4Addr::new(192, 0, 0, 8)),
    prefix: 32,
};

impl Default for MultiWanOptions {
    fn default() -> Self {
        MultiWanOptions::from_pinned(&MwanRecord::default(), &[])
    }
}

impl MultiWanOptions {
    /// The bond's own addresses, or the default.
    pub fn addresses_or_default(&self) -> Vec<IpCidr> {
        if self.addresses.is_empty() {
            vec![DEFAULT_MWAN_ADDRESS]
        } else {
            self.addresses.clone()
        }
    }

    /// The options as pinned; member settings go to the slot of the member's name
    /// (`slots[i]`: the member in slot `i`, if any).
    pub fn to_pinned(&self, slots: &[Option<String>]) -> MwanRecord {
        let mut r = MwanRecord {
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
            ..MwanRecord::default()
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
    pub fn from_pinned(r: &MwanRecord, slots: &[Option<String>]) -> MultiWanOptions {
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
        }
    }
}

/// How new flows are weighed (multi-wan, balance-tlb, load-aware).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceOptions {
    /// Static weights by member (`weight=IF=N`); the others the controller computes from
    /// spare capacity (weighted modes), else 1.
    pub weights: Vec<(String, u32)>,
    /// Capacities by member, Mbit/s (`speed=IF=N`); the others the link's own speed.
    pub speeds: Vec<(String, u32)>,
    /// A flow idle longer than this may move to another member, ms (`flowlet_timeout`,
    /// default 20: well above the one-way delay difference of LAN links).
    pub flowlet_timeout: u32,
    /// How often the controller recomputes weights, ms (`rebalance_interval`, default 1000;
    /// 0 keeps them as configured).
    pub rebalance_interval: u32,
}

impl Default for BalanceOptions {
    fn default() -> Self {
        BalanceOptions {
            weights: Vec::new(),
            speeds: Vec::new(),
            flowlet_timeout: 20,
            rebalance_interval: 1000,
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

/// Checks weighing options against the bond's members.
pub fn validate_balance(b: &BalanceOptions, members: &[String]) -> Result<()> {
    for (key, list, max) in [
        ("weight", &b.weights, 65535),
        ("speed", &b.speeds, 10_000_000),
    ] {
        for (m, v) in list {
            if !members.contains(m) {
                return Err(Error::invalid(
                    key,
                    format!("{m} is not one of the members"),
                ));
            }
            if *v == 0 || *v > max {
                return Err(Error::invalid(
                    key,
                    format!("{m}: {v} is out of range 1-{max}"),
                ));
            }
        }
    }
    if b.flowlet_timeout == 0 || b.flowlet_timeout > 60_000 {
        return Err(Error::invalid(
            "flowlet_timeout",
            format!("{} is out of range 1-60000", b.flowlet_timeout),
        ));
    }
    if b.rebalance_interval > 3_600_000 || (1..100).contains(&b.rebalance_interval) {
        return Err(Error::invalid(
            "rebalance_interval",
            format!("{} is not 0 or 100-3600000", b.rebalance_interval),
        ));
    }
    Ok(())
}

/// Checks multi-wan options against the bond's members.
pub fn validate_multi_wan(w: &MultiWanOptions, members: &[String]) -> Result<()> {
    for (m, gw) in &w.gateways {
        if !members.contains(m) {
            return Err(Error::invalid(
                "gateway",
                format!("{m} is not one of the members"),
            ));
        }
        if gw.is_unspecified() || gw.is_multicast() || gw.is_loopback() {
            return Err(Error::invalid(
                "gateway",
                format!("{gw} cannot be a gateway"),
            ));
        }
        let same_family = w
            .gateways
            .iter()
            .filter(|(m2, g2)| m2 == m && g2.is_ipv4() == gw.is_ipv4())
            .count();
        if same_family > 1 {
            return Err(Error::invalid(
                "gateway",
                format!("{m} has more than one gateway of one address family"),
            ));
        }
    }
    if w.probes.len() > MAX_TARGETS {
        return Err(Error::invalid(
            "probe",
            format!("at most {MAX_TARGETS} targets, got {}", w.probes.len()),
        ));
    }
    for p in &w.probes {
        if p.addr.is_unspecified() || p.addr.is_multicast() || p.addr.is_loopback() {
            return Err(Error::invalid("probe", format!("{p} cannot be probed")));
        }
        if p.tcp_port == Some(0) {
            return Err(Error::invalid("probe", format!("{p}: port 0")));
        }
    }
    for (name, v, min, max) in [
        ("probe_interval", w.probe_interval, 10, 3_600_000),
        ("probe_timeout", w.probe_timeout, 10, 60_000),
        (
            "probe_failure_interval",
            w.probe_failure_interval,
            10,
            3_600_000,
        ),
        ("probe_down", w.probe_down, 1, 255),
        ("probe_up", w.probe_up, 1, 255),
        ("probe_max_rtt", w.probe_max_rtt, 0, 60_000),
        ("max_flows", w.max_flows, 1024, 16 * 1024 * 1024),
    ] {
        if v < min || v > max {
            return Err(Error::invalid(
                name,
                format!("{v} is out of range {min}-{max}"),
            ));
        }
    }
    let (lo, hi) = w.nat_ports;
    if lo == 0 || lo > hi {
        return Err(Error::invalid(
            "nat_ports",
            format!("{lo}-{hi} is not a range of ports 1-65535"),
        ));
    }
    for family_v4 in [true, false] {
        if w.addresses
            .iter()
            .filter(|c| c.addr.is_ipv4() == family_v4)
            .count()
            > 1
        {
            return Err(Error::invalid("address", "at most one address per family"));
        }
    }
    for c in &w.addresses {
        let bad = match c.addr {
            IpAddr::V4(a) => {
                a.is_unspecified() || a.is_multicast() || a.is_loopback() || a.is_broadcast()
            }
            IpAddr::V6(a) => {
                a.is_unspecified()
                    || a.is_multicast()
                    || a.is_loopback()
                    || a.is_unicast_link_local()
            }
        };
        if bad {
            return Err(Error::invalid(
                "address",
                format!("{c} cannot be the bond's address"),
            ));
        }
    }
    Ok(())
}

/// `arp_validate`: which members' ARP traffic must come from the probe targets to count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArpValidate {
    /// Any frame received counts (kernel default).
    #[default]
    None = 0,
    /// Validated on the active member only.
    Active = 1,
    /// Validated on backup members only.
    Backup = 2,
    /// Validated on every member.
    All = 3,
}

/// `arp_all_targets`: does one target answering suffice, or must all?
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArpAllTargets {
    /// Any target (kernel default).
    #[default]
    Any = 0,
    /// Every target.
    All = 1,
}

/// How the controller watches the links (kernel names; times in ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorOptions {
    /// Carrier polling interval; 0 disables polling (`miimon`, default 100).
    pub miimon: u32,
    /// Delay before using a recovered link (`updelay`).
    pub updelay: u32,
    /// Delay before abandoning a failed link (`downdelay`).
    pub downdelay: u32,
    /// Probe interval; 0 disables ARP/NS monitoring (`arp_interval`).
    pub arp_interval: u32,
    /// Intervals without an answer before a link is down (`arp_missed_max`, default 2).
    pub arp_missed_max: u32,
    /// IPv4 probe targets (`arp_ip_target`).
    pub arp_ip_targets: Vec<Ipv4Addr>,
    /// IPv6 probe targets (`ns_ip6_target`).
    pub ns_ip6_targets: Vec<Ipv6Addr>,
    /// `arp_validate`.
    pub arp_validate: ArpValidate,
    /// `arp_all_targets`.
    pub arp_all_targets: ArpAllTargets,
    /// `primary_reselect`.
    pub primary_reselect: PrimaryReselect,
    /// Gratuitous ARPs / unsolicited NAs after a failover (`num_grat_arp`, default 1).
    pub num_grat_arp: u32,
    /// Act on netlink link events at once (default); off leaves carrier loss to polling.
    pub link_events: bool,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions::from_pinned(&MonitorConfig::default())
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
            link_events: m.link_events != 0,
        }
    }
}

impl Default for BondOptions {
    fn default() -> Self {
        BondOptions {
            mode: Mode::BalanceRr,
            xmit_hash_policy: HashPolicy::Layer2,
            packets_per_slave: 1,
            primary: None,
            keep_member_macs: false,
            all_slaves_active: false,
            mac: None,
            min_links: 0,
            monitor: MonitorOptions::default(),
            multi_wan: MultiWanOptions::default(),
            balance: BalanceOptions::default(),
            select_program: None,
            forward_from: Vec::new(),
            lacp: LacpOptions::default(),
        }
    }
}

/// A bond to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondSpec {
    /// Name of the logical interface.
    pub name: String,
    /// Member interfaces, in order (the order decides slots and the default active member).
    pub members: Vec<String>,
    /// Options.
    pub options: BondOptions,
}

impl BondSpec {
    /// Applies the kernel's silent corrections and returns a warning for each: delays that
    /// are not multiples of `miimon` are rounded down to one (as the kernel does). LACP
    /// options outside 802.3ad are kept (the kernel keeps them too) with a warning that they
    /// do nothing.
    pub fn normalize(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.options.mode != Mode::Ieee8023ad && self.options.lacp != LacpOptions::default() {
            warnings.push(format!(
                "the lacp_* and ad_* options only act in 802.3ad mode, not in {}",
                self.options.mode.name()
            ));
        }
        let m = &mut self.options.monitor;
        if m.miimon > 0 {
            for (name, delay) in [("updelay", &mut m.updelay), ("downdelay", &mut m.downdelay)] {
                if *delay % m.miimon != 0 {
                    let rounded = *delay / m.miimon * m.miimon;
                    warnings.push(format!(
                        "{name} ({}) is not a multiple of miimon ({}); rounded to {rounded} ms",
                        *delay, m.miimon
                    ));
                    *delay = rounded;
                }
            }
        }
        warnings
    }

    /// Checks everything that can be checked without looking at the host.
    pub fn validate(&self) -> Result<()> {
        validate_ifname("bond name", &self.name)?;
        if self.members.is_empty() {
            return Err(Error::invalid(
                "members",
                "a bond needs at least one --member",
            ));
        }
        if self.members.len() > MAX_MEMBERS {
            return Err(Error::invalid(
                "members",
                format!(
                    "at most {MAX_MEMBERS} members per bond, got {}",
                    self.members.len()
                ),
            ));
        }
        for (i, member) in self.members.iter().enumerate() {
            validate_ifname("member", member)?;
            if self.members[..i].contains(member) {
                return Err(Error::invalid(
                    "members",
                    format!("{member} is given twice"),
                ));
            }
            if *member == self.name {
                return Err(Error::invalid(
                    "members",
                    format!("{member} cannot be a member of itself"),
                ));
            }
        }
        let opts = &self.options;
        if !opts.mode.has_data_plane() {
            let supported: Vec<&str> = Mode::ALL
                .into_iter()
                .filter(|m| m.has_data_plane())
                .map(Mode::name)
                .collect();
            return Err(Error::invalid(
                "mode",
                format!(
                    "{} ({}) is not supported yet; supported: {}",
                    opts.mode.name(),
                    opts.mode as u32,
                    supported.join(", ")
                ),
            ));
        }
        if opts.packets_per_slave > 65535 {
            return Err(Error::invalid(
                "packets_per_slave",
                format!("{} is out of range 0-65535", opts.packets_per_slave),
            ));
        }
        if let Some(primary) = &opts.primary {
            if !opts.mode.uses_active() {
                return Err(Error::invalid(
                    "primary",
                    format!(
                        "only meaningful in active-backup mode, not {}",
                        opts.mode.name()
                    ),
                ));
            }
            if !self.members.contains(primary) {
                return Err(Error::invalid(
                    "primary",
                    format!("{primary} is not one of the members"),
                ));
            }
        }
        validate_monitor(&opts.monitor)?;
        validate_balance(&opts.balance, &self.members)?;
        validate_forward(self)?;
        match (opts.mode, &opts.select_program) {
            (Mode::Custom, None) => {
                return Err(Error::invalid(
                    "select_program",
                    "--mode custom needs --select-program FILE.o[:PROGRAM] (see docs/modes.md)",
                ));
            }
            (Mode::Custom, Some(_)) => {}
            (mode, Some(_)) => {
                return Err(Error::invalid(
                    "select_program",
                    format!("only meaningful in custom mode, not {}", mode.name()),
                ));
            }
            (_, None) => {}
        }
        if opts.mode.is_multi_uplink() {
            validate_multi_wan(&opts.multi_wan, &self.members)?;
            if opts.keep_member_macs || opts.mac.is_some() || opts.min_links > 1 {
                return Err(Error::invalid(
                    "option",
                    "keep_member_macs, mac and min_links do not apply to multi-wan (uplinks \
                     keep their own addresses and MACs)",
                ));
            }
        }
        if opts.min_links as usize > self.members.len() {
            return Err(Error::invalid(
                "min_links",
                format!(
                    "{} is more than the bond's {} members",
                    opts.min_links,
                    self.members.len()
                ),
            ));
        }
        if let Some(mac) = opts.mac
            && (mac[0] & 1 == 1 || mac == [0; 6])
        {
            return Err(Error::invalid(
                "mac",
                format!("{} is not a unicast address", format_mac(&mac)),
            ));
        }
        Ok(())
    }
}

/// Checks `forward_from` against the bond (interfaces that exist are checked by `up`).
pub fn validate_forward(spec: &BondSpec) -> Result<()> {
    let f = &spec.options.forward_from;
    if f.is_empty() {
        return Ok(());
    }
    if !bondxdp_common::forward::accelerates(spec.options.mode) {
        return Err(Error::invalid(
            "forward_from",
            format!(
                "{} has no XDP fast path (the link-aggregation modes and balance-tlb/load-aware \
                 do; multi-wan forwards for a LAN through its tc path already)",
                spec.options.mode.name()
            ),
        ));
    }
    if f.len() > MAX_FORWARD {
        return Err(Error::invalid(
            "forward_from",
            format!("at most {MAX_FORWARD} interfaces, got {}", f.len()),
        ));
    }
    for (i, iface) in f.iter().enumerate() {
        if f[..i].contains(iface) {
            return Err(Error::invalid(
                "forward_from",
                format!("{iface} is given twice"),
            ));
        }
        if spec.members.contains(iface) || *iface == spec.name {
            return Err(Error::invalid(
                "forward_from",
                format!(
                    "{iface} is part of {} itself; name the LAN-side interfaces whose routed \
                     traffic goes out through the bond",
                    spec.name
                ),
            ));
        }
    }
    Ok(())
}

/// Checks an interface name the way the kernel does (`dev_valid_name`).
pub fn validate_ifname(what: &str, name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(what, format!("{name:?} {why}")));
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > 15 {
        return bad("is longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("is not a valid interface name");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return bad("contains '/', ':' or whitespace");
    }
    Ok(())
}

/// Checks link monitoring options.
pub fn validate_monitor(m: &MonitorOptions) -> Result<()> {
    if m.arp_ip_targets.len() > MAX_TARGETS {
        return Err(Error::invalid(
            "arp_ip_target",
            format!(
                "at most {MAX_TARGETS} targets, got {}",
                m.arp_ip_targets.len()
            ),
        ));
    }
    if m.ns_ip6_targets.len() > MAX_TARGETS {
        return Err(Error::invalid(
            "ns_ip6_target",
            format!(
                "at most {MAX_TARGETS} targets, got {}",
                m.ns_ip6_targets.len()
            ),
        ));
    }
    if m.arp_interval > 0 && m.arp_ip_targets.is_empty() && m.ns_ip6_targets.is_empty() {
        return Err(Error::invalid(
            "arp_interval",
            "ARP monitoring needs at least one arp_ip_target or ns_ip6_target",
        ));
    }
    if m.arp_missed_max == 0 || m.arp_missed_max > 255 {
        return Err(Error::invalid(
            "arp_missed_max",
            format!("{} is out of range 1-255", m.arp_missed_max),
        ));
    }
    for (name, v) in [
        ("miimon", m.miimon),
        ("updelay", m.updelay),
        ("downdelay", m.downdelay),
        ("arp_interval", m.arp_interval),
    ] {
        if v > 3_600_000 {
            return Err(Error::invalid(
                name,
                format!("{v} ms is out of range 0-3600000"),
            ));
        }
    }
    if m.num_grat_arp > 255 {
        return Err(Error::invalid(
            "num_grat_arp",
            format!("{} is out of range 0-255", m.num_grat_arp),
        ));
    }
    Ok(())
}

/// Option keys `set_option` understands (kernel names, plus bondxdp's own).
pub const OPTION_KEYS: &[&str] = &[
    "mode",
    "xmit_hash_policy",
    "packets_per_slave",
    "primary",
    "primary_reselect",
    "all_slaves_active",
    "keep_member_macs",
    "mac",
    "min_links",
    "miimon",
    "updelay",
    "downdelay",
    "arp_interval",
    "arp_ip_target",
    "ns_ip6_target",
    "arp_validate",
    "arp_all_targets",
    "arp_missed_max",
    "num_grat_arp",
    "num_unsol_na",
    "link_events",
    "gateway",
    "weight",
    "speed",
    "flowlet_timeout",
    "select_program",
    "forward_from",
    "rebalance_interval",
    "probe",
    "probe_interval",
    "probe_timeout",
    "probe_failure_interval",
    "probe_down",
    "probe_up",
    "probe_max_rtt",
    "sticky",
    "address",
    "default_route",
    "reset_on_failover",
    "max_flows",
    "nat_ports",
    "lacp_rate",
    "lacp_active",
    "ad_select",
    "ad_actor_sys_prio",
    "ad_user_port_key",
    "ad_actor_system",
];

/// Sets one option from its kernel name and a textual value (`miimon`, `"100"`). Lists are
/// comma-separated; booleans accept 1/0, on/off, true/false, yes/no; `primary=""` clears it.
pub fn set_option(opts: &mut BondOptions, key: &str, value: &str) -> Result<()> {
    let value = value.trim();
    let m = &mut opts.monitor;
    match key.replace('-', "_").as_str() {
        "mode" => opts.mode = parse_mode(value)?,
        "xmit_hash_policy" => opts.xmit_hash_policy = parse_hash_policy(value)?,
        "packets_per_slave" => opts.packets_per_slave = parse_u32(key, value)?,
        "primary" => {
            opts.primary = if value.is_empty() {
                None
            } else {
                validate_ifname("primary", value)?;
                Some(value.to_string())
            }
        }
        "primary_reselect" => {
            m.primary_reselect = match value {
                "always" | "0" => PrimaryReselect::Always,
                "better" | "1" => PrimaryReselect::Better,
                "failure" | "2" => PrimaryReselect::Failure,
                _ => return Err(bad_choice(key, value, "always, better, failure")),
            }
        }
        "all_slaves_active" => opts.all_slaves_active = parse_bool(key, value)?,
        "keep_member_macs" => opts.keep_member_macs = parse_bool(key, value)?,
        "mac" => opts.mac = Some(parse_mac(value)?),
        "min_links" => opts.min_links = parse_u32(key, value)?,
        "miimon" => m.miimon = parse_u32(key, value)?,
        "updelay" => m.updelay = parse_u32(key, value)?,
        "downdelay" => m.downdelay = parse_u32(key, value)?,
        "arp_interval" => m.arp_interval = parse_u32(key, value)?,
        "arp_missed_max" => m.arp_missed_max = parse_u32(key, value)?,
        "num_grat_arp" | "num_unsol_na" => m.num_grat_arp = parse_u32(key, value)?,
        "link_events" => m.link_events = parse_bool(key, value)?,
        "gateway" => {
            opts.multi_wan.gateways = parse_list(value, |s| {
                let (m, ip) = parse_member_value("gateway", s)?;
                let ip: IpAddr = ip.parse().map_err(|_| {
                    Error::invalid("gateway", format!("{ip:?} is not an IP address"))
                })?;
                Ok((m, ip))
            })?
        }
        "weight" | "speed" => {
            let list = parse_list(value, |s| {
                let (m, v) = parse_member_value(key, s)?;
                Ok((m, parse_u32(key, &v)?))
            })?;
            match key {
                "weight" => opts.balance.weights = list,
                _ => opts.balance.speeds = list,
            }
        }
        k if k.starts_with("weight.") || k.starts_with("speed.") => {
            let (what, member) = k.split_once('.').expect("checked");
            validate_ifname(what, member)?;
            let v = parse_u32(what, value)?;
            let list = match what {
                "weight" => &mut opts.balance.weights,
                _ => &mut opts.balance.speeds,
            };
            list.retain(|(m, _)| m != member);
            list.push((member.to_string(), v));
        }
        "flowlet_timeout" => opts.balance.flowlet_timeout = parse_u32(key, value)?,
        "forward_from" => {
            opts.forward_from = parse_list(value, |s| {
                validate_ifname("forward_from", s)?;
                Ok(s.to_string())
            })?
        }
        "select_program" => {
            opts.select_program = match value {
                "" => None,
                v if v.len() >= SELECT_PROGRAM_MAX => {
                    return Err(Error::invalid(
                        "select_program",
                        format!("{v:?} is longer than {} bytes", SELECT_PROGRAM_MAX - 1),
                    ));
                }
                v => Some(v.to_string()),
            }
        }
        "rebalance_interval" => opts.balance.rebalance_interval = parse_u32(key, value)?,
        "probe" => opts.multi_wan.probes = parse_list(value, str::parse)?,
        "probe_interval" => opts.multi_wan.probe_interval = parse_u32(key, value)?,
        "probe_timeout" => opts.multi_wan.probe_timeout = parse_u32(key, value)?,
        "probe_failure_interval" => opts.multi_wan.probe_failure_interval = parse_u32(key, value)?,
        "probe_down" => opts.multi_wan.probe_down = parse_u32(key, value)?,
        "probe_up" => opts.multi_wan.probe_up = parse_u32(key, value)?,
        "probe_max_rtt" => opts.multi_wan.probe_max_rtt = parse_u32(key, value)?,
        "sticky" => {
            opts.multi_wan.sticky = match value {
                "flow" => Sticky::Flow,
                "host" => Sticky::Host,
                _ => return Err(bad_choice(key, value, "flow, host")),
            }
        }
        "address" => opts.multi_wan.addresses = parse_list(value, str::parse)?,
        "default_route" => opts.multi_wan.default_route = parse_bool(key, value)?,
        "reset_on_failover" => opts.multi_wan.reset_on_failover = parse_bool(key, value)?,
        "max_flows" => opts.multi_wan.max_flows = parse_u32(key, value)?,
        "nat_ports" => {
            let bad = || Error::invalid("nat_ports", format!("{value:?} is not MIN-MAX"));
            let (lo, hi) = value.split_once('-').ok_or_else(bad)?;
            opts.multi_wan.nat_ports = (
                lo.trim().parse().map_err(|_| bad())?,
                hi.trim().parse().map_err(|_| bad())?,
            );
        }
        "lacp_rate" => {
            opts.lacp.fast = match value {
                "slow" | "0" => false,
                "fast" | "1" => true,
                _ => return Err(bad_choice(key, value, "slow, fast")),
            }
        }
        "lacp_active" => opts.lacp.active = parse_bool(key, value)?,
        "ad_select" => {
            opts.lacp.ad_select = AdSelect::parse(value)
                .ok_or_else(|| bad_choice(key, value, "stable, bandwidth, count"))?
        }
        "ad_actor_sys_prio" => {
            opts.lacp.system_priority = parse_in_range(key, value, 1, 65535)? as u16
        }
        "ad_user_port_key" => {
            opts.lacp.user_port_key = parse_in_range(key, value, 0, MAX_USER_KEY as u32)? as u16
        }
        "ad_actor_system" => {
            let mac = parse_mac(value).map_err(|_| {
                Error::invalid(
                    key,
                    format!("{value:?} is not of the form aa:bb:cc:dd:ee:ff"),
                )
            })?;
            if mac[0] & 1 == 1 {
                return Err(Error::invalid(
                    key,
                    format!("{value} is a multicast address"),
                ));
            }
            // All zeros is the kernel's "use the bond's MAC".
            opts.lacp.actor_system = (mac != [0; 6]).then_some(mac);
        }
        "arp_ip_target" => {
            m.arp_ip_targets = parse_list(value, |s| {
                s.parse::<Ipv4Addr>().map_err(|_| {
                    Error::invalid("arp_ip_target", format!("{s:?} is not an IPv4 address"))
                })
            })?
        }
        "ns_ip6_target" => {
            m.ns_ip6_targets = parse_list(value, |s| {
                s.parse::<Ipv6Addr>().map_err(|_| {
                    Error::invalid("ns_ip6_target", format!("{s:?} is not an IPv6 address"))
                })
            })?
        }
        "arp_validate" => {
            m.arp_validate = match value {
                "none" | "0" => ArpValidate::None,
                "active" | "1" => ArpValidate::Active,
                "backup" | "2" => ArpValidate::Backup,
                "all" | "3" => ArpValidate::All,
                _ => return Err(bad_choice(key, value, "none, active, backup, all")),
            }
        }
        "arp_all_targets" => {
            m.arp_all_targets = match value {
                "any" | "0" => ArpAllTargets::Any,
                "all" | "1" => ArpAllTargets::All,
                _ => return Err(bad_choice(key, value, "any, all")),
            }
        }
        _ => {
            return Err(Error::invalid(
                "option",
                format!("unknown option {key:?}; known: {}", OPTION_KEYS.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Splits `IF=VALUE`.
fn parse_member_value(key: &str, s: &str) -> Result<(String, String)> {
    let (m, v) = s
        .split_once('=')
        .ok_or_else(|| Error::invalid(key, format!("{s:?} is not MEMBER=VALUE")))?;
    validate_ifname(key, m.trim())?;
    Ok((m.trim().to_string(), v.trim().to_string()))
}

fn bad_choice(key: &str, value: &str, choices: &str) -> Error {
    Error::invalid(key, format!("{value:?}; expected one of {choices}"))
}

fn parse_u32(key: &str, value: &str) -> Result<u32> {
    value
        .parse()
        .map_err(|_| Error::invalid(key, format!("{value:?} is not a non-negative integer")))
}

/// Parses an integer and checks it is in `min..=max`.
fn parse_in_range(key: &str, value: &str, min: u32, max: u32) -> Result<u32> {
    let v = parse_u32(key, value)?;
    if v < min || v > max {
        return Err(Error::invalid(
            key,
            format!("{v} is out of range {min}-{max}"),
        ));
    }
    Ok(v)
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "1" | "on" | "true" | "yes" => Ok(true),
        "0" | "off" | "false" | "no" => Ok(false),
        _ => Err(bad_choice(key, value, "1/0, on/off, true/false, yes/no")),
    }
}

fn parse_list<T>(value: &str, parse: impl Fn(&str) -> Result<T>) -> Result<Vec<T>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse)
        .collect()
}

/// An address with its prefix length (`192.0.2.10/24`, `2001:db8::1/64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpCidr {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl std::str::FromStr for IpCidr {
    type Err = Error;
    fn from_str(s: &str) -> Result<IpCidr> {
        let bad = || Error::invalid("address", format!("{s:?} is not ADDRESS/PREFIX"));
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(IpCidr { addr, prefix })
    }
}

impl IpCidr {
    /// Whether `ip` is in this subnet.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - self.prefix.min(32) as u32)
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(*a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - self.prefix.min(128) as u32)
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(*a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for IpCidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One bond of a config file: what to create and the addresses to give it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondEntry {
    /// The bond.
    pub spec: BondSpec,
    /// Addresses for the bond interface.
    pub addresses: Vec<IpCidr>,
}

/// A parsed and validated config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigFile {
    /// Its bonds.
    pub bonds: Vec<BondEntry>,
    /// Warnings (rounded delays).
    pub warnings: Vec<String>,
}

/// Reads and validates a config file.
pub fn load_config_file(path: &Path) -> Result<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut file = parse_config(&text).map_err(|e| match e {
        Error::InvalidOption { what, message } => Error::InvalidOption {
            what: format!("{} in {}", what, path.display()),
            message,
        },
        other => other,
    })?;
    // Selection programs named relative to the file, not to wherever the controller runs.
    let dir = path.parent().unwrap_or(Path::new("."));
    for bond in &mut file.bonds {
        if let Some(program) = &mut bond.spec.options.select_program
            && Path::new(program.as_str()).is_relative()
        {
            *program = dir.join(program.as_str()).to_string_lossy().into_owned();
        }
    }
    Ok(file)
}

/// Parses a config file's text: `[[bond]]` tables with `name`, `members`, optional
/// `addresses`, and any option of [`OPTION_KEYS`].
pub fn parse_config(text: &str) -> Result<ConfigFile> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| Error::invalid("TOML", e.to_string().trim().to_string()))?;
    let mut file = ConfigFile::default();
    for (key, value) in &table {
        if key != "bond" {
            return Err(Error::invalid(
                "config",
                format!("unknown top-level key {key:?}"),
            ));
        }
        let bonds = value.as_array().ok_or_else(|| {
            Error::invalid("config", "`bond` must be an array of tables: [[bond]]")
        })?;
        for bond in bonds {
            let bond = bond
                .as_table()
                .ok_or_else(|| Error::invalid("config", "each [[bond]] must be a table"))?;
            file.bonds.push(parse_bond(bond, &mut file.warnings)?);
        }
    }
    for (i, a) in file.bonds.iter().enumerate() {
        for b in &file.bonds[..i] {
            if a.spec.name == b.spec.name {
                return Err(Error::invalid(
                    "config",
                    format!("bond {} is defined twice", a.spec.name),
                ));
            }
            if let Some(m) = a.spec.members.iter().find(|m| b.spec.members.contains(m)) {
                return Err(Error::invalid(
                    "config",
                    format!(
                        "{m} is a member of both {} and {}",
                        b.spec.name, a.spec.name
                    ),
                ));
            }
        }
    }
    Ok(file)
}

fn parse_bond(t: &toml::Table, warnings: &mut Vec<String>) -> Result<BondEntry> {
    let name = t
        .get("name")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::invalid("config", "every [[bond]] needs name = \"...\""))?
        .to_string();
    let ctx = |e: Error| match e {
        Error::InvalidOption { what, message } => Error::InvalidOption {
            what: format!("{what} of bond {name}"),
            message,
        },
        other => other,
    };
    let strings = |key: &str| -> Result<Vec<String>> {
        match t.get(key) {
            None => Ok(Vec::new()),
            Some(v) => v
                .as_array()
                .and_then(|a| a.iter().map(|x| x.as_str().map(String::from)).collect())
                .ok_or_else(|| Error::invalid(key, "must be a list of strings")),
        }
    };
    let members = strings("members").map_err(ctx)?;
    let addresses = strings("addresses")
        .map_err(ctx)?
        .iter()
        .map(|a| a.parse::<IpCidr>())
        .collect::<Result<Vec<_>>>()
        .map_err(ctx)?;
    let mut spec = BondSpec {
        name: name.clone(),
        members,
        options: BondOptions::default(),
    };
    for (key, value) in t {
        if matches!(key.as_str(), "name" | "members" | "addresses") {
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(a) => a
                .iter()
                .map(|x| match x {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Ok(other.to_string()),
                })
                .collect::<Result<Vec<_>>>()?
                .join(","),
            other => {
                return Err(ctx(Error::invalid(
                    key,
                    format!("unsupported value {other}"),
                )));
            }
        };
        set_option(&mut spec.options, key, &text).map_err(ctx)?;
    }
    warnings.extend(
        spec.normalize()
            .into_iter()
            .map(|w| format!("bond {name}: {w}")),
    );
    spec.validate()?;
    Ok(BondEntry { spec, addresses })
}

/// Parses a mode name or kernel number.
pub fn parse_mode(s: &str) -> Result<Mode> {
    Mode::parse(s).ok_or_else(|| {
        Error::invalid(
            "mode",
            format!(
                "{s:?}; expected one of {} or 0-6",
                Mode::ALL.map(|m| m.name()).join(", ")
            ),
        )
    })
}

/// Parses a hash policy name or kernel number.
pub fn parse_hash_policy(s: &str) -> Result<HashPolicy> {
    HashPolicy::parse(s).ok_or_else(|| {
        Error::invalid(
            "xmit_hash_policy",
            format!(
                "{s:?}; expected one of {} or 0-5",
                HashPolicy::ALL.map(|p| p.name()).join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(members: &[&str]) -> BondSpec {
        BondSpec {
            name: "bond0".into(),
            members: members.iter().map(|s| s.to_string()).collect(),
            options: BondOptions::default(),
        }
    }

    fn err(spec: BondSpec) -> String {
        spec.validate().unwrap_err().to_string()
    }

    #[test]
    fn valid_spec() {
        spec(&["eth0", "eth1"]).validate().unwrap();
    }

    #[test]
    fn member_list_errors() {
        assert!(err(spec(&[])).contains("at least one"));
        assert!(err(spec(&["eth0", "eth0"])).contains("given twice"));
        assert!(err(spec(&["bond0"])).contains("member of itself"));
        let many: Vec<String> = (0..17).map(|i| format!("eth{i}")).collect();
        let refs: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        assert!(err(spec(&refs)).contains("at most 16"));
    }

    #[test]
    fn name_errors() {
        let mut s = spec(&["eth0"]);
        s.name = "a-name-that-is-too-long".into();
        assert!(err(s.clone()).contains("longer than 15"));
        s.name = "bad/name".into();
        assert!(err(s.clone()).contains("contains"));
        s.name = String::new();
        assert!(err(s).contains("empty"));
    }

    #[test]
    fn option_errors() {
        let mut s = spec(&["eth0", "eth1"]);
        s.options.mode = Mode::BalanceAlb;
        assert!(err(s.clone()).contains("not supported yet"));
        s.options.mode = Mode::BalanceRr;
        s.options.packets_per_slave = 65536;
        assert!(err(s.clone()).contains("out of range"));
        s.options.packets_per_slave = 1;
        s.options.primary = Some("eth1".into());
        assert!(err(s.clone()).contains("only meaningful in active-backup"));
        s.options.mode = Mode::ActiveBackup;
        s.validate().unwrap();
        s.options.primary = Some("eth9".into());
        assert!(err(s.clone()).contains("not one of the members"));
        s.options.primary = None;
        s.options.mac = Some([1, 0, 0, 0, 0, 1]);
        assert!(err(s).contains("not a unicast"));
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_mode("balance-xor").unwrap(), Mode::BalanceXor);
        assert_eq!(parse_mode("3").unwrap(), Mode::Broadcast);
        assert!(
            parse_mode("fastest")
                .unwrap_err()
                .to_string()
                .contains("expected one of")
        );
        assert_eq!(parse_hash_policy("layer3+4").unwrap(), HashPolicy::Layer34);
        assert!(parse_hash_policy("layer9").is_err());
    }

    #[test]
    fn set_option_accepts_kernel_names_and_values() {
        let mut o = BondOptions::default();
        for (k, v) in [
            ("mode", "active-backup"),
            ("miimon", "50"),
            ("updelay", "100"),
            ("downdelay", "150"),
            ("arp_interval", "10"),
            ("arp_ip_target", "198.18.0.2, 198.18.0.3"),
            ("ns_ip6_target", "2001:db8::2"),
            ("arp_validate", "all"),
            ("arp_all_targets", "all"),
            ("primary_reselect", "failure"),
            ("num_grat_arp", "3"),
            ("min_links", "1"),
            ("link-events", "off"),
            ("all_slaves_active", "1"),
        ] {
            set_option(&mut o, k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
        }
        let m = &o.monitor;
        assert_eq!(
            (m.miimon, m.updelay, m.downdelay, m.arp_interval),
            (50, 100, 150, 10)
        );
        assert_eq!(m.arp_ip_targets.len(), 2);
        assert_eq!(m.arp_validate, ArpValidate::All);
        assert_eq!(m.arp_all_targets, ArpAllTargets::All);
        assert_eq!(m.primary_reselect, PrimaryReselect::Failure);
        assert!(!m.link_events && o.all_slaves_active);
        // What is pinned comes back unchanged.
        assert_eq!(&MonitorOptions::from_pinned(&m.to_pinned()), m);
    }

    #[test]
    fn set_option_refuses_bad_values() {
        let mut o = BondOptions::default();
        for (k, v, needle) in [
            ("miimon", "-5", "not a non-negative integer"),
            ("arp_ip_target", "198.18.0.300", "not an IPv4 address"),
            ("ns_ip6_target", "198.18.0.1", "not an IPv6 address"),
            ("arp_validate", "some", "expected one of"),
            ("primary_reselect", "sometimes", "expected one of"),
            ("all_slaves_active", "maybe", "expected one of"),
            ("speed", "1000", "MEMBER=VALUE"),
            ("speeed", "1000", "unknown option"),
            ("weight.eth0", "heavy", "not a non-negative integer"),
        ] {
            let e = set_option(&mut o, k, v).unwrap_err().to_string();
            assert!(e.contains(needle), "{k}={v}: {e}");
        }
    }

    #[test]
    fn lacp_options_take_kernel_names_and_survive_pinning() {
        let mut o = BondOptions::default();
        assert_eq!(
            o.lacp,
            LacpOptions {
                fast: false,
                active: true,
                ad_select: AdSelect::Stable,
                system_priority: 65535,
                user_port_key: 0,
                actor_system: None,
            },
            "the kernel's defaults"
        );
        for (k, v) in [
            ("mode", "4"),
            ("lacp_rate", "fast"),
            ("lacp-active", "off"),
            ("ad_select", "count"),
            ("ad_actor_sys_prio", "100"),
            ("ad_user_port_key", "1023"),
            ("ad_actor_system", "02:00:5e:00:00:09"),
        ] {
            set_option(&mut o, k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
        }
        assert_eq!(o.mode, Mode::Ieee8023ad);
        let l = o.lacp;
        assert!(l.fast && !l.active);
        assert_eq!(l.ad_select, AdSelect::Count);
        assert_eq!((l.system_priority, l.user_port_key), (100, 1023));
        assert_eq!(l.actor_system, Some([2, 0, 0x5e, 0, 0, 9]));
        // Pinned and read back unchanged, without touching the controller's part.
        let mut r = LacpRecord {
            active_aggregator: 3,
            ..LacpRecord::default()
        };
        l.write_pinned(&mut r);
        assert_eq!(LacpOptions::from_pinned(&r), l);
        assert_eq!(r.active_aggregator, 3);
        // Numbers as the kernel takes them; zeros mean "the bond's MAC".
        set_option(&mut o, "lacp_rate", "0").unwrap();
        set_option(&mut o, "ad_select", "1").unwrap();
        set_option(&mut o, "ad_actor_system", "00:00:00:00:00:00").unwrap();
        assert!(!o.lacp.fast);
        assert_eq!(o.lacp.ad_select, AdSelect::Bandwidth);
        assert_eq!(o.lacp.actor_system, None);
        for (k, v, needle) in [
            ("lacp_rate", "medium", "expected one of slow, fast"),
            ("lacp_active", "sometimes", "expected one of"),
            (
                "ad_select",
                "fastest",
                "expected one of stable, bandwidth, count",
            ),
            ("ad_actor_sys_prio", "0", "out of range 1-65535"),
            ("ad_actor_sys_prio", "65536", "out of range 1-65535"),
            ("ad_user_port_key", "1024", "out of range 0-1023"),
            ("ad_actor_system", "01:80:c2:00:00:02", "multicast"),
            ("ad_actor_system", "02:00", "aa:bb:cc:dd:ee:ff"),
        ] {
            let e = set_option(&mut o, k, v).unwrap_err().to_string();
            assert!(e.contains(needle), "{k}={v}: {e}");
        }
        // Outside 802.3ad they are kept, with a warning.
        let mut s = spec(&["eth0", "eth1"]);
        s.validate().unwrap();
        assert!(s.normalize().is_empty());
        set_option(&mut s.options, "lacp_rate", "fast").unwrap();
        let w = s.normalize();
        assert!(w[0].contains("only act in 802.3ad"), "{w:?}");
        set_option(&mut s.options, "mode", "802.3ad").unwrap();
        assert!(s.normalize().is_empty());
        s.validate().unwrap();
        // And from a config file.
        let f = parse_config(
            "[[bond]]\nname = \"b\"\nmembers = [\"e0\", \"e1\"]\nmode = \"802.3ad\"\n\
             lacp_rate = \"fast\"\nad_select = \"bandwidth\"\nxmit_hash_policy = \"layer3+4\"\n\
             min_links = 2\n",
        )
        .unwrap();
        let o = &f.bonds[0].spec.options;
        assert_eq!(o.mode, Mode::Ieee8023ad);
        assert!(o.lacp.fast);
        assert_eq!(o.lacp.ad_select, AdSelect::Bandwidth);
        assert_eq!(o.xmit_hash_policy, HashPolicy::Layer34);
        assert_eq!(o.min_links, 2);
    }

    #[test]
    fn delays_round_down_to_miimon_multiples_with_a_warning() {
        let mut s = spec(&["eth0"]);
        s.options.monitor.miimon = 100;
        s.options.monitor.updelay = 250;
        s.options.monitor.downdelay = 300;
        let w = s.normalize();
        assert_eq!(
            (s.options.monitor.updelay, s.options.monitor.downdelay),
            (200, 300)
        );
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("rounded to 200"), "{w:?}");
    }

    #[test]
    fn monitor_validation() {
        let mut s = spec(&["eth0", "eth1"]);
        s.options.monitor.arp_interval = 10;
        assert!(err(s.clone()).contains("needs at least one arp_ip_target"));
        s.options.monitor.arp_ip_targets = vec![Ipv4Addr::new(198, 18, 0, 2); 17];
        assert!(err(s.clone()).contains("at most 16"));
        s.options.monitor.arp_ip_targets.truncate(1);
        s.validate().unwrap();
        s.options.min_links = 3;
        assert!(err(s).contains("more than the bond's 2 members"));
    }

    #[test]
    fn custom_mode_needs_its_program_and_only_it_takes_one() {
        let mut s = spec(&["eth1", "eth2"]);
        set_option(&mut s.options, "mode", "custom").unwrap();
        assert!(err(s.clone()).contains("needs --select-program"));
        set_option(&mut s.options, "select-program", "sel.o:weighted_hash").unwrap();
        s.validate().unwrap();
        set_option(&mut s.options, "mode", "balance-xor").unwrap();
        assert!(err(s.clone()).contains("only meaningful in custom mode"));
        let long = "x".repeat(SELECT_PROGRAM_MAX);
        assert!(set_option(&mut s.options, "select_program", &long).is_err());
        // Relative to the config file's directory.
        let dir = std::env::temp_dir().join(format!("bondxdp-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("b.toml");
        std::fs::write(
            &file,
            "[[bond]]\nname = \"bond0\"\nmembers = [\"eth1\"]\nmode = \"custom\"\n\
             select_program = \"progs/sel.o:weighted_hash\"\n",
        )
        .unwrap();
        let parsed = load_config_file(&file).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            parsed.bonds[0].spec.options.select_program.as_deref(),
            Some(dir.join("progs/sel.o:weighted_hash").to_str().unwrap())
        );
    }

    #[test]
    fn config_file_parses_bonds_and_refuses_mistakes() {
        let good = r#"
            [[bond]]
            name = "bond0"
            members = ["eth1", "eth2"]
            addresses = ["198.18.0.1/24", "2001:db8::1/64"]
            mode = "active-backup"
            primary = "eth1"
            miimon = 100
            updelay = 250
            arp_ip_target = ["198.18.0.254"]
            arp_interval = 10
            num_grat_arp = 2

            [[bond]]
            name = "bond1"
            members = ["eth3"]
            mode = 2
            xmit_hash_policy = "layer3+4"
        "#;
        let f = parse_config(good).unwrap();
        assert_eq!(f.bonds.len(), 2);
        let b0 = &f.bonds[0];
        assert_eq!(b0.spec.options.mode, Mode::ActiveBackup);
        assert_eq!(b0.spec.options.monitor.updelay, 200);
        assert_eq!(b0.addresses[1].to_string(), "2001:db8::1/64");
        assert_eq!(f.warnings.len(), 1);
        assert_eq!(
            f.bonds[1].spec.options.xmit_hash_policy,
            HashPolicy::Layer34
        );

        for (text, needle) in [
            ("[[bond]\nname = \"x\"", "TOML"),
            (
                "[[bond]]\nname = \"b\"\nmembers = [\"e\"]\nmode = 0\nspeeed = 1",
                "unknown option \"speeed\"",
            ),
            ("[[bond]]\nmembers = [\"e\"]", "needs name"),
            ("[[bond]]\nname = \"b\"\nmembers = []", "at least one"),
            (
                "[[bond]]\nname = \"b\"\nmembers = [\"e\"]\narp_ip_target = [\"x\"]",
                "not an IPv4 address",
            ),
            (
                "[[bond]]\nname = \"b\"\nmembers = [\"e\"]\naddresses = [\"1.2.3.4\"]",
                "ADDRESS/PREFIX",
            ),
            (
                "[[bond]]\nname = \"a\"\nmembers = [\"e\"]\n[[bond]]\nname = \"b\"\nmembers = [\"e\"]",
                "member of both a and b",
            ),
            ("bonds = 1", "unknown top-level key"),
        ] {
            let e = parse_config(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}

#[cfg(test)]
mod multi_wan_tests {
    use super::*;

    #[test]
    fn multi_wan_options_come_from_the_config_file_and_survive_pinning() {
        let text = r#"
            [[bond]]
            name = "wan0"
            members = ["eth0", "wlan0", "wwan0"]
            mode = "multi-wan"
            probe = ["198.18.1.1", "tcp:198.18.1.2:443", "tcp:[2001:db8::53]:53"]
            weight = ["eth0=3", "wlan0=1"]
            gateway = ["eth0=198.18.10.1", "eth0=2001:db8:10::1"]
            sticky = "host"
            reset_on_failover = true
            address = ["192.0.0.8/32", "2001:db8:1::1/128"]
            probe_interval = 200
            nat_ports = "2000-60000"
            max_flows = 4096
        "#;
        let f = parse_config(text).unwrap();
        let spec = &f.bonds[0].spec;
        let w = &spec.options.multi_wan;
        assert_eq!(spec.options.mode, Mode::MultiWan);
        assert_eq!(w.probes.len(), 3);
        assert_eq!(w.probes[1].tcp_port, Some(443));
        assert_eq!(w.probes[2].to_string(), "tcp:[2001:db8::53]:53");
        assert_eq!(
            spec.options.balance.weights,
            vec![("eth0".into(), 3), ("wlan0".into(), 1)]
        );
        assert_eq!(
            (w.sticky, w.reset_on_failover, w.nat_ports),
            (Sticky::Host, true, (2000, 60000))
        );
        // Pinned by slot and back, unchanged.
        let slots: Vec<Option<String>> = spec.members.iter().cloned().map(Some).collect();
        let back = MultiWanOptions::from_pinned(&w.to_pinned(&slots), &slots);
        assert_eq!(&back, w);
        // `set weight.IF=N` adds or replaces one weight.
        let mut opts = spec.options.clone();
        set_option(&mut opts, "weight.wwan0", "2").unwrap();
        set_option(&mut opts, "weight.eth0", "5").unwrap();
        assert!(opts.balance.weights.contains(&("wwan0".into(), 2)));
        assert!(opts.balance.weights.contains(&("eth0".into(), 5)));
        assert!(!opts.balance.weights.contains(&("eth0".into(), 3)));
        // Bad ones, with the line to fix.
        for (bad, needle) in [
            (
                "gateway = [\"eth9=198.18.10.1\"]",
                "eth9 is not one of the members",
            ),
            ("gateway = [\"eth0\"]", "MEMBER=VALUE"),
            ("probe = [\"nowhere\"]", "tcp:ADDRESS:PORT"),
            ("nat_ports = \"60000-2000\"", "not a range"),
            (
                "address = [\"192.0.0.8/32\", \"192.0.0.9/32\"]",
                "one address per family",
            ),
        ] {
            let t = format!(
                "[[bond]]\nname = \"w\"\nmembers = [\"eth0\"]\nmode = \"multi-wan\"\n{bad}\n"
            );
            let e = parse_config(&t).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
