//! The ARP monitor's rules, as the kernel bonding driver has them (`bond_main.c`:
//! `bond_ab_arp_probe`, `bond_ab_arp_inspect`, `bond_loadbalance_arp_mon`, `bond_arp_rcv` /
//! `bond_validate_arp`, `bond_time_in_interval`). Pure and clock-free: callers pass the time.
//!
//! - Who probes: in active-backup only the active member (so the segment learns the bond's
//!   MAC on it alone); while none is active, one member at a time, moving on each interval
//!   (`current_arp_slave`). In the other modes every member with carrier.
//! - What counts as heard: on a member that is not validated (`arp_validate`), any frame
//!   (with `filter*`, only ARP/ND); on a validated active member, a target's answer to the
//!   bond; on a validated backup, the bond's own probe flooded back by the switch, and only
//!   once the active member has had a valid answer since it became active; with no active
//!   member, a target's answer while the probing member sent within the last interval.
//! - Verdicts: a member not in use comes up when heard within one interval; the active member
//!   fails when it has neither sent nor been answered within `arp_missed_max` intervals; a
//!   backup fails when not heard within `arp_missed_max + 1` intervals; in the other modes a
//!   member needs both its sends and what it hears within `arp_missed_max` intervals.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use super::frames::{Arp, Nd};
use crate::options::ArpValidate;

/// A probe-relevant frame heard on a member.
#[derive(Clone, Copy, Debug)]
pub enum Heard {
    /// ARP.
    Arp(Arp),
    /// IPv6 neighbour discovery.
    Nd(Nd),
}

/// What one member's role is to the monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// active-backup: the active member.
    Active,
    /// active-backup: any other member.
    Backup,
    /// The other modes: every member carries traffic.
    Balanced,
}

impl Role {
    fn is_active(self) -> bool {
        self != Role::Backup
    }
}

/// The ARP monitor's view of one member: when valid traffic last arrived, overall and per
/// target (kernel `last_rx`, `target_last_arp_rx`), and when it last sent a probe.
#[derive(Clone, Debug)]
pub struct ProbeState {
    /// Last valid frame from any target (or any frame at all without validation).
    pub last_rx: Instant,
    /// Last valid frame from each target.
    pub target_rx: Vec<Instant>,
    /// Last probe sent through the member (kernel `last_tx`).
    pub last_tx: Instant,
    /// When the member last became the active one (or joined; kernel `last_link_up`).
    pub since: Instant,
}

impl ProbeState {
    /// A member just (re)joined, or the controller just started: everything counts as heard
    /// and sent at `since`, which may lie ahead of now to give the peer time to answer.
    pub fn new(since: Instant, targets: usize) -> ProbeState {
        ProbeState {
            last_rx: since,
            target_rx: vec![since; targets],
            last_tx: since,
            since,
        }
    }

    /// The member was made active at `now`: it is given two intervals (kernel) before its
    /// own sends and answers are judged.
    pub fn made_active(&mut self, now: Instant) {
        self.since = now;
        self.last_tx = self.last_tx.max(now);
    }

    /// Kernel `slave_last_rx`: the oldest target's last answer with `all_targets`.
    fn rx(&self, all_targets: bool) -> Instant {
        match (all_targets, self.target_rx.iter().min()) {
            (true, Some(t)) => *t,
            _ => self.last_rx,
        }
    }

    /// Whether the active member has had a valid answer since it became active (backups
    /// count the bond's flooded probes only then).
    pub fn answered_since_active(&self, all_targets: bool) -> bool {
        self.rx(all_targets) > self.since
    }

    /// Whether the member's link passes in `role` (`usable`: the data plane uses it now).
    pub fn alive(&self, now: Instant, role: Role, usable: bool, w: &Window) -> bool {
        let within = |t: Instant, n: u32| w.within(now, t, n);
        let rx = self.rx(w.all_targets);
        if !usable {
            return match role {
                Role::Balanced => within(self.last_tx, 1) && within(rx, 1),
                _ => within(rx, 1),
            };
        }
        if within(self.since, 2) {
            return true;
        }
        match role {
            Role::Active => within(self.last_tx, w.missed_max) && within(rx, w.missed_max),
            Role::Backup => within(rx, w.missed_max + 1),
            Role::Balanced => within(self.last_tx, w.missed_max) && within(rx, w.missed_max),
        }
    }
}

/// The probe interval and how many may go unanswered.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// `arp_interval`.
    pub interval: Duration,
    /// `arp_missed_max` (at least 1).
    pub missed_max: u32,
    /// `arp_all_targets all`.
    pub all_targets: bool,
}

