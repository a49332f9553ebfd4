//! Demo client: calls the echo service through the typed echo protocol and logs the answers.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::echo::{Echo, Request, Response};
use tileos_sys::log;
use tileos_sys::rpc::Client;

tileos_sys::resources! {
    /// What the echo client needs from the description (checked at build time).
    struct Resources {
        /// The echo service it calls.
        echo: ClientEndpoint("echo"),
    }
}

tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    let name = tileos_sys::domain::name();
    let echo = resources.echo;
    let client = Client::<Echo>::new(echo);
    for round in 1..=3u64 {
        let answer = client.call(&Request::Increment(round));
        let verdict = match answer {
            Ok(Response::Number(number)) if number == round + 1 => "ok",
            // No server (ProtocolError::NoServer: it did not start), or it is restarting.
            Err(_) => "error",
            Ok(_) => "WRONG",
        };
        log!("{name}: echo round {round}: {answer:?} ({verdict})");
    }
    let text = heapless::String::try_from("tileos").unwrap_or_default();
    log!("{name}: reverse \"tileos\": {:?}", client.call(&Request::Reverse(text)));
    log!("{name}: the server sees my badge as {:?}", client.call(&Request::WhoAmI));
    // A malformed message (not the protocol's encoding) gets an error reply, not a crash.
    let raw = echo.call(tileos_protocol::MESSAGE, &[3, 0xFFFF_FFFF]);
    log!("{name}: malformed request answered with label {:#x}, error code {}", raw.info.label(), raw.words[0]);
    log!("{name}: done");
    tileos_sys::domain::stop()
}
