//! Demo client: calls the echo service through the typed echo protocol and logs the answers.
#![no_std]
#![no_main]

extern crate tileos_rt;

use core::fmt;
use tileos_protocol::ProtocolError;
use tileos_protocol::echo::{Echo, Request, Response};
use tileos_sys::rpc::{CallError, Client};
use tileos_sys::{log, log_event};

/// An answer as an event field (docs/architecture.md, "Event lines"): the number or text,
/// or what went wrong in kebab case.
struct Answer<'a>(&'a Result<Response, CallError>);

impl fmt::Display for Answer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(Response::Number(number)) => write!(f, "{number}"),
            Ok(Response::Text(text)) => f.write_str(text),
            Err(CallError::Protocol(ProtocolError::NoServer)) => f.write_str("no-server"),
            Err(CallError::Protocol(_)) => f.write_str("protocol-error"),
            Err(CallError::ServerRestarted) => f.write_str("server-restarted"),
        }
    }
}

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
        log_event!("echo.round", client = name, round = round, answer = Answer(&answer), verdict = verdict);
    }
    let text = heapless::String::try_from("tileos").unwrap_or_default();
    let reversed = client.call(&Request::Reverse(text));
    log!("{name}: reverse \"tileos\": {reversed:?}");
    let badge = client.call(&Request::WhoAmI);
    log!("{name}: the server sees my badge as {badge:?}");
    // A malformed message (not the protocol's encoding) gets an error reply, not a crash.
    let raw = echo.call(tileos_protocol::MESSAGE, &[3, 0xFFFF_FFFF]);
    log!("{name}: malformed request answered with label {:#x}, error code {}", raw.info.label(), raw.words[0]);
    log_event!(
        "echo.checked",
        client = name,
        reverse = Answer(&reversed),
        badge = Answer(&badge),
        malformed_label = format_args!("{:#x}", raw.info.label()),
        malformed_error = raw.words[0]
    );
    log!("{name}: done");
    tileos_sys::domain::stop()
}
