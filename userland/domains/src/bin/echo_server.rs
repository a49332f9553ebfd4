//! Demo service: serves the "echo" endpoint. A request's word 0 comes back incremented,
//! word 1 replaced by the caller's badge (so the client sees what the server saw), words 2
//! and 3 unchanged.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_sys::log;

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    let info = tileos_sys::domain::init();
    let Some(echo) = tileos_sys::domain::cap(CapKind::ServedEndpoint, "echo") else {
        log!("echo-server: no \"echo\" endpoint; stopping");
        tileos_sys::debug_exit(tileos_abi::test_exit::GuestVerdict::Fail);
    };
    log!("{}: serving \"echo\" (generation {})", tileos_sys::domain::name(), info.generation);
    let mut message = tileos_sys::recv(echo, true);
    loop {
        let w = message.words;
        message = tileos_sys::reply_recv(echo, 0, &[w[0].wrapping_add(1), message.badge, w[2], w[3]]);
    }
}
