//! The refinement link between the kernel's capability code and the Coq model
//! (`proofs/coq/Kernel.v`), checked by differential testing.
//!
//! [`abstract_state`] maps a state of the kernel's real CDT code (the model checker's
//! [`Memory`]: slots, CDT links, untyped watermarks) to a state of the Coq model in the line
//! format of `tileos-coq-step` (the extracted `Kernel.kstep` with its driver,
//! `proofs/coq/extract`), and [`op_line`] maps an [`Op`] to the model's operation. After
//! every operation of a random sequence, [`check_random`] compares what the kernel did
//! ([`explore::apply`], which also checks the model checker's invariants) with what the
//! extracted Coq step does to the abstraction of the state before, both printed by
//! [`observe`] and the driver in the same form: one line per occupied slot, CNodes and
//! objects named by physical address, with type, size, rights, badge and untyped watermark,
//! or `none` and the error code of a refusal.
//!
//! What is compared, exactly: acceptance (the kernel's decoder refuses exactly when the model
//! refuses), the error code of every refusal (the kernel's `InvocationError` against the one
//! `KernelErrors.kstep_code` names, `proofs/coq/KernelErrors.v`), and the contents of every
//! slot afterwards, untyped watermarks included, and the CDT ancestors of every slot once the
//! model's are restricted to the slots the kernel marks revocable
//! ([`restrict_to_kernel_parents`]). Preempted deletions are compared too: one-unit
//! deletions (`DeleteStep`, `RevokeStep`: `Kernel.v`'s `KDeleteStep`, `KRevokeStep`) and every
//! operation in a state they leave, zombies of CNodes' deletions included (abstracted as the
//! model's `zombie` or `zombieinner` capability, its `remaining` as the model's count),
//! with the kernel's `DeletionInProgress`, chains of zombies included (a deletion started or
//! met inside another: `unswapped` moves the kernel's swapped zombies back to the model's
//! places). What is not: CNode guards (the model has none); kernel states with a TCB's zombie
//! or a detached slot, or a chain `unswapped` cannot follow (no counterpart in the model: a
//! one-unit deletion that leaves one is not compared, [`Tally::skipped`]); and slots of CNodes
//! more than one level below
//! the thread's root (the model resolves one level, so the generator names no such slot).
//! Labels are not in the abstraction; bindings only as the thread's root and the other
//! external CNodes' (threads outside the model).
//!
//! Frame map and unmap (since 2026-12-05): the driver runs `KernelMap.kmstep`
//! (`proofs/coq/KernelMap.v`), `Kernel.kstep` with the kernel's mapping state around it.
//! The abstraction adds the live ASIDs, the 2 MiB regions a page table covers and the frame
//! mappings, read from the page tables ([`vspace::walk`]), and the mapping each frame
//! capability records; [`observe`] prints the mappings and the records after the slots, so
//! they are compared after every operation. [`map_ops`] generates the maps and unmaps.
//!
//! Paging-structure map and unmap (since 2026-12-06): `KernelMap.v`'s `KMapTable` and
//! `KUnmapTable`. The abstraction gives every structure entered in a live address space
//! (level, region, object: `cover`), the level of every paging structure below a root
//! (`level`) and the mapping each paging-structure capability records (`trec`);
//! [`observe`] prints the structures entered (`table`) and those records after the frame
//! lines. [`table_ops`] generates the maps and unmaps, in [`Universe::tables`].

use crate::explore::{self, Outcome};
use crate::memory::Memory;
use crate::op::Op;
use crate::universe::Universe;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use tileos_abi::error::InvocationError;
use tileos_abi::object::{ObjectType, Rights, SLOT_SIZE_BITS};
use tileos_kernel::cap::tcb_slot;
use tileos_kernel::cap::{Cap, TableLevel};
use tileos_kernel::cspace::{self, CSpaceMemory, SlotRef};
use tileos_kernel::transfer;
use tileos_kernel::vspace::{self, Translation, USER_TOP};

/// An object as the abstraction sees it: physical base, model type name and size in bytes;
/// `depth` tells apart an untyped and the untyped of the same size retyped from it (the
/// number of such CDT ancestors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Object {
    base: u64,
    kind: &'static str,
    size: u64,
    depth: usize,
}

/// A capability as the abstraction sees it.
struct CapView {
    object: Object,
    /// The model's capability type: the object's, or `zombie` for a zombie (whose object
    /// is the CNode it destroys).
    kind: &'static str,
    /// Read, write, grant, grant-reply as four 0/1 digits.
    rights: String,
    badge: u64,
    /// The untyped watermark, for an untyped capability; the slots left to look at
    /// (`remaining`), for a zombie (the model keeps both in `kwm` of the object).
    watermark: Option<u64>,
}

fn rights_digits(rights: Rights) -> String {
    [Rights::READ, Rights::WRITE, Rights::GRANT, Rights::GRANT_REPLY].iter().map(|r| if rights.contains(*r) { '1' } else { '0' }).collect()
}

/// The abstraction of one capability, or why it has none.
fn view(cap: &Cap) -> Result<CapView, String> {
    let all = || rights_digits(Rights::ALL);
    let plain = |base, kind, size_bits: u32| CapView {
        object: Object { base, kind, size: 1 << size_bits, depth: 0 },
        kind,
        rights: all(),
        badge: 0,
        watermark: None,
    };
    Ok(match *cap {
        Cap::Untyped { paddr, size_bits, free_offset, .. } => {
            CapView { watermark: Some(free_offset), ..plain(paddr, "untyped", u32::from(size_bits)) }
        }
        Cap::Endpoint { paddr, badge, rights } => CapView {
            object: Object { base: paddr, kind: "endpoint", size: 1 << ObjectType::Endpoint.size_bits(0), depth: 0 },
            kind: "endpoint",
            rights: rights_digits(rights),
            badge,
            watermark: None,
        },
        Cap::Notification { paddr, badge, rights } => CapView {
            object: Object { base: paddr, kind: "notification", size: 1 << ObjectType::Notification.size_bits(0), depth: 0 },
            kind: "notification",
            rights: rights_digits(rights),
            badge,
            watermark: None,
        },
        Cap::CNode { paddr, radix, .. } => plain(paddr, "cnode", u32::from(radix) + SLOT_SIZE_BITS),
        Cap::Tcb { paddr } => plain(paddr, "tcb", ObjectType::Tcb.size_bits(0)),
        Cap::Frame { paddr, size_bits, rights, .. } => {
            CapView { rights: rights_digits(rights), ..plain(paddr, "frame", u32::from(size_bits)) }
        }
        Cap::PagingTable { paddr, level: TableLevel::PageTable, .. } => plain(paddr, "pagetable", 12),
        // The model's page tables: a PML4 (the root `KernelMap.v` maps frames under, told
        // apart by its ASID) and the structures between.
        Cap::PagingTable { paddr, .. } | Cap::Pml4 { paddr, .. } => plain(paddr, "pagetable", 12),
        // A zombie of a CNode's deletion (`Kernel.v`'s zombie): its object is the CNode, its
        // count the slots left (`unswapped` gives its place). A TCB's zombie has no
        // counterpart in the model.
        Cap::Zombie { paddr, remaining, radix, tcb: false, .. } => {
            CapView { kind: "zombie", watermark: Some(u64::from(remaining)), ..plain(paddr, "cnode", u32::from(radix) + SLOT_SIZE_BITS) }
        }
        other => return Err(format!("the Coq model has no counterpart of {other:?}")),
    })
}

/// The model's object type name and size in bytes of a retype's objects.
fn retype_object(kind: ObjectType, size_bits: u32) -> Result<(&'static str, u64), String> {
    let name = match kind {
        ObjectType::Untyped => "untyped",
        ObjectType::Endpoint => "endpoint",
        ObjectType::Notification => "notification",
        ObjectType::CNode => "cnode",
        ObjectType::Tcb => "tcb",
        ObjectType::Frame4K | ObjectType::Frame2M => "frame",
        ObjectType::PageTable => "pagetable",
        other => return Err(format!("the Coq model cannot retype {other:?}")),
    };
    Ok((name, 1 << kind.size_bits(size_bits)))
}

