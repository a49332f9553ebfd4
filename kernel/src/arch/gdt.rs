//! The kernel's own GDT and TSS, replacing the boot stub's minimal GDT.
//!
//! Selector order is fixed by SYSCALL/SYSRET: kernel code, kernel data, then user data and
//! user code (SYSRET loads SS = STAR[63:48] + 8 and CS = STAR[63:48] + 16).
//! The TSS supplies RSP0 (the stack the CPU switches to on entry from user mode) and IST1,
//! a separate stack for double faults so a kernel stack overflow is still reported.

use core::ptr::addr_of;
use tileos_kernel::acpi::MAX_CPUS;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::{PrivilegeLevel, VirtAddr};

/// Kernel code selector.
pub const KERNEL_CS: u16 = 0x08;
/// Kernel data/stack selector.
pub const KERNEL_SS: u16 = 0x10;
/// IST slot (1-based in the IDT, 0-based in the TSS array) used for double faults.
pub const DOUBLE_FAULT_IST: u16 = 1;

const DOUBLE_FAULT_STACK_SIZE: usize = 16 * 1024;

#[repr(align(16))]
struct Stack([u8; DOUBLE_FAULT_STACK_SIZE]);

// The CPU reads these while the user's page tables are active (the GDT and TSS on every
// entry from user mode, the double-fault stack if an entry fails), so they live on the
// trampoline's data pages, the kernel memory user address spaces map (`kpti.rs`).
// A GDT and a TSS per CPU (`smp.rs`), indexed by the kernel's CPU number (0: the boot
// CPU): a TSS is marked busy when loaded, so no two CPUs may share one. The boot CPU's
// double-fault stack is on the trampoline's pages (it may double-fault on user page
// tables); the application processors' are ordinary kernel memory, so the pages user
// address spaces map do not grow with the CPU count. Partial: an application processor
// that double-faults on a user's page tables (a broken entry stack: a kernel bug) resets
// the machine instead of reporting it.
#[unsafe(link_section = ".trampoline.data")]
static mut DOUBLE_FAULT_STACK: Stack = Stack([0; DOUBLE_FAULT_STACK_SIZE]);
static mut AP_DOUBLE_FAULT_STACKS: [Stack; MAX_CPUS - 1] = [const { Stack([0; DOUBLE_FAULT_STACK_SIZE]) }; MAX_CPUS - 1];
#[unsafe(link_section = ".trampoline.data")]
static mut TSS: [TaskStateSegment; MAX_CPUS] = [const { TaskStateSegment::new() }; MAX_CPUS];
#[unsafe(link_section = ".trampoline.data")]
static mut GDT: [GlobalDescriptorTable; MAX_CPUS] = [const { GlobalDescriptorTable::new() }; MAX_CPUS];

/// Builds and loads CPU `cpu`'s GDT and TSS, reloads every segment register and loads the
/// null LDT.
///
/// # Safety
/// Call once per CPU (`cpu` < [`MAX_CPUS`]), on that CPU, before it takes interrupts or
/// runs user mode.
pub unsafe fn init(cpu: usize) {
    // SAFETY: each CPU builds only its own entries, once, before anything else uses them.
    unsafe {
        let tss = &mut (*core::ptr::addr_of_mut!(TSS))[cpu];
        let stack = if cpu == 0 { addr_of!(DOUBLE_FAULT_STACK.0) } else { addr_of!(AP_DOUBLE_FAULT_STACKS[cpu - 1].0) };
        let stack_top = stack as u64 + DOUBLE_FAULT_STACK_SIZE as u64;
        tss.interrupt_stack_table[(DOUBLE_FAULT_IST - 1) as usize] = VirtAddr::new(stack_top);

        let gdt = &mut (*core::ptr::addr_of_mut!(GDT))[cpu];
        gdt.append(Descriptor::kernel_code_segment());
        gdt.append(Descriptor::kernel_data_segment());
        gdt.append(Descriptor::user_data_segment());
        gdt.append(Descriptor::user_code_segment());
        let tss_selector = gdt.append(Descriptor::tss_segment(&*addr_of!(TSS[cpu])));
        gdt.load();

        CS::set_reg(SegmentSelector::new(KERNEL_CS >> 3, PrivilegeLevel::Ring0));
        let data = SegmentSelector::new(KERNEL_SS >> 3, PrivilegeLevel::Ring0);
        SS::set_reg(data);
        DS::set_reg(data);
        ES::set_reg(data);
        load_tss(tss_selector);
        // No local descriptor table: LDTR holds the null selector, so a selector with the
        // table-indicator bit (an LDT selector) raises #GP in the thread that loads it. Left
        // as the boot loader set it, LDTR could name a table at a user-controlled address,
        // and a descriptor there (a call gate to kernel code) would be the user's to write.
        core::arch::asm!("lldt {0:x}", in(reg) 0u64, options(nostack, preserves_flags));
    }
}

/// Sets the stack this CPU switches to when user code traps into the kernel.
///
/// # Safety
/// `top` must be the end of a [`super::trap::TrapFrame`]-sized save area the kernel owns
/// (with the Meltdown mitigation: the trampoline's entry stack, mapped in every address space).
#[inline(always)]
pub unsafe fn set_kernel_entry_stack(top: u64) {
    // SAFETY: the CPU only reads the TSS on privilege changes, which cannot happen while
    // the kernel runs (interrupts disabled).
    unsafe { (*core::ptr::addr_of_mut!(TSS))[super::percpu::this_cpu()].privilege_stack_table[0] = VirtAddr::new(top) };
}
