//! The tile's compute state from the telemetry domain's figures (docs/twin.md "Compute
//! state"): the twin reads every domain's `tileos_protocol::telemetry::DomainFigures` and
//! keeps their sums, the slowest reporter's 99th percentile, the domains the supervisor's
//! immune system has drift alarms raised for, and the tile's **load** — the
//! share of the CPU the domains consumed since the previous figures — which it reports to
//! the sensors domain (`ReportLoad`: the simulator's power and thermal models follow it).

use tileos_protocol::telemetry::{DomainFigures, Units};
use tileos_protocol::twin::{Compute, Drifting, MAX_DRIFTING, Slowest};

/// Why a set of figures was not taken (the compute state is unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComputeError {
    /// The units say 0 time-stamp ticks per ms: nothing converts.
    Units,
    /// The figures' uptime is not later than the previous figures' (ms): no interval.
    NotLater {
        /// The previous figures' uptime.
        previous_ms: u64,
        /// These figures' uptime.
        uptime_ms: u64,
    },
}

/// The compute state and what the next load needs.
#[derive(Clone, Debug, Default)]
pub struct ComputeTracker {
    /// Uptime (ms) and the domains' total CPU time (time-stamp cycles) of the previous
    /// figures.
    previous: Option<(u64, u64)>,
    /// The compute state of the latest figures taken.
    current: Option<Compute>,
}

impl ComputeTracker {
    /// The compute state of the latest figures taken, if any.
    pub fn current(&self) -> Option<&Compute> {
        self.current.as_ref()
    }

    /// Takes every domain's figures (all pages of the telemetry domain's answer) and returns
    /// the new compute state. The load is the domains' CPU time — the cycles the kernel
    /// charged precisely (`cpu_cycles`), not the sampled ticks — over the interval since
    /// the previous figures (since boot for the first, or when the total went down: a
    /// restarted root server's counts), in permille of that interval, at most 1000. Time
    /// the CPU idled is charged to no domain, so it is not load.
    pub fn take(&mut self, units: &Units, figures: &[DomainFigures]) -> Result<&Compute, ComputeError> {
        if units.tsc_per_ms == 0 {
            return Err(ComputeError::Units);
        }
        if let Some((previous_ms, _)) = self.previous
            && units.uptime_ms <= previous_ms
        {
            return Err(ComputeError::NotLater { previous_ms, uptime_ms: units.uptime_ms });
        }
        let cycles = figures.iter().map(|f| f.cpu_cycles).fold(0u64, u64::saturating_add);
        let (busy, interval_ms) = match self.previous {
            Some((previous_ms, previous)) if cycles >= previous => (cycles - previous, units.uptime_ms - previous_ms),
            _ => (cycles, units.uptime_ms),
        };
        let slowest = figures
            .iter()
            .filter(|f| f.reporter && f.calls > 0)
            .max_by_key(|f| f.p99_ticks)
            .map(|f| Slowest { domain: f.name.clone(), p99_us: f.p99_ticks.saturating_mul(1000) / units.tsc_per_ms });
        let drifting = || figures.iter().filter(|f| !f.alarms.is_empty());
        let sum = |field: fn(&DomainFigures) -> u64| figures.iter().map(field).fold(0u64, u64::saturating_add);
        self.previous = Some((units.uptime_ms, cycles));
        Ok(self.current.insert(Compute {
            uptime_ms: units.uptime_ms,
            domains: u16::try_from(figures.len()).unwrap_or(u16::MAX),
            reporters: u16::try_from(figures.iter().filter(|f| f.reporter).count()).unwrap_or(u16::MAX),
            calls: sum(|f| f.calls),
            faults: sum(|f| f.faults),
            restarts: sum(|f| f.restarts),
            load_permille: permille(busy, interval_ms.saturating_mul(units.tsc_per_ms)),
            power_mw: sum(|f| u64::from(f.power_mw)),
            slowest,
            drifting_domains: u16::try_from(drifting().count()).unwrap_or(u16::MAX),
            drifting: drifting()
                .take(MAX_DRIFTING)
                .map(|f| Drifting { domain: f.name.clone(), metrics: f.alarms.metrics().collect() })
                .collect(),
        }))
    }
}

