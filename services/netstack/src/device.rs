//! A `smoltcp` Ethernet device over the shared frame rings of `tileos_protocol::frames`:
//! received frames are taken from the receive ring, transmitted frames are pushed onto
//! the transmit ring. The caller signals the driver after a poll that transmitted
//! something ([`FrameDevice::take_transmitted`]).

use alloc::vec;
use alloc::vec::Vec;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use tileos_mmio::Memory;
use tileos_protocol::frames::{FrameRing, MAX_FRAME, RingError};

/// The netstack's side of the frame rings.
pub struct FrameDevice<M: Memory> {
    memory: M,
    transmitted: u32,
    /// Frames `smoltcp` sent that did not fit the transmit ring (dropped).
    pub dropped: u64,
    /// Ring errors seen (garbage from the driver's side), and the last one.
    pub ring_errors: (u64, Option<RingError>),
}

impl<M: Memory> FrameDevice<M> {
    /// The device over the frame region `memory`.
    pub fn new(memory: M) -> FrameDevice<M> {
        FrameDevice { memory, transmitted: 0, dropped: 0, ring_errors: (0, None) }
    }

    /// Frames pushed since the last call (the driver needs a signal if non-zero).
    pub fn take_transmitted(&mut self) -> u32 {
        core::mem::take(&mut self.transmitted)
    }

    /// Whether a received frame is waiting.
    pub fn has_frame(&self) -> bool {
        FrameRing::RX.has_frame(&self.memory)
    }

    /// The frame region.
    pub fn memory(&self) -> &M {
        &self.memory
    }
}

/// A received frame, copied out of the ring.
pub struct RxFrame(Vec<u8>);

impl phy::RxToken for RxFrame {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

/// Permission to transmit one frame.
pub struct TxSlot<'a, M: Memory>(&'a mut FrameDevice<M>);

impl<M: Memory> phy::TxToken for TxSlot<'_, M> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, length: usize, f: F) -> R {
        let mut frame = vec![0u8; length];
        let result = f(&mut frame);
        match FrameRing::TX.push(&self.0.memory, &frame) {
            Ok(()) => self.0.transmitted += 1,
            Err(RingError::Full | RingError::TooLong(_)) => self.0.dropped += 1,
            Err(error) => {
                self.0.dropped += 1;
                self.0.ring_errors = (self.0.ring_errors.0 + 1, Some(error));
            }
        }
        result
    }
}

impl<M: Memory> phy::Device for FrameDevice<M> {
    type RxToken<'a>
        = RxFrame
    where
        M: 'a;
    type TxToken<'a>
        = TxSlot<'a, M>
    where
        M: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxFrame, TxSlot<'_, M>)> {
        let mut buffer = [0u8; MAX_FRAME];
        loop {
            match FrameRing::RX.pop(&self.memory, &mut buffer) {
                Ok(Some(length)) => return Some((RxFrame(buffer[..length].to_vec()), TxSlot(self))),
                Ok(None) => return None,
                Err(error) => self.ring_errors = (self.ring_errors.0 + 1, Some(error)),
            }
        }
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxSlot<'_, M>> {
        Some(TxSlot(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = MAX_FRAME;
        capabilities
    }
}
