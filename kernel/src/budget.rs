//! Scheduling budgets: a thread may be limited to `budget` timer ticks of CPU time in every
//! `period` ticks (a small version of seL4 MCS scheduling contexts, kept in the TCB).
//!
//! Limits are given in timer ticks, but use is charged *precisely*, in time-stamp-counter
//! cycles: the kernel reads the TSC as the first and the last thing of every kernel entry
//! and charges the cycles between to the budget the running thread uses (its own, or its
//! caller's when it is a passive server: [`crate::donation`]). The timer tick only refills
//! and preempts. A budget whose use reaches its limit in the current period is *depleted*:
//! its thread does not run (lower priorities do) until the period ends. Time run past the
//! limit before the kernel notices (at most a tick: the next tick preempts) is a debt paid
//! from the next periods, so precise charging never lets a thread keep more than its share.
//! A period starts when a budget is charged after its previous period ended (or when it is
//! refilled), so an idle thread does not bank unused time.

/// Longest period accepted, in ticks (about 87 minutes at 5 ms ticks).
pub const MAX_PERIOD_TICKS: u64 = 1 << 20;

/// A thread's budget and its use in the current period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Ticks the thread may run per period, as given; 0: unlimited (the default).
    ticks: u32,
    /// The same limit in TSC cycles (0 when unlimited).
    limit: u64,
    /// Length of a period in ticks (0 when unlimited).
    period: u32,
    /// Cycles charged in the current period, debt from earlier periods included.
    used: u64,
    /// Tick at which the current period ends.
    period_end: u64,
}

impl Budget {
    /// No limit: the thread runs whenever its priority lets it.
    pub const UNLIMITED: Budget = Budget { ticks: 0, limit: 0, period: 0, used: 0, period_end: 0 };

    /// Checks budget parameters: `(0, 0)` is unlimited; otherwise
    /// `1 ≤ budget ≤ period ≤ MAX_PERIOD_TICKS`. The error is the range the rejected value
    /// had to lie in, `(min, max)`: `(0, MAX_PERIOD_TICKS)` for the period,
    /// `(0, 0)` for a budget without a period, `(1, period)` for the budget.
    /// `cycles_per_tick` (at least 1) converts the limit to TSC cycles.
    pub fn new(budget: u64, period: u64, cycles_per_tick: u64) -> Result<Budget, (u64, u64)> {
        if period > MAX_PERIOD_TICKS {
            return Err((0, MAX_PERIOD_TICKS));
        }
        if period == 0 {
            return if budget == 0 { Ok(Budget::UNLIMITED) } else { Err((0, 0)) };
        }
        if budget == 0 || budget > period {
            return Err((1, period));
        }
        let limit = budget.saturating_mul(cycles_per_tick.max(1));
        Ok(Budget { ticks: budget as u32, limit, period: period as u32, used: 0, period_end: 0 })
    }

    /// The same limits with nothing used and no period started: the budget a new thread
    /// gets from the thread that created it (so a budgeted thread cannot make an unbudgeted
    /// one).
    pub fn renewed(&self) -> Budget {
        Budget { used: 0, period_end: 0, ..*self }
    }

    /// Whether the thread has a limit.
    #[inline]
    pub fn is_limited(&self) -> bool {
        self.limit != 0
    }

    /// `(budget, period)` in ticks; `(0, 0)` when unlimited.
    pub fn params(&self) -> (u64, u64) {
        (u64::from(self.ticks), u64::from(self.period))
    }

    /// Whether the budget of the current period is used up at tick `now` (the thread must
    /// wait for [`Budget::refill`]).
    #[inline]
    pub fn is_depleted(&self, now: u64) -> bool {
        self.is_limited() && self.used >= self.limit && now < self.period_end
    }

    /// Cycles left in the current period at tick `now`: `u64::MAX` when unlimited, 0 when
    /// depleted; a period that has ended counts as refilled (less any debt).
    pub fn remaining(&self, now: u64) -> u64 {
        if !self.is_limited() {
            return u64::MAX;
        }
        let mut rolled = *self;
        rolled.roll(now);
        rolled.limit.saturating_sub(rolled.used)
    }

