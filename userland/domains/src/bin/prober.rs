//! Supervisor test domain: calls "flaky" with 1, then 13 (which crashes the server mid-
//! request), then 2, and logs what happened: the client must see the lost reply as an error
//! it can handle, and the restarted server must answer the next request.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::message::LABEL_REPLY_LOST;
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// What the prober needs from the description (checked at build time).
    struct Resources {
        /// The server it calls.
        flaky: ClientEndpoint("flaky"),
    }
}

tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    let flaky = resources.flaky.cptr();
    for request in [1u64, 13, 2] {
        let reply = tileos_sys::call(flaky, 0, &[request], &[]);
        match reply.info.label() {
            0 => {
                log!("prober: request {request} answered {}", reply.words[0]);
                log_event!("prober.answered", request = request, value = reply.words[0]);
            }
            LABEL_REPLY_LOST => {
                log!("prober: request {request}: the server died before replying (reply lost); retrying later");
                log_event!("prober.reply-lost", request = request);
            }
            other => log!("prober: request {request}: error label {other}"),
        }
    }
    log!("prober: done");
    tileos_sys::domain::stop()
}
