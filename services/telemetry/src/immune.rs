//! The immune system's per-domain logic (feature `immune`), which the supervisor (root
//! server) runs for every domain that reports latencies: each observation of a reporting
//! interval goes to the twin's drift monitor (`tileos_twin::drift::DomainDriftMonitor`,
//! reused, not duplicated: baselines learnt in warm-up, EWMA tracking, hysteresis), and
//! each alarm it raises becomes a [`Decision`] by the domain's configured [`OnDrift`].
//!
//! The observation is made of: the interval's median and 99th-percentile latency (the
//! upper bounds of their log2 buckets, converted from time-stamp ticks to µs), and the
//! domain's fault rate over the interval, from the fault count the supervisor itself keeps
//! (a reporter cannot hide its faults); and, for a domain watched for a slot, the share of
//! the slot's mirrored answers that disagreed or timed out since the previous observation
//! (from the totals the slot's manager reports to the supervisor; not fed while the slot
//! compared nothing new).

use tileos_twin::Millis;
use tileos_twin::drift::{DomainDriftMonitor, DomainObservation, DriftAlarm, DriftError, Finding, SuggestedAction};

/// What the supervisor does when an alarm is raised for a domain: the `on_drift` parameter
/// of the domain's client entry of the `telemetry` endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDrift {
    /// `on_drift = 0` (the default): raise and log the alarm only.
    AlarmOnly,
    /// `on_drift = 1`: restart the domain (under its restart policy).
    Restart,
    /// `on_drift = 2`: ask the domain's slot to roll back.
    RollBack,
}

impl OnDrift {
    /// The configuration from the parameter's value (absent: [`OnDrift::AlarmOnly`]); an
    /// unknown value is returned as the error.
    pub fn from_param(value: Option<u64>) -> Result<OnDrift, u64> {
        match value {
            None | Some(0) => Ok(OnDrift::AlarmOnly),
            Some(1) => Ok(OnDrift::Restart),
            Some(2) => Ok(OnDrift::RollBack),
            Some(other) => Err(other),
        }
    }
}

/// One reporting interval as the supervisor hears of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Calls in the interval (0: nothing is observed).
    pub calls: u64,
    /// Median latency, time-stamp ticks (upper bound of its bucket).
    pub p50_ticks: u64,
    /// 99th percentile, likewise.
    pub p99_ticks: u64,
    /// The domain's faults so far, as the supervisor counted them.
    pub faults: u64,
    /// For a domain watched for a slot: the slot's comparisons so far, `(compared,
    /// disagreeing)` (cumulative, as its manager last reported them).
    pub slot: Option<(u64, u64)>,
    /// When (the supervisor's clock), ms.
    pub at: Millis,
}

/// What to do about one finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Log only (an alarm under [`OnDrift::AlarmOnly`], or an alarm that cleared).
    Log,
    /// Restart the domain.
    Restart,
    /// Ask the domain's slot to roll back.
    RollBack,
}

/// A finding and what to do about it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// The alarm, with its evidence (baseline against observation).
    pub alarm: DriftAlarm,
    /// Raised (`true`) or cleared.
    pub raised: bool,
    /// What the drift monitor suggests, when raised.
    pub suggested: Option<SuggestedAction>,
    /// What the configuration makes of it.
    pub verdict: Verdict,
}

/// One domain's immune state.
#[derive(Clone, Debug)]
pub struct DomainImmunity {
    monitor: DomainDriftMonitor,
    on_drift: OnDrift,
    /// Time and fault count of the previous observation.
    previous: Option<(Millis, u64)>,
    /// The slot's comparison totals at the previous observation.
    previous_slot: Option<(u64, u64)>,
}

impl DomainImmunity {
    /// A domain with no baseline yet (the monitor's defaults: docs/twin.md, "Drift").
    pub fn new(on_drift: OnDrift) -> DomainImmunity {
        DomainImmunity { monitor: DomainDriftMonitor::new(0), on_drift, previous: None, previous_slot: None }
    }

