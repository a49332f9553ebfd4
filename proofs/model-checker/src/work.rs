//! Bounded work: what one kernel entry of an operation costs, in slot reads and writes made
//! by the kernel's real capability code (counted by [`Memory`], nothing added to the
//! kernel), and the bounds the checker holds every entry to (invariant 9).
//!
//! The unit is the kernel's preemption point: CNodeDelete and CNodeRevoke run
//! `cspace::delete_step`/`revoke_step` with a `Work` budget per kernel entry and restart
//! the system call when it runs out (docs/architecture.md, "Preemption points"). An entry
//! given `budget` units may take at most `budget` × [`ACCESSES_PER_UNIT`] +
//! [`ACCESSES_PER_ENTRY`] accesses, whatever the state. The other operations the checker
//! explores (copy, mint, move, mutate, rotate, retype's insertion) are one entry each, with
//! no preemption point, and must stay within [`ATOMIC_ACCESSES`].
//!
//! These are checked bounds, not proved ones: the exhaustive runs check them on every
//! transition of the explored universes, and `tests/bounded_work.rs` on chains of 2 to 256
//! CNodes; neither is a proof that they hold for every state.

use crate::memory::{Accesses, Memory};
use tileos_kernel::cspace::{self, Progress, SlotRef, Work};

/// Slot accesses one unit of work may take. The costliest unit starts the destruction of a
/// CNode found in the slot being emptied: `is_final` (3 reads), a swap of the two zombies
/// with its relinking (up to 12 accesses) and three zombie updates (2 each).
pub const ACCESSES_PER_UNIT: u64 = 32;

/// Fixed slot accesses of one kernel entry of a delete or revoke besides its units: looking
/// at the target and its CDT neighbour, the final check that nothing is left to revoke.
pub const ACCESSES_PER_ENTRY: u64 = 24;

/// Slot accesses of an operation with no preemption point (copy, mint, move, mutate,
/// rotate, retype of one object): a constant number of slots is touched, the CDT
/// neighbours of at most three slots.
pub const ATOMIC_ACCESSES: u64 = 24;

/// One kernel entry of an operation and what it cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Units of work the entry was given (`None`: an operation without preemption points).
    pub budget: Option<u64>,
    /// Slot reads and writes it made.
    pub accesses: Accesses,
}

impl Entry {
    /// The most slot accesses this entry may make.
    pub fn bound(&self) -> u64 {
        match self.budget {
            Some(units) => units.saturating_mul(ACCESSES_PER_UNIT).saturating_add(ACCESSES_PER_ENTRY),
            None => ATOMIC_ACCESSES,
        }
    }
}

/// Checks every entry against its bound; the error names the first entry over it.
pub fn check(entries: &[Entry]) -> Result<(), String> {
    for (index, entry) in entries.iter().enumerate() {
        if entry.accesses.total() > entry.bound() {
            let given = entry.budget.map_or("an atomic operation".to_string(), |units| format!("a budget of {units} units"));
            return Err(format!(
                "kernel entry {} ({given}) made {} slot accesses ({} reads, {} writes), over its bound of {}",
                index + 1,
                entry.accesses.total(),
                entry.accesses.reads,
                entry.accesses.writes,
                entry.bound()
            ));
        }
    }
    Ok(())
}

/// Runs `step` as the kernel runs a preemptible invocation: one call per kernel entry with
/// a fresh budget of `budget` units, again from the anchor it returns, until it is done.
/// Each entry's cost is appended to `entries`. With `only_one`, stops after the first entry
/// (a call preempted at once). Returns `false` if a step met a zombie another deletion
/// works on (the kernel's DeletionInProgress).
fn run_entries(
    memory: &mut Memory,
    at: SlotRef,
    budget: u64,
    only_one: bool,
    entries: &mut Vec<Entry>,
    step: impl Fn(&mut Memory, SlotRef, &mut Work) -> Result<Progress, cspace::InProgress>,
) -> bool {
    memory.take_accesses();
    let mut anchor = at;
    loop {
        let progress = step(memory, anchor, &mut Work::new(budget));
        entries.push(Entry { budget: Some(budget), accesses: memory.take_accesses() });
        match progress {
            Ok(Progress::Preempted { anchor: next }) if !only_one => anchor = next,
            Ok(_) => return true,
            Err(cspace::InProgress) => return false,
        }
    }
}

/// CNodeDelete of `at` in kernel entries of `budget` units (`cspace::delete_step`); see
/// `run_entries`.
pub fn delete_in_entries(memory: &mut Memory, at: SlotRef, budget: u64, only_one: bool, entries: &mut Vec<Entry>) -> bool {
    run_entries(memory, at, budget, only_one, entries, |memory, anchor, work| cspace::delete_step(memory, anchor, SlotRef::NONE, work))
}

/// CNodeRevoke of `at` in kernel entries of `budget` units (`cspace::revoke_step`, always
/// called on `at`); see `run_entries`.
pub fn revoke_in_entries(memory: &mut Memory, at: SlotRef, budget: u64, only_one: bool, entries: &mut Vec<Entry>) -> bool {
    run_entries(memory, at, budget, only_one, entries, |memory, _, work| cspace::revoke_step(memory, at, work))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(budget: Option<u64>, reads: u64, writes: u64) -> Entry {
        Entry { budget, accesses: Accesses { reads, writes } }
    }

    #[test]
    fn entries_over_their_bound_are_reported() {
        assert_eq!(check(&[entry(None, 10, 14), entry(Some(1), 50, 6)]), Ok(()));
        let error = check(&[entry(Some(1), 50, 7)]).unwrap_err();
        assert!(
            error.contains("entry 1 (a budget of 1 units) made 57 slot accesses (50 reads, 7 writes), over its bound of 56"),
            "{error}"
        );
        let error = check(&[entry(Some(64), 1, 1), entry(None, 20, 5)]).unwrap_err();
        assert!(error.contains("entry 2 (an atomic operation) made 25"), "{error}");
        assert_eq!(entry(Some(u64::MAX), 0, 0).bound(), u64::MAX, "no overflow");
    }
}
