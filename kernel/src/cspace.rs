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

/// Address of a slot (in the kernel: its physical address); [`SlotRef::NONE`] (0) means
/// "no slot". A newtype, so a slot address cannot be passed where an object's address or a
/// capability pointer is meant, nor the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct SlotRef(pub u64);

impl SlotRef {
    /// No slot.
    pub const NONE: SlotRef = SlotRef(0);

    /// Whether this names no slot.
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }
}

impl core::fmt::LowerHex for SlotRef {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        core::fmt::LowerHex::fmt(&self.0, f)
    }
}

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
    /// The capability is being revoked and its slot lies in an object the revoke destroyed
    /// (see [`revoke_step`]): it is deleted once its descendants are gone.
    pub detached: bool,
}

const _: () = assert!(core::mem::size_of::<Slot>() == 1 << SLOT_SIZE_BITS);

impl Slot {
    /// An empty slot.
    pub const EMPTY: Slot =
        Slot { cap: Cap::Null, prev: SlotRef::NONE, next: SlotRef::NONE, revocable: false, first_badged: false, detached: false };
}

/// Slot storage plus the kernel's reaction to a capability being removed.
pub trait CSpaceMemory {
    /// Reads the slot at `at`.
    fn read(&self, at: SlotRef) -> Slot;
    /// Writes the slot at `at`.
    fn write(&mut self, at: SlotRef, slot: Slot);
    /// Called just before `cap` is removed from its slot; `is_final` tells whether it is the
    /// last capability to its object, which is then destroyed (threads blocked on an
    /// endpoint released, a mapping removed, …). Container objects (CNodes, TCBs) are
    /// already empty when this is called for them: it is then called with the object's
    /// capability as it was created, just before the zombie that replaced it goes.
    fn finalise(&mut self, cap: &Cap, is_final: bool);
    /// Called when the destruction of the CNode or TCB that `cap` (its last capability)
    /// names starts, before its slots are emptied, possibly over several steps: a thread
    /// must stop running here.
    fn destroying(&mut self, cap: &Cap) {
        let _ = cap;
    }
}

/// Address of slot `index` of the CNode at `paddr`.
pub const fn slot_address(paddr: u64, index: u64) -> SlotRef {
    SlotRef(paddr + (index << SLOT_SIZE_BITS))
}

/// seL4's `isMDBParentOf`: whether `child` (which directly follows `parent` or one of its
/// descendants in CDT order) is a descendant of `parent`.
pub fn is_parent_of(parent: &Slot, child: &Slot) -> bool {
    if !parent.revocable || !parent.cap.same_region_as(&child.cap) {
        return false;
    }
    match parent.cap {
        Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } if badge != 0 => badge == child.cap.badge() && !child.first_badged,
        _ => true,
    }
}

/// Whether the capability at `at` has CDT children.
pub fn has_children(memory: &impl CSpaceMemory, at: SlotRef) -> bool {
    let slot = memory.read(at);
    slot.next != SlotRef::NONE && is_parent_of(&slot, &memory.read(slot.next))
}

/// Whether the capability at `at` is the last one to its object.
pub fn is_final(memory: &impl CSpaceMemory, at: SlotRef) -> bool {
    let slot = memory.read(at);
    let shares_object = |other: SlotRef| other != SlotRef::NONE && memory.read(other).cap.same_object_as(&slot.cap);
    !shares_object(slot.prev) && !shares_object(slot.next)
}

/// Places `cap` in the empty slot `dest` as the root of a new derivation tree (boot-time
/// capabilities).
pub fn insert_root(memory: &mut impl CSpaceMemory, dest: SlotRef, cap: Cap) {
    memory.write(dest, Slot { cap, prev: SlotRef::NONE, next: SlotRef::NONE, revocable: true, first_badged: false, detached: false });
}

