//! Userspace's records of a bond, pinned in bpffs with its maps so that `down`, `status` and
//! a restarted controller work without any process having stayed alive. The eBPF object
//! declares the maps that hold them (so they are pinned with it) but never reads them.

use crate::types::{MAX_MEMBERS, NO_SLOT};

/// What userspace must remember to put a member back as it found it (never read by eBPF).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberRestore {
    /// Interface index at enslave time; 0 marks an empty entry.
    pub ifindex: u32,
    /// MTU before enslaving.
    pub mtu: u32,
    /// Interface name, NUL-padded.
    pub name: [u8; 16],
    /// MAC address before enslaving.
    pub mac: [u8; 6],
    /// Whether the link was administratively up.
    pub was_up: u8,
    /// Whether promiscuous mode was on.
    pub was_promisc: u8,
    /// Whether all-multicast was on.
    pub was_allmulti: u8,
    /// `net.ipv6.conf.IF.disable_ipv6` before enslaving (0xff: unknown, leave alone).
    pub ipv6_disabled: u8,
    /// `RESTORE_*` flags.
    pub flags: u8,
    /// Padding; zero.
    pub pad: u8,
}

/// [`MemberRestore::flags`]: the member was never changed (multi-wan uplinks keep
/// everything): nothing to put back.
pub const RESTORE_UNTOUCHED: u8 = 1 << 0;

/// [`MemberRestore::flags`]: bondxdp added the member's clsact qdisc (legacy tc attach,
/// [`TC_ATTACH_LEGACY`]); teardown removes it again once no filter is left on it.
pub const RESTORE_CLSACT_ADDED: u8 = 1 << 1;

/// Most ARP (and NS) targets a bond can probe (kernel `BOND_MAX_ARP_TARGETS`).
pub const MAX_TARGETS: usize = 16;

/// How the controller watches a bond's links (kernel option names in parentheses). Stored
/// in [`BondState`] so a restarted controller honours what `up` or `set` configured.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Carrier polling interval in ms; 0 = no polling (`miimon`).
    pub miimon_ms: u32,
    /// Delay before a recovered link is used, ms (`updelay`).
    pub updelay_ms: u32,
    /// Delay before a failed link is abandoned, ms (`downdelay`).
    pub downdelay_ms: u32,
    /// ARP/NS probe interval in ms; 0 = no probing (`arp_interval`).
    pub arp_interval_ms: u32,
    /// Probe intervals without an answer before a link is down (`arp_missed_max`).
    pub arp_missed_max: u32,
    /// Gratuitous ARPs / unsolicited NAs sent after a failover (`num_grat_arp`).
    pub num_grat_arp: u32,
    /// `primary_reselect`: 0 always, 1 better, 2 failure.
    pub primary_reselect: u8,
    /// `arp_validate`: 0 none, 1 active, 2 backup, 3 all.
    pub arp_validate: u8,
    /// `arp_all_targets`: 0 any, 1 all.
    pub arp_all_targets: u8,
    /// 1: act on netlink link events at once (default); 0: rely on polling only.
    pub link_events: u8,
    /// Number of valid entries in `arp_targets`.
    pub arp_target_count: u32,
    /// Number of valid entries in `ns_targets`.
    pub ns_target_count: u32,
    /// IPv4 probe targets (`arp_ip_target`).
    pub arp_targets: [[u8; 4]; MAX_TARGETS],
    /// IPv6 probe targets (`ns_ip6_target`).
    pub ns_targets: [[u8; 16]; MAX_TARGETS],
    /// Gap between the peer notifications after a failover, ms (`peer_notif_delay`).
    pub peer_notif_delay_ms: u32,
    /// IGMP membership reports sent through a new active member (`resend_igmp`).
    pub resend_igmp: u32,
    /// Member priorities by slot (`prio`): without a usable primary, the highest usable
    /// one is the active member.
    pub prio: [i32; MAX_MEMBERS],
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            miimon_ms: 100,
            updelay_ms: 0,
            downdelay_ms: 0,
            arp_interval_ms: 0,
            arp_missed_max: 2,
            num_grat_arp: 1,
            primary_reselect: 0,
            arp_validate: 0,
            arp_all_targets: 0,
            link_events: 1,
            arp_target_count: 0,
            ns_target_count: 0,
            arp_targets: [[0; 4]; MAX_TARGETS],
            ns_targets: [[0; 16]; MAX_TARGETS],
            peer_notif_delay_ms: 0,
            resend_igmp: 1,
            prio: [0; MAX_MEMBERS],
        }
    }
}

