//! Scheduling-context donation (seL4 MCS semantics over budgets kept in TCBs): which
//! thread's budget a thread runs on, and how a budget moves along Call and Reply.
//!
//! A thread is *active* (it runs on its own budget, [`crate::budget`]) or *passive* (it
//! has none: `TcbSetPassive`). A Call delivered to a passive server that has no budget
//! *donates* the caller's: the server runs on the budget the caller was running on (the
//! caller's own, or the one donated to it, so a chain of passive servers all run on the
//! first client's). The budget returns with the Reply, when the reply capability is lost
//! (deleted, or the server received again without replying), and when the server faults;
//! a thread woken by a reply gets its budget back from whoever used it. A passive thread
//! with no donated budget cannot run.
//!
//! Links: a borrower's `donor` names the TCB whose budget it runs on (0: its own, or none
//! when passive); that TCB's `borrower` names the one thread that currently may run on it
//! (0: itself). The invariant, checked by the model checker: at most one thread that is
//! not waiting for a reply runs on any budget, and a `borrower` link is always returned by
//! the `donor` link of the thread it names.

/// The donation fields of the threads, as kept in their TCBs (the kernel's memory, or the
/// model checker's).
pub trait Threads {
    /// Whether `thread` has no budget of its own.
    fn passive(&self, thread: u64) -> bool;
    /// The TCB whose budget `thread` runs on (0: its own).
    fn donor(&self, thread: u64) -> u64;
    /// Sets `thread`'s donor.
    fn set_donor(&mut self, thread: u64, donor: u64);
    /// The thread running on `owner`'s budget (0: none but `owner`).
    fn borrower(&self, owner: u64) -> u64;
    /// Sets `owner`'s borrower.
    fn set_borrower(&mut self, owner: u64, borrower: u64);
}

/// The TCB whose budget `thread` runs on: its donor, else itself unless passive (`None`: a
/// passive thread with nothing donated, which cannot run).
pub fn holder(threads: &impl Threads, thread: u64) -> Option<u64> {
    match threads.donor(thread) {
        0 if threads.passive(thread) => None,
        0 => Some(thread),
        donor => Some(donor),
    }
}

/// A Call from `caller` reached `server`: a passive server with nothing donated gets the
/// budget the caller runs on. Returns whether a budget was donated.
pub fn donate(threads: &mut impl Threads, caller: u64, server: u64) -> bool {
    if !threads.passive(server) || threads.donor(server) != 0 || caller == server {
        return false;
    }
    let Some(owner) = holder(threads, caller) else { return false };
    threads.set_donor(server, owner);
    threads.set_borrower(owner, server);
    true
}

/// `server` gives back the budget donated to it (its reply was sent or lost, or it
/// faulted). Returns whether it had one.
pub fn give_back(threads: &mut impl Threads, server: u64) -> bool {
    let owner = threads.donor(server);
    if owner == 0 {
        return false;
    }
    threads.set_donor(server, 0);
    if threads.borrower(owner) == server {
        threads.set_borrower(owner, 0);
    }
    true
}

/// `thread` wakes from waiting for a reply (delivered or lost): the budget it runs on
/// comes back to it from any thread still using it. Returns that thread (which has lost its
/// budget and must be rescheduled), or 0.
pub fn wake(threads: &mut impl Threads, thread: u64) -> u64 {
    let Some(owner) = holder(threads, thread) else { return 0 };
    let user = threads.borrower(owner);
    let new_borrower = if owner == thread { 0 } else { thread };
    threads.set_borrower(owner, new_borrower);
    if user == 0 || user == thread {
        return 0;
    }
    if threads.donor(user) == owner {
        threads.set_donor(user, 0);
    }
    user
}

/// `thread` is destroyed: it gives back what was donated to it, and the thread running on
/// its budget loses it. Returns that thread (to be rescheduled), or 0.
pub fn forget(threads: &mut impl Threads, thread: u64) -> u64 {
    give_back(threads, thread);
    let user = threads.borrower(thread);
    threads.set_borrower(thread, 0);
    if user != 0 && threads.donor(user) == thread {
        threads.set_donor(user, 0);
        return user;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four threads, 1 to 4 (index 0 unused): passive flag, donor, borrower.
    #[derive(Default)]
    struct Model {
        passive: [bool; 5],
        donor: [u64; 5],
        borrower: [u64; 5],
    }

    impl Threads for Model {
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
    }

    /// Client 1, passive servers 2 and 3.
    fn model() -> Model {
        Model { passive: [false, false, true, true, false], ..Model::default() }
    }

    #[test]
    fn a_passive_server_runs_on_its_callers_budget_until_the_reply() {
        let mut m = model();
        assert_eq!(holder(&m, 2), None, "a passive server with nothing donated cannot run");
        assert!(donate(&mut m, 1, 2));
        assert_eq!((holder(&m, 2), m.borrower(1)), (Some(1), 2));
        assert!(!donate(&mut m, 4, 2), "a server keeps the first donation");
        assert!(give_back(&mut m, 2));
        assert_eq!(wake(&mut m, 1), 0);
        assert_eq!((holder(&m, 2), m.borrower(1), holder(&m, 1)), (None, 0, Some(1)));
        assert!(!give_back(&mut m, 2), "nothing left to give back");
    }

    #[test]
    fn an_active_server_keeps_its_own_budget() {
        let mut m = model();
        assert!(!donate(&mut m, 2, 4));
        assert!(!donate(&mut m, 1, 4));
        assert_eq!(holder(&m, 4), Some(4));
        assert!(!donate(&mut m, 2, 3), "a passive caller with nothing donated has nothing to give");
    }

    #[test]
    fn a_chain_of_passive_servers_runs_on_the_first_clients_budget() {
        let mut m = model();
        assert!(donate(&mut m, 1, 2));
        assert!(donate(&mut m, 2, 3));
        assert_eq!((holder(&m, 3), m.borrower(1)), (Some(1), 3));
        // 3 replies to 2: 2 runs on the budget again.
        give_back(&mut m, 3);
        assert_eq!(wake(&mut m, 2), 0);
        assert_eq!((holder(&m, 2), holder(&m, 3), m.borrower(1)), (Some(1), None, 2));
    }

    /// The client is woken while a deeper server still runs on its budget (the middle
    /// server was destroyed and the client's reply lost): the deeper server loses it.
    #[test]
    fn a_woken_client_takes_its_budget_back() {
        let mut m = model();
        donate(&mut m, 1, 2);
        donate(&mut m, 2, 3);
        assert_eq!(forget(&mut m, 2), 0);
        assert_eq!(wake(&mut m, 1), 3, "server 3 must be rescheduled");
        assert_eq!((holder(&m, 3), m.borrower(1)), (None, 0));
    }

    #[test]
    fn a_destroyed_owner_takes_its_budget_away() {
        let mut m = model();
        donate(&mut m, 1, 2);
        assert_eq!(forget(&mut m, 1), 2);
        assert_eq!(holder(&m, 2), None);
        assert_eq!(forget(&mut m, 1), 0, "nothing twice");
    }
}
