//! Scheduling-context donation (`tileos_kernel::donation`): every sequence of IPC and thread
//! operations up to a depth over four threads, each step calling the kernel library's real
//! donation functions the way the kernel's IPC code does (`kernel/src/ipc.rs`,
//! `fastpath.rs`, `thread.rs`; this glue is a model of that code, not the code itself),
//! checking after every step that at most one thread runs on any budget and that the
//! donation links are consistent and never name a destroyed thread.

use std::collections::HashSet;
use tileos_kernel::donation::{self, Threads};

/// Threads in the universe (numbered 1 to `THREADS`; 0 means none).
pub const THREADS: usize = 4;

/// What a thread is doing, as far as donation cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Run {
    /// Running or ready (it runs if it has a budget).
    Runnable,
    /// Waiting to receive a Call.
    Receiving,
    /// Waiting for the reply of the thread named.
    AwaitingReply(u64),
    /// Suspended, or stopped by a fault.
    Inactive,
    /// Its TCB is destroyed.
    Destroyed,
}

/// The donation state of the threads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    run: [Run; THREADS + 1],
    passive: [bool; THREADS + 1],
    donor: [u64; THREADS + 1],
    borrower: [u64; THREADS + 1],
    awaits: [bool; THREADS + 1],
    /// The caller whose reply capability sits in the thread's REPLY slot (0: none).
    serving: [u64; THREADS + 1],
}

impl Threads for State {
    fn passive(&self, thread: u64) -> bool {
        self.passive[thread as usize]
    }
    fn donor(&self, thread: u64) -> u64 {
        self.donor[thread as usize]
    }
    fn set_donor(&mut self, thread: u64, donor: u64) {
        self.donor[thread as usize] = donor;
    }
    fn borrower(&self, owner: u64) -> u64 {
        self.borrower[owner as usize]
    }
    fn set_borrower(&mut self, owner: u64, borrower: u64) {
        self.borrower[owner as usize] = borrower;
    }
    fn awaits_return(&self, thread: u64) -> bool {
        self.awaits[thread as usize]
    }
    fn set_awaits_return(&mut self, thread: u64, awaits: bool) {
        self.awaits[thread as usize] = awaits;
    }
}

/// An operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The first thread Calls the second, which is receiving.
    Call(u64, u64),
    /// The thread receives (without replying first).
    Recv(u64),
    /// The thread replies to the caller it serves and keeps running.
    Reply(u64),
    /// The thread replies and receives (ReplyRecv, the fastpath's or the general path's).
    ReplyRecv(u64),
    /// The thread's reply capability is deleted unused.
    DeleteReply(u64),
    /// The thread faults (the handler is not modelled: it stops).
    Fault(u64),
    /// TcbSuspend.
    Suspend(u64),
    /// TcbResume.
    Resume(u64),
    /// TcbSetPassive(1).
    MakePassive(u64),
    /// TcbSetPassive(0).
    MakeActive(u64),
    /// The last capability to the TCB is deleted.
    Destroy(u64),
}

impl State {
    /// Every thread active, runnable, serving nobody.
    pub fn initial() -> State {
        State {
            run: [Run::Runnable; THREADS + 1],
            passive: [false; THREADS + 1],
            donor: [0; THREADS + 1],
            borrower: [0; THREADS + 1],
            awaits: [false; THREADS + 1],
            serving: [0; THREADS + 1],
        }
    }

    fn runs(&self, thread: u64) -> bool {
        self.run[thread as usize] == Run::Runnable && donation::holder(self, thread).is_some()
    }

    /// As `ipc::reply_lost` / `reply_through`: the server's reply capability to `caller`
    /// is gone; the server gives back, and a caller still waiting wakes with its budget.
    fn reply_gone(&mut self, server: u64) {
        let caller = self.serving[server as usize];
        self.serving[server as usize] = 0;
        let returned = donation::give_back(self, server);
        if caller != 0 && self.run[caller as usize] == Run::AwaitingReply(server) {
            donation::wake(self, caller, returned);
            self.run[caller as usize] = Run::Runnable;
        }
    }

