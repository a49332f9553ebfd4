//! The IOMMU (Intel VT-d DMA remapping, legacy mode): found through the ACPI DMAR table,
//! set up at boot with a root table and context tables for buses 0–7 in which every entry is
//! absent, so that every device's DMA is blocked until the root server maps frames into its
//! IOSpace (`tileos_kernel::iospace`). Invalidation uses the register interface (global
//! context-cache and IOTLB invalidation after every change). DMA faults are read from the
//! fault recording registers at every timer tick and reported on the kernel log with the
//! device, the address and the reason. Interrupt remapping is not used (docs/security.md).

use super::memory::PHYS_MAP_BASE;
use crate::kprintln;
use crate::state::kernel;
use tileos_kernel::iospace::IoMemory;

const CAP: u64 = 0x08;
const ECAP: u64 = 0x10;
const GCMD: u64 = 0x18;
const GSTS: u64 = 0x1C;
const RTADDR: u64 = 0x20;
const CCMD: u64 = 0x28;
const FSTS: u64 = 0x34;
/// GCMD/GSTS: translation enable.
const TRANSLATION: u32 = 1 << 31;
/// GCMD/GSTS: set (latch) the root table pointer.
const ROOT_POINTER: u32 = 1 << 30;
/// CAP.SAGAW bit for 3-level (39-bit) second-level tables.
const SAGAW_39: u64 = 1 << 9;
/// Context entry AW field: 3-level tables.
const AW_39: u64 = 1;
/// Buses with a context table.
pub const BUSES: u64 = (tileos_kernel::cap::IO_DEVICES >> 8) as u64;
/// Register polls before a command counts as lost (QEMU completes them at once).
const POLLS: u32 = 1_000_000;

fn read32(offset: u64) -> u32 {
    // SAFETY: the register page of the DRHD found at boot, in the direct map, never given to
    // user space (taken out of the device untyped).
    unsafe { core::ptr::read_volatile((PHYS_MAP_BASE + kernel().iommu + offset) as *const u32) }
}

fn read64(offset: u64) -> u64 {
    // SAFETY: as in `read32`.
    unsafe { core::ptr::read_volatile((PHYS_MAP_BASE + kernel().iommu + offset) as *const u64) }
}

fn write32(offset: u64, value: u32) {
    // SAFETY: as in `read32`.
    unsafe { core::ptr::write_volatile((PHYS_MAP_BASE + kernel().iommu + offset) as *mut u32, value) }
}

fn write64(offset: u64, value: u64) {
    // SAFETY: as in `read32`.
    unsafe { core::ptr::write_volatile((PHYS_MAP_BASE + kernel().iommu + offset) as *mut u64, value) }
}

/// Polls until `done` holds; false if it never did.
fn wait(done: impl Fn() -> bool) -> bool {
    (0..POLLS).any(|_| done())
}

/// Sets a GCMD bit and waits for GSTS to show it (the one-shot root-pointer bit is not
/// kept in the status written back).
fn command(bit: u32) -> bool {
    write32(GCMD, (read32(GSTS) & TRANSLATION) | bit);
    wait(|| read32(GSTS) & bit != 0)
}

/// Drops every cached context entry and IO translation (global invalidation).
fn invalidate_all() {
    write64(CCMD, 1 << 63 | 1 << 61);
    let context = wait(|| read64(CCMD) & 1 << 63 == 0);
    let iotlb = ((read64(ECAP) >> 8) & 0x3FF) * 16 + 8;
    write64(iotlb, 1 << 63 | 1 << 60);
    if !(context && wait(|| read64(iotlb) & 1 << 63 == 0)) {
        kprintln!("iommu: an invalidation did not complete: cached DMA translations may remain");
    }
}

