//! `bondxdp status`: a bond's configuration, members and counters, read from the pinned maps
//! and netlink, shown like /proc/net/bonding/bondN or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bondxdp_common::{
    BondConfig, MAX_MEMBERS, Mode,
    config::{LinkState, MEMBER_RX_ACCEPT, UPLINK_L3},
    multi_wan::{Addr, FAMILY_V4, addr_bytes},
    records::{
        ForwardRecord, HEALTH_CONFIRMING, HEALTH_DOWN, HEALTH_UP, MAX_FORWARD,
        PROBLEM_GATEWAY_UNRESOLVED, PROBLEM_NO_ADDRESS, PROBLEM_NO_GATEWAY, UplinkHealth,
    },
};
use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    lacp::{AggregatorStatus, PortStatus, record::read_record},
    mac::format_mac,
    maps::{BondMaps, name_string},
    netdev::Netlink,
    options::{LacpOptions, MonitorOptions, validate_ifname},
    pins::{self, BondPaths},
    preflight,
};

/// One bond as `status` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BondStatus {
    /// Bond name.
    pub name: String,
    /// Interface index of the bond (0 if the interface is gone).
    pub ifindex: u32,
    /// Network namespace id the bond's pins are keyed by.
    pub netns: u64,
    /// MAC address of the bond.
    pub mac: String,
    /// Mode name (`balance-xor`).
    pub mode: String,
    /// Kernel mode number.
    pub mode_number: u32,
    /// Mode description as /proc/net/bonding prints it.
    pub mode_description: String,
    /// How the tc programs are attached: `tcx` (pinned links) or `legacy` (clsact qdisc,
    /// cls_bpf filters).
    #[serde(default)]
    pub tc_attach: String,
    /// Transmit hash policy (hashing modes only).
    pub xmit_hash_policy: Option<String>,
    /// balance-rr packets per member.
    pub packets_per_slave: Option<u32>,
    /// Configured primary member.
    pub primary: Option<String>,
    /// Currently active member (active-backup).
    pub active: Option<String>,
    /// Whether members keep their own MACs.
    pub keep_member_macs: bool,
    /// Whether frames from inactive members are delivered.
    pub all_slaves_active: bool,
    /// Whether the bond interface is up with carrier.
    pub up: bool,
    /// Configuration generation (increments on every change).
    pub generation: u64,
    /// Members that must be up for the bond to have carrier.
    pub min_links: u32,
    /// Link monitoring options (for the controller).
    pub monitor: MonitorStatus,
    /// Members, in slot order.
    pub members: Vec<MemberStatus>,
    /// Dropped packets by reason.
    pub drops: BTreeMap<String, u64>,
    /// Non-drop events by name.
    pub events: BTreeMap<String, u64>,
    /// multi-wan: the flow table.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub flow_table: Option<FlowTableStatus>,
    /// multi-wan: the tier new IPv4 flows go to (the lowest with an uplink up); `None`
    /// outside multi-wan or with no uplink up.
    #[serde(default)]
    pub live_tier: Option<u8>,
    /// load-aware, balance-tlb: the flowlet timeout, ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub flowlet_timeout_ms: Option<u64>,
    /// Entries of the bond's flowlet table, allocated only while the mode reads it
    /// (load-aware, balance-tlb, balance-alb); absent: none allocated.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub flowlet_table: Option<u32>,
    /// custom: the selection program (`FILE.o[:PROGRAM]`) as loaded.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub select_program: Option<String>,
    /// XDP fast path: the `--forward-from` interfaces and their XDP mode.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub forward_from: Vec<ForwardStatus>,
    /// 802.3ad: LACP settings and aggregators.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lacp: Option<LacpStatus>,
    /// Every option that applies to the bond's mode, rendered by the option table as
    /// `bondxdp set` takes it back (`miimon` -> `100`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// balance-alb: the client table (receive load balancing).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub alb_clients: Vec<AlbClientStatus>,
}

/// One balance-alb client: a peer and the member it sends to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlbClientStatus {
    /// The peer's IPv4 address.
    pub ip: String,
    /// The peer's MAC (empty until known).
    pub mac: String,
    /// The member the peer sends to.
    pub member: String,
    /// The bond's address the peer talks to.
    pub bond_ip: String,
}

/// 802.3ad as `status` reports it (what /proc/net/bonding calls "802.3ad info").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LacpStatus {
    /// `lacp_active`: on or off.
    pub lacp_active: String,
    /// `lacp_rate`: slow or fast.
    pub lacp_rate: String,
    /// `ad_select`.
    pub ad_select: String,
    /// `ad_actor_sys_prio`.
    pub system_priority: u16,
    /// The actor system (`ad_actor_system`, else the bond's MAC).
    pub system: String,
    /// `ad_user_port_key`.
    pub user_port_key: u16,
    /// The active aggregator's identifier.
    pub active_aggregator: Option<u16>,
    /// Aggregators in use.
    pub aggregators: Vec<AggregatorStatus>,
    /// Seconds since the controller last recorded its actor's state (`None`: no controller
    /// ran LACP for this bond yet; nothing is sent until one does).
    pub record_age_s: Option<f64>,
}

