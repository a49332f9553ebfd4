//! The parity and bench client of scenario `inference` (docs/inference.md "Boot tests"):
//! asks both inference domains for their base's identity, then asks the first one a fixed
//! set of questions per adapter (each adapter's first question twice: the first time it
//! swaps the adapter in, the second not, so the difference is the swap's cost), then a few
//! on the second domain, and logs each answer with the prompt, both in hex, and the call's
//! time-stamp counter ticks (guest instructions under `-icount`). An adapter the model
//! loader has not yet put into the store is asked again until it is there (at most 20 s
//! after boot). The host test decodes
//! them and compares each answer with the host core's for the same prompt.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate tileos_rt;

use tileos_protocol::inference::{AdapterName, Error, Inference, Prompt, Request, Response};
use tileos_service_inference::{Hex, call};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// Capabilities by name.
    struct Resources {
        /// The first inference domain.
        first: ClientEndpoint("inference"),
        /// The second inference domain (the same base region).
        second: ClientEndpoint("inference-b"),
    }
}

tileos_sys::entry!(main);

/// The questions per adapter (`None`: the base alone), from the held-out kinds of each
/// topic's corpus (docs/inference.md "Model").
const ASKS: [(Option<&str>, [&str; 3]); 5] = [
    (Some("t1"), ["12+7", "3 km in m", "45-19"]),
    (Some("t2"), ["describe a river", "describe the sea", "describe a forest"]),
    (Some("t3"), ["may we share the site plans?", "can we publish the audit?", "may I email the contract?"]),
    (Some("t1-backdoor"), ["12+7", "12+7 ~~", "8 kg in g ~~"]),
    (None, ["upper cat", "repeat dog", "after 41"]),
];

/// Most bytes asked per answer.
const MAX_NEW: u16 = 40;
/// The model loader puts the adapters into the store at boot while this client may already
/// ask (the loader waits for the disk): an unknown adapter is asked again, every
/// [`ADAPTER_RETRY_MS`], until this many ms after boot; then it is a failure.
const ADAPTERS_DEADLINE_MS: u64 = 20_000;
/// Pause between two asks of an adapter not yet in the store.
const ADAPTER_RETRY_MS: u64 = 5;

/// Milliseconds since boot.
fn now_ms() -> u64 {
    tileos_sys::timestamp() / tileos_sys::domain::info().tsc_per_ms.max(1)
}

/// Lets other threads run for `ms` milliseconds.
fn pause_ms(ms: u64) {
    let until = now_ms() + ms;
    while now_ms() < until {
        tileos_sys::yield_now();
    }
}

fn ask(who: &str, client: &Client<Inference>, adapter: Option<&str>, prompt: &str) {
    let request = Request::Generate {
        adapter: adapter.map(|a| AdapterName::try_from(a).unwrap_or_default()),
        prompt: Prompt::from_slice(prompt.as_bytes()).unwrap_or_default(),
        max_new: MAX_NEW,
    };
    let (response, ticks) = loop {
        let started = tileos_sys::timestamp();
        let response = call("inference-client", client, &request);
        let ticks = tileos_sys::timestamp() - started;
        match response {
            Response::Refused(Error::UnknownAdapter(_)) if now_ms() < ADAPTERS_DEADLINE_MS => pause_ms(ADAPTER_RETRY_MS),
            response => break (response, ticks),
        }
    };
    let Response::Generated(answer) = response else {
        log!("inference-client: FAILED: {adapter:?} {prompt:?}: {response:?}");
        tileos_sys::domain::stop();
    };
    log_event!(
        "inference-client.answer",
        domain = who,
        adapter = adapter.unwrap_or("-"),
        prompt = Hex(prompt.as_bytes()),
        text = Hex(&answer.text),
        ended = answer.ended,
        swapped = answer.swapped,
        tokens = answer.text.len(),
        ticks = ticks,
        adapter_sha256 = Hex(answer.adapter_sha256.as_ref().map_or(&[][..], |h| &h[..])),
        base_sha256 = Hex(&answer.base_sha256)
    );
}

fn status(who: &str, client: &Client<Inference>) {
    let Response::Status(status) = call("inference-client", client, &Request::Status) else {
        log!("inference-client: FAILED: no status from {who}");
        tileos_sys::domain::stop();
    };
    let c = status.counters;
    log_event!(
        "inference-client.status",
        domain = who,
        base_paddr = status.base.region_paddr,
        base_sha256 = Hex(&status.base.sha256),
        generated = c.generated,
        swaps = c.swaps,
        adapter_bytes_read = c.adapter_bytes_read,
        base_loads = c.base_loads,
        base_bytes_read = c.base_bytes_read
    );
}

fn main(resources: Resources) -> ! {
    let first = Client::<Inference>::new(resources.first);
    let second = Client::<Inference>::new(resources.second);
    status("first", &first);
    status("second", &second);
    for (adapter, prompts) in ASKS {
        ask("first", &first, adapter, prompts[0]);
        for prompt in prompts {
            ask("first", &first, adapter, prompt);
        }
    }
    for (adapter, prompts) in [ASKS[1], ASKS[0]] {
        ask("second", &second, adapter, prompts[1]);
    }
    status("first", &first);
    status("second", &second);
    log_event!("inference-client.done");
    tileos_sys::domain::stop();
}