/// Places `cap`, derived from the capability at `parent`, in the empty slot `dest`,
/// right after `parent` in CDT order.
pub fn insert_derived(memory: &mut impl CSpaceMemory, parent: SlotRef, dest: SlotRef, cap: Cap, revocable: bool) {
    let mut source = memory.read(parent);
    let first_badged = revocable && cap.badge() != 0;
    let next = source.next;
    memory.write(dest, Slot { cap, prev: parent, next, revocable, first_badged, detached: false });
    if next != SlotRef::NONE {
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
        let map = |r: SlotRef| {
            if r == a {
                b
            } else if r == b {
                a
            } else {
                r
            }
        };
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
    if slot.prev != SlotRef::NONE {
        let mut prev = memory.read(slot.prev);
        prev.next = at;
        memory.write(slot.prev, prev);
    }
    if slot.next != SlotRef::NONE {
        let mut next = memory.read(slot.next);
        next.prev = at;
        memory.write(slot.next, next);
    }
}

/// Removes the capability at `at` from the CDT and empties the slot. If it was the first
/// capability with its badge, the capability after it becomes first-badged (seL4's
/// `emptySlot`): copies with that badge follow it contiguously and are not revocable, so
/// the next one is the only one an earlier capability with the same badge could take for
/// its child; [`is_parent_of`] and [`revoke_step`] only look at contiguous runs.
fn unlink(memory: &mut impl CSpaceMemory, at: SlotRef) {
    let slot = memory.read(at);
    if slot.prev != SlotRef::NONE {
        let mut prev = memory.read(slot.prev);
        prev.next = slot.next;
        memory.write(slot.prev, prev);
    }
    if slot.next != SlotRef::NONE {
        let mut next = memory.read(slot.next);
        next.prev = slot.prev;
        next.first_badged |= slot.first_badged;
        memory.write(slot.next, next);
    }
    memory.write(at, Slot::EMPTY);
}

/// Work allowed in one kernel entry for [`delete_step`] and [`revoke_step`], in units: one
/// unit is one slot looked at and, at most, one capability removed, one object destroyed
/// ([`CSpaceMemory::finalise`]) or one zombie started, moved or finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work {
    left: u64,
}

impl Work {
    /// A budget of `units`, at least one: every step makes progress.
    pub const fn new(units: u64) -> Work {
        Work { left: if units == 0 { 1 } else { units } }
    }
    /// Units not used yet.
    pub const fn left(&self) -> u64 {
        self.left
    }
    fn spend(&mut self) {
        self.left = self.left.saturating_sub(1);
    }
    fn exhausted(&self) -> bool {
        self.left == 0
    }
}

/// Units of work the kernel gives [`delete_step`] or [`revoke_step`] in one kernel entry
/// (see docs/architecture.md, "Preemption points").
pub const KERNEL_STEP_WORK: u64 = 64;

/// Units of work [`delete`] and [`revoke`] give each step: they run to completion, but
/// through the same restartable steps as the kernel's preemptible invocations.
pub const WRAPPER_STEP_WORK: u64 = 64;

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The operation is complete.
    Done,
    /// The work budget ran out; the state is consistent, and calling the step again on
    /// `anchor` continues. `anchor` is the slot the step was called on, except when a
    /// deletion destroyed the object holding that slot (a cycle of objects holding each
    /// other's last capabilities): the deletion then continues from another slot of the cycle.
    Preempted {
        /// Slot to continue from.
        anchor: SlotRef,
    },
}

/// The step met a zombie that another deletion is working on from elsewhere (it is not
/// the head of its deletion): that deletion must finish first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InProgress;

/// Deletes the capability at `at`, running [`delete_step`] until it finishes (kernel paths
/// that delete only capabilities which are no containers, host tests, the model checker).
pub fn delete(memory: &mut impl CSpaceMemory, at: SlotRef) {
    let mut anchor = at;
    while let Ok(Progress::Preempted { anchor: next }) = delete_step(memory, anchor, SlotRef::NONE, &mut Work::new(WRAPPER_STEP_WORK)) {
        anchor = next;
    }
}

/// Deletes every descendant of the capability at `at`, running [`revoke_step`] until it
/// finishes.
pub fn revoke(memory: &mut impl CSpaceMemory, at: SlotRef) {
    while let Ok(Progress::Preempted { .. }) = revoke_step(memory, at, &mut Work::new(WRAPPER_STEP_WORK)) {}
}

