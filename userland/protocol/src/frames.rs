//! The frame path between the `net` driver and the `netstack` domain: one shared region
//! ("net-frames", [`REGION_BYTES`]) holding a device information page and two
//! single-producer single-consumer rings of Ethernet frames, plus two notifications.
//!
//! ```text
//! offset 0        information page: magic (u32, written last), MAC (6 bytes at 8)
//! RX_RING         receive ring   net ──► netstack
//! TX_RING         transmit ring  netstack ──► net
//! ring:  producer index (u32) at 0, consumer index (u32) at 64, SLOTS slots of
//!        SLOT_BYTES from 128; slot = frame length (u32) then the frame
//! ```
//!
//! Indices are free-running `u32`s; each side writes only its own index and keeps it in
//! the region, so a side that restarts picks up where its predecessor stopped.
//!
//! **Restarts.** The region (like every shared region) and both notifications outlive the
//! domains, so the driver's state of the rings is in the region, not in the driver: a
//! restarted driver calls [`resume_driver`], which reads both rings' indices, keeps every
//! frame the netstack queued for sending and every received frame not yet taken, and
//! resynchronises only a ring whose indices are inconsistent (its own side's index moved
//! onto the other's, dropping what was queued). Frames the dead driver had already taken
//! from the transmit ring but the device had not sent, and frames the device received while
//! no driver ran, are lost, as on a wire; the netstack's protocols recover (TCP retransmits,
//! UDP is best-effort). While no driver runs, the netstack's pushes fill the transmit ring
//! and then fail with [`RingError::Full`] (dropped), never block; the signals it sends
//! meanwhile stay pending in "net-wake" and wake the next driver. The information page's
//! MAC address stays valid across a driver restart (same device). A producer
//! signals the other side's notification after pushing (the driver "netstack-wake", the
//! netstack "net-wake" with bit 1; bit 0 of "net-wake" is the device interrupt, see
//! [`NET_IRQ_BIT`]). Everything read from the region is
//! checked: an index distance beyond [`SLOTS`] or a frame length beyond [`MAX_FRAME`] is
//! an error, never an out-of-bounds access.

use core::sync::atomic::{Ordering, fence};
use tileos_mmio::Memory;

/// Largest Ethernet frame a ring carries: without the frame check sequence, with a
/// 1500-byte payload (the `net` driver sizes its packet buffers for it).
pub const MAX_FRAME: usize = 1514;

/// Frames a ring holds.
pub const SLOTS: u32 = 32;
/// Bytes of one slot: the length word and the largest frame, rounded up.
pub const SLOT_BYTES: usize = 2048;
/// Bytes of a ring's header (producer and consumer index on separate cache lines).
const RING_HEADER: usize = 128;
/// Bytes of one ring.
pub const RING_BYTES: usize = RING_HEADER + SLOTS as usize * SLOT_BYTES;
// A slot holds the length word and the largest frame.
const _: () = assert!(4 + MAX_FRAME <= SLOT_BYTES);
/// Offset of the receive ring (net → netstack).
pub const RX_RING: usize = 0x1000;
/// Offset of the transmit ring (netstack → net).
pub const TX_RING: usize = RX_RING + RING_BYTES;
/// Size the "net-frames" region must have (page-aligned).
pub const REGION_BYTES: usize = (TX_RING + RING_BYTES).div_ceil(0x1000) * 0x1000;
/// Value of the information page's magic once the driver has written it.
pub const INFO_MAGIC: u32 = 0x7469_6e65; // "tine"

/// Bit of the "net-wake" notification the device's IRQ handler sets.
pub const NET_IRQ_BIT: u64 = 1 << 0;

