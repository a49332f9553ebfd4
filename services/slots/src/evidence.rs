//! Evidence about one module: how its answers compared with the incumbent's, and the noise of
//! the incumbent against its own replica.

use crate::{Ratio, SlotPolicy, Ticks};

/// Latency statistics of one side of the compared requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// Answers measured.
    pub samples: u64,
    /// Sum of their latencies (saturating).
    pub sum: Ticks,
    /// The longest.
    pub max: Ticks,
}

impl Latency {
    /// Adds one answer's latency.
    #[inline]
    fn record(&mut self, latency: Ticks) {
        self.samples = self.samples.saturating_add(1);
        self.sum = self.sum.saturating_add(latency);
        self.max = self.max.max(latency);
    }

    /// The mean latency, `None` before the first answer.
    pub fn mean(&self) -> Option<Ticks> {
        self.sum.checked_div(self.samples)
    }
}

/// The incumbent against its second replica ([`crate::Comparator::NoiseCancelled`]): how often
/// two copies of the same program disagree on the same request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Noise {
    /// Requests both answered.
    pub compared: u64,
    /// Of those, how many answers differed.
    pub disagreeing: u64,
}

impl Noise {
    /// Counts one comparison of the replica's answer with the incumbent's.
    pub(crate) fn record(&mut self, agree: bool) {
        self.compared = self.compared.saturating_add(1);
        if !agree {
            self.disagreeing = self.disagreeing.saturating_add(1);
        }
    }
}

/// Counts against and for one module, compared with the module serving the slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Answers that agreed.
    pub agreeing: u64,
    /// Answers that differed.
    pub disagreeing: u64,
    /// Requests not answered within the answer deadline (they count as disagreeing).
    pub timeouts: u64,
    /// Requests not compared because the mirror was paced: their copies were skipped while
    /// the mirrored module's seat caught up ([`crate::Slot::copy_skipped`]). Neither
    /// agreeing nor disagreeing nor a timeout, and not in [`Evidence::compared`].
    pub skipped: u64,
    /// Faults of the module.
    pub faults: u32,
    /// Answers slower than the policy's latency bound times the incumbent's answer to the same
    /// request (compared as usual besides).
    pub slow: u64,
    /// The module's latencies over the answered requests.
    pub latency: Latency,
    /// The serving module's latencies over the same requests.
    pub incumbent_latency: Latency,
}

/// A challenger's answers counted on the narrow path ([`crate::Slot::copy_answer`]) and not yet
/// folded into its [`Evidence`]: what [`Evidence::record_answer`] would have recorded for them,
/// kept as plain totals so that an answer costs a count, not the evidence's saturating
/// bookkeeping. [`Evidence::fold`] adds them in: saturating additions of non-negative numbers
/// are associative, so the evidence after the fold is exactly the evidence of recording each
/// answer in turn (the maxima likewise). The slot folds before anything reads or changes the
/// module's evidence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Answers counted (at most one per request: it cannot wrap).
    pub(crate) answers: u64,
    /// Of those, how many agreed.
    pub(crate) agreeing: u64,
    /// Of those, how many were slow.
    pub(crate) slow: u64,
    /// The module's latencies: their sum (saturating) and the longest.
    pub(crate) latency_sum: Ticks,
    /// The longest of the module's latencies.
    pub(crate) latency_max: Ticks,
    /// The serving module's latencies over the same requests: their sum (saturating).
    pub(crate) incumbent_sum: Ticks,
    /// The longest of the serving module's latencies.
    pub(crate) incumbent_max: Ticks,
}

impl Tally {
    /// Counts one answer as [`Evidence::record_answer`] would record it.
    #[inline(always)]
    pub(crate) fn record(&mut self, agree: bool, latency: Ticks, incumbent_latency: Ticks, bound: Ratio) {
        // Counts of answers, one per request at most: wrapping never happens (u64 requests).
        self.answers = self.answers.wrapping_add(1);
        self.agreeing = self.agreeing.wrapping_add(u64::from(agree));
        self.slow = self.slow.wrapping_add(u64::from(slower_than(latency, incumbent_latency, bound)));
        self.latency_sum = self.latency_sum.saturating_add(latency);
        self.latency_max = self.latency_max.max(latency);
        self.incumbent_sum = self.incumbent_sum.saturating_add(incumbent_latency);
        self.incumbent_max = self.incumbent_max.max(incumbent_latency);
    }
}

