//! Template of a service domain (copy the folder: docs/architecture.md, "Writing a
//! service"). It serves the echo protocol on the endpoint its description calls
//! "template" (or whatever `names = { template = "…" }` in its `[[domain]]` maps it to),
//! and answers `Increment` and `Reverse`.
//!
//! What a copy changes: the protocol (`tileos_protocol`), the resources struct (each field
//! a capability the description must grant: the image builder checks it), and `main`.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::ProtocolError;
use tileos_protocol::echo::{Echo, Request, Response};
use tileos_sys::log;

tileos_sys::resources! {
    /// Every capability this program uses, by kind and by the name it has on the domain's
    /// information page. A description that runs the program without granting one of them
    /// is refused by the image builder, naming the line and the missing capability.
    /// Kinds: ServedEndpoint, ClientEndpoint, WaitNotification, SignalNotification, IoPort,
    /// IrqHandler, Region; `("name", optional)` for what the program can do without.
    struct Resources {
        /// The endpoint this service answers on.
        service: ServedEndpoint("template"),
    }
}

// `_start`: runtime set-up (heap, IPC buffer), the resources, then `main`.
tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    let name = tileos_sys::domain::name();
    log!("{name}: serving (generation {})", tileos_sys::domain::info().generation);
    tileos_sys::rpc::serve::<Echo>(resources.service, |badge, request| {
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
