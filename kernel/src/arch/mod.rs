//! x86_64 hardware glue: boot stub, descriptor tables, traps, serial log, memory layout.
//! This is where the kernel's `unsafe` lives; logic belongs in the library modules.

/// The assembly that saves the 15 general-purpose registers as the low part of a
/// [`trap::TrapFrame`] (pushed in reverse field order: `rax` first, `r15` last, at the
/// lowest address). Shared by the `syscall` entry (`entry.rs`) and the trap stubs
/// (`trap.rs`), so the two save paths cannot drift apart from the frame layout.
macro_rules! save_general_registers {
    () => {
        "push rax\n push rbx\n push rcx\n push rdx\n push rsi\n push rdi\n push rbp\n push r8\n push r9\n push r10\n push r11\n push r12\n push r13\n push r14\n push r15\n"
    };
}

pub mod apic;
pub mod boot;
pub mod cpu;
pub mod entry;
pub mod gdt;
pub mod memory;
pub mod paging;
pub mod serial;
pub mod trap;
