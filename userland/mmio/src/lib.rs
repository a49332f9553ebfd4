//! [`Mmio`]: the one type through which user-space drivers and services reach memory that
//! is mapped into their domain and that someone else reads or writes too — a device's
//! registers (a PCI BAR, the HPET), DMA memory a device reaches by its bus address, or a
//! region shared with another domain.
//!
//! All the `unsafe` of user-space memory access lives in this file, so that the driver and
//! service crates can `#![forbid(unsafe_code)]` (docs/drivers.md, "Unsafe in one place").
//! The invariant every access relies on is the one [`Mmio::new`] states: **the region is
//! mapped (read-write unless said otherwise) at `[base, base + len)` for the rest of the
//! domain's life, and no Rust reference into it exists except through this handle.**
//! `tileos_sys::domain::take_region` makes one `Mmio` per region named on the domain's
//! information page — the root server maps every listed region for the domain's lifetime —
//! and hands each region out only once, so safe code never holds two handles to the same
//! bytes.
//!
//! What a handle offers:
//! - volatile reads and writes of `u8`, `u16`, `u32` and `u64` at byte offsets checked to be
//!   inside the region and naturally aligned (a bad offset is a programming error and
//!   panics, before any access);
//! - bulk byte copies in and out, fenced against the accesses around them
//!   ([`Mmio::read_bytes`], [`Mmio::write_bytes`], [`Mmio::fill`]);
//! - the bus address of an offset ([`Mmio::bus_address`]), what a device is told to DMA to;
//! - a typed view ([`Mmio::as_mut_slice`]) for memory the other party leaves alone while the
//!   view lives (a framebuffer between transfers, a block buffer between calls);
//! - cutting a region into parts ([`Mmio::split_at`]) and joining regions mapped one after
//!   the other ([`Mmio::join`]), each part again owned by one handle.
//!
//! [`Memory`] is the trait the shared-memory data structures (virtqueues, the net frame
//! rings, the block rings) are written against: `Mmio` in a domain, [`VecMemory`] (feature
//! `test-memory`) in host tests.
//!
//! This crate has no dependencies and no system calls, so host tests of the crates that take
//! an `Mmio` (and its own tests, over a buffer on the heap) run on the host.
#![no_std]
#![deny(missing_docs)]

#[cfg(any(test, feature = "test-memory"))]
extern crate alloc;

mod memory;

pub use memory::Memory;
#[cfg(any(test, feature = "test-memory"))]
pub use memory::VecMemory;

use core::mem::{align_of, size_of};
use core::sync::atomic::{Ordering, compiler_fence};

/// A mapped region of `len` bytes at user address `base`, accessed with volatile loads and
/// stores, fenced bulk copies, or through a view borrowed from the handle. Not `Clone`: one handle owns
/// the region.
#[derive(Debug)]
pub struct Mmio {
    /// User address of byte 0.
    base: usize,
    /// Bytes.
    len: usize,
    /// Bus (physical) address of byte 0, if the region is physically contiguous and known.
    paddr: Option<u64>,
}

/// Element types of a typed view: plain integers, for which every bit pattern is a value
/// (sealed: no other type may be viewed).
pub trait Plain: Copy + sealed::Sealed {}
impl Plain for u8 {}
impl Plain for u16 {}
impl Plain for u32 {}
impl Plain for u64 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

impl Mmio {
    /// The region of `len` bytes mapped at user address `base`, at bus address `paddr`
    /// (`None`: not physically contiguous, or no device reaches it).
    ///
    /// # Safety
    /// `[base, base + len)` must be mapped for the rest of the program (read-write, or
    /// read-only if the caller never writes through the handle — a write to a read-only
    /// page faults the domain, it corrupts nothing), `base + len` must not wrap, and no
    /// other `Mmio` or Rust reference may cover any of these bytes. Other parties (devices,
    /// other domains) may read and write them concurrently: every register access here is
    /// volatile, bulk copies are fenced, and only [`Mmio::as_mut_slice`] hands out a
    /// reference.
    pub unsafe fn new(base: usize, len: usize, paddr: Option<u64>) -> Mmio {
        assert!(base.checked_add(len).is_some(), "region {base:#x}+{len:#x} wraps");
        Mmio { base, len, paddr }
    }

