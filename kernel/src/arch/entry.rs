//! Entering the kernel from user mode and leaving it again.
//!
//! The register save area of the running thread's TCB *is* the entry stack:
//! [`set_current_context`] points just past the thread's [`TrapFrame`], and the `syscall`
//! stub and the trap stubs push the user registers straight into the TCB, in the
//! [`TrapFrame`] layout. With the Meltdown mitigation (`kpti.rs`, the default) the entry and
//! exit stubs are trampoline code: they switch CR3 between the user's page tables (which do
//! not map the TCB) and the kernel's, and the CPU pushes an interrupt's or exception's own
//! frame onto the trampoline's small stack (TSS.RSP0), from which the trap stub moves it into
//! the TCB. Without it (feature `no-kpti`) TSS.RSP0 is the TCB's save area itself. The stubs then switch to the kernel stack and call
//! Rust, which never returns: it leaves through [`restore_user_context`] for whichever thread
//! runs next. The kernel stack therefore starts empty on every entry.

use super::gdt;
use super::trap::TrapFrame;
use core::arch::global_asm;
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, Msr, SFMask};
use x86_64::registers::rflags::RFlags;

/// `vector` value recorded in a [`TrapFrame`] saved by the `syscall` entry.
pub const SYSCALL_VECTOR: u64 = 0x100;

/// RFLAGS bits a thread keeps when it returns to user mode: the ones user code can set
/// itself (CF, PF, AF, ZF, SF, TF, DF, OF, AC, ID), IF and the always-one bit 1. Everything
/// else is cleared on every exit, whatever path saved the frame (`syscall` saves the user's
/// RFLAGS from r11 as they are, and an interrupt frame holds them as the CPU found them):
/// NT would make `iretq` raise #GP in kernel mode, IOPL would open every I/O port, and VM,
/// RF, VIF and VIP have no meaning for a 64-bit thread.
pub const USER_RFLAGS: u64 = 0x0024_0FD7;

/// The `syscall` entry's switch to the kernel's page tables (the Meltdown mitigation,
/// `kpti.rs`), with RSP as the scratch register: the user's RSP is saved already.
#[cfg(not(feature = "no-kpti"))]
macro_rules! syscall_enter_kernel_tables {
    () => {
        "mov rsp, qword ptr gs:[8]\n mov cr3, rsp\n"
    };
}
/// Without the Meltdown mitigation the kernel's page tables are active already.
#[cfg(feature = "no-kpti")]
macro_rules! syscall_enter_kernel_tables {
    () => {
        ""
    };
}

/// `restore_user_context` (RDI: the frame) with the Meltdown mitigation: the save area is
/// kernel memory, absent from the user's page tables, so the `iretq` frame and the two
/// registers the switch needs (RAX for the CR3 value, RDI for the frame) are first copied to
/// the trampoline's stack; the other registers are loaded straight from the frame.
#[cfg(not(feature = "no-kpti"))]
macro_rules! leave_to_user {
    () => {
        "and qword ptr [rdi + 19 * 8], {user_rflags}  /* TrapFrame::rflags: see USER_RFLAGS */
    mov rsp, qword ptr gs:[48]          /* this CPU's entry stack (percpu.rs) */
    push qword ptr [rdi + 21 * 8]       /* SS */
    push qword ptr [rdi + 20 * 8]       /* RSP */
    push qword ptr [rdi + 19 * 8]       /* RFLAGS */
    push qword ptr [rdi + 18 * 8]       /* CS */
    push qword ptr [rdi + 17 * 8]       /* RIP */
    push qword ptr [rdi + 14 * 8]       /* rax */
    push qword ptr [rdi + 9 * 8]        /* rdi */
    mov r15, [rdi]
    mov r14, [rdi + 1 * 8]
    mov r13, [rdi + 2 * 8]
    mov r12, [rdi + 3 * 8]
    mov r11, [rdi + 4 * 8]
    mov r10, [rdi + 5 * 8]
    mov r9, [rdi + 6 * 8]
    mov r8, [rdi + 7 * 8]
    mov rbp, [rdi + 8 * 8]
    mov rsi, [rdi + 10 * 8]
    mov rdx, [rdi + 11 * 8]
    mov rcx, [rdi + 12 * 8]
    mov rbx, [rdi + 13 * 8]
    mov rax, qword ptr gs:[16]          /* this CPU's user CR3 */
    mov cr3, rax
    pop rdi
    pop rax
    swapgs
    iretq
"
    };
}
/// `restore_user_context` without the Meltdown mitigation: the registers are popped from
/// the frame and `iretq` reads the rest of it in place.
#[cfg(feature = "no-kpti")]
macro_rules! leave_to_user {
    () => {
        "mov rsp, rdi
    and qword ptr [rsp + 19 * 8], {user_rflags}   /* TrapFrame::rflags: see USER_RFLAGS */
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    swapgs
    iretq
"
    };
}

