//! Host tests of IOSpace mapping: tables in a map, context entries in another.

use super::*;
use std::collections::BTreeMap;

#[derive(Default)]
struct Memory {
    entries: BTreeMap<(u64, usize), u64>,
    roots: BTreeMap<u16, u64>,
    invalidations: u32,
}

impl IoMemory for Memory {
    fn entry(&self, table: u64, index: usize) -> u64 {
        self.entries.get(&(table, index)).copied().unwrap_or(0)
    }
    fn set_entry(&mut self, table: u64, index: usize, value: u64) {
        self.entries.insert((table, index), value);
    }
    fn root(&self, device: u16) -> Option<u64> {
        self.roots.get(&device).copied()
    }
    fn set_root(&mut self, device: u16, table: Option<u64>) {
        match table {
            Some(table) => self.roots.insert(device, table),
            None => self.roots.remove(&device),
        };
    }
    fn invalidate(&mut self) {
        self.invalidations += 1;
    }
}

const NVME: u16 = 0x20; // 00:04.0
const ROOT: u64 = 0x10_0000;
const DIRECTORY: u64 = 0x10_1000;
const TABLE: u64 = 0x10_2000;

fn frame(paddr: u64, rights: Rights, mapping: Mapping, iova: u64) -> FrameMap {
    FrameMap { paddr, size_bits: 12, rights, mapping, vaddr: iova, requested: Rights::ALL, attributes: 0 }
}

/// An IOSpace for NVME with tables covering the first 2 MiB.
fn with_tables() -> Memory {
    let mut memory = Memory::default();
    assert_eq!(map_table(&mut memory, NVME, ROOT, TableLevel::Pdpt, Mapping::NONE, 0), Ok(Mapping::io(NVME, 0)));
    assert_eq!(map_table(&mut memory, NVME, DIRECTORY, TableLevel::PageDirectory, Mapping::NONE, 0x1234), Ok(Mapping::io(NVME, 0)));
    assert_eq!(map_table(&mut memory, NVME, TABLE, TableLevel::PageTable, Mapping::NONE, 0x5000), Ok(Mapping::io(NVME, 0)));
    memory
}

#[test]
fn a_frame_maps_with_its_rights_and_unmaps_only_its_own_entry() {
    let mut memory = with_tables();
    let mapping = map_frame(&mut memory, NVME, frame(0x40_0000, Rights::ALL, Mapping::NONE, 0x3000)).unwrap();
    assert_eq!(mapping, Mapping::io(NVME, 0x3000));
    assert_eq!(memory.entry(TABLE, 3), 0x40_0000 | READ | WRITE);
    let read_only = map_frame(&mut memory, NVME, frame(0x41_0000, Rights::READ, Mapping::NONE, 0x4000)).unwrap();
    assert_eq!(memory.entry(TABLE, 4), 0x41_0000 | READ, "no Write right: the device may only read");
    // Another frame's capability recording the same place unmaps nothing.
    let stranger = Cap::Frame { paddr: 0x50_0000, size_bits: 12, rights: Rights::ALL, device: false, mapping };
    assert!(finalise(&mut memory, &stranger, false));
    assert_eq!(memory.entry(TABLE, 3), 0x40_0000 | READ | WRITE);
    let own = Cap::Frame { paddr: 0x41_0000, size_bits: 12, rights: Rights::READ, device: false, mapping: read_only };
    let before = memory.invalidations;
    assert!(finalise(&mut memory, &own, false));
    assert_eq!(memory.entry(TABLE, 4), 0);
    assert!(memory.invalidations > before, "the IOTLB is invalidated after an unmap");
}