/// Rewrites the zombie at `at` with `change` applied.
fn update_zombie(memory: &mut impl CSpaceMemory, at: SlotRef, change: impl FnOnce(&mut SlotRef, &mut SlotRef, &mut u32, &mut bool)) {
    let mut slot = memory.read(at);
    if let Cap::Zombie { link, root, remaining, top, .. } = &mut slot.cap {
        change(link, root, remaining, top);
    }
    memory.write(at, slot);
}

/// One bounded step of deleting the capability at `at` (seL4's `cteDelete` with its
/// preemption points). `spared` (0: none) is the slot of a capability being revoked, which
/// is left in place if found in an object being destroyed, and marked `detached` for
/// [`revoke_step`] to delete last.
///
/// The last capability to a CNode or TCB is replaced by a [`Cap::Zombie`]; the object's
/// slots are then emptied from the last one down, one unit of work each. A slot holding the
/// last capability to another CNode or TCB starts the destruction of that object first,
/// without recursion and without walking back down from `at` (which made deleting a chain
/// of n CNodes O(n²)): the new zombie is swapped into `at` (the *head*, `top` set) and the
/// outer one into the slot it came from, which lies in its own object; `link` in each zombie
/// names the slot of the zombie to resume when its object is empty, and `root` in the head
/// names the first zombie of the chain (0: the head is the first) and in the first zombie,
/// when it is not the head, the head's slot (zombies keep the CDT positions of the
/// capabilities they replaced, so a revoke meets the first one and continues from the head
/// through it). Every zombie but the head
/// thus lies inside the object it destroys, unreachable by lookups. A slot holding the head
/// of another, interrupted deletion (a zombie with `top` set) adopts that chain: its head
/// becomes ours, and its first zombie resumes ours when done. Each unit of work removes a
/// capability, empties a slot or starts or finishes an object, so repeated steps do linear
/// work in all.
pub fn delete_step(memory: &mut impl CSpaceMemory, at: SlotRef, spared: SlotRef, work: &mut Work) -> Result<Progress, InProgress> {
    let slot = memory.read(at);
    match slot.cap {
        Cap::Null => return Ok(Progress::Done),
        Cap::Zombie { top: false, .. } => return Err(InProgress),
        Cap::Zombie { .. } => {}
        cap => {
            work.spend();
            let last = is_final(memory, at);
            match cap.to_zombie() {
                Some(mut zombie) if last => {
                    if let Cap::Zombie { top, .. } = &mut zombie {
                        *top = true;
                    }
                    // (Stopping a thread may delete a reply capability elsewhere: read again.)
                    memory.destroying(&cap);
                    let slot = memory.read(at);
                    memory.write(at, Slot { cap: zombie, ..slot });
                }
                _ => {
                    memory.finalise(&cap, last);
                    unlink(memory, at);
                    return Ok(Progress::Done);
                }
            }
        }
    }
    let mut anchor = at;
    loop {
        if work.exhausted() {
            return Ok(Progress::Preempted { anchor });
        }
        work.spend();
        let head = memory.read(anchor).cap;
        let Cap::Zombie { paddr, link, root, remaining, .. } = head else {
            return Ok(Progress::Done);
        };
        if remaining == 0 {
            // The object is empty: destroy it and resume the zombie that started it.
            memory.finalise(&head.zombie_object().unwrap_or(head), true);
            if link == SlotRef::NONE {
                unlink(memory, anchor);
                return Ok(Progress::Done);
            }
            let new_root = if root == link { SlotRef::NONE } else { root };
            let (start, end) = head.region().unwrap_or((0, 0));
            if (start..end).contains(&anchor.0) {
                // The head's slot lies in the object just destroyed: continue from the
                // zombie that started it, where it is.
                unlink(memory, anchor);
                anchor = link;
            } else {
                swap(memory, anchor, link);
                unlink(memory, link);
            }
            update_zombie(memory, anchor, |_, root, _, top| (*root, *top) = (new_root, true));
            if new_root != SlotRef::NONE {
                update_zombie(memory, new_root, |_, root, _, _| *root = anchor);
            }
            continue;
        }
        let index = remaining - 1;
        let inner_at = slot_address(paddr, u64::from(index));
        let inner = memory.read(inner_at);
        if inner.cap == Cap::Null || inner_at == anchor || inner_at == spared {
            if inner_at == spared && inner.cap != Cap::Null {
                memory.write(inner_at, Slot { detached: true, ..inner });
            }
            update_zombie(memory, anchor, |_, _, remaining, _| *remaining = index);
            continue;
        }
        let started = match inner.cap {
            Cap::Zombie { top: false, .. } => return Err(InProgress),
            Cap::Zombie { root: their_root, .. } => {
                // Adopt an interrupted deletion: its first zombie resumes ours when done.
                let their_first = if their_root == SlotRef::NONE { anchor } else { their_root };
                swap(memory, anchor, inner_at);
                update_zombie(memory, their_first, |link, root, _, _| (*link, *root) = (inner_at, SlotRef::NONE));
                true
            }
            cap => match cap.to_zombie() {
                Some(zombie) if is_final(memory, inner_at) => {
                    memory.destroying(&cap);
                    let inner = memory.read(inner_at);
                    memory.write(inner_at, Slot { cap: zombie, ..inner });
                    swap(memory, anchor, inner_at);
                    update_zombie(memory, anchor, |link, _, _, _| *link = inner_at);
                    true
                }
                _ => {
                    let last = is_final(memory, inner_at);
                    memory.finalise(&cap, last);
                    unlink(memory, inner_at);
                    update_zombie(memory, anchor, |_, _, remaining, _| *remaining = index);
                    false
                }
            },
        };
        if started {
            // Our zombie, now in `inner_at`, waits; the head's chain begins at our first.
            let first = if root == SlotRef::NONE { inner_at } else { root };
            let head_slot = if root == SlotRef::NONE { anchor } else { SlotRef::NONE };
            update_zombie(memory, inner_at, |_, root, _, top| (*root, *top) = (head_slot, false));
            update_zombie(memory, anchor, |_, root, _, top| (*root, *top) = (first, true));
        }
    }
}

