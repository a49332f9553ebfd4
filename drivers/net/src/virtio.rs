//! The virtio pieces the driver needs: the legacy ("transitional") PCI register block in
//! IO space, device status and feature bits, the legacy virtqueue layout, a split
//! virtqueue, and where queues and packet buffers go in the DMA region.
//!
//! References: Virtual I/O Device (VIRTIO) Version 1.1, §2.6 (split virtqueues), §4.1.4.8
//! (legacy interface: PCI register layout), §5.1 (network device).

use crate::Memory;
use core::sync::atomic::{Ordering, fence};

/// Offsets of the legacy registers from the start of IO BAR 0.
pub mod reg {
    /// Device feature bits 0..32 (read-only, 32 bits).
    pub const DEVICE_FEATURES: u16 = 0x00;
    /// Driver (guest) feature bits 0..32 (32 bits).
    pub const DRIVER_FEATURES: u16 = 0x04;
    /// Physical page number of the selected queue (32 bits; 0 disables the queue).
    pub const QUEUE_ADDRESS: u16 = 0x08;
    /// Size of the selected queue (16 bits, read-only: legacy queues have a fixed size).
    pub const QUEUE_SIZE: u16 = 0x0C;
    /// Queue selector (16 bits).
    pub const QUEUE_SELECT: u16 = 0x0E;
    /// Queue notification: write the queue index (16 bits).
    pub const QUEUE_NOTIFY: u16 = 0x10;
    /// Device status (8 bits; writing 0 resets the device).
    pub const DEVICE_STATUS: u16 = 0x12;
    /// Interrupt status (8 bits; reading it acknowledges the interrupt and lowers INTx).
    pub const ISR_STATUS: u16 = 0x13;
    /// Device-specific configuration while MSI-X is off (the network device's MAC first).
    pub const DEVICE_CONFIG: u16 = 0x14;
    /// While MSI-X is on: the MSI-X vector for configuration changes (16 bits).
    pub const MSIX_CONFIG_VECTOR: u16 = 0x14;
    /// While MSI-X is on: the MSI-X vector of the selected queue (16 bits; reads back
    /// [`super::NO_VECTOR`] if the device could not assign it).
    pub const MSIX_QUEUE_VECTOR: u16 = 0x16;
    /// Device-specific configuration while MSI-X is on.
    pub const DEVICE_CONFIG_MSIX: u16 = 0x18;
    /// Bytes of IO space the driver uses (registers and the 6-byte MAC, MSI-X on).
    pub const SPAN: u16 = DEVICE_CONFIG_MSIX + 6;
}

/// Device status bits.
pub mod status {
    /// The driver has noticed the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The driver knows how to drive it.
    pub const DRIVER: u8 = 2;
    /// The driver is set up and ready.
    pub const DRIVER_OK: u8 = 4;
    /// The device has given up (needs a reset).
    pub const FAILED: u8 = 0x80;
}

/// Feature bits of the network device.
pub mod feature {
    /// The device has a MAC address in its configuration space.
    pub const MAC: u32 = 1 << 5;
}

/// The MSI-X vector number that means "no interrupt".
pub const NO_VECTOR: u16 = 0xFFFF;

/// ISR status bit: the device configuration changed.
pub const ISR_CONFIG: u8 = 2;

/// Index of the receive queue.
pub const RX_QUEUE: u16 = 0;
/// Index of the transmit queue.
pub const TX_QUEUE: u16 = 1;

/// Bytes of the `virtio_net_hdr` in front of every frame (legacy, without mergeable
/// receive buffers). The driver sends it zeroed (no checksum offload, no segmentation).
pub const NET_HEADER_LEN: usize = 10;
/// Largest Ethernet frame without the frame check sequence (1500-byte payload).
pub const MAX_FRAME: usize = 1514;
/// Bytes of one packet buffer: the header and the largest frame, rounded to keep buffers
/// from crossing pages.
pub const BUFFER_SIZE: usize = 2048;
// A buffer holds the header and the largest frame.
const _: () = assert!(NET_HEADER_LEN + MAX_FRAME <= BUFFER_SIZE);
/// Page size; legacy queues are page-aligned and addressed by page number.
pub const PAGE_SIZE: usize = 4096;

/// The features the driver takes from those the device offers: only [`feature::MAC`]
/// (which it needs). Returns `None` if the device does not offer it.
pub fn negotiate(offered: u32) -> Option<u32> {
    (offered & feature::MAC != 0).then_some(feature::MAC)
}

fn align_up(value: usize, alignment: usize) -> usize {
    value.div_ceil(alignment) * alignment
}

