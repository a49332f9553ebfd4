//! The invariants checked after every step (and on the initial state).
//!
//! Each check is a function from a [`Step`] to `Result<(), String>`; [`check`] runs them
//! all in [`Invariant::ALL`] order and reports the first failure. To add one: add a variant
//! to [`Invariant`] (and to `ALL`), write its function, and call it from [`check`].

use crate::memory::{Finalised, Memory};
use crate::op::{Invocation, Op};
use crate::universe::Universe;
use tileos_kernel::cap::Cap;
use tileos_kernel::cspace::{Slot, SlotRef, has_children, is_parent_of, slot_address};

/// The checked properties, numbered as in docs/model-checker.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invariant {
    /// 1. The CDT list is well formed: links are mutual and join occupied slots, empty slots
    ///    carry no links or flags, and the list has no cycles.
    CdtWellFormed,
    /// 2. Rights never grow along derivation: a capability's rights are within its CDT
    ///    parent's, and a badged child of a badged parent has the parent's badge.
    RightsNeverGrow,
    /// 3. Revoke is complete: after `revoke(s)` no descendant of `s` remains and `s` has no
    ///    children.
    RevokeComplete,
    /// 4. Objects never overlap: live objects are pairwise disjoint except for an untyped
    ///    and objects derived from it, every object lies inside its nearest untyped
    ///    ancestor, and below that untyped's watermark.
    NoOverlap,
    /// 5. No dangling capabilities: `finalise` is told the truth about finality, and no
    ///    capability to a destroyed object remains.
    NoDanglingCaps,
    /// 6. Destroyed CNodes are empty: when a CNode's last capability goes, nothing is left
    ///    inside it but capabilities the same step finalises afterwards, and after the
    ///    step every occupied slot lies in a live CNode (or TCB).
    DestroyedCNodesEmpty,
    /// 7. Operations are confined: an operation changes capabilities only in the slots it
    ///    names (delete and revoke only remove, and only the target, its descendants and
    ///    the contents of CNodes destroyed on the way), only delete and revoke finalise,
    ///    and the no-op cases of delete and revoke change nothing at all.
    Confinement,
    /// 8. Derivation is stable: an operation other than delete and revoke leaves every
    ///    capability's set of CDT ancestors as it was (following moved capabilities), and a
    ///    new capability's ancestors are its source's plus, when it is a child, the source;
    ///    delete and revoke never give a surviving capability a new ancestor.
    DerivationStable,
    /// 9. Work is bounded per kernel entry: every entry of a delete or revoke makes at most
    ///    `budget` × `ACCESSES_PER_UNIT` + `ACCESSES_PER_ENTRY` slot accesses, every other
    ///    operation at most `ATOMIC_ACCESSES` (`crate::work`).
    BoundedWork,
    /// 10. Destruction takes effect (what `finalise` and `destroying` do): a thread runs
    ///     exactly while a capability (not a zombie) to its TCB exists; an ASID is live
    ///     exactly while a capability to its PML4 exists; and the mapping invariant of
    ///     `tileos_kernel::vspace` (`check_invariant`) holds over all capabilities, so no
    ///     page-table entry reachable from a live address space outlives the capability
    ///     that accounts for it.
    DestructionTakesEffect,
}

impl Invariant {
    /// Every invariant, in checking order.
    pub const ALL: [Invariant; 10] = [
        Invariant::CdtWellFormed,
        Invariant::RightsNeverGrow,
        Invariant::RevokeComplete,
        Invariant::NoOverlap,
        Invariant::NoDanglingCaps,
        Invariant::DestroyedCNodesEmpty,
        Invariant::Confinement,
        Invariant::DerivationStable,
        Invariant::BoundedWork,
        Invariant::DestructionTakesEffect,
    ];

    /// Number of the invariant (1-based, as in the documentation).
    pub fn number(self) -> usize {
        Invariant::ALL.iter().position(|&i| i == self).map_or(0, |p| p + 1)
    }
}

/// One explored transition (or the initial state, with no operation).
pub struct Step<'a> {
    /// The universe explored.
    pub universe: &'a Universe,
    /// State before the operation (equal to `after` for the initial state).
    pub before: &'a Memory,
    /// The operation and its decoded form, `None` for the initial state.
    pub op: Option<(&'a Op, &'a Invocation)>,
    /// State after the operation.
    pub after: &'a Memory,
    /// Every `finalise` call the operation made, in order.
    pub log: &'a [Finalised],
    /// The operation (a delete or revoke) stopped at a zombie that another deletion works
    /// on, after whatever progress it made (the kernel answers DeletionInProgress).
    pub blocked: bool,
    /// The cost of each kernel entry of the operation (empty for the initial state).
    pub entries: &'a [crate::work::Entry],
}

/// Whether `invocation` deletes: delete and revoke, whole or one step of them.
fn removes(invocation: &Invocation) -> bool {
    matches!(invocation, Invocation::Delete(_) | Invocation::Revoke(_) | Invocation::DeleteStep(_) | Invocation::RevokeStep(_))
}

/// The object a capability keeps alive, seeing through zombies (objects being destroyed).
fn object_of(cap: &Cap) -> Cap {
    cap.zombie_object().unwrap_or(*cap)
}

/// Runs every invariant on `step`; returns the first one that fails, with a description.
pub fn check(step: &Step) -> Result<(), (Invariant, String)> {
    let lists = cdt_well_formed(step.after).map_err(|e| (Invariant::CdtWellFormed, e))?;
    let tree = Tree::new(step.after, &lists);
    rights_never_grow(step, &tree).map_err(|e| (Invariant::RightsNeverGrow, e))?;
    revoke_complete(step, &tree).map_err(|e| (Invariant::RevokeComplete, e))?;
    no_overlap(step, &tree).map_err(|e| (Invariant::NoOverlap, e))?;
    no_dangling_caps(step).map_err(|e| (Invariant::NoDanglingCaps, e))?;
    destroyed_cnodes_empty(step).map_err(|e| (Invariant::DestroyedCNodesEmpty, e))?;
    confinement(step).map_err(|e| (Invariant::Confinement, e))?;
    derivation_stable(step, &tree).map_err(|e| (Invariant::DerivationStable, e))?;
    crate::work::check(step.entries).map_err(|e| (Invariant::BoundedWork, e))?;
    destruction_takes_effect(step).map_err(|e| (Invariant::DestructionTakesEffect, e))
}

