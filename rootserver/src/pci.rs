//! PCI devices of the description (`[[pci_device]]`): the root server asks the `pci` domain
//! where each device is, then gives its driver domain exactly that device — every memory
//! BAR mapped uncached into the driver's window, the IO ports of every IO BAR, an MSI
//! handler (or, for a device without MSI-X, the handler of its INTx line) bound to the
//! declared notification bit, and a capability to the `pci` endpoint
//! badged with the device's address (with which the driver enables its device, and only
//! its device).
//!
//! A device is located once, when its driver is first built; restarts of the driver reuse
//! the answer and the device frames. The root server waits for the `pci` domain's answer:
//! the `pci` domain is started before every other domain so that it can give one.

use crate::alloc::Allocator;
use crate::loader::{ExtraMapping, LoadError};
use crate::system::DevicePool;
use ::alloc_crate::format;
use ::alloc_crate::string::String;
use ::alloc_crate::vec::Vec;
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::bootinfo::slot;
use tileos_abi::invocation::{Label, frame_attributes};
use tileos_abi::object::Rights;
use tileos_driver_pci::protocol::{Device, Pci, ROOT_BADGE, Request, Response, device_badge};
use tileos_sys::cap::Endpoint;
use tileos_sys::invoke;

/// IOAPIC pins an INTx line can be routed to.
const IOAPIC_PINS: u64 = 24;
use tileos_sys::rpc::Client;
use tileos_sysdesc::SystemDescription;

/// Where the memory BARs of a located device are: its frames and their window offsets.
struct Located {
    /// What the `pci` domain answered.
    device: Device,
    /// (frame slot in the root server's CNode, offset in the window) of every BAR page.
    frames: Vec<(u64, u64)>,
    /// (BAR number, offset in the window of the BAR's first byte) of every memory BAR.
    placed: Vec<(u8, u64)>,
}

/// What a driver domain gets for its PCI devices, for [`crate::system`] to add to the build.
#[derive(Default)]
pub struct DeviceGrants {
    /// Frames to map (root-server copies; deleted before the domain is rebuilt).
    pub mappings: Vec<ExtraMapping>,
    /// Regions for the information page: name ("<device>.bar<n>"), vaddr, paddr, size.
    pub regions: Vec<(String, u64, u64, u64)>,
    /// Capabilities: source slot, rights, badge, moved, kind, name.
    pub grants: Vec<(u64, Rights, u64, bool, CapKind, String)>,
    /// Root-server slots to delete before the domain is rebuilt.
    pub copies: Vec<u64>,
}

/// The PCI devices of the tile.
pub struct PciDevices {
    /// The root server's capability to the `pci` endpoint (badge [`ROOT_BADGE`]).
    locator: Option<u64>,
    /// The `pci` endpoint itself, for minting drivers' badged capabilities.
    endpoint: Option<u64>,
    /// Per `[[pci_device]]`: the answer, once located.
    located: Vec<Option<Located>>,
}

impl PciDevices {
    /// Prepares the tile's PCI devices; `endpoints` are the root server's slots of the
    /// description's endpoints.
    pub fn new(alloc: &mut Allocator, description: &SystemDescription, endpoints: &[u64]) -> PciDevices {
        let endpoint = description.endpoints.iter().position(|e| e.name == "pci").map(|e| endpoints[e]);
        let locator = endpoint.filter(|_| !description.pci_devices.is_empty()).map(|endpoint| {
            let locator = alloc.slots.take();
            invoke(slot::CNODE, Label::CNodeMint, &[locator, 64, endpoint, 64, Rights::ALL.0 as u64, ROOT_BADGE], &[slot::CNODE])
                .unwrap_or_else(|e| panic!("mint the pci locator capability: {e:?}"));
            locator
        });
        PciDevices { locator, endpoint, located: description.pci_devices.iter().map(|_| None).collect() }
    }

    /// Locates the PCI devices of domain `domain` not located yet. What this allocates
    /// (device frames) lives as long as the tile, so it must not be counted among the slots
    /// a restart of the domain recycles.
    pub fn locate_for(&mut self, alloc: &mut Allocator, devices: &mut DevicePool, description: &SystemDescription, domain: usize) -> Result<(), LoadError> {
        for (index, pci) in description.pci_devices.iter().enumerate().filter(|(_, p)| p.domain as usize == domain) {
            if self.located[index].is_none() {
                let located = self.locate(alloc, devices, description, index).map_err(|problem| LoadError::Device(format!("pci device \"{}\": {problem}", pci.name)))?;
                self.located[index] = Some(located);
            }
        }
        Ok(())
    }

