//! Page-table contents: mapping and unmapping paging structures and frames, and what a
//! deleted paging capability leaves behind. Tables are reached through [`PagingMemory`], so
//! this code runs unchanged in the kernel (tables in physical memory through the direct
//! map), in host tests and in the model checker (tables in a map).
//!
//! # The mapping invariant
//!
//! For every live address space (an ASID whose PML4 is live):
//!
//! 1. every present user-accessible leaf entry reachable from its PML4 (a 4 KiB entry of a
//!    page table, a 2 MiB entry of a page directory) translating virtual address `v` to
//!    physical `p` is backed by a live frame capability to the frame at `p` whose recorded
//!    mapping is (that ASID, `v`);
//! 2. every present entry of the PML4's user half, of a PDPT, or of a page directory that is
//!    not a 2 MiB page points to a live paging structure of the level below, and every
//!    capability to it records the mapping (that ASID, the base of the region the entry
//!    covers).
//!
//! So user code reaches only memory its capabilities account for. Three rules keep it:
//!
//! - Unmapping a paging structure removes its entry from the parent (if the parent is still
//!   reachable and still points at it) and **clears all its entries**, as seL4's
//!   `clearMemory` on unmap does: a table whose recorded mapping is gone is never mapped
//!   again with stale entries, even when its parent was itself unmapped and cleared first.
//!   Only the last capability to a structure may unmap it ([`UnmapError::NotFinal`]), so
//!   every capability to a structure agrees on where it is mapped (copies are derived only
//!   from mapped capabilities and keep the mapping).
//! - Deleting the last capability to a mapped structure does the same; deleting the last
//!   capability to a PML4 clears its user half before its ASID is freed.
//! - A frame entry is written only with the recorded mapping of the capability used, and
//!   only over an empty entry or the same frame's own entry (a re-map); unmapping or
//!   deleting a frame capability removes the entry only if it still holds that frame.
//!
//! An entry left behind by a frame deleted while its table was unreachable (the table's
//! parent was unmapped, or its address space deleted) lies in a table that stays
//! unreachable until it is unmapped or destroyed — both clear it.

use crate::cap::{Cap, Mapping, TableLevel};
use tileos_abi::invocation::frame_attributes;
use tileos_abi::object::Rights;

/// Entry maps something.
pub const PRESENT: u64 = 1;
/// Writable.
pub const WRITABLE: u64 = 1 << 1;
/// Accessible from user mode.
pub const USER: u64 = 1 << 2;
/// Write-through (with [`CACHE_DISABLE`]: uncached).
pub const WRITE_THROUGH: u64 = 1 << 3;
/// Cache disabled.
pub const CACHE_DISABLE: u64 = 1 << 4;
/// Large page (2 MiB in a page directory).
pub const HUGE: u64 = 1 << 7;
/// Not executable.
pub const NO_EXECUTE: u64 = 1 << 63;
/// Physical address bits of an entry.
pub const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// Entries per table.
pub const ENTRIES: usize = 512;
/// First PML4 entry of the kernel half (shared by every address space, never user).
pub const KERNEL_HALF: usize = 256;
/// End of the user half of an address space.
pub const USER_TOP: u64 = tileos_elf::USER_TOP;

/// Level of a table in the walk: 4 = PML4, 3 = PDPT, 2 = page directory, 1 = page table.
pub type Level = u32;

/// Page-table storage, the ASID table and the TLB.
pub trait PagingMemory {
    /// Entry `index` of the table at `table`.
    fn entry(&self, table: u64, index: usize) -> u64;
    /// Writes entry `index` of the table at `table`.
    fn set_entry(&mut self, table: u64, index: usize, value: u64);
    /// The PML4 of the address space `asid`, if it is live.
    fn root(&self, asid: u16) -> Option<u64>;
    /// Marks `asid` free (its PML4 is being destroyed).
    fn free_asid(&mut self, asid: u16);
    /// Drops any cached translation of `vaddr` (one page) in the address space `pml4`, on
    /// every CPU that may hold one.
    fn flush_page(&mut self, pml4: u64, vaddr: u64);
    /// Drops every cached user translation of the address space `pml4` (`None`: no live
    /// address space, so only this CPU's), on every CPU that may hold one.
    fn flush_all(&mut self, pml4: Option<u64>);
}

