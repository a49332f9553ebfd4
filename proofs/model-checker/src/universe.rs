//! The universe explored: which CNodes exist from the start, which capabilities they hold,
//! which parameters the operations may take, and which decode rules the modelled kernel
//! applies where the kernel's capability code leaves the choice to its invocation layer.

use crate::memory::Memory;
use tileos_abi::object::{ObjectType, Rights};
use tileos_kernel::cap::{Cap, Mapping, MintParams, TableLevel, tcb_slot};
use tileos_kernel::cspace::{SlotRef, insert_root, slot_address};
use tileos_kernel::vspace::{PRESENT, PagingMemory, USER, WRITABLE};

/// A CNode that exists before exploration starts, in memory outside the untyped region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedCNode {
    /// Name used in traces (`A`, `B`, …).
    pub name: char,
    /// Physical address of its first slot.
    pub paddr: u64,
    /// log2 of its slot count.
    pub radix: u8,
    /// Whether a capability outside the universe (a thread's CSpace root) keeps it alive, so
    /// its slots are always addressable; otherwise it is addressable while a capability to
    /// it exists in the universe.
    pub external: bool,
}

impl FixedCNode {
    /// The capability to this CNode (no guard).
    pub const fn cap(&self) -> Cap {
        Cap::CNode { paddr: self.paddr, radix: self.radix, guard_bits: 0, guard: 0 }
    }

    /// Address of slot `index`.
    pub const fn slot(&self, index: u64) -> SlotRef {
        slot_address(self.paddr, index)
    }
}

/// What the model checker explores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Universe {
    /// CNodes existing from the start.
    pub cnodes: Vec<FixedCNode>,
    /// Initial capabilities, each placed with `insert_root` (a derivation-tree root).
    pub initial: Vec<(SlotRef, Cap)>,
    /// Initial page-table entries: (table address, index, entry).
    pub initial_entries: Vec<(u64, usize, u64)>,
    /// Initial ASIDs: (ASID, PML4 address).
    pub initial_asids: Vec<(u16, u64)>,
    /// TCBs whose thread runs at the start.
    pub initial_threads: Vec<u64>,
    /// Parameters of the mint operations (each one is tried from every source to every
    /// destination).
    pub mints: Vec<MintParams>,
    /// Data words of the mutate operations: a badge for an endpoint or notification, guard
    /// bits and guard for a CNode. A mutate never changes rights (the kernel derives the
    /// moved capability with an all-rights mask).
    pub mutate_data: Vec<u64>,
    /// Objects a retype may create: type and the `size_bits` argument (CNode radix, untyped
    /// size); one object per [`crate::op::Op::Retype`], a given count per
    /// [`crate::op::Op::RetypeAt`].
    pub retypes: Vec<(ObjectType, u32)>,
    /// Decode rule for mutate. `true` is what `kernel/src/invoke/cnode.rs` does today: a
    /// mutate may give a badge to an unbadged endpoint or notification capability in a
    /// revocable slot (an original). `false` rejects every badge change, as seL4 does
    /// (`updateCapData(preserve = true)`). Badging an original in place detaches the
    /// children it already has, which a later revoke of it then misses: invariant 8 catches
    /// it at depth 2 (see the `the_kernels_mutate_rule_is_caught` test).
    pub mutate_badges_originals: bool,
    /// PCI requester IDs the IoSpaceControlIssue operations try (`crate::iospace`); empty:
    /// no such operation.
    pub io_devices: Vec<u16>,
}

/// Physical address of the fixed CNode `A`.
pub const CNODE_A: u64 = 0x1000;
/// Physical address of the fixed CNode `B`.
pub const CNODE_B: u64 = 0x2000;
/// Physical address of the initial endpoint (outside the untyped region).
pub const ENDPOINT: u64 = 0x3000;
/// Physical address of the untyped region.
pub const UNTYPED: u64 = 0x1_0000;
/// log2 of the untyped region's size (256 bytes: eight endpoints, or two 2-slot CNodes).
pub const UNTYPED_BITS: u8 = 8;
/// Physical address of the TCB whose only capability is in `B3` (2 KiB, outside the untyped).
pub const TCB: u64 = 0x8000;
/// Physical address of the TCB's CSpace root, CNode `C` (4 slots, not addressable: only the
/// TCB holds a capability to it), which holds the capabilities to the paging structures.
pub const CNODE_C: u64 = 0x4000;
/// The TCB's PML4 (ASID 1) and the PDPT, page directory and page table mapped under it for
/// address 0.
pub const PML4: u64 = 0x5000;
/// See [`PML4`].
pub const PDPT: u64 = 0x6000;
/// See [`PML4`].
pub const PAGE_DIRECTORY: u64 = 0x7000;
/// See [`PML4`].
pub const PAGE_TABLE: u64 = 0x9000;
/// The TCB's IPC buffer frame (4 KiB), mapped at address 0 of ASID 1.
pub const FRAME: u64 = 0xA000;

