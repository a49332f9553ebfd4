//! The decode step of an invocation: from the invoked capability, the message label and
//! the message's words and extra-capability pointers to a typed
//! [`tileos_abi::invocation::Invocation`], or the error the caller gets. Everything here
//! depends only on the message and the capability's type; the checks that need the state
//! (slot lookups, object states) follow in `invoke/*`, before anything changes.
//!
//! The argument layout and its errors are the ABI crate's (`Invocation::decode`), the one
//! definition user space encodes with and docs/abi.md §11 shows; the kernel binary and the
//! model checker both decode through [`decode`].

use crate::cap::Cap;
use tileos_abi::error::{Error, InvocationError};
use tileos_abi::invocation::{Invocation, Label, MAX_CAPS, Object, Reader};

/// The capability type whose methods `cap` offers, `None` for capabilities without methods
/// (endpoints and notifications are used by IPC, a PML4 has none).
#[inline]
pub const fn object_of(cap: &Cap) -> Option<Object> {
    match cap {
        Cap::Untyped { .. } => Some(Object::Untyped),
        Cap::CNode { .. } => Some(Object::CNode),
        Cap::Tcb { .. } => Some(Object::Tcb),
        Cap::Frame { .. } => Some(Object::Frame),
        Cap::PagingTable { .. } => Some(Object::PagingStructure),
        Cap::IrqControl => Some(Object::IrqControl),
        Cap::IrqHandler { .. } => Some(Object::IrqHandler),
        Cap::IoPortControl => Some(Object::IoPortControl),
        Cap::IoPort { .. } => Some(Object::IoPort),
        Cap::IoSpaceControl => Some(Object::IoSpaceControl),
        _ => None,
    }
}

/// The message of an invocation as the kernel reads it: `length` argument words and
/// `extra_caps` capability pointers, read one at a time through `word` and `cptr` (message
/// registers and IPC buffer). Only the words and capabilities the label's invocation uses
/// are read, each once, when decoding reaches it; nothing is copied in between.
pub struct Message<W: Fn(usize) -> u64, C: Fn(usize) -> u64> {
    /// The raw message label.
    pub label: u64,
    /// Message length in words.
    pub length: usize,
    /// Extra capabilities passed.
    pub extra_caps: usize,
    /// Argument word `i`.
    pub word: W,
    /// Extra capability pointer `i`.
    pub cptr: C,
}

/// Decodes an invocation of `cap`: an unknown label is IllegalOperation, a zombie
/// DeletionInProgress, a label that is not a method of the capability's type
/// IllegalOperation; then the arguments in order (TruncatedMessage for the first missing,
/// InvalidArgument and RangeError as the ABI defines).
#[inline]
pub fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(cap: &Cap, message: &Message<W, C>) -> Result<Invocation, Error> {
    let label = Label::from_raw(message.label).ok_or(Error::new(InvocationError::IllegalOperation))?;
    if matches!(cap, Cap::Zombie { .. }) {
        return Err(Error::new(InvocationError::DeletionInProgress));
    }
    if object_of(cap) != Some(label.object()) {
        return Err(Error::new(InvocationError::IllegalOperation));
    }
    let mut reader = Reader::new(message.length, message.extra_caps.min(MAX_CAPS), &message.word, &message.cptr);
    Invocation::read(label, &mut reader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cspace::SlotRef;
    use tileos_abi::invocation::{CNodeMint, CPtr, Method, Slot};
    use tileos_abi::object::Rights;

    const CNODE: Cap = Cap::CNode { paddr: 0x1000, radix: 4, guard_bits: 0, guard: 0 };

    fn run(cap: &Cap, label: u64, words: &[u64], caps: &[u64]) -> Result<Invocation, Error> {
        let message = Message { label, length: words.len(), extra_caps: caps.len(), word: |i| words[i], cptr: |i| caps[i] };
        decode(cap, &message)
    }

    #[test]
    fn decode_checks_label_then_object_then_arguments() {
        let mint = CNodeMint { dest: Slot::at(3), src: Slot::at(4), rights: Rights::READ, badge: 9, src_root: CPtr(2) };
        let encoded = mint.encode();
        assert_eq!(run(&CNODE, 33, encoded.words(), encoded.caps()), Ok(mint.into()));
        let illegal = Err(Error::new(InvocationError::IllegalOperation));
        assert_eq!(run(&CNODE, 2, &[], &[]), illegal, "unknown label");
        assert_eq!(run(&Cap::Tcb { paddr: 0x2000 }, 33, encoded.words(), encoded.caps()), illegal, "not a TCB method");
        assert_eq!(run(&Cap::Pml4 { paddr: 0x3000, asid: 1 }, 40, &[0], &[1]), illegal, "a PML4 has no methods");
        let zombie = Cap::Zombie { paddr: 0x1000, link: SlotRef::NONE, root: SlotRef::NONE, remaining: 1, radix: 4, tcb: false, top: true };
        assert_eq!(run(&zombie, 33, &[], &[]), Err(Error::new(InvocationError::DeletionInProgress)));
        assert_eq!(run(&zombie, 2, &[], &[]), illegal, "an unknown label comes first");
        assert_eq!(run(&CNODE, 33, &encoded.words()[..5], encoded.caps()), Err(Error::new(InvocationError::TruncatedMessage)));
    }

    #[test]
    fn decode_reads_only_the_words_the_invocation_uses() {
        let words = [7u64; 120];
        let message = Message {
            label: Label::CNodeDelete as u64,
            length: 120,
            extra_caps: 3,
            word: |i: usize| if i < 2 { words[i] } else { panic!("word {i} read") },
            cptr: |_| 0,
        };
        assert!(decode(&CNODE, &message).is_ok());
    }

    /// Each capability kind offers its own object's methods (found untested by `make
    /// mutants`: no test decoded an untyped's).
    #[test]
    fn each_capability_offers_its_objects_methods() {
        use crate::cap::{Mapping, TableLevel};
        let untyped = Cap::Untyped { paddr: 0x10000, size_bits: 12, device: false, free_offset: 0, prepared_to: 0, prepared_kind: 0 };
        let frame = Cap::Frame { paddr: 0x20_0000, size_bits: 12, rights: Rights::ALL, device: false, mapping: Mapping::NONE };
        let table = Cap::PagingTable { paddr: 0x30_0000, level: TableLevel::PageTable, mapping: Mapping::NONE };
        let cases = [
            (untyped, Some(Object::Untyped)),
            (Cap::CNode { paddr: 0x8000, radix: 2, guard_bits: 0, guard: 0 }, Some(Object::CNode)),
            (Cap::Tcb { paddr: 0x4000 }, Some(Object::Tcb)),
            (frame, Some(Object::Frame)),
            (table, Some(Object::PagingStructure)),
            (Cap::IrqControl, Some(Object::IrqControl)),
            (Cap::IrqHandler { irq: 3 }, Some(Object::IrqHandler)),
            (Cap::IoPortControl, Some(Object::IoPortControl)),
            (Cap::IoPort { first: 1, last: 2 }, Some(Object::IoPort)),
            (Cap::IoSpaceControl, Some(Object::IoSpaceControl)),
            (Cap::IoSpace { device: 0x20 }, None),
            (Cap::Endpoint { paddr: 0x1000, badge: 0, rights: Rights::ALL }, None),
            (Cap::Null, None),
        ];
        for (cap, object) in cases {
            assert_eq!(object_of(&cap), object, "{cap:?}");
        }
    }
}
