//! The device-independent parts of the virtio-gpu display driver (QEMU `virtio-gpu-pci`,
//! modern virtio 1.x over PCI), host-tested:
//!
//! - [`transport`]: the virtio PCI vendor capabilities (where the common, notify, ISR and
//!   device configuration structures lie in which BAR), the common configuration register
//!   offsets, status and feature bits.
//! - [`queue`]: a split virtqueue in the modern layout, carrying one two-descriptor chain
//!   (request, response) at a time: the control queue.
//! - [`command`]: virtio-gpu control commands (encoding) and their responses (decoding).
//! - [`screen`]: the tile status screen (title, rows of text) and its rendering with an
//!   8x8 bitmap font into a B8G8R8X8 framebuffer.
//! - [`protocol`]: the display protocol clients use to change the screen.
//!
//! Shared memory (the DMA region) is reached through `tileos_driver_net::Memory`, the same
//! volatile-access trait the virtio-net driver uses.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod command;
pub mod protocol;
pub mod queue;
pub mod screen;
pub mod transport;

#[cfg(test)]
pub(crate) mod test_memory {
    //! A `Memory` over a vector, for host tests (the device's side is played by the test).
    use core::cell::RefCell;
    use tileos_driver_net::Memory;

    /// Vector-backed shared memory.
    pub struct VecMemory(pub RefCell<Vec<u8>>);

    impl VecMemory {
        /// `size` zeroed bytes.
        pub fn new(size: usize) -> VecMemory {
            VecMemory(RefCell::new(vec![0; size]))
        }
    }

    impl Memory for VecMemory {
        fn read_u16(&self, offset: usize) -> u16 {
            u16::from_le_bytes(self.0.borrow()[offset..offset + 2].try_into().unwrap())
        }
        fn write_u16(&self, offset: usize, value: u16) {
            self.0.borrow_mut()[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
        }
        fn read_u32(&self, offset: usize) -> u32 {
            u32::from_le_bytes(self.0.borrow()[offset..offset + 4].try_into().unwrap())
        }
        fn write_u32(&self, offset: usize, value: u32) {
            self.0.borrow_mut()[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        }
        fn read_bytes(&self, offset: usize, out: &mut [u8]) {
            out.copy_from_slice(&self.0.borrow()[offset..offset + out.len()]);
        }
        fn write_bytes(&self, offset: usize, data: &[u8]) {
            self.0.borrow_mut()[offset..offset + data.len()].copy_from_slice(data);
        }
    }
}
