//! Demo service: serves the echo protocol (`tileos_protocol::echo`) on the "echo" endpoint.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::echo::{Echo, Request, Response};
use tileos_protocol::ProtocolError;
use tileos_sys::log;

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    let info = tileos_sys::domain::init();
    let Some(echo) = tileos_sys::domain::served_endpoint("echo") else {
        log!("echo-server: no \"echo\" endpoint; stopping");
        tileos_sys::debug_exit(tileos_abi::test_exit::GuestVerdict::Fail);
    };
    log!("{}: serving \"echo\" (generation {})", tileos_sys::domain::name(), info.generation);
    tileos_sys::rpc::serve::<Echo>(echo, |badge, request| {
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
