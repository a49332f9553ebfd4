use super::*;
use crate::{DeviceMemory, Domain, MapRights, Mapping, RestartPolicy, SharedRegion};
use alloc::string::String;
use alloc::vec;

/// A tile of one domain "d" with this stack and heap and nothing else (also the base of
/// other modules' tests).
pub(crate) fn tile(stack_size: u64, heap_size: u64) -> SystemDescription {
    SystemDescription {
        name: String::from("t"),
        domains: vec![Domain {
            name: String::from("d"),
            program: 1,
            priority: 100,
            mcp: 100,
            stack_size,
            heap_size,
            cnode_slots: crate::DEFAULT_CNODE_SLOTS,
            restart: RestartPolicy::Never,
            budget: None,
            names: vec![],
        }],
        endpoints: vec![],
        notifications: vec![],
        shared_regions: vec![],
        device_memory: vec![],
        irqs: vec![],
        io_ports: vec![],
        pci_devices: vec![],
        slots: vec![],
        federation: None,
    }
}

const TEXT: Segment = Segment { vaddr: 0x40_1000, mem_size: 0x3800 };
const DATA: Segment = Segment { vaddr: 0x40_5000, mem_size: 0x1001 };

#[test]
fn a_minimal_domain_costs_its_pages_tables_cnode_and_tcb() {
    let footprint = domain(&tile(16 * 1024, 0), 0, Program::Segments(&[TEXT, DATA]));
    // 4 pages of text, 2 of data (0x1001 bytes spill into a second page).
    assert_eq!(footprint.segments, 6 * 4096);
    assert_eq!(footprint.stack, 16 * 1024);
    assert_eq!(footprint.heap, 0);
    // PML4; the program's PDPT, directory and table; the stack's (the IPC buffer and the
    // information page share the stack's 2 MiB block).
    assert_eq!(footprint.paging, 7 * 4096);
    // The default CNode: 256 slots of 64 bytes.
    assert_eq!(footprint.cnode, 16 * 1024);
    assert_eq!(footprint.tcb, 2048);
    // 19 objects besides the TCB and 5 pieces (94 KiB: 64 + 16 + 8 + 4 + 2): a 32-slot keeper.
    assert_eq!(footprint.pieces().count(), 5);
    assert_eq!(footprint.keeper, 2048);
    assert_eq!(footprint.keeper_radix(), 5);
    assert_eq!(footprint.beyond_segments(), 16 * 1024 + 2 * 4096 + 7 * 4096 + 16 * 1024 + 2048 + 2048);
    assert_eq!(footprint.beyond_segments(), 72 * 1024);
    assert_eq!(footprint.objects(), (6 + 4 + 2 + 7) + 2);
}

#[test]
fn a_minimal_domain_with_a_small_cnode_takes_under_64_kib_beyond_its_segments() {
    let mut description = tile(16 * 1024, 0);
    description.domains[0].cnode_slots = 16;
    let footprint = domain(&description, 0, Program::Segments(&[TEXT, DATA]));
    assert_eq!(footprint.cnode, 1024);
    // Stack 16, IPC buffer 4, information page 4, CNode 1, TCB 2, keeper 2, tables 28.
    assert_eq!(footprint.keeper, 2048);
    assert_eq!(footprint.beyond_segments(), 57 * 1024);
    assert!(footprint.beyond_segments() <= 64 * 1024);
    // The smallest object, the CNode, takes the last piece; every piece is a whole number
    // of the objects that land in it (no alignment gap).
    assert_eq!(footprint.pieces().last(), Some(10));
    assert_eq!(footprint.pieces().map(|bits| 1u64 << bits).sum::<u64>(), footprint.built());
}

#[test]
fn the_keeper_grows_with_the_objects_and_the_root_slots_do_not() {
    let small = domain(&tile(16 * 1024, 0), 0, Program::Segments(&[TEXT, DATA]));
    // A 1 MiB heap: 256 more frames and a page table per 2 MiB block.
    let big = domain(&tile(16 * 1024, 1 << 20), 0, Program::Segments(&[TEXT, DATA]));
    let kept = big.objects() - 1;
    assert!(kept > 256 && kept <= 512, "{kept}");
    assert_eq!(big.keeper_radix(), 9);
    assert_eq!(big.keeper, 512 * 64);
    // Root slots: keeper, TCB, fault endpoint, whatever the size.
    assert_eq!(small.root_slots(), 3);
    assert_eq!(big.root_slots(), 3);
}