/// One 802.3ad member port as `status` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LacpMemberStatus {
    /// Its machines, actor and partner information, churn and counters.
    #[serde(flatten)]
    pub port: PortStatus,
    /// LACPDUs the controller failed to send on it.
    pub tx_errors: u64,
}

/// A `--forward-from` interface as `status` reports it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ForwardStatus {
    /// Interface name.
    pub name: String,
    /// `native` or `generic` XDP.
    pub xdp: String,
    /// The XDP program on it (the mode's: `xdp_lan_xor_l34`, ...; `xdp_lan_pass` for modes
    /// without a fast path).
    pub program: String,
}

/// The XDP mode of member `slot` on the fast path, if it is on it.
fn fast_path_on(record: &ForwardRecord, slot: usize) -> Option<String> {
    if record.ifindex.iter().all(|&i| i == 0) {
        return None;
    }
    Some(xdp_mode(record.generic & (1 << (16 + slot)) != 0))
}

fn xdp_mode(generic: bool) -> String {
    if generic { "generic" } else { "native" }.to_string()
}

/// The multi-wan flow table as `status` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowTableStatus {
    /// Flows in it now.
    pub live: u64,
    /// Its capacity (`max_flows`).
    pub capacity: u64,
    /// Flows created since the bond came up.
    pub created: u64,
    /// Flows the controller removed (expired, or their uplink failed).
    pub swept: u64,
    /// Flows the kernel evicted to make room (the rest: created - swept - live).
    pub evicted: u64,
}

/// Link monitoring options as `status` reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorStatus {
    /// `miimon` (ms).
    pub miimon: u32,
    /// `updelay` (ms).
    pub updelay: u32,
    /// `downdelay` (ms).
    pub downdelay: u32,
    /// `arp_interval` (ms).
    pub arp_interval: u32,
    /// `arp_ip_target` and `ns_ip6_target`.
    pub targets: Vec<String>,
    /// `arp_validate`.
    pub arp_validate: String,
    /// `primary_reselect`.
    pub primary_reselect: String,
    /// Whether netlink link events are acted on at once.
    pub link_events: bool,
}

/// One member as `status` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub ifindex: u32,
    /// Slot in the data plane.
    pub slot: usize,
    /// Link state the data plane acts on (`up`/`down`).
    pub link: String,
    /// Whether the interface has carrier now.
    pub carrier: bool,
    /// Whether the member may transmit now.
    pub transmitting: bool,
    /// Whether frames received on it reach the bond.
    pub receiving: bool,
    /// Its current MAC address.
    pub mac: String,
    /// Its MAC before it was enslaved ("Permanent HW addr").
    pub permanent_mac: String,
    /// Packets sent through it.
    pub tx_packets: u64,
    /// Bytes sent through it.
    pub tx_bytes: u64,
    /// Packets received on it and delivered to the bond.
    pub rx_packets: u64,
    /// Bytes received on it and delivered to the bond.
    pub rx_bytes: u64,
    /// Of the packets above (either way), those the XDP fast path forwarded.
    #[serde(default)]
    pub xdp_forwarded: u64,
    /// multi-wan: the uplink's translation settings and health.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uplink: Option<UplinkStatus>,
    /// Weighted modes: its share of new flows (relative).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub weight: Option<u16>,
    /// XDP fast path on this member: `native` or `generic` (absent: none).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub xdp: Option<String>,
    /// 802.3ad: the member's LACP port.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lacp: Option<LacpMemberStatus>,
}

/// A multi-wan uplink as `status` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UplinkStatus {
    /// The address flows are translated to (IPv4).
    pub address4: Option<String>,
    /// The address flows are translated to (IPv6).
    pub address6: Option<String>,
    /// IPv4 gateway and its MAC.
    pub gateway4: Option<String>,
    /// IPv6 gateway and its MAC.
    pub gateway6: Option<String>,
    /// Raw IP (no Ethernet header).
    pub raw_ip: bool,
    /// Controller verdict: up, confirming, down, or unknown (no controller ran yet).
    pub health: String,
    /// Smoothed probe round trip, ms.
    pub rtt_ms: Option<f64>,
    /// Recent probe loss, percent.
    pub loss_percent: f64,
    /// Probes sent and answered.
    pub probes: (u64, u64),
    /// What keeps it from carrying flows.
    pub problems: Vec<String>,
    /// Share of new flows (relative).
    pub weight: u16,
    /// Its tier (`tier`; new flows go to the lowest with an uplink up).
    #[serde(default)]
    pub tier: u8,
    /// Flows pinned to it now.
    pub flows: usize,
}

/// One multi-wan flow as `bondxdp flows` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowStatus {
    /// tcp, udp, icmp, or the protocol number.
    pub proto: String,
    /// The inside end (address:port).
    pub inside: String,
    /// The remote end.
    pub remote: String,
    /// The uplink carrying it.
    pub uplink: String,
    /// The inside end as the remote sees it (after translation).
    pub translated: String,
    /// Seconds since the flow started.
    pub age_s: f64,
    /// Seconds since a packet last left.
    pub idle_s: f64,
    /// Packets and bytes sent.
    pub tx: (u64, u64),
    /// Packets and bytes received.
    pub rx: (u64, u64),
    /// Whether it is still valid (its uplink's epoch).
    pub live: bool,
}