/// The capability in every occupied slot, in CDT order with its CDT ancestors, each untyped
/// told apart from a same-sized untyped it was retyped from ([`Object::depth`]).
fn views(memory: &Memory) -> Result<Vec<(SlotRef, CapView, Vec<SlotRef>)>, String> {
    let (place, inner) = unswapped(memory)?;
    let place = |at: SlotRef| place.get(&at).copied().unwrap_or(at);
    let mut views = Vec::new();
    for (at, ancestors) in cdt_ancestors(memory) {
        if memory.peek(at).detached {
            return Err(format!(
                "slot {at:#x} is marked detached (a revoke's target inside an object it destroys): the Coq model has none"
            ));
        }
        let mut cap = view(&memory.cap(at))?;
        if cap.kind == "zombie" && inner.contains(&place(at)) {
            cap.kind = "zombieinner";
        }
        if cap.object.kind == "untyped" {
            cap.object.depth = ancestors.iter().filter(|a| view(&memory.cap(**a)).is_ok_and(|v| v.object == cap.object)).count();
        }
        views.push((place(at), cap, ancestors.into_iter().map(place).collect()));
    }
    Ok(views)
}

/// Where the model has the zombies of the kernel's chains of deletions. The kernel keeps the
/// zombie whose CNode it is emptying (the head, `top`) in the slot the deletion was called on
/// and each other zombie of the chain in the slot the next inner CNode's last capability was
/// in (`cspace::delete_step` swaps them, `link` naming the next outer one); `Kernel.v` keeps
/// every zombie in the slot of the capability it replaced. For a chain from the head at `p0`
/// through its links `p1`, …, `pk`, the capability the kernel has in `pk` is the model's in
/// `p0`, and the one in `p(i-1)` the model's in `pi`. Every other slot stays. The zombies the
/// model has in `p1`, …, `pk` are part of an outer deletion (`Kernel.v`'s `ZombieInnerObj`,
/// the second set returned). A zombie that is not the head of a chain nor on one is refused.
#[allow(clippy::type_complexity)]
fn unswapped(memory: &Memory) -> Result<(std::collections::BTreeMap<SlotRef, SlotRef>, std::collections::BTreeSet<SlotRef>), String> {
    let mut place = std::collections::BTreeMap::new();
    let mut inner = std::collections::BTreeSet::new();
    let occupied: Vec<SlotRef> = memory.occupied().map(|(at, _)| at).collect();
    for &head in &occupied {
        let Cap::Zombie { top: true, link, .. } = memory.cap(head) else { continue };
        let mut path = vec![head];
        let mut next = link;
        while next != SlotRef::NONE {
            if path.len() > occupied.len() || path.contains(&next) {
                return Err(format!("the chain of zombies from {head:#x} loops at {next:#x}"));
            }
            let Cap::Zombie { top: false, link, .. } = memory.cap(next) else {
                return Err(format!("the chain of zombies from {head:#x} reaches {next:#x}, which holds {:?}", memory.cap(next)));
            };
            path.push(next);
            next = link;
        }
        if let Some(&last) = path.last().filter(|_| path.len() > 1) {
            place.insert(last, head);
            for pair in path.windows(2) {
                place.insert(pair[0], pair[1]);
                inner.insert(pair[1]);
            }
        }
    }
    for &at in &occupied {
        if matches!(memory.cap(at), Cap::Zombie { top: false, .. }) && !place.contains_key(&at) {
            return Err(format!("the zombie in {at:#x} is on no chain of a deletion"));
        }
    }
    Ok((place, inner))
}

/// The objects of a state: every object a capability names, plus the universe's external
/// CNodes (a thread's CSpace root), sorted; a model object id is the position plus one.
fn objects(universe: &Universe, memory: &Memory) -> Result<Vec<Object>, String> {
    let mut objects: Vec<Object> = universe
        .cnodes
        .iter()
        .filter(|c| c.external)
        .map(|c| Object { base: c.paddr, kind: "cnode", size: 1 << (u32::from(c.radix) + SLOT_SIZE_BITS), depth: 0 })
        .collect();
    objects.extend(views(memory)?.into_iter().map(|(_, cap, _)| cap.object));
    objects.sort_unstable();
    objects.dedup();
    Ok(objects)
}

/// The CNode (or TCB: its own slots, the CSpace root's in slot 0) holding slot `at` and the
/// slot's index in it.
fn locate(objects: &[Object], at: SlotRef) -> Result<(usize, u64), String> {
    objects
        .iter()
        .position(|o| (o.kind == "cnode" || o.kind == "tcb") && (o.base..o.base + o.size).contains(&at.0))
        .map(|i| (i + 1, (at.0 - objects[i].base) >> SLOT_SIZE_BITS))
        .ok_or_else(|| format!("slot {at:#x} lies in no CNode or TCB of the state"))
}

/// The slots of `memory` in CDT order (each list from its head), with their CDT ancestors
/// by the kernel's rule: `s` is an ancestor of `x` when `x` lies in the run after `s` for
/// which [`cspace::is_parent_of`] holds.
fn cdt_ancestors(memory: &Memory) -> Vec<(SlotRef, Vec<SlotRef>)> {
    let mut order = Vec::new();
    for (at, slot) in memory.occupied() {
        if slot.prev == SlotRef::NONE {
            let mut cursor = at;
            while cursor != SlotRef::NONE {
                order.push(cursor);
                cursor = memory.read(cursor).next;
            }
        }
    }
    let mut ancestors: Vec<(SlotRef, Vec<SlotRef>)> = order.iter().map(|&at| (at, Vec::new())).collect();
    for i in 0..order.len() {
        let parent = memory.read(order[i]);
        for j in i + 1..order.len() {
            if !cspace::is_parent_of(&parent, &memory.read(order[j])) {
                break;
            }
            ancestors[j].1.insert(0, order[i]);
        }
    }
    ancestors
}

/// The parent of object `o` among `objects`, as an index: the smallest untyped that contains
/// the whole of it (for a same-sized untyped, the one it was retyped from, the shallower).
fn parent_of(objects: &[Object], o: &Object) -> Option<usize> {
    objects
        .iter()
        .enumerate()
        .filter(|(_, u)| {
            u.kind == "untyped"
                && u.base <= o.base
                && o.base + o.size <= u.base + u.size
                && (u.size > o.size || (u.size == o.size && u.depth < o.depth))
        })
        .min_by_key(|(_, u)| (u.size, std::cmp::Reverse(u.depth)))
        .map(|(j, _)| j)
}

/// The abstraction of a kernel state: the Coq model's state in `tileos-coq-step`'s input
/// format, with thread 0 bound to the universe's first external CNode.
pub fn abstract_state(universe: &Universe, memory: &Memory) -> Result<String, String> {
    let objects = objects(universe, memory)?;
    let id = |object: Object| objects.iter().position(|o| *o == object).map(|i| i + 1).expect("every object was collected");
    let mut text = String::new();
    for (i, o) in objects.iter().enumerate() {
        let parent = parent_of(&objects, o).map_or("-".to_string(), |j| (j + 1).to_string());
        text.push_str(&format!("obj {} {} {} {} {}\n", i + 1, o.kind, o.base, o.size, parent));
    }
    let views = views(memory)?;
    let node = |at: SlotRef| views.iter().position(|(s, _, _)| *s == at).map(|i| i + 1).expect("every occupied slot is in a CDT list");
    for (at, cap, anc) in &views {
        let (cnode, index) = locate(&objects, *at)?;
        let anc = if anc.is_empty() { "-".to_string() } else { anc.iter().map(|s| node(*s).to_string()).collect::<Vec<_>>().join(",") };
        text.push_str(&format!("cte {cnode} {index} {} {} {} {} {} {anc}\n", id(cap.object), cap.kind, cap.rights, cap.badge, node(*at)));
        if let Some(watermark) = cap.watermark {
            text.push_str(&format!("wm {} {watermark}\n", id(cap.object)));
        }
    }
    let root = universe.cnodes.iter().find(|c| c.external).ok_or("the universe has no external CNode (thread root)")?;
    text.push_str(&format!("bind 0 {}\n", locate(&objects, root.slot(0))?.0));
    // Every other external CNode is the root of a thread outside the model (an id no object
    // has), which keeps it alive as the kernel's thread does.
    for (k, other) in universe.cnodes.iter().filter(|c| c.external).skip(1).enumerate() {
        text.push_str(&format!("bind {} {}\n", OUTSIDE_THREADS + k, locate(&objects, other.slot(0))?.0));
    }
    // The mapping state of `KernelMap.v`: live ASIDs, the 2 MiB regions a page table covers,
    // the frame mappings (from the page tables) and the mapping each frame capability records.
    let object_id = |base: u64, kind: &'static str| {
        objects.iter().position(|o| o.base == base && o.kind == kind).map(|i| i + 1).ok_or_else(|| format!("no {kind} object at {base:#x}"))
    };
    for (asid, pml4) in live_asids(memory) {
        let root = object_id(pml4, "pagetable")?;
        text.push_str(&format!("asid {asid} {root}\n"));
        for translation in translations(memory, pml4) {
            match translation {
                // Every structure entered: its level, region (first address / its span) and
                // object (`KernelMap.v`'s `kcover`).
                Translation::Table { vaddr, parent_level, paddr } => {
                    let level = parent_level - 1;
                    text.push_str(&format!("cover {root} {level} {} {}\n", vaddr >> span_bits(level), object_id(paddr, "pagetable")?));
                }
                Translation::Frame { vaddr, paddr, size_bits: 12, writable } => {
                    text.push_str(&format!("kmap {root} {vaddr} {} {}\n", object_id(paddr, "frame")?, u8::from(writable)));
                }
                Translation::Frame { .. } => return Err("the refinement test maps 4 KiB frames only".into()),
                _ => {}
            }
        }
    }
    for (at, _, _) in &views {
        if let Cap::Frame { mapping, .. } = memory.cap(*at)
            && mapping.is_mapped()
        {
            text.push_str(&format!("rec {} {} {}\n", node(*at), mapping.asid, mapping.vaddr));
        }
    }
    // The level of every paging structure below a root, and the mapping each capability to
    // one records (`KernelMap.v`'s `klevel`, `ktrec`).
    let mut levels = std::collections::BTreeSet::new();
    for (at, _, _) in &views {
        if let Cap::PagingTable { paddr, level, mapping } = memory.cap(*at) {
            levels.insert((object_id(paddr, "pagetable")?, level as u32));
            if mapping.is_mapped() {
                text.push_str(&format!("trec {} {} {}\n", node(*at), mapping.asid, mapping.vaddr));
            }
        }
    }
    for (object, level) in levels {
        text.push_str(&format!("level {object} {level}\n"));
    }
    text.push_str(&format!("next {} {}\n", objects.len() + 1, views.len() + 1));
    Ok(text)
}

