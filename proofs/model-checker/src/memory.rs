//! The explored state: every capability slot of the universe, stored as a sorted list of the
//! slots that are not [`Slot::EMPTY`], behind the kernel's own [`CSpaceMemory`] trait so the
//! kernel's CDT code runs on it unchanged.
//!
//! Besides slots, [`Memory`] holds what the kernel's `finalise` and `destroying` act on:
//! page-table entries and the ASID table ([`PageTables`], behind the kernel's
//! [`PagingMemory`] trait), and
//! the threads that run. Its [`CSpaceMemory::finalise`] does the kernel library's real work,
//! [`tileos_kernel::vspace::finalise`] (a deleted frame capability is unmapped, the last
//! capability to a paging structure unmaps and clears it, the last one to a PML4 clears its
//! user half and frees its ASID); its [`CSpaceMemory::destroying`] stops a TCB's thread, as
//! the kernel's `destroy::destroying` does (in the kernel binary, not the library: endpoint
//! queues, IRQ and I/O-port release are not modelled). It also records every `finalise`
//! call of the current step together with the ground truth the invariants need (how many
//! capabilities to the object really existed, what was left inside a destroyed
//! container), and counts
//! the slot reads and writes the kernel's code makes through the trait ([`Accesses`]): the
//! cost of an operation is measured on the real `cspace` code, with nothing added to the
//! kernel's own build.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use tileos_kernel::cap::Cap;
use tileos_kernel::cspace::{CSpaceMemory, Slot, SlotRef, slot_address};
use tileos_kernel::vspace::{self, PagingMemory};

/// ASIDs the model has (1; index 0 of the table is unused).
pub const ASIDS: usize = 1;

/// One call of [`CSpaceMemory::finalise`], with what the checker observed at that moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finalised {
    /// The capability being removed.
    pub cap: Cap,
    /// What the kernel claimed: that this was the last capability to its object.
    pub is_final: bool,
    /// How many capabilities to the same object (this one included) were in memory.
    pub copies: usize,
    /// For the last capability to a CNode: the occupied slots of that CNode, with their
    /// capabilities, other than the one holding the capability itself.
    pub leftovers: Vec<(SlotRef, Cap)>,
}

/// Slot reads and writes made through [`CSpaceMemory`] (by the kernel's capability code;
/// the checker's own look-ups use [`Memory::cap`] and [`Memory::slots`], which are not
/// counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accesses {
    /// [`CSpaceMemory::read`] calls.
    pub reads: u64,
    /// [`CSpaceMemory::write`] calls.
    pub writes: u64,
}

impl Accesses {
    /// Reads and writes together.
    pub fn total(self) -> u64 {
        self.reads + self.writes
    }
}

/// All slots of the universe, page-table entries, ASIDs and running threads, plus the
/// finalisation log and the access counts of the step being run.
///
/// Equality and hashing cover the slots, entries, ASIDs and threads only: two memories that
/// hold the same are the same state whatever happened on the way there.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    /// Non-empty slots, sorted by address.
    slots: Vec<(SlotRef, Slot)>,
    /// Finalisations since the log was last taken.
    log: Vec<Finalised>,
    /// Slot reads since the counts were last taken (a `Cell`: reads take `&self`).
    reads: Cell<u64>,
    /// Slot writes since the counts were last taken.
    writes: u64,
    /// Page-table entries and ASIDs.
    tables: PageTables<{ ASIDS + 1 }>,
    /// Addresses of the TCBs whose thread runs (not stopped by `destroying`), sorted.
    running: Vec<u64>,
}

impl PartialEq for Memory {
    fn eq(&self, other: &Self) -> bool {
        (&self.slots, &self.tables, &self.running) == (&other.slots, &other.tables, &other.running)
    }
}

impl Eq for Memory {}

impl Memory {
    /// The non-empty slots, sorted by address.
    pub fn slots(&self) -> &[(SlotRef, Slot)] {
        &self.slots
    }

    /// Iterates over the slots holding a capability.
    pub fn occupied(&self) -> impl Iterator<Item = (SlotRef, &Slot)> {
        self.slots.iter().filter(|(_, slot)| slot.cap != Cap::Null).map(|(at, slot)| (*at, slot))
    }

    /// The capability at `at` ([`Cap::Null`] for an empty slot); not counted as an access.
    pub fn cap(&self, at: SlotRef) -> Cap {
        self.peek(at).cap
    }

    /// The slot at `at`, not counted as an access (the checker's own look-ups).
    pub fn peek(&self, at: SlotRef) -> Slot {
        check_address(at);
        match self.position(at) {
            Ok(index) => self.slots[index].1,
            Err(_) => Slot::EMPTY,
        }
    }

    /// Takes the finalisation log, leaving it empty.
    pub fn take_log(&mut self) -> Vec<Finalised> {
        std::mem::take(&mut self.log)
    }