#[test]
fn maps_are_refused_precisely() {
    let mut memory = with_tables();
    let ok = frame(0x40_0000, Rights::ALL, Mapping::NONE, 0x3000);
    assert_eq!(map_frame(&mut memory, NVME, FrameMap { vaddr: 0x3001, ..ok }), Err(MapError::Unaligned));
    assert_eq!(map_frame(&mut memory, NVME, FrameMap { vaddr: 1 << 39, ..ok }), Err(MapError::OutsideUserHalf));
    assert_eq!(map_frame(&mut memory, IO_DEVICES, ok), Err(MapError::OutsideUserHalf), "bus 8 has no IOSpace");
    assert_eq!(map_frame(&mut memory, NVME, FrameMap { rights: Rights::WRITE, ..ok }), Err(MapError::NoReadRight));
    assert_eq!(map_frame(&mut memory, NVME, FrameMap { vaddr: 0x20_0000, ..ok }), Err(MapError::MissingTable));
    assert_eq!(map_frame(&mut memory, 0x28, ok), Err(MapError::MissingTable), "another device has no tables");
    map_frame(&mut memory, NVME, ok).unwrap();
    assert_eq!(map_frame(&mut memory, NVME, FrameMap { paddr: 0x50_0000, ..ok }), Err(MapError::Occupied));
    let elsewhere = FrameMap { mapping: Mapping::io(NVME, 0x3000), vaddr: 0x6000, ..ok };
    assert_eq!(map_frame(&mut memory, NVME, elsewhere), Err(MapError::AlreadyMapped));
    assert_eq!(map_table(&mut memory, NVME, 0x20_0000, TableLevel::Pdpt, Mapping::NONE, 0), Err(MapError::Occupied));
    assert_eq!(map_table(&mut memory, NVME, 0x20_0000, TableLevel::PageTable, Mapping::NONE, 1 << 30), Err(MapError::MissingTable));
}

#[test]
fn deleting_tables_and_the_iospace_blocks_the_device_again() {
    let mut memory = with_tables();
    map_frame(&mut memory, NVME, frame(0x40_0000, Rights::ALL, Mapping::NONE, 0)).unwrap();
    let table = Cap::PagingTable { paddr: TABLE, level: TableLevel::PageTable, mapping: Mapping::io(NVME, 0) };
    assert!(finalise(&mut memory, &table, false), "an IO table's copy is handled here");
    assert_eq!(memory.entry(DIRECTORY, 0), TABLE | READ | WRITE, "not the last capability: nothing changes");
    assert!(finalise(&mut memory, &table, true));
    assert_eq!(memory.entry(DIRECTORY, 0), 0);
    assert_eq!(memory.entry(TABLE, 0), 0, "an unmapped table is cleared");
    assert!(finalise(&mut memory, &Cap::IoSpace { device: NVME }, true));
    assert_eq!(memory.root(NVME), None);
    let vspace_frame =
        Cap::Frame { paddr: 0x1000, size_bits: 12, rights: Rights::ALL, device: false, mapping: Mapping { asid: 3, vaddr: 0 } };
    assert!(!finalise(&mut memory, &vspace_frame, true), "VSpace mappings are not IO cases");
}

/// The entry bits are VT-d's second-level paging-entry bits (Read bit 0, Write bit 1, Page
/// Size bit 7), and an entry is the address with exactly those bits.
#[test]
fn entries_carry_the_vt_d_bits() {
    assert_eq!((READ, WRITE, SUPERPAGE, IOVA_BITS), (1, 2, 0x80, 39));
    let mut memory = with_tables();
    map_frame(&mut memory, NVME, frame(0x40_0000, Rights::ALL, Mapping::NONE, 0x3000)).unwrap();
    assert_eq!(memory.entry(TABLE, 3), 0x40_0003);
    assert_eq!(memory.entry(DIRECTORY, 0), 0x10_2003, "a table's entry: its address, read and write");
}