    /// As `ipc::cancel`.
    fn cancel(&mut self, thread: u64) {
        if let Run::AwaitingReply(server) = self.run[thread as usize] {
            self.run[thread as usize] = Run::Inactive;
            donation::give_back(self, server);
            self.serving[server as usize] = 0;
            donation::wake(self, thread, 0);
        }
        self.run[thread as usize] = Run::Inactive;
    }

    /// Applies `op` if the kernel would accept it in this state.
    pub fn apply(&self, op: Op) -> Option<State> {
        let mut s = self.clone();
        let live = |t: u64| self.run[t as usize] != Run::Destroyed;
        match op {
            Op::Call(caller, server) => {
                if caller == server || !self.runs(caller) || self.run[server as usize] != Run::Receiving {
                    return None;
                }
                s.run[caller as usize] = Run::AwaitingReply(server);
                if s.serving[server as usize] != 0 {
                    s.reply_gone(server);
                }
                s.serving[server as usize] = caller;
                donation::donate(&mut s, caller, server);
                s.run[server as usize] = Run::Runnable;
            }
            Op::Recv(thread) => {
                if !self.runs(thread) {
                    return None;
                }
                s.run[thread as usize] = Run::Receiving;
            }
            Op::Reply(server) | Op::ReplyRecv(server) => {
                if !self.runs(server) || self.serving[server as usize] == 0 {
                    return None;
                }
                s.reply_gone(server);
                if matches!(op, Op::ReplyRecv(_)) {
                    s.run[server as usize] = Run::Receiving;
                }
            }
            Op::DeleteReply(server) => {
                if !live(server) || self.serving[server as usize] == 0 {
                    return None;
                }
                s.reply_gone(server);
            }
            Op::Fault(thread) => {
                if !self.runs(thread) {
                    return None;
                }
                donation::give_back(&mut s, thread);
                s.run[thread as usize] = Run::Inactive;
            }
            Op::Suspend(thread) => {
                if !live(thread) || self.run[thread as usize] == Run::Inactive {
                    return None;
                }
                s.cancel(thread);
            }
            Op::Resume(thread) => {
                if self.run[thread as usize] != Run::Inactive {
                    return None;
                }
                s.run[thread as usize] = Run::Runnable;
            }
            Op::MakePassive(thread) | Op::MakeActive(thread) => {
                let passive = matches!(op, Op::MakePassive(_));
                if !live(thread) || self.passive[thread as usize] == passive {
                    return None;
                }
                s.passive[thread as usize] = passive;
            }
            Op::Destroy(thread) => {
                if !live(thread) {
                    return None;
                }
                // As destroy::destroying (cancel, forget), then the TCB's slots are emptied
                // (its reply capability among them).
                s.cancel(thread);
                donation::forget(&mut s, thread);
                if s.serving[thread as usize] != 0 {
                    s.reply_gone(thread);
                }
                s.run[thread as usize] = Run::Destroyed;
            }
        }
        Some(s)
    }

    /// The invariant: at most one thread not waiting for a reply runs on any budget; a
    /// borrower link is matched by the borrower's donor link; no link names a destroyed
    /// thread.
    pub fn check(&self) -> Result<(), String> {
        let threads = 1..=THREADS as u64;
        for owner in threads.clone() {
            let users: Vec<u64> = threads
                .clone()
                .filter(|&t| {
                    !matches!(self.run[t as usize], Run::AwaitingReply(_) | Run::Destroyed) && donation::holder(self, t) == Some(owner)
                })
                .collect();
            if users.len() > 1 {
                return Err(format!("threads {users:?} all run on thread {owner}'s budget"));
            }
            let borrower = self.borrower[owner as usize];
            if borrower != 0 && self.donor[borrower as usize] != owner {
                return Err(format!("thread {owner} lends to {borrower}, whose donor is {}", self.donor[borrower as usize]));
            }
        }
        for t in threads.clone() {
            if self.awaits[t as usize] && !matches!(self.run[t as usize], Run::AwaitingReply(_)) {
                return Err(format!("thread {t} awaits a returned budget in state {:?}", self.run[t as usize]));
            }
        }
        for t in threads.filter(|&t| self.run[t as usize] != Run::Destroyed) {
            let (donor, borrower) = (self.donor[t as usize], self.borrower[t as usize]);
            for (link, other) in [("donor", donor), ("borrower", borrower)] {
                if other != 0 && self.run[other as usize] == Run::Destroyed {
                    return Err(format!("thread {t}'s {link} is the destroyed thread {other}"));
                }
            }
        }
        Ok(())
    }
}