/// Status of bond `name`, or of every bond in this namespace.
pub async fn status(name: Option<&str>) -> Result<Vec<BondStatus>> {
    preflight::check_privileges()?;
    let nl = Netlink::connect()?;
    let names = match name {
        Some(n) => {
            validate_ifname("bond name", n)?;
            if !BondPaths::current(n)?.exists() {
                return Err(Error::NotABond(n.to_string()));
            }
            vec![n.to_string()]
        }
        None => pins::list_bonds()?,
    };
    let mut out = Vec::new();
    for n in names {
        out.push(bond_status(&nl, &BondPaths::current(&n)?).await?);
    }
    Ok(out)
}

/// Status of the bond pinned at `paths`.
pub async fn bond_status(nl: &Netlink, paths: &BondPaths) -> Result<BondStatus> {
    let maps = BondMaps::open(paths)?;
    let state = maps
        .state()?
        .ok_or_else(|| Error::BadPinnedState(paths.dir().to_path_buf()))?;
    let cfg = maps.config.current()?.unwrap_or_default();
    let mode = cfg.mode().unwrap_or(Mode::BalanceRr);
    let bond_link = nl.link_by_index(state.bond_ifindex).await?;
    let mut members = Vec::new();
    for slot in 0..MAX_MEMBERS {
        let m = cfg.members[slot];
        if !m.is_used() {
            continue;
        }
        let link = nl.link_by_index(m.ifindex).await?;
        let saved = &state.members[slot];
        let stats = maps.member_stats(slot)?;
        members.push(MemberStatus {
            name: link
                .as_ref()
                .map(|l| l.name.clone())
                .unwrap_or_else(|| name_string(&saved.name)),
            ifindex: m.ifindex,
            slot,
            link: match m.link_state() {
                LinkState::Up => "up",
                LinkState::Down => "down",
            }
            .into(),
            carrier: link.as_ref().is_some_and(|l| l.up && l.carrier),
            transmitting: cfg.tx_slots().contains(&(slot as u8)),
            receiving: m.flags & MEMBER_RX_ACCEPT != 0,
            mac: link
                .as_ref()
                .and_then(|l| l.mac)
                .map(|m| format_mac(&m))
                .unwrap_or_default(),
            permanent_mac: format_mac(&saved.mac),
            tx_packets: stats.tx_packets,
            tx_bytes: stats.tx_bytes,
            rx_packets: stats.rx_packets,
            rx_bytes: stats.rx_bytes,
            xdp_forwarded: stats.xdp_forwarded,
            uplink: None,
            weight: mode.uses_weights().then_some(cfg.weights[slot]),
            xdp: fast_path_on(&state.forward, slot),
            lacp: None,
        });
    }
    let mut lacp = None;
    if mode == Mode::Ieee8023ad {
        let opts = LacpOptions::from_pinned(&state.lacp);
        let recorded = read_record(&state.lacp);
        for p in recorded.ports {
            if let Some(m) = members
                .iter_mut()
                .find(|m| m.slot == p.slot && m.ifindex == p.ifindex)
            {
                m.lacp = Some(LacpMemberStatus {
                    port: p.status,
                    tx_errors: p.tx_errors,
                });
            }
        }
        lacp = Some(LacpStatus {
            lacp_active: if opts.active { "on" } else { "off" }.into(),
            lacp_rate: opts.rate_name().into(),
            ad_select: opts.ad_select_name().into(),
            system_priority: opts.system_priority,
            system: format_mac(&opts.actor_system.unwrap_or(cfg.bond_mac)),
            user_port_key: opts.user_port_key,
            active_aggregator: recorded.active_aggregator,
            aggregators: recorded.aggregators,
            record_age_s: (recorded.updated_ns != 0).then(|| {
                crate::maps::monotonic_ns().saturating_sub(recorded.updated_ns) as f64 / 1e9
            }),
        });
    }
    let mut flow_table = None;
    if mode.is_multi_uplink() {
        let mut per_slot = [0usize; MAX_MEMBERS];
        let mut live = 0u64;
        for (_, e) in maps.nat.flows.iter().filter_map(|r| r.ok()) {
            live += 1;
            let slot = e.slot as usize;
            if slot < MAX_MEMBERS && cfg.uplinks[slot].epoch == e.epoch {
                per_slot[slot] += 1;
            }
        }
        let mut swept = 0;
        for m in members.iter_mut() {
            let health = maps.nat.health(m.slot).unwrap_or_default();
            swept += health.swept;
            m.uplink = Some(uplink_status(&cfg, m.slot, &health, per_slot[m.slot]));
        }
        let created = maps.counter(bondxdp_common::Counter::NatNewFlow)?;
        flow_table = Some(FlowTableStatus {
            live,
            capacity: state.mwan.max_flows as u64,
            created,
            swept,
            evicted: created.saturating_sub(swept + live),
        });
    }
    let slot_name = |slot: u32| {
        members
            .iter()
            .find(|m| m.slot as u32 == slot)
            .map(|m| m.name.clone())
    };
    let mut drops = BTreeMap::new();
    let mut events = BTreeMap::new();
    for (counter, value) in maps.counters()? {
        let map = if counter.is_drop() {
            &mut drops
        } else {
            &mut events
        };
        map.insert(counter.name().to_string(), value);
    }
    let alb_clients = if mode == Mode::BalanceAlb {
        alb_clients(paths, &members)?
    } else {
        Vec::new()
    };
    let configured = crate::options::pinned_options(&cfg, &state);
    let options = crate::options::OPTIONS
        .iter()
        .filter(|o| o.applies.to(mode))
        .map(|o| (o.name.to_string(), (o.get)(&configured)))
        .collect();
    Ok(BondStatus {
        options,
        name: paths.name(),
        ifindex: bond_link.as_ref().map_or(0, |l| l.index),
        netns: pins::netns_id()?,
        mac: format_mac(&cfg.bond_mac),
        mode: mode.name().into(),
        mode_number: mode as u32,
        mode_description: mode.description().into(),
        tc_attach: crate::attach::mode_of(&state).name().into(),
        xmit_hash_policy: mode
            .uses_hash()
            .then(|| cfg.hash_policy().map(|p| p.name().to_string()))
            .flatten(),
        packets_per_slave: (mode == Mode::BalanceRr).then_some(cfg.packets_per_slave),
        primary: slot_name(state.primary_slot),
        active: mode
            .uses_active()
            .then(|| slot_name(cfg.active_slot))
            .flatten(),
        keep_member_macs: cfg.has_flag(bondxdp_common::config::CFG_KEEP_MEMBER_MACS),
        all_slaves_active: cfg.has_flag(bondxdp_common::config::CFG_ALL_SLAVES_ACTIVE),
        up: bond_link.as_ref().is_some_and(|l| l.up && l.carrier),
        generation: cfg.generation,
        min_links: cfg.min_links,
        monitor: {
            let m = MonitorOptions::from_pinned(&state.monitor);
            MonitorStatus {
                miimon: m.miimon,
                updelay: m.updelay,
                downdelay: m.downdelay,
                arp_interval: m.arp_interval,
                targets: m
                    .arp_ip_targets
                    .iter()
                    .map(|t| t.to_string())
                    .chain(m.ns_ip6_targets.iter().map(|t| t.to_string()))
                    .collect(),
                arp_validate: format!("{:?}", m.arp_validate).to_lowercase(),
                primary_reselect: format!("{:?}", m.primary_reselect).to_lowercase(),
                link_events: m.link_events,
            }
        },
        members,
        drops,
        events,
        flow_table,
        live_tier: if mode.is_multi_uplink() {
            cfg.live_tier(bondxdp_common::types::UPLINK_V4)
                .or_else(|| cfg.live_tier(bondxdp_common::types::UPLINK_V6))
        } else {
            None
        },
        flowlet_timeout_ms: matches!(mode, Mode::LoadAware | Mode::BalanceTlb | Mode::BalanceAlb)
            .then_some(cfg.flowlet_ns / 1_000_000),
        flowlet_table: crate::tables::flowlet_entries(paths)?,
        select_program: Some(name_string(&state.custom.program)).filter(|p| !p.is_empty()),
        forward_from: (0..MAX_FORWARD)
            .filter(|&i| state.forward.ifindex[i] != 0)
            .map(|i| ForwardStatus {
                name: name_string(&state.forward.names[i]),
                xdp: xdp_mode(state.forward.generic & (1 << i) != 0),
                program: crate::fast_path::lan_program(
                    mode,
                    cfg.hash_policy()
                        .unwrap_or(bondxdp_common::HashPolicy::Layer2),
                )
                .into(),
            })
            .collect(),
        lacp,
        alb_clients,
    })
}

