//! `checksum-big`: `checksum-v1` with 57 KiB of read-only data, so that its bundle is about
//! 100 KiB: the install-time benchmark's module.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::{Bitwise, Checksummer};

/// Size of the padding.
const PADDING_LEN: usize = 57 * 1024;

/// Pseudo-random bytes (so no linker or compressor makes them small), kept in the image by
/// the read below.
static PADDING: [u8; PADDING_LEN] = {
    let mut bytes = [0u8; PADDING_LEN];
    let mut state: u32 = 0x9E37_79B9;
    let mut index = 0;
    while index < PADDING_LEN {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        bytes[index] = state as u8;
        index += 1;
    }
    bytes
};

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    let padding = core::hint::black_box(&PADDING);
    let last = padding[PADDING_LEN - 1];
    tileos_sys::log!("{}: {} bytes of padding (last {last:#x})", tileos_sys::domain::name(), padding.len());
    tileos_checksum_modules::start("big: v1 with 57 KiB of padding", Checksummer::<Bitwise>::new())
}