/// Index into the table at `level` for `vaddr`.
pub const fn index(vaddr: u64, level: Level) -> usize {
    ((vaddr >> (12 + 9 * (level - 1))) & 0x1FF) as usize
}

/// Follows `vaddr` from the PML4 at `pml4` down to the table at `level` (4: the PML4 itself,
/// 3: the PDPT, 2: the page directory, 1: the page table). `None` if a table on the way is
/// missing or the walk meets a 2 MiB page.
pub fn find_table(memory: &impl PagingMemory, pml4: u64, vaddr: u64, level: Level) -> Option<u64> {
    let mut current = pml4;
    for walk_level in (level + 1..=4).rev() {
        let entry = memory.entry(current, index(vaddr, walk_level));
        if entry & PRESENT == 0 || entry & HUGE != 0 {
            return None;
        }
        current = entry & ADDRESS_MASK;
    }
    Some(current)
}

/// Why a map is refused; the invocation layer turns each into an error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The capability is mapped elsewhere already (IllegalOperation).
    AlreadyMapped,
    /// The address (or the frame's end) lies outside the user half (InvalidArgument 0).
    OutsideUserHalf,
    /// The address is not aligned to the frame size (AlignmentError 0).
    Unaligned,
    /// Frame rights ∩ requested rights lack Read (InvalidArgument 1).
    NoReadRight,
    /// No table of the level above covers the address (FailedLookup, MissingCapability).
    MissingTable,
    /// The entry is in use (DeleteFirst).
    Occupied,
}

/// Why a paging structure cannot be unmapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnmapError {
    /// Other capabilities to the structure exist: revoke or delete them first (RevokeFirst).
    NotFinal,
}

/// The address space a map goes into: its PML4 and ASID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VSpace {
    /// Physical address of the PML4.
    pub pml4: u64,
    /// Its address-space identifier.
    pub asid: u16,
}

/// Enters the paging structure at `paddr` of `level`, whose capability records `mapping`,
/// into its parent in `vspace` for the region containing `vaddr`. Returns the mapping to
/// record in the capability.
pub fn map_table(
    memory: &mut impl PagingMemory,
    vspace: VSpace,
    paddr: u64,
    level: TableLevel,
    mapping: Mapping,
    vaddr: u64,
) -> Result<Mapping, MapError> {
    if mapping.is_mapped() {
        return Err(MapError::AlreadyMapped);
    }
    if vaddr >= USER_TOP {
        return Err(MapError::OutsideUserHalf);
    }
    let parent_level = level as Level + 1;
    let parent = find_table(memory, vspace.pml4, vaddr, parent_level).ok_or(MapError::MissingTable)?;
    let slot = index(vaddr, parent_level);
    if memory.entry(parent, slot) & PRESENT != 0 {
        return Err(MapError::Occupied);
    }
    memory.set_entry(parent, slot, paddr | PRESENT | WRITABLE | USER);
    Ok(Mapping { asid: vspace.asid, vaddr: vaddr & !((1u64 << level.span_bits()) - 1) })
}

/// A frame map request: the frame as its capability describes it and the arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameMap {
    /// Physical address of the frame.
    pub paddr: u64,
    /// log2 of its size: 12 or 21.
    pub size_bits: u8,
    /// The capability's rights.
    pub rights: Rights,
    /// The capability's recorded mapping.
    pub mapping: Mapping,
    /// Where to map it.
    pub vaddr: u64,
    /// Requested rights (intersected with the capability's).
    pub requested: Rights,
    /// [`frame_attributes`] bits.
    pub attributes: u64,
}

/// Level of the table holding a frame's entry: 1 for 4 KiB frames, 2 for 2 MiB ones.
const fn frame_level(size_bits: u32) -> Level {
    if size_bits == 12 { 1 } else { 2 }
}

