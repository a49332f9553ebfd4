//! The driver's side of a split virtqueue (virtio 1.1 §2.6): where the descriptor table,
//! available ring and used ring lie ([`QueueLayout`], legacy or modern), and
//! [`Virtqueue`], which writes descriptor chains, offers them to the device and takes back
//! the ones the device has finished with.

use crate::Memory;
use core::sync::atomic::{Ordering, fence};

/// Descriptor flag: the chain continues at the descriptor in `next`.
pub const DESC_NEXT: u16 = 1;
/// Descriptor flag: the device writes the buffer (otherwise it only reads it).
pub const DESC_WRITE: u16 = 2;
/// Page size; legacy queues are page-aligned, their used ring starts on a page boundary,
/// and the device is given their address as a page number.
pub const PAGE_SIZE: usize = 4096;

/// Where the parts of a queue of `size` entries lie, in bytes from its start (the
/// descriptor table is at 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLayout {
    /// Entries.
    pub size: u16,
    /// Offset of the available ring (after the 16-byte descriptors).
    pub avail: usize,
    /// Offset of the used ring.
    pub used: usize,
    /// Bytes of the whole queue.
    pub bytes: usize,
}

impl QueueLayout {
    /// The legacy layout (§2.6.2): descriptor table and available ring, then the used ring
    /// on the next page boundary; the whole queue is a whole number of pages. Legacy
    /// devices (virtio-net's transitional interface) find the rings from the queue's page
    /// number alone.
    pub const fn legacy(size: u16) -> QueueLayout {
        let entries = size as usize;
        let avail = 16 * entries;
        let used = (avail + 6 + 2 * entries).next_multiple_of(PAGE_SIZE);
        QueueLayout { size, avail, used, bytes: (used + 6 + 8 * entries).next_multiple_of(PAGE_SIZE) }
    }

    /// The modern layout, packed: descriptors at 0 (16-byte aligned if the queue is), the
    /// available ring right after, the used ring at the next 4-byte boundary. Modern
    /// devices (virtio-gpu) are given the three addresses separately
    /// ([`Virtqueue::parts`]).
    pub const fn modern(size: u16) -> QueueLayout {
        let entries = size as usize;
        let avail = 16 * entries;
        let used = (avail + 6 + 2 * entries).next_multiple_of(4);
        QueueLayout { size, avail, used, bytes: used + 6 + 8 * entries }
    }
}

/// One buffer of a descriptor chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Physical address.
    pub paddr: u64,
    /// Bytes.
    pub length: u32,
    /// The device writes it (receive buffers, responses) rather than reads it.
    pub device_writes: bool,
}

/// A chain the device has finished with: its head descriptor and the bytes it wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used {
    /// Head descriptor index.
    pub id: u16,
    /// Bytes the device wrote into the chain's device-writable buffers.
    pub length: u32,
}

/// The driver's side of a split virtqueue at offset `base` of a [`Memory`]. The caller
/// decides which descriptors each chain uses (a chain occupies consecutive descriptors
/// from its head) and keeps track of which are in flight; the queue only writes them,
/// publishes heads on the available ring and reads the used ring.
#[derive(Clone, Debug)]
pub struct Virtqueue {
    base: usize,
    layout: QueueLayout,
    /// Available-ring entries written so far (free-running).
    next_avail: u16,
    /// Used-ring entries consumed so far (free-running).
    last_used: u16,
}

impl Virtqueue {
    /// The queue laid out by `layout` at offset `base`. The memory must be zeroed (a fresh
    /// queue of a freshly reset device).
    pub fn new(base: usize, layout: QueueLayout) -> Virtqueue {
        Virtqueue { base, layout, next_avail: 0, last_used: 0 }
    }

    /// Writes the chain of `buffers` into descriptors `head`, `head + 1`, … (wrapping at the
    /// end of the table), each linked to the next. Offer it with [`Virtqueue::offer`].
    ///
    /// Panics if `head` is not a descriptor index or the chain is empty or longer than the
    /// queue (programming errors).
    pub fn set_chain(&self, memory: &impl Memory, head: u16, buffers: &[Buffer]) {
        let size = self.layout.size;
        assert!(
            head < size && !buffers.is_empty() && buffers.len() <= usize::from(size),
            "chain of {} at {head} in a queue of {size}",
            buffers.len()
        );
        let mut index = head;
        for (position, buffer) in buffers.iter().enumerate() {
            let next = (index + 1) % size;
            let last = position + 1 == buffers.len();
            let flags = if last { 0 } else { DESC_NEXT } | if buffer.device_writes { DESC_WRITE } else { 0 };
            let at = self.base + 16 * usize::from(index);
            memory.write_u64(at, buffer.paddr);
            memory.write_u32(at + 8, buffer.length);
            memory.write_u16(at + 12, flags);
            memory.write_u16(at + 14, if last { 0 } else { next });
            index = next;
        }
    }