    /// Whether every PCI device of the description has been located (then the device memory
    /// no device uses is of no further use).
    pub fn all_located(&self) -> bool {
        self.located.iter().all(Option::is_some)
    }

    /// Whether domain `domain` has a PCI device with IO BARs (or one not located yet, which
    /// may have some): rebuilding it needs IO-port control.
    pub fn needs_io_ports(&self, description: &SystemDescription, domain: usize) -> bool {
        description.pci_devices.iter().zip(&self.located).any(|(pci, located)| {
            pci.domain as usize == domain && located.as_ref().is_none_or(|l| l.device.bars.iter().flatten().any(|bar| bar.io))
        })
    }

    /// Everything domain `domain` gets for its (located) PCI devices (`notifications`: the
    /// root server's slots of the description's notifications).
    pub fn grants_for(&mut self, alloc: &mut Allocator, description: &SystemDescription, notifications: &[u64], domain: usize) -> Result<DeviceGrants, LoadError> {
        let mut out = DeviceGrants::default();
        for (index, pci) in description.pci_devices.iter().enumerate().filter(|(_, p)| p.domain as usize == domain) {
            let fail = |problem: String| LoadError::Device(format!("pci device \"{}\": {problem}", pci.name));
            let Some(located) = &self.located[index] else { return Err(fail(String::from("not located (locate_for was not called)"))) };
            let device = &located.device;
            for &(frame, offset) in &located.frames {
                let copy = alloc.slots.take();
                invoke(slot::CNODE, Label::CNodeCopy, &[copy, 64, frame, 64, Rights::ALL.0 as u64], &[slot::CNODE])
                    .map_err(|e| LoadError::Kernel("pci device frame", e))?;
                out.copies.push(copy);
                out.mappings.push(ExtraMapping { frame: copy, vaddr: pci.vaddr + offset, rights: Rights::ALL, attributes: frame_attributes::UNCACHED });
            }
            for &(bar, offset) in &located.placed {
                let Some(info) = device.bars[usize::from(bar)] else { continue };
                out.regions.push((format!("{}.bar{bar}", pci.name), pci.vaddr + offset, info.address, info.size));
            }
            for (bar, info) in device.bars.iter().enumerate().filter_map(|(n, b)| b.filter(|b| b.io).map(|b| (n, b))) {
                let ports = alloc.slots.take();
                let last = info.address + info.size - 1;
                invoke(slot::IO_PORT_CONTROL, Label::IoPortControlIssue, &[info.address, last, ports, 64], &[])
                    .map_err(|e| LoadError::Kernel("pci device IO ports", e))?;
                out.grants.push((ports, Rights::ALL, 0, true, CapKind::IoPort, format!("{}.bar{bar}", pci.name)));
            }
            if let Some(interrupt) = pci.interrupt {
                // MSI-X when the device has it, else its INTx line (level-triggered, active
                // high: how QEMU's firmware routes PCI links to the IOAPIC).
                let handler = alloc.slots.take();
                let name = if device.msix.is_some() {
                    let msi_slot = description.pci_devices[..index].iter().filter(|p| p.interrupt.is_some()).count() as u64;
                    invoke(slot::IRQ_CONTROL, Label::IrqControlGetMsi, &[msi_slot, handler, 64], &[])
                        .map_err(|e| LoadError::Kernel("pci device MSI handler", e))?;
                    format!("{}.msi", pci.name)
                } else if device.interrupt_pin != 0 && u64::from(device.interrupt_line) < IOAPIC_PINS {
                    invoke(slot::IRQ_CONTROL, Label::IrqControlGet, &[u64::from(device.interrupt_line), 1, 0, handler, 64], &[]).map_err(|e| {
                        fail(format!("INTx line {} (no MSI-X): {:?} (is the line shared with another device's?)", device.interrupt_line, e.code))
                    })?;
                    format!("{}.intx", pci.name)
                } else {
                    return Err(fail(String::from("the device has neither MSI-X nor an INTx line")));
                };
                let badged = alloc.slots.take();
                let notification = notifications[interrupt.notification as usize];
                invoke(slot::CNODE, Label::CNodeMint, &[badged, 64, notification, 64, Rights::WRITE.0 as u64, 1 << interrupt.bit], &[slot::CNODE])
                    .map_err(|e| LoadError::Kernel("pci device interrupt notification", e))?;
                invoke(handler, Label::IrqHandlerSetNotification, &[], &[badged]).map_err(|e| LoadError::Kernel("pci device interrupt notification", e))?;
                out.copies.push(badged);
                out.grants.push((handler, Rights::ALL, 0, true, CapKind::IrqHandler, name));
            }
            let endpoint = self.endpoint.ok_or_else(|| fail(String::from("no endpoint \"pci\"")))?;
            let rights = Rights(Rights::WRITE.0 | Rights::GRANT_REPLY.0);
            out.grants.push((endpoint, rights, device_badge(device.address), false, CapKind::ClientEndpoint, format!("{}.pci", pci.name)));
        }
        Ok(out)
    }