/// [`MultiWanRecord::flags`]: all flows to one destination host use one uplink.
pub const MWAN_STICKY_HOST: u32 = 1 << 0;
/// [`MultiWanRecord::flags`]: do not install the default routes through the bond.
pub const MWAN_NO_DEFAULT_ROUTE: u32 = 1 << 1;
/// [`MultiWanRecord::flags`]: reset the host's TCP connections through an uplink that fails.
pub const MWAN_RESET_ON_FAILOVER: u32 = 1 << 2;

/// multi-wan options as pinned in [`BondState`] (userspace only). Addresses are in packet
/// byte order; IPv4 addresses of mixed lists are IPv4-mapped IPv6 (`::ffff:a.b.c.d`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiWanRecord {
    /// Probe interval while an uplink looks healthy, ms.
    pub probe_interval_ms: u32,
    /// Time after which an unanswered probe counts as lost (at least; grows with the
    /// measured round trip), ms.
    pub probe_timeout_ms: u32,
    /// Probe interval while confirming a suspected failure, ms.
    pub probe_failure_interval_ms: u32,
    /// Failed probe rounds in a row before an uplink is down.
    pub probe_down: u32,
    /// Successful probe rounds in a row before a down uplink is up again.
    pub probe_up: u32,
    /// A reply slower than this counts as lost (0: no limit), ms.
    pub probe_max_rtt_ms: u32,
    /// Number of valid entries in `probes`.
    pub probe_count: u32,
    /// `MWAN_*` flags.
    pub flags: u32,
    /// Flow table size.
    pub max_flows: u32,
    /// Lowest translated port.
    pub port_min: u16,
    /// Highest translated port.
    pub port_max: u16,
    /// Probe targets.
    pub probes: [[u8; 16]; MAX_TARGETS],
    /// TCP port to probe each target on (0: ICMP echo).
    pub probe_ports: [u16; MAX_TARGETS],
    /// The bond's own IPv4 address (what local flows start from).
    pub address4: [u8; 4],
    /// Its prefix length; 0: none.
    pub prefix4: u8,
    /// Its IPv6 prefix length; 0: none.
    pub prefix6: u8,
    /// Padding; zero.
    pub pad: [u8; 2],
    /// The bond's own IPv6 address.
    pub address6: [u8; 16],
    /// Configured IPv4 gateway per member slot (zero: from the member's default route).
    pub gateways4: [[u8; 4]; MAX_MEMBERS],
    /// Configured IPv6 gateway per member slot (zero: from the member's default route).
    pub gateways6: [[u8; 16]; MAX_MEMBERS],
    /// Quality: probe loss above which an uplink takes no new flows, per mille (0: off).
    pub quality_loss_permille: u32,
    /// Quality: smoothed round trip above which it takes none, ms (0: off).
    pub quality_rtt_ms: u32,
    /// Quality: how long it must stay over a threshold to be degraded, ms.
    pub quality_hold_ms: u32,
    /// Quality: how long it must stay under the lower bands to recover, ms.
    pub quality_recover_ms: u32,
}

impl Default for MultiWanRecord {
    fn default() -> Self {
        MultiWanRecord {
            probe_interval_ms: 300,
            probe_timeout_ms: 150,
            probe_failure_interval_ms: 100,
            probe_down: 3,
            probe_up: 3,
            probe_max_rtt_ms: 0,
            probe_count: 0,
            flags: 0,
            max_flows: 524_288,
            port_min: crate::multi_wan::DEFAULT_PORT_MIN,
            port_max: crate::multi_wan::DEFAULT_PORT_MAX,
            probes: [[0; 16]; MAX_TARGETS],
            probe_ports: [0; MAX_TARGETS],
            address4: [0; 4],
            prefix4: 0,
            prefix6: 0,
            pad: [0; 2],
            address6: [0; 16],
            gateways4: [[0; 4]; MAX_MEMBERS],
            gateways6: [[0; 16]; MAX_MEMBERS],
            quality_loss_permille: 200,
            quality_rtt_ms: 0,
            quality_hold_ms: 1000,
            quality_recover_ms: 10_000,
        }
    }
}

