//! Invocations: a Call (or Send) on a capability to a kernel object runs one of the
//! object's methods, chosen by the message label. As in seL4, each method first *decodes*
//! (checks every argument and capability, changing nothing) and only then *performs*, so
//! every error is reported before any state changes. The arguments arrive typed: the
//! message is decoded by `tileos_kernel::decode` with the ABI's one definition of every
//! invocation (`tileos_abi::invocation`), and each module matches on the invocations of its
//! object.
#![deny(unsafe_code)]

pub mod cnode;
pub mod ioport;
pub mod iospace;
pub mod irq;
pub mod tcb;
pub mod untyped;
pub mod vspace;

use crate::ipc;
use crate::state::{KernelMemory, Reg, tcb};
use tileos_abi::error::{InvocationError, LookupFailure};
use tileos_abi::invocation::{CPtr, Object, Slot};
use tileos_abi::message::{MessageInfo, ipc_buffer};
use tileos_kernel::cap::{Cap, tcb_slot};
use tileos_kernel::cspace::{self, CSpaceMemory, SlotRef};
use tileos_kernel::decode::{Message, decode};

/// An invocation error with up to two detail words (`tileos_abi::error::Error`).
pub use tileos_abi::error::Error;

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

/// Who invokes what: the context every method's checks and effects use (the arguments come
/// typed, decoded by [`tileos_kernel::decode`]).
pub struct Call {
    /// The invoking thread (TCB address).
    pub caller: u64,
    /// The invoked capability.
    pub cap: Cap,
    /// Its slot.
    pub slot: SlotRef,
}

impl Call {
    /// An extra capability: its slot and capability, looked up in the caller's CSpace.
    pub fn lookup(&self, cptr: CPtr) -> Result<(SlotRef, Cap)> {
        let slot = ipc::lookup_slot(self.caller, cptr.0).map_err(|failure| Error::lookup(true, failure))?;
        Ok((slot, KernelMemory.read(slot).cap))
    }

    /// The caller's CSpace root.
    pub fn cspace_root(&self) -> Cap {
        tcb(self.caller).slot_cap(tcb_slot::CSPACE)
    }

    /// Resolves a slot argument from `root` with its explicit depth (1–64, else
    /// FailedLookup DepthMismatch); `source` says which side a failure is reported on.
    pub fn resolve_slot(&self, root: Cap, slot: Slot, source: bool) -> Result<SlotRef> {
        if slot.depth == 0 || slot.depth > 64 {
            return Err(Error::lookup(source, LookupFailure::DepthMismatch));
        }
        cspace::resolve_exact(&KernelMemory, root, slot.index, slot.depth as u32).map_err(|failure| Error::lookup(source, failure))
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
/// `info`: decodes it (`tileos_kernel::decode`: label, capability type, arguments), then
/// the object's module checks against the state and performs. On success returns the reply
/// length (results already in the caller's message registers); on error the caller's reply
/// carries the error.
pub fn invoke(caller: u64, slot: SlotRef, info: MessageInfo) -> Result<usize> {
    let cap = KernelMemory.read(slot).cap;
    let message = Message {
        label: info.label(),
        length: info.length().min(tileos_abi::message::MAX_MESSAGE_WORDS),
        extra_caps: info.extra_caps(),
        word: |index| ipc::message_register(caller, index),
        cptr: |index| ipc::buffer_word(caller, ipc_buffer::CAPS_OR_BADGES + index),
    };
    // Matched by reference: the decoded value is not copied on its way to the method.
    let decoded = decode(&cap, &message);
    let invocation = match &decoded {
        Ok(invocation) => invocation,
        Err(error) => return Err(*error),
    };
    let call = Call { caller, cap, slot };
    match invocation.label().object() {
        Object::Untyped => untyped::invoke(&call, invocation),
        Object::CNode => cnode::invoke(&call, invocation),
        Object::Tcb => tcb::invoke(&call, invocation),
        Object::Frame | Object::PagingStructure => vspace::invoke(&call, invocation),
        Object::IrqControl | Object::IrqHandler => irq::invoke(&call, invocation),
        Object::IoPortControl | Object::IoPort => ioport::invoke(&call, invocation),
        Object::IoSpaceControl => iospace::invoke(&call, invocation),
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
