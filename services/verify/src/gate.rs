//! The live verification gate (seed `002_…`, "Live verification gate"): an answer is
//! *verified* only by class A (its objective checker passed) or class C (independence-weighted
//! agreement of a provenance-diverse panel). T3 answers always need a human and are never
//! verified, whatever the checkers or the panel say.

use core::fmt;

use crate::arith::CheckOutcome;
use crate::independence::AgreementHistory;
use crate::rational::Rational;
use crate::text::same_answer;
use crate::tier::Tier;

/// The most answers a consensus panel may have.
pub const MAX_PANEL: usize = 16;

/// The gate's decision on one answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Class A: the objective checker passed.
    VerifiedByChecker,
    /// Class C: enough independent, weighted agreement.
    VerifiedByConsensus {
        /// Effective number of independent voters behind the answer.
        effective_voters: f64,
        /// Weighted share of the panel behind the answer.
        share: f64,
    },
    /// Class A: the checker computed a different value; the answer is wrong.
    Refuted(Rational),
    /// Class C: the panel did not agree enough (share below quorum).
    NoQuorum {
        /// Weighted share behind the most supported answer.
        share: f64,
    },
    /// Class C: the agreeing voters are too correlated to count as independent.
    Correlated {
        /// Effective number of independent voters behind the answer.
        effective_voters: f64,
    },
    /// Class C: every panel member shares one provenance; consensus is not evidence.
    PanelNotDiverse,
    /// T3: a human decides; the answer is not verified.
    NeedsHuman,
}

impl Verdict {
    /// Whether the answer may be returned as verified.
    pub fn is_verified(&self) -> bool {
        matches!(self, Verdict::VerifiedByChecker | Verdict::VerifiedByConsensus { .. })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::VerifiedByChecker => f.write_str("verified (class A checker)"),
            Self::VerifiedByConsensus { effective_voters, share } => {
                write!(f, "verified (class C: {effective_voters:.2} independent voters, {:.0}% share)", share * 100.0)
            }
            Self::Refuted(expected) => write!(f, "refuted by the class A checker (expected {expected})"),
            Self::NoQuorum { share } => write!(f, "unverified: no quorum ({:.0}% share)", share * 100.0),
            Self::Correlated { effective_voters } => {
                write!(f, "unverified: agreeing voters too correlated ({effective_voters:.2} independent)")
            }
            Self::PanelNotDiverse => f.write_str("unverified: panel has a single provenance"),
            Self::NeedsHuman => f.write_str("needs a human (T3)"),
        }
    }
}

/// Thresholds of the consensus route.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GateParams {
    /// Weighted share of the panel an answer needs, in (0.5, 1].
    pub quorum: f64,
    /// Effective independent voters an answer needs, ≥ 1.
    pub min_effective_voters: f64,
}

impl Default for GateParams {
    /// Two-thirds quorum and 1.5 effective voters (more than one lineage's worth).
    fn default() -> Self {
        GateParams { quorum: 2.0 / 3.0, min_effective_voters: 1.5 }
    }
}

/// One panel member's answer.
#[derive(Clone, Copy, Debug)]
pub struct PanelAnswer<'a> {
    /// Its base-model lineage.
    pub lineage: &'a str,
    /// Its provenance (operator/jurisdiction class).
    pub provenance: &'a str,
    /// The answer.
    pub answer: &'a str,
    /// Its vote weight (from reputation, e.g. `tileos_reputation::vote_weights`), ≥ 0.
    pub weight: f64,
}

/// Why the gate could not judge a panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateError {
    /// The panel is empty.
    EmptyPanel,
    /// The panel has more than [`MAX_PANEL`] answers.
    PanelTooLarge,
    /// The weight at this index is negative or not finite.
    BadWeight(usize),
    /// Every weight is zero.
    NoWeight,
    /// The parameters are out of range.
    BadParams,
}

impl fmt::Display for GateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyPanel => f.write_str("consensus panel is empty"),
            Self::PanelTooLarge => write!(f, "consensus panel larger than {MAX_PANEL}"),
            Self::BadWeight(i) => write!(f, "panel weight {i} is negative or not finite"),
            Self::NoWeight => f.write_str("every panel weight is zero"),
            Self::BadParams => f.write_str("gate parameters out of range"),
        }
    }
}

/// The class-A route: the checker's outcome decides (T3 still needs a human).
pub fn gate_checked(tier: Tier, outcome: CheckOutcome) -> Verdict {
    match (tier, outcome) {
        (Tier::T3, _) => Verdict::NeedsHuman,
        (_, CheckOutcome::Pass) => Verdict::VerifiedByChecker,
        (_, CheckOutcome::Fail(expected)) => Verdict::Refuted(expected),
    }
}