/// The first criterion of the policy that a module's evidence does not meet, checked in this
/// order: faults, disagreement, agreeing answers, latency, soak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortfall {
    /// More faults than the policy allows.
    TooManyFaults {
        /// Faults seen.
        faults: u32,
        /// Faults allowed.
        allowed: u32,
    },
    /// The share of disagreeing and timed-out answers, less the noise, is above the policy's.
    TooMuchDisagreement {
        /// Disagreeing answers.
        disagreeing: u64,
        /// Timeouts.
        timeouts: u64,
        /// Requests compared (agreeing + disagreeing + timeouts).
        compared: u64,
        /// The noise subtracted (zero unless noise-cancelled).
        noise: Noise,
        /// The policy's allowance.
        allowed: Ratio,
    },
    /// Too few agreeing answers yet.
    TooFewAgreeing {
        /// Agreeing answers.
        agreeing: u64,
        /// Needed.
        needed: u64,
    },
    /// Mean latency above the bound times the incumbent's.
    TooSlow {
        /// The module's mean latency.
        mean: Ticks,
        /// The incumbent's mean latency over the same requests.
        incumbent_mean: Ticks,
        /// The policy's bound.
        bound: Ratio,
    },
    /// Not shadowed long enough.
    SoakTooShort {
        /// How long it has shadowed.
        soaked: Ticks,
        /// How long it must.
        needed: Ticks,
    },
}

/// `part / whole` with both shifted right until `whole` fits 32 bits: exact below 2^32
/// requests, a close approximation above, and products of three such values fit `u128`.
fn narrowed(part: u64, whole: u64) -> (u128, u128) {
    let shift = (64 - whole.leading_zeros()).saturating_sub(32);
    (u128::from(part >> shift), u128::from(whole >> shift))
}

/// Whether `latency` is above `bound` times `incumbent_latency`: `latency · den > incumbent ·
/// num`, exactly. In `u64` when both products fit (each latency below 2^32 ticks, ≈ 71
/// minutes, fits whatever the bound), else in `u128`: the same comparison either way.
#[inline]
fn slower_than(latency: Ticks, incumbent_latency: Ticks, bound: Ratio) -> bool {
    match (latency.checked_mul(u64::from(bound.den)), incumbent_latency.checked_mul(u64::from(bound.num))) {
        (Some(slow), Some(allowed)) => slow > allowed,
        _ => u128::from(latency) * u128::from(bound.den) > u128::from(incumbent_latency) * u128::from(bound.num),
    }
}

impl Evidence {
    /// Requests compared: agreeing, disagreeing and timed out.
    pub fn compared(&self) -> u64 {
        self.agreeing.saturating_add(self.disagreeing).saturating_add(self.timeouts)
    }

    /// Counts one answer: whether it agreed, its latency and the serving module's latency for
    /// the same request (`bound`: the policy's latency bound, which makes it slow).
    #[inline(always)]
    pub(crate) fn record_answer(&mut self, agree: bool, latency: Ticks, incumbent_latency: Ticks, bound: Ratio) {
        let counter = if agree { &mut self.agreeing } else { &mut self.disagreeing };
        *counter = counter.saturating_add(1);
        if slower_than(latency, incumbent_latency, bound) {
            self.slow = self.slow.saturating_add(1);
        }
        self.latency.record(latency);
        self.incumbent_latency.record(incumbent_latency);
    }

    /// Adds the narrow path's `tally` in (and empties it): the evidence is then what recording
    /// each of its answers with [`Evidence::record_answer`] would have made it.
    #[inline]
    pub(crate) fn fold(&mut self, tally: &mut Tally) {
        if tally.answers == 0 {
            return;
        }
        let t = core::mem::take(tally);
        self.agreeing = self.agreeing.saturating_add(t.agreeing);
        self.disagreeing = self.disagreeing.saturating_add(t.answers - t.agreeing);
        self.slow = self.slow.saturating_add(t.slow);
        for (side, sum, max) in
            [(&mut self.latency, t.latency_sum, t.latency_max), (&mut self.incumbent_latency, t.incumbent_sum, t.incumbent_max)]
        {
            side.samples = side.samples.saturating_add(t.answers);
            side.sum = side.sum.saturating_add(sum);
            side.max = side.max.max(max);
        }
    }

    /// Counts a request the module did not answer in time.
    pub(crate) fn record_timeout(&mut self) {
        self.timeouts = self.timeouts.saturating_add(1);
    }

