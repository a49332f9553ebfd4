//! The device-independent parts of the virtio-net driver (QEMU `virtio-net-pci`, legacy
//! interface through IO-port BAR 0) and of the frame rings it shares with the netstack:
//!
//! - [`Memory`]: byte-addressed access to a region that another party (the device by DMA,
//!   or another domain) reads and writes too. The domain implements it with volatile
//!   accesses to its shared regions; host tests implement it over a vector and play the
//!   other party.
//! - [`virtio`]: legacy register offsets, status and feature bits, the legacy virtqueue
//!   layout and a split virtqueue (descriptor table, available ring, used ring).
//! - [`datapath`]: moving frames between the virtqueues and the frame rings.
//! - [`frames`]: the single-producer single-consumer rings of Ethernet frames between the
//!   `net` and `netstack` domains, and the device information page beside them.
#![no_std]
#![deny(missing_docs)]

pub mod datapath;
pub mod frames;
pub mod virtio;

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

/// A [`Memory`] over a shared region mapped into this domain (a DMA region, or the frame
/// region shared with another domain), accessed with volatile loads and stores.
#[derive(Clone, Copy, Debug)]
pub struct Mapped {
    base: usize,
    size: usize,
}

impl Mapped {
    /// The region of `size` bytes mapped read-write at `vaddr`.
    ///
    /// # Safety
    /// `vaddr..vaddr + size` must stay mapped read-write for the rest of the program, and
    /// Rust code must not hold references into it (only the device and other domains
    /// change it, concurrently).
    pub unsafe fn new(vaddr: u64, size: u64) -> Mapped {
        Mapped { base: vaddr as usize, size: size as usize }
    }

    /// The address of `length` bytes at `offset`, checked to lie inside the region.
    fn at(&self, offset: usize, length: usize) -> usize {
        assert!(offset.checked_add(length).is_some_and(|end| end <= self.size), "offset {offset:#x}+{length} outside the region");
        self.base + offset
    }
}

impl Memory for Mapped {
    fn read_u16(&self, offset: usize) -> u16 {
        // SAFETY: inside the mapped region (checked by `at`, per `Mapped::new`'s contract);
        // every offset the driver uses is 2-aligned.
        unsafe { (self.at(offset, 2) as *const u16).read_volatile() }
    }
    fn write_u16(&self, offset: usize, value: u16) {
        // SAFETY: as for `read_u16`.
        unsafe { (self.at(offset, 2) as *mut u16).write_volatile(value) }
    }
    fn read_u32(&self, offset: usize) -> u32 {
        // SAFETY: as for `read_u16`; offsets are 4-aligned.
        unsafe { (self.at(offset, 4) as *const u32).read_volatile() }
    }
    fn write_u32(&self, offset: usize, value: u32) {
        // SAFETY: as for `read_u32`.
        unsafe { (self.at(offset, 4) as *mut u32).write_volatile(value) }
    }
    fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        let base = self.at(offset, out.len()) as *const u8;
        for (index, byte) in out.iter_mut().enumerate() {
            // SAFETY: `index` < `out.len()`, and the whole range is inside the region.
            *byte = unsafe { base.add(index).read_volatile() };
        }
    }
    fn write_bytes(&self, offset: usize, data: &[u8]) {
        let base = self.at(offset, data.len()) as *mut u8;
        for (index, byte) in data.iter().enumerate() {
            // SAFETY: as for `read_bytes`.
            unsafe { base.add(index).write_volatile(*byte) };
        }
    }
}

#[cfg(any(test, feature = "test-memory"))]
pub mod test_memory {
    //! A [`Memory`] over a vector, for host tests (of this crate and of the crates that
    //! share memory through it: the netstack, the GPU driver). The test plays the other party.
    extern crate alloc;
    use super::Memory;
    use alloc::vec::Vec;
    use core::cell::RefCell;

    /// Vector-backed shared memory.
    pub struct VecMemory(pub RefCell<Vec<u8>>);

    impl VecMemory {
        /// `size` zeroed bytes.
        pub fn new(size: usize) -> VecMemory {
            VecMemory(RefCell::new(alloc::vec![0; size]))
        }
    }

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
}
