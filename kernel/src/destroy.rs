//! What happens to an object when a capability to it is deleted: the kernel side of
//! [`CSpaceMemory::finalise`](tileos_kernel::cspace::CSpaceMemory::finalise) and
//! [`CSpaceMemory::destroying`](tileos_kernel::cspace::CSpaceMemory::destroying). Container
//! contents (CNode slots, TCB slots) are already gone when `finalise` runs for them.

use crate::invoke::{irq, ioport, vspace};
use crate::state::kernel;
use crate::{ipc, thread};
use tileos_kernel::cap::Cap;

/// Reacts to the deletion of `cap`; `is_final` says it was the last capability to its
/// object, which is then destroyed.
pub fn finalise(cap: &Cap, is_final: bool) {
    match *cap {
        Cap::Endpoint { paddr, .. } if is_final => ipc::destroy_endpoint(paddr),
        Cap::Notification { paddr, .. } if is_final => ipc::destroy_notification(paddr),
        Cap::Reply { tcb: caller, .. } => ipc::reply_lost(caller),
        Cap::Frame { paddr, size_bits, mapping, .. } if mapping.is_mapped() => {
            vspace::unmap_frame(mapping, paddr, u32::from(size_bits));
        }
        Cap::PagingTable { paddr, level, mapping } if is_final && mapping.is_mapped() => {
            vspace::unmap_table(mapping, paddr, level);
        }
        Cap::Pml4 { asid, .. } if is_final => kernel().asids[usize::from(asid)] = 0,
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
