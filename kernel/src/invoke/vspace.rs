//! Virtual memory methods: mapping paging structures and frames into an address space
//! (a PML4 with its ASID), unmapping, and the physical address of a frame (for DMA).
//!
//! Decoding and page-table changes are [`tileos_kernel::vspace`]'s (host-tested and model
//! checked); this file reads the arguments, gives that code the kernel's page tables
//! ([`KernelPaging`]), records the resulting mapping in the capability and turns refusals
//! into error codes. Every mapping is recorded in the capability used to make it, as (ASID,
//! address); an unmap goes through the ASID table, so a capability whose address space is
//! gone unmaps nothing instead of writing into reused memory. See the mapping invariant in
//! [`tileos_kernel::vspace`].

use super::{Call, Error, Result};
use crate::arch::iommu::KernelIo;
use crate::arch::paging;
use crate::state::{KernelMemory, kernel};
use tileos_abi::error::{InvocationError, LookupFailure};
use tileos_abi::invocation::{CPtr, Invocation};
use tileos_kernel::cap::{Cap, Mapping};
use tileos_kernel::cspace::{self, CSpaceMemory};
use tileos_kernel::iospace;
use tileos_kernel::vspace::{self as mapping, FrameMap, MapError, PagingMemory, UnmapError, VSpace};

/// The kernel's page tables (through the direct map), ASID table and TLB.
pub struct KernelPaging;

impl PagingMemory for KernelPaging {
    fn entry(&self, table: u64, index: usize) -> u64 {
        // The mapping code only names the PML4 of a live ASID, tables reached from one
        // through entries the kernel wrote, and paging structures whose capability is
        // being invoked or deleted.
        paging::read_entry(table, index)
    }

    fn set_entry(&mut self, table: u64, index: usize, value: u64) {
        paging::write_entry(table, index, value);
    }

    fn root(&self, asid: u16) -> Option<u64> {
        // An IOSpace mapping's ASID (`Mapping::io`) is beyond the table: no address space.
        let pml4 = kernel().asids.get(usize::from(asid)).copied().unwrap_or(0);
        (asid != 0 && pml4 != 0).then_some(pml4)
    }

    fn free_asid(&mut self, asid: u16) {
        kernel().asids[usize::from(asid)] = 0;
    }

    fn flush_page(&mut self, pml4: u64, vaddr: u64) {
        paging::flush(vaddr);
        crate::arch::smp::shoot_down(pml4);
    }

    fn flush_all(&mut self, pml4: Option<u64>) {
        x86_64::instructions::tlb::flush_all();
        if let Some(pml4) = pml4 {
            crate::arch::smp::shoot_down(pml4);
        }
    }
}

fn set_mapping(call: &Call, mapping: Mapping) {
    let mut slot = KernelMemory.read(call.slot);
    slot.cap = match slot.cap {
        Cap::Frame { paddr, size_bits, rights, device, .. } => Cap::Frame { paddr, size_bits, rights, device, mapping },
        Cap::PagingTable { paddr, level, .. } => Cap::PagingTable { paddr, level, mapping },
        other => other,
    };
    KernelMemory.write(call.slot, slot);
}

/// Where a map goes: an address space, or the IOSpace of a PCI function.
enum Target {
    VSpace(VSpace),
    Io(u16),
}

/// The address space or IOSpace named by extra capability 0.
fn target(call: &Call, vspace: CPtr) -> Result<Target> {
    match call.lookup(vspace)?.1 {
        Cap::Pml4 { paddr, asid } => Ok(Target::VSpace(VSpace { pml4: paddr, asid })),
        Cap::IoSpace { device } => Ok(Target::Io(device)),
        _ => Err(super::wrong_cap(0)),
    }
}

fn map_error(error: MapError) -> Error {
    match error {
        MapError::AlreadyMapped => Error::new(InvocationError::IllegalOperation),
        MapError::OutsideUserHalf => Error::argument(InvocationError::InvalidArgument, 0),
        MapError::Unaligned => Error::argument(InvocationError::AlignmentError, 0),
        MapError::NoReadRight => Error::argument(InvocationError::InvalidArgument, 1),
        MapError::MissingTable => Error::lookup(false, LookupFailure::MissingCapability),
        MapError::Occupied => Error::new(InvocationError::DeleteFirst),
    }
}

/// Runs a paging-structure or frame method.
pub fn invoke(call: &Call, invocation: &Invocation) -> Result<usize> {
    match (call.cap, invocation) {
        (Cap::PagingTable { paddr, level, mapping }, Invocation::PagingStructureMap(map)) => {
            let vaddr = map.vaddr;
            let mapping = match target(call, map.vspace)? {
                Target::Io(device) => iospace::map_table(&mut KernelIo, device, paddr, level, mapping, vaddr),
                Target::VSpace(vspace) => mapping::map_table(&mut KernelPaging, vspace, paddr, level, mapping, vaddr),
            };
            set_mapping(call, mapping.map_err(map_error)?);
            Ok(0)
        }
        (cap @ Cap::PagingTable { mapping, .. }, Invocation::PagingStructureUnmap(_)) => {
            let is_final = cspace::is_final(&KernelMemory, call.slot);
            if mapping.io_device().is_some() {
                if !is_final {
                    return Err(Error::new(InvocationError::RevokeFirst));
                }
                iospace::finalise(&mut KernelIo, &cap, true);
                set_mapping(call, Mapping::NONE);
                return Ok(0);
            }
            match mapping::unmap_structure(&mut KernelPaging, cap, is_final) {
                Ok(_) => {
                    set_mapping(call, Mapping::NONE);
                    Ok(0)
                }
                Err(UnmapError::NotFinal) => Err(Error::new(InvocationError::RevokeFirst)),
            }
        }
        (Cap::Frame { paddr, size_bits, rights, device: _, mapping }, Invocation::FrameMap(map)) => {
            let (vaddr, requested, attributes) = (map.vaddr, map.rights, map.attributes);
            let request = FrameMap { paddr, size_bits, rights, mapping, vaddr, requested, attributes };
            let mapping = match target(call, map.vspace)? {
                Target::Io(device) => iospace::map_frame(&mut KernelIo, device, request),
                Target::VSpace(vspace) => mapping::map_frame(&mut KernelPaging, vspace, request),
            };
            set_mapping(call, mapping.map_err(map_error)?);
            Ok(0)
        }
        (cap @ Cap::Frame { paddr, size_bits, mapping, .. }, Invocation::FrameUnmap(_)) => {
            if iospace::finalise(&mut KernelIo, &cap, false) {
                set_mapping(call, Mapping::NONE);
            } else if mapping.is_mapped() {
                mapping::unmap_frame(&mut KernelPaging, mapping, paddr, u32::from(size_bits));
                set_mapping(call, Mapping::NONE);
            }
            Ok(0)
        }
        (Cap::Frame { paddr, .. }, Invocation::FrameGetAddress(_)) => {
            crate::ipc::set_message_register(call.caller, 0, paddr);
            Ok(1)
        }
        _ => Err(Error::new(InvocationError::IllegalOperation)),
    }
}
