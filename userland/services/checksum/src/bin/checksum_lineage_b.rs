//! `checksum-lineage-b`: the checksum service written again independently
//! (`tileos_checksum::lineage_b`: nibble-table CRC-32, per-byte Adler-32, its own stream
//! bookkeeping), the third lineage of the N-version demo.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_checksum::lineage_b::LineageB;

tileos_checksum_modules::module_entry!(main);

fn main() -> ! {
    tileos_checksum_modules::start("lineage B: nibble-table CRC-32", LineageB::new())
}