/// The first id of the threads outside the model that hold the universe's external CNodes
/// other than the model thread's root (far above every object id of the test).
const OUTSIDE_THREADS: usize = 1_000_000;

/// log2 of the bytes a paging structure of `level` covers (`KernelMap.v`'s `span`).
fn span_bits(level: u32) -> u32 {
    12 + 9 * level
}

/// The live ASIDs and their PML4s.
fn live_asids(memory: &Memory) -> Vec<(usize, u64)> {
    memory.tables().asids.into_iter().enumerate().skip(1).filter(|&(_, pml4)| pml4 != 0).collect()
}

/// Every present entry of the user half of the PML4 at `pml4` (`vspace::walk`).
fn translations(memory: &Memory, pml4: u64) -> Vec<Translation> {
    let mut all = Vec::new();
    vspace::walk(memory.tables(), pml4, &mut |translation| {
        all.push(translation);
        true
    });
    all
}

/// The frame mappings of `memory`, the mapping each frame capability records, the paging
/// structures entered in the address spaces and the mapping each paging-structure
/// capability records, in the driver's output form (`map ROOT_BASE VA FRAME_BASE
/// WRITABLE`, `rec CNODE_BASE INDEX ASID VA`, `table ROOT_BASE LEVEL REGION
/// STRUCTURE_BASE`, `trec CNODE_BASE INDEX ASID VA`), each kind sorted.
fn mapping_lines(memory: &Memory, objects: &[Object]) -> Result<Vec<String>, String> {
    let mut maps = Vec::new();
    let mut tables = Vec::new();
    for (_, pml4) in live_asids(memory) {
        for translation in translations(memory, pml4) {
            match translation {
                Translation::Frame { vaddr, paddr, writable, .. } => {
                    maps.push(format!("map {pml4} {vaddr} {paddr} {}", u8::from(writable)))
                }
                Translation::Table { vaddr, parent_level, paddr } => {
                    let level = parent_level - 1;
                    tables.push(format!("table {pml4} {level} {} {paddr}", vaddr >> span_bits(level)));
                }
                Translation::Supervisor { .. } => {}
            }
        }
    }
    let mut trecs = Vec::new();
    for (at, slot) in memory.occupied() {
        if let Cap::PagingTable { mapping, .. } = slot.cap
            && mapping.is_mapped()
        {
            let (cnode, index) = locate(objects, at)?;
            trecs.push(format!("trec {} {index} {} {}", objects[cnode - 1].base, mapping.asid, mapping.vaddr));
        }
    }
    tables.sort();
    trecs.sort();
    let mut recs = Vec::new();
    for (at, slot) in memory.occupied() {
        if let Cap::Frame { mapping, .. } = slot.cap
            && mapping.is_mapped()
        {
            let (cnode, index) = locate(objects, at)?;
            recs.push(format!("rec {} {index} {} {}", objects[cnode - 1].base, mapping.asid, mapping.vaddr));
        }
    }
    maps.sort();
    recs.sort();
    Ok(maps.into_iter().chain(recs).chain(tables).chain(trecs).collect())
}

/// The model's operation for `op` on the state `memory`, acting as thread 0.
pub fn op_line(universe: &Universe, memory: &Memory, op: &Op) -> Result<String, String> {
    let objects = objects(universe, memory)?;
    let slot = |at: SlotRef| locate(&objects, at).map(|(cnode, index)| format!("{cnode} {index}"));
    Ok(match *op {
        Op::Copy { src, dest } => format!("copy 0 {} {}", slot(src)?, slot(dest)?),
        Op::Mint { src, dest, params } => {
            let mint = universe.mints[params];
            format!("mint 0 {} {} {} {}", slot(src)?, slot(dest)?, rights_digits(mint.rights), mint.data)
        }
        Op::Move { src, dest } => format!("move 0 {} {}", slot(src)?, slot(dest)?),
        Op::Mutate { src, dest, data } => format!("mutate 0 {} {} {}", slot(src)?, slot(dest)?, universe.mutate_data[data]),
        Op::Rotate { src, pivot, dest } => format!("rotate 0 {} {} {}", slot(src)?, slot(pivot)?, slot(dest)?),
        Op::Delete { slot: at } => format!("delete 0 {}", slot(at)?),
        Op::Revoke { slot: at } => format!("revoke 0 {}", slot(at)?),
        Op::Retype { untyped, object, dest } => {
            let (kind, size_bits) = universe.retypes[object];
            let (name, size) = retype_object(kind, size_bits)?;
            format!("retype 0 {} {name} {size} {}", slot(untyped)?, slot(dest)?)
        }
        Op::RetypeAt { untyped, object, node, offset, count } => {
            // The destinations by CNode and index, also beyond the CNode's slots (the model
            // refuses those as the kernel does, with RangeError). A CNode the state does not
            // hold is named by an id no object has.
            let (kind, size_bits) = universe.retypes[object];
            let (name, size) = retype_object(kind, size_bits)?;
            let cnode = objects.iter().position(|o| o.kind == "cnode" && o.base == node).map_or(objects.len() + 1, |i| i + 1);
            let dests: String = (offset..offset.saturating_add(count)).map(|index| format!(" {cnode} {index}")).collect();
            format!("retype 0 {} {name} {size}{dests}", slot(untyped)?)
        }
        Op::MapFrame { frame, vspace, vaddr } => format!("mapframe 0 {} {} {vaddr}", slot(frame)?, slot(vspace)?),
        Op::UnmapFrame { frame } => format!("unmapframe 0 {}", slot(frame)?),
        Op::MapTable { table, vspace, vaddr } => format!("maptable 0 {} {} {vaddr}", slot(table)?, slot(vspace)?),
        Op::UnmapTable { table } => format!("unmaptable 0 {}", slot(table)?),
        Op::DeleteStep { slot: at } => format!("deletestep 0 {}", slot(at)?),
        Op::RevokeStep { slot: at } => format!("revokestep 0 {}", slot(at)?),
        Op::IssueIoSpace { .. } => return Err("the Coq model's IOSpace operations (IoSpace.v) are not extracted".into()),
    })
}

