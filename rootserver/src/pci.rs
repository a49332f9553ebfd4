//! PCI devices of the description (`[[pci_device]]`): the root server asks the `pci` domain
//! where each device is, then gives its driver domain exactly that device — every memory
//! BAR mapped uncached into the driver's window, the IO ports of every IO BAR, an MSI
//! handler (or, for a device without MSI-X, the handler of its INTx line) bound to the
//! declared notification bit, and a capability to the `pci` endpoint
//! badged with the device's address (with which the driver enables its device, and only
//! its device).
//!
//! The `pci` domain reports every function of the bus at start (the protocol
//! `tileos_protocol::pci::report`, on a capability to the supervisor's endpoint
//! badged [`REPORT_BADGE`]); the root server starts it first and waits for the report —
//! or for its fault, after which the drivers of PCI devices are not started. A device is
//! picked from the report once, when its driver is first built; restarts of the driver
//! reuse it and the device frames.

use crate::alloc::Allocator;
use crate::loader::{ExtraMapping, LoadError};
use crate::system::DevicePool;
use ::alloc_crate::format;
use ::alloc_crate::string::String;
use ::alloc_crate::vec::Vec;
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::bootinfo::slot;
use tileos_abi::invocation::frame_attributes;
use tileos_abi::invocation::{
    CNodeCopy, CNodeMint, CPtr, IoPortControlIssue, IrqControlGet, IrqControlGetMsi, IrqHandlerSetNotification, Slot,
};
use tileos_abi::object::Rights;
use tileos_protocol::pci::report::{self, BusReport};
use tileos_protocol::pci::{Device, device_badge};
use tileos_sys::Message;
use tileos_sys::cap::{CNode, IoPortControl, IrqControl, IrqHandler};

/// Functions of a bus report the root server takes at most (QEMU's buses have a dozen).
const MAX_FUNCTIONS: usize = 256;

/// IOAPIC pins an INTx line can be routed to.
const IOAPIC_PINS: u64 = 24;
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

/// Badge of the `pci` domain's report capability to the supervisor's endpoint (distinct
/// from fault badges, the domain index + 1, and from supervisor clients, bit 63).
pub const REPORT_BADGE: u64 = 1 << 62;

/// The PCI devices of the tile.
pub struct PciDevices {
    /// The domain serving the `pci` endpoint, when PCI devices are declared.
    server: Option<usize>,
    /// The `pci` endpoint itself, for minting drivers' badged capabilities.
    endpoint: Option<u64>,
    /// The functions reported so far.
    reported: Vec<Device>,
    /// The whole bus, once reported.
    bus: Option<Vec<Device>>,
    /// Per `[[pci_device]]`: the function picked for it, once located.
    located: Vec<Option<Located>>,
    /// Slot of the IOSpace control capability (0: the machine has no IOMMU).
    iospace_control: u64,
}

impl PciDevices {
    /// Prepares the tile's PCI devices; `endpoints` are the root server's slots of the
    /// description's endpoints.
    pub fn new(description: &SystemDescription, endpoints: &[u64]) -> PciDevices {
        let pci = description.endpoints.iter().position(|e| e.name == "pci");
        let endpoint = pci.map(|e| endpoints[e]);
        let server =
            pci.and_then(|e| description.endpoints[e].server.domain()).filter(|_| !description.pci_devices.is_empty()).map(|d| d as usize);
        PciDevices {
            server,
            endpoint,
            reported: Vec::new(),
            bus: None,
            located: description.pci_devices.iter().map(|_| None).collect(),
            iospace_control: 0,
        }
    }

    /// Confines every device located from now on to its driver's DMA buffers with the
    /// IOSpace control in `slot` (the BootInfo's; 0: no IOMMU, devices are not confined).
    pub fn set_iospace_control(&mut self, slot: u64) {
        self.iospace_control = slot;
    }

    /// The domain whose bus report the boot waits for, if any.
    pub fn reporter(&self) -> Option<usize> {
        self.server
    }