/// Whether `entry` is the leaf entry of the frame at `paddr` in a table of `level`.
fn holds_frame(entry: u64, paddr: u64, level: Level) -> bool {
    entry & PRESENT != 0 && entry & ADDRESS_MASK == paddr && (level == 1 || entry & HUGE != 0)
}

/// Maps a frame into `vspace`, or re-maps it at the same place with new rights and
/// attributes. Returns the mapping to record in the capability.
pub fn map_frame(memory: &mut impl PagingMemory, vspace: VSpace, request: FrameMap) -> Result<Mapping, MapError> {
    let FrameMap { paddr, size_bits, rights, mapping, vaddr, requested, attributes } = request;
    let size = 1u64 << size_bits;
    if vaddr % size != 0 {
        return Err(MapError::Unaligned);
    }
    if vaddr.checked_add(size).is_none_or(|end| end > USER_TOP) {
        return Err(MapError::OutsideUserHalf);
    }
    let target = Mapping { asid: vspace.asid, vaddr };
    let remap = mapping.is_mapped();
    if remap && mapping != target {
        return Err(MapError::AlreadyMapped);
    }
    let effective = rights.intersect(requested);
    if !effective.contains(Rights::READ) {
        return Err(MapError::NoReadRight);
    }
    let level = frame_level(u32::from(size_bits));
    let table = find_table(memory, vspace.pml4, vaddr, level).ok_or(MapError::MissingTable)?;
    let slot = index(vaddr, level);
    let old = memory.entry(table, slot);
    // Only an empty entry, or this frame's own entry on a re-map, may be written: never an
    // entry another capability accounts for.
    if old & PRESENT != 0 && !(remap && holds_frame(old, paddr, level)) {
        return Err(MapError::Occupied);
    }
    let mut entry = paddr | PRESENT | USER;
    if effective.contains(Rights::WRITE) {
        entry |= WRITABLE;
    }
    if attributes & frame_attributes::EXECUTABLE == 0 {
        entry |= NO_EXECUTE;
    }
    if attributes & frame_attributes::UNCACHED != 0 {
        entry |= CACHE_DISABLE | WRITE_THROUGH;
    }
    if level == 2 {
        entry |= HUGE;
    }
    memory.set_entry(table, slot, entry);
    memory.flush_page(vspace.pml4, vaddr);
    Ok(target)
}

/// Removes the mapping of the frame at `paddr` recorded in `mapping`, if that address space
/// is live and still maps this frame there.
pub fn unmap_frame(memory: &mut impl PagingMemory, mapping: Mapping, paddr: u64, size_bits: u32) {
    if !mapping.is_mapped() {
        return;
    }
    let Some(pml4) = memory.root(mapping.asid) else { return };
    let level = frame_level(size_bits);
    let Some(table) = find_table(memory, pml4, mapping.vaddr, level) else { return };
    let slot = index(mapping.vaddr, level);
    if holds_frame(memory.entry(table, slot), paddr, level) {
        memory.set_entry(table, slot, 0);
        memory.flush_page(pml4, mapping.vaddr);
    }
}

/// Unmaps the paging structure at `paddr` of `level` whose capability records `mapping`:
/// removes its entry from the parent if that address space is live and the parent still
/// points at it, then clears all its entries whether or not the parent entry was found.
pub fn unmap_table(memory: &mut impl PagingMemory, mapping: Mapping, paddr: u64, level: TableLevel) {
    if !mapping.is_mapped() {
        return;
    }
    let parent_level = level as Level + 1;
    let pml4 = memory.root(mapping.asid);
    let parent = pml4.and_then(|pml4| find_table(memory, pml4, mapping.vaddr, parent_level));
    if let Some(parent) = parent {
        let slot = index(mapping.vaddr, parent_level);
        let entry = memory.entry(parent, slot);
        if entry & PRESENT != 0 && entry & HUGE == 0 && entry & ADDRESS_MASK == paddr {
            memory.set_entry(parent, slot, 0);
        }
    }
    clear_entries(memory, paddr, ENTRIES);
    memory.flush_all(pml4);
}

