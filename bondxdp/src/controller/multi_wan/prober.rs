//! The multi-wan health verdict of one uplink, from probe rounds (mwan3's track_ip, faster).
//! Pure and clock-free: callers pass the time, send the probes it asks for, and report the
//! replies.
//!
//! * While healthy, one probe per `interval`, to one target at a time (round robin): cheap,
//!   about 1.3 kbit/s with the defaults.
//! * A round that goes unanswered (or a passive signal: SYNs without answers) starts
//!   confirmation: rounds back to back, every target (two probes if there is only one), so
//!   a real failure is declared `down` rounds after it began (under a second with the
//!   defaults) while random loss almost never lines up `down` failed rounds in a row.
//! * A round fails when no reply comes within the timeout: the configured floor, or three
//!   smoothed round trips if that is longer. A reply slower than `max_rtt` counts as none.
//! * While down, a round every `interval` to every target; `up` good rounds in a row and the
//!   uplink is healthy again.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// How many recent probes the loss figure covers.
const LOSS_WINDOW: usize = 20;

/// The knobs (from the bond's multi-wan options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeSettings {
    /// Round interval while healthy (and while down).
    pub interval: Duration,
    /// Least round interval while confirming a failure.
    pub failure_interval: Duration,
    /// Least time to wait for a reply.
    pub timeout: Duration,
    /// Failed rounds in a row before down.
    pub down: u32,
    /// Good rounds in a row before up again.
    pub up: u32,
    /// Replies slower than this do not count (`None`: any).
    pub max_rtt: Option<Duration>,
}

/// A round in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Round {
    id: u64,
    started: Instant,
    deadline: Instant,
    answered: bool,
}

/// One uplink's prober.
#[derive(Clone, Debug)]
pub struct Prober {
    settings: ProbeSettings,
    targets: usize,
    healthy: bool,
    fails: u32,
    oks: u32,
    round: Option<Round>,
    next_round: Instant,
    next_id: u64,
    rr: usize,
    /// The next round confirms (every target) even though nothing failed yet.
    confirm: bool,
    srtt: Option<Duration>,
    recent: VecDeque<bool>,
    /// Probes sent.
    pub sent: u64,
    /// Replies that counted.
    pub replies: u64,
}

/// What to send now: one entry per probe, the index of its target, and the round it
/// belongs to (report replies with it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Send {
    /// Round id.
    pub round: u64,
    /// Target indexes, one per probe.
    pub targets: Vec<usize>,
}

impl Prober {
    /// A prober for `targets` targets, healthy or not to begin with, first round at `now`.
    pub fn new(settings: ProbeSettings, targets: usize, healthy: bool, now: Instant) -> Prober {
        Prober {
            settings,
            targets,
            healthy,
            fails: 0,
            oks: 0,
            round: None,
            next_round: now,
            next_id: 1,
            rr: 0,
            confirm: false,
            srtt: None,
            recent: VecDeque::with_capacity(LOSS_WINDOW),
            sent: 0,
            replies: 0,
        }
    }

    /// The verdict.
    pub fn healthy(&self) -> bool {
        self.healthy || self.targets == 0
    }

    /// Whether a failure is being confirmed (some rounds failed, not yet `down` of them).
    pub fn confirming(&self) -> bool {
        self.healthy && self.fails > 0
    }

    /// Smoothed round-trip time.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// How many probes the loss figure covers now (up to 20).
    pub fn samples(&self) -> usize {
        self.recent.len()
    }

    /// Share of the recent probes that went unanswered (0.0-1.0).
    pub fn loss(&self) -> f64 {
        if self.recent.is_empty() {
            return 0.0;
        }
        self.recent.iter().filter(|ok| !**ok).count() as f64 / self.recent.len() as f64
    }

    fn timeout(&self) -> Duration {
        let rtt3 = self.srtt.map_or(Duration::ZERO, |r| r * 3);
        self.settings.timeout.max(rtt3)
    }

