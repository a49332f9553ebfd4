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
//! Links: the thread running on a donated budget names its owner in `donor`, and the owner
//! names it in `borrower`; nobody else names either. A passive server that Calls on to
//! another passive server passes the budget on: it keeps no link, only the mark
//! `awaits_return`, and gets back whatever budget its server returns with the reply. So
//! a destroyed thread is named by at most two links, both cleared by [`forget`], and no
//! work depends on the length of a chain. The invariant, checked by the model checker: at
//! most one thread that is not waiting for a reply runs on any budget, the two links match,
//! and no link names a destroyed thread.

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
    /// Whether `thread` passed a donated budget on with its Call and takes back what its
    /// server returns.
    fn awaits_return(&self, thread: u64) -> bool;
    /// Sets `thread`'s mark.
    fn set_awaits_return(&mut self, thread: u64, awaits: bool);
}

/// The TCB whose budget `thread` runs on: its donor, else itself unless passive (`None`: a
/// passive thread with nothing donated, which cannot run).
#[inline]
pub fn holder(threads: &impl Threads, thread: u64) -> Option<u64> {
    match threads.donor(thread) {
        0 if threads.passive(thread) => None,
        0 => Some(thread),
        donor => Some(donor),
    }
}

/// A Call from `caller` reached `server`: a passive server with nothing donated gets the
/// budget the caller runs on (a caller on a donated budget passes it on and waits for it
/// back). Returns whether a budget was donated.
pub fn donate(threads: &mut impl Threads, caller: u64, server: u64) -> bool {
    if !threads.passive(server) || threads.donor(server) != 0 || caller == server {
        return false;
    }
    let Some(owner) = holder(threads, caller) else { return false };
    if owner != caller {
        threads.set_donor(caller, 0);
        threads.set_awaits_return(caller, true);
    }
    threads.set_donor(server, owner);
    threads.set_borrower(owner, server);
    true
}

/// `server` gives back the budget donated to it (its reply was sent or lost, or it
/// faulted). Returns the budget's owner (0: it had none), for [`wake`].
pub fn give_back(threads: &mut impl Threads, server: u64) -> u64 {
    let owner = threads.donor(server);
    if owner == 0 {
        return 0;
    }
    threads.set_donor(server, 0);
    if threads.borrower(owner) == server {
        threads.set_borrower(owner, 0);
    }
    owner
}

/// `thread` wakes from waiting for a reply (delivered or lost; `returned`: the budget its
/// server gave back, else 0) or is stopped while waiting (`returned` 0). A thread that
/// passed a donated budget on gets back what was returned; any other takes its own budget
/// back from whatever thread still runs on it (a deeper server of the chain). Returns that
/// thread (which has lost its budget and must be rescheduled), or 0.
pub fn wake(threads: &mut impl Threads, thread: u64, returned: u64) -> u64 {
    if threads.awaits_return(thread) {
        threads.set_awaits_return(thread, false);
        if returned != 0 && threads.donor(thread) == 0 && threads.borrower(returned) == 0 {
            threads.set_donor(thread, returned);
            threads.set_borrower(returned, thread);
        }
        return 0;
    }
    let user = threads.borrower(thread);
    threads.set_borrower(thread, 0);
    if user != 0 && threads.donor(user) == thread {
        threads.set_donor(user, 0);
        return user;
    }
    0
}

