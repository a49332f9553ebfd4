//! The promotion policy and the comparators: what counts as agreement and how much evidence
//! a challenger needs.

use crate::Ticks;
use serde::{Deserialize, Serialize};

/// A non-negative ratio `num / den` (`den > 0`), compared exactly in integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ratio {
    /// Numerator.
    pub num: u32,
    /// Denominator, never 0 in a valid policy.
    pub den: u32,
}

impl Ratio {
    /// Whether `part / whole` is strictly above this ratio; never for `whole == 0`.
    pub fn exceeded_by(self, part: u64, whole: u64) -> bool {
        whole != 0 && u128::from(part) * u128::from(self.den) > u128::from(self.num) * u128::from(whole)
    }
}

impl core::fmt::Display for Ratio {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// How much evidence promotes a challenger, and how the promoted module is watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotPolicy {
    /// Agreeing answers a challenger needs before promotion (at least 1).
    pub min_agreeing: u64,
    /// Largest share of compared requests that may disagree or time out (after noise
    /// cancellation, [`crate::Evidence::disagreement_exceeds`]); at most 1.
    pub max_disagreement: Ratio,
    /// Faults a challenger may have and still be promoted; one more rejects it (0: none).
    pub max_faults: u32,
    /// Largest mean latency of a challenger as a ratio of the incumbent's mean latency over the
    /// same requests (`3/2`: at most 50 % slower; `1/1`: no slower). An answer slower than this
    /// ratio times the incumbent's answer to the same request is also counted as slow.
    pub latency_bound: Ratio,
    /// Shortest time a challenger shadows before promotion.
    pub min_soak: Ticks,
    /// How long the old incumbent is kept warm after a promotion, under the circuit breaker.
    pub rollback_window: Ticks,
    /// How long after mirroring a request a challenger's answer is awaited; later it counts as
    /// a timeout. The client never waits for it: the incumbent's answer is delivered at once.
    pub answer_deadline: Ticks,
    /// Compared answers after a promotion before the breaker judges latency (at least 1).
    pub breaker_latency_samples: u64,
    /// How long the promoted module may hold a request unanswered during the rollback window
    /// before the breaker takes it for hung (a loop or a wait for nothing, no fault) and rolls
    /// back ([`crate::Trip::Unanswered`]); at least `answer_deadline`, the limit a
    /// challenger's copy is held to.
    pub breaker_unanswered: Ticks,
    /// How long a *settled* serving module (no warm module to roll back to) may hold a
    /// request unanswered before its manager takes it for hung, stops it and restarts it as at
    /// a fault: the request it hung on answered `Failed`, its state lost. `None` (the
    /// default): never, as a module that is only slow (starved by busier domains) would lose
    /// its state too; at least `answer_deadline` when set.
    pub restart_unanswered: Option<Ticks>,
    /// Most challengers installed at once (at least 1).
    pub max_challengers: u8,
    /// Whether a challenger is promoted as soon as its evidence suffices (else it waits,
    /// promotable, for a manual promotion).
    pub auto_promote: bool,
}

impl Default for SlotPolicy {
    /// 1,000 agreeing answers, no disagreement, no fault, at most 50 % slower, a minute of
    /// soak, five minutes of rollback window, 100 ms answer deadline, latency judged after 32
    /// answers, a promoted module hung after 1 s unanswered, a settled one never restarted
    /// for it, two challengers, automatic promotion.
    fn default() -> SlotPolicy {
        SlotPolicy {
            min_agreeing: 1000,
            max_disagreement: Ratio { num: 0, den: 1 },
            max_faults: 0,
            latency_bound: Ratio { num: 3, den: 2 },
            min_soak: 60_000_000,
            rollback_window: 300_000_000,
            answer_deadline: 100_000,
            breaker_latency_samples: 32,
            breaker_unanswered: 1_000_000,
            restart_unanswered: None,
            max_challengers: 2,
            auto_promote: true,
        }
    }
}

/// Why a [`SlotPolicy`] is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// `min_agreeing` is 0: a challenger would be promoted on no evidence.
    NoAgreementRequired,
    /// `max_disagreement` has a zero denominator or is above 1.
    DisagreementNotAShare(Ratio),
    /// `latency_bound` has a zero denominator or is 0 (nothing could meet it).
    LatencyBoundInvalid(Ratio),
    /// `answer_deadline` is 0: every answer would be a timeout.
    ZeroAnswerDeadline,
    /// `breaker_latency_samples` is 0.
    NoBreakerSamples,
    /// `breaker_unanswered` is shorter than `answer_deadline`.
    UnansweredBelowDeadline {
        /// `breaker_unanswered`.
        unanswered: Ticks,
        /// `answer_deadline`.
        deadline: Ticks,
    },
    /// `restart_unanswered` is shorter than `answer_deadline`.
    RestartBelowDeadline {
        /// `restart_unanswered`.
        unanswered: Ticks,
        /// `answer_deadline`.
        deadline: Ticks,
    },
    /// `max_challengers` is 0.
    NoChallengers,
}

