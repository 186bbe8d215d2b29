//! Weights from spare capacity (load-aware, balance-tlb; multi-wan when capacities are
//! configured): each member's capacity (its configured `speed`, else the link's own) minus
//! its measured transmit rate (an exponentially weighted moving average of its byte
//! counter), with a floor of 5 % of its capacity so a saturated member still gets its share:
//! when every member is full, weights end up proportional to capacity; when one has room,
//! new flows go there. Pure and clock-free: callers pass the counters and the time.

use std::time::Instant;

use bondxdp_common::MAX_MEMBERS;

/// Weight of the newest sample in the average.
const ALPHA: f64 = 0.5;
/// The least share of its capacity a member is weighed by.
const FLOOR: f64 = 0.05;
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

    /// Feeds `mbps` per member for `secs` one-second samples.
    fn run(r: &mut Rebalancer, mbps: &[f64], secs: u32) {
        let t0 = Instant::now();
        let mut bytes = [0u64; MAX_MEMBERS];
        for s in 0..=secs {
            let mut sample = [None; MAX_MEMBERS];
            for (i, m) in mbps.iter().enumerate() {
                sample[i] = Some(bytes[i]);
                bytes[i] += (m * 1e6 / 8.0) as u64;
            }
            r.observe(&sample, t0 + Duration::from_secs(s as u64));
        }
    }

    #[test]
    fn idle_members_are_weighed_by_capacity() {
        let mut r = Rebalancer::default();
        let w = r.weights(&caps(&[100, 300]), &up(2)).unwrap();
        assert_eq!(&w[..2], &[333, 1000]);
    }

    #[test]
    fn saturated_members_are_weighed_by_capacity_too() {
        let mut r = Rebalancer::default();
        run(&mut r, &[100.0, 300.0], 10);
        let w = r.weights(&caps(&[100, 300]), &up(2)).unwrap();
        assert!((w[1] as f64 / w[0] as f64 - 3.0).abs() < 0.1, "{w:?}");
    }

    #[test]
    fn new_flows_go_where_there_is_room() {
        let mut r = Rebalancer::default();
        // Member 0 is full, member 1 (same capacity) is idle.
        run(&mut r, &[100.0, 0.0], 10);
        let w = r.weights(&caps(&[100, 100]), &up(2)).unwrap();
        assert!(w[1] > w[0] * 10, "{w:?}");
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
