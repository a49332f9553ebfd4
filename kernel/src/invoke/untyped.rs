//! Untyped method: Retype — create new kernel objects in an untyped region.

use super::{Call, Error, Result, ensure_empty};
use crate::arch::paging;
use crate::ipc;
use crate::state::{ASID_COUNT, KernelMemory, init_object, kernel, tcb, zero};
use crate::thread::Tcb;
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::Invocation;
use tileos_abi::object::{ObjectType, Rights};
use tileos_kernel::budget::Budget;
use tileos_kernel::cap::{Cap, Mapping, TableLevel};
use tileos_kernel::cspace::{self, CSpaceMemory, Slot, slot_address};
use tileos_kernel::untyped::{self, RetypeError, UntypedState};

/// Runs Retype: `root` (extra capability 0) is the CNode from which `node` names the
/// destination CNode (depth 0: that CNode itself); objects go to slots `node_offset..+count`.
pub fn invoke(call: &Call, invocation: &Invocation) -> Result<usize> {
    let Invocation::UntypedRetype(retype) = invocation else {
        return Err(Error::new(InvocationError::IllegalOperation));
    };
    let Cap::Untyped { paddr, size_bits, device, free_offset, prepared_to, prepared_kind } = call.cap else {
        return Err(Error::new(InvocationError::IllegalOperation));
    };
    let (object_type, user_bits, offset, count) = (retype.object_type, retype.size_bits, retype.node_offset, retype.count);
    let (_, root) = call.lookup(retype.root)?;
    if !matches!(root, Cap::CNode { .. }) {
        return Err(super::wrong_cap(0));
    }
    let node = if retype.node.depth == 0 {
        root
    } else {
        let slot = call.resolve_slot(root, retype.node, false)?;
        KernelMemory.read(slot).cap
    };
    let Cap::CNode { paddr: node_paddr, radix, .. } = node else {
        return Err(super::wrong_cap(0));
    };
    let slots = 1u64 << radix;
    if offset >= slots || count > slots - offset {
        return Err(Error::range(0, slots));
    }
    let state = UntypedState {
        paddr,
        size_bits: u32::from(size_bits),
        device,
        free_offset,
        has_children: cspace::has_children(&KernelMemory, call.slot),
    };
    let plan = untyped::plan(state, object_type, user_bits.min(64) as u32, count).map_err(|error| match error {
        RetypeError::InvalidSize { min, max } => Error::range(u64::from(min), u64::from(max)),
        RetypeError::InvalidCount => Error::range(1, untyped::MAX_RETYPE_COUNT),
        RetypeError::DeviceMemory => Error::argument(InvocationError::InvalidArgument, 0),
        RetypeError::NotEnoughMemory { available } => Error { code: InvocationError::NotEnoughMemory, details: [available, 0] },
    })?;
    for index in 0..count {
        ensure_empty(slot_address(node_paddr, offset + index))?;
    }
    // No ASID for a new PML4: MR0 0 bytes, MR1 the ASIDs there are (never 0, unlike the
    // MR1 of a lack of memory), so the caller can tell the two apart.
    if object_type == ObjectType::Pml4 && !asids_free(count) {
        return Err(Error { code: InvocationError::NotEnoughMemory, details: [0, (ASID_COUNT - 1) as u64] });
    }
    // Prepare the objects' memory (a bounded part per entry, restarting the call until it
    // is done), then record the new watermark and create and insert each object. Progress
    // counts from the watermark the plan starts at (0 if the untyped was reset).
    let mut memory = KernelMemory;
    let mut untyped_slot = memory.read(call.slot);
    let watermark = if state.has_children { free_offset } else { 0 };
    let progress = if prepared_kind == object_type as u8 + 1 && watermark == free_offset { prepared_to } else { watermark };
    if let Some(done) = prepare(object_type, device, paddr, progress, plan.new_free_offset) {
        let (prepared_to, prepared_kind) = (done, object_type as u8 + 1);
        untyped_slot.cap = Cap::Untyped { paddr, size_bits, device, free_offset: watermark, prepared_to, prepared_kind };
        memory.write(call.slot, untyped_slot);
        return Ok(super::RESTART);
    }
    untyped_slot.cap = Cap::Untyped { paddr, size_bits, device, free_offset: plan.new_free_offset, prepared_to: 0, prepared_kind: 0 };
    memory.write(call.slot, untyped_slot);
    // A new TCB is limited as its creator is: a budgeted thread cannot make an unbudgeted
    // one (which could then serve as TcbSetSchedParams authority, or run unlimited).
    let budget = tcb(call.caller).budget().renewed();
    for index in 0..count {
        let object_paddr = plan.first + (index << plan.object_size_bits);
        let cap = create(object_type, object_paddr, plan.object_size_bits, user_bits as u8, device, budget);
        cspace::insert_derived(&mut memory, call.slot, slot_address(node_paddr, offset + index), cap, true);
    }
    Ok(0)
}

/// The free ASIDs in the order they are given out: from `Kernel::asid_next` round to it
/// again. Address spaces made one after another find theirs at once, instead of scanning
/// every ASID given out before (which made building N domains quadratic in N).
fn free_asids() -> impl Iterator<Item = usize> {
    let start = kernel().asid_next;
    (0..ASID_COUNT - 1).map(move |i| 1 + (start - 1 + i) % (ASID_COUNT - 1)).filter(|&asid| kernel().asids[asid] == 0)
}

