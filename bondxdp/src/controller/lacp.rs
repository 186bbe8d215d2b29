//! The LACP driver of one 802.3ad bond: moves LACPDUs between the members' packet sockets
//! and the bond's [`Actor`], gives it link reports and time, and tells the reconcile loop
//! which members may collect and distribute.
//!
//! The protocol is all in [`crate::lacp`]; this room only does IO, in the order the actor's
//! module docs prescribe. Its outputs are:
//! * [`LacpDriver::flags`]: each slot's `MEMBER_LACP_*` flags, which the bond task puts into
//!   the next configuration it publishes (one atomic publish per change, before the PDUs that
//!   announce it are sent);
//! * [`LacpDriver::record_due`]: the actor's state for the pinned record, so that `status`
//!   shows it and a restarted controller resumes from it ([`LacpDriver::start`]).
//!
//! Frames come from one reader task per member (an AF_PACKET socket that only takes
//! ethertype 0x8809) through a channel the bond task owns.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bondxdp_common::config::{MAX_MEMBERS, MEMBER_LACP_COLLECTING, MEMBER_LACP_DISTRIBUTING};
use bondxdp_common::records::LacpRecord;
use tokio::sync::mpsc;
use tracing::{debug, info, trace, warn};

use super::{
    frames,
    packet_socket::{PacketSocket, Reader},
};
use crate::{
    lacp::{
        Actor, ActorConfig, Link, PortConfig, Received,
        port::SHORT_TIMEOUT_MS,
        record::{self, MemberPort},
    },
    mac::format_mac,
    maps::monotonic_ns,
    options::LacpOptions,
};

/// Counters alone (no state change) are written to the record at most this often.
const COUNTER_WRITE_INTERVAL: Duration = Duration::from_secs(1);
/// After a read error on a member's socket (other than the interface going down), the
/// reader waits this long before trying again.
const READ_RETRY: Duration = Duration::from_millis(100);

/// A Slow Protocols frame heard on a member.
#[derive(Debug)]
pub struct LacpFrame {
    /// The member's slot.
    pub slot: usize,
    /// The member's interface index (a slot may have changed hands since).
    pub ifindex: u32,
    /// The whole Ethernet frame.
    pub bytes: Vec<u8>,
}

/// A member as the bond task describes it to the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// Slot in the data plane.
    pub slot: usize,
    /// Interface index.
    pub ifindex: u32,
    /// Interface name (for ethtool and logs).
    pub name: String,
    /// The member's own MAC, before it took the bond's: the source of its LACPDUs.
    pub mac: [u8; 6],
    /// Its port priority (`actor_port_prio`).
    pub port_priority: u16,
}

impl MemberInfo {
    /// The member as an LACP port: numbered by slot from 1 (as Linux numbers its ports).
    fn port(&self) -> MemberPort {
        MemberPort {
            slot: self.slot,
            ifindex: self.ifindex,
            config: PortConfig {
                port_number: self.slot as u16 + 1,
                port_priority: self.port_priority,
                mac: self.mac,
            },
        }
    }
}

/// One member port of the driver (index = the actor's port index).
struct DriverPort {
    member: MemberInfo,
    socket: Option<Arc<PacketSocket>>,
    reader: Option<Reader>,
    /// The link last reported to the actor.
    link: Option<Link>,
    /// Frames that could not be sent.
    tx_errors: u64,
    /// Whether it was distributing when last looked at (for the log).
    distributing: bool,
}

/// The LACP driver of one bond.
pub struct LacpDriver {
    bond: String,
    actor: Actor,
    epoch: Instant,
    ports: Vec<DriverPort>,
    frames: mpsc::UnboundedSender<LacpFrame>,
    /// The `MEMBER_LACP_*` flags of the last configuration built, by slot.
    published: [u8; MAX_MEMBERS],
    /// After a resume: until when (driver clock) the bond keeps its carrier while the
    /// restored ports wait for their partners' answers.
    restored_until: Option<u64>,
    /// Something happened since the record was last built.
    dirty: bool,
    /// Counters moved since the record was last handed out.
    counters_pending: bool,
    /// The record last handed out, and when.
    written: Option<(LacpRecord, Instant)>,
    /// Configured speeds by slot (the `speed` option), Mbit/s; 0: the link's own.
    speeds: [u32; MAX_MEMBERS],
}

