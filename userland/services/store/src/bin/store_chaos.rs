//! Fault injection for the store's fault test (scenario `store-fault`): through the
//! supervisor control protocol it kills, one after the other and [`GAP_MS`] apart, the NVMe
//! driver, the store itself and the store's client `store-writer`, while the writer keeps
//! writing. The supervisor restarts each; the host then checks from the writer's log that
//! nothing it had acknowledged as durable was lost (docs/store.md, "Faults").
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::heapless::String;
use tileos_protocol::supervisor::{Request, Response, Supervisor};
use tileos_sys::log;
use tileos_sys::rpc::Client;

/// Time between kills (and before the first).
const GAP_MS: u64 = 1500;
/// What is killed, in order.
const VICTIMS: [&str; 3] = ["nvme", "store", "store-writer"];

tileos_sys::resources! {
    /// The supervisor's control endpoint.
    struct Resources {
        /// The supervisor, with the right to restart.
        supervisor: ClientEndpoint("supervisor"),
    }
}

tileos_sys::entry!(main);

fn sleep_ms(ms: u64) {
    let deadline = tileos_sys::timestamp() + ms * tileos_sys::domain::info().tsc_per_ms;
    while tileos_sys::timestamp() < deadline {
        tileos_sys::yield_now();
    }
}

fn main(resources: Resources) -> ! {
    let supervisor = Client::<Supervisor>::new(resources.supervisor);
    for victim in VICTIMS {
        sleep_ms(GAP_MS);
        let mut domain = String::new();
        let _ = domain.push_str(victim);
        log!("store-chaos: killing \"{victim}\"");
        match supervisor.call(&Request::Restart { domain }) {
            Ok(answer @ Response::Restarted { .. }) => log!("store-chaos: \"{victim}\": {answer:?}"),
            other => log!("store-chaos: FAILED: the restart of \"{victim}\" was answered {other:?}"),
        }
    }
    sleep_ms(GAP_MS);
    log!("store-chaos: done");
    tileos_sys::domain::stop();
}