/// Whether `count` ASIDs are free (the scan stops at the `count`-th).
fn asids_free(count: u64) -> bool {
    free_asids().take(count as usize).count() as u64 == count
}

/// Bytes of new objects' memory one kernel entry prepares (clears, or fills with empty CNode
/// slots) before the Retype is restarted: the bound on a Retype's work per entry, besides
/// initialising at most `MAX_RETYPE_COUNT` small objects (TCBs, endpoints, PML4 halves).
pub const PREPARE_BYTES_PER_ENTRY: u64 = 64 * 1024;

/// Prepares the memory of the untyped at `base` from offset `done` (the watermark, or as far
/// as a preempted attempt got) towards `end` (the new watermark) for objects of
/// `object_type` — cleared, or for CNodes filled with empty slots from a 64-byte boundary —
/// at most [`PREPARE_BYTES_PER_ENTRY`] bytes. Returns how far it got while more remains
/// (the Retype is then restarted), `None` once all is prepared. Device memory and untyped
/// children are not prepared (an untyped child's objects are prepared when made from it).
fn prepare(object_type: ObjectType, device: bool, base: u64, done: u64, end: u64) -> Option<u64> {
    if device || object_type == ObjectType::Untyped || done >= end {
        return None;
    }
    let mut from = done;
    if object_type == ObjectType::CNode {
        // Slots start on 64-byte boundaries (every CNode is aligned to its size); the bytes
        // below the first boundary are alignment padding that no object uses.
        from = from.next_multiple_of(1 << tileos_abi::object::SLOT_SIZE_BITS);
    }
    let limit = end.min(from + PREPARE_BYTES_PER_ENTRY);
    if limit > from {
        prepare_range(object_type, base + from, limit - from);
    }
    (limit < end).then_some(limit)
}

/// Clears `length` bytes at `paddr`, or for a CNode fills them with empty slots.
fn prepare_range(object_type: ObjectType, paddr: u64, length: u64) {
    if object_type == ObjectType::CNode {
        for index in 0..length >> tileos_abi::object::SLOT_SIZE_BITS {
            KernelMemory.write(slot_address(paddr, index), Slot::EMPTY);
        }
    } else {
        // The range is inside the untyped being retyped, above its watermark, where no
        // object lives.
        zero(paddr, length);
    }
}

/// [`create`] for the boot code, which makes the root server's objects in memory that
/// nothing has prepared: prepares the object's memory first (in one go: boot is not
/// preemptible, and these objects are small).
pub fn create_at_boot(object_type: ObjectType, paddr: u64, object_size_bits: u32, user_bits: u8) -> Cap {
    prepare_range(object_type, paddr, 1 << object_size_bits);
    create(object_type, paddr, object_size_bits, user_bits, false, Budget::UNLIMITED)
}

/// Initialises a new object of `object_type` at `paddr`, whose memory `prepare` cleared (or
/// filled with empty slots), and returns its capability; a TCB gets `budget`.
fn create(object_type: ObjectType, paddr: u64, object_size_bits: u32, user_bits: u8, device: bool, budget: Budget) -> Cap {
    match object_type {
        ObjectType::Untyped => Cap::Untyped { paddr, size_bits: user_bits, device, free_offset: 0, prepared_to: 0, prepared_kind: 0 },
        ObjectType::Tcb => {
            // Freshly cleared TCB-sized memory.
            init_object(paddr, Tcb { budget, ..Tcb::new() });
            Cap::Tcb { paddr }
        }
        ObjectType::Endpoint => {
            ipc::init_endpoint(paddr);
            Cap::Endpoint { paddr, badge: 0, rights: Rights::ALL }
        }
        ObjectType::Notification => {
            ipc::init_notification(paddr);
            Cap::Notification { paddr, badge: 0, rights: Rights::ALL }
        }
        ObjectType::CNode => Cap::CNode { paddr, radix: user_bits, guard_bits: 0, guard: 0 },
        ObjectType::Frame4K | ObjectType::Frame2M => {
            Cap::Frame { paddr, size_bits: object_size_bits as u8, rights: Rights::ALL, device, mapping: Mapping::NONE }
        }
        ObjectType::PageTable => Cap::PagingTable { paddr, level: TableLevel::PageTable, mapping: Mapping::NONE },
        ObjectType::PageDirectory => Cap::PagingTable { paddr, level: TableLevel::PageDirectory, mapping: Mapping::NONE },
        ObjectType::Pdpt => Cap::PagingTable { paddr, level: TableLevel::Pdpt, mapping: Mapping::NONE },
        ObjectType::Pml4 => {
            paging::copy_kernel_half(paddr);
            // A free ASID exists: checked before performing.
            let asid = free_asids().next().unwrap_or(0);
            let k = kernel();
            k.asids[asid] = paddr;
            k.asid_next = asid % (ASID_COUNT - 1) + 1;
            Cap::Pml4 { paddr, asid: asid as u16 }
        }
    }
}