/// A multi-wan uplink's status from the configuration and the controller's record.
fn uplink_status(cfg: &BondConfig, slot: usize, h: &UplinkHealth, flows: usize) -> UplinkStatus {
    let u = &cfg.uplinks[slot];
    let mac = |m: &[u8; 6]| {
        if *m == [0; 6] {
            "unresolved".to_string()
        } else {
            format_mac(m)
        }
    };
    let gw4 = (h.gw4 != [0; 4]).then(|| format!("{} ({})", Ipv4Addr::from(h.gw4), mac(&u.gw_mac4)));
    let gw6 =
        (h.gw6 != [0; 16]).then(|| format!("{} ({})", Ipv6Addr::from(h.gw6), mac(&u.gw_mac6)));
    let mut problems = Vec::new();
    if h.problems & PROBLEM_NO_ADDRESS != 0 {
        problems.push("no address".to_string());
    }
    if h.problems & PROBLEM_NO_GATEWAY != 0 {
        problems.push("no gateway".to_string());
    }
    if h.problems & PROBLEM_GATEWAY_UNRESOLVED != 0 {
        problems.push("gateway not resolved".to_string());
    }
    if h.problems & bondxdp_common::records::PROBLEM_DEGRADED != 0 {
        problems.push("degraded: loss or latency over the quality thresholds".to_string());
    }
    UplinkStatus {
        address4: (u.addr4 != 0).then(|| Ipv4Addr::from(u.addr4.to_le_bytes()).to_string()),
        address6: (u.addr6 != [0; 4]).then(|| Ipv6Addr::from(addr_bytes(&u.addr6)).to_string()),
        gateway4: gw4,
        gateway6: gw6,
        raw_ip: u.flags & UPLINK_L3 != 0,
        health: match h.state {
            HEALTH_UP => "up",
            HEALTH_CONFIRMING => "confirming a failure",
            HEALTH_DOWN => "down",
            _ => "unknown (no controller yet)",
        }
        .into(),
        rtt_ms: (h.srtt_us > 0).then(|| h.srtt_us as f64 / 1000.0),
        loss_percent: h.loss_permille as f64 / 10.0,
        probes: (h.probes_sent, h.replies),
        problems,
        weight: cfg.weights[slot],
        tier: u.tier,
        flows,
    }
}