    /// When [`Prober::poll`] next has something to do.
    pub fn due(&self) -> Instant {
        match self.round {
            Some(r) => r.deadline,
            None => self.next_round,
        }
    }

    /// Advances to `now`: closes an expired round (a failure unless answered) and starts the
    /// next one when due. Returns the probes to send, and whether the verdict changed.
    pub fn poll(&mut self, now: Instant) -> (Option<Send>, bool) {
        let mut changed = false;
        if let Some(r) = self.round
            && now >= r.deadline
        {
            self.round = None;
            changed = self.conclude(r, r.answered, now);
        }
        if self.targets == 0 || self.round.is_some() || now < self.next_round {
            return (None, changed);
        }
        let id = self.next_id;
        self.next_id += 1;
        let single = self.healthy && self.fails == 0 && !self.confirm;
        self.confirm = false;
        let targets: Vec<usize> = if single {
            let t = self.rr % self.targets;
            self.rr += 1;
            vec![t]
        } else if self.targets == 1 {
            vec![0, 0]
        } else {
            (0..self.targets).collect()
        };
        self.sent += targets.len() as u64;
        self.round = Some(Round {
            id,
            started: now,
            deadline: now + self.timeout(),
            answered: false,
        });
        (Some(Send { round: id, targets }), changed)
    }

    /// A reply to a probe of round `round`, `rtt` after it was sent. Returns whether the
    /// verdict changed (a down uplink's good round can bring it back at once).
    pub fn on_reply(&mut self, round: u64, rtt: Duration, now: Instant) -> bool {
        let counts = self.settings.max_rtt.is_none_or(|max| rtt <= max);
        self.record(counts);
        if !counts {
            return false;
        }
        self.replies += 1;
        self.srtt = Some(match self.srtt {
            None => rtt,
            Some(s) => (s * 7 + rtt) / 8,
        });
        match self.round {
            Some(r) if r.id == round && !r.answered => {
                // One answer settles the round: no need to wait for its deadline.
                self.round = None;
                self.conclude(r, true, now)
            }
            _ => false,
        }
    }

    /// A passive signal (SYNs going unanswered): confirm now rather than at the next round.
    pub fn suspect(&mut self, now: Instant) {
        if self.healthy && self.round.is_none() {
            self.next_round = now;
            self.confirm = true;
        }
    }

    fn record(&mut self, ok: bool) {
        if self.recent.len() == LOSS_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(ok);
    }

