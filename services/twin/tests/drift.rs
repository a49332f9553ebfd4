//! The immune system's drift monitor on synthetic domain telemetry: steady noise must not
//! alarm; injected regressions must, with evidence and the right suggested action.

mod common;

use common::SplitMix;
use tileos_twin::drift::{DomainDriftMonitor, DomainObservation, Finding, Metric, SuggestedAction};

/// Ten-second reporting intervals.
const INTERVAL_MS: u64 = 10_000;

/// Knuth's Poisson sampler (small means).
fn poisson(rng: &mut SplitMix, mean: f64) -> u64 {
    let limit = (-mean).exp();
    let (mut k, mut p) = (0, rng.uniform());
    while p > limit {
        k += 1;
        p *= rng.uniform();
    }
    k
}

/// What the regression does, from interval `from` to interval `until`.
#[derive(Clone, Copy)]
struct Regression {
    from: u64,
    until: u64,
    latency_factor: f64,
    fault_rate: f64,
    disagreement: f64,
}

/// One interval: p50 ≈ 200 µs ± 4 %, p99 ≈ 800 µs with multiplicative 5 % noise, faults
/// Poisson with mean 0.2/s over 10 s, disagreement binomial-like around 1 % of 1000 requests.
fn observe(rng: &mut SplitMix, i: u64, regression: Option<Regression>) -> DomainObservation {
    let active = regression.filter(|r| (r.from..r.until).contains(&i));
    let factor = active.map_or(1.0, |r| r.latency_factor);
    let fault_rate = active.map_or(0.2, |r| r.fault_rate);
    let disagreement = active.map_or(0.01, |r| r.disagreement);
    let disagreeing = (0..1000).filter(|_| rng.uniform() < disagreement).count();
    DomainObservation {
        latency_p50_us: factor * 200.0 * (1.0 + 0.04 * rng.normal()),
        latency_p99_us: factor * 800.0 * (0.05 * rng.normal()).exp(),
        faults_per_second: poisson(rng, fault_rate * 10.0) as f64 / 10.0,
        slot_disagreement: Some(disagreeing as f64 / 1000.0),
    }
}

fn run(seed: u64, intervals: u64, regression: Option<Regression>, slot_change: Option<u64>) -> Vec<(u64, Finding)> {
    let mut rng = SplitMix(seed);
    let mut monitor = DomainDriftMonitor::new(60_000);
    let mut findings = Vec::new();
    for i in 0..intervals {
        if slot_change == Some(i) {
            monitor.slot_changed(i * INTERVAL_MS);
        }
        for f in monitor.observe(&observe(&mut rng, i, regression), i * INTERVAL_MS).unwrap() {
            findings.push((i, f));
        }
    }
    findings
}

#[test]
fn steady_noise_raises_nothing() {
    for seed in 1..=6 {
        let findings = run(seed, 5000, None, None);
        assert!(findings.is_empty(), "seed {seed}: {findings:?}");
    }
}

#[test]
fn latency_regression_is_raised_with_evidence_then_cleared() {
    let regression = Regression { from: 1000, until: 1300, latency_factor: 1.5, fault_rate: 0.2, disagreement: 0.01 };
    for seed in 1..=6 {
        let findings = run(seed, 2000, Some(regression), None);
        let raised: Vec<_> = findings
            .iter()
            .filter_map(|(i, f)| if let Finding::Raised { alarm, action } = f { Some((*i, *alarm, *action)) } else { None })
            .collect();
        // Both latency percentiles, nothing else, within three intervals of the regression.
        let metrics: Vec<_> = raised.iter().map(|(_, a, _)| a.metric).collect();
        assert_eq!(metrics, [Metric::LatencyP50, Metric::LatencyP99], "seed {seed}: {findings:?}");
        for (i, alarm, action) in &raised {
            assert!((1002..1005).contains(i), "seed {seed}: raised at {i}");
            assert_eq!(alarm.since, 1000 * INTERVAL_MS);
            assert_eq!(*action, SuggestedAction::RestartDomain);
            let e = alarm.evidence;
            assert!(e.observed > 1.3 * e.baseline_mean && e.z > 4.0, "{e:?}");
        }
        let p99 = raised[1].1.evidence;
        assert!((p99.baseline_mean - 800.0).abs() < 30.0, "{p99:?}");
        // Cleared after the five calm intervals 1300..=1304 at the earliest, and soon after.
        let cleared: Vec<_> = findings.iter().filter(|(_, f)| matches!(f, Finding::Cleared(_))).map(|(i, _)| *i).collect();
        assert_eq!(cleared.len(), 2, "seed {seed}: {findings:?}");
        assert!(cleared.iter().all(|i| (1304..1320).contains(i)), "seed {seed}: {cleared:?}");
    }
}

#[test]
fn a_regression_right_after_a_slot_change_suggests_rollback() {
    let regression = Regression { from: 700, until: 2000, latency_factor: 1.0, fault_rate: 2.0, disagreement: 0.01 };
    let findings = run(7, 800, Some(regression), Some(698));
    let [(_, Finding::Raised { alarm, action })] = findings.as_slice() else { panic!("{findings:?}") };
    assert_eq!((alarm.metric, *action), (Metric::FaultRate, SuggestedAction::RollBackSlot));
    // The same regression long after the change: restart instead.
    let findings = run(7, 800, Some(regression), Some(100));
    let [(_, Finding::Raised { alarm, action })] = findings.as_slice() else { panic!("{findings:?}") };
    assert_eq!((alarm.metric, *action), (Metric::FaultRate, SuggestedAction::RestartDomain));
}

#[test]
fn slot_disagreement_suggests_rollback() {
    let regression = Regression { from: 500, until: 2000, latency_factor: 1.0, fault_rate: 0.2, disagreement: 0.05 };
    let findings = run(8, 600, Some(regression), None);
    let [(i, Finding::Raised { alarm, action })] = findings.as_slice() else { panic!("{findings:?}") };
    assert_eq!((alarm.metric, *action), (Metric::SlotDisagreement, SuggestedAction::RollBackSlot));
    assert_eq!(*i, 502);
    assert!((alarm.evidence.baseline_mean - 0.01).abs() < 0.003 && alarm.evidence.observed > 0.03, "{alarm:?}");
}
