//! The option table: one row per option, from which everything that names options is derived.
//!
//! A row says an option's kernel name (the `set` key and the TOML key), how `up` takes it on
//! the command line, its help, which modes it applies to, whether `set` may change it on a
//! running bond, and two functions: one that parses a textual value into [`BondOptions`] and
//! one that renders the current value back as `set` would take it. [`set_option`] (for `up`,
//! `set` and the config file), the `up` command line ([`OptionArgs`]), the list of known keys
//! and the option reference in docs/options.md ([`reference`]) all read [`OPTIONS`], so adding
//! an option is one row here and its field in [`BondOptions`] (plus, for options that outlive
//! the command, its place in the pinned record: `options/pinned.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bondxdp_common::{
    Mode,
    modes::{USES_ACTIVE, USES_HASH, USES_WEIGHTS, active_backup::PrimaryReselect},
    records::SELECT_PROGRAM_MAX,
};

use super::{
    ArpAllTargets, ArpValidate, BondOptions, FailOverMac, Sticky, TcAttach, parse_hash_policy,
    parse_mode, validate_ifname,
};
use crate::{
    error::{Error, Result},
    lacp::{AdSelect, key::MAX_USER_KEY},
    mac::{format_mac, parse_mac},
};

/// How `bondxdp up` takes an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cli {
    /// `--name VALUE`.
    Value,
    /// `--name VALUE`, and `up` cannot do without it.
    Required,
    /// `--name VALUE`, repeatable; the values are joined with commas.
    List,
    /// `--name` alone sets the option to this value.
    Flag(&'static str),
    /// `--FLAG` (another name, e.g. `no-link-events`) alone sets the option to this value.
    NamedFlag(&'static str, &'static str),
}

/// Which modes an option means something in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applies {
    /// Every mode.
    All,
    /// Modes with these `modes::USES_*` flags.
    Uses(u8),
    /// These modes.
    Modes(&'static [Mode]),
}

impl Applies {
    /// Whether the option means something in `mode`.
    pub fn to(self, mode: Mode) -> bool {
        match self {
            Applies::All => true,
            Applies::Uses(flags) => mode.info().flags & flags != 0,
            Applies::Modes(modes) => modes.contains(&mode),
        }
    }

