//! CNode methods: revoke, delete, copy, mint, move, mutate, rotate, save caller. The
//! invoked CNode capability is the root from which the slot arguments (index, depth) are
//! resolved; the source side of a copy names its own root as extra capability 0.

use super::{Error, Invocation, Result, ensure_empty};
use crate::state::{KernelMemory, tcb};
use crate::thread;
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::Label;
use tileos_abi::object::Rights;
use tileos_kernel::cap::{self, Cap, DeriveError, MintParams, tcb_slot};
use tileos_kernel::cspace::{self, CSpaceMemory, InProgress, Progress, SlotRef, Work};

fn derive_error(error: DeriveError) -> Error {
    match error {
        DeriveError::NotDerivable => Error::new(InvocationError::IllegalOperation),
    }
}

/// Resolves (index at argument `a`, depth at `a + 1`) from the invoked CNode.
fn own_slot(call: &Invocation, a: usize, source: bool) -> Result<SlotRef> {
    call.resolve_slot(call.cap, call.arg(a)?, call.arg(a + 1)?, source)
}

/// Resolves the source slot: root = extra cap 0, index/depth at arguments 2–3.
fn source_slot(call: &Invocation) -> Result<SlotRef> {
    let (_, root) = call.extra_cap(0)?;
    if !matches!(root, Cap::CNode { .. }) {
        return Err(super::wrong_cap(0));
    }
    let slot = call.resolve_slot(root, call.arg(2)?, call.arg(3)?, true)?;
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
        cspace::delete_step(&mut memory, slot, 0, &mut work)
    };
    match step {
        Ok(Progress::Done) => Ok(0),
        Ok(Progress::Preempted { .. }) => Ok(super::RESTART),
        Err(InProgress) => Err(in_progress()),
    }
}

/// Runs a CNode method.
pub fn invoke(call: &Invocation) -> Result<usize> {
    let mut memory = KernelMemory;
    match call.label {
        Label::CNodeRevoke | Label::CNodeDelete => {
            let slot = own_slot(call, 0, false)?;
            delete_or_revoke(slot, call.label == Label::CNodeRevoke)
        }
        Label::CNodeCopy | Label::CNodeMint => {
            let dest = own_slot(call, 0, false)?;
            let src = source_slot(call)?;
            let rights = Rights::from_word(call.arg(4)?);
            let mint = if call.label == Label::CNodeMint { Some(MintParams { rights, data: call.arg(5)? }) } else { None };
            ensure_empty(dest)?;
            let source_cap = memory.read(src).cap;
            let derived = cap::mask_rights(cap::derive(&source_cap, mint).map_err(derive_error)?, rights);
            cspace::insert_derived(&mut memory, src, dest, derived, cap::is_revocable(&derived, &source_cap));
            Ok(0)
        }
        Label::CNodeMove | Label::CNodeMutate => {
            let dest = own_slot(call, 0, false)?;
            let src = source_slot(call)?;
            ensure_empty(dest)?;
            let source_cap = memory.read(src).cap;
            let moved = if call.label == Label::CNodeMutate {
                // Mutate changes a CNode's guard in place. As in seL4 it never changes a
                // badge: a badge decides which capabilities are derived from which, so
                // changing it in place would detach (or adopt) derived capabilities.
                let mutated = cap::mutate(source_cap, call.arg(4)?).map_err(derive_error)?;
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
        Label::CNodeRotate => {
            // dest ← pivot ← src: pivot moves to the (empty) destination, src moves to pivot.
            let dest = own_slot(call, 0, false)?;
            let pivot = own_slot(call, 2, true)?;
            let src = own_slot(call, 4, true)?;
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
        Label::CNodeSaveCaller => {
            let dest = own_slot(call, 0, false)?;
            ensure_empty(dest)?;
            let reply_slot = thread::tcb_slot_address(call.caller, tcb_slot::REPLY);
            let reply = memory.read(reply_slot).cap;
            if let Cap::Reply { tcb: caller, .. } = reply {
                tcb(caller).set_reply_slot(dest);
                cspace::move_cap(&mut memory, reply_slot, dest, reply);
            }
            Ok(0)
        }
        _ => Err(Error::new(InvocationError::IllegalOperation)),
    }
}
