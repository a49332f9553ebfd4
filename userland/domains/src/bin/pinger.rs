//! Isolation test domain: calls the "echo" service 20 times (yielding between calls) and
//! reports whether every answer was right, showing the service kept working while a
//! hostile domain attacked. If it waits on a "spinning" notification, it then waits for
//! the hostile domain to start spinning at a higher priority, reports the segment selectors
//! it finds (the hostile domain loaded others just before), and calls 20 times more.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::echo::{Echo, Request, Response};
use tileos_sys::log;
use tileos_sys::rpc::Client;

tileos_sys::resources! {
    /// What the pinger needs from the description (checked at build time).
    struct Resources {
        /// The echo service it calls.
        echo: ClientEndpoint("echo"),
        /// Signalled by the hostile domain once it spins (only in the segment test).
        spinning: WaitNotification("spinning", optional),
    }
}

tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    let client = Client::<Echo>::new(resources.echo);
    log!("pinger: {} of 20 calls answered correctly", calls(&client));
    if let Some(spinning) = resources.spinning {
        spinning.wait();
        // The hostile domain loaded its own selectors just before it signalled.
        let [ds, es, fs, gs] = tileos_sys::probe::segments();
        log!("pinger: segment selectors after the hostile domain loaded its own: DS {ds:#x} ES {es:#x} FS {fs:#x} GS {gs:#x}");
        log!("pinger: {} of 20 calls answered correctly while the hostile domain spins", calls(&client));
    }
    tileos_sys::domain::stop()
}

/// Makes 20 calls, yielding between them; returns how many were answered correctly.
fn calls(client: &Client<Echo>) -> u64 {
    let mut good = 0;
    for round in 0..20u64 {
        if client.call(&Request::Increment(round)) == Ok(Response::Number(round + 1)) {
            good += 1;
        }
        tileos_sys::yield_now();
    }
    good
}
