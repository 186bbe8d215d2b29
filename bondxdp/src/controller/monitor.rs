//! The per-member link state machine, with the kernel bonding driver's semantics
//! (`bond_miimon_inspect`/`bond_miimon_commit`): a link that fails is abandoned only after
//! `downdelay`, one that recovers is used only after `updelay`, and a link that flaps back
//! within its delay never changes state. Pure and clock-free: callers pass the time.
//!
//! Inputs are "is the link usable right now" samples (carrier, and the ARP monitor's verdict
//! when probing is on, `arp_monitor.rs`); the output is the state the data plane acts on.

use std::time::{Duration, Instant};

/// Where a member's link stands (kernel `BOND_LINK_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Up and used.
    Up,
    /// Failed, still used until `downdelay` passes (`BOND_LINK_FAIL`, "going down").
    GoingDown {
        /// When the failure was first seen.
        since: Instant,
    },
    /// Down and not used.
    Down,
    /// Recovered, not used until `updelay` passes (`BOND_LINK_BACK`, "going back").
    GoingUp {
        /// When the recovery was first seen.
        since: Instant,
    },
}

impl Phase {
    /// Whether the data plane should use the link.
    pub fn usable(self) -> bool {
        matches!(self, Phase::Up | Phase::GoingDown { .. })
    }

    /// Name as /proc/net/bonding prints it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Up => "up",
            Phase::GoingDown { .. } => "going down",
            Phase::Down => "down",
            Phase::GoingUp { .. } => "going back",
        }
    }
}

/// The delays of one bond.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delays {
    /// `updelay`.
    pub up: Duration,
    /// `downdelay`.
    pub down: Duration,
}

/// One member's monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkMonitor {
    phase: Phase,
    /// Link failures committed (kernel `link_failure_count`).
    pub failures: u64,
}

impl LinkMonitor {
    /// A monitor starting in `usable` (the state the data plane has now).
    pub fn new(usable: bool) -> LinkMonitor {
        LinkMonitor {
            phase: if usable { Phase::Up } else { Phase::Down },
            failures: 0,
        }
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Feeds one sample; returns true if [`Phase::usable`] changed.
    pub fn observe(&mut self, link_ok: bool, now: Instant, delays: Delays) -> bool {
        let was = self.phase.usable();
        self.phase = match (self.phase, link_ok) {
            (Phase::Up, true) => Phase::Up,
            (Phase::Up, false) => self.fail(now, delays),
            (Phase::GoingDown { .. }, true) => Phase::Up,
            (Phase::GoingDown { since }, false) => {
                if now.duration_since(since) >= delays.down {
                    self.failures += 1;
                    Phase::Down
                } else {
                    Phase::GoingDown { since }
                }
            }
            (Phase::Down, false) => Phase::Down,
            (Phase::Down, true) => {
                if delays.up.is_zero() {
                    Phase::Up
                } else {
                    Phase::GoingUp { since: now }
                }
            }
            (Phase::GoingUp { .. }, false) => Phase::Down,
            (Phase::GoingUp { since }, true) => {
                if now.duration_since(since) >= delays.up {
                    Phase::Up
                } else {
                    Phase::GoingUp { since }
                }
            }
        };
        was != self.phase.usable()
    }

    fn fail(&mut self, now: Instant, delays: Delays) -> Phase {
        if delays.down.is_zero() {
            self.failures += 1;
            Phase::Down
        } else {
            Phase::GoingDown { since: now }
        }
    }

    /// When the pending delay (if any) expires: the time to look again even without news.
    pub fn deadline(&self, delays: Delays) -> Option<Instant> {
        match self.phase {
            Phase::GoingDown { since } => Some(since + delays.down),
            Phase::GoingUp { since } => Some(since + delays.up),
            Phase::Up | Phase::Down => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn without_delays_state_follows_the_link() {
        let t0 = Instant::now();
        let d = Delays::default();
        let mut m = LinkMonitor::new(true);
        assert!(!m.observe(true, t0, d));
        assert!(m.observe(false, t0, d));
        assert_eq!(m.phase(), Phase::Down);
        assert_eq!(m.failures, 1);
        assert!(m.observe(true, t0 + ms(1), d));
        assert_eq!(m.phase(), Phase::Up);
    }

    #[test]
    fn downdelay_keeps_using_the_link_until_it_expires() {
        let t0 = Instant::now();
        let d = Delays {
            up: ms(0),
            down: ms(200),
        };
        let mut m = LinkMonitor::new(true);
        assert!(!m.observe(false, t0, d), "going down is still usable");
        assert_eq!(m.phase(), Phase::GoingDown { since: t0 });
        assert_eq!(m.deadline(d), Some(t0 + ms(200)));
        assert!(!m.observe(false, t0 + ms(199), d));
        assert!(m.observe(false, t0 + ms(200), d));
        assert_eq!(m.phase(), Phase::Down);
    }

    #[test]
    fn a_flap_shorter_than_the_delay_never_changes_state() {
        let t0 = Instant::now();
        let d = Delays {
            up: ms(300),
            down: ms(200),
        };
        let mut m = LinkMonitor::new(true);
        assert!(!m.observe(false, t0, d));
        assert!(!m.observe(true, t0 + ms(150), d));
        assert_eq!(m.phase(), Phase::Up);
        assert_eq!(m.failures, 0);
        let mut m = LinkMonitor::new(false);
        assert!(!m.observe(true, t0, d));
        assert_eq!(m.phase(), Phase::GoingUp { since: t0 });
        assert!(!m.observe(false, t0 + ms(100), d));
        assert_eq!(m.phase(), Phase::Down);
    }

    #[test]
    fn updelay_waits_before_using_a_recovered_link() {
        let t0 = Instant::now();
        let d = Delays {
            up: ms(300),
            down: ms(0),
        };
        let mut m = LinkMonitor::new(false);
        assert!(!m.observe(true, t0, d));
        assert!(!m.observe(true, t0 + ms(299), d));
        assert!(m.observe(true, t0 + ms(300), d));
        assert!(m.phase().usable());
    }
}
