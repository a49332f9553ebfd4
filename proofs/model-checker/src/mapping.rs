//! Mapping state: page-table contents, the ASID table and the address space a thread runs
//! in, explored with the kernel's real code — [`tileos_kernel::vspace`] (map, unmap, clear,
//! the paging cases of `finalise`), [`tileos_kernel::cspace`] (delete, revoke, finality,
//! derivation), [`tileos_kernel::cap::derive`] and [`tileos_kernel::untyped::plan`].
//!
//! The state ([`MapState`]) holds the capability slots of one CNode, every non-zero
//! page-table entry (keyed by the physical address of the 4 KiB page holding it, so a frame
//! retyped as a table, or written by user code, shows its old contents exactly as in the
//! machine), and the ASID table. Operations ([`MapOp`]): retype (memory cleared, a PML4
//! given the lowest free ASID), copy, delete, revoke, PagingStructureMap/Unmap,
//! FrameMap/Unmap, and a user write through the thread's own address space (the thread's
//! VSpace slot is slot 1; while it holds no PML4 the thread runs in the kernel-only address
//! space and has no user translations). A user write stores a forged 2 MiB entry
//! (physical 0, present, writable, user) in the first word of the page it reaches — the
//! last step of the attack of issue 11, item 2.
//!
//! After every step [`check`] verifies the mapping invariant of [`tileos_kernel::vspace`]
//! with its own walk of the tables ([`MapInvariant`]), and that the kernel's
//! [`check_invariant`](tileos_kernel::vspace::check_invariant) agrees with it.

use crate::memory::{PageTables, fingerprint, hash_slots};
use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;
use tileos_abi::object::{ObjectType, Rights};
use tileos_kernel::cap::{self, Cap, Mapping, TableLevel};
use tileos_kernel::cspace::{self, CSpaceMemory, Slot, SlotRef, slot_address};
use tileos_kernel::untyped::{self, UntypedState};
use tileos_kernel::vspace::{self, ADDRESS_MASK, FrameMap, HUGE, PRESENT, PagingMemory, USER, VSpace, WRITABLE};

/// Physical address of the CNode whose slots the operations name.
pub const CNODE: u64 = 0x1000;
/// Physical address of the untyped region (4 MiB).
pub const UNTYPED: u64 = 0x40_0000;
/// log2 of the untyped's size.
pub const UNTYPED_BITS: u8 = 22;
/// The initial PML4 (ASID 1), outside the untyped.
pub const PML4: u64 = 0x10_0000;
/// The initial PDPT, mapped for the first 512 GiB.
pub const PDPT: u64 = 0x10_1000;
/// The initial page directory, mapped for the first GiB.
pub const PD: u64 = 0x10_2000;
/// The initial (unmapped) page table.
pub const PT: u64 = 0x10_3000;
/// The initial (unmapped) 4 KiB frame.
pub const FRAME: u64 = 0x10_4000;
/// The slot the thread's VSpace capability is in.
pub const THREAD_VSPACE: u64 = 1;
/// Virtual addresses the map operations and user writes use: 2 MiB apart, 1 GiB apart and
/// 512 GiB apart, so tables can be entered at two places of each level.
pub const VADDRS: [u64; 4] = [0, 0x20_0000, 0x4000_0000, 0x80_0000_0000];
/// ASIDs the model hands out (1 and 2).
pub const ASIDS: u16 = 2;
/// The entry a user write forges: a 2 MiB user page over physical 0.
pub const FORGED: u64 = PRESENT | WRITABLE | USER | HUGE;

/// What is explored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapUniverse {
    /// Slots of the CNode.
    pub slots: u64,
    /// Objects a retype may create.
    pub retypes: Vec<ObjectType>,
    /// Whether capabilities may be copied.
    pub copies: bool,
}

impl MapUniverse {
    /// The standard mapping universe: 7 slots — A0 an untyped of 4 MiB, A1 the thread's
    /// PML4 (ASID 1), A2 a PDPT and A3 a page directory mapped for the first GiB, A4 an
    /// unmapped page table, A5 an unmapped 4 KiB frame, A6 empty — retypes of 4 KiB frames,
    /// page tables, page directories and PML4s, copies allowed.
    pub fn standard() -> MapUniverse {
        MapUniverse {
            slots: 7,
            retypes: vec![ObjectType::Frame4K, ObjectType::PageTable, ObjectType::PageDirectory, ObjectType::Pml4],
            copies: true,
        }
    }

    /// As [`MapUniverse::standard`], with 2 MiB frames and PDPTs as the retypes and no
    /// copies (for 2 MiB pages in page directories and structures of every level).
    pub fn large() -> MapUniverse {
        MapUniverse {
            retypes: vec![ObjectType::Frame2M, ObjectType::Pdpt, ObjectType::PageTable],
            copies: false,
            ..MapUniverse::standard()
        }
    }

    /// Address of slot `index`.
    pub const fn slot(index: u64) -> SlotRef {
        slot_address(CNODE, index)
    }