/// One bounded step of revoking the capability at `at`: deletes its descendants (the run
/// of slots after it for which [`is_parent_of`] holds), continuing any deletion a previous
/// step left unfinished. The capability itself stays — unless it was found in an object
/// that only a descendant kept alive (marked `detached`): then it is deleted last, after
/// all its descendants, since its slot no longer exists.
pub fn revoke_step(memory: &mut impl CSpaceMemory, at: SlotRef, work: &mut Work) -> Result<Progress, InProgress> {
    loop {
        let slot = memory.read(at);
        if slot.cap == Cap::Null {
            return Ok(Progress::Done);
        }
        if slot.next == SlotRef::NONE || !is_parent_of(&slot, &memory.read(slot.next)) {
            if slot.detached {
                let last = is_final(memory, at);
                memory.finalise(&slot.cap, last);
                unlink(memory, at);
            }
            return Ok(Progress::Done);
        }
        if work.exhausted() {
            return Ok(Progress::Preempted { anchor: at });
        }
        // A deletion this revoke started and left unfinished: its first zombie holds the
        // CDT position of the descendant, and names the slot of its head.
        let next = slot.next;
        let target = match memory.read(next).cap {
            Cap::Zombie { top: false, link: SlotRef::NONE, root: head, .. }
                if head != SlotRef::NONE && matches!(memory.read(head).cap, Cap::Zombie { top: true, root, .. } if root == next) =>
            {
                head
            }
            _ => next,
        };
        if let Progress::Preempted { .. } = delete_step(memory, target, at, work)? {
            return Ok(Progress::Preempted { anchor: at });
        }
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
mod reference;
#[cfg(test)]
mod steps;
#[cfg(test)]
pub(crate) mod tests;