/// The observable result, in the driver's output form: `none` and the error code for a
/// refused operation (`InvocationError`'s name), or `state` and one sorted line per
/// occupied slot.
pub fn observe(universe: &Universe, after: Result<&Memory, InvocationError>) -> Result<String, String> {
    let memory = match after {
        Ok(memory) => memory,
        Err(error) => return Ok(format!("none {error:?}\n")),
    };
    let objects = objects(universe, memory)?;
    let place = |at: SlotRef| locate(&objects, at).map(|(cnode, index)| format!("{}:{index}", objects[cnode - 1].base));
    let mut lines = Vec::new();
    for (at, cap, ancestors) in views(memory)? {
        let (cnode, index) = locate(&objects, at)?;
        let watermark = cap.watermark.map_or("-".to_string(), |w| w.to_string());
        let ancestors = ancestors.into_iter().map(place).collect::<Result<Vec<_>, _>>()?;
        lines.push(format!(
            "slot {} {index} {} {} {} {} {} {watermark} {}",
            objects[cnode - 1].base,
            cap.object.base,
            cap.kind,
            cap.object.size,
            cap.rights,
            cap.badge,
            ancestor_list(ancestors)
        ));
    }
    lines.sort();
    lines.extend(mapping_lines(memory, &objects)?);
    Ok(format!("state\n{}", lines.iter().map(|l| format!("{l}\n")).collect::<String>()))
}

/// A slot's ancestors as the driver prints them: `CNODE_BASE:INDEX`, sorted,
/// comma-separated, `-` for none.
fn ancestor_list(mut ancestors: Vec<String>) -> String {
    if ancestors.is_empty() {
        return "-".into();
    }
    ancestors.sort();
    ancestors.join(",")
}

/// The Coq model's result (`tileos-coq-step`'s output) as the kernel's CDT can show it:
/// each slot's model ancestors restricted to the slots that are occupied and revocable in
/// the kernel's state after the step (`after`).
///
/// The restriction is the abstraction relation of the CDT: `Kernel.v` makes every derived
/// capability a child of its source, the kernel only the copies of a revocable capability
/// (`cspace::is_parent_of` needs a revocable parent), so a copy of a copy is, in the
/// kernel, a sibling of its source. Every kernel ancestor is revocable, so a kernel that
/// drops a parent link the model has, or adds one, differs after the restriction; a kernel
/// that marks the wrong slots revocable is not caught by it.
pub fn restrict_to_kernel_parents(model: &str, after: Option<&Memory>) -> Result<String, String> {
    let Some(memory) = after else { return Ok(model.to_string()) };
    let revocable = |place: &str| -> Result<bool, String> {
        let (base, index) = place.split_once(':').ok_or_else(|| format!("malformed ancestor {place} in the model's output"))?;
        let number = |n: &str| n.parse::<u64>().map_err(|_| format!("malformed ancestor {place} in the model's output"));
        let at = cspace::slot_address(number(base)?, number(index)?);
        let (place, _) = unswapped(memory)?;
        Ok(memory.occupied().any(|(s, slot)| place.get(&s).copied().unwrap_or(s) == at && slot.revocable))
    };
    let mut out = String::new();
    for line in model.lines() {
        match line.rsplit_once(' ') {
            Some((head, ancestors)) if line.starts_with("slot ") => {
                let mut kept = Vec::new();
                for place in ancestors.split(',').filter(|a| *a != "-") {
                    if revocable(place)? {
                        kept.push(place.to_string());
                    }
                }
                out.push_str(&format!("{head} {}\n", ancestor_list(kept)));
            }
            _ => out.push_str(&format!("{line}\n")),
        }
    }
    Ok(out)
}

/// A running `tileos-coq-step` (the extracted Coq step function).
pub struct CoqStep {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl CoqStep {
    /// Starts the driver at `path`.
    pub fn start(path: &std::path::Path) -> Result<CoqStep, String> {
        let mut child = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let input = child.stdin.take().ok_or("driver has no stdin")?;
        let output = BufReader::new(child.stdout.take().ok_or("driver has no stdout")?);
        Ok(CoqStep { child, input, output })
    }

    /// The Coq model's result of `op` (a line of [`op_line`]) on `state` (of
    /// [`abstract_state`]), in [`observe`]'s form.
    pub fn step(&mut self, state: &str, op: &str) -> Result<String, String> {
        writeln!(self.input, "{state}op {op}").and_then(|()| self.input.flush()).map_err(|e| format!("writing to the driver: {e}"))?;
        let mut result = String::new();
        loop {
            let mut line = String::new();
            if self.output.read_line(&mut line).map_err(|e| format!("reading from the driver: {e}"))? == 0 {
                return Err(format!("the driver stopped (its error is on stderr) after: {result}"));
            }
            if line == "end\n" {
                return Ok(result);
            }
            result.push_str(&line);
        }
    }
}

impl Drop for CoqStep {
    fn drop(&mut self) {
        // The driver holds no state worth keeping: stop it and reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a random differential run saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Operations the kernel carried out (and the model too, with the same result), by kind
    /// (`Copy`, `Mint`, …).
    pub applied: std::collections::BTreeMap<&'static str, usize>,
    /// Operations both refused, with the same error code, by code (`FailedLookup`, …).
    pub refused: std::collections::BTreeMap<String, usize>,
    /// One-unit deletions (`DeleteStep`, `RevokeStep`) the kernel carried out into a state
    /// the abstraction has no counterpart of (a TCB's zombie, a detached slot): not
    /// compared, and the sequence goes on from the state before.
    pub skipped: usize,
    /// Operations compared (applied or refused by both) from a state holding a zombie.
    pub from_zombie: usize,
    /// Of those, the ones from a state holding a chain of zombies (a deletion started or met
    /// inside another).
    pub from_chain: usize,
}

impl Tally {
    /// Operations applied, of every kind.
    pub fn applied_total(&self) -> usize {
        self.applied.values().sum()
    }