/// [`UplinkHealth::state`]: no controller has judged the uplink yet.
pub const HEALTH_UNKNOWN: u8 = 0;
/// [`UplinkHealth::state`]: probes answered.
pub const HEALTH_UP: u8 = 1;
/// [`UplinkHealth::state`]: probes went unanswered; confirming.
pub const HEALTH_CONFIRMING: u8 = 2;
/// [`UplinkHealth::state`]: declared down (carrier lost or probes unanswered).
pub const HEALTH_DOWN: u8 = 3;

/// [`UplinkHealth::problems`]: the uplink has no usable address.
pub const PROBLEM_NO_ADDRESS: u32 = 1 << 0;
/// [`UplinkHealth::problems`]: degraded: up, but losing or delaying probes beyond the quality
/// thresholds; it takes no new flows while its tier has a better uplink.
pub const PROBLEM_DEGRADED: u32 = 1 << 3;
/// [`UplinkHealth::problems`]: no gateway (no default route through it, none configured).
pub const PROBLEM_NO_GATEWAY: u32 = 1 << 1;
/// [`UplinkHealth::problems`]: the gateway's MAC is not known yet.
pub const PROBLEM_GATEWAY_UNRESOLVED: u32 = 1 << 2;

/// What the controller last concluded about one multi-wan uplink (userspace record, pinned
/// so that `status` can show it; the programs never read it).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UplinkHealth {
    /// `HEALTH_*`.
    pub state: u8,
    /// Padding; zero.
    pub pad: [u8; 3],
    /// Smoothed probe round trip, µs (0: none measured).
    pub srtt_us: u32,
    /// Recent probe loss, per mille.
    pub loss_permille: u32,
    /// `PROBLEM_*` flags.
    pub problems: u32,
    /// Probes sent.
    pub probes_sent: u64,
    /// Replies received in time.
    pub replies: u64,
    /// Flows of this uplink the controller removed (expired, or the uplink failed).
    pub swept: u64,
    /// CLOCK_MONOTONIC time of this record, ns.
    pub updated_ns: u64,
    /// The IPv4 gateway in use.
    pub gw4: [u8; 4],
    /// The IPv6 gateway in use.
    pub gw6: [u8; 16],
}

/// How new flows are weighed (multi-wan, balance-tlb, load-aware), as pinned in
/// [`BondState`] (userspace only).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BalanceRecord {
    /// How often the controller recomputes weights from spare capacity, ms (0: never).
    pub rebalance_interval_ms: u32,
    /// Padding; zero.
    pub pad: u32,
    /// Configured weight per member slot (0: none; the controller's, else 1).
    pub weights: [u32; MAX_MEMBERS],
    /// Configured capacity per member slot, Mbit/s (0: the link's speed).
    pub speeds_mbps: [u32; MAX_MEMBERS],
}

impl Default for BalanceRecord {
    fn default() -> Self {
        BalanceRecord {
            rebalance_interval_ms: 1000,
            pad: 0,
            weights: [0; MAX_MEMBERS],
            speeds_mbps: [0; MAX_MEMBERS],
        }
    }
}

/// Longest `select_program` (`FILE.o[:PROGRAM]`) a [`CustomRecord`] holds, bytes.
pub const SELECT_PROGRAM_MAX: usize = 256;

/// The custom mode's selection program, as pinned in [`BondState`] (userspace only).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CustomRecord {
    /// `FILE.o[:PROGRAM]` as loaded (absolute path), NUL-padded; empty: none loaded.
    pub program: [u8; SELECT_PROGRAM_MAX],
}

impl Default for CustomRecord {
    fn default() -> Self {
        CustomRecord {
            program: [0; SELECT_PROGRAM_MAX],
        }
    }
}

/// Most `--forward-from` interfaces per bond.
pub const MAX_FORWARD: usize = 8;

/// The XDP fast path's LAN-side interfaces, as pinned in [`BondState`] (userspace only).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardRecord {
    /// Interface indexes (0: free).
    pub ifindex: [u32; MAX_FORWARD],
    /// Their names, NUL-padded.
    pub names: [[u8; 16]; MAX_FORWARD],
    /// Bit `i`: interface `i` runs its program in generic (skb) mode; bit 16 + slot: member
    /// `slot` does.
    pub generic: u32,
    /// Padding; zero.
    pub pad: u32,
}