    /// The initial state.
    pub fn initial_state(&self) -> MapState {
        let mut state = MapState::default();
        let roots = [
            Cap::Untyped { paddr: UNTYPED, size_bits: UNTYPED_BITS, device: false, free_offset: 0, prepared_to: 0, prepared_kind: 0 },
            Cap::Pml4 { paddr: PML4, asid: 1 },
            Cap::PagingTable { paddr: PDPT, level: TableLevel::Pdpt, mapping: Mapping { asid: 1, vaddr: 0 } },
            Cap::PagingTable { paddr: PD, level: TableLevel::PageDirectory, mapping: Mapping { asid: 1, vaddr: 0 } },
            Cap::PagingTable { paddr: PT, level: TableLevel::PageTable, mapping: Mapping::NONE },
            Cap::Frame { paddr: FRAME, size_bits: 12, rights: Rights::ALL, device: false, mapping: Mapping::NONE },
        ];
        for (index, cap) in roots.into_iter().enumerate() {
            cspace::insert_root(&mut state, MapUniverse::slot(index as u64), cap);
        }
        state.tables.asids[1] = PML4;
        state.tables.set_entry(PML4, 0, PDPT | PRESENT | WRITABLE | USER);
        state.tables.set_entry(PDPT, 0, PD | PRESENT | WRITABLE | USER);
        state
    }
}

/// Capability slots, page-table entries and ASIDs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapState {
    slots: BTreeMap<SlotRef, Slot>,
    /// Page-table entries and ASIDs.
    tables: PageTables<{ ASIDS as usize + 1 }>,
}

impl CSpaceMemory for MapState {
    fn read(&self, at: SlotRef) -> Slot {
        self.slots.get(&at).copied().unwrap_or(Slot::EMPTY)
    }
    fn write(&mut self, at: SlotRef, slot: Slot) {
        if slot == Slot::EMPTY {
            self.slots.remove(&at);
        } else {
            self.slots.insert(at, slot);
        }
    }
    fn finalise(&mut self, cap: &Cap, is_final: bool) {
        vspace::finalise(&mut self.tables, cap, is_final);
    }
}

impl MapState {
    /// The capability at slot `index`.
    pub fn cap(&self, index: u64) -> Cap {
        self.read(MapUniverse::slot(index)).cap
    }

    /// Every capability held.
    pub fn caps(&self) -> Vec<Cap> {
        self.slots.values().map(|slot| slot.cap).filter(|cap| *cap != Cap::Null).collect()
    }

    /// The non-zero entries of the page at `page`.
    pub fn page(&self, page: u64) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.tables.entries.range((page, 0)..(page, vspace::ENTRIES)).map(|(&(_, index), &value)| (index, value))
    }

    /// The PML4 the thread runs in: the one in its VSpace slot if that capability is a PML4
    /// whose ASID is live; otherwise none (the kernel-only address space).
    pub fn thread_space(&self) -> Option<(u16, u64)> {
        match self.cap(THREAD_VSPACE) {
            Cap::Pml4 { paddr, asid } if self.tables.root(asid) == Some(paddr) => Some((asid, paddr)),
            _ => None,
        }
    }

    /// Resolves `vaddr` in the PML4 at `pml4` as the MMU does for a user write: the physical
    /// address reached, if every entry on the way is present, user and writable.
    pub fn user_write_target(&self, pml4: u64, vaddr: u64) -> Option<u64> {
        let mut table = pml4;
        for level in (1..=4).rev() {
            let entry = self.tables.entry(table, vspace::index(vaddr, level));
            if entry & (PRESENT | USER | WRITABLE) != PRESENT | USER | WRITABLE {
                return None;
            }
            let base = entry & ADDRESS_MASK;
            if level == 1 || entry & HUGE != 0 {
                let offset = vaddr & ((1u64 << (12 + 9 * (level - 1))) - 1);
                return Some(base + offset);
            }
            table = base;
        }
        None
    }

    /// A 128-bit fingerprint of the state.
    pub fn fingerprint(&self) -> u128 {
        fingerprint([0x6d61_7070, 0x696e_6773], |hasher| {
            hash_slots(self.slots.iter(), hasher);
            self.tables.hash(hasher);
        })
    }
}

/// One operation; slots are indices into the CNode, addresses indices into [`VADDRS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapOp {
    /// UntypedRetype of `MapUniverse::retypes[kind]` from slot 0 into `dest`.
    Retype {
        /// Index into the universe's retypes.
        kind: usize,
        /// Destination slot.
        dest: u64,
    },
    /// CNodeCopy.
    Copy {
        /// Source slot.
        src: u64,
        /// Destination slot.
        dest: u64,
    },
    /// CNodeDelete.
    Delete {
        /// Slot.
        slot: u64,
    },
    /// CNodeRevoke.
    Revoke {
        /// Slot.
        slot: u64,
    },
    /// PagingStructureMap into the PML4 of slot `vspace`.
    MapTable {
        /// Slot of the structure.
        slot: u64,
        /// Index into [`VADDRS`].
        vaddr: usize,
        /// Slot of the PML4.
        vspace: u64,
    },
    /// PagingStructureUnmap.
    UnmapTable {
        /// Slot of the structure.
        slot: u64,
    },
    /// FrameMap (all rights) into the PML4 of slot `vspace`.
    MapFrame {
        /// Slot of the frame.
        slot: u64,
        /// Index into [`VADDRS`].
        vaddr: usize,
        /// Slot of the PML4.
        vspace: u64,
    },
    /// FrameUnmap.
    UnmapFrame {
        /// Slot of the frame.
        slot: u64,
    },
    /// The thread writes [`FORGED`] to the first word at `VADDRS[vaddr]` of its address space.
    UserWrite {
        /// Index into [`VADDRS`].
        vaddr: usize,
    },
}

