//! The twin domain's logic (`service::Twin`) through its public API: readings in, the twin
//! protocol's answers out; the ledger persisted and reloaded; refusals precise.

mod common;

use common::SplitMix;
use tileos_protocol::sensors::{Quantity, Reading};
use tileos_protocol::twin::{
    Allowance, Bearing, Error, Feature, LoggedOutcome, Mechanism, MinuteAggregate, ParamFault, Request, Response, ThermalLevel, WearAlarm,
};
use tileos_twin::service::{BEARING, Grant, MINUTE_MS, Twin, decode_minute, encode_minute};

const HUB: u64 = 0x70;
const STRANGER: u64 = 0x71;
const GRANTS: [Grant; 1] = [Grant { badge: HUB, epsilon_micros: 1_000_000, delta_femtos: 1_000_000_000 }];

fn reading(quantity: Quantity, value: i32, taken_ms: u64) -> Reading {
    Reading { quantity, value, taken_ms, age_ms: 0, sample: 1, stale: false }
}

/// One round of the sensors domain at `t` ms: every quantity, vibration from `wear` (0..1),
/// the values as the tile simulator gives them roughly, with deterministic wobble.
fn round(twin: &mut Twin, t: u64, wear: f64, rng: &mut SplitMix) -> Option<WearAlarm> {
    round_minutes(twin, t, wear, rng, &mut Vec::new())
}

/// [`round`], collecting the minutes that end.
fn round_minutes(twin: &mut Twin, t: u64, wear: f64, rng: &mut SplitMix, minutes: &mut Vec<MinuteAggregate>) -> Option<WearAlarm> {
    let wobble = |rng: &mut SplitMix, spread: f64| 1.0 + spread * (rng.uniform() - 0.5);
    let rms = 40_000.0 * (1.0 + 3.0 * wear * wear) * wobble(rng, 0.05);
    let kurtosis = 2_100.0 * (1.0 + 8.0 * wear) * wobble(rng, 0.05);
    let band = 1_200.0 * (1.0 + 80.0 * wear) * wobble(rng, 0.4);
    let mut raised = None;
    for (quantity, value) in [
        (Quantity::Temperature, 45_000.0 * wobble(rng, 0.002)),
        (Quantity::Power, 130_000.0 * wobble(rng, 0.01)),
        (Quantity::PumpFlow, 1_200.0 * wobble(rng, 0.02)),
        (Quantity::PumpPressure, 150_000.0),
        (Quantity::VibrationRms, rms),
        (Quantity::VibrationKurtosis, kurtosis),
        (Quantity::VibrationFaultBand, band),
        (Quantity::Presence, if t % 2000 < 1000 { 1.0 } else { 0.0 }),
        (Quantity::PresenceDistance, 1_500.0),
    ] {
        let ingested = twin.ingest(&reading(quantity, value as i32, t)).unwrap();
        raised = raised.or(ingested.wear_raised);
        minutes.extend(ingested.minute);
    }
    raised
}

#[test]
fn readings_become_minute_aggregates_and_advice_never_samples() {
    let mut twin = Twin::new();
    let mut rng = SplitMix(1);
    let mut minutes = Vec::new();
    for i in 0..600u64 {
        let t = i * 250;
        round_minutes(&mut twin, t, 0.0, &mut rng, &mut minutes);
    }
    // 150 s of rounds: minutes 0 and 1 ended (the third is under way).
    assert_eq!(minutes.iter().map(|m| m.minute).collect::<Vec<_>>(), [0, 1]);
    let first = minutes[0];
    assert_eq!(first.power_w.count, 240);
    assert!((first.power_w.mean - 130.0).abs() < 1.0, "{first:?}");
    assert!(first.temperature_c.min <= first.temperature_c.mean && first.temperature_c.mean <= first.temperature_c.max);
    assert!((first.presence_share - 0.5).abs() < 0.01, "{first:?}");
    assert_eq!(decode_minute(&encode_minute(&first)), Some(first));
    assert_eq!(decode_minute(&[0xFF; 3]), None);
    let Response::State(state) = twin.answer(HUB, &Request::State) else { panic!() };
    assert_eq!(state.last_minute, Some(minutes[1]));
    assert_eq!(state.windows, 600);
    assert!(matches!(state.bearing, Bearing::Healthy { threshold, .. } if threshold == BEARING.threshold), "{:?}", state.bearing);
    assert_eq!(state.thermal.level, ThermalLevel::Nominal);
    assert!(!state.stale && !state.exports_open);
    // A stale reading marks the state stale and takes nothing in.
    let readings = state.readings;
    twin.ingest(&Reading { stale: true, ..reading(Quantity::Power, 1, 200_000) }).unwrap();
    let Response::State(state) = twin.answer(HUB, &Request::State) else { panic!() };
    assert!(state.stale && state.readings == readings);
    // A reading older than the state's is refused (named), the state unchanged.
    assert!(twin.ingest(&reading(Quantity::Power, 1, 10)).is_err());
}

