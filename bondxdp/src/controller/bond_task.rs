//! One bond's reconcile loop: observe (netlink events, carrier polls, ARP/NS probes, LACPDUs)
//! → decide (per-member [`LinkMonitor`], active member, min_links, the LACP actor) → act (one
//! atomic configuration publish, the bond's carrier, gratuitous ARPs after a failover,
//! LACPDUs).
//!
//! The loop keeps no state the data plane does not also have: member link states live in the
//! pinned configuration, options in the pinned [`BondState`]. A restarted controller adopts a
//! bond by reading both, and publishes nothing until something actually changes. 802.3ad is
//! the exception that proves it: its actor's state goes to the pinned record
//! ([`LacpDriver::record_due`]) and a restarted controller resumes from there.

use std::{
    collections::{BTreeSet, HashMap},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
    time::{Duration, Instant},
};

use bondxdp_common::{
    BondConfig, MAX_MEMBERS, Mode,
    config::{LinkState, MEMBER_LACP_MASK, NO_SLOT},
    records::{BondState, LacpPortRecord, LacpRecord, actor_port_prio},
};
use tokio::{
    sync::{broadcast, mpsc, watch},
    task::JoinHandle,
};
use tracing::{debug, info, warn};

use super::{
    aligned,
    arp_monitor::{self, Context, Heard, ProbeState, Role, Verdict, Window},
    events::{ControllerEvent, LinkEvent},
    frames,
    lacp::{LacpDriver, LacpFrame, MemberInfo, actor_config},
    monitor::{Delays, LinkMonitor, Phase},
    multi_wan::{UplinkProbeReply, Uplinks},
    packet_socket::{PacketSocket, Reader},
    rebalance::Rebalancer,
};
use crate::{
    bond::{addresses, apply_options},
    error::{Error, Result},
    maps::{BondMaps, name_string},
    metrics::SharedCounts,
    netdev::Netlink,
    options::{ArpAllTargets, FailOverMac, IpCidr, LacpOptions, MonitorOptions},
    options::{pinned_options, slot_names},
    pins::{BondLock, BondPaths},
};

/// How often the loop re-reads options, re-checks the data plane and looks at the carriers
/// when nothing else is due: a safety net only, since `bondxdp` commands notify the
/// controller of every change and the carrier watch of every carrier change. Every bond's
/// tick falls on the same instants ([`aligned`]), so an idle controller wakes once per tick
/// however many bonds it has.
const IDLE_TICK: Duration = Duration::from_secs(5);
/// The tick of multi-wan bonds, which probe their uplinks all the time anyway: their health
/// record (probes, loss, RTT: what `status` shows) is written on every tick.
const MULTI_WAN_TICK: Duration = Duration::from_millis(250);
/// Carrier poll interval while link events are on but the carrier watch
/// ([`super::carrier`]) could not start. The kernel defers netlink carrier notifications
/// through linkwatch (up to a second for devices that are neither stacked nor kernel bonding
/// slaves), so "at once" then needs a look at the carrier itself: two ioctls per member.
const CARRIER_WATCH: Duration = Duration::from_millis(1);
/// The soonest the members' unicast filters and MTU are synced again after a link event of
/// an interface that is not the bond's (a macvlan created on it, say); changes of the bond
/// itself are synced at once.
const LINK_EVENT_SYNC: Duration = Duration::from_secs(1);
/// How long a member that just joined (or a controller that just started) is given before
/// unanswered probes count against it: the peer may not be probing or answering yet.
const PROBE_GRACE: Duration = Duration::from_secs(1);
/// How often the bond's addresses (probe sources, gratuitous ARP) are re-read.
const ADDRESS_REFRESH: Duration = Duration::from_secs(1);
/// 802.3ad: how often the members' speed and duplex (their LACP keys) are re-read while up.
const LACP_SPEED_REFRESH: Duration = Duration::from_secs(1);

/// One member as the loop tracks it.
struct Member {
    ifindex: u32,
    name: String,
    /// Last known "admin up and carrier".
    carrier: bool,
    /// Whether netlink reports its carrier changes at once
    /// ([`crate::netdev::Link::carrier_events_immediate`]).
    immediate: bool,
    monitor: LinkMonitor,
    probe: ProbeState,
    /// The interface's own rx counter at the last probe round (for `arp_validate=none`).
    rx_packets: u64,
    socket: Option<Arc<PacketSocket>>,
    reader: Option<Reader>,
}

