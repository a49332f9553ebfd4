//! Host tests of the mapping code: the attack of issue 11 (item 2) and the other paths that
//! could leave an entry no capability accounts for. Slots, page tables and ASIDs live in
//! one [`World`], whose `finalise` is the kernel's paging finalisation, so deletes run
//! through the real capability derivation tree code.

use super::*;
use crate::cspace::{self, CSpaceMemory, Slot, SlotRef, slot_address};
use std::collections::BTreeMap;
use std::vec::Vec;

const CNODE: u64 = 0x7000_0000;
const UNTYPED: u64 = 0x40_0000;
const ASID: u16 = 1;

/// Slots, tables and ASIDs.
#[derive(Default)]
struct World {
    slots: BTreeMap<SlotRef, Slot>,
    entries: BTreeMap<(u64, usize), u64>,
    asids: BTreeMap<u16, u64>,
    next_slot: u64,
}

impl CSpaceMemory for World {
    fn read(&self, at: SlotRef) -> Slot {
        self.slots.get(&at).copied().unwrap_or(Slot::EMPTY)
    }
    fn write(&mut self, at: SlotRef, slot: Slot) {
        self.slots.insert(at, slot);
    }
    fn finalise(&mut self, cap: &Cap, is_final: bool) {
        finalise(self, cap, is_final);
    }
}

impl PagingMemory for World {
    fn entry(&self, table: u64, index: usize) -> u64 {
        assert!(index < ENTRIES);
        self.entries.get(&(table, index)).copied().unwrap_or(0)
    }
    fn set_entry(&mut self, table: u64, index: usize, value: u64) {
        assert!(index < ENTRIES);
        self.entries.insert((table, index), value);
    }
    fn root(&self, asid: u16) -> Option<u64> {
        self.asids.get(&asid).copied()
    }
    fn free_asid(&mut self, asid: u16) {
        self.asids.remove(&asid);
    }
    fn flush_page(&mut self, _pml4: u64, _vaddr: u64) {}
    fn flush_all(&mut self, _pml4: Option<u64>) {}
}

fn rw() -> Rights {
    Rights(Rights::READ.0 | Rights::WRITE.0)
}

impl World {
    /// A world with an untyped covering `UNTYPED..UNTYPED + 4 MiB` and a PML4 (ASID 1) at
    /// `UNTYPED` with a PDPT and a page directory covering the first GiB.
    fn new() -> (World, SlotRef) {
        let mut world = World::default();
        cspace::insert_root(
            &mut world,
            slot_address(CNODE, 0),
            Cap::Untyped { paddr: UNTYPED, size_bits: 22, device: false, free_offset: 0, prepared_to: 0, prepared_kind: 0 },
        );
        world.next_slot = 1;
        let pml4 = world.retype(Cap::Pml4 { paddr: UNTYPED, asid: ASID });
        world.asids.insert(ASID, UNTYPED);
        let pdpt = world.retype(table(UNTYPED + 0x1000, TableLevel::Pdpt));
        let pd = world.retype(table(UNTYPED + 0x2000, TableLevel::PageDirectory));
        world.map_table(pdpt, 0).unwrap();
        world.map_table(pd, 0).unwrap();
        (world, pml4)
    }

    /// Creates `cap` from the untyped in a fresh slot (its memory cleared, as a retype does).
    fn retype(&mut self, cap: Cap) -> SlotRef {
        let (start, _) = cap.region().unwrap();
        self.entries.retain(|(table, _), _| *table != start);
        let at = slot_address(CNODE, self.next_slot);
        self.next_slot += 1;
        cspace::insert_derived(self, slot_address(CNODE, 0), at, cap, false);
        at
    }

    fn vspace(&self) -> VSpace {
        VSpace { pml4: self.asids[&ASID], asid: ASID }
    }

    fn map_table(&mut self, at: SlotRef, vaddr: u64) -> Result<(), MapError> {
        let Cap::PagingTable { paddr, level, mapping } = self.read(at).cap else { panic!("not a table") };
        let vspace = self.vspace();
        let mapping = super::map_table(self, vspace, paddr, level, mapping, vaddr)?;
        self.set_cap(at, Cap::PagingTable { paddr, level, mapping });
        self.check();
        Ok(())
    }

