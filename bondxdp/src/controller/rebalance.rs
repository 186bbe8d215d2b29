//! Weights for new flows and flowlets (load-aware, balance-tlb; multi-wan when capacities
//! are configured) from each member's capacity `c` (its configured `speed`, else the link's
//! own) and its measured transmit rate `r` (an exponentially weighted moving average of its
//! byte counter):
//!
//! ```text
//! weight = max(c - r, FLOOR * c)        FLOOR = 0.15; down members: none
//! ```
//!
//! scaled so the largest is 1000, and published only when one moves by more than 10 %.
//!
//! Spare capacity `c - r` says where new flows fit only while it is clearly above zero. Near
//! saturation it is noise: the average lags a change of load by an interval or two, flows
//! ramp up and drain unevenly, a shaper's burst lets a member exceed its rate for a moment,
//! so a member that is full can show 10-12 % of apparent room for a second or two. With a
//! small floor that noise decided the weights: with 5 %, a full R member against a 3R member
//! showing 12 % of room right after both had been full weighed 134:1000 instead of 333:1000,
//! and the next burst of flows went mostly to the 3R member. So room under `FLOOR * c` counts
//! as none, and a full member is weighed by `FLOOR * c`: what a full member's flows would
//! take if they could is unknown (elastic flows take whatever there is), and the split of new
//! flows that keeps each member's number of flows in proportion to its capacity, which is
//! what flows sharing a full member fairly need, is by capacity. Hence:
//!
//! * every member idle: weights proportional to capacity (`c` each);
//! * every member at least 85 % busy: proportional to capacity again (`0.15 c` each), however
//!   the noise falls;
//! * in between, members with real room get new flows in proportion to that room, and a full
//!   one still gets some: against an idle member of the same capacity, 0.15 : 1.
//!
//! Why 0.15 and not more: it must stay under the room a real imbalance leaves, or the floor of
//! a large full member drowns the real room of a small one. Sixteen flows over links of R and
//! 3R are a quarter of R each: one flow too few on R leaves it 25 % idle (above the floor, so
//! new flows and flowlets are steered there: 25 against the 3R member's 45 instead of 100
//! against 300), while with a floor of 1/4 the full 3R member would weigh 75 against R's 25
//! and nothing would move. Pure and clock-free: callers pass the counters and the time.

use std::time::Instant;

use bondxdp_common::MAX_MEMBERS;

/// Weight of the newest sample in the average.
const ALPHA: f64 = 0.5;
/// The least share of its capacity a member is weighed by: room under this share of its
/// capacity is not told apart from none (see the module documentation).
const FLOOR: f64 = 0.15;
/// A new weight within this fraction of the old one is not worth a change (and the flows it
/// would move).
const HYSTERESIS: f64 = 0.10;

/// The moving averages of one bond's members.
#[derive(Clone, Debug, Default)]
pub struct Rebalancer {
    rate_bps: [f64; MAX_MEMBERS],
    last_bytes: [Option<u64>; MAX_MEMBERS],
    last: Option<Instant>,
    weights: [u16; MAX_MEMBERS],
}

impl Rebalancer {
    /// Takes the members' transmit byte counters at `now` (`None`: no member in the slot).
    pub fn observe(&mut self, tx_bytes: &[Option<u64>; MAX_MEMBERS], now: Instant) {
        let dt = self
            .last
            .map(|l| now.duration_since(l).as_secs_f64())
            .unwrap_or(0.0);
        let slots = tx_bytes
            .iter()
            .zip(self.last_bytes.iter_mut())
            .zip(self.rate_bps.iter_mut());
        for ((&bytes, last), rate_bps) in slots {
            match (bytes, *last) {
                (Some(b), Some(prev)) if dt > 0.0 => {
                    let rate = b.saturating_sub(prev) as f64 * 8.0 / dt;
                    *rate_bps = ALPHA * rate + (1.0 - ALPHA) * *rate_bps;
                }
                (None, _) => *rate_bps = 0.0,
                _ => {}
            }
            *last = bytes;
        }
        self.last = Some(now);
    }

    /// The measured transmit rate of `slot`, bit/s.
    pub fn rate_bps(&self, slot: usize) -> f64 {
        self.rate_bps.get(slot).copied().unwrap_or(0.0)
    }

