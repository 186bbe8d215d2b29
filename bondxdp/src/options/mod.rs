//! What a bond is asked to be: its name, members and options, validated before anything on
//! the host is touched. Option names and values follow the kernel bonding driver.
//!
//! * this file: the option model ([`BondOptions`] and its parts) and [`BondSpec`];
//! * [`table`]: one row per option; [`set_option`] (the command line, `bondxdp set` and the
//!   TOML config file alike, so all three accept and refuse the same things with the same
//!   messages), `up`'s flags and the option reference are made from it;
//! * `validate`: the checks a bond's options pass before anything changes;
//! * `file`: the TOML config file;
//! * `pinned`: the one place that converts options to and from the pinned records.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
};

use bondxdp_common::{
    HashPolicy, MAX_MEMBERS, Mode,
    modes::active_backup::PrimaryReselect,
    records::{
        BalanceRecord, FAIL_OVER_MAC_ACTIVE, FAIL_OVER_MAC_FOLLOW, FAIL_OVER_MAC_NONE,
        LACP_DECOUPLED, LACP_PASSIVE, LACP_RATE_FAST, LACP_STRICT, LacpRecord, MAX_FORWARD,
        MAX_TARGETS, MWAN_NO_DEFAULT_ROUTE, MWAN_RESET_ON_FAILOVER, MWAN_STICKY_HOST,
        MonitorConfig, MultiWanRecord, TC_ATTACH_LEGACY, TC_ATTACH_TCX,
    },
};

use crate::{
    error::{Error, Result},
    lacp::AdSelect,
    mac::format_mac,
};

mod file;
mod pinned;
pub mod table;
mod validate;

pub use file::{BondEntry, ConfigFile, load_config_file, parse_config};
pub use pinned::{forward_names, pinned_options, prio_slots, slot_names, write_actor_port_prios};
pub use table::{OPTIONS, OptionArgs, OptionSpec, set_option};
pub use validate::{
    validate_balance, validate_forward, validate_ifname, validate_monitor, validate_multi_wan,
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
    /// active-backup: which MACs move on a failover (`fail_over_mac`; not `none`: members
    /// keep their own MACs).
    pub fail_over_mac: FailOverMac,
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
    /// active-backup: member priorities (`prio`, kernel 6.0+; default 0): without a usable
    /// primary, the usable member of highest priority is the active one.
    pub prios: Vec<(String, i32)>,
    /// 802.3ad: member ports' priorities in our LACPDUs (`actor_port_prio`, kernel 6.18+;
    /// default 255), weighed by `ad_select actor_port_prio`.
    pub actor_port_prios: Vec<(String, u16)>,
    /// active-backup: make this member the active one now (`active_slave`); not kept: the
    /// bond's monitor goes on choosing from there.
    pub active_slave: Option<String>,
    /// How the tc programs are attached (`tc_attach`): tcx where the kernel has it, the
    /// clsact qdisc with cls_bpf filters otherwise, or either one forced. Set at `up`.
    pub tc_attach: TcAttach,
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
    /// Collecting and distributing switch together (`coupled_control 1`, the default) or
    /// separately, distributing only once the partner collects (`0`).
    pub coupled_control: bool,
    /// Carry nothing through an aggregator without partner (`lacp_strict on`); off (the
    /// default, as the kernel): one member carries traffic while nobody speaks LACP.
    pub strict: bool,
}

impl Default for LacpOptions {
    fn default() -> Self {
        LacpOptions::from_pinned(&LacpRecord::default())
    }
}

impl LacpOptions {
    /// `lacp_rate` as the kernel names it (`slow`, `fast`).
    pub fn rate_name(&self) -> &'static str {
        if self.fast { "fast" } else { "slow" }
    }

    /// `ad_select` as the kernel names it.
    pub fn ad_select_name(&self) -> &'static str {
        self.ad_select.name()
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
    /// Uplinks' tiers (`tier`, IF=N; default 0): new flows go to the lowest tier with an
    /// uplink up, higher tiers are backups. Kept in the data plane's configuration.
    pub tiers: Vec<(String, u8)>,
    /// Quality: probe loss above which an uplink takes no new flows, percent (`quality_loss`,
    /// default 20: probes and replies both lost count, so 5 % loss each way stays well under
    /// it while 20 % each way (36 % of probes) is far over; 0: off).
    pub quality_loss: u32,
    /// Quality: smoothed round trip above which it takes none, ms (`quality_rtt`, default 0:
    /// off).
    pub quality_rtt: u32,
    /// Quality: how long over a threshold before it is degraded, ms (`quality_hold`, 1000).
    pub quality_hold: u32,
    /// Quality: how long under the lower bands before it recovers, ms (`quality_recover`,
    /// 10000).
    pub quality_recover: u32,
}