    /// Starts a new period if the current one ended by tick `now`: each period that passed
    /// pays one limit's worth of the use (so an overrun is paid later, and idle time is not
    /// banked).
    fn roll(&mut self, now: u64) {
        if now < self.period_end {
            return;
        }
        let period = u64::from(self.period).max(1);
        let passed = if self.period_end == 0 { u64::MAX } else { 1 + (now - self.period_end) / period };
        self.used = self.used.saturating_sub(self.limit.saturating_mul(passed));
        self.period_end = now + u64::from(self.period);
    }

    /// Charges `cycles` of CPU time at tick `now`. Returns whether the budget is now
    /// depleted.
    /// Inlined up to the limit check: charging an unlimited budget (the common case, on
    /// every kernel entry and exit) is one load and a branch.
    #[inline]
    pub fn charge(&mut self, cycles: u64, now: u64) -> bool {
        if !self.is_limited() {
            return false;
        }
        self.charge_limited(cycles, now)
    }

    /// [`Budget::charge`] of a limited budget.
    fn charge_limited(&mut self, cycles: u64, now: u64) -> bool {
        self.roll(now);
        self.used = self.used.saturating_add(cycles);
        self.used >= self.limit
    }

    /// At tick `now`, refills a depleted budget whose period has ended; returns whether the
    /// thread may run again (a debt of a whole limit or more keeps it depleted for another
    /// period). A new period starts at `now`.
    pub fn refill(&mut self, now: u64) -> bool {
        if self.is_depleted(now) {
            return false;
        }
        self.roll(now);
        self.used < self.limit || !self.is_limited()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cycles per tick in these tests.
    const TICK: u64 = 1000;

    fn budget(ticks: u64, period: u64) -> Budget {
        Budget::new(ticks, period, TICK).unwrap()
    }

    #[test]
    fn parameters_are_checked() {
        assert_eq!(Budget::new(0, 0, TICK), Ok(Budget::UNLIMITED));
        assert_eq!(Budget::new(1, 0, TICK), Err((0, 0)));
        assert_eq!(Budget::new(0, 10, TICK), Err((1, 10)));
        assert_eq!(Budget::new(11, 10, TICK), Err((1, 10)));
        assert_eq!(Budget::new(1, MAX_PERIOD_TICKS + 1, TICK), Err((0, MAX_PERIOD_TICKS)));
        assert_eq!(Budget::new(u64::MAX, u64::MAX, TICK), Err((0, MAX_PERIOD_TICKS)));
        let full = Budget::new(MAX_PERIOD_TICKS, MAX_PERIOD_TICKS, u64::MAX).unwrap();
        assert_eq!(full.params(), (MAX_PERIOD_TICKS, MAX_PERIOD_TICKS));
        assert_eq!(full.remaining(0), u64::MAX, "the cycle limit saturates");
        assert!(!Budget::UNLIMITED.is_limited());
        // A zero rate still makes a limited budget (one cycle per tick).
        assert!(Budget::new(1, 1, 0).unwrap().is_limited());
    }

    #[test]
    fn renewed_keeps_the_limits_and_forgets_the_use() {
        assert_eq!(Budget::UNLIMITED.renewed(), Budget::UNLIMITED);
        let mut used = budget(2, 4);
        assert!(used.charge(2 * TICK, 1));
        let renewed = used.renewed();
        assert_eq!(renewed, budget(2, 4));
        assert!(renewed.is_limited() && !renewed.is_depleted(2));
    }

    #[test]
    fn unlimited_never_depletes() {
        let mut b = Budget::UNLIMITED;
        assert!((0..1000).all(|now| !b.charge(u64::MAX, now) && !b.is_depleted(now) && b.remaining(now) == u64::MAX));
    }

    /// Charging is by the cycle: a budget of 2 ticks takes exactly 2000 cycles, in any
    /// pieces, and `remaining` follows it.
    #[test]
    fn charges_are_precise() {
        let mut b = budget(2, 10);
        assert_eq!(b.remaining(0), 2 * TICK);
        assert!(!b.charge(1, 0));
        assert_eq!(b.remaining(0), 2 * TICK - 1);
        assert!(!b.charge(1498, 0));
        assert_eq!(b.remaining(5), 501);
        assert!(!b.charge(500, 9));
        assert!(b.charge(1, 9), "the 2000th cycle depletes");
        assert!(b.is_depleted(9) && b.remaining(9) == 0);
    }

    /// Simulates a thread that always wants the CPU and runs `slice` cycles between kernel
    /// entries, with depletion and refill as the kernel's tick does them; returns the
    /// cycles it ran in `ticks` ticks.
    fn spin(ticks_budget: u64, period: u64, ticks: u64, slice: u64) -> u64 {
        let mut b = budget(ticks_budget, period);
        let (mut ran, mut depleted) = (0, false);
        for now in 1..=ticks {
            if depleted {
                depleted = !b.refill(now);
            }
            let mut left = TICK;
            while !depleted && left > 0 {
                let run = slice.min(left);
                ran += run;
                left -= run;
                depleted = b.charge(run, now);
            }
        }
        ran
    }

    #[test]
    fn a_spinner_gets_its_budget_per_period() {
        assert_eq!(spin(1, 4, 400, TICK), 100 * TICK);
        // Slices of 7 cycles overrun each period's 2000 by a little; the debt is paid from
        // the next period, so over 100 periods the total overruns by less than one slice.
        let ran = spin(2, 10, 1000, 7);
        assert!((200 * TICK..200 * TICK + 7).contains(&ran), "{ran}");
        assert_eq!(spin(5, 5, 100, 13), 100 * TICK);
        assert_eq!(spin(3, 1000, 999, 100), 3 * TICK);
    }

    /// An overrun is a debt: a thread that ran 3 ticks on a 2-tick budget (the kernel
    /// noticed late) gets only 1 tick in the next period.
    #[test]
    fn an_overrun_is_paid_from_the_next_period() {
        let mut b = budget(2, 10);
        assert!(b.charge(3 * TICK, 1));
        assert!(b.is_depleted(5));
        assert!(b.refill(11));
        assert_eq!(b.remaining(11), TICK);
        // A debt of more than a whole limit keeps it depleted for another period.
        let mut deep = budget(1, 10);
        assert!(deep.charge(5 * TICK / 2, 1));
        assert!(!deep.refill(11), "1.5 ticks of debt left after the first refill");
        assert!(deep.is_depleted(20) && !deep.is_depleted(21));
        assert!(deep.refill(21));
        assert_eq!(deep.remaining(21), TICK / 2);
    }

    /// A debt is paid one limit per period that passed, however many passed while the
    /// thread did not run; a refill that leaves exactly one limit's debt does not let it run
    /// (found untested by `make mutants`).
    #[test]
    fn a_debt_is_paid_one_limit_per_period_that_passed() {
        let mut b = budget(1, 10);
        assert!(b.charge(5 * TICK, 1), "the period runs from 1 to 11");
        assert_eq!(b.remaining(31), 0, "3 periods passed by 31: 2 ticks of debt left");
        assert_eq!(b.remaining(45), 0, "4 periods passed by 45: 1 tick of debt left");
        assert_eq!(b.remaining(51), TICK, "5 periods passed by 51: the debt is paid");
        let mut exact = budget(1, 10);
        assert!(exact.charge(2 * TICK, 1));
        assert!(!exact.refill(11), "one period paid, a whole limit still used");
        assert!(exact.is_depleted(20) && exact.refill(21));
    }

    #[test]
    fn a_new_period_starts_after_an_idle_gap() {
        let mut b = budget(2, 10);
        assert!(!b.charge(TICK, 1));
        assert!(b.charge(TICK, 2));
        assert!(b.is_depleted(5));
        assert!(!b.refill(10));
        assert!(b.refill(11));
        // Idle for long: the next charge opens a fresh period, no credit is banked.
        assert!(!b.charge(TICK, 100));
        assert_eq!(b.remaining(100), TICK);
        assert!(b.charge(TICK, 101));
        assert!(b.is_depleted(109) && !b.is_depleted(110));
    }

    /// A refill starts the new period at the refill, not at the next charge (found
    /// untested by `make mutants`).
    #[test]
    fn a_refill_starts_the_period_at_once() {
        let mut b = budget(2, 10);
        b.charge(TICK, 0);
        assert!(b.charge(TICK, 1) && b.is_depleted(5));
        assert!(b.refill(10), "the first period ended at 10");
        // Used up again late in the period that began at 10, which still ends at 20.
        b.charge(TICK, 15);
        assert!(b.charge(TICK, 16) && b.is_depleted(19));
        assert!(!b.is_depleted(20), "the period begun by the refill at 10 ends at 20");
    }
}