    /// Counts a request whose copy was skipped (not compared).
    pub(crate) fn record_skipped(&mut self) {
        self.skipped = self.skipped.saturating_add(1);
    }

    /// Counts `n` requests whose copies were skipped.
    pub(crate) fn record_skipped_many(&mut self, n: u64) {
        self.skipped = self.skipped.saturating_add(n);
    }

    /// Counts a fault.
    pub(crate) fn record_fault(&mut self) {
        self.faults = self.faults.saturating_add(1);
    }

    /// Whether the module's disagreement rate, less the noise rate, is above `allowed`:
    /// `(disagreeing + timeouts) / compared − noise.disagreeing / noise.compared > allowed`,
    /// where a noise with no comparisons counts as 0 and the difference is taken exactly (a
    /// negative difference never exceeds). Without noise cancellation pass `Noise::default()`.
    pub fn disagreement_exceeds(&self, allowed: Ratio, noise: Noise) -> bool {
        let against = self.disagreeing.saturating_add(self.timeouts);
        let (c, n) = narrowed(against, self.compared());
        if n == 0 {
            return false;
        }
        let (d, m) = narrowed(noise.disagreeing, noise.compared);
        if m == 0 {
            return allowed.exceeded_by(against, self.compared());
        }
        // c/n − d/m > num/den  ⇔  (c·m − d·n)·den > num·n·m, all terms positive.
        let (num, den) = (u128::from(allowed.num), u128::from(allowed.den));
        (c * m).checked_sub(d * n).is_some_and(|excess| excess * den > num * n * m)
    }

    /// Whether the module's mean latency is above `bound` times the serving module's mean over
    /// the same requests.
    pub fn too_slow(&self, bound: Ratio) -> bool {
        u128::from(self.latency.sum) * u128::from(bound.den) > u128::from(self.incumbent_latency.sum) * u128::from(bound.num)
    }