    fn map_frame(&mut self, at: SlotRef, vaddr: u64) -> Result<(), MapError> {
        let Cap::Frame { paddr, size_bits, rights, device, mapping } = self.read(at).cap else { panic!("not a frame") };
        let request = FrameMap { paddr, size_bits, rights, mapping, vaddr, requested: rw(), attributes: 0 };
        let vspace = self.vspace();
        let mapping = super::map_frame(self, vspace, request)?;
        self.set_cap(at, Cap::Frame { paddr, size_bits, rights, device, mapping });
        self.check();
        Ok(())
    }

    fn unmap_structure(&mut self, at: SlotRef) -> Result<(), UnmapError> {
        let is_final = cspace::is_final(self, at);
        let cap = super::unmap_structure(self, self.read(at).cap, is_final)?;
        self.set_cap(at, cap);
        self.check();
        Ok(())
    }

    fn delete(&mut self, at: SlotRef) {
        cspace::delete(self, at);
        self.check();
    }

    fn copy(&mut self, at: SlotRef) -> SlotRef {
        let cap = crate::cap::derive(&self.read(at).cap, None).unwrap();
        let dest = slot_address(CNODE, self.next_slot);
        self.next_slot += 1;
        cspace::insert_derived(self, at, dest, cap, false);
        dest
    }

    fn set_cap(&mut self, at: SlotRef, cap: Cap) {
        let mut slot = self.read(at);
        slot.cap = cap;
        self.write(at, slot);
    }

    fn caps(&self) -> Vec<Cap> {
        self.slots.values().map(|slot| slot.cap).filter(|cap| *cap != Cap::Null).collect()
    }

    fn check(&self) {
        assert_eq!(check_invariant(self, &self.caps()), Ok(()));
    }

    /// Every user translation of the live address spaces.
    fn translations(&self) -> Vec<Translation> {
        let mut found = Vec::new();
        for &pml4 in self.asids.values() {
            walk(self, pml4, &mut |translation| {
                found.push(translation);
                true
            });
        }
        found
    }

    /// Whether user code can reach physical `paddr` (any byte of its page).
    fn reaches(&self, paddr: u64) -> Option<Translation> {
        self.translations().into_iter().find(|translation| match *translation {
            Translation::Frame { paddr: base, size_bits, .. } => paddr >= base && paddr < base + (1 << size_bits),
            _ => false,
        })
    }
}

fn table(paddr: u64, level: TableLevel) -> Cap {
    Cap::PagingTable { paddr, level, mapping: Mapping::NONE }
}

fn frame(paddr: u64, size_bits: u8) -> Cap {
    Cap::Frame { paddr, size_bits, rights: Rights::ALL, device: false, mapping: Mapping::NONE }
}

#[test]
fn the_issue_attack_finds_no_stale_entry_and_no_forged_directory() {
    let (mut world, _) = World::new();
    let (a, b) = (0x20_0000, 0x40_0000);
    let frame_paddr = UNTYPED + 0x4000;
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    world.map_table(pt, a).unwrap();
    let victim = world.retype(frame(frame_paddr, 12));
    world.map_frame(victim, a + 0x5000).unwrap();
    world.unmap_structure(pt).unwrap();
    assert_eq!(world.reaches(frame_paddr), None, "unmapping the table removed the frame's translation");
    world.map_table(pt, b).unwrap();
    assert_eq!(world.reaches(frame_paddr), None, "the table came back empty");
    world.delete(victim);
    assert_eq!(world.reaches(frame_paddr), None);
    // The freed frame's memory becomes a page directory, mapped for the second GiB.
    let forged = world.retype(table(frame_paddr, TableLevel::PageDirectory));
    world.map_table(forged, 0x4000_0000).unwrap();
    // The attacker looks for a writable view of the directory's memory to fill it with
    // 2 MiB user entries covering physical 0–1 GiB: there is none.
    assert_eq!(world.reaches(frame_paddr), None);
    assert!((0..ENTRIES).all(|index| world.entry(frame_paddr, index) == 0));
    for translation in world.translations() {
        if let Translation::Frame { paddr, .. } = translation {
            assert!(world.caps().iter().any(|cap| matches!(*cap, Cap::Frame { paddr: p, .. } if p == paddr)));
        }
    }
}