    /// Operations refused, with every code.
    pub fn refused_total(&self) -> usize {
        self.refused.values().sum()
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Tally) {
        for (kind, n) in &other.applied {
            *self.applied.entry(kind).or_default() += n;
        }
        for (code, n) in &other.refused {
            *self.refused.entry(code.clone()).or_default() += n;
        }
        self.skipped += other.skipped;
        self.from_zombie += other.from_zombie;
        self.from_chain += other.from_chain;
    }
}

/// The kind of an operation, as counted in [`Tally::applied`].
fn kind(op: &Op) -> &'static str {
    match op {
        Op::Copy { .. } => "Copy",
        Op::Mint { .. } => "Mint",
        Op::Move { .. } => "Move",
        Op::Mutate { .. } => "Mutate",
        Op::Rotate { src, dest, .. } if src == dest => "Swap",
        Op::Rotate { .. } => "Rotate",
        Op::Delete { .. } => "Delete",
        Op::Revoke { .. } => "Revoke",
        Op::DeleteStep { .. } => "DeleteStep",
        Op::RevokeStep { .. } => "RevokeStep",
        Op::IssueIoSpace { .. } => "IssueIoSpace",
        Op::Retype { .. } => "Retype",
        Op::RetypeAt { count: 1, .. } => "RetypeAt",
        Op::RetypeAt { .. } => "RetypeMany",
        Op::MapFrame { .. } => "MapFrame",
        Op::UnmapFrame { .. } => "UnmapFrame",
        Op::MapTable { .. } => "MapTable",
        Op::UnmapTable { .. } => "UnmapTable",
    }
}

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// The CNodes the model's thread can name slots of, as (address, slot count): its root
/// CNode and the CNodes it holds a capability to (one level).
fn model_cnodes(universe: &Universe, memory: &Memory) -> Vec<(u64, u64)> {
    let Some(root) = universe.cnodes.iter().find(|c| c.external) else { return Vec::new() };
    let count = 1u64 << root.radix;
    let mut cnodes = vec![(root.paddr, count)];
    for index in 0..count {
        if let Cap::CNode { paddr, radix, .. } = memory.cap(root.slot(index)) {
            cnodes.push((paddr, 1 << radix));
        }
    }
    cnodes.sort_unstable();
    cnodes.dedup();
    cnodes
}

/// The slots the model's thread can name (`model_cnodes`), that the kernel can address
/// too.
pub fn model_slots(universe: &Universe, memory: &Memory) -> Vec<SlotRef> {
    let addressable = universe.addressable_slots(memory);
    let mut slots: Vec<SlotRef> = model_cnodes(universe, memory)
        .into_iter()
        .flat_map(|(paddr, count)| (0..count).map(move |index| cspace::slot_address(paddr, index)))
        .filter(|at| addressable.binary_search(at).is_ok())
        .collect();
    slots.sort_unstable();
    slots.dedup();
    slots
}

/// Retypes by CNode and index ([`Op::RetypeAt`]) from every untyped among `slots`, of every
/// object of the universe, into the thread's root CNode and every CNode the root holds a
/// capability to: one and two objects at the CNode's first slot, at its last slot (two
/// objects run past the end: RangeError) and at the index one past the end (RangeError).
pub fn retype_at_ops(universe: &Universe, memory: &Memory, slots: &[SlotRef]) -> Vec<Op> {
    let cnodes = model_cnodes(universe, memory);
    let mut ops = Vec::new();
    for &untyped in slots.iter().filter(|&&at| matches!(memory.cap(at), Cap::Untyped { .. })) {
        for object in 0..universe.retypes.len() {
            for &(node, count) in &cnodes {
                for offset in [0, count - 1, count] {
                    ops.extend([1, 2].map(|n| Op::RetypeAt { untyped, object, node, offset, count: n }));
                }
            }
        }
    }
    ops
}

/// The addresses the frame maps of the refinement test use: 0 (in use in
/// [`Universe::frames`]), 0x1000 (free, covered by a page table), 0x800 (unaligned),
/// 0x20_0000 (no page table), the last page of the user half, and the first page beyond it.
pub const MAP_VADDRS: [u64; 6] = [0, 0x1000, 0x800, 0x20_0000, USER_TOP - 0x1000, USER_TOP];

/// Frame maps ([`Op::MapFrame`]) and unmaps, when a frame or a PML4 capability is among
/// `slots` (none otherwise, so the universes without an address space draw what they drew
/// before): from every slot holding a frame capability, into the address space of every
/// slot holding a PML4 capability at each of [`MAP_VADDRS`] and into every other slot at
/// 0x1000 (refused: InvalidCapability or FailedLookup); from every other slot (refused:
/// an empty or wrong invoked capability), one map into the first slot at 0x1000; an unmap
/// of every slot.
pub fn map_ops(memory: &Memory, slots: &[SlotRef]) -> Vec<Op> {
    if !slots.iter().any(|&at| matches!(memory.cap(at), Cap::Frame { .. } | Cap::Pml4 { .. })) {
        return Vec::new();
    }
    let mut ops = Vec::new();
    for &frame in slots {
        ops.push(Op::UnmapFrame { frame });
        if matches!(memory.cap(frame), Cap::Frame { .. }) {
            for &vspace in slots {
                if matches!(memory.cap(vspace), Cap::Pml4 { .. }) {
                    ops.extend(MAP_VADDRS.map(|vaddr| Op::MapFrame { frame, vspace, vaddr }));
                } else {
                    ops.push(Op::MapFrame { frame, vspace, vaddr: 0x1000 });
                }
            }
        } else if let Some(&vspace) = slots.first() {
            ops.push(Op::MapFrame { frame, vspace, vaddr: 0x1000 });
        }
    }
    ops
}

/// The addresses the paging-structure maps of the refinement test use, for
/// [`Universe::tables`]: 0 (every level entered there), 0x20_1000 (the second 2 MiB, not
/// page-aligned: the kernel rounds it down), 0x4000_0000 (the second GiB), 0x80_0000_0000
/// (the second 512 GiB), the last page of the user half, and the first address beyond it.
pub const TABLE_VADDRS: [u64; 6] = [0, 0x20_1000, 0x4000_0000, 0x80_0000_0000, USER_TOP - 0x1000, USER_TOP];

/// Paging-structure maps ([`Op::MapTable`]) and unmaps, when a paging-structure capability
/// (not a PML4's) is among `slots` (none otherwise, so the universes without one draw what
/// they drew before): from every slot holding one, into the address space of every slot
/// holding a PML4 capability at each of [`TABLE_VADDRS`] and into every other slot at
/// 0x20_0000 (refused: InvalidCapability or FailedLookup); from every other slot (refused:
/// an empty or wrong invoked capability, a PML4's included), one map into the first slot at
/// 0x20_0000; an unmap of every slot.
pub fn table_ops(memory: &Memory, slots: &[SlotRef]) -> Vec<Op> {
    if !slots.iter().any(|&at| matches!(memory.cap(at), Cap::PagingTable { .. })) {
        return Vec::new();
    }
    let mut ops = Vec::new();
    for &table in slots {
        ops.push(Op::UnmapTable { table });
        if matches!(memory.cap(table), Cap::PagingTable { .. }) {
            for &vspace in slots {
                if matches!(memory.cap(vspace), Cap::Pml4 { .. }) {
                    ops.extend(TABLE_VADDRS.map(|vaddr| Op::MapTable { table, vspace, vaddr }));
                } else {
                    ops.push(Op::MapTable { table, vspace, vaddr: 0x20_0000 });
                }
            }
        } else if let Some(&vspace) = slots.first() {
            ops.push(Op::MapTable { table, vspace, vaddr: 0x20_0000 });
        }
    }
    ops
}

/// One draw in this many of [`check_random`] is a one-unit deletion of a CNode capability or
/// a zombie.
pub const STEP_ODDS: usize = 6;

/// `op` from `memory` on both sides, compared: the kernel library's result (the state after,
/// or the refusal's code) against the extracted Coq step applied to the abstraction of
/// `memory` (acceptance, slots, CDT ancestors restricted to the kernel's revocable slots,
/// mappings, or the code). The kernel's result when they are equal; `None` for a one-unit
/// deletion whose kernel state after has no abstraction (a TCB's zombie, a detached slot),
/// not compared; an error naming both sides when they differ or the kernel breaks an
/// invariant.
pub fn compare_step(
    universe: &Universe,
    memory: &Memory,
    op: &Op,
    coq: &mut CoqStep,
) -> Result<Option<Result<Memory, InvocationError>>, String> {
    let after = match explore::apply(universe, memory, &universe.addressable_slots(memory), op) {
        Ok(Outcome::Applied(after, _)) => Ok(after),
        Ok(Outcome::Rejected(rejection)) => Err(rejection.error),
        Err((invariant, detail)) => return Err(format!("invariant {invariant:?} broken: {detail}")),
    };
    let one_unit = matches!(op, Op::DeleteStep { .. } | Op::RevokeStep { .. });
    if one_unit && after.as_ref().is_ok_and(|after| abstract_state(universe, after).is_err()) {
        return Ok(None);
    }
    let expected = observe(universe, after.as_ref().map_err(|e| *e))?;
    let model = coq.step(&abstract_state(universe, memory)?, &op_line(universe, memory, op)?)?;
    let model = restrict_to_kernel_parents(&model, after.as_ref().ok())?;
    if model != expected {
        return Err(format!(
            "the kernel and the Coq model differ\nkernel:\n{expected}coq:\n{model}state before:\n{}",
            abstract_state(universe, memory)?
        ));
    }
    Ok(Some(after))
}

/// Runs `steps` random operations from `universe`'s initial state, comparing the kernel's
/// result with the Coq model's after every one. Fails with the trace and both results at
/// the first difference.
///
/// Operations are drawn uniformly from `Op::all` and [`retype_at_ops`]. Without `preempted`,
/// one-unit deletions (`DeleteStep`, `RevokeStep`: one kernel entry of a CNode Delete or
/// Revoke given one unit of work, `Kernel.v`'s `KDeleteStep` and `KRevokeStep`) are left out,
/// as before they were compared (the same sequences for the same seed). With `preempted` they
/// are drawn too, and one draw in [`STEP_ODDS`] is instead a one-unit deletion of a slot
/// holding a CNode capability or a zombie, when there is one, so that zombies arise, are
/// continued and are met by the operations after them. A one-unit deletion that leaves a kernel state the abstraction has no
/// counterpart of (a TCB's zombie, a detached slot: [`abstract_state`] fails on it) is
/// not compared and not kept: it is counted in [`Tally::skipped`] and the sequence goes on
/// from the state before it.
pub fn check_random(universe: &Universe, seed: u64, steps: usize, preempted: bool, coq: &mut CoqStep) -> Result<Tally, String> {
    let mut rng = Rng(seed.max(1));
    let mut memory = explore::check_initial(universe).map_err(|v| v.report(universe))?;
    let mut trace: Vec<String> = Vec::new();
    let mut tally = Tally::default();
    for _ in 0..steps {
        let slots = model_slots(universe, &memory);
        let mut ops: Vec<Op> = Op::all(universe, &slots)
            .into_iter()
            .filter(|op| preempted || !matches!(op, Op::DeleteStep { .. } | Op::RevokeStep { .. }))
            .collect();
        ops.extend(retype_at_ops(universe, &memory, &slots));
        // A third of the draws are maps and unmaps when there are any (and the random
        // sequence is the one it was before when there are none).
        let mut maps = map_ops(&memory, &slots);
        maps.extend(table_ops(&memory, &slots));
        // One-unit deletions of a CNode capability or a zombie, which start or continue a
        // preempted deletion of a CNode.
        let containers: Vec<Op> = ops
            .iter()
            .copied()
            .filter(|op| match *op {
                Op::DeleteStep { slot } | Op::RevokeStep { slot } => matches!(memory.cap(slot), Cap::CNode { .. } | Cap::Zombie { .. }),
                _ => false,
            })
            .collect();
        let op = if !maps.is_empty() && rng.below(3) == 0 {
            maps[rng.below(maps.len())]
        } else if preempted && !containers.is_empty() && rng.below(STEP_ODDS) == 0 {
            containers[rng.below(containers.len())]
        } else {
            ops[rng.below(ops.len())]
        };
        trace.push(op.describe(universe));
        let after = match compare_step(universe, &memory, &op, coq) {
            Ok(Some(after)) => after,
            Ok(None) => {
                trace.pop();
                tally.skipped += 1;
                continue;
            }
            Err(difference) => return Err(format!("seed {seed}, operation {}: {difference}\ntrace: {trace:#?}", trace.len())),
        };
        if memory.occupied().any(|(_, slot)| matches!(slot.cap, Cap::Zombie { .. })) {
            tally.from_zombie += 1;
        }
        if memory.occupied().any(|(_, slot)| matches!(slot.cap, Cap::Zombie { top: false, .. })) {
            tally.from_chain += 1;
        }
        match after {
            Ok(after) => {
                *tally.applied.entry(kind(&op)).or_default() += 1;
                memory = after;
            }
            Err(error) => *tally.refused.entry(format!("{error:?}")).or_default() += 1,
        }
    }
    Ok(tally)
}

/// An IPC or CSpace-binding operation of the refinement test (`Kernel.v`'s `KSend`,
/// `KReply`, `KBind`), by the model's thread 0 on slots it can name ([`IpcOp::BindBy`]: by
/// a TCB's own thread). The other thread of a send or reply shares thread 0's CSpace (the
/// model's thread 0 is both), so its endpoint capability and receive slot are slots of that
/// CSpace too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpcOp {
    /// A message on the endpoint of the capability at `ep` (the sender's), naming the
    /// capability at `src`, to a receiver waiting through its capability at `rep` with
    /// receive slot `dst`.
    Send {
        /// The sender's endpoint capability.
        ep: SlotRef,
        /// The capability the message names.
        src: SlotRef,
        /// The receiver's endpoint capability.
        rep: SlotRef,
        /// The receiver's receive slot.
        dst: SlotRef,
    },
    /// A reply from the server that received on its capability at `ep`, naming the
    /// capability at `src`, to the caller whose capability at `cep` it called through, with
    /// receive slot `dst`.
    Reply {
        /// The server's endpoint capability.
        ep: SlotRef,
        /// The capability the reply names.
        src: SlotRef,
        /// The caller's endpoint capability.
        cep: SlotRef,
        /// The caller's receive slot.
        dst: SlotRef,
    },
    /// TcbConfigure's CSpace part: the TCB of the capability at `tcb` gets the CNode of the
    /// capability at `cn` as its CSpace root.
    Bind {
        /// The TCB capability.
        tcb: SlotRef,
        /// The CNode capability.
        cn: SlotRef,
    },
    /// As [`IpcOp::Bind`], by the thread of the TCB at `thread` (its physical address)
    /// instead of the model's thread 0: the slots are named through that thread's own CSpace
    /// root (the CNode capability in its TCB's CSpace slot) and the CNodes the root holds a
    /// capability to (one level, as `Kernel.v`'s `reach`). A thread that re-binds itself
    /// from a slot of a root only its TCB holds reaches TcbConfigure's "source destroyed by
    /// the emptying" answer ([`ipc_apply`]).
    BindBy {
        /// The acting thread's TCB.
        thread: u64,
        /// The TCB capability.
        tcb: SlotRef,
        /// The CNode capability.
        cn: SlotRef,
    },
}

