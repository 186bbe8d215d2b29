//! What the data plane counts: per-member traffic, and every drop or notable event by name.
//!
//! Both live in per-CPU arrays; userspace sums the CPUs (see `bondxdp::maps`).

/// Traffic through one member (one per-CPU array entry per slot).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberStats {
    /// Packets the bond sent through the member.
    pub tx_packets: u64,
    /// Bytes the bond sent through the member (skb length, so GSO packets count in full).
    pub tx_bytes: u64,
    /// Packets received on the member and delivered to the bond.
    pub rx_packets: u64,
    /// Bytes received on the member and delivered to the bond.
    pub rx_bytes: u64,
    /// Of the packets above (either way), those the XDP fast path forwarded. Their sum over
    /// the members is most of [`Counter::XdpForwarded`] (userspace adds them up): counting
    /// them here keeps a forwarded frame at one counter update.
    pub xdp_forwarded: u64,
}

impl MemberStats {
    /// Counts a packet of `bytes` sent through the member.
    #[inline(always)]
    pub fn sent(&mut self, bytes: u32) {
        self.tx_packets += 1;
        self.tx_bytes += bytes as u64;
    }

    /// Counts a packet of `bytes` received on the member.
    #[inline(always)]
    pub fn received(&mut self, bytes: u32) {
        self.rx_packets += 1;
        self.rx_bytes += bytes as u64;
    }

    /// Field-wise sum (for adding up CPUs).
    pub fn add(&mut self, other: &MemberStats) {
        self.tx_packets += other.tx_packets;
        self.tx_bytes += other.tx_bytes;
        self.rx_packets += other.rx_packets;
        self.rx_bytes += other.rx_bytes;
        self.xdp_forwarded += other.xdp_forwarded;
    }
}