    /// Bytes in the region.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// User address of byte 0 (for logs; it cannot be dereferenced without `unsafe`).
    pub fn base(&self) -> usize {
        self.base
    }

    /// Bus address of byte 0, if the region has one.
    pub fn paddr(&self) -> Option<u64> {
        self.paddr
    }

    /// The bus address of byte `offset`, what a device is given to reach it by DMA.
    ///
    /// # Panics
    /// If `offset` is beyond the region (`offset == len` is allowed: an end address) or the
    /// region has no bus address.
    pub fn bus_address(&self, offset: usize) -> u64 {
        assert!(offset <= self.len, "offset {offset:#x} outside the {:#x}-byte region", self.len);
        self.paddr.expect("the region has no bus address") + offset as u64
    }

    /// The user address of `length` bytes at `offset`, checked to lie inside the region and
    /// to be aligned to `align`.
    fn at(&self, offset: usize, length: usize, align: usize) -> usize {
        assert!(
            offset.checked_add(length).is_some_and(|end| end <= self.len),
            "offset {offset:#x}+{length} outside the {:#x}-byte region",
            self.len
        );
        let address = self.base + offset;
        assert!(address.is_multiple_of(align), "offset {offset:#x} not aligned to {align}");
        address
    }

    /// Volatile read of the `T` at `offset`.
    fn read<T: Plain>(&self, offset: usize) -> T {
        let address = self.at(offset, size_of::<T>(), align_of::<T>());
        // SAFETY: `[address, address + size_of::<T>())` is inside the region (checked by
        // `at`), which is mapped readable for the domain's lifetime (`Mmio::new`'s contract);
        // the address is aligned for `T` (checked by `at`) and every bit pattern is a `T`
        // (`Plain`). The access is volatile: the other party changes the memory.
        unsafe { (address as *const T).read_volatile() }
    }

    /// Volatile write of `value` at `offset`.
    fn write<T: Plain>(&self, offset: usize, value: T) {
        let address = self.at(offset, size_of::<T>(), align_of::<T>());
        // SAFETY: as for `read`; the region is mapped writable (`Mmio::new`'s contract) and
        // no reference into it is live while `&self` is (`as_mut_slice` borrows `&mut self`).
        unsafe { (address as *mut T).write_volatile(value) }
    }

    /// Reads the byte at `offset`.
    pub fn read8(&self, offset: usize) -> u8 {
        self.read(offset)
    }
    /// Writes the byte at `offset`.
    pub fn write8(&self, offset: usize, value: u8) {
        self.write(offset, value)
    }
    /// Reads the 2-aligned `u16` at `offset` (one 16-bit access, native little-endian).
    pub fn read16(&self, offset: usize) -> u16 {
        self.read(offset)
    }
    /// Writes the 2-aligned `u16` at `offset` (one 16-bit access).
    pub fn write16(&self, offset: usize, value: u16) {
        self.write(offset, value)
    }
    /// Reads the 4-aligned `u32` at `offset` (one 32-bit access).
    pub fn read32(&self, offset: usize) -> u32 {
        self.read(offset)
    }
    /// Writes the 4-aligned `u32` at `offset` (one 32-bit access).
    pub fn write32(&self, offset: usize, value: u32) {
        self.write(offset, value)
    }
    /// Reads the 8-aligned `u64` at `offset` (one 64-bit access).
    pub fn read64(&self, offset: usize) -> u64 {
        self.read(offset)
    }
    /// Writes the 8-aligned `u64` at `offset` (one 64-bit access).
    pub fn write64(&self, offset: usize, value: u64) {
        self.write(offset, value)
    }

