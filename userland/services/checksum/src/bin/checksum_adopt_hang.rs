//! `checksum-adopt-hang`: a challenger that loops forever (no fault) at the export a
//! restarted slot manager's adoption asks of it: `tileos_checksum_modules::spoil_adoption`
//! (it signals "chaos" once it has served 500 requests since its promotion; the manager is
//! killed and restarted, and its adoption's export is this module's next). Only the
//! manager's adoption deadline (1 s) ends the wait. Boot test `slot_adoption_failed`.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::module::StateBlob;

tileos_checksum_modules::module_entry!(main);

fn hang(_state: StateBlob) -> StateBlob {
    tileos_sys::log!("{}: looping forever at the export after its signal (deliberately)", tileos_sys::domain::name());
    loop {
        core::hint::spin_loop();
    }
}

fn main() -> ! {
    tileos_checksum_modules::spoil_adoption("loops forever at the export after its signal", hang)
}