/// Named counters: every drop has a reason, and a few non-drop events are counted too.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Dropped: the program ran before its configuration was written.
    DropNoConfig = 0,
    /// Dropped: no member is eligible to transmit (all down, or none active).
    DropNoMember = 1,
    /// Dropped: received on a member that is not active (active-backup backup).
    DropInactiveMember = 2,
    /// Dropped: the MAC address could not be rewritten (`bpf_skb_store_bytes` failed).
    DropRewriteFailed = 3,
    /// Dropped (one copy): broadcast could not clone the packet to a member.
    DropCloneFailed = 4,
    /// Not a drop: the hash policy could not parse the headers and used the layer2 hash, as
    /// the kernel does.
    HashFallbackL2 = 5,
    /// Not a drop: a Slow Protocols frame (LACP, Marker) was left to the member's stack.
    RxSlowProtocols = 6,
    /// Not a drop: a frame arrived on an interface that is not a member of this bond and was
    /// left to that interface's stack.
    RxNotMember = 7,
    /// multi-wan, dropped: the bond sent something that is not IPv4/IPv6 (ARP is off on it).
    NatNotIp = 8,
    /// multi-wan, dropped: a header cut short or impossible.
    NatMalformed = 9,
    /// multi-wan, dropped: link-local, multicast or broadcast traffic, which has no meaning on
    /// another network.
    NatUntranslatable = 10,
    /// multi-wan, dropped: no uplink can take the flow (all down, or none has an address of
    /// its family).
    NatNoUplink = 11,
    /// multi-wan, dropped: no free translated port for a new flow.
    NatPortsExhausted = 12,
    /// multi-wan, dropped: the flow table refused an entry.
    NatTableFull = 13,
    /// multi-wan, dropped: a later fragment of a datagram whose first fragment was not seen.
    NatFragmentUnknown = 14,
    /// multi-wan: a new flow was pinned to an uplink.
    NatNewFlow = 15,
    /// multi-wan: a TCP segment other than a SYN started a flow (its entry was evicted, or
    /// its uplink failed).
    NatFlowRecreated = 16,
    /// multi-wan: a flow's uplink changed address or failed since it was pinned; pinned anew.
    NatStaleFlow = 17,
    /// multi-wan: a packet on an uplink that belongs to no translated flow, left to the host's
    /// stack (DHCP, the uplink's own sockets, probes).
    NatRxPassed = 18,
    /// load-aware: a flow idle past the flowlet timeout moved to another member.
    FlowletMoved = 19,
    /// custom mode: the selection program chose no valid member; the fallback member sent
    /// the packet.
    CustomBadChoice = 20,
    /// custom mode: no selection program is loaded (or its tail call failed); the fallback
    /// member sent the packet.
    CustomNoProgram = 21,
    /// XDP fast path: a packet forwarded entirely in XDP. The data plane counts here only
    /// broadcast frames; the others count in their member's
    /// [`MemberStats::xdp_forwarded`], which userspace adds to this.
    XdpForwarded = 22,
    /// XDP fast path, to the kernel: not plain IPv4/IPv6 (VLAN-tagged, other EtherTypes).
    XdpPassNotIp = 23,
    /// XDP fast path, to the kernel: not for forwarding (the host's own addresses,
    /// broadcast, multicast, or no route at all: the FIB says "not forwarded").
    XdpPassLocal = 24,
    /// XDP fast path, to the kernel: TTL / hop limit would expire.
    XdpPassTtl = 25,
    /// XDP fast path, to the kernel: IPv4 options or IPv6 hop-by-hop/routing/destination
    /// options.
    XdpPassOptions = 26,
    /// XDP fast path, to the kernel: a fragment, with a mode that hashes ports.
    XdpPassFragment = 27,
    /// XDP fast path, to the kernel: IPv6 neighbour discovery or router messages.
    XdpPassNeighbor = 28,
    /// XDP fast path, to the kernel: the next hop's MAC is not resolved yet (the kernel
    /// resolves it; later packets take the fast path).
    XdpPassNoNeigh = 29,
    /// XDP fast path, to the kernel: the route does not leave through the bond (or, on a
    /// member, through a `--forward-from` interface).
    XdpPassOtherRoute = 30,
    /// XDP fast path, to the kernel: the FIB lookup failed otherwise (unreachable,
    /// blackhole or prohibited routes, forwarding disabled, packet bigger than the route's
    /// MTU).
    XdpPassFib = 31,
    /// XDP fast path, to the kernel: a header cut short or impossible.
    XdpPassMalformed = 32,
    /// XDP fast path, to the kernel: the bond's mode has no XDP path (custom).
    XdpPassMode = 33,
    /// XDP fast path: a FIB lookup (`bpf_fib_lookup`), made when the route cache had no
    /// current answer for the packet (the other forwarded packets took the cached one).
    XdpFibLookup = 34,
    /// balance-alb: an ARP the host sent, rewritten to carry its client's member MAC and
    /// sent through that member (receive load balancing).
    RlbArpRewritten = 35,
    /// balance-alb: a broadcast ARP request the host sent (every client is told its member
    /// again shortly after, as the kernel's `rlb_req_update_subnet_clients` does).
    RlbArpRequest = 36,
    /// Dropped: balance-tlb/alb, received on a member that is not the active receiver and not
    /// for that member's own MAC (broadcasts and the bond's MAC arrive on the active one).
    DropNotReceiver = 37,
    /// Not a drop: load-aware/balance-tlb/alb without a flowlet table (it failed to be
    /// installed when the mode changed): the flow was placed by its hash on the weights, so
    /// it stays on one member but never moves as a flowlet.
    NoFlowletTable = 38,
    /// keep_member_macs: an ARP or IPv6 neighbour discovery message whose link-layer address
    /// (ARP sender, ND source/target option) carried the bond's MAC, rewritten to the member's.
    MemberMacRewritten = 39,
    /// keep_member_macs: an ARP or ND message cut short or with an impossible option, sent
    /// as it was (not a drop).
    MemberMacMalformed = 40,
}

/// Passive health signals per uplink (multi-wan), from the translation path: the controller
/// probes at once when SYNs go unanswered.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UplinkSignals {
    /// New flows pinned to the uplink.
    pub new_flows: u64,
    /// TCP SYNs that opened a flow.
    pub syns: u64,
    /// TCP SYNs sent again on an existing flow (the first went unanswered).
    pub syn_retransmits: u64,
    /// SYN-ACKs received.
    pub syn_acks: u64,
}

impl UplinkSignals {
    /// Field-wise sum (for adding up CPUs).
    pub fn add(&mut self, other: &UplinkSignals) {
        self.new_flows += other.new_flows;
        self.syns += other.syns;
        self.syn_retransmits += other.syn_retransmits;
        self.syn_acks += other.syn_acks;
    }
}

/// Entries in the counter map (room for counters added later).
pub const COUNTER_SLOTS: u32 = 64;

