//! Scheduling budgets: a thread may be limited to `budget` timer ticks of CPU time in every
//! `period` ticks (a small version of seL4 MCS scheduling contexts, kept in the TCB).
//!
//! Time is counted in timer ticks, by sampling: the tick interrupt charges one tick to the
//! thread it interrupts. A thread whose budget is used up in its current period is
//! *depleted*: it does not run (lower priorities do) until the period ends, when its budget
//! is refilled. A period starts when a thread is charged after its previous period ended
//! (or when it is refilled), so an idle thread does not bank unused time.

/// Longest period accepted, in ticks (about 87 minutes at 5 ms ticks).
pub const MAX_PERIOD_TICKS: u64 = 1 << 20;

/// A thread's budget and its use in the current period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Ticks the thread may run per period; 0: unlimited (the default).
    budget: u32,
    /// Length of a period in ticks (0 when unlimited).
    period: u32,
    /// Ticks charged in the current period.
    used: u32,
    /// Tick at which the current period ends.
    period_end: u64,
}

impl Budget {
    /// No limit: the thread runs whenever its priority lets it.
    pub const UNLIMITED: Budget = Budget { budget: 0, period: 0, used: 0, period_end: 0 };

    /// Checks budget parameters: `(0, 0)` is unlimited; otherwise
    /// `1 ≤ budget ≤ period ≤ MAX_PERIOD_TICKS`. The error is the range the rejected value
    /// had to lie in, `(min, max)`: `(0, MAX_PERIOD_TICKS)` for the period,
    /// `(0, 0)` for a budget without a period, `(1, period)` for the budget.
    pub fn new(budget: u64, period: u64) -> Result<Budget, (u64, u64)> {
        if period > MAX_PERIOD_TICKS {
            return Err((0, MAX_PERIOD_TICKS));
        }
        if period == 0 {
            return if budget == 0 { Ok(Budget::UNLIMITED) } else { Err((0, 0)) };
        }
        if budget == 0 || budget > period {
            return Err((1, period));
        }
        Ok(Budget { budget: budget as u32, period: period as u32, used: 0, period_end: 0 })
    }

    /// The same limits with nothing used and no period started: the budget a new thread
    /// gets from the thread that created it (so a budgeted thread cannot make an unbudgeted
    /// one).
    pub fn renewed(&self) -> Budget {
        Budget { used: 0, period_end: 0, ..*self }
    }

    /// Whether the thread has a limit.
    pub fn is_limited(&self) -> bool {
        self.budget != 0
    }

    /// `(budget, period)` in ticks; `(0, 0)` when unlimited.
    pub fn params(&self) -> (u64, u64) {
        (u64::from(self.budget), u64::from(self.period))
    }

    /// Whether the budget of the current period is used up at tick `now` (the thread must
    /// wait for [`Budget::refill`]).
    pub fn is_depleted(&self, now: u64) -> bool {
        self.is_limited() && self.used >= self.budget && now < self.period_end
    }

    /// Charges the tick `now` to the running thread. Returns whether it is now depleted.
    pub fn charge(&mut self, now: u64) -> bool {
        if !self.is_limited() {
            return false;
        }
        if now >= self.period_end {
            self.used = 0;
            self.period_end = now + u64::from(self.period);
        }
        self.used = self.used.saturating_add(1);
        self.used >= self.budget
    }

    /// At tick `now`, refills a depleted budget whose period has ended; returns whether the
    /// thread may run again. A new period starts at `now`.
    pub fn refill(&mut self, now: u64) -> bool {
        if self.is_depleted(now) {
            return false;
        }
        self.used = 0;
        self.period_end = now + u64::from(self.period);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked() {
        assert_eq!(Budget::new(0, 0), Ok(Budget::UNLIMITED));
        assert_eq!(Budget::new(1, 0), Err((0, 0)));
        assert_eq!(Budget::new(0, 10), Err((1, 10)));
        assert_eq!(Budget::new(11, 10), Err((1, 10)));
        assert_eq!(Budget::new(1, MAX_PERIOD_TICKS + 1), Err((0, MAX_PERIOD_TICKS)));
        assert_eq!(Budget::new(u64::MAX, u64::MAX), Err((0, MAX_PERIOD_TICKS)));
        let full = Budget::new(MAX_PERIOD_TICKS, MAX_PERIOD_TICKS).unwrap();
        assert_eq!(full.params(), (MAX_PERIOD_TICKS, MAX_PERIOD_TICKS));
        assert!(!Budget::UNLIMITED.is_limited());
    }

    #[test]
    fn renewed_keeps_the_limits_and_forgets_the_use() {
        assert_eq!(Budget::UNLIMITED.renewed(), Budget::UNLIMITED);
        let mut used = Budget::new(2, 4).unwrap();
        assert!(used.charge(1) || used.charge(2));
        let renewed = used.renewed();
        assert_eq!(renewed, Budget::new(2, 4).unwrap());
        assert!(renewed.is_limited() && !renewed.is_depleted(2));
    }

    #[test]
    fn unlimited_never_depletes() {
        let mut b = Budget::UNLIMITED;
        assert!((0..1000).all(|now| !b.charge(now) && !b.is_depleted(now)));
    }

    /// Simulates a thread that always wants the CPU, with depletion and refill as the
    /// kernel's tick does them; returns the ticks it was charged in `ticks` ticks.
    fn spin(budget: u64, period: u64, ticks: u64) -> u64 {
        let mut b = Budget::new(budget, period).unwrap();
        let (mut ran, mut depleted) = (0, false);
        for now in 1..=ticks {
            if depleted {
                depleted = !b.refill(now);
            }
            if !depleted {
                ran += 1;
                depleted = b.charge(now);
            }
        }
        ran
    }

    #[test]
    fn a_spinner_gets_its_budget_per_period() {
        assert_eq!(spin(1, 4, 400), 100);
        assert_eq!(spin(2, 10, 1000), 200);
        assert_eq!(spin(5, 5, 100), 100);
        assert_eq!(spin(3, 1000, 999), 3);
    }

    #[test]
    fn a_new_period_starts_after_an_idle_gap() {
        let mut b = Budget::new(2, 10).unwrap();
        assert!(!b.charge(1));
        assert!(b.charge(2));
        assert!(b.is_depleted(5));
        assert!(!b.refill(10));
        assert!(b.refill(11));
        // Idle for long: the next charge opens a fresh period, no credit is banked.
        assert!(!b.charge(100));
        assert!(b.charge(101));
        assert!(b.is_depleted(109) && !b.is_depleted(110));
    }

    /// A refill starts the new period at the refill, not at the next charge (found
    /// untested by `make mutants`).
    #[test]
    fn a_refill_starts_the_period_at_once() {
        let mut budget = Budget::new(2, 10).unwrap();
        budget.charge(0);
        assert!(budget.charge(1) && budget.is_depleted(5));
        assert!(budget.refill(10), "the first period ended at 10");
        // Used up again late in the period that began at 10, which still ends at 20.
        budget.charge(15);
        assert!(budget.charge(16) && budget.is_depleted(19));
        assert!(!budget.is_depleted(20), "the period begun by the refill at 10 ends at 20");
    }
}