/// Zeroes the first `count` entries of the table at `table`.
fn clear_entries(memory: &mut impl PagingMemory, table: u64, count: usize) {
    for slot in 0..count {
        if memory.entry(table, slot) != 0 {
            memory.set_entry(table, slot, 0);
        }
    }
}

/// The PagingStructureUnmap method on the capability `cap` (a paging structure), `is_final`
/// telling whether it is the last capability to the structure. Returns the capability as it
/// is left (unmapped).
pub fn unmap_structure(memory: &mut impl PagingMemory, cap: Cap, is_final: bool) -> Result<Cap, UnmapError> {
    match cap {
        Cap::PagingTable { paddr, level, mapping } if mapping.is_mapped() => {
            if !is_final {
                return Err(UnmapError::NotFinal);
            }
            unmap_table(memory, mapping, paddr, level);
            Ok(Cap::PagingTable { paddr, level, mapping: Mapping::NONE })
        }
        other => Ok(other),
    }
}

/// What deleting the capability `cap` does to page tables (the paging cases of the kernel's
/// `finalise`): a mapped frame capability is unmapped; the last capability to a mapped
/// paging structure unmaps and clears it; the last capability to a PML4 clears its user
/// half and frees its ASID. Other capabilities are left alone.
pub fn finalise(memory: &mut impl PagingMemory, cap: &Cap, is_final: bool) {
    match *cap {
        Cap::Frame { paddr, size_bits, mapping, .. } => unmap_frame(memory, mapping, paddr, u32::from(size_bits)),
        Cap::PagingTable { paddr, level, mapping } if is_final => unmap_table(memory, mapping, paddr, level),
        Cap::Pml4 { paddr, asid } if is_final => {
            clear_entries(memory, paddr, KERNEL_HALF);
            memory.flush_all(Some(paddr));
            memory.free_asid(asid);
        }
        _ => {}
    }
}

/// One present entry met by [`walk`], with the region of the address space it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Translation {
    /// A user-accessible frame: `vaddr` translates to `paddr` for `2^size_bits` bytes.
    Frame {
        /// Virtual address.
        vaddr: u64,
        /// Physical address of the frame.
        paddr: u64,
        /// 12 or 21.
        size_bits: u32,
        /// Whether user code may write.
        writable: bool,
    },
    /// An entry of a table of `parent_level` pointing to a table at `paddr`, for the region
    /// starting at `vaddr`.
    Table {
        /// First virtual address of the region.
        vaddr: u64,
        /// Level of the table holding the entry (4: the PML4).
        parent_level: Level,
        /// Physical address of the table pointed to.
        paddr: u64,
    },
    /// A present entry that is not user-accessible in the user half (never written by the
    /// kernel; reported so a check can reject it).
    Supervisor {
        /// First virtual address of the region.
        vaddr: u64,
        /// Level of the table holding the entry.
        level: Level,
    },
}

/// Calls `visit` for every present entry of the user half reachable from the PML4 at `pml4`,
/// parents before children. `visit` says whether to descend into a table entry (a checker
/// may refuse to follow an entry it found invalid).
pub fn walk(memory: &impl PagingMemory, pml4: u64, visit: &mut impl FnMut(Translation) -> bool) {
    walk_table(memory, pml4, 4, 0, visit);
}

fn walk_table(memory: &impl PagingMemory, table: u64, level: Level, base: u64, visit: &mut impl FnMut(Translation) -> bool) {
    let count = if level == 4 { KERNEL_HALF } else { ENTRIES };
    for slot in 0..count {
        let entry = memory.entry(table, slot);
        if entry & PRESENT == 0 {
            continue;
        }
        let vaddr = base | ((slot as u64) << (12 + 9 * (level - 1)));
        let paddr = entry & ADDRESS_MASK;
        if entry & USER == 0 {
            visit(Translation::Supervisor { vaddr, level });
        } else if level == 1 || (level == 2 && entry & HUGE != 0) {
            let size_bits = if level == 1 { 12 } else { 21 };
            visit(Translation::Frame { vaddr, paddr, size_bits, writable: entry & WRITABLE != 0 });
        } else if visit(Translation::Table { vaddr, parent_level: level, paddr }) {
            walk_table(memory, paddr, level - 1, vaddr, visit);
        }
    }
}