/// The paging capabilities of a state, in slot order.
fn paging_caps(memory: &Memory) -> impl Iterator<Item = Cap> + '_ {
    memory.occupied().map(|(_, slot)| slot.cap).filter(|cap| matches!(cap, Cap::Frame { .. } | Cap::PagingTable { .. } | Cap::Pml4 { .. }))
}

/// Invariant 10. The walk of the page tables runs only when the step changed an entry, an
/// ASID or a paging capability (it held on the state before otherwise).
fn destruction_takes_effect(step: &Step) -> Result<(), String> {
    let memory = step.after;
    let caps: Vec<Cap> = memory.occupied().map(|(_, slot)| slot.cap).collect();
    let mut live_tcbs: Vec<u64> = caps.iter().filter_map(|cap| if let Cap::Tcb { paddr } = *cap { Some(paddr) } else { None }).collect();
    live_tcbs.sort_unstable();
    live_tcbs.dedup();
    if memory.running() != live_tcbs {
        return Err(format!("threads running: {:x?}, but live TCBs: {live_tcbs:x?}", memory.running()));
    }
    for (asid, pml4) in memory.tables().asids.into_iter().enumerate().skip(1) {
        let named = caps.iter().any(|cap| matches!(*cap, Cap::Pml4 { paddr, asid: a } if usize::from(a) == asid && paddr == pml4));
        if (pml4 != 0) != named {
            return Err(format!("ASID {asid} maps to PML4 {pml4:#x}, but a capability to it exists: {named}"));
        }
    }
    let unchanged = step.op.is_some() && step.before.tables() == memory.tables() && paging_caps(step.before).eq(paging_caps(memory));
    if unchanged {
        return Ok(());
    }
    tileos_kernel::vspace::check_invariant(memory.tables(), &caps).map_err(|violation| format!("mapping invariant: {violation:?}"))
}

/// Invariant 1. On success returns the CDT lists, each from its head.
fn cdt_well_formed(memory: &Memory) -> Result<Vec<Vec<SlotRef>>, String> {
    let mut occupied = 0;
    for &(at, slot) in memory.slots() {
        if slot.cap == Cap::Null {
            return Err(format!("empty slot {at:#x} keeps links or flags: {slot:?}"));
        }
        occupied += 1;
        for (link, name) in [(slot.next, "next"), (slot.prev, "prev")] {
            if link == SlotRef::NONE {
                continue;
            }
            let linked = memory.peek(link);
            if linked.cap == Cap::Null {
                return Err(format!("{name} of {at:#x} is the empty slot {link:#x}"));
            }
            let back = if name == "next" { linked.prev } else { linked.next };
            if back != at {
                return Err(format!("{name} of {at:#x} is {link:#x}, which does not link back"));
            }
        }
    }
    let mut lists = Vec::new();
    let mut seen = 0;
    for (head, _) in memory.occupied().filter(|(_, slot)| slot.prev == SlotRef::NONE) {
        let mut list = Vec::new();
        let mut at = head;
        while at != SlotRef::NONE {
            if list.len() == occupied {
                return Err(format!("cycle in the list starting at {head:#x}"));
            }
            list.push(at);
            at = memory.peek(at).next;
        }
        seen += list.len();
        lists.push(list);
    }
    if seen != occupied {
        return Err(format!("{} occupied slots lie on a cycle with no head", occupied - seen));
    }
    Ok(lists)
}

/// The derivation tree as the kernel defines it: the descendants of a slot are the run of
/// slots following it in its list for which `is_parent_of` holds.
struct Tree {
    /// Every occupied slot with its CDT parent (the nearest slot whose run contains it).
    parents: Vec<(SlotRef, Option<SlotRef>)>,
}

impl Tree {
    fn new(memory: &Memory, lists: &[Vec<SlotRef>]) -> Tree {
        let mut parents = Vec::new();
        for list in lists {
            let slots: Vec<Slot> = list.iter().map(|&at| memory.peek(at)).collect();
            // run_end[j]: last index of the run of descendants following j.
            let run_end: Vec<usize> = (0..list.len())
                .map(|j| (j + 1..list.len()).take_while(|&k| is_parent_of(&slots[j], &slots[k])).last().unwrap_or(j))
                .collect();
            for i in 0..list.len() {
                let parent = (0..i).rev().find(|&j| run_end[j] >= i).map(|j| list[j]);
                parents.push((list[i], parent));
            }
        }
        parents.sort_unstable();
        Tree { parents }
    }

    /// The tree of a state that already passed invariant 1 (a state before a step).
    fn of_checked(memory: &Memory) -> Tree {
        Tree::new(memory, &cdt_well_formed(memory).expect("states are checked before they are explored"))
    }

    fn parent(&self, at: SlotRef) -> Option<SlotRef> {
        self.parents.binary_search_by_key(&at, |(slot, _)| *slot).ok().and_then(|i| self.parents[i].1)
    }

    /// Ancestors of `at`, nearest first.
    fn ancestors(&self, at: SlotRef) -> impl Iterator<Item = SlotRef> + '_ {
        std::iter::successors(self.parent(at), |&p| self.parent(p))
    }

    fn is_descendant(&self, at: SlotRef, ancestor: SlotRef) -> bool {
        self.ancestors(at).any(|a| a == ancestor)
    }

    fn descendants(&self, ancestor: SlotRef) -> impl Iterator<Item = SlotRef> + '_ {
        self.parents.iter().map(|(at, _)| *at).filter(move |&at| self.is_descendant(at, ancestor))
    }
}

