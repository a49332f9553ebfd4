//! x86_64 four-level page tables, manipulated through the direct physical map. Walking,
//! mapping and unmapping user mappings is `tileos_kernel::vspace`'s; which kernel memory a
//! user address space maps is the Meltdown mitigation's (`kpti.rs`).

use super::memory::PHYS_MAP_BASE;
use x86_64::registers::control::Cr3;
#[cfg(feature = "no-kpti")]
use x86_64::{PhysAddr, registers::control::Cr3Flags, structures::paging::PhysFrame};

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

/// Physical address of the boot PML4: the kernel's own page tables (with the Meltdown
/// mitigation, the only ones the kernel runs on; without it, the kernel half every address
/// space shares).
static mut KERNEL_PML4: u64 = 0;

/// Records the boot PML4 (call once, after the identity map is removed) and, with the
/// Meltdown mitigation, builds the trampoline's tables (`kpti.rs`).
pub fn init() {
    // SAFETY: single-threaded boot.
    unsafe { KERNEL_PML4 = Cr3::read().0.start_address().as_u64() };
    #[cfg(not(feature = "no-kpti"))]
    super::kpti::init(kernel_only_tables());
}

/// The boot PML4.
fn kernel_only_tables() -> u64 {
    // SAFETY: KERNEL_PML4 is written once at boot.
    unsafe { *core::ptr::addr_of!(KERNEL_PML4) }
}

/// Copies the kernel half (entries 256–511) into a new PML4: with the Meltdown mitigation
/// only the trampoline's entry (`kpti.rs`), without it the direct map and the kernel image.
/// These entries have no USER bit, so user code can never reach kernel memory.
pub fn copy_kernel_half(pml4: u64) {
    // SAFETY: kernel_only() is the trampoline's PML4 or the boot PML4; `pml4` is a freshly
    // created PML4 object.
    unsafe {
        let kernel = table(kernel_only());
        let new = table(pml4);
        new[256..].copy_from_slice(&kernel[256..]);
    }
}

/// Makes the address space at `pml4` the one user code runs in next, if it is not already.
/// Entering another address space is entering another domain, so it also loads the null
/// selector into DS, ES, FS and GS ([`super::entry::reset_user_segments`]): one domain's
/// selectors never reach another. With the Meltdown mitigation the kernel stays on its own
/// tables and the exit stub loads `pml4`; without it CR3 is loaded here.
#[inline(always)]
pub fn activate(pml4: u64) {
    if active() != pml4 {
        super::percpu::set_user_cr3(pml4);
        // SAFETY: `pml4` has the kernel half, so the kernel keeps running after the switch.
        #[cfg(feature = "no-kpti")]
        unsafe {
            Cr3::write(PhysFrame::containing_address(PhysAddr::new(pml4)), Cr3Flags::empty())
        };
        super::entry::reset_user_segments();
    }
}

/// The address space user code runs in next on this CPU (see [`activate`]).
#[inline(always)]
fn active() -> u64 {
    super::percpu::user_cr3()
}

/// Without the Meltdown mitigation: loads CR3 with the address space this CPU's record
/// names (after another CPU changed it or shot down its translations: `smp.rs`).
#[cfg(feature = "no-kpti")]
pub fn reload() {
    // SAFETY: the record names a PML4 with the kernel half (or the boot PML4).
    unsafe { Cr3::write(PhysFrame::containing_address(PhysAddr::new(super::percpu::user_cr3())), Cr3Flags::empty()) };
}

/// The address space without user mappings, for a thread without a VSpace and whenever the
/// active PML4 is destroyed: with the Meltdown mitigation the trampoline's PML4, without it
/// the boot PML4.
pub fn kernel_only() -> u64 {
    #[cfg(not(feature = "no-kpti"))]
    return super::kpti::user_only_pml4();
    #[cfg(feature = "no-kpti")]
    return kernel_only_tables();
}

/// Leaves the address space at `pml4` for the kernel-only one if it is active (it is being
/// destroyed: its memory may be reused once this kernel entry ends).
/// Other CPUs that have it active are stalled out of user mode and take the kernel-only one
/// too (`smp::leave_remotely`).
pub fn leave_if_active(pml4: u64) {
    if active() == pml4 {
        activate(kernel_only());
    }
    super::smp::leave_remotely(pml4, kernel_only());
}

/// Invalidates the TLB entry for `vaddr` (if the address space is active; otherwise the
/// next CR3 load flushes it). With the Meltdown mitigation there is nothing to do: user
/// mappings are only ever used after the exit stub's CR3 load, which (without PCID, see
/// `kpti.rs`) flushes the whole TLB.
#[inline(always)]
pub fn flush(vaddr: u64) {
    #[cfg(feature = "no-kpti")]
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(vaddr));
    #[cfg(not(feature = "no-kpti"))]
    let _ = vaddr;
}