#[test]
fn the_check_catches_a_stale_entry() {
    // What the attack relied on, written by hand: the checker reports it.
    let (mut world, _) = World::new();
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    world.map_table(pt, 0x20_0000).unwrap();
    world.set_entry(UNTYPED + 0x3000, 5, (UNTYPED + 0x4000) | PRESENT | WRITABLE | USER);
    assert_eq!(
        check_invariant(&world, &world.caps()),
        Err(Violation::UnbackedFrame { asid: ASID, vaddr: 0x20_5000, paddr: UNTYPED + 0x4000 })
    );
    world.set_entry(UNTYPED + 0x3000, 5, 0);
    world.set_entry(UNTYPED + 0x2000, 7, 0x9000 | PRESENT | USER);
    assert_eq!(check_invariant(&world, &world.caps()), Err(Violation::UnbackedTable { asid: ASID, vaddr: 0xE0_0000, paddr: 0x9000 }));
}

#[test]
fn a_table_under_an_unmapped_parent_is_cleared_when_unmapped() {
    let (mut world, _) = World::new();
    let pdpt = world.retype(table(UNTYPED + 0x5000, TableLevel::Pdpt));
    let pd = world.retype(table(UNTYPED + 0x6000, TableLevel::PageDirectory));
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    let far = 0x80_0000_0000;
    world.map_table(pdpt, far).unwrap();
    world.map_table(pd, far).unwrap();
    world.map_table(pt, far).unwrap();
    let victim = world.retype(frame(UNTYPED + 0x4000, 12));
    world.map_frame(victim, far + 0x1000).unwrap();
    // The directory goes first: the table is unreachable, so deleting the frame cannot find
    // its entry, which stays in the table.
    world.unmap_structure(pd).unwrap();
    world.delete(victim);
    assert_ne!(world.entry(UNTYPED + 0x3000, 1), 0, "the frame's entry is left in the unreachable table");
    assert_eq!(world.map_table(pt, 0x60_0000), Err(MapError::AlreadyMapped), "still recorded as mapped");
    world.unmap_structure(pt).unwrap();
    assert!((0..ENTRIES).all(|index| world.entry(UNTYPED + 0x3000, index) == 0));
    world.map_table(pt, 0x60_0000).unwrap();
    world.map_table(pd, far).unwrap();
    assert_eq!(world.reaches(UNTYPED + 0x4000), None);
}

#[test]
fn only_the_last_capability_unmaps_a_table_and_the_last_deletion_clears_it() {
    let (mut world, _) = World::new();
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    world.map_table(pt, 0x20_0000).unwrap();
    let copy = world.copy(pt);
    assert_eq!(world.unmap_structure(pt), Err(UnmapError::NotFinal));
    let victim = world.retype(frame(UNTYPED + 0x4000, 12));
    world.map_frame(victim, 0x20_0000).unwrap();
    world.delete(copy);
    assert!(world.reaches(UNTYPED + 0x4000).is_some(), "deleting a copy unmaps nothing");
    world.delete(pt);
    assert_eq!(world.reaches(UNTYPED + 0x4000), None);
    assert_eq!(world.entry(UNTYPED + 0x2000, 1), 0, "the parent entry is gone");
    assert!((0..ENTRIES).all(|index| world.entry(UNTYPED + 0x3000, index) == 0), "the table is cleared");
    // The frame's capability still records its mapping; unmapping it finds nothing.
    world.delete(victim);
}