/// A 2 MiB frame goes into the page directory with the Page Size bit; the walk stops at it
/// (no 4 KiB frame or table inside it), and deleting its capability clears its entry.
#[test]
fn a_2_mib_frame_is_a_superpage_entry_the_walk_stops_at() {
    let mut memory = with_tables();
    let big = FrameMap { size_bits: 21, ..frame(0x80_0000, Rights::ALL, Mapping::NONE, 0x20_0000) };
    assert_eq!(map_frame(&mut memory, NVME, big), Ok(Mapping::io(NVME, 0x20_0000)));
    assert_eq!(memory.entry(DIRECTORY, 1), 0x80_0083);
    let small = frame(0x40_0000, Rights::ALL, Mapping::NONE, 0x20_3000);
    assert_eq!(map_frame(&mut memory, NVME, small), Err(MapError::MissingTable), "no table below a superpage");
    assert_eq!(map_table(&mut memory, NVME, 0x60_0000, TableLevel::PageTable, Mapping::NONE, 0x20_0000), Err(MapError::Occupied));
    let read_only = FrameMap { size_bits: 21, ..frame(0xA0_0000, Rights::READ, Mapping::NONE, 0x40_0000) };
    map_frame(&mut memory, NVME, read_only).unwrap();
    assert_eq!(memory.entry(DIRECTORY, 2), 0xA0_0081);
    let cap = Cap::Frame { paddr: 0x80_0000, size_bits: 21, rights: Rights::ALL, device: false, mapping: Mapping::io(NVME, 0x20_0000) };
    let before = memory.invalidations;
    assert!(finalise(&mut memory, &cap, false));
    assert_eq!(memory.entry(DIRECTORY, 1), 0, "the superpage is unmapped");
    assert!(memory.invalidations > before);
    assert_eq!(memory.entry(DIRECTORY, 2), 0xA0_0081, "the other one stays");
}

/// A page table's entry is never taken for a 2 MiB frame's, even at the address the frame's
/// capability names (the kernel never has a frame and a table in the same memory: this is
/// the rule's own check, not a reachable state).
#[test]
fn a_tables_entry_is_not_a_2_mib_frames() {
    let mut memory = with_tables();
    map_table(&mut memory, NVME, 0x60_0000, TableLevel::PageTable, Mapping::NONE, 0x20_0000).unwrap();
    let frame = Cap::Frame { paddr: 0x60_0000, size_bits: 21, rights: Rights::ALL, device: false, mapping: Mapping::io(NVME, 0x20_0000) };
    assert!(finalise(&mut memory, &frame, false));
    assert_eq!(memory.entry(DIRECTORY, 1), 0x60_0003);
}

/// A frame re-mapped at the place its capability records gets the new rights (and the IOTLB
/// is invalidated); a re-map is refused once another frame took the place.
#[test]
fn a_frame_is_remapped_in_place_only_over_its_own_entry() {
    let mut memory = with_tables();
    let first = frame(0x40_0000, Rights::ALL, Mapping::NONE, 0x3000);
    let mapping = map_frame(&mut memory, NVME, first).unwrap();
    let before = memory.invalidations;
    let remap = FrameMap { requested: Rights::READ, mapping, ..first };
    assert_eq!(map_frame(&mut memory, NVME, remap), Ok(mapping));
    assert_eq!(memory.entry(TABLE, 3), 0x40_0001, "read only now");
    assert!(memory.invalidations > before, "the old rights are dropped from the IOTLB");
    let own = Cap::Frame { paddr: 0x40_0000, size_bits: 12, rights: Rights::ALL, device: false, mapping };
    assert!(finalise(&mut memory, &own, false));
    map_frame(&mut memory, NVME, frame(0x50_0000, Rights::ALL, Mapping::NONE, 0x3000)).unwrap();
    assert_eq!(map_frame(&mut memory, NVME, remap), Err(MapError::Occupied));
    assert_eq!(memory.entry(TABLE, 3), 0x50_0003);
}

