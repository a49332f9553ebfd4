//! The deletion code as it was before deletion became restartable (one pass, O(n²) for a
//! chain of containers), kept as a reference: the restartable steps must end in the same
//! state. Host tests only.

use crate::cap::Cap;
use crate::cspace::{CSpaceMemory, Slot, SlotRef, is_final, is_parent_of, slot_address};

fn unlink(memory: &mut impl CSpaceMemory, at: SlotRef) {
    let slot = memory.read(at);
    if slot.first_badged {
        let mut cursor = slot.next;
        while cursor != SlotRef::NONE {
            let mut child = memory.read(cursor);
            if !is_parent_of(&slot, &child) {
                break;
            }
            child.first_badged = true;
            memory.write(cursor, child);
            cursor = child.next;
        }
    }
    if slot.prev != SlotRef::NONE {
        let mut prev = memory.read(slot.prev);
        prev.next = slot.next;
        memory.write(slot.prev, prev);
    }
    if slot.next != SlotRef::NONE {
        let mut next = memory.read(slot.next);
        next.prev = slot.prev;
        memory.write(slot.next, next);
    }
    memory.write(at, Slot::EMPTY);
}

/// Deletes the capability at `at`. If it is the last capability to a CNode or TCB, every
/// capability stored in that object is deleted first; if it is the last capability to any
/// object, the object is destroyed ([`CSpaceMemory::finalise`]).
pub(super) fn delete(memory: &mut impl CSpaceMemory, at: SlotRef) {
    delete_sparing(memory, at, SlotRef::NONE);
}

/// [`delete`], except that the slot `spared` is left in place if it lies in a container
/// being destroyed; returns whether that happened (the caller then deletes it).
fn delete_sparing(memory: &mut impl CSpaceMemory, at: SlotRef, spared: SlotRef) -> bool {
    let slot = memory.read(at);
    if slot.cap == Cap::Null {
        return false;
    }
    let mut orphaned = false;
    if let Some(container) = slot.cap.slot_container()
        && is_final(memory, at)
    {
        orphaned = empty_container(memory, container, spared);
    }
    // Emptying may have deleted `at` itself (an object holding its own last capability).
    let slot = memory.read(at);
    if slot.cap != Cap::Null {
        let last = is_final(memory, at);
        memory.finalise(&slot.cap, last);
        unlink(memory, at);
    }
    orphaned
}

/// Deletes every capability held by `container` (address, slot count), including the
/// contents of CNodes whose last capability is found inside it, without recursion: the
/// kernel has a small fixed stack.
///
/// Each round walks down from `container` through last capabilities of containers that
/// still hold something, to a container none of whose capabilities needs emptying, and
/// deletes its capabilities. Capabilities to `container` itself are left for the caller,
/// and so is the slot `spared` (0: none); returns whether `spared` was met.
fn empty_container(memory: &mut impl CSpaceMemory, container: (u64, u64), spared: SlotRef) -> bool {
    let mut met_spared = false;
    loop {
        let mut current = container;
        'descend: loop {
            for index in 0..current.1 {
                let at = slot_address(current.0, index);
                if let Some(inner) = memory.read(at).cap.slot_container()
                    && inner != container
                    && inner != current
                    && is_final(memory, at)
                    && holds_capabilities(memory, inner, container, spared)
                {
                    current = inner;
                    continue 'descend;
                }
            }
            break;
        }
        let mut deleted = false;
        let mut deferred = false;
        for index in 0..current.1 {
            let at = slot_address(current.0, index);
            let slot = memory.read(at);
            if slot.cap == Cap::Null || slot.cap.slot_container() == Some(container) {
                continue;
            }
            if at == spared {
                met_spared = true;
                continue;
            }
            // A container destroyed here that still holds the spared slot (nothing else).
            if let Some((base, count)) = slot.cap.slot_container()
                && spared >= SlotRef(base)
                && spared < slot_address(base, count)
                && is_final(memory, at)
            {
                met_spared = true;
            }
            // A capability that became the last one to a non-empty container during this
            // round is left for the next round, which empties that container first.
            if let Some(inner) = slot.cap.slot_container()
                && inner != current
                && is_final(memory, at)
                && holds_capabilities(memory, inner, container, spared)
            {
                deferred = true;
                continue;
            }
            let last = is_final(memory, at);
            memory.finalise(&slot.cap, last);
            unlink(memory, at);
            deleted = true;
        }
        if !deleted || (current == container && !deferred) {
            return met_spared;
        }
    }
}

/// Whether `container` holds any capability other than ones to `ignored` and the slot `spared`.
fn holds_capabilities(memory: &impl CSpaceMemory, container: (u64, u64), ignored: (u64, u64), spared: SlotRef) -> bool {
    (0..container.1).any(|index| {
        let at = slot_address(container.0, index);
        let cap = memory.read(at).cap;
        at != spared && cap != Cap::Null && cap.slot_container() != Some(ignored)
    })
}

/// Deletes every descendant of the capability at `at`. The capability itself stays —
/// unless it is stored (directly or through further CNodes) in an object that only a
/// descendant kept alive: then it is deleted last, after all its descendants, since its
/// slot no longer exists.
pub(super) fn revoke(memory: &mut impl CSpaceMemory, at: SlotRef) {
    let mut orphaned = false;
    loop {
        let slot = memory.read(at);
        if slot.cap == Cap::Null || slot.next == SlotRef::NONE || !is_parent_of(&slot, &memory.read(slot.next)) {
            break;
        }
        orphaned |= delete_sparing(memory, slot.next, at);
    }
    if orphaned {
        let slot = memory.read(at);
        let last = is_final(memory, at);
        memory.finalise(&slot.cap, last);
        unlink(memory, at);
    }
}
