//! `checksum-adopt-fault`: a challenger that faults (a page fault) at the export a restarted
//! slot manager's adoption asks of it: `tileos_checksum_modules::spoil_adoption` (it signals
//! "chaos" once it has served 500 requests since its promotion; the manager is killed and
//! restarted, and its adoption's export is this module's next). Boot test
//! `slot_adoption_failed`.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::module::StateBlob;

/// An address no domain has mapped (the first page).
const UNMAPPED: usize = 0x10;

tileos_checksum_modules::module_entry!(main);

fn page_fault(_state: StateBlob) -> StateBlob {
    tileos_sys::log!("{}: faulting at the export after its signal (deliberately)", tileos_sys::domain::name());
    // SAFETY: none needed for correctness: the read faults, and the supervisor stops the
    // seat; nothing after it runs.
    let value = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    panic!("read {value:#x} from an address that should be unmapped")
}

fn main() -> ! {
    tileos_checksum_modules::spoil_adoption("faults at the export after its signal", page_fault)
}