    /// Takes one batch of the bus report from `message` and answers it; returns whether the
    /// report is now complete.
    pub fn take_report(&mut self, message: &Message) -> bool {
        let batch = match tileos_sys::rpc::decode_request::<BusReport>(message) {
            Ok(batch) => batch,
            Err(error) => {
                tileos_sys::println!("rootserver: malformed pci bus report: {error:?}");
                tileos_sys::rpc::answer::<BusReport>(None, Err(error));
                return false;
            }
        };
        if usize::from(batch.first) != self.reported.len() {
            self.reported.clear();
            tileos_sys::rpc::answer::<BusReport>(None, Ok(report::Response::OutOfOrder));
            return false;
        }
        // The report lives in the root server's heap: a bus of more functions than it takes,
        // or one the heap cannot hold, is refused (the pci domain's word alone cannot run
        // the heap out).
        let count = self.reported.len() + batch.functions.len();
        if usize::from(batch.total) > MAX_FUNCTIONS
            || count > usize::from(batch.total)
            || self.reported.try_reserve(batch.functions.len()).is_err()
        {
            tileos_sys::println!(
                "rootserver: pci bus report refused: {} functions announced, {count} so far (the root server takes at most {MAX_FUNCTIONS})",
                batch.total
            );
            self.reported.clear();
            tileos_sys::rpc::answer::<BusReport>(None, Ok(report::Response::OutOfOrder));
            return false;
        }
        self.reported.extend(batch.functions.iter().copied());
        tileos_sys::rpc::answer::<BusReport>(None, Ok(report::Response::Taken));
        if self.reported.len() < usize::from(batch.total) {
            return false;
        }
        let bus = core::mem::take(&mut self.reported);
        match &self.bus {
            None => tileos_sys::println!("rootserver: the pci domain reported {} functions", bus.len()),
            Some(known) if *known == bus => tileos_sys::println!("rootserver: the pci domain reported the bus again, unchanged"),
            Some(_) => tileos_sys::println!("rootserver: the pci domain reported a changed bus; drivers keep what they were given"),
        }
        self.bus.get_or_insert(bus);
        true
    }

