//! `twin-recipient`: the privacy-budget boot test's honest recipient (scenario `twin-gate`,
//! qemu/runner/tests/twin.rs). Its badge has a budget of ε = 1 in the description. It waits
//! until the twin's windows hold samples, then reads its account: with nothing spent (the
//! first boot with this disk) it exports `temperature.mean` with Laplace ε = 0.3 until the
//! twin refuses with `BudgetExhausted` (three releases fit: 300 001 µε each); with its
//! budget spent (a later boot) its first export must be refused. One `@event
//! twinrecipient.*` line per fact the test checks. (It starts after 600 readings of all
//! quantities, about 65 temperatures: a release over so few samples is noisy, which is
//! the privacy at work, not an error.)
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::twin::{Error, Mechanism, Request, Response, Twin};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// Capabilities by name.
    struct Resources {
        /// The twin protocol.
        twin: ClientEndpoint("twin"),
    }
}

tileos_sys::entry!(main);

#[path = "../client.rs"]
mod client;

/// A call, retried while the twin restarts.
fn call(client: &Client<Twin>, request: &Request) -> Response {
    client::call("twin-recipient", client, request)
}

fn main(resources: Resources) -> ! {
    let client = Client::<Twin>::new(resources.twin);
    // Samples in the windows first (the twin answers State from the start).
    while !matches!(call(&client, &Request::State), Response::State(state) if state.readings > 600 && state.exports_open) {
        tileos_sys::yield_now();
    }
    let Response::Budget { budget, spent, .. } = call(&client, &Request::Budget) else {
        log!("twin-recipient: FAILED: no budget");
        tileos_sys::domain::stop();
    };
    log_event!("twinrecipient.account", budget_micros = budget.epsilon_micros, spent_micros = spent.epsilon_micros);
    let export =
        Request::Export { query: "temperature.mean".try_into().unwrap_or_default(), mechanism: Mechanism::Laplace { epsilon: 0.3 } };
    let mut released = 0u32;
    loop {
        match call(&client, &export) {
            Response::Released { value, charged, remaining } => {
                released += 1;
                // The value's bits, so the host can compare it with raw samples exactly.
                log_event!(
                    "twinrecipient.released",
                    value_milli = (value * 1000.0) as i64,
                    bits = value.to_bits(),
                    charged = charged.epsilon_micros,
                    remaining = remaining.epsilon_micros
                );
            }
            Response::Refused(Error::BudgetExhausted { remaining, requested }) => {
                log_event!(
                    "twinrecipient.exhausted",
                    released = released,
                    remaining = remaining.epsilon_micros,
                    requested = requested.epsilon_micros
                );
                break;
            }
            other => {
                log!("twin-recipient: FAILED: export answered {other:?}");
                break;
            }
        }
    }
    log_event!("twinrecipient.done");
    tileos_sys::domain::stop();
}