impl Counter {
    /// Every counter, in index order.
    pub const ALL: [Counter; 41] = [
        Counter::DropNoConfig,
        Counter::DropNoMember,
        Counter::DropInactiveMember,
        Counter::DropRewriteFailed,
        Counter::DropCloneFailed,
        Counter::HashFallbackL2,
        Counter::RxSlowProtocols,
        Counter::RxNotMember,
        Counter::NatNotIp,
        Counter::NatMalformed,
        Counter::NatUntranslatable,
        Counter::NatNoUplink,
        Counter::NatPortsExhausted,
        Counter::NatTableFull,
        Counter::NatFragmentUnknown,
        Counter::NatNewFlow,
        Counter::NatFlowRecreated,
        Counter::NatStaleFlow,
        Counter::NatRxPassed,
        Counter::FlowletMoved,
        Counter::CustomBadChoice,
        Counter::CustomNoProgram,
        Counter::XdpForwarded,
        Counter::XdpPassNotIp,
        Counter::XdpPassLocal,
        Counter::XdpPassTtl,
        Counter::XdpPassOptions,
        Counter::XdpPassFragment,
        Counter::XdpPassNeighbor,
        Counter::XdpPassNoNeigh,
        Counter::XdpPassOtherRoute,
        Counter::XdpPassFib,
        Counter::XdpPassMalformed,
        Counter::XdpPassMode,
        Counter::XdpFibLookup,
        Counter::RlbArpRewritten,
        Counter::RlbArpRequest,
        Counter::DropNotReceiver,
        Counter::NoFlowletTable,
        Counter::MemberMacRewritten,
        Counter::MemberMacMalformed,
    ];

    /// Stable snake_case name (status output, JSON, metrics labels).
    pub const fn name(self) -> &'static str {
        match self {
            Counter::DropNoConfig => "no_config",
            Counter::DropNoMember => "no_member",
            Counter::DropInactiveMember => "inactive_member",
            Counter::DropRewriteFailed => "rewrite_failed",
            Counter::DropCloneFailed => "clone_failed",
            Counter::HashFallbackL2 => "hash_fallback_l2",
            Counter::RxSlowProtocols => "rx_slow_protocols",
            Counter::RxNotMember => "rx_not_member",
            Counter::NatNotIp => "nat_not_ip",
            Counter::NatMalformed => "nat_malformed",
            Counter::NatUntranslatable => "nat_untranslatable",
            Counter::NatNoUplink => "nat_no_uplink",
            Counter::NatPortsExhausted => "nat_ports_exhausted",
            Counter::NatTableFull => "nat_table_full",
            Counter::NatFragmentUnknown => "nat_fragment_unknown",
            Counter::NatNewFlow => "nat_new_flows",
            Counter::NatFlowRecreated => "nat_flows_recreated",
            Counter::NatStaleFlow => "nat_stale_flows",
            Counter::NatRxPassed => "nat_rx_passed",
            Counter::FlowletMoved => "flowlets_moved",
            Counter::CustomBadChoice => "custom_bad_choice",
            Counter::CustomNoProgram => "custom_no_program",
            Counter::XdpForwarded => "xdp_forwarded",
            Counter::XdpPassNotIp => "xdp_pass_not_ip",
            Counter::XdpPassLocal => "xdp_pass_local",
            Counter::XdpPassTtl => "xdp_pass_ttl",
            Counter::XdpPassOptions => "xdp_pass_options",
            Counter::XdpPassFragment => "xdp_pass_fragment",
            Counter::XdpPassNeighbor => "xdp_pass_neighbor",
            Counter::XdpPassNoNeigh => "xdp_pass_no_neigh",
            Counter::XdpPassOtherRoute => "xdp_pass_other_route",
            Counter::XdpPassFib => "xdp_pass_fib",
            Counter::XdpPassMalformed => "xdp_pass_malformed",
            Counter::XdpPassMode => "xdp_pass_mode",
            Counter::XdpFibLookup => "xdp_fib_lookups",
            Counter::RlbArpRewritten => "rlb_arp_rewritten",
            Counter::RlbArpRequest => "rlb_arp_requests",
            Counter::DropNotReceiver => "not_receiver",
            Counter::NoFlowletTable => "no_flowlet_table",
            Counter::MemberMacRewritten => "member_mac_rewritten",
            Counter::MemberMacMalformed => "member_mac_malformed",
        }
    }

    /// Whether the counter counts dropped packets.
    pub const fn is_drop(self) -> bool {
        matches!(
            self,
            Counter::DropNoConfig
                | Counter::DropNoMember
                | Counter::DropInactiveMember
                | Counter::DropNotReceiver
                | Counter::DropRewriteFailed
                | Counter::DropCloneFailed
                | Counter::NatNotIp
                | Counter::NatMalformed
                | Counter::NatUntranslatable
                | Counter::NatNoUplink
                | Counter::NatPortsExhausted
                | Counter::NatTableFull
                | Counter::NatFragmentUnknown
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_indexed_in_order_and_fit_the_map() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
        assert!(Counter::ALL.len() as u32 <= COUNTER_SLOTS);
        assert_eq!(core::mem::size_of::<MemberStats>(), 40);
    }
}
