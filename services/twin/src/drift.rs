//! Drift detection for the immune system: the supervisor feeds each domain's per-interval
//! figures ([`crate::state::Interval`], slot disagreement from its slot manager) to a
//! [`DomainDriftMonitor`] and acts on the alarms it raises.
//!
//! Each [`Metric`] has a [`DriftDetector`]: a baseline (mean and standard deviation) learnt
//! from `warmup` observations, then tracked by an exponentially weighted moving average
//! (EWMA) of mean and variance that only learns from unremarkable observations — a
//! regression must not become the new normal while it is being reported. Regressions are
//! upward (slower, more faults, more disagreement), so the detector watches
//! `z = (x − mean)/std` and uses hysteresis, like a thermostat: it raises an alarm after
//! `enter_after` consecutive observations with `z > enter_z` and clears it after `exit_after`
//! consecutive observations with `z < exit_z` (`exit_z < enter_z`), so one noisy sample
//! neither raises nor clears. The standard deviation has a floor (absolute and relative to
//! the mean), so a metric that was perfectly steady in warm-up, such as a fault rate of
//! zero, does not alarm on its first blip.
//!
//! The suggested action: a slot-disagreement alarm, or any alarm whose first exceeding
//! observation came within `rollback_window` after the domain's slot last changed
//! ([`DomainDriftMonitor::slot_changed`]), suggests rolling the slot back; otherwise a
//! latency or fault-rate alarm suggests restarting the domain.

use alloc::vec::Vec;

use crate::Millis;
use crate::stats::{Ewma, Welford};

/// The figures the immune system watches per domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// Median IPC latency, µs.
    LatencyP50,
    /// 99th-percentile IPC latency, µs.
    LatencyP99,
    /// Faults per second.
    FaultRate,
    /// Share of mirrored requests on which the slot's versions disagreed, in `[0, 1]`.
    SlotDisagreement,
}

/// One detector's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftConfig {
    /// Observations that form the initial baseline (≥ 4).
    pub warmup: u32,
    /// EWMA weight of the newest unremarkable observation, in `(0, 1)`.
    pub alpha: f64,
    /// `z` above which an observation counts towards raising (finite, > `exit_z`).
    pub enter_z: f64,
    /// `z` below which an observation counts towards clearing (finite, ≥ 0).
    pub exit_z: f64,
    /// Consecutive high observations that raise an alarm (≥ 1).
    pub enter_after: u32,
    /// Consecutive low observations that clear it (≥ 1).
    pub exit_after: u32,
    /// Absolute floor of the baseline standard deviation, in the metric's unit (≥ 0).
    pub min_std: f64,
    /// Floor of the baseline standard deviation relative to the baseline mean (≥ 0).
    pub min_rel_std: f64,
}

impl DriftConfig {
    /// The defaults for a metric: 30 warm-up observations, α = 0.02, raise after 3
    /// observations above z = 4, clear after 5 below z = 2, a 5 % relative floor and an
    /// absolute floor of 1 µs (latencies), 0.05 faults/s, or 0.5 % disagreement.
    pub fn for_metric(metric: Metric) -> Self {
        let min_std = match metric {
            Metric::LatencyP50 | Metric::LatencyP99 => 1.0,
            Metric::FaultRate => 0.05,
            Metric::SlotDisagreement => 0.005,
        };
        DriftConfig { warmup: 30, alpha: 0.02, enter_z: 4.0, exit_z: 2.0, enter_after: 3, exit_after: 5, min_std, min_rel_std: 0.05 }
    }

    fn validate(&self) -> Result<(), DriftError> {
        let bad = |field| Err(DriftError::Config(field));
        if self.warmup < 4 {
            return bad("warmup");
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return bad("alpha");
        }
        if !(self.exit_z.is_finite() && self.exit_z >= 0.0) {
            return bad("exit_z");
        }
        if !(self.enter_z.is_finite() && self.enter_z > self.exit_z) {
            return bad("enter_z");
        }
        if self.enter_after == 0 {
            return bad("enter_after");
        }
        if self.exit_after == 0 {
            return bad("exit_after");
        }
        if !(self.min_std.is_finite() && self.min_std >= 0.0) {
            return bad("min_std");
        }
        if !(self.min_rel_std.is_finite() && self.min_rel_std >= 0.0) {
            return bad("min_rel_std");
        }
        Ok(())
    }
}

