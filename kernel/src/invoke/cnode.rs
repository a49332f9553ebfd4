//! CNode methods: revoke, delete, copy, mint, move, mutate, rotate, save caller. The
//! invoked CNode capability is the root from which the slot arguments (index, depth) are
//! resolved; the source side of a copy names its own root as extra capability 0.

use super::{Call, Error, Result, ensure_empty};
use crate::state::{KernelMemory, tcb};
use crate::thread;
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{CPtr, Invocation, Slot};
use tileos_abi::object::Rights;
use tileos_kernel::cap::{self, Cap, DeriveError, MintParams, tcb_slot};
use tileos_kernel::cspace::{self, CSpaceMemory, InProgress, Progress, SlotRef, Work};

fn derive_error(error: DeriveError) -> Error {
    match error {
        DeriveError::NotDerivable => Error::new(InvocationError::IllegalOperation),
    }
}

/// Resolves a slot argument from the invoked CNode.
fn own_slot(call: &Call, slot: Slot, source: bool) -> Result<SlotRef> {
    call.resolve_slot(call.cap, slot, source)
}

/// Resolves the source slot `src` from the CNode `root` (an extra capability); it must hold
/// a capability that is not a zombie.
fn source_slot(call: &Call, root: CPtr, src: Slot) -> Result<SlotRef> {
    let (_, root) = call.lookup(root)?;
    if !matches!(root, Cap::CNode { .. }) {
        return Err(super::wrong_cap(0));
    }
    let slot = call.resolve_slot(root, src, true)?;
    match KernelMemory.read(slot).cap {
        Cap::Null => Err(Error::lookup(true, tileos_abi::error::LookupFailure::MissingCapability)),
        Cap::Zombie { .. } => Err(in_progress()),
        _ => Ok(slot),
    }
}

/// The error for a use of a zombie (an object whose destruction is in progress).
fn in_progress() -> Error {
    Error::new(InvocationError::DeletionInProgress)
}

/// Runs one step of a delete or revoke, with the work budget of one kernel entry
/// ([`cspace::KERNEL_STEP_WORK`]); when it runs out, the caller repeats the call later
/// ([`super::RESTART`]) and the next step continues where this one stopped.
fn delete_or_revoke(slot: SlotRef, revoke: bool) -> Result<usize> {
    let mut memory = KernelMemory;
    let mut work = Work::new(cspace::KERNEL_STEP_WORK);
    let step = if revoke {
        if matches!(memory.read(slot).cap, Cap::Zombie { .. }) {
            return Err(in_progress());
        }
        cspace::revoke_step(&mut memory, slot, &mut work)
    } else {
        cspace::delete_step(&mut memory, slot, SlotRef::NONE, &mut work)
    };
    match step {
        Ok(Progress::Done) => Ok(0),
        Ok(Progress::Preempted { .. }) => Ok(super::RESTART),
        Err(InProgress) => Err(in_progress()),
    }
}

/// Copies (`mint`: `None`) or mints the capability in `src` to the empty `dest`, with
/// `rights` as mask.
fn derive_into(call: &Call, dest: Slot, (root, src): (CPtr, Slot), rights: Rights, mint: Option<u64>) -> Result<usize> {
    let mut memory = KernelMemory;
    let dest = own_slot(call, dest, false)?;
    let src = source_slot(call, root, src)?;
    let mint = mint.map(|data| MintParams { rights, data });
    ensure_empty(dest)?;
    let source_cap = memory.read(src).cap;
    let derived = cap::mask_rights(cap::derive(&source_cap, mint).map_err(derive_error)?, rights);
    cspace::insert_derived(&mut memory, src, dest, derived, cap::is_revocable(&derived, &source_cap));
    Ok(0)
}

