//! What the checksum module programs share: the start of a module, which logs the module's
//! name and then runs it in its seat (`tileos_sys::module::run`), and the test incumbents'
//! hold of a request once warm ([`hold_for_a_run`]).
#![no_std]

use tileos_protocol::module::StateBlob;
use tileos_sys::module::SlotModule;

/// Logs `what` (e.g. "bitwise CRC-32") with the domain's name and generation, then runs
/// `module` in this seat for good.
pub fn start<M: SlotModule>(what: &str, module: M) -> ! {
    let info = tileos_sys::domain::info();
    tileos_sys::log!("{}: checksum module ({what}), generation {}", tileos_sys::domain::name(), info.generation);
    tileos_sys::module::run(module)
}

/// The run, in milliseconds, a test incumbent's held request waits for once warm
/// (`checksum-import-hook`, `checksum-warm-hook`), with no break longer than
/// [`HOLD_BREAK_MS`]: more than a challenger's budget ever gives in one go (one 5 ms tick
/// per 200 ms period in their scenarios, charged by the tick: at most about three ticks
/// across a period's end before a break of more than 150 ms), within what the serving
/// schedule gives at once. So at the challengers' schedule it falls behind by construction.
pub const HOLD_RUN_MS: u64 = 25;

/// A gap longer than this, in milliseconds, between two readings of the time-stamp counter
/// means the module was held off by its budget: the run starts again. Shorter gaps (a
/// domain above it running, the emulator's thread descheduled on a loaded host) count as
/// running.
pub const HOLD_BREAK_MS: u64 = 40;

/// Spins until the module has run [`HOLD_RUN_MS`] with no break of [`HOLD_BREAK_MS`], or
/// until `stop` (given the time-stamp counter at each reading) says to stop.
pub fn hold_for_a_run(mut stop: impl FnMut(u64) -> bool) {
    let per_ms = tileos_sys::domain::info().tsc_per_ms.max(1);
    let (run, gap) = (HOLD_RUN_MS * per_ms, HOLD_BREAK_MS * per_ms);
    let mut start = tileos_sys::timestamp();
    let mut last = start;
    loop {
        let now = tileos_sys::timestamp();
        if stop(now) {
            return;
        }
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

/// Signals the domain's notification named "chaos" (the fault-injection domain's trigger
/// in the test scenarios), logging `<domain>: <what>: signalling "chaos"`, or `<domain>:
/// <what>: no "chaos" notification to signal` if the domain has none.
pub fn signal_chaos(what: core::fmt::Arguments<'_>) {
    let name = tileos_sys::domain::name();
    match tileos_sys::domain::signal_notification("chaos") {
        Some(chaos) => {
            tileos_sys::log!("{name}: {what}: signalling \"chaos\"");
            chaos.signal();
        }
        None => tileos_sys::log!("{name}: {what}: no \"chaos\" notification to signal"),
    }
}

/// Whether the answer being sent now gets [`tileos_checksum::faults::Noisy`]'s extra word:
/// about 1 answer in 8, by three bits mixed from the time-stamp counter at the answer (not
/// by the request), so two replicas run side by side are noisy on different answers.
pub fn noisy_now() -> bool {
    let t = tileos_sys::timestamp();
    (t ^ (t >> 7) ^ (t >> 17)) & 7 == 0
}

/// Requests an adoption spoiler (`checksum-adopt-fault`, `-hang`, `-unknown`) serves after
/// its promotion before it signals "chaos": a second or more of the client's load.
pub const SPOIL_AFTER: u64 = 500;

/// Runs an adoption spoiler for boot test `slot_adoption_failed` (docs/slots.md): slice-by-8
/// CRC-32 (`checksum-fast`'s answers) in [`tileos_checksum::faults::SpoilAdoption`]: once
/// promoted (its second import) it serves [`SPOIL_AFTER`] requests, then logs `<domain>:
/// served 500 requests since its promotion: signalling "chaos"` and signals "chaos" (the
/// fault-injection domain has the slot manager killed at once, while this module serves);
/// every later export (the restarted manager's adoption of its state) goes through
/// `on_export`. `what` is its start line's description.
pub fn spoil_adoption(what: &str, on_export: fn(StateBlob) -> StateBlob) -> ! {
    fn signal() {
        signal_chaos(format_args!("served {SPOIL_AFTER} requests since its promotion"));
    }
    let module = tileos_checksum::faults::SpoilAdoption {
        module: tileos_checksum::Checksummer::<tileos_checksum::SliceBy8>::new(),
        promoted_at: 2,
        imports: 0,
        served: 0,
        signal_after: SPOIL_AFTER,
        signal,
        on_export,
    };
    start(what, module)
}

/// A module program's `_start`: runtime set-up, then `$main()` (a module declares no
/// resources: its only capability, `slot`, comes with its seat).
#[macro_export]
macro_rules! module_entry {
    ($main:path) => {
        /// Entry point (written by `tileos_checksum_modules::module_entry!`).
        #[unsafe(no_mangle)]
        extern "C" fn _start() -> ! {
            tileos_sys::domain::init();
            $main()
        }
    };
}
