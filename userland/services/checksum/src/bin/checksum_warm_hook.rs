//! `checksum-warm-hook`: a test incumbent for boot test `slot_manager_restart_promoted`
//! (docs/slots.md, "The manager restarted while a promoted module serves on a booted
//! tile"): `checksum-v1`'s answers and state (`tileos_checksum::faults::HookOnImport`).
//! Once warm (after its second export: the first is the challenger's start, the second the
//! promotion's state transfer) and until its first import, it holds each request it is
//! sent until it has run `HOLD_RUN_MS` (25 ms) without a break, as `checksum-import-hook`
//! does: at the challengers' schedule the warm module gets after the switch (the scenario's one 5 ms tick in 200 ms) it holds
//! its first copy for good, so it falls behind by construction. Once it has been warm for
//! [`SIGNAL_AFTER_MS`] (time-stamp counter, from the first copy it held; it sees the time
//! only while it runs, so up to a period of its schedule later) it logs `<name>: warm for
//! N ms: signalling "chaos"` and signals its notification `chaos` once, whose waiter, the
//! fault-injection domain `chaos-<slot>.manager`, outranks it and has the slot manager
//! killed while the promoted module serves; from then on it holds nothing. At the start of
//! its first import (a restarted manager's adoption of the promoted module's state) it logs
//! `<name>: import 1`, and if the description gives it the notification `chaos-again` (the
//! chaos domain's second wait) it signals that too, logging `<name>: import 1: signalling
//! "chaos-again"`, so that the restarted manager is killed during the adoption. Without a
//! `chaos` capability it logs that it has none.
#![no_std]
#![no_main]

extern crate tileos_rt;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tileos_checksum::faults::HookOnImport;
use tileos_checksum::{Bitwise, Checksummer};

tileos_checksum_modules::module_entry!(main);

/// The exports after which the module is warm: the challenger's start, the promotion's.
const WARM_AFTER: u32 = 2;

/// How long the module is warm (from the first copy it held) before it signals "chaos":
/// about a second of the client's load, well over the slot's `queue_limit` copies behind.
const SIGNAL_AFTER_MS: u64 = 1000;

/// The time-stamp counter at the first copy held (0: none held yet).
static WARM_SINCE: AtomicU64 = AtomicU64::new(0);

/// Whether "chaos" was signalled (then nothing is held any more).
static SIGNALLED: AtomicBool = AtomicBool::new(false);

/// Holds the request until the module has run `HOLD_RUN_MS` with no break of
/// `HOLD_BREAK_MS` (`tileos_checksum_modules::hold_for_a_run`), or until it has been warm
/// [`SIGNAL_AFTER_MS`]: then it signals "chaos" and returns.
fn hold() {
    if SIGNALLED.load(Ordering::Relaxed) {
        return;
    }
    let per_ms = tileos_sys::domain::info().tsc_per_ms.max(1);
    let now = tileos_sys::timestamp();
    let warm_since = match WARM_SINCE.load(Ordering::Relaxed) {
        0 => {
            WARM_SINCE.store(now, Ordering::Relaxed);
            now
        }
        since => since,
    };
    tileos_checksum_modules::hold_for_a_run(|now| {
        let warm = now.saturating_sub(warm_since);
        if warm < SIGNAL_AFTER_MS * per_ms {
            return false;
        }
        SIGNALLED.store(true, Ordering::Relaxed);
        signal(warm / per_ms);
        true
    });
}

/// Logs how long the module has been warm and signals "chaos".
fn signal(warm_ms: u64) {
    tileos_checksum_modules::signal_chaos(format_args!("warm for {warm_ms} ms"));
}

/// Logs the first import, and signals "chaos-again" if the module may.
fn imported(n: u32) {
    let name = tileos_sys::domain::name();
    match tileos_sys::domain::signal_notification("chaos-again") {
        Some(again) => {
            tileos_sys::log!("{name}: import {n}: signalling \"chaos-again\"");
            again.signal();
        }
        None => tileos_sys::log!("{name}: import {n}"),
    }
}

fn main() -> ! {
    let module = HookOnImport::new(Checksummer::<Bitwise>::new(), WARM_AFTER, hold, imported);
    tileos_checksum_modules::start("v1: bitwise CRC-32, holding requests once warm, signalling once warm for a while", module)
}