/// The actor configuration `opts` describe for a bond whose MAC is `bond_mac`.
pub fn actor_config(opts: &LacpOptions, bond_mac: [u8; 6]) -> ActorConfig {
    ActorConfig {
        system: opts.actor_system.unwrap_or(bond_mac),
        system_priority: opts.system_priority,
        user_key: opts.user_port_key,
        lacp_active: opts.active,
        lacp_fast: opts.fast,
        ad_select: opts.ad_select,
        coupled_control: opts.coupled_control,
        lacp_strict: opts.strict,
    }
}

impl LacpDriver {
    /// Starts LACP on `members`: resumed from `rec` where it describes the same interfaces
    /// (a controller restart), else from scratch. Frames heard go to `frames`.
    pub fn start(
        bond: &str,
        config: ActorConfig,
        members: &[MemberInfo],
        rec: &LacpRecord,
        frames: mpsc::UnboundedSender<LacpFrame>,
    ) -> LacpDriver {
        let epoch = Instant::now();
        let ports: Vec<MemberPort> = members.iter().map(MemberInfo::port).collect();
        let (snapshot, tx_errors) = record::snapshot(config, rec, &ports);
        let resumed = rec.updated_ns != 0
            && snapshot
                .ports
                .iter()
                .any(|p| p.partner.is_some() || p.aggregator.is_some());
        let actor = if resumed {
            Actor::restore(&snapshot, 0)
        } else {
            Actor::new(config, ports.iter().map(|p| p.config), 0)
        };
        let restored = resumed && snapshot.ports.iter().any(|p| p.aggregator.is_some());
        let mut driver = LacpDriver {
            bond: bond.to_string(),
            actor,
            epoch,
            ports: Vec::new(),
            frames,
            published: [0; MAX_MEMBERS],
            restored_until: restored.then_some(SHORT_TIMEOUT_MS),
            dirty: true,
            counters_pending: false,
            written: None,
            speeds: [0; MAX_MEMBERS],
        };
        for (member, errors) in members.iter().zip(tx_errors) {
            let mut port = driver.open(member.clone());
            port.tx_errors = errors;
            port.link = resumed
                .then(|| {
                    let i = driver.ports.len();
                    driver.actor.port(i).map(|p| p.link())
                })
                .flatten();
            driver.ports.push(port);
        }
        info!(
            bond = %bond,
            system = %format_mac(&config.system),
            rate = if config.lacp_fast { "fast" } else { "slow" },
            "lacp: {}",
            if resumed { "resumed from the pinned record" } else { "started" }
        );
        driver
    }

    /// The driver's clock: milliseconds since it started.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Opens the member's LACP socket and its reader.
    fn open(&self, member: MemberInfo) -> DriverPort {
        let mut port = DriverPort {
            member,
            socket: None,
            reader: None,
            link: None,
            tx_errors: 0,
            distributing: false,
        };
        let m = &port.member;
        match PacketSocket::open(m.ifindex, &frames::slow_protocols_filter()) {
            Ok(socket) => {
                let socket = Arc::new(socket);
                let reader = socket.clone();
                let tx = self.frames.clone();
                let (slot, ifindex) = (m.slot, m.ifindex);
                port.reader = Some(Reader::spawn(async move {
                    let mut buf = vec![0u8; 2048];
                    loop {
                        match reader.recv(&mut buf).await {
                            Ok(n) => {
                                let frame = LacpFrame {
                                    slot,
                                    ifindex,
                                    bytes: buf[..n].to_vec(),
                                };
                                if tx.send(frame).is_err() {
                                    break;
                                }
                            }
                            // The interface went down (and will come back up): keep reading.
                            Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => {}
                            Err(e) => {
                                debug!(ifindex, "lacp socket: {e}");
                                tokio::time::sleep(READ_RETRY).await;
                            }
                        }
                    }
                }));
                port.socket = Some(socket);
            }
            Err(e) => warn!(bond = %self.bond, member = %m.name, "no LACP socket: {e}"),
        }
        port
    }

