//! `checksum-settle-signal`: checksum-fast's answers (slice-by-8 CRC-32); once promoted (its
//! second import) it signals "chaos" at the first request it serves [`SIGNAL_AFTER_MS`]
//! after the promotion, past the scenario's 1 s rollback window, so that the fault-injection
//! domain has the slot manager killed while this module serves settled; then it page-faults
//! at the [`FAULT_AFTER`]th request it serves after the signal (the restarted manager's kept
//! module lost). `tileos_checksum::faults::SignalWhenSettled`; boot test
//! `slot_manager_restart_settled`.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::faults::SignalWhenSettled;
use tileos_checksum::{Checksummer, SliceBy8};

/// Milliseconds after the promotion's import at which the module signals: the scenario's
/// rollback window is 1,000 ms.
const SIGNAL_AFTER_MS: u64 = 3_000;

/// Requests served after the signal (under the restarted manager) before the fault.
const FAULT_AFTER: u64 = 400;

/// An address no domain has mapped (the first page).
const UNMAPPED: usize = 0x10;

tileos_checksum_modules::module_entry!(main);

fn signal() {
    tileos_checksum_modules::signal_chaos(format_args!("settled {SIGNAL_AFTER_MS} ms after its promotion"));
}

fn page_fault() {
    tileos_sys::log!("{}: faulting at request {FAULT_AFTER} after its signal (deliberately)", tileos_sys::domain::name());
    // SAFETY: none needed for correctness: the read faults, and the supervisor stops the
    // seat; nothing after it runs.
    let value = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    panic!("read {value:#x} from an address that should be unmapped")
}

fn main() -> ! {
    let per_ms = tileos_sys::domain::info().tsc_per_ms.max(1);
    let module = SignalWhenSettled {
        module: Checksummer::<SliceBy8>::new(),
        promoted_at: 2,
        imports: 0,
        now: tileos_sys::timestamp,
        promoted_since: None,
        signal_after: SIGNAL_AFTER_MS.saturating_mul(per_ms),
        since_signal: None,
        fault_after: FAULT_AFTER,
        signal,
        fault: page_fault,
    };
    tileos_checksum_modules::start("signals once settled, then faults", module)
}
