//! `checksum-slow`: a challenger with the right answers that spends about three hundred times the
//! incumbent's time on each (it computes the bitwise answer 299 more times and throws
//! them away), so the slot's latency bound rejects it.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::Slow;
use tileos_checksum::{Bitwise, Checksummer};

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    let module = Slow { module: Checksummer::<Bitwise>::new(), extra: 299, scratch: Checksummer::<Bitwise>::new() };
    tileos_checksum_modules::start("slow: three hundred times the bitwise work", module)
}
