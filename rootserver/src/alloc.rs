//! Where the root server gets kernel objects: free slots of its CNode and untyped memory.
//! Objects come from the current untyped region until it is exhausted, then from the next
//! one. The allocator follows each region's watermark as the kernel moves it (every object
//! at its natural alignment), so it knows at any time how many bytes are left and how many
//! a build really took.

use alloc_crate::vec::Vec;
use tileos_abi::bootinfo::{BootInfo, slot};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{CNodeDelete, CPtr, Slot, UntypedRetype};
use tileos_abi::object::ObjectType;
use tileos_sys::Error;
use tileos_sys::cap::{CNode, Untyped};

/// Why no object could be made.
#[derive(Clone, Copy, Debug)]
pub enum AllocError {
    /// The root server's CNode has no free slot left (it has `capacity` slots).
    SlotsFull {
        /// Slots of the root CNode.
        capacity: u64,
    },
    /// No untyped region has room for the object.
    Memory {
        /// Bytes of the object.
        needed: u64,
        /// Bytes left in the regions (possibly in pieces too small for it).
        available: u64,
    },
    /// The kernel has no address space (ASID) left for a new VSpace (it has `limit` for
    /// everyone, the root server's included).
    AddressSpaces {
        /// ASIDs the kernel has.
        limit: u64,
    },
    /// The kernel refused the retype for another reason.
    Kernel(Error),
}

impl core::fmt::Display for AllocError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AllocError::SlotsFull { capacity } => write!(f, "the root server's CNode is full ({capacity} slots)"),
            AllocError::Memory { needed, available } => write!(f, "out of memory: {needed} bytes needed, {available} bytes left"),
            AllocError::AddressSpaces { limit } => write!(f, "the kernel's {limit} address spaces (ASIDs) are all taken"),
            AllocError::Kernel(error) => write!(f, "kernel error {:?} (details {:?})", error.code, error.details),
        }
    }
}

impl From<Error> for AllocError {
    fn from(error: Error) -> AllocError {
        AllocError::Kernel(error)
    }
}

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
    /// A free slot, or why there is none.
    pub fn try_take(&mut self) -> Result<u64, AllocError> {
        let slot = match self.recycled.pop() {
            Some(slot) => slot,
            None if self.next < self.end => {
                self.next += 1;
                self.next - 1
            }
            None => return Err(AllocError::SlotsFull { capacity: 1 << tileos_abi::bootinfo::ROOT_CNODE_RADIX }),
        };
        if let Some(taken) = &mut self.taken {
            taken.push(slot);
        }
        Ok(slot)
    }

    /// A free slot, for the kernel test suite, benchmarks and fuzzer (which stop on
    /// exhaustion); the tile uses [`Slots::try_take`].
    pub fn take(&mut self) -> u64 {
        self.try_take().unwrap_or_else(|error| panic!("{error}"))
    }

    /// Gives back `slot`, just taken and still empty (not recorded as taken any more).
    fn give_back(&mut self, slot: u64) {
        if let Some(taken) = self.taken.as_mut().filter(|taken| taken.last() == Some(&slot)) {
            taken.pop();
        }
        self.recycled.push(slot);
    }

    /// Slots still free.
    pub fn free(&self) -> u64 {
        self.end - self.next + self.recycled.len() as u64
    }
}

/// An untyped region objects are retyped from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Region {
    /// Its capability's slot.
    pub slot: u64,
    /// Its bytes.
    pub size: u64,
    /// Its watermark: bytes below are taken (objects and alignment gaps).
    pub used: u64,
}

impl Region {
    /// Where an object of `1 << bits` bytes would end, if it fits.
    fn end_of(&self, bits: u32) -> Option<u64> {
        let start = self.used.div_ceil(1 << bits) << bits;
        Some(start + (1 << bits)).filter(|&end| end <= self.size)
    }
}

/// Regions, the current one last: at most 64.
#[derive(Clone, Copy)]
struct Regions {
    list: [Region; 64],
    count: usize,
}

impl Regions {
    fn left(&self) -> u64 {
        self.list[..self.count].iter().map(|r| r.size - r.used).sum()
    }
}

/// A domain's own memory as a build takes objects from it ([`Allocator::with_own_regions`]):
/// kept between the pieces of a build done in pieces.
#[derive(Clone, Copy)]
pub struct OwnRegions {
    regions: Regions,
    total: u64,
}

impl OwnRegions {
    /// `pieces` (a domain's own memory, largest first), nothing taken yet.
    pub fn new(pieces: &[Region]) -> OwnRegions {
        let mut regions = Regions { list: [Region::default(); 64], count: pieces.len().min(64) };
        for (region, piece) in regions.list.iter_mut().zip(pieces.iter().rev()) {
            *region = Region { used: 0, ..*piece };
        }
        let total = regions.list[..regions.count].iter().map(|r| r.size).sum();
        OwnRegions { regions, total }
    }

    /// Bytes taken from the pieces so far.
    pub fn used(&self) -> u64 {
        self.total - self.regions.left()
    }
}

