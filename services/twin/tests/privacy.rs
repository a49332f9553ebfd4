//! The export gate through its public API: budgets, conservative accounting, refusals, the
//! persisted ledger, noise calibration, and that nothing but noised aggregates leaves.

mod common;

use std::collections::BTreeMap;

use common::SplitMix;
use tileos_twin::privacy::{
    Account, Aggregate, AggregateKind, Allowance, Bounds, BoundsError, Delta, Epsilon, ExportError, ExportGate, ExportRecord, GateConfig,
    LEDGER_MAGIC, LedgerError, Mechanism, NameError, Outcome, ParamError, Query, QueryName, Recipient, Refusal, SampleWindow, WindowError,
};

const CONFIG: GateConfig = GateConfig { max_window: 1000, log_capacity: 100 };

fn hub() -> Recipient {
    Recipient::new("hub-7").unwrap()
}

fn query(name: &str, aggregate: Aggregate, mechanism: Mechanism) -> Query {
    Query { name: QueryName::new(name).unwrap(), aggregate, mechanism }
}

fn window(values: impl IntoIterator<Item = f64>) -> SampleWindow {
    let mut w = SampleWindow::new(CONFIG.max_window).unwrap();
    for v in values {
        w.push(v).unwrap();
    }
    w
}

fn laplace(epsilon: f64) -> Mechanism {
    Mechanism::Laplace { epsilon }
}

fn gaussian(epsilon: f64, delta: f64) -> Mechanism {
    Mechanism::Gaussian { epsilon, delta }
}

#[test]
fn budget_is_enforced_and_exhaustion_names_the_recipient_and_remainder() {
    let mut gate = ExportGate::new(CONFIG).unwrap();
    gate.add_recipient(hub(), 1.0, 0.0).unwrap();
    let w = window((0..500).map(|i| i as f64));
    let q = query("temp.count", Aggregate::Count, laplace(0.3));
    let mut rng = SplitMix(1);
    // Each costs 0.3 ε rounded up, plus the snapping term ⌈0.3·(1000·2⁻⁴⁹ + 2⁻⁵⁰)⌉ = 1 µε.
    for k in 1..=3u64 {
        let r = gate.export(&hub(), &q, &w, &mut rng, k).unwrap();
        assert_eq!(r.charged, Allowance { epsilon: Epsilon::from_micros(300_001), delta: Delta::ZERO });
        assert_eq!(r.remaining.epsilon, Epsilon::from_micros(1_000_000 - 300_001 * k));
    }
    let err = gate.export(&hub(), &q, &w, &mut rng, 4).unwrap_err();
    let remaining = Allowance { epsilon: Epsilon::from_micros(99_997), delta: Delta::ZERO };
    let requested = Allowance { epsilon: Epsilon::from_micros(300_001), delta: Delta::ZERO };
    assert_eq!(err, ExportError::BudgetExhausted { recipient: hub(), remaining, requested });
    let text = err.to_string();
    assert!(text.contains("hub-7") && text.contains("99997") && text.contains("300001"), "{text}");
    // A refusal spends nothing: a query that fits the remainder still goes through.
    assert_eq!(gate.account(&hub()).unwrap().spent.epsilon, Epsilon::from_micros(900_003));
    gate.export(&hub(), &query("temp.count", Aggregate::Count, laplace(0.05)), &w, &mut rng, 5).unwrap();
    // Gaussian queries need δ, which this recipient has none of. (The f64 nearest 1e-9 is
    // 1.00000000000000006e-9, so its charge rounds up to 1000001 fδ.)
    let g = gate.export(&hub(), &query("temp.sum", Aggregate::Count, gaussian(0.01, 1e-9)), &w, &mut rng, 6).unwrap_err();
    assert!(matches!(g, ExportError::BudgetExhausted { requested, .. } if requested.delta == Delta::from_femtos(1_000_001)), "{g:?}");
    // The log has every attempt, refusals with a zero charge.
    let outcomes: Vec<_> = gate.log().map(|r| (r.at, r.outcome)).collect();
    assert_eq!(outcomes.len(), 6);
    assert!(matches!(outcomes[3], (4, Outcome::Refused(Refusal::BudgetExhausted))));
    assert!(matches!(outcomes[4], (5, Outcome::Released(_))));
    let refused = gate.log().nth(3).unwrap();
    assert_eq!(
        (refused.charged, refused.recipient.as_str(), refused.query.as_str(), refused.kind),
        (Allowance::default(), "hub-7", "temp.count", AggregateKind::Count)
    );
}

