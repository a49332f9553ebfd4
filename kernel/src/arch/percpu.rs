//! Per-CPU entry state, reached through the GS base (docs/architecture.md, "Concurrency").
//!
//! Each CPU has one [`CpuEntry`] record on the trampoline's data pages (`kpti.rs`: mapped,
//! supervisor-only, in every address space, since the `syscall` entry reads it before it
//! leaves the user's page tables). While the kernel runs, GS's base is this CPU's record;
//! while user code runs, it is 0 and the record's address waits in `IA32_KERNEL_GS_BASE`:
//! every entry from user mode starts with `swapgs` and every exit to user mode ends with
//! one. User code cannot set a GS base of its own (no FSGSBASE, no MSR access, every GDT
//! descriptor it may load has base 0), so nothing it does reaches the record.
//!
//! The stubs use the fields by their byte offsets ([`USER_RSP`] and the constants below;
//! the assembly writes them as numbers, checked against the layout here). The kernel reads
//! and writes this CPU's fields with one GS-relative instruction each, as it read and wrote
//! statics before SMP: its number, the address of its `state::Cpu`, its FPU owner, its user
//! CR3 and the end of the running thread's save area.

use core::ptr::{addr_of, addr_of_mut};
use tileos_kernel::acpi::MAX_CPUS;
use x86_64::registers::model_specific::Msr;

/// Bytes of the entry stack the CPU pushes an interrupt's frame on under the Meltdown
/// mitigation (TSS.RSP0), before the trap stub moves it into the TCB.
const ENTRY_STACK_SIZE: usize = 256;

/// One CPU's entry state (offsets in the comments are the ones the stubs use).
#[repr(C, align(64))]
pub struct CpuEntry {
    /// 0: the user RSP of a `syscall`, saved before the stub has a stack.
    user_rsp: u64,
    /// 8: CR3 of the kernel's page tables (the same on every CPU).
    kernel_cr3: u64,
    /// 16: CR3 the exit stub loads: the address space of the thread about to run here.
    user_cr3: u64,
    /// 24: the end of the running thread's register save area (its TCB's `TrapFrame`).
    context_top: u64,
    /// 32: the top of this CPU's kernel stack.
    kernel_stack_top: u64,
    /// 40: the kernel's number of this CPU (0: the boot CPU).
    cpu: u64,
    /// 48: the top of [`CpuEntry::entry_stack`].
    entry_stack_top: u64,
    /// 56: the address of this CPU's `state::Cpu` (running thread, ready queues, charging).
    cpu_state: u64,
    /// 64: the thread whose FPU state is live in this CPU (0: none; `state::fpu_owner`).
    fpu_owner: u64,
    _reserved: [u64; 7],
    /// 128: the Meltdown mitigation's entry stack.
    entry_stack: [u8; ENTRY_STACK_SIZE],
}

/// Offset of [`CpuEntry::user_rsp`].
pub const USER_RSP: usize = 0;
/// Offset of [`CpuEntry::kernel_cr3`].
pub const KERNEL_CR3: usize = 8;
/// Offset of [`CpuEntry::user_cr3`].
pub const USER_CR3: usize = 16;
/// Offset of [`CpuEntry::context_top`].
pub const CONTEXT_TOP: usize = 24;
/// Offset of [`CpuEntry::kernel_stack_top`].
pub const KERNEL_STACK_TOP: usize = 32;
/// Offset of [`CpuEntry::cpu`].
pub const CPU: usize = 40;
/// Offset of [`CpuEntry::entry_stack_top`].
pub const ENTRY_STACK_TOP: usize = 48;
/// Offset of [`CpuEntry::cpu_state`].
const CPU_STATE: usize = 56;
/// Offset of [`CpuEntry::fpu_owner`].
const FPU_OWNER: usize = 64;