/// Handle of a running bond task.
pub struct BondHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl BondHandle {
    /// Whether the task ended by itself (its bond disappeared).
    pub fn finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the task and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts the loop for the bond pinned at `paths`.
pub fn spawn(
    paths: BondPaths,
    events: &broadcast::Sender<ControllerEvent>,
    counts: SharedCounts,
) -> Result<BondHandle> {
    let (stop, stopped) = watch::channel(false);
    let logs = forward_ebpf_logs(&paths);
    let mut task = BondTask::adopt(paths, events.subscribe(), counts)?;
    let handle = tokio::spawn(async move {
        if let Err(e) = task.run(stopped).await {
            warn!(bond = %task.name, "controller stopped: {e}");
        }
        if let Some(logs) = logs {
            logs.abort();
        }
    });
    Ok(BondHandle { stop, task: handle })
}

/// Forwards what the bond's eBPF programs log (aya-log; rare events only) to the
/// controller's log, at the level they were logged (debug).
fn forward_ebpf_logs(paths: &BondPaths) -> Option<JoinHandle<()>> {
    let program =
        crate::loader::pinned_program(paths, crate::loader::programs::MEMBER_INGRESS).ok()?;
    let id = program.info().ok()?.id();
    let logger = aya_log::EbpfLogger::init_from_id(id).ok()?;
    // SAFETY: the logger owns its ring buffer descriptor for as long as the AsyncFd lives.
    let mut fd = match unsafe { tokio::io::unix::AsyncFd::register(logger) } {
        Ok(fd) => fd,
        Err(_) => return None,
    };
    Some(tokio::spawn(async move {
        loop {
            let Ok(mut guard) = fd.readable_mut().await else {
                return;
            };
            guard.get_inner_mut().flush();
            guard.clear_ready();
        }
    }))
}

struct BondTask {
    name: String,
    paths: BondPaths,
    maps: BondMaps,
    nl: Netlink,
    state: BondState,
    opts: MonitorOptions,
    /// Members by slot.
    members: HashMap<usize, Member>,
    events: broadcast::Receiver<ControllerEvent>,
    heard_tx: mpsc::UnboundedSender<(usize, Heard)>,
    heard_rx: mpsc::UnboundedReceiver<(usize, Heard)>,
    addresses: Vec<IpCidr>,
    addresses_read: Option<Instant>,
    carrier_on: Option<bool>,
    ioctl: std::os::fd::OwnedFd,
    next_poll: Instant,
    next_probe: Instant,
    /// active-backup with no active member: the member probing this interval (kernel
    /// `current_arp_slave`).
    arp_prober: Option<usize>,
    /// The active member the ARP monitor last saw (to restart its grace when it changes).
    arp_active: Option<usize>,
    next_reconcile: Instant,
    counts: SharedCounts,
    /// multi-wan bonds: their uplinks, watched.
    mwan: Option<Uplinks>,
    mwan_rx: Option<mpsc::UnboundedReceiver<UplinkProbeReply>>,
    /// Weighted modes: spare-capacity weights.
    rebalancer: Rebalancer,
    next_rebalance: Instant,
    dynamic_weights: Option<[u16; MAX_MEMBERS]>,
    /// 802.3ad bonds: the LACP driver.
    lacp: Option<LacpDriver>,
    lacp_tx: mpsc::UnboundedSender<LacpFrame>,
    lacp_rx: mpsc::UnboundedReceiver<LacpFrame>,
    next_speed_refresh: Instant,
    /// (member, address) pairs this task put on members' unicast filters.
    stacked: BTreeSet<(u32, [u8; 6])>,
    next_address_sync: Instant,
    last_address_sync: Instant,
    /// The bond MTU the members were last given.
    mtu: Option<u32>,
    /// balance-tlb/alb: learning packets, the active receiver, receive balancing.
    alb: super::alb::Alb,
    /// active-backup: the active member the segment was last told of (a change, by failover
    /// or by `set active_slave`, is announced).
    announced_active: u32,
    /// The announcements of the last failover, sent without holding up the monitor.
    notifier: super::notify::Notifier,
    /// fail_over_mac: whether the members' MACs were checked since this task adopted the
    /// bond or its members changed (a crash may have left a swap half done).
    macs_settled: bool,
}

impl BondTask {
    /// Takes over a bond as the data plane has it now.
    fn adopt(
        paths: BondPaths,
        events: broadcast::Receiver<ControllerEvent>,
        counts: SharedCounts,
    ) -> Result<BondTask> {
        let maps = BondMaps::open(&paths)?;
        let bad = || Error::BadPinnedState(paths.dir().to_path_buf());
        let state = maps.state()?.ok_or_else(bad)?;
        let (heard_tx, heard_rx) = mpsc::unbounded_channel();
        let (lacp_tx, lacp_rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let current = maps.config.current()?;
        let multi = current
            .and_then(|c| c.mode())
            .is_some_and(Mode::is_multi_uplink);
        let announced_active = current.map_or(NO_SLOT, |c| c.active_slot);
        let (mwan, mwan_rx) = if multi {
            let (u, rx) = Uplinks::new(&paths.name(), state.mwan);
            (Some(u), Some(rx))
        } else {
            (None, None)
        };
        Ok(BondTask {
            name: paths.name(),
            nl: Netlink::connect()?,
            opts: MonitorOptions::from_pinned(&state.monitor),
            paths,
            maps,
            state,
            members: HashMap::new(),
            events,
            heard_tx,
            heard_rx,
            addresses: Vec::new(),
            addresses_read: None,
            carrier_on: None,
            ioctl: crate::netdev::ioctl_socket()?,
            next_poll: now,
            next_probe: now,
            arp_prober: None,
            arp_active: None,
            next_reconcile: now,
            counts,
            mwan,
            mwan_rx,
            rebalancer: Rebalancer::default(),
            next_rebalance: now,
            dynamic_weights: None,
            lacp: None,
            lacp_tx,
            lacp_rx,
            next_speed_refresh: now,
            stacked: BTreeSet::new(),
            next_address_sync: now,
            last_address_sync: now,
            mtu: None,
            alb: Default::default(),
            announced_active,
            notifier: Default::default(),
            macs_settled: false,
        })
    }

    async fn run(&mut self, mut stop: watch::Receiver<bool>) -> Result<()> {
        info!(bond = %self.name, "managing");
        self.sync_members().await?;
        self.poll_carriers().await;
        self.evaluate().await?;
        self.lacp_step().await?;
        loop {
            let wake = self.next_wakeup();
            tokio::select! {
                _ = stop.changed() => break,
                event = self.events.recv() => match event {
                    Ok(ControllerEvent::Link(event)) => self.on_link_event(event).await?,
                    Ok(ControllerEvent::CarrierChanged) => self.on_carrier_changed().await?,
                    Ok(ControllerEvent::Reconfigured) => {
                        self.next_reconcile = Instant::now();
                        self.on_tick().await?;
                    }
                    // Missed events: fall back to asking.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.poll_carriers().await,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                Some((slot, heard)) = self.heard_rx.recv() => self.on_heard(slot, heard),
                Some(frame) = self.lacp_rx.recv() => {
                    if let Some(lacp) = self.lacp.as_mut() {
                        lacp.on_frame(frame);
                    }
                }
                Some(heard) = async {
                    match self.mwan_rx.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if self.mwan.as_mut().is_some_and(|m| m.on_heard(heard)) {
                        self.evaluate().await?;
                    }
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => self.on_tick().await?,
            }
            self.lacp_step().await?;
            if !self.paths.exists() {
                info!(bond = %self.name, "bond removed; no longer managing it");
                break;
            }
        }
        Ok(())
    }

    fn delays(&self) -> Delays {
        Delays {
            up: Duration::from_millis(self.opts.updelay as u64),
            down: Duration::from_millis(self.opts.downdelay as u64),
        }
    }

    fn probing(&self) -> bool {
        self.opts.arp_interval > 0
    }

    /// How often carrier is looked at: `miimon`, or the fast watch with link events on.
    fn poll_interval(&self) -> Option<Duration> {
        match (self.opts.link_events, self.opts.miimon) {
            // Every carrier change wakes the task at once (the carrier watch, or netlink for
            // members whose notifications the kernel does not defer).
            (true, _)
                if super::carrier::watching() || self.members.values().all(|m| m.immediate) =>
            {
                None
            }
            (true, _) => Some(CARRIER_WATCH),
            (false, 0) => None,
            (false, ms) => Some(Duration::from_millis(ms as u64)),
        }
    }

    fn next_wakeup(&self) -> Instant {
        let now = Instant::now();
        let mut wake = self.next_reconcile.max(now);
        if self.poll_interval().is_some() {
            wake = wake.min(self.next_poll);
        }
        if self.mwan.is_none() {
            wake = wake.min(self.next_address_sync);
        }
        if self.probing() {
            wake = wake.min(self.next_probe);
        }
        let delays = self.delays();
        for m in self.members.values() {
            if let Some(d) = m.monitor.deadline(delays) {
                wake = wake.min(d);
            }
        }
        if let Some(mwan) = &self.mwan {
            wake = wake.min(mwan.next_due());
        }
        if self.rebalancing() {
            wake = wake.min(self.next_rebalance);
        }
        if let Some(deadline) = self.lacp.as_ref().and_then(LacpDriver::deadline) {
            wake = wake.min(deadline);
        }
        if let Some(due) = self.alb.next_due() {
            wake = wake.min(due);
        }
        wake.max(now)
    }

    async fn on_link_event(&mut self, event: LinkEvent) -> Result<()> {
        if !self.members.values().any(|m| m.ifindex == event.ifindex) {
            // The bond's MTU or addresses stacked on it may have changed: sync the members
            // (at once for the bond itself; for other interfaces, at most once a second).
            let now = Instant::now();
            let soonest = if event.ifindex == self.state.bond_ifindex {
                now
            } else {
                (self.last_address_sync + LINK_EVENT_SYNC).max(now)
            };
            self.next_address_sync = self.next_address_sync.min(soonest);
            return Ok(());
        }
        if !self.opts.link_events {
            return Ok(());
        }
        let Some(m) = self
            .members
            .values_mut()
            .find(|m| m.ifindex == event.ifindex)
        else {
            return Ok(());
        };
        let usable = event.usable && !event.deleted;
        if m.carrier != usable {
            debug!(bond = %self.name, member = %m.name, usable, "link event");
            m.carrier = usable;
            self.evaluate().await?;
        }
        Ok(())
    }

    /// The carrier watch saw a carrier change somewhere: look at the members' carriers.
    async fn on_carrier_changed(&mut self) -> Result<()> {
        if !self.opts.link_events {
            return Ok(());
        }
        let before: Vec<bool> = self.members.values().map(|m| m.carrier).collect();
        self.poll_carriers().await;
        if self.members.values().map(|m| m.carrier).ne(before) {
            self.evaluate().await?;
        }
        Ok(())
    }

    fn on_heard(&mut self, slot: usize, heard: Heard) {
        let now = Instant::now();
        let role = self.role(slot);
        let window = self.window();
        let active_answered = self
            .arp_active
            .and_then(|a| self.members.get(&a))
            .is_some_and(|a| a.probe.answered_since_active(window.all_targets));
        let prober_sent = self
            .arp_prober
            .and_then(|p| self.members.get(&p))
            .is_some_and(|p| window.within(now, p.probe.last_tx, 1));
        let (own4, own6) = self.own_addresses();
        let ctx = Context {
            validate: self.opts.arp_validate,
            role,
            targets4: &self.opts.arp_ip_targets,
            targets6: &self.opts.ns_ip6_targets,
            own4: &own4,
            own6: &own6,
            active_answered,
            prober_sent,
        };
        let verdict = arp_monitor::judge(&ctx, heard);
        let Some(m) = self.members.get_mut(&slot) else {
            return;
        };
        match verdict {
            Verdict::Target(i) => {
                m.probe.last_rx = now;
                if let Some(t) = m.probe.target_rx.get_mut(i) {
                    *t = now;
                }
            }
            Verdict::Received => m.probe.last_rx = now,
            Verdict::Nothing => {}
        }
    }

    /// The active-backup active member, if the bond runs active-backup and has one.
    fn active_member(&self) -> Option<usize> {
        self.maps
            .config
            .current()
            .ok()
            .flatten()
            .filter(|c| c.mode() == Some(Mode::ActiveBackup))
            .map(|c| c.active_slot as usize)
            .filter(|a| *a < MAX_MEMBERS)
    }

    fn active_backup(&self) -> bool {
        self.maps
            .config
            .current()
            .ok()
            .flatten()
            .is_some_and(|c| c.mode() == Some(Mode::ActiveBackup))
    }

    /// The member's role to the ARP monitor.
    fn role(&self, slot: usize) -> Role {
        if !self.active_backup() {
            Role::Balanced
        } else if self.active_member() == Some(slot) {
            Role::Active
        } else {
            Role::Backup
        }
    }

    fn window(&self) -> Window {
        Window {
            interval: Duration::from_millis(self.opts.arp_interval as u64),
            missed_max: self.opts.arp_missed_max.max(1),
            all_targets: self.opts.arp_all_targets == ArpAllTargets::All,
        }
    }

    /// The bond's own addresses (frames the ARP monitor recognises as its probes).
    fn own_addresses(&self) -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for c in &self.addresses {
            match c.addr {
                IpAddr::V4(a) => v4.push(a),
                IpAddr::V6(a) => v6.push(a),
            }
        }
        (v4, v6)
    }

    /// Restarts the grace of a member that just became the active one (kernel
    /// `last_link_up`): it did not send while it was a backup.
    fn track_active(&mut self, now: Instant) {
        let active = self.active_member();
        if active != self.arp_active {
            if let Some(m) = active.and_then(|a| self.members.get_mut(&a)) {
                m.probe.made_active(now);
            }
            self.arp_active = active;
        }
    }

    async fn on_tick(&mut self) -> Result<()> {
        let now = Instant::now();
        if now >= self.next_reconcile {
            self.reload_state().await?;
        }
        if self.mwan.is_none() && now >= self.next_address_sync {
            self.next_address_sync = aligned(now, IDLE_TICK);
            self.last_address_sync = now;
            self.sync_stacked_addresses().await;
            self.sync_mtu().await;
        }
        if let Some(lacp) = self.lacp.as_mut() {
            lacp.tick();
        }
        match self.poll_interval() {
            Some(interval) if now >= self.next_poll => {
                self.poll_carriers().await;
                self.next_poll = now + interval;
            }
            // Events tell of every change; a look now and then costs nothing.
            None if self.opts.link_events && now >= self.next_poll => {
                self.poll_carriers().await;
                self.next_poll = aligned(now, IDLE_TICK);
            }
            _ => {}
        }
        if self.probing() && now >= self.next_probe {
            self.probe_round().await;
            self.next_probe = now + Duration::from_millis(self.opts.arp_interval as u64);
        }
        if let Some(mwan) = self.mwan.as_mut() {
            if mwan.refresh(&self.nl, now).await {
                // Addresses or gateways changed: publish them now.
                self.next_reconcile = now;
            }
            if mwan.tick(&self.maps, now) {
                // A verdict changed (health or quality): publish it now.
                self.next_reconcile = now;
            }
        }
        if self.rebalancing() && now >= self.next_rebalance {
            self.rebalance(now);
            let interval = self.state.balance.rebalance_interval_ms.max(100);
            self.next_rebalance = now + Duration::from_millis(interval as u64);
        }
        self.evaluate().await?;
        self.alb_step().await;
        Ok(())
    }

    /// balance-tlb/alb's periodic and on-change work (`controller/alb.rs`).
    async fn alb_step(&mut self) {
        let Ok(cfg) = self.config() else { return };
        if !matches!(cfg.mode(), Some(Mode::BalanceTlb | Mode::BalanceAlb)) {
            if self.alb.next_due().is_some() {
                self.alb = Default::default();
            }
            return;
        }
        self.refresh_addresses().await;
        let cx = super::alb::Context {
            name: &self.name,
            paths: &self.paths,
            maps: &self.maps,
            addresses: &self.addresses,
            num_grat_arp: self.opts.num_grat_arp,
        };
        self.alb.step(&cfg, &cx);
    }

    /// Mirrors the unicast addresses stacked on the bond (macvlans...) onto the members.
    async fn sync_stacked_addresses(&mut self) {
        let members: Vec<u32> = self.members.values().map(|m| m.ifindex).collect();
        let bond = self.state.bond_ifindex;
        if let Err(e) = addresses::sync(&self.nl, bond, &members, &mut self.stacked).await {
            warn!(bond = %self.name, "mirroring stacked addresses onto the members: {e}");
        }
    }

    /// Gives every member (and the bond's hidden peer) the bond's MTU, as the kernel does
    /// when a bond's MTU is changed or a member joins. If a member refuses it, the bond goes
    /// back to the MTU the members last took.
    async fn sync_mtu(&mut self) {
        let Ok(Some(bond)) = self.nl.link_by_index(self.state.bond_ifindex).await else {
            return;
        };
        let mut targets: Vec<(u32, String)> = self
            .members
            .values()
            .map(|m| (m.ifindex, m.name.clone()))
            .collect();
        targets.push((self.state.peer_ifindex, "the bond's peer".into()));
        let mut refused = None;
        for (ifindex, name) in &targets {
            match self.nl.link_by_index(*ifindex).await {
                Ok(Some(l)) if l.mtu != bond.mtu => {
                    if let Err(e) = self.nl.set_mtu(*ifindex, bond.mtu).await {
                        refused = Some(format!("{name}: {e}"));
                        break;
                    }
                    info!(bond = %self.name, member = %name, mtu = bond.mtu, "MTU follows the bond");
                }
                _ => {}
            }
        }
        match (refused, self.mtu) {
            (None, _) => self.mtu = Some(bond.mtu),
            (Some(why), Some(previous)) => {
                warn!(bond = %self.name, mtu = bond.mtu, previous, "MTU refused ({why}); back to the previous one");
                let _ = self.nl.set_mtu(self.state.bond_ifindex, previous).await;
                for (ifindex, _) in &targets {
                    let _ = self.nl.set_mtu(*ifindex, previous).await;
                }
            }
            (Some(why), None) => warn!(bond = %self.name, mtu = bond.mtu, "MTU refused: {why}"),
        }
    }

    /// Whether the controller computes this bond's weights: a weighted mode with a
    /// rebalance interval (multi-wan only when capacities are configured: uplinks rarely
    /// know their own).
    fn rebalancing(&self) -> bool {
        let Ok(Some(cfg)) = self.maps.config.current() else {
            return false;
        };
        let Some(mode) = cfg.mode() else { return false };
        let b = &self.state.balance;
        mode.uses_weights()
            && b.rebalance_interval_ms > 0
            && (!mode.is_multi_uplink() || b.speeds_mbps.iter().any(|s| *s > 0))
    }

    /// Measures the members' transmit rates and, if their spare capacities changed enough,
    /// has the next reconcile publish new weights.
    fn rebalance(&mut self, now: Instant) {
        let Ok(cfg) = self.config() else { return };
        let Ok(stats) = self.maps.all_member_stats() else {
            return;
        };
        let mut bytes = [None; MAX_MEMBERS];
        let mut capacity = [0u32; MAX_MEMBERS];
        let mut up = [false; MAX_MEMBERS];
        for slot in 0..MAX_MEMBERS {
            let m = cfg.members[slot];
            if !m.is_used() {
                continue;
            }
            bytes[slot] = Some(stats[slot].tx_bytes);
            up[slot] = m.link_state() == LinkState::Up;
            capacity[slot] = match self.state.balance.speeds_mbps[slot] {
                0 => crate::netdev::link_speed_by_index(m.ifindex).unwrap_or(1000),
                s => s,
            };
        }
        self.rebalancer.observe(&bytes, now);
        if let Some(w) = self.rebalancer.weights(&capacity, &up) {
            debug!(bond = %self.name, weights = ?&w[..], "new weights");
            self.dynamic_weights = Some(w);
            self.next_reconcile = now;
        }
    }

    /// Picks up options and member changes made by `bondxdp set`/`member`.
    async fn reload_state(&mut self) -> Result<()> {
        let Ok(Some(state)) = self.maps.state() else {
            return Ok(());
        };
        if state.generation != self.state.generation {
            let probing_before = self.probing();
            if let Some(mwan) = self.mwan.as_mut()
                && state.mwan != self.state.mwan
            {
                mwan.set_record(state.mwan);
            }
            self.state = state;
            self.opts = MonitorOptions::from_pinned(&state.monitor);
            self.macs_settled = false;
            // `set active_slave` moves the active member: announce it without waiting.
            self.next_reconcile = Instant::now();
            debug!(bond = %self.name, "options reloaded");
            if probing_before != self.probing() {
                // Open or close the probe sockets.
                self.members.clear();
            }
            self.sync_members().await?;
        }
        Ok(())
    }

    /// Matches the tracked members to the configuration's.
    async fn sync_members(&mut self) -> Result<()> {
        let cfg = self.config()?;
        self.members
            .retain(|slot, m| cfg.members[*slot].ifindex == m.ifindex);
        let targets = self.opts.arp_ip_targets.len() + self.opts.ns_ip6_targets.len();
        for slot in 0..MAX_MEMBERS {
            let slot_cfg = cfg.members[slot];
            if !slot_cfg.is_used() || self.members.contains_key(&slot) {
                if let Some(m) = self.members.get_mut(&slot)
                    && m.probe.target_rx.len() != targets
                {
                    m.probe = ProbeState::new(Instant::now() + PROBE_GRACE, targets);
                }
                continue;
            }
            let link = self.nl.link_by_index(slot_cfg.ifindex).await?;
            let (name, carrier, rx_packets, immediate) = match &link {
                Some(l) => (
                    l.name.clone(),
                    l.up && l.carrier,
                    l.rx_packets,
                    l.carrier_events_immediate(),
                ),
                None => (name_string(&self.state.members[slot].name), false, 0, false),
            };
            let mut member = Member {
                ifindex: slot_cfg.ifindex,
                name,
                carrier,
                immediate,
                monitor: LinkMonitor::new(slot_cfg.link_state() == LinkState::Up),
                probe: ProbeState::new(Instant::now() + PROBE_GRACE, targets),
                rx_packets,
                socket: None,
                reader: None,
            };
            if self.probing() {
                self.open_probe_socket(slot, &mut member);
            }
            self.members.insert(slot, member);
        }
        if let Some(mwan) = self.mwan.as_mut() {
            let list: Vec<(usize, u32, String, bool)> = self
                .members
                .iter()
                .map(|(slot, m)| {
                    (
                        *slot,
                        m.ifindex,
                        m.name.clone(),
                        cfg.members[*slot].link_state() == LinkState::Up,
                    )
                })
                .collect();
            mwan.sync(&self.nl, &self.maps, &list).await;
        }
        self.sync_lacp(&cfg);
        Ok(())
    }

    /// 802.3ad: starts, updates or stops the LACP driver to match the mode, the members and
    /// the options. A driver started here resumes from the pinned record when it describes
    /// these members (a controller restart).
    fn sync_lacp(&mut self, cfg: &BondConfig) {
        if cfg.mode() != Some(Mode::Ieee8023ad) {
            if let Some(lacp) = self.lacp.take() {
                lacp.stop();
            }
            return;
        }
        let mut members: Vec<MemberInfo> = self
            .members
            .iter()
            .map(|(slot, m)| MemberInfo {
                slot: *slot,
                ifindex: m.ifindex,
                name: m.name.clone(),
                mac: self.state.members[*slot].mac,
                port_priority: actor_port_prio(self.state.lacp.ports[*slot].admin_priority),
            })
            .collect();
        members.sort_by_key(|m| m.slot);
        let config = actor_config(&LacpOptions::from_pinned(&self.state.lacp), cfg.bond_mac);
        match self.lacp.as_mut() {
            Some(lacp) => {
                lacp.set_config(config);
                lacp.set_speeds(self.state.balance.speeds_mbps);
                lacp.sync(&members);
            }
            None => {
                // The record as pinned now: the last controller may have written it after
                // this task read the state.
                let rec = match self.maps.state() {
                    Ok(Some(state)) => state.lacp,
                    _ => LacpRecord::default(),
                };
                let mut lacp =
                    LacpDriver::start(&self.name, config, &members, &rec, self.lacp_tx.clone());
                lacp.set_speeds(self.state.balance.speeds_mbps);
                self.lacp = Some(lacp);
            }
        }
    }

    /// 802.3ad, after every event: publishes the actor's decisions if they changed, then sends
    /// what it has to say (so a member stops distributing before its partner hears it), and
    /// writes the record when it is due.
    async fn lacp_step(&mut self) -> Result<()> {
        if self.lacp.as_ref().is_some_and(LacpDriver::needs_publish) {
            self.reconcile(true).await?;
        }
        let Some(lacp) = self.lacp.as_mut() else {
            return Ok(());
        };
        lacp.flush();
        lacp.log_changes();
        if let Some(rec) = lacp.record_due() {
            let written = BondLock::acquire(&self.paths).and_then(|_lock| {
                self.maps.update_lacp(|r| {
                    r.active_aggregator = rec.active_aggregator;
                    r.updated_ns = rec.updated_ns;
                    // The controller's part of each port record; `actor_port_prio` is the
                    // options'.
                    for (port, new) in r.ports.iter_mut().zip(rec.ports) {
                        *port = LacpPortRecord {
                            admin_priority: port.admin_priority,
                            ..new
                        };
                    }
                })
            });
            if let Err(e) = written {
                warn!(bond = %self.name, "cannot record the LACP state: {e}");
            }
        }
        Ok(())
    }

    fn open_probe_socket(&self, slot: usize, member: &mut Member) {
        match PacketSocket::open(member.ifindex, &frames::probe_socket_filter()) {
            Ok(socket) => {
                let socket = Arc::new(socket);
                let reader = socket.clone();
                let tx = self.heard_tx.clone();
                member.reader = Some(Reader::spawn(async move {
                    let mut buf = vec![0u8; 2048];
                    while let Ok(n) = reader.recv(&mut buf).await {
                        let frame = &buf[..n];
                        let heard = if let Some(a) = frames::parse_arp(frame) {
                            Heard::Arp(a)
                        } else if let Some(nd) = frames::parse_nd(frame) {
                            Heard::Nd(nd)
                        } else {
                            continue;
                        };
                        if tx.send((slot, heard)).is_err() {
                            break;
                        }
                    }
                }));
                member.socket = Some(socket);
            }
            Err(e) => warn!(bond = %self.name, member = %member.name, "no probe socket: {e}"),
        }
    }

    fn config(&self) -> Result<BondConfig> {
        self.maps
            .config
            .current()?
            .ok_or_else(|| Error::BadPinnedState(self.paths.dir().to_path_buf()))
    }

    async fn poll_carriers(&mut self) {
        for m in self.members.values_mut() {
            match crate::netdev::carrier_now(&self.ioctl, &m.name) {
                Some(carrier) => m.carrier = carrier,
                // Renamed or gone: ask netlink by index.
                None => {
                    if let Ok(link) = self.nl.link_by_index(m.ifindex).await {
                        m.carrier = link.as_ref().is_some_and(|l| l.up && l.carrier);
                        if let Some(l) = link {
                            m.name = l.name;
                        }
                    }
                }
            }
        }
    }

    async fn refresh_addresses(&mut self) {
        let now = Instant::now();
        if self
            .addresses_read
            .is_some_and(|t| now.duration_since(t) < ADDRESS_REFRESH)
        {
            return;
        }
        if let Ok(addrs) = self.nl.addresses(self.state.bond_ifindex).await {
            self.addresses = addrs;
        }
        self.addresses_read = Some(now);
    }

    /// The bond's IPv4 address to send probes from (one in a target's subnet if possible).
    fn source_v4(&self) -> Option<Ipv4Addr> {
        let v4: Vec<(Ipv4Addr, u8)> = self
            .addresses
            .iter()
            .filter_map(|c| match c.addr {
                IpAddr::V4(a) => Some((a, c.prefix)),
                IpAddr::V6(_) => None,
            })
            .collect();
        let same_subnet = |(a, p): &(Ipv4Addr, u8)| {
            let mask = u32::MAX.checked_shl(32 - *p as u32).unwrap_or(0);
            self.opts
                .arp_ip_targets
                .iter()
                .any(|t| u32::from(*t) & mask == u32::from(*a) & mask)
        };
        v4.iter()
            .find(|a| same_subnet(a))
            .or(v4.first())
            .map(|(a, _)| *a)
    }

    /// The bond's IPv6 address to send solicitations from (global first).
    fn source_v6(&self) -> Option<Ipv6Addr> {
        let v6: Vec<Ipv6Addr> = self
            .addresses
            .iter()
            .filter_map(|c| match c.addr {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            })
            .collect();
        v6.iter()
            .find(|a| !a.is_unicast_link_local())
            .or(v6.first())
            .copied()
    }

    /// Sends one probe per target through the members whose turn it is (the active member
    /// in active-backup, see `arp_monitor::probers`), and reads the members' own rx counters
    /// (any received frame counts where answers are not validated, unless `filter*`).
    async fn probe_round(&mut self) {
        self.refresh_addresses().await;
        let cfg = match self.config() {
            Ok(c) => c,
            Err(_) => return,
        };
        let src4 = self.source_v4().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let src6 = self.source_v6();
        let now = Instant::now();
        self.track_active(now);
        let arp_only = self.opts.arp_validate.arp_only();
        let unvalidated: Vec<usize> = self
            .members
            .keys()
            .copied()
            .filter(|s| {
                !arp_only
                    && !self
                        .opts
                        .arp_validate
                        .validates(self.role(*s) != Role::Backup)
            })
            .collect();
        let mut up: Vec<usize> = self
            .members
            .iter()
            .filter(|(_, m)| m.carrier)
            .map(|(s, _)| *s)
            .collect();
        up.sort_unstable();
        let probers = arp_monitor::probers(
            self.active_backup(),
            self.active_member(),
            &up,
            &mut self.arp_prober,
        );
        for (slot, m) in self.members.iter_mut() {
            let mac = cfg.members[*slot].mac;
            if probers.contains(slot)
                && let Some(socket) = &m.socket
            {
                for target in &self.opts.arp_ip_targets {
                    let _ = socket.send(&frames::arp_request(mac, src4, *target));
                }
                if let Some(src6) = src6 {
                    for target in &self.opts.ns_ip6_targets {
                        let _ = socket.send(&frames::neighbour_solicitation(mac, src6, *target));
                    }
                }
                m.probe.last_tx = m.probe.last_tx.max(now);
            }
            if unvalidated.contains(slot)
                && let Ok(Some(link)) = self.nl.link_by_index(m.ifindex).await
            {
                if link.rx_packets != m.rx_packets {
                    m.probe.last_rx = now;
                }
                m.rx_packets = link.rx_packets;
            }
        }
    }

    /// Feeds every member's current evidence to its monitor and acts on any change.
    async fn evaluate(&mut self) -> Result<()> {
        let now = Instant::now();
        let delays = self.delays();
        let probing = self.probing();
        if probing {
            self.track_active(now);
        }
        let window = self.window();
        let roles: HashMap<usize, Role> =
            self.members.keys().map(|s| (*s, self.role(*s))).collect();
        let mut changed = false;
        let mwan = self.mwan.as_ref();
        let mut recovering = Vec::new();
        for (slot, m) in self.members.iter_mut() {
            let probe_ok = match mwan {
                Some(u) => u.healthy(*slot),
                None => {
                    !probing
                        || m.probe
                            .alive(now, roles[slot], m.monitor.phase().usable(), &window)
                }
            };
            let link_ok = m.carrier && probe_ok;
            if link_ok {
                recovering.push(*slot);
            }
            if m.monitor.observe(link_ok, now, delays) {
                changed = true;
                if let Ok(mut counts) = self.counts.lock() {
                    let c = counts.entry(self.name.clone()).or_default();
                    c.link_failures.insert(m.name.clone(), m.monitor.failures);
                }
                let why = match (m.carrier, probe_ok) {
                    (false, _) => "no carrier",
                    (true, false) => "probes unanswered",
                    (true, true) => "link ok",
                };
                info!(
                    bond = %self.name,
                    member = %m.name,
                    state = m.monitor.phase().name(),
                    "link {} ({why})",
                    if m.monitor.phase().usable() { "up" } else { "down" },
                );
            }
        }
        // With no member usable, a member still inside its updelay is used at once, as the
        // kernel does (`ignore_updelay` when the bond has no active slave): waiting out the
        // delay would leave the bond carrying nothing.
        if !self.members.values().any(|m| m.monitor.phase().usable()) {
            let skip = Delays {
                up: Duration::ZERO,
                ..delays
            };
            for slot in recovering {
                let Some(m) = self.members.get_mut(&slot) else {
                    continue;
                };
                let Phase::GoingUp { since } = m.monitor.phase() else {
                    continue;
                };
                if m.monitor.observe(true, now, skip) {
                    changed = true;
                    let early = (since + delays.up).saturating_duration_since(now);
                    info!(
                        bond = %self.name,
                        member = %m.name,
                        "link up {} ms before its updelay ends: no other member is up",
                        early.as_millis()
                    );
                }
            }
        }
        if let Some(lacp) = self.lacp.as_mut() {
            // LACP runs on the links the monitor judges usable (after updelay/downdelay).
            let refresh = now >= self.next_speed_refresh;
            if refresh {
                self.next_speed_refresh = now + LACP_SPEED_REFRESH;
            }
            for (slot, m) in &self.members {
                lacp.on_link(*slot, m.monitor.phase().usable(), refresh);
            }
            changed |= lacp.needs_publish();
        }
        self.reconcile(changed).await
    }

    /// Makes the data plane match the monitors: one publish if anything differs.
    async fn reconcile(&mut self, links_changed: bool) -> Result<()> {
        let now = Instant::now();
        if !links_changed && now < self.next_reconcile {
            return Ok(());
        }
        self.next_reconcile = match self.mwan {
            Some(_) => now + MULTI_WAN_TICK,
            None => aligned(now, IDLE_TICK),
        };
        let _lock = BondLock::acquire(&self.paths)?;
        let live = self.config()?;
        let mut cfg = live;
        if self
            .members
            .keys()
            .any(|s| cfg.members[*s].ifindex != self.members[s].ifindex)
            || (0..MAX_MEMBERS).any(|s| cfg.members[s].is_used() != self.members.contains_key(&s))
        {
            drop(_lock);
            return self.sync_members().await;
        }
        for (slot, m) in &self.members {
            cfg.members[*slot].link = if m.monitor.phase().usable() {
                LinkState::Up
            } else {
                LinkState::Down
            } as u8;
        }
        if let Some(lacp) = self.lacp.as_mut() {
            // Who collects and distributes is the actor's to say.
            let flags = lacp.flags();
            for (slot, member) in cfg.members.iter_mut().enumerate() {
                member.flags &= !MEMBER_LACP_MASK;
                if member.is_used() {
                    member.flags |= flags[slot];
                }
            }
            lacp.published(flags);
        }
        let opts = pinned_options(&cfg, &self.state);
        let mut failed = Vec::new();
        if let Some(mwan) = &self.mwan {
            failed = mwan.apply(&mut cfg, &live);
        }
        if let Some(w) = self.dynamic_weights {
            // Configured weights still win: apply_options puts them back.
            cfg.weights = w;
        }
        apply_options(
            &mut cfg,
            &opts,
            self.state.primary_slot,
            &slot_names(&self.state),
        );
        if let Some(mwan) = self.mwan.as_mut() {
            mwan.write_health(&mut self.maps, &cfg);
            mwan.announce(&cfg, &self.counts);
        }
        self.follow_active_mac(&mut cfg, &live).await;
        // Just after a resume, the bond keeps its carrier while the LACP partners confirm.
        let carrier =
            cfg.has_carrier() || self.lacp.as_ref().is_some_and(LacpDriver::holds_carrier);
        if !cfg.same_effect(&live) {
            self.maps.config.publish(cfg)?;
            debug!(bond = %self.name, tx = ?cfg.tx_slots(), "configuration published");
        } else if !links_changed && self.carrier_on == Some(carrier) && !self.unannounced(&cfg) {
            if let Some(mwan) = self.mwan.as_mut() {
                mwan.sweep(&mut self.maps, &cfg, &[], now);
            }
            return Ok(());
        }
        if let Some(mwan) = self.mwan.as_mut() {
            let removed = mwan.sweep(&mut self.maps, &cfg, &failed, now);
            for slot in &failed {
                let name = self.members.get(slot).map_or("?", |m| m.name.as_str());
                info!(bond = %self.name, uplink = %name, removed, "uplink failed; its flows move to the others");
            }
        }
        drop(_lock);
        self.set_carrier(carrier).await;
        let failover = self.unannounced(&cfg);
        if cfg.mode() == Some(Mode::ActiveBackup) {
            self.announced_active = cfg.active_slot;
        }
        if failover {
            if let Ok(mut counts) = self.counts.lock() {
                counts.entry(self.name.clone()).or_default().failovers += 1;
            }
            let to = self
                .members
                .get(&(cfg.active_slot as usize))
                .map(|m| m.name.clone());
            info!(bond = %self.name, active = to.as_deref().unwrap_or("?"), "failover");
            self.announce(&cfg).await;
        }
        Ok(())
    }

    /// fail_over_mac active/follow: when the active member changes (and once after adopting
    /// the bond or a member change), the MACs move as the policy says before the new
    /// configuration is published; the failover's announcements then carry them.
    async fn follow_active_mac(&mut self, cfg: &mut BondConfig, live: &BondConfig) {
        let policy = FailOverMac::from_pinned(self.state.fail_over_mac);
        if policy == FailOverMac::None
            || cfg.mode() != Some(Mode::ActiveBackup)
            || cfg.tx_count == 0
            || (self.macs_settled && cfg.active_slot == live.active_slot)
        {
            return;
        }
        match crate::fail_over_mac::settle(&self.nl, policy, &self.state, cfg).await {
            Ok(_) => self.macs_settled = true,
            Err(e) => warn!(bond = %self.name, "fail_over_mac: {e}"),
        }
    }

    /// The bond's carrier follows min_links: its veth peer is set down while too few
    /// members are up.
    async fn set_carrier(&mut self, on: bool) {
        if self.carrier_on == Some(on) {
            return;
        }
        if let Err(e) = self.nl.set_up(self.state.peer_ifindex, on).await {
            warn!(bond = %self.name, "setting carrier {}: {e}", if on { "on" } else { "off" });
            return;
        }
        if self.carrier_on.is_some() {
            info!(bond = %self.name, "carrier {}", if on { "on" } else { "off" });
        }
        self.carrier_on = Some(on);
    }

    /// Whether `cfg` (active-backup) has an active member the segment was not told of.
    fn unannounced(&self, cfg: &BondConfig) -> bool {
        cfg.mode() == Some(Mode::ActiveBackup)
            && cfg.active_slot != self.announced_active
            && cfg.tx_count > 0
    }

    /// Tells the segment where the bond's addresses are now: `num_grat_arp` gratuitous ARPs
    /// and unsolicited neighbour advertisements `peer_notif_delay` apart, and `resend_igmp`
    /// IGMP reports, through the new active member (`controller/notify.rs` sends them).
    async fn announce(&mut self, cfg: &BondConfig) {
        self.addresses_read = None;
        self.refresh_addresses().await;
        let slot = cfg.active_slot as usize;
        let mac = cfg.members[slot].mac;
        let socket = match self.members.get(&slot).and_then(|m| m.socket.clone()) {
            Some(s) => s,
            None => match PacketSocket::open(cfg.members[slot].ifindex, &[drop_all()]) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    warn!(bond = %self.name, "cannot announce the failover: {e}");
                    return;
                }
            },
        };
        let notifications = self
            .addresses
            .iter()
            .map(|cidr| match cidr.addr {
                IpAddr::V4(a) => frames::gratuitous_arp(mac, a),
                IpAddr::V6(a) => frames::unsolicited_advertisement(mac, a),
            })
            .collect();
        let groups = if self.opts.resend_igmp > 0 {
            super::notify::joined_groups(self.state.bond_ifindex)
        } else {
            Vec::new()
        };
        let igmp = (!groups.is_empty()).then(|| {
            let src = self.source_v4().unwrap_or(Ipv4Addr::UNSPECIFIED);
            super::notify::igmpv3_report(mac, src, &groups)
        });
        // MLD reports come from the bond's link-local address (RFC 3810 5.2.13).
        let link_local = self.addresses.iter().find_map(|c| match c.addr {
            IpAddr::V6(a) if a.is_unicast_link_local() => Some(a),
            _ => None,
        });
        let groups_v6 = match link_local {
            Some(_) if self.opts.resend_igmp > 0 => {
                super::notify::joined_groups_v6(self.state.bond_ifindex)
            }
            _ => Vec::new(),
        };
        let mld = link_local
            .filter(|_| !groups_v6.is_empty())
            .map(|src| super::notify::mldv2_report(mac, src, &groups_v6));
        self.notifier.start(super::notify::Announcement {
            socket,
            notifications,
            rounds: self.opts.num_grat_arp,
            gap: Duration::from_millis(self.opts.peer_notif_delay as u64),
            igmp,
            mld,
            igmp_rounds: self.opts.resend_igmp,
        });
    }
}

/// A socket filter that accepts nothing (for send-only sockets).
fn drop_all() -> libc::sock_filter {
    libc::sock_filter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: 0,
    }
}
