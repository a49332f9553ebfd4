//! `checksum-padded`: `checksum-fast`'s answers to every client, but not byte for byte: junk
//! in each answer's padding past the payload's length and one extra word
//! (`tileos_checksum::faults::Padded`). A slot comparing `equivalent` promotes it, one
//! comparing `exact` counts every answer as a disagreement (boot test `slot_equivalent`).
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::Padded;
use tileos_checksum::{Checksummer, SliceBy8};

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    tileos_checksum_modules::start("padded: junk past each answer's payload", Padded(Checksummer::<SliceBy8>::new()))
}