/// [`LacpRecord::flags`]: `lacp_rate fast` (ask the partner for a LACPDU every second).
pub const LACP_RATE_FAST: u8 = 1 << 0;
/// [`LacpRecord::flags`]: `lacp_active off` (passive: only answer a partner that speaks).
pub const LACP_PASSIVE: u8 = 1 << 1;
/// [`LacpRecord::flags`]: `coupled_control 0` (independent control: collecting and
/// distributing switch separately, distributing only once the partner collects).
pub const LACP_DECOUPLED: u8 = 1 << 2;
/// [`LacpRecord::flags`]: `lacp_strict on` (no traffic through an aggregator without partner).
pub const LACP_STRICT: u8 = 1 << 3;

/// [`LacpPortRecord::flags`]: carrier up (as last reported to the actor).
pub const LACP_PORT_LINK_UP: u8 = 1 << 0;
/// [`LacpPortRecord::flags`]: the link is full duplex.
pub const LACP_PORT_FULL_DUPLEX: u8 = 1 << 1;
/// [`LacpPortRecord::flags`]: `partner` was heard (not the administrative default).
pub const LACP_PORT_PARTNER_KNOWN: u8 = 1 << 2;
/// [`LacpPortRecord::flags`]: collecting.
pub const LACP_PORT_COLLECTING: u8 = 1 << 3;
/// [`LacpPortRecord::flags`]: distributing.
pub const LACP_PORT_DISTRIBUTING: u8 = 1 << 4;

/// The far end of a port as a LACPDU describes it (IEEE 802.1AX actor/partner information).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LacpInfoRecord {
    /// System priority.
    pub system_priority: u16,
    /// System identifier (a MAC address).
    pub system: [u8; 6],
    /// Operational key.
    pub key: u16,
    /// Port priority.
    pub port_priority: u16,
    /// Port number.
    pub port: u16,
    /// The eight LACP state bits.
    pub state: u8,
    /// Padding; zero.
    pub pad: u8,
}

/// What one LACP port counted (userspace record; the fields of `lacp::PortCounters`, the
/// decoder's rejections by reason flattened in, plus the driver's own send failures).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LacpCountersRecord {
    /// LACPDUs received.
    pub lacpdu_rx: u64,
    /// LACPDUs sent.
    pub lacpdu_tx: u64,
    /// Marker Information PDUs received.
    pub marker_rx: u64,
    /// Marker Responses received.
    pub marker_response_rx: u64,
    /// Marker Responses sent.
    pub marker_response_tx: u64,
    /// Marker Information PDUs left unanswered.
    pub marker_dropped: u64,
    /// Rejected: shorter than a PDU.
    pub truncated: u64,
    /// Rejected: longer than 128 bytes.
    pub oversized: u64,
    /// Rejected: not ethertype 0x8809.
    pub not_slow_protocols: u64,
    /// Rejected: not to 01:80:c2:00:00:02.
    pub wrong_destination: u64,
    /// Rejected: a Slow Protocol other than LACP and Marker.
    pub unknown_subtype: u64,
    /// Rejected: version 0.
    pub wrong_version: u64,
    /// Rejected: a TLV with the wrong type or length.
    pub bad_tlv: u64,
    /// Our own LACPDUs heard back (a loop).
    pub loops: u64,
    /// LACPDUs naming another partner than the current one.
    pub partner_changes: u64,
    /// Partner information timed out.
    pub expiries: u64,
    /// Fell back to the default partner.
    pub defaulted: u64,
    /// Actor churn found.
    pub actor_churns: u64,
    /// Partner churn found.
    pub partner_churns: u64,
    /// Frames the controller failed to send on the member.
    pub tx_errors: u64,
}