/// Sets the IOMMU up with the registers at `base` and the zeroed pages `root` (root table)
/// and `contexts` (`BUSES` context tables, contiguous): every device blocked, translation on.
pub fn init(base: u64, root: u64, contexts: u64) -> Result<(), &'static str> {
    kernel().iommu = base;
    kernel().iommu_root = root;
    if read64(CAP) & SAGAW_39 == 0 {
        return Err("the IOMMU does not support 3-level (39-bit) page tables (CAP.SAGAW)");
    }
    for bus in 0..BUSES {
        super::paging::write_entry(root, 2 * bus as usize, (contexts + bus * 4096) | 1);
    }
    write64(RTADDR, root);
    if !command(ROOT_POINTER) {
        return Err("the IOMMU did not take the root table (GSTS.RTPS)");
    }
    invalidate_all();
    if !command(TRANSLATION) {
        return Err("the IOMMU did not enable translation (GSTS.TES)");
    }
    kprintln!("iommu: VT-d at {base:#x}: DMA remapping on, every device blocked until mapped");
    Ok(())
}

/// Reasons of the fault recording registers (VT-d specification, appendix A) worth naming.
fn reason(code: u64) -> &'static str {
    match code {
        1 => "root entry not present",
        2 => "context entry not present (no IOSpace)",
        3 => "invalid context entry",
        4 => "address beyond the IOSpace",
        5 => "write not permitted (not mapped writable)",
        6 => "read not permitted (not mapped)",
        _ => "other (see the VT-d fault reason table)",
    }
}

/// Reports and clears the recorded DMA faults (called at every timer tick).
pub fn report_faults() {
    if kernel().iommu == 0 || read32(FSTS) & 0b11 == 0 {
        return;
    }
    let cap = read64(CAP);
    let (first, count) = (((cap >> 24) & 0x3FF) * 16, ((cap >> 40) & 0xFF) + 1);
    for record in (0..count).map(|index| first + index * 16) {
        let high = read64(record + 8);
        if high >> 63 == 0 {
            continue;
        }
        let (source, code, address) = (high & 0xFFFF, (high >> 32) & 0xFF, read64(record) & !0xFFF);
        let access = if high & 1 << 62 != 0 { "read" } else { "write" };
        kprintln!(
            "iommu: DMA fault: device {:02x}:{:02x}.{} {access} at {address:#x} blocked: {} (reason {code:#x})",
            source >> 8,
            (source >> 3) & 0x1F,
            source & 7,
            reason(code)
        );
        write64(record + 8, 1 << 63);
    }
    // Clears the overflow flag (faults lost while every record was full).
    if read32(FSTS) & 1 != 0 {
        kprintln!("iommu: DMA fault records overflowed: further faults were not recorded");
        write32(FSTS, 1);
    }
}

/// The IOMMU's tables through the direct map, for `tileos_kernel::iospace`.
pub struct KernelIo;

impl IoMemory for KernelIo {
    fn entry(&self, table: u64, index: usize) -> u64 {
        super::paging::read_entry(table, index)
    }

    fn set_entry(&mut self, table: u64, index: usize, value: u64) {
        super::paging::write_entry(table, index, value);
    }

    fn root(&self, device: u16) -> Option<u64> {
        let contexts = super::paging::read_entry(kernel().iommu_root, 2 * usize::from(device >> 8)) & !0xFFF;
        let entry = super::paging::read_entry(contexts, 2 * usize::from(device & 0xFF));
        (entry & 1 != 0).then_some(entry & !0xFFF)
    }

    fn set_root(&mut self, device: u16, table: Option<u64>) {
        let contexts = super::paging::read_entry(kernel().iommu_root, 2 * usize::from(device >> 8)) & !0xFFF;
        let index = 2 * usize::from(device & 0xFF);
        super::paging::write_entry(contexts, index, 0);
        if let Some(table) = table {
            // Domain ID: the requester ID + 1 (0 is reserved when caching mode is on).
            super::paging::write_entry(contexts, index + 1, AW_39 | (u64::from(device) + 1) << 8);
            super::paging::write_entry(contexts, index, table | 1);
        }
        invalidate_all();
    }

    fn invalidate(&mut self) {
        invalidate_all();
    }
}