#[test]
fn bearing_wear_is_alarmed_once_with_evidence_and_a_healthy_bearing_never() {
    for seed in 0..6 {
        let mut rng = SplitMix(seed);
        let mut healthy = Twin::new();
        let mut worn = Twin::new();
        let mut alarm = None;
        for i in 0..400u64 {
            let t = i * 250;
            assert_eq!(round(&mut healthy, t, 0.0, &mut rng), None, "seed {seed}: false alarm at round {i}");
            // Wear from round 100, growing quadratically to 1 at round 400.
            let wear = if i < 100 { 0.0 } else { ((i - 100) as f64 / 300.0).powi(2) };
            if let Some(raised) = round(&mut worn, t, wear, &mut rng) {
                assert!(alarm.is_none(), "raised twice");
                alarm = Some((i, raised));
            }
        }
        let (at, raised) = alarm.unwrap_or_else(|| panic!("seed {seed}: no alarm"));
        assert!(at > 100 && at < 250, "seed {seed}: alarm at round {at}");
        assert_eq!(raised.trigger, Feature::FaultBand);
        assert_eq!(raised.cusum[2], 0.0, "the crest factor is not watched");
        let Response::Alarms(alarms) = worn.answer(HUB, &Request::Alarms) else { panic!() };
        assert_eq!(alarms.len(), 1);
        let Response::Alarms(none) = healthy.answer(HUB, &Request::Alarms) else { panic!() };
        assert!(none.is_empty());
    }
}

fn exporting_twin() -> Twin {
    let mut twin = Twin::new();
    let mut rng = SplitMix(3);
    for i in 0..700u64 {
        round(&mut twin, i * 250, 0.0, &mut rng);
    }
    twin
}

fn laplace(epsilon: f64) -> Mechanism {
    Mechanism::Laplace { epsilon }
}

