//! Seat-interface test module (scenario `slots`, qemu/runner/tests/slots.rs): the smallest
//! module a slot seat can run. It calls its slot's front endpoint (the capability named
//! `slot`, badged with its seat by the root server) with label `READY`, then does what the
//! reply says: [`FAULT_NOW`] makes it fault on purpose (so that the root server stops the
//! seat and tells the manager), anything else stops it quietly.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::module::READY;
use tileos_sys::{log, log_event};

/// Label of the test manager's reply asking the module to fault (seat-tester has the same).
const FAULT_NOW: u64 = 0x1FF;

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    let info = tileos_sys::domain::init();
    let name = tileos_sys::domain::name();
    let Some(slot) = tileos_sys::domain::client_endpoint("slot") else {
        log!("seat-probe: \"{name}\" has no capability named \"slot\"");
        tileos_sys::domain::stop();
    };
    log_event!("probe.ready", domain = name, generation = info.generation);
    let reply = tileos_sys::call(slot.cptr(), READY, &[], &[]);
    if reply.info.label() == FAULT_NOW {
        log!("seat-probe: \"{name}\" faults on purpose, as its manager asked");
        // SAFETY: deliberately faults (invalid opcode): the root server stops the seat.
        unsafe { core::arch::asm!("ud2", options(noreturn)) }
    }
    log!("seat-probe: \"{name}\" got label {:#x}; stopping", reply.info.label());
    tileos_sys::domain::stop()
}