/// The kernel's answer to an [`IpcOp`] ([`ipc_apply`]).
#[derive(Clone, Debug)]
pub enum IpcOutcome {
    /// Carried out and answered success: the state after.
    Done(Memory),
    /// Refused, the state unchanged (the model's `KUnnamed`: the kernel refuses these in its
    /// system-call, TCB and IPC layers, not with a CNode invocation's code).
    Refused,
    /// Answered with an error after the state changed: TcbConfigure, having emptied the
    /// TCB's slots, found its CSpace source gone (`transfer::changed_source`) and answers
    /// `InvalidCapability` naming argument 1 (`invoke/tcb.rs`: `wrong_cap(0)`); the code, the
    /// argument and the state after.
    FailedAfter(InvocationError, u64, Memory),
}

impl IpcOutcome {
    /// The state after, if the operation changed or kept it (`None` for a refusal).
    pub fn after(&self) -> Option<&Memory> {
        match self {
            IpcOutcome::Done(after) | IpcOutcome::FailedAfter(_, _, after) => Some(after),
            IpcOutcome::Refused => None,
        }
    }

    /// The answer in the driver's output form: [`observe`]'s for a state, `none unnamed` for a
    /// refusal, and for an error after a change `none CODE ARGUMENT` followed by the state.
    pub fn observed(&self, universe: &Universe) -> Result<String, String> {
        match self {
            IpcOutcome::Done(after) => observe(universe, Ok(after)),
            IpcOutcome::Refused => Ok("none unnamed\n".into()),
            IpcOutcome::FailedAfter(code, argument, after) => Ok(format!("none {code:?} {argument}\n{}", observe(universe, Ok(after))?)),
        }
    }
}

/// The slots the thread of the TCB at `thread` can name: those of the CNode its TCB's CSpace
/// slot holds a capability to, and of every CNode that CNode holds a capability to (one
/// level, as `Kernel.v`'s `reach`); sorted. None without a CSpace root.
pub fn thread_slots(memory: &Memory, thread: u64) -> Vec<SlotRef> {
    let slots_of = |cap: Cap| match cap {
        Cap::CNode { paddr, radix, .. } => (0..1u64 << radix).map(|index| cspace::slot_address(paddr, index)).collect(),
        _ => Vec::new(),
    };
    let root = slots_of(memory.cap(cspace::slot_address(thread, tcb_slot::CSPACE)));
    let mut slots: Vec<SlotRef> = root.iter().flat_map(|&at| slots_of(memory.cap(at))).chain(root.iter().copied()).collect();
    slots.sort_unstable();
    slots.dedup();
    slots
}

impl IpcOp {
    /// The kind, as counted in [`Tally::applied`] (with `Cap` or `NoCap` appended for a
    /// send or reply by [`check_ipc_random`]).
    fn kind(&self) -> &'static str {
        match self {
            IpcOp::Send { .. } => "Send",
            IpcOp::Reply { .. } => "Reply",
            IpcOp::Bind { .. } => "Bind",
            IpcOp::BindBy { .. } => "BindBy",
        }
    }
}