/// The bond's own IPv4 address when none is given (RFC 7600's IPv4 dummy address).
pub const DEFAULT_MWAN_ADDRESS: IpCidr = IpCidr {
    addr: IpAddr::V4(Ipv4Addr::new(192, 0, 0, 8)),
    prefix: 32,
};

impl Default for MultiWanOptions {
    fn default() -> Self {
        MultiWanOptions::from_pinned(&MultiWanRecord::default(), &[])
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
    /// balance-tlb/alb: transmit by load (`tlb_dynamic_lb=1`, the default) or by the
    /// `xmit_hash_policy` hash (0).
    pub tlb_dynamic_lb: bool,
    /// balance-tlb/alb: seconds between the learning packets each member sends
    /// (`lp_interval`, default 1).
    pub lp_interval: u32,
}

impl Default for BalanceOptions {
    fn default() -> Self {
        BalanceOptions {
            weights: Vec::new(),
            speeds: Vec::new(),
            flowlet_timeout: 20,
            rebalance_interval: 1000,
            tlb_dynamic_lb: true,
            lp_interval: 1,
        }
    }
}

impl BalanceOptions {}

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
    /// Nothing validated, but only ARP frames count as received traffic.
    Filter = 4,
    /// As `active`; only ARP frames count on the members not validated.
    FilterActive = 5,
    /// As `backup`; only ARP frames count on the members not validated.
    FilterBackup = 6,
}

impl ArpValidate {
    /// Whether a member in this role must hear validated probe traffic (kernel
    /// `slave_do_arp_validate`: bit 0 active, bit 1 backup).
    pub fn validates(self, active: bool) -> bool {
        let bits = self as u8;
        if active { bits & 1 != 0 } else { bits & 2 != 0 }
    }

    /// Whether only ARP frames count as received traffic on members not validated (kernel
    /// `slave_do_arp_validate_only`, the `filter` bit).
    pub fn arp_only(self) -> bool {
        self as u8 & 4 != 0
    }
}

/// The `fail_over_mac` policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailOverMac {
    /// Every member takes the bond's MAC.
    #[default]
    None,
    /// The bond takes the active member's MAC.
    Active,
    /// The active member takes the bond's MAC; the one it replaces takes its former MAC.
    Follow,
}

impl FailOverMac {
    /// Parses the kernel's names and numbers.
    pub fn parse(v: &str) -> Option<FailOverMac> {
        match v {
            "none" | "0" => Some(FailOverMac::None),
            "active" | "1" => Some(FailOverMac::Active),
            "follow" | "2" => Some(FailOverMac::Follow),
            _ => None,
        }
    }

    /// The kernel's name.
    pub fn name(self) -> &'static str {
        match self {
            FailOverMac::None => "none",
            FailOverMac::Active => "active",
            FailOverMac::Follow => "follow",
        }
    }

    /// As the pinned state records it.
    pub fn to_pinned(self) -> u8 {
        match self {
            FailOverMac::None => FAIL_OVER_MAC_NONE,
            FailOverMac::Active => FAIL_OVER_MAC_ACTIVE,
            FailOverMac::Follow => FAIL_OVER_MAC_FOLLOW,
        }
    }

    /// From the pinned state (unknown values read as none).
    pub fn from_pinned(v: u8) -> FailOverMac {
        match v {
            FAIL_OVER_MAC_ACTIVE => FailOverMac::Active,
            FAIL_OVER_MAC_FOLLOW => FailOverMac::Follow,
            _ => FailOverMac::None,
        }
    }
}

/// The `tc_attach` choice: how a bond's tc programs are attached to its interfaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcAttach {
    /// tcx if the kernel has it, else legacy (`up` decides; the bond keeps what it got).
    #[default]
    Auto,
    /// tcx links, pinned (Linux 6.6+).
    Tcx,
    /// A clsact qdisc and cls_bpf filters in direct-action mode (any kernel bondxdp runs on).
    Legacy,
}

