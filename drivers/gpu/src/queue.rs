//! The control queue: a split virtqueue in the modern layout (descriptor table, available
//! ring and used ring at addresses of their own) that carries one command at a time as a
//! chain of two descriptors, the request (read by the device) and the response buffer
//! (written by the device).
//!
//! Reference: Virtual I/O Device (VIRTIO) Version 1.1, §2.6 (split virtqueues).

use core::sync::atomic::{Ordering, fence};
use tileos_driver_net::Memory;

/// Descriptor flag: the chain continues at `next`.
pub const DESC_NEXT: u16 = 1;
/// Descriptor flag: the device writes the buffer.
pub const DESC_WRITE: u16 = 2;

/// Where the parts of a queue of `size` entries lie, in bytes from its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLayout {
    /// Entries.
    pub size: u16,
    /// Offset of the available ring (after 16-byte descriptors; 2-byte aligned).
    pub avail: usize,
    /// Offset of the used ring (4-byte aligned).
    pub used: usize,
    /// Bytes of the whole queue.
    pub bytes: usize,
}

impl QueueLayout {
    /// The modern layout of a queue of `size` entries, packed: descriptors at 0 (16-byte
    /// aligned if the queue is), the available ring right after, the used ring at the
    /// next 4-byte boundary.
    pub const fn new(size: u16) -> QueueLayout {
        let entries = size as usize;
        let avail = 16 * entries;
        let used = (avail + 6 + 2 * entries).next_multiple_of(4);
        QueueLayout { size, avail, used, bytes: used + 6 + 8 * entries }
    }
}

/// The driver's side of a split virtqueue at offset `base` of a [`Memory`], used with one
/// request/response chain (descriptors 0 and 1) in flight at a time.
#[derive(Clone, Debug)]
pub struct CommandQueue {
    base: usize,
    layout: QueueLayout,
    /// Available-ring entries written so far (free-running).
    next_avail: u16,
    /// Used-ring entries consumed so far (free-running).
    last_used: u16,
}

impl CommandQueue {
    /// The queue laid out by `layout` at offset `base`. The memory must be zeroed (a fresh
    /// queue of a freshly reset device). Needs at least 2 entries.
    pub fn new(base: usize, layout: QueueLayout) -> CommandQueue {
        assert!(layout.size >= 2, "a command chain needs two descriptors");
        CommandQueue { base, layout, next_avail: 0, last_used: 0 }
    }

    /// Hands the device the request of `request_length` bytes at physical address
    /// `request` and the response buffer of `response_length` bytes at `response`. The
    /// caller notifies the device afterwards and waits with [`CommandQueue::take_used`].
    pub fn submit(&mut self, memory: &impl Memory, request: u64, request_length: u32, response: u64, response_length: u32) {
        let descriptors = self.base;
        memory.write_u64(descriptors, request);
        memory.write_u32(descriptors + 8, request_length);
        memory.write_u16(descriptors + 12, DESC_NEXT);
        memory.write_u16(descriptors + 14, 1);
        memory.write_u64(descriptors + 16, response);
        memory.write_u32(descriptors + 24, response_length);
        memory.write_u16(descriptors + 28, DESC_WRITE);
        memory.write_u16(descriptors + 30, 0);
        let ring = self.base + self.layout.avail;
        let slot = usize::from(self.next_avail % self.layout.size);
        memory.write_u16(ring + 4 + 2 * slot, 0);
        self.next_avail = self.next_avail.wrapping_add(1);
        // Descriptors and ring entry must be visible before the index that publishes them.
        fence(Ordering::SeqCst);
        memory.write_u16(ring + 2, self.next_avail);
    }

    /// The bytes the device wrote into the response buffer of the finished chain, if the
    /// device has finished one.
    pub fn take_used(&mut self, memory: &impl Memory) -> Option<u32> {
        let ring = self.base + self.layout.used;
        if memory.read_u16(ring + 2) == self.last_used {
            return None;
        }
        // Read the entry only after seeing the index that covers it.
        fence(Ordering::SeqCst);
        let slot = usize::from(self.last_used % self.layout.size);
        let length = memory.read_u32(ring + 8 + 8 * slot);
        self.last_used = self.last_used.wrapping_add(1);
        Some(length)
    }

    /// Offsets of the descriptor table, available ring and used ring (for the device's
    /// queue address registers, added to the region's physical address).
    pub fn parts(&self) -> [usize; 3] {
        [self.base, self.base + self.layout.avail, self.base + self.layout.used]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tileos_driver_net::test_memory::VecMemory;

    #[test]
    fn modern_layout_packs_the_rings() {
        assert_eq!(QueueLayout::new(16), QueueLayout { size: 16, avail: 256, used: 296, bytes: 430 });
        // Odd sizes round the used ring up to 4 bytes.
        assert_eq!(QueueLayout::new(3).used, 60);
    }

    /// The device's side: takes the chain, checks it, writes `length` response bytes.
    fn device_completes(memory: &VecMemory, queue: &CommandQueue, seen: &mut u16, used: &mut u16, length: u32) -> [(u64, u32, u16, u16); 2] {
        let [descriptors, avail, used_ring] = queue.parts();
        assert_ne!(memory.read_u16(avail + 2), *seen, "a chain is available");
        let head = memory.read_u16(avail + 4 + 2 * usize::from(*seen % queue.layout.size));
        *seen = seen.wrapping_add(1);
        let read = |index: usize| {
            let at = descriptors + 16 * index;
            let mut address = [0u8; 8];
            memory.read_bytes(at, &mut address);
            (u64::from_le_bytes(address), memory.read_u32(at + 8), memory.read_u16(at + 12), memory.read_u16(at + 14))
        };
        let first = read(usize::from(head));
        let second = read(usize::from(first.3));
        let slot = usize::from(*used % queue.layout.size);
        memory.write_u32(used_ring + 4 + 8 * slot, u32::from(head));
        memory.write_u32(used_ring + 8 + 8 * slot, length);
        *used = used.wrapping_add(1);
        memory.write_u16(used_ring + 2, *used);
        [first, second]
    }

    #[test]
    fn commands_go_round_as_chains_and_indices_wrap() {
        let layout = QueueLayout::new(16);
        let memory = VecMemory::new(0x100 + layout.bytes);
        let mut queue = CommandQueue::new(0x100, layout);
        let (mut seen, mut used) = (0u16, 0u16);
        assert_eq!(queue.take_used(&memory), None);
        for round in 0..70_000u32 {
            queue.submit(&memory, 0x1000, 40, 0x1800, 24);
            let chain = device_completes(&memory, &queue, &mut seen, &mut used, 24 + round % 8);
            assert_eq!(chain, [(0x1000, 40, DESC_NEXT, 1), (0x1800, 24, DESC_WRITE, 0)]);
            assert_eq!(queue.take_used(&memory), Some(24 + round % 8));
            assert_eq!(queue.take_used(&memory), None);
        }
    }
}
