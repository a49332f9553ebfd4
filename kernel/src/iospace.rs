//! IOSpaces: the DMA address space of one PCI function behind the IOMMU (Intel VT-d), as
//! seL4's x86 IOSpace. A device reaches only the frames mapped into its IOSpace; with no
//! mapping (no root table in its context entry) every DMA it makes is blocked and faults.
//!
//! An IOSpace's tables are VT-d second-level page tables, three levels for a 39-bit IO
//! virtual address (AGAW 39): the root, a page-directory-pointer-level table
//! ([`TableLevel::Pdpt`]), then page directories and page tables, retyped from untyped
//! memory as paging structures and entered with `PagingStructureMap` on the IOSpace's
//! capability in place of a PML4. The root goes into the function's context entry. A frame
//! mapped with `FrameMap` into an IOSpace gets an entry with the read and write permissions
//! of its rights. Every mapping is recorded in the capability used ([`Mapping::io`]) and
//! follows the rules of [`crate::vspace`]: an entry is written only over an empty one (or
//! the same frame's, on a re-map); an unmap or a delete clears the entry only if it still
//! holds that frame or table; an unmapped table is cleared. After every removal the IOTLB
//! is invalidated before the frame can be reused.

use crate::cap::{Cap, IO_DEVICES, Mapping, TableLevel};
use crate::vspace::{ADDRESS_MASK, ENTRIES, FrameMap, MapError, index};
use tileos_abi::object::Rights;

/// Entry bit: the device may read.
pub const READ: u64 = 1;
/// Entry bit: the device may write.
pub const WRITE: u64 = 1 << 1;
/// Entry bit: a 2 MiB page (in a page directory).
pub const SUPERPAGE: u64 = 1 << 7;
/// Bits of an IO virtual address (three table levels).
pub const IOVA_BITS: u32 = 39;

/// IO page-table storage, the context entries and the IOTLB.
pub trait IoMemory {
    /// Entry `index` of the table at `table`.
    fn entry(&self, table: u64, index: usize) -> u64;
    /// Writes entry `index` of the table at `table`.
    fn set_entry(&mut self, table: u64, index: usize, value: u64);
    /// The root table of `device`'s IOSpace (from its context entry), if it has one.
    fn root(&self, device: u16) -> Option<u64>;
    /// Points `device`'s context entry at the root table `table`, or blocks the device
    /// (`None`), and drops its cached context.
    fn set_root(&mut self, device: u16, table: Option<u64>);
    /// Drops every cached IO translation (IOTLB).
    fn invalidate(&mut self);
}

/// The table of `level` (3: the root, 2: a page directory, 1: a page table) covering `iova`
/// in `device`'s IOSpace, if every table on the way is there.
fn find_table(memory: &impl IoMemory, device: u16, iova: u64, level: u32) -> Option<u64> {
    let mut table = memory.root(device)?;
    for walk in (level + 1..=3).rev() {
        let entry = memory.entry(table, index(iova, walk));
        if entry & (READ | WRITE) == 0 || entry & SUPERPAGE != 0 {
            return None;
        }
        table = entry & ADDRESS_MASK;
    }
    Some(table)
}

/// Checks that `device` has an IOSpace and `iova` lies in it.
fn check_target(device: u16, iova: u64) -> Result<(), MapError> {
    if device >= IO_DEVICES || iova >> IOVA_BITS != 0 {
        return Err(MapError::OutsideUserHalf);
    }
    Ok(())
}

/// Enters the paging structure at `paddr` of `level`, whose capability records `mapping`,
/// into `device`'s IOSpace for the region containing `iova`: a [`TableLevel::Pdpt`] becomes
/// the IOSpace's root (the device may then DMA through it). Returns the mapping to record.
pub fn map_table(
    memory: &mut impl IoMemory,
    device: u16,
    paddr: u64,
    level: TableLevel,
    mapping: Mapping,
    iova: u64,
) -> Result<Mapping, MapError> {
    if mapping.is_mapped() {
        return Err(MapError::AlreadyMapped);
    }
    check_target(device, iova)?;
    let base = iova & !((1u64 << level.span_bits()) - 1);
    if level == TableLevel::Pdpt {
        if memory.root(device).is_some() {
            return Err(MapError::Occupied);
        }
        memory.set_root(device, Some(paddr));
        return Ok(Mapping::io(device, 0));
    }
    let parent_level = level as u32 + 1;
    let parent = find_table(memory, device, iova, parent_level).ok_or(MapError::MissingTable)?;
    let slot = index(iova, parent_level);
    if memory.entry(parent, slot) & (READ | WRITE) != 0 {
        return Err(MapError::Occupied);
    }
    memory.set_entry(parent, slot, paddr | READ | WRITE);
    Ok(Mapping::io(device, base))
}