/// The live flows of multi-wan bond `name`.
pub async fn flows(name: &str) -> Result<Vec<FlowStatus>> {
    preflight::check_privileges()?;
    validate_ifname("bond name", name)?;
    let paths = BondPaths::current(name)?;
    if !paths.exists() {
        return Err(Error::NotABond(name.to_string()));
    }
    let maps = BondMaps::open(&paths)?;
    let state = maps
        .state()?
        .ok_or_else(|| Error::BadPinnedState(paths.dir().to_path_buf()))?;
    let cfg = maps.config.current()?.unwrap_or_default();
    if !cfg.mode().is_some_and(Mode::is_multi_uplink) {
        return Err(Error::invalid(
            "bond",
            format!("{name} is not a multi-wan bond: it has no flow table"),
        ));
    }
    let now = crate::maps::monotonic_ns();
    let mut out = Vec::new();
    for (k, e) in maps.nat.flows.iter().filter_map(|r| r.ok()) {
        let slot = (e.slot as usize).min(MAX_MEMBERS - 1);
        let u = &cfg.uplinks[slot];
        let ip = |a: &Addr| -> IpAddr {
            if k.family == FAMILY_V4 {
                Ipv4Addr::from(a[0].to_le_bytes()).into()
            } else {
                Ipv6Addr::from(addr_bytes(a)).into()
            }
        };
        let end = |a: IpAddr, p: u16| match a {
            IpAddr::V4(a) => format!("{a}:{p}"),
            IpAddr::V6(a) => format!("[{a}]:{p}"),
        };
        let translated_addr = ip(&u.addr(k.family));
        let reply = k.reply_key(u.addr(k.family), e.nat_port);
        let rx = maps
            .nat
            .table
            .get(&reply, 0)
            .map(|n| (n.rx_packets, n.rx_bytes))
            .unwrap_or((0, 0));
        out.push(FlowStatus {
            proto: match k.proto {
                6 => "tcp".into(),
                17 => "udp".into(),
                1 | 58 => "icmp".into(),
                p => p.to_string(),
            },
            inside: end(ip(&k.src), k.sport),
            remote: end(ip(&k.dst), k.dport),
            uplink: name_string(&state.members[slot].name),
            translated: end(translated_addr, e.nat_port),
            age_s: now.saturating_sub(e.created_ns) as f64 / 1e9,
            idle_s: now.saturating_sub(e.last_ns) as f64 / 1e9,
            tx: (e.tx_packets, e.tx_bytes),
            rx,
            live: e.epoch == u.epoch && cfg.members[slot].link_state() == LinkState::Up,
        });
    }
    out.sort_by(|a, b| a.uplink.cmp(&b.uplink).then(a.inside.cmp(&b.inside)));
    Ok(out)
}

/// Renders `bondxdp flows` as a table.
pub fn render_flows(flows: &[FlowStatus]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<5} {:<44} {:<44} {:<10} {:<44} {:>8} {:>8} {:>12} {:>12}",
        "proto",
        "inside",
        "remote",
        "uplink",
        "translated",
        "age s",
        "idle s",
        "tx bytes",
        "rx bytes"
    );
    for f in flows {
        let _ = writeln!(
            o,
            "{:<5} {:<44} {:<44} {:<10} {:<44} {:>8.1} {:>8.1} {:>12} {:>12}{}",
            f.proto,
            f.inside,
            f.remote,
            f.uplink,
            f.translated,
            f.age_s,
            f.idle_s,
            f.tx.1,
            f.rx.1,
            if f.live { "" } else { "  (stale)" }
        );
    }
    let _ = writeln!(o, "{} flows", flows.len());
    o
}

