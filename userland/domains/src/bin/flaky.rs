//! Supervisor test domain: serves "flaky", answering `2 × word 0` — except for request 13,
//! where it crashes mid-request (a null-pointer write) without replying.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_sys::{log, log_event};

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    let info = tileos_sys::domain::init();
    let endpoint = tileos_sys::domain::cap(CapKind::ServedEndpoint, "flaky").expect("flaky: no \"flaky\" endpoint");
    log!("flaky: serving (generation {})", info.generation);
    log_event!("flaky.serving", generation = info.generation);
    let mut message = tileos_sys::recv(endpoint, true);
    loop {
        if message.words[0] == 13 {
            log!("flaky: request 13: crashing mid-request");
            // SAFETY: deliberately faults (null pointer write); the supervisor restarts us.
            unsafe { core::ptr::null_mut::<u64>().write_volatile(13) };
        }
        message = tileos_sys::reply_recv(endpoint, 0, &[message.words[0] * 2]);
    }
}
