//! `checksum-noisy-wrong`: a challenger for boot test `slot_noise`: wrong (lowest bit
//! flipped) on data starting with 0x42 or an odd byte, about 5 in 8 of the client's requests
//! with data (`tileos_checksum::faults::WrongOften`), with `checksum-noisy`'s noise
//! (`tileos_checksum::faults::Noisy` around it). Its disagreement less the noise is about
//! half its compared answers: never promotable.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::{Noisy, WrongOften};
use tileos_checksum::{Checksummer, SliceBy8};

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    let module = Noisy { module: WrongOften(Checksummer::<SliceBy8>::new()), noisy: tileos_checksum_modules::noisy_now };
    tileos_checksum_modules::start("noisy-wrong: wrong on data starting with 0x42 or an odd byte, an extra word on about 1 in 8", module)
}
