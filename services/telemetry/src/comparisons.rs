//! A slot's comparisons as cumulative totals, for the immune system's disagreement
//! detector (docs/telemetry.md, "The immune system").
//!
//! A slot keeps evidence per module, and a module's evidence starts again at a promotion
//! and is forgotten when the module leaves the slot. The slot manager reports totals that
//! only grow: [`ComparisonTotals::update`] takes the modules' evidence as it is now and
//! adds what changed since the previous update (a module whose evidence went down started
//! again: all of it is new). What a module gathered between the last update and leaving the
//! slot is not counted (bounded by the manager's reporting interval).

/// Modules followed at once (a slot has at most 32 seats).
pub const MAX_MODULES: usize = 32;

/// One module's comparisons as its evidence says now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModuleComparisons {
    /// The module.
    pub module: u32,
    /// Mirrored answers compared, timeouts included.
    pub compared: u64,
    /// Of them, disagreeing or timed out.
    pub disagreeing: u64,
}

/// Cumulative comparison totals of a slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComparisonTotals {
    /// Mirrored answers compared so far (timeouts included).
    pub compared: u64,
    /// Of them, disagreeing or timed out.
    pub disagreeing: u64,
    /// Each module's evidence at the previous update (the first `seen_len`).
    seen: [ModuleComparisons; MAX_MODULES],
    /// Modules in `seen`.
    seen_len: usize,
}

impl ComparisonTotals {
    /// Adds what the modules' evidence gained since the previous update; whether the
    /// totals changed. Modules beyond [`MAX_MODULES`] are not counted.
    pub fn update(&mut self, modules: impl IntoIterator<Item = ModuleComparisons>) -> bool {
        let mut now = [ModuleComparisons::default(); MAX_MODULES];
        let before = (self.compared, self.disagreeing);
        let mut count = 0;
        for module in modules.into_iter().take(MAX_MODULES) {
            now[count] = module;
            count += 1;
            let previous = self.seen[..self.seen_len].iter().find(|seen| seen.module == module.module).copied();
            let (compared, disagreeing) = match previous {
                Some(seen) if module.compared >= seen.compared && module.disagreeing >= seen.disagreeing => {
                    (module.compared - seen.compared, module.disagreeing - seen.disagreeing)
                }
                // New, or its evidence started again.
                _ => (module.compared, module.disagreeing),
            };
            self.compared = self.compared.saturating_add(compared);
            self.disagreeing = self.disagreeing.saturating_add(disagreeing.min(compared));
        }
        (self.seen, self.seen_len) = (now, count);
        (self.compared, self.disagreeing) != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(module: u32, compared: u64, disagreeing: u64) -> ModuleComparisons {
        ModuleComparisons { module, compared, disagreeing }
    }

    #[test]
    fn totals_grow_by_what_changed_and_a_restarted_evidence_counts_whole() {
        let mut totals = ComparisonTotals::default();
        assert!(!totals.update([]));
        assert!(totals.update([module(1, 10, 1)]));
        assert!(totals.update([module(1, 30, 1), module(2, 5, 5)]));
        assert_eq!((totals.compared, totals.disagreeing), (35, 6));
        assert!(!totals.update([module(1, 30, 1), module(2, 5, 5)]), "nothing new");
        // Module 1 promoted: its evidence started again; module 2 left the slot.
        assert!(totals.update([module(1, 4, 0)]));
        assert_eq!((totals.compared, totals.disagreeing), (39, 6));
        // Module 2 again (a new install with the same number): counted whole.
        assert!(totals.update([module(1, 4, 0), module(2, 3, 1)]));
        assert_eq!((totals.compared, totals.disagreeing), (42, 7));
    }

    #[test]
    fn disagreeing_never_exceeds_compared_and_totals_saturate() {
        let mut totals = ComparisonTotals::default();
        totals.update([module(1, 2, 9)]);
        assert_eq!((totals.compared, totals.disagreeing), (2, 2));
        totals.update([module(1, u64::MAX, 2), module(2, u64::MAX, 0)]);
        assert_eq!(totals.compared, u64::MAX);
    }
}
