//! IOSpace control: issues the IOSpace capability of one PCI function (requester ID), the
//! DMA address space `FrameMap` and `PagingStructureMap` accept in place of a PML4
//! (`invoke::vspace`; the table rules are `tileos_kernel::iospace`'s).

use super::{Call, Error, Result, ensure_empty};
use crate::state::KernelMemory;
use tileos_abi::invocation::Invocation;
use tileos_kernel::cap::{self, Cap, IO_DEVICES};
use tileos_kernel::cspace;

/// Runs an IOSpace control method.
pub fn invoke(call: &Call, invocation: &Invocation) -> Result<usize> {
    match (call.cap, invocation) {
        (Cap::IoSpaceControl, Invocation::IoSpaceControlIssue(issue)) => {
            let dest = call.resolve_slot(call.cspace_root(), issue.dest, false)?;
            if issue.device >= u64::from(IO_DEVICES) {
                return Err(Error::range(0, u64::from(IO_DEVICES) - 1));
            }
            ensure_empty(dest)?;
            let space = Cap::IoSpace { device: issue.device as u16 };
            cspace::insert_derived(&mut KernelMemory, call.slot, dest, space, cap::is_revocable(&space, &call.cap));
            Ok(0)
        }
        _ => Err(Error::new(tileos_abi::error::InvocationError::IllegalOperation)),
    }
}