    /// Makes the chain at `head` available to the device (its descriptors must be set).
    /// The caller notifies the device afterwards.
    pub fn offer(&mut self, memory: &impl Memory, head: u16) {
        let ring = self.base + self.layout.avail;
        let slot = usize::from(self.next_avail % self.layout.size);
        memory.write_u16(ring + 4 + 2 * slot, head);
        self.next_avail = self.next_avail.wrapping_add(1);
        // The ring entry (and the descriptors and buffers) must be visible before the
        // index that publishes them.
        fence(Ordering::SeqCst);
        memory.write_u16(ring + 2, self.next_avail);
    }

    /// The next chain the device has finished with, if any.
    pub fn take_used(&mut self, memory: &impl Memory) -> Option<Used> {
        let ring = self.base + self.layout.used;
        if memory.read_u16(ring + 2) == self.last_used {
            return None;
        }
        // Read the entry only after seeing the index that covers it.
        fence(Ordering::SeqCst);
        let slot = usize::from(self.last_used % self.layout.size);
        let id = memory.read_u32(ring + 4 + 8 * slot);
        let length = memory.read_u32(ring + 8 + 8 * slot);
        self.last_used = self.last_used.wrapping_add(1);
        Some(Used { id: id as u16, length })
    }

    /// Offsets of the descriptor table, available ring and used ring in the memory (for a
    /// modern device's queue address registers, added to the region's physical address).
    pub fn parts(&self) -> [usize; 3] {
        [self.base, self.base + self.layout.avail, self.base + self.layout.used]
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::test_memory::{Descriptor, Device, VecMemory};
    use std::cell::RefCell;
    use std::vec::Vec;

    fn readable(paddr: u64, length: u32) -> Buffer {
        Buffer { paddr, length, device_writes: false }
    }

    fn writable(paddr: u64, length: u32) -> Buffer {
        Buffer { paddr, length, device_writes: true }
    }

    #[test]
    fn legacy_layout_of_qemu_queues() {
        // QEMU's virtio-net queues have 256 entries: 4 KiB of descriptors, the available
        // ring right after, the used ring on the third page.
        let layout = QueueLayout::legacy(256);
        assert_eq!(layout, QueueLayout { size: 256, avail: 4096, used: 8192, bytes: 12288 });
        // A small queue fits descriptors and available ring in one page.
        assert_eq!(QueueLayout::legacy(16), QueueLayout { size: 16, avail: 256, used: 4096, bytes: 8192 });
    }

    #[test]
    fn modern_layout_packs_the_rings() {
        assert_eq!(QueueLayout::modern(16), QueueLayout { size: 16, avail: 256, used: 296, bytes: 430 });
        // Odd sizes round the used ring up to 4 bytes.
        assert_eq!(QueueLayout::modern(3).used, 60);
    }

    #[test]
    fn single_buffers_go_round_through_the_device_and_wrap_the_free_running_indices() {
        let layout = QueueLayout::legacy(4);
        let memory = VecMemory::new(0x1000 + layout.bytes);
        let mut queue = Virtqueue::new(0x1000, layout);
        let mut device = Device::new(0x1000, layout);
        for id in 0..4 {
            queue.set_chain(&memory, id, &[writable(0x10_0000 + u64::from(id) * 2048, 2048)]);
            queue.offer(&memory, id);
        }
        assert_eq!(queue.take_used(&memory), None);
        // 70,000 round trips: every index wraps at 65,536 and the ring at 4 entries.
        let mut expected = 0u16;
        for round in 0..70_000u32 {
            let id = device.next_available(&memory).expect("a buffer is available");
            assert_eq!(id, expected);
            let descriptor = Descriptor { paddr: 0x10_0000 + u64::from(id) * 2048, length: 2048, flags: DESC_WRITE, next: 0 };
            assert_eq!(device.chain(&memory, id), [descriptor]);
            device.complete(&memory, id, 60 + round % 100);
            let used = queue.take_used(&memory).expect("the completion is seen");
            assert_eq!(used, Used { id, length: 60 + round % 100 });
            assert_eq!(queue.take_used(&memory), None);
            queue.offer(&memory, used.id);
            expected = (expected + 1) % 4;
        }
    }

    #[test]
    fn device_readable_buffers_have_no_flags() {
        let layout = QueueLayout::legacy(8);
        let memory = VecMemory::new(layout.bytes);
        let mut queue = Virtqueue::new(0, layout);
        let mut device = Device::new(0, layout);
        queue.set_chain(&memory, 3, &[readable(0xABC000, 70)]);
        queue.offer(&memory, 3);
        assert_eq!(device.next_available(&memory), Some(3));
        assert_eq!(device.chain(&memory, 3), [Descriptor { paddr: 0xABC000, length: 70, flags: 0, next: 0 }]);
    }

    #[test]
    fn request_response_chains_go_round_and_indices_wrap() {
        let layout = QueueLayout::modern(16);
        let memory = VecMemory::new(0x100 + layout.bytes);
        let mut queue = Virtqueue::new(0x100, layout);
        let mut device = Device::new(0x100, layout);
        assert_eq!(queue.parts(), [0x100, 0x100 + 256, 0x100 + 296]);
        assert_eq!(queue.take_used(&memory), None);
        for round in 0..70_000u32 {
            queue.set_chain(&memory, 0, &[readable(0x1000, 40), writable(0x1800, 24)]);
            queue.offer(&memory, 0);
            let head = device.next_available(&memory).expect("a chain is available");
            let chain = device.chain(&memory, head);
            assert_eq!(
                chain,
                [
                    Descriptor { paddr: 0x1000, length: 40, flags: DESC_NEXT, next: 1 },
                    Descriptor { paddr: 0x1800, length: 24, flags: DESC_WRITE, next: 0 }
                ]
            );
            device.complete(&memory, head, 24 + round % 8);
            assert_eq!(queue.take_used(&memory), Some(Used { id: 0, length: 24 + round % 8 }));
            assert_eq!(queue.take_used(&memory), None);
        }
    }

    #[test]
    fn a_chain_wraps_at_the_end_of_the_descriptor_table() {
        let layout = QueueLayout::modern(4);
        let memory = VecMemory::new(layout.bytes);
        let mut queue = Virtqueue::new(0, layout);
        let mut device = Device::new(0, layout);
        queue.set_chain(&memory, 3, &[readable(0x1000, 8), readable(0x2000, 8), writable(0x3000, 4)]);
        queue.offer(&memory, 3);
        let head = device.next_available(&memory).unwrap();
        let chain = device.chain(&memory, head);
        let links: Vec<_> = chain.iter().map(|descriptor| (descriptor.paddr, descriptor.flags, descriptor.next)).collect();
        assert_eq!(links, [(0x1000, DESC_NEXT, 0), (0x2000, DESC_NEXT, 1), (0x3000, DESC_WRITE, 0)]);
    }

    #[test]
    #[should_panic(expected = "chain of 5 at 0 in a queue of 4")]
    fn a_chain_longer_than_the_queue_is_refused() {
        let queue = Virtqueue::new(0, QueueLayout::modern(4));
        queue.set_chain(&VecMemory::new(QueueLayout::modern(4).bytes), 0, &[readable(0, 1); 5]);
    }

    /// A [`Memory`] that logs every access (write or read, offset) in program order.
    struct Recording {
        memory: VecMemory,
        log: RefCell<Vec<(char, usize)>>,
    }

    impl Memory for Recording {
        fn read_u16(&self, offset: usize) -> u16 {
            self.log.borrow_mut().push(('r', offset));
            self.memory.read_u16(offset)
        }
        fn write_u16(&self, offset: usize, value: u16) {
            self.log.borrow_mut().push(('w', offset));
            self.memory.write_u16(offset, value)
        }
        fn read_u32(&self, offset: usize) -> u32 {
            self.log.borrow_mut().push(('r', offset));
            self.memory.read_u32(offset)
        }
        fn write_u32(&self, offset: usize, value: u32) {
            self.log.borrow_mut().push(('w', offset));
            self.memory.write_u32(offset, value)
        }
        fn read_bytes(&self, offset: usize, out: &mut [u8]) {
            self.log.borrow_mut().push(('r', offset));
            self.memory.read_bytes(offset, out)
        }
        fn write_bytes(&self, offset: usize, data: &[u8]) {
            self.log.borrow_mut().push(('w', offset));
            self.memory.write_bytes(offset, data)
        }
    }

    #[test]
    fn the_index_is_published_last_and_read_first() {
        // The fences themselves cannot be observed on the host; what can is the program
        // order they sit in: the available index is written after the descriptors and the
        // ring entry it publishes, and the used index is read before the entry it covers.
        let layout = QueueLayout::modern(8);
        let memory = Recording { memory: VecMemory::new(layout.bytes), log: RefCell::new(Vec::new()) };
        let mut queue = Virtqueue::new(0, layout);
        let mut device = Device::new(0, layout);
        queue.set_chain(&memory, 2, &[readable(0x1000, 40), writable(0x1800, 24)]);
        queue.offer(&memory, 2);
        let log = memory.log.take();
        assert_eq!(log.last(), Some(&('w', layout.avail + 2)), "the available index is the last write");
        assert_eq!(log.iter().filter(|&&access| access == ('w', layout.avail + 2)).count(), 1);
        assert!(log.contains(&('w', layout.avail + 4)), "the ring entry is written before the index");
        assert!(log.contains(&('w', 2 * 16)) && log.contains(&('w', 3 * 16 + 14)), "both descriptors are written before the index");
        assert!(log.iter().all(|&(kind, _)| kind == 'w'));

        device.next_available(&memory.memory).unwrap();
        device.complete(&memory.memory, 2, 24);
        assert_eq!(queue.take_used(&memory), Some(Used { id: 2, length: 24 }));
        assert_eq!(
            memory.log.take(),
            [('r', layout.used + 2), ('r', layout.used + 4), ('r', layout.used + 8)],
            "index first, then the entry"
        );
        assert_eq!(queue.take_used(&memory), None);
        assert_eq!(memory.log.take(), [('r', layout.used + 2)], "nothing but the index while the device has finished nothing");
    }
}