/// The capabilities of a running thread with an address space, all outside the untyped: the
/// TCB (capability in `tcb_holder`), its CSpace root `C` holding the PDPT, page directory
/// and page table, its PML4 (ASID 1) and IPC buffer frame in the TCB's own slots. The
/// entries mapping the frame at address 0 are [`thread_entries`].
fn thread_caps(tcb_holder: SlotRef) -> Vec<(SlotRef, Cap)> {
    let at_zero = Mapping { asid: 1, vaddr: 0 };
    let table = |paddr, level| Cap::PagingTable { paddr, level, mapping: at_zero };
    vec![
        (tcb_holder, Cap::Tcb { paddr: TCB }),
        (slot_address(TCB, tcb_slot::CSPACE), Cap::CNode { paddr: CNODE_C, radix: 2, guard_bits: 0, guard: 0 }),
        (slot_address(TCB, tcb_slot::VSPACE), Cap::Pml4 { paddr: PML4, asid: 1 }),
        (
            slot_address(TCB, tcb_slot::IPC_BUFFER),
            Cap::Frame { paddr: FRAME, size_bits: 12, rights: Rights::ALL, device: false, mapping: at_zero },
        ),
        (slot_address(CNODE_C, 0), table(PDPT, TableLevel::Pdpt)),
        (slot_address(CNODE_C, 1), table(PAGE_DIRECTORY, TableLevel::PageDirectory)),
        (slot_address(CNODE_C, 2), table(PAGE_TABLE, TableLevel::PageTable)),
    ]
}

/// The page-table entries of [`thread_caps`]: PML4 → PDPT → page directory → page table →
/// the frame, at address 0.
fn thread_entries() -> Vec<(u64, usize, u64)> {
    let entry = |paddr| paddr | PRESENT | WRITABLE | USER;
    vec![(PML4, 0, entry(PDPT)), (PDPT, 0, entry(PAGE_DIRECTORY)), (PAGE_DIRECTORY, 0, entry(PAGE_TABLE)), (PAGE_TABLE, 0, entry(FRAME))]
}

/// Physical address of CNode `D` of [`Universe::frames`], which holds the paging structures
/// and the frame mapped at address 0.
pub const CNODE_D: u64 = 0xD000;
/// The frame of [`Universe::frames`] in `B1` (all rights, unmapped).
pub const FRAME_RW: u64 = 0xB000;
/// The frame of [`Universe::frames`] in `B2` (read right only, unmapped).
pub const FRAME_RO: u64 = 0xC000;

/// The second page table of [`Universe::tables`] (in `A7`, unmapped).
pub const PAGE_TABLE_2: u64 = 0xF000;

/// The second TCB of [`Universe::ipc`] (2 KiB, outside the untyped), its capability in `B0`.
pub const TCB_2: u64 = 0xE000;

impl Universe {
    /// The refinement test's universe for IPC capability transfer and CSpace binding
    /// (`Universe::standard` without its thread, plus): `B3` holds a capability to the TCB at
    /// [`TCB`] and `B0` one to the TCB at [`TCB_2`], both with empty slots (no CSpace root),
    /// their threads running (as the model checker's invariant 10 wants of a live TCB).
    pub fn ipc() -> Universe {
        let standard = Universe::standard().without_thread();
        let b = standard.cnodes[1];
        let mut initial = standard.initial.clone();
        initial.extend([(b.slot(3), Cap::Tcb { paddr: TCB }), (b.slot(0), Cap::Tcb { paddr: TCB_2 })]);
        Universe { initial, initial_threads: vec![TCB, TCB_2], ..standard }
    }