impl Window {
    /// Kernel `bond_time_in_interval`: `t` lies within `n` intervals and a half before now.
    pub fn within(&self, now: Instant, t: Instant, n: u32) -> bool {
        now.saturating_duration_since(t) <= self.interval * n.max(1) + self.interval / 2
    }
}

/// Which members send probes this round. `up` lists the members with carrier, in slot
/// order; `active` is active-backup's active member (None in other modes or with none).
/// `current` is the rotating prober (`current_arp_slave`), updated here.
pub fn probers(
    active_backup: bool,
    active: Option<usize>,
    up: &[usize],
    current: &mut Option<usize>,
) -> Vec<usize> {
    if !active_backup {
        *current = None;
        return up.to_vec();
    }
    if let Some(a) = active {
        *current = None;
        return vec![a];
    }
    let next = match *current {
        Some(c) => up.iter().copied().find(|s| *s > c).or(up.first().copied()),
        None => up.first().copied(),
    };
    *current = next;
    next.into_iter().collect()
}

/// What the bond knows when a frame arrives on a member.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// `arp_validate`.
    pub validate: ArpValidate,
    /// The member's role.
    pub role: Role,
    /// `arp_ip_target`s.
    pub targets4: &'a [Ipv4Addr],
    /// `ns_ip6_target`s (indexed after the IPv4 ones).
    pub targets6: &'a [Ipv6Addr],
    /// The bond's IPv4 addresses.
    pub own4: &'a [Ipv4Addr],
    /// The bond's IPv6 addresses.
    pub own6: &'a [Ipv6Addr],
    /// active-backup: the active member exists and has been answered since it became active.
    pub active_answered: bool,
    /// active-backup with no active member: the rotating prober sent within the last
    /// interval.
    pub prober_sent: bool,
}

/// What a frame proves about the member it arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing.
    Nothing,
    /// The member receives (last_rx only).
    Received,
    /// The member's path to target `i` (index into the v4+v6 list) works.
    Target(usize),
}

/// Judges one frame heard on a member (kernel `bond_arp_rcv`/`bond_na_rcv`).
pub fn judge(ctx: &Context, heard: Heard) -> Verdict {
    if !ctx.validate.validates(ctx.role.is_active()) {
        // Any frame shows the link receives; one from a target also proves that target
        // (for arp_all_targets). The socket hears only ARP/ND, so `filter*` is met here.
        return match target_of_answer(ctx, heard, false) {
            Some(i) => Verdict::Target(i),
            None => Verdict::Received,
        };
    }
    let found = match ctx.role {
        Role::Active | Role::Balanced => target_of_answer(ctx, heard, true),
        Role::Backup if ctx.active_answered => target_of_probe(ctx, heard),
        Role::Backup if ctx.prober_sent && is_answer(heard) => target_of_answer(ctx, heard, true),
        Role::Backup => None,
    };
    found.map_or(Verdict::Nothing, Verdict::Target)
}

fn is_answer(heard: Heard) -> bool {
    match heard {
        Heard::Arp(a) => a.op == 2,
        Heard::Nd(n) => n.kind == 136,
    }
}

/// A target's ARP (request or reply) addressed to the bond, or its neighbour advertisement.
fn target_of_answer(ctx: &Context, heard: Heard, strict: bool) -> Option<usize> {
    match heard {
        Heard::Arp(a) => {
            if !matches!(a.op, 1 | 2) {
                return None;
            }
            let to_us = !strict
                || ctx.own4.is_empty()
                || a.target.is_unspecified()
                || ctx.own4.contains(&a.target);
            let i = ctx.targets4.iter().position(|t| *t == a.sender)?;
            to_us.then_some(i)
        }
        Heard::Nd(n) => ctx
            .targets6
            .iter()
            .position(|t| *t == n.source || (n.kind == 136 && *t == n.target))
            .map(|i| ctx.targets4.len() + i),
    }
}