#[test]
fn float_sums_cannot_sneak_past_the_total() {
    // Ten spends of the f64 0.1 add up to 0.9999999999999999 in floating point, but their
    // exact sum is 1.0000000000000000555: they exceed a budget of 1. Fixed point charges
    // each 100001 µε, so exactly nine fit.
    assert!((0..10).map(|_| 0.1f64).sum::<f64>() <= 1.0, "the trap is real");
    let mut gate = ExportGate::new(CONFIG).unwrap();
    gate.add_recipient(hub(), 1.0, 1e-6).unwrap();
    let w = window([1.0, 2.0]);
    let q = query("q", Aggregate::Count, gaussian(0.1, 1e-9));
    let mut rng = SplitMix(2);
    let accepted = (0..10).take_while(|&k| gate.export(&hub(), &q, &w, &mut rng, k).is_ok()).count();
    assert_eq!(accepted, 9);
    let a = gate.account(&hub()).unwrap();
    assert_eq!(a.spent.epsilon, Epsilon::from_micros(900_009));
    assert!(a.spent.epsilon <= a.budget.epsilon && a.spent.delta <= a.budget.delta);
}

#[test]
fn many_tiny_spends_are_each_rounded_up_and_never_exceed_the_total() {
    let mut gate = ExportGate::new(CONFIG).unwrap();
    gate.add_recipient(hub(), 0.001, 1e-3).unwrap();
    let w = window([1.0]);
    let mut rng = SplitMix(3);
    let mut requested_sum = 0.0f64;
    let mut accepted = 0u64;
    // ε = 1e-9 each: charged 1 µε, so 1000 fit in 1000 µε however small ε is.
    for k in 0..5000 {
        let q = query("tiny", Aggregate::Count, gaussian(1e-9, 1e-12));
        match gate.export(&hub(), &q, &w, &mut rng, k) {
            Ok(r) => {
                accepted += 1;
                requested_sum += 1e-9;
                assert_eq!(r.charged.epsilon, Epsilon::from_micros(1));
                assert_eq!(r.charged.delta, Delta::from_femtos(1_000));
            }
            Err(ExportError::BudgetExhausted { remaining, .. }) => assert_eq!(remaining.epsilon, Epsilon::from_micros(0)),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(accepted, 1000);
    let a = gate.account(&hub()).unwrap();
    assert_eq!(a.spent, Allowance { epsilon: Epsilon::from_micros(1000), delta: Delta::from_femtos(1_000_000) });
    assert!(requested_sum <= 0.001);
    // Random spends: every charge covers its request, and the total stays within budget.
    let mut gate = ExportGate::new(CONFIG).unwrap();
    gate.add_recipient(hub(), 2.0, 0.0).unwrap();
    let mut draw = SplitMix(4);
    let mut charged_total = 0u64;
    for k in 0..2000 {
        let epsilon = 0.002 + draw.uniform() * 0.05;
        if let Ok(r) = gate.export(&hub(), &query("r", Aggregate::Count, laplace(epsilon)), &w, &mut rng, k) {
            assert!(r.charged.epsilon.micros() as f64 >= epsilon * 1e6);
            charged_total += r.charged.epsilon.micros();
        }
    }
    assert_eq!(gate.account(&hub()).unwrap().spent.epsilon.micros(), charged_total);
    assert!(charged_total <= 2_000_000 && charged_total > 1_940_000, "{charged_total}");
}

#[test]
fn invalid_parameters_are_refused_precisely_and_cost_nothing() {
    let mut gate = ExportGate::new(CONFIG).unwrap();
    gate.add_recipient(hub(), 5.0, 1e-5).unwrap();
    let w = window([1.0, 2.0, 3.0]);
    let mut rng = SplitMix(5);
    let mut try_q = |m: Mechanism| gate.export(&hub(), &query("bad", Aggregate::Count, m), &w, &mut rng, 0).unwrap_err();
    assert_eq!(try_q(laplace(f64::NAN)), ExportError::Epsilon(ParamError::NaN));
    assert_eq!(try_q(laplace(f64::INFINITY)), ExportError::Epsilon(ParamError::Infinite));
    assert_eq!(try_q(laplace(-0.1)), ExportError::Epsilon(ParamError::Negative));
    assert_eq!(try_q(laplace(0.0)), ExportError::Epsilon(ParamError::Zero));
    assert_eq!(try_q(laplace(2000.0)), ExportError::Epsilon(ParamError::TooLarge));
    // λ = 1/ε must stay below B = max_window = 1000.
    assert_eq!(try_q(laplace(0.0005)), ExportError::SnappingRange { min_epsilon: 0.001 });
    assert_eq!(try_q(gaussian(f64::NEG_INFINITY, 1e-6)), ExportError::Epsilon(ParamError::Infinite));
    assert_eq!(try_q(gaussian(0.5, f64::NAN)), ExportError::Delta(ParamError::NaN));
    assert_eq!(try_q(gaussian(0.5, 0.0)), ExportError::Delta(ParamError::Zero));
    assert_eq!(try_q(gaussian(0.5, -1e-9)), ExportError::Delta(ParamError::Negative));
    assert_eq!(try_q(gaussian(0.5, 1.0)), ExportError::Delta(ParamError::TooLarge));
    assert_eq!(try_q(gaussian(1.0, 1e-6)), ExportError::GaussianEpsilon);
    let mean = query("m", Aggregate::Mean(Bounds::new(0.0, 1.0).unwrap()), laplace(0.0015));
    assert_eq!(gate.export(&hub(), &mean, &w, &mut SplitMix(5), 0).unwrap_err(), ExportError::SnappingRange { min_epsilon: 0.002 });
    let stranger = Recipient::new("stranger").unwrap();
    let q = query("ok", Aggregate::Count, laplace(0.5));
    assert_eq!(gate.export(&stranger, &q, &w, &mut SplitMix(5), 0).unwrap_err(), ExportError::UnknownRecipient(stranger.clone()));
    let mut big = SampleWindow::new(2000).unwrap();
    (0..1001).for_each(|i| big.push(i as f64).unwrap());
    assert_eq!(gate.export(&hub(), &q, &big, &mut SplitMix(5), 0).unwrap_err(), ExportError::WindowTooLarge { len: 1001, max: 1000 });
    assert_eq!(gate.account(&hub()).unwrap().spent, Allowance::default());
    assert!(gate.log().all(|r| matches!(r.outcome, Outcome::Refused(_)) && r.charged == Allowance::default()));

    // Budgets, names, bounds, windows, configuration.
    assert_eq!(gate.add_recipient(hub(), 1.0, 0.0), Err(ExportError::RecipientExists(hub())));
    let r = Recipient::new("r").unwrap();
    assert_eq!(gate.add_recipient(r.clone(), f64::NAN, 0.0), Err(ExportError::Epsilon(ParamError::NaN)));
    assert_eq!(gate.add_recipient(r.clone(), -1.0, 0.0), Err(ExportError::Epsilon(ParamError::Negative)));
    assert_eq!(gate.add_recipient(r.clone(), 0.0, 0.0), Err(ExportError::Epsilon(ParamError::Zero)));
    assert_eq!(gate.add_recipient(r.clone(), 1.0, f64::INFINITY), Err(ExportError::Delta(ParamError::Infinite)));
    assert_eq!(gate.add_recipient(r.clone(), 1.0, -1e-9), Err(ExportError::Delta(ParamError::Negative)));
    assert_eq!(Recipient::new(""), Err(NameError::Empty));
    assert_eq!(Recipient::new("a b"), Err(NameError::BadByte(1)));
    assert_eq!(QueryName::new(&"x".repeat(65)), Err(NameError::TooLong(65)));
    assert_eq!(Bounds::new(1.0, 1.0), Err(BoundsError::Empty));
    assert_eq!(Bounds::new(f64::NAN, 1.0), Err(BoundsError::NonFinite));
    assert_eq!(SampleWindow::new(0).unwrap_err(), WindowError::Capacity);
    let mut tiny = SampleWindow::new(1).unwrap();
    assert_eq!(tiny.push(f64::NAN), Err(WindowError::NonFinite));
    tiny.push(1.0).unwrap();
    assert_eq!(tiny.push(2.0), Err(WindowError::Full));
    assert_eq!(ExportGate::new(GateConfig { max_window: 0, log_capacity: 1 }).unwrap_err(), ExportError::Config("max_window"));
    assert_eq!(ExportGate::new(GateConfig { max_window: 1, log_capacity: 0 }).unwrap_err(), ExportError::Config("log_capacity"));
}

fn busy_gate() -> ExportGate {
    let mut gate = ExportGate::new(CONFIG).unwrap();
    gate.add_recipient(hub(), 2.0, 1e-6).unwrap();
    gate.add_recipient(Recipient::new("operator").unwrap(), 0.5, 0.0).unwrap();
    let w = window((0..100).map(|i| i as f64 / 10.0));
    let mut rng = SplitMix(6);
    let b = Bounds::new(0.0, 10.0).unwrap();
    gate.export(&hub(), &query("flow.mean", Aggregate::Mean(b), laplace(0.4)), &w, &mut rng, 10).unwrap();
    gate.export(&hub(), &query("flow.sum", Aggregate::Sum(b), gaussian(0.5, 1e-7)), &w, &mut rng, 20).unwrap();
    let _ = gate.export(&Recipient::new("nobody").unwrap(), &query("x", Aggregate::Count, laplace(0.1)), &w, &mut rng, 30);
    gate
}

#[test]
fn ledger_round_trips_and_budgets_survive_a_reboot() {
    let gate = busy_gate();
    let bytes = gate.to_bytes();
    assert_eq!(bytes[..4], LEDGER_MAGIC);
    let mut reloaded = ExportGate::from_bytes(&bytes).unwrap();
    assert_eq!(reloaded, gate);
    assert_eq!(reloaded.log().count(), 3);
    // The reloaded gate keeps charging where the old one stopped.
    let spent = reloaded.account(&hub()).unwrap().spent.epsilon.micros();
    let w = window([1.0]);
    let q = query("c", Aggregate::Count, laplace(1.0));
    let left = 2_000_000 - spent;
    let fits = left / 1_000_001;
    let mut rng = SplitMix(7);
    for k in 0..fits {
        reloaded.export(&hub(), &q, &w, &mut rng, 100 + k).unwrap();
    }
    assert!(matches!(reloaded.export(&hub(), &q, &w, &mut rng, 200), Err(ExportError::BudgetExhausted { .. })));
}

#[test]
fn corrupt_or_truncated_ledgers_are_refused_never_reset() {
    let bytes = busy_gate().to_bytes();
    // Every truncation.
    for len in 0..bytes.len() {
        let err = ExportGate::from_bytes(&bytes[..len]).unwrap_err();
        assert!(matches!(err, LedgerError::Truncated | LedgerError::BadMagic), "{len}: {err:?}");
    }
    // Every single-bit flip in every byte (CRC-32C detects all bursts up to 32 bits).
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            assert!(ExportGate::from_bytes(&b).is_err(), "flip of bit {bit} in byte {i} accepted");
        }
    }
    let mut b = bytes.clone();
    b[0] = b'X';
    assert_eq!(ExportGate::from_bytes(&b), Err(LedgerError::BadMagic));
    let mut b = bytes.clone();
    b[4] = 2;
    assert_eq!(ExportGate::from_bytes(&b), Err(LedgerError::UnsupportedVersion(2)));
    let mut b = bytes.clone();
    b.push(0);
    assert_eq!(ExportGate::from_bytes(&b), Err(LedgerError::TrailingBytes));
    let mut b = bytes.clone();
    let n = b.len();
    b[n - 1] ^= 0xff;
    assert!(matches!(ExportGate::from_bytes(&b), Err(LedgerError::Checksum { .. })));
    // Garbage with a valid frame and checksum.
    assert_eq!(ExportGate::from_bytes(&frame(&[0xff; 7])), Err(LedgerError::Malformed));
}

