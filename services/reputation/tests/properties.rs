//! Property tests: the `w_max` bound for arbitrary node sets, and the O(1) decayed record
//! against the seed's sums evaluated directly.

use proptest::prelude::*;
use tileos_reputation::{Audit, Params, TopicRecord, vote_weights};

/// Reputations mostly within twelve orders of magnitude, with some exact zeros and some
/// extremes (largest finite, subnormal) to exercise overflow and underflow.
fn reputation() -> impl Strategy<Value = f64> {
    prop_oneof![
        2 => Just(0.0),
        8 => (-6.0f64..6.0).prop_map(|e| 10f64.powf(e)),
        1 => prop_oneof![Just(f64::MAX), Just(1e300), Just(f64::MIN_POSITIVE), Just(5e-324)],
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn w_max_bound_holds_exactly_when_achievable(
        r in prop::collection::vec(reputation(), 1..40),
        w_max in 0.01f64..=1.0,
    ) {
        let p = Params { w_max, ..Params::default() };
        // Nodes that count: positive, and not ~1e308 times below the top one.
        let top = r.iter().copied().fold(0.0, f64::max);
        let n = r.iter().filter(|x| **x > 0.0 && *x / top >= f64::MIN_POSITIVE).count();
        let v = match vote_weights(&p, &r) {
            Err(e) => {
                prop_assert_eq!(n, 0);
                prop_assert_eq!(e, tileos_reputation::Error::NoPositiveReputation);
                return Ok(());
            }
            Ok(v) => v,
        };
        let sum: f64 = v.weights.iter().sum();
        prop_assert!((sum - 1.0).abs() < 1e-9);
        let max = v.weights.iter().copied().fold(0.0, f64::max);
        let cover = n as f64 * w_max;
        if cover > 1.0 + 1e-9 { prop_assert!(v.bound_met); }
        if cover < 1.0 - 1e-9 { prop_assert!(!v.bound_met); }
        if v.bound_met {
            prop_assert!(max <= w_max * (1.0 + 1e-9), "max {} > w_max {}", max, w_max);
            // Clip no more than needed: if anyone is clipped, the top share is at w_max.
            if r.iter().any(|x| *x > v.theta) {
                prop_assert!(max >= w_max * (1.0 - 1e-9));
            }
        } else {
            for (x, w) in r.iter().zip(&v.weights) {
                let expect = if *x > 0.0 && *x / top >= f64::MIN_POSITIVE { 1.0 / n as f64 } else { 0.0 };
                prop_assert!((w - expect).abs() < 1e-12);
            }
        }
        // Clipping never reorders nodes.
        for i in 0..r.len() {
            for j in 0..r.len() {
                if r[i] >= r[j] { prop_assert!(v.weights[i] >= v.weights[j]); }
            }
        }
    }

    #[test]
    fn record_matches_direct_sums_in_any_arrival_order(
        audits in prop::collection::vec((0.0f64..500.0, 0.01f64..=1.0, 0.0f64..=1.0), 0..60),
        extra in 0.0f64..200.0,
    ) {
        let p = Params::default();
        let mut rec = TopicRecord::new();
        for &(time, difficulty, outcome) in &audits {
            rec.record(&p, Audit { time, difficulty, outcome }).unwrap();
        }
        let now = audits.iter().map(|a| a.0).fold(0.0, f64::max) + extra;
        let lambda = core::f64::consts::LN_2 / p.half_life;
        let n: f64 = audits.iter().map(|a| a.1 * (-lambda * (now - a.0)).exp()).sum();
        let nc: f64 = audits.iter().map(|a| a.1 * (-lambda * (now - a.0)).exp() * a.2).sum();
        let got = rec.reputation(&p, 0.0, now).unwrap();
        prop_assert!((got.mass - n).abs() <= 1e-9 * (1.0 + n));
        let shrunk = (nc + p.kappa * p.prior_competence) / (n + p.kappa);
        prop_assert!((got.competence - shrunk).abs() < 1e-9);
        prop_assert!((got.raw - shrunk * n.powf(p.gamma)).abs() <= 1e-9 * (1.0 + got.raw));
    }
}
