//! Validation: every check a bond's options must pass before anything on the host changes
//! (the same for `up`, `set` and the config file).

use super::*;

impl BondSpec {
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
                        "only meaningful in active-backup, balance-tlb and balance-alb, not {}",
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
        // Per-member options name members.
        let named: [(&str, Vec<&String>); 3] = [
            ("prio", opts.prios.iter().map(|(m, _)| m).collect()),
            (
                "tier",
                opts.multi_wan.tiers.iter().map(|(m, _)| m).collect(),
            ),
            (
                "actor_port_prio",
                opts.actor_port_prios.iter().map(|(m, _)| m).collect(),
            ),
        ];
        for (key, members) in named {
            if let Some(m) = members.into_iter().find(|m| !self.members.contains(m)) {
                return Err(Error::invalid(
                    key,
                    format!("{m} is not one of the members"),
                ));
            }
        }
        if let Some(active) = &opts.active_slave {
            if !opts.mode.uses_active() {
                return Err(Error::invalid(
                    "active_slave",
                    format!(
                        "only meaningful in active-backup, balance-tlb and balance-alb, not {}",
                        opts.mode.name()
                    ),
                ));
            }
            if !self.members.contains(active) {
                return Err(Error::invalid(
                    "active_slave",
                    format!("{active} is not one of the members"),
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

/// Checks `forward_from` against the bond (interfaces that exist are checked by `up`).
pub fn validate_forward(spec: &BondSpec) -> Result<()> {
    let f = &spec.options.forward_from;
    if f.is_empty() {
        return Ok(());
    }
    if !bondxdp_common::fast_path::accelerates(spec.options.mode) {
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
    for (i, t) in m.arp_ip_targets.iter().enumerate() {
        let why = if t.is_unspecified() || t.octets()[0] == 0 {
            Some("is not a host address")
        } else if t.is_broadcast() {
            Some("is the broadcast address")
        } else if t.is_multicast() {
            Some("is a multicast address")
        } else if t.is_loopback() {
            Some("is a loopback address")
        } else if m.arp_ip_targets[..i].contains(t) {
            Some("is given twice")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Error::invalid("arp_ip_target", format!("{t} {why}")));
        }
    }
    for (i, t) in m.ns_ip6_targets.iter().enumerate() {
        let why = if t.is_unspecified() {
            Some("is not a host address")
        } else if t.is_multicast() {
            Some("is a multicast address")
        } else if t.is_loopback() {
            Some("is the loopback address")
        } else if m.ns_ip6_targets[..i].contains(t) {
            Some("is given twice")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Error::invalid("ns_ip6_target", format!("{t} {why}")));
        }
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
    if m.resend_igmp > 255 {
        return Err(Error::invalid(
            "resend_igmp",
            format!("{} is out of range 0-255", m.resend_igmp),
        ));
    }
    if m.peer_notif_delay > 300_000 {
        return Err(Error::invalid(
            "peer_notif_delay",
            format!("{} ms is out of range 0-300000", m.peer_notif_delay),
        ));
    }
    if m.miimon > 0 && !m.peer_notif_delay.is_multiple_of(m.miimon) {
        return Err(Error::invalid(
            "peer_notif_delay",
            format!(
                "{} ms is not a multiple of miimon ({} ms)",
                m.peer_notif_delay, m.miimon
            ),
        ));
    }
    if m.num_grat_arp > 255 {
        return Err(Error::invalid(
            "num_grat_arp",
            format!("{} is out of range 0-255", m.num_grat_arp),
        ));
    }
    Ok(())
}