global_asm!(
    r#"
.section .trampoline.text, "ax"
.global syscall_entry
.type syscall_entry, @function
syscall_entry:
    swapgs                          /* GS: this CPU's record (percpu.rs) */
    mov qword ptr gs:[0], rsp       /* the user RSP */
"#,
    syscall_enter_kernel_tables!(),
    r#"
    mov rsp, qword ptr gs:[24]      /* the running thread's save area */
    push 0x1b                       /* user SS */
    push qword ptr gs:[0]
    push r11                        /* user RFLAGS */
    push 0x23                       /* user CS */
    bt rcx, 47                      /* return address non-canonical? (see below) */
    jc syscall_at_the_top
    push rcx                        /* user RIP */
    push 0                          /* error code */
    push 0x100                      /* vector: syscall */
"#,
    save_general_registers!(),
    r#"
    mov rdi, rsp
    mov rsp, qword ptr gs:[32]      /* this CPU's kernel stack */
    cld
    call syscall_from_user
    ud2

/* A `syscall` whose last byte is the last byte of the lower half: the return address
   0x8000_0000_0000 is not canonical, and no thread may ever be resumed there (`iretq`
   would raise #GP in kernel mode). The system call is not performed: the `syscall`
   instruction itself takes a #GP, saved as a user exception at its own address. */
syscall_at_the_top:
    push rcx
    sub qword ptr [rsp], 2          /* user RIP: the `syscall` instruction */
    push 0                          /* error code */
    push 13                         /* vector: #GP */
    jmp trap_user_frame

.global restore_user_context
restore_user_context:
"#,
    leave_to_user!(),
    r#"

.section .text
/* Idle: wait for an interrupt on an empty kernel stack. The interrupt arrives in kernel
   mode; its handler never returns here. */
.global idle_wait
idle_wait:
    mov rsp, qword ptr gs:[32]
    sti
1:  hlt
    jmp 1b
"#,
    user_rflags = const USER_RFLAGS,
);

unsafe extern "C" {
    fn syscall_entry();
    fn restore_user_context(frame: *const TrapFrame) -> !;
    fn idle_wait() -> !;
}

