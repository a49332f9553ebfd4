//! Capability slots, the capability derivation tree (CDT), and capability-pointer lookup.
//!
//! The CDT is kept the way seL4 keeps its "mapping database": one doubly-linked list of
//! slots in pre-order, where a derived capability is inserted right after its parent. The
//! descendants of a slot are then the run of slots following it for which
//! [`is_parent_of`] holds, so revoke needs no child lists and every slot needs only two
//! links. All capabilities to one object sit next to each other, so whether a capability
//! is the last one to its object ([`is_final`]) is decided by its two neighbours.
//!
//! Memory is reached through [`CSpaceMemory`], so this code runs unchanged in the kernel
//! (slots in physical memory through the direct map) and in host tests and the model
//! checker (slots in a map).

use crate::cap::Cap;
use tileos_abi::error::LookupFailure;
use tileos_abi::object::SLOT_SIZE_BITS;

/// Address of a slot (in the kernel: its physical address). 0 means "no slot".
pub type SlotRef = u64;

/// One CNode slot: a capability and its links in the derivation tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Slot {
    /// The capability held.
    pub cap: Cap,
    /// Previous slot in CDT order (0: none).
    pub prev: SlotRef,
    /// Next slot in CDT order (0: none).
    pub next: SlotRef,
    /// Whether this capability may have CDT children (see [`is_parent_of`]).
    pub revocable: bool,
    /// Whether this is the first capability with its badge (badged copies of it are
    /// siblings, not children).
    pub first_badged: bool,
}

const _: () = assert!(core::mem::size_of::<Slot>() == 1 << SLOT_SIZE_BITS);

impl Slot {
    /// An empty slot.
    pub const EMPTY: Slot = Slot { cap: Cap::Null, prev: 0, next: 0, revocable: false, first_badged: false };
}

/// Slot storage plus the kernel's reaction to a capability being removed.
pub trait CSpaceMemory {
    /// Reads the slot at `at`.
    fn read(&self, at: SlotRef) -> Slot;
    /// Writes the slot at `at`.
    fn write(&mut self, at: SlotRef, slot: Slot);
    /// Called just before `cap` is removed from its slot; `is_final` tells whether it is the
    /// last capability to its object, which is then destroyed (threads blocked on an
    /// endpoint released, a thread stopped, a mapping removed, …). Container objects
    /// (CNodes, TCB slots) are already empty when this is called for them.
    fn finalise(&mut self, cap: &Cap, is_final: bool);
}

/// Address of slot `index` of the CNode at `paddr`.
pub const fn slot_address(paddr: u64, index: u64) -> SlotRef {
    paddr + (index << SLOT_SIZE_BITS)
}

/// seL4's `isMDBParentOf`: whether `child` (which directly follows `parent` or one of its
/// descendants in CDT order) is a descendant of `parent`.
pub fn is_parent_of(parent: &Slot, child: &Slot) -> bool {
    if !parent.revocable || !parent.cap.same_region_as(&child.cap) {
        return false;
    }
    match parent.cap {
        Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } if badge != 0 => {
            badge == child.cap.badge() && !child.first_badged
        }
        _ => true,
    }
}

/// Whether the capability at `at` has CDT children.
pub fn has_children(memory: &impl CSpaceMemory, at: SlotRef) -> bool {
    let slot = memory.read(at);
    slot.next != 0 && is_parent_of(&slot, &memory.read(slot.next))
}

/// Whether the capability at `at` is the last one to its object.
pub fn is_final(memory: &impl CSpaceMemory, at: SlotRef) -> bool {
    let slot = memory.read(at);
    let shares_object = |other: SlotRef| other != 0 && memory.read(other).cap.same_object_as(&slot.cap);
    !shares_object(slot.prev) && !shares_object(slot.next)
}