/// `thread` is destroyed: it gives back what was donated to it, and the thread running on
/// its budget loses it. Returns that thread (to be rescheduled), or 0.
pub fn forget(threads: &mut impl Threads, thread: u64) -> u64 {
    give_back(threads, thread);
    threads.set_awaits_return(thread, false);
    wake(threads, thread, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four threads, 1 to 4 (index 0 unused): passive flag, donor, borrower, mark.
    #[derive(Default)]
    struct Model {
        passive: [bool; 5],
        donor: [u64; 5],
        borrower: [u64; 5],
        awaits: [bool; 5],
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
        fn awaits_return(&self, thread: u64) -> bool {
            self.awaits[thread as usize]
        }
        fn set_awaits_return(&mut self, thread: u64, awaits: bool) {
            self.awaits[thread as usize] = awaits;
        }
    }

    /// Client 1, passive servers 2 and 3, active thread 4.
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
        assert_eq!(give_back(&mut m, 2), 1);
        assert_eq!(wake(&mut m, 1, 1), 0);
        assert_eq!((holder(&m, 2), m.borrower(1), holder(&m, 1)), (None, 0, Some(1)));
        assert_eq!(give_back(&mut m, 2), 0, "nothing left to give back");
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
        assert_eq!((holder(&m, 3), holder(&m, 2), m.borrower(1)), (Some(1), None, 3));
        // 3 replies to 2: 2 runs on the budget again.
        let returned = give_back(&mut m, 3);
        assert_eq!(wake(&mut m, 2, returned), 0);
        assert_eq!((holder(&m, 2), holder(&m, 3), m.borrower(1)), (Some(1), None, 2));
    }

    /// The client is woken while a deeper server still runs on its budget (the middle
    /// server was destroyed and the client's reply lost): the deeper server loses it, and
    /// the middle server's reply to nobody brings nothing back.
    #[test]
    fn a_woken_client_takes_its_budget_back() {
        let mut m = model();
        donate(&mut m, 1, 2);
        donate(&mut m, 2, 3);
        assert_eq!(forget(&mut m, 2), 0);
        assert_eq!(wake(&mut m, 1, 0), 3, "server 3 must be rescheduled");
        assert_eq!((holder(&m, 3), m.borrower(1)), (None, 0));
    }

    /// Found by the model checker: client 2 lends its budget down a chain (to 1, then 3),
    /// is made passive while it waits, and its reply is lost. Woken, it must take its own
    /// budget back from 3 even though it cannot run on it now: made active later, it would
    /// otherwise run on it beside 3.
    #[test]
    fn a_client_made_passive_while_waiting_still_takes_its_budget_back() {
        let mut m = Model { passive: [false, true, false, true, false], ..Model::default() };
        donate(&mut m, 2, 1);
        m.passive[2] = true;
        donate(&mut m, 1, 3);
        assert_eq!(give_back(&mut m, 1), 0, "1 passed the budget on");
        assert_eq!(wake(&mut m, 2, 0), 3);
        assert_eq!((holder(&m, 3), m.borrower(2), holder(&m, 2)), (None, 0, None));
    }

    /// Found by the model checker: a destroyed client is named by no middle server of a
    /// chain (they keep no link), so nothing runs on its budget afterwards.
    #[test]
    fn a_destroyed_owner_takes_its_budget_away() {
        let mut m = model();
        m.passive[4] = true;
        donate(&mut m, 1, 2);
        donate(&mut m, 2, 3);
        donate(&mut m, 3, 4);
        assert_eq!(forget(&mut m, 1), 4);
        assert_eq!((1..=4).map(|t| m.donor(t)).collect::<Vec<_>>(), [0, 0, 0, 0]);
        // 4 replies to 3, 3 to 2: nothing comes back.
        let returned = give_back(&mut m, 4);
        assert_eq!(wake(&mut m, 3, returned), 0);
        assert_eq!(holder(&m, 3), None);
        assert_eq!(forget(&mut m, 1), 0, "nothing twice");
    }

    /// A thread that passed a donated budget on and whose server returns none (the budget's
    /// owner was destroyed) wakes with no budget, and no link is written: none to the
    /// thread, and none under 0, which names no thread.
    #[test]
    fn a_thread_woken_with_nothing_returned_gets_nothing() {
        let mut m = model();
        donate(&mut m, 1, 2);
        donate(&mut m, 2, 3);
        give_back(&mut m, 3);
        assert_eq!(wake(&mut m, 2, 0), 0);
        assert_eq!((m.donor, m.borrower, m.awaits), ([0; 5], [0; 5], [false; 5]));
        assert_eq!(holder(&m, 2), None);
    }

    /// `wake`'s guards against links that do not match (the model checker's invariant says
    /// they always match, so these states are built by hand; the guards are what keeps one
    /// budget from running two threads if they ever did not): a returned budget already lent
    /// to another thread is not taken, and a borrower that runs on another budget is not
    /// stopped.
    #[test]
    fn wake_takes_no_budget_that_is_lent_elsewhere() {
        let mut m = model();
        m.awaits[2] = true;
        (m.donor[4], m.borrower[1]) = (1, 4);
        assert_eq!(wake(&mut m, 2, 1), 0);
        assert_eq!((m.donor[2], m.borrower[1], m.awaits[2]), (0, 4, false), "1's budget stays with 4");
        let mut m = model();
        (m.borrower[1], m.donor[3]) = (3, 4);
        assert_eq!(wake(&mut m, 1, 0), 0, "3 runs on 4's budget, not 1's");
        assert_eq!((m.donor[3], m.borrower[1]), (4, 0));
    }
}