#[test]
fn exports_are_noised_charged_refused_precisely_and_survive_a_reopen() {
    let mut twin = exporting_twin();
    let mut rng = SplitMix(9);
    assert_eq!(twin.export(HUB, "power.mean", laplace(0.5), &mut rng, 1).response, Response::Refused(Error::LedgerUnavailable));
    let opened = twin.open_ledger(None, &GRANTS).unwrap();
    assert!(opened.created && opened.added == 1 && opened.changed());
    // A mean of 600 powers near 130 W.
    let answer = twin.export(HUB, "power.mean", laplace(0.5), &mut rng, 2);
    let ledger = answer.ledger.clone().expect("the ledger to persist");
    let Response::Released { value, charged, remaining } = answer.clone().after_persist(true) else { panic!("{answer:?}") };
    assert!((value - 130.0).abs() < 10.0, "{value}");
    assert_eq!(charged, Allowance { epsilon_micros: 500_001, delta_femtos: 0 });
    assert_eq!(remaining.epsilon_micros, 499_999);
    // Not persisted: withheld, the charge stands.
    assert_eq!(answer.after_persist(false), Response::Refused(Error::LedgerNotPersisted));
    // Refusals, each precise.
    let export = |twin: &mut Twin, badge, query: &str, mechanism, rng: &mut SplitMix| twin.export(badge, query, mechanism, rng, 3).response;
    for (epsilon, fault) in [
        (f64::NAN, ParamFault::NaN),
        (f64::INFINITY, ParamFault::Infinite),
        (-0.1, ParamFault::Negative),
        (0.0, ParamFault::Zero),
        (1e9, ParamFault::TooLarge),
    ] {
        assert_eq!(export(&mut twin, HUB, "power.mean", laplace(epsilon), &mut rng), Response::Refused(Error::Epsilon(fault)));
    }
    let gaussian = Mechanism::Gaussian { epsilon: 0.1, delta: f64::NAN };
    assert_eq!(export(&mut twin, HUB, "power.mean", gaussian, &mut rng), Response::Refused(Error::Delta(ParamFault::NaN)));
    let gaussian = Mechanism::Gaussian { epsilon: 1.5, delta: 1e-9 };
    assert_eq!(export(&mut twin, HUB, "power.mean", gaussian, &mut rng), Response::Refused(Error::GaussianEpsilon));
    assert_eq!(
        export(&mut twin, HUB, "power.mean", laplace(0.001), &mut rng),
        Response::Refused(Error::SnappingRange { min_epsilon_micros: 2000 })
    );
    assert_eq!(
        export(&mut twin, HUB, "temperature.raw", laplace(0.1), &mut rng),
        Response::Refused(Error::UnknownQuery("temperature.raw".try_into().unwrap()))
    );
    assert_eq!(export(&mut twin, STRANGER, "power.mean", laplace(0.1), &mut rng), Response::Refused(Error::NoBudget { badge: STRANGER }));
    assert_eq!(twin.answer(STRANGER, &Request::Budget), Response::Refused(Error::NoBudget { badge: STRANGER }));
    assert_eq!(twin.answer(STRANGER, &Request::ExportLog { index: 0 }), Response::Refused(Error::NoBudget { badge: STRANGER }));
    // Spend what is left, then refused.
    let Response::Released { .. } = export(&mut twin, HUB, "presence.count", laplace(0.4), &mut rng) else { panic!() };
    let spent = export(&mut twin, HUB, "presence.count", laplace(0.1), &mut rng);
    assert_eq!(
        spent,
        Response::Refused(Error::BudgetExhausted {
            remaining: Allowance { epsilon_micros: 99_997, delta_femtos: 999_999_999 },
            requested: Allowance { epsilon_micros: 100_002, delta_femtos: 0 }
        })
    );
    // The caller's log: its own entries only, refusals included.
    let Response::Budget { spent, log_entries, .. } = twin.answer(HUB, &Request::Budget) else { panic!() };
    assert_eq!(spent.epsilon_micros, 900_003);
    assert_eq!(log_entries, 11);
    let Response::LogEntry(first) = twin.answer(HUB, &Request::ExportLog { index: 0 }) else { panic!() };
    assert_eq!(first.query.as_str(), "power.mean");
    assert!(matches!(first.outcome, LoggedOutcome::Released(v) if v == value));
    let Response::LogEntry(last) = twin.answer(HUB, &Request::ExportLog { index: 10 }) else { panic!() };
    assert_eq!(last.outcome, LoggedOutcome::BudgetExhausted);
    assert_eq!(twin.answer(HUB, &Request::ExportLog { index: 11 }), Response::Refused(Error::NoEntry { index: 11 }));
    // A restart: the ledger from the store keeps the spend; the grant cannot refill it.
    let bytes = twin.ledger_bytes().unwrap();
    let mut again = exporting_twin();
    let reopened = again.open_ledger(Some(&bytes), &GRANTS).unwrap();
    assert!(!reopened.changed());
    assert_eq!(
        again.export(HUB, "presence.count", laplace(0.1), &mut rng, 4).response,
        Response::Refused(Error::BudgetExhausted {
            remaining: Allowance { epsilon_micros: 99_997, delta_femtos: 999_999_999 },
            requested: Allowance { epsilon_micros: 100_002, delta_femtos: 0 }
        })
    );
    // A corrupt ledger closes exports (no fresh ledger in its place).
    let mut corrupt = ledger;
    corrupt[12] ^= 1;
    let mut broken = exporting_twin();
    assert!(broken.open_ledger(Some(&corrupt), &GRANTS).is_err());
    assert_eq!(broken.export(HUB, "power.mean", laplace(0.1), &mut rng, 5).response, Response::Refused(Error::LedgerUnavailable));
    assert_eq!(broken.answer(HUB, &Request::Budget), Response::Refused(Error::LedgerUnavailable));
    assert!(broken.ledger_bytes().is_none());
    let Response::State(state) = broken.answer(HUB, &Request::State) else { panic!() };
    assert!(!state.exports_open);
}

#[test]
fn a_grant_the_gate_refuses_is_reported_and_others_still_open() {
    let mut twin = Twin::new();
    let grants = [Grant { badge: 1, epsilon_micros: 0, delta_femtos: 0 }, GRANTS[0]];
    let opened = twin.open_ledger(None, &grants).unwrap();
    assert_eq!(opened.added, 1);
    assert_eq!(opened.refused.len(), 1);
    assert_eq!(opened.refused[0].0, 1);
    assert_eq!(MINUTE_MS, 60_000);
}