impl PolicyError {
    /// The `tile.toml` field the error is about (in the slot's `policy` table, or the slot's
    /// own `max_challengers`).
    pub fn field(self) -> &'static str {
        match self {
            PolicyError::NoAgreementRequired => "min_agreeing",
            PolicyError::DisagreementNotAShare(_) => "max_disagreement",
            PolicyError::LatencyBoundInvalid(_) => "latency_bound",
            PolicyError::ZeroAnswerDeadline => "answer_deadline_ms",
            PolicyError::NoBreakerSamples => "breaker_latency_samples",
            PolicyError::UnansweredBelowDeadline { .. } => "breaker_unanswered_ms",
            PolicyError::RestartBelowDeadline { .. } => "restart_unanswered_ms",
            PolicyError::NoChallengers => "max_challengers",
        }
    }
}

impl core::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PolicyError::NoAgreementRequired => f.write_str("must be at least 1 (a challenger needs some agreeing answers)"),
            PolicyError::DisagreementNotAShare(r) => write!(f, "{r} is not a share between 0/1 and 1/1"),
            PolicyError::LatencyBoundInvalid(r) => write!(f, "{r} is not a positive ratio"),
            PolicyError::ZeroAnswerDeadline => f.write_str("must be at least 1 ms"),
            PolicyError::NoBreakerSamples => f.write_str("must be at least 1"),
            PolicyError::UnansweredBelowDeadline { unanswered, deadline } => write!(
                f,
                "{} ms is shorter than answer_deadline_ms {} (a promoted module is held to no less than a challenger's copy)",
                unanswered / 1000,
                deadline / 1000
            ),
            PolicyError::RestartBelowDeadline { unanswered, deadline } => write!(
                f,
                "{} ms is shorter than answer_deadline_ms {} (a serving module is held to no less than a challenger's copy)",
                unanswered / 1000,
                deadline / 1000
            ),
            PolicyError::NoChallengers => f.write_str("must be at least 1"),
        }
    }
}

impl SlotPolicy {
    /// Checks the policy; [`crate::Slot::new`] and the system description's check use it.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let d = self.max_disagreement;
        let l = self.latency_bound;
        if self.min_agreeing == 0 {
            Err(PolicyError::NoAgreementRequired)
        } else if d.den == 0 || d.num > d.den {
            Err(PolicyError::DisagreementNotAShare(d))
        } else if l.den == 0 || l.num == 0 {
            Err(PolicyError::LatencyBoundInvalid(l))
        } else if self.answer_deadline == 0 {
            Err(PolicyError::ZeroAnswerDeadline)
        } else if self.breaker_latency_samples == 0 {
            Err(PolicyError::NoBreakerSamples)
        } else if self.breaker_unanswered < self.answer_deadline {
            Err(PolicyError::UnansweredBelowDeadline { unanswered: self.breaker_unanswered, deadline: self.answer_deadline })
        } else if let Some(unanswered) = self.restart_unanswered.filter(|&t| t < self.answer_deadline) {
            Err(PolicyError::RestartBelowDeadline { unanswered, deadline: self.answer_deadline })
        } else if self.max_challengers == 0 {
            Err(PolicyError::NoChallengers)
        } else {
            Ok(())
        }
    }
}

/// How a challenger's answer is compared with the incumbent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparator {
    /// Byte for byte.
    Exact,
    /// With the protocol's [`Equivalence`] (answers that differ only where the protocol says
    /// it does not matter, such as a timestamp).
    Equivalent,
    /// Byte for byte, for services that are not deterministic: a second replica of the
    /// incumbent answers too, and its disagreement rate with the incumbent (the noise) is
    /// subtracted from the challenger's ([`crate::Evidence::disagreement_exceeds`]).
    NoiseCancelled,
}

/// An equivalence of answers that a protocol provides for [`Comparator::Equivalent`].
pub trait Equivalence {
    /// Whether `other` answers the request as well as `incumbent` does.
    fn equivalent(&self, incumbent: &[u8], other: &[u8]) -> bool;
}

