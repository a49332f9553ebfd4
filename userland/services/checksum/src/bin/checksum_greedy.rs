//! `checksum-greedy`: right and fast, but its bundle's manifest asks for a capability the
//! slot's allowance does not hold (the endpoint "store"), so the slot manager must refuse
//! to install it, whatever it would do with it.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::{Checksummer, SliceBy8};

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    if tileos_sys::domain::client_endpoint("store").is_some() {
        tileos_sys::log!("{}: holds the store endpoint it asked for (it should never have been installed)", tileos_sys::domain::name());
    }
    tileos_checksum_modules::start("greedy: asks for the store", Checksummer::<SliceBy8>::new())
}
