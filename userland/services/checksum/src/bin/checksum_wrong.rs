//! `checksum-wrong`: a challenger that answers wrongly (lowest bit flipped) for every
//! request whose data starts with 0x42, rightly otherwise (`tileos_checksum::faults`).
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::WrongOn42;
use tileos_checksum::{Checksummer, SliceBy8};

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    tileos_checksum_modules::start("wrong on data starting with 0x42", WrongOn42(Checksummer::<SliceBy8>::new()))
}