    /// The refinement test's universe for paging-structure map and unmap
    /// ([`Universe::frames`] with the address space in the thread's own CNode): `A` has 8
    /// slots; `A0`–`A2` as in [`Universe::standard`] (`A2` the only capability to `B`), `A3`
    /// holds the only capability to the PML4 (ASID 1), `A4`, `A5` and `A6` the only
    /// capabilities to the PDPT, page directory and page table mapped for address 0 of ASID
    /// 1, `A7` the only capability to a second, unmapped page table ([`PAGE_TABLE_2`]); `B1`
    /// and `B2` the two unmapped frames of [`Universe::frames`]; `D3` (CNode `D`, which the
    /// thread cannot name) a frame mapped at address 0. A delete or revoke of `A2` destroys
    /// the frames' capabilities but not the address space.
    pub fn tables() -> Universe {
        let frames = Universe::frames();
        let (b, d) = (frames.cnodes[1], frames.cnodes[2]);
        let a = FixedCNode { radix: 3, ..frames.cnodes[0] };
        let at_zero = Mapping { asid: 1, vaddr: 0 };
        let table = |paddr, level, mapping| Cap::PagingTable { paddr, level, mapping };
        let frame = |paddr, rights, mapping| Cap::Frame { paddr, size_bits: 12, rights, device: false, mapping };
        // `A0`-`A2` of `frames` (the untyped, the endpoint, `B`).
        let mut initial: Vec<(SlotRef, Cap)> = frames.initial.iter().copied().filter(|(at, _)| *at <= a.slot(2)).collect();
        initial.extend([
            (a.slot(3), Cap::Pml4 { paddr: PML4, asid: 1 }),
            (a.slot(4), table(PDPT, TableLevel::Pdpt, at_zero)),
            (a.slot(5), table(PAGE_DIRECTORY, TableLevel::PageDirectory, at_zero)),
            (a.slot(6), table(PAGE_TABLE, TableLevel::PageTable, at_zero)),
            (a.slot(7), table(PAGE_TABLE_2, TableLevel::PageTable, Mapping::NONE)),
            (b.slot(1), frame(FRAME_RW, Rights::ALL, Mapping::NONE)),
            (b.slot(2), frame(FRAME_RO, Rights::READ, Mapping::NONE)),
            (d.slot(3), frame(FRAME, Rights::ALL, at_zero)),
        ]);
        Universe { cnodes: vec![a, b, d], initial, ..frames }
    }

    /// The refinement test's universe with an address space (`Universe::standard` without its
    /// thread, plus): `B0` holds the only capability to a PML4 (ASID 1), `B1` a 4 KiB frame
    /// with all rights and `B2` one with the read right only, both unmapped. CNode `D` (4
    /// slots, external: a thread outside the model holds it as its CSpace root, and the
    /// thread of `A` cannot name it) holds the PDPT, page directory and page table mapped
    /// for address 0 of ASID 1 and a frame mapped at address 0, so the 2 MiB at 0 are covered
    /// by a page table and address 0 is in use.
    pub fn frames() -> Universe {
        let base = Universe::standard().without_thread();
        let (a, b) = (base.cnodes[0], base.cnodes[1]);
        let d = FixedCNode { name: 'D', paddr: CNODE_D, radix: 2, external: true };
        let at_zero = Mapping { asid: 1, vaddr: 0 };
        let table = |paddr, level| Cap::PagingTable { paddr, level, mapping: at_zero };
        let frame = |paddr, rights, mapping| Cap::Frame { paddr, size_bits: 12, rights, device: false, mapping };
        let mut initial = base.initial.clone();
        initial.extend([
            (b.slot(0), Cap::Pml4 { paddr: PML4, asid: 1 }),
            (b.slot(1), frame(FRAME_RW, Rights::ALL, Mapping::NONE)),
            (b.slot(2), frame(FRAME_RO, Rights::READ, Mapping::NONE)),
            (d.slot(0), table(PDPT, TableLevel::Pdpt)),
            (d.slot(1), table(PAGE_DIRECTORY, TableLevel::PageDirectory)),
            (d.slot(2), table(PAGE_TABLE, TableLevel::PageTable)),
            (d.slot(3), frame(FRAME, Rights::ALL, at_zero)),
        ]);
        Universe {
            cnodes: vec![a, b, d],
            initial,
            initial_entries: thread_entries(),
            initial_asids: vec![(1, PML4)],
            initial_threads: Vec::new(),
            ..base
        }
    }