const _: () = {
    assert!(core::mem::offset_of!(CpuEntry, user_rsp) == USER_RSP);
    assert!(core::mem::offset_of!(CpuEntry, kernel_cr3) == KERNEL_CR3);
    assert!(core::mem::offset_of!(CpuEntry, user_cr3) == USER_CR3);
    assert!(core::mem::offset_of!(CpuEntry, context_top) == CONTEXT_TOP);
    assert!(core::mem::offset_of!(CpuEntry, kernel_stack_top) == KERNEL_STACK_TOP);
    assert!(core::mem::offset_of!(CpuEntry, cpu) == CPU);
    assert!(core::mem::offset_of!(CpuEntry, entry_stack_top) == ENTRY_STACK_TOP);
    assert!(core::mem::offset_of!(CpuEntry, cpu_state) == CPU_STATE);
    assert!(core::mem::offset_of!(CpuEntry, fpu_owner) == FPU_OWNER);
};

#[unsafe(link_section = ".trampoline.data")]
static mut CPU_ENTRY: [CpuEntry; MAX_CPUS] = records();

/// The records before `init`: each knows its CPU's number.
const fn records() -> [CpuEntry; MAX_CPUS] {
    let mut records = [const {
        CpuEntry {
            user_rsp: 0,
            kernel_cr3: 0,
            user_cr3: 0,
            context_top: 0,
            kernel_stack_top: 0,
            cpu: 0,
            entry_stack_top: 0,
            cpu_state: 0,
            fpu_owner: 0,
            _reserved: [0; 7],
            entry_stack: [0; ENTRY_STACK_SIZE],
        }
    }; MAX_CPUS];
    let mut cpu = 0;
    while cpu < MAX_CPUS {
        records[cpu].cpu = cpu as u64;
        cpu += 1;
    }
    records
}

/// `IA32_GS_BASE`: GS's base while the kernel runs.
const GS_BASE: u32 = 0xC000_0101;
/// `IA32_KERNEL_GS_BASE`: the base `swapgs` exchanges it with.
const KERNEL_GS_BASE: u32 = 0xC000_0102;

/// Fills CPU `cpu`'s record (GS names it already: [`load`]); returns the top of its entry
/// stack.
///
/// # Safety
/// Once per CPU, on that CPU, in kernel mode before it enters user mode; `cpu` <
/// [`MAX_CPUS`]; `kernel_stack_top` the top of the CPU's own kernel stack.
pub unsafe fn init(cpu: usize, kernel_cr3: u64, user_cr3: u64, kernel_stack_top: u64) -> u64 {
    // SAFETY: each CPU writes only its own record, before anything reads it.
    unsafe {
        let record = &mut (*addr_of_mut!(CPU_ENTRY))[cpu];
        record.kernel_cr3 = kernel_cr3;
        record.user_cr3 = user_cr3;
        record.kernel_stack_top = kernel_stack_top;
        record.cpu = cpu as u64;
        record.entry_stack_top = addr_of!(record.entry_stack) as u64 + ENTRY_STACK_SIZE as u64;
        record.entry_stack_top
    }
}

/// Points GS at CPU `cpu`'s record and names its `state::Cpu` (at `cpu_state`) there: the
/// first thing each CPU does in Rust, since the kernel log reaches per-CPU state
/// ([`this_cpu`], [`fpu_owner`]; the record's number is its index from the start).
///
/// # Safety
/// On CPU `cpu` itself, in kernel mode, `cpu` < [`MAX_CPUS`].
pub unsafe fn load(cpu: usize, cpu_state: u64) {
    // SAFETY: writes this CPU's own record and GS base MSRs; the record is a static.
    unsafe {
        (*addr_of_mut!(CPU_ENTRY[cpu])).cpu_state = cpu_state;
        Msr::new(GS_BASE).write(addr_of!(CPU_ENTRY[cpu]) as u64);
        Msr::new(KERNEL_GS_BASE).write(0);
    }
}

/// Reads this CPU's word at `offset` of its record; `pure, nomem`: the words read this way
/// never change while the kernel runs on this CPU (its number, its `state::Cpu`), so the
/// compiler may merge the reads (`readonly` instead doubled the GS loads on the hot paths).
/// The compiler may also move such a read earlier within a function, so it must not be
/// reachable in the one function that runs before [`load`] on a CPU: `kmain` and
/// `smp_ap_main` call `load` first (their compiled code was checked: every GS access
/// follows the `wrmsr`).
macro_rules! constant_word {
    ($offset:literal) => {{
        let word: u64;
        // SAFETY: GS's base is this CPU's record whenever the kernel runs (after `load`),
        // and the word at this offset is written only by `load`, before it is read.
        unsafe {
            core::arch::asm!(concat!("mov {}, qword ptr gs:[", $offset, "]"), out(reg) word, options(nostack, pure, nomem, preserves_flags))
        };
        word
    }};
}

