//! `checksum-export-hook`: a test incumbent for boot test `slot_manager_restart`
//! (docs/slots.md, "The manager restarted mid-promotion on a booted tile"): `checksum-v1`'s
//! answers and state, and at its second export (the first is a challenger's start, the
//! second a promotion's state transfer before its switch) it logs
//! `<name>: export 2: signalling "chaos"` and signals its notification `chaos`, whose
//! waiter, the fault-injection domain `chaos-<slot>.manager`, outranks it and has the slot
//! manager killed before the exported state reaches it. Without a `chaos` capability it
//! logs that it has none and only counts.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::HookOnExport;
use tileos_checksum::{Bitwise, Checksummer};

tileos_checksum_modules::module_entry!(main);

/// The export that signals: the promotion's transfer, after the challenger's start.
const SIGNAL_AT: u32 = 2;

/// Logs the export and signals "chaos".
fn signal(n: u32) {
    tileos_checksum_modules::signal_chaos(format_args!("export {n}"));
}

fn main() -> ! {
    let module = HookOnExport { module: Checksummer::<Bitwise>::new(), at: SIGNAL_AT, exports: Default::default(), hook: signal };
    tileos_checksum_modules::start("v1: bitwise CRC-32, signalling at its second export", module)
}