/// Renders a bond's status in the style of /proc/net/bonding/bondN.
pub fn render(s: &BondStatus) -> String {
    let mut o = String::new();
    let yes = |b: bool| if b { "yes" } else { "no" };
    let _ = writeln!(
        o,
        "bondxdp bond: {} (ifindex {}, netns {})",
        s.name, s.ifindex, s.netns
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "Bonding Mode: {} ({})", s.mode_description, s.mode);
    let _ = writeln!(
        o,
        "TC Attach: {}",
        match s.tc_attach.as_str() {
            "legacy" => "legacy (clsact qdisc, cls_bpf filters)",
            other => other,
        }
    );
    if let Some(p) = &s.xmit_hash_policy {
        let _ = writeln!(o, "Transmit Hash Policy: {p}");
    }
    if let Some(t) = s.flowlet_timeout_ms {
        let _ = writeln!(o, "Flowlet Timeout (ms): {t}");
    }
    if let Some(n) = s.flowlet_table {
        let mb = crate::tables::flowlet_table_bytes(n) as f64 / 1e6;
        let _ = writeln!(o, "Flowlet Table: {n} entries ({mb:.1} MB)");
    }
    if let Some(p) = &s.select_program {
        let _ = writeln!(o, "Selection Program: {p}");
    }
    if !s.forward_from.is_empty() {
        let list: Vec<String> = s
            .forward_from
            .iter()
            .map(|f| format!("{} ({}, {})", f.name, f.xdp, f.program))
            .collect();
        let _ = writeln!(o, "XDP Fast Path From: {}", list.join(", "));
    }
    if let Some(n) = s.packets_per_slave {
        let _ = writeln!(o, "Packets Per Slave: {n}");
    }
    if [Mode::ActiveBackup, Mode::BalanceTlb, Mode::BalanceAlb]
        .iter()
        .any(|m| *m as u32 == s.mode_number)
    {
        let _ = writeln!(
            o,
            "Primary Slave: {} (primary_reselect {})",
            s.primary.as_deref().unwrap_or("None"),
            s.monitor.primary_reselect
        );
        let _ = writeln!(
            o,
            "Currently Active Slave: {}",
            s.active.as_deref().unwrap_or("None")
        );
    }
    let _ = writeln!(o, "MII Status: {}", if s.up { "up" } else { "down" });
    let m = &s.monitor;
    let _ = writeln!(o, "MII Polling Interval (ms): {}", m.miimon);
    let _ = writeln!(o, "Up Delay (ms): {}", m.updelay);
    let _ = writeln!(o, "Down Delay (ms): {}", m.downdelay);
    if m.arp_interval > 0 {
        let _ = writeln!(o, "ARP Polling Interval (ms): {}", m.arp_interval);
        let _ = writeln!(o, "ARP IP target/s: {}", m.targets.join(","));
        let _ = writeln!(o, "ARP validate: {}", m.arp_validate);
    }
    if s.min_links > 0 {
        let _ = writeln!(o, "Min links: {}", s.min_links);
    }
    let _ = writeln!(o, "MAC Address: {}", s.mac);
    if s.keep_member_macs {
        let _ = writeln!(o, "Members keep their MACs: yes");
    }
    if let Some(l) = &s.lacp {
        render_lacp(&mut o, l, s.min_links);
    }
    if s.all_slaves_active {
        let _ = writeln!(o, "All slaves active: yes");
    }
    for m in &s.members {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "Slave Interface: {} (ifindex {}, slot {})",
            m.name, m.ifindex, m.slot
        );
        let _ = writeln!(o, "MII Status: {}", if m.carrier { "up" } else { "down" });
        let _ = writeln!(o, "Data Plane Link: {}", m.link);
        let _ = writeln!(
            o,
            "Transmitting: {}  Receiving: {}",
            yes(m.transmitting),
            yes(m.receiving)
        );
        let _ = writeln!(o, "Permanent HW addr: {}", m.permanent_mac);
        let _ = writeln!(o, "Current HW addr: {}", m.mac);
        let _ = writeln!(o, "TX: {} packets, {} bytes", m.tx_packets, m.tx_bytes);
        let _ = writeln!(o, "RX: {} packets, {} bytes", m.rx_packets, m.rx_bytes);
        if let (Some(w), None) = (m.weight, &m.uplink) {
            let _ = writeln!(o, "Weight: {w}");
        }
        if let Some(x) = &m.xdp {
            let _ = writeln!(
                o,
                "XDP Fast Path: {x}, {} packets forwarded",
                m.xdp_forwarded
            );
        }
        if let Some(l) = &m.lacp {
            render_lacp_port(&mut o, l);
        }
        if let Some(u) = &m.uplink {
            let none = || "none".to_string();
            let _ = writeln!(
                o,
                "Uplink Address: {} {}{}",
                u.address4.clone().unwrap_or_else(none),
                u.address6.clone().unwrap_or_else(none),
                if u.raw_ip { " (raw IP)" } else { "" }
            );
            let _ = writeln!(
                o,
                "Gateway: {} {}",
                u.gateway4.clone().unwrap_or_else(none),
                u.gateway6.clone().unwrap_or_else(none)
            );
            let _ = writeln!(
                o,
                "Health: {}  RTT: {}  Loss: {:.0}%  Probes: {} sent, {} answered",
                u.health,
                u.rtt_ms.map_or("-".into(), |r| format!("{r:.2} ms")),
                u.loss_percent,
                u.probes.0,
                u.probes.1
            );
            let _ = writeln!(
                o,
                "Tier: {}  Weight: {}  Flows: {}",
                u.tier, u.weight, u.flows
            );
            if !u.problems.is_empty() {
                let _ = writeln!(o, "Problems: {}", u.problems.join(", "));
            }
        }
    }
    let _ = writeln!(o);
    let total: u64 = s.drops.values().sum();
    let _ = writeln!(o, "Drops: {total}");
    for (reason, n) in s.drops.iter().filter(|(_, n)| **n > 0) {
        let _ = writeln!(o, "  {reason}: {n}");
    }
    if let Some(t) = &s.flow_table {
        let _ = writeln!(
            o,
            "Flow table: {} of {} in use; {} created, {} expired or moved, {} evicted",
            t.live, t.capacity, t.created, t.swept, t.evicted
        );
        let live = s
            .live_tier
            .map_or("none (no uplink up)".into(), |t| t.to_string());
        let _ = writeln!(o, "New flows go to tier: {live}");
    }
    if !s.alb_clients.is_empty() {
        let _ = writeln!(o, "Receive load balancing clients:");
        for c in &s.alb_clients {
            let mac = if c.mac.is_empty() { "?" } else { &c.mac };
            let _ = writeln!(o, "  {} ({}) -> {} (to {})", c.ip, mac, c.member, c.bond_ip);
        }
    }
    let events: Vec<_> = s.events.iter().filter(|(_, n)| **n > 0).collect();
    if !events.is_empty() {
        let _ = writeln!(o, "Events:");
        for (name, n) in events {
            let _ = writeln!(o, "  {name}: {n}");
        }
    }
    o
}

