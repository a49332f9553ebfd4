//! `checksum-import-hook`: a test incumbent for boot test `slot_manager_restart_rollback`
//! (docs/slots.md, "The manager restarted mid-rollback on a booted tile"): `checksum-v1`'s
//! answers and state (`tileos_checksum::faults::HookOnImport`). Once warm (after its second
//! export: the first is the challenger's start, the second the promotion's state transfer)
//! and until its first import, it holds each request it is sent until it has run
//! [`RUN_MS`] without a break: the challengers' schedule the warm module gets after the
//! switch (the scenario's budget, one 5 ms tick in 200 ms) never allows that, so it falls
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

/// The run a held request waits for, in milliseconds, with no break longer than
/// [`BREAK_MS`]: more than a challenger's budget ever gives in one go (one 5 ms tick per
/// 200 ms period in the scenario, charged by the tick: at most about three ticks across a
/// period's end before a break of more than 150 ms), within what the serving schedule
/// gives at once.
const RUN_MS: u64 = 25;

/// A gap longer than this, in milliseconds, between two readings of the time-stamp counter
/// means the module was held off by its budget: the run starts again. Shorter gaps (a
/// domain above it running, the emulator's thread descheduled on a loaded host) count as
/// running.
const BREAK_MS: u64 = 40;

/// Holds the request until the module has run [`RUN_MS`] with no break of [`BREAK_MS`].
fn hold() {
    let per_ms = tileos_sys::domain::info().tsc_per_ms.max(1);
    let (run, gap) = (RUN_MS * per_ms, BREAK_MS * per_ms);
    let mut start = tileos_sys::timestamp();
    let mut last = start;
    loop {
        let now = tileos_sys::timestamp();
        if now.saturating_sub(last) > gap {
            start = now;
        }
        last = now;
        if now.saturating_sub(start) >= run {
            return;
        }
        core::hint::spin_loop();
    }
}

/// Logs the import and signals "chaos".
fn signal(n: u32) {
    let name = tileos_sys::domain::name();
    match tileos_sys::domain::signal_notification("chaos") {
        Some(chaos) => {
            tileos_sys::log!("{name}: import {n}: signalling \"chaos\"");
            chaos.signal();
        }
        None => tileos_sys::log!("{name}: import {n}: no \"chaos\" notification to signal"),
    }
}

fn main() -> ! {
    let module = HookOnImport {
        module: Checksummer::<Bitwise>::new(),
        warm_after: WARM_AFTER,
        exports: Default::default(),
        imports: 0,
        hold,
        hook: signal,
    };
    tileos_checksum_modules::start("v1: bitwise CRC-32, holding requests once warm, signalling at its first import", module)
}
