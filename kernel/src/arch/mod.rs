//! x86_64 hardware glue: boot stub, descriptor tables, traps, serial log, memory layout.
//! This is where the kernel's `unsafe` lives; logic belongs in the library modules.

pub mod apic;
pub mod boot;
pub mod cpu;
pub mod entry;
pub mod gdt;
pub mod memory;
pub mod paging;
pub mod serial;
pub mod trap;