    /// Takes the slot reads and writes made through [`CSpaceMemory`] since the last call,
    /// setting the counts back to zero.
    pub fn take_accesses(&mut self) -> Accesses {
        let accesses = Accesses { reads: self.reads.take(), writes: self.writes };
        self.writes = 0;
        accesses
    }

    /// Makes `pml4` the PML4 of ASID `asid` (initial states).
    pub fn set_asid(&mut self, asid: u16, pml4: u64) {
        self.tables.asids[usize::from(asid)] = pml4;
    }

    /// Starts the thread of the TCB at `tcb` (initial states).
    pub fn start_thread(&mut self, tcb: u64) {
        if let Err(index) = self.running.binary_search(&tcb) {
            self.running.insert(index, tcb);
        }
    }

    /// The TCBs whose thread runs, sorted.
    pub fn running(&self) -> &[u64] {
        &self.running
    }

    /// Page-table entries and ASIDs.
    pub fn tables(&self) -> &PageTables<{ ASIDS + 1 }> {
        &self.tables
    }

    /// Page-table entries and ASIDs, to change (initial states).
    pub fn tables_mut(&mut self) -> &mut PageTables<{ ASIDS + 1 }> {
        &mut self.tables
    }

    /// How many capabilities in memory name the same object as `cap`.
    pub fn copies_of(&self, cap: &Cap) -> usize {
        self.occupied().filter(|(_, slot)| slot.cap.same_object_as(cap)).count()
    }

    /// A 128-bit fingerprint of the slots, used to deduplicate visited states (hash
    /// compaction: two different states collide with probability about 2^-128 per pair).
    pub fn fingerprint(&self) -> u128 {
        fingerprint([0x7469_6c65, 0x6f73_6d63], |hasher| {
            hash_slots(self.slots.iter().map(|(at, slot)| (at, slot)), hasher);
            (&self.tables, &self.running).hash(hasher);
        })
    }

    fn position(&self, at: SlotRef) -> Result<usize, usize> {
        self.slots.binary_search_by_key(&at, |(address, _)| *address)
    }
}

/// A 128-bit fingerprint of whatever `feed` hashes: two 64-bit hashes with different `seeds`
/// (hash compaction of visited states).
pub fn fingerprint(seeds: [u64; 2], feed: impl Fn(&mut DefaultHasher)) -> u128 {
    let half = |seed: u64| {
        let mut hasher = DefaultHasher::new();
        seed.hash(&mut hasher);
        feed(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(seeds[0])) << 64) | u128::from(half(seeds[1]))
}

/// Hashes slots with their addresses, in the order given.
pub fn hash_slots<'a>(slots: impl Iterator<Item = (&'a SlotRef, &'a Slot)>, hasher: &mut DefaultHasher) {
    for (at, slot) in slots {
        at.hash(hasher);
        hash_slot(slot, hasher);
    }
}

fn check_address(at: SlotRef) {
    assert!(at != SlotRef::NONE && at.0 & 63 == 0, "the kernel used a bad slot reference {at:#x}");
}

impl CSpaceMemory for Memory {
    fn read(&self, at: SlotRef) -> Slot {
        self.reads.set(self.reads.get() + 1);
        self.peek(at)
    }

    fn write(&mut self, at: SlotRef, slot: Slot) {
        check_address(at);
        self.writes += 1;
        match (self.position(at), slot == Slot::EMPTY) {
            (Ok(index), true) => {
                self.slots.remove(index);
            }
            (Ok(index), false) => self.slots[index].1 = slot,
            (Err(index), false) => self.slots.insert(index, (at, slot)),
            (Err(_), true) => {}
        }
    }

    fn finalise(&mut self, cap: &Cap, is_final: bool) {
        let copies = self.copies_of(cap);
        let leftovers = match cap.slot_container() {
            Some((paddr, count)) if copies == 1 => (0..count)
                .map(|index| (slot_address(paddr, index), self.cap(slot_address(paddr, index))))
                .filter(|(_, held)| *held != Cap::Null && !held.same_object_as(cap))
                .collect(),
            _ => Vec::new(),
        };
        self.log.push(Finalised { cap: *cap, is_final, copies, leftovers });
        vspace::finalise(&mut self.tables, cap, is_final);
    }

    fn destroying(&mut self, cap: &Cap) {
        if let Cap::Tcb { paddr } = *cap {
            self.running.retain(|&tcb| tcb != paddr);
        }
    }
}

/// Page-table entries and the ASID table (`N` - 1 ASIDs; index 0 unused) behind the
/// kernel's [`PagingMemory`] trait, for both explorers. Only non-zero entries are stored,
/// keyed by (4 KiB page, index), so memory that was a frame and is retyped as a table keeps
/// exactly what was in it. The TLB is not modelled (flushes do nothing): the model has no
/// translation caches to get stale.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageTables<const N: usize> {
    /// Non-zero entries by (table address, index).
    pub entries: BTreeMap<(u64, usize), u64>,
    /// ASID → PML4 address (0: free); index 0 unused.
    pub asids: [u64; N],
}