    /// The modes, as the option reference names them.
    pub fn describe(self) -> String {
        match self {
            Applies::All => "all".into(),
            _ => Mode::ALL
                .into_iter()
                .filter(|m| m.has_data_plane() && self.to(*m))
                .map(Mode::name)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// One option.
pub struct OptionSpec {
    /// Kernel name (bondxdp's own options follow the same style): the `set` key and the TOML
    /// key; `up` takes it as `--name` with dashes.
    pub name: &'static str,
    /// Other names `set` and the config file accept.
    pub aliases: &'static [&'static str],
    /// How `up` takes it.
    pub cli: Cli,
    /// The value's shape in help and the reference (`MS`, `IF=N`).
    pub value: &'static str,
    /// What it does (the `up --help` text and the reference).
    pub help: &'static str,
    /// Modes it applies to.
    pub applies: Applies,
    /// Whether `set` may change it on a running bond.
    pub live: bool,
    /// Member-valued lists also take `name.IF=VALUE`, changing one member's entry.
    pub per_member: bool,
    /// Parses `value` (the key as the user wrote it comes first, for messages).
    pub set: fn(&mut BondOptions, &str, &str) -> Result<()>,
    /// The current value as `set` takes it (empty: unset).
    pub get: fn(&BondOptions) -> String,
}

const LACP: Applies = Applies::Modes(&[Mode::Ieee8023ad]);
const MULTI_WAN: Applies = Applies::Modes(&[Mode::MultiWan]);
const FLOWLETS: Applies = Applies::Modes(&[Mode::BalanceTlb, Mode::BalanceAlb, Mode::LoadAware]);
const TLB: Applies = Applies::Modes(&[Mode::BalanceTlb, Mode::BalanceAlb]);
const MONITOR: Applies = Applies::All;
/// The weighted modes (`USES_WEIGHTS`) and 802.3ad (member speeds).
const WEIGHTS_OR_LACP: Applies = Applies::Modes(&[
    Mode::BalanceTlb,
    Mode::BalanceAlb,
    Mode::MultiWan,
    Mode::LoadAware,
    Mode::Custom,
    Mode::Ieee8023ad,
]);

/// A row with the common defaults (`Cli::Value`, every mode, live, not per member).
const fn row(
    name: &'static str,
    value: &'static str,
    help: &'static str,
    set: fn(&mut BondOptions, &str, &str) -> Result<()>,
    get: fn(&BondOptions) -> String,
) -> OptionSpec {
    OptionSpec {
        name,
        aliases: &[],
        cli: Cli::Value,
        value,
        help,
        applies: Applies::All,
        live: true,
        per_member: false,
        set,
        get,
    }
}

impl OptionSpec {
    const fn cli(self, cli: Cli) -> Self {
        OptionSpec { cli, ..self }
    }
    const fn applies(self, applies: Applies) -> Self {
        OptionSpec { applies, ..self }
    }
    const fn fixed(self) -> Self {
        OptionSpec {
            live: false,
            ..self
        }
    }
    const fn aliases(self, aliases: &'static [&'static str]) -> Self {
        OptionSpec { aliases, ..self }
    }
    const fn per_member(self) -> Self {
        OptionSpec {
            per_member: true,
            ..self
        }
    }
}

/// Every option, in the order `up --help` and the reference list them.
pub static OPTIONS: &[OptionSpec] = &[
    row(
        "mode",
        "MODE",
        "Bonding mode: balance-rr (0), active-backup (1), balance-xor (2), broadcast (3), \
         802.3ad (4, LACP; needs `bondxdp run`), balance-tlb (5), balance-alb (6, receive \
         balancing by ARP; needs `bondxdp run`), load-aware (flowlets by \
         spare capacity), multi-wan (uplinks to different networks, per flow, translated), or \
         custom (--select-program).",
        |o, _, v| {
            o.mode = parse_mode(v)?;
            Ok(())
        },
        |o| o.mode.name().into(),
    )
    .cli(Cli::Required),
    row(
        "xmit_hash_policy",
        "POLICY",
        "Hash for balance-xor and 802.3ad: layer2, layer2+3, layer3+4, encap2+3, encap3+4, \
         vlan+srcmac.",
        |o, _, v| {
            o.xmit_hash_policy = parse_hash_policy(v)?;
            Ok(())
        },
        |o| o.xmit_hash_policy.name().into(),
    )
    .applies(Applies::Uses(USES_HASH)),
    row(
        "packets_per_slave",
        "N",
        "balance-rr: packets per member before moving on (0 = random member).",
        |o, k, v| {
            o.packets_per_slave = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.packets_per_slave.to_string(),
    )
    .applies(Applies::Modes(&[Mode::BalanceRr])),
    row(
        "primary",
        "IF",
        "active-backup: preferred member.",
        |o, _, v| {
            o.primary = if v.is_empty() {
                None
            } else {
                validate_ifname("primary", v)?;
                Some(v.to_string())
            };
            Ok(())
        },
        |o| o.primary.clone().unwrap_or_default(),
    )
    .applies(Applies::Uses(USES_ACTIVE)),
    row(
        "primary_reselect",
        "WHEN",
        "When the primary takes over again: always, better (faster), failure.",
        |o, k, v| {
            o.monitor.primary_reselect = match v {
                "always" | "0" => PrimaryReselect::Always,
                "better" | "1" => PrimaryReselect::Better,
                "failure" | "2" => PrimaryReselect::Failure,
                _ => return Err(bad_choice(k, v, "always, better, failure")),
            };
            Ok(())
        },
        |o| {
            match o.monitor.primary_reselect {
                PrimaryReselect::Always => "always",
                PrimaryReselect::Better => "better",
                PrimaryReselect::Failure => "failure",
            }
            .into()
        },
    )
    .applies(Applies::Uses(USES_ACTIVE)),
    row(
        "prio",
        "IF=N",
        "active-backup: a member's priority, IF=N (default 0; negative allowed): without a \
         usable primary, the usable member of highest priority is active (a higher one \
         coming up takes over as primary_reselect says).",
        |o, k, v| {
            o.prios = parse_list(v, |s| {
                let (m, p) = parse_member_value(k, s)?;
                let p: i32 = p
                    .parse()
                    .map_err(|_| Error::invalid(k, format!("{p:?} is not an integer")))?;
                Ok((m, p))
            })?;
            Ok(())
        },
        |o| join_pairs(&o.prios),
    )
    .cli(Cli::List)
    .per_member()
    .applies(Applies::Uses(USES_ACTIVE)),
    row(
        "active_slave",
        "IF",
        "active-backup: make this member active now (it must be a member and up), with the \
         peer notifications of a failover; empty or `none`: choose again. Not kept: the \
         bond's monitor goes on from there (status shows the active member).",
        |o, _, v| {
            o.active_slave = if v.is_empty() || v == "none" {
                None
            } else {
                validate_ifname("active_slave", v)?;
                Some(v.to_string())
            };
            Ok(())
        },
        |o| o.active_slave.clone().unwrap_or_default(),
    )
    .applies(Applies::Uses(USES_ACTIVE)),
    row(
        "keep_member_macs",
        "BOOL",
        "Members keep their own MACs (the source MAC is rewritten per member instead).",
        |o, k, v| {
            o.keep_member_macs = parse_bool(k, v)?;
            Ok(())
        },
        |o| bool_text(o.keep_member_macs),
    )
    .cli(Cli::Flag("1"))
    .fixed(),
    row(
        "fail_over_mac",
        "POLICY",
        "active-backup: none (every member takes the bond's MAC), active (members keep their \
         MACs; the bond takes the active member's), follow (the active member takes the bond's \
         MAC, the member it replaces takes the newcomer's). For members that cannot change \
         their MAC (Wi-Fi); set at `up`.",
        |o, k, v| {
            o.fail_over_mac =
                FailOverMac::parse(v).ok_or_else(|| bad_choice(k, v, "none, active, follow"))?;
            Ok(())
        },
        |o| o.fail_over_mac.name().into(),
    )
    .applies(Applies::Modes(&[Mode::ActiveBackup]))
    .fixed(),
    row(
        "tc_attach",
        "HOW",
        "How the tc programs are attached: auto (tcx where the kernel has it, Linux 6.6+; \
         else legacy), tcx, or legacy (a clsact qdisc and cls_bpf filters in direct-action \
         mode, for kernels without tcx). Set at `up`; `status` shows what the bond uses.",
        |o, k, v| {
            o.tc_attach =
                TcAttach::parse(v).ok_or_else(|| bad_choice(k, v, "auto, tcx, legacy"))?;
            Ok(())
        },
        |o| o.tc_attach.name().into(),
    )
    .fixed(),
    row(
        "all_slaves_active",
        "BOOL",
        "Deliver frames received on inactive members too.",
        |o, k, v| {
            o.all_slaves_active = parse_bool(k, v)?;
            Ok(())
        },
        |o| bool_text(o.all_slaves_active),
    )
    .cli(Cli::Flag("1")),
    row(
        "mac",
        "MAC",
        "MAC address of the bond (default: the first member's).",
        |o, _, v| {
            o.mac = Some(parse_mac(v)?);
            Ok(())
        },
        |o| o.mac.as_ref().map(format_mac).unwrap_or_default(),
    )
    .fixed(),
    row(
        "miimon",
        "MS",
        "Carrier polling interval in ms (0: no polling; netlink events still act). Default 100.",
        |o, k, v| {
            o.monitor.miimon = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.monitor.miimon.to_string(),
    )
    .applies(MONITOR),
    row(
        "use_carrier",
        "1",
        "Kernel option (deprecated there): 1 only. bondxdp always judges links by their \
         carrier and netlink state; 0 (the driver's MII/ethtool ioctls) is refused.",
        |_, k, v| match v {
            "1" | "on" | "true" => Ok(()),
            "0" | "off" | "false" => Err(Error::invalid(
                k,
                "0 is not supported: bondxdp always uses the members' carrier (netlink) state",
            )),
            _ => Err(bad_choice(k, v, "1 (on)")),
        },
        |_| "1".into(),
    ),
    row(
        "updelay",
        "MS",
        "Wait this long (ms, a multiple of miimon) before using a recovered link.",
        |o, k, v| {
            o.monitor.updelay = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.monitor.updelay.to_string(),
    ),
    row(
        "downdelay",
        "MS",
        "Wait this long (ms, a multiple of miimon) before abandoning a failed link.",
        |o, k, v| {
            o.monitor.downdelay = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.monitor.downdelay.to_string(),
    ),
    row(
        "arp_interval",
        "MS",
        "ARP/NS probe interval in ms (0: off).",
        |o, k, v| {
            o.monitor.arp_interval = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.monitor.arp_interval.to_string(),
    ),
    row(
        "arp_ip_target",
        "IP",
        "IPv4 address to probe through every member (repeat, up to 16).",
        |o, _, v| {
            o.monitor.arp_ip_targets = parse_list(v, |s| {
                s.parse::<Ipv4Addr>().map_err(|_| {
                    Error::invalid("arp_ip_target", format!("{s:?} is not an IPv4 address"))
                })
            })?;
            Ok(())
        },
        |o| join(&o.monitor.arp_ip_targets),
    )
    .cli(Cli::List),
    row(
        "ns_ip6_target",
        "IP",
        "IPv6 address to probe with neighbour solicitations (repeat, up to 16).",
        |o, _, v| {
            o.monitor.ns_ip6_targets = parse_list(v, |s| {
                s.parse::<Ipv6Addr>().map_err(|_| {
                    Error::invalid("ns_ip6_target", format!("{s:?} is not an IPv6 address"))
                })
            })?;
            Ok(())
        },
        |o| join(&o.monitor.ns_ip6_targets),
    )
    .cli(Cli::List),
    row(
        "arp_validate",
        "WHICH",
        "Which members' probe answers are validated: none, active, backup, all, filter, \
         filter_active, filter_backup (filter*: as none/active/backup/all, but only ARP frames \
         count as received traffic on the members not validated).",
        |o, k, v| {
            o.monitor.arp_validate = match v {
                "none" | "0" => ArpValidate::None,
                "active" | "1" => ArpValidate::Active,
                "backup" | "2" => ArpValidate::Backup,
                "all" | "3" => ArpValidate::All,
                "filter" | "4" => ArpValidate::Filter,
                "filter_active" | "5" => ArpValidate::FilterActive,
                "filter_backup" | "6" => ArpValidate::FilterBackup,
                _ => {
                    return Err(bad_choice(
                        k,
                        v,
                        "none, active, backup, all, filter, filter_active, filter_backup",
                    ));
                }
            };
            Ok(())
        },
        |o| {
            match o.monitor.arp_validate {
                ArpValidate::None => "none",
                ArpValidate::Active => "active",
                ArpValidate::Backup => "backup",
                ArpValidate::All => "all",
                ArpValidate::Filter => "filter",
                ArpValidate::FilterActive => "filter_active",
                ArpValidate::FilterBackup => "filter_backup",
            }
            .into()
        },
    ),
    row(
        "arp_all_targets",
        "WHICH",
        "Whether any or all targets must answer: any, all.",
        |o, k, v| {
            o.monitor.arp_all_targets = match v {
                "any" | "0" => ArpAllTargets::Any,
                "all" | "1" => ArpAllTargets::All,
                _ => return Err(bad_choice(k, v, "any, all")),
            };
            Ok(())
        },
        |o| {
            match o.monitor.arp_all_targets {
                ArpAllTargets::Any => "any",
                ArpAllTargets::All => "all",
            }
            .into()
        },
    ),
    row(
        "arp_missed_max",
        "N",
        "Probe intervals without an answer before a link is down (default 2).",
        |o, k, v| {
            o.monitor.arp_missed_max = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.monitor.arp_missed_max.to_string(),
    ),
    row(
        "num_grat_arp",
        "N",
        "Gratuitous ARPs / unsolicited NAs sent through a new active member (default 1).",
        |o, k, v| {
            o.monitor.num_grat_arp = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.monitor.num_grat_arp.to_string(),
    )
    .aliases(&["num_unsol_na"])
    .applies(Applies::Uses(USES_ACTIVE)),
    row(
        "peer_notif_delay",
        "MS",
        "Gap between the num_grat_arp notifications after a failover, ms (a multiple of \
         miimon; default 0: back to back).",
        |o, k, v| {
            o.monitor.peer_notif_delay = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.monitor.peer_notif_delay.to_string(),
    )
    .applies(Applies::Uses(USES_ACTIVE)),
    row(
        "resend_igmp",
        "N",
        "IGMP and MLD membership reports for the bond's groups sent through a new active member \
         after a failover, 200 ms apart (0-255, default 1).",
        |o, k, v| {
            o.monitor.resend_igmp = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.monitor.resend_igmp.to_string(),
    )
    .applies(Applies::Uses(USES_ACTIVE)),
    row(
        "min_links",
        "N",
        "Members that must be up for the bond to have carrier (802.3ad: distributing).",
        |o, k, v| {
            o.min_links = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.min_links.to_string(),
    ),
    row(
        "lacp_rate",
        "RATE",
        "802.3ad: how often the partner is asked to send LACPDUs: slow (every 30 s, the \
         default) or fast (every second; a silent partner is noticed within 3 s).",
        |o, k, v| {
            o.lacp.fast = match v {
                "slow" | "0" => false,
                "fast" | "1" => true,
                _ => return Err(bad_choice(k, v, "slow, fast")),
            };
            Ok(())
        },
        |o| o.lacp.rate_name().into(),
    )
    .applies(LACP),
    row(
        "lacp_active",
        "BOOL",
        "802.3ad: on (send LACPDUs unasked, the default) or off (only answer a partner).",
        |o, k, v| {
            o.lacp.active = parse_bool(k, v)?;
            Ok(())
        },
        |o| bool_text(o.lacp.active),
    )
    .applies(LACP),
    row(
        "ad_select",
        "POLICY",
        "802.3ad: which aggregator carries traffic: stable (default), bandwidth, count, \
         actor_port_prio (the highest sum of its ports' actor_port_prio).",
        |o, k, v| {
            o.lacp.ad_select = AdSelect::parse(v)
                .ok_or_else(|| bad_choice(k, v, "stable, bandwidth, count, actor_port_prio"))?;
            Ok(())
        },
        |o| o.lacp.ad_select_name().into(),
    )
    .applies(LACP),
    row(
        "actor_port_prio",
        "IF=N",
        "802.3ad: a member port's priority in our LACPDUs, IF=N, 0-65535 (default 255), \
         weighed by ad_select actor_port_prio.",
        |o, k, v| {
            o.actor_port_prios = parse_list(v, |s| {
                let (m, p) = parse_member_value(k, s)?;
                Ok((m, parse_in_range(k, &p, 0, 65535)? as u16))
            })?;
            Ok(())
        },
        |o| join_pairs(&o.actor_port_prios),
    )
    .cli(Cli::List)
    .per_member()
    .applies(LACP),
    row(
        "ad_actor_sys_prio",
        "N",
        "802.3ad: system priority in our LACPDUs, 1-65535 (default 65535).",
        |o, k, v| {
            o.lacp.system_priority = parse_in_range(k, v, 1, 65535)? as u16;
            Ok(())
        },
        |o| o.lacp.system_priority.to_string(),
    )
    .applies(LACP),
    row(
        "ad_user_port_key",
        "N",
        "802.3ad: the upper 10 bits of every port key, 0-1023 (default 0).",
        |o, k, v| {
            o.lacp.user_port_key = parse_in_range(k, v, 0, MAX_USER_KEY as u32)? as u16;
            Ok(())
        },
        |o| o.lacp.user_port_key.to_string(),
    )
    .applies(LACP),
    row(
        "ad_actor_system",
        "MAC",
        "802.3ad: the system MAC in our LACPDUs (default, or empty: the bond's MAC).",
        |o, k, v| {
            if v.is_empty() {
                o.lacp.actor_system = None;
                return Ok(());
            }
            let mac = parse_mac(v).map_err(|_| {
                Error::invalid(k, format!("{v:?} is not of the form aa:bb:cc:dd:ee:ff"))
            })?;
            if mac[0] & 1 == 1 {
                return Err(Error::invalid(k, format!("{v} is a multicast address")));
            }
            // The kernel refuses it too (is_valid_ether_addr): a partner would see no system.
            if mac == [0; 6] {
                return Err(Error::invalid(
                    k,
                    format!("{v} is not a valid system id; leave {k} empty for the bond's MAC"),
                ));
            }
            o.lacp.actor_system = Some(mac);
            Ok(())
        },
        |o| {
            o.lacp
                .actor_system
                .map(|m| format_mac(&m))
                .unwrap_or_default()
        },
    )
    .applies(LACP),
    row(
        "coupled_control",
        "BOOL",
        "802.3ad: 1 (default): a member starts collecting and distributing together; 0: \
         independent control, it collects first and distributes once the partner collects.",
        |o, k, v| {
            o.lacp.coupled_control = parse_bool(k, v)?;
            Ok(())
        },
        |o| bool_text(o.lacp.coupled_control),
    )
    .applies(LACP),
    row(
        "lacp_strict",
        "BOOL",
        "802.3ad: off (default): while no partner speaks LACP, one member carries traffic, as \
         the kernel does (Open vSwitch's lacp-fallback-ab); on: nothing until LACP negotiates.",
        |o, k, v| {
            o.lacp.strict = parse_bool(k, v)?;
            Ok(())
        },
        |o| bool_text(o.lacp.strict),
    )
    .applies(LACP),
    row(
        "link_events",
        "BOOL",
        "Act on netlink link events as well as polling (`--no-link-events`: notice carrier \
         loss by polling only).",
        |o, k, v| {
            o.monitor.link_events = parse_bool(k, v)?;
            Ok(())
        },
        |o| bool_text(o.monitor.link_events),
    )
    .cli(Cli::NamedFlag("no-link-events", "0")),
    row(
        "gateway",
        "IF=IP",
        "multi-wan: the gateway of an uplink, IF=IP (default: from its default route).",
        |o, _, v| {
            o.multi_wan.gateways = parse_list(v, |s| {
                let (m, ip) = parse_member_value("gateway", s)?;
                let ip: IpAddr = ip.parse().map_err(|_| {
                    Error::invalid("gateway", format!("{ip:?} is not an IP address"))
                })?;
                Ok((m, ip))
            })?;
            Ok(())
        },
        |o| join_pairs(&o.multi_wan.gateways),
    )
    .cli(Cli::List)
    .applies(MULTI_WAN),
    row(
        "tier",
        "IF=N",
        "multi-wan: an uplink's tier, IF=N, 0-15 (default 0): new flows go to the lowest tier \
         with an uplink up (by weight within it); a higher tier (a metered LTE modem) carries \
         nothing until every lower one is down. Flows keep their uplink when a lower tier \
         returns.",
        |o, k, v| {
            o.multi_wan.tiers = parse_list(v, |s| {
                let (m, t) = parse_member_value(k, s)?;
                Ok((m, parse_in_range(k, &t, 0, 15)? as u8))
            })?;
            Ok(())
        },
        |o| join_pairs(&o.multi_wan.tiers),
    )
    .cli(Cli::List)
    .per_member()
    .applies(MULTI_WAN),
    row(
        "weight",
        "IF=N",
        "Weighted modes (load-aware, balance-tlb, multi-wan): a member's fixed share of new \
         flows, IF=N (others: computed from spare capacity by the controller, else 1).",
        |o, k, v| {
            o.balance.weights = parse_member_u32s(k, v)?;
            Ok(())
        },
        |o| join_pairs(&o.balance.weights),
    )
    .cli(Cli::List)
    .per_member()
    .applies(Applies::Uses(USES_WEIGHTS)),
    row(
        "speed",
        "IF=MBIT",
        "Weighted modes: a member's capacity in Mbit/s, IF=MBIT (default: the link's speed); \
         802.3ad: the speed LACP takes for the member's key and `ad_select bandwidth`.",
        |o, k, v| {
            o.balance.speeds = parse_member_u32s(k, v)?;
            Ok(())
        },
        |o| join_pairs(&o.balance.speeds),
    )
    .cli(Cli::List)
    .per_member()
    .applies(WEIGHTS_OR_LACP),
    row(
        "flowlet_timeout",
        "MS",
        "load-aware, balance-tlb: a flow idle this long may move to another member, ms \
         (default 20).",
        |o, k, v| {
            o.balance.flowlet_timeout = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.balance.flowlet_timeout.to_string(),
    )
    .applies(FLOWLETS),
    row(
        "tlb_dynamic_lb",
        "BOOL",
        "balance-tlb/alb: transmit by load (1, the default: flows and flowlets over the \
         members by weight) or by the xmit_hash_policy hash (0).",
        |o, k, v| {
            o.balance.tlb_dynamic_lb = parse_bool(k, v)?;
            Ok(())
        },
        |o| bool_text(o.balance.tlb_dynamic_lb),
    )
    .applies(TLB),
    row(
        "lp_interval",
        "SECONDS",
        "balance-tlb/alb: seconds between the learning packets each member sends with its \
         MAC, so the switch keeps it on that port (default 1; needs `bondxdp run`).",
        |o, k, v| {
            let n = parse_u32(k, v)?;
            if n == 0 || n > i32::MAX as u32 {
                return Err(Error::invalid(
                    k,
                    format!("{n} is out of range 1-{}", i32::MAX),
                ));
            }
            o.balance.lp_interval = n;
            Ok(())
        },
        |o| o.balance.lp_interval.to_string(),
    )
    .applies(TLB),
    row(
        "forward_from",
        "IF",
        "XDP fast path: a LAN-side interface whose routed traffic through the bond (and the \
         replies) is forwarded in XDP (repeat for each; needs ip_forward).",
        |o, _, v| {
            o.forward_from = parse_list(v, |s| {
                validate_ifname("forward_from", s)?;
                Ok(s.to_string())
            })?;
            Ok(())
        },
        |o| o.forward_from.join(","),
    )
    .cli(Cli::List),
    row(
        "select_program",
        "FILE.o[:PROGRAM]",
        "custom mode: the selection program, FILE.o[:PROGRAM] (an eBPF object built as in \
         docs/modes.md; PROGRAM may be left out when it holds one tc classifier).",
        |o, _, v| {
            o.select_program = match v {
                "" => None,
                v if v.len() >= SELECT_PROGRAM_MAX => {
                    return Err(Error::invalid(
                        "select_program",
                        format!("{v:?} is longer than {} bytes", SELECT_PROGRAM_MAX - 1),
                    ));
                }
                v => Some(v.to_string()),
            };
            Ok(())
        },
        |o| o.select_program.clone().unwrap_or_default(),
    )
    .applies(Applies::Modes(&[Mode::Custom])),
    row(
        "rebalance_interval",
        "MS",
        "Weighted modes: how often the controller recomputes weights, ms (default 1000; 0: \
         never).",
        |o, k, v| {
            o.balance.rebalance_interval = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.balance.rebalance_interval.to_string(),
    )
    .applies(Applies::Uses(USES_WEIGHTS)),
    row(
        "probe",
        "TARGET",
        "multi-wan: health probe target through every uplink: IP (ping) or tcp:IP:PORT.",
        |o, _, v| {
            o.multi_wan.probes = parse_list(v, str::parse)?;
            Ok(())
        },
        |o| join(&o.multi_wan.probes),
    )
    .cli(Cli::List)
    .applies(MULTI_WAN),
    row(
        "probe_interval",
        "MS",
        "multi-wan: probe interval while healthy, ms (default 300).",
        |o, k, v| {
            o.multi_wan.probe_interval = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.multi_wan.probe_interval.to_string(),
    )
    .applies(MULTI_WAN),
    row(
        "probe_timeout",
        "MS",
        "multi-wan: least time before an unanswered probe is lost, ms (default 150).",
        |o, k, v| {
            o.multi_wan.probe_timeout = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.multi_wan.probe_timeout.to_string(),
    )
    .applies(MULTI_WAN),
    row(
        "probe_failure_interval",
        "MS",
        "multi-wan: probe interval while confirming a failure, ms (default 100).",
        |o, k, v| {
            o.multi_wan.probe_failure_interval = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.multi_wan.probe_failure_interval.to_string(),
    )
    .applies(MULTI_WAN),
    row(
        "probe_down",
        "N",
        "multi-wan: failed probe rounds in a row before an uplink is down (default 3).",
        |o, k, v| {
            o.multi_wan.probe_down = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.multi_wan.probe_down.to_string(),
    )
    .applies(MULTI_WAN),
    row(
        "probe_up",
        "N",
        "multi-wan: good probe rounds in a row before it is up again (default 3).",
        |o, k, v| {
            o.multi_wan.probe_up = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.multi_wan.probe_up.to_string(),
    )
    .applies(MULTI_WAN),
    row(
        "probe_max_rtt",
        "MS",
        "multi-wan: replies slower than this count as lost, ms (default: no limit).",
        |o, k, v| {
            o.multi_wan.probe_max_rtt = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.multi_wan.probe_max_rtt.to_string(),
    )
    .applies(MULTI_WAN),
    row(
        "quality_loss",
        "PERCENT",
        "multi-wan: an uplink losing more of its probes than this (over the last 20) for \
         quality_hold takes no new flows while its tier has a better one; back under 3/4 of \
         it for quality_recover (default 20: 5 % loss each way stays under it, 20 % each way \
         is far over; 0: off).",
        |o, k, v| {
            o.multi_wan.quality_loss = parse_in_range(k, v, 0, 100)?;
            Ok(())
        },
        |o| o.multi_wan.quality_loss.to_string(),
    )
    .applies(MULTI_WAN),
    row(
        "quality_rtt",
        "MS",
        "multi-wan: likewise for the smoothed probe round trip, ms; back under 80 % of it \
         (default 0: off).",
        |o, k, v| {
            o.multi_wan.quality_rtt = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.multi_wan.quality_rtt.to_string(),
    )
    .applies(MULTI_WAN),
    row(
        "quality_hold",
        "MS",
        "multi-wan: how long an uplink stays over a quality threshold before it takes no new \
         flows, ms (default 1000).",
        |o, k, v| {
            o.multi_wan.quality_hold = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.multi_wan.quality_hold.to_string(),
    )
    .applies(MULTI_WAN),
    row(
        "quality_recover",
        "MS",
        "multi-wan: how long a degraded uplink stays under the lower bands before it takes new \
         flows again, ms (default 10000).",
        |o, k, v| {
            o.multi_wan.quality_recover = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.multi_wan.quality_recover.to_string(),
    )
    .applies(MULTI_WAN),
    row(
        "sticky",
        "flow|host",
        "multi-wan: flow (default) or host (every flow to one destination on one uplink).",
        |o, k, v| {
            o.multi_wan.sticky = match v {
                "flow" => Sticky::Flow,
                "host" => Sticky::Host,
                _ => return Err(bad_choice(k, v, "flow, host")),
            };
            Ok(())
        },
        |o| {
            match o.multi_wan.sticky {
                Sticky::Flow => "flow",
                Sticky::Host => "host",
            }
            .into()
        },
    )
    .applies(MULTI_WAN),
    row(
        "address",
        "CIDR",
        "multi-wan: the bond's own address, one per family (default 192.0.0.8/32).",
        |o, _, v| {
            o.multi_wan.addresses = parse_list(v, str::parse)?;
            Ok(())
        },
        |o| join(&o.multi_wan.addresses),
    )
    .cli(Cli::List)
    .applies(MULTI_WAN),
    row(
        "default_route",
        "BOOL",
        "multi-wan: make the bond the way out (`--no-default-route`: no routes through it).",
        |o, k, v| {
            o.multi_wan.default_route = parse_bool(k, v)?;
            Ok(())
        },
        |o| bool_text(o.multi_wan.default_route),
    )
    .cli(Cli::NamedFlag("no-default-route", "0"))
    .applies(MULTI_WAN),
    row(
        "reset_on_failover",
        "BOOL",
        "multi-wan: reset the host's TCP connections through an uplink that fails.",
        |o, k, v| {
            o.multi_wan.reset_on_failover = parse_bool(k, v)?;
            Ok(())
        },
        |o| bool_text(o.multi_wan.reset_on_failover),
    )
    .cli(Cli::Flag("1"))
    .applies(MULTI_WAN),
    row(
        "max_flows",
        "N",
        "multi-wan: flow table size (default 524288, about 160 MB of kernel memory).",
        |o, k, v| {
            o.multi_wan.max_flows = parse_u32(k, v)?;
            Ok(())
        },
        |o| o.multi_wan.max_flows.to_string(),
    )
    .applies(MULTI_WAN),
    row(
        "nat_ports",
        "MIN-MAX",
        "multi-wan: translated port range MIN-MAX (default 1024-65535).",
        |o, _, v| {
            let bad = || Error::invalid("nat_ports", format!("{v:?} is not MIN-MAX"));
            let (lo, hi) = v.split_once('-').ok_or_else(bad)?;
            o.multi_wan.nat_ports = (
                lo.trim().parse().map_err(|_| bad())?,
                hi.trim().parse().map_err(|_| bad())?,
            );
            Ok(())
        },
        |o| format!("{}-{}", o.multi_wan.nat_ports.0, o.multi_wan.nat_ports.1),
    )
    .applies(MULTI_WAN),
];

/// The row for `key` (dashes read as underscores; aliases too).
pub fn find(key: &str) -> Option<&'static OptionSpec> {
    let key = key.replace('-', "_");
    OPTIONS
        .iter()
        .find(|o| o.name == key || o.aliases.contains(&key.as_str()))
}

/// Every key `set` understands, in table order (aliases after their option).
pub fn keys() -> Vec<&'static str> {
    OPTIONS
        .iter()
        .flat_map(|o| std::iter::once(o.name).chain(o.aliases.iter().copied()))
        .collect()
}

/// Sets one option from its kernel name and a textual value (`miimon`, `"100"`). Lists are
/// comma-separated; booleans accept 1/0, on/off, true/false, yes/no; `primary=""` clears it;
/// per-member lists also take `weight.IF=N`.
pub fn set_option(opts: &mut BondOptions, key: &str, value: &str) -> Result<()> {
    let value = value.trim();
    let normalized = key.replace('-', "_");
    if let Some((what, member)) = normalized.split_once('.')
        && let Some(spec) = find(what).filter(|s| s.per_member)
    {
        validate_ifname(what, member)?;
        if value.contains(',') || value.contains('=') {
            return Err(Error::invalid(what, format!("{value:?} is not one value")));
        }
        let mut list = parse_list(&(spec.get)(opts), |s| parse_member_value(spec.name, s))?;
        list.retain(|(m, _)| m != member);
        list.push((member.to_string(), value.to_string()));
        let text = join_pairs(&list);
        return (spec.set)(opts, spec.name, &text);
    }
    match find(&normalized) {
        Some(spec) => (spec.set)(opts, key, value),
        None => Err(Error::invalid(
            "option",
            format!("unknown option {key:?}; known: {}", keys().join(", ")),
        )),
    }
}

/// The options of `up`'s command line, made from the table ([`OPTIONS`]): each row's flag
/// becomes a `(name, value)` pair that [`set_option`] applies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionArgs(pub Vec<(&'static str, String)>);

impl OptionArgs {
    /// Applies every given option to `opts`.
    pub fn apply(&self, opts: &mut BondOptions) -> Result<()> {
        self.0
            .iter()
            .try_for_each(|(name, value)| set_option(opts, name, value))
    }
}

fn flag_name(spec: &OptionSpec) -> String {
    match spec.cli {
        Cli::NamedFlag(flag, _) => flag.to_string(),
        _ => spec.name.replace('_', "-"),
    }
}

impl clap::FromArgMatches for OptionArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        let mut given = Vec::new();
        for spec in OPTIONS {
            let value = match spec.cli {
                Cli::Value | Cli::Required => m.get_one::<String>(spec.name).cloned(),
                Cli::List => m
                    .get_many::<String>(spec.name)
                    .map(|v| v.cloned().collect::<Vec<_>>().join(",")),
                Cli::Flag(v) | Cli::NamedFlag(_, v) => m.get_flag(spec.name).then(|| v.into()),
            };
            if let Some(value) = value {
                given.push((spec.name, value));
            }
        }
        Ok(OptionArgs(given))
    }

    fn update_from_arg_matches(
        &mut self,
        m: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for OptionArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        use clap::{Arg, ArgAction};
        cmd.args(OPTIONS.iter().map(|spec| {
            // clap keeps flag names for the life of the program (the command is built once).
            let long: &'static str = flag_name(spec).leak();
            let arg = Arg::new(spec.name).long(long).help(spec.help);
            match spec.cli {
                Cli::Value => arg.value_name(spec.value),
                Cli::Required => arg.value_name(spec.value).required(true),
                Cli::List => arg.value_name(spec.value).action(ArgAction::Append),
                Cli::Flag(_) | Cli::NamedFlag(..) => arg.action(ArgAction::SetTrue),
            }
        }))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// The option reference (docs/options.md), made from the table; a test keeps the committed
/// file equal to it.
pub fn reference() -> String {
    let defaults = BondOptions::default();
    let mut out = String::from(
        "# Options\n\nEvery option of a bond, as `bondxdp up` (`--name`), `bondxdp set` \
         (`name=VALUE`) and the config file (`name = ...`) take it: the same names, values and \
         checks everywhere. Kernel bonding options keep the kernel's names and values.\n\
         Generated from the option table (`bondxdp/src/options/table.rs`); do not edit by \
         hand: `cargo test -p bondxdp options_reference` says how to refresh it.\n\n\
         | option | `up` flag | value | default | modes | live | what it does |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for spec in OPTIONS {
        let flag = match spec.cli {
            Cli::Flag(_) | Cli::NamedFlag(..) => format!("`--{}`", flag_name(spec)),
            Cli::List => format!("`--{}` (repeat)", flag_name(spec)),
            Cli::Value | Cli::Required => format!("`--{}`", flag_name(spec)),
        };
        let names = std::iter::once(spec.name)
            .chain(spec.aliases.iter().copied())
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let default = (spec.get)(&defaults);
        out.push_str(&format!(
            "| {names} | {flag} | {} | {} | {} | {} | {} |\n",
            spec.value,
            if default.is_empty() {
                "-".into()
            } else {
                format!("`{default}`")
            },
            spec.applies.describe(),
            if spec.live { "yes" } else { "no (down, up)" },
            spec.help.replace('|', "\\|"),
        ));
    }
    out
}

/// Splits `IF=VALUE`.
fn parse_member_value(key: &str, s: &str) -> Result<(String, String)> {
    let (m, v) = s
        .split_once('=')
        .ok_or_else(|| Error::invalid(key, format!("{s:?} is not MEMBER=VALUE")))?;
    validate_ifname(key, m.trim())?;
    Ok((m.trim().to_string(), v.trim().to_string()))
}

/// `IF=N,IF=N`.
fn parse_member_u32s(key: &str, value: &str) -> Result<Vec<(String, u32)>> {
    parse_list(value, |s| {
        let (m, v) = parse_member_value(key, s)?;
        Ok((m, parse_u32(key, &v)?))
    })
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

fn bool_text(b: bool) -> String {
    if b { "1" } else { "0" }.into()
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn join_pairs<T: std::fmt::Display>(items: &[(String, T)]) -> String {
    items
        .iter()
        .map(|(m, v)| format!("{m}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_kernel_style() {
        let mut seen = std::collections::BTreeSet::new();
        for key in keys() {
            assert!(seen.insert(key), "{key} twice");
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
            );
        }
        for spec in OPTIONS {
            assert!(
                !spec.help.is_empty() && !spec.value.is_empty(),
                "{}",
                spec.name
            );
        }
    }

    /// Each option's rendered value is one `set` takes back to the same options: for the
    /// defaults and for options set to something else.
    #[test]
    fn use_carrier_takes_1_and_refuses_0() {
        let mut o = BondOptions::default();
        set_option(&mut o, "use_carrier", "1").unwrap();
        set_option(&mut o, "use_carrier", "on").unwrap();
        set_option(&mut o, "use_carrier", "true").unwrap(); // TOML `use_carrier = true`
        assert_eq!(o, BondOptions::default());
        assert!(set_option(&mut o, "use_carrier", "false").is_err());
        let e = set_option(&mut o, "use_carrier", "0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("carrier"), "{e}");
    }

    #[test]
    fn arp_validate_filter_values_round_trip_through_pinned_state() {
        for (text, n) in [("filter", 4), ("filter_active", 5), ("filter_backup", 6)] {
            let mut o = BondOptions::default();
            set_option(&mut o, "arp_validate", text).unwrap();
            assert_eq!(o.monitor.arp_validate as u8, n);
            let mut by_number = BondOptions::default();
            set_option(&mut by_number, "arp_validate", &n.to_string()).unwrap();
            assert_eq!(by_number, o);
            let back = crate::options::MonitorOptions::from_pinned(&o.monitor.to_pinned());
            assert_eq!(back.arp_validate, o.monitor.arp_validate);
        }
    }

    #[test]
    fn every_value_renders_as_set_takes_it() {
        let mut changed = BondOptions::default();
        for (k, v) in [
            ("mode", "802.3ad"),
            ("xmit_hash_policy", "layer3+4"),
            ("packets_per_slave", "3"),
            ("primary", "eth1"),
            ("primary_reselect", "failure"),
            ("keep_member_macs", "1"),
            ("fail_over_mac", "follow"),
            ("tc_attach", "legacy"),
            ("all_slaves_active", "yes"),
            ("mac", "02:00:00:00:00:05"),
            ("miimon", "50"),
            ("updelay", "100"),
            ("downdelay", "150"),
            ("arp_interval", "200"),
            ("arp_ip_target", "198.18.0.1,198.18.0.2"),
            ("ns_ip6_target", "2001:db8::1"),
            ("arp_validate", "filter_backup"),
            ("arp_all_targets", "all"),
            ("arp_missed_max", "4"),
            ("num_unsol_na", "3"),
            ("peer_notif_delay", "200"),
            ("resend_igmp", "3"),
            ("prio", "eth1=10"),
            ("prio.eth2", "-5"),
            ("active_slave", "eth2"),
            ("min_links", "2"),
            ("lacp_rate", "fast"),
            ("lacp_active", "off"),
            ("ad_select", "actor_port_prio"),
            ("actor_port_prio", "eth0=1000,eth2=0"),
            ("actor_port_prio.eth1", "7"),
            ("ad_actor_sys_prio", "100"),
            ("ad_user_port_key", "7"),
            ("ad_actor_system", "02:00:00:00:00:09"),
            ("coupled_control", "0"),
            ("lacp_strict", "1"),
            ("link_events", "off"),
            ("gateway", "eth1=198.18.0.1,eth2=2001:db8::1"),
            ("tier", "eth2=1"),
            ("tier.eth3", "2"),
            ("weight", "eth1=3,eth2=1"),
            ("speed.eth1", "100"),
            ("flowlet_timeout", "30"),
            ("tlb_dynamic_lb", "0"),
            ("lp_interval", "5"),
            ("forward_from", "lan0,lan1"),
            ("select_program", "/x/sel.o:weighted_hash"),
            ("rebalance_interval", "0"),
            ("probe", "198.18.0.9,tcp:198.18.0.9:443"),
            ("probe_interval", "250"),
            ("probe_timeout", "120"),
            ("probe_failure_interval", "90"),
            ("probe_down", "4"),
            ("probe_up", "5"),
            ("probe_max_rtt", "800"),
            ("quality_loss", "30"),
            ("quality_rtt", "800"),
            ("quality_hold", "3000"),
            ("quality_recover", "15000"),
            ("sticky", "host"),
            ("address", "198.18.5.5/32,2001:db8::5/128"),
            ("default_route", "0"),
            ("reset_on_failover", "true"),
            ("max_flows", "4096"),
            ("nat_ports", "2000-3000"),
        ] {
            set_option(&mut changed, k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
        }
        for opts in [BondOptions::default(), changed.clone()] {
            for spec in OPTIONS {
                let text = (spec.get)(&opts);
                if text.is_empty() {
                    continue; // unset, as `mac` is by default
                }
                let mut again = opts.clone();
                set_option(&mut again, spec.name, &text)
                    .unwrap_or_else(|e| panic!("{}={text}: {e}", spec.name));
                assert_eq!(again, opts, "{}={text}", spec.name);
            }
        }
        // Every option was changed from its default by the list above.
        let defaults = BondOptions::default();
        for spec in OPTIONS {
            if spec.name == "use_carrier" {
                continue; // one value only: checked below
            }
            assert_ne!(
                (spec.get)(&changed),
                (spec.get)(&defaults),
                "{} not covered",
                spec.name
            );
        }
    }

    #[test]
    fn per_member_keys_change_one_entry() {
        let mut o = BondOptions::default();
        set_option(&mut o, "weight", "eth1=3,eth2=1").unwrap();
        set_option(&mut o, "weight.eth2", "5").unwrap();
        assert_eq!(
            o.balance.weights,
            [("eth1".to_string(), 3), ("eth2".to_string(), 5)]
        );
        assert!(set_option(&mut o, "mode.eth1", "1").is_err());
    }

    #[test]
    fn speed_applies_to_the_weighted_modes_and_802_3ad() {
        for mode in Mode::ALL {
            let want = Applies::Uses(USES_WEIGHTS).to(mode) || mode == Mode::Ieee8023ad;
            assert_eq!(WEIGHTS_OR_LACP.to(mode), want, "{mode:?}");
        }
    }

    #[test]
    fn applies_names_modes() {
        assert_eq!(find("lacp_rate").unwrap().applies.describe(), "802.3ad");
        assert_eq!(find("miimon").unwrap().applies.describe(), "all");
        assert!(
            find("primary")
                .unwrap()
                .applies
                .describe()
                .contains("active-backup")
        );
        assert!(find("num-unsol-na").is_some());
    }

    /// docs/options.md is what [`reference`] makes of the table.
    #[test]
    fn options_reference_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/options.md");
        let made = reference();
        if std::env::var_os("BONDXDP_WRITE_REFERENCE").is_some() {
            std::fs::write(&path, &made).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == made,
            "docs/options.md is out of date: BONDXDP_WRITE_REFERENCE=1 cargo test -p bondxdp \
             options_reference"
        );
    }
}