impl MapOp {
    /// Every operation of `universe`.
    pub fn all(universe: &MapUniverse) -> Vec<MapOp> {
        let slots = 0..universe.slots;
        let mut ops = Vec::new();
        for slot in slots.clone() {
            for kind in 0..universe.retypes.len() {
                ops.push(MapOp::Retype { kind, dest: slot });
            }
            if universe.copies {
                ops.extend(slots.clone().filter(|&dest| dest != slot).map(|dest| MapOp::Copy { src: slot, dest }));
            }
            ops.extend([MapOp::Delete { slot }, MapOp::Revoke { slot }, MapOp::UnmapTable { slot }, MapOp::UnmapFrame { slot }]);
            for vaddr in 0..VADDRS.len() {
                for vspace in slots.clone() {
                    ops.extend([MapOp::MapTable { slot, vaddr, vspace }, MapOp::MapFrame { slot, vaddr, vspace }]);
                }
            }
        }
        ops.extend((0..VADDRS.len()).map(|vaddr| MapOp::UserWrite { vaddr }));
        ops
    }
}

/// Applies `op` to `state` the way the kernel does; `Err` with a reason if the kernel
/// refuses it (then `state` is unchanged).
pub fn apply(universe: &MapUniverse, state: &mut MapState, op: MapOp) -> Result<(), &'static str> {
    let at = MapUniverse::slot;
    let vspace_of = |state: &MapState, slot: u64| match state.cap(slot) {
        Cap::Pml4 { paddr, asid } => Ok(VSpace { pml4: paddr, asid }),
        _ => Err("not a PML4"),
    };
    match op {
        MapOp::Retype { kind, dest } => {
            let Cap::Untyped { paddr, size_bits, device, free_offset, .. } = state.cap(0) else { return Err("no untyped") };
            if state.cap(dest) != Cap::Null {
                return Err("destination occupied");
            }
            let object = universe.retypes[kind];
            let has_children = cspace::has_children(state, at(0));
            let plan =
                untyped::plan(UntypedState { paddr, size_bits: u32::from(size_bits), device, free_offset, has_children }, object, 0, 1)
                    .map_err(|_| "untyped exhausted")?;
            let first = plan.first;
            let table = |level| Cap::PagingTable { paddr: first, level, mapping: Mapping::NONE };
            let cap = match object {
                ObjectType::Frame4K | ObjectType::Frame2M => {
                    Cap::Frame { paddr: first, size_bits: plan.object_size_bits as u8, rights: Rights::ALL, device, mapping: Mapping::NONE }
                }
                ObjectType::PageTable => table(TableLevel::PageTable),
                ObjectType::PageDirectory => table(TableLevel::PageDirectory),
                ObjectType::Pdpt => table(TableLevel::Pdpt),
                ObjectType::Pml4 => {
                    let asid = (1..=ASIDS).find(|&asid| state.tables.asids[usize::from(asid)] == 0).ok_or("no free ASID")?;
                    state.tables.asids[usize::from(asid)] = first;
                    Cap::Pml4 { paddr: first, asid }
                }
                _ => return Err("object kind not modelled"),
            };
            // The kernel clears every object as it creates it.
            let end = first + (1u64 << plan.object_size_bits);
            state.tables.entries.retain(|&(page, _), _| page < first || page >= end);
            let mut slot = state.read(at(0));
            slot.cap = Cap::Untyped { paddr, size_bits, device, free_offset: plan.new_free_offset, prepared_to: 0, prepared_kind: 0 };
            state.write(at(0), slot);
            cspace::insert_derived(state, at(0), at(dest), cap, true);
        }
        MapOp::Copy { src, dest } => {
            if state.cap(dest) != Cap::Null {
                return Err("destination occupied");
            }
            let source = state.cap(src);
            let cap = cap::derive(&source, None).map_err(|_| "not derivable")?;
            cspace::insert_derived(state, at(src), at(dest), cap, cap::is_revocable(&cap, &source));
        }
        MapOp::Delete { slot } => {
            if state.cap(slot) == Cap::Null {
                return Err("empty slot");
            }
            cspace::delete(state, at(slot));
        }
        MapOp::Revoke { slot } => {
            if !cspace::has_children(state, at(slot)) {
                return Err("no children");
            }
            cspace::revoke(state, at(slot));
        }
        MapOp::MapTable { slot, vaddr, vspace: target } => {
            let Cap::PagingTable { paddr, level, mapping } = state.cap(slot) else { return Err("not a paging structure") };
            let target = vspace_of(state, target)?;
            let mapping = vspace::map_table(&mut state.tables, target, paddr, level, mapping, VADDRS[vaddr]).map_err(|_| "map refused")?;
            set_cap(state, slot, Cap::PagingTable { paddr, level, mapping });
        }
        MapOp::UnmapTable { slot } => {
            let cap @ Cap::PagingTable { mapping, .. } = state.cap(slot) else { return Err("not a paging structure") };
            if !mapping.is_mapped() {
                return Err("not mapped (no change)");
            }
            let is_final = cspace::is_final(state, at(slot));
            let cap = vspace::unmap_structure(&mut state.tables, cap, is_final).map_err(|_| "not the last capability")?;
            set_cap(state, slot, cap);
        }
        MapOp::MapFrame { slot, vaddr, vspace: target } => {
            let Cap::Frame { paddr, size_bits, rights, device, mapping } = state.cap(slot) else { return Err("not a frame") };
            let target = vspace_of(state, target)?;
            let request = FrameMap { paddr, size_bits, rights, mapping, vaddr: VADDRS[vaddr], requested: Rights::ALL, attributes: 0 };
            let mapping = vspace::map_frame(&mut state.tables, target, request).map_err(|_| "map refused")?;
            set_cap(state, slot, Cap::Frame { paddr, size_bits, rights, device, mapping });
        }
        MapOp::UnmapFrame { slot } => {
            let Cap::Frame { paddr, size_bits, rights, device, mapping } = state.cap(slot) else { return Err("not a frame") };
            if !mapping.is_mapped() {
                return Err("not mapped (no change)");
            }
            vspace::unmap_frame(&mut state.tables, mapping, paddr, u32::from(size_bits));
            set_cap(state, slot, Cap::Frame { paddr, size_bits, rights, device, mapping: Mapping::NONE });
        }
        MapOp::UserWrite { vaddr } => {
            let (_, pml4) = state.thread_space().ok_or("the thread runs in the kernel-only address space")?;
            let page = state.user_write_target(pml4, VADDRS[vaddr]).ok_or("page fault")? & !0xFFF;
            if state.tables.entry(page, 0) == FORGED {
                return Err("no change");
            }
            state.tables.set_entry(page, 0, FORGED);
        }
    }
    Ok(())
}

