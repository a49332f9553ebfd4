//! `checksum-fast`, the good challenger: slice-by-8 CRC-32, the same answers as
//! `checksum-v1` in a fraction of the time; lineage B of the N-version demo.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::{Checksummer, SliceBy8};

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    tileos_checksum_modules::start("fast: slice-by-8 CRC-32", Checksummer::<SliceBy8>::new())
}
