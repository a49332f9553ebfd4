//! The driver side of a `[[pci_device]]`: what a driver domain finds in its information
//! page for the device the description grants it, and how it turns the device on.
//!
//! For a device named `nvme` the root server gives the driver the regions `nvme.bar<n>`
//! (each memory BAR, mapped uncached), the IO-port capabilities `nvme.bar<n>` (each IO
//! BAR), the interrupt handler (if the description routes an interrupt: `nvme.msi` for a
//! device with MSI-X, else `nvme.intx`, its IOAPIC pin) and the capability `nvme.pci` to
//! the `pci` endpoint, badged with the device's address. [`Attachment::open`] takes each
//! BAR region as a `tileos_mmio::Mmio` handle and [`Attachment::take_bar`] hands it to the
//! driver (once). [`Attachment::enable`] asks the
//! `pci` domain to enable the device and, with an MSI handler, switches it to MSI-X and
//! points table entry 0 at the handler's vector.
//!
//! (A crate of its own, apart from `tileos-driver-pci`, because it makes system calls:
//! host unit tests of the crates that only need the PCI definitions must not link the
//! domain runtime.)
#![no_std]
#![forbid(unsafe_code)]

use core::fmt::Write;
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_driver_pci::ConfigRead;
use tileos_mmio::Mmio;
use tileos_protocol::heapless::String;
use tileos_protocol::pci::{Address, Msix, Pci, Request, Response};
use tileos_sys::cap::{Endpoint, IoPort, IrqHandler};
use tileos_sys::rpc::{CallError, Client};

/// Longest capability or region name the information page holds.
const NAME_BYTES: usize = 31;

/// Bytes of one MSI-X table entry: address low, address high, data, vector control.
const MSIX_ENTRY_BYTES: u64 = 16;

/// Memory BARs a function has.
const BARS: usize = 6;

/// Why a driver cannot use its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachError {
    /// The information page has no capability "&lt;device&gt;.pci": the description grants no
    /// `[[pci_device]]` of this name to the domain.
    NotGranted,
    /// The `pci` domain's call failed.
    Call(CallError),
    /// The `pci` domain answered something else than expected.
    Refused(Response),
    /// The MSI-X table lies in a BAR that is not mapped here, or beyond its end.
    TableNotMapped {
        /// The BAR the function's MSI-X capability names.
        bar: u8,
    },
    /// The kernel refused to tell the MSI message of the handler.
    MsiMessage(tileos_abi::error::InvocationError),
}

/// How a device's interrupt reaches its driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// MSI-X vector 0, edge-triggered: acknowledging the handler does nothing.
    Msix(IrqHandler),
    /// The INTx line through an IOAPIC pin, level-triggered: the pin stays masked from
    /// delivery until the handler is acknowledged, and the driver must make the device
    /// lower the line first (e.g. read virtio's ISR).
    Intx(IrqHandler),
}

impl Interrupt {
    /// The handler capability.
    pub fn handler(self) -> IrqHandler {
        match self {
            Interrupt::Msix(handler) | Interrupt::Intx(handler) => handler,
        }
    }
}

/// A granted PCI device, as its driver sees it.
pub struct Attachment {
    /// The device's name in the description.
    name: &'static str,
    /// The badged capability to the `pci` endpoint.
    pci: Endpoint,
    /// The interrupt, if one is routed.
    pub interrupt: Option<Interrupt>,
    /// The mapped memory BARs not yet handed to the driver ([`Attachment::take_bar`]).
    bars: [Option<Mmio>; BARS],
}

/// `<device>.<suffix>`, the name of one of a device's capabilities or regions.
fn item_name(device: &str, suffix: core::fmt::Arguments) -> String<NAME_BYTES> {
    let mut name = String::new();
    // A name longer than the page holds cannot be found: the description checks lengths.
    let _ = write!(name, "{device}.{suffix}");
    name
}