    /// Applies new options (`set`): the actor is rebuilt from its own snapshot, so partners
    /// and aggregators stay and the ports distribute again on the partners' next PDUs.
    pub fn set_config(&mut self, config: ActorConfig) {
        if *self.actor.config() == config {
            return;
        }
        let now = self.now();
        let mut snapshot = self.actor.snapshot();
        snapshot.config = config;
        self.actor = Actor::restore(&snapshot, now);
        // As after a resume: the ports wait for their partners' answers with the carrier on.
        self.restored_until = Some(now + SHORT_TIMEOUT_MS);
        self.dirty = true;
        info!(bond = %self.bond, "lacp: options changed");
    }

    /// Matches the ports to `members`: members gone leave (telling their partner, if the
    /// link is up), new ones join with their link down until [`on_link`](Self::on_link).
    pub fn sync(&mut self, members: &[MemberInfo]) {
        let now = self.now();
        let mut i = 0;
        while i < self.ports.len() {
            let m = &self.ports[i].member;
            match members
                .iter()
                .find(|n| n.slot == m.slot && n.ifindex == m.ifindex)
            {
                Some(n) => {
                    self.ports[i].member.name = n.name.clone();
                    if self.ports[i].member.port_priority != n.port_priority {
                        self.ports[i].member.port_priority = n.port_priority;
                        self.actor.set_port_priority(i, now, n.port_priority);
                        info!(bond = %self.bond, member = %n.name, priority = n.port_priority, "lacp: port priority changed");
                        self.dirty = true;
                    }
                    i += 1;
                }
                None => {
                    let port = self.ports.remove(i);
                    if let Some(farewell) = self.actor.remove_port(now, i)
                        && let Some(socket) = &port.socket
                    {
                        let _ = socket.send(&farewell);
                    }
                    info!(bond = %self.bond, member = %port.member.name, "lacp: port removed");
                    self.dirty = true;
                }
            }
        }
        for m in members {
            if self
                .ports
                .iter()
                .any(|p| p.member.slot == m.slot && p.member.ifindex == m.ifindex)
            {
                continue;
            }
            self.actor.add_port(now, m.port().config);
            let port = self.open(m.clone());
            self.ports.push(port);
            self.dirty = true;
        }
    }

    /// Takes the configured speeds by slot (the `speed` option; 0: the link's own). A member
    /// whose speed changes gets a new key at its next refresh, as when ethtool's changes.
    pub fn set_speeds(&mut self, speeds: [u32; MAX_MEMBERS]) {
        self.speeds = speeds;
    }

