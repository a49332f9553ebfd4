//! Bounded work per preemption chunk (issue 19): deleting and revoking chains of 2 to 256
//! CNodes through the kernel's real `cspace::delete_step`/`revoke_step`, in kernel entries
//! of `KERNEL_STEP_WORK` units as CNodeDelete and CNodeRevoke run them, counting the slot
//! reads and writes of every entry. The work per entry must not grow with the chain; the
//! total grows linearly.

use tileos_abi::object::Rights;
use tileos_kernel::cap::Cap;
use tileos_kernel::cspace::{CSpaceMemory, KERNEL_STEP_WORK, SlotRef, insert_derived, insert_root, slot_address};
use tileos_model_checker::memory::Memory;
use tileos_model_checker::work::{self, ACCESSES_PER_ENTRY, ACCESSES_PER_UNIT, Entry};

/// The slot holding the capability to the chain's first CNode.
const HOLDER: SlotRef = slot_address(0x1000, 0);
/// The slot holding the untyped the chain's CNodes were retyped from.
const UNTYPED_SLOT: SlotRef = slot_address(0x1000, 1);
/// The untyped's memory: 256 radix-1 CNodes of 128 bytes.
const UNTYPED: u64 = 0x10_0000;
const CHAIN_LENGTHS: std::ops::RangeInclusive<u64> = 2..=256;

fn cnode(paddr: u64) -> Cap {
    Cap::CNode { paddr, radix: 1, guard_bits: 0, guard: 0 }
}

/// A chain of `length` radix-1 CNodes retyped from an untyped: the holder slot has the only
/// capability to the first, each holds the only capability to the next in slot 1 and an
/// endpoint in slot 0. Built from the tail, so each CNode's capability is the untyped's
/// first child in CDT order (as in the kernel's own host test of a tail-first chain).
fn chain(length: u64) -> Memory {
    let mut memory = Memory::default();
    let level = |i: u64| UNTYPED + i * 128;
    let untyped =
        Cap::Untyped { paddr: UNTYPED, size_bits: 15, device: false, free_offset: length * 128, prepared_to: 0, prepared_kind: 0 };
    insert_root(&mut memory, UNTYPED_SLOT, untyped);
    for i in (0..length).rev() {
        let holder = if i == 0 { HOLDER } else { slot_address(level(i - 1), 1) };
        insert_derived(&mut memory, UNTYPED_SLOT, holder, cnode(level(i)), true);
        insert_root(&mut memory, slot_address(level(i), 0), Cap::Endpoint { paddr: 0x4000_0000 + i * 32, badge: 0, rights: Rights::ALL });
    }
    memory.take_accesses();
    memory
}

/// What deleting (or revoking) a chain in entries of `budget` units cost.
#[derive(Debug)]
struct Cost {
    entries: Vec<Entry>,
}

impl Cost {
    fn worst(&self) -> u64 {
        self.entries.iter().map(|e| e.accesses.total()).max().unwrap_or(0)
    }
    fn total(&self) -> u64 {
        self.entries.iter().map(|e| e.accesses.total()).sum()
    }
}

fn delete_chain(length: u64, budget: u64) -> Cost {
    let mut memory = chain(length);
    let mut entries = Vec::new();
    assert!(work::delete_in_entries(&mut memory, HOLDER, budget, false, &mut entries));
    assert!(memory.occupied().all(|(at, _)| at == UNTYPED_SLOT), "chain of {length}: something survived the delete");
    Cost { entries }
}

fn revoke_chain(length: u64, budget: u64) -> Cost {
    let mut memory = chain(length);
    let mut entries = Vec::new();
    assert!(work::revoke_in_entries(&mut memory, UNTYPED_SLOT, budget, false, &mut entries));
    let left: Vec<SlotRef> = memory.occupied().map(|(at, _)| at).collect();
    assert_eq!(left, [UNTYPED_SLOT], "chain of {length}: the revoke left more than the untyped");
    assert_eq!(memory.read(UNTYPED_SLOT).next, SlotRef::NONE);
    Cost { entries }
}

/// The check of this file: every entry within its bound (a constant for a given budget),
/// and the costliest entry the same for every chain of the upper half of the lengths
/// (129 to 256) and never higher for a shorter one. (Up to about two entries' worth of
/// CNodes the costliest entry still grows: a longer chain fills its first entry with more
/// destructions started, which cost more accesses than slots emptied.) Returns the costliest
/// entry.
fn per_chunk_constant(operation: &str, budget: u64, cost: impl Fn(u64) -> Cost) -> Result<u64, String> {
    let costs: Vec<(u64, u64)> = CHAIN_LENGTHS
        .map(|length| {
            let cost = cost(length);
            work::check(&cost.entries).map(|()| (length, cost.worst())).map_err(|e| format!("{operation} of a chain of {length}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let (longest, plateau) = *costs.last().expect("lengths");
    for &(length, worst) in &costs {
        if worst > plateau || (length > longest / 2 && worst != plateau) {
            return Err(format!(
                "{operation} of a chain of {length} took {worst} slot accesses in its costliest entry of {budget} units, \
                 against {plateau} for a chain of {longest}: the work per entry grows with the chain"
            ));
        }
    }
    Ok(plateau)
}

#[test]
fn work_per_kernel_entry_stays_constant_for_chains_of_2_to_256_cnodes() {
    for (operation, run) in [("delete", delete_chain as fn(u64, u64) -> Cost), ("revoke", revoke_chain)] {
        let worst = per_chunk_constant(operation, KERNEL_STEP_WORK, |length| run(length, KERNEL_STEP_WORK)).unwrap();
        assert!(worst <= KERNEL_STEP_WORK * ACCESSES_PER_UNIT + ACCESSES_PER_ENTRY);
        // One unit per entry (the finest preemption the kernel could choose) is bounded too.
        let worst_unit = per_chunk_constant(operation, 1, |length| run(length, 1)).unwrap();
        // Linear in total: a few units per CNode (two slots emptied, its destruction started
        // and finished), so four times the chain costs four times the work (within 10%), not
        // sixteen times; and about one entry per 64 units.
        let (short, long) = (run(64, KERNEL_STEP_WORK), run(256, KERNEL_STEP_WORK));
        assert!(
            long.total() * 10 <= short.total() * 4 * 11,
            "{operation}: total {} for 256 against {} for 64",
            long.total(),
            short.total()
        );
        assert!(long.entries.len() as u64 <= 256 * 5 / KERNEL_STEP_WORK + 1, "{operation}: {} entries for 256 CNodes", long.entries.len());
        println!(
            "{operation}: worst entry {worst} slot accesses ({KERNEL_STEP_WORK} units), {worst_unit} (1 unit); \
             chain of 256: {} entries, {} accesses in all",
            long.entries.len(),
            long.total()
        );
    }
}

#[test]
fn a_delete_run_in_one_entry_fails_the_check() {
    // The same chains deleted with no preemption point (an unlimited budget, as the
    // one-entry code did): every entry meets its (unlimited) bound, but the one entry's
    // work grows with the chain, and the check says so.
    let error = per_chunk_constant("delete", u64::MAX, |length| delete_chain(length, u64::MAX)).unwrap_err();
    assert!(error.starts_with("delete of a chain of 129 took"), "{error}");
    assert!(error.contains("the work per entry grows with the chain"), "{error}");
    assert!(delete_chain(256, u64::MAX).worst() > 100 * delete_chain(2, u64::MAX).worst());
}