/// `busy` cycles of an interval of `interval` cycles, in permille, at most 1000.
fn permille(busy: u64, interval: u64) -> u16 {
    let share = u128::from(busy) * 1000 / u128::from(interval.max(1));
    share.min(1000) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A domain's figures; `cpu_ticks` of 5 ms, and as many cycles at 2 GHz.
    fn figures(name: &str, reporter: bool, calls: u64, p99_ticks: u64, cpu_ticks: u64) -> DomainFigures {
        DomainFigures {
            name: name.try_into().unwrap(),
            reporter,
            calls,
            p50_ticks: p99_ticks / 4,
            p99_ticks,
            max_ticks: p99_ticks * 2,
            faults: 1,
            restarts: u64::from(!reporter),
            cpu_ticks,
            cpu_cycles: cpu_ticks * 10_000_000,
            power_mw: 500,
            alarms: Default::default(),
        }
    }

    const UNITS: Units = Units { tsc_per_ms: 2_000_000, tick_us: 5000, uptime_ms: 10_000 };

    #[test]
    fn sums_the_slowest_reporter_and_the_load_over_the_interval() {
        let mut tracker = ComputeTracker::default();
        assert_eq!(tracker.current(), None);
        // 400 + 600 ticks of 5 ms in 10 s: 5 s busy, half the CPU since boot.
        let first = [figures("console", false, 0, 0, 400), figures("twin", true, 50, 4_000_000, 600)];
        let compute = tracker.take(&UNITS, &first).unwrap().clone();
        assert_eq!(compute.load_permille, 500);
        assert_eq!((compute.domains, compute.reporters, compute.calls, compute.faults, compute.restarts), (2, 1, 50, 2, 1));
        assert_eq!(compute.power_mw, 1000);
        let slowest = compute.slowest.unwrap();
        assert_eq!((slowest.domain.as_str(), slowest.p99_us), ("twin", 2000));
        // 2 s later, 100 more ticks (0.5 s): a quarter of the interval.
        let later = Units { uptime_ms: 12_000, ..UNITS };
        let second =
            [figures("console", false, 0, 0, 450), figures("twin", true, 80, 4_000_000, 650), figures("store", true, 9, 8_000_000, 0)];
        let compute = tracker.take(&later, &second).unwrap();
        assert_eq!(compute.load_permille, 250);
        assert_eq!(compute.slowest.as_ref().unwrap().domain.as_str(), "store");
        assert_eq!(tracker.current().unwrap().calls, 89);
    }

    #[test]
    fn names_the_domains_with_drift_alarms_and_counts_those_beyond_the_list() {
        use tileos_protocol::supervisor::{ImmuneMetric, RaisedAlarms};
        let mut tracker = ComputeTracker::default();
        let drifting = |name: &str, alarms: RaisedAlarms| DomainFigures { alarms, ..figures(name, true, 5, 100, 10) };
        let p50 = RaisedAlarms::default().with(ImmuneMetric::LatencyP50);
        let mut all = alloc::vec![figures("console", false, 0, 0, 1), drifting("slot-client", p50.with(ImmuneMetric::SlotDisagreement))];
        all.extend((0..5).map(|i| drifting(["a", "b", "c", "d", "e"][i], p50)));
        let compute = tracker.take(&UNITS, &all).unwrap();
        assert_eq!(compute.drifting_domains, 6);
        let named: alloc::vec::Vec<_> = compute.drifting.iter().map(|d| d.domain.as_str()).collect();
        assert_eq!(named, ["slot-client", "a", "b", "c"]);
        assert_eq!(compute.drifting[0].metrics, [ImmuneMetric::LatencyP50, ImmuneMetric::SlotDisagreement]);
        let later = Units { uptime_ms: 11_000, ..UNITS };
        let calm = tracker.take(&later, &all[..1]).unwrap();
        assert_eq!((calm.drifting_domains, calm.drifting.len()), (0, 0));
    }

    #[test]
    fn refuses_bad_units_and_figures_not_later_and_keeps_the_state() {
        let mut tracker = ComputeTracker::default();
        assert_eq!(tracker.take(&Units { tsc_per_ms: 0, ..UNITS }, &[]).unwrap_err(), ComputeError::Units);
        assert_eq!(tracker.current(), None);
        tracker.take(&UNITS, &[figures("twin", true, 5, 100, 10)]).unwrap();
        assert_eq!(tracker.take(&UNITS, &[]).unwrap_err(), ComputeError::NotLater { previous_ms: 10_000, uptime_ms: 10_000 });
        assert_eq!(tracker.current().unwrap().calls, 5);
    }

    #[test]
    fn the_load_is_capped_and_restarts_from_boot_when_the_total_goes_down() {
        let mut tracker = ComputeTracker::default();
        // More CPU than time (two CPUs, or ticks charged in bulk): at most 1000.
        assert_eq!(tracker.take(&UNITS, &[figures("spin", true, 1, 1, 4000)]).unwrap().load_permille, 1000);
        // The total went down: the load is taken since boot (1 s of 11 s).
        let later = Units { uptime_ms: 11_000, ..UNITS };
        assert_eq!(tracker.take(&later, &[figures("spin", true, 1, 1, 200)]).unwrap().load_permille, 90);
        // No reporter with calls: no slowest.
        let quiet = Units { uptime_ms: 12_000, ..UNITS };
        assert_eq!(tracker.take(&quiet, &[figures("console", false, 0, 0, 200)]).unwrap().slowest, None);
    }

    #[test]
    fn the_load_follows_the_precise_cycles_not_the_sampled_ticks() {
        let mut tracker = ComputeTracker::default();
        // A domain that ran a tenth of 10 s but was found by 1000 ticks (as often as a tick
        // came: it ran just when the timer fired) is a tenth of load, not all of it.
        let lucky = DomainFigures { cpu_cycles: 2_000_000_000, ..figures("poller", true, 1, 1, 1000) };
        assert_eq!(tracker.take(&UNITS, &[lucky]).unwrap().load_permille, 100);
        // One that escaped every tick still counts its cycles.
        let later = Units { uptime_ms: 12_000, ..UNITS };
        let unlucky = DomainFigures { cpu_cycles: 3_000_000_000, ..figures("poller", true, 1, 1, 1000) };
        assert_eq!(tracker.take(&later, &[unlucky]).unwrap().load_permille, 250);
    }
}