    /// Reports member `slot`'s link: `usable` as the link monitor judges it (carrier, after
    /// updelay/downdelay). Speed and duplex are read with ethtool when the link comes up and
    /// when `refresh` asks for it (a changed speed changes the port's key); a configured
    /// speed replaces ethtool's.
    pub fn on_link(&mut self, slot: usize, usable: bool, refresh: bool) {
        let Some(i) = self.ports.iter().position(|p| p.member.slot == slot) else {
            return;
        };
        let port = &self.ports[i];
        let was_up = port.link.is_some_and(|l| l.up);
        if usable == was_up && !(usable && refresh) {
            return;
        }
        let configured = self.speeds.get(slot).copied().unwrap_or(0);
        let link = if usable {
            // By index: the member may have been renamed since.
            let settings = crate::netdev::ifname(port.member.ifindex)
                .and_then(|n| crate::netdev::link_settings(&n));
            match (settings, port.link) {
                _ if configured != 0 => Link {
                    up: true,
                    speed_mbps: configured,
                    full_duplex: settings.is_none_or(|s| s.full_duplex),
                },
                (Some(s), _) => Link {
                    up: true,
                    speed_mbps: s.speed_mbps,
                    full_duplex: s.full_duplex,
                },
                // ethtool failed this time: keep what it said before rather than change
                // the port's key (which would restart the port).
                (None, Some(before)) if before.speed_mbps != 0 => Link { up: true, ..before },
                // The driver never says: speed code 0, full duplex assumed (as the kernel
                // does for such devices).
                (None, _) => Link {
                    up: true,
                    speed_mbps: 0,
                    full_duplex: true,
                },
            }
        } else {
            Link {
                up: false,
                ..port.link.unwrap_or_default()
            }
        };
        if port.link == Some(link) {
            return;
        }
        debug!(bond = %self.bond, member = %port.member.name, ?link, "lacp: link");
        self.ports[i].link = Some(link);
        let now = self.now();
        self.actor.on_link(i, now, link);
        self.dirty = true;
    }

    /// A frame heard on a member.
    pub fn on_frame(&mut self, frame: LacpFrame) {
        let Some(i) = self
            .ports
            .iter()
            .position(|p| p.member.slot == frame.slot && p.member.ifindex == frame.ifindex)
        else {
            return;
        };
        let now = self.now();
        let received = self.actor.on_frame(i, now, &frame.bytes);
        trace!(bond = %self.bond, member = %self.ports[i].member.name, ?received, "lacp: frame in");
        match received {
            Received::Malformed(e) => {
                debug!(bond = %self.bond, member = %self.ports[i].member.name, "lacp: {e}")
            }
            Received::Loop => debug!(
                bond = %self.bond,
                member = %self.ports[i].member.name,
                "lacp: our own LACPDU came back (a loop)"
            ),
            _ => {}
        }
        self.dirty = true;
    }

    /// Runs the actor's timers if one is due.
    pub fn tick(&mut self) {
        let now = self.now();
        if self.actor.next_deadline().is_some_and(|d| d <= now) {
            self.actor.tick(now);
            self.dirty = true;
        }
    }

    /// When [`tick`](Self::tick) must run next.
    pub fn deadline(&self) -> Option<Instant> {
        self.actor
            .next_deadline()
            .map(|ms| self.epoch + Duration::from_millis(ms))
    }

    /// Sends what the actor has to send.
    pub fn flush(&mut self) {
        let now = self.now();
        while let Some(t) = self.actor.poll_transmit(now) {
            let Some(port) = self.ports.get_mut(t.port) else {
                continue;
            };
            let sent = match &port.socket {
                Some(socket) => socket.send(&t.frame),
                None => Err(std::io::Error::from(std::io::ErrorKind::NotConnected)),
            };
            trace!(bond = %self.bond, member = %port.member.name, ok = sent.is_ok(), "lacp: frame out");
            if let Err(e) = sent {
                port.tx_errors += 1;
                if port.tx_errors == 1 || port.tx_errors.is_power_of_two() {
                    debug!(
                        bond = %self.bond,
                        member = %port.member.name,
                        errors = port.tx_errors,
                        "lacp: cannot send: {e}"
                    );
                }
            }
            self.dirty = true;
        }
    }

    /// Each slot's `MEMBER_LACP_*` flags as the actor decides them now.
    pub fn flags(&self) -> [u8; MAX_MEMBERS] {
        let mut out = [0u8; MAX_MEMBERS];
        for (i, port) in self.ports.iter().enumerate() {
            let Some(f) = out.get_mut(port.member.slot) else {
                continue;
            };
            if self.actor.is_collecting(i) {
                *f |= MEMBER_LACP_COLLECTING;
            }
            if self.actor.is_distributing(i) {
                *f |= MEMBER_LACP_DISTRIBUTING;
            }
        }
        out
    }

