//! Interrupt descriptor table and CPU exception handling.
//!
//! Every vector 0–31 has a small assembly stub that pushes a uniform [`TrapFrame`] (a zero
//! error code where the CPU pushes none, then the vector number, then all general-purpose
//! registers) and calls [`trap_entry`]. The stubs are trampoline code (`kpti.rs`): mapped in
//! every address space, they switch to the kernel's page tables on a trap from user mode. The kernel itself runs with interrupts disabled and
//! never expects an exception, so one taken in kernel mode is a kernel bug: it is reported
//! with vector, name, error code, RIP, CR2 and every register, and the machine stops (test
//! images end QEMU with [`GuestVerdict::KernelException`]).

use core::arch::global_asm;
use core::ptr::addr_of;
use tileos_abi::test_exit::GuestVerdict;
use x86_64::registers::control::Cr2;

use super::gdt::{DOUBLE_FAULT_IST, KERNEL_CS};
use crate::{arch::cpu, kprintln};

/// Registers saved on every trap, in the order the entry stub pushes them (lowest address
/// first), followed by the frame the CPU itself pushes. The same layout is a thread's saved
/// user context in its TCB.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
#[allow(missing_docs)] // register names
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Vector number pushed by the stub.
    pub vector: u64,
    /// CPU error code, or 0 for vectors without one.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Architectural names of exception vectors 0–31.
const EXCEPTION_NAMES: [&str; 32] = [
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "coprocessor segment overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack fault",
    "#GP general protection",
    "#PF page fault",
    "reserved 15",
    "#MF x87 floating point",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD floating point",
    "#VE virtualization",
    "#CP control protection",
    "reserved 22",
    "reserved 23",
    "reserved 24",
    "reserved 25",
    "reserved 26",
    "reserved 27",
    "#HV hypervisor injection",
    "#VC VMM communication",
    "#SX security",
    "reserved 31",
];

/// Name of an exception vector, for reports.
pub fn exception_name(vector: u64) -> &'static str {
    EXCEPTION_NAMES.get(vector as usize).copied().unwrap_or("interrupt")
}

// One entry stub per exception vector. The CPU pushes an error code only for vectors
// 8, 10–14, 17, 21, 29 and 30; the others push a zero so every frame has the same layout.
global_asm!(
    r#"
.macro TRAP_STUB vector, has_error
.global trap_stub_\vector
trap_stub_\vector:
.if \has_error == 0
    push 0
.endif
    push \vector
    jmp trap_common
.endm

.section .trampoline.text, "ax"
TRAP_STUB 0, 0
TRAP_STUB 1, 0
TRAP_STUB 2, 0
TRAP_STUB 3, 0
TRAP_STUB 4, 0
TRAP_STUB 5, 0
TRAP_STUB 6, 0
TRAP_STUB 7, 0
TRAP_STUB 8, 1
TRAP_STUB 9, 0
TRAP_STUB 10, 1
TRAP_STUB 11, 1
TRAP_STUB 12, 1
TRAP_STUB 13, 1
TRAP_STUB 14, 1
TRAP_STUB 15, 0
TRAP_STUB 16, 0
TRAP_STUB 17, 1
TRAP_STUB 18, 0
TRAP_STUB 19, 0
TRAP_STUB 20, 0
TRAP_STUB 21, 1
TRAP_STUB 22, 0
TRAP_STUB 23, 0
TRAP_STUB 24, 0
TRAP_STUB 25, 0
TRAP_STUB 26, 0
TRAP_STUB 27, 0
TRAP_STUB 28, 0
TRAP_STUB 29, 1
TRAP_STUB 30, 1
TRAP_STUB 31, 0
.irp vector, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,255
TRAP_STUB \vector, 0
.endr

.global trap_common
/* Saves the registers as a TrapFrame (RSP stays 16-byte aligned: the CPU aligns before
   pushing its 5 words, then error code, vector and 15 registers make 22 words). A trap from
   user mode first reaches the kernel's page tables and the thread's save area (see
   trap_enter_kernel_tables in mod.rs); `trap_user_frame` is entered with the CPU's frame,
   error code and vector at the top of that save area. */
trap_common:
    test byte ptr [rsp + 3 * 8], 3      /* saved CS, above vector, error code, RIP: from user mode? */
    jz trap_from_kernel
    swapgs                              /* GS: this CPU's record (percpu.rs) */
"#,
    trap_enter_kernel_tables!(),
    r#"
.global trap_user_frame
trap_user_frame:
"#,
    save_general_registers!(),
    r#"
    cld
    mov rdi, rsp
    mov rsp, qword ptr gs:[32]          /* this CPU's kernel stack */
    call user_trap_entry
    ud2
trap_from_kernel:
"#,
    save_general_registers!(),
    r#"
    cld
    mov rdi, rsp
    call trap_entry                     /* never returns: idle interrupts leave via the scheduler */
    ud2

.section .rodata
.align 8
.global trap_stub_table
trap_stub_table:
.irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad trap_stub_\vector
.endr
.global irq_stub_table
irq_stub_table:
.irp vector, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73
    .quad trap_stub_\vector
.endr
.global spurious_stub
spurious_stub:
    .quad trap_stub_255
"#
);