/// Moves the capability in `src` to the empty `dest`; with `mutate` (Mutate's data) it
/// changes a CNode's guard on the way, never a badge.
fn move_into(call: &Call, dest: Slot, (root, src): (CPtr, Slot), mutate: Option<u64>) -> Result<usize> {
    let mut memory = KernelMemory;
    let dest = own_slot(call, dest, false)?;
    let src = source_slot(call, root, src)?;
    ensure_empty(dest)?;
    let source_cap = memory.read(src).cap;
    let moved = if let Some(data) = mutate {
        // Mutate changes a CNode's guard in place. As in seL4 it never changes a
        // badge: a badge decides which capabilities are derived from which, so
        // changing it in place would detach (or adopt) derived capabilities.
        let mutated = cap::mutate(source_cap, data).map_err(derive_error)?;
        if mutated.badge() != source_cap.badge() {
            return Err(Error::new(InvocationError::IllegalOperation));
        }
        mutated
    } else {
        source_cap
    };
    if let Cap::Reply { tcb: caller, .. } = source_cap {
        tcb(caller).set_reply_slot(dest);
    }
    cspace::move_cap(&mut memory, src, dest, moved);
    Ok(0)
}

/// Runs a CNode method.
pub fn invoke(call: &Call, invocation: &Invocation) -> Result<usize> {
    let mut memory = KernelMemory;
    match invocation {
        Invocation::CNodeRevoke(revoke) => delete_or_revoke(own_slot(call, revoke.slot, false)?, true),
        Invocation::CNodeDelete(delete) => delete_or_revoke(own_slot(call, delete.slot, false)?, false),
        Invocation::CNodeCopy(copy) => derive_into(call, copy.dest, (copy.src_root, copy.src), copy.rights, None),
        Invocation::CNodeMint(mint) => derive_into(call, mint.dest, (mint.src_root, mint.src), mint.rights, Some(mint.badge)),
        Invocation::CNodeMove(moved) => move_into(call, moved.dest, (moved.src_root, moved.src), None),
        Invocation::CNodeMutate(mutate) => move_into(call, mutate.dest, (mutate.src_root, mutate.src), Some(mutate.data)),
        Invocation::CNodeRotate(rotate) => {
            // dest ← pivot ← src: pivot moves to the (empty) destination, src moves to pivot.
            let dest = own_slot(call, rotate.dest, false)?;
            let pivot = own_slot(call, rotate.pivot, true)?;
            let src = own_slot(call, rotate.src, true)?;
            if memory.read(pivot).cap == Cap::Null || memory.read(src).cap == Cap::Null {
                return Err(Error::lookup(true, tileos_abi::error::LookupFailure::MissingCapability));
            }
            if matches!(memory.read(pivot).cap, Cap::Zombie { .. }) || matches!(memory.read(src).cap, Cap::Zombie { .. }) {
                return Err(in_progress());
            }
            if pivot == src || pivot == dest {
                return Err(Error::argument(InvocationError::InvalidArgument, 2));
            }
            if dest == src {
                cspace::swap(&mut memory, pivot, src);
            } else {
                ensure_empty(dest)?;
                let pivot_cap = memory.read(pivot).cap;
                cspace::move_cap(&mut memory, pivot, dest, pivot_cap);
                let src_cap = memory.read(src).cap;
                cspace::move_cap(&mut memory, src, pivot, src_cap);
            }
            // A moved reply capability: its caller must know where it now is.
            for at in [dest, pivot, src] {
                if let Cap::Reply { tcb: caller, .. } = memory.read(at).cap {
                    tcb(caller).set_reply_slot(at);
                }
            }
            Ok(0)
        }
        Invocation::CNodeSaveCaller(save) => {
            let dest = own_slot(call, save.dest, false)?;
            ensure_empty(dest)?;
            // As SaveRecv: a budget donated to the caller goes back with the reply, found
            // through the capability in the caller's reply slot, which must stay there.
            if tcb(call.caller).donor() != 0 {
                return Err(Error::new(InvocationError::IllegalOperation));
            }
            let reply_slot = thread::tcb_slot_address(call.caller, tcb_slot::REPLY);
            let reply = memory.read(reply_slot).cap;
            if let Cap::Reply { tcb: caller, .. } = reply {
                tcb(caller).set_reply_slot(dest);
                tcb(caller).set_reply_server(0);
                cspace::move_cap(&mut memory, reply_slot, dest, reply);
            }
            Ok(0)
        }
        _ => Err(Error::new(InvocationError::IllegalOperation)),
    }
}