impl TcAttach {
    /// Parses `auto`, `tcx` or `legacy`.
    pub fn parse(v: &str) -> Option<TcAttach> {
        match v {
            "auto" => Some(TcAttach::Auto),
            "tcx" => Some(TcAttach::Tcx),
            "legacy" => Some(TcAttach::Legacy),
            _ => None,
        }
    }

    /// Its name, as `parse` takes it.
    pub fn name(self) -> &'static str {
        match self {
            TcAttach::Auto => "auto",
            TcAttach::Tcx => "tcx",
            TcAttach::Legacy => "legacy",
        }
    }

    /// As the pinned state records it (a bond's choice is always made: `auto` is not kept).
    pub fn to_pinned(self) -> u8 {
        match self {
            TcAttach::Legacy => TC_ATTACH_LEGACY,
            TcAttach::Auto | TcAttach::Tcx => TC_ATTACH_TCX,
        }
    }

    /// From the pinned state (bonds written before the field read as tcx, which they use).
    pub fn from_pinned(v: u8) -> TcAttach {
        match v {
            TC_ATTACH_LEGACY => TcAttach::Legacy,
            _ => TcAttach::Tcx,
        }
    }
}

impl std::fmt::Display for FailOverMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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
    /// Gap between those notifications, ms (`peer_notif_delay`; a multiple of miimon).
    pub peer_notif_delay: u32,
    /// IGMP membership reports for the bond's groups after a failover, 200 ms apart
    /// (`resend_igmp`, default 1).
    pub resend_igmp: u32,
    /// Act on netlink link events at once (default); off leaves carrier loss to polling.
    pub link_events: bool,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions::from_pinned(&MonitorConfig::default())
    }
}

impl MonitorOptions {}

