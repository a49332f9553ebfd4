//! Virtual memory methods: mapping paging structures and frames into an address space
//! (a PML4 with its ASID), unmapping, and the physical address of a frame (for DMA).
//! Every mapping is recorded in the capability used to make it, as (ASID, address); an
//! unmap goes through the ASID table, so a capability whose address space is gone unmaps
//! nothing instead of writing into reused memory.

use super::{Error, Invocation, Result};
use crate::arch::paging::{self, ADDRESS_MASK, CACHE_DISABLE, HUGE, NO_EXECUTE, PRESENT, USER, WRITABLE, WRITE_THROUGH};
use crate::state::{KernelMemory, kernel};
use tileos_abi::error::{InvocationError, LookupFailure};
use tileos_abi::invocation::{Label, frame_attributes};
use tileos_abi::object::Rights;
use tileos_elf::USER_TOP;
use tileos_kernel::cap::{Cap, Mapping, TableLevel};
use tileos_kernel::cspace::CSpaceMemory;

fn set_mapping(call: &Invocation, mapping: Mapping) {
    let mut slot = KernelMemory.read(call.slot);
    slot.cap = match slot.cap {
        Cap::Frame { paddr, size_bits, rights, device, .. } => Cap::Frame { paddr, size_bits, rights, device, mapping },
        Cap::PagingTable { paddr, level, .. } => Cap::PagingTable { paddr, level, mapping },
        other => other,
    };
    KernelMemory.write(call.slot, slot);
}

/// The address space named by extra capability 0: (PML4 address, ASID).
fn target_vspace(call: &Invocation) -> Result<(u64, u16)> {
    match call.extra_cap(0)?.1 {
        Cap::Pml4 { paddr, asid } => Ok((paddr, asid)),
        _ => Err(super::wrong_cap(0)),
    }
}

/// Table one level above a structure of `level`, covering `vaddr` (4 = the PML4).
fn parent_table(pml4: u64, vaddr: u64, parent_level: u32) -> Option<u64> {
    if parent_level == 4 { Some(pml4) } else { paging::find_table(pml4, vaddr, parent_level) }
}