/// The equivalence of a protocol without one: byte equality.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExactOnly;

impl Equivalence for ExactOnly {
    fn equivalent(&self, incumbent: &[u8], other: &[u8]) -> bool {
        incumbent == other
    }
}

impl Comparator {
    /// Whether `other` agrees with `incumbent` under this comparator (`equivalence` is used
    /// only by [`Comparator::Equivalent`], and only for answers that differ byte for byte:
    /// an equivalence is reflexive, so identical answers agree without it, which spares
    /// the slot manager's protocol equivalence its two decodes).
    pub fn agree(self, equivalence: &dyn Equivalence, incumbent: &[u8], other: &[u8]) -> bool {
        match self {
            Comparator::Exact | Comparator::NoiseCancelled => incumbent == other,
            Comparator::Equivalent => incumbent == other || equivalence.equivalent(incumbent, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers equal up to ASCII case.
    struct CaseBlind;

    impl Equivalence for CaseBlind {
        fn equivalent(&self, a: &[u8], b: &[u8]) -> bool {
            a.eq_ignore_ascii_case(b)
        }
    }

    #[test]
    fn ratio_is_exceeded_only_strictly_and_never_on_no_samples() {
        let r = Ratio { num: 1, den: 100 };
        assert!(!r.exceeded_by(1, 100));
        assert!(r.exceeded_by(2, 100));
        assert!(!r.exceeded_by(5, 0));
        assert!(Ratio { num: 0, den: 1 }.exceeded_by(1, u64::MAX));
        assert!(!Ratio { num: 1, den: 1 }.exceeded_by(u64::MAX, u64::MAX));
    }

    #[test]
    fn the_default_policy_is_valid_and_each_invalid_field_is_named() {
        assert_eq!(SlotPolicy::default().validate(), Ok(()));
        let p = SlotPolicy::default;
        let cases = [
            (SlotPolicy { min_agreeing: 0, ..p() }, "min_agreeing"),
            (SlotPolicy { max_disagreement: Ratio { num: 2, den: 1 }, ..p() }, "max_disagreement"),
            (SlotPolicy { max_disagreement: Ratio { num: 0, den: 0 }, ..p() }, "max_disagreement"),
            (SlotPolicy { latency_bound: Ratio { num: 0, den: 1 }, ..p() }, "latency_bound"),
            (SlotPolicy { answer_deadline: 0, ..p() }, "answer_deadline_ms"),
            (SlotPolicy { breaker_latency_samples: 0, ..p() }, "breaker_latency_samples"),
            (SlotPolicy { breaker_unanswered: 99_999, ..p() }, "breaker_unanswered_ms"),
            (SlotPolicy { restart_unanswered: Some(99_999), ..p() }, "restart_unanswered_ms"),
            (SlotPolicy { max_challengers: 0, ..p() }, "max_challengers"),
        ];
        for (policy, field) in cases {
            assert_eq!(policy.validate().map_err(PolicyError::field), Err(field));
        }
    }

    #[test]
    fn comparators_use_the_protocols_equivalence_only_when_asked() {
        assert!(Comparator::Equivalent.agree(&CaseBlind, b"OK", b"ok"));
        assert!(!Comparator::Exact.agree(&CaseBlind, b"OK", b"ok"));
        assert!(!Comparator::NoiseCancelled.agree(&CaseBlind, b"OK", b"ok"));
        assert!(Comparator::Exact.agree(&ExactOnly, b"ok", b"ok"));
    }

    /// [`CaseBlind`], counting the answers it is asked about.
    #[derive(Default)]
    struct Counted(core::cell::Cell<u32>);

    impl Equivalence for Counted {
        fn equivalent(&self, a: &[u8], b: &[u8]) -> bool {
            self.0.set(self.0.get() + 1);
            CaseBlind.equivalent(a, b)
        }
    }

    #[test]
    fn identical_answers_agree_without_the_equivalence() {
        let counted = Counted::default();
        assert!(Comparator::Equivalent.agree(&counted, b"ok", b"ok"));
        assert!(Comparator::Equivalent.agree(&counted, b"", b""));
        assert_eq!(counted.0.get(), 0, "the equivalence was asked about identical answers");
        assert!(Comparator::Equivalent.agree(&counted, b"OK", b"ok"));
        assert!(!Comparator::Equivalent.agree(&counted, b"ok", b"no"));
        assert_eq!(counted.0.get(), 2);
    }
}
