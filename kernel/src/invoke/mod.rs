//! Invocations: a Call (or Send) on a capability to a kernel object runs one of the
//! object's methods, chosen by the message label. As in seL4, each method first *decodes*
//! (checks every argument and capability, changing nothing) and only then *performs*, so
//! every error is reported before any state changes.
#![deny(unsafe_code)]

pub mod cnode;
pub mod ioport;
pub mod irq;
pub mod tcb;
pub mod untyped;
pub mod vspace;

use crate::ipc;
use crate::state::{KernelMemory, Reg, tcb};
use tileos_abi::error::{InvocationError, LookupFailure};
use tileos_abi::invocation::Label;
use tileos_abi::message::{MessageInfo, ipc_buffer};
use tileos_kernel::cap::{Cap, tcb_slot};
use tileos_kernel::cspace::{self, CSpaceMemory, SlotRef};

/// An invocation error with up to two detail words (see `tileos_abi::error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    /// The error code (reply label).
    pub code: InvocationError,
    /// Detail words (MR0, MR1).
    pub details: [u64; 2],
}

impl Error {
    /// An error without details.
    pub const fn new(code: InvocationError) -> Error {
        Error { code, details: [0, 0] }
    }
    /// An error naming argument `index`.
    pub const fn argument(code: InvocationError, index: u64) -> Error {
        Error { code, details: [index, 0] }
    }
    /// A failed lookup (`source`: on the source side) with its reason.
    pub const fn lookup(source: bool, failure: LookupFailure) -> Error {
        Error { code: InvocationError::FailedLookup, details: [source as u64, failure as u64] }
    }
    /// A range error with the allowed bounds.
    pub const fn range(min: u64, max: u64) -> Error {
        Error { code: InvocationError::RangeError, details: [min, max] }
    }
}

/// Result of an invocation: the number of reply words placed in the caller's message registers.
pub type Result<T> = core::result::Result<T, Error>;

/// Reply length of an invocation that was preempted (its work budget for this kernel
/// entry ran out): no reply is written, and the caller executes the same system call again
/// when it next runs ([`restart`]).
pub const RESTART: usize = usize::MAX;

/// Length of the `syscall` instruction (0F 05).
const SYSCALL_LENGTH: u64 = 2;

/// Makes `caller` execute its system call again when it next runs: its saved registers
/// are still those of the call (nothing was written back), so rewinding the return
/// address over the `syscall` instruction repeats it, as seL4 restarts a preempted call.
pub fn restart(caller: u64) {
    let t = tcb(caller);
    t.set_reg(Reg::Rip, t.reg(Reg::Rip).wrapping_sub(SYSCALL_LENGTH));
}

/// The decoded request: who invokes what, with which label and message.
pub struct Invocation {
    /// The invoking thread (TCB address).
    pub caller: u64,
    /// The invoked capability.
    pub cap: Cap,
    /// Its slot.
    pub slot: SlotRef,
    /// The method.
    pub label: Label,
    /// Message length in words.
    pub length: usize,
    /// Capabilities passed (in the IPC buffer's `caps_or_badges`).
    pub extra_caps: usize,
}

impl Invocation {
    /// Message word `index` (an argument), or `TruncatedMessage`.
    pub fn arg(&self, index: usize) -> Result<u64> {
        if index >= self.length {
            return Err(Error::new(InvocationError::TruncatedMessage));
        }
        Ok(ipc::message_register(self.caller, index))
    }

    /// Extra capability `index`: its slot and capability, looked up in the caller's CSpace.
    pub fn extra_cap(&self, index: usize) -> Result<(SlotRef, Cap)> {
        if index >= self.extra_caps {
            return Err(Error::new(InvocationError::TruncatedMessage));
        }
        let cptr = ipc::buffer_word(self.caller, ipc_buffer::CAPS_OR_BADGES + index);
        let slot = ipc::lookup_slot(self.caller, cptr).map_err(|failure| Error::lookup(true, failure))?;
        Ok((slot, KernelMemory.read(slot).cap))
    }

    /// The caller's CSpace root.
    pub fn cspace_root(&self) -> Cap {
        tcb(self.caller).slot_cap(tcb_slot::CSPACE)
    }

    /// Resolves a slot in the caller's CSpace with an explicit depth (destination slots).
    pub fn resolve_slot(&self, root: Cap, index: u64, depth: u64, source: bool) -> Result<SlotRef> {
        if depth == 0 || depth > 64 {
            return Err(Error::lookup(source, LookupFailure::DepthMismatch));
        }
        cspace::resolve_exact(&KernelMemory, root, index, depth as u32).map_err(|failure| Error::lookup(source, failure))
    }
}

/// A failed type check of extra capability `index` (`index + 1` in the error).
pub const fn wrong_cap(index: usize) -> Error {
    Error::argument(InvocationError::InvalidCapability, index as u64 + 1)
}

/// Requires the slot to be empty (destination of a copy, retype, …).
pub fn ensure_empty(slot: SlotRef) -> Result<()> {
    if KernelMemory.read(slot).cap != Cap::Null {
        return Err(Error::new(InvocationError::DeleteFirst));
    }
    Ok(())
}

/// Runs the invocation of the capability in `slot` by `caller`, whose message info is
/// `info`. On success returns the reply length (results already in the caller's message
/// registers); on error the caller's reply carries the error.
pub fn invoke(caller: u64, slot: SlotRef, info: MessageInfo) -> Result<usize> {
    let cap = KernelMemory.read(slot).cap;
    let Some(label) = Label::from_raw(info.label()) else {
        return Err(Error::new(InvocationError::IllegalOperation));
    };
    let call = Invocation {
        caller,
        cap,
        slot,
        label,
        length: info.length().min(tileos_abi::message::MAX_MESSAGE_WORDS),
        extra_caps: info.extra_caps(),
    };
    match cap {
        Cap::Untyped { .. } => untyped::invoke(&call),
        Cap::CNode { .. } => cnode::invoke(&call),
        Cap::Tcb { .. } => tcb::invoke(&call),
        Cap::Frame { .. } | Cap::PagingTable { .. } | Cap::Pml4 { .. } => vspace::invoke(&call),
        Cap::IrqControl | Cap::IrqHandler { .. } => irq::invoke(&call),
        Cap::IoPortControl | Cap::IoPort { .. } => ioport::invoke(&call),
        Cap::Zombie { .. } => Err(Error::new(InvocationError::DeletionInProgress)),
        _ => Err(Error::new(InvocationError::IllegalOperation)),
    }
}

/// Writes the reply to an invocation into the caller's registers.
pub fn write_reply(caller: u64, result: Result<usize>) {
    match result {
        Ok(RESTART) => restart(caller),
        Ok(length) => ipc::set_received(caller, 0, MessageInfo::new(0, 0, 0, length as u64)),
        Err(error) => {
            ipc::set_message_register(caller, 0, error.details[0]);
            ipc::set_message_register(caller, 1, error.details[1]);
            ipc::set_received(caller, 0, MessageInfo::new(error.code as u64, 0, 0, 2));
        }
    }
}