fn set_cap(state: &mut MapState, slot: u64, cap: Cap) {
    let at = MapUniverse::slot(slot);
    let mut held = state.read(at);
    held.cap = cap;
    state.write(at, held);
}

/// The properties checked after every step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapInvariant {
    /// M1. Every present leaf entry reachable from a live address space (4 KiB, or 2 MiB in
    ///     a page directory) is backed by a live frame capability to that frame, of that
    ///     size, whose recorded mapping is (that ASID, that address); writable only if one
    ///     such capability has the Write right.
    TranslationsBacked,
    /// M2. Every present intermediate entry reachable from a live address space points to a
    ///     live paging structure of the level below, every capability to which records
    ///     (that ASID, the region's base); no 1 GiB pages.
    TablesBacked,
    /// M3. The ASID table matches the PML4 capabilities: a used ASID belongs to a live PML4
    ///     capability with that ASID, and every PML4 capability's ASID maps to it. So the
    ///     thread (slot 1) runs in a live PML4 or in the kernel-only address space.
    AsidsConsistent,
    /// M4. The kernel's `vspace::check_invariant` agrees with M1 and M2.
    KernelCheckAgrees,
}

/// Checks every invariant of `state`; the first failure with a description.
pub fn check(state: &MapState) -> Result<(), (MapInvariant, String)> {
    let caps = state.caps();
    for (asid, &pml4) in state.tables.asids.iter().enumerate().skip(1).filter(|(_, pml4)| **pml4 != 0) {
        let asid = asid as u16;
        if !caps.contains(&Cap::Pml4 { paddr: pml4, asid }) {
            return Err((MapInvariant::AsidsConsistent, format!("ASID {asid} maps to {pml4:#x}, which no PML4 capability names")));
        }
    }
    for cap in &caps {
        if let Cap::Pml4 { paddr, asid } = *cap
            && state.tables.root(asid) != Some(paddr)
        {
            return Err((
                MapInvariant::AsidsConsistent,
                format!("PML4 {paddr:#x} has ASID {asid}, which maps to {:?}", state.tables.root(asid)),
            ));
        }
    }
    let mut own = Ok(());
    for (asid, &pml4) in state.tables.asids.iter().enumerate().skip(1).filter(|(_, pml4)| **pml4 != 0) {
        own = own.and_then(|()| check_table(state, &caps, asid as u16, pml4, 4, 0));
    }
    let kernel = vspace::check_invariant(&state.tables, &caps);
    if own.is_ok() != kernel.is_ok() {
        return Err((MapInvariant::KernelCheckAgrees, format!("model check {own:?}, kernel check {kernel:?}")));
    }
    own
}

