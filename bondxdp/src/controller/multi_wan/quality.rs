//! Uplink quality (issue 22): an uplink that answers its probes, but loses too many of them
//! or answers too slowly, is "degraded": it keeps the flows it carries but takes no new
//! ones while an uplink of its tier (or a lower one) is not degraded. Pure and clock-free.
//!
//! Hysteresis keeps a noisy link from flapping: it is degraded once loss (over the prober's
//! recent probes) or the smoothed round trip stays above its threshold for `hold`, and
//! recovers only once both stay under 75 % of the loss threshold and 80 % of the round-trip
//! one for `recover`.

use std::time::{Duration, Instant};

/// The thresholds (from the bond's multi-wan options).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualitySettings {
    /// Loss (0.0-1.0) above which the uplink is bad; 0: loss never degrades it.
    pub max_loss: f64,
    /// Smoothed round trip above which it is bad; `None`: latency never does.
    pub max_rtt: Option<Duration>,
    /// How long it must stay bad to be degraded.
    pub hold: Duration,
    /// How long it must stay good to recover.
    pub recover: Duration,
}

/// One uplink's quality verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quality {
    degraded: bool,
    since: Option<Instant>,
}

impl Quality {
    /// Whether the uplink is degraded now.
    pub fn degraded(&self) -> bool {
        self.degraded
    }

    /// Takes the prober's latest figures; returns the new verdict when it changes.
    pub fn observe(
        &mut self,
        s: &QualitySettings,
        loss: f64,
        srtt: Option<Duration>,
        now: Instant,
    ) -> Option<bool> {
        let lossy = |factor: f64| s.max_loss > 0.0 && loss > s.max_loss * factor;
        let slow = |factor: f64| matches!((s.max_rtt, srtt), (Some(max), Some(rtt)) if rtt > max.mul_f64(factor));
        // Degrading: over a threshold. Recovering: under both lower bands.
        let moving = if self.degraded {
            !lossy(0.75) && !slow(0.8)
        } else {
            lossy(1.0) || slow(1.0)
        };
        if !moving {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(now);
        let wait = if self.degraded { s.recover } else { s.hold };
        if now.duration_since(since) < wait {
            return None;
        }
        self.degraded = !self.degraded;
        self.since = None;
        Some(self.degraded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> QualitySettings {
        QualitySettings {
            max_loss: 0.10,
            max_rtt: Some(Duration::from_millis(500)),
            hold: Duration::from_secs(1),
            recover: Duration::from_secs(10),
        }
    }

    #[test]
    fn loss_held_above_the_threshold_degrades_and_recovery_needs_the_lower_band() {
        let s = settings();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut q = Quality::default();
        let rtt = Some(Duration::from_millis(20));
        assert_eq!(q.observe(&s, 0.30, rtt, at(0)), None, "not yet held");
        assert_eq!(q.observe(&s, 0.30, rtt, at(900)), None);
        assert_eq!(
            q.observe(&s, 0.30, rtt, at(1000)),
            Some(true),
            "held for 1 s"
        );
        assert!(q.degraded());
        // 8 % is under the threshold but over 75 % of it: still degraded, however long.
        assert_eq!(q.observe(&s, 0.08, rtt, at(2000)), None);
        assert_eq!(q.observe(&s, 0.08, rtt, at(30_000)), None);
        // Under 7.5 % for 10 s: recovered.
        assert_eq!(q.observe(&s, 0.02, rtt, at(31_000)), None);
        assert_eq!(q.observe(&s, 0.02, rtt, at(40_999)), None);
        assert_eq!(q.observe(&s, 0.02, rtt, at(41_000)), Some(false));
    }

    #[test]
    fn a_short_burst_or_noise_around_the_threshold_does_not_flap() {
        let s = settings();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut q = Quality::default();
        let rtt = Some(Duration::from_millis(20));
        // Bad for 900 ms, good, bad again: the hold starts over.
        assert_eq!(q.observe(&s, 0.30, rtt, at(0)), None);
        assert_eq!(q.observe(&s, 0.30, rtt, at(900)), None);
        assert_eq!(q.observe(&s, 0.05, rtt, at(950)), None);
        assert_eq!(q.observe(&s, 0.30, rtt, at(1000)), None);
        assert_eq!(q.observe(&s, 0.30, rtt, at(1900)), None);
        assert!(!q.degraded());
        // 5 % background loss never crosses 10 %.
        for i in 0..100 {
            assert_eq!(q.observe(&s, 0.05, rtt, at(2000 + i * 300)), None);
        }
    }

    #[test]
    fn latency_degrades_too_and_off_means_off() {
        let s = settings();
        let t0 = Instant::now();
        let mut q = Quality::default();
        let slow = Some(Duration::from_millis(800));
        assert_eq!(q.observe(&s, 0.0, slow, t0), None);
        assert_eq!(
            q.observe(&s, 0.0, slow, t0 + Duration::from_secs(1)),
            Some(true)
        );
        // 450 ms is under 500 but over 80 % of it: no recovery.
        let t = t0 + Duration::from_secs(2);
        assert_eq!(
            q.observe(&s, 0.0, Some(Duration::from_millis(450)), t),
            None
        );
        assert_eq!(
            q.observe(
                &s,
                0.0,
                Some(Duration::from_millis(450)),
                t + Duration::from_secs(20)
            ),
            None
        );
        let off = QualitySettings {
            max_loss: 0.0,
            max_rtt: None,
            ..s
        };
        let mut q = Quality::default();
        for i in 0..10 {
            assert_eq!(
                q.observe(&off, 0.9, slow, t0 + Duration::from_secs(i)),
                None
            );
        }
    }
}