#[test]
fn a_deleted_pml4_is_cleared_and_its_reused_asid_is_not_disturbed() {
    let (mut world, pml4) = World::new();
    let victim = world.retype(frame(UNTYPED + 0x4000, 12));
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    world.map_table(pt, 0x20_0000).unwrap();
    world.map_frame(victim, 0x20_0000).unwrap();
    world.delete(pml4);
    assert_eq!(world.root(ASID), None);
    assert!((0..KERNEL_HALF).all(|index| world.entry(UNTYPED, index) == 0));
    // A new PML4 gets the same ASID and its own PDPT at the same address.
    let again = world.retype(Cap::Pml4 { paddr: UNTYPED + 0x8000, asid: ASID });
    world.asids.insert(ASID, UNTYPED + 0x8000);
    let pdpt = world.retype(table(UNTYPED + 0x9000, TableLevel::Pdpt));
    world.map_table(pdpt, 0).unwrap();
    // The old structures' capabilities still record ASID 1: unmapping them leaves the new
    // address space alone.
    let old_pdpt = slot_address(CNODE, 2);
    assert!(matches!(
        world.read(old_pdpt).cap,
        Cap::PagingTable { level: TableLevel::Pdpt, mapping: Mapping { asid: ASID, vaddr: 0 }, .. }
    ));
    world.unmap_structure(old_pdpt).unwrap();
    assert_eq!(world.entry(UNTYPED + 0x8000, 0), (UNTYPED + 0x9000) | PRESENT | WRITABLE | USER);
    world.delete(victim);
    world.delete(pt);
    world.delete(again);
}

#[test]
fn a_remap_never_overwrites_another_frames_entry() {
    let (mut world, _) = World::new();
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    world.map_table(pt, 0x20_0000).unwrap();
    let first = world.retype(frame(UNTYPED + 0x4000, 12));
    world.map_frame(first, 0x20_0000).unwrap();
    world.map_frame(first, 0x20_0000).unwrap();
    assert_eq!(world.map_frame(first, 0x20_1000), Err(MapError::AlreadyMapped));
    // The table is replaced; another frame takes the address the first one recorded.
    world.unmap_structure(pt).unwrap();
    let pt2 = world.retype(table(UNTYPED + 0x5000, TableLevel::PageTable));
    world.map_table(pt2, 0x20_0000).unwrap();
    let second = world.retype(frame(UNTYPED + 0x6000, 12));
    world.map_frame(second, 0x20_0000).unwrap();
    assert_eq!(world.map_frame(first, 0x20_0000), Err(MapError::Occupied));
    world.delete(first);
    assert!(world.reaches(UNTYPED + 0x6000).is_some(), "deleting the first frame leaves the second's entry");
    world.delete(second);
    assert_eq!(world.reaches(UNTYPED + 0x6000), None);
}

#[test]
fn two_mib_frames_live_in_page_directories() {
    let (mut world, _) = World::new();
    let big = world.retype(frame(UNTYPED + 0x20_0000, 21));
    world.map_frame(big, 0x20_0000).unwrap();
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    assert_eq!(world.map_table(pt, 0x20_0000), Err(MapError::Occupied));
    let small = world.retype(frame(UNTYPED + 0x4000, 12));
    assert_eq!(world.map_frame(small, 0x20_1000), Err(MapError::MissingTable), "no walk through a 2 MiB page");
    assert_eq!(world.map_frame(big, 0x30_0000), Err(MapError::Unaligned));
    // A frame capability recording this address cannot unmap the 2 MiB page as its own.
    super::unmap_frame(&mut world, Mapping { asid: ASID, vaddr: 0x20_0000 }, UNTYPED + 0x20_0000, 12);
    assert!(world.reaches(UNTYPED + 0x20_0000).is_some());
    world.delete(big);
    assert_eq!(world.reaches(UNTYPED + 0x20_0000), None);
    world.map_table(pt, 0x20_0000).unwrap();
}

#[test]
fn structures_map_only_at_their_own_level() {
    let (mut world, _) = World::new();
    // A page table's parent is a page directory: none covers the second 512 GiB.
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    assert_eq!(world.map_table(pt, 0x80_0000_0000), Err(MapError::MissingTable));
    // A directory over the one already present for the first GiB.
    let pd = world.retype(table(UNTYPED + 0x4000, TableLevel::PageDirectory));
    assert_eq!(world.map_table(pd, 0x1000), Err(MapError::Occupied));
    assert_eq!(world.map_table(pd, USER_TOP), Err(MapError::OutsideUserHalf));
    world.map_table(pd, 0x4000_0000).unwrap();
    assert_eq!(world.entry(UNTYPED + 0x1000, 1), (UNTYPED + 0x4000) | PRESENT | WRITABLE | USER);
    let Cap::PagingTable { mapping, .. } = world.read(pd).cap else { unreachable!() };
    assert_eq!(mapping, Mapping { asid: ASID, vaddr: 0x4000_0000 });
    let far = world.retype(frame(UNTYPED + 0x5000, 12));
    assert_eq!(world.map_frame(far, USER_TOP - 0x1000), Err(MapError::MissingTable));
    assert_eq!(world.map_frame(far, USER_TOP), Err(MapError::OutsideUserHalf));
}