/// Tables record the base of the region they cover, and a second table for a region that
/// has one is refused, leaving the first.
#[test]
fn tables_record_their_regions_base_and_do_not_replace_each_other() {
    let mut memory = with_tables();
    let directory = map_table(&mut memory, NVME, 0x30_0000, TableLevel::PageDirectory, Mapping::NONE, 0x4012_3456);
    assert_eq!(directory, Ok(Mapping::io(NVME, 0x4000_0000)));
    assert_eq!(memory.entry(ROOT, 1), 0x30_0003);
    let table = map_table(&mut memory, NVME, 0x31_0000, TableLevel::PageTable, Mapping::NONE, 0x4020_1234);
    assert_eq!(table, Ok(Mapping::io(NVME, 0x4020_0000)));
    assert_eq!(memory.entry(0x30_0000, 1), 0x31_0003);
    map_frame(&mut memory, NVME, frame(0x40_0000, Rights::ALL, Mapping::NONE, 0x4020_1000)).unwrap();
    assert_eq!(memory.entry(0x31_0000, 1), 0x40_0003);
    assert_eq!(map_table(&mut memory, NVME, 0x32_0000, TableLevel::PageTable, Mapping::NONE, 0x1000), Err(MapError::Occupied));
    assert_eq!(memory.entry(DIRECTORY, 0), 0x10_2003);
    // The last device and the last IO virtual page have IOSpaces (the walk finds no tables).
    let last = frame(0x40_0000, Rights::ALL, Mapping::NONE, (1 << 39) - 0x1000);
    assert_eq!(map_frame(&mut memory, NVME, last), Err(MapError::MissingTable));
    assert_eq!(map_frame(&mut memory, IO_DEVICES - 1, FrameMap { vaddr: 0, ..last }), Err(MapError::MissingTable));
}

/// Deleting the last capability to an IOSpace's root table blocks the device and clears
/// the table; a stale capability (the device has another root, or the place another table)
/// removes nothing.
#[test]
fn only_the_table_still_entered_is_removed() {
    let mut memory = with_tables();
    let root = Cap::PagingTable { paddr: ROOT, level: TableLevel::Pdpt, mapping: Mapping::io(NVME, 0) };
    assert!(finalise(&mut memory, &root, false));
    assert_eq!(memory.root(NVME), Some(ROOT), "not the last capability: nothing changes");
    let table = Cap::PagingTable { paddr: TABLE, level: TableLevel::PageTable, mapping: Mapping::io(NVME, 0) };
    assert!(finalise(&mut memory, &table, true));
    map_table(&mut memory, NVME, 0x60_0000, TableLevel::PageTable, Mapping::NONE, 0).unwrap();
    assert!(finalise(&mut memory, &table, true), "the old table's capability again");
    assert_eq!(memory.entry(DIRECTORY, 0), 0x60_0003, "the new table stays");
    assert!(finalise(&mut memory, &root, true));
    assert_eq!(memory.root(NVME), None, "the device is blocked");
    assert_eq!(memory.entry(ROOT, 0), 0, "the root table is cleared");
    map_table(&mut memory, NVME, 0x70_0000, TableLevel::Pdpt, Mapping::NONE, 0).unwrap();
    assert!(finalise(&mut memory, &root, true));
    assert_eq!(memory.root(NVME), Some(0x70_0000), "another root stays");
}

/// An empty entry is not taken for a frame's, even for a frame at physical address 0 (whose
/// address bits an empty entry has): deleting such a capability writes nothing and leaves
/// the IOTLB alone.
#[test]
fn an_empty_entry_holds_no_frame_even_at_address_0() {
    let mut memory = with_tables();
    let cap = Cap::Frame { paddr: 0, size_bits: 12, rights: Rights::ALL, device: false, mapping: Mapping::io(NVME, 0x7000) };
    let before = memory.invalidations;
    assert!(finalise(&mut memory, &cap, false));
    assert_eq!((memory.invalidations, memory.entries.get(&(TABLE, 7))), (before, None));
}

/// An empty parent entry is not taken for a table's, even for a table at physical address
/// 0: deleting its last capability writes nothing into the parent.
#[test]
fn an_empty_entry_holds_no_table_even_at_address_0() {
    let mut memory = with_tables();
    let table = Cap::PagingTable { paddr: 0, level: TableLevel::PageTable, mapping: Mapping::io(NVME, 0x20_0000) };
    assert!(finalise(&mut memory, &table, true));
    assert_eq!(memory.entries.get(&(DIRECTORY, 1)), None);
}