impl Default for BondOptions {
    fn default() -> Self {
        BondOptions {
            mode: Mode::BalanceRr,
            xmit_hash_policy: HashPolicy::Layer2,
            packets_per_slave: 1,
            primary: None,
            keep_member_macs: false,
            fail_over_mac: FailOverMac::None,
            all_slaves_active: false,
            mac: None,
            min_links: 0,
            monitor: MonitorOptions::default(),
            multi_wan: MultiWanOptions::default(),
            balance: BalanceOptions::default(),
            select_program: None,
            forward_from: Vec::new(),
            lacp: LacpOptions::default(),
            prios: Vec::new(),
            actor_port_prios: Vec::new(),
            active_slave: None,
            tc_attach: TcAttach::Auto,
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
    /// are not multiples of `miimon` are rounded down to one (as the kernel does). Options
    /// set away from their defaults in a mode they do nothing in (LACP options outside
    /// 802.3ad, weights in balance-xor...) are kept, so a later mode change finds them, with
    /// a warning that they do nothing.
    pub fn normalize(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        if matches!(self.options.mode, Mode::BalanceTlb | Mode::BalanceAlb) {
            // As the kernel's: every member but the active receiver sends with its own MAC.
            self.options.keep_member_macs = true;
        }
        if self.options.mode == Mode::ActiveBackup
            && self.options.fail_over_mac != FailOverMac::None
        {
            // Members keep their own MACs; the controller moves the bond's (fail_over_mac.rs).
            self.options.keep_member_macs = true;
        }
        let mode = self.options.mode;
        let defaults = BondOptions::default();
        for spec in OPTIONS {
            if !spec.applies.to(mode) && (spec.get)(&self.options) != (spec.get)(&defaults) {
                warnings.push(format!(
                    "{} does nothing in {} (it acts in {})",
                    spec.name,
                    mode.name(),
                    spec.applies.describe()
                ));
            }
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
    fn balance_tlb_and_alb_members_keep_their_macs_and_take_their_options() {
        for mode in [Mode::BalanceTlb, Mode::BalanceAlb] {
            let mut s = spec(&["eth0", "eth1"]);
            s.options.mode = mode;
            assert!(s.normalize().is_empty());
            assert!(s.options.keep_member_macs, "{mode:?}");
            s.options.primary = Some("eth1".into());
            s.validate().unwrap();
        }
        let mut o = BondOptions::default();
        for bad in ["0", "-1", "x", "2147483648"] {
            assert!(set_option(&mut o, "lp_interval", bad).is_err(), "{bad}");
        }
        assert_eq!(o.balance.lp_interval, 1, "a refused value changes nothing");
        set_option(&mut o, "tlb_dynamic_lb", "0").unwrap();
        set_option(&mut o, "lp_interval", "3").unwrap();
        assert!(!o.balance.tlb_dynamic_lb);
        assert_eq!(o.balance.lp_interval, 3);
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
                coupled_control: true,
                strict: false,
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
            ("coupled_control", "0"),
            ("lacp_strict", "on"),
        ] {
            set_option(&mut o, k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
        }
        assert_eq!(o.mode, Mode::Ieee8023ad);
        let l = o.lacp;
        assert!(l.fast && !l.active);
        assert_eq!(l.ad_select, AdSelect::Count);
        assert_eq!((l.system_priority, l.user_port_key), (100, 1023));
        assert_eq!(l.actor_system, Some([2, 0, 0x5e, 0, 0, 9]));
        assert!(!l.coupled_control && l.strict);
        // Pinned and read back unchanged, without touching the controller's part.
        let mut r = LacpRecord {
            active_aggregator: 3,
            ..LacpRecord::default()
        };
        l.write_pinned(&mut r);
        assert_eq!(LacpOptions::from_pinned(&r), l);
        assert_eq!(r.active_aggregator, 3);
        // Numbers as the kernel takes them; empty means "the bond's MAC".
        set_option(&mut o, "lacp_rate", "0").unwrap();
        set_option(&mut o, "ad_select", "1").unwrap();
        set_option(&mut o, "ad_actor_system", "").unwrap();
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
            // The kernel refuses all zeros too (is_valid_ether_addr).
            (
                "ad_actor_system",
                "00:00:00:00:00:00",
                "not a valid system id",
            ),
            ("ad_actor_system", "02:00", "aa:bb:cc:dd:ee:ff"),
            ("coupled_control", "2", "expected one of"),
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
        assert!(
            w[0].contains("does nothing in balance-rr (it acts in 802.3ad)"),
            "{w:?}"
        );
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
    fn probe_targets_must_be_hosts_once_each() {
        for (key, value, needle) in [
            ("arp_ip_target", "0.0.0.0", "not a host address"),
            ("arp_ip_target", "255.255.255.255", "broadcast"),
            ("arp_ip_target", "224.0.0.1", "multicast"),
            ("arp_ip_target", "127.0.0.1", "loopback"),
            ("arp_ip_target", "198.18.0.2,198.18.0.2", "given twice"),
            ("ns_ip6_target", "::", "not a host address"),
            ("ns_ip6_target", "ff02::1", "multicast"),
            ("ns_ip6_target", "::1", "loopback"),
            ("ns_ip6_target", "2001:db8::2,2001:db8::2", "given twice"),
        ] {
            let mut s = spec(&["eth0"]);
            set_option(&mut s.options, key, value).unwrap();
            let e = err(s);
            assert!(e.contains(needle) && e.contains(key), "{key}={value}: {e}");
        }
        let mut s = spec(&["eth0"]);
        set_option(&mut s.options, "arp_ip_target", "198.18.0.2,198.18.0.3").unwrap();
        set_option(&mut s.options, "ns_ip6_target", "fe80::1,2001:db8::2").unwrap();
        s.validate().unwrap();
    }

    #[test]
    fn options_that_do_nothing_in_the_mode_are_kept_with_a_warning() {
        let mut s = spec(&["eth0", "eth1"]);
        set_option(&mut s.options, "mode", "balance-xor").unwrap();
        set_option(&mut s.options, "weight", "eth0=3").unwrap();
        let w = s.normalize();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("weight does nothing in balance-xor"),
            "{w:?}"
        );
        assert_eq!(s.options.balance.weights, vec![("eth0".to_string(), 3)]);
        set_option(&mut s.options, "mode", "load-aware").unwrap();
        assert!(s.normalize().is_empty());
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
        let long = "x".repeat(bondxdp_common::records::SELECT_PROGRAM_MAX);
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
        assert!(!b0.dhcp && !b0.slaac);
        assert_eq!(f.warnings.len(), 1);
        let dynamic = parse_config(
            "[[bond]]\nname = \"b\"\nmembers = [\"e\"]\naddresses = [\"dhcp\", \"slaac\", \"198.18.0.9/24\"]",
        )
        .unwrap();
        let d = &dynamic.bonds[0];
        assert!(d.dhcp && d.slaac);
        assert_eq!(d.addresses.len(), 1, "static ones beside them");
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
                "[[bond]]\nname = \"b\"\nmembers = [\"e\"]\naddresses = [\"dhcp4\"]",
                "neither ADDRESS/PREFIX, `dhcp` nor `slaac`",
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