/// Every operation over the universe's threads.
pub fn operations() -> Vec<Op> {
    let threads = 1..=THREADS as u64;
    let mut ops = Vec::new();
    for a in threads.clone() {
        for b in threads.clone() {
            ops.push(Op::Call(a, b));
        }
        ops.extend([
            Op::Recv(a),
            Op::Reply(a),
            Op::ReplyRecv(a),
            Op::DeleteReply(a),
            Op::Fault(a),
            Op::Suspend(a),
            Op::Resume(a),
            Op::MakePassive(a),
            Op::MakeActive(a),
            Op::Destroy(a),
        ]);
    }
    ops
}

/// Figures of an exploration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Distinct states reached, the initial one included.
    pub states: u64,
    /// Accepted operations applied.
    pub transitions: u64,
}

/// Explores every sequence of up to `depth` operations breadth first; returns the figures
/// and, if the invariant breaks, the shortest failing trace and what was seen.
pub fn explore(depth: usize) -> (Stats, Option<(Vec<Op>, String)>) {
    let ops = operations();
    let initial = State::initial();
    let mut seen = HashSet::from([initial.clone()]);
    let mut level = vec![(initial, Vec::new())];
    let mut stats = Stats { states: 1, transitions: 0 };
    for _ in 0..depth {
        let mut next = Vec::new();
        for (state, trace) in &level {
            for &op in &ops {
                let Some(after) = state.apply(op) else { continue };
                stats.transitions += 1;
                if let Err(detail) = after.check() {
                    let mut trace = trace.clone();
                    trace.push(op);
                    return (stats, Some((trace, detail)));
                }
                if seen.insert(after.clone()) {
                    let mut trace = trace.clone();
                    trace.push(op);
                    next.push((after, trace));
                }
            }
        }
        stats.states += next.len() as u64;
        level = next;
    }
    (stats, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain client 1 → passive 2 → passive 3: 3 runs on 1's budget, 2 does not.
    #[test]
    fn a_chain_runs_on_the_first_clients_budget() {
        let ops = [Op::Recv(2), Op::Recv(3), Op::MakePassive(2), Op::MakePassive(3), Op::Call(2, 3)];
        // 2 is passive and has nothing: it cannot Call. Build the chain in the right order.
        let mut s = State::initial();
        for op in &ops[..4] {
            s = s.apply(*op).unwrap();
        }
        assert!(s.apply(ops[4]).is_none(), "a passive thread with nothing donated does not run");
        s = s.apply(Op::Call(1, 2)).unwrap();
        s = s.apply(Op::Call(2, 3)).unwrap();
        assert_eq!((donation::holder(&s, 3), s.borrower[1]), (Some(1), 3));
        assert!(s.check().is_ok());
    }

    /// The checker catches a kernel that forgot to take the budget back when a client is
    /// woken while a deeper server still uses it (`donation::wake` left out).
    #[test]
    fn the_invariant_catches_a_budget_used_twice() {
        let mut s = State::initial();
        for op in [Op::Recv(2), Op::Recv(3), Op::MakePassive(2), Op::MakePassive(3), Op::Call(1, 2), Op::Call(2, 3)] {
            s = s.apply(op).unwrap();
        }
        // Client 1 woken without `wake`: 3 still runs on its budget.
        s.run[1] = Run::Runnable;
        assert!(s.check().unwrap_err().contains("run on thread 1's budget"));
    }

    /// `ops` applied from the initial state, each accepted.
    fn after(ops: &[Op]) -> State {
        ops.iter().fold(State::initial(), |s, &op| s.apply(op).unwrap_or_else(|| panic!("{op:?} refused in {s:?}")))
    }

    /// A reply wakes its caller, which runs on its own budget again; the server, passive,
    /// has nothing left to run on.
    #[test]
    fn a_reply_wakes_the_caller_and_takes_the_budget_back() {
        let mut expected = State::initial();
        expected.passive[2] = true;
        for op in [Op::Reply(2), Op::ReplyRecv(2), Op::DeleteReply(2)] {
            let s = after(&[Op::Recv(2), Op::MakePassive(2), Op::Call(1, 2), op]);
            expected.run[2] = if op == Op::ReplyRecv(2) { Run::Receiving } else { Run::Runnable };
            assert_eq!(s, expected, "{op:?}");
            assert!(s.runs(1) && !s.runs(2), "{op:?}");
        }
    }

    /// Along a chain 1 → passive 2 → passive 3, 2 passes 1's budget on; when 3 replies, 2
    /// runs on it again, and when 2 replies, 1 has it back.
    #[test]
    fn a_budget_passed_on_comes_back_along_the_chain() {
        let chain = [Op::Recv(2), Op::Recv(3), Op::MakePassive(2), Op::MakePassive(3), Op::Call(1, 2), Op::Call(2, 3)];
        let s = after(&chain);
        assert_eq!((s.donor[2], s.donor[3], s.borrower[1], s.awaits[2]), (0, 1, 3, true));
        let s = s.apply(Op::Reply(3)).unwrap();
        assert_eq!((s.donor[2], s.donor[3], s.borrower[1], s.awaits[2]), (1, 0, 2, false));
        assert_eq!((s.run[2], s.runs(2), s.runs(3)), (Run::Runnable, true, false));
        let s = s.apply(Op::Reply(2)).unwrap();
        assert_eq!((s.donor, s.borrower, s.awaits), (State::initial().donor, State::initial().borrower, State::initial().awaits));
        assert!(s.runs(1));
    }

    /// A server that receives again without replying loses its reply capability to the
    /// first caller when the next Call arrives: the first caller wakes.
    #[test]
    fn a_second_call_wakes_the_caller_whose_reply_capability_it_replaces() {
        let s = after(&[Op::Recv(2), Op::Call(1, 2), Op::Recv(2), Op::Call(3, 2)]);
        assert_eq!((s.run[1], s.run[3], s.serving[2]), (Run::Runnable, Run::AwaitingReply(2), 3));
    }

    /// Suspending a caller cancels its Call: the server gives the budget back and no longer
    /// serves it; suspending a runnable thread stops it.
    #[test]
    fn a_suspended_caller_is_cancelled() {
        let s = after(&[Op::Recv(2), Op::MakePassive(2), Op::Call(1, 2), Op::Suspend(1)]);
        assert_eq!((s.run[1], s.donor[2], s.borrower[1], s.serving[2]), (Run::Inactive, 0, 0, 0));
        assert!(!s.runs(2));
        assert_eq!(after(&[Op::Suspend(4)]).run[4], Run::Inactive);
    }

    /// Each operation is refused where the kernel refuses it, and accepted with its effect
    /// where it does not.
    #[test]
    fn each_operation_is_refused_exactly_where_the_kernel_refuses_it() {
        let refused = |ops: &[Op], op: Op| assert_eq!(after(ops).apply(op), None, "{op:?} after {ops:?}");
        let done = |ops: &[Op], op: Op| after(ops).apply(op).unwrap_or_else(|| panic!("{op:?} refused after {ops:?}"));
        // Call: not to itself, only to a receiving thread, only by a thread that runs.
        refused(&[Op::Recv(1)], Op::Call(1, 1));
        refused(&[], Op::Call(1, 2));
        refused(&[Op::Recv(2), Op::MakePassive(1)], Op::Call(1, 2));
        // Recv and Fault: only by a thread that runs.
        refused(&[Op::Suspend(1)], Op::Recv(1));
        refused(&[Op::MakePassive(1)], Op::Fault(1));
        assert_eq!(done(&[], Op::Fault(1)).run[1], Run::Inactive);
        // Reply: only by a running thread that serves a caller.
        refused(&[], Op::Reply(1));
        refused(&[Op::Recv(2), Op::Call(1, 2), Op::Suspend(2)], Op::Reply(2));
        // DeleteReply: only of a live thread that serves a caller.
        refused(&[], Op::DeleteReply(1));
        refused(&[Op::Destroy(1)], Op::DeleteReply(1));
        // Suspend: not of an inactive or destroyed thread; Resume: only of an inactive one.
        refused(&[Op::Suspend(1)], Op::Suspend(1));
        refused(&[Op::Destroy(1)], Op::Suspend(1));
        refused(&[], Op::Resume(1));
        refused(&[Op::Destroy(1)], Op::Resume(1));
        assert_eq!(done(&[Op::Suspend(1)], Op::Resume(1)).run[1], Run::Runnable);
        // Passive and active: only a change, only of a live thread.
        refused(&[], Op::MakeActive(1));
        refused(&[Op::MakePassive(1)], Op::MakePassive(1));
        refused(&[Op::Destroy(1)], Op::MakePassive(1));
        assert!(!done(&[Op::MakePassive(1)], Op::MakeActive(1)).passive[1]);
        // Destroy: once.
        refused(&[Op::Destroy(1)], Op::Destroy(1));
        assert_eq!(done(&[], Op::Destroy(1)).run[1], Run::Destroyed);
    }

    /// Destroying a server wakes the caller it serves; destroying a caller cancels its Call.
    #[test]
    fn destroying_a_server_or_a_caller_ends_the_call() {
        let s = after(&[Op::Recv(2), Op::MakePassive(2), Op::Call(1, 2), Op::Destroy(2)]);
        assert_eq!((s.run[1], s.run[2], s.serving[2], s.donor[2], s.borrower[1]), (Run::Runnable, Run::Destroyed, 0, 0, 0));
        assert!(s.runs(1));
        let s = after(&[Op::Recv(2), Op::MakePassive(2), Op::Call(1, 2), Op::Destroy(1)]);
        assert_eq!((s.run[1], s.serving[2], s.donor[2], s.borrower[1]), (Run::Destroyed, 0, 0, 0));
    }

    /// Each part of the invariant on a state made by hand.
    #[test]
    fn the_invariant_catches_each_broken_link() {
        let broken = |edit: fn(&mut State), message: &str| {
            let mut s = State::initial();
            edit(&mut s);
            assert_eq!(s.check(), Err(message.to_string()));
        };
        broken(|s| s.borrower[1] = 3, "thread 1 lends to 3, whose donor is 0");
        broken(|s| s.awaits[2] = true, "thread 2 awaits a returned budget in state Runnable");
        broken(
            |s| {
                s.run[3] = Run::Destroyed;
                s.donor[2] = 3;
            },
            "thread 2's donor is the destroyed thread 3",
        );
        broken(
            |s| {
                s.run[3] = Run::Destroyed;
                (s.borrower[2], s.donor[3]) = (3, 2);
            },
            "thread 2's borrower is the destroyed thread 3",
        );
    }

    #[test]
    fn an_exploration_counts_its_states_and_transitions() {
        assert_eq!(explore(0), (Stats { states: 1, transitions: 0 }, None));
        // Depth 1 against the operations applied one by one to the initial state.
        let accepted: Vec<State> = operations().into_iter().filter_map(|op| State::initial().apply(op)).collect();
        let distinct: HashSet<&State> = accepted.iter().filter(|s| **s != State::initial()).collect();
        assert!(accepted.len() > 1 && distinct.len() > 1);
        assert_eq!(explore(1), (Stats { states: 1 + distinct.len() as u64, transitions: accepted.len() as u64 }, None));
    }

    #[test]
    fn every_sequence_of_six_keeps_the_invariant() {
        let (stats, violation) = explore(6);
        assert_eq!(violation, None);
        assert!(stats.states > 1000, "{stats:?}");
    }
}