#[test]
fn the_keeper_counts_shared_frame_copies_and_irq_notifications() {
    let mut description = tile(16 * 1024, 0);
    description.shared_regions.push(SharedRegion {
        name: String::from("r"),
        size: 64 * 4096,
        mappings: vec![Mapping { domain: 0, vaddr: 0x7000_0000, rights: MapRights::Read }],
    });
    let plain = domain(&tile(16 * 1024, 0), 0, Program::Segments(&[TEXT, DATA]));
    let sharing = domain(&description, 0, Program::Segments(&[TEXT, DATA]));
    // 19 objects + one more table + 64 copies: 84 slots, a radix-7 keeper.
    assert_eq!(plain.keeper_radix(), 5);
    assert_eq!(sharing.keeper_radix(), 7);
}

#[test]
fn the_pieces_are_the_binary_digits_of_the_total_largest_first() {
    let footprint = domain(&tile(16 * 1024, 0), 0, Program::Segments(&[TEXT, DATA]));
    let pieces: Vec<u32> = footprint.pieces().collect();
    // The keeper is made apart, once: the pieces hold the rest.
    assert_eq!(pieces.iter().map(|bits| 1u64 << bits).sum::<u64>(), footprint.total() - footprint.keeper);
    assert_eq!(footprint.built(), footprint.total() - footprint.keeper);
    assert!(pieces.windows(2).all(|pair| pair[0] > pair[1]));
    // The CNode is made first: the first piece holds it; the TCB takes the last 2 KiB.
    assert!(1u64 << pieces[0] >= footprint.cnode);
    assert_eq!(*pieces.last().unwrap(), 11);
}

#[test]
fn heap_and_mappings_count_their_pages_and_tables() {
    let mut description = tile(4096, 3 * 4096 + 1);
    description.shared_regions.push(SharedRegion {
        name: String::from("r"),
        size: 8192,
        mappings: vec![Mapping { domain: 0, vaddr: 0x7000_0000, rights: MapRights::Read }],
    });
    // A mapping of another domain costs this one nothing.
    description.shared_regions.push(SharedRegion {
        name: String::from("other"),
        size: 8192,
        mappings: vec![Mapping { domain: 1, vaddr: 0x9000_0000, rights: MapRights::Read }],
    });
    description.device_memory.push(DeviceMemory {
        name: String::from("dev"),
        paddr: 0xfe00_0000,
        size: 4096,
        domain: 0,
        vaddr: 0x40_0000 + (1 << 21),
        uncached: true,
    });
    let footprint = domain(&description, 0, Program::Segments(&[TEXT]));
    assert_eq!(footprint.heap, 4 * 4096);
    assert_eq!(footprint.stack, 4096);
    // PML4; PDPTs: low, heap, stack; directories: low GiB, 0x7000_0000's GiB, heap, stack;
    // tables: program, device, region, heap, stack. The region's frames are the tile's.
    assert_eq!(footprint.paging, (1 + 3 + 4 + 5) * 4096);
    assert_eq!(footprint.segments, 4 * 4096);
}

#[test]
fn a_seat_counts_its_module_memory_and_worst_case_tables() {
    let footprint = domain(&tile(16 * 1024, 0), 0, Program::Seat { bytes: 512 * 1024 });
    assert_eq!(footprint.segments, 512 * 1024);
    // PML4 and the stack's three; for the module: 2 tables, 2 directories, 1 PDPT.
    assert_eq!(footprint.paging, (1 + 3 + 5) * 4096);
}

#[test]
fn blocks_count_each_block_once_across_ranges() {
    assert_eq!(blocks(&[(0, 4096), (4096, 8192), (1 << 21, (1 << 21) + 1)], 21), 2);
    assert_eq!(blocks(&[((1 << 21) - 4096, (1 << 21) + 4096)], 21), 2);
    assert_eq!(blocks(&[(5, 5)], 21), 0);
}

#[test]
fn largest_lists_the_biggest_first() {
    let small = Footprint { segments: 4096, ..Footprint::default() };
    let big = Footprint { segments: 8192, ..Footprint::default() };
    let consumers =
        [Consumer { name: "a", footprint: small }, Consumer { name: "b", footprint: big }, Consumer { name: "c", footprint: small }];
    let top: Vec<&str> = largest(&consumers, 2).iter().map(|c| c.name).collect();
    assert_eq!(top, ["b", "a"]);
}
