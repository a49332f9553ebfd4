//! Breadth-first exploration of every operation sequence up to a depth, with visited-state
//! deduplication by fingerprint, checking every invariant after every transition.

use crate::invariants::{self, Invariant, Step};
use crate::memory::Memory;
use crate::op::{self, Op, Rejection};
use crate::universe::Universe;
use crate::work::Entry;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};
use tileos_kernel::cspace::SlotRef;

/// Figures of an exploration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Distinct states reached, the initial one included.
    pub states: u64,
    /// Accepted operations applied (each one checked), including those leading to states
    /// already visited.
    pub transitions: u64,
    /// Operations the decoder rejected.
    pub rejected: u64,
    /// New distinct states first reached at each depth (index 0: the initial state).
    pub levels: Vec<u64>,
    /// Time spent so far.
    pub elapsed: Duration,
    /// Most slot accesses made by one operation without preemption points (copy, mint,
    /// move, mutate, rotate, retype).
    pub worst_atomic: u64,
    /// Most slot accesses made by one kernel entry of one unit of work (a delete or revoke
    /// step).
    pub worst_unit_entry: u64,
}

impl Stats {
    /// Deepest level at which a new state was found.
    pub fn max_depth(&self) -> usize {
        self.levels.iter().rposition(|&n| n > 0).unwrap_or(0)
    }

    /// Keeps the costliest entries seen.
    fn record_work(&mut self, entries: &[Entry]) {
        for entry in entries {
            let worst = if entry.budget.is_some() { &mut self.worst_unit_entry } else { &mut self.worst_atomic };
            *worst = (*worst).max(entry.accesses.total());
        }
    }
}

/// An invariant that failed, with the operations leading to the failure from the initial
/// state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// What was observed.
    pub detail: String,
    /// Operations from the initial state; the last one broke the invariant (empty: the
    /// initial state itself is bad).
    pub trace: Vec<Op>,
}

impl Violation {
    /// A readable report: the invariant, the detail and the numbered trace.
    pub fn report(&self, universe: &Universe) -> String {
        let mut text = format!("invariant {} ({:?}) violated: {}\n", self.invariant.number(), self.invariant, self.detail);
        for (i, op) in self.trace.iter().enumerate() {
            text.push_str(&format!("  {}. {}\n", i + 1, op.describe(universe)));
        }
        text
    }
}

/// What one operation did to a state.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The decoder refused it; the state is unchanged.
    Rejected(Rejection),
    /// It was carried out and every invariant holds on the result; the cost of each of its
    /// kernel entries.
    Applied(Memory, Vec<Entry>),
}

/// Decodes and applies `op` to `before` (whose addressable slots are `slots`), then checks
/// every invariant on the transition.
pub fn apply(universe: &Universe, before: &Memory, slots: &[SlotRef], op: &Op) -> Result<Outcome, (Invariant, String)> {
    let invocation = match op::decode(universe, before, slots, op) {
        Ok(invocation) => invocation,
        Err(rejection) => return Ok(Outcome::Rejected(rejection)),
    };
    let mut after = before.clone();
    let ran = op::invoke(&mut after, &invocation);
    let log = after.take_log();
    let step =
        Step { universe, before, op: Some((op, &invocation)), after: &after, log: &log, blocked: !ran.finished, entries: &ran.entries };
    invariants::check(&step)?;
    Ok(Outcome::Applied(after, ran.entries))
}

/// Checks the initial state of `universe`.
pub fn check_initial(universe: &Universe) -> Result<Memory, Box<Violation>> {
    let initial = universe.initial_state();
    invariants::check(&Step { universe, before: &initial, op: None, after: &initial, log: &[], blocked: false, entries: &[] })
        .map_err(|(invariant, detail)| Box::new(Violation { invariant, detail, trace: Vec::new() }))?;
    Ok(initial)
}

/// Why a given trace could not be run to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceError {
    /// Operation `index` (0-based) was rejected by the decoder.
    Rejected {
        /// Position in the trace.
        index: usize,
        /// The decoder's answer.
        rejection: Rejection,
    },
    /// An invariant failed.
    Violation(Box<Violation>),
}

/// Runs `trace` from the initial state, checking every step; returns the final state.
pub fn run_trace(universe: &Universe, trace: &[Op]) -> Result<Memory, TraceError> {
    let mut memory = check_initial(universe).map_err(TraceError::Violation)?;
    for (index, op) in trace.iter().enumerate() {
        let slots = universe.addressable_slots(&memory);
        match apply(universe, &memory, &slots, op) {
            Ok(Outcome::Applied(after, _)) => memory = after,
            Ok(Outcome::Rejected(rejection)) => return Err(TraceError::Rejected { index, rejection }),
            Err((invariant, detail)) => {
                return Err(TraceError::Violation(Box::new(Violation { invariant, detail, trace: trace[..=index].to_vec() })));
            }
        }
    }
    Ok(memory)
}

/// Hasher for fingerprints, which are already uniformly distributed: folds the 128 bits.
#[derive(Default)]
struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
    fn write_u128(&mut self, value: u128) {
        self.0 ^= (value as u64) ^ ((value >> 64) as u64);
    }
}

/// A state waiting to be expanded, with how it was reached.
struct Node {
    memory: Memory,
    trace: Vec<Op>,
}

/// How often [`explore`] calls its progress callback, at most.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(3);

/// What to explore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Longest operation sequence explored.
    pub depth: usize,
    /// Keep exploring after a violation, recording the first (shortest) counterexample for
    /// each invariant and operation kind and not expanding the states violations lead to;
    /// otherwise stop at the first violation.
    pub keep_going: bool,
}