/// Whether `entry` (of a table of `level`) maps the frame at `paddr`.
fn holds_frame(entry: u64, paddr: u64, level: u32) -> bool {
    entry & (READ | WRITE) != 0 && entry & ADDRESS_MASK == paddr && (level == 1 || entry & SUPERPAGE != 0)
}

/// Maps a frame into `device`'s IOSpace (or re-maps it with new rights): the device may read
/// it, and write it if the rights ∩ requested rights hold Write. Attributes are ignored.
pub fn map_frame(memory: &mut impl IoMemory, device: u16, request: FrameMap) -> Result<Mapping, MapError> {
    let FrameMap { paddr, size_bits, rights, mapping, vaddr: iova, requested, .. } = request;
    check_target(device, iova)?;
    if iova % (1u64 << size_bits) != 0 {
        return Err(MapError::Unaligned);
    }
    let target = Mapping::io(device, iova);
    let remap = mapping.is_mapped();
    if remap && mapping != target {
        return Err(MapError::AlreadyMapped);
    }
    let effective = rights.intersect(requested);
    if !effective.contains(Rights::READ) {
        return Err(MapError::NoReadRight);
    }
    let level = if size_bits == 12 { 1 } else { 2 };
    let table = find_table(memory, device, iova, level).ok_or(MapError::MissingTable)?;
    let slot = index(iova, level);
    let old = memory.entry(table, slot);
    if old & (READ | WRITE) != 0 && !(remap && holds_frame(old, paddr, level)) {
        return Err(MapError::Occupied);
    }
    let mut entry = paddr | READ;
    if effective.contains(Rights::WRITE) {
        entry |= WRITE;
    }
    if level == 2 {
        entry |= SUPERPAGE;
    }
    memory.set_entry(table, slot, entry);
    if remap {
        memory.invalidate();
    }
    Ok(target)
}

/// What deleting or unmapping `cap` does to IOSpaces: a frame mapped into one is unmapped;
/// a paging structure mapped into one (when `is_final`, or always for an explicit unmap) is
/// removed from its parent or context entry and cleared; the last IOSpace capability to a
/// device blocks it again. Returns whether `cap` was an IO case (handled here).
pub fn finalise(memory: &mut impl IoMemory, cap: &Cap, is_final: bool) -> bool {
    match *cap {
        Cap::Frame { paddr, size_bits, mapping, .. } => {
            let Some(device) = mapping.io_device() else { return false };
            let level = if size_bits == 12 { 1 } else { 2 };
            if let Some(table) = find_table(memory, device, mapping.vaddr, level)
                && holds_frame(memory.entry(table, index(mapping.vaddr, level)), paddr, level)
            {
                memory.set_entry(table, index(mapping.vaddr, level), 0);
                memory.invalidate();
            }
            true
        }
        Cap::PagingTable { paddr, level, mapping } => {
            let Some(device) = mapping.io_device() else { return false };
            if is_final {
                unmap_table(memory, device, mapping.vaddr, paddr, level);
            }
            true
        }
        Cap::IoSpace { device } => {
            if is_final {
                memory.set_root(device, None);
                memory.invalidate();
            }
            true
        }
        _ => false,
    }
}

/// Removes the table at `paddr` of `level` from `device`'s IOSpace if it is still entered
/// there for `iova`, then clears it.
fn unmap_table(memory: &mut impl IoMemory, device: u16, iova: u64, paddr: u64, level: TableLevel) {
    if level == TableLevel::Pdpt {
        if memory.root(device) == Some(paddr) {
            memory.set_root(device, None);
        }
    } else {
        let parent_level = level as u32 + 1;
        if let Some(parent) = find_table(memory, device, iova, parent_level) {
            let slot = index(iova, parent_level);
            let entry = memory.entry(parent, slot);
            if entry & (READ | WRITE) != 0 && entry & SUPERPAGE == 0 && entry & ADDRESS_MASK == paddr {
                memory.set_entry(parent, slot, 0);
            }
        }
    }
    for slot in 0..ENTRIES {
        if memory.entry(paddr, slot) != 0 {
            memory.set_entry(paddr, slot, 0);
        }
    }
    memory.invalidate();
}

#[cfg(test)]
mod tests;