    /// The standard universe: CNode `A` (4 slots, a thread's CSpace root) holds an untyped
    /// of 256 bytes in `A0`, an original endpoint in `A1` and the only capability to CNode
    /// `B` (4 slots) in `A2`. Mints narrow rights to read+write, or badge 1 with write only,
    /// or badge 2 with all rights; mutates use data `1 | 1 << 6` (a 1-bit guard of value 1
    /// for a CNode, badge 65 for an endpoint); retypes create an endpoint, a 2-slot CNode or
    /// a 64-byte untyped. Mutate never badges (the seL4 rule). `B3` holds the only
    /// capability to a running thread's TCB, whose slots and CSpace root `C` hold its PML4,
    /// mapped IPC buffer frame and paging structures ([`TCB`] and the constants after it):
    /// destroying `B` or the TCB runs the kernel's `finalise` on all of them.
    pub fn standard() -> Universe {
        let a = FixedCNode { name: 'A', paddr: CNODE_A, radix: 2, external: true };
        let b = FixedCNode { name: 'B', paddr: CNODE_B, radix: 2, external: false };
        Universe {
            cnodes: vec![a, b],
            initial_entries: thread_entries(),
            initial_asids: vec![(1, PML4)],
            initial_threads: vec![TCB],
            initial: [
                (
                    a.slot(0),
                    Cap::Untyped {
                        paddr: UNTYPED,
                        size_bits: UNTYPED_BITS,
                        device: false,
                        free_offset: 0,
                        prepared_to: 0,
                        prepared_kind: 0,
                    },
                ),
                (a.slot(1), Cap::Endpoint { paddr: ENDPOINT, badge: 0, rights: Rights::ALL }),
                (a.slot(2), b.cap()),
            ]
            .into_iter()
            .chain(thread_caps(b.slot(3)))
            .collect(),
            mints: vec![
                MintParams { rights: Rights(Rights::READ.0 | Rights::WRITE.0), data: 0 },
                MintParams { rights: Rights::WRITE, data: 1 },
                MintParams { rights: Rights::ALL, data: 2 },
            ],
            mutate_data: vec![1 | (1 << 6)],
            retypes: vec![(ObjectType::Endpoint, 0), (ObjectType::CNode, 1), (ObjectType::Untyped, 6)],
            mutate_badges_originals: false,
            io_devices: Vec::new(),
        }
    }

    /// A smaller universe for deeper runs: as [`Universe::standard`] but `B` has 2 slots
    /// (the TCB's capability in `B1`), one mint (badge 1, write only) and two retypes (an
    /// endpoint, a 2-slot CNode).
    pub fn small() -> Universe {
        let standard = Universe::standard();
        let b = FixedCNode { radix: 1, ..standard.cnodes[1] };
        let place = |(at, cap): (SlotRef, Cap)| match cap {
            cap if cap == standard.cnodes[1].cap() => (at, b.cap()),
            Cap::Tcb { .. } => (b.slot(1), cap),
            cap => (at, cap),
        };
        Universe {
            cnodes: vec![standard.cnodes[0], b],
            initial: standard.initial.iter().copied().map(place).collect(),
            mints: vec![standard.mints[1]],
            retypes: standard.retypes[..2].to_vec(),
            ..standard
        }
    }

    /// This universe without its thread (the TCB, its CSpace root `C`, the paging
    /// structures, frame and entries): for the refinement test, whose Coq model has no
    /// TCBs, frames or page tables.
    pub fn without_thread(self) -> Universe {
        let thread: Vec<Cap> = thread_caps(SlotRef::NONE).into_iter().map(|(_, cap)| cap).collect();
        Universe {
            initial: self.initial.into_iter().filter(|(_, cap)| !thread.contains(cap)).collect(),
            initial_entries: Vec::new(),
            initial_asids: Vec::new(),
            initial_threads: Vec::new(),
            ..self
        }
    }

    /// The state before any operation: the initial capabilities as derivation-tree roots,
    /// the initial entries, ASIDs and running threads.
    pub fn initial_state(&self) -> Memory {
        let mut memory = Memory::default();
        for &(at, cap) in &self.initial {
            insert_root(&mut memory, at, cap);
        }
        for &(table, index, entry) in &self.initial_entries {
            memory.tables_mut().set_entry(table, index, entry);
        }
        for &(asid, pml4) in &self.initial_asids {
            memory.set_asid(asid, pml4);
        }
        for &tcb in &self.initial_threads {
            memory.start_thread(tcb);
        }
        memory.take_accesses();
        memory
    }

