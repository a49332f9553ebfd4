//! The protocol the `pci` domain serves on its endpoint "pci", in the tileos message
//! convention (`tileos_protocol`).
//!
//! Who may ask what is decided by the caller's badge, which the root server mints:
//! - [`ROOT_BADGE`]: the root server [`Request::Locate`]s each `[[pci_device]]` of the
//!   description while it builds the owning driver, and maps that device's BARs and issues
//!   its interrupt to the driver — so the description names devices by class, never by
//!   address.
//! - [`device_badge`]: a driver's capability "<device>.pci" carries its device's address.
//!   [`Request::Enable`] turns on decoding and bus mastering for exactly that function
//!   (and, if asked, switches it to MSI-X) and [`Request::ReadConfig`] reads its
//!   configuration space; a driver cannot touch another device, nor write configuration
//!   space (it could move its BARs over another device's).

use crate::{Address, Msix};
use serde::{Deserialize, Serialize};

/// The pci protocol.
pub struct Pci;

impl tileos_protocol::Protocol for Pci {
    const NAME: &'static str = "pci";
    type Request = Request;
    type Response = Response;
}

/// Badge of the root server's capability to the pci endpoint.
pub const ROOT_BADGE: u64 = 1 << 41;
/// Flag of a driver's badge; the low 16 bits are its device's bus/device/function.
pub const DEVICE_BADGE: u64 = 1 << 40;

/// The badge the root server mints for the driver of the function at `at`.
pub fn device_badge(at: Address) -> u64 {
    DEVICE_BADGE | u64::from(at.bus) << 8 | u64::from(at.device) << 3 | u64::from(at.function)
}

/// The function a driver's badge names (`None` for any other badge).
pub fn badge_device(badge: u64) -> Option<Address> {
    (badge & !0xFFFF == DEVICE_BADGE).then(|| Address {
        bus: (badge >> 8) as u8,
        device: (badge >> 3) as u8 & 0x1F,
        function: badge as u8 & 7,
    })
}

/// What the root server or a driver asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// (Root server only.) Find the `index`-th function (0 = first in enumeration order)
    /// with the 24-bit class code `class_code` (class, subclass, programming interface) and,
    /// when given, that vendor and device ID.
    Locate {
        /// Class, subclass and programming interface.
        class_code: u32,
        /// Vendor ID the function must have, if any.
        vendor: Option<u16>,
        /// Device ID the function must have, if any.
        device: Option<u16>,
        /// Which match.
        index: u32,
    },
    /// (Driver only.) Turn on IO and memory decoding and bus mastering for the caller's
    /// function; with `msix`, also enable MSI-X and disable INTx.
    Enable {
        /// Switch the function to MSI-X.
        msix: bool,
    },
    /// (Driver only.) Read the dword at `offset` (a multiple of 4) of the caller's
    /// function's configuration space (drivers read; only the `pci` domain writes).
    ReadConfig {
        /// Byte offset, a multiple of 4.
        offset: u8,
    },
}

/// One implemented BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BarInfo {
    /// An IO-port BAR (else memory).
    pub io: bool,
    /// Bus address (port number for IO).
    pub address: u64,
    /// Size in bytes (ports for IO).
    pub size: u64,
}

/// A located function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Bus, device, function.
    pub address: Address,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Implemented BARs by number.
    pub bars: [Option<BarInfo>; 6],
    /// Interrupt line as the firmware programmed it (0xFF: none).
    pub interrupt_line: u8,
    /// Interrupt pin: 0 none, 1..=4 INTA#..INTD#.
    pub interrupt_pin: u8,
    /// The MSI-X capability, if the function has one.
    pub msix: Option<Msix>,
}

/// What the `pci` domain answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The function [`Request::Locate`] asked for.
    Located(Device),
    /// No function has that class code (or fewer than `index + 1` do), or the caller's
    /// function is gone.
    NotFound,
    /// The caller's function is enabled.
    Enabled {
        /// Where the function is.
        address: Address,
        /// Its MSI-X table location, when MSI-X was asked for and is now on.
        msix: Option<Msix>,
    },
    /// The configuration dword [`Request::ReadConfig`] asked for.
    Config {
        /// Its value.
        value: u32,
    },
    /// [`Request::ReadConfig`] with an offset that is not a multiple of 4.
    Misaligned,
    /// MSI-X was asked for but the function has no MSI-X capability (nothing changed).
    NoMsix,
    /// The caller's badge does not allow this request.
    NotAllowed,
}

/// The class code of an NVM Express controller (mass storage, NVM, NVMe I/O).
pub const CLASS_NVME: u32 = 0x01_08_02;
/// The class code of an Ethernet controller (virtio-net among them).
pub const CLASS_ETHERNET: u32 = 0x02_00_00;
/// The class code of a display controller that is not VGA-compatible (virtio-gpu).
pub const CLASS_DISPLAY_OTHER: u32 = 0x03_80_00;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_badges_round_trip_and_others_are_refused() {
        let at = Address { bus: 3, device: 31, function: 7 };
        assert_eq!(badge_device(device_badge(at)), Some(at));
        assert_eq!(badge_device(ROOT_BADGE), None);
        assert_eq!(badge_device(0x20), None);
        assert_eq!(badge_device(device_badge(at) | 1 << 20), None);
    }
}