fn check_table(state: &MapState, caps: &[Cap], asid: u16, table: u64, level: u32, base: u64) -> Result<(), (MapInvariant, String)> {
    let limit = if level == 4 { vspace::KERNEL_HALF } else { vspace::ENTRIES };
    for (index, entry) in state.page(table).take_while(|(index, _)| *index < limit).collect::<Vec<_>>() {
        if entry & PRESENT == 0 {
            continue;
        }
        let vaddr = base | ((index as u64) << (12 + 9 * (level - 1)));
        let paddr = entry & ADDRESS_MASK;
        let here = Mapping { asid, vaddr };
        if level == 1 || (level == 2 && entry & HUGE != 0) {
            let size_bits = if level == 1 { 12 } else { 21 };
            let backing: Vec<Rights> = caps
                .iter()
                .filter_map(|cap| match *cap {
                    Cap::Frame { paddr: frame, size_bits: bits, rights, mapping, .. }
                        if frame == paddr && u32::from(bits) == size_bits && mapping == here =>
                    {
                        Some(rights)
                    }
                    _ => None,
                })
                .collect();
            if backing.is_empty() {
                return Err((
                    MapInvariant::TranslationsBacked,
                    format!("ASID {asid}: {vaddr:#x} -> {paddr:#x} ({size_bits}) has no frame capability recording it"),
                ));
            }
            if entry & WRITABLE != 0 && !backing.iter().any(|rights| rights.contains(Rights::WRITE)) {
                return Err((MapInvariant::TranslationsBacked, format!("ASID {asid}: {vaddr:#x} is writable without the Write right")));
            }
        } else {
            if entry & HUGE != 0 {
                return Err((MapInvariant::TablesBacked, format!("ASID {asid}: a large page at level {level} for {vaddr:#x}")));
            }
            let below = level - 1;
            let records: Vec<Mapping> = caps
                .iter()
                .filter_map(|cap| match *cap {
                    Cap::PagingTable { paddr: at, level: table_level, mapping } if at == paddr && table_level as u32 == below => {
                        Some(mapping)
                    }
                    _ => None,
                })
                .collect();
            if records.is_empty() {
                return Err((
                    MapInvariant::TablesBacked,
                    format!("ASID {asid}: entry for {vaddr:#x} at level {level} points to {paddr:#x}, no live level-{below} structure"),
                ));
            }
            if records.iter().any(|mapping| *mapping != here) {
                return Err((
                    MapInvariant::TablesBacked,
                    format!("ASID {asid}: structure {paddr:#x} entered for {vaddr:#x}, capabilities record {records:?}"),
                ));
            }
            check_table(state, caps, asid, paddr, below, vaddr)?;
        }
    }
    Ok(())
}

/// A violation and the operations leading to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapViolation {
    /// Which invariant.
    pub invariant: MapInvariant,
    /// What was observed.
    pub detail: String,
    /// Operations from the initial state; the last one broke the invariant.
    pub trace: Vec<MapOp>,
}

/// Figures of a run: distinct states and applied operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapStats {
    /// Distinct states, the initial one included.
    pub states: u64,
    /// Operations applied (each followed by a check).
    pub transitions: u64,
    /// Operations the kernel refused.
    pub rejected: u64,
}

/// Explores every operation sequence of up to `depth` steps, breadth first, checking every
/// invariant after every step; stops at the first violation.
pub fn explore(universe: &MapUniverse, depth: usize) -> (MapStats, Option<MapViolation>) {
    let initial = universe.initial_state();
    if let Err((invariant, detail)) = check(&initial) {
        return (MapStats::default(), Some(MapViolation { invariant, detail, trace: Vec::new() }));
    }
    let ops = MapOp::all(universe);
    let mut stats = MapStats { states: 1, ..MapStats::default() };
    let mut visited = HashSet::from([initial.fingerprint()]);
    let mut frontier = vec![(initial, Vec::new())];
    for level in 1..=depth {
        let mut next = Vec::new();
        for (state, trace) in frontier {
            for &op in &ops {
                let mut after = state.clone();
                if apply(universe, &mut after, op).is_err() {
                    stats.rejected += 1;
                    continue;
                }
                stats.transitions += 1;
                if let Err((invariant, detail)) = check(&after) {
                    let mut trace: Vec<MapOp> = trace.clone();
                    trace.push(op);
                    return (stats, Some(MapViolation { invariant, detail, trace }));
                }
                if visited.insert(after.fingerprint()) {
                    stats.states += 1;
                    if level < depth {
                        let mut trace = trace.clone();
                        trace.push(op);
                        next.push((after, trace));
                    }
                }
            }
        }
        frontier = next;
    }
    (stats, None)
}