/// The bond's own probe for a target, heard on a backup (flooded by the switch).
fn target_of_probe(ctx: &Context, heard: Heard) -> Option<usize> {
    match heard {
        Heard::Arp(a) => {
            let ours = ctx.own4.contains(&a.sender) || a.sender.is_unspecified();
            if a.op != 1 || !ours {
                return None;
            }
            ctx.targets4.iter().position(|t| *t == a.target)
        }
        Heard::Nd(n) => {
            if n.kind != 135 || !ctx.own6.contains(&n.source) {
                return None;
            }
            ctx.targets6
                .iter()
                .position(|t| *t == n.target)
                .map(|i| ctx.targets4.len() + i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const ME: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ctx(validate: ArpValidate, role: Role) -> Context<'static> {
        Context {
            validate,
            role,
            targets4: &[T],
            targets6: &[],
            own4: &[ME],
            own6: &[],
            active_answered: false,
            prober_sent: false,
        }
    }

    fn arp(op: u16, sender: Ipv4Addr, target: Ipv4Addr) -> Heard {
        Heard::Arp(Arp { op, sender, target })
    }

    #[test]
    fn active_backup_probes_through_the_active_member_only() {
        let mut cur = None;
        assert_eq!(probers(true, Some(2), &[0, 1, 2], &mut cur), [2]);
        assert_eq!(cur, None);
        assert_eq!(probers(false, None, &[0, 1, 2], &mut cur), [0, 1, 2]);
    }

    #[test]
    fn with_no_active_member_one_member_probes_at_a_time_in_turn() {
        let mut cur = None;
        let up = [0, 2, 5];
        let seq: Vec<_> = (0..4)
            .map(|_| probers(true, None, &up, &mut cur)[0])
            .collect();
        assert_eq!(seq, [0, 2, 5, 0]);
        assert!(probers(true, None, &[], &mut cur).is_empty());
    }

    #[test]
    fn the_bonds_own_probe_never_proves_the_active_member() {
        let probe = arp(1, ME, T);
        for v in [ArpValidate::Active, ArpValidate::All] {
            assert_eq!(judge(&ctx(v, Role::Active), probe), Verdict::Nothing);
            assert_eq!(
                judge(&ctx(v, Role::Active), arp(2, T, ME)),
                Verdict::Target(0)
            );
        }
    }

    #[test]
    fn backups_count_flooded_probes_only_after_the_active_was_answered() {
        let probe = arp(1, ME, T);
        let mut c = ctx(ArpValidate::Backup, Role::Backup);
        assert_eq!(judge(&c, probe), Verdict::Nothing);
        c.active_answered = true;
        assert_eq!(judge(&c, probe), Verdict::Target(0));
        // Without an active member, a reply counts while the prober has just sent.
        let mut c = ctx(ArpValidate::All, Role::Backup);
        assert_eq!(judge(&c, arp(2, T, ME)), Verdict::Nothing);
        c.prober_sent = true;
        assert_eq!(judge(&c, arp(2, T, ME)), Verdict::Target(0));
        assert_eq!(judge(&c, probe), Verdict::Nothing);
    }

    #[test]
    fn unvalidated_members_count_any_frame() {
        let c = ctx(ArpValidate::Backup, Role::Active);
        let stranger = arp(
            1,
            Ipv4Addr::new(198, 18, 0, 9),
            Ipv4Addr::new(198, 18, 0, 8),
        );
        assert_eq!(judge(&c, stranger), Verdict::Received);
        let c = ctx(ArpValidate::FilterActive, Role::Backup);
        assert_eq!(judge(&c, stranger), Verdict::Received);
        assert!(ArpValidate::FilterBackup.validates(false));
        assert!(!ArpValidate::FilterBackup.validates(true));
        assert!(ArpValidate::Filter.arp_only() && !ArpValidate::All.arp_only());
    }

    #[test]
    fn verdict_windows_follow_the_kernel() {
        let t0 = Instant::now();
        let w = Window {
            interval: ms(100),
            missed_max: 2,
            all_targets: false,
        };
        let mut p = ProbeState::new(t0, 1);
        // Grace: two intervals after becoming active.
        assert!(p.alive(t0 + ms(250), Role::Active, true, &w));
        // Active: sends and answers within 2.5 intervals.
        p.last_tx = t0 + ms(400);
        assert!(!p.alive(t0 + ms(400), Role::Active, true, &w));
        p.last_rx = t0 + ms(300);
        assert!(p.alive(t0 + ms(400), Role::Active, true, &w));
        // A backup gets one interval more; nothing it sends matters.
        p.last_tx = t0;
        assert!(p.alive(t0 + ms(650), Role::Backup, true, &w));
        assert!(!p.alive(t0 + ms(651), Role::Backup, true, &w));
        // A member not in use comes up when heard within 1.5 intervals.
        assert!(p.alive(t0 + ms(450), Role::Backup, false, &w));
        assert!(!p.alive(t0 + ms(451), Role::Backup, false, &w));
        // The active member is given time again when made active.
        p.made_active(t0 + ms(1000));
        assert!(p.alive(t0 + ms(1200), Role::Active, true, &w));
        assert!(!p.answered_since_active(false));
    }
}