/// Why a configuration or observation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftError {
    /// A configuration field is out of range (named).
    Config(&'static str),
    /// An observation of this metric is NaN, infinite or negative.
    BadObservation(Metric),
    /// An observation is dated before the previous one.
    OutOfOrder {
        /// The previous time.
        held: Millis,
        /// The refused time.
        at: Millis,
    },
}

/// Baseline versus observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftEvidence {
    /// Baseline mean.
    pub baseline_mean: f64,
    /// Baseline standard deviation (after the floors).
    pub baseline_std: f64,
    /// The observation.
    pub observed: f64,
    /// `(observed − mean)/std`.
    pub z: f64,
}

/// A drift alarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftAlarm {
    /// The drifting metric.
    pub metric: Metric,
    /// Time of the first of the high observations that raised it.
    pub since: Millis,
    /// Evidence at the latest observation.
    pub evidence: DriftEvidence,
}

/// A detector's verdict on one observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DriftStatus {
    /// Still learning; this many observations to go.
    Learning {
        /// Observations still needed.
        remaining: u32,
    },
    /// Within the baseline (possibly high, but not yet for `enter_after` observations).
    Normal,
    /// An alarm was raised by this observation.
    Raised(DriftAlarm),
    /// An alarm raised earlier still holds (evidence refreshed).
    Ongoing(DriftAlarm),
    /// The alarm was cleared by this observation.
    Cleared(DriftAlarm),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Learning(Welford),
    Watching { baseline: Ewma, high: u32, since: Millis },
    Alarmed { baseline: Ewma, low: u32, alarm: DriftAlarm },
}

/// One metric's drift detector (module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct DriftDetector {
    metric: Metric,
    config: DriftConfig,
    phase: Phase,
    last_at: Option<Millis>,
}

impl DriftDetector {
    /// A detector with no baseline yet.
    pub fn new(metric: Metric, config: DriftConfig) -> Result<Self, DriftError> {
        config.validate()?;
        Ok(DriftDetector { metric, config, phase: Phase::Learning(Welford::default()), last_at: None })
    }

    fn evidence(&self, baseline: &Ewma, x: f64) -> DriftEvidence {
        let mean = baseline.mean();
        let std = baseline.std().max(self.config.min_std).max(self.config.min_rel_std * mean.abs());
        // Both floors may be zero and the warm-up constant: any rise is then infinitely
        // surprising, no rise is not at all.
        let z = if std > 0.0 {
            (x - mean) / std
        } else if x > mean {
            f64::INFINITY
        } else {
            0.0
        };
        DriftEvidence { baseline_mean: mean, baseline_std: std, observed: x, z }
    }

    /// Assesses one observation taken at `at`.
    pub fn observe(&mut self, x: f64, at: Millis) -> Result<DriftStatus, DriftError> {
        if !(x.is_finite() && x >= 0.0) {
            return Err(DriftError::BadObservation(self.metric));
        }
        if let Some(held) = self.last_at
            && at < held
        {
            return Err(DriftError::OutOfOrder { held, at });
        }
        self.last_at = Some(at);
        let c = self.config;
        let (next, status) = match self.phase {
            Phase::Learning(mut w) => {
                w.push(x);
                let seen = w.count() as u32;
                if seen < c.warmup {
                    (Phase::Learning(w), DriftStatus::Learning { remaining: c.warmup - seen })
                } else {
                    let baseline = Ewma::new(c.alpha, w.mean(), w.std() * w.std());
                    (Phase::Watching { baseline, high: 0, since: at }, DriftStatus::Normal)
                }
            }
            Phase::Watching { mut baseline, high, since } => {
                let evidence = self.evidence(&baseline, x);
                if evidence.z > c.enter_z {
                    let since = if high == 0 { at } else { since };
                    if high + 1 >= c.enter_after {
                        let alarm = DriftAlarm { metric: self.metric, since, evidence };
                        (Phase::Alarmed { baseline, low: 0, alarm }, DriftStatus::Raised(alarm))
                    } else {
                        (Phase::Watching { baseline, high: high + 1, since }, DriftStatus::Normal)
                    }
                } else {
                    baseline.push(x);
                    (Phase::Watching { baseline, high: 0, since }, DriftStatus::Normal)
                }
            }
            Phase::Alarmed { baseline, low, mut alarm } => {
                alarm.evidence = self.evidence(&baseline, x);
                let low = if alarm.evidence.z < c.exit_z { low + 1 } else { 0 };
                if low >= c.exit_after {
                    (Phase::Watching { baseline, high: 0, since: at }, DriftStatus::Cleared(alarm))
                } else {
                    (Phase::Alarmed { baseline, low, alarm }, DriftStatus::Ongoing(alarm))
                }
            }
        };
        self.phase = next;
        Ok(status)
    }

