//! The driver's data path, free of device registers: receive buffers the device filled go
//! to the receive frame ring and back to the device; frames the netstack queued go into
//! free transmit buffers and to the device. The domain rings the doorbells (queue notify)
//! this asks for and logs from [`Stats`].

use crate::Memory;
use crate::virtio::{BUFFER_SIZE, DmaLayout, NET_HEADER_LEN};
use tileos_protocol::frames::{FrameRing, MAX_FRAME, RingError};
use tileos_virtio::{Buffer, Virtqueue};

/// Most transmit buffers tracked.
pub const MAX_BUFFERS: u16 = 64;

/// Something wrong the data path met and survived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A frame ring error (garbage from the netstack, or an oversized frame).
    Ring(RingError),
    /// The device returned a descriptor the driver never offered.
    UnknownDescriptor(u16),
}

/// Counters for the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames delivered to the receive ring.
    pub received: u64,
    /// Frames handed to the device.
    pub sent: u64,
    /// Received frames dropped because the receive ring was full.
    pub dropped: u64,
    /// Faults met, and the last one.
    pub faults: (u64, Option<Fault>),
}

/// Queues, buffers and the transmit free list.
pub struct DataPath {
    layout: DmaLayout,
    dma_paddr: u64,
    rx: Virtqueue,
    tx: Virtqueue,
    tx_free: [u16; MAX_BUFFERS as usize],
    tx_free_count: usize,
    /// What happened so far.
    pub stats: Stats,
}

impl DataPath {
    /// The data path over a DMA region laid out by `layout` at physical address
    /// `dma_paddr` (at most [`MAX_BUFFERS`] transmit buffers are used).
    pub fn new(layout: DmaLayout, dma_paddr: u64) -> DataPath {
        let tx_count = layout.tx_count.min(MAX_BUFFERS);
        DataPath {
            layout,
            dma_paddr,
            rx: Virtqueue::new(0, layout.rx),
            tx: Virtqueue::new(layout.tx_queue, layout.tx),
            tx_free: core::array::from_fn(|index| index as u16),
            tx_free_count: usize::from(tx_count),
            stats: Stats::default(),
        }
    }

    fn fault(&mut self, fault: Fault) {
        self.stats.faults = (self.stats.faults.0 + 1, Some(fault));
    }

    /// Clears the queues and posts every receive buffer (before DRIVER_OK and the first
    /// receive-queue notification).
    pub fn start(&mut self, dma: &impl Memory) {
        (0..self.layout.tx_queue + self.layout.tx.bytes).step_by(4).for_each(|offset| dma.write_u32(offset, 0));
        for id in 0..self.layout.rx_count {
            let paddr = self.dma_paddr + self.layout.rx_buffer(id) as u64;
            self.rx.set_chain(dma, id, &[Buffer { paddr, length: BUFFER_SIZE as u32, device_writes: true }]);
            self.rx.offer(dma, id);
        }
    }

    /// Moves received frames to the receive ring and gives their buffers back. Returns
    /// the frames delivered and whether the receive queue needs a notification.
    pub fn receive(&mut self, dma: &impl Memory, frames: &impl Memory) -> (u32, bool) {
        let (mut delivered, mut returned) = (0, false);
        let mut frame = [0u8; MAX_FRAME];
        while let Some(used) = self.rx.take_used(dma) {
            if used.id >= self.layout.rx_count {
                self.fault(Fault::UnknownDescriptor(used.id));
                continue;
            }
            let length = (used.length as usize).saturating_sub(NET_HEADER_LEN).min(MAX_FRAME);
            dma.read_bytes(self.layout.rx_buffer(used.id) + NET_HEADER_LEN, &mut frame[..length]);
            match FrameRing::RX.push(frames, &frame[..length]) {
                Ok(()) => {
                    delivered += 1;
                    self.stats.received += 1;
                }
                Err(RingError::Full) => self.stats.dropped += 1,
                Err(error) => self.fault(Fault::Ring(error)),
            }
            self.rx.offer(dma, used.id);
            returned = true;
        }
        (delivered, returned)
    }

