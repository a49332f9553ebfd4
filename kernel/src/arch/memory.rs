//! The kernel's virtual memory layout and access to physical memory through the direct map.

use tileos_kernel::multiboot::{MultibootError, PhysicalMemory};
use x86_64::registers::control::Cr3;

/// Virtual address where the direct map of physical memory begins (PML4 slot 256).
pub const PHYS_MAP_BASE: u64 = 0xffff_8000_0000_0000;
/// Bytes of physical memory the boot page tables map at [`PHYS_MAP_BASE`].
pub const PHYS_MAP_SIZE: u64 = 4 << 30;

unsafe extern "C" {
    static __kernel_phys_start: u8;
    static __kernel_phys_end: u8;
    static boot_tsc: u64;
}

/// Time-stamp counter read by the boot stub's first instructions.
pub fn boot_timestamp() -> u64 {
    // SAFETY: written once by the boot stub (identity-mapped low memory, reachable through
    // the direct map at the same physical address) before any Rust code runs.
    unsafe { core::ptr::read_volatile((PHYS_MAP_BASE + core::ptr::addr_of!(boot_tsc) as u64) as *const u64) }
}

/// Physical range `[start, end)` occupied by the kernel image, boot stub and its tables.
pub fn kernel_image_range() -> (u64, u64) {
    // Linker-defined symbols: only their addresses are used, never their contents.
    (core::ptr::addr_of!(__kernel_phys_start) as u64, core::ptr::addr_of!(__kernel_phys_end) as u64)
}

/// Removes the boot stub's identity map of low memory: from here on the lower half of the
/// address space is empty, reserved for user space.
pub fn remove_identity_map() {
    let (pml4_frame, flags) = Cr3::read();
    let pml4 = (PHYS_MAP_BASE + pml4_frame.start_address().as_u64()) as *mut u64;
    // SAFETY: CR3 holds the boot PML4, reachable through the direct map; slot 0 is the
    // identity map, used by nothing after the jump to the higher half.
    unsafe {
        pml4.write_volatile(0);
        Cr3::write(pml4_frame, flags);
    }
}

/// Zeroes `length` bytes at `address`: eight bytes per step (`rep stosq`) when the address
/// and the length are multiples of 8, as every retyped object is, else byte by byte (the
/// compiler's `memset` is `rep stosb`: eight times the steps).
///
/// # Safety
/// `[address, address + length)` must be writable memory that no reference covers.
pub unsafe fn zero(address: *mut u8, length: usize) {
    if (address as usize | length).is_multiple_of(8) {
        // SAFETY: per the contract; DF is clear (every kernel entry executes `cld`).
        unsafe {
            core::arch::asm!("rep stosq", inout("rcx") length / 8 => _, inout("rdi") address => _, in("rax") 0u64, options(nostack, preserves_flags))
        };
    } else {
        // SAFETY: per the contract.
        unsafe { core::ptr::write_bytes(address, 0, length) };
    }
}

/// Copies `length` bytes from `from` to `to`, eight bytes per step (`rep movsq`) when both
/// addresses and the length are multiples of 8, else byte by byte.
///
/// # Safety
/// `[from, from + length)` must be readable, `[to, to + length)` writable, the two must not
/// overlap, and no reference may cover the destination.
pub unsafe fn copy(to: *mut u8, from: *const u8, length: usize) {
    if (to as usize | from as usize | length).is_multiple_of(8) {
        // SAFETY: per the contract; DF is clear (every kernel entry executes `cld`).
        unsafe {
            core::arch::asm!(
                "rep movsq",
                inout("rcx") length / 8 => _,
                inout("rdi") to => _,
                inout("rsi") from => _,
                options(nostack, preserves_flags)
            )
        };
    } else {
        // SAFETY: per the contract.
        unsafe { core::ptr::copy_nonoverlapping(from, to, length) };
    }
}

/// Physical memory as seen through the direct map, bounded to what the map covers.
pub struct DirectMap;

impl PhysicalMemory for DirectMap {
    fn read(&self, phys: u64, out: &mut [u8]) -> Result<(), MultibootError> {
        let end = phys.checked_add(out.len() as u64).ok_or(MultibootError::Unreadable(phys))?;
        if end > PHYS_MAP_SIZE {
            return Err(MultibootError::Unreadable(phys));
        }
        // SAFETY: [phys, end) lies inside the direct map, which maps all of it.
        unsafe {
            core::ptr::copy_nonoverlapping((PHYS_MAP_BASE + phys) as *const u8, out.as_mut_ptr(), out.len());
        }
        Ok(())
    }
}

/// Test builds only: FNV-1a over the kernel's text and read-only data (linker symbols
/// `__kernel_text_start` … `__kernel_rodata_end`, link.ld) and their length in bytes — the
/// fuzz mode's witness that no user action changed the kernel image (docs/fuzzing.md).
#[cfg(feature = "testing")]
pub fn kernel_image_checksum() -> (u64, u64) {
    unsafe extern "C" {
        static __kernel_text_start: u8;
        static __kernel_rodata_end: u8;
    }
    let start = core::ptr::addr_of!(__kernel_text_start);
    let length = core::ptr::addr_of!(__kernel_rodata_end) as u64 - start as u64;
    // SAFETY: text and rodata are mapped for as long as the kernel runs; only read here.
    let image = unsafe { core::slice::from_raw_parts(start, length as usize) };
    let checksum = image.iter().fold(0xCBF2_9CE4_8422_2325u64, |hash, &byte| (hash ^ byte as u64).wrapping_mul(0x0100_0000_01B3));
    (checksum, length)
}