/// Reads this CPU's word at `offset` of its record.
macro_rules! read_word {
    ($offset:literal) => {{
        let word: u64;
        // SAFETY: GS's base is this CPU's record whenever the kernel runs (after `load`);
        // only this CPU writes the word while its kernel runs (under the big kernel lock).
        unsafe { core::arch::asm!(concat!("mov {}, qword ptr gs:[", $offset, "]"), out(reg) word, options(nostack, readonly, preserves_flags)) };
        word
    }};
}

/// Writes `value` to this CPU's word at `offset` of its record.
macro_rules! write_word {
    ($offset:literal, $value:expr) => {{
        let value: u64 = $value;
        // SAFETY: as for `read_word`: this CPU's own record.
        unsafe { core::arch::asm!(concat!("mov qword ptr gs:[", $offset, "], {}"), in(reg) value, options(nostack, preserves_flags)) };
    }};
}

/// The kernel's number of the CPU this runs on.
#[inline(always)]
pub fn this_cpu() -> usize {
    constant_word!("40") as usize
}

/// The address of this CPU's `state::Cpu` (one load: the hot paths reach the running thread
/// and the ready queues through it).
#[inline(always)]
pub fn cpu_state() -> u64 {
    constant_word!("56")
}

/// The thread whose FPU state is live in this CPU (0: none).
#[inline(always)]
pub fn fpu_owner() -> u64 {
    read_word!("64")
}

/// Records the thread whose FPU state is live in this CPU.
#[inline(always)]
pub fn set_fpu_owner(thread: u64) {
    write_word!("64", thread)
}

/// Forgets `thread` (destroyed) as the FPU owner of every CPU: its live state is dropped.
pub fn forget_fpu_owner(thread: u64) {
    let records = addr_of_mut!(CPU_ENTRY) as *mut CpuEntry;
    for cpu in 0..MAX_CPUS {
        // SAFETY: `cpu` < MAX_CPUS, within the array; under the big kernel lock, which every
        // CPU holds while it reads or writes its FPU owner; plain reads and writes, no
        // reference.
        unsafe {
            let owner = addr_of_mut!((*records.add(cpu)).fpu_owner);
            if core::ptr::read_volatile(owner) == thread {
                core::ptr::write_volatile(owner, 0);
            }
        }
    }
}

/// The address space this CPU's exit stub enters.
#[inline(always)]
pub fn user_cr3() -> u64 {
    read_word!("16")
}

/// Makes `pml4` the address space this CPU's exit stub enters.
#[inline(always)]
pub fn set_user_cr3(pml4: u64) {
    write_word!("16", pml4)
}

/// The address space CPU `cpu`'s exit stub enters (read under the big kernel lock by the
/// CPU that holds it: the other CPU writes it only while it holds the lock).
pub fn user_cr3_of(cpu: usize) -> u64 {
    // SAFETY: a plain read of another CPU's word, serialised by the big kernel lock.
    unsafe { core::ptr::read_volatile(addr_of!(CPU_ENTRY[cpu].user_cr3)) }
}

/// Makes `top` the end of the register save area this CPU's next entry from user mode
/// saves into.
#[inline(always)]
pub fn set_context_top(top: u64) {
    write_word!("24", top)
}

/// Makes `pml4` the address space CPU `cpu`'s exit stub enters (under the big kernel lock,
/// while that CPU is out of user mode: `smp::leave_remotely`).
pub fn set_user_cr3_of(cpu: usize, pml4: u64) {
    // SAFETY: a plain write of another CPU's word, serialised by the big kernel lock.
    unsafe { core::ptr::write_volatile(addr_of_mut!(CPU_ENTRY[cpu].user_cr3), pml4) }
}