/// A ledger frame around an arbitrary payload, with a correct checksum.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = LEDGER_MAGIC.to_vec();
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn well_framed_but_inconsistent_ledgers_are_refused() {
    let encode = |config: GateConfig, accounts: BTreeMap<Recipient, Account>, log: Vec<ExportRecord>| {
        frame(&postcard::to_allocvec(&(config, accounts, log, 0u64)).unwrap())
    };
    let ok = Allowance { epsilon: Epsilon::from_micros(10), delta: Delta::ZERO };
    let over = Allowance { epsilon: Epsilon::from_micros(11), delta: Delta::ZERO };
    let accounts = |spent| BTreeMap::from([(hub(), Account { budget: ok, spent })]);
    // The hand-built frame is accepted when consistent (so the refusals below are about content).
    assert!(ExportGate::from_bytes(&encode(CONFIG, accounts(ok), vec![])).is_ok());
    assert_eq!(ExportGate::from_bytes(&encode(CONFIG, accounts(over), vec![])), Err(LedgerError::Invalid("spent exceeds budget")));
    let zero = BTreeMap::from([(hub(), Account { budget: Allowance::default(), spent: Allowance::default() })]);
    assert_eq!(ExportGate::from_bytes(&encode(CONFIG, zero, vec![])), Err(LedgerError::Invalid("budget epsilon")));
    let bad_config = GateConfig { max_window: 0, log_capacity: 1 };
    assert_eq!(ExportGate::from_bytes(&encode(bad_config, accounts(ok), vec![])), Err(LedgerError::Invalid("max_window")));
    let record = |v| ExportRecord {
        at: 0,
        recipient: hub(),
        query: QueryName::new("q").unwrap(),
        kind: AggregateKind::Count,
        charged: Allowance::default(),
        outcome: Outcome::Released(v),
    };
    let small = GateConfig { max_window: 10, log_capacity: 1 };
    assert_eq!(
        ExportGate::from_bytes(&encode(small, accounts(ok), vec![record(1.0), record(2.0)])),
        Err(LedgerError::Invalid("log longer than its capacity"))
    );
    assert_eq!(
        ExportGate::from_bytes(&encode(CONFIG, accounts(ok), vec![record(f64::NAN)])),
        Err(LedgerError::Invalid("non-finite released value"))
    );
    // An invalid name inside a well-formed payload.
    let raw = postcard::to_allocvec(&(
        CONFIG,
        BTreeMap::from([("bad name".to_string(), Account { budget: ok, spent: ok })]),
        Vec::<ExportRecord>::new(),
        0u64,
    ))
    .unwrap();
    assert_eq!(ExportGate::from_bytes(&frame(&raw)), Err(LedgerError::Malformed));
}

