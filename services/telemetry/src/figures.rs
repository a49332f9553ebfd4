//! One domain's figures: protocol calls and their latencies (from the domain runtime),
//! faults and restarts (from the supervisor), CPU time (from the kernel's
//! `TcbConsumedTime`, in timer ticks).
//!
//! The runtime's and the kernel's counters start from zero again when a domain restarts
//! (its statics and its thread are new), while a domain's figures must never decrease (the
//! twin's [`ComputeState`](tileos_twin::state::ComputeState) refuses a counter that went
//! backwards). [`DomainAccount`] keeps the cumulative figures across restarts: a report
//! lower than the previous one is a new incarnation and counts in full.

use crate::histogram::Histogram;

/// A domain's cumulative figures (across its restarts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainFigures {
    /// Faults the supervisor received from the domain.
    pub faults: u64,
    /// Times the supervisor restarted the domain.
    pub restarts: u64,
    /// CPU time consumed, in kernel timer ticks (`TcbConsumedTime`).
    pub cpu_ticks: u64,
    /// Latencies of the domain's protocol calls, in time-stamp-counter ticks; its count is
    /// the number of calls (every call is recorded in exactly one bucket).
    pub latency: Histogram,
}

impl DomainFigures {
    /// Protocol calls made.
    pub fn calls(&self) -> u64 {
        self.latency.count()
    }
}

/// Units for turning raw figures into the twin's: time-stamp-counter ticks per microsecond
/// and the kernel timer tick's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Units {
    /// Time-stamp-counter ticks per microsecond (the boot information's `tsc_per_ms` / 1000;
    /// at least 1).
    pub tsc_per_us: u64,
    /// Microseconds per kernel timer tick.
    pub tick_us: u64,
}

/// The part of a counter reported since the previous report: the difference, or the whole
/// report when it is lower (the reporter restarted from zero).
fn increment(previous: u64, reported: u64) -> u64 {
    reported.checked_sub(previous).unwrap_or(reported)
}

/// The collector's account of one domain: its cumulative figures and the last raw reports
/// of the runtime and the kernel (for telling increments from restarts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainAccount {
    figures: DomainFigures,
    last_latency: Histogram,
    last_cpu_ticks: u64,
}

impl DomainAccount {
    /// The cumulative figures.
    pub fn figures(&self) -> &DomainFigures {
        &self.figures
    }

    /// Takes the runtime's cumulative histogram; returns the calls it adds. A histogram
    /// with a bucket below the last report's comes from a restarted runtime and counts in
    /// full.
    pub fn runtime_report(&mut self, reported: &Histogram) -> Histogram {
        let new = reported.since(&self.last_latency).unwrap_or(*reported);
        self.figures.latency.merge(&new);
        self.last_latency = *reported;
        new
    }

    /// Takes the kernel's consumed time of the domain's thread (cumulative, in ticks).
    pub fn cpu_report(&mut self, consumed_ticks: u64) {
        let new = increment(self.last_cpu_ticks, consumed_ticks);
        self.figures.cpu_ticks = self.figures.cpu_ticks.saturating_add(new);
        self.last_cpu_ticks = consumed_ticks;
    }

    /// Counts a fault.
    pub fn fault(&mut self) {
        self.figures.faults = self.figures.faults.saturating_add(1);
    }

    /// Counts a restart.
    pub fn restart(&mut self) {
        self.figures.restarts = self.figures.restarts.saturating_add(1);
    }
}

#[cfg(feature = "report")]
mod twin {
    use super::{DomainFigures, Units};
    use crate::histogram::{Histogram, Percentile};
    use tileos_twin::state::{Counters, LatencySummary, TelemetrySample};

    /// Microseconds of a bucket's upper bound, rounded up, saturating at `u32::MAX`.
    fn upper_us(percentile: Option<Percentile>, tsc_per_us: u64) -> u32 {
        let ticks = percentile.map_or(0, |p| p.upper);
        u32::try_from(ticks.div_ceil(tsc_per_us.max(1))).unwrap_or(u32::MAX)
    }

    impl DomainFigures {
        /// The twin's sample: these cumulative counters, and the latency summary of
        /// `interval` (the calls since the previous sample: [`Histogram::since`], or what
        /// [`DomainAccount::runtime_report`](super::DomainAccount::runtime_report) returned).
        /// Percentiles are the buckets' upper bounds (never below the truth, less than twice
        /// it: [`crate::histogram`]), in microseconds rounded up.
        pub fn sample(&self, interval: &Histogram, units: Units) -> TelemetrySample {
            let us = |per_mille| upper_us(interval.percentile(per_mille), units.tsc_per_us);
            TelemetrySample {
                counters: Counters {
                    ipc_calls: self.calls(),
                    faults: self.faults,
                    restarts: self.restarts,
                    cpu_time_us: self.cpu_ticks.saturating_mul(units.tick_us),
                },
                latency: LatencySummary {
                    count: interval.count(),
                    p50_us: us(500),
                    p90_us: us(900),
                    p99_us: us(990),
                    max_us: upper_us(interval.max_bucket(), units.tsc_per_us),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_keeps_counting_across_restarts() {
        let mut account = DomainAccount::default();
        let mut runtime = Histogram::EMPTY;
        (0..5).for_each(|_| runtime.record(400));
        assert_eq!(account.runtime_report(&runtime).count(), 5);
        (0..3).for_each(|_| runtime.record(800));
        assert_eq!(account.runtime_report(&runtime).count(), 3, "only the new calls");
        assert_eq!(account.runtime_report(&runtime).count(), 0, "the same report twice adds nothing");
        account.cpu_report(10);
        account.cpu_report(25);
        // The domain restarts: its runtime and thread count from zero again.
        account.restart();
        let mut restarted = Histogram::EMPTY;
        restarted.record(400);
        assert_eq!(account.runtime_report(&restarted).count(), 1);
        account.cpu_report(4);
        account.fault();
        let figures = account.figures();
        assert_eq!((figures.calls(), figures.cpu_ticks, figures.restarts, figures.faults), (9, 29, 1, 1));
    }

    #[cfg(feature = "report")]
    #[test]
    fn the_twin_sample_feeds_the_twins_compute_state() {
        use tileos_twin::state::ComputeState;
        let units = Units { tsc_per_us: 1000, tick_us: 5000 };
        let mut account = DomainAccount::default();
        let mut runtime = Histogram::EMPTY;
        (0..99).for_each(|_| runtime.record(3_000)); // 3 µs: bucket [2048, 4095]
        runtime.record(1_000_000); // 1 ms: bucket [524288, 1048575]
        let interval = account.runtime_report(&runtime);
        account.cpu_report(2);
        let first = account.figures().sample(&interval, units);
        assert_eq!((first.latency.count, first.latency.p50_us, first.latency.p99_us, first.latency.max_us), (100, 5, 5, 1049));
        assert_eq!(first.counters.cpu_time_us, 10_000);
        let mut state = ComputeState::default();
        assert_eq!(state.record(7, first, 1_000), Ok(None));
        // A restart in between: the account's counters still only grow, so the twin takes it.
        account.restart();
        let mut restarted = Histogram::EMPTY;
        restarted.record(10);
        let interval = account.runtime_report(&restarted);
        account.cpu_report(1);
        let second = account.figures().sample(&interval, units);
        let closed = state.record(7, second, 2_000).unwrap().unwrap();
        assert_eq!((closed.delta.ipc_calls, closed.delta.restarts, closed.delta.cpu_time_us), (1, 1, 5_000));
        assert_eq!(closed.latency.p50_us, 1, "15 ticks round up to 1 µs");
    }
}
