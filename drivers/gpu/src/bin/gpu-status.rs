//! The `gpu-status` domain: a client of the display protocol that puts the tile status on
//! the screen: the title and one row per domain of the GPU scenario. The names are fixed
//! text for now (no domain can list the tile's domains yet, and the information page does
//! not carry the tile name); the title and rows travel as `SetTitle` and `SetLine`
//! requests to the endpoint "display".
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_driver_gpu::protocol::{Display, Request, Response};
use tileos_sys::log;
use tileos_sys::rpc::Client;

/// The title: the tile name of `qemu/runner/tests/scenarios/gpu.toml`.
const TITLE: &str = "tileos tile gpu-test";
/// One row per domain of that scenario.
const ROWS: [&str; 3] = ["console     running", "gpu         running", "gpu-status  running"];

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let Some(endpoint) = tileos_sys::domain::client_endpoint("display") else {
        log!("gpu-status: needs the endpoint \"display\"; stopping");
        tileos_sys::domain::stop();
    };
    let display = Client::<Display>::new(endpoint);
    let mode = display.call(&Request::Mode);
    log!("gpu-status: display mode {mode:?}");
    let requests = core::iter::once(Request::SetTitle { text: TITLE.try_into().unwrap_or_default() }).chain(
        ROWS.iter().enumerate().map(|(row, text)| Request::SetLine { row: row as u8, text: (*text).try_into().unwrap_or_default() }),
    );
    for request in requests {
        match display.call(&request) {
            Ok(Response::Shown) => {}
            answer => {
                log!("gpu-status: {request:?} answered {answer:?}; stopping");
                tileos_sys::domain::stop();
            }
        }
    }
    // A row below the screen is refused, not drawn.
    let refused = display.call(&Request::SetLine { row: 200, text: "nowhere".try_into().unwrap_or_default() });
    log!("gpu-status: row 200 answered {refused:?}");
    log!("gpu-status: status screen shown (title and {} rows)", ROWS.len());
    tileos_sys::domain::stop()
}