/// A breach of the mapping invariant (see the module documentation), found by
/// [`check_invariant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A user translation of `vaddr` to the frame at `paddr` that no live frame capability
    /// with the recorded mapping (`asid`, `vaddr`) accounts for.
    UnbackedFrame {
        /// Address space.
        asid: u16,
        /// Virtual address.
        vaddr: u64,
        /// Physical address reached.
        paddr: u64,
    },
    /// A writable translation whose backing capabilities all lack the Write right.
    WritableWithoutRight {
        /// Address space.
        asid: u16,
        /// Virtual address.
        vaddr: u64,
    },
    /// An intermediate entry for the region at `vaddr` that points to `paddr`, which is not
    /// a live paging structure of the level below.
    UnbackedTable {
        /// Address space.
        asid: u16,
        /// First address of the region.
        vaddr: u64,
        /// Physical address pointed to.
        paddr: u64,
    },
    /// A capability to the structure at `paddr`, entered for the region at `vaddr`, records
    /// another mapping.
    MisrecordedTable {
        /// Address space.
        asid: u16,
        /// First address of the region.
        vaddr: u64,
        /// Physical address of the structure.
        paddr: u64,
    },
    /// A present entry of the user half without the user bit (the kernel never writes one).
    SupervisorEntry {
        /// Address space.
        asid: u16,
        /// First address of the region.
        vaddr: u64,
    },
}

/// Checks the mapping invariant over every address space whose PML4 capability is in `caps`
/// (which must hold every live capability) and whose ASID is live. The kernel does not run
/// this: host tests and the model checker do, after every operation.
pub fn check_invariant(memory: &impl PagingMemory, caps: &[Cap]) -> Result<(), Violation> {
    let mut roots = caps.iter().filter_map(|cap| match *cap {
        Cap::Pml4 { paddr, asid } if memory.root(asid) == Some(paddr) => Some((asid, paddr)),
        _ => None,
    });
    roots.try_for_each(|(asid, pml4)| {
        let mut found = Ok(());
        walk(memory, pml4, &mut |translation| {
            let verdict = check_translation(caps, asid, translation);
            let descend = verdict.is_ok();
            if found.is_ok() {
                found = verdict;
            }
            descend
        });
        found
    })
}

fn check_translation(caps: &[Cap], asid: u16, translation: Translation) -> Result<(), Violation> {
    let here = |vaddr| Mapping { asid, vaddr };
    match translation {
        Translation::Frame { vaddr, paddr, size_bits, writable } => {
            let mut backing = caps.iter().filter_map(|cap| match *cap {
                Cap::Frame { paddr: frame, size_bits: bits, rights, mapping, .. }
                    if frame == paddr && u32::from(bits) == size_bits && mapping == here(vaddr) =>
                {
                    Some(rights)
                }
                _ => None,
            });
            let Some(first) = backing.next() else { return Err(Violation::UnbackedFrame { asid, vaddr, paddr }) };
            if writable && !first.contains(Rights::WRITE) && !backing.any(|rights| rights.contains(Rights::WRITE)) {
                return Err(Violation::WritableWithoutRight { asid, vaddr });
            }
            Ok(())
        }
        Translation::Table { vaddr, parent_level, paddr } => {
            let level = parent_level - 1;
            let mut structures = caps.iter().filter_map(|cap| match *cap {
                Cap::PagingTable { paddr: table, level: table_level, mapping } if table == paddr && table_level as Level == level => {
                    Some(mapping)
                }
                _ => None,
            });
            let Some(first) = structures.next() else { return Err(Violation::UnbackedTable { asid, vaddr, paddr }) };
            if first != here(vaddr) || structures.any(|mapping| mapping != here(vaddr)) {
                return Err(Violation::MisrecordedTable { asid, vaddr, paddr });
            }
            Ok(())
        }
        Translation::Supervisor { vaddr, .. } => Err(Violation::SupervisorEntry { asid, vaddr }),
    }
}

#[cfg(test)]
mod tests;
