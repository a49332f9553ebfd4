//! What happens to an object when a capability to it is deleted: the kernel side of
//! [`CSpaceMemory::finalise`](tileos_kernel::cspace::CSpaceMemory::finalise) and
//! [`CSpaceMemory::destroying`](tileos_kernel::cspace::CSpaceMemory::destroying). Container
//! contents (CNode slots, TCB slots) are already gone when `finalise` runs for them.
#![deny(unsafe_code)]

use crate::arch::paging;
use crate::invoke::vspace::KernelPaging;
use crate::invoke::{ioport, irq};
use crate::{ipc, thread};
use tileos_kernel::cap::Cap;

/// Reacts to the deletion of `cap`; `is_final` says it was the last capability to its
/// object, which is then destroyed.
pub fn finalise(cap: &Cap, is_final: bool) {
    match *cap {
        Cap::Endpoint { paddr, .. } if is_final => ipc::destroy_endpoint(paddr),
        Cap::Notification { paddr, .. } if is_final => ipc::destroy_notification(paddr),
        Cap::Reply { tcb: caller, .. } => ipc::reply_lost(caller),
        // A mapped frame is unmapped; the last capability to a mapped paging structure
        // unmaps and clears it; the last one to a PML4 clears its user half and frees its
        // ASID (the mapping invariant of tileos_kernel::vspace).
        // A PML4 being destroyed is left first if it is the active one: its memory may be
        // reused once this kernel entry ends.
        // Mappings into an IOSpace, and the IOSpace itself: tileos_kernel::iospace.
        Cap::Frame { .. } | Cap::PagingTable { .. } | Cap::IoSpace { .. }
            if tileos_kernel::iospace::finalise(&mut crate::arch::iommu::KernelIo, cap, is_final) => {}
        Cap::Frame { .. } | Cap::PagingTable { .. } | Cap::Pml4 { .. } => {
            if let Cap::Pml4 { paddr, .. } = *cap
                && is_final
            {
                paging::leave_if_active(paddr);
            }
            tileos_kernel::vspace::finalise(&mut KernelPaging, cap, is_final);
        }
        Cap::IrqHandler { irq: line } if is_final => irq::release(line),
        Cap::IoPort { first, last } if is_final => ioport::release(first, last),
        _ => {}
    }
}

/// The destruction of the CNode or TCB named by `cap`, its last capability, starts: its
/// slots are emptied next, possibly over several kernel entries, so a thread stops now.
pub fn destroying(cap: &Cap) {
    if let Cap::Tcb { paddr } = *cap {
        ipc::cancel(paddr);
        ipc::unbind(paddr);
        thread::forget(paddr);
    }
}