    /// Weights from `capacity_mbps` (0: no member) of the members that are up; returns them
    /// if they changed enough to be worth publishing.
    pub fn weights(
        &mut self,
        capacity_mbps: &[u32; MAX_MEMBERS],
        up: &[bool; MAX_MEMBERS],
    ) -> Option<[u16; MAX_MEMBERS]> {
        let mut spare = [0f64; MAX_MEMBERS];
        for slot in 0..MAX_MEMBERS {
            if capacity_mbps[slot] == 0 || !up[slot] {
                continue;
            }
            let cap = capacity_mbps[slot] as f64 * 1e6;
            spare[slot] = (cap - self.rate_bps[slot]).max(cap * FLOOR);
        }
        let max = spare.iter().copied().fold(0.0, f64::max);
        if max <= 0.0 {
            return None;
        }
        // Scaled to 1..=1000: plenty of resolution for 256 buckets.
        let mut next = [0u16; MAX_MEMBERS];
        for slot in 0..MAX_MEMBERS {
            if spare[slot] > 0.0 {
                next[slot] = ((spare[slot] / max * 1000.0).round() as u16).max(1);
            }
        }
        let changed = (0..MAX_MEMBERS).any(|s| {
            let (old, new) = (self.weights[s] as f64, next[s] as f64);
            (old == 0.0) != (new == 0.0) || (old - new).abs() > old * HYSTERESIS
        });
        if changed {
            self.weights = next;
            Some(next)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn caps(c: &[u32]) -> [u32; MAX_MEMBERS] {
        let mut out = [0; MAX_MEMBERS];
        out[..c.len()].copy_from_slice(c);
        out
    }

    fn up(n: usize) -> [bool; MAX_MEMBERS] {
        let mut out = [false; MAX_MEMBERS];
        out[..n].fill(true);
        out
    }

    /// Byte counters and a clock that go on across calls.
    struct Traffic {
        now: Instant,
        bytes: [u64; MAX_MEMBERS],
        started: bool,
    }

    impl Traffic {
        fn new() -> Traffic {
            Traffic {
                now: Instant::now(),
                bytes: [0; MAX_MEMBERS],
                started: false,
            }
        }

        /// `mbps` per member for `secs` more one-second samples.
        fn send(&mut self, r: &mut Rebalancer, mbps: &[f64], secs: u32) {
            let sample = |bytes: &[u64; MAX_MEMBERS]| {
                let mut s = [None; MAX_MEMBERS];
                for (i, b) in bytes.iter().enumerate().take(mbps.len()) {
                    s[i] = Some(*b);
                }
                s
            };
            if !self.started {
                r.observe(&sample(&self.bytes), self.now);
                self.started = true;
            }
            for _ in 0..secs {
                for (b, m) in self.bytes.iter_mut().zip(mbps) {
                    *b += (m * 1e6 / 8.0) as u64;
                }
                self.now += Duration::from_secs(1);
                r.observe(&sample(&self.bytes), self.now);
            }
        }
    }

    /// Feeds `mbps` per member for `secs` one-second samples.
    fn run(r: &mut Rebalancer, mbps: &[f64], secs: u32) {
        Traffic::new().send(r, mbps, secs);
    }

    /// Weight of member 1 over member 0.
    fn ratio(w: &[u16; MAX_MEMBERS]) -> f64 {
        w[1] as f64 / w[0] as f64
    }

    #[test]
    fn idle_members_are_weighed_by_capacity() {
        let mut r = Rebalancer::default();
        let w = r.weights(&caps(&[100, 300]), &up(2)).unwrap();
        assert_eq!(&w[..2], &[333, 1000]);
        let mut r = Rebalancer::default();
        run(&mut r, &[0.0, 0.0, 0.0], 5);
        let w = r.weights(&caps(&[100, 300, 1000]), &up(3)).unwrap();
        assert_eq!(&w[..3], &[100, 300, 1000]);
    }

    #[test]
    fn saturated_members_are_weighed_by_capacity_too() {
        let mut r = Rebalancer::default();
        run(&mut r, &[100.0, 300.0], 10);
        let w = r.weights(&caps(&[100, 300]), &up(2)).unwrap();
        assert!((ratio(&w) - 3.0).abs() < 0.1, "{w:?}");
    }

    #[test]
    fn nearly_saturated_members_are_weighed_by_capacity_whichever_looks_fuller() {
        // Both members full as far as can be told: one shows a little room (the average
        // lagging, flows draining unevenly) or a little more than its rate (a shaper's burst).
        // Room that small says nothing about where new flows should go.
        for mbps in [
            [100.0, 264.0],
            [104.0, 270.0],
            [88.0, 300.0],
            [96.0, 288.0],
            [90.0, 261.0],
        ] {
            let mut r = Rebalancer::default();
            run(&mut r, &mbps, 10);
            let w = r.weights(&caps(&[100, 300]), &up(2)).unwrap();
            assert!(
                (ratio(&w) / 3.0 - 1.0).abs() < 0.15,
                "{mbps:?} Mbit/s over 100 + 300: {w:?}, want 1:3 +- 15 %"
            );
        }
    }

    #[test]
    fn right_after_both_were_full_a_new_burst_is_split_by_capacity() {
        // Both members full for a while; then the 3R member's flows finish first while the
        // R member's still drain: the first samples after that (the case that gave 134:1000
        // with a 5 % floor) still weigh the members by capacity.
        let mut r = Rebalancer::default();
        let mut t = Traffic::new();
        t.send(&mut r, &[96.0, 288.0], 10);
        r.weights(&caps(&[100, 300]), &up(2));
        t.send(&mut r, &[96.0, 230.0], 1);
        let w = r.weights(&caps(&[100, 300]), &up(2)).unwrap_or(r.weights);
        assert!(
            (ratio(&w) / 3.0 - 1.0).abs() < 0.15,
            "{w:?}, want 1:3 +- 15 %"
        );
    }

    #[test]
    fn new_flows_go_where_there_is_room() {
        let mut r = Rebalancer::default();
        // Member 0 is full, member 1 (same capacity) is idle: 0.15 : 1.
        run(&mut r, &[100.0, 0.0], 10);
        let w = r.weights(&caps(&[100, 100]), &up(2)).unwrap();
        assert!(w[1] > w[0] * 6, "{w:?}");
        // Unequal: the idle member gets more than its capacity alone would give it, the full
        // one less, whichever is which.
        let mut r = Rebalancer::default();
        run(&mut r, &[0.0, 300.0], 10);
        let w = r.weights(&caps(&[100, 300]), &up(2)).unwrap();
        assert!(w[0] > w[1], "idle R, full 3R: {w:?}");
        let mut r = Rebalancer::default();
        run(&mut r, &[100.0, 0.0], 10);
        let w = r.weights(&caps(&[100, 300]), &up(2)).unwrap();
        assert!(ratio(&w) > 6.0, "full R, idle 3R: {w:?}");
    }

    #[test]
    fn a_quarter_of_a_member_idle_is_room_that_counts() {
        // Sixteen flows of a quarter of R each, one too few on R: 3R is full, R a quarter
        // idle. Flowlets are steered to R (25 against 45) rather than by capacity (1 to 3).
        let mut r = Rebalancer::default();
        run(&mut r, &[75.0, 300.0], 10);
        let w = r.weights(&caps(&[100, 300]), &up(2)).unwrap();
        assert!(ratio(&w) < 2.0, "{w:?}");
    }

    #[test]
    fn down_members_get_nothing_and_small_changes_are_ignored() {
        let mut r = Rebalancer::default();
        let mut u = up(3);
        r.weights(&caps(&[100, 100, 100]), &u).unwrap();
        // Nothing changed: nothing to publish.
        assert!(r.weights(&caps(&[100, 100, 100]), &u).is_none());
        u[2] = false;
        let w = r.weights(&caps(&[100, 100, 100]), &u).unwrap();
        assert_eq!(w[2], 0);
        // A 5 % wobble in load is under the hysteresis.
        run(&mut r, &[5.0, 0.0, 0.0], 3);
        assert!(r.weights(&caps(&[100, 100, 100]), &u).is_none());
    }
}
