//! x86_64 four-level page tables, manipulated through the direct physical map. Walking,
//! mapping and unmapping user mappings is `tileos_kernel::vspace`'s.

use super::memory::PHYS_MAP_BASE;
use x86_64::PhysAddr;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::PhysFrame;

/// Entry maps something.
pub const PRESENT: u64 = 1;
/// Writable.
pub const WRITABLE: u64 = 1 << 1;
/// Accessible from user mode.
pub const USER: u64 = 1 << 2;
/// Not executable.
pub const NO_EXECUTE: u64 = 1 << 63;
/// Physical address bits of an entry.
pub const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// Entries per table.
pub const ENTRIES: usize = 512;

/// Level of a table in the walk: 4 = PML4, 3 = PDPT, 2 = page directory, 1 = page table.
pub type Level = u32;

/// The table at physical address `paddr` as an array of entries.
///
/// # Safety
/// `paddr` must be a paging-structure object the kernel owns (inside the direct map), and
/// no other reference to it may be live.
pub unsafe fn table(paddr: u64) -> &'static mut [u64; ENTRIES] {
    // SAFETY: per the contract above.
    unsafe { &mut *((PHYS_MAP_BASE + paddr) as *mut [u64; ENTRIES]) }
}

/// Entry `index` of the paging structure at `table` (a paging-structure object the kernel
/// owns: the PML4 of a live ASID, a table reached from one through entries the kernel
/// wrote, or one whose capability is being invoked or deleted).
pub fn read_entry(table: u64, index: usize) -> u64 {
    assert!(index < ENTRIES);
    // SAFETY: per the contract above; the raw read creates no reference.
    unsafe { ((PHYS_MAP_BASE + table) as *const u64).add(index).read() }
}

/// Writes entry `index` of the paging structure at `table` (as for [`read_entry`]).
pub fn write_entry(table: u64, index: usize, value: u64) {
    assert!(index < ENTRIES);
    // SAFETY: per the contract of `read_entry`.
    unsafe { ((PHYS_MAP_BASE + table) as *mut u64).add(index).write(value) }
}

/// Index into the table at `level` for `vaddr`.
pub const fn index(vaddr: u64, level: Level) -> usize {
    ((vaddr >> (12 + 9 * (level - 1))) & 0x1FF) as usize
}

/// Physical address of the boot PML4, whose upper half every address space shares.
static mut KERNEL_PML4: u64 = 0;

/// Records the boot PML4 (call once, after the identity map is removed).
pub fn init() {
    // SAFETY: single-threaded boot.
    unsafe { KERNEL_PML4 = Cr3::read().0.start_address().as_u64() };
}

/// Copies the kernel half (entries 256–511: direct map and kernel image) into a new PML4.
/// These entries have no USER bit, so user code can never reach kernel memory.
pub fn copy_kernel_half(pml4: u64) {
    // SAFETY: KERNEL_PML4 is the boot PML4; `pml4` is a freshly created PML4 object.
    unsafe {
        let kernel = table(*core::ptr::addr_of!(KERNEL_PML4));
        let new = table(pml4);
        new[256..].copy_from_slice(&kernel[256..]);
    }
}

/// Switches to the address space at `pml4` if it is not already active. Entering another
/// address space is entering another domain, so it also loads the null selector into DS,
/// ES, FS and GS ([`super::entry::reset_user_segments`]): one domain's selectors never
/// reach another.
#[inline(always)]
pub fn activate(pml4: u64) {
    let (current, _) = Cr3::read();
    if current.start_address().as_u64() != pml4 {
        // SAFETY: `pml4` has the kernel half, so the kernel keeps running after the switch.
        unsafe { Cr3::write(PhysFrame::containing_address(PhysAddr::new(pml4)), Cr3Flags::empty()) };
        super::entry::reset_user_segments();
    }
}

/// The kernel-only address space (the boot PML4: the kernel half and no user mappings),
/// for a thread without a VSpace and whenever the active PML4 is destroyed.
pub fn kernel_only() -> u64 {
    // SAFETY: KERNEL_PML4 is written once at boot.
    unsafe { *core::ptr::addr_of!(KERNEL_PML4) }
}

/// Leaves the address space at `pml4` for the kernel-only one if it is active (it is being
/// destroyed: its memory may be reused once this kernel entry ends).
pub fn leave_if_active(pml4: u64) {
    if Cr3::read().0.start_address().as_u64() == pml4 {
        activate(kernel_only());
    }
}

/// Invalidates the TLB entry for `vaddr` (if the address space is active; otherwise the
/// next CR3 load flushes it).
pub fn flush(vaddr: u64) {
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(vaddr));
}
