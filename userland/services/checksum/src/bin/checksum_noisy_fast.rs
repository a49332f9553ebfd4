//! `checksum-noisy-fast`: a challenger for boot test `slot_noise`: `checksum-fast`'s right
//! answers (slice-by-8 CRC-32) with `checksum-noisy`'s noise (an extra word on about 1
//! answer in 8, by the time-stamp counter: `tileos_checksum::faults::Noisy`). Promotable
//! under `noise-cancelled` (it differs from the incumbent no more than the incumbent's
//! replica does), never under `exact`.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::Noisy;
use tileos_checksum::{Checksummer, SliceBy8};

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    let module = Noisy { module: Checksummer::<SliceBy8>::new(), noisy: tileos_checksum_modules::noisy_now };
    tileos_checksum_modules::start("noisy-fast: slice-by-8 CRC-32, an extra word on about 1 in 8", module)
}