/// Where the parts of one legacy virtqueue of `size` entries lie, in bytes from its start
/// (legacy layout: descriptor table and available ring, then the used ring on the next
/// page boundary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLayout {
    /// Entries (the device's fixed queue size).
    pub size: u16,
    /// Offset of the available ring (after 16-byte descriptors).
    pub avail: usize,
    /// Offset of the used ring.
    pub used: usize,
    /// Bytes of the whole queue, page-aligned.
    pub bytes: usize,
}

impl QueueLayout {
    /// The legacy layout of a queue of `size` entries.
    pub fn legacy(size: u16) -> QueueLayout {
        let entries = usize::from(size);
        let avail = 16 * entries;
        let used = align_up(avail + 6 + 2 * entries, PAGE_SIZE);
        QueueLayout { size, avail, used, bytes: align_up(used + 6 + 8 * entries, PAGE_SIZE) }
    }
}

/// Where everything goes in the DMA region: the receive queue, the transmit queue, then
/// the receive and transmit packet buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaLayout {
    /// Receive queue layout (at offset 0).
    pub rx: QueueLayout,
    /// Transmit queue layout.
    pub tx: QueueLayout,
    /// Offset of the transmit queue.
    pub tx_queue: usize,
    /// Offset of the first receive buffer.
    pub rx_buffers: usize,
    /// Offset of the first transmit buffer.
    pub tx_buffers: usize,
    /// Receive buffers (posted to the device, at most the queue size).
    pub rx_count: u16,
    /// Transmit buffers (at most the queue size).
    pub tx_count: u16,
    /// Bytes needed in all.
    pub bytes: usize,
}

impl DmaLayout {
    /// Lays out queues of the device's sizes and up to `buffers` buffers per direction.
    pub fn new(rx_size: u16, tx_size: u16, buffers: u16) -> DmaLayout {
        let (rx, tx) = (QueueLayout::legacy(rx_size), QueueLayout::legacy(tx_size));
        let (rx_count, tx_count) = (buffers.min(rx_size), buffers.min(tx_size));
        let tx_queue = rx.bytes;
        let rx_buffers = tx_queue + tx.bytes;
        let tx_buffers = rx_buffers + usize::from(rx_count) * BUFFER_SIZE;
        let bytes = tx_buffers + usize::from(tx_count) * BUFFER_SIZE;
        DmaLayout { rx, tx, tx_queue, rx_buffers, tx_buffers, rx_count, tx_count, bytes }
    }

    /// Offset of receive buffer `index`.
    pub fn rx_buffer(&self, index: u16) -> usize {
        self.rx_buffers + usize::from(index) * BUFFER_SIZE
    }

    /// Offset of transmit buffer `index`.
    pub fn tx_buffer(&self, index: u16) -> usize {
        self.tx_buffers + usize::from(index) * BUFFER_SIZE
    }
}

/// Descriptor flag: the device writes the buffer (receive buffers).
pub const DESC_WRITE: u16 = 2;

/// A buffer the device has finished with: its descriptor and the bytes it wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used {
    /// Head descriptor index.
    pub id: u16,
    /// Bytes written by the device (receive: header and frame; transmit: usually 0).
    pub length: u32,
}

/// A split virtqueue in a [`Memory`] at offset `base`, with one descriptor per buffer
/// (no chains): the driver's side of the available and used rings.
#[derive(Clone, Debug)]
pub struct Virtqueue {
    base: usize,
    layout: QueueLayout,
    /// Next free entry of the available ring (free-running).
    next_avail: u16,
    /// Used-ring entries consumed so far (free-running).
    last_used: u16,
}

impl Virtqueue {
    /// The queue laid out by `layout` at offset `base`. The memory must be zeroed (as after
    /// a device reset with a fresh queue).
    pub fn new(base: usize, layout: QueueLayout) -> Virtqueue {
        Virtqueue { base, layout, next_avail: 0, last_used: 0 }
    }

    /// Sets descriptor `id` to the buffer at physical address `paddr` of `length` bytes,
    /// written by the device if `device_writes`.
    pub fn set_descriptor(&self, memory: &impl Memory, id: u16, paddr: u64, length: u32, device_writes: bool) {
        let at = self.base + 16 * usize::from(id % self.layout.size);
        memory.write_u64(at, paddr);
        memory.write_u32(at + 8, length);
        memory.write_u16(at + 12, if device_writes { DESC_WRITE } else { 0 });
        memory.write_u16(at + 14, 0);
    }