    /// Copies `out.len()` bytes from `offset` into `out` as one bulk copy (`rep movsb`), the
    /// way a driver copies a frame or a block out of a DMA buffer once the device handed it
    /// over (through a volatile descriptor read): compiler fences keep the copy after the
    /// accesses before it and before those after it. Byte-by-byte volatile reads cost 2.6
    /// times the instructions per KiB on the TCP path.
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        let address = self.at(offset, out.len(), 1);
        compiler_fence(Ordering::SeqCst);
        // SAFETY: the range is inside the mapped region (checked); `out` is ordinary memory
        // of this program and cannot overlap the region (no reference covers it, `new`).
        unsafe { core::ptr::copy_nonoverlapping(address as *const u8, out.as_mut_ptr(), out.len()) };
        compiler_fence(Ordering::SeqCst);
    }

    /// Copies `data` to `offset` as one bulk copy, fenced like [`Mmio::read_bytes`]: the
    /// bytes are in place before any later access (such as the volatile write that hands
    /// the buffer to the device).
    pub fn write_bytes(&self, offset: usize, data: &[u8]) {
        let address = self.at(offset, data.len(), 1);
        compiler_fence(Ordering::SeqCst);
        // SAFETY: as for `read_bytes`, with the region as the destination.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), address as *mut u8, data.len()) };
        compiler_fence(Ordering::SeqCst);
    }

    /// Sets `length` bytes from `offset` to `value` (one bulk fill, fenced likewise).
    pub fn fill(&self, offset: usize, length: usize, value: u8) {
        let address = self.at(offset, length, 1);
        compiler_fence(Ordering::SeqCst);
        // SAFETY: the range is inside the mapped region (checked).
        unsafe { core::ptr::write_bytes(address as *mut u8, value, length) };
        compiler_fence(Ordering::SeqCst);
    }

    /// The whole region as a slice of `T` (its length rounded down to whole `T`s).
    ///
    /// The view is ordinary memory to the compiler: use it only while the other party
    /// leaves the region alone — a framebuffer the device reads only during a transfer the
    /// driver starts after the view is gone, a buffer a server touches only during a call
    /// the client waits in. What the other party writes meanwhile may or may not be seen.
    ///
    /// # Panics
    /// If the region's address is not aligned for `T`.
    pub fn as_mut_slice<T: Plain>(&mut self) -> &mut [T] {
        let count = self.len / size_of::<T>();
        let address = self.at(0, count * size_of::<T>(), align_of::<T>());
        // SAFETY: `count` whole `T`s from `address` lie inside the region (checked by `at`),
        // mapped read-write for the domain's lifetime (`Mmio::new`); the address is aligned
        // for `T` and every bit pattern is a `T` (`Plain`). This handle is the only one to
        // these bytes (`Mmio::new`), and the slice borrows it mutably, so no other access
        // from this domain overlaps the slice's life.
        unsafe { core::slice::from_raw_parts_mut(address as *mut T, count) }
    }

    /// A read-only typed view of the whole region, for memory nobody writes while the view
    /// lives: e.g. the inference base, written once by its loader before any reader starts
    /// reading and mapped read-only into the readers. Works on read-only mappings (it never
    /// writes).
    ///
    /// # Panics
    /// If the region's address is not aligned for `T`.
    pub fn as_slice<T: Plain>(&self) -> &[T] {
        let count = self.len / size_of::<T>();
        let address = self.at(0, count * size_of::<T>(), align_of::<T>());
        // SAFETY: `count` whole `T`s from `address` lie inside the region (checked by `at`),
        // mapped at least readable for the domain's lifetime (`Mmio::new`); the address is
        // aligned for `T` and every bit pattern is a `T` (`Plain`). The slice borrows this
        // handle, the only one to these bytes, so no access through it overlaps a write from
        // this domain; the caller's promise is that no other party writes meanwhile.
        unsafe { core::slice::from_raw_parts(address as *const T, count) }
    }

    /// Cuts the region at byte `mid`: `[0, mid)` and `[mid, len)`, each owned by its handle.
    ///
    /// # Panics
    /// If `mid` is beyond the region.
    pub fn split_at(self, mid: usize) -> (Mmio, Mmio) {
        assert!(mid <= self.len, "split at {mid:#x} outside the {:#x}-byte region", self.len);
        let tail = Mmio { base: self.base + mid, len: self.len - mid, paddr: self.paddr.map(|paddr| paddr + mid as u64) };
        (Mmio { base: self.base, len: mid, paddr: self.paddr }, tail)
    }

    /// The region followed by `next`, if `next` is mapped right after it (else both back).
    /// The result has a bus address only if `next` also follows physically.
    pub fn join(self, next: Mmio) -> Result<Mmio, (Mmio, Mmio)> {
        if self.base + self.len != next.base {
            return Err((self, next));
        }
        let paddr = match (self.paddr, next.paddr) {
            (Some(first), Some(second)) if first + self.len as u64 == second => Some(first),
            _ => None,
        };
        Ok(Mmio { base: self.base, len: self.len + next.len, paddr })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::boxed::Box;
    use std::vec;

    /// A region over a leaked heap buffer of `len` bytes (8-aligned), at bus address 0x1000.
    fn region(len: usize) -> Mmio {
        let words: &'static mut [u64] = Box::leak(vec![0u64; len.div_ceil(8)].into_boxed_slice());
        // SAFETY: the leaked buffer lives for the rest of the test program and nothing else
        // refers to it.
        unsafe { Mmio::new(words.as_mut_ptr() as usize, len, Some(0x1000)) }
    }

    #[test]
    fn reads_what_was_written_at_every_width() {
        let memory = region(32);
        memory.write64(8, 0x1122_3344_5566_7788);
        assert_eq!(memory.read32(8), 0x5566_7788);
        assert_eq!(memory.read16(12), 0x3344);
        assert_eq!(memory.read8(15), 0x11);
        memory.write8(0, 0xAB);
        memory.write16(2, 0xCDEF);
        memory.write32(4, 0x0102_0304);
        assert_eq!(memory.read64(0), 0x0102_0304_CDEF_00AB);
        let mut out = [0u8; 4];
        memory.write_bytes(20, b"tile");
        memory.read_bytes(20, &mut out);
        assert_eq!(&out, b"tile");
        memory.fill(20, 2, 0);
        memory.read_bytes(20, &mut out);
        assert_eq!(&out, b"\0\0le");
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn rejects_an_access_past_the_end() {
        region(16).read32(14);
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn rejects_an_offset_that_wraps() {
        region(16).read8(usize::MAX);
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn rejects_a_copy_past_the_end() {
        region(16).write_bytes(10, &[0; 7]);
    }

    #[test]
    #[should_panic(expected = "not aligned")]
    fn rejects_a_misaligned_access() {
        region(16).read32(2);
    }

    #[test]
    fn bus_addresses_follow_offsets_and_parts() {
        let memory = region(0x30);
        assert_eq!(memory.bus_address(0x10), 0x1010);
        assert_eq!(memory.bus_address(0x30), 0x1030);
        let (head, tail) = memory.split_at(0x10);
        assert_eq!((head.len(), tail.len()), (0x10, 0x20));
        assert_eq!(tail.bus_address(0), 0x1010);
        tail.write32(0, 7);
        let joined = head.join(tail).expect("the parts are adjacent");
        assert_eq!(joined.read32(0x10), 7);
        assert_eq!(joined.paddr(), Some(0x1000));
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn rejects_a_bus_address_past_the_end() {
        region(16).bus_address(17);
    }

    #[test]
    fn joins_only_adjacent_regions_and_keeps_a_bus_address_only_if_contiguous() {
        let (first, second) = region(0x20).split_at(0x10);
        let (second, other) = (second, region(0x10));
        let (first, other) = first.join(other).expect_err("not adjacent");
        drop(other);
        // SAFETY: re-labels the second half (same bytes, the old handle is consumed below)
        // with a bus address that does not follow the first half.
        let moved = unsafe { Mmio::new(second.base(), second.len(), Some(0x9000)) };
        drop(second);
        let joined = first.join(moved).expect("adjacent in user space");
        assert_eq!(joined.paddr(), None);
    }

    #[test]
    fn views_the_region_as_integers() {
        let mut memory = region(16);
        memory.as_mut_slice::<u32>()[1] = 0xFEED_F00D;
        assert_eq!(memory.read32(4), 0xFEED_F00D);
        assert_eq!(memory.as_mut_slice::<u64>().len(), 2);
    }
}