/// Invariant 2.
fn rights_never_grow(step: &Step, tree: &Tree) -> Result<(), String> {
    let name = |at| step.universe.slot_name(at);
    for &(at, parent) in &tree.parents {
        let Some(parent) = parent else { continue };
        let (child, parent_cap) = (step.after.cap(at), step.after.cap(parent));
        if !parent_cap.rights().contains(child.rights()) {
            return Err(format!("{} ({child:?}) has more rights than its parent {} ({parent_cap:?})", name(at), name(parent)));
        }
        if parent_cap.badge() != 0 && child.badge() != 0 && parent_cap.badge() != child.badge() {
            return Err(format!("{} ({child:?}) has another badge than its parent {} ({parent_cap:?})", name(at), name(parent)));
        }
    }
    Ok(())
}

/// Invariant 3.
fn revoke_complete(step: &Step, tree: &Tree) -> Result<(), String> {
    let Some((_, &Invocation::Revoke(target))) = step.op else { return Ok(()) };
    if step.blocked {
        return Ok(());
    }
    let name = |at| step.universe.slot_name(at);
    let before = Tree::of_checked(step.before);
    // A slot that held a descendant may now hold the zombie of an object a deletion still
    // in progress destroys, moved there (its head slot): that zombie is no descendant. A
    // descendant that was itself a zombie must have its object destroyed.
    let survived = |d: SlotRef| match step.after.cap(d) {
        Cap::Null => false,
        Cap::Zombie { .. } => tree.is_descendant(d, target),
        _ => true,
    };
    if let Some(left) = before.descendants(target).find(|&d| survived(d)) {
        return Err(format!("descendant {} ({:?}) of {} survived the revoke", name(left), step.after.cap(left), name(target)));
    }
    let zombie_objects = |memory: &Memory| -> Vec<Cap> { memory.occupied().filter_map(|(_, slot)| slot.cap.zombie_object()).collect() };
    let remaining = zombie_objects(step.after);
    for d in before.descendants(target) {
        if let Some(object) = step.before.cap(d).zombie_object().filter(|object| remaining.contains(object)) {
            return Err(format!("{object:?}, being destroyed as a descendant of {}, survived the revoke", name(target)));
        }
    }
    if step.after.cap(target) != Cap::Null {
        if has_children(step.after, target) {
            return Err(format!("{} still has children after the revoke", name(target)));
        }
        if let Some(left) = tree.descendants(target).next() {
            return Err(format!("{} is a descendant of {} after the revoke", name(left), name(target)));
        }
    }
    Ok(())
}

/// Physical regions of the live objects, one entry per object, with the slots holding
/// capabilities to it.
fn objects(memory: &Memory) -> Vec<(Cap, (u64, u64), Vec<SlotRef>)> {
    let mut objects: Vec<(Cap, (u64, u64), Vec<SlotRef>)> = Vec::new();
    for (at, slot) in memory.occupied() {
        let Some(region) = slot.cap.region() else { continue };
        match objects.iter_mut().find(|(cap, ..)| cap.same_object_as(&slot.cap)) {
            Some((.., slots)) => slots.push(at),
            None => objects.push((slot.cap, region, vec![at])),
        }
    }
    objects
}

fn contains(outer: (u64, u64), inner: (u64, u64)) -> bool {
    outer.0 <= inner.0 && inner.1 <= outer.1
}

/// Invariant 4.
fn no_overlap(step: &Step, tree: &Tree) -> Result<(), String> {
    let name = |at| step.universe.slot_name(at);
    let memory = step.after;
    let objects = objects(memory);
    for (i, (cap, region, slots)) in objects.iter().enumerate() {
        for (other, other_region, other_slots) in &objects[i + 1..] {
            if region.1 <= other_region.0 || other_region.1 <= region.0 {
                continue;
            }
            // Overlap is allowed only between an untyped and objects derived from it.
            let derived_from =
                |inner: &[SlotRef], outer: &[SlotRef]| inner.iter().all(|&at| outer.iter().any(|&o| tree.is_descendant(at, o)));
            let allowed = (matches!(cap, Cap::Untyped { .. }) && contains(*region, *other_region) && derived_from(other_slots, slots))
                || (matches!(other, Cap::Untyped { .. }) && contains(*other_region, *region) && derived_from(slots, other_slots));
            if !allowed {
                return Err(format!("{} ({cap:?}) overlaps {} ({other:?})", name(slots[0]), name(other_slots[0])));
            }
        }
    }
    for (at, slot) in memory.occupied() {
        let Some(region) = slot.cap.region() else { continue };
        let untyped_ancestor = tree.ancestors(at).find(|&a| matches!(memory.cap(a), Cap::Untyped { .. }));
        if let Some(ancestor) = untyped_ancestor {
            let Cap::Untyped { paddr, free_offset, .. } = memory.cap(ancestor) else { unreachable!() };
            let outer = memory.cap(ancestor).region().expect("untyped has a region");
            if !contains(outer, region) {
                return Err(format!("{} ({:?}) lies outside its untyped {}", name(at), slot.cap, name(ancestor)));
            }
            if region.1 > paddr + free_offset {
                return Err(format!(
                    "{} ({:?}) lies above the watermark of its untyped ancestor {} ({:?})",
                    name(at),
                    slot.cap,
                    name(ancestor),
                    memory.cap(ancestor)
                ));
            }
        }
    }
    Ok(())
}

/// Invariant 5.
fn no_dangling_caps(step: &Step) -> Result<(), String> {
    for record in step.log {
        if record.is_final != (record.copies == 1) {
            return Err(format!(
                "finalise({:?}) was told is_final = {} while {} capabilities to the object existed",
                record.cap, record.is_final, record.copies
            ));
        }
        let mut survivors = step.after.occupied().filter(|_| record.is_final);
        if let Some((at, slot)) = survivors.find(|(_, slot)| slot.cap.same_object_as(&record.cap)) {
            return Err(format!(
                "{} ({:?}) names an object destroyed by finalise({:?})",
                step.universe.slot_name(at),
                slot.cap,
                record.cap
            ));
        }
    }
    Ok(())
}

