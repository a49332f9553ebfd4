//! The client of the boot test `base-refused` (docs/inference.md "The signed base"): asks
//! the inference domain, whose base the loader refused, to generate (with an adapter and
//! with the base alone) and for its status, and logs each refusal's kind; the host test
//! requires `NoBase` with the loader's fault for a permitted badge and `NotPermitted` for
//! a stranger's (the same program on a badge without `generate = 1`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate tileos_rt;

use tileos_protocol::inference::{AdapterName, Error, Inference, Prompt, Request, Response};
use tileos_service_inference::{DebugText, call};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// Capabilities by name.
    struct Resources {
        /// The inference domain.
        inference: ClientEndpoint("inference"),
    }
}

tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    let client = Client::<Inference>::new(resources.inference);
    let who = tileos_sys::domain::name();
    let generate = |adapter: Option<&str>| Request::Generate {
        adapter: adapter.map(|a| AdapterName::try_from(a).unwrap_or_default()),
        prompt: Prompt::from_slice(b"12+7").unwrap_or_default(),
        max_new: 8,
    };
    for (what, request) in [("generate-t1", generate(Some("t1"))), ("generate-base", generate(None)), ("status", Request::Status)] {
        let response = call(who, &client, &request);
        log!("{who}: {what}: {response:?}");
        match response {
            Response::Refused(Error::NoBase { fault }) => {
                log_event!("no-base-client.refused", domain = who, what = what, kind = "no-base", fault = DebugText(&fault));
            }
            Response::Refused(Error::NotPermitted { badge }) => {
                log_event!("no-base-client.refused", domain = who, what = what, kind = "not-permitted", badge = badge);
            }
            _ => log_event!("no-base-client.SERVED", domain = who, what = what),
        }
    }
    log_event!("no-base-client.done", domain = who);
    tileos_sys::domain::stop();
}