impl Attachment {
    /// The device `name` the description grants this domain.
    pub fn open(name: &'static str) -> Result<Attachment, AttachError> {
        let pci = tileos_sys::domain::cap(CapKind::ClientEndpoint, &item_name(name, format_args!("pci"))).ok_or(AttachError::NotGranted)?;
        let msi = tileos_sys::domain::irq_handler(&item_name(name, format_args!("msi"))).map(Interrupt::Msix);
        let intx = || tileos_sys::domain::irq_handler(&item_name(name, format_args!("intx"))).map(Interrupt::Intx);
        let bars = core::array::from_fn(|bar| tileos_sys::domain::take_region(&item_name(name, format_args!("bar{bar}"))));
        Ok(Attachment { name, pci: Endpoint::from_cptr(pci), interrupt: msi.or_else(intx), bars })
    }

    /// Memory BAR `bar`: (user address, bus address, size in bytes), if mapped here.
    pub fn memory_bar(&self, bar: u8) -> Option<(u64, u64, u64)> {
        tileos_sys::domain::region(&item_name(self.name, format_args!("bar{bar}")))
    }

    /// Memory BAR `bar` as the driver's handle to it, if mapped here and not taken before.
    /// Take BARs after [`Attachment::enable`], which writes the MSI-X table through its BAR.
    pub fn take_bar(&mut self, bar: u8) -> Option<Mmio> {
        self.bars.get_mut(usize::from(bar))?.take()
    }

    /// The IO ports of IO BAR `bar`, if granted: the capability and the first port (read
    /// from the BAR register through the `pci` domain).
    pub fn io_bar(&mut self, bar: u8) -> Option<(IoPort, u16)> {
        let ports = tileos_sys::domain::io_port(&item_name(self.name, format_args!("bar{bar}")))?;
        let register = self.read(Address { bus: 0, device: 0, function: 0 }, tileos_driver_pci::reg::BAR0 + 4 * bar);
        (register & 1 == 1 && register != u32::MAX).then_some((ports, (register & !3) as u16))
    }

    /// Enables decoding and bus mastering (and INTx); with an MSI handler, MSI-X instead,
    /// with table entry 0 delivering to it (the other entries stay masked). Returns where
    /// the device is and, with MSI-X, its table location.
    pub fn enable(&mut self) -> Result<(Address, Option<Msix>), AttachError> {
        let msi = match self.interrupt {
            Some(Interrupt::Msix(handler)) => Some(handler),
            _ => None,
        };
        let request = Request::Enable { msix: msi.is_some() };
        let (address, msix) = match Client::<Pci>::new(self.pci).call(&request) {
            Ok(Response::Enabled { address, msix }) => (address, msix),
            Ok(other) => return Err(AttachError::Refused(other)),
            Err(error) => return Err(AttachError::Call(error)),
        };
        if let (Some(handler), Some(table)) = (msi, msix) {
            let table_bar = self.bars.get(usize::from(table.table_bar)).and_then(Option::as_ref);
            let window = table_bar.ok_or(AttachError::TableNotMapped { bar: table.table_bar })?;
            if u64::from(table.table_offset) + MSIX_ENTRY_BYTES > window.len() as u64 {
                return Err(AttachError::TableNotMapped { bar: table.table_bar });
            }
            let (address, data) = handler
                .msi_message()
                .map_err(|e| AttachError::MsiMessage(e.code.unwrap_or(tileos_abi::error::InvocationError::IllegalOperation)))?;
            // Entry 0, written with aligned 32-bit accesses, vector control (unmask) last.
            let entry = table.table_offset as usize;
            window.write32(entry, address as u32);
            window.write32(entry + 4, (address >> 32) as u32);
            window.write32(entry + 8, data);
            window.write32(entry + 12, 0);
        }
        Ok((address, msix))
    }
}

impl ConfigRead for Attachment {
    /// Reads the device's own configuration space through the `pci` domain (`at` is
    /// ignored: the badge names the function); a refused read reads as all ones.
    fn read(&mut self, _at: Address, offset: u8) -> u32 {
        match Client::<Pci>::new(self.pci).call(&Request::ReadConfig { offset }) {
            Ok(Response::Config { value }) => value,
            _ => 0xFFFF_FFFF,
        }
    }
}