/// balance-alb's client table, by peer address.
fn alb_clients(paths: &BondPaths, members: &[MemberStatus]) -> Result<Vec<AlbClientStatus>> {
    let Some(clients) = crate::alb::Clients::open(paths)? else {
        return Ok(Vec::new());
    };
    Ok(clients
        .all()
        .into_iter()
        .map(|(key, c)| AlbClientStatus {
            ip: crate::alb::peer_ip(key).to_string(),
            mac: if c.flags & bondxdp_common::modes::alb::CLIENT_PEER_MAC != 0 {
                format_mac(&c.peer_mac)
            } else {
                String::new()
            },
            member: members
                .iter()
                .find(|m| m.slot == c.slot as usize)
                .map_or_else(|| format!("slot {}", c.slot), |m| m.name.clone()),
            bond_ip: std::net::Ipv4Addr::from(c.bond_ip).to_string(),
        })
        .collect())
}

/// The bond's "802.3ad info", as /proc/net/bonding prints it.
fn render_lacp(o: &mut String, l: &LacpStatus, min_links: u32) {
    let _ = writeln!(o);
    let _ = writeln!(o, "802.3ad info");
    let _ = writeln!(o, "LACP active: {}", l.lacp_active);
    let _ = writeln!(o, "LACP rate: {}", l.lacp_rate);
    let _ = writeln!(o, "Min links: {min_links}");
    let _ = writeln!(
        o,
        "Aggregator selection policy (ad_select): {}",
        l.ad_select
    );
    let _ = writeln!(o, "System priority: {}", l.system_priority);
    let _ = writeln!(o, "System MAC address: {}", l.system);
    if l.user_port_key != 0 {
        let _ = writeln!(o, "User port key: {}", l.user_port_key);
    }
    match l.record_age_s {
        Some(age) => {
            let _ = writeln!(o, "LACP state recorded: {age:.1} s ago");
        }
        None => {
            let _ = writeln!(
                o,
                "LACP state recorded: never (start `bondxdp run`: 802.3ad needs the controller)"
            );
        }
    }
    match l.aggregators.iter().find(|a| a.active) {
        Some(a) => {
            let _ = writeln!(o, "Active Aggregator Info:");
            render_aggregator(o, a);
        }
        None => {
            let _ = writeln!(o, "Active Aggregator Info: none");
        }
    }
    for a in l.aggregators.iter().filter(|a| !a.active) {
        let _ = writeln!(o, "Standby Aggregator Info:");
        render_aggregator(o, a);
    }
}

fn render_aggregator(o: &mut String, a: &AggregatorStatus) {
    let _ = writeln!(o, "\tAggregator ID: {}", a.id);
    let _ = writeln!(o, "\tNumber of ports: {}", a.ports.len());
    let _ = writeln!(o, "\tActor Key: {}", a.actor_key);
    let _ = writeln!(o, "\tPartner Key: {}", a.partner_key);
    let _ = writeln!(
        o,
        "\tPartner Mac Address: {}",
        format_mac(&a.partner_system)
    );
    let _ = writeln!(
        o,
        "\tPartner System Priority: {}",
        a.partner_system_priority
    );
    if a.individual {
        let _ = writeln!(o, "\tIndividual: yes");
    }
}