/// What went wrong with a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The ring is full: the frame was not queued (dropped).
    Full,
    /// The frame is longer than [`MAX_FRAME`].
    TooLong(usize),
    /// The indices are more than [`SLOTS`] apart: the other side wrote garbage. A consumer
    /// resynchronises by dropping everything queued.
    Corrupt {
        /// Producer index read.
        producer: u32,
        /// Consumer index read.
        consumer: u32,
    },
    /// A slot's length word is beyond [`MAX_FRAME`]; the slot was skipped.
    BadLength(u32),
}

/// One ring at a fixed offset of the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRing {
    base: usize,
}

impl FrameRing {
    /// The receive ring (the driver produces, the netstack consumes).
    pub const RX: FrameRing = FrameRing { base: RX_RING };
    /// The transmit ring (the netstack produces, the driver consumes).
    pub const TX: FrameRing = FrameRing { base: TX_RING };

    fn indices(&self, memory: &impl Memory) -> Result<(u32, u32), RingError> {
        let (producer, consumer) = (memory.read_u32(self.base), memory.read_u32(self.base + 64));
        if producer.wrapping_sub(consumer) > SLOTS {
            return Err(RingError::Corrupt { producer, consumer });
        }
        Ok((producer, consumer))
    }

    fn slot(&self, index: u32) -> usize {
        self.base + RING_HEADER + (index % SLOTS) as usize * SLOT_BYTES
    }

    /// Producer side: queues `frame`.
    pub fn push(&self, memory: &impl Memory, frame: &[u8]) -> Result<(), RingError> {
        if frame.len() > MAX_FRAME {
            return Err(RingError::TooLong(frame.len()));
        }
        let (producer, consumer) = self.indices(memory)?;
        if producer.wrapping_sub(consumer) == SLOTS {
            return Err(RingError::Full);
        }
        let slot = self.slot(producer);
        memory.write_u32(slot, frame.len() as u32);
        memory.write_bytes(slot + 4, frame);
        // The slot must be complete before the consumer can see the new index.
        fence(Ordering::SeqCst);
        memory.write_u32(self.base, producer.wrapping_add(1));
        Ok(())
    }

