//! `checksum-v1`, the demo slot's incumbent: CRC-32 one bit at a time (slow, obviously
//! right), lineage A of the N-version demo and its fallback.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::{Bitwise, Checksummer};

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    tileos_checksum_modules::start("v1: bitwise CRC-32", Checksummer::<Bitwise>::new())
}
