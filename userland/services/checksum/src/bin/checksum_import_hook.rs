//! `checksum-import-hook`: a test incumbent for boot test `slot_manager_restart_rollback`
//! (docs/slots.md, "The manager restarted mid-rollback on a booted tile"): `checksum-v1`'s
//! answers and state (`tileos_checksum::faults::HookOnImport`). Once warm (after its second
//! export: the first is the challenger's start, the second the promotion's state transfer)
//! and until its first import, it holds each request it is sent until it has run
//! `HOLD_RUN_MS` (25 ms) without a break: the challengers' schedule the warm module gets
//! after the switch (the scenario's budget, one 5 ms tick in 200 ms) never allows that, so it falls
//! behind by construction; the serving schedule a rollback's catch-up gives it allows it at
//! once. At the start of its first import (the catch-up's) it logs `<name>: import 1:
//! signalling "chaos"` and signals its notification `chaos`, whose waiter, the
//! fault-injection domain `chaos-<slot>.manager`, outranks it and has the slot manager
//! killed before the import is answered. Without a `chaos` capability it logs that it has
//! none.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::HookOnImport;
use tileos_checksum::{Bitwise, Checksummer};

tileos_checksum_modules::module_entry!(main);

/// The exports after which the module is warm: the challenger's start, the promotion's.
const WARM_AFTER: u32 = 2;

/// Holds the request until the module has run [`HOLD_RUN_MS`] with no break of
/// [`HOLD_BREAK_MS`].
///
/// [`HOLD_RUN_MS`]: tileos_checksum_modules::HOLD_RUN_MS
/// [`HOLD_BREAK_MS`]: tileos_checksum_modules::HOLD_BREAK_MS
fn hold() {
    tileos_checksum_modules::hold_for_a_run(|_| false);
}

/// Logs the import and signals "chaos".
fn signal(n: u32) {
    tileos_checksum_modules::signal_chaos(format_args!("import {n}"));
}

fn main() -> ! {
    let module = HookOnImport::new(Checksummer::<Bitwise>::new(), WARM_AFTER, hold, signal);
    tileos_checksum_modules::start("v1: bitwise CRC-32, holding requests once warm, signalling at its first import", module)
}
