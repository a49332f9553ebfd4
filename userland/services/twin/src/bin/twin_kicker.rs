//! `twin-kicker`: the network boot test's client of the twin (scenario `twin-net`,
//! qemu/runner/tests/twin.rs). It has no privacy budget, and the scenario's twin has no
//! store, so no ledger: it checks that the twin refuses it an export and its account, and
//! logs the refusal (`LedgerUnavailable` here: exports are closed before any budget is
//! looked at; `twin-gate` tests `NoBudget` with the ledger open). Then it waits, looking at the twin's state every
//! 200 ms, until the state is stale — the host test's signal (it disconnects the
//! simulator) — and has the supervisor restart the twin, so that the host can check that
//! `tilectl twin` is still served after the restart. It logs `@event twinkicker.refused
//! error=…` and `@event twinkicker.restarted generation=…`.
//!
//! With a federation capability (optional; the scenario names the twin, not the kicker,
//! `figures_publisher`) it first tries to publish figures itself and logs the refusal
//! (`@event twinkicker.publish_refused error=NotPublisher`, a load of 5000 included), then,
//! while it watches the twin, reads the pod's aggregates of every tile (`PodAggregates`) and
//! logs each change as `@event twinkicker.pod tiles=… load_mean=… load_max=… busiest=…
//! faults=… restarts=… calls=… p99_max_us=… refused=…`: the host test checks them against
//! the figures the twin logged it published.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::federation::{self, Federation, TileFigures};
use tileos_protocol::supervisor::{self, Supervisor};
use tileos_protocol::twin::{Error, Mechanism, Request, Response, Twin};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};

#[path = "../client.rs"]
mod client;

tileos_sys::resources! {
    /// Capabilities by name.
    struct Resources {
        /// The twin protocol (no budget).
        twin: ClientEndpoint("twin"),
        /// The supervisor, with restart access.
        supervisor: ClientEndpoint("supervisor"),
        /// The federation service (optional): the kicker is no figures publisher.
        federation: ClientEndpoint("federation", optional),
    }
}

tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    let twin = Client::<Twin>::new(resources.twin);
    let export =
        Request::Export { query: "temperature.mean".try_into().unwrap_or_default(), mechanism: Mechanism::Laplace { epsilon: 0.5 } };
    for request in [export, Request::Budget] {
        let answer = client::call("twin-kicker", &twin, &request);
        match answer {
            Response::Refused(Error::NoBudget { badge }) => log_event!("twinkicker.refused", error = "NoBudget", badge = badge),
            Response::Refused(Error::LedgerUnavailable) => log_event!("twinkicker.refused", error = "LedgerUnavailable"),
            other => {
                log!("twin-kicker: FAILED: {request:?} without a budget answered {other:?}");
                tileos_sys::domain::stop();
            }
        }
    }
    let federation = resources.federation.map(Client::<Federation>::new);
    if let Some(federation) = &federation {
        let forged = TileFigures { load_permille: 5000, faults: 0, restarts: 0, calls: 1, p99_us: 1 };
        for figures in [TileFigures { load_permille: 1, ..forged }, forged] {
            match federation.call(&federation::Request::PublishFigures(figures)) {
                Ok(federation::Response::Failed(federation::Error::NotPublisher)) => {
                    log_event!("twinkicker.publish_refused", error = "NotPublisher", load_permille = figures.load_permille)
                }
                other => {
                    log!("twin-kicker: FAILED: publishing figures without being the publisher answered {other:?}");
                    tileos_sys::domain::stop();
                }
            }
        }
    }
    let mut last_pod = None;
    let mut failure_logged = false;
    loop {
        tileos_sys::pause_ms(200);
        if let Some(federation) = &federation {
            match federation.call(&federation::Request::PodAggregates { first: 0, last: u32::MAX }) {
                Ok(federation::Response::PodAggregates(pod)) if last_pod != Some(pod) => {
                    last_pod = Some(pod);
                    log_event!(
                        "twinkicker.pod",
                        tiles = pod.tiles,
                        load_mean = pod.load_mean_permille,
                        load_max = pod.load_max_permille,
                        busiest = pod.busiest,
                        faults = pod.faults,
                        restarts = pod.restarts,
                        calls = pod.calls,
                        p99_max_us = pod.p99_max_us,
                        refused = pod.refused
                    );
                }
                Ok(federation::Response::PodAggregates(_)) => {}
                other if !failure_logged => {
                    failure_logged = true;
                    log!("twin-kicker: reading the pod's aggregates answered {other:?} (logged once)");
                }
                _ => {}
            }
        }
        if let Response::State(state) = client::call("twin-kicker", &twin, &Request::State)
            && state.stale
        {
            break;
        }
    }
    let supervisor = Client::<Supervisor>::new(resources.supervisor);
    match supervisor.call(&supervisor::Request::Restart { domain: "twin".try_into().unwrap_or_default() }) {
        Ok(supervisor::Response::Restarted { generation, .. }) => log_event!("twinkicker.restarted", generation = generation),
        other => log!("twin-kicker: FAILED: restarting the twin answered {other:?}"),
    }
    tileos_sys::domain::stop();
}
