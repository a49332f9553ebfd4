//! The device-independent parts of the virtio-net driver (QEMU `virtio-net-pci`, legacy
//! interface through IO-port BAR 0) and of the frame rings it shares with the netstack:
//!
//! - [`Memory`] (re-exported from `tileos_virtio`): byte-addressed access to a region that
//!   another party (the device by DMA, or another domain) reads and writes too; [`Mapped`]
//!   implements it with volatile accesses to a region mapped into the domain (the gpu
//!   driver uses it too). Host tests use `test_memory::VecMemory` (feature `test-memory`).
//! - [`virtio`]: legacy register offsets, status and feature bits, and where the two
//!   virtqueues (`tileos_virtio::Virtqueue`, legacy layout) and the packet buffers lie in
//!   the DMA region.
//! - [`datapath`]: moving frames between the virtqueues and the frame rings.
//! - [`frames`]: the single-producer single-consumer rings of Ethernet frames between the
//!   `net` and `netstack` domains, and the device information page beside them.
#![no_std]
#![deny(missing_docs)]

pub mod datapath;
pub mod frames;
pub mod virtio;

pub use tileos_virtio::Memory;

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

/// A [`Memory`] over a vector, for host tests of this crate and of the crates that share
/// memory through it (the netstack).
#[cfg(any(test, feature = "test-memory"))]
pub use tileos_virtio::test_memory;