#[test]
fn entry_bits_are_the_architectures() {
    // Intel SDM vol. 3A, 4.5: the bits of a 4-level paging entry.
    assert_eq!([PRESENT, WRITABLE, USER, WRITE_THROUGH, CACHE_DISABLE, HUGE], [1, 2, 4, 8, 0x10, 0x80]);
    assert_eq!(NO_EXECUTE, 0x8000_0000_0000_0000);
    assert_eq!(ADDRESS_MASK, 0x000F_FFFF_FFFF_F000);
}

#[test]
fn only_a_present_leaf_with_the_frames_address_holds_the_frame() {
    let frame = UNTYPED + 0x20_0000;
    // A 4 KiB leaf: present with the frame's address; not without the present bit.
    assert!(holds_frame(frame | PRESENT | USER, frame, 1));
    assert!(!holds_frame(frame | USER, frame, 1), "a non-present entry holds nothing");
    assert!(!holds_frame(frame, frame, 1), "a non-present entry holds nothing");
    assert!(!holds_frame((frame + 0x1000) | PRESENT, frame, 1), "another frame's entry");
    // A 2 MiB leaf needs the huge bit: the same address in a directory entry without it
    // names a page table, not the frame.
    assert!(holds_frame(frame | PRESENT | HUGE, frame, 2));
    assert!(!holds_frame(frame | PRESENT | WRITABLE, frame, 2), "a table entry is not a 2 MiB leaf");
    assert!(!holds_frame(frame | HUGE, frame, 2), "a non-present entry holds nothing");
}

#[test]
fn a_frames_entry_carries_exactly_its_rights_and_attributes() {
    // Intel SDM vol. 3A, 4.5: no-execute unless EXECUTABLE; CD and WT when UNCACHED; the
    // write bit only with the Write right.
    let (mut world, _) = World::new();
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    world.map_table(pt, 0).unwrap();
    let vspace = world.vspace();
    let paddr = UNTYPED + 0x4000;
    let request = |vaddr, requested, attributes| FrameMap {
        paddr,
        size_bits: 12,
        rights: Rights::ALL,
        mapping: Mapping::NONE,
        vaddr,
        requested,
        attributes,
    };
    let cases = [
        (rw(), 0, paddr | PRESENT | USER | WRITABLE | NO_EXECUTE),
        (Rights::READ, 0, paddr | PRESENT | USER | NO_EXECUTE),
        (rw(), frame_attributes::EXECUTABLE, paddr | PRESENT | USER | WRITABLE),
        (Rights::READ, frame_attributes::UNCACHED, paddr | PRESENT | USER | NO_EXECUTE | CACHE_DISABLE | WRITE_THROUGH),
        (
            rw(),
            frame_attributes::EXECUTABLE | frame_attributes::UNCACHED,
            paddr | PRESENT | USER | WRITABLE | CACHE_DISABLE | WRITE_THROUGH,
        ),
    ];
    for (index, (requested, attributes, entry)) in cases.into_iter().enumerate() {
        let vaddr = (index as u64 + 1) << 12;
        super::map_frame(&mut world, vspace, request(vaddr, requested, attributes)).unwrap();
        assert_eq!(world.entry(UNTYPED + 0x3000, index + 1), entry, "rights {requested:?}, attributes {attributes:#x}");
    }
}

