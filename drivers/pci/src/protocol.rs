//! The protocol the `pci` domain serves on its endpoint (named "pci" in the description) to
//! driver domains.
//!
//! **Enable** ([`ENABLE`]): word 0 = 24-bit class code (class, subclass, programming
//! interface), word 1 = which match (0 = the first in enumeration order). The `pci` domain
//! turns on IO and memory decoding and bus mastering for that function and allows its INTx
//! interrupt. Reply label 0 with word 0 = packed address ([`crate::Address::pack`]), word
//! 1 = BAR 0 address, word 2 = BAR 0 size (0 if BAR 0 is not implemented), word 3 =
//! interrupt line | interrupt pin << 8. Error labels: [`NOT_FOUND`], [`BAD_REQUEST`].

/// Request label: find and enable a function by class code.
pub const ENABLE: u64 = 1;
/// Error label: no function with that class code (or fewer matches than asked for).
pub const NOT_FOUND: u64 = 1;
/// Error label: unknown request label or too few words.
pub const BAD_REQUEST: u64 = 2;

/// The class code of an NVM Express controller (mass storage, NVM, NVMe I/O).
pub const CLASS_NVME: u32 = 0x01_08_02;