#[test]
fn the_log_keeps_its_capacity_and_counts_what_it_dropped() {
    let mut gate = ExportGate::new(GateConfig { max_window: 1000, log_capacity: 3 }).unwrap();
    gate.add_recipient(hub(), 10.0, 0.0).unwrap();
    let w = window([1.0]);
    let mut rng = SplitMix(8);
    for k in 0..5 {
        gate.export(&hub(), &query("c", Aggregate::Count, laplace(0.5)), &w, &mut rng, k).unwrap();
    }
    assert_eq!(gate.log().map(|r| r.at).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(gate.log_dropped(), 2);
}

#[test]
fn only_the_noised_aggregate_leaves() {
    // A window holding one distinctive secret among ordinary readings.
    let secret = 7.123_456_789;
    let mut w = window((0..99).map(|i| (i % 5) as f64));
    w.push(secret).unwrap();
    let exact_sum: f64 = (0..99).map(|i| (i % 5) as f64).sum::<f64>() + secret;
    // Debug output of the window shows no sample.
    let shown = format!("{w:?}");
    assert!(!shown.contains("7.12") && shown.contains("len: 100"), "{shown}");
    let mut gate = ExportGate::new(CONFIG).unwrap();
    gate.add_recipient(hub(), 100.0, 0.0).unwrap();
    let q = query("s", Aggregate::Sum(Bounds::new(0.0, 8.0).unwrap()), laplace(1.0));
    let mut values = Vec::new();
    for seed in 0..50 {
        let r = gate.export(&hub(), &q, &w, &mut SplitMix(seed), seed).unwrap();
        // The release is the noised sum: on the snapping grid (Λ = 1 in sensitivity units,
        // so multiples of the sensitivity, 8 inflated by the float-sum slack of 2·10⁻¹⁰) and
        // never the exact sum or the secret.
        let k = r.value / 8.0;
        assert!((k - k.round()).abs() < 1e-6, "{}", r.value);
        assert_ne!(r.value, exact_sum);
        values.push(r.value);
    }
    // Different randomness, different releases; all near the exact sum (Laplace scale 8).
    values.sort_by(f64::total_cmp);
    values.dedup();
    assert!(values.len() > 5, "{values:?}");
    assert!(values.iter().all(|v| (v - exact_sum).abs() < 8.0 * 12.0), "{values:?}");
    // The log holds the released values only.
    assert!(gate.log().all(|r| matches!(r.outcome, Outcome::Released(v) if (v / 8.0 - (v / 8.0).round()).abs() < 1e-6)));
}

fn stats(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (mean, (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt())
}

#[test]
fn released_values_have_the_calibrated_noise() {
    let w = window((0..500).map(|i| (i % 11) as f64));
    let exact_sum: f64 = (0..500).map(|i| (i % 11) as f64).sum();
    let b = Bounds::new(0.0, 10.0).unwrap();
    // A fresh gate per mechanism: each section spends up to 500 ε.
    let fresh = || {
        let mut gate = ExportGate::new(CONFIG).unwrap();
        gate.add_recipient(hub(), 1000.0, 0.5).unwrap();
        gate
    };
    let mut gate = fresh();
    let mut rng = SplitMix(9);

    // Gaussian sum: σ = Δ·√(2 ln(1.25/δ))/ε with Δ = 10, ε = 0.5, δ = 1e-6 ≈ 105.97.
    let sigma = 10.0 * (2.0 * (1.25e6f64).ln()).sqrt() / 0.5;
    let q = query("g", Aggregate::Sum(b), gaussian(0.5, 1e-6));
    let xs: Vec<f64> = (0..1000).map(|k| gate.export(&hub(), &q, &w, &mut rng, k).unwrap().value).collect();
    let (mean, std) = stats(&xs);
    // Standard errors: σ/√1000 ≈ 3.4 for the mean, σ/√2000 ≈ 2.4 for the std.
    assert!((mean - exact_sum).abs() < 12.0, "mean {mean} vs {exact_sum}");
    assert!((std - sigma).abs() < 0.08 * sigma, "std {std} vs {sigma}");

    // Laplace count, ε = 0.5: λ = 2 = Λ, so out − 500 is Laplace(2) rounded to multiples of 2,
    // with E|out − 500| = 2·Σ k·c·e^−k (c = e^½ − e^−½) ≈ 1.919.
    let c = 0.5f64.exp() - (-0.5f64).exp();
    let expected_abs: f64 = (1..200).map(|k| 2.0 * k as f64 * c * (-(k as f64)).exp()).sum();
    let q = query("c", Aggregate::Count, laplace(0.5));
    let mut gate = fresh();
    let xs: Vec<f64> = (0..1000).map(|k| gate.export(&hub(), &q, &w, &mut rng, 2000 + k).unwrap().value).collect();
    let (mean, _) = stats(&xs);
    let mean_abs = xs.iter().map(|x| (x - 500.0).abs()).sum::<f64>() / xs.len() as f64;
    assert!((mean - 500.0).abs() < 0.3, "{mean}");
    assert!((mean_abs - expected_abs).abs() < 0.2, "{mean_abs} vs {expected_abs}");

    // Laplace mean over [0, 10]: unbiased up to the clamp, tight for 500 samples.
    let exact_mean = exact_sum / 500.0;
    let q = query("m", Aggregate::Mean(b), laplace(1.0));
    let mut gate = fresh();
    let xs: Vec<f64> = (0..500).map(|k| gate.export(&hub(), &q, &w, &mut rng, 4000 + k).unwrap().value).collect();
    assert!(xs.iter().all(|x| (0.0..=10.0).contains(x)));
    let (mean, std) = stats(&xs);
    assert!((mean - exact_mean).abs() < 0.05 && std < 0.2 && std > 0.0, "mean {mean} (exact {exact_mean}), std {std}");
}

/// The worked example of docs/twin.md, number for number.
#[test]
fn worked_example_of_the_docs() {
    let mut gate = ExportGate::new(GateConfig { max_window: 1000, log_capacity: 256 }).unwrap();
    gate.add_recipient(hub(), 1.0, 1e-6).unwrap();
    let budget = gate.account(&hub()).unwrap().budget;
    // The f64 nearest 1e-6 is 9.99999999999999955e-7: the budget rounds down by one fδ.
    assert_eq!((budget.epsilon.micros(), budget.delta.femtos()), (1_000_000, 999_999_999));
    let mut rng = SplitMix(2026);
    let flow = window((0..600).map(|i| 12.0 + (i % 7) as f64 * 0.5));
    let power = window((0..600).map(|i| 300.0 + (i % 13) as f64));

    let q1 = query("pump.flow.mean.1h", Aggregate::Mean(Bounds::new(0.0, 20.0).unwrap()), laplace(0.2));
    let r1 = gate.export(&hub(), &q1, &flow, &mut rng, 3_600_000).unwrap();
    assert_eq!(r1.charged.epsilon.micros(), 200_002);
    assert!((r1.value - 13.5).abs() < 1.0, "{}", r1.value);

    let q2 = query("power.sum.1h", Aggregate::Sum(Bounds::new(0.0, 500.0).unwrap()), gaussian(0.5, 1e-7));
    let r2 = gate.export(&hub(), &q2, &power, &mut rng, 3_600_001).unwrap();
    assert_eq!((r2.charged.epsilon.micros(), r2.charged.delta.femtos()), (500_000, 100_000_000));
    assert_eq!((r2.remaining.epsilon.micros(), r2.remaining.delta.femtos()), (299_998, 899_999_999));

    let q3 = query("pump.flow.mean.1h", Aggregate::Mean(Bounds::new(0.0, 20.0).unwrap()), laplace(0.3));
    let err = gate.export(&hub(), &q3, &flow, &mut rng, 7_200_000).unwrap_err();
    assert_eq!(
        err.to_string(),
        "privacy budget of hub-7 exhausted: remaining ε = 299998 µε, δ = 899999999 fδ, query needs ε = 300001 µε, δ = 0 fδ"
    );
    eprintln!("released mean {} sum {}; ledger {} bytes", r1.value, r2.value, gate.to_bytes().len());
}
