//! The protocol the `pci` domain serves on its endpoint (named "pci" in the description) to
//! driver domains, in the tileos message convention (`tileos_protocol`).
//!
//! [`Request::Enable`] finds a function by class code and turns on IO and memory decoding
//! and bus mastering for it and allows its INTx interrupt (only the `pci` domain holds the
//! configuration ports, so this is how a driver gets DMA). The answer says where the
//! function is, where BAR 0 is and which interrupt line it has.

use serde::{Deserialize, Serialize};

/// The pci protocol.
pub struct Pci;

impl tileos_protocol::Protocol for Pci {
    const NAME: &'static str = "pci";
    type Request = Request;
    type Response = Response;
}

/// What a driver asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Enable the `index`-th function (0 = first in enumeration order) with the 24-bit
    /// class code `class_code` (class, subclass, programming interface).
    Enable {
        /// Class, subclass and programming interface.
        class_code: u32,
        /// Which match.
        index: u32,
    },
}

/// What the `pci` domain answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The function was enabled.
    Enabled {
        /// Bus number.
        bus: u8,
        /// Device number.
        device: u8,
        /// Function number.
        function: u8,
        /// BAR 0 address (0 if BAR 0 is not implemented).
        bar0: u64,
        /// BAR 0 size in bytes (0 if not implemented).
        bar0_size: u64,
        /// Interrupt line as the firmware programmed it (the legacy IRQ, i.e. the IOAPIC
        /// pin on QEMU's `pc`).
        interrupt_line: u8,
        /// Interrupt pin: 0 none, 1..=4 INTA#..INTD#.
        interrupt_pin: u8,
    },
    /// No function has that class code (or fewer than `index + 1` do).
    NotFound,
}

/// The class code of an NVM Express controller (mass storage, NVM, NVMe I/O).
pub const CLASS_NVME: u32 = 0x01_08_02;
