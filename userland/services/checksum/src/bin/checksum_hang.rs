//! `checksum-hang`: a module that answers its first 400 requests (mirrored copies included)
//! rightly and then loops forever without faulting, as a module stuck in an infinite loop
//! would: nothing tells the supervisor, so only the slot manager's circuit breaker
//! (`breaker_unanswered`, docs/slots.md) can take it out once it serves. 400 leaves it time
//! to shadow, import and be promoted by force before it hangs (boot test `slot_demo`).
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::FaultAfter;
use tileos_checksum::{Checksummer, SliceBy8};

/// Requests answered before the hang.
const AFTER: u64 = 400;

tileos_checksum_modules::module_entry!(main);

fn hang() -> ! {
    tileos_sys::log!("{}: looping forever on request {} (deliberately)", tileos_sys::domain::name(), AFTER + 1);
    loop {
        core::hint::spin_loop();
    }
}

fn main() -> ! {
    let module = FaultAfter { module: Checksummer::<SliceBy8>::new(), after: AFTER, served: 0, fault: hang };
    tileos_checksum_modules::start("loops forever after 400 requests", module)
}