    /// CNodes whose slots are addressable in `memory`, as (address, slot count), sorted:
    /// the external fixed CNodes and every CNode reachable from them through CNode
    /// capabilities (what multi-level capability-pointer resolution can reach). A CNode
    /// whose capabilities all lie in unreachable CNodes is alive but cannot be addressed.
    pub fn live_cnodes(&self, memory: &Memory) -> Vec<(u64, u64)> {
        let mut live: Vec<(u64, u64)> = self.cnodes.iter().filter(|c| c.external).map(|c| (c.paddr, 1u64 << c.radix)).collect();
        let mut scanned = 0;
        while scanned < live.len() {
            let (paddr, count) = live[scanned];
            scanned += 1;
            for index in 0..count {
                let named = match memory.cap(slot_address(paddr, index)) {
                    Cap::CNode { paddr, radix, .. } => Some((paddr, 1u64 << radix)),
                    _ => None,
                };
                if let Some(cnode) = named.filter(|cnode| !live.contains(cnode)) {
                    live.push(cnode);
                }
            }
        }
        live.sort_unstable();
        live
    }

    /// Every addressable slot in `memory`, sorted.
    pub fn addressable_slots(&self, memory: &Memory) -> Vec<SlotRef> {
        self.live_cnodes(memory).into_iter().flat_map(|(paddr, count)| (0..count).map(move |index| slot_address(paddr, index))).collect()
    }

    /// A readable name for slot `at`: `A2` for a fixed CNode's slot, `cnode@0x10080[1]` for
    /// a slot of a CNode created by retype.
    pub fn slot_name(&self, at: SlotRef) -> String {
        for cnode in &self.cnodes {
            let end = cnode.slot(1u64 << cnode.radix);
            if (cnode.paddr..end.0).contains(&at.0) {
                return format!("{}{}", cnode.name, (at.0 - cnode.paddr) >> 6);
            }
        }
        format!("slot@{at:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_universe_addresses_a_and_b_while_b_is_reachable() {
        let universe = Universe::standard();
        let mut memory = universe.initial_state();
        assert_eq!(universe.addressable_slots(&memory).len(), 8);
        assert_eq!(universe.slot_name(slot_address(CNODE_B, 3)), "B3");
        // B holding its own only capability is alive but unreachable.
        tileos_kernel::cspace::move_cap(&mut memory, slot_address(CNODE_A, 2), slot_address(CNODE_B, 1), universe.cnodes[1].cap());
        assert_eq!(universe.live_cnodes(&memory), vec![(CNODE_A, 4)]);
        assert_eq!(universe.slot_name(SlotRef(0x1_0040)), "slot@0x10040");
    }

    #[test]
    fn without_its_thread_a_universe_holds_only_a0_to_a2() {
        let universe = Universe::standard().without_thread();
        let memory = universe.initial_state();
        assert_eq!(memory.occupied().count(), 3);
        assert!(memory.running().is_empty() && memory.tables().entries.is_empty());
        assert_eq!(Universe::small().without_thread().initial_state().occupied().count(), 3);
    }

    #[test]
    fn the_small_universe_has_six_slots_and_fewer_parameters() {
        let universe = Universe::small();
        let memory = universe.initial_state();
        assert_eq!(universe.addressable_slots(&memory).len(), 6);
        assert_eq!(memory.cap(slot_address(CNODE_A, 2)), Cap::CNode { paddr: CNODE_B, radix: 1, guard_bits: 0, guard: 0 });
        assert_eq!((universe.mints.len(), universe.mutate_data.len(), universe.retypes.len()), (1, 1, 2));
        // B's description (traces, refinement) has its two slots too: B2 is not one of them.
        assert_eq!(universe.cnodes[1], FixedCNode { name: 'B', paddr: CNODE_B, radix: 1, external: false });
        assert_eq!(
            (universe.slot_name(slot_address(CNODE_B, 1)), universe.slot_name(slot_address(CNODE_B, 2))),
            ("B1".into(), "slot@0x2080".into())
        );
    }
}