/// A member's 802.3ad details, as /proc/net/bonding prints them, and bondxdp's counters.
fn render_lacp_port(o: &mut String, l: &LacpMemberStatus) {
    let p = &l.port;
    let churn = |c: crate::lacp::ChurnState| match c {
        crate::lacp::ChurnState::Monitoring => "monitoring",
        crate::lacp::ChurnState::None => "none",
        crate::lacp::ChurnState::Churned => "churned",
    };
    let _ = writeln!(
        o,
        "Aggregator ID: {}",
        p.aggregator.map_or("N/A".to_string(), |a| a.to_string())
    );
    let _ = writeln!(
        o,
        "LACP: {:?}, rx {:?}, mux {:?}; collecting {}, distributing {}",
        p.selection,
        p.rx_state,
        p.mux_state,
        if p.collecting { "yes" } else { "no" },
        if p.distributing { "yes" } else { "no" }
    );
    if p.distributing
        && !matches!(
            p.mux_state,
            crate::lacp::MuxState::Distributing | crate::lacp::MuxState::CollectingDistributing
        )
    {
        let _ = writeln!(
            o,
            "Carrying traffic without a LACP partner (lacp_strict off)"
        );
    }
    let _ = writeln!(o, "Actor Churn State: {}", churn(p.actor_churn));
    let _ = writeln!(o, "Partner Churn State: {}", churn(p.partner_churn));
    let _ = writeln!(o, "Actor Churned Count: {}", p.counters.actor_churns);
    let _ = writeln!(o, "Partner Churned Count: {}", p.counters.partner_churns);
    for (who, key_name, i) in [
        ("actor", "port key", &p.actor),
        ("partner", "oper key", &p.partner),
    ] {
        let _ = writeln!(o, "details {who} lacp pdu:");
        let _ = writeln!(o, "    system priority: {}", i.system_priority);
        let _ = writeln!(o, "    system mac address: {}", format_mac(&i.system));
        let _ = writeln!(o, "    {key_name}: {}", i.key);
        let _ = writeln!(o, "    port priority: {}", i.port_priority);
        let _ = writeln!(o, "    port number: {}", i.port);
        let _ = writeln!(
            o,
            "    port state: {} ({})",
            i.state.bits(),
            i.state.names().join(" ")
        );
    }
    let c = &p.counters;
    let _ = writeln!(
        o,
        "LACPDUs: {} received, {} sent, {} send errors; markers: {} received, {} answered, \
         {} unanswered",
        c.lacpdu_rx, c.lacpdu_tx, l.tx_errors, c.marker_rx, c.marker_response_tx, c.marker_dropped
    );
    let bad = c.malformed;
    if bad.total() + c.loops + c.partner_changes + c.expiries + c.defaulted > 0 {
        let _ = writeln!(
            o,
            "LACP faults: {} malformed (truncated {}, oversized {}, wrong destination {}, \
             unknown subtype {}, wrong version {}, bad TLV {}), {} loops, {} partner changes, \
             {} expiries, {} defaulted",
            bad.total(),
            bad.truncated,
            bad.oversized,
            bad.wrong_destination,
            bad.unknown_subtype,
            bad.wrong_version,
            bad.bad_tlv,
            c.loops,
            c.partner_changes,
            c.expiries,
            c.defaulted
        );
    }
}

/// `status --watch`: per-member rates of one bond (or all), refreshed every `interval`
/// seconds until Ctrl-C. Redraws the screen on a terminal, prints blocks otherwise.
pub async fn watch(name: Option<&str>, interval: f64) -> Result<()> {
    use std::io::IsTerminal;
    let interval = std::time::Duration::from_secs_f64(interval.clamp(0.1, 3600.0));
    let tty = std::io::stdout().is_terminal();
    let mut previous: Option<(std::time::Instant, Vec<BondStatus>)> = None;
    loop {
        let now = std::time::Instant::now();
        let current = status(name).await?;
        let mut out = String::new();
        if tty {
            out.push_str("\x1b[2J\x1b[H");
        }
        for s in &current {
            let _ = writeln!(
                out,
                "{}  {}  {}  carrier {}  drops {}",
                s.name,
                s.mode,
                s.xmit_hash_policy.as_deref().unwrap_or(""),
                if s.up { "up" } else { "down" },
                s.drops.values().sum::<u64>()
            );
            let _ = writeln!(
                out,
                "  {:<16} {:<5} {:>4} {:>12} {:>12} {:>10} {:>10}",
                "member", "link", "tx?", "tx Mbit/s", "rx Mbit/s", "tx pkt/s", "rx pkt/s"
            );
            let before = previous
                .as_ref()
                .and_then(|(t, all)| all.iter().find(|b| b.name == s.name).map(|b| (t, b)));
            for m in &s.members {
                let rate = |f: fn(&MemberStatus) -> u64, scale: f64| match before {
                    Some((t, b)) => b
                        .members
                        .iter()
                        .find(|p| p.ifindex == m.ifindex)
                        .map(|p| {
                            f(m).saturating_sub(f(p)) as f64 * scale
                                / now.duration_since(*t).as_secs_f64()
                        })
                        .unwrap_or(0.0),
                    None => 0.0,
                };
                let _ = writeln!(
                    out,
                    "  {:<16} {:<5} {:>4} {:>12.1} {:>12.1} {:>10.0} {:>10.0}",
                    m.name,
                    m.link,
                    if m.transmitting { "yes" } else { "no" },
                    rate(|m| m.tx_bytes, 8e-6),
                    rate(|m| m.rx_bytes, 8e-6),
                    rate(|m| m.tx_packets, 1.0),
                    rate(|m| m.rx_packets, 1.0),
                );
            }
            out.push('\n');
        }
        print!("{out}");
        previous = Some((now, current));
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
