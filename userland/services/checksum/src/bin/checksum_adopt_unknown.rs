//! `checksum-adopt-unknown`: a challenger whose export after its signal carries a state
//! version no checksum module reads (`u32::MAX`), so the incumbent refuses the import of a
//! restarted slot manager's adoption (`UnknownVersion`):
//! `tileos_checksum_modules::spoil_adoption` (it signals "chaos" once it has served 500
//! requests since its promotion; the manager is killed and restarted, and its adoption's
//! export is this module's next). Boot test `slot_adoption_failed`.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::module::StateBlob;

tileos_checksum_modules::module_entry!(main);

fn unknown_version(mut state: StateBlob) -> StateBlob {
    tileos_sys::log!("{}: exporting state version {} after its signal (deliberately)", tileos_sys::domain::name(), u32::MAX);
    state.version = u32::MAX;
    state
}

fn main() -> ! {
    tileos_checksum_modules::spoil_adoption("exports an unknown state version after its signal", unknown_version)
}
