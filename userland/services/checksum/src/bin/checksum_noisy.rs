//! `checksum-noisy`: a nondeterministic test incumbent for boot test `slot_noise`:
//! `checksum-v1`'s answers (bitwise CRC-32) to every client, but about 1 answer in 8, by the
//! time-stamp counter, goes out with an extra word no client reads
//! (`tileos_checksum::faults::Noisy`). Its noise replica differs from it on about 2 answers
//! in 9 (either one noisy, not both), the noise a `noise-cancelled` slot subtracts.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::Noisy;
use tileos_checksum::{Bitwise, Checksummer};

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    let module = Noisy { module: Checksummer::<Bitwise>::new(), noisy: tileos_checksum_modules::noisy_now };
    tileos_checksum_modules::start("noisy: v1's answers, an extra word on about 1 in 8", module)
}
