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

/// The check made on every transition: [`invariants::check`] (tests give a stricter one, to
/// explore a universe with violations).
pub type Check = fn(&Step) -> Result<(), (Invariant, String)>;

/// Decodes and applies `op` to `before` (whose addressable slots are `slots`), then checks
/// every invariant on the transition.
pub fn apply(universe: &Universe, before: &Memory, slots: &[SlotRef], op: &Op) -> Result<Outcome, (Invariant, String)> {
    apply_checked(universe, before, slots, op, invariants::check)
}

/// [`apply`] with `check` in place of [`invariants::check`].
pub fn apply_checked(
    universe: &Universe,
    before: &Memory,
    slots: &[SlotRef],
    op: &Op,
    check: Check,
) -> Result<Outcome, (Invariant, String)> {
    let invocation = match op::decode(universe, before, slots, op) {
        Ok(invocation) => invocation,
        Err(rejection) => return Ok(Outcome::Rejected(rejection)),
    };
    let mut after = before.clone();
    let ran = op::invoke(&mut after, &invocation);
    let log = after.take_log();
    let step =
        Step { universe, before, op: Some((op, &invocation)), after: &after, log: &log, blocked: !ran.finished, entries: &ran.entries };
    check(&step)?;
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
    explore_with(universe, config, PROGRESS_INTERVAL, invariants::check, progress)
}

