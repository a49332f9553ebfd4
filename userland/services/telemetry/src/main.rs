//! The `telemetry` domain (docs/telemetry.md): serves `tileos_protocol::telemetry` on the
//! endpoint "telemetry".
//!
//! * A client's `Report` (its runtime's latency histogram) is accounted to the domain its
//!   badge belongs to (`tileos_telemetry::collector`); the calls it adds are passed on to
//!   the supervisor's immune system as one observation (`supervisor::Request::Observe`).
//! * `Figures` joins the supervisor's figures (faults, restarts, CPU time: the supervisor
//!   holds the TCBs; this domain holds no capability to any other domain) with the latency
//!   accounts and a power estimate (`tileos_telemetry::power`, `PowerModel::EXAMPLE`: an
//!   illustration, not a measurement).
//! * `Histogram` gives one domain's whole histogram, for pod-level aggregates.
//!
//! What the description must grant: the served endpoint "telemetry" and the client endpoint
//! "supervisor" (`access = "status"` suffices for figures; only the domain serving
//! "telemetry" may send observations).
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::supervisor::{self, Supervisor};
use tileos_protocol::telemetry::{MAX_FIGURES, MAX_REPORT, Refusal, Request, Response, Telemetry, Units};
use tileos_sys::log;
use tileos_sys::rpc::Client;
use tileos_telemetry::collector::Collector;
use tileos_telemetry::power::PowerModel;

tileos_sys::resources! {
    /// What the telemetry domain needs from the description (checked at build time).
    struct Resources {
        /// The endpoint it serves.
        service: ServedEndpoint("telemetry"),
        /// The supervisor: figures, and the immune system's observations.
        supervisor: ClientEndpoint("supervisor"),
    }
}

tileos_sys::entry!(main);

/// The supervisor's figures of the domains from `first`, or the refusal to answer with.
fn supervised(
    supervisor: &Client<Supervisor>,
    first: u16,
) -> Result<(u16, Units, heapless::Vec<supervisor::SupervisedFigures, { supervisor::MAX_FIGURES }>), Refusal> {
    match supervisor.call_unrecorded(&supervisor::Request::Figures { first }) {
        Ok(supervisor::Response::Figures { total, tsc_per_ms, tick_us, uptime_ms, domains }) => {
            Ok((total, Units { tsc_per_ms, tick_us, uptime_ms }, domains))
        }
        other => {
            log!("telemetry: the supervisor's figures from domain {first}: {other:?}");
            Err(Refusal::SupervisorUnavailable)
        }
    }
}

/// Learns every reporting domain's badge from the supervisor; whether it could.
fn learn(supervisor: &Client<Supervisor>, collector: &mut Collector) -> bool {
    let mut first = 0u16;
    loop {
        let Ok((total, _, lines)) = supervised(supervisor, first) else { return false };
        collector.learn(first, &lines);
        first = first.saturating_add(lines.len() as u16);
        if lines.is_empty() || first >= total {
            return true;
        }
    }
}

/// Passes one reporting interval of the domain with `badge` to the immune system.
fn observe(supervisor: &Client<Supervisor>, badge: u64, interval: &tileos_telemetry::Histogram) {
    let upper = |per_mille| interval.percentile(per_mille).map_or(0, |p| p.upper);
    let request = supervisor::Request::Observe { reporter: badge, calls: interval.count(), p50_ticks: upper(500), p99_ticks: upper(990) };
    match supervisor.call_unrecorded(&request) {
        Ok(supervisor::Response::Observed { findings }) => {
            for finding in findings {
                log!("telemetry: immune finding for reporter {badge:#x}: {finding:?}");
            }
        }
        other => log!("telemetry: observation of reporter {badge:#x} not taken: {other:?}"),
    }
}

fn main(resources: Resources) -> ! {
    let supervisor = Client::<Supervisor>::new(resources.supervisor);
    let mut collector = Collector::default();
    let mut learnt = learn(&supervisor, &mut collector);
    log!("telemetry: serving (generation {})", tileos_sys::domain::info().generation);
    tileos_sys::rpc::serve::<Telemetry>(resources.service, |badge, request| {
        Ok(match request {
            Request::Report { figures } => {
                if !learnt {
                    learnt = learn(&supervisor, &mut collector);
                }
                match collector.report(badge, &figures) {
                    Ok(accepted) => {
                        if accepted.interval.count() != 0 {
                            observe(&supervisor, badge, &accepted.interval);
                        }
                        Response::Accepted { new_calls: accepted.interval.count(), total_calls: accepted.total_calls }
                    }
                    Err(refusal) => {
                        log!("telemetry: report from badge {badge:#x} refused: {refusal:?}");
                        Response::Refused(refusal)
                    }
                }
            }
            Request::Figures { first } => match supervised(&supervisor, first) {
                Err(refusal) => Response::Refused(refusal),
                Ok((total, units, lines)) => {
                    collector.learn(first, &lines);
                    let domains = lines
                        .iter()
                        .take(MAX_FIGURES)
                        .map(|line| collector.figures(line, &PowerModel::EXAMPLE, units.tsc_per_ms, units.uptime_ms))
                        .collect();
                    Response::Figures { total, units, domains }
                }
            },
            Request::Histogram { domain } => match collector.histogram(domain) {
                None => Response::Refused(Refusal::UnknownDomain),
                Some(histogram) => {
                    let figures = tileos_telemetry::DomainFigures { latency: *histogram, ..Default::default() };
                    let mut bytes = [0u8; MAX_REPORT];
                    let encoded =
                        tileos_telemetry::wire::encode(&figures, &mut bytes).map_err(|_| tileos_protocol::ProtocolError::Failed)?;
                    Response::Histogram { figures: heapless::Vec::from_slice(encoded).map_err(|_| tileos_protocol::ProtocolError::Failed)? }
                }
            },
        })
    })
}
