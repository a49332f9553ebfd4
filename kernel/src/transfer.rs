//! The capability-changing decisions of IPC capability transfer and of installing a
//! capability in a TCB slot (a CSpace root, say), over the CDT code of [`crate::cspace`].
//!
//! The kernel binary's `ipc.rs` (message copy, thread states) and `invoke/tcb.rs`
//! (TcbConfigure, TcbSetIpcBuffer) call these; the host tests here and the model checker's
//! refinement test run the same code.
//!
//! A message carries capabilities only when the sender's endpoint capability has the grant
//! right and the receiver's has it too (a reply: when the caller's capability had the grant or
//! grant-reply right); without them the message is delivered without capabilities, never
//! refused. [`transfer_caps`] then moves each named capability as follows.

use crate::cap::{self, Cap, DeriveError, MintParams};
use crate::cspace::{self, CSpaceMemory, SlotRef};
use tileos_abi::message::MAX_EXTRA_CAPS;

/// What the capability transfer of one message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transferred {
    /// Capabilities transferred, unwrapped ones included (the received message's extra-caps
    /// count).
    pub count: u64,
    /// Bit `i` set: the sender's capability `i` arrived unwrapped, as its badge.
    pub unwrapped: u64,
    /// The badge of each unwrapped capability, at its index (0 elsewhere), for the receiver's
    /// IPC buffer.
    pub badges: [u64; MAX_EXTRA_CAPS],
}

/// Transfers up to `count` (at most [`MAX_EXTRA_CAPS`]) capabilities of a message sent
/// through the endpoint at `via_endpoint` (0 for a reply: no endpoint). `source(memory, i)` is
/// the slot of the sender's capability `i` (`None`: the lookup failed). A badged endpoint
/// capability to `via_endpoint` arrives unwrapped: its badge is reported, no slot changes.
/// The first other capability is derived ([`cap::derive`], no mint) into the receiver's
/// receive slot, `receive_slot()` (an empty slot, or `None`), as a CDT child of its source
/// when the source is revocable (`cspace::insert_derived`, not revocable itself). Stops at
/// the first capability that cannot be transferred: a failed lookup, a second capability for
/// the receive slot, no receive slot, or a capability [`cap::derive`] refuses (untyped,
/// reply, IRQ or IOSpace control, zombie, unmapped paging structure).
pub fn transfer_caps<M: CSpaceMemory>(
    memory: &mut M,
    count: usize,
    mut source: impl FnMut(&M, usize) -> Option<SlotRef>,
    via_endpoint: u64,
    receive_slot: impl FnOnce(&M) -> Option<SlotRef>,
) -> Transferred {
    let mut done = Transferred { count: 0, unwrapped: 0, badges: [0; MAX_EXTRA_CAPS] };
    let mut receive_slot = Some(receive_slot);
    for index in 0..count.min(MAX_EXTRA_CAPS) {
        let Some(from) = source(memory, index) else { break };
        let cap = memory.read(from).cap;
        if let Cap::Endpoint { paddr, badge, .. } = cap
            && paddr == via_endpoint
            && badge != 0
        {
            done.badges[index] = badge;
            done.unwrapped |= 1 << index;
            done.count += 1;
            continue;
        }
        // The receive slot takes one capability: a second one stops the transfer.
        let Some(dest) = receive_slot.take().and_then(|slot| slot(memory)) else { break };
        let Ok(derived) = cap::derive(&cap, None) else { break };
        cspace::insert_derived(memory, from, dest, derived, false);
        done.count += 1;
    }
    done
}

/// The copy of the capability at `source` that may be installed in a TCB slot
/// ([`cap::derive`], minted with `mint` if given: a CSpace root's guard, say).
pub fn tcb_copy(memory: &impl CSpaceMemory, source: SlotRef, mint: Option<MintParams>) -> Result<Cap, DeriveError> {
    cap::derive(&memory.read(source).cap, mint)
}

/// Replaces the capability in the TCB slot `dest` with `cap` (of [`tcb_copy`]), derived
/// from the capability at `source`: whatever `dest` held is deleted, and `cap` goes in as a
/// CDT child of `source` when `source` is revocable (so a revoke of `source` empties `dest`:
/// a thread's CSpace root is unbound by revoking the capability it was bound from).
pub fn install(memory: &mut impl CSpaceMemory, dest: SlotRef, source: SlotRef, cap: Cap) {
    cspace::delete(memory, dest);
    cspace::insert_derived(memory, source, dest, cap, false);
}