/// [`explore`] with `check` in place of [`invariants::check`] on every transition (the
/// initial state is checked by [`check_initial`]), calling `progress` at the first multiple
/// of 1,024 transitions once `interval` has passed since the last call (or the start).
pub fn explore_with(universe: &Universe, config: Config, interval: Duration, check: Check, progress: &mut dyn FnMut(&Stats)) -> Report {
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
                let after = match apply_checked(universe, &node.memory, &slots, &op, check) {
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
                if stats.transitions % 1024 == 0 && last_report.elapsed() >= interval {
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
    use tileos_kernel::cap::Cap;
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

    /// The standard universe with a 512-byte untyped in `A0` (room for three 2-slot CNodes).
    fn with_three_cnodes() -> Universe {
        let mut universe = Universe::standard();
        for (_, cap) in &mut universe.initial {
            if let Cap::Untyped { size_bits, .. } = cap {
                *size_bits = 9;
            }
        }
        universe
    }

    /// Applies `op`, which must be carried out with every invariant holding.
    fn applied(universe: &Universe, memory: &Memory, op: Op) -> Memory {
        match apply(universe, memory, &universe.addressable_slots(memory), &op) {
            Ok(Outcome::Applied(after, _)) => after,
            other => panic!("{}: {other:?}", op.describe(universe)),
        }
    }

    #[test]
    fn a_revoke_stopped_at_another_deletions_zombie_is_checked_as_stopped() {
        // Three CNodes from the untyped (C1 in A3, C3 in B0, C2 in B1, in that order, so
        // that the CDT after A0 runs C2, C3, C1);
        // C1 (A3) holds C2's only capability and C2 holds C3's. Deleting A3 one unit at a
        // time starts C2's, then C3's destruction: C2's zombie, in the middle of that chain,
        // is not its head. Revoking A0 then meets C2's zombie first and stops
        // (DeletionInProgress) with descendants left, which invariant 3 must not be asked to
        // check; a finished revoke must be (`blocked` is `!finished`).
        use crate::universe::CNODE_B;
        let universe = with_three_cnodes();
        let cnode = universe.retypes.iter().position(|&(kind, _)| kind == tileos_abi::object::ObjectType::CNode).unwrap();
        let a = |index| slot_address(CNODE_A, index);
        let b = |index| slot_address(CNODE_B, index);
        let mut memory = check_initial(&universe).unwrap();
        for dest in [a(3), b(0), b(1)] {
            memory = applied(&universe, &memory, Op::Retype { untyped: a(0), object: cnode, dest });
        }
        let paddr = |at| match memory.cap(at) {
            Cap::CNode { paddr, .. } => paddr,
            other => panic!("{other:?}"),
        };
        let (c1, c2) = (paddr(a(3)), paddr(b(1)));
        memory = applied(&universe, &memory, Op::Move { src: b(1), dest: slot_address(c1, 0) });
        memory = applied(&universe, &memory, Op::Move { src: b(0), dest: slot_address(c2, 0) });
        let middle = |memory: &Memory| matches!(memory.cap(slot_address(c2, 0)), Cap::Zombie { paddr, top: false, root: SlotRef::NONE, .. } if paddr == c2);
        let mut steps = 0;
        while !middle(&memory) {
            steps += 1;
            assert!(steps <= 16, "no middle zombie after {steps} one-unit deletions");
            memory = applied(&universe, &memory, Op::DeleteStep { slot: a(3) });
        }
        let slots = universe.addressable_slots(&memory);
        let revoke = Op::Revoke { slot: a(0) };
        let invocation = op::decode(&universe, &memory, &slots, &revoke).unwrap();
        assert!(!op::invoke(&mut memory.clone(), &invocation).finished, "the revoke stops at C2's zombie");
        // Checked as stopped: every invariant holds. (With `blocked: ran.finished` invariant
        // 3 finds C2's zombie, a descendant, left.)
        let after = applied(&universe, &memory, revoke);
        assert!(matches!(after.cap(slot_address(c2, 0)), Cap::Zombie { .. }), "the revoke left C2's zombie");
        // It stops because of that zombie: with the chain's deletion finished first, the
        // same revoke finishes.
        let mut finished = memory.clone();
        while matches!(finished.cap(a(3)), Cap::Zombie { .. }) {
            finished = applied(&universe, &finished, Op::Delete { slot: a(3) });
        }
        let invocation = op::decode(&universe, &finished, &universe.addressable_slots(&finished), &revoke).unwrap();
        assert!(op::invoke(&mut finished.clone(), &invocation).finished);
    }

    /// Breadth-first exploration written out for depth 2 (the test's oracle): every
    /// operation of the initial state, then every operation of each distinct state reached
    /// at level 1, in [`Op::all`]'s order, stopping after the violating trace `until` if
    /// given. Returns the accepted operations (violating ones included), the rejected ones,
    /// the distinct states and every violating trace in order.
    fn breadth_first(universe: &Universe, depth: usize, check: Check, until: Option<&[Op]>) -> (u64, u64, u64, Vec<(Invariant, Vec<Op>)>) {
        let initial = check_initial(universe).unwrap();
        let mut visited = HashSet::new();
        visited.insert(initial.fingerprint());
        let (mut accepted, mut rejected, mut violations) = (0, 0, Vec::new());
        let mut level = vec![(initial, Vec::new())];
        for level_number in 1..=depth {
            let mut next = Vec::new();
            for (memory, trace) in &level {
                let slots = universe.addressable_slots(memory);
                for op in Op::all(universe, &slots) {
                    let mut trace: Vec<Op> = trace.clone();
                    trace.push(op);
                    match apply_checked(universe, memory, &slots, &op, check) {
                        Ok(Outcome::Rejected(_)) => rejected += 1,
                        Ok(Outcome::Applied(after, _)) => {
                            accepted += 1;
                            if visited.insert(after.fingerprint()) && level_number < depth {
                                next.push((after, trace));
                            }
                        }
                        Err((invariant, _)) => {
                            accepted += 1;
                            let last = until == Some(&trace[..]);
                            violations.push((invariant, trace));
                            if last {
                                return (accepted, rejected, visited.len() as u64, violations);
                            }
                        }
                    }
                }
            }
            level = next;
        }
        (accepted, rejected, visited.len() as u64, violations)
    }

    /// A deliberately broken check: the invariants, and then every copy or mint into `B0`
    /// "breaks" invariant 7 and every other copy invariant 2 (two kinds share an invariant,
    /// two invariants a kind).
    fn broken_check(step: &Step) -> Result<(), (Invariant, String)> {
        invariants::check(step)?;
        let b = |index| slot_address(crate::universe::CNODE_B, index);
        match step.op {
            Some((&Op::Copy { dest, .. } | &Op::Mint { dest, .. }, _)) if dest == b(0) => Err((Invariant::Confinement, "B0".into())),
            Some((&Op::Copy { .. }, _)) => Err((Invariant::RightsNeverGrow, "a copy".into())),
            _ => Ok(()),
        }
    }

    #[test]
    fn an_exploration_with_violations_counts_and_keeps_exactly_what_it_met() {
        // The kernel's old mutate rule (badging an original in place) breaks invariant 8 at
        // depth 2; the broken check above breaks invariants 7 and 2 at depths 1 and 2. Every
        // figure is checked against the oracle above.
        let old_rule = Universe { mutate_badges_originals: true, ..Universe::standard() };
        for (universe, check) in [(old_rule, invariants::check as Check), (Universe::small(), broken_check as Check)] {
            let (accepted, rejected, states, violations) = breadth_first(&universe, 2, check, None);
            assert!(violations.len() > 1, "{violations:?}");
            // Keep going: one violation per invariant and kind of the last operation, the
            // first met; every transition counted, the violating ones included.
            let report = explore_with(&universe, Config { depth: 2, keep_going: true }, PROGRESS_INTERVAL, check, &mut |_| {});
            let kind = |t: &[Op]| std::mem::discriminant(t.last().unwrap());
            let mut expected: Vec<(Invariant, Vec<Op>)> = Vec::new();
            for (invariant, trace) in &violations {
                if !expected.iter().any(|(i, t)| i == invariant && kind(t) == kind(trace)) {
                    expected.push((*invariant, trace.clone()));
                }
            }
            let kept: Vec<(Invariant, Vec<Op>)> = report.violations.iter().map(|v| (v.invariant, v.trace.clone())).collect();
            assert_eq!(kept, expected);
            assert_eq!((report.stats.transitions, report.stats.rejected, report.stats.states), (accepted, rejected, states));
            // Stop at the first: that violation alone, and the transitions up to it.
            let report = explore_with(&universe, Config { depth: 2, keep_going: false }, PROGRESS_INTERVAL, check, &mut |_| {});
            let kept: Vec<(Invariant, Vec<Op>)> = report.violations.iter().map(|v| (v.invariant, v.trace.clone())).collect();
            assert_eq!(kept, violations[..1].to_vec());
            let (until, _, _, _) = breadth_first(&universe, 2, check, Some(&violations[0].1));
            assert_eq!(report.stats.transitions, until, "{:?}", report.stats);
        }
        // The broken check's kinds: invariant 7 for copies and mints, 2 for copies.
        let report = explore_with(&Universe::small(), Config { depth: 1, keep_going: true }, PROGRESS_INTERVAL, broken_check, &mut |_| {});
        let pairs: Vec<(Invariant, &'static str)> =
            report.violations.iter().map(|v| (v.invariant, if matches!(v.trace[0], Op::Copy { .. }) { "copy" } else { "mint" })).collect();
        assert_eq!(pairs.len(), 3, "{pairs:?}");
        for pair in [(Invariant::Confinement, "copy"), (Invariant::Confinement, "mint"), (Invariant::RightsNeverGrow, "copy")] {
            assert!(pairs.contains(&pair), "{pairs:?}");
        }
    }

    #[test]
    fn with_no_interval_progress_is_reported_at_every_1024th_transition() {
        // A bound from below (and above): with a zero interval, exactly one call per
        // multiple of 1,024 transitions, each seeing that multiple.
        let universe = Universe::small();
        let mut seen = Vec::new();
        let report = explore_with(&universe, Config { depth: 2, keep_going: false }, Duration::ZERO, invariants::check, &mut |stats| {
            seen.push(stats.transitions)
        });
        assert!(report.stats.transitions >= 2048, "{:?}", report.stats);
        let expected: Vec<u64> = (1..=report.stats.transitions / 1024).map(|k| k * 1024).collect();
        assert_eq!(seen, expected);
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
