//! Where the root server gets kernel objects: free slots of its CNode and untyped memory.
//! Objects come from the current untyped until it is exhausted, then from the next one.

use alloc_crate::vec::Vec;
use tileos_abi::bootinfo::{BootInfo, slot};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{CNodeDelete, CPtr, Slot, UntypedRetype};
use tileos_abi::object::ObjectType;
use tileos_sys::Error;
use tileos_sys::cap::{CNode, Untyped};

/// Free slots of the root CNode: slots given back (emptied) first, then fresh ones in order.
pub struct Slots {
    /// Next never-used slot.
    pub next: u64,
    /// One past the last slot.
    pub end: u64,
    /// Emptied slots to hand out again (the supervisor gives back a restarted domain's).
    pub recycled: Vec<u64>,
    /// When set, every slot handed out is also recorded here.
    pub taken: Option<Vec<u64>>,
}

impl Slots {
    /// A free slot (panics when the root CNode is full: the root server cannot go on).
    pub fn take(&mut self) -> u64 {
        let slot = match self.recycled.pop() {
            Some(slot) => slot,
            None => {
                assert!(self.next < self.end, "root CNode full");
                self.next += 1;
                self.next - 1
            }
        };
        if let Some(taken) = &mut self.taken {
            taken.push(slot);
        }
        slot
    }
}

/// Slots and untyped memory of the root server.
pub struct Allocator {
    /// Free slots.
    pub slots: Slots,
    /// Slot of the untyped currently retyped from.
    pub untyped: u64,
    /// RAM untyped slots not yet used, largest last.
    spare: [u64; 64],
    spare_count: usize,
}

impl Allocator {
    /// Takes the free slots and the RAM untyped regions (largest first) from BootInfo.
    pub fn new(info: &BootInfo) -> Allocator {
        let count = (info.untyped.end - info.untyped.start) as usize;
        let mut ram: [(u8, u64); 64] = [(0, 0); 64];
        let mut n = 0;
        for (index, desc) in info.untyped_list[..count].iter().enumerate() {
            if desc.is_device == 0 && n < ram.len() {
                ram[n] = (desc.size_bits, info.untyped.start + index as u64);
                n += 1;
            }
        }
        ram[..n].sort_unstable();
        let mut spare = [0; 64];
        for (i, (_, slot)) in ram[..n].iter().enumerate() {
            spare[i] = *slot;
        }
        let untyped = if n > 0 { spare[n - 1] } else { 0 };
        let slots = Slots { next: info.empty.start, end: info.empty.end, recycled: Vec::new(), taken: None };
        Allocator { slots, untyped, spare, spare_count: n.saturating_sub(1) }
    }

    /// Retypes one object of `object` (with `size_bits` for untyped/CNodes) into a fresh slot.
    pub fn try_make(&mut self, object: ObjectType, size_bits: u64) -> Result<u64, Error> {
        let dest = self.slots.take();
        loop {
            match Untyped::from_cptr(self.untyped).invoke(UntypedRetype {
                object_type: object,
                size_bits,
                node: Slot::new(0, 0),
                node_offset: dest,
                count: 1,
                root: CPtr(slot::CNODE),
            }) {
                Ok(_) => return Ok(dest),
                Err(e) if e.code == Some(InvocationError::NotEnoughMemory) && self.spare_count > 0 => {
                    self.spare_count -= 1;
                    self.untyped = self.spare[self.spare_count];
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs `build` with objects coming only from `untyped` (a domain's own memory, so that
    /// revoking it destroys everything built), then returns to the general untyped.
    pub fn with_untyped<R>(&mut self, untyped: u64, build: impl FnOnce(&mut Allocator) -> R) -> R {
        let (saved_untyped, saved_spares) = (self.untyped, self.spare_count);
        self.untyped = untyped;
        self.spare_count = 0;
        let result = build(self);
        self.untyped = saved_untyped;
        self.spare_count = saved_spares;
        result
    }

    /// Deletes the RAM untyped regions nothing was ever retyped from (after boot the root
    /// server needs no more memory: restarts rebuild from each domain's own region). Returns
    /// the slots they were in and their bytes.
    pub fn drop_spare_memory(&mut self, info: &BootInfo) -> (Vec<u64>, u64) {
        let mut bytes = 0;
        for &spare in &self.spare[..self.spare_count] {
            let index = (spare - info.untyped.start) as usize;
            bytes += 1u64 << info.untyped_list[index].size_bits;
            if let Err(error) = CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(spare) }) {
                panic!("delete spare untyped {spare}: {error:?}");
            }
        }
        let dropped = self.spare[..self.spare_count].to_vec();
        self.spare_count = 0;
        (dropped, bytes)
    }

    /// The untyped region objects come from now (its slot) and its size in bytes: what the
    /// root server keeps after boot for the domains it builds later.
    pub fn working_region(&self, info: &BootInfo) -> (u64, u64) {
        let index = (self.untyped - info.untyped.start) as usize;
        (self.untyped, 1u64 << info.untyped_list[index].size_bits)
    }

    /// As [`Allocator::try_make`], for objects the root server cannot do without.
    pub fn make(&mut self, object: ObjectType, size_bits: u64) -> u64 {
        match self.try_make(object, size_bits) {
            Ok(slot) => slot,
            Err(error) => panic!("cannot create {object:?}: {error:?}"),
        }
    }
}