/// Places `cap` in the empty slot `dest` as the root of a new derivation tree (boot-time
/// capabilities).
pub fn insert_root(memory: &mut impl CSpaceMemory, dest: SlotRef, cap: Cap) {
    memory.write(dest, Slot { cap, prev: 0, next: 0, revocable: true, first_badged: false });
}

/// Places `cap`, derived from the capability at `parent`, in the empty slot `dest`,
/// right after `parent` in CDT order.
pub fn insert_derived(memory: &mut impl CSpaceMemory, parent: SlotRef, dest: SlotRef, cap: Cap, revocable: bool) {
    let mut source = memory.read(parent);
    let first_badged = revocable && cap.badge() != 0;
    let next = source.next;
    memory.write(dest, Slot { cap, prev: parent, next, revocable, first_badged });
    if next != 0 {
        let mut after = memory.read(next);
        after.prev = dest;
        memory.write(next, after);
    }
    source.next = dest;
    memory.write(parent, source);
}

/// Moves the capability at `src` to the empty slot `dest`, replacing it with `cap` (the
/// same capability, or a mutated one), keeping its place in the CDT.
pub fn move_cap(memory: &mut impl CSpaceMemory, src: SlotRef, dest: SlotRef, cap: Cap) {
    let mut slot = memory.read(src);
    slot.cap = cap;
    memory.write(src, Slot::EMPTY);
    memory.write(dest, slot);
    relink(memory, dest, &slot);
}

/// Exchanges the capabilities in two occupied slots, each keeping its CDT position
/// (used by rotate).
pub fn swap(memory: &mut impl CSpaceMemory, a: SlotRef, b: SlotRef) {
    let slot_a = memory.read(a);
    let slot_b = memory.read(b);
    memory.write(a, slot_b);
    memory.write(b, slot_a);
    // Fix links; adjacent slots point at each other and need care.
    let fix = |slot: Slot| -> Slot {
        let map = |r: SlotRef| if r == a { b } else if r == b { a } else { r };
        Slot { prev: map(slot.prev), next: map(slot.next), ..slot }
    };
    let new_a = fix(memory.read(a));
    let new_b = fix(memory.read(b));
    memory.write(a, new_a);
    memory.write(b, new_b);
    relink(memory, a, &new_a);
    relink(memory, b, &new_b);
}

/// Points the neighbours of `slot` (now stored at `at`) back at `at`.
fn relink(memory: &mut impl CSpaceMemory, at: SlotRef, slot: &Slot) {
    if slot.prev != 0 {
        let mut prev = memory.read(slot.prev);
        prev.next = at;
        memory.write(slot.prev, prev);
    }
    if slot.next != 0 {
        let mut next = memory.read(slot.next);
        next.prev = at;
        memory.write(slot.next, next);
    }
}

/// Removes the capability at `at` from the CDT and empties the slot. If it was the first
/// capability with its badge, its copies become first-badged themselves, so that an
/// earlier capability with the same badge does not adopt them as children.
fn unlink(memory: &mut impl CSpaceMemory, at: SlotRef) {
    let slot = memory.read(at);
    if slot.first_badged {
        let mut cursor = slot.next;
        while cursor != 0 {
            let mut child = memory.read(cursor);
            if !is_parent_of(&slot, &child) {
                break;
            }
            child.first_badged = true;
            memory.write(cursor, child);
            cursor = child.next;
        }
    }
    if slot.prev != 0 {
        let mut prev = memory.read(slot.prev);
        prev.next = slot.next;
        memory.write(slot.prev, prev);
    }
    if slot.next != 0 {
        let mut next = memory.read(slot.next);
        next.prev = slot.prev;
        memory.write(slot.next, next);
    }
    memory.write(at, Slot::EMPTY);
}

/// Deletes the capability at `at`. If it is the last capability to a CNode or TCB, every
/// capability stored in that object is deleted first; if it is the last capability to any
/// object, the object is destroyed ([`CSpaceMemory::finalise`]).
pub fn delete(memory: &mut impl CSpaceMemory, at: SlotRef) {
    delete_sparing(memory, at, 0);
}

