//! The telemetry domain's logic (feature `collector`; the domain program
//! `userland/services/telemetry` is glue around it): the accounts of the domains that report,
//! keyed by their badge on the `telemetry` endpoint, and the joined per-domain figures it
//! serves (`tileos_protocol::telemetry`).
//!
//! Which badges may report is learnt from the supervisor ([`Collector::learn`]: every
//! domain's `telemetry_badge` in its `Figures` answer), so a report is always accounted to
//! the domain the description gave that badge — a domain cannot report for another. A report
//! carries latencies only; faults, restarts and CPU time come from the supervisor.

use crate::figures::DomainAccount;
use crate::histogram::Histogram;
use crate::power::{PowerModel, share_ppm};
use crate::wire;
use alloc::collections::BTreeMap;
use tileos_protocol::supervisor::SupervisedFigures;
use tileos_protocol::telemetry::{DomainFigures, Refusal};

/// A reporting domain as the collector knows it.
#[derive(Clone, Debug, Default)]
struct Reporter {
    /// Its index in the description.
    index: u16,
    /// Its figures.
    account: DomainAccount,
}

/// The accounts of every domain that may report.
#[derive(Clone, Debug, Default)]
pub struct Collector {
    reporters: BTreeMap<u64, Reporter>,
}

/// What an accepted report added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The calls it added (its own histogram: the interval the immune system observes).
    pub interval: Histogram,
    /// The reporter's calls so far, across its restarts.
    pub total_calls: u64,
}

impl Collector {
    /// Learns which badge belongs to which domain from the supervisor's figures of the
    /// domains `first..` (`lines`, in description order); a badge seen before keeps its
    /// account.
    pub fn learn(&mut self, first: u16, lines: &[SupervisedFigures]) {
        for (offset, line) in lines.iter().enumerate() {
            if line.telemetry_badge != 0 {
                let index = first.saturating_add(offset as u16);
                self.reporters.entry(line.telemetry_badge).or_default().index = index;
            }
        }
    }

    /// Whether `badge` may report.
    pub fn knows(&self, badge: u64) -> bool {
        self.reporters.contains_key(&badge)
    }

    /// Takes the report `bytes` of the caller with `badge`. Nothing changes when it is
    /// refused.
    pub fn report(&mut self, badge: u64, bytes: &[u8]) -> Result<Accepted, Refusal> {
        let reporter = self.reporters.get_mut(&badge).ok_or(Refusal::UnknownReporter)?;
        let figures = wire::decode(bytes).map_err(Refusal::Malformed)?;
        if figures.faults != 0 || figures.restarts != 0 || figures.cpu_ticks != 0 {
            return Err(Refusal::ForeignFigures);
        }
        let interval = reporter.account.runtime_report(&figures.latency);
        Ok(Accepted { interval, total_calls: reporter.account.figures().calls() })
    }

    /// The cumulative latency histogram of the domain with description index `index`
    /// (`None` if it reports nothing).
    pub fn histogram(&self, index: u16) -> Option<&Histogram> {
        self.reporters.values().find(|r| r.index == index).map(|r| &r.account.figures().latency)
    }