#[test]
fn unmapping_touches_only_what_the_capability_accounts_for() {
    let (mut world, _) = World::new();
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    world.map_table(pt, 0x20_0000).unwrap();
    let Cap::PagingTable { mapping, .. } = world.read(pt).cap else { unreachable!() };
    let mapped = Cap::PagingTable { paddr: UNTYPED + 0x3000, level: TableLevel::PageTable, mapping };
    // Deleting a capability that is not the last one to a mapped table changes nothing.
    finalise(&mut world, &mapped, false);
    assert_eq!(world.entry(UNTYPED + 0x2000, 1), (UNTYPED + 0x3000) | PRESENT | WRITABLE | USER);
    // An unmapped table's capability unmaps nothing, final or not (no NotFinal refusal).
    let unmapped = table(UNTYPED + 0x3000, TableLevel::PageTable);
    assert_eq!(super::unmap_structure(&mut world, unmapped, false), Ok(unmapped));
    assert_eq!(world.entry(UNTYPED + 0x2000, 1), (UNTYPED + 0x3000) | PRESENT | WRITABLE | USER);
    // A parent entry that is not present, though it holds the table's address, is not the
    // table's: unmapping leaves it (and clears the table).
    world.set_entry(UNTYPED + 0x2000, 1, (UNTYPED + 0x3000) | WRITABLE | USER);
    super::unmap_table(&mut world, mapping, UNTYPED + 0x3000, TableLevel::PageTable);
    assert_eq!(world.entry(UNTYPED + 0x2000, 1), (UNTYPED + 0x3000) | WRITABLE | USER);
}

#[test]
fn the_walk_reports_every_user_entry_once_at_its_level() {
    let (mut world, _) = World::new();
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    world.map_table(pt, 0).unwrap();
    let small = world.retype(frame(UNTYPED + 0x4000, 12));
    // Index 300 of the page table: above the first 256, which a walk of the PML4's user half
    // only would cover.
    world.map_frame(small, 300 << 12).unwrap();
    let big = world.retype(frame(UNTYPED + 0x20_0000, 21));
    world.map_frame(big, 0x20_0000).unwrap();
    let table_at = |vaddr, parent_level, paddr| Translation::Table { vaddr, parent_level, paddr };
    assert_eq!(
        world.translations(),
        [
            table_at(0, 4, UNTYPED + 0x1000),
            table_at(0, 3, UNTYPED + 0x2000),
            table_at(0, 2, UNTYPED + 0x3000),
            Translation::Frame { vaddr: 300 << 12, paddr: UNTYPED + 0x4000, size_bits: 12, writable: true },
            Translation::Frame { vaddr: 0x20_0000, paddr: UNTYPED + 0x20_0000, size_bits: 21, writable: true },
        ]
    );
    // An entry in the PML4's kernel half is not walked; a present user-half entry without
    // the user bit is reported as a supervisor entry.
    world.set_entry(UNTYPED, KERNEL_HALF, (UNTYPED + 0x5000) | PRESENT | USER);
    assert_eq!(world.translations().len(), 5);
    world.set_entry(UNTYPED + 0x3000, 7, (UNTYPED + 0x6000) | PRESENT);
    assert!(world.translations().contains(&Translation::Supervisor { vaddr: 7 << 12, level: 1 }));
    assert_eq!(check_invariant(&world, &world.caps()), Err(Violation::SupervisorEntry { asid: ASID, vaddr: 7 << 12 }));
}