/// The kernel's result of `op` on `memory` ([`IpcOutcome`]).
/// The capability changes are the kernel library's own ([`transfer::transfer_caps`],
/// [`transfer::tcb_copy`], [`transfer::changed_source`], [`transfer::install`]); the gates
/// around them are those of the kernel binary, restated here: a send needs the sender's
/// write right and the receiver's read right on the same endpoint (`syscall.rs`) and
/// carries capabilities if both have the grant right (`ipc::send`, `ipc::receive`); a
/// reply needs the server's read right and the caller's write right and carries
/// capabilities if the caller's capability had the grant or grant-reply right
/// (`ipc::setup_reply`'s `can_grant`); a bind needs a TCB and a CNode capability
/// (`invoke/tcb.rs`), empties the TCB's CSpace slot, then checks its source again
/// (`changed_source`): if the emptying destroyed it, nothing is installed and the answer
/// is `InvalidCapability` naming argument 1. A slot the thread cannot name (`slots` for
/// the model's thread; [`thread_slots`] for [`IpcOp::BindBy`]) or an empty one fails the
/// kernel's lookup of the message's capability; a receive slot that cannot be named or is
/// not empty is no receive slot.
pub fn ipc_apply(memory: &Memory, slots: &[SlotRef], op: &IpcOp) -> IpcOutcome {
    let endpoint = |at: SlotRef, right: Rights| match memory.cap(at) {
        Cap::Endpoint { paddr, rights, .. } if rights.contains(right) => Some((paddr, rights)),
        _ => None,
    };
    let named = |at: SlotRef| slots.binary_search(&at).is_ok();
    let mut after = memory.clone();
    let carry = |after: &mut Memory, src: SlotRef, dst: SlotRef, via: u64| {
        let source = |m: &Memory, _| (named(src) && m.read(src).cap != Cap::Null).then_some(src);
        transfer::transfer_caps(after, 1, source, via, |m: &Memory| (named(dst) && m.read(dst).cap == Cap::Null).then_some(dst));
    };
    let mut failed = None;
    match *op {
        IpcOp::Send { ep, src, rep, dst } => {
            let (Some((paddr, sender)), Some((other, receiver))) = (endpoint(ep, Rights::WRITE), endpoint(rep, Rights::READ)) else {
                return IpcOutcome::Refused;
            };
            if paddr != other {
                return IpcOutcome::Refused;
            }
            if sender.contains(Rights::GRANT) && receiver.contains(Rights::GRANT) {
                carry(&mut after, src, dst, paddr);
            }
        }
        IpcOp::Reply { ep, src, cep, dst } => {
            let (Some((paddr, _)), Some((other, caller))) = (endpoint(ep, Rights::READ), endpoint(cep, Rights::WRITE)) else {
                return IpcOutcome::Refused;
            };
            if paddr != other {
                return IpcOutcome::Refused;
            }
            if caller.contains(Rights::GRANT) || caller.contains(Rights::GRANT_REPLY) {
                carry(&mut after, src, dst, 0);
            }
        }
        IpcOp::Bind { tcb, cn } | IpcOp::BindBy { tcb, cn, .. } => {
            if let IpcOp::BindBy { thread, .. } = *op {
                let own = thread_slots(memory, thread);
                if own.binary_search(&tcb).is_err() || own.binary_search(&cn).is_err() {
                    return IpcOutcome::Refused;
                }
            }
            let Cap::Tcb { paddr } = memory.cap(tcb) else { return IpcOutcome::Refused };
            let source = memory.cap(cn);
            if !matches!(source, Cap::CNode { .. }) {
                return IpcOutcome::Refused;
            }
            let Ok(copy) = transfer::tcb_copy(&after, cn, None) else { return IpcOutcome::Refused };
            // TcbConfigure: empty the TCB's slot, look the source up again, then install.
            let dest = cspace::slot_address(paddr, tcb_slot::CSPACE);
            cspace::delete(&mut after, dest);
            match transfer::changed_source(&after, &[(cn, source)]) {
                None => transfer::install(&mut after, dest, cn, copy),
                Some(index) => failed = Some((InvocationError::InvalidCapability, index as u64 + 1)),
            }
        }
    }
    after.take_log();
    after.take_accesses();
    match failed {
        None => IpcOutcome::Done(after),
        Some((code, argument)) => IpcOutcome::FailedAfter(code, argument, after),
    }
}

/// The model's operation for `op` on the state `memory` (thread 0 both ends; for
/// [`IpcOp::BindBy`], the thread whose id is its TCB object's).
pub fn ipc_op_line(universe: &Universe, memory: &Memory, op: &IpcOp) -> Result<String, String> {
    let objects = objects(universe, memory)?;
    let slot = |at: SlotRef| locate(&objects, at).map(|(cnode, index)| format!("{cnode} {index}"));
    Ok(match *op {
        IpcOp::Send { ep, src, rep, dst } => format!("send 0 {} {} 0 {} {}", slot(ep)?, slot(src)?, slot(rep)?, slot(dst)?),
        IpcOp::Reply { ep, src, cep, dst } => format!("reply 0 {} {} 0 {} {}", slot(ep)?, slot(src)?, slot(cep)?, slot(dst)?),
        IpcOp::Bind { tcb, cn } => format!("bind 0 {} {}", slot(tcb)?, slot(cn)?),
        IpcOp::BindBy { thread, tcb, cn } => {
            let id = objects
                .iter()
                .position(|o| o.base == thread && o.kind == "tcb")
                .map(|i| i + 1)
                .ok_or_else(|| format!("no TCB object at {thread:#x} in the state"))?;
            format!("bind {id} {} {}", slot(tcb)?, slot(cn)?)
        }
    })
}

/// A random IPC or binding operation on `slots`: the endpoint, TCB and CNode arguments are
/// drawn from the slots holding such a capability three times in four (when there is one),
/// else from every slot (mostly refused). Half the binds, when thread 0 names a TCB whose
/// CSpace slot holds a CNode capability, are that TCB's own thread's ([`IpcOp::BindBy`]),
/// its arguments drawn from the slots it names ([`thread_slots`]).
fn random_ipc_op(rng: &mut Rng, memory: &Memory, slots: &[SlotRef]) -> IpcOp {
    let pick_in = |rng: &mut Rng, slots: &[SlotRef], wanted: fn(&Cap) -> bool| {
        let fitting: Vec<SlotRef> = slots.iter().copied().filter(|&at| wanted(&memory.cap(at))).collect();
        if !fitting.is_empty() && rng.below(4) != 0 { fitting[rng.below(fitting.len())] } else { slots[rng.below(slots.len())] }
    };
    let pick = |rng: &mut Rng, wanted: fn(&Cap) -> bool| pick_in(rng, slots, wanted);
    let tcb = |cap: &Cap| matches!(cap, Cap::Tcb { .. });
    let cnode = |cap: &Cap| matches!(cap, Cap::CNode { .. });
    let mut threads: Vec<u64> = slots
        .iter()
        .filter_map(|&at| if let Cap::Tcb { paddr } = memory.cap(at) { Some(paddr) } else { None })
        .filter(|&paddr| !thread_slots(memory, paddr).is_empty())
        .collect();
    threads.sort_unstable();
    threads.dedup();
    let endpoint = |cap: &Cap| matches!(cap, Cap::Endpoint { .. });
    let any = |_: &Cap| true;
    let empty = |cap: &Cap| *cap == Cap::Null;
    match rng.below(3) {
        0 => IpcOp::Send { ep: pick(rng, endpoint), src: pick(rng, any), rep: pick(rng, endpoint), dst: pick(rng, empty) },
        1 => IpcOp::Reply { ep: pick(rng, endpoint), src: pick(rng, any), cep: pick(rng, endpoint), dst: pick(rng, empty) },
        _ if !threads.is_empty() && rng.below(2) == 0 => {
            let thread = threads[rng.below(threads.len())];
            let own = thread_slots(memory, thread);
            IpcOp::BindBy { thread, tcb: pick_in(rng, &own, tcb), cn: pick_in(rng, &own, cnode) }
        }
        _ => IpcOp::Bind { tcb: pick(rng, tcb), cn: pick(rng, cnode) },
    }
}