/// Invariant 6.
fn destroyed_cnodes_empty(step: &Step) -> Result<(), String> {
    let name = |at| step.universe.slot_name(at);
    // A CNode may be destroyed while it still holds a capability the same operation
    // deletes afterwards: the head zombie of the deletion, found inside the object it
    // destroys (removed right after), or the capability being revoked (`revoke_step`
    // deletes it last). It must then be finalised later in the step and be gone, or, for
    // the revoked capability, wait marked `detached` for a later step.
    for (i, record) in step.log.iter().enumerate().filter(|(_, r)| r.is_final) {
        // A capability being revoked waits, marked detached, for a later step of its revoke.
        let removed_later = |&(at, held): &(SlotRef, Cap)| {
            (step.log[i + 1..].iter().any(|later| later.cap == held) && step.after.cap(at) == Cap::Null)
                || (step.after.cap(at) == held && step.after.peek(at).detached)
        };
        if let Some((at, held)) = record.leftovers.iter().find(|leftover| !removed_later(leftover)) {
            return Err(format!("{:?} was destroyed still holding {held:?} in {}", record.cap, name(*at)));
        }
    }
    let mut live: Vec<(u64, u64)> = step.universe.cnodes.iter().filter(|c| c.external).map(|c| (c.paddr, 1u64 << c.radix)).collect();
    live.extend(step.after.occupied().filter_map(|(_, slot)| object_of(&slot.cap).slot_container()));
    let inside = |at: SlotRef| live.iter().any(|&(paddr, count)| (paddr..slot_address(paddr, count).0).contains(&at.0));
    match step.after.occupied().find(|&(at, slot)| !inside(at) && !slot.detached) {
        Some((at, slot)) => Err(format!("{} ({:?}) lies in a CNode no capability names", name(at), slot.cap)),
        None => Ok(()),
    }
}

/// Invariant 7.
fn confinement(step: &Step) -> Result<(), String> {
    let Some((op, invocation)) = step.op else { return Ok(()) };
    let name = |at| step.universe.slot_name(at);
    let (before, after) = (step.before, step.after);
    let mut changed: Vec<SlotRef> = before.slots().iter().chain(after.slots()).map(|(at, _)| *at).collect();
    changed.sort_unstable();
    changed.dedup();
    changed.retain(|&at| before.cap(at) != after.cap(at));
    match *invocation {
        Invocation::Delete(_) | Invocation::Revoke(_) | Invocation::DeleteStep(_) | Invocation::RevokeStep(_) => {
            // Removed, or a zombie: an object's destruction started, went on, or moved.
            if let Some(&at) = changed.iter().find(|&&at| !matches!(after.cap(at), Cap::Null | Cap::Zombie { .. })) {
                return Err(format!("{} changed to {:?} instead of being removed", name(at), after.cap(at)));
            }
            let zombies = before.occupied().chain(after.occupied()).filter_map(|(_, slot)| slot.cap.zombie_object());
            let destroyed: Vec<(u64, u64)> =
                step.log.iter().filter(|r| r.is_final).map(|r| r.cap).chain(zombies).filter_map(|cap| cap.slot_container()).collect();
            let in_destroyed = |at: SlotRef| destroyed.iter().any(|&(paddr, count)| (paddr..slot_address(paddr, count).0).contains(&at.0));
            let before_tree = Tree::of_checked(before);
            let targeted = |at: SlotRef| match *invocation {
                Invocation::Delete(target) | Invocation::DeleteStep(target) => at == target,
                Invocation::Revoke(target) | Invocation::RevokeStep(target) => before_tree.is_descendant(at, target),
                _ => unreachable!(),
            };
            // A zombie stands for a destruction an earlier (checked) step committed to; a
            // delete or revoke that meets its chain finishes it, wherever the head is.
            let committed = |at: SlotRef| matches!(before.cap(at), Cap::Zombie { .. });
            if let Some(&at) = changed.iter().find(|&&at| !targeted(at) && !in_destroyed(at) && !committed(at)) {
                return Err(format!("{} removed {} ({:?}), which it does not reach", op.describe(step.universe), name(at), before.cap(at)));
            }
            if step.log.is_empty() && changed.is_empty() && after != before {
                return Err(format!("{} changed links without removing anything", op.describe(step.universe)));
            }
            Ok(())
        }
        _ => {
            if let Some(record) = step.log.first() {
                return Err(format!("{} finalised {:?}", op.describe(step.universe), record.cap));
            }
            let (named, untyped): (Vec<SlotRef>, Option<SlotRef>) = match *invocation {
                Invocation::Insert { dest, .. } => (vec![dest], None),
                Invocation::Move { src, dest, .. } => (vec![src, dest], None),
                Invocation::Swap { a, b } => (vec![a, b], None),
                Invocation::Rotate { src, pivot, dest } => (vec![src, pivot, dest], None),
                Invocation::Retype { untyped, dest, count, .. } => (crate::op::retype_slots(dest, count).collect(), Some(untyped)),
                // A map or unmap changes only the invoked frame capability's mapping.
                Invocation::MapFrame { frame, .. } | Invocation::UnmapFrame(frame) => (vec![frame], None),
                Invocation::MapTable { table, .. } | Invocation::UnmapTable(table) => (vec![table], None),
                Invocation::Delete(_) | Invocation::Revoke(_) | Invocation::DeleteStep(_) | Invocation::RevokeStep(_) => {
                    unreachable!()
                }
            };
            for &at in &changed {
                let watermark_only = Some(at) == untyped && same_but_watermark(&before.cap(at), &after.cap(at));
                if !named.contains(&at) && !watermark_only {
                    return Err(format!(
                        "{} changed {} from {:?} to {:?}",
                        op.describe(step.universe),
                        name(at),
                        before.cap(at),
                        after.cap(at)
                    ));
                }
            }
            Ok(())
        }
    }
}

fn same_but_watermark(before: &Cap, after: &Cap) -> bool {
    match (*before, *after) {
        (Cap::Untyped { paddr, size_bits, device, .. }, Cap::Untyped { paddr: p, size_bits: s, device: d, .. }) => {
            (paddr, size_bits, device) == (p, s, d)
        }
        _ => false,
    }
}

