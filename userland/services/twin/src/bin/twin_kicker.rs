//! `twin-kicker`: the network boot test's client of the twin (scenario `twin-net`,
//! qemu/runner/tests/twin.rs). It has no privacy budget, and the scenario's twin has no
//! store, so no ledger: it checks that the twin refuses it an export and its account, and
//! logs the refusal (`LedgerUnavailable` here: exports are closed before any budget is
//! looked at; `twin-gate` tests `NoBudget` with the ledger open). Then it waits, looking at the twin's state every
//! 200 ms, until the state is stale — the host test's signal (it disconnects the
//! simulator) — and has the supervisor restart the twin, so that the host can check that
//! `tilectl twin` is still served after the restart. It logs `@event twinkicker.refused
//! error=…` and `@event twinkicker.restarted generation=…`.
#![no_std]
#![no_main]

extern crate tileos_rt;

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
    loop {
        tileos_sys::pause_ms(200);
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
