//! Mapping frames into address spaces, creating the paging structures on the way.

use crate::alloc::{AllocError, Allocator};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{CPtr, FrameMap, PagingStructureMap};
use tileos_abi::object::ObjectType;
use tileos_abi::object::Rights;
use tileos_sys::cap::{Frame, PagingStructure};

/// Maps `frame` at `vaddr` in `vspace` with `rights` and attributes, creating a page
/// table, page directory and PDPT as needed.
pub fn map(alloc: &mut Allocator, vspace: u64, frame: u64, vaddr: u64, rights: u64, attributes: u64) -> Result<(), AllocError> {
    loop {
        match Frame::from_cptr(frame).invoke(FrameMap { vaddr, rights: Rights::from_word(rights), attributes, vspace: CPtr(vspace) }) {
            Err(e) if e.code == Some(InvocationError::FailedLookup) => ensure_table(alloc, vspace, vaddr)?,
            other => return other.map(|_| ()).map_err(AllocError::Kernel),
        }
    }
}

/// Creates the missing paging structures above a 4 KiB page at `vaddr`: a page table, and
/// if its directory is missing a page directory, and if that is missing a PDPT.
fn ensure_table(alloc: &mut Allocator, vspace: u64, vaddr: u64) -> Result<(), AllocError> {
    let mut created = [0u64; 3];
    for (level, object) in [ObjectType::PageTable, ObjectType::PageDirectory, ObjectType::Pdpt].into_iter().enumerate() {
        created[level] = alloc.object(object, 0)?;
        match PagingStructure::from_cptr(created[level]).invoke(PagingStructureMap { vaddr, vspace: CPtr(vspace) }) {
            Ok(_) => {
                // Map the lower levels created before, top-down.
                for &table in created[..level].iter().rev() {
                    PagingStructure::from_cptr(table).invoke(PagingStructureMap { vaddr, vspace: CPtr(vspace) })?;
                }
                return Ok(());
            }
            Err(e) if e.code == Some(InvocationError::FailedLookup) => continue,
            Err(e) => return Err(AllocError::Kernel(e)),
        }
    }
    Err(AllocError::Kernel(tileos_sys::Error {
        code: Some(InvocationError::FailedLookup),
        label: InvocationError::FailedLookup as u64,
        details: [0, 0],
    }))
}
