//! Test client of the immune-system scenario (`immune.toml`): makes [`ROUNDS`] rounds of
//! [`CALLS`] echo calls to "spin", reporting its latencies to the telemetry domain after
//! each round (`tileos_sys::telemetry::report`), then logs
//! `@event prober.done domain=… generation=… calls=…` and stops. Whether its calls slow
//! down is up to the server (spin-echo's `slow_after`).
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::echo::{Echo, Request};
use tileos_protocol::telemetry::Telemetry;
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};

/// Reporting rounds.
const ROUNDS: u32 = 60;
/// Calls per round.
const CALLS: u64 = 100;

tileos_sys::resources! {
    /// What the prober needs from the description.
    struct Resources {
        /// The server it measures.
        spin: ClientEndpoint("spin"),
        /// Where it reports.
        telemetry: ClientEndpoint("telemetry"),
    }
}

tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    let name = tileos_sys::domain::name();
    let generation = tileos_sys::domain::info().generation;
    let spin = Client::<Echo>::new(resources.spin);
    let telemetry = Client::<Telemetry>::new(resources.telemetry);
    let mut counted = 0;
    for round in 0..ROUNDS {
        for call in 0..CALLS {
            if spin.call(&Request::Increment(call)).is_err() {
                log!("{name}: call {call} of round {round} failed");
            }
        }
        match tileos_sys::telemetry::report(&telemetry) {
            Ok(total) => counted = total,
            Err(error) => log!("{name}: report of round {round} failed: {error:?}"),
        }
    }
    log_event!("prober.done", domain = name, generation = generation, calls = counted);
    tileos_sys::domain::stop()
}