/// The class-C route: groups the panel's answers, takes the one with the largest weighted
/// share, and verifies it when the share reaches the quorum, its supporters are at least
/// `min_effective_voters` independent voters by `history`, and the panel spans at least two
/// provenances. Returns the verdict and the index of a panel answer carrying the winning
/// answer. T3 always gives [`Verdict::NeedsHuman`].
pub fn gate_consensus(
    tier: Tier,
    panel: &[PanelAnswer<'_>],
    history: &AgreementHistory,
    params: &GateParams,
) -> Result<(Verdict, usize), GateError> {
    if !(params.quorum > 0.5 && params.quorum <= 1.0 && params.min_effective_voters >= 1.0 && params.min_effective_voters.is_finite()) {
        return Err(GateError::BadParams);
    }
    if panel.is_empty() {
        return Err(GateError::EmptyPanel);
    }
    if panel.len() > MAX_PANEL {
        return Err(GateError::PanelTooLarge);
    }
    if let Some(i) = panel.iter().position(|p| !(p.weight.is_finite() && p.weight >= 0.0)) {
        return Err(GateError::BadWeight(i));
    }
    let total: f64 = panel.iter().map(|p| p.weight).sum();
    if total <= 0.0 {
        return Err(GateError::NoWeight);
    }
    // The most supported answer; ties go to the earliest panel position (the router's order).
    let support = |i: usize| -> f64 { panel.iter().filter(|p| same_answer(p.answer, panel[i].answer)).map(|p| p.weight).sum() };
    let mut best = 0;
    for i in 1..panel.len() {
        if support(i) > support(best) {
            best = i;
        }
    }
    if tier == Tier::T3 {
        return Ok((Verdict::NeedsHuman, best));
    }
    if panel.iter().all(|p| p.provenance == panel[0].provenance) {
        return Ok((Verdict::PanelNotDiverse, best));
    }
    let share = support(best) / total;
    if share < params.quorum {
        return Ok((Verdict::NoQuorum { share }, best));
    }
    // The supporters, gathered on the stack (the panel is at most MAX_PANEL long).
    let (mut lineages, mut weights, mut n) = ([""; MAX_PANEL], [0.0; MAX_PANEL], 0);
    for p in panel.iter().filter(|p| same_answer(p.answer, panel[best].answer)) {
        (lineages[n], weights[n]) = (p.lineage, p.weight);
        n += 1;
    }
    let effective_voters = history.effective_voters(&lineages[..n], &weights[..n]);
    if effective_voters < params.min_effective_voters {
        return Ok((Verdict::Correlated { effective_voters }, best));
    }
    Ok((Verdict::VerifiedByConsensus { effective_voters, share }, best))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::independence::CanaryAnswer;

    fn p<'a>(lineage: &'a str, provenance: &'a str, answer: &'a str) -> PanelAnswer<'a> {
        PanelAnswer { lineage, provenance, answer, weight: 1.0 }
    }

    /// qwen and qwen-ft always agree on class-C canaries; mistral and olmo answer on their own.
    fn history() -> AgreementHistory {
        let mut h = AgreementHistory::new(5);
        let answers = ["a", "b", "c", "d", "e", "f", "g", "h"];
        for i in 0..answers.len() {
            h.record(&[
                CanaryAnswer { lineage: "qwen", answer: answers[i], correct: None },
                CanaryAnswer { lineage: "qwen-ft", answer: answers[i], correct: None },
                CanaryAnswer { lineage: "mistral", answer: answers[(i + 1) % 8], correct: None },
                CanaryAnswer { lineage: "olmo", answer: answers[(i + 2) % 8], correct: None },
            ]);
        }
        h
    }

    #[test]
    fn class_a_decides_by_the_checker_and_t3_needs_a_human() {
        assert_eq!(gate_checked(Tier::T1, CheckOutcome::Pass), Verdict::VerifiedByChecker);
        assert_eq!(gate_checked(Tier::T1, CheckOutcome::Fail(Rational::int(3))), Verdict::Refuted(Rational::int(3)));
        assert_eq!(gate_checked(Tier::T3, CheckOutcome::Pass), Verdict::NeedsHuman);
        assert!(!Verdict::NeedsHuman.is_verified());
    }

    #[test]
    fn independent_diverse_agreement_verifies() {
        let h = history();
        let panel = [p("qwen", "cn", "Yes"), p("mistral", "eu", "yes"), p("olmo", "us", "yes ")];
        let (v, i) = gate_consensus(Tier::T2, &panel, &h, &GateParams::default()).unwrap();
        assert!(matches!(v, Verdict::VerifiedByConsensus { effective_voters, share } if effective_voters > 2.9 && share == 1.0), "{v:?}");
        assert_eq!(i, 0);
    }

    #[test]
    fn always_agreeing_lineages_count_as_one() {
        let h = history();
        // Three of four agree, but two of the three are qwen and its fine-tune: ~2 voters, and
        // with mistral dissenting the quorum is 3/4 yet only qwen+qwen-ft+olmo agree.
        let panel = [p("qwen", "cn", "x"), p("qwen-ft", "cn", "x"), p("olmo", "us", "x"), p("mistral", "eu", "y")];
        let (v, _) = gate_consensus(Tier::T2, &panel, &h, &GateParams::default()).unwrap();
        let Verdict::VerifiedByConsensus { effective_voters, .. } = v else { panic!("{v:?}") };
        assert!((effective_voters - 1.8).abs() < 0.01, "{effective_voters}");
        // qwen and its fine-tune alone against nobody: one voter's worth, not two.
        let pair = [p("qwen", "cn", "x"), p("qwen-ft", "eu", "x")];
        let (v, _) = gate_consensus(Tier::T2, &pair, &h, &GateParams::default()).unwrap();
        assert!(matches!(v, Verdict::Correlated { effective_voters } if (effective_voters - 1.0).abs() < 1e-9), "{v:?}");
    }

    #[test]
    fn disagreement_single_provenance_and_t3_are_not_verified() {
        let h = history();
        let split = [p("qwen", "cn", "x"), p("mistral", "eu", "y"), p("olmo", "us", "z")];
        let (v, _) = gate_consensus(Tier::T2, &split, &h, &GateParams::default()).unwrap();
        assert!(matches!(v, Verdict::NoQuorum { share } if (share - 1.0 / 3.0).abs() < 1e-12));
        let mono = [p("mistral", "eu", "x"), p("olmo", "eu", "x")];
        assert_eq!(gate_consensus(Tier::T2, &mono, &h, &GateParams::default()).unwrap().0, Verdict::PanelNotDiverse);
        let agree = [p("qwen", "cn", "x"), p("mistral", "eu", "x"), p("olmo", "us", "x")];
        assert_eq!(gate_consensus(Tier::T3, &agree, &h, &GateParams::default()).unwrap().0, Verdict::NeedsHuman);
    }

    #[test]
    fn a_heavy_voter_wins_the_share_but_stays_one_voter() {
        let h = history();
        let mut panel = [p("qwen", "cn", "x"), p("mistral", "eu", "y"), p("olmo", "us", "y")];
        panel[0].weight = 5.0;
        let (v, i) = gate_consensus(Tier::T2, &panel, &h, &GateParams::default()).unwrap();
        assert_eq!(i, 0);
        assert!(matches!(v, Verdict::Correlated { effective_voters } if (effective_voters - 1.0).abs() < 1e-12), "{v:?}");
        panel[0].weight = 1.5;
        let (v, i) = gate_consensus(Tier::T2, &panel, &h, &GateParams::default()).unwrap();
        assert_eq!(i, 1);
        assert!(matches!(v, Verdict::NoQuorum { share } if (share - 2.0 / 3.5).abs() < 1e-12), "{v:?}");
    }

    #[test]
    fn bad_panels_get_precise_errors() {
        let h = history();
        let g = GateParams::default();
        assert_eq!(gate_consensus(Tier::T2, &[], &h, &g), Err(GateError::EmptyPanel));
        let big = [p("a", "b", "c"); MAX_PANEL + 1];
        assert_eq!(gate_consensus(Tier::T2, &big, &h, &g), Err(GateError::PanelTooLarge));
        let mut nan = [p("a", "b", "c"), p("d", "e", "c")];
        nan[1].weight = f64::NAN;
        assert_eq!(gate_consensus(Tier::T2, &nan, &h, &g), Err(GateError::BadWeight(1)));
        let mut zero = [p("a", "b", "c")];
        zero[0].weight = 0.0;
        assert_eq!(gate_consensus(Tier::T2, &zero, &h, &g), Err(GateError::NoWeight));
        let bad = GateParams { quorum: 0.5, ..g };
        assert_eq!(gate_consensus(Tier::T2, &[p("a", "b", "c")], &h, &bad), Err(GateError::BadParams));
    }
}