    /// Applies a finished round; returns whether the verdict changed.
    fn conclude(&mut self, r: Round, ok: bool, now: Instant) -> bool {
        let s = self.settings;
        if !ok {
            // Unanswered probes of the round count as losses for the loss figure.
            self.record(false);
        }
        let before = self.healthy;
        if self.healthy {
            if ok {
                self.fails = 0;
                self.next_round = r.started + s.interval;
            } else {
                self.fails += 1;
                if self.fails >= s.down {
                    self.healthy = false;
                    self.oks = 0;
                    self.next_round = now + s.interval.min(s.failure_interval * 2);
                } else {
                    self.next_round = (r.started + s.failure_interval).max(now);
                }
            }
        } else if ok {
            self.oks += 1;
            if self.oks >= s.up {
                self.healthy = true;
                self.fails = 0;
                self.next_round = r.started + s.interval;
            } else {
                self.next_round = (r.started + s.failure_interval).max(now);
            }
        } else {
            self.oks = 0;
            self.next_round = r.started + s.interval;
        }
        if self.next_round < now {
            self.next_round = now;
        }
        before != self.healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ProbeSettings {
        ProbeSettings {
            interval: Duration::from_millis(300),
            failure_interval: Duration::from_millis(100),
            timeout: Duration::from_millis(150),
            down: 3,
            up: 3,
            max_rtt: None,
        }
    }

    /// Runs a prober against a network that answers after `rtt` unless `dead(t)` says it
    /// is down at time t (ms since start), until `end` ms. Returns (ms, healthy) changes
    /// and the number of probes sent.
    fn simulate(
        targets: usize,
        rtt_ms: u64,
        end_ms: u64,
        mut lost: impl FnMut(u64) -> bool,
    ) -> (Vec<(u64, bool)>, u64) {
        let t0 = Instant::now();
        let mut p = Prober::new(settings(), targets, true, t0);
        let mut changes = Vec::new();
        let mut pending: Vec<(u64, u64, u64)> = Vec::new(); // (round, sent ms, reply ms)
        let mut now_ms = 0;
        while now_ms <= end_ms {
            let now = t0 + Duration::from_millis(now_ms);
            // Replies due now.
            let (due, rest): (Vec<_>, Vec<_>) =
                pending.iter().partition(|(_, _, at)| *at <= now_ms);
            pending = rest;
            for (round, sent, at) in due {
                if p.on_reply(round, Duration::from_millis(at - sent), now) {
                    changes.push((now_ms, p.healthy()));
                }
            }
            let (send, changed) = p.poll(now);
            if changed {
                changes.push((now_ms, p.healthy()));
            }
            if let Some(send) = send {
                for _ in send.targets {
                    if !lost(now_ms) {
                        pending.push((send.round, now_ms, now_ms + rtt_ms));
                    }
                }
            }
            now_ms += 1;
        }
        (changes, p.sent)
    }

    #[test]
    fn a_healthy_link_stays_healthy_and_probes_are_cheap() {
        let (changes, sent) = simulate(2, 10, 60_000, |_| false);
        assert!(changes.is_empty());
        // One probe per 300 ms: about 200 a minute. At 50 bytes a probe, 1.3 kbit/s.
        assert!((190..=210).contains(&sent), "{sent}");
    }

    #[test]
    fn a_silent_failure_is_declared_within_a_second() {
        for fail_at in [1000, 1100, 1200, 1299, 1350] {
            let (changes, _) = simulate(2, 10, 5000, |t| t >= fail_at);
            let (when, healthy) = changes[0];
            assert!(!healthy);
            let took = when - fail_at;
            assert!(
                took <= 1000,
                "failure at {fail_at} declared after {took} ms"
            );
        }
    }

    #[test]
    fn it_comes_back_after_up_good_rounds() {
        let (changes, _) = simulate(1, 10, 10_000, |t| (2000..5000).contains(&t));
        assert_eq!(changes.len(), 2, "{changes:?}");
        let (back, healthy) = changes[1];
        assert!(healthy);
        assert!((5000..=6500).contains(&back), "{back}");
    }

    #[test]
    fn five_percent_random_loss_does_not_flap() {
        // A deterministic pseudo-random 5 % loss each way (9.75 % per round trip), for ten
        // simulated minutes, one target (the hardest case: confirmation rounds have just two
        // probes to one target).
        let mut state = 0x1234_5678u64;
        let (changes, _) = simulate(1, 10, 600_000, |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % 10_000 < 975
        });
        assert!(changes.is_empty(), "flapped: {changes:?}");
    }

    #[test]
    fn slow_replies_count_as_lost_with_max_rtt() {
        let t0 = Instant::now();
        let mut p = Prober::new(
            ProbeSettings {
                max_rtt: Some(Duration::from_millis(50)),
                ..settings()
            },
            1,
            true,
            t0,
        );
        let (send, _) = p.poll(t0);
        let round = send.unwrap().round;
        assert!(!p.on_reply(round, Duration::from_millis(80), t0));
        assert_eq!(p.loss(), 1.0);
        assert_eq!(p.srtt(), None);
    }

    #[test]
    fn a_suspicion_starts_confirmation_at_once() {
        let t0 = Instant::now();
        let mut p = Prober::new(settings(), 2, true, t0);
        let (first, _) = p.poll(t0);
        p.on_reply(first.unwrap().round, Duration::from_millis(5), t0);
        let t = t0 + Duration::from_millis(50);
        assert!(p.poll(t).0.is_none(), "next normal round is 300 ms away");
        p.suspect(t);
        let (send, _) = p.poll(t);
        assert_eq!(send.unwrap().targets, vec![0, 1], "every target, now");
    }
}