    /// The served figures of one domain: the supervisor's `line` joined with its latency
    /// account, and its power share by `model` over `uptime_ms` (its CPU cycles, precisely
    /// charged, of `tsc_per_ms` a millisecond).
    pub fn figures(&self, line: &SupervisedFigures, model: &PowerModel, tsc_per_ms: u64, uptime_ms: u64) -> DomainFigures {
        let latency = self.reporters.get(&line.telemetry_badge).map(|r| r.account.figures().latency).unwrap_or_default();
        let upper = |per_mille| latency.percentile(per_mille).map_or(0, |p| p.upper);
        let uptime_cycles = uptime_ms.saturating_mul(tsc_per_ms);
        let power_mw = share_ppm(line.cpu_cycles, uptime_cycles).map_or(0, |ppm| model.domain_mw(ppm));
        DomainFigures {
            name: line.name.clone(),
            reporter: line.telemetry_badge != 0,
            calls: latency.count(),
            p50_ticks: upper(500),
            p99_ticks: upper(990),
            max_ticks: latency.max_bucket().map_or(0, |p| p.upper),
            faults: line.faults,
            restarts: line.restarts,
            cpu_ticks: line.cpu_ticks,
            cpu_cycles: line.cpu_cycles,
            power_mw,
            alarms: line.alarms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::DomainFigures as Raw;
    use tileos_protocol::telemetry::WireFault;

    /// A supervisor's line: `cpu_ticks` of 5 ms and their cycles at 2 GHz.
    fn line(name: &str, badge: u64, cpu_ticks: u64) -> SupervisedFigures {
        SupervisedFigures {
            name: name.try_into().unwrap(),
            faults: 1,
            restarts: 2,
            cpu_ticks,
            cpu_cycles: cpu_ticks * 10_000_000,
            telemetry_badge: badge,
            alarms: Default::default(),
        }
    }

    fn encoded(figures: &Raw) -> std::vec::Vec<u8> {
        let mut buffer = [0u8; wire::MAX_ENCODED];
        wire::encode(figures, &mut buffer).unwrap().to_vec()
    }

    fn latencies(values: &[u64]) -> Raw {
        let mut latency = Histogram::EMPTY;
        values.iter().for_each(|&v| latency.record(v));
        Raw { latency, ..Raw::default() }
    }

    #[test]
    fn reports_are_accounted_to_the_badges_domain_only() {
        let mut collector = Collector::default();
        collector.learn(0, &[line("console", 0, 0), line("a", 0x10, 0)]);
        collector.learn(2, &[line("b", 0x11, 0)]);
        assert!(collector.knows(0x10) && collector.knows(0x11) && !collector.knows(0));
        let first = collector.report(0x10, &encoded(&latencies(&[1000, 1000, 3000]))).unwrap();
        assert_eq!((first.interval.count(), first.total_calls), (3, 3));
        let second = collector.report(0x10, &encoded(&latencies(&[1000, 1000, 3000, 5000]))).unwrap();
        assert_eq!((second.interval.count(), second.total_calls), (1, 4), "only the call since the last report");
        assert_eq!(collector.histogram(1).unwrap().count(), 4);
        assert_eq!(collector.histogram(2).map(Histogram::count), Some(0), "b reported nothing yet");
        assert_eq!(collector.histogram(3), None, "no reporter has index 3");
        // b's account is untouched by a's reports.
        let b = collector.figures(&line("b", 0x11, 0), &PowerModel::EXAMPLE, 5000, 1000);
        assert_eq!(b.calls, 0);
    }

    #[test]
    fn hostile_reports_are_refused_and_change_nothing() {
        let mut collector = Collector::default();
        collector.learn(0, &[line("a", 0x10, 0)]);
        let good = encoded(&latencies(&[1000]));
        assert_eq!(collector.report(0x99, &good), Err(Refusal::UnknownReporter));
        assert_eq!(collector.report(0x10, &[]), Err(Refusal::Malformed(WireFault::Malformed)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(collector.report(0x10, &trailing), Err(Refusal::Malformed(WireFault::TrailingBytes)));
        let foreign = Raw { faults: 1, ..latencies(&[1000]) };
        assert_eq!(collector.report(0x10, &encoded(&foreign)), Err(Refusal::ForeignFigures));
        let cpu = Raw { cpu_ticks: 9, ..latencies(&[1000]) };
        assert_eq!(collector.report(0x10, &encoded(&cpu)), Err(Refusal::ForeignFigures));
        assert_eq!(collector.histogram(0).map(|h| h.count()), Some(0), "nothing was accounted");
    }

    #[test]
    fn a_restarted_reporter_keeps_its_count() {
        let mut collector = Collector::default();
        collector.learn(0, &[line("a", 0x10, 0)]);
        collector.report(0x10, &encoded(&latencies(&[1000; 5]))).unwrap();
        // The domain restarted: its runtime's histogram starts from zero again.
        let after = collector.report(0x10, &encoded(&latencies(&[1000; 2]))).unwrap();
        assert_eq!((after.interval.count(), after.total_calls), (2, 7));
    }

    #[test]
    fn figures_join_the_supervisors_line_with_latencies_and_power() {
        let mut collector = Collector::default();
        collector.learn(0, &[line("a", 0x10, 0)]);
        collector.report(0x10, &encoded(&latencies(&[1000, 1000, 1000, 70_000]))).unwrap();
        // 100 ticks' worth of cycles (0.5 s at 2 GHz) in 1 s of uptime: half the CPU, half of 9 W.
        let figures = collector.figures(&line("a", 0x10, 100), &PowerModel::EXAMPLE, 2_000_000, 1000);
        assert_eq!((figures.calls, figures.p50_ticks, figures.p99_ticks, figures.max_ticks), (4, 1023, 131_071, 131_071));
        assert_eq!(
            (figures.faults, figures.restarts, figures.cpu_ticks, figures.cpu_cycles, figures.power_mw),
            (1, 2, 100, 1_000_000_000, 4500)
        );
        // The power follows the precise cycles, not the sampled ticks.
        let sampled_high = SupervisedFigures { cpu_ticks: 200, ..line("a", 0x10, 100) };
        assert_eq!(collector.figures(&sampled_high, &PowerModel::EXAMPLE, 2_000_000, 1000).power_mw, 4500);
        assert!(figures.reporter);
        let silent = collector.figures(&line("console", 0, 0), &PowerModel::EXAMPLE, 2_000_000, 0);
        assert_eq!((silent.reporter, silent.calls, silent.power_mw), (false, 0, 0), "no uptime: no share, no power");
    }
}