    /// The first criterion of `policy` this evidence does not meet after `soaked` ticks of
    /// shadowing, `None` if it meets them all.
    pub fn shortfall(&self, policy: &SlotPolicy, noise: Noise, soaked: Ticks) -> Option<Shortfall> {
        if self.faults > policy.max_faults {
            return Some(Shortfall::TooManyFaults { faults: self.faults, allowed: policy.max_faults });
        }
        if self.disagreement_exceeds(policy.max_disagreement, noise) {
            return Some(Shortfall::TooMuchDisagreement {
                disagreeing: self.disagreeing,
                timeouts: self.timeouts,
                compared: self.compared(),
                noise,
                allowed: policy.max_disagreement,
            });
        }
        if self.agreeing < policy.min_agreeing {
            return Some(Shortfall::TooFewAgreeing { agreeing: self.agreeing, needed: policy.min_agreeing });
        }
        if self.too_slow(policy.latency_bound) {
            return Some(Shortfall::TooSlow {
                mean: self.latency.mean().unwrap_or(0),
                incumbent_mean: self.incumbent_latency.mean().unwrap_or(0),
                bound: policy.latency_bound,
            });
        }
        if soaked < policy.min_soak {
            return Some(Shortfall::SoakTooShort { soaked, needed: policy.min_soak });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(agreeing: u64, disagreeing: u64, timeouts: u64) -> Evidence {
        Evidence { agreeing, disagreeing, timeouts, ..Evidence::default() }
    }

    #[test]
    fn timeouts_count_as_disagreement() {
        let allowed = Ratio { num: 1, den: 10 };
        assert!(!evidence(90, 5, 5,).disagreement_exceeds(allowed, Noise::default()));
        assert!(evidence(89, 5, 6).disagreement_exceeds(allowed, Noise::default()));
    }

    #[test]
    fn noise_is_subtracted_exactly() {
        // Challenger 30/100 = 0.30, noise 25/100 = 0.25: excess 0.05.
        let e = evidence(70, 30, 0);
        let noise = Noise { compared: 100, disagreeing: 25 };
        assert!(!e.disagreement_exceeds(Ratio { num: 5, den: 100 }, noise));
        assert!(e.disagreement_exceeds(Ratio { num: 4, den: 100 }, noise));
        // A challenger quieter than the noise never exceeds.
        assert!(!evidence(99, 1, 0).disagreement_exceeds(Ratio { num: 0, den: 1 }, noise));
        // No noise samples: nothing is subtracted.
        assert!(e.disagreement_exceeds(Ratio { num: 29, den: 100 }, Noise::default()));
    }

    #[test]
    fn huge_counts_neither_overflow_nor_flip_the_verdict() {
        let e = evidence(u64::MAX / 2, u64::MAX / 4, 0);
        let noise = Noise { compared: u64::MAX, disagreeing: u64::MAX / 8 };
        assert!(e.disagreement_exceeds(Ratio { num: 1, den: 10 }, noise));
        assert!(!e.disagreement_exceeds(Ratio { num: 3, den: 10 }, noise));
    }

    #[test]
    fn slow_answers_and_mean_latency_are_judged_against_the_incumbent() {
        let bound = Ratio { num: 3, den: 2 };
        let mut e = Evidence::default();
        e.record_answer(true, 15, 10, bound);
        assert_eq!((e.slow, e.too_slow(bound)), (0, false));
        e.record_answer(true, 40, 10, bound);
        assert_eq!((e.slow, e.too_slow(bound)), (1, true));
        assert_eq!((e.latency.mean(), e.latency.max, e.incumbent_latency.mean()), (Some(27), 40, Some(10)));
    }

    #[test]
    fn the_slowness_test_is_the_exact_comparison_where_products_overflow_u64() {
        let exact = |l: u64, i: u64, b: Ratio| u128::from(l) * u128::from(b.den) > u128::from(i) * u128::from(b.num);
        let values = [0, 1, 2, 3, 999, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 32) + 1, 1 << 40, u64::MAX / 3, u64::MAX - 1, u64::MAX];
        let bounds = [(1, 1), (3, 2), (2, 3), (1, u32::MAX), (u32::MAX, 1), (u32::MAX, u32::MAX), (0, 1), (4, 1)];
        for &l in &values {
            for &i in &values {
                for (num, den) in bounds {
                    let b = Ratio { num, den };
                    assert_eq!(slower_than(l, i, b), exact(l, i, b), "{l} {i} {b}");
                }
            }
        }
    }

    #[test]
    fn a_folded_tally_is_the_evidence_of_recording_each_answer() {
        let bound = Ratio { num: 3, den: 2 };
        let big = u64::MAX - 5;
        let answers = [(true, 15, 10), (false, 40, 10), (true, big, 3), (true, 7, big), (false, big, big), (true, 0, 0)];
        let start = Evidence { agreeing: u64::MAX - 1, disagreeing: 4, timeouts: 2, skipped: 1, faults: 1, slow: 3, ..Evidence::default() };
        for cut in 0..=answers.len() {
            let mut each = start;
            let mut batched = start;
            let mut tally = Tally::default();
            for (k, &(agree, latency, incumbent)) in answers.iter().enumerate() {
                each.record_answer(agree, latency, incumbent, bound);
                tally.record(agree, latency, incumbent, bound);
                if k + 1 == cut {
                    batched.fold(&mut tally);
                    assert_eq!(tally, Tally::default());
                }
            }
            batched.fold(&mut tally);
            assert_eq!(batched, each, "folded after {cut} answers and at the end");
        }
    }

    #[test]
    fn shortfalls_come_in_a_fixed_order() {
        let policy = SlotPolicy { min_agreeing: 10, min_soak: 100, ..SlotPolicy::default() };
        let mut e = evidence(10, 0, 0);
        e.latency = Latency { samples: 10, sum: 10, max: 1 };
        e.incumbent_latency = Latency { samples: 10, sum: 10, max: 1 };
        assert_eq!(e.shortfall(&policy, Noise::default(), 100), None);
        assert_eq!(e.shortfall(&policy, Noise::default(), 99), Some(Shortfall::SoakTooShort { soaked: 99, needed: 100 }));
        e.latency.sum = 16;
        assert!(matches!(e.shortfall(&policy, Noise::default(), 100), Some(Shortfall::TooSlow { mean: 1, incumbent_mean: 1, .. })));
        e.agreeing = 9;
        assert_eq!(e.shortfall(&policy, Noise::default(), 100), Some(Shortfall::TooFewAgreeing { agreeing: 9, needed: 10 }));
        e.disagreeing = 1;
        assert!(matches!(e.shortfall(&policy, Noise::default(), 100), Some(Shortfall::TooMuchDisagreement { disagreeing: 1, .. })));
        e.faults = 1;
        assert_eq!(e.shortfall(&policy, Noise::default(), 100), Some(Shortfall::TooManyFaults { faults: 1, allowed: 0 }));
    }
}