/// As [`check_random`] without one-unit deletions, with one draw in three an IPC or binding
/// operation ([`IpcOp`], [`ipc_apply`]) instead of a CNode operation. A send or reply the
/// kernel delivers is counted as `SendCap` or `ReplyCap` when a capability landed in the
/// receive slot, `SendNoCap` or `ReplyNoCap` otherwise; refusals of IPC and binding
/// operations as `unnamed` (the model's `KUnnamed`: the kernel refuses them in its system-call
/// and TCB layers, not with a CNode invocation's code); a bind answered with an error after
/// emptying the TCB's slot ([`IpcOutcome::FailedAfter`]) as `InvalidCapability 1`, compared
/// with the state it leaves, from which the sequence goes on.
pub fn check_ipc_random(universe: &Universe, seed: u64, steps: usize, coq: &mut CoqStep) -> Result<Tally, String> {
    let mut rng = Rng(seed.max(1));
    let mut memory = explore::check_initial(universe).map_err(|v| v.report(universe))?;
    let mut trace: Vec<String> = Vec::new();
    let mut tally = Tally::default();
    for _ in 0..steps {
        let slots = model_slots(universe, &memory);
        let (after, line, kind) = if rng.below(3) == 0 {
            let op = random_ipc_op(&mut rng, &memory, &slots);
            trace.push(format!("{op:?}"));
            let outcome = ipc_apply(&memory, &slots, &op);
            let kind = match (&op, outcome.after()) {
                (IpcOp::Bind { .. } | IpcOp::BindBy { .. }, _) | (_, None) => op.kind(),
                (IpcOp::Send { dst, .. }, Some(a)) => {
                    if a.cap(*dst) != memory.cap(*dst) {
                        "SendCap"
                    } else {
                        "SendNoCap"
                    }
                }
                (IpcOp::Reply { dst, .. }, Some(a)) => {
                    if a.cap(*dst) != memory.cap(*dst) {
                        "ReplyCap"
                    } else {
                        "ReplyNoCap"
                    }
                }
            };
            let after = match outcome {
                IpcOutcome::Done(after) => Ok(after),
                IpcOutcome::Refused => Err(("unnamed".to_string(), None)),
                IpcOutcome::FailedAfter(code, argument, after) => Err((format!("{code:?} {argument}"), Some(after))),
            };
            (after, ipc_op_line(universe, &memory, &op)?, kind)
        } else {
            let mut ops: Vec<Op> =
                Op::all(universe, &slots).into_iter().filter(|op| !matches!(op, Op::DeleteStep { .. } | Op::RevokeStep { .. })).collect();
            ops.extend(retype_at_ops(universe, &memory, &slots));
            let op = ops[rng.below(ops.len())];
            trace.push(op.describe(universe));
            let after = match explore::apply(universe, &memory, &universe.addressable_slots(&memory), &op) {
                Ok(Outcome::Applied(after, _)) => Ok(after),
                Ok(Outcome::Rejected(rejection)) => Err((format!("{:?}", rejection.error), None)),
                Err((invariant, detail)) => {
                    return Err(format!("seed {seed}: invariant {invariant:?} broken: {detail}\ntrace: {trace:#?}"));
                }
            };
            (after, op_line(universe, &memory, &op)?, kind(&op))
        };
        // An error after a state change (TcbConfigure's lost source) is compared with the
        // state it leaves.
        let expected = match &after {
            Ok(after) => observe(universe, Ok(after))?,
            Err((code, None)) => format!("none {code}\n"),
            Err((code, Some(after))) => format!("none {code}\n{}", observe(universe, Ok(after))?),
        };
        let changed = match &after {
            Ok(after) | Err((_, Some(after))) => Some(after),
            Err((_, None)) => None,
        };
        let model = coq.step(&abstract_state(universe, &memory)?, &line)?;
        let model = restrict_to_kernel_parents(&model, changed)?;
        if model != expected {
            return Err(format!(
                "seed {seed}: the kernel and the Coq model differ after {} operations\ntrace: {trace:#?}\nkernel:\n{expected}coq:\n{model}state before:\n{}",
                trace.len(),
                abstract_state(universe, &memory)?
            ));
        }
        match after {
            Ok(after) => {
                *tally.applied.entry(kind).or_default() += 1;
                memory = after;
            }
            Err((code, changed)) => {
                *tally.refused.entry(code).or_default() += 1;
                if let Some(after) = changed {
                    memory = after;
                }
            }
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod edges;

#[cfg(test)]
mod tests {
    //! The abstraction of single capabilities, for kinds and sizes the random sequences of
    //! `tests/refinement.rs` do not reach.

    use super::*;
    use tileos_kernel::cap::Mapping;

    /// The object's kind and size, the capability's kind, rights, badge and watermark.
    fn seen(cap: Cap) -> (&'static str, u64, &'static str, String, u64, Option<u64>) {
        let view = view(&cap).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(view.object.base, 0x8000, "{cap:?}");
        (view.object.kind, view.object.size, view.kind, view.rights, view.badge, view.watermark)
    }

    /// An object's parent is the smallest untyped holding all of it: one that holds only its
    /// start is not (the kernel never places an object across an untyped's end, so only
    /// hand-made objects reach this; found untested by `make mutants`).
    #[test]
    fn an_objects_parent_is_the_smallest_untyped_holding_all_of_it() {
        let object = |kind, base, size, depth| Object { base, kind, size, depth };
        let objects = [
            object("untyped", 0x1000, 0x1000, 0),
            object("untyped", 0x1000, 0x400, 1),
            object("endpoint", 0x1200, 0x20, 2),
            object("cnode", 0x1300, 0x200, 2),
            object("cnode", 0x1800, 0x1000, 1),
        ];
        assert_eq!(parent_of(&objects, &objects[2]), Some(1), "the smaller untyped");
        assert_eq!(parent_of(&objects, &objects[1]), Some(0), "a same-base untyped retyped from the larger");
        assert_eq!(parent_of(&objects, &objects[3]), Some(0), "it runs past the smaller untyped's end");
        assert_eq!(parent_of(&objects, &objects[4]), None, "it runs past every untyped's end");
        assert_eq!(parent_of(&objects, &objects[0]), None);
    }

    #[test]
    fn each_capability_is_seen_with_its_objects_kind_and_size() {
        let read = Rights::READ;
        assert_eq!(
            seen(Cap::Untyped { paddr: 0x8000, size_bits: 12, device: false, free_offset: 0x40, prepared_to: 0, prepared_kind: 0 }),
            ("untyped", 4096, "untyped", "1111".into(), 0, Some(0x40))
        );
        let endpoint = 1 << ObjectType::Endpoint.size_bits(0);
        assert_eq!(
            seen(Cap::Endpoint { paddr: 0x8000, badge: 7, rights: read }),
            ("endpoint", endpoint, "endpoint", "1000".into(), 7, None)
        );
        let notification = 1 << ObjectType::Notification.size_bits(0);
        assert!(notification > 1);
        assert_eq!(
            seen(Cap::Notification { paddr: 0x8000, badge: 9, rights: Rights::WRITE }),
            ("notification", notification, "notification", "0100".into(), 9, None)
        );
        assert_eq!(seen(Cap::CNode { paddr: 0x8000, radix: 2, guard_bits: 0, guard: 0 }), ("cnode", 256, "cnode", "1111".into(), 0, None));
        let tcb = 1 << ObjectType::Tcb.size_bits(0);
        assert_eq!(seen(Cap::Tcb { paddr: 0x8000 }), ("tcb", tcb, "tcb", "1111".into(), 0, None));
        assert_eq!(
            seen(Cap::Frame { paddr: 0x8000, size_bits: 12, rights: Rights::GRANT, device: false, mapping: Mapping::NONE }),
            ("frame", 4096, "frame", "0010".into(), 0, None)
        );
        for level in [TableLevel::PageTable, TableLevel::PageDirectory] {
            assert_eq!(
                seen(Cap::PagingTable { paddr: 0x8000, level, mapping: Mapping::NONE }),
                ("pagetable", 4096, "pagetable", "1111".into(), 0, None)
            );
        }
        assert_eq!(seen(Cap::Pml4 { paddr: 0x8000, asid: 1 }), ("pagetable", 4096, "pagetable", "1111".into(), 0, None));
        let zombie = |tcb| Cap::Zombie { paddr: 0x8000, link: SlotRef(0), root: SlotRef(0), remaining: 3, radix: 1, tcb, top: true };
        assert_eq!(seen(zombie(false)), ("cnode", 128, "zombie", "1111".into(), 0, Some(3)));
        assert!(view(&zombie(true)).is_err(), "a TCB's zombie has no counterpart");
        assert_eq!(rights_digits(Rights::GRANT_REPLY), "0001");
    }

    /// A memory holding zombies at `slots`: (address, link, top).
    fn zombies(slots: &[(u64, u64, bool)]) -> Memory {
        let mut memory = Memory::default();
        for &(at, link, top) in slots {
            let cap = Cap::Zombie { paddr: 0x8000, link: SlotRef(link), root: SlotRef(at), remaining: 1, radix: 1, tcb: false, top };
            memory.write(SlotRef(at), cspace::Slot { cap, ..cspace::Slot::EMPTY });
        }
        memory
    }

    /// Broken chains of zombies are refused, each with what breaks it: a chain through
    /// every occupied slot whose last link names an empty slot, and a loop among inner
    /// zombies, named where it first comes back.
    #[test]
    fn a_broken_chain_of_zombies_is_refused_where_it_breaks() {
        let (a, b, c, empty) = (0x1000, 0x1040, 0x1080, 0x10c0);
        let refused = |memory: &Memory| unswapped(memory).err().unwrap_or_else(|| panic!("accepted: {memory:?}"));
        let message = refused(&zombies(&[(a, b, true), (b, empty, false)]));
        assert!(message.starts_with(&format!("the chain of zombies from {a:#x} reaches {empty:#x}, which holds")), "{message}");
        let message = refused(&zombies(&[(a, b, true), (b, c, false), (c, b, false)]));
        assert_eq!(message, format!("the chain of zombies from {a:#x} loops at {b:#x}"));
        let (place, inner) = unswapped(&zombies(&[(a, b, true), (b, c, false), (c, 0, false)])).unwrap();
        assert_eq!(place.into_iter().collect::<Vec<_>>(), [(SlotRef(a), SlotRef(b)), (SlotRef(b), SlotRef(c)), (SlotRef(c), SlotRef(a))]);
        assert_eq!(inner.into_iter().collect::<Vec<_>>(), [SlotRef(b), SlotRef(c)]);
    }
}