/// Slots and untyped memory of the root server.
pub struct Allocator {
    /// Free slots.
    pub slots: Slots,
    /// Slot of the untyped currently retyped from (the kernel test suite retypes from it
    /// directly; 0: none left).
    pub untyped: u64,
    /// Regions objects come from, the current one last.
    regions: Regions,
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
        let mut regions = Regions { list: [Region::default(); 64], count: n };
        for (region, &(bits, slot)) in regions.list.iter_mut().zip(&ram[..n]) {
            *region = Region { slot, size: 1 << bits, used: 0 };
        }
        let slots = Slots { next: info.empty.start, end: info.empty.end, recycled: Vec::new(), taken: None };
        let mut alloc = Allocator { slots, untyped: 0, regions };
        alloc.follow();
        alloc
    }

    /// Points [`Allocator::untyped`] at the current region.
    fn follow(&mut self) {
        self.untyped = self.regions.count.checked_sub(1).map_or(0, |top| self.regions.list[top].slot);
    }

    /// Bytes left in the current regions (the general memory, or inside
    /// [`Allocator::with_own_regions`] the domain's).
    pub fn available(&self) -> u64 {
        self.regions.left()
    }

    /// Untyped regions left to retype from (the current one included).
    pub fn regions_left(&self) -> usize {
        self.regions.count
    }

    /// Retypes one object of `object` (with `size_bits` for untyped/CNodes) into a fresh
    /// slot, from the current region or, when it has no room, the next.
    pub fn object(&mut self, object: ObjectType, size_bits: u64) -> Result<u64, AllocError> {
        let dest = self.slots.try_take()?;
        match self.object_into(object, size_bits, (slot::CNODE, dest)) {
            Ok(()) => Ok(dest),
            Err(error) => {
                self.slots.give_back(dest);
                Err(error)
            }
        }
    }

    /// [`Allocator::object`] into slot `offset` of the CNode in root slot `cnode` (a keeper;
    /// [`slot::CNODE`]: the root server's own CNode).
    pub fn object_into(&mut self, object: ObjectType, size_bits: u64, (cnode, offset): (u64, u64)) -> Result<(), AllocError> {
        let bits = object.size_bits(size_bits as u32);
        while let Some(region) = self.regions.count.checked_sub(1).map(|top| &mut self.regions.list[top]) {
            let Some(end) = region.end_of(bits) else {
                self.regions.count -= 1;
                continue;
            };
            let result = Untyped::from_cptr(region.slot).invoke(UntypedRetype {
                object_type: object,
                size_bits,
                node: Slot::new(0, 0),
                node_offset: offset,
                count: 1,
                root: CPtr(cnode),
            });
            match result {
                Ok(_) => {
                    region.used = end;
                    self.follow();
                    return Ok(());
                }
                // No ASID for a PML4 (MR1: the kernel's ASID count): no region would do.
                Err(e) if e.code == Some(InvocationError::NotEnoughMemory) && e.details[1] != 0 => {
                    return Err(AllocError::AddressSpaces { limit: e.details[1] });
                }
                // Should the kernel know better (it is the authority), the region is full.
                Err(e) if e.code == Some(InvocationError::NotEnoughMemory) => self.regions.count -= 1,
                Err(e) => return Err(AllocError::Kernel(e)),
            }
        }
        self.follow();
        Err(AllocError::Memory { needed: 1 << bits, available: self.available() })
    }

    /// [`Allocator::object`] with the kernel's error only, for the kernel test suite.
    pub fn try_make(&mut self, object: ObjectType, size_bits: u64) -> Result<u64, Error> {
        self.object(object, size_bits).map_err(|error| match error {
            AllocError::Kernel(error) => error,
            AllocError::Memory { needed, available } => Error {
                code: Some(InvocationError::NotEnoughMemory),
                label: InvocationError::NotEnoughMemory as u64,
                details: [available, needed],
            },
            AllocError::AddressSpaces { limit } => {
                Error { code: Some(InvocationError::NotEnoughMemory), label: InvocationError::NotEnoughMemory as u64, details: [0, limit] }
            }
            AllocError::SlotsFull { .. } => panic!("{error}"),
        })
    }

    /// Runs `build` with objects coming only from `own` (a domain's own memory, largest
    /// first, so that revoking it destroys everything built, as the pieces of its build
    /// before left it), then returns to the general memory; `own` then records where
    /// `build` left it.
    pub fn with_own_regions<R>(&mut self, own: &mut OwnRegions, build: impl FnOnce(&mut Allocator) -> R) -> R {
        let saved = self.regions;
        self.regions = own.regions;
        self.follow();
        let result = build(self);
        own.regions = self.regions;
        self.regions = saved;
        self.follow();
        result
    }

    /// Deletes the RAM untyped regions nothing was ever retyped from (after boot the root
    /// server needs no more memory: restarts rebuild from each domain's own region). Returns
    /// the slots they were in and their bytes; a region that cannot be deleted is kept and
    /// named.
    pub fn drop_spare_memory(&mut self) -> (Vec<u64>, u64) {
        let (mut dropped, mut bytes) = (Vec::new(), 0);
        let top = self.regions.count.saturating_sub(1);
        for region in self.regions.list[..top].iter().filter(|r| r.used == 0) {
            match CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(region.slot) }) {
                Ok(_) => {
                    dropped.push(region.slot);
                    bytes += region.size;
                }
                Err(error) => tileos_sys::println!("rootserver: unused untyped in slot {} kept: {error:?}", region.slot),
            }
        }
        if self.regions.count > 0 {
            self.regions.list[0] = self.regions.list[top];
            self.regions.count = 1;
        }
        self.follow();
        (dropped, bytes)
    }

    /// The untyped region objects come from now (its slot) and its size in bytes: what the
    /// root server keeps after boot for the domains it builds later ((0, 0): none left).
    pub fn working_region(&self) -> (u64, u64) {
        self.regions.count.checked_sub(1).map_or((0, 0), |top| (self.regions.list[top].slot, self.regions.list[top].size))
    }

    /// As [`Allocator::object`], for the kernel test suite, benchmarks, fuzzer and the root
    /// server's own heap, which cannot go on without it.
    pub fn make(&mut self, object: ObjectType, size_bits: u64) -> u64 {
        match self.object(object, size_bits) {
            Ok(slot) => slot,
            Err(error) => panic!("cannot create {object:?}: {error}"),
        }
    }
}
