//! `checksum-export-slow`: a test incumbent for boot test `slot_transfer_limit`
//! (docs/slots.md, "The transfer limit on a booted tile"): `checksum-v1`'s answers and
//! state, but its second export (the first is a challenger's start, the second a
//! promotion's state transfer before its switch) first spins for [`HOLD_MS`] milliseconds
//! of the time-stamp counter without yielding, as a module whose export is too slow
//! would. It logs `<name>: export 2: holding for 250 ms` before and
//! `<name>: export 2: held <ms> ms` after. The transfer's limit (`DEFERRED_BOUND`, 100 ms)
//! must abandon the promotion; the incumbent serves on.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::HookOnExport;
use tileos_checksum::{Bitwise, Checksummer};

tileos_checksum_modules::module_entry!(main);

/// The export that is slow: the promotion's transfer, after the challenger's start.
const SLOW_AT: u32 = 2;
/// How long it holds the processor before exporting: over the 100 ms limit.
const HOLD_MS: u64 = 250;

/// Spins for [`HOLD_MS`], logging before and after.
fn hold(n: u32) {
    let name = tileos_sys::domain::name();
    let tsc_per_ms = tileos_sys::domain::info().tsc_per_ms.max(1);
    tileos_sys::log!("{name}: export {n}: holding for {HOLD_MS} ms");
    let start = tileos_sys::timestamp();
    let until = start.saturating_add(HOLD_MS.saturating_mul(tsc_per_ms));
    while tileos_sys::timestamp() < until {
        core::hint::spin_loop();
    }
    tileos_sys::log!("{name}: export {n}: held {} ms", (tileos_sys::timestamp() - start) / tsc_per_ms);
}

fn main() -> ! {
    let module = HookOnExport { module: Checksummer::<Bitwise>::new(), at: SLOW_AT, exports: Default::default(), hook: hold };
    tileos_checksum_modules::start("v1: bitwise CRC-32, its second export 250 ms slow", module)
}
