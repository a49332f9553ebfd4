//! `checksum-fallback-hook`: a test fallback for boot test `slot_nversion_restart`
//! (docs/slots.md, "N-version on a booted tile"): `checksum-fast`'s answers and state; as
//! it starts (in the spare seat at a lineage's replacement, in the position's own seat when
//! a restarted manager restores the replacement) it logs `<name>: fallback starting:
//! signalling "chaos"` and signals its notification `chaos` (a seat holds it through the
//! slot's allowance), whose waiter, the fault-injection domain `chaos-<slot>.manager`, has
//! the slot manager killed once, right after the replacement (its entry is persisted before
//! the fallback is started). Without a `chaos` capability it logs that it has none.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::{Checksummer, SliceBy8};

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    tileos_checksum_modules::signal_chaos(format_args!("fallback starting"));
    tileos_checksum_modules::start("fallback: slice-by-8 CRC-32, signalling as it starts", Checksummer::<SliceBy8>::new())
}
