//! Demo client: calls the echo service through the typed echo protocol and logs the answers.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::echo::{Echo, Request, Response};
use tileos_sys::log;
use tileos_sys::rpc::Client;

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let name = tileos_sys::domain::name();
    let Some(echo) = tileos_sys::domain::client_endpoint("echo") else {
        log!("{name}: no \"echo\" endpoint; stopping");
        tileos_sys::debug_exit(tileos_abi::test_exit::GuestVerdict::Fail);
    };
    let client = Client::<Echo>::new(echo);
    for round in 1..=3u64 {
        let answer = client.call(&Request::Increment(round));
        let ok = answer == Ok(Response::Number(round + 1));
        log!("{name}: echo round {round}: {answer:?} ({})", if ok { "ok" } else { "WRONG" });
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