/// Runs `trace` from the initial state, checking every step: the final state, or the index
/// of a refused operation with the reason, or the violation.
pub fn run_trace(universe: &MapUniverse, trace: &[MapOp]) -> Result<MapState, Result<(usize, &'static str), MapViolation>> {
    let mut state = universe.initial_state();
    for (index, &op) in trace.iter().enumerate() {
        apply(universe, &mut state, op).map_err(|reason| Ok((index, reason)))?;
        check(&state).map_err(|(invariant, detail)| Err(MapViolation { invariant, detail, trace: trace[..=index].to_vec() }))?;
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    //! Operations and checks on hand-made states that the exhaustive runs, over the kernel's
    //! correct code, never reach.

    use super::*;

    /// The standard initial state with a stale 4 KiB user mapping of the page directory at
    /// `VADDRS[1]` (PD[1] → PT, PT[0] → PD), as a kernel that forgot an unmap would leave.
    fn with_directory_exposed() -> MapState {
        let mut state = MapUniverse::standard().initial_state();
        state.tables.set_entry(PD, 1, PT | PRESENT | WRITABLE | USER);
        state.tables.set_entry(PT, 0, PD | PRESENT | WRITABLE | USER);
        state
    }

    /// The standard initial state with the page table entered at `VADDRS[1]` (PD[1]) and
    /// the frame at `VADDRS[1] + 0x5000` (PT[5]), both capabilities recording where: a
    /// state the checks must accept.
    fn with_frame_mapped() -> MapState {
        let mut state = MapUniverse::standard().initial_state();
        state.tables.set_entry(PD, 1, PT | PRESENT | WRITABLE | USER);
        set_cap(
            &mut state,
            4,
            Cap::PagingTable { paddr: PT, level: TableLevel::PageTable, mapping: Mapping { asid: 1, vaddr: 0x20_0000 } },
        );
        state.tables.set_entry(PT, 5, FRAME | PRESENT | WRITABLE | USER);
        set_cap(&mut state, 5, frame_at(FRAME, 12, Rights::ALL, 0x20_5000));
        state
    }

    /// A frame capability recording a mapping at `vaddr` in ASID 1.
    fn frame_at(paddr: u64, size_bits: u8, rights: Rights, vaddr: u64) -> Cap {
        Cap::Frame { paddr, size_bits, rights, device: false, mapping: Mapping { asid: 1, vaddr } }
    }

    /// `check`'s verdict must be `invariant`, with `fragment` in its description.
    fn assert_fails(state: &MapState, invariant: MapInvariant, fragment: &str) {
        let (found, detail) = check(state).expect_err(fragment);
        assert_eq!(found, invariant, "{detail}");
        assert!(detail.contains(fragment), "{detail:?} does not say {fragment:?}");
    }

    #[test]
    fn the_checks_accept_tables_and_pages_recorded_where_they_are_entered() {
        let mut state = with_frame_mapped();
        assert_eq!(check(&state), Ok(()));
        // A 2 MiB page in PD[2], a read-only page entered read-only in PT[6], an entry
        // without PRESENT, and an entry in the kernel half of the PML4 (index 256: neither
        // check walks it).
        let (large, read_only) = (0x60_0000, 0x10_5000);
        state.tables.set_entry(PD, 2, large | PRESENT | WRITABLE | USER | HUGE);
        cspace::insert_root(&mut state, MapUniverse::slot(6), frame_at(large, 21, Rights::ALL, 0x40_0000));
        state.tables.set_entry(PT, 6, read_only | PRESENT | USER);
        cspace::insert_root(&mut state, MapUniverse::slot(7), frame_at(read_only, 12, Rights::READ, 0x20_6000));
        state.tables.set_entry(PT, 7, 0x70_0000 | WRITABLE | USER);
        state.tables.set_entry(PML4, 256, 0x70_0000 | PRESENT | WRITABLE | USER);
        assert_eq!(check(&state), Ok(()));
        // A writable entry is backed if any one capability recording it has Write.
        state.tables.set_entry(PT, 6, read_only | PRESENT | WRITABLE | USER);
        assert_fails(&state, MapInvariant::TranslationsBacked, "ASID 1: 0x206000 is writable without the Write right");
        cspace::insert_root(&mut state, MapUniverse::slot(8), frame_at(read_only, 12, Rights::ALL, 0x20_6000));
        assert_eq!(check(&state), Ok(()));
        // Another PML4 with its own ASID, both ways round.
        let other = 0x80_0000;
        state.tables.asids[2] = other;
        assert_fails(&state, MapInvariant::AsidsConsistent, "ASID 2 maps to 0x800000, which no PML4 capability names");
        cspace::insert_root(&mut state, MapUniverse::slot(9), Cap::Pml4 { paddr: other, asid: 2 });
        assert_eq!(check(&state), Ok(()));
        state.tables.asids[2] = 0;
        assert_fails(&state, MapInvariant::AsidsConsistent, "PML4 0x800000 has ASID 2, which maps to None");
    }

    #[test]
    fn a_page_is_backed_only_by_a_frame_of_its_address_and_size_recording_it() {
        let unbacked = |state: &MapState, fragment| assert_fails(state, MapInvariant::TranslationsBacked, fragment);
        let mut state = with_frame_mapped();
        set_cap(&mut state, 5, frame_at(FRAME, 12, Rights::ALL, 0x20_4000));
        unbacked(&state, "ASID 1: 0x205000 -> 0x104000 (12) has no frame capability recording it");
        set_cap(
            &mut state,
            5,
            Cap::Frame { paddr: FRAME, size_bits: 12, rights: Rights::ALL, device: false, mapping: Mapping { asid: 2, vaddr: 0x20_5000 } },
        );
        unbacked(&state, "0x205000 -> 0x104000 (12)");
        set_cap(&mut state, 5, frame_at(FRAME + 0x1000, 12, Rights::ALL, 0x20_5000));
        unbacked(&state, "0x205000 -> 0x104000 (12)");
        set_cap(&mut state, 5, frame_at(FRAME, 21, Rights::ALL, 0x20_5000));
        unbacked(&state, "0x205000 -> 0x104000 (12)");
        // A 2 MiB page in the page directory needs a 2 MiB frame.
        let mut state = with_frame_mapped();
        state.tables.set_entry(PD, 2, 0x60_0000 | PRESENT | WRITABLE | USER | HUGE);
        cspace::insert_root(&mut state, MapUniverse::slot(6), frame_at(0x60_0000, 12, Rights::ALL, 0x40_0000));
        unbacked(&state, "ASID 1: 0x400000 -> 0x600000 (21) has no frame capability recording it");
        // The upper half of a page table is checked too (index 300).
        let mut state = with_frame_mapped();
        state.tables.set_entry(PT, 300, 0x70_0000 | PRESENT | USER);
        unbacked(&state, "ASID 1: 0x32c000 -> 0x700000 (12)");
    }

    #[test]
    fn a_table_entry_must_reach_a_structure_of_the_level_below_recording_it() {
        let misplaced = |state: &MapState, fragment| assert_fails(state, MapInvariant::TablesBacked, fragment);
        let mut state = with_frame_mapped();
        set_cap(&mut state, 3, Cap::PagingTable { paddr: PD, level: TableLevel::PageTable, mapping: Mapping { asid: 1, vaddr: 0 } });
        misplaced(&state, "ASID 1: entry for 0x0 at level 3 points to 0x102000, no live level-2 structure");
        let mut state = with_frame_mapped();
        set_cap(
            &mut state,
            4,
            Cap::PagingTable { paddr: PT, level: TableLevel::PageTable, mapping: Mapping { asid: 1, vaddr: 0x40_0000 } },
        );
        misplaced(&state, "ASID 1: structure 0x103000 entered for 0x200000, capabilities record");
        let mut state = with_frame_mapped();
        cspace::insert_root(
            &mut state,
            MapUniverse::slot(6),
            Cap::PagingTable { paddr: PT, level: TableLevel::PageTable, mapping: Mapping::NONE },
        );
        misplaced(&state, "ASID 1: structure 0x103000 entered for 0x200000, capabilities record");
        // No 1 GiB pages, whatever the entry points to.
        let mut state = with_frame_mapped();
        state.tables.set_entry(PDPT, 1, PD | PRESENT | WRITABLE | USER | HUGE);
        misplaced(&state, "ASID 1: a large page at level 3 for 0x40000000");
        // The last user entry of the PML4 (index 255) is checked.
        let mut state = with_frame_mapped();
        state.tables.set_entry(PML4, 255, 0x70_0000 | PRESENT | USER);
        misplaced(&state, "ASID 1: entry for 0x7f8000000000 at level 4 points to 0x700000, no live level-3 structure");
    }

    #[test]
    fn the_kernels_check_must_agree_with_the_models() {
        // A supervisor entry (no USER bit) the model's walk accepts and the kernel's refuses.
        let mut state = with_frame_mapped();
        state.tables.set_entry(PD, 1, PT | PRESENT | WRITABLE);
        assert_fails(&state, MapInvariant::KernelCheckAgrees, "model check Ok(()), kernel check Err(SupervisorEntry");
    }

    #[test]
    fn the_large_universe_retypes_2mib_frames_and_pdpts_and_copies_nothing() {
        let universe = MapUniverse::large();
        assert!(!MapOp::all(&universe).iter().any(|op| matches!(op, MapOp::Copy { .. })));
        assert!(MapOp::all(&MapUniverse::standard()).contains(&MapOp::Copy { src: 1, dest: 6 }));
        let mut state = universe.initial_state();
        apply(&universe, &mut state, MapOp::Retype { kind: 0, dest: 6 }).unwrap();
        assert!(matches!(state.cap(6), Cap::Frame { size_bits: 21, .. }), "{:?}", state.cap(6));
        apply(&universe, &mut state, MapOp::Delete { slot: 6 }).unwrap();
        apply(&universe, &mut state, MapOp::Retype { kind: 1, dest: 6 }).unwrap();
        assert!(matches!(state.cap(6), Cap::PagingTable { level: TableLevel::Pdpt, .. }), "{:?}", state.cap(6));
    }

    #[test]
    fn each_retype_of_the_standard_universe_makes_its_object() {
        let universe = MapUniverse::standard();
        let made = |kind| {
            let mut state = universe.initial_state();
            apply(&universe, &mut state, MapOp::Retype { kind, dest: 6 }).unwrap();
            state.cap(6)
        };
        assert!(matches!(made(0), Cap::Frame { size_bits: 12, rights: Rights::ALL, .. }), "{:?}", made(0));
        assert!(matches!(made(1), Cap::PagingTable { level: TableLevel::PageTable, mapping: Mapping::NONE, .. }), "{:?}", made(1));
        assert!(matches!(made(2), Cap::PagingTable { level: TableLevel::PageDirectory, mapping: Mapping::NONE, .. }), "{:?}", made(2));
        assert!(matches!(made(3), Cap::Pml4 { asid: 2, .. }), "the lowest free ASID: {:?}", made(3));
    }

    #[test]
    fn a_retype_clears_exactly_the_new_objects_memory() {
        let universe = MapUniverse::standard();
        let mut state = universe.initial_state();
        // Old contents in the untyped's first two pages and just below it.
        for page in [UNTYPED - 0x1000, UNTYPED, UNTYPED + 0x1000] {
            state.tables.set_entry(page, 3, 0x70_0000 | PRESENT);
        }
        apply(&universe, &mut state, MapOp::Retype { kind: 1, dest: 6 }).unwrap();
        assert!(matches!(state.cap(6), Cap::PagingTable { paddr: UNTYPED, .. }), "{:?}", state.cap(6));
        assert_eq!(state.tables.entry(UNTYPED, 3), 0, "the new table is cleared");
        assert_ne!(state.tables.entry(UNTYPED + 0x1000, 3), 0, "the page after it is not the table's");
        assert_ne!(state.tables.entry(UNTYPED - 0x1000, 3), 0, "the page before it is not the table's");
    }

    #[test]
    fn unmaps_and_revokes_act_only_on_what_is_there() {
        let universe = MapUniverse::standard();
        let mut state = universe.initial_state();
        assert_eq!(apply(&universe, &mut state, MapOp::Revoke { slot: 0 }), Err("no children"));
        assert_eq!(apply(&universe, &mut state, MapOp::UnmapFrame { slot: 5 }), Err("not mapped (no change)"));
        assert_eq!(apply(&universe, &mut state, MapOp::UnmapTable { slot: 4 }), Err("not mapped (no change)"));
        apply(&universe, &mut state, MapOp::Retype { kind: 0, dest: 6 }).unwrap();
        apply(&universe, &mut state, MapOp::Revoke { slot: 0 }).unwrap();
        assert_eq!(state.cap(6), Cap::Null, "the revoke removed the retyped frame");
        apply(&universe, &mut state, MapOp::MapTable { slot: 4, vaddr: 1, vspace: THREAD_VSPACE }).unwrap();
        apply(&universe, &mut state, MapOp::MapFrame { slot: 5, vaddr: 1, vspace: THREAD_VSPACE }).unwrap();
        assert_eq!(state.user_write_target(PML4, VADDRS[1]), Some(FRAME));
        apply(&universe, &mut state, MapOp::UnmapFrame { slot: 5 }).unwrap();
        assert!(matches!(state.cap(5), Cap::Frame { mapping: Mapping::NONE, .. }), "{:?}", state.cap(5));
        assert_eq!(state.user_write_target(PML4, VADDRS[1]), None);
        apply(&universe, &mut state, MapOp::UnmapTable { slot: 4 }).unwrap();
        assert!(matches!(state.cap(4), Cap::PagingTable { mapping: Mapping::NONE, .. }), "{:?}", state.cap(4));
        assert_eq!(state.tables.entry(PD, 1), 0);
        assert_eq!(check(&state), Ok(()));
    }

    #[test]
    fn an_exploration_counts_its_states_transitions_and_refusals() {
        let universe = MapUniverse::standard();
        assert_eq!(explore(&universe, 0), (MapStats { states: 1, transitions: 0, rejected: 0 }, None));
        // Depth 1 against the operations applied one by one to the initial state.
        let initial = universe.initial_state();
        let mut expected = MapStats { states: 1, ..MapStats::default() };
        let mut seen = HashSet::from([initial.fingerprint()]);
        for op in MapOp::all(&universe) {
            let mut after = initial.clone();
            if apply(&universe, &mut after, op).is_err() {
                expected.rejected += 1;
            } else {
                expected.transitions += 1;
                expected.states += u64::from(seen.insert(after.fingerprint()));
            }
        }
        assert!(expected.transitions > 1 && expected.rejected > 1, "{expected:?}");
        assert_eq!(explore(&universe, 1), (expected, None));
    }

    #[test]
    fn the_thread_runs_in_the_pml4_of_slot_1_only_while_its_asid_names_it() {
        let mut state = MapUniverse::standard().initial_state();
        assert_eq!(state.thread_space(), Some((1, PML4)));
        state.tables.asids[1] = PDPT;
        assert_eq!(state.thread_space(), None, "ASID 1 names another table");
        state.tables.asids[1] = 0;
        assert_eq!(state.thread_space(), None, "ASID 1 is free");
        let mut state = MapUniverse::standard().initial_state();
        set_cap(&mut state, THREAD_VSPACE, Cap::Pml4 { paddr: PML4, asid: 2 });
        assert_eq!(state.thread_space(), None, "the capability names ASID 2");
        let frame = state.cap(5);
        set_cap(&mut state, THREAD_VSPACE, frame);
        assert_eq!(state.thread_space(), None, "a frame is no address space");
    }

    #[test]
    fn a_user_write_needs_present_user_writable_entries_at_every_level() {
        let state = with_directory_exposed();
        assert_eq!(state.user_write_target(PML4, VADDRS[1] + 0x18), Some(PD + 0x18));
        // The offset inside a 4 KiB page is the address's low 12 bits only.
        let mut fifth = state.clone();
        fifth.tables.set_entry(PT, 5, FRAME | PRESENT | WRITABLE | USER);
        assert_eq!(fifth.user_write_target(PML4, VADDRS[1] + 0x5018), Some(FRAME + 0x18));
        for missing in [PRESENT, USER, WRITABLE] {
            for (table, index) in [(PML4, 0), (PDPT, 0), (PD, 1), (PT, 0)] {
                let mut state = state.clone();
                state.tables.set_entry(table, index, state.tables.entry(table, index) & !missing);
                assert_eq!(state.user_write_target(PML4, VADDRS[1]), None, "{missing:#x} missing at {table:#x}[{index}]");
            }
        }
    }

    #[test]
    fn a_user_write_into_a_directory_forges_a_writable_2mib_user_page_over_physical_0() {
        let universe = MapUniverse::standard();
        let mut state = with_directory_exposed();
        assert_eq!(check(&state).map_err(|(invariant, _)| invariant), Err(MapInvariant::TablesBacked), "PT records no mapping");
        assert_eq!(state.user_write_target(PML4, VADDRS[1]), Some(PD));
        assert_eq!(state.user_write_target(PML4, VADDRS[0]), None);
        apply(&universe, &mut state, MapOp::UserWrite { vaddr: 1 }).unwrap();
        assert_eq!(state.tables.entry(PD, 0), FORGED);
        assert_eq!(state.user_write_target(PML4, VADDRS[0] + 0x1234), Some(0x1234), "the thread now writes physical memory at will");
        assert_eq!(check(&state).map_err(|(invariant, _)| invariant), Err(MapInvariant::TranslationsBacked));
        assert_eq!(apply(&universe, &mut state, MapOp::UserWrite { vaddr: 1 }), Err("no change"));
    }
}
