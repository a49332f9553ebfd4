//! [`Memory`]: byte-addressed access to a region that another party (a device by DMA, or
//! another domain) reads and writes too, as the shared-memory data structures of tileos
//! (virtqueues, the net frame rings, the block rings) see it. In a domain it is [`Mmio`];
//! host tests use [`VecMemory`] (feature `test-memory`) and play the other party.

use crate::Mmio;

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

    /// Reads the little-endian `u64` at `offset` (two `u32` halves, low first).
    fn read_u64(&self, offset: usize) -> u64 {
        u64::from(self.read_u32(offset)) | u64::from(self.read_u32(offset + 4)) << 32
    }

    /// Writes the little-endian `u64` at `offset` (two `u32` halves, low first).
    fn write_u64(&self, offset: usize, value: u64) {
        self.write_u32(offset, value as u32);
        self.write_u32(offset + 4, (value >> 32) as u32);
    }
}

/// Mapped memory in a domain: every access volatile and bounds-checked (a panic on an offset
/// outside the region or misaligned for the width).
impl Memory for Mmio {
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
        Mmio::read_bytes(self, offset, out)
    }
    fn write_bytes(&self, offset: usize, data: &[u8]) {
        Mmio::write_bytes(self, offset, data)
    }
    fn read_u64(&self, offset: usize) -> u64 {
        self.read64(offset)
    }
    fn write_u64(&self, offset: usize, value: u64) {
        self.write64(offset, value)
    }
}

/// Vector-backed shared memory for host tests (feature `test-memory`).
#[cfg(any(test, feature = "test-memory"))]
pub struct VecMemory(pub core::cell::RefCell<alloc::vec::Vec<u8>>);

#[cfg(any(test, feature = "test-memory"))]
impl VecMemory {
    /// `size` zeroed bytes.
    pub fn new(size: usize) -> VecMemory {
        VecMemory(core::cell::RefCell::new(alloc::vec![0; size]))
    }
}

#[cfg(any(test, feature = "test-memory"))]
impl Memory for VecMemory {
    fn read_u16(&self, offset: usize) -> u16 {
        let bytes = self.0.borrow();
        u16::from_le_bytes([bytes[offset], bytes[offset + 1]])
    }
    fn write_u16(&self, offset: usize, value: u16) {
        self.0.borrow_mut()[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
    }
    fn read_u32(&self, offset: usize) -> u32 {
        let bytes = self.0.borrow();
        u32::from_le_bytes([bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]])
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
