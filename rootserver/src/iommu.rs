//! DMA isolation of PCI drivers (with an IOMMU, docs/security.md): when the root server
//! locates a driver's device, it issues that function's IOSpace and maps into it, at IO
//! virtual address = physical address, every page of the shared regions the description
//! maps into the driver — its DMA buffers. Drivers compute DMA addresses from physical ones
//! and work unchanged; the device reaches nothing else (the kernel, other domains' memory,
//! the driver's own private pages). The IOSpace and its tables live as long as the tile,
//! like the device's frames, and serve every restart of the driver.

use crate::alloc::Allocator;
use alloc_crate::format;
use alloc_crate::string::String;
use tileos_abi::bootinfo::slot;
use tileos_abi::invocation::{CNodeCopy, CPtr, FrameGetAddress, IoSpaceControlIssue, Slot};
use tileos_abi::object::Rights;
use tileos_protocol::pci::Address;
use tileos_sys::cap::{CNode, Frame, IoSpaceControl};

/// Issues the IOSpace of the function at `address` from the IOSpace control in `control`
/// and maps the frames `frames` (root-server slots) into it read-write at their physical
/// addresses. Returns the number of pages mapped.
pub fn attach(alloc: &mut Allocator, control: u64, address: Address, frames: &[u64]) -> Result<usize, String> {
    let requester = u64::from(address.bus) << 8 | u64::from(address.device) << 3 | u64::from(address.function);
    let space = alloc.slots.try_take().map_err(|e| format!("no slot for the IOSpace: {e}"))?;
    IoSpaceControl::from_cptr(control)
        .invoke(IoSpaceControlIssue { device: requester, dest: Slot::at(space) })
        .map_err(|e| format!("IoSpaceControlIssue for {address}: {e:?}"))?;
    for &frame in frames {
        let paddr = Frame::from_cptr(frame).invoke(FrameGetAddress {}).map_err(|e| format!("FrameGetAddress: {e:?}"))?.word(0);
        let copy = alloc.slots.try_take().map_err(|e| format!("no slot for a DMA page: {e}"))?;
        CNode::ROOT
            .invoke(CNodeCopy { dest: Slot::at(copy), src: Slot::at(frame), rights: Rights::ALL, src_root: CPtr(slot::CNODE) })
            .map_err(|e| format!("copying a DMA page: {e:?}"))?;
        crate::vspace::map(alloc, space, copy, paddr, Rights::ALL.0 as u64, 0)
            .map_err(|e| format!("mapping the DMA page {paddr:#x} into the IOSpace of {address}: {e}"))?;
    }
    Ok(frames.len())
}