#[test]
fn a_translation_is_backed_only_by_a_capability_matching_all_it_records() {
    let (mut world, _) = World::new();
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    world.map_table(pt, 0).unwrap();
    let paddr = UNTYPED + 0x4000;
    world.set_entry(UNTYPED + 0x3000, 1, paddr | PRESENT | USER | WRITABLE);
    // The table of a PML4 capability whose ASID names another PML4 (below).
    world.set_entry(UNTYPED + 0x7000, 0, (UNTYPED + 0x8000) | PRESENT | USER);
    let here = Mapping { asid: ASID, vaddr: 0x1000 };
    let with = |cap: Cap| world.caps().into_iter().chain([cap]).collect::<Vec<_>>();
    let backing = |paddr, size_bits, rights, mapping| Cap::Frame { paddr, size_bits, rights, device: false, mapping };
    let unbacked = Err(Violation::UnbackedFrame { asid: ASID, vaddr: 0x1000, paddr });
    assert_eq!(check_invariant(&world, &with(backing(paddr, 12, Rights::ALL, here))), Ok(()));
    assert_eq!(check_invariant(&world, &with(backing(paddr + 0x1000, 12, Rights::ALL, here))), unbacked, "another frame");
    assert_eq!(check_invariant(&world, &with(backing(paddr, 21, Rights::ALL, here))), unbacked, "another size");
    let elsewhere = Mapping { asid: ASID, vaddr: 0x2000 };
    assert_eq!(check_invariant(&world, &with(backing(paddr, 12, Rights::ALL, elsewhere))), unbacked, "another place");
    assert_eq!(
        check_invariant(&world, &with(backing(paddr, 12, Rights::READ, here))),
        Err(Violation::WritableWithoutRight { asid: ASID, vaddr: 0x1000 }),
        "a writable entry needs a backing capability with Write"
    );
    // A PML4 capability whose ASID now names another PML4 is not checked: its table's
    // stale entries are no address space's.
    let stale = Cap::Pml4 { paddr: UNTYPED + 0x7000, asid: ASID };
    assert_eq!(
        check_invariant(&world, &with(backing(paddr, 12, Rights::ALL, here)).into_iter().chain([stale]).collect::<Vec<_>>()),
        Ok(())
    );
}

#[test]
fn a_read_only_frame_is_walked_as_read_only() {
    let (mut world, _) = World::new();
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    world.map_table(pt, 0).unwrap();
    let vspace = world.vspace();
    let at = |vaddr, requested| FrameMap {
        paddr: UNTYPED + 0x4000,
        size_bits: 12,
        rights: Rights::ALL,
        mapping: Mapping::NONE,
        vaddr,
        requested,
        attributes: 0,
    };
    super::map_frame(&mut world, vspace, at(0x1000, Rights::READ)).unwrap();
    super::map_frame(&mut world, vspace, at(0x2000, rw())).unwrap();
    let frames: Vec<(u64, bool)> = world
        .translations()
        .into_iter()
        .filter_map(|t| match t {
            Translation::Frame { vaddr, writable, .. } => Some((vaddr, writable)),
            _ => None,
        })
        .collect();
    assert_eq!(frames, [(0x1000, false), (0x2000, true)]);
}

#[test]
fn a_pml4_is_cleared_only_by_its_last_capability() {
    let (mut world, _) = World::new();
    let pml4 = Cap::Pml4 { paddr: UNTYPED, asid: ASID };
    finalise(&mut world, &pml4, false);
    assert_eq!(world.asids.get(&ASID), Some(&UNTYPED), "the ASID stays");
    assert_ne!(world.entry(UNTYPED, 0), 0, "the PDPT's entry stays");
    finalise(&mut world, &pml4, true);
    assert_eq!(world.asids.get(&ASID), None);
    assert_eq!(world.entry(UNTYPED, 0), 0);
}

#[test]
fn a_table_entered_where_one_of_its_capabilities_records_another_place_is_misrecorded() {
    let (mut world, _) = World::new();
    let pt = world.retype(table(UNTYPED + 0x3000, TableLevel::PageTable));
    world.map_table(pt, 0x20_0000).unwrap();
    let misrecorded = Err(Violation::MisrecordedTable { asid: ASID, vaddr: 0x20_0000, paddr: UNTYPED + 0x3000 });
    let elsewhere =
        Cap::PagingTable { paddr: UNTYPED + 0x3000, level: TableLevel::PageTable, mapping: Mapping { asid: ASID, vaddr: 0x40_0000 } };
    // Besides the capability recording the right place (listed first) ...
    let mut caps = world.caps();
    caps.push(elsewhere);
    assert_eq!(check_invariant(&world, &caps), misrecorded);
    // ... and alone.
    let alone: Vec<Cap> = world
        .caps()
        .into_iter()
        .filter(|cap| !matches!(cap, Cap::PagingTable { paddr, .. } if *paddr == UNTYPED + 0x3000))
        .chain([elsewhere])
        .collect();
    assert_eq!(check_invariant(&world, &alone), misrecorded);
}