    /// Makes descriptor `id` available to the device (its descriptor must be set). The
    /// caller notifies the device afterwards.
    pub fn offer(&mut self, memory: &impl Memory, id: u16) {
        let ring = self.base + self.layout.avail;
        let slot = usize::from(self.next_avail % self.layout.size);
        memory.write_u16(ring + 4 + 2 * slot, id);
        self.next_avail = self.next_avail.wrapping_add(1);
        // The ring entry (and the descriptor and buffer) must be visible before the index.
        fence(Ordering::SeqCst);
        memory.write_u16(ring + 2, self.next_avail);
    }

    /// The next buffer the device has finished with, if any.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_memory::VecMemory;

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
    fn dma_layout_places_queues_then_buffers() {
        let layout = DmaLayout::new(256, 256, 32);
        assert_eq!(layout.tx_queue, 12288);
        assert_eq!(layout.rx_buffers, 24576);
        assert_eq!(layout.tx_buffers, 24576 + 32 * 2048);
        assert_eq!(layout.bytes, 24576 + 64 * 2048);
        assert_eq!(layout.rx_buffer(1), 24576 + 2048);
        assert_eq!(layout.tx_buffer(31), layout.bytes - 2048);
        // Never more buffers than queue entries.
        assert_eq!(DmaLayout::new(8, 4, 32).tx_count, 4);
    }

    #[test]
    fn negotiation_needs_the_mac_and_takes_nothing_else() {
        assert_eq!(negotiate(0xFFFF_FFFF), Some(feature::MAC));
        assert_eq!(negotiate(!feature::MAC), None);
    }

    /// The device's side: reads the available ring, writes the used ring.
    struct Device {
        base: usize,
        layout: QueueLayout,
        seen: u16,
        used: u16,
    }

    impl Device {
        fn next_available(&mut self, memory: &VecMemory) -> Option<(u16, u64, u32, u16)> {
            let ring = self.base + self.layout.avail;
            if memory.read_u16(ring + 2) == self.seen {
                return None;
            }
            let id = memory.read_u16(ring + 4 + 2 * usize::from(self.seen % self.layout.size));
            self.seen = self.seen.wrapping_add(1);
            let at = self.base + 16 * usize::from(id);
            let mut address = [0u8; 8];
            memory.read_bytes(at, &mut address);
            Some((id, u64::from_le_bytes(address), memory.read_u32(at + 8), memory.read_u16(at + 12)))
        }

        fn complete(&mut self, memory: &VecMemory, id: u16, length: u32) {
            let ring = self.base + self.layout.used;
            let slot = usize::from(self.used % self.layout.size);
            memory.write_u32(ring + 4 + 8 * slot, u32::from(id));
            memory.write_u32(ring + 8 + 8 * slot, length);
            self.used = self.used.wrapping_add(1);
            memory.write_u16(ring + 2, self.used);
        }
    }

    #[test]
    fn buffers_go_round_through_device_and_wrap_the_free_running_indices() {
        let layout = QueueLayout::legacy(4);
        let memory = VecMemory::new(0x1000 + layout.bytes);
        let mut queue = Virtqueue::new(0x1000, layout);
        let mut device = Device { base: 0x1000, layout, seen: 0, used: 0 };
        for id in 0..4 {
            queue.set_descriptor(&memory, id, 0x10_0000 + u64::from(id) * 2048, 2048, true);
            queue.offer(&memory, id);
        }
        assert_eq!(queue.take_used(&memory), None);
        // 70,000 round trips: every index wraps at 65,536 and the ring at 4 entries.
        let mut expected = 0u16;
        for round in 0..70_000u32 {
            let (id, address, length, flags) = device.next_available(&memory).expect("a buffer is available");
            assert_eq!(id, expected);
            assert_eq!(address, 0x10_0000 + u64::from(id) * 2048);
            assert_eq!((length, flags), (2048, DESC_WRITE));
            device.complete(&memory, id, 60 + round % 100);
            let used = queue.take_used(&memory).expect("the completion is seen");
            assert_eq!(used, Used { id, length: 60 + round % 100 });
            assert_eq!(queue.take_used(&memory), None);
            queue.offer(&memory, used.id);
            expected = (expected + 1) % 4;
        }
    }

    #[test]
    fn transmit_descriptors_are_device_readable() {
        let layout = QueueLayout::legacy(8);
        let memory = VecMemory::new(layout.bytes);
        let mut queue = Virtqueue::new(0, layout);
        let mut device = Device { base: 0, layout, seen: 0, used: 0 };
        queue.set_descriptor(&memory, 3, 0xABC000, 70, false);
        queue.offer(&memory, 3);
        assert_eq!(device.next_available(&memory), Some((3, 0xABC000, 70, 0)));
    }
}