/// One 802.3ad member port as the controller's LACP actor last had it (userspace record):
/// enough to show it (`status`) and to resume it after a controller restart.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LacpPortRecord {
    /// Interface index of the member this record describes; 0: none.
    pub ifindex: u32,
    /// Link speed as last reported, Mbit/s.
    pub speed_mbps: u32,
    /// `LACP_PORT_*` flags.
    pub flags: u8,
    /// Mux machine state (`lacp::MuxState` as numbered in `bondxdp::lacp::record`).
    pub mux: u8,
    /// Receive machine state (likewise).
    pub rx: u8,
    /// Selection (likewise).
    pub selection: u8,
    /// Actor churn machine state (likewise).
    pub actor_churn: u8,
    /// Partner churn machine state (likewise).
    pub partner_churn: u8,
    /// The `actor_port_prio` option, XOR 255, so that 0 (every record written before the
    /// option) is the default 255. Written by `up`/`set`, kept by the controller.
    pub admin_priority: u16,
    /// The aggregator the port is in; 0: none.
    pub aggregator: u16,
    /// Port number in our LACPDUs.
    pub port_number: u16,
    /// Port priority in our LACPDUs.
    pub port_priority: u16,
    /// The member's own MAC (the source of its LACPDUs).
    pub mac: [u8; 6],
    /// Padding; zero.
    pub pad2: [u8; 4],
    /// What the port tells its partner (our system, key, port and state bits).
    pub actor: LacpInfoRecord,
    /// The partner as the port knows it.
    pub partner: LacpInfoRecord,
    /// Counters.
    pub counters: LacpCountersRecord,
}

/// 802.3ad: the LACP options and the controller's record of its actor (userspace record in
/// [`BondState`]). `up`/`set` write the options; the controller writes the rest (without
/// bumping [`BondState::generation`]) whenever its actor changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LacpRecord {
    /// `LACP_RATE_FAST`, `LACP_PASSIVE`, `LACP_DECOUPLED`, `LACP_STRICT`.
    pub flags: u8,
    /// `ad_select`: 0 stable, 1 bandwidth, 2 count, 3 actor_port_prio.
    pub ad_select: u8,
    /// `ad_actor_sys_prio` (1-65535).
    pub system_priority: u16,
    /// `ad_user_port_key` (0-1023).
    pub user_port_key: u16,
    /// `ad_actor_system`; all zeros: the bond's MAC.
    pub actor_system: [u8; 6],
    /// The active aggregator's identifier; 0: none.
    pub active_aggregator: u16,
    /// Padding; zero.
    pub pad: [u8; 2],
    /// CLOCK_MONOTONIC time the controller last wrote the ports, ns (0: never).
    pub updated_ns: u64,
    /// The member ports, indexed like [`BondConfig::members`].
    pub ports: [LacpPortRecord; MAX_MEMBERS],
}

impl Default for LacpRecord {
    fn default() -> Self {
        LacpRecord {
            flags: 0,
            ad_select: 0,
            system_priority: 0xffff,
            user_port_key: 0,
            actor_system: [0; 6],
            active_aggregator: 0,
            pad: [0; 2],
            updated_ns: 0,
            ports: [LacpPortRecord::default(); MAX_MEMBERS],
        }
    }
}

/// The `actor_port_prio` of a port record's `admin_priority`.
pub const fn actor_port_prio(admin_priority: u16) -> u16 {
    admin_priority ^ 0xff
}

/// The `admin_priority` that records `actor_port_prio` `prio`.
pub const fn admin_priority(prio: u16) -> u16 {
    prio ^ 0xff
}

/// `fail_over_mac none`: every member takes the bond's MAC (the kernel's default).
pub const FAIL_OVER_MAC_NONE: u8 = 0;
/// `fail_over_mac active`: the bond takes the active member's MAC; members keep theirs.
pub const FAIL_OVER_MAC_ACTIVE: u8 = 1;
/// `fail_over_mac follow`: the active member takes the bond's MAC, and the member it
/// replaces takes the newcomer's former one.
pub const FAIL_OVER_MAC_FOLLOW: u8 = 2;

/// [`BondState::tc_attach`]: the tc programs are attached through tcx links, pinned in the
/// bond's directory (Linux 6.6+; every bond written before the field has it).
pub const TC_ATTACH_TCX: u8 = 0;
/// [`BondState::tc_attach`]: the tc programs are cls_bpf filters (direct action) in the
/// interfaces' clsact qdiscs (kernels without tcx).
pub const TC_ATTACH_LEGACY: u8 = 1;

/// Magic value of a written [`BondState`].
pub const BOND_STATE_MAGIC: u32 = 0x6278_6470; // "bxdp"
/// Layout version of [`BondState`].
pub const BOND_STATE_VERSION: u32 = 11;