impl<const N: usize> Default for PageTables<N> {
    fn default() -> Self {
        PageTables { entries: BTreeMap::new(), asids: [0; N] }
    }
}

impl<const N: usize> PagingMemory for PageTables<N> {
    fn entry(&self, table: u64, index: usize) -> u64 {
        assert!(index < vspace::ENTRIES && table & 0xFFF == 0, "bad entry reference {table:#x}[{index}]");
        self.entries.get(&(table, index)).copied().unwrap_or(0)
    }
    fn set_entry(&mut self, table: u64, index: usize, value: u64) {
        assert!(index < vspace::ENTRIES && table & 0xFFF == 0, "bad entry reference {table:#x}[{index}]");
        if value == 0 {
            self.entries.remove(&(table, index));
        } else {
            self.entries.insert((table, index), value);
        }
    }
    fn root(&self, asid: u16) -> Option<u64> {
        self.asids.get(usize::from(asid)).copied().filter(|&pml4| asid != 0 && pml4 != 0)
    }
    fn free_asid(&mut self, asid: u16) {
        self.asids[usize::from(asid)] = 0;
    }
    fn flush_page(&mut self, _pml4: u64, _vaddr: u64) {}
    fn flush_all(&mut self, _pml4: Option<u64>) {}
}

/// Feeds every field of a slot to `hasher` (the kernel's types do not implement `Hash`).
pub(crate) fn hash_slot(slot: &Slot, hasher: &mut impl Hasher) {
    hash_cap(&slot.cap, hasher);
    (slot.prev, slot.next, slot.revocable, slot.first_badged, slot.detached).hash(hasher);
}