    /// Records that a configuration with `flags` was built (published, or already live).
    pub fn published(&mut self, flags: [u8; MAX_MEMBERS]) {
        self.published = flags;
    }

    /// Whether the actor's decisions differ from the configuration last built.
    pub fn needs_publish(&self) -> bool {
        self.flags() != self.published
    }

    /// Whether the bond keeps its carrier although too few members distribute: just after a
    /// resume, while restored ports wait (at most one short timeout) for their partners to
    /// confirm them. Dropping carrier there would flap the bond for a few milliseconds.
    pub fn holds_carrier(&self) -> bool {
        self.restored_until.is_some_and(|t| self.now() < t)
            && self.actor.ports().iter().any(|p| {
                // A port without a partner has nobody to confirm it.
                p.aggregator_id().is_some() && p.link().up && p.partner_info().system != [0; 6]
            })
    }

    /// Logs members that started or stopped distributing since last asked.
    pub fn log_changes(&mut self) {
        for (i, port) in self.ports.iter_mut().enumerate() {
            let now = self.actor.is_distributing(i);
            if now == port.distributing {
                continue;
            }
            port.distributing = now;
            let Some(p) = self.actor.port(i) else {
                continue;
            };
            if now {
                info!(
                    bond = %self.bond,
                    member = %port.member.name,
                    aggregator = p.aggregator_id().unwrap_or(0),
                    partner = %format_mac(&p.partner_info().system),
                    "lacp: distributing"
                );
            } else {
                info!(
                    bond = %self.bond,
                    member = %port.member.name,
                    rx = ?p.rx_state(),
                    mux = ?p.mux_state(),
                    selection = ?p.selection(),
                    "lacp: not distributing"
                );
            }
        }
    }

    /// The actor's state for the pinned record, when it should be written: at once after a
    /// change of state, at most once a second when only counters moved. The caller writes
    /// it (the controller's part of it) and the driver assumes it did.
    pub fn record_due(&mut self) -> Option<LacpRecord> {
        let now = Instant::now();
        let counters_due = self.counters_pending
            && self
                .written
                .as_ref()
                .is_none_or(|(_, at)| now.duration_since(*at) >= COUNTER_WRITE_INTERVAL);
        if !self.dirty && !counters_due {
            return None;
        }
        self.dirty = false;
        let members: Vec<MemberPort> = self.ports.iter().map(|p| p.member.port()).collect();
        let errors: Vec<u64> = self.ports.iter().map(|p| p.tx_errors).collect();
        let mut rec = LacpRecord::default();
        record::write_record(
            &mut rec,
            &self.actor.status(),
            &members,
            &errors,
            monotonic_ns(),
        );
        if let Some((last, at)) = &self.written
            && without_counters(last) == without_counters(&rec)
        {
            if last.ports == rec.ports {
                self.counters_pending = false;
                return None;
            }
            if now.duration_since(*at) < COUNTER_WRITE_INTERVAL {
                self.counters_pending = true;
                return None;
            }
        }
        self.counters_pending = false;
        self.written = Some((rec, now));
        Some(rec)
    }

    /// Stops LACP on every port (the bond left 802.3ad, or is going away): partners are told
    /// the ports no longer aggregate.
    pub fn stop(mut self) {
        let now = self.now();
        while !self.ports.is_empty() {
            let port = self.ports.remove(0);
            if let Some(farewell) = self.actor.remove_port(now, 0)
                && let Some(socket) = &port.socket
            {
                let _ = socket.send(&farewell);
            }
        }
        info!(bond = %self.bond, "lacp: stopped");
    }
}

/// A record with its counters and time zeroed: the part whose change is written at once.
fn without_counters(rec: &LacpRecord) -> LacpRecord {
    let mut r = *rec;
    r.updated_ns = 0;
    for p in &mut r.ports {
        p.counters = Default::default();
    }
    r
}