/// Userspace's persistent record of a bond, pinned with its maps so that `down`, `status` and
/// a restarted controller work without any process having stayed alive.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BondState {
    /// [`BOND_STATE_MAGIC`] once written.
    pub magic: u32,
    /// [`BOND_STATE_VERSION`].
    pub version: u32,
    /// Interface index of the bond.
    pub bond_ifindex: u32,
    /// Interface index of the bond's veth peer (kept up, never used).
    pub peer_ifindex: u32,
    /// The configured primary's slot ([`NO_SLOT`]: none).
    pub primary_slot: u32,
    /// Bumped on every change of this record (the controller re-reads options when it moves).
    pub generation: u32,
    /// Bond name, NUL-padded.
    pub name: [u8; 16],
    /// Peer name, NUL-padded.
    pub peer_name: [u8; 16],
    /// Restore records, indexed like [`BondConfig::members`].
    pub members: [MemberRestore; MAX_MEMBERS],
    /// Link monitoring options.
    pub monitor: MonitorConfig,
    /// multi-wan options.
    pub mwan: MultiWanRecord,
    /// Weighing of new flows.
    pub balance: BalanceRecord,
    /// custom mode: the selection program.
    pub custom: CustomRecord,
    /// The XDP fast path's interfaces.
    pub forward: ForwardRecord,
    /// active-backup: which MACs move on a failover ([`FAIL_OVER_MAC_NONE`], `_ACTIVE`,
    /// `_FOLLOW`; bonds written before the option have 0, none).
    pub fail_over_mac: u8,
    /// How the tc programs are attached ([`TC_ATTACH_TCX`], [`TC_ATTACH_LEGACY`]), chosen
    /// at `up`; `down`, `set` and `member` attach and detach the same way.
    pub tc_attach: u8,
    /// Padding; zero.
    pub pad: [u8; 2],
    /// 802.3ad: LACP options and the controller's record of its actor.
    pub lacp: LacpRecord,
}

impl Default for BondState {
    fn default() -> Self {
        BondState {
            magic: 0,
            version: 0,
            bond_ifindex: 0,
            peer_ifindex: 0,
            primary_slot: NO_SLOT,
            generation: 0,
            name: [0; 16],
            peer_name: [0; 16],
            members: [MemberRestore::default(); MAX_MEMBERS],
            monitor: MonitorConfig::default(),
            mwan: MultiWanRecord::default(),
            balance: BalanceRecord::default(),
            custom: CustomRecord::default(),
            forward: ForwardRecord::default(),
            fail_over_mac: FAIL_OVER_MAC_NONE,
            tc_attach: TC_ATTACH_TCX,
            pad: [0; 2],
            lacp: LacpRecord::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(core::mem::size_of::<MemberRestore>(), 36);
        assert_eq!(
            core::mem::size_of::<MonitorConfig>(),
            36 + 20 * MAX_TARGETS + 8 + 4 * MAX_MEMBERS
        );
        assert_eq!(
            core::mem::size_of::<MultiWanRecord>(),
            40 + 16 * MAX_TARGETS + 2 * MAX_TARGETS + 8 + 16 + 20 * MAX_MEMBERS + 16
        );
        assert_eq!(core::mem::size_of::<BalanceRecord>(), 8 + 8 * MAX_MEMBERS);
        assert_eq!(
            core::mem::size_of::<BondState>(),
            24 + 32
                + 36 * MAX_MEMBERS
                + core::mem::size_of::<MonitorConfig>()
                + core::mem::size_of::<MultiWanRecord>()
                + core::mem::size_of::<BalanceRecord>()
                + core::mem::size_of::<CustomRecord>()
                + core::mem::size_of::<ForwardRecord>()
                + 4
                + core::mem::size_of::<LacpRecord>()
        );
        assert_eq!(core::mem::size_of::<LacpInfoRecord>(), 16);
        assert_eq!(core::mem::size_of::<LacpCountersRecord>(), 8 * 20);
        assert_eq!(core::mem::size_of::<LacpPortRecord>(), 32 + 16 + 16 + 160);
        assert_eq!(
            core::mem::size_of::<LacpRecord>(),
            24 + core::mem::size_of::<LacpPortRecord>() * MAX_MEMBERS
        );
    }
}