/// First interrupt vector: the LAPIC timer.
pub const TIMER_VECTOR: u64 = 32;
/// Vector of IOAPIC pin 0; pin `n` uses `IOAPIC_VECTOR_BASE + n`.
pub const IOAPIC_VECTOR_BASE: u64 = 33;
/// Number of IOAPIC pins routed.
pub const IOAPIC_PINS: u64 = 24;
/// Vector of MSI slot 0; slot `n` uses `MSI_VECTOR_BASE + n` (right after the pins).
pub const MSI_VECTOR_BASE: u64 = IOAPIC_VECTOR_BASE + IOAPIC_PINS;
/// Number of message-signalled interrupt vectors handed out by IRQ control.
pub const MSI_VECTORS: u64 = 16;
/// The interprocessor interrupt that makes a CPU enter the kernel and run its scheduler
/// (`smp.rs`: a thread queued there, a stall, a TLB shootdown); right after the MSI vectors.
pub const RESCHEDULE_VECTOR: u64 = MSI_VECTOR_BASE + MSI_VECTORS;
/// The LAPIC's spurious-interrupt vector.
pub const SPURIOUS_VECTOR: u64 = 255;

unsafe extern "C" {
    /// Addresses of the 32 exception entry stubs, by vector (built by the assembly above).
    static trap_stub_table: [u64; 32];
    /// Addresses of the interrupt stubs for vectors 32–73 (timer, IOAPIC pins, MSI,
    /// reschedule).
    static irq_stub_table: [u64; 42];
    /// Address of the spurious-interrupt stub.
    static spurious_stub: u64;
}

/// One 16-byte long-mode IDT gate.
#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attributes: u8,
    offset_middle: u16,
    offset_high: u32,
    reserved: u32,
}

impl Gate {
    const MISSING: Gate = Gate { offset_low: 0, selector: 0, ist: 0, type_attributes: 0, offset_middle: 0, offset_high: 0, reserved: 0 };

    /// A present interrupt gate (interrupts stay disabled in the handler), DPL 0.
    fn interrupt(handler: u64, ist: u8) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector: KERNEL_CS,
            ist,
            type_attributes: 0x8E,
            offset_middle: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

/// The IDT, on the trampoline's data pages: the CPU reads it on every entry from user mode,
/// while the user's page tables are active (`kpti.rs`).
#[unsafe(link_section = ".trampoline.data")]
static mut IDT: Idt = Idt([Gate::MISSING; 256]);

/// Fills the IDT with the exception stubs and loads it.
///
/// # Safety
/// Call once on the boot CPU after [`super::gdt::init`] (the gates name its code selector).
pub unsafe fn init() {
    // SAFETY: single-threaded boot; the table is 'static and never moves.
    unsafe {
        let idt = &mut *core::ptr::addr_of_mut!(IDT);
        let stubs = &*addr_of!(trap_stub_table);
        for (vector, &stub) in stubs.iter().enumerate() {
            let ist = if vector == 8 { DOUBLE_FAULT_IST as u8 } else { 0 };
            idt.0[vector] = Gate::interrupt(stub, ist);
        }
        for (index, &stub) in (*addr_of!(irq_stub_table)).iter().enumerate() {
            idt.0[TIMER_VECTOR as usize + index] = Gate::interrupt(stub, 0);
        }
        idt.0[SPURIOUS_VECTOR as usize] = Gate::interrupt(*addr_of!(spurious_stub), 0);
        load();
    }
}

/// Loads the IDT (shared by every CPU) into this CPU.
///
/// # Safety
/// After [`init`] on the boot CPU, and after this CPU's [`super::gdt::init`].
pub unsafe fn load() {
    // SAFETY: the table is 'static, filled by `init`, and never moves.
    unsafe {
        let pointer = x86_64::structures::DescriptorTablePointer {
            limit: (core::mem::size_of::<Idt>() - 1) as u16,
            base: x86_64::VirtAddr::new(addr_of!(IDT) as u64),
        };
        x86_64::instructions::tables::lidt(&pointer);
    }
}

/// Called by `trap_common` for a trap taken in kernel mode: an interrupt while idle, or
/// an exception, which is a kernel bug.
#[unsafe(no_mangle)]
extern "C" fn trap_entry(frame: &mut TrapFrame) -> ! {
    if frame.vector >= TIMER_VECTOR {
        crate::syscall::interrupt_while_idle(frame.vector);
    }
    report_kernel_exception(frame);
    cpu::finish(GuestVerdict::KernelException)
}

/// Called by `trap_common`, on the kernel stack, for a trap from user mode; `frame` is the
/// register save area in the current thread's TCB.
#[unsafe(no_mangle)]
extern "C" fn user_trap_entry(frame: &mut TrapFrame) -> ! {
    crate::syscall::user_trap(frame.vector, frame.error_code, Cr2::read_raw())
}

/// Prints the full report of an exception taken in kernel mode.
fn report_kernel_exception(frame: &TrapFrame) {
    let cr2 = Cr2::read_raw();
    kprintln!();
    kprintln!("KERNEL EXCEPTION: vector {} ({}) error code {:#x}", frame.vector, exception_name(frame.vector), frame.error_code);
    kprintln!("  rip {:#018x}  cs {:#x}  rflags {:#x}", frame.rip, frame.cs, frame.rflags);
    kprintln!("  rsp {:#018x}  ss {:#x}  cr2 {:#018x}", frame.rsp, frame.ss, cr2);
    kprintln!("  rax {:#018x}  rbx {:#018x}  rcx {:#018x}", frame.rax, frame.rbx, frame.rcx);
    kprintln!("  rdx {:#018x}  rsi {:#018x}  rdi {:#018x}", frame.rdx, frame.rsi, frame.rdi);
    kprintln!("  rbp {:#018x}  r8  {:#018x}  r9  {:#018x}", frame.rbp, frame.r8, frame.r9);
    kprintln!("  r10 {:#018x}  r11 {:#018x}  r12 {:#018x}", frame.r10, frame.r11, frame.r12);
    kprintln!("  r13 {:#018x}  r14 {:#018x}  r15 {:#018x}", frame.r13, frame.r14, frame.r15);
    kprintln!("kernel stopped.");
}