    /// The metrics whose alarm is raised now.
    pub fn raised(&self) -> impl Iterator<Item = tileos_twin::drift::Metric> + '_ {
        self.monitor.active().map(|alarm| alarm.metric)
    }

    /// Observes one interval (`tsc_per_ms`: the time-stamp counter's rate); returns what
    /// to do about the alarms it raised or cleared. A refused observation (out of order)
    /// changes nothing.
    pub fn observe(&mut self, observation: &Observation, tsc_per_ms: u64) -> Result<alloc::vec::Vec<Decision>, DriftError> {
        if observation.calls == 0 {
            return Ok(alloc::vec::Vec::new());
        }
        let tsc_per_us = (tsc_per_ms.max(1) as f64) / 1000.0;
        let faults_per_second = match self.previous {
            None => 0.0,
            Some((at, faults)) => {
                let seconds = (observation.at.saturating_sub(at)).max(1) as f64 / 1000.0;
                observation.faults.saturating_sub(faults) as f64 / seconds
            }
        };
        // The slot's share since the previous observation (totals that went down mean the
        // slot's manager started again: counted from zero).
        let slot_disagreement = observation.slot.and_then(|(compared, disagreeing)| {
            let (compared_then, disagreeing_then) =
                self.previous_slot.filter(|&(c, d)| c <= compared && d <= disagreeing).unwrap_or((0, 0));
            let new = compared - compared_then;
            (new > 0).then(|| (disagreeing - disagreeing_then).min(new) as f64 / new as f64)
        });
        let figures = DomainObservation {
            latency_p50_us: observation.p50_ticks as f64 / tsc_per_us,
            latency_p99_us: observation.p99_ticks as f64 / tsc_per_us,
            faults_per_second,
            slot_disagreement,
        };
        let findings = self.monitor.observe(&figures, observation.at)?;
        self.previous = Some((observation.at, observation.faults));
        if observation.slot.is_some() {
            self.previous_slot = observation.slot;
        }
        Ok(findings
            .into_iter()
            .map(|finding| match finding {
                Finding::Raised { alarm, action } => {
                    let verdict = match self.on_drift {
                        OnDrift::AlarmOnly => Verdict::Log,
                        OnDrift::Restart => Verdict::Restart,
                        OnDrift::RollBack => Verdict::RollBack,
                    };
                    Decision { alarm, raised: true, suggested: Some(action), verdict }
                }
                Finding::Cleared(alarm) => Decision { alarm, raised: false, suggested: None, verdict: Verdict::Log },
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tileos_twin::drift::Metric;

    fn interval(p50_ticks: u64, at: Millis) -> Observation {
        Observation { calls: 100, p50_ticks, p99_ticks: 2 * p50_ticks, faults: 0, slot: None, at }
    }

    #[test]
    fn the_configuration_is_read_from_the_parameter() {
        assert_eq!(OnDrift::from_param(None), Ok(OnDrift::AlarmOnly));
        assert_eq!(OnDrift::from_param(Some(0)), Ok(OnDrift::AlarmOnly));
        assert_eq!(OnDrift::from_param(Some(1)), Ok(OnDrift::Restart));
        assert_eq!(OnDrift::from_param(Some(2)), Ok(OnDrift::RollBack));
        assert_eq!(OnDrift::from_param(Some(7)), Err(7));
    }

    #[test]
    fn a_latency_regression_raises_the_configured_action_and_a_steady_domain_nothing() {
        let (mut steady, mut drifting) = (DomainImmunity::new(OnDrift::Restart), DomainImmunity::new(OnDrift::Restart));
        let mut raised = alloc::vec::Vec::new();
        for step in 0..60u64 {
            // 1 GHz: 2047 ticks is 2 µs; after 40 intervals, 131071 ticks (131 µs).
            let at = step * 10;
            assert_eq!(steady.observe(&interval(2047, at), 1_000_000), Ok(alloc::vec::Vec::new()), "step {step}");
            let slow = if step < 40 { 2047 } else { 131_071 };
            raised.extend(drifting.observe(&interval(slow, at), 1_000_000).unwrap().into_iter().map(|d| (step, d)));
        }
        assert_eq!(raised.len(), 2, "{raised:?}");
        assert_eq!(steady.raised().count(), 0);
        assert_eq!(drifting.raised().collect::<alloc::vec::Vec<_>>(), [Metric::LatencyP50, Metric::LatencyP99]);
        for (step, decision) in raised {
            assert_eq!(step, 42, "three high intervals in a row raise");
            assert!(decision.raised && decision.verdict == Verdict::Restart);
            assert_eq!(decision.alarm.since, 400);
            assert!(matches!(decision.alarm.metric, Metric::LatencyP50 | Metric::LatencyP99));
            assert!(decision.alarm.evidence.observed > 100.0 && decision.alarm.evidence.baseline_mean < 5.0, "{decision:?}");
        }
    }

    #[test]
    fn faults_count_from_the_supervisors_figure_and_alarm_only_logs() {
        let mut domain = DomainImmunity::new(OnDrift::AlarmOnly);
        let mut decisions = alloc::vec::Vec::new();
        for step in 0..40u64 {
            let faults = step.saturating_sub(34) * 5; // faults start at step 35
            let observation = Observation { faults, ..interval(2047, step * 1000) };
            decisions.extend(domain.observe(&observation, 1_000_000).unwrap());
        }
        let fault_alarm = decisions.iter().find(|d| d.alarm.metric == Metric::FaultRate).expect("fault-rate alarm");
        assert_eq!((fault_alarm.raised, fault_alarm.verdict), (true, Verdict::Log));
        assert_eq!(fault_alarm.alarm.evidence.observed, 5.0, "5 faults in 1 s");
    }

    #[test]
    fn a_slots_disagreement_share_is_fed_and_a_rise_asks_for_the_rollback() {
        let mut domain = DomainImmunity::new(OnDrift::RollBack);
        let mut decisions = alloc::vec::Vec::new();
        let (mut compared, mut disagreeing) = (0u64, 0u64);
        for step in 0..45u64 {
            // 100 comparisons an interval: 1 disagreeing, then 30 from step 40 on; every
            // fifth interval the slot compared nothing new (not fed: no finding, no error).
            if step % 5 != 4 {
                compared += 100;
                disagreeing += if step < 40 { 1 } else { 30 };
            }
            let observation = Observation { slot: Some((compared, disagreeing)), ..interval(2047, step * 10) };
            decisions.extend(domain.observe(&observation, 1_000_000).unwrap().into_iter().map(|d| (step, d)));
        }
        let raised: alloc::vec::Vec<_> = decisions.iter().filter(|(_, d)| d.raised).collect();
        assert_eq!(raised.len(), 1, "{decisions:?}");
        let (step, decision) = raised[0];
        assert_eq!((*step, decision.alarm.metric, decision.verdict), (42, Metric::SlotDisagreement, Verdict::RollBack));
        assert!((decision.alarm.evidence.observed - 0.30).abs() < 1e-9, "{decision:?}");
        assert!((decision.alarm.evidence.baseline_mean - 0.01).abs() < 1e-9, "{decision:?}");
    }

    #[test]
    fn an_empty_interval_is_not_observed_and_an_out_of_order_one_is_refused() {
        let mut domain = DomainImmunity::new(OnDrift::Restart);
        assert_eq!(domain.observe(&Observation { calls: 0, ..interval(0, 5) }, 1_000_000), Ok(alloc::vec::Vec::new()));
        domain.observe(&interval(2047, 10), 1_000_000).unwrap();
        assert_eq!(domain.observe(&interval(2047, 9), 1_000_000), Err(DriftError::OutOfOrder { held: 10, at: 9 }));
    }
}
