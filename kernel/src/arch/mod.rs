//! x86_64 hardware glue: boot stub, descriptor tables, traps, serial log, memory layout.
//! This is where the kernel's `unsafe` lives; logic belongs in the library modules.
//! The Meltdown mitigation (kernel page-table isolation, `kpti.rs`) is on unless the kernel
//! is built with the `no-kpti` feature.

/// The assembly that saves the 15 general-purpose registers as the low part of a
/// [`trap::TrapFrame`] (pushed in reverse field order: `rax` first, `r15` last, at the
/// lowest address). Shared by the `syscall` entry (`entry.rs`) and the trap stubs
/// (`trap.rs`), so the two save paths cannot drift apart from the frame layout.
macro_rules! save_general_registers {
    () => {
        "push rax\n push rbx\n push rcx\n push rdx\n push rsi\n push rdi\n push rbp\n push r8\n push r9\n push r10\n push r11\n push r12\n push r13\n push r14\n push r15\n"
    };
}

/// The assembly a trap stub runs, for a trap from user mode, between the CPU's frame and
/// the general registers: with the Meltdown mitigation (`kpti.rs`) the CPU pushed its frame
/// (and the stub the error code and vector) on the trampoline's entry stack, in the user's
/// address space; this switches to the kernel's page tables and moves those seven words to
/// the top of the current thread's register save area. Without it, the CPU pushed them
/// there already (TSS.RSP0) and there is nothing to do.
#[cfg(not(feature = "no-kpti"))]
macro_rules! trap_enter_kernel_tables {
    () => {
        "push rax
    mov rax, qword ptr gs:[8]           /* kernel CR3 (percpu.rs) */
    mov cr3, rax
    mov rax, rsp
    mov rsp, qword ptr gs:[24]          /* the running thread's save area */
    push qword ptr [rax + 7 * 8]        /* SS */
    push qword ptr [rax + 6 * 8]        /* RSP */
    push qword ptr [rax + 5 * 8]        /* RFLAGS */
    push qword ptr [rax + 4 * 8]        /* CS */
    push qword ptr [rax + 3 * 8]        /* RIP */
    push qword ptr [rax + 2 * 8]        /* error code */
    push qword ptr [rax + 1 * 8]        /* vector */
    mov rax, [rax]
"
    };
}
/// Without the Meltdown mitigation: nothing (see the mitigation's version).
#[cfg(feature = "no-kpti")]
macro_rules! trap_enter_kernel_tables {
    () => {
        ""
    };
}

pub mod apic;
pub mod boot;
pub mod cpu;
pub mod entry;
pub mod gdt;
pub mod iommu;
#[cfg(not(feature = "no-kpti"))]
pub mod kpti;
pub mod memory;
pub mod paging;
pub mod percpu;
pub mod serial;
pub mod smp;
pub mod trap;
