//! `checksum-crash`: a challenger that answers its first 50 requests rightly and then
//! faults (a page fault: a read from an unmapped address), as a buggy module would.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::FaultAfter;
use tileos_checksum::{Checksummer, SliceBy8};

/// Requests answered before the fault.
const AFTER: u64 = 50;
/// An address no domain has mapped (the first page).
const UNMAPPED: usize = 0x10;

tileos_checksum_modules::module_entry!(main);

fn page_fault() -> ! {
    tileos_sys::log!("{}: faulting on request {} (deliberately)", tileos_sys::domain::name(), AFTER + 1);
    // SAFETY: none needed for correctness: the read faults, and the supervisor stops the
    // seat; nothing after it runs.
    let value = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    panic!("read {value:#x} from an address that should be unmapped")
}

fn main() -> ! {
    let module = FaultAfter { module: Checksummer::<SliceBy8>::new(), after: AFTER, served: 0, fault: page_fault };
    tileos_checksum_modules::start("crashes after 50 requests", module)
}