/// The result of an exploration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Figures.
    pub stats: Stats,
    /// Counterexamples found, shortest first (at most one per invariant and operation kind).
    pub violations: Vec<Violation>,
}

/// Explores every sequence of up to `config.depth` operations from the initial state of
/// `universe`, breadth first, checking every invariant after every transition. Calls
/// `progress` with the figures so far about every [`PROGRESS_INTERVAL`].
pub fn explore(universe: &Universe, config: Config, progress: &mut dyn FnMut(&Stats)) -> Report {
    let start = Instant::now();
    let mut last_report = start;
    let mut report = Report::default();
    let initial = match check_initial(universe) {
        Ok(initial) => initial,
        Err(violation) => {
            report.violations.push(*violation);
            return report;
        }
    };
    let stats = &mut report.stats;
    let mut visited: HashSet<u128, BuildHasherDefault<FingerprintHasher>> = HashSet::default();
    visited.insert(initial.fingerprint());
    *stats = Stats { states: 1, levels: vec![1], ..Stats::default() };
    let mut frontier = vec![Node { memory: initial, trace: Vec::new() }];
    for level in 1..=config.depth {
        stats.levels.push(0);
        let mut next = Vec::new();
        for node in frontier {
            let slots = universe.addressable_slots(&node.memory);
            for op in Op::all(universe, &slots) {
                let after = match apply(universe, &node.memory, &slots, &op) {
                    Ok(Outcome::Rejected(_)) => {
                        stats.rejected += 1;
                        continue;
                    }
                    Ok(Outcome::Applied(after, entries)) => {
                        stats.record_work(&entries);
                        after
                    }
                    Err((invariant, detail)) => {
                        stats.transitions += 1;
                        let known = |v: &Violation| {
                            v.invariant == invariant && v.trace.last().map(std::mem::discriminant) == Some(std::mem::discriminant(&op))
                        };
                        if !report.violations.iter().any(known) {
                            let mut trace = node.trace.clone();
                            trace.push(op);
                            report.violations.push(Violation { invariant, detail, trace });
                        }
                        if !config.keep_going {
                            stats.elapsed = start.elapsed();
                            return report;
                        }
                        continue;
                    }
                };
                stats.transitions += 1;
                if visited.insert(after.fingerprint()) {
                    stats.states += 1;
                    stats.levels[level] += 1;
                    if level < config.depth {
                        let mut trace = node.trace.clone();
                        trace.push(op);
                        next.push(Node { memory: after, trace });
                    }
                }
                if stats.transitions % 1024 == 0 && last_report.elapsed() >= PROGRESS_INTERVAL {
                    last_report = Instant::now();
                    stats.elapsed = start.elapsed();
                    progress(stats);
                }
            }
        }
        frontier = next;
    }
    stats.elapsed = start.elapsed();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::CNODE_A;
    use tileos_kernel::cspace::slot_address;

    #[test]
    fn the_deepest_level_is_the_last_with_new_states() {
        let stats = |levels: Vec<u64>| Stats { levels, ..Stats::default() };
        assert_eq!(stats(vec![1, 5, 7]).max_depth(), 2);
        assert_eq!(stats(vec![1, 5, 0]).max_depth(), 1, "a level without new states does not count");
        assert_eq!(stats(vec![1]).max_depth(), 0);
        assert_eq!(stats(Vec::new()).max_depth(), 0);
    }

    #[test]
    fn the_worst_figures_are_the_costliest_entries_of_each_kind() {
        // Depth 1 of the small universe: every operation of the initial state, applied one by
        // one here, gives the maxima the exploration must report.
        let universe = Universe::small();
        let report = explore(&universe, Config { depth: 1, keep_going: false }, &mut |_| {});
        assert!(report.violations.is_empty());
        let initial = universe.initial_state();
        let slots = universe.addressable_slots(&initial);
        let (mut atomic, mut unit) = (0, 0);
        for op in Op::all(&universe, &slots) {
            if let Ok(Outcome::Applied(_, entries)) = apply(&universe, &initial, &slots, &op) {
                for entry in entries {
                    let worst = if entry.budget.is_some() { &mut unit } else { &mut atomic };
                    *worst = (*worst).max(entry.accesses.total());
                }
            }
        }
        assert!(atomic > 0 && unit > 0 && atomic != unit, "atomic {atomic}, unit {unit}");
        assert_eq!((report.stats.worst_atomic, report.stats.worst_unit_entry), (atomic, unit));
        // Every distinct state is counted once, the initial one (level 0) included.
        assert_eq!(report.stats.states, report.stats.levels.iter().sum::<u64>(), "{:?}", report.stats);
        assert_eq!(report.stats.levels[0], 1);
    }

    #[test]
    fn progress_is_reported_at_most_once_per_interval() {
        let universe = Universe::small();
        let mut calls = 0u64;
        let report = explore(&universe, Config { depth: 2, keep_going: false }, &mut |_| calls += 1);
        assert!(report.stats.transitions > 1024, "{:?}", report.stats);
        let intervals = report.stats.elapsed.as_secs() / PROGRESS_INTERVAL.as_secs();
        assert!(calls <= intervals, "{calls} progress calls in {:?}", report.stats.elapsed);
    }

    #[test]
    fn a_report_names_the_invariant_and_numbers_the_trace() {
        let universe = Universe::standard();
        let a = |index| slot_address(CNODE_A, index);
        let violation = Violation {
            invariant: Invariant::RightsNeverGrow,
            detail: "detail".into(),
            trace: vec![Op::Copy { src: a(1), dest: a(3) }, Op::Delete { slot: a(3) }],
        };
        assert_eq!(violation.report(&universe), "invariant 2 (RightsNeverGrow) violated: detail\n  1. Copy A1 -> A3\n  2. Delete A3\n");
    }
}
