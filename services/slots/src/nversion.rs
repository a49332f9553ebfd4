//! N-version mode: three lineages (independently written implementations) of one service
//! answer every request, the majority answer is delivered, and a lineage that keeps dissenting
//! is replaced by the slot's fallback.

/// What three lineages' answers to one request decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteOutcome<'a> {
    /// All three agree: deliver this answer (lineage 0's).
    Unanimous(&'a [u8]),
    /// Two agree: deliver their answer (the first of the two's); the third dissented (a
    /// lineage that gave no answer, by fault or timeout, dissents too).
    Majority {
        /// The answer to deliver.
        answer: &'a [u8],
        /// The lineage (0, 1 or 2) that dissented.
        dissenter: usize,
    },
    /// No two answers agree (or fewer than two came): nothing can be delivered on the
    /// lineages' word, and no lineage can be blamed. The slot manager answers the client from
    /// the fallback, or with an error.
    NoMajority,
}

/// The vote on `answers` (one per lineage, `None` for a lineage that faulted or timed out),
/// with `agree(a, b)` deciding agreement (the slot's comparator, [`crate::Comparator::agree`]).
/// Pairs are tried in the order (0, 1), (0, 2), (1, 2).
pub fn vote<'a>(answers: [Option<&'a [u8]>; 3], agree: impl Fn(&[u8], &[u8]) -> bool) -> VoteOutcome<'a> {
    let pair = |i: usize, j: usize| match (answers[i], answers[j]) {
        (Some(a), Some(b)) if agree(a, b) => Some(a),
        _ => None,
    };
    match (pair(0, 1), pair(0, 2), pair(1, 2)) {
        (Some(a), Some(_), _) | (Some(a), _, Some(_)) => VoteOutcome::Unanimous(a),
        (Some(answer), None, None) => VoteOutcome::Majority { answer, dissenter: 2 },
        (None, Some(answer), _) => VoteOutcome::Majority { answer, dissenter: 1 },
        (None, None, Some(answer)) => VoteOutcome::Majority { answer, dissenter: 0 },
        (None, None, None) => VoteOutcome::NoMajority,
    }
}

/// A lineage is to be replaced by the slot's fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replacement {
    /// The lineage (0, 1 or 2).
    pub lineage: usize,
    /// The dissents that got it replaced (one more than the threshold).
    pub dissents: u32,
}

/// The dissent record of a slot's three lineages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NVersion {
    /// Dissents a lineage may accumulate; the next one replaces it.
    replace_after: u32,
    /// Dissents of each lineage since it started (or was last replaced).
    dissents: [u32; 3],
    /// How often each lineage position has been replaced by the fallback.
    replacements: [u32; 3],
}

impl NVersion {
    /// A record where a lineage is replaced at its `replace_after + 1`st dissent.
    pub fn new(replace_after: u32) -> NVersion {
        NVersion { replace_after, dissents: [0; 3], replacements: [0; 3] }
    }

    /// Counts `outcome`: a dissenter is flagged (its count grows) and, past the threshold,
    /// returned for replacement, its count starting again from zero for the fallback.
    pub fn record(&mut self, outcome: &VoteOutcome<'_>) -> Option<Replacement> {
        let VoteOutcome::Majority { dissenter, .. } = *outcome else { return None };
        let count = &mut self.dissents[dissenter];
        *count = count.saturating_add(1);
        if *count <= self.replace_after {
            return None;
        }
        let dissents = core::mem::take(count);
        self.replacements[dissenter] = self.replacements[dissenter].saturating_add(1);
        Some(Replacement { lineage: dissenter, dissents })
    }

    /// Dissents of each lineage since it started or was replaced (flagged when non-zero).
    pub fn dissents(&self) -> [u32; 3] {
        self.dissents
    }

    /// How often each lineage position has been handed to the fallback.
    pub fn replacements(&self) -> [u32; 3] {
        self.replacements
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(a: &[u8], b: &[u8]) -> bool {
        a == b
    }

    #[test]
    fn unanimous_majority_and_no_majority() {
        assert_eq!(vote([Some(b"x"), Some(b"x"), Some(b"x")], eq), VoteOutcome::Unanimous(b"x"));
        assert_eq!(vote([Some(b"x"), Some(b"x"), Some(b"y")], eq), VoteOutcome::Majority { answer: b"x", dissenter: 2 });
        assert_eq!(vote([Some(b"x"), Some(b"y"), Some(b"x")], eq), VoteOutcome::Majority { answer: b"x", dissenter: 1 });
        assert_eq!(vote([Some(b"y"), Some(b"x"), Some(b"x")], eq), VoteOutcome::Majority { answer: b"x", dissenter: 0 });
        assert_eq!(vote([Some(b"x"), None, Some(b"x")], eq), VoteOutcome::Majority { answer: b"x", dissenter: 1 });
        assert_eq!(vote([Some(b"x"), Some(b"y"), Some(b"z")], eq), VoteOutcome::NoMajority);
        assert_eq!(vote([Some(b"x"), None, None], eq), VoteOutcome::NoMajority);
    }

    #[test]
    fn a_lineage_is_replaced_past_the_threshold_and_starts_again() {
        let mut n = NVersion::new(2);
        let dissent = VoteOutcome::Majority { answer: b"x", dissenter: 1 };
        assert_eq!(n.record(&dissent), None);
        assert_eq!(n.record(&VoteOutcome::Unanimous(b"x")), None);
        assert_eq!(n.record(&VoteOutcome::NoMajority), None);
        assert_eq!(n.record(&dissent), None);
        assert_eq!(n.dissents(), [0, 2, 0]);
        assert_eq!(n.record(&dissent), Some(Replacement { lineage: 1, dissents: 3 }));
        assert_eq!((n.dissents(), n.replacements()), ([0, 0, 0], [0, 1, 0]));
    }
}