/// Feeds a capability's variant and every field to `hasher`.
fn hash_cap(cap: &Cap, hasher: &mut impl Hasher) {
    std::mem::discriminant(cap).hash(hasher);
    match *cap {
        Cap::Null | Cap::IrqControl | Cap::IoPortControl | Cap::IoSpaceControl => {}
        Cap::Untyped { paddr, size_bits, device, free_offset, prepared_to, prepared_kind } => {
            (paddr, size_bits, device, free_offset, prepared_to, prepared_kind).hash(hasher)
        }
        Cap::Endpoint { paddr, badge, rights } | Cap::Notification { paddr, badge, rights } => (paddr, badge, rights.0).hash(hasher),
        Cap::Reply { tcb, can_grant } => (tcb, can_grant).hash(hasher),
        Cap::CNode { paddr, radix, guard_bits, guard } => (paddr, radix, guard_bits, guard).hash(hasher),
        Cap::Tcb { paddr } => paddr.hash(hasher),
        Cap::Frame { paddr, size_bits, rights, device, mapping } => {
            (paddr, size_bits, rights.0, device, mapping.asid, mapping.vaddr).hash(hasher)
        }
        Cap::PagingTable { paddr, level, mapping } => (paddr, level as u8, mapping.asid, mapping.vaddr).hash(hasher),
        Cap::Pml4 { paddr, asid } => (paddr, asid).hash(hasher),
        Cap::IrqHandler { irq } => irq.hash(hasher),
        Cap::IoPort { first, last } => (first, last).hash(hasher),
        Cap::IoSpace { device } => device.hash(hasher),
        Cap::Zombie { paddr, link, root, remaining, radix, tcb, top } => (paddr, link, root, remaining, radix, tcb, top).hash(hasher),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tileos_abi::object::Rights;
    use tileos_kernel::cspace::{delete, insert_derived, insert_root};

    const EP: Cap = Cap::Endpoint { paddr: 0x3000, badge: 0, rights: Rights::ALL };

    #[test]
    fn empty_writes_remove_slots_and_states_compare_by_slots() {
        let mut memory = Memory::default();
        insert_root(&mut memory, SlotRef(0x1000), EP);
        insert_derived(&mut memory, SlotRef(0x1000), SlotRef(0x1040), EP, false);
        let before = memory.clone();
        delete(&mut memory, SlotRef(0x1040));
        assert_eq!(memory.slots().len(), 1);
        assert_ne!(memory, before);
        assert_ne!(memory.fingerprint(), before.fingerprint());
        let log = memory.take_log();
        assert_eq!(log, vec![Finalised { cap: EP, is_final: false, copies: 2, leftovers: vec![] }]);
        assert!(memory.take_log().is_empty());
        let mut again = Memory::default();
        insert_root(&mut again, SlotRef(0x1000), EP);
        assert_eq!(again, memory);
        assert_eq!(again.fingerprint(), memory.fingerprint());
    }

    #[test]
    fn finalising_a_cnode_records_what_is_left_inside() {
        let mut memory = Memory::default();
        let cnode = Cap::CNode { paddr: 0x2000, radix: 2, guard_bits: 0, guard: 0 };
        insert_root(&mut memory, SlotRef(0x1000), cnode);
        insert_root(&mut memory, slot_address(0x2000, 3), EP);
        memory.finalise(&cnode, true);
        assert_eq!(memory.take_log()[0].leftovers, vec![(slot_address(0x2000, 3), EP)]);
    }

    #[test]
    fn only_the_last_capability_to_a_cnode_records_what_is_left_inside() {
        let mut memory = Memory::default();
        let cnode = Cap::CNode { paddr: 0x2000, radix: 2, guard_bits: 0, guard: 0 };
        insert_root(&mut memory, SlotRef(0x1000), cnode);
        insert_derived(&mut memory, SlotRef(0x1000), SlotRef(0x1040), cnode, false);
        insert_root(&mut memory, slot_address(0x2000, 3), EP);
        memory.finalise(&cnode, false);
        assert_eq!(memory.take_log(), vec![Finalised { cap: cnode, is_final: false, copies: 2, leftovers: vec![] }]);
    }

    #[test]
    fn fingerprints_tell_apart_states_that_differ_only_inside_a_slot() {
        let mut memory = Memory::default();
        insert_root(&mut memory, SlotRef(0x1000), EP);
        // The same slot address with another capability (a badge), and with the same
        // capability but other derivation-tree flags: three different states.
        let mut badged = Memory::default();
        insert_root(&mut badged, SlotRef(0x1000), Cap::Endpoint { paddr: 0x3000, badge: 1, rights: Rights::ALL });
        let mut flags = memory.clone();
        let slot = flags.peek(SlotRef(0x1000));
        flags.write(SlotRef(0x1000), Slot { revocable: !slot.revocable, ..slot });
        let prints = [memory.fingerprint(), badged.fingerprint(), flags.fingerprint()];
        assert!(prints[0] != prints[1] && prints[0] != prints[2] && prints[1] != prints[2], "{prints:x?}");
        // Both 64-bit halves carry a hash (different seeds), so the print has 128 bits.
        for print in prints {
            let (high, low) = ((print >> 64) as u64, print as u64);
            assert!(high != 0 && low != 0 && high != low, "{print:#x}");
        }
    }

    #[test]
    fn slot_accesses_are_counted_and_taken() {
        let mut memory = Memory::default();
        insert_root(&mut memory, SlotRef(0x1000), EP);
        memory.take_accesses();
        memory.read(SlotRef(0x1000));
        memory.read(SlotRef(0x1040));
        memory.write(SlotRef(0x1040), Slot::EMPTY);
        let _ = (memory.cap(SlotRef(0x1000)), memory.peek(SlotRef(0x1000)));
        let accesses = memory.take_accesses();
        assert_eq!(accesses, Accesses { reads: 2, writes: 1 }, "cap and peek are not counted");
        assert_eq!(accesses.total(), 3);
        assert_eq!(memory.take_accesses(), Accesses::default(), "taking sets the counts back to zero");
    }

    #[test]
    #[should_panic(expected = "bad slot reference")]
    fn a_slot_reference_not_on_a_slot_boundary_is_a_kernel_bug() {
        Memory::default().read(SlotRef(0x1008));
    }

    #[test]
    #[should_panic(expected = "bad slot reference")]
    fn a_write_to_the_null_slot_reference_is_a_kernel_bug() {
        Memory::default().write(SlotRef::NONE, Slot::EMPTY);
    }

    #[test]
    #[should_panic(expected = "bad entry reference")]
    fn an_entry_index_past_the_table_is_a_kernel_bug() {
        PageTables::<2>::default().entry(0x5000, vspace::ENTRIES);
    }

    #[test]
    #[should_panic(expected = "bad entry reference")]
    fn an_unaligned_table_is_a_kernel_bug() {
        PageTables::<2>::default().set_entry(0x5008, 0, 1);
    }

    #[test]
    fn asid_roots_exclude_asid_0_and_free_asids() {
        let mut tables = PageTables::<2>::default();
        assert_eq!(tables.root(1), None, "free");
        tables.asids = [0x4000, 0x5000];
        assert_eq!((tables.root(0), tables.root(1), tables.root(2)), (None, Some(0x5000), None), "ASID 0 is never a root");
        tables.free_asid(1);
        assert_eq!(tables.root(1), None);
        tables.set_entry(0x5000, 3, 7);
        assert_eq!((tables.entry(0x5000, 3), tables.entries.len()), (7, 1));
        tables.set_entry(0x5000, 3, 0);
        assert!(tables.entries.is_empty(), "a zero entry is not stored");
    }
}
