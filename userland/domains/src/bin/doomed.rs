//! Supervisor test domain: crashes (invalid opcode) right after starting, every time, so
//! the supervisor restarts it until its limit and then gives up.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_sys::{log, log_event};

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    let info = tileos_sys::domain::init();
    log!("doomed: generation {} starting, about to crash", info.generation);
    log_event!("doomed.starting", generation = info.generation);
    // SAFETY: deliberately faults.
    unsafe { core::arch::asm!("ud2", options(noreturn)) }
}