    /// Asks the `pci` domain for device `index` and cuts frames for its memory BARs.
    fn locate(&self, alloc: &mut Allocator, devices: &mut DevicePool, description: &SystemDescription, index: usize) -> Result<Located, String> {
        let pci = &description.pci_devices[index];
        let locator = self.locator.ok_or_else(|| String::from("no endpoint \"pci\" to locate it through"))?;
        let request = Request::Locate { class_code: pci.class, vendor: pci.vendor, device: pci.device, index: pci.index };
        let device = match Client::<Pci>::new(Endpoint::from_cptr(locator)).call(&request) {
            Ok(Response::Located(device)) => device,
            Ok(Response::NotFound) => {
                let ids = match (pci.vendor, pci.device) {
                    (Some(vendor), Some(device)) => format!(" and ID {vendor:04x}:{device:04x}"),
                    (Some(vendor), None) => format!(" and vendor {vendor:04x}"),
                    (None, Some(device)) => format!(" and device ID {device:04x}"),
                    (None, None) => String::new(),
                };
                return Err(format!("the pci domain found no function #{} of class {:#08x}{ids} (its log lists the bus)", pci.index, pci.class));
            }
            Ok(other) => return Err(format!("unexpected answer from the pci domain: {other:?}")),
            Err(error) => return Err(format!("the pci domain did not answer: {error:?}")),
        };
        let mut frames = Vec::new();
        let mut placed = Vec::new();
        let mut offset = 0u64;
        for (bar, info) in device.bars.iter().enumerate().filter_map(|(n, b)| b.filter(|b| !b.io).map(|b| (n, b))) {
            let first_page = info.address & !0xFFF;
            let pages = (info.address + info.size - first_page).div_ceil(4096);
            // Each BAR starts at the next multiple of its (page-rounded) size in the window.
            let align = (pages * 4096).next_power_of_two();
            offset = offset.next_multiple_of(align);
            if offset + pages * 4096 > pci.window {
                return Err(format!(
                    "BAR{bar} ({:#x} bytes at {:#x}) does not fit in the window of {:#x} bytes at {:#x}",
                    info.size, info.address, pci.window, pci.vaddr
                ));
            }
            for page in 0..pages {
                let paddr = first_page + page * 4096;
                let frame = devices.frame(alloc, paddr).ok_or_else(|| format!("BAR{bar}: {paddr:#x} is not free device memory"))?;
                frames.push((frame, offset + page * 4096));
            }
            placed.push((bar as u8, offset + (info.address & 0xFFF)));
            offset += pages * 4096;
        }
        let bars: Vec<String> = device
            .bars
            .iter()
            .enumerate()
            .filter_map(|(n, b)| b.map(|b| format!("BAR{n} {} {:#x}+{:#x}", if b.io { "io" } else { "mem" }, b.address, b.size)))
            .collect();
        tileos_sys::println!(
            "rootserver: pci device \"{}\" is {} ({:04x}:{:04x}): {}{}",
            pci.name,
            device.address,
            device.vendor,
            device.device,
            bars.join(", "),
            if device.msix.is_some() { ", MSI-X" } else { "" }
        );
        Ok(Located { device, frames, placed })
    }
}