/// Prepares CPU `cpu` (running this) to enter and leave user mode: its entry record
/// (`percpu.rs`, with `kernel_stack_top` the top of its kernel stack) and GS base, and
/// `syscall`: entry point, segment selectors, and the flags cleared on entry.
///
/// # Safety
/// Call once per CPU, on that CPU, after its [`gdt::init`] (and, on an application
/// processor, after the boot CPU's `paging::init`).
pub unsafe fn init(cpu: usize, kernel_stack_top: u64) {
    #[cfg(not(feature = "no-kpti"))]
    let (kernel_cr3, user_cr3) = (super::kpti::kernel_cr3(), super::kpti::user_only_pml4());
    #[cfg(feature = "no-kpti")]
    let (kernel_cr3, user_cr3) = (super::paging::kernel_only(), super::paging::kernel_only());
    // SAFETY: writes CPU configuration registers and this CPU's own entry record, before
    // this CPU runs user code.
    unsafe {
        let entry_stack_top = super::percpu::init(cpu, kernel_cr3, user_cr3, kernel_stack_top);
        Efer::update(|flags| *flags |= EferFlags::SYSTEM_CALL_EXTENSIONS);
        LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
        SFMask::write(RFlags::INTERRUPT_FLAG | RFlags::TRAP_FLAG | RFlags::DIRECTION_FLAG | RFlags::ALIGNMENT_CHECK | RFlags::NESTED_TASK);
        // STAR: kernel CS/SS base 0x08; user base 0x10 (SS = 0x18|3, CS = 0x20|3).
        let star = (0x10u64 << 48) | ((gdt::KERNEL_CS as u64) << 32);
        Msr::new(0xC000_0081).write(star);
        #[cfg(not(feature = "no-kpti"))]
        gdt::set_kernel_entry_stack(entry_stack_top);
        #[cfg(feature = "no-kpti")]
        let _ = entry_stack_top;
    }
}

/// Makes `frame` (inside the TCB of the thread about to run) the place where the next
/// entry from user mode saves its registers.
#[inline(always)]
pub fn set_current_context(frame: *mut TrapFrame) {
    let top = frame as u64 + core::mem::size_of::<TrapFrame>() as u64;
    super::percpu::set_context_top(top);
    // Without the mitigation the CPU pushes an interrupt's frame straight into the TCB;
    // with it, onto the trampoline's stack (TSS.RSP0 is set once, in `init`).
    // SAFETY: `top` ends the running thread's save area.
    #[cfg(feature = "no-kpti")]
    unsafe {
        gdt::set_kernel_entry_stack(top)
    };
}

/// Leaves the kernel to user mode with the registers in `frame` (a TCB's register save
/// area, [`crate::state::TcbRef::context_ptr`]).
#[inline(always)]
pub fn return_to_user(frame: *const TrapFrame) -> ! {
    // The lock is released before the stub reads `frame`: a CPU that takes it next and
    // changes or destroys this thread stalls this one out of user mode first (`smp::stall`).
    super::smp::leave_kernel(true);
    // SAFETY: `frame` is a complete saved user context: user CS/SS from the kernel, RFLAGS
    // masked to USER_RFLAGS on the way out, and a canonical RIP: `syscall_entry` turns a
    // system call whose return address would not be canonical (the only way to get one)
    // into a #GP at the `syscall` instruction, `TcbWriteRegisters` refuses such addresses,
    // and faults and interrupts happen at instructions that were executed.
    unsafe { restore_user_context(frame) }
}

/// Loads the null selector into DS, ES, FS and GS. The kernel calls it whenever it passes to
/// another address space, so the selectors one domain loads never reach another (docs/abi.md:
/// segment registers). Their bases stay 0: user code has no way to set a base (no FSGSBASE, no MSR
/// access) and every GDT descriptor it may load has base 0. GS is loaded between two
/// `swapgs`, on the user's side: loading a selector clears the base it loads into, and the
/// kernel's GS base (this CPU's entry record, `percpu.rs`) must survive.
pub fn reset_user_segments() {
    // SAFETY: the kernel addresses memory through its flat 64-bit CS/SS only; loading the
    // null selector into the data segment registers is always allowed in ring 0; the two
    // `swapgs` leave the kernel's GS base where it was, with nothing in between using it.
    unsafe {
        core::arch::asm!(
            "mov ds, {0:x}", "mov es, {0:x}", "mov fs, {0:x}", "swapgs", "mov gs, {0:x}", "swapgs",
            in(reg) 0u64,
            options(nostack, preserves_flags),
        );
    }
}

/// Waits, with interrupts enabled, until an interrupt arrives (nothing is runnable).
pub fn idle() -> ! {
    super::smp::leave_kernel(false);
    // SAFETY: the idle loop runs on the empty kernel stack; the interrupt handler never
    // returns into it.
    unsafe { idle_wait() }
}
