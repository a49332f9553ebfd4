//! The Meltdown mitigation: kernel page-table isolation with an entry trampoline, as seL4's
//! x86 "skim window" (docs/security.md). On unless the kernel is built with `no-kpti`.
//!
//! The kernel always runs on the boot PML4 (the direct map and the kernel image; no user
//! mappings: it reaches user memory only through the direct map). A user address space's
//! kernel half holds one entry, PML4 slot 511, naming this module's trampoline tables, which
//! map only the trampoline's pages (supervisor-only, at their kernel addresses):
//! - its code (`.trampoline.text`, read-only, executable): the `syscall` entry, the trap
//!   stubs and the exit (`entry.rs`, `trap.rs`);
//! - its data (`.trampoline.data`, writable, not executable): GDT, TSS, IDT, the boot CPU's
//!   double-fault stack, and each CPU's entry record (`percpu.rs`: the entry stack the CPU
//!   pushes an interrupt's frame on (TSS.RSP0), the saved user RSP of a `syscall`, the two
//!   CR3 values, and the addresses of the running thread's save area and the kernel stack).
//!
//! The rest of the kernel (its other code and data, the TCBs, the kernel stack, the direct map)
//! is not present while user code runs. Entry stubs load the kernel's CR3 from the CPU's
//! record; the exit loads the record's user CR3, the address space of the thread about to run
//! on that CPU. The CPU model the tests run
//! (`qemu/runner/src/machine.rs`: Nehalem) has no PCID, so every CR3 load flushes the TLB;
//! that is also why unmapping a page needs no `invlpg` here.

use super::paging::{ADDRESS_MASK, ENTRIES, NO_EXECUTE, PRESENT, WRITABLE, index};
use core::ptr::{addr_of, addr_of_mut};

/// Where the kernel image is mapped: virtual = `KERNEL_VMA` + physical (link.ld).
const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
/// Page tables below the trampoline's PML4: a PDPT, a page directory and up to
/// `TABLES - 3` page tables (one per 2 MiB the trampoline's pages touch).
const TABLES: usize = 6;

#[repr(C, align(4096))]
struct Table([u64; ENTRIES]);

/// The trampoline's tables: [0] the PML4 of an address space without user mappings (what
/// every user PML4's kernel half is copied from), [1] PDPT, [2] page directory, [3..] page
/// tables. Kernel memory, never mapped for user mode.
static mut TRAMPOLINE_TABLES: [Table; TABLES] = [const { Table([0; ENTRIES]) }; TABLES];

/// CR3 of the kernel's page tables (the boot PML4), for each CPU's entry record.
static mut KERNEL_CR3: u64 = 0;

unsafe extern "C" {
    static __trampoline_text_start: u8;
    static __trampoline_text_end: u8;
    static __trampoline_data_start: u8;
    static __trampoline_data_end: u8;
}

/// Physical address of a static in the kernel image.
fn physical<T>(item: *const T) -> u64 {
    item as u64 - KERNEL_VMA
}

/// Builds the trampoline's tables and records the kernel's page tables (`kernel_pml4`) for
/// the entry stubs. Boot only; stops the kernel if the trampoline's pages need more tables
/// than [`TABLES`] provides (a link-layout bug, not reachable from user input).
pub fn init(kernel_pml4: u64) {
    // Linker symbols: only their addresses are used.
    let ranges = [
        (addr_of!(__trampoline_text_start) as u64, addr_of!(__trampoline_text_end) as u64, PRESENT),
        (addr_of!(__trampoline_data_start) as u64, addr_of!(__trampoline_data_end) as u64, PRESENT | WRITABLE | NO_EXECUTE),
    ];
    // SAFETY: single-threaded boot, before any user address space exists; nothing else
    // references the tables.
    let tables = unsafe { &mut *addr_of_mut!(TRAMPOLINE_TABLES) };
    let table_address = |number: usize| user_only_pml4() + (number * core::mem::size_of::<Table>()) as u64;
    let directory_slot = index(ranges[0].0, 3);
    tables[0].0[index(ranges[0].0, 4)] = table_address(1) | PRESENT | WRITABLE;
    tables[1].0[directory_slot] = table_address(2) | PRESENT | WRITABLE;
    let mut next_table = 3;
    for (start, end, flags) in ranges {
        for page in (start..end).step_by(4096) {
            assert!(index(page, 3) == directory_slot, "kpti: the trampoline's pages span more than 1 GiB (link.ld)");
            let slot = index(page, 2);
            if tables[2].0[slot] == 0 {
                assert!(next_table < TABLES, "kpti: the trampoline's pages need more than {} page tables (link.ld)", TABLES - 3);
                tables[2].0[slot] = table_address(next_table) | PRESENT | WRITABLE;
                next_table += 1;
            }
            let table = ((tables[2].0[slot] & ADDRESS_MASK) - table_address(0)) as usize / core::mem::size_of::<Table>();
            tables[table].0[index(page, 1)] = physical(page as *const u8) | flags;
        }
    }
    // SAFETY: as above; read by each CPU's `entry::init`, after this.
    unsafe { *addr_of_mut!(KERNEL_CR3) = kernel_pml4 };
}

/// CR3 of the kernel's page tables, for the entry stubs (each CPU's entry record).
pub fn kernel_cr3() -> u64 {
    // SAFETY: written once at boot, before any CPU's `entry::init`.
    unsafe { *addr_of!(KERNEL_CR3) }
}

/// The PML4 with the trampoline and no user mappings: the address space of a thread without
/// a VSpace, and the kernel half every user PML4 copies.
pub fn user_only_pml4() -> u64 {
    physical(addr_of!(TRAMPOLINE_TABLES))
}