    /// The alarm currently held, if any.
    pub fn alarm(&self) -> Option<DriftAlarm> {
        match self.phase {
            Phase::Alarmed { alarm, .. } => Some(alarm),
            _ => None,
        }
    }
}

/// What the supervisor should consider doing about an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuggestedAction {
    /// Restart the domain.
    RestartDomain,
    /// Roll the domain's slot back to its previous version.
    RollBackSlot,
}

/// One domain's figures for one reporting interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DomainObservation {
    /// Median latency, µs.
    pub latency_p50_us: f64,
    /// 99th-percentile latency, µs.
    pub latency_p99_us: f64,
    /// Faults per second.
    pub faults_per_second: f64,
    /// Slot disagreement share, when the domain runs in a slot with a challenger or
    /// N-version voting (`None` otherwise: that detector is not fed).
    pub slot_disagreement: Option<f64>,
}

/// A change the supervisor should hear about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Finding {
    /// An alarm was raised.
    Raised {
        /// The alarm with its evidence.
        alarm: DriftAlarm,
        /// What to consider doing.
        action: SuggestedAction,
    },
    /// An alarm cleared (the metric is back within its baseline).
    Cleared(DriftAlarm),
}

/// The drift detectors of one domain, with the action policy of the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainDriftMonitor {
    detectors: [DriftDetector; 4],
    slot_changed_at: Option<Millis>,
    rollback_window: Millis,
}

impl DomainDriftMonitor {
    /// A monitor with each metric's [`DriftConfig::for_metric`] defaults; an alarm within
    /// `rollback_window` ms of a slot change suggests a rollback.
    pub fn new(rollback_window: Millis) -> Self {
        let d =
            |m| DriftDetector { metric: m, config: DriftConfig::for_metric(m), phase: Phase::Learning(Welford::default()), last_at: None };
        DomainDriftMonitor {
            detectors: [d(Metric::LatencyP50), d(Metric::LatencyP99), d(Metric::FaultRate), d(Metric::SlotDisagreement)],
            slot_changed_at: None,
            rollback_window,
        }
    }

    /// A monitor with explicit configurations, in [`Metric`] order.
    pub fn with_configs(configs: [DriftConfig; 4], rollback_window: Millis) -> Result<Self, DriftError> {
        let [a, b, c, d] = configs;
        Ok(DomainDriftMonitor {
            detectors: [
                DriftDetector::new(Metric::LatencyP50, a)?,
                DriftDetector::new(Metric::LatencyP99, b)?,
                DriftDetector::new(Metric::FaultRate, c)?,
                DriftDetector::new(Metric::SlotDisagreement, d)?,
            ],
            slot_changed_at: None,
            rollback_window,
        })
    }

    /// The domain's slot changed version (promotion, install or rollback) at `at`.
    pub fn slot_changed(&mut self, at: Millis) {
        self.slot_changed_at = Some(at);
    }

    fn action(&self, alarm: &DriftAlarm) -> SuggestedAction {
        let after_change = self.slot_changed_at.is_some_and(|c| alarm.since >= c && alarm.since - c <= self.rollback_window);
        if alarm.metric == Metric::SlotDisagreement || after_change {
            SuggestedAction::RollBackSlot
        } else {
            SuggestedAction::RestartDomain
        }
    }

    /// Feeds one interval's figures; returns the alarms raised and cleared by it. The
    /// observation is checked whole before any detector sees it.
    pub fn observe(&mut self, obs: &DomainObservation, at: Millis) -> Result<Vec<Finding>, DriftError> {
        let values = [Some(obs.latency_p50_us), Some(obs.latency_p99_us), Some(obs.faults_per_second), obs.slot_disagreement];
        for (d, v) in self.detectors.iter().zip(values) {
            if let Some(x) = v
                && !(x.is_finite() && x >= 0.0)
            {
                return Err(DriftError::BadObservation(d.metric));
            }
            if let Some(held) = d.last_at
                && at < held
            {
                return Err(DriftError::OutOfOrder { held, at });
            }
        }
        let statuses =
            self.detectors.iter_mut().zip(values).filter_map(|(d, v)| v.map(|x| d.observe(x, at))).collect::<Result<Vec<_>, _>>()?;
        let mut findings = Vec::new();
        for status in statuses {
            match status {
                DriftStatus::Raised(alarm) => findings.push(Finding::Raised { alarm, action: self.action(&alarm) }),
                DriftStatus::Cleared(alarm) => findings.push(Finding::Cleared(alarm)),
                DriftStatus::Learning { .. } | DriftStatus::Normal | DriftStatus::Ongoing(_) => {}
            }
        }
        Ok(findings)
    }

