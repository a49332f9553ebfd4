//! Measured independence between specialist lineages (seed `002_…` §10.2): "those who always
//! agree are not independent", so their joint vote counts as about one.
//!
//! For each pair of lineages the history counts *informative* canary events and, of those,
//! *dependent* ones:
//!
//! - on a class-A/B canary (a known right answer) the event is informative when at least one
//!   of the two erred, and dependent when both erred with the same wrong answer (shared blind
//!   spot); two right answers say nothing about independence;
//! - on a class-C canary (no right answer) every joint answer is informative, and dependent
//!   when the two agree.
//!
//! The dependence `ρ = dependent / informative` is 1 for the same lineage, and also 1 (assumed
//! dependent) while a pair has fewer than `min_evidence` informative events: independence is
//! earned, not presumed. The effective number of independent voters of a group with weights
//! `w` is `(Σ w_i)² / Σ_ij w_i·w_j·ρ_ij`: `n` for `n` independent equal voters, 1 for any
//! number that always agree.

use alloc::collections::BTreeMap;
use alloc::string::String;

use crate::text::same_answer;

/// One lineage's answer to a canary, for [`AgreementHistory::record`].
#[derive(Clone, Copy, Debug)]
pub struct CanaryAnswer<'a> {
    /// The answering specialist's base-model lineage.
    pub lineage: &'a str,
    /// Its answer.
    pub answer: &'a str,
    /// Whether it was right (class A/B), or `None` for a class-C canary.
    pub correct: Option<bool>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PairStats {
    informative: u32,
    dependent: u32,
}

/// Pairwise agreement statistics of lineages over the canary history.
#[derive(Clone, Debug)]
pub struct AgreementHistory {
    pairs: BTreeMap<(String, String), PairStats>,
    min_evidence: u32,
}

fn key(a: &str, b: &str) -> (String, String) {
    if a <= b { (a.into(), b.into()) } else { (b.into(), a.into()) }
}

impl AgreementHistory {
    /// An empty history; pairs with fewer than `min_evidence` informative events count as
    /// fully dependent.
    pub fn new(min_evidence: u32) -> Self {
        AgreementHistory { pairs: BTreeMap::new(), min_evidence }
    }

    /// Records every lineage's answer to one canary. Answers from the same lineage are not
    /// compared with each other (a lineage is always dependent on itself).
    pub fn record(&mut self, answers: &[CanaryAnswer<'_>]) {
        for (i, a) in answers.iter().enumerate() {
            for b in &answers[i + 1..] {
                if a.lineage == b.lineage {
                    continue;
                }
                let (informative, dependent) = match (a.correct, b.correct) {
                    (Some(true), Some(true)) => (false, false),
                    (Some(x), Some(y)) => (true, !x && !y && same_answer(a.answer, b.answer)),
                    _ => (true, same_answer(a.answer, b.answer)),
                };
                if informative {
                    let s = self.pairs.entry(key(a.lineage, b.lineage)).or_default();
                    s.informative = s.informative.saturating_add(1);
                    s.dependent = s.dependent.saturating_add(u32::from(dependent));
                }
            }
        }
    }

    /// The dependence `ρ ∈ [0, 1]` of two lineages (see the module documentation).
    pub fn dependence(&self, a: &str, b: &str) -> f64 {
        if a == b {
            return 1.0;
        }
        match self.pairs.get(&key(a, b)) {
            Some(s) if s.informative >= self.min_evidence && s.informative > 0 => f64::from(s.dependent) / f64::from(s.informative),
            _ => 1.0,
        }
    }

    /// The evidence of a pair of lineages: its informative canary events and, of those, the
    /// dependent ones (both zero for a pair never seen, and for a lineage with itself).
    pub fn evidence(&self, a: &str, b: &str) -> (u32, u32) {
        match self.pairs.get(&key(a, b)) {
            Some(s) if a != b => (s.informative, s.dependent),
            _ => (0, 0),
        }
    }

    /// Informative events a pair needs before it can count as independent.
    pub fn min_evidence(&self) -> u32 {
        self.min_evidence
    }

    /// The effective number of independent voters among `lineages` with `weights` (same
    /// length; non-negative). Zero when the weights sum to zero.
    pub fn effective_voters(&self, lineages: &[&str], weights: &[f64]) -> f64 {
        let total: f64 = weights.iter().sum();
        let mut denom = 0.0;
        let n = lineages.len().min(weights.len());
        for i in 0..n {
            denom += weights[i] * weights[i];
            for j in i + 1..n {
                denom += 2.0 * weights[i] * weights[j] * self.dependence(lineages[i], lineages[j]);
            }
        }
        if denom > 0.0 { total * total / denom } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ans<'a>(lineage: &'a str, answer: &'a str, correct: Option<bool>) -> CanaryAnswer<'a> {
        CanaryAnswer { lineage, answer, correct }
    }

    #[test]
    fn lineages_that_always_agree_count_as_one() {
        let mut h = AgreementHistory::new(5);
        for i in 0..20 {
            let shared = if i % 2 == 0 { "x" } else { "y" };
            let own = if i % 3 == 0 { "p" } else { "q" };
            let other = if i % 3 == 1 { "p" } else { "r" };
            h.record(&[ans("qwen", shared, None), ans("qwen-distill", shared, None), ans("mistral", own, None), ans("olmo", other, None)]);
        }
        assert_eq!(h.dependence("qwen", "qwen-distill"), 1.0);
        assert_eq!(h.evidence("qwen-distill", "qwen"), (20, 20));
        assert_eq!(h.evidence("qwen", "qwen"), (0, 0));
        assert_eq!(h.evidence("qwen", "nobody"), (0, 0));
        let same = h.effective_voters(&["qwen", "qwen-distill"], &[1.0, 1.0]);
        assert!((same - 1.0).abs() < 1e-12, "{same}");
        let diverse = h.effective_voters(&["qwen", "mistral", "olmo"], &[1.0, 1.0, 1.0]);
        assert!(diverse > 2.0, "{diverse}");
        assert_eq!(h.effective_voters(&["a"], &[0.0]), 0.0);
    }

    #[test]
    fn shared_wrong_answers_are_dependence_and_right_answers_are_not_evidence() {
        let mut h = AgreementHistory::new(3);
        for _ in 0..10 {
            h.record(&[ans("a", "42", Some(true)), ans("b", "42", Some(true))]);
        }
        assert_eq!(h.dependence("a", "b"), 1.0, "no informative events yet: assumed dependent");
        for _ in 0..3 {
            h.record(&[ans("a", "41", Some(false)), ans("b", "41", Some(false))]);
            h.record(&[ans("a", "40", Some(false)), ans("b", "42", Some(true))]);
            h.record(&[ans("a", "7", Some(false)), ans("b", "8", Some(false))]);
        }
        assert!((h.dependence("a", "b") - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(h.dependence("a", "a"), 1.0);
    }

    #[test]
    fn unknown_pairs_are_assumed_dependent() {
        let h = AgreementHistory::new(1);
        assert_eq!(h.dependence("new", "other"), 1.0);
        let n = h.effective_voters(&["new", "other", "third"], &[1.0, 1.0, 1.0]);
        assert!((n - 1.0).abs() < 1e-12);
    }
}
