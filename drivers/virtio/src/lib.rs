//! The split virtqueue both virtio drivers use (virtio-net with the legacy layout,
//! virtio-gpu with the modern one), and the shared-memory access it goes through:
//!
//! - [`Memory`]: byte-addressed access to a region that another party (a device by DMA, or
//!   another domain) reads and writes too. Domains use [`tileos_mmio::Mmio`], the runtime's
//!   one handle to mapped memory (implemented below); host tests implement it over a vector
//!   ([`test_memory::VecMemory`], feature `test-memory`) and play the other party.
//! - [`queue`]: the ring layouts ([`QueueLayout::legacy`], [`QueueLayout::modern`]) and
//!   the driver's side of a split virtqueue ([`Virtqueue`]): descriptor chains, offering
//!   them on the available ring, taking them back from the used ring.
//!
//! Reference: Virtual I/O Device (VIRTIO) Version 1.1, §2.6 (split virtqueues), §2.6.2
//! (legacy interfaces: layout).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod queue;
#[cfg(any(test, feature = "test-memory"))]
pub mod test_memory;

pub use queue::{Buffer, DESC_NEXT, DESC_WRITE, PAGE_SIZE, QueueLayout, Used, Virtqueue};

/// A region of memory shared with another party, addressed by byte offset from its start.
///
/// Implementations must make every access reach memory (volatile or atomic), because the
/// other party reads and writes the same bytes concurrently. Offsets outside the region are
/// a programming error the implementation may reject by panicking.
pub trait Memory {
    /// Reads the little-endian `u16` at `offset`.
    fn read_u16(&self, offset: usize) -> u16;
    /// Writes the little-endian `u16` at `offset`.
    fn write_u16(&self, offset: usize, value: u16);
    /// Reads the little-endian `u32` at `offset`.
    fn read_u32(&self, offset: usize) -> u32;
    /// Writes the little-endian `u32` at `offset`.
    fn write_u32(&self, offset: usize, value: u32);
    /// Copies `out.len()` bytes from `offset` into `out`.
    fn read_bytes(&self, offset: usize, out: &mut [u8]);
    /// Copies `data` to `offset`.
    fn write_bytes(&self, offset: usize, data: &[u8]);

    /// Writes the little-endian `u64` at `offset` (two `u32` halves, low first).
    fn write_u64(&self, offset: usize, value: u64) {
        self.write_u32(offset, value as u32);
        self.write_u32(offset + 4, (value >> 32) as u32);
    }
}

/// Mapped memory in a domain: every access volatile and bounds-checked by [`Mmio`] (which
/// panics on an offset outside the region or misaligned for the width).
impl Memory for tileos_mmio::Mmio {
    fn read_u16(&self, offset: usize) -> u16 {
        self.read16(offset)
    }
    fn write_u16(&self, offset: usize, value: u16) {
        self.write16(offset, value)
    }
    fn read_u32(&self, offset: usize) -> u32 {
        self.read32(offset)
    }
    fn write_u32(&self, offset: usize, value: u32) {
        self.write32(offset, value)
    }
    fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        tileos_mmio::Mmio::read_bytes(self, offset, out)
    }
    fn write_bytes(&self, offset: usize, data: &[u8]) {
        tileos_mmio::Mmio::write_bytes(self, offset, data)
    }
}