    /// The alarms currently held.
    pub fn active(&self) -> impl Iterator<Item = DriftAlarm> + '_ {
        self.detectors.iter().filter_map(DriftDetector::alarm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hysteresis_needs_consecutive_evidence_both_ways() {
        let cfg = DriftConfig { warmup: 4, enter_after: 2, exit_after: 2, ..DriftConfig::for_metric(Metric::LatencyP99) };
        let mut d = DriftDetector::new(Metric::LatencyP99, cfg).unwrap();
        for (i, x) in [100.0, 102.0, 98.0].into_iter().enumerate() {
            assert_eq!(d.observe(x, i as u64).unwrap(), DriftStatus::Learning { remaining: 3 - i as u32 });
        }
        assert_eq!(d.observe(100.0, 3).unwrap(), DriftStatus::Normal);
        // Std floor: 5 % of 100 = 5 µs. One spike, then normal: no alarm.
        assert_eq!(d.observe(200.0, 4).unwrap(), DriftStatus::Normal);
        assert_eq!(d.observe(100.0, 5).unwrap(), DriftStatus::Normal);
        assert_eq!(d.observe(200.0, 6).unwrap(), DriftStatus::Normal);
        let DriftStatus::Raised(a) = d.observe(200.0, 7).unwrap() else { panic!() };
        assert_eq!(a.since, 6);
        assert_eq!(a.metric, Metric::LatencyP99);
        assert!((a.evidence.baseline_mean - 100.0).abs() < 1.0, "{a:?}");
        assert_eq!(a.evidence.observed, 200.0);
        assert!(a.evidence.z > 15.0);
        // One calm observation does not clear; two do.
        assert!(matches!(d.observe(100.0, 8).unwrap(), DriftStatus::Ongoing(_)));
        assert!(matches!(d.observe(200.0, 9).unwrap(), DriftStatus::Ongoing(_)));
        assert!(matches!(d.observe(100.0, 10).unwrap(), DriftStatus::Ongoing(_)));
        assert!(matches!(d.observe(100.0, 11).unwrap(), DriftStatus::Cleared(a) if a.since == 6));
        assert_eq!(d.alarm(), None);
    }

    #[test]
    fn refusals() {
        let base = DriftConfig::for_metric(Metric::FaultRate);
        assert_eq!(DriftDetector::new(Metric::FaultRate, DriftConfig { enter_z: 1.0, ..base }), Err(DriftError::Config("enter_z")));
        assert_eq!(DriftDetector::new(Metric::FaultRate, DriftConfig { alpha: 1.0, ..base }), Err(DriftError::Config("alpha")));
        assert_eq!(DriftDetector::new(Metric::FaultRate, DriftConfig { warmup: 1, ..base }), Err(DriftError::Config("warmup")));
        assert_eq!(DriftDetector::new(Metric::FaultRate, DriftConfig { exit_after: 0, ..base }), Err(DriftError::Config("exit_after")));
        let mut d = DriftDetector::new(Metric::FaultRate, base).unwrap();
        assert_eq!(d.observe(-1.0, 0), Err(DriftError::BadObservation(Metric::FaultRate)));
        assert_eq!(d.observe(f64::NAN, 0), Err(DriftError::BadObservation(Metric::FaultRate)));
        d.observe(0.0, 10).unwrap();
        assert_eq!(d.observe(0.0, 9), Err(DriftError::OutOfOrder { held: 10, at: 9 }));
        let mut m = DomainDriftMonitor::new(1_000);
        let bad =
            DomainObservation { latency_p50_us: 1.0, latency_p99_us: 2.0, faults_per_second: 0.0, slot_disagreement: Some(f64::INFINITY) };
        assert_eq!(m.observe(&bad, 0), Err(DriftError::BadObservation(Metric::SlotDisagreement)));
        assert_eq!(m.detectors[0].last_at, None, "a refused observation reaches no detector");
    }
}
