//! Mapping-state checks (issue 11, item 2): the stale page-table entry attack. A page table
//! is mapped, a frame mapped through it, the table unmapped and mapped elsewhere, the frame
//! deleted and its memory retyped as a page directory. If the table kept its entry, the
//! suite now has a writable view of a live page directory: it writes 512 user entries of
//! 2 MiB covering physical 0–1 GiB and overwrites a canary frame through them. The checks
//! pass only if no stale entry survives, the forged directory's entries are not live, and the
//! canary is unchanged.

use super::{CNODE, DEPTH, Env, VSPACE, check, expect_error, expect_ok};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{
    CNodeCopy, CNodeDelete, CPtr, FrameGetAddress, FrameMap, PagingStructureMap, PagingStructureUnmap, Slot, UntypedRetype,
};
use tileos_abi::object::{ObjectType, Rights};
use tileos_sys::cap::{CNode, Frame, PagingStructure, Untyped};

/// A 512 GiB region of the root server's address space the suite uses for nothing else.
const REGION: u64 = 0x0000_6000_0000_0000;
/// Value kept in the canary frame.
const CANARY: u64 = 0xC0FF_EE00_5AFE_0001;
/// Present, writable, user, 2 MiB: the entries the attack writes.
const FORGED_FLAGS: u64 = 0x87;

fn retype(untyped: u64, object: ObjectType, dest: u64) -> Result<tileos_sys::Reply, tileos_sys::Error> {
    let node = Slot::new(0, 0);
    Untyped::from_cptr(untyped).invoke(UntypedRetype {
        object_type: object,
        size_bits: 0,
        node,
        node_offset: dest,
        count: 1,
        root: CPtr(CNODE),
    })
}

fn map_table(table: u64, vaddr: u64) -> Result<tileos_sys::Reply, tileos_sys::Error> {
    PagingStructure::from_cptr(table).invoke(PagingStructureMap { vaddr, vspace: CPtr(VSPACE) })
}

fn map_frame(frame: u64, vaddr: u64) -> Result<tileos_sys::Reply, tileos_sys::Error> {
    Frame::from_cptr(frame).invoke(FrameMap { vaddr, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) })
}

fn delete(at: u64) {
    let _ = CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(at, DEPTH) });
}

/// Runs the mapping-state checks.
pub fn tests(env: &mut Env) {
    let pdpt = env.make(ObjectType::Pdpt, 0);
    let directory = env.make(ObjectType::PageDirectory, 0);
    expect_ok("stale_attack_setup_pdpt", map_table(pdpt, REGION));
    expect_ok("stale_attack_setup_directory", map_table(directory, REGION));
    let (first, second, forged_at) = (REGION + 0x20_0000, REGION + 0x40_0000, REGION + 0x4000_0000);

    // Only the last capability to a mapped structure may unmap it.
    let shared = env.make(ObjectType::PageTable, 0);
    expect_ok("page_table_map_for_copy", map_table(shared, REGION + 0x60_0000));
    let copy = env.slots.take();
    expect_ok(
        "page_table_copy_of_mapped",
        CNode::from_cptr(CNODE).invoke(CNodeCopy {
            dest: Slot::new(copy, DEPTH),
            src: Slot::new(shared, DEPTH),
            rights: Rights::ALL,
            src_root: CPtr(CNODE),
        }),
    );
    expect_error(
        "page_table_unmap_with_copies_needs_revoke",
        PagingStructure::from_cptr(shared).invoke(PagingStructureUnmap {}),
        InvocationError::RevokeFirst,
    );
    delete(copy);
    expect_ok("page_table_unmap_last_capability", PagingStructure::from_cptr(shared).invoke(PagingStructureUnmap {}));
    delete(shared);

    let table = env.make(ObjectType::PageTable, 0);
    expect_ok("stale_attack_map_table", map_table(table, first));

    // The frame comes from a 4 KiB untyped of its own, so its memory can be retyped again.
    let memory = env.make(ObjectType::Untyped, 12);
    let victim = env.slots.take();
    expect_ok("stale_attack_retype_frame", retype(memory, ObjectType::Frame4K, victim));
    expect_ok("stale_attack_map_frame", map_frame(victim, first + 0x5000));
    expect_ok("stale_attack_unmap_table", PagingStructure::from_cptr(table).invoke(PagingStructureUnmap {}));
    expect_ok("stale_attack_map_table_elsewhere", map_table(table, second));

    let canary = env.make(ObjectType::Frame4K, 0);
    expect_ok("stale_attack_map_canary", map_frame(canary, second + 0x7000));
    let canary_view = (second + 0x7000) as *mut u64;
    // SAFETY: just mapped writable.
    unsafe { canary_view.write_volatile(CANARY) };
    let canary_paddr = Frame::from_cptr(canary).invoke(FrameGetAddress {}).map_or(u64::MAX, |reply| reply.words[0]);

    expect_ok("stale_attack_delete_frame", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(victim, DEPTH) }));
    // Probe: a fresh frame maps at the deleted frame's old place in the moved table only if
    // that entry is empty.
    let probe = env.make(ObjectType::Frame4K, 0);
    let stale = map_frame(probe, second + 0x5000);
    check("stale_pt_entry_gone_after_frame_delete", stale.is_ok(), format_args!("mapping over the old entry: {stale:?}"));

    let forged = env.slots.take();
    expect_ok("stale_attack_retype_memory_as_directory", retype(memory, ObjectType::PageDirectory, forged));
    expect_ok("stale_attack_map_directory", map_table(forged, forged_at));
    if stale.is_err() && canary_paddr < 1 << 30 {
        // The stale entry is a writable view of the forged directory: fill it.
        let entries = (second + 0x5000) as *mut u64;
        for index in 0..512u64 {
            // SAFETY: the stale entry maps this page writable (that is the bug being shown).
            unsafe { entries.add(index as usize).write_volatile((index << 21) | FORGED_FLAGS) };
        }
        // SAFETY: with the forged entries, physical memory is mapped at `forged_at`.
        unsafe { ((forged_at + canary_paddr) as *mut u64).write_volatile(0xBAD) };
    }
    // The directory's entries are not live: a page table can be entered where the forged
    // entry would be.
    let probe_table = env.make(ObjectType::PageTable, 0);
    let entered = map_table(probe_table, forged_at);
    check("forged_directory_entries_not_live", entered.is_ok(), format_args!("page table in the retyped directory: {entered:?}"));
    // SAFETY: the canary stays mapped.
    let value = unsafe { canary_view.read_volatile() };
    check("canary_frame_unchanged", value == CANARY, format_args!("canary now {value:#x}"));

    for slot in [probe_table, forged, probe, canary, table, directory, pdpt, memory] {
        delete(slot);
    }
}
