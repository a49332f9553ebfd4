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