/// Runs a paging-structure or frame method.
pub fn invoke(call: &Invocation) -> Result<usize> {
    match (call.cap, call.label) {
        (Cap::PagingTable { paddr, level, mapping }, Label::PagingStructureMap) => {
            let vaddr = call.arg(0)?;
            let (pml4, asid) = target_vspace(call)?;
            if mapping.is_mapped() {
                return Err(Error::new(InvocationError::IllegalOperation));
            }
            if vaddr >= USER_TOP {
                return Err(Error::argument(InvocationError::InvalidArgument, 0));
            }
            let parent_level = level as u32 + 1;
            let parent = parent_table(pml4, vaddr, parent_level).ok_or(Error::lookup(false, LookupFailure::MissingCapability))?;
            let index = paging::index(vaddr, parent_level);
            // SAFETY: `parent` is a paging structure of a live address space.
            let entries = unsafe { paging::table(parent) };
            if entries[index] & PRESENT != 0 {
                return Err(Error::new(InvocationError::DeleteFirst));
            }
            entries[index] = paddr | PRESENT | WRITABLE | USER;
            let base = vaddr & !((1u64 << level.span_bits()) - 1);
            set_mapping(call, Mapping { asid, vaddr: base });
            Ok(0)
        }
        (Cap::PagingTable { paddr, level, mapping }, Label::PagingStructureUnmap) => {
            if mapping.is_mapped() {
                unmap_table(mapping, paddr, level);
                set_mapping(call, Mapping::NONE);
            }
            Ok(0)
        }
        (Cap::Frame { paddr, size_bits, rights, device: _, mapping }, Label::FrameMap) => {
            let (vaddr, requested, attributes) = (call.arg(0)?, call.arg(1)?, call.arg(2)?);
            let (pml4, asid) = target_vspace(call)?;
            let size = 1u64 << size_bits;
            if vaddr % size != 0 {
                return Err(Error::argument(InvocationError::AlignmentError, 0));
            }
            if vaddr.checked_add(size).is_none_or(|end| end > USER_TOP) {
                return Err(Error::argument(InvocationError::InvalidArgument, 0));
            }
            let remap = mapping.is_mapped();
            if remap && (mapping.asid != asid || mapping.vaddr != vaddr) {
                return Err(Error::new(InvocationError::IllegalOperation));
            }
            let effective = rights.intersect(Rights::from_word(requested));
            if !effective.contains(Rights::READ) {
                return Err(Error::argument(InvocationError::InvalidArgument, 1));
            }
            let level = if size_bits == 12 { 1 } else { 2 };
            let table = paging::find_table(pml4, vaddr, level).ok_or(Error::lookup(false, LookupFailure::MissingCapability))?;
            let index = paging::index(vaddr, level);
            // SAFETY: `table` is a paging structure of a live address space.
            let entries = unsafe { paging::table(table) };
            if entries[index] & PRESENT != 0 && !remap {
                return Err(Error::new(InvocationError::DeleteFirst));
            }
            let mut entry = paddr | PRESENT | USER;
            if effective.contains(Rights::WRITE) {
                entry |= WRITABLE;
            }
            if attributes & frame_attributes::EXECUTABLE == 0 {
                entry |= NO_EXECUTE;
            }
            if attributes & frame_attributes::UNCACHED != 0 {
                entry |= CACHE_DISABLE | WRITE_THROUGH;
            }
            if level == 2 {
                entry |= HUGE;
            }
            entries[index] = entry;
            paging::flush(vaddr);
            set_mapping(call, Mapping { asid, vaddr });
            Ok(0)
        }
        (Cap::Frame { paddr, size_bits, mapping, .. }, Label::FrameUnmap) => {
            if mapping.is_mapped() {
                unmap_frame(mapping, paddr, u32::from(size_bits));
                set_mapping(call, Mapping::NONE);
            }
            Ok(0)
        }
        (Cap::Frame { paddr, .. }, Label::FrameGetAddress) => {
            crate::ipc::set_message_register(call.caller, 0, paddr);
            Ok(1)
        }
        _ => Err(Error::new(InvocationError::IllegalOperation)),
    }
}

/// Removes the mapping of the frame at `paddr` recorded in `mapping`, if that address
/// space still exists and still maps this frame there.
pub fn unmap_frame(mapping: Mapping, paddr: u64, size_bits: u32) {
    let pml4 = kernel().asids[usize::from(mapping.asid)];
    if pml4 == 0 {
        return;
    }
    let level = if size_bits == 12 { 1 } else { 2 };
    let Some(table) = paging::find_table(pml4, mapping.vaddr, level) else { return };
    // SAFETY: a paging structure of a live address space.
    let entries = unsafe { paging::table(table) };
    let index = paging::index(mapping.vaddr, level);
    if entries[index] & PRESENT != 0 && entries[index] & ADDRESS_MASK == paddr {
        entries[index] = 0;
        paging::flush(mapping.vaddr);
    }
}

/// Removes a paging structure from its parent, if the address space still exists and the
/// parent entry still points at it.
pub fn unmap_table(mapping: Mapping, paddr: u64, level: TableLevel) {
    let pml4 = kernel().asids[usize::from(mapping.asid)];
    if pml4 == 0 {
        return;
    }
    let parent_level = level as u32 + 1;
    let Some(parent) = parent_table(pml4, mapping.vaddr, parent_level) else { return };
    // SAFETY: a paging structure of a live address space.
    let entries = unsafe { paging::table(parent) };
    let index = paging::index(mapping.vaddr, parent_level);
    if entries[index] & PRESENT != 0 && entries[index] & ADDRESS_MASK == paddr {
        entries[index] = 0;
        x86_64::instructions::tlb::flush_all();
    }
}