    /// Locates the PCI devices of domain `domain` not located yet and, with an IOMMU,
    /// confines each to the frames of the shared regions mapped into the domain (`regions`:
    /// each shared region's frame slots; [`crate::iommu`]). What this allocates (device
    /// frames, IOSpaces) lives as long as the tile, so it must not be counted among the slots
    /// a restart of the domain recycles.
    pub fn locate_for(
        &mut self,
        alloc: &mut Allocator,
        devices: &mut DevicePool,
        description: &SystemDescription,
        regions: &[Vec<u64>],
        domain: usize,
    ) -> Result<(), LoadError> {
        for (index, pci) in description.pci_devices.iter().enumerate().filter(|(_, p)| p.domain as usize == domain) {
            if self.located[index].is_none() {
                let fail = |problem: String| LoadError::Device(format!("pci device \"{}\": {problem}", pci.name));
                let located = self.locate(alloc, devices, description, index).map_err(fail)?;
                if self.iospace_control != 0 {
                    let dma: Vec<u64> = description
                        .shared_regions
                        .iter()
                        .zip(regions)
                        .filter(|(region, _)| region.mappings.iter().any(|m| m.domain as usize == domain))
                        .flat_map(|(_, frames)| frames.iter().copied())
                        .collect();
                    let pages = crate::iommu::attach(alloc, self.iospace_control, located.device.address, &dma).map_err(fail)?;
                    tileos_sys::println!(
                        "rootserver: iommu: pci device \"{}\" ({}) may DMA only to the {pages} pages of its driver's shared regions",
                        pci.name,
                        located.device.address
                    );
                }
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
    pub fn grants_for(
        &mut self,
        alloc: &mut Allocator,
        description: &SystemDescription,
        notifications: &[u64],
        domain: usize,
    ) -> Result<DeviceGrants, LoadError> {
        let mut out = DeviceGrants::default();
        for (index, pci) in description.pci_devices.iter().enumerate().filter(|(_, p)| p.domain as usize == domain) {
            let fail = |problem: String| LoadError::Device(format!("pci device \"{}\": {problem}", pci.name));
            let Some(located) = &self.located[index] else { return Err(fail(String::from("not located (locate_for was not called)"))) };
            let device = &located.device;
            for &(frame, offset) in &located.frames {
                let copy = alloc.slots.try_take().map_err(|e| LoadError::Alloc("pci device frame", e))?;
                CNode::ROOT
                    .invoke(CNodeCopy { dest: Slot::at(copy), src: Slot::at(frame), rights: Rights::ALL, src_root: CPtr(slot::CNODE) })
                    .map_err(|e| LoadError::Kernel("pci device frame", e))?;
                out.copies.push(copy);
                out.mappings.push(ExtraMapping {
                    frame: copy,
                    vaddr: pci.vaddr + offset,
                    rights: Rights::ALL,
                    attributes: frame_attributes::UNCACHED,
                });
            }
            for &(bar, offset) in &located.placed {
                let Some(info) = device.bars[usize::from(bar)] else { continue };
                out.regions.push((format!("{}.bar{bar}", pci.name), pci.vaddr + offset, info.address, info.size));
            }
            for (bar, info) in device.bars.iter().enumerate().filter_map(|(n, b)| b.filter(|b| b.io).map(|b| (n, b))) {
                let ports = alloc.slots.try_take().map_err(|e| LoadError::Alloc("pci device IO ports", e))?;
                let last = info.address + info.size - 1;
                IoPortControl::ROOT
                    .invoke(IoPortControlIssue { first: info.address, last, dest: Slot::at(ports) })
                    .map_err(|e| LoadError::Kernel("pci device IO ports", e))?;
                out.grants.push((ports, Rights::ALL, 0, true, CapKind::IoPort, format!("{}.bar{bar}", pci.name)));
            }
            if let Some(interrupt) = pci.interrupt {
                // MSI-X when the device has it, else its INTx line (level-triggered, active
                // high: how QEMU's firmware routes PCI links to the IOAPIC).
                let handler = alloc.slots.try_take().map_err(|e| LoadError::Alloc("pci device interrupt", e))?;
                let name = if device.msix.is_some() {
                    let msi_slot = description.pci_devices[..index].iter().filter(|p| p.interrupt.is_some()).count() as u64;
                    IrqControl::ROOT
                        .invoke(IrqControlGetMsi { msi: msi_slot, dest: Slot::at(handler) })
                        .map_err(|e| LoadError::Kernel("pci device MSI handler", e))?;
                    format!("{}.msi", pci.name)
                } else if device.interrupt_pin != 0 && u64::from(device.interrupt_line) < IOAPIC_PINS {
                    IrqControl::ROOT
                        .invoke(IrqControlGet {
                            pin: u64::from(device.interrupt_line),
                            level_triggered: true,
                            active_low: false,
                            dest: Slot::at(handler),
                        })
                        .map_err(|e| {
                            fail(format!(
                                "INTx line {} (no MSI-X): {:?} (is the line shared with another device's?)",
                                device.interrupt_line, e.code
                            ))
                        })?;
                    format!("{}.intx", pci.name)
                } else {
                    return Err(fail(String::from("the device has neither MSI-X nor an INTx line")));
                };
                let badged = alloc.slots.try_take().map_err(|e| LoadError::Alloc("pci device interrupt notification", e))?;
                let notification = notifications[interrupt.notification as usize];
                CNode::ROOT
                    .invoke(CNodeMint {
                        dest: Slot::at(badged),
                        src: Slot::at(notification),
                        rights: Rights::WRITE,
                        badge: 1 << interrupt.bit,
                        src_root: CPtr(slot::CNODE),
                    })
                    .map_err(|e| LoadError::Kernel("pci device interrupt notification", e))?;
                IrqHandler::from_cptr(handler)
                    .invoke(IrqHandlerSetNotification { notification: CPtr(badged) })
                    .map_err(|e| LoadError::Kernel("pci device interrupt notification", e))?;
                out.copies.push(badged);
                out.grants.push((handler, Rights::ALL, 0, true, CapKind::IrqHandler, name));
            }
            let endpoint = self.endpoint.ok_or_else(|| fail(String::from("no endpoint \"pci\"")))?;
            let rights = Rights(Rights::WRITE.0 | Rights::GRANT_REPLY.0);
            out.grants.push((endpoint, rights, device_badge(device.address), false, CapKind::ClientEndpoint, format!("{}.pci", pci.name)));
        }
        Ok(out)
    }

    /// Picks device `index` from the reported bus and cuts frames for its memory BARs.
    fn locate(
        &self,
        alloc: &mut Allocator,
        devices: &mut DevicePool,
        description: &SystemDescription,
        index: usize,
    ) -> Result<Located, String> {
        let pci = &description.pci_devices[index];
        let bus =
            self.bus.as_ref().ok_or_else(|| String::from("the PCI bus domain has not reported the bus (it faulted or is not running)"))?;
        let matches = |function: &&Device| {
            function.class_code == pci.class
                && pci.vendor.is_none_or(|v| v == function.vendor)
                && pci.device.is_none_or(|d| d == function.device)
        };
        let Some(&device) = bus.iter().filter(matches).nth(pci.index as usize) else {
            let ids = match (pci.vendor, pci.device) {
                (Some(vendor), Some(device)) => format!(" and ID {vendor:04x}:{device:04x}"),
                (Some(vendor), None) => format!(" and vendor {vendor:04x}"),
                (None, Some(device)) => format!(" and device ID {device:04x}"),
                (None, None) => String::new(),
            };
            return Err(format!(
                "the pci domain found no function #{} of class {:#08x}{ids} (its log lists the bus)",
                pci.index, pci.class
            ));
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
        tileos_sys::event!(
            "pci.located",
            device = pci.name,
            address = device.address,
            id = format_args!("{:04x}:{:04x}", device.vendor, device.device),
            msix = if device.msix.is_some() { "yes" } else { "no" },
            bars = bars.iter().map(|bar| bar.replacen(' ', ":", 2)).collect::<Vec<String>>().join(",")
        );
        Ok(Located { device, frames, placed })
    }
}
