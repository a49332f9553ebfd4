//! What the checksum module programs share: the start of a module, which logs the module's
//! name and then runs it in its seat (`tileos_sys::module::run`).
#![no_std]

use tileos_sys::module::SlotModule;

/// Logs `what` (e.g. "bitwise CRC-32") with the domain's name and generation, then runs
/// `module` in this seat for good.
pub fn start<M: SlotModule>(what: &str, module: M) -> ! {
    let info = tileos_sys::domain::info();
    tileos_sys::log!("{}: checksum module ({what}), generation {}", tileos_sys::domain::name(), info.generation);
    tileos_sys::module::run(module)
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