/// Where the capability that was in `at` before `invocation` is afterwards.
fn renamed(invocation: &Invocation, at: SlotRef) -> SlotRef {
    match *invocation {
        Invocation::Move { src, dest, .. } if at == src => dest,
        Invocation::Swap { a, b } if at == a => b,
        Invocation::Swap { a, b } if at == b => a,
        Invocation::Rotate { pivot, dest, .. } if at == pivot => dest,
        Invocation::Rotate { src, pivot, .. } if at == src => pivot,
        _ => at,
    }
}

/// Invariant 8.
fn derivation_stable(step: &Step, tree: &Tree) -> Result<(), String> {
    let Some((op, invocation)) = step.op else { return Ok(()) };
    let name = |at| step.universe.slot_name(at);
    let names = |slots: &[SlotRef]| slots.iter().map(|&at| name(at)).collect::<Vec<_>>().join(", ");
    let before = Tree::of_checked(step.before);
    let removing = removes(invocation);
    for (at, _) in step.before.occupied() {
        let now = renamed(invocation, at);
        // Zombies move between the slots of the objects they destroy and have no children.
        if matches!(step.after.cap(now), Cap::Null | Cap::Zombie { .. }) {
            continue;
        }
        let mut was: Vec<SlotRef> = before.ancestors(at).map(|a| renamed(invocation, a)).collect();
        let mut is: Vec<SlotRef> = tree.ancestors(now).collect();
        was.sort_unstable();
        is.sort_unstable();
        let stable = if removing { is.iter().all(|a| was.contains(a)) } else { is == was };
        if !stable {
            return Err(format!(
                "after {}, the ancestors of {} ({:?}) changed from [{}] to [{}]",
                op.describe(step.universe),
                name(now),
                step.after.cap(now),
                names(&was),
                names(&is)
            ));
        }
    }
    let inserted: Vec<(SlotRef, SlotRef)> = match *invocation {
        Invocation::Insert { src, dest, .. } => vec![(src, dest)],
        Invocation::Retype { untyped, dest, count, .. } => crate::op::retype_slots(dest, count).map(|at| (untyped, at)).collect(),
        _ => Vec::new(),
    };
    for (src, dest) in inserted {
        let mut expected: Vec<SlotRef> = tree.ancestors(src).collect();
        if is_parent_of(&step.after.peek(src), &step.after.peek(dest)) {
            expected.push(src);
        }
        let mut is: Vec<SlotRef> = tree.ancestors(dest).collect();
        expected.sort_unstable();
        is.sort_unstable();
        if is != expected {
            return Err(format!("the new capability in {} has ancestors [{}] instead of [{}]", name(dest), names(&is), names(&expected)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Each invariant rejects a hand-made bad state or transition.

    use super::*;
    use crate::memory::Memory;
    use crate::universe::{CNODE_A, CNODE_B, ENDPOINT, UNTYPED};
    use tileos_abi::object::Rights;
    use tileos_kernel::cspace::{CSpaceMemory, insert_derived, insert_root};

    const EP: Cap = Cap::Endpoint { paddr: ENDPOINT, badge: 0, rights: Rights::ALL };

    fn a(index: u64) -> SlotRef {
        slot_address(CNODE_A, index)
    }

    fn state(universe: &Universe) -> Memory {
        universe.initial_state()
    }

    /// Checks the transition `before` → `after` made by `op` (decoded as `invocation`).
    fn verdict(before: &Memory, op: Op, invocation: Invocation, after: &Memory, log: &[Finalised]) -> Option<Invariant> {
        let universe = Universe::standard();
        check(&Step { universe: &universe, before, op: Some((&op, &invocation)), after, log, blocked: false, entries: &[] })
            .err()
            .map(|(i, _)| i)
    }

    fn static_verdict(memory: &Memory) -> Option<Invariant> {
        let universe = Universe::standard();
        check(&Step { universe: &universe, before: memory, op: None, after: memory, log: &[], blocked: false, entries: &[] })
            .err()
            .map(|(i, _)| i)
    }

    #[test]
    fn the_standard_initial_state_is_good() {
        assert_eq!(static_verdict(&state(&Universe::standard())), None);
    }

    #[test]
    fn broken_links_and_cycles_are_caught() {
        let mut memory = state(&Universe::standard());
        let mut slot = memory.read(a(1));
        slot.next = a(0);
        memory.write(a(1), slot);
        assert_eq!(static_verdict(&memory), Some(Invariant::CdtWellFormed));
        let mut back = memory.read(a(0));
        back.prev = a(1);
        memory.write(a(0), back);
        let mut cycle = memory.read(a(1));
        cycle.prev = a(0);
        memory.write(a(1), cycle);
        let mut closing = memory.read(a(0));
        closing.next = a(1);
        memory.write(a(0), closing);
        assert_eq!(static_verdict(&memory), Some(Invariant::CdtWellFormed), "a headless cycle");
        let mut memory = Memory::default();
        memory.write(a(3), Slot { revocable: true, ..Slot::EMPTY });
        assert_eq!(static_verdict(&memory), Some(Invariant::CdtWellFormed), "an empty slot with flags");
    }

    #[test]
    fn a_child_with_more_rights_or_another_badge_is_caught() {
        let mut memory = Memory::default();
        insert_root(&mut memory, a(0), Cap::Endpoint { paddr: ENDPOINT, badge: 0, rights: Rights::WRITE });
        insert_derived(&mut memory, a(0), a(1), EP, false);
        assert_eq!(static_verdict(&memory), Some(Invariant::RightsNeverGrow));
        let mut memory = Memory::default();
        insert_root(&mut memory, a(0), Cap::Endpoint { paddr: ENDPOINT, badge: 1, rights: Rights::ALL });
        insert_derived(&mut memory, a(0), a(1), Cap::Endpoint { paddr: ENDPOINT, badge: 2, rights: Rights::ALL }, false);
        // Not a CDT child (badges differ), so allowed; a child with the same badge is fine too.
        assert_eq!(static_verdict(&memory), None);
    }

    /// A1 holds an endpoint capability and A2 its child: the state before a revoke of A1.
    fn endpoint_with_a_child() -> Memory {
        let mut memory = Memory::default();
        insert_root(&mut memory, a(1), EP);
        insert_derived(&mut memory, a(1), a(2), EP, false);
        memory
    }

    #[test]
    fn a_surviving_descendant_after_revoke_is_caught() {
        let before = endpoint_with_a_child();
        let op = Op::Revoke { slot: a(1) };
        assert_eq!(verdict(&before, op, Invocation::Revoke(a(1)), &before, &[]), Some(Invariant::RevokeComplete));
    }

    #[test]
    fn a_revoke_that_removes_its_target_and_leaves_a_descendant_is_caught() {
        let before = endpoint_with_a_child();
        // The revoked capability went and its child stayed (now a root of its own).
        let mut after = Memory::default();
        insert_root(&mut after, a(2), EP);
        let op = Op::Revoke { slot: a(1) };
        assert_eq!(verdict(&before, op, Invocation::Revoke(a(1)), &after, &[]), Some(Invariant::RevokeComplete));
    }

    #[test]
    fn a_revoke_may_leave_another_deletions_zombie_where_a_descendant_was() {
        use crate::universe::TCB;
        let before = endpoint_with_a_child();
        // The descendant went; the zombie of a TCB another deletion destroys moved into its
        // slot (no descendant of A1): the revoke is complete.
        let zombie = Cap::Zombie { paddr: TCB, link: SlotRef::NONE, root: SlotRef::NONE, remaining: 0, radix: 0, tcb: true, top: true };
        let mut after = Memory::default();
        insert_root(&mut after, a(1), EP);
        insert_root(&mut after, a(2), zombie);
        let op = Op::Revoke { slot: a(1) };
        assert_eq!(verdict(&before, op, Invocation::Revoke(a(1)), &after, &[]), None);
    }

    #[test]
    fn a_revoked_capability_with_a_child_afterwards_is_caught() {
        let mut before = Memory::default();
        insert_root(&mut before, a(1), EP);
        let mut after = before.clone();
        insert_derived(&mut after, a(1), a(2), EP, false);
        let op = Op::Revoke { slot: a(1) };
        assert_eq!(verdict(&before, op, Invocation::Revoke(a(1)), &after, &[]), Some(Invariant::RevokeComplete));
    }

    #[test]
    fn overlapping_objects_and_objects_above_the_watermark_are_caught() {
        let untyped = Cap::Untyped { paddr: UNTYPED, size_bits: 8, device: false, free_offset: 32, prepared_to: 0, prepared_kind: 0 };
        let endpoint_at = |paddr| Cap::Endpoint { paddr, badge: 0, rights: Rights::ALL };
        let mut memory = Memory::default();
        insert_root(&mut memory, a(0), untyped);
        insert_derived(&mut memory, a(0), a(1), endpoint_at(UNTYPED), true);
        assert_eq!(static_verdict(&memory), None);
        insert_root(&mut memory, a(2), Cap::Notification { paddr: UNTYPED, badge: 0, rights: Rights::ALL });
        assert_eq!(static_verdict(&memory), Some(Invariant::NoOverlap), "two objects share memory");
        let mut memory = Memory::default();
        insert_root(&mut memory, a(0), untyped);
        insert_derived(&mut memory, a(0), a(1), endpoint_at(UNTYPED + 0x40), true);
        assert_eq!(static_verdict(&memory), Some(Invariant::NoOverlap), "above the watermark");
        let mut memory = Memory::default();
        insert_root(&mut memory, a(0), untyped);
        insert_root(&mut memory, a(1), endpoint_at(UNTYPED));
        assert_eq!(static_verdict(&memory), Some(Invariant::NoOverlap), "inside an untyped it is not derived from");
        // The same with the untyped second in slot order (the other side of the check).
        let mut memory = Memory::default();
        insert_root(&mut memory, a(0), endpoint_at(UNTYPED));
        insert_root(&mut memory, a(1), untyped);
        assert_eq!(static_verdict(&memory), Some(Invariant::NoOverlap), "inside a later untyped it is not derived from");
    }

    #[test]
    fn lying_about_finality_or_leaving_dangling_caps_is_caught() {
        let mut memory = Memory::default();
        insert_root(&mut memory, a(1), EP);
        insert_root(&mut memory, a(2), EP);
        let op = Op::Delete { slot: a(3) };
        let record = |is_final, copies| Finalised { cap: EP, is_final, copies, leftovers: Vec::new() };
        let invocation = Invocation::Delete(a(3));
        assert_eq!(verdict(&memory, op, invocation, &memory, &[record(true, 2)]), Some(Invariant::NoDanglingCaps));
        assert_eq!(verdict(&memory, op, invocation, &memory, &[record(false, 1)]), Some(Invariant::NoDanglingCaps));
    }

    #[test]
    fn capabilities_left_in_destroyed_cnodes_are_caught() {
        let universe = Universe::standard();
        let mut memory = state(&universe);
        memory.write(a(2), Slot::EMPTY);
        insert_root(&mut memory, slot_address(CNODE_B, 0), EP);
        assert_eq!(static_verdict(&memory), Some(Invariant::DestroyedCNodesEmpty));
        let before = state(&universe);
        let cnode_b = universe.cnodes[1].cap();
        let leftovers = vec![(slot_address(CNODE_B, 0), EP)];
        let log = [Finalised { cap: cnode_b, is_final: true, copies: 1, leftovers }];
        let mut after = before.clone();
        after.write(a(2), Slot::EMPTY);
        let op = Op::Delete { slot: a(2) };
        assert_eq!(verdict(&before, op, Invocation::Delete(a(2)), &after, &log), Some(Invariant::DestroyedCNodesEmpty));
    }

    #[test]
    fn a_leftover_counts_as_removed_only_if_a_later_finalise_took_it_or_it_waits_detached() {
        let universe = Universe::standard();
        let (cnode_a, cnode_b) = (universe.cnodes[0].cap(), universe.cnodes[1].cap());
        let b0 = slot_address(CNODE_B, 0);
        let destroyed = |cap, leftovers| [Finalised { cap, is_final: true, copies: 1, leftovers }];
        let delete = |slot| (Op::Delete { slot }, Invocation::Delete(slot));
        // B's last capability (A2) goes; B0's endpoint is gone too, but no finalise took it.
        let mut before = Memory::default();
        insert_root(&mut before, a(2), cnode_b);
        insert_root(&mut before, b0, EP);
        let (op, invocation) = delete(a(2));
        let log = destroyed(cnode_b, vec![(b0, EP)]);
        assert_eq!(verdict(&before, op, invocation, &Memory::default(), &log), Some(Invariant::DestroyedCNodesEmpty));
        // B holds a capability to itself: its own finalise does not count as a later one.
        let mut before = Memory::default();
        insert_root(&mut before, a(2), cnode_b);
        insert_root(&mut before, b0, cnode_b);
        let log = destroyed(cnode_b, vec![(b0, cnode_b)]);
        assert_eq!(verdict(&before, op, invocation, &Memory::default(), &log), Some(Invariant::DestroyedCNodesEmpty));
        // A (kept addressable from outside) is destroyed through A3 holding A1's endpoint:
        // the endpoint may stay only marked detached (a revoke deletes it in a later step).
        let mut before = Memory::default();
        insert_root(&mut before, a(1), EP);
        insert_root(&mut before, a(3), cnode_a);
        let mut after = Memory::default();
        insert_root(&mut after, a(1), EP);
        let (op, invocation) = delete(a(3));
        let log = destroyed(cnode_a, vec![(a(1), EP)]);
        assert_eq!(verdict(&before, op, invocation, &after, &log), Some(Invariant::DestroyedCNodesEmpty));
        let mut slot = after.read(a(1));
        slot.detached = true;
        after.write(a(1), slot);
        assert_eq!(verdict(&before, op, invocation, &after, &log), None);
    }

    #[test]
    fn a_capability_losing_its_parent_is_caught() {
        let before = endpoint_with_a_child();
        // Moving the original while giving it a badge, as a naive mutate would.
        let badged = Cap::Endpoint { paddr: ENDPOINT, badge: 5, rights: Rights::ALL };
        let mut after = before.clone();
        tileos_kernel::cspace::move_cap(&mut after, a(1), a(3), badged);
        let op = Op::Mutate { src: a(1), dest: a(3), data: 0 };
        let invocation = Invocation::Move { src: a(1), dest: a(3), cap: badged };
        assert_eq!(verdict(&before, op, invocation, &after, &[]), Some(Invariant::DerivationStable));
        let mut plain = before.clone();
        tileos_kernel::cspace::move_cap(&mut plain, a(1), a(3), EP);
        let invocation = Invocation::Move { src: a(1), dest: a(3), cap: EP };
        assert_eq!(verdict(&before, Op::Move { src: a(1), dest: a(3) }, invocation, &plain, &[]), None);
    }

    /// A retype of one endpoint from A0's untyped into A3, the untyped's watermark after it
    /// at `free_offset`.
    fn endpoint_retype_into_a3(free_offset: u64) -> Invocation {
        Invocation::Retype {
            untyped: a(0),
            dest: a(3),
            count: 1,
            kind: tileos_abi::object::ObjectType::Endpoint,
            user_bits: 0,
            first: UNTYPED,
            object_size_bits: 5,
            device: false,
            free_offset,
        }
    }

    /// An untyped capability at `UNTYPED` of `size_bits`, its watermark at `free_offset`.
    fn untyped_at(size_bits: u8, free_offset: u64) -> Cap {
        Cap::Untyped { paddr: UNTYPED, size_bits, device: false, free_offset, prepared_to: 0, prepared_kind: 0 }
    }

    #[test]
    fn a_new_capability_placed_elsewhere_in_the_tree_is_caught() {
        // A copy of A1 put in A3 as a root: not A1's child.
        let mut before = Memory::default();
        insert_root(&mut before, a(1), EP);
        let mut after = before.clone();
        insert_root(&mut after, a(3), EP);
        let copy = Op::Copy { src: a(1), dest: a(3) };
        let insert = Invocation::Insert { src: a(1), dest: a(3), cap: EP, revocable: false };
        assert_eq!(verdict(&before, copy, insert, &after, &[]), Some(Invariant::DerivationStable));
        // A retype from A0 whose endpoint lands under A1, a smaller untyped inside A0.
        let endpoint = Cap::Endpoint { paddr: UNTYPED, badge: 0, rights: Rights::ALL };
        let mut before = Memory::default();
        insert_root(&mut before, a(0), untyped_at(8, 256));
        insert_derived(&mut before, a(0), a(1), untyped_at(6, 32), true);
        let mut after = before.clone();
        insert_derived(&mut after, a(1), a(3), endpoint, true);
        let retype = Op::Retype { untyped: a(0), object: 0, dest: a(3) };
        let invocation = endpoint_retype_into_a3(256);
        assert_eq!(verdict(&before, retype, invocation, &after, &[]), Some(Invariant::DerivationStable));
        let mut right = before.clone();
        insert_derived(&mut right, a(0), a(3), Cap::Endpoint { paddr: UNTYPED + 0x40, badge: 0, rights: Rights::ALL }, true);
        assert_eq!(verdict(&before, retype, invocation, &right, &[]), None, "the same retype placed under A0");
    }

    #[test]
    fn changes_outside_the_named_slots_are_caught() {
        let universe = Universe::standard();
        let before = state(&universe);
        let mut after = before.clone();
        after.write(a(1), Slot::EMPTY);
        let op = Op::Delete { slot: a(2) };
        assert_eq!(verdict(&before, op, Invocation::Delete(a(2)), &after, &[]), Some(Invariant::Confinement));
        let copy = Op::Copy { src: a(1), dest: a(3) };
        let insert = Invocation::Insert { src: a(1), dest: a(3), cap: EP, revocable: false };
        let mut after = before.clone();
        insert_derived(&mut after, a(1), a(3), EP, false);
        assert_eq!(verdict(&before, copy, insert, &after, &[]), None);
        let mut slot = after.read(a(0));
        slot.cap = Cap::Untyped { paddr: UNTYPED, size_bits: 8, device: false, free_offset: 256, prepared_to: 0, prepared_kind: 0 };
        after.write(a(0), slot);
        assert_eq!(verdict(&before, copy, insert, &after, &[]), Some(Invariant::Confinement), "a copy touched the untyped");
    }

    #[test]
    fn a_retype_changes_only_its_untypeds_watermark() {
        let universe = Universe::standard();
        let before = state(&universe);
        let retype = Op::Retype { untyped: a(0), object: 0, dest: a(3) };
        let invocation = endpoint_retype_into_a3(32);
        let with_untyped = |cap| {
            let mut after = before.clone();
            let mut slot = after.read(a(0));
            slot.cap = cap;
            after.write(a(0), slot);
            after
        };
        assert_eq!(verdict(&before, retype, invocation, &with_untyped(untyped_at(8, 32)), &[]), None, "the watermark moved");
        assert_eq!(
            verdict(&before, retype, invocation, &with_untyped(untyped_at(9, 0)), &[]),
            Some(Invariant::Confinement),
            "the size changed"
        );
    }

    #[test]
    fn an_entry_over_its_work_bound_is_caught() {
        use crate::memory::Accesses;
        use crate::work::{ACCESSES_PER_ENTRY, ACCESSES_PER_UNIT, Entry};
        let universe = Universe::standard();
        let memory = state(&universe);
        let op = Op::Delete { slot: a(3) };
        let invocation = Invocation::Delete(a(3));
        let entry = |writes| Entry { budget: Some(1), accesses: Accesses { reads: ACCESSES_PER_UNIT + ACCESSES_PER_ENTRY, writes } };
        let verdict = |entries: &[Entry]| {
            let step = Step {
                universe: &universe,
                before: &memory,
                op: Some((&op, &invocation)),
                after: &memory,
                log: &[],
                blocked: false,
                entries,
            };
            check(&step).err().map(|(i, _)| i)
        };
        assert_eq!(verdict(&[entry(0)]), None);
        assert_eq!(verdict(&[entry(0), entry(1)]), Some(Invariant::BoundedWork));
    }

    #[test]
    fn a_destroyed_object_left_in_effect_is_caught() {
        use crate::universe::{PDPT, PML4, TCB};
        use tileos_kernel::vspace::{PRESENT, PagingMemory, USER, WRITABLE};
        // A thread runs with no capability to its TCB left (not stopped by `destroying`).
        let mut memory = Memory::default();
        memory.start_thread(TCB);
        assert_eq!(static_verdict(&memory), Some(Invariant::DestructionTakesEffect));
        // An ASID outlives its PML4's last capability.
        let mut memory = Memory::default();
        memory.set_asid(1, PML4);
        assert_eq!(static_verdict(&memory), Some(Invariant::DestructionTakesEffect));
        // A PML4 entry outlives the PDPT's last capability (the mapping invariant).
        insert_root(&mut memory, a(3), Cap::Pml4 { paddr: PML4, asid: 1 });
        assert_eq!(static_verdict(&memory), None);
        memory.tables_mut().set_entry(PML4, 0, PDPT | PRESENT | WRITABLE | USER);
        assert_eq!(static_verdict(&memory), Some(Invariant::DestructionTakesEffect));
    }

    #[test]
    fn the_mapping_invariant_is_checked_after_a_step_that_changed_only_entries_or_only_capabilities() {
        use crate::universe::{PDPT, PML4};
        use tileos_kernel::cap::{Mapping, TableLevel};
        use tileos_kernel::vspace::{PRESENT, PagingMemory, USER, WRITABLE};
        let mut base = Memory::default();
        base.set_asid(1, PML4);
        insert_root(&mut base, a(3), Cap::Pml4 { paddr: PML4, asid: 1 });
        // Only an entry changes: a PML4 entry to a PDPT no capability accounts for.
        let mut forged = base.clone();
        forged.tables_mut().set_entry(PML4, 0, PDPT | PRESENT | WRITABLE | USER);
        let unmap = Op::UnmapFrame { frame: a(1) };
        assert_eq!(verdict(&base, unmap, Invocation::UnmapFrame(a(1)), &forged, &[]), Some(Invariant::DestructionTakesEffect));
        // Only a capability changes: the PDPT's capability goes, its entry stays.
        let mut mapped = forged.clone();
        let pdpt = Cap::PagingTable { paddr: PDPT, level: TableLevel::Pdpt, mapping: Mapping { asid: 1, vaddr: 0 } };
        insert_root(&mut mapped, a(2), pdpt);
        assert_eq!(static_verdict(&mapped), None);
        let delete = Op::Delete { slot: a(2) };
        assert_eq!(verdict(&mapped, delete, Invocation::Delete(a(2)), &forged, &[]), Some(Invariant::DestructionTakesEffect));
        // Neither changes: the walk is skipped (it held before), even over a bad state.
        assert_eq!(verdict(&forged, unmap, Invocation::UnmapFrame(a(1)), &forged, &[]), None);
    }

    #[test]
    fn destroying_the_thread_stops_it_and_tears_down_its_address_space() {
        use crate::universe::TCB;
        let universe = Universe::standard();
        let memory = state(&universe);
        assert_eq!((memory.running(), memory.tables().entries.len(), memory.tables().asids[1] != 0), (&[TCB][..], 4, true));
        // Deleting A2 destroys B, whose B3 held the TCB's only capability: the thread stops,
        // its frame, tables and PML4 are finalised by the kernel's vspace code.
        let after = crate::run_trace(&universe, &[Op::Delete { slot: a(2) }]).unwrap();
        assert_eq!((after.running(), after.tables().entries.len(), after.tables().asids[1]), (&[][..], 0, 0));
        assert_eq!(after.occupied().count(), 2, "only A0 and A1 are left");
        // A copy of the TCB's capability keeps the thread running.
        let copy = Op::Copy { src: slot_address(CNODE_B, 3), dest: a(3) };
        let after = crate::run_trace(&universe, &[copy, Op::Delete { slot: a(2) }]).unwrap();
        assert_eq!((after.running(), after.tables().entries.len()), (&[TCB][..], 4));
    }
}