    /// Consumer side: takes the next frame into `out`, returning its length, or `None` if
    /// the ring is empty.
    pub fn pop(&self, memory: &impl Memory, out: &mut [u8; MAX_FRAME]) -> Result<Option<usize>, RingError> {
        let (producer, consumer) = match self.indices(memory) {
            Ok(indices) => indices,
            Err(error @ RingError::Corrupt { producer, .. }) => {
                memory.write_u32(self.base + 64, producer);
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        if producer == consumer {
            return Ok(None);
        }
        // Read the slot only after seeing the index that publishes it.
        fence(Ordering::SeqCst);
        let slot = self.slot(consumer);
        let length = memory.read_u32(slot);
        let result = if length as usize > MAX_FRAME {
            Err(RingError::BadLength(length))
        } else {
            memory.read_bytes(slot + 4, &mut out[..length as usize]);
            Ok(Some(length as usize))
        };
        // The slot is copied out before the producer may reuse it.
        fence(Ordering::SeqCst);
        memory.write_u32(self.base + 64, consumer.wrapping_add(1));
        result
    }

    /// Whether the ring holds a frame (for the consumer; a corrupt ring counts as one, so
    /// that [`FrameRing::pop`] gets to resynchronise it).
    pub fn has_frame(&self, memory: &impl Memory) -> bool {
        self.indices(memory).map_or(true, |(producer, consumer)| producer != consumer)
    }
}

/// Where the rings stood when a restarted driver took them over ([`resume_driver`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resumed {
    /// Receive ring: frames delivered and not yet taken by the netstack.
    pub rx_pending: u32,
    /// Transmit ring: frames the netstack queued that the driver has yet to send.
    pub tx_pending: u32,
    /// Rings whose indices were inconsistent and were reset to empty (0, 1 or 2).
    pub resynchronised: u32,
}

/// Driver side, at start: takes over both rings as a previous driver generation left them
/// (see the module documentation). A ring whose indices are more than [`SLOTS`] apart is
/// made empty by moving the driver's own index (the receive ring's producer, the transmit
/// ring's consumer) onto the netstack's.
pub fn resume_driver(memory: &impl Memory) -> Resumed {
    let mut resumed = Resumed { rx_pending: 0, tx_pending: 0, resynchronised: 0 };
    // (ring, offset of the driver's own index, offset of the netstack's index)
    for (ring, own, other) in [(FrameRing::RX, 0, 64), (FrameRing::TX, 64, 0)] {
        match ring.indices(memory) {
            Ok((producer, consumer)) => {
                let pending = producer.wrapping_sub(consumer);
                if ring == FrameRing::RX {
                    resumed.rx_pending = pending;
                } else {
                    resumed.tx_pending = pending;
                }
            }
            Err(_) => {
                memory.write_u32(ring.base + own, memory.read_u32(ring.base + other));
                resumed.resynchronised += 1;
            }
        }
    }
    resumed
}

/// Driver side: publishes the device's MAC address on the information page.
pub fn publish_info(memory: &impl Memory, mac: [u8; 6]) {
    memory.write_bytes(8, &mac);
    fence(Ordering::SeqCst);
    memory.write_u32(0, INFO_MAGIC);
}

/// Netstack side: the device's MAC address once the driver has published it.
pub fn read_info(memory: &impl Memory) -> Option<[u8; 6]> {
    if memory.read_u32(0) != INFO_MAGIC {
        return None;
    }
    fence(Ordering::SeqCst);
    let mut mac = [0u8; 6];
    memory.read_bytes(8, &mut mac);
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tileos_mmio::VecMemory;

    fn frame(seed: u8, length: usize) -> std::vec::Vec<u8> {
        (0..length).map(|index| seed.wrapping_add(index as u8)).collect()
    }
    extern crate std;

    #[test]
    fn region_layout() {
        assert_eq!(RING_BYTES, 128 + 32 * 2048);
        assert_eq!(TX_RING, 0x1000 + RING_BYTES);
        assert_eq!(REGION_BYTES, 0x22000);
    }

    #[test]
    fn frames_arrive_in_order_and_indices_wrap() {
        let memory = VecMemory::new(REGION_BYTES);
        // Start both indices just below the u32 wrap.
        memory.write_u32(RX_RING, u32::MAX - 5);
        memory.write_u32(RX_RING + 64, u32::MAX - 5);
        let ring = FrameRing::RX;
        let mut out = [0u8; MAX_FRAME];
        assert_eq!(ring.pop(&memory, &mut out), Ok(None));
        assert!(!ring.has_frame(&memory));
        for round in 0..200u32 {
            let count = 1 + round as usize % SLOTS as usize;
            for index in 0..count {
                ring.push(&memory, &frame((round + index as u32) as u8, 60 + index * 40 % MAX_FRAME)).unwrap();
            }
            for index in 0..count {
                assert!(ring.has_frame(&memory));
                let length = ring.pop(&memory, &mut out).unwrap().expect("a frame");
                assert_eq!(&out[..length], &frame((round + index as u32) as u8, 60 + index * 40 % MAX_FRAME)[..]);
            }
            assert_eq!(ring.pop(&memory, &mut out), Ok(None));
        }
    }

    #[test]
    fn full_ring_and_oversized_frames_are_refused() {
        let memory = VecMemory::new(REGION_BYTES);
        let ring = FrameRing::TX;
        for _ in 0..SLOTS {
            ring.push(&memory, &[1; 64]).unwrap();
        }
        assert_eq!(ring.push(&memory, &[1; 64]), Err(RingError::Full));
        assert_eq!(ring.push(&memory, &[0; MAX_FRAME + 1]), Err(RingError::TooLong(MAX_FRAME + 1)));
        // The other ring is untouched.
        assert!(!FrameRing::RX.has_frame(&memory));
        let mut out = [0u8; MAX_FRAME];
        assert_eq!(ring.pop(&memory, &mut out), Ok(Some(64)));
        ring.push(&memory, &[2; MAX_FRAME]).unwrap();
    }

    #[test]
    fn garbage_from_the_other_side_is_an_error_not_an_overrun() {
        let memory = VecMemory::new(REGION_BYTES);
        let ring = FrameRing::RX;
        let mut out = [0u8; MAX_FRAME];
        // Producer far ahead of the consumer: the consumer drops everything and resyncs.
        memory.write_u32(RX_RING, 1000);
        assert_eq!(ring.push(&memory, &[0; 60]), Err(RingError::Corrupt { producer: 1000, consumer: 0 }));
        assert!(ring.has_frame(&memory));
        assert_eq!(ring.pop(&memory, &mut out), Err(RingError::Corrupt { producer: 1000, consumer: 0 }));
        assert_eq!(ring.pop(&memory, &mut out), Ok(None));
        // A length word beyond the largest frame: the slot is skipped.
        ring.push(&memory, &[7; 60]).unwrap();
        memory.write_u32(RX_RING + 128 + (1000 % SLOTS) as usize * SLOT_BYTES, 0xFFFF_FFFF);
        ring.push(&memory, &[8; 61]).unwrap();
        assert_eq!(ring.pop(&memory, &mut out), Err(RingError::BadLength(0xFFFF_FFFF)));
        assert_eq!(ring.pop(&memory, &mut out), Ok(Some(61)));
        assert_eq!(out[..61], [8; 61]);
    }

    #[test]
    fn a_restarted_driver_keeps_queued_frames_and_resynchronises_only_broken_rings() {
        let memory = VecMemory::new(REGION_BYTES);
        let mut out = [0u8; MAX_FRAME];
        // A fresh region: nothing pending.
        assert_eq!(resume_driver(&memory), Resumed { rx_pending: 0, tx_pending: 0, resynchronised: 0 });
        // The old driver delivered 3 frames (1 taken); the netstack queued 2 to send.
        for seed in 0..3 {
            FrameRing::RX.push(&memory, &frame(seed, 60)).unwrap();
        }
        FrameRing::RX.pop(&memory, &mut out).unwrap();
        FrameRing::TX.push(&memory, &frame(10, 70)).unwrap();
        FrameRing::TX.push(&memory, &frame(11, 71)).unwrap();
        assert_eq!(resume_driver(&memory), Resumed { rx_pending: 2, tx_pending: 2, resynchronised: 0 });
        // The new driver sends what was queued, in order, and delivers after the old frames.
        assert_eq!(FrameRing::TX.pop(&memory, &mut out), Ok(Some(70)));
        assert_eq!(out[..70], frame(10, 70)[..]);
        FrameRing::RX.push(&memory, &frame(3, 60)).unwrap();
        for seed in 1..4 {
            assert_eq!(FrameRing::RX.pop(&memory, &mut out), Ok(Some(60)));
            assert_eq!(out[..60], frame(seed, 60)[..]);
        }
        // Garbage in both rings' other-side indices: both made empty by the driver's side.
        memory.write_u32(RX_RING + 64, 5000);
        memory.write_u32(TX_RING, 9000);
        assert_eq!(resume_driver(&memory), Resumed { rx_pending: 0, tx_pending: 0, resynchronised: 2 });
        assert!(!FrameRing::RX.has_frame(&memory) && !FrameRing::TX.has_frame(&memory));
        FrameRing::RX.push(&memory, &frame(4, 60)).unwrap();
        assert_eq!(FrameRing::RX.pop(&memory, &mut out), Ok(Some(60)));
        assert_eq!(out[..60], frame(4, 60)[..]);
    }

    #[test]
    fn information_page_appears_only_when_complete() {
        let memory = VecMemory::new(REGION_BYTES);
        assert_eq!(read_info(&memory), None);
        publish_info(&memory, [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(read_info(&memory), Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
    }
}
