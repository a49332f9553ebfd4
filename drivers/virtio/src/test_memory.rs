//! Host-test doubles (feature `test-memory`): a [`Memory`] over a vector (`tileos_mmio`'s,
//! re-exported), and the device's side of a split virtqueue, for the tests of this crate and
//! of the crates that share memory through it (the virtio drivers, the netstack). The test
//! plays the other party.
extern crate alloc;
use crate::{Memory, QueueLayout};
use alloc::vec::Vec;
pub use tileos_mmio::VecMemory;

/// One descriptor as the device reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Physical address of the buffer.
    pub paddr: u64,
    /// Bytes of the buffer.
    pub length: u32,
    /// Flags ([`crate::DESC_NEXT`], [`crate::DESC_WRITE`]).
    pub flags: u16,
    /// The next descriptor of the chain (meaningful with [`crate::DESC_NEXT`]).
    pub next: u16,
}

/// The device's side of a split virtqueue at offset `base`: reads the available ring and
/// the descriptors, writes the used ring.
#[derive(Clone, Copy, Debug)]
pub struct Device {
    /// Offset of the queue in the memory.
    pub base: usize,
    /// Its layout.
    pub layout: QueueLayout,
    /// Available-ring entries taken so far (free-running).
    pub seen: u16,
    /// Used-ring entries written so far (free-running).
    pub used: u16,
}

impl Device {
    /// The device's side of the queue laid out by `layout` at `base`.
    pub fn new(base: usize, layout: QueueLayout) -> Device {
        Device { base, layout, seen: 0, used: 0 }
    }

    /// The head of the next chain the driver offered, if any.
    pub fn next_available(&mut self, memory: &impl Memory) -> Option<u16> {
        let ring = self.base + self.layout.avail;
        if memory.read_u16(ring + 2) == self.seen {
            return None;
        }
        let head = memory.read_u16(ring + 4 + 2 * usize::from(self.seen % self.layout.size));
        self.seen = self.seen.wrapping_add(1);
        Some(head)
    }

    /// Descriptor `index`.
    pub fn descriptor(&self, memory: &impl Memory, index: u16) -> Descriptor {
        let at = self.base + 16 * usize::from(index);
        let paddr = u64::from(memory.read_u32(at)) | u64::from(memory.read_u32(at + 4)) << 32;
        Descriptor { paddr, length: memory.read_u32(at + 8), flags: memory.read_u16(at + 12), next: memory.read_u16(at + 14) }
    }

    /// The descriptors of the chain starting at `head`, following [`crate::DESC_NEXT`].
    pub fn chain(&self, memory: &impl Memory, head: u16) -> Vec<Descriptor> {
        let mut chain = alloc::vec![self.descriptor(memory, head)];
        while chain.last().is_some_and(|last| last.flags & crate::DESC_NEXT != 0) {
            assert!(chain.len() < usize::from(self.layout.size), "the chain loops");
            chain.push(self.descriptor(memory, chain[chain.len() - 1].next));
        }
        chain
    }

    /// Returns the chain at `head` to the driver, `length` bytes written into it.
    pub fn complete(&mut self, memory: &impl Memory, head: u16, length: u32) {
        let ring = self.base + self.layout.used;
        let slot = usize::from(self.used % self.layout.size);
        memory.write_u32(ring + 4 + 8 * slot, u32::from(head));
        memory.write_u32(ring + 8 + 8 * slot, length);
        self.used = self.used.wrapping_add(1);
        memory.write_u16(ring + 2, self.used);
    }
}
