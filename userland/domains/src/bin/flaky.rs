//! Supervisor test domain: serves "flaky", answering `2 × word 0` — except for request 13,
//! where it crashes mid-request (a null-pointer write) without replying.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// What flaky needs from the description (checked at build time).
    struct Resources {
        /// The endpoint it serves.
        flaky: ServedEndpoint("flaky"),
    }
}

tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    let endpoint = resources.flaky.cptr();
    let generation = tileos_sys::domain::info().generation;
    log!("flaky: serving (generation {generation})");
    log_event!("flaky.serving", generation = generation);
    let mut message = tileos_sys::recv(endpoint, true);
    loop {
        if message.words[0] == 13 {
            log!("flaky: request 13: crashing mid-request");
            // SAFETY: deliberately faults (null pointer write); the supervisor restarts us.
            unsafe { core::ptr::null_mut::<u64>().write_volatile(13) };
        }
        message = tileos_sys::reply_recv(endpoint, 0, &[message.words[0] * 2]);
    }
}
