//! Demo service: serves the echo protocol (`tileos_protocol::echo`) on the "echo" endpoint.
//! Written on the domain skeleton (`tileos_sys::skeleton`); `userland/template` is a copy
//! to start a new service from.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::ProtocolError;
use tileos_protocol::echo::{Echo, Request, Response};
use tileos_sys::log;

tileos_sys::resources! {
    /// What the echo server needs from the description (checked at build time).
    struct Resources {
        /// The endpoint it serves.
        echo: ServedEndpoint("echo"),
    }
}

tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    let generation = tileos_sys::domain::info().generation;
    log!("{}: serving \"echo\" (generation {generation})", tileos_sys::domain::name());
    tileos_sys::rpc::serve::<Echo>(resources.echo, |badge, request| {
        Ok(match request {
            Request::Increment(value) => Response::Number(value.wrapping_add(1)),
            Request::WhoAmI => Response::Number(badge),
            Request::Reverse(text) => {
                let mut reversed = heapless::String::new();
                for character in text.chars().rev() {
                    reversed.push(character).map_err(|_| ProtocolError::Failed)?;
                }
                Response::Text(reversed)
            }
        })
    })
}
