//! The protocol the `pci` domain serves on its endpoint "pci", and the plain data its
//! messages carry ([`Address`], [`Msix`], [`Device`]). The configuration-space logic that
//! produces them (access, BAR probing, enumeration) stays in the driver crate
//! `tileos-driver-pci`; this module is what the `pci` domain, its drivers
//! (`tileos-pci-attach`) and the root server share.
//!
//! The `pci` domain first reports every function it found to the root server ([`report`],
//! over the capability "pci-report" to the supervisor's endpoint), which picks each
//! `[[pci_device]]` of the description from that list, maps the device's BARs and issues
//! its interrupt to the driver — so the description names devices by class, never by
//! address. The root server never calls the `pci` domain: a `pci` domain that faults
//! before reporting cannot block the boot.
//!
//! Then it serves its endpoint to drivers; the caller's badge, which the root server
//! mints, says which function it may touch:
//! - [`device_badge`]: a driver's capability "&lt;device&gt;.pci" carries its device's address.
//!   [`Request::Enable`] turns on decoding and bus mastering for exactly that function
//!   (and, if asked, switches it to MSI-X) and [`Request::ReadConfig`] reads its
//!   configuration space; a driver cannot touch another device, nor write configuration
//!   space (it could move its BARs over another device's).

use serde::{Deserialize, Serialize};

/// Where a function sits: bus, device (0..32), function (0..8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Address {
    /// Bus number.
    pub bus: u8,
    /// Device number, 0..32.
    pub device: u8,
    /// Function number, 0..8.
    pub function: u8,
}

impl core::fmt::Display for Address {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// Where a function's MSI-X table and pending-bit array are, from its MSI-X capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msix {
    /// Offset of the capability in configuration space.
    pub capability: u8,
    /// Table entries (vectors) the function has.
    pub vectors: u16,
    /// BAR holding the table.
    pub table_bar: u8,
    /// Offset of the table in that BAR (16 bytes per entry).
    pub table_offset: u32,
    /// BAR holding the pending-bit array.
    pub pba_bar: u8,
    /// Offset of the pending-bit array in that BAR.
    pub pba_offset: u32,
}

/// The pci protocol.
pub struct Pci;

impl crate::Protocol for Pci {
    const NAME: &'static str = "pci";
    type Request = Request;
    type Response = Response;
}

/// Flag of a driver's badge; the low 16 bits are its device's bus/device/function.
pub const DEVICE_BADGE: u64 = 1 << 40;

/// The badge the root server mints for the driver of the function at `at`.
pub fn device_badge(at: Address) -> u64 {
    DEVICE_BADGE | u64::from(at.bus) << 8 | u64::from(at.device) << 3 | u64::from(at.function)
}

/// The function a driver's badge names (`None` for any other badge).
pub fn badge_device(badge: u64) -> Option<Address> {
    (badge & !0xFFFF == DEVICE_BADGE).then_some(Address {
        bus: (badge >> 8) as u8,
        device: (badge >> 3) as u8 & 0x1F,
        function: badge as u8 & 7,
    })
}

/// What a driver asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Turn on IO and memory decoding and bus mastering for the caller's
    /// function; with `msix`, also enable MSI-X and disable INTx.
    Enable {
        /// Switch the function to MSI-X.
        msix: bool,
    },
    /// Read the dword at `offset` (a multiple of 4) of the caller's
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

/// A function as the `pci` domain reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Class, subclass and programming interface (24 bits).
    pub class_code: u32,
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
    /// The caller's function is gone.
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

/// The bus report: the `pci` domain tells the root server every function it found, in
/// batches of [`report::BATCH`], and the root server answers each batch at once.
pub mod report {
    use super::Device;
    use heapless::Vec;
    use serde::{Deserialize, Serialize};

    /// Functions per message (the largest batch fits one message: see the tests).
    pub const BATCH: usize = 5;

    /// The report protocol.
    pub struct BusReport;

    impl crate::Protocol for BusReport {
        const NAME: &'static str = "pci bus report";
        type Request = Request;
        type Response = Response;
    }

    /// One batch of the report.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Request {
        /// Functions on the bus in all.
        pub total: u16,
        /// Index of the first function in this batch (enumeration order).
        pub first: u16,
        /// The functions `first..first + functions.len()`.
        pub functions: Vec<Device, BATCH>,
    }

    /// The root server's answer.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub enum Response {
        /// The batch was taken.
        Taken,
        /// The batch does not continue the report (wrong `first` or `total`): start again
        /// from function 0.
        OutOfOrder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    #[test]
    fn the_largest_report_batch_fits_one_message() {
        let bar = Some(BarInfo { io: false, address: u64::MAX, size: u64::MAX });
        let msix = Msix { capability: 0xFF, vectors: 2048, table_bar: 5, table_offset: u32::MAX, pba_bar: 5, pba_offset: u32::MAX };
        let device = Device {
            class_code: 0xFF_FFFF,
            address: Address { bus: 255, device: 31, function: 7 },
            vendor: u16::MAX,
            device: u16::MAX,
            bars: [bar; 6],
            interrupt_line: 255,
            interrupt_pin: 4,
            msix: Some(msix),
        };
        let request =
            report::Request { total: u16::MAX, first: u16::MAX, functions: core::iter::repeat_n(device, report::BATCH).collect() };
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&request, &mut words).expect("fits");
        assert_eq!(decode::<report::Request>(MESSAGE, &words[..length]), Ok(request));
    }

    #[test]
    fn device_badges_round_trip_and_others_are_refused() {
        let at = Address { bus: 3, device: 31, function: 7 };
        assert_eq!(badge_device(device_badge(at)), Some(at));
        assert_eq!(badge_device(1 << 41), None);
        assert_eq!(badge_device(0x20), None);
        assert_eq!(badge_device(device_badge(at) | 1 << 20), None);
    }
}