    /// Takes back the transmit buffers the device is done with, then hands it queued
    /// frames while buffers are free. Returns whether the transmit queue needs a
    /// notification.
    pub fn transmit(&mut self, dma: &impl Memory, frames: &impl Memory) -> bool {
        while let Some(used) = self.tx.take_used(dma) {
            if used.id >= self.layout.tx_count.min(MAX_BUFFERS) || self.tx_free_count == self.tx_free.len() {
                self.fault(Fault::UnknownDescriptor(used.id));
                continue;
            }
            self.tx_free[self.tx_free_count] = used.id;
            self.tx_free_count += 1;
        }
        let mut queued = false;
        let mut frame = [0u8; MAX_FRAME];
        while self.tx_free_count > 0 {
            let length = match FrameRing::TX.pop(frames, &mut frame) {
                Ok(Some(length)) => length,
                Ok(None) => break,
                Err(error) => {
                    self.fault(Fault::Ring(error));
                    continue;
                }
            };
            self.tx_free_count -= 1;
            let id = self.tx_free[self.tx_free_count];
            let buffer = self.layout.tx_buffer(id);
            dma.write_bytes(buffer, &[0; NET_HEADER_LEN]);
            dma.write_bytes(buffer + NET_HEADER_LEN, &frame[..length]);
            let paddr = self.dma_paddr + buffer as u64;
            self.tx.set_chain(dma, id, &[Buffer { paddr, length: (NET_HEADER_LEN + length) as u32, device_writes: false }]);
            self.tx.offer(dma, id);
            self.stats.sent += 1;
            queued = true;
        }
        queued
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;
    use tileos_protocol::frames::REGION_BYTES;
    use tileos_virtio::DESC_WRITE;
    use tileos_virtio::test_memory::{Device, VecMemory};

    const PADDR: u64 = 0x40_0000;

    /// A device that sends every transmitted frame straight back (loopback), reading and
    /// writing buffers through their physical addresses.
    struct Loopback {
        rx: Device,
        tx: Device,
    }

    impl Loopback {
        fn new(layout: &DmaLayout) -> Loopback {
            Loopback { rx: Device::new(0, layout.rx), tx: Device::new(layout.tx_queue, layout.tx) }
        }

        /// Next available buffer of a queue (single descriptors, no chains): (id, buffer
        /// offset, length, flags).
        fn available(memory: &VecMemory, queue: &mut Device) -> Option<(u16, usize, u32, u16)> {
            let id = queue.next_available(memory)?;
            let [descriptor] = queue.chain(memory, id)[..] else { panic!("one descriptor per buffer") };
            Some((id, (descriptor.paddr - PADDR) as usize, descriptor.length, descriptor.flags))
        }

        /// Sends every queued frame back; returns how many went round.
        fn run(&mut self, memory: &VecMemory) -> usize {
            let mut count = 0;
            while let Some((id, offset, length, flags)) = Self::available(memory, &mut self.tx) {
                assert_eq!(flags, 0, "transmit buffers are device-readable");
                let mut packet = std::vec![0u8; length as usize];
                memory.read_bytes(offset, &mut packet);
                assert_eq!(packet[..NET_HEADER_LEN], [0; NET_HEADER_LEN]);
                self.tx.complete(memory, id, 0);
                let (rx_id, rx_offset, capacity, rx_flags) = Self::available(memory, &mut self.rx).expect("a receive buffer is posted");
                assert_eq!((capacity, rx_flags), (BUFFER_SIZE as u32, DESC_WRITE));
                memory.write_bytes(rx_offset, &packet);
                self.rx.complete(memory, rx_id, length);
                count += 1;
            }
            count
        }
    }

    fn frame(seed: u32) -> Vec<u8> {
        (0..60 + seed as usize * 7 % 1400).map(|index| (seed as usize + index) as u8).collect()
    }

    #[test]
    fn frames_go_out_and_come_back_through_a_loopback_device() {
        let layout = DmaLayout::new(16, 16, 8);
        let (dma, frames) = (VecMemory::new(layout.bytes), VecMemory::new(REGION_BYTES));
        let mut path = DataPath::new(layout, PADDR);
        path.start(&dma);
        let mut device = Loopback::new(&layout);
        let mut out = [0u8; MAX_FRAME];
        for round in 0..50u32 {
            // The netstack queues a burst larger than the transmit buffers.
            let burst = 1 + round % 12;
            for index in 0..burst {
                FrameRing::TX.push(&frames, &frame(round * 100 + index)).unwrap();
            }
            let mut echoed = 0;
            while echoed < burst {
                path.transmit(&dma, &frames);
                echoed += device.run(&dma) as u32;
                let (delivered, notify) = path.receive(&dma, &frames);
                assert!(notify || delivered == 0);
            }
            for index in 0..burst {
                let length = FrameRing::RX.pop(&frames, &mut out).unwrap().expect("the frame came back");
                assert_eq!(out[..length], frame(round * 100 + index)[..]);
            }
        }
        assert_eq!((path.stats.received, path.stats.sent, path.stats.dropped, path.stats.faults), (315, 315, 0, (0, None)));
    }

    #[test]
    fn a_full_receive_ring_drops_frames_but_keeps_the_buffers_posted() {
        let layout = DmaLayout::new(64, 64, 40);
        let (dma, frames) = (VecMemory::new(layout.bytes), VecMemory::new(REGION_BYTES));
        let mut path = DataPath::new(layout, PADDR);
        path.start(&dma);
        let mut device = Loopback::new(&layout);
        // 40 frames, nobody consumes the receive ring (32 slots): 8 are dropped.
        for round in 0..5 {
            for index in 0..8 {
                FrameRing::TX.push(&frames, &frame(round * 8 + index)).unwrap();
            }
            path.transmit(&dma, &frames);
            device.run(&dma);
            path.receive(&dma, &frames);
        }
        assert_eq!((path.stats.received, path.stats.dropped), (32, 8));
        // Every receive buffer went back to the device: it can take 40 more frames.
        let mut out = [0u8; MAX_FRAME];
        while FrameRing::RX.pop(&frames, &mut out).unwrap().is_some() {}
        for index in 0..32 {
            FrameRing::TX.push(&frames, &frame(index)).unwrap();
        }
        path.transmit(&dma, &frames);
        assert_eq!(device.run(&dma), 32);
    }

    #[test]
    fn descriptors_the_driver_never_offered_are_faults() {
        let layout = DmaLayout::new(16, 16, 4);
        let (dma, frames) = (VecMemory::new(layout.bytes), VecMemory::new(REGION_BYTES));
        let mut path = DataPath::new(layout, PADDR);
        path.start(&dma);
        let mut device = Loopback::new(&layout);
        device.rx.complete(&dma, 9, 100);
        device.tx.complete(&dma, 12, 0);
        assert_eq!(path.receive(&dma, &frames), (0, false));
        path.transmit(&dma, &frames);
        assert_eq!(path.stats.faults, (2, Some(Fault::UnknownDescriptor(12))));
        assert!(!FrameRing::RX.has_frame(&frames));
    }
}