/// The position in `sources` of the first slot that no longer holds the object it held
/// when it was looked up (`(slot, capability then)`; seL4's `sameObjectAs` check after a
/// TCB's slots are emptied). TcbConfigure looks its sources up, then empties the TCB's
/// slots: when the TCB held the last capability to the CNode a source sits in (a thread
/// re-binding itself from its own CSpace, say), that emptying destroys the CNode and
/// empties the source's slot. Installing from it would link the new capability into the
/// CDT through a slot of destroyed memory, which a later retype may hand out; the caller
/// installs nothing then.
pub fn changed_source(memory: &impl CSpaceMemory, sources: &[(SlotRef, Cap)]) -> Option<usize> {
    sources.iter().position(|(slot, cap)| !memory.read(*slot).cap.same_object_as(cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cspace::tests::TestMemory;
    use tileos_abi::object::Rights;

    const EP_ADDR: u64 = 0x9000;
    const SENDER: u64 = 0x10_0000;
    const RECEIVER: u64 = 0x20_0000;

    fn slot(cnode: u64, index: u64) -> SlotRef {
        cspace::slot_address(cnode, index)
    }

    fn endpoint(badge: u64) -> Cap {
        Cap::Endpoint { paddr: EP_ADDR, badge, rights: Rights::ALL }
    }

    /// A memory whose sender CNode holds `caps` in slots 0.., each a CDT root (revocable).
    fn with_caps(caps: &[Cap]) -> TestMemory {
        let mut memory = TestMemory::default();
        for (index, cap) in caps.iter().enumerate() {
            cspace::insert_root(&mut memory, slot(SENDER, index as u64), *cap);
        }
        memory
    }

    fn send(memory: &mut TestMemory, count: usize, via: u64, dest: Option<SlotRef>) -> Transferred {
        transfer_caps(memory, count, |m, i| Some(slot(SENDER, i as u64)).filter(|&s| m.read(s).cap != Cap::Null), via, |_| dest)
    }

    #[test]
    fn one_capability_lands_in_the_receive_slot_as_a_child_of_its_source() {
        let notification = Cap::Notification { paddr: 0x7000, badge: 0, rights: Rights::ALL };
        let mut memory = with_caps(&[notification]);
        let dest = slot(RECEIVER, 3);
        let done = send(&mut memory, 1, EP_ADDR, Some(dest));
        assert_eq!(done, Transferred { count: 1, unwrapped: 0, badges: [0; MAX_EXTRA_CAPS] });
        assert_eq!(memory.read(dest).cap, notification);
        assert!(cspace::is_parent_of(&memory.read(slot(SENDER, 0)), &memory.read(dest)));
        assert!(!memory.read(dest).revocable);
        crate::cspace::tests::check_cdt(&memory);
    }

    #[test]
    fn a_badged_capability_to_the_endpoint_itself_arrives_as_its_badge() {
        let frame = Cap::Frame { paddr: 0x3000, size_bits: 12, rights: Rights::READ, device: false, mapping: cap::Mapping::NONE };
        let mut memory = with_caps(&[endpoint(5), frame, endpoint(0)]);
        let dest = slot(RECEIVER, 1);
        let done = send(&mut memory, 3, EP_ADDR, Some(dest));
        // Cap 0 unwrapped, cap 1 to the slot, cap 2 (unbadged) would need a second slot.
        assert_eq!(done, Transferred { count: 2, unwrapped: 0b1, badges: [5, 0, 0] });
        assert_eq!(memory.read(dest).cap, frame);
        assert_eq!(memory.slots.values().filter(|s| s.cap != Cap::Null).count(), 4, "no other slot changed");
    }

    #[test]
    fn a_badged_endpoint_capability_is_unwrapped_only_on_its_own_endpoint() {
        let mut memory = with_caps(&[endpoint(5)]);
        let dest = slot(RECEIVER, 0);
        let done = send(&mut memory, 1, 0x8000, Some(dest));
        assert_eq!((done.count, done.unwrapped), (1, 0));
        assert_eq!(memory.read(dest).cap, endpoint(5));
        // A reply (no endpoint) unwraps nothing either.
        let mut memory = with_caps(&[endpoint(5)]);
        assert_eq!(send(&mut memory, 1, 0, Some(dest)).unwrapped, 0);
    }

    #[test]
    fn an_underivable_capability_or_a_missing_slot_stops_the_transfer() {
        let untyped = Cap::Untyped { paddr: 0x40_0000, size_bits: 12, device: false, free_offset: 0, prepared_to: 0, prepared_kind: 0 };
        let reply = Cap::Reply { tcb: 0x5000, can_grant: true };
        for cap in [untyped, reply, Cap::IrqControl, Cap::IoSpaceControl] {
            let mut memory = with_caps(&[cap, endpoint(9)]);
            let dest = slot(RECEIVER, 0);
            let done = send(&mut memory, 2, EP_ADDR, Some(dest));
            assert_eq!(done.count, 0, "{cap:?} stops it before the unwrappable capability after it");
            assert_eq!(memory.read(dest).cap, Cap::Null);
        }
        let mut memory = with_caps(&[endpoint(0)]);
        assert_eq!(send(&mut memory, 1, EP_ADDR, None).count, 0, "no receive slot");
        let mut memory = with_caps(&[endpoint(7), endpoint(8)]);
        let done = transfer_caps(&mut memory, 3, |_, i| (i == 0).then(|| slot(SENDER, 0)), EP_ADDR, |_| None);
        assert_eq!((done.count, done.unwrapped), (1, 1), "a failed lookup of cap 1 stops at it");
    }

    #[test]
    fn at_most_max_extra_caps_are_looked_at() {
        let mut memory = with_caps(&[endpoint(1), endpoint(2), endpoint(3), endpoint(4)]);
        let done = send(&mut memory, 8, EP_ADDR, None);
        assert_eq!(done, Transferred { count: 3, unwrapped: 0b111, badges: [1, 2, 3] });
    }

    #[test]
    fn an_installed_cspace_root_goes_with_a_revoke_of_its_source() {
        let root = Cap::CNode { paddr: 0x50_0000, radix: 4, guard_bits: 0, guard: 0 };
        let mut memory = with_caps(&[root]);
        let tcb_slot = slot(0x60_0000, 0);
        // The TCB slot held another CNode capability: it is deleted first.
        cspace::insert_root(&mut memory, tcb_slot, Cap::CNode { paddr: 0x70_0000, radix: 2, guard_bits: 0, guard: 0 });
        let minted = tcb_copy(&memory, slot(SENDER, 0), Some(MintParams { rights: Rights::ALL, data: 60 })).unwrap();
        assert_eq!(minted, Cap::CNode { paddr: 0x50_0000, radix: 4, guard_bits: 60, guard: 0 });
        install(&mut memory, tcb_slot, slot(SENDER, 0), minted);
        assert_eq!(memory.read(tcb_slot).cap, minted);
        assert!(memory.finalised.iter().any(|(cap, is_final)| matches!(cap, Cap::CNode { paddr: 0x70_0000, .. }) && *is_final));
        cspace::revoke(&mut memory, slot(SENDER, 0));
        assert_eq!(memory.read(tcb_slot).cap, Cap::Null, "the binding went with the revoke");
        assert_eq!(memory.read(slot(SENDER, 0)).cap, root);
        crate::cspace::tests::check_cdt(&memory);
    }

    #[test]
    fn a_source_destroyed_by_emptying_the_tcbs_slots_is_found() {
        // The thread's CSpace root X (0x50_0000) holds its next root Y in slot 2; the TCB's
        // slot holds the last capability to X.
        let x = Cap::CNode { paddr: 0x50_0000, radix: 4, guard_bits: 0, guard: 0 };
        let y = Cap::CNode { paddr: 0x58_0000, radix: 4, guard_bits: 0, guard: 0 };
        let mut memory = TestMemory::default();
        let tcb_root = slot(0x60_0000, 0);
        cspace::insert_root(&mut memory, tcb_root, x);
        let source = slot(0x50_0000, 2);
        cspace::insert_root(&mut memory, source, y);
        let frame = Cap::Frame { paddr: 0x3000, size_bits: 12, rights: Rights::ALL, device: false, mapping: cap::Mapping::NONE };
        cspace::insert_root(&mut memory, slot(SENDER, 0), frame);
        let sources = [(slot(SENDER, 0), frame), (source, y)];
        assert_eq!(changed_source(&memory, &sources), None, "both still there");
        cspace::delete(&mut memory, tcb_root);
        assert_eq!(memory.read(source).cap, Cap::Null, "X's destruction emptied the source");
        assert_eq!(changed_source(&memory, &sources), Some(1));
        // A capability to the same object in its place (another copy) is the same source.
        cspace::insert_root(&mut memory, source, y);
        assert_eq!(changed_source(&memory, &sources), None);
    }

    #[test]
    fn what_cannot_be_copied_cannot_be_installed() {
        let memory = with_caps(&[Cap::Reply { tcb: 0x5000, can_grant: false }]);
        assert_eq!(tcb_copy(&memory, slot(SENDER, 0), None), Err(DeriveError::NotDerivable));
        assert_eq!(tcb_copy(&memory, slot(SENDER, 1), None), Err(DeriveError::NotDerivable), "an empty slot");
    }
}