/// [`delete`], except that the slot `spared` is left in place if it lies in a container
/// being destroyed; returns whether that happened (the caller then deletes it).
fn delete_sparing(memory: &mut impl CSpaceMemory, at: SlotRef, spared: SlotRef) -> bool {
    let slot = memory.read(at);
    if slot.cap == Cap::Null {
        return false;
    }
    let mut orphaned = false;
    if let Some(container) = slot.cap.slot_container() {
        if is_final(memory, at) {
            orphaned = empty_container(memory, container, spared);
        }
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
                if let Some(inner) = memory.read(at).cap.slot_container() {
                    if inner != container && inner != current && is_final(memory, at) && holds_capabilities(memory, inner, container, spared) {
                        current = inner;
                        continue 'descend;
                    }
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
            if let Some((base, count)) = slot.cap.slot_container() {
                if spared >= base && spared < slot_address(base, count) && is_final(memory, at) {
                    met_spared = true;
                }
            }
            // A capability that became the last one to a non-empty container during this
            // round is left for the next round, which empties that container first.
            if let Some(inner) = slot.cap.slot_container() {
                if inner != current && is_final(memory, at) && holds_capabilities(memory, inner, container, spared) {
                    deferred = true;
                    continue;
                }
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
pub fn revoke(memory: &mut impl CSpaceMemory, at: SlotRef) {
    let mut orphaned = false;
    loop {
        let slot = memory.read(at);
        if slot.cap == Cap::Null || slot.next == 0 || !is_parent_of(&slot, &memory.read(slot.next)) {
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

fn low_bits(value: u64, bits: u32) -> u64 {
    if bits >= 64 { value } else { value & ((1u64 << bits) - 1) }
}

fn shift_right(value: u64, bits: u32) -> u64 {
    if bits >= 64 { 0 } else { value >> bits }
}

/// Resolves the top `depth` bits of `cptr` (its low `depth` bits, most significant first)
/// starting at the CNode `root`, as seL4's `resolveAddressBits`. Returns the slot reached
/// and how many bits were left unresolved (non-zero when a non-CNode capability was met
/// before `depth` bits were used).
pub fn resolve(memory: &impl CSpaceMemory, root: Cap, cptr: u64, depth: u32) -> Result<(SlotRef, u32), LookupFailure> {
    if depth == 0 || depth > 64 {
        return Err(LookupFailure::DepthMismatch);
    }
    let mut node = root;
    let mut bits = depth;
    loop {
        let Cap::CNode { paddr, radix, guard_bits, guard } = node else {
            return Err(LookupFailure::InvalidRoot);
        };
        let (radix, guard_bits) = (u32::from(radix), u32::from(guard_bits));
        let level = radix + guard_bits;
        if level == 0 {
            return Err(LookupFailure::InvalidRoot);
        }
        if level > bits {
            return Err(LookupFailure::DepthMismatch);
        }
        if low_bits(shift_right(cptr, bits - guard_bits), guard_bits) != guard {
            return Err(LookupFailure::GuardMismatch);
        }
        let index = low_bits(shift_right(cptr, bits - level), radix);
        let at = slot_address(paddr, index);
        bits -= level;
        if bits == 0 {
            return Ok((at, 0));
        }
        let next = memory.read(at).cap;
        if !matches!(next, Cap::CNode { .. }) {
            return Ok((at, bits));
        }
        node = next;
    }
}

/// Resolves `cptr` with exactly `depth` bits to a slot (for CNode invocations).
pub fn resolve_exact(memory: &impl CSpaceMemory, root: Cap, cptr: u64, depth: u32) -> Result<SlotRef, LookupFailure> {
    match resolve(memory, root, cptr, depth)? {
        (at, 0) => Ok(at),
        _ => Err(LookupFailure::DepthMismatch),
    }
}

#[cfg(test)]
mod tests;
