//! Application processors (docs/architecture.md, "Concurrency"): found in the ACPI MADT
//! (`tileos_kernel::acpi`) and started with INIT-SIPI-SIPI through a real-mode trampoline
//! page below 1 MiB, which takes each one through protected mode into long mode and into
//! [`smp_ap_main`] on a kernel stack of its own. There the processor loads its own GDT and
//! TSS (`gdt.rs`), the shared IDT and the kernel's page tables, enables its local APIC and
//! reports itself online.
//!
//! It then starts its timer, takes the big kernel lock and enters the scheduler, like the
//! boot CPU: it runs the threads whose affinity is its CPU number.
//!
//! Bring-up is a handshake: the boot CPU starts one processor at a time and waits (bounded)
//! until it is online before it starts the next; it holds the big kernel lock throughout,
//! so no application processor runs kernel code past its start-up until boot is over.
//!
//! Also here: the big kernel lock itself ([`enter_kernel`], [`leave_kernel`]), and what one
//! CPU does to another under it: a reschedule IPI ([`reschedule`]), a stall that waits until
//! the other CPU has left user mode ([`stall`]), and the TLB shootdown built on it
//! ([`shoot_down`]).

use super::{apic, gdt, memory::PHYS_MAP_BASE, trap};
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tileos_kernel::acpi::{self, MAX_CPUS};
use tileos_kernel::lock::TicketLock;
use tileos_kernel::multiboot::{MemoryKind, MultibootInfo};
use x86_64::registers::control::Cr3;

/// Physical address of the trampoline page (below 1 MiB, page-aligned: the start-up IPI's
/// vector is its page number). The root server's memory starts at 1 MiB, so the kernel
/// alone uses it.
const TRAMPOLINE: u64 = 0x8000;
/// Where the kernel image is mapped: virtual = `KERNEL_VMA` + physical (link.ld).
const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
/// Kernel stack of each application processor.
const STACK_SIZE: usize = 16 * 1024;
/// INIT IPI: delivery mode INIT, level assert.
const IPI_INIT: u32 = 0x4500;
/// Start-up IPI: delivery mode start-up, level assert; the low byte is the page number.
const IPI_STARTUP: u32 = 0x4600 | (TRAMPOLINE >> 12) as u32;
/// Wait after INIT (Intel SDM 8.4.4.1), microseconds.
const INIT_DELAY_US: u64 = 10_000;
/// Wait after each start-up IPI, microseconds.
const STARTUP_DELAY_US: u64 = 200;
/// How long the boot CPU waits for a started processor to report itself online,
/// microseconds (generous: under QEMU without `-icount` the guest's clock is the host's,
/// and a loaded host may run the new virtual CPU late).
const ONLINE_TIMEOUT_US: u64 = 1_000_000;

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

/// Kernel stacks of the application processors (CPU `n` uses `STACKS[n - 1]`).
static mut STACKS: [Stack; MAX_CPUS - 1] = [const { Stack([0; STACK_SIZE]) }; MAX_CPUS - 1];

#[repr(C, align(4096))]
struct Table([u64; 512]);

/// The page tables an application processor enables paging with: the kernel's, plus the
/// identity map of low memory (PML4 slot 0 = the direct map's slot 256) that the
/// trampoline's long-mode code runs in until it jumps to the kernel's addresses.
static mut START_PML4: Table = Table([0; 512]);

/// CR3 of the kernel's own page tables, loaded by each processor as it leaves the trampoline.
static KERNEL_CR3: AtomicU64 = AtomicU64::new(0);
/// Local APIC ID each CPU read from its own local APIC, plus one (0: not online).
static ONLINE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// How many CPUs are online (numbered 0 to this minus one); 1 until bring-up ends.
static CPUS_ONLINE: AtomicUsize = AtomicUsize::new(1);
/// Whether more than one CPU may run the kernel: set once at boot, before the first
/// application processor is started, and never cleared. While it is clear the boot CPU runs
/// alone and the entries take no lock and keep no `IN_USER` flag (docs/architecture.md,
/// "Concurrency": a compare with memory and a branch at each entry and exit). A plain
/// `bool`, not an atomic, so that the compare reads memory directly: it is written once, by
/// the boot CPU before it sends the first start-up IPI, and only read afterwards.
static mut SHARED: bool = false;
/// The big kernel lock (docs/architecture.md, "Concurrency").
static LOCK: TicketLock = TicketLock::new();
/// For each CPU: it is in user mode, or on its way there with the lock released. Cleared
/// by the CPU itself as it enters the kernel, before it waits for the lock (its registers
/// are saved by then).
static IN_USER: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Without the Meltdown mitigation, for each CPU: another CPU changed the address space it
/// runs in, or shot down its translations: it reloads CR3 as it takes the lock. (With the
/// mitigation every exit to user mode loads CR3, which flushes the TLB: no PCID.)
#[cfg(feature = "no-kpti")]
static RELOAD: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Fixed delivery, level assert: the low word of a reschedule IPI.
const IPI_RESCHEDULE: u32 = 0x4000 | trap::RESCHEDULE_VECTOR as u32;

/// Takes the big kernel lock: the first thing every kernel entry does (after the stub saved
/// the registers). Records that this CPU has left user mode first, so a CPU that stalls it
/// ([`stall`]) stops waiting. Returns whether the kernel is shared ([`shared`]): only then
/// may another CPU have changed this CPU's running thread before the lock was taken.
#[inline(always)]
pub fn enter_kernel() -> bool {
    if !shared() {
        return false;
    }
    let cpu = super::percpu::this_cpu();
    IN_USER[cpu].store(false, Ordering::Release);
    LOCK.acquire();
    #[cfg(feature = "no-kpti")]
    if RELOAD[cpu].swap(false, Ordering::Relaxed) {
        super::paging::reload();
    }
    true
}

/// Releases the big kernel lock: the last thing before the exit stub (`to_user`) or the
/// idle loop.
#[inline(always)]
pub fn leave_kernel(to_user: bool) {
    if !shared() {
        return;
    }
    if to_user {
        IN_USER[super::percpu::this_cpu()].store(true, Ordering::Relaxed);
    }
    LOCK.release();
}

/// Whether more than one CPU may run the kernel (see [`SHARED`]): when not, nothing another
/// CPU does needs checking for, stalling or shooting down.
#[inline(always)]
pub fn shared() -> bool {
    // SAFETY: a plain read of a word written once, before any other CPU runs (see SHARED).
    unsafe { *addr_of!(SHARED) }
}

/// How many CPUs are online.
#[inline(always)]
pub fn online() -> usize {
    CPUS_ONLINE.load(Ordering::Relaxed)
}

/// Sends CPU `cpu` (online, not this one) a reschedule IPI: it enters the kernel (as soon
/// as it leaves user mode or its idle loop takes interrupts) and runs its scheduler.
pub fn reschedule(cpu: usize) {
    let apic_id = ONLINE[cpu].load(Ordering::Relaxed).wrapping_sub(1) as u8;
    if !apic::send_ipi(apic_id, IPI_RESCHEDULE) {
        crate::kprintln!("smp: reschedule IPI to cpu {cpu} not delivered");
    }
}

/// Makes CPU `cpu` (not this one) leave user mode and waits until it has: afterwards its
/// running thread's registers are in its TCB and it waits for the lock this CPU holds, on
/// the kernel's page tables (with the Meltdown mitigation). Returns at once if it is not
/// in user mode. The wait is bounded by the hardware: a CPU in user mode takes the
/// interrupt at its next instruction (user code cannot disable interrupts).
pub fn stall(cpu: usize) {
    if !IN_USER[cpu].load(Ordering::Acquire) {
        return;
    }
    reschedule(cpu);
    while IN_USER[cpu].load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

/// TLB shootdown: every other CPU whose current address space is `pml4` is stalled out of
/// user mode, so none of them uses a translation of it cached before this kernel entry
/// (with the Meltdown mitigation its exit stub's CR3 load flushes them; without it, it
/// reloads CR3 as it takes the lock).
#[inline(always)]
pub fn shoot_down(pml4: u64) {
    if shared() {
        shoot_down_shared(pml4);
    }
}

/// [`shoot_down`] when other CPUs run the kernel.
#[inline(never)]
fn shoot_down_shared(pml4: u64) {
    let this = super::percpu::this_cpu();
    for cpu in (0..online()).filter(|&cpu| cpu != this) {
        if super::percpu::user_cr3_of(cpu) == pml4 {
            #[cfg(feature = "no-kpti")]
            RELOAD[cpu].store(true, Ordering::Relaxed);
            stall(cpu);
        }
    }
}

/// The address space `pml4` is being destroyed: every other CPU that has it current is
/// stalled out of user mode and takes `replacement` instead.
#[inline(always)]
pub fn leave_remotely(pml4: u64, replacement: u64) {
    if shared() {
        leave_remotely_shared(pml4, replacement);
    }
}

/// [`leave_remotely`] when other CPUs run the kernel.
#[inline(never)]
fn leave_remotely_shared(pml4: u64, replacement: u64) {
    let this = super::percpu::this_cpu();
    for cpu in (0..online()).filter(|&cpu| cpu != this) {
        if super::percpu::user_cr3_of(cpu) == pml4 {
            stall(cpu);
            super::percpu::set_user_cr3_of(cpu, replacement);
            #[cfg(feature = "no-kpti")]
            RELOAD[cpu].store(true, Ordering::Relaxed);
        }
    }
}

/// Offsets in the trampoline page of its data: the GDT it loads, the GDT pointer, and the
/// four parameter words the boot CPU fills before each start-up IPI (`.org` places each one
/// exactly there; the code before them must stay shorter than [`GDT_OFFSET`]).
const GDT_OFFSET: u64 = 0x100;
const GDT_POINTER_OFFSET: u64 = 0x120;
const CR3_OFFSET: u64 = 0x128;
const STACK_OFFSET: u64 = 0x130;
const ENTRY_OFFSET: u64 = 0x138;
const CPU_OFFSET: u64 = 0x140;
/// Bytes of the trampoline copied to its page.
const TRAMPOLINE_LENGTH: u64 = 0x148;

// The trampoline: assembled here, copied to TRAMPOLINE at boot, entered there in real mode
// with CS = TRAMPOLINE >> 4 and IP = 0. Every address in it is TRAMPOLINE plus an offset
// from its start, so it runs only at that address.
core::arch::global_asm!(
    r#"
.section .rodata.smp_trampoline, "a"
.balign 16
.global smp_trampoline_start
smp_trampoline_start:
.code16
    cli
    cld
    mov ax, cs
    mov ds, ax
    lgdt [{gdt_pointer}]
    mov eax, cr0
    or eax, 1                           /* protection enable */
    mov cr0, eax
    .byte 0x66, 0xEA                    /* far jump, 32-bit offset: to 32-bit code */
    .long {base} + (smp_protected - smp_trampoline_start)
    .word 0x08
.code32
smp_protected:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr4
    or eax, 0x6A0                       /* PAE | PGE | OSFXSR | OSXMMEXCPT, as the boot stub */
    mov cr4, eax
    mov eax, dword ptr [{base} + {cr3}]
    mov cr3, eax
    mov ecx, 0xC0000080                 /* EFER: long mode enable, no-execute enable */
    rdmsr
    or eax, 0x900
    wrmsr
    mov eax, cr0
    and eax, 0xFFFFFFFB                 /* clear EM */
    or eax, 0x80010002                  /* PG | WP | MP */
    mov cr0, eax
    .byte 0xEA                          /* far jump: to 64-bit code */
    .long {base} + (smp_long - smp_trampoline_start)
    .word 0x18
.code64
smp_long:
    mov rsp, qword ptr [{base} + {stack}]
    mov edi, dword ptr [{base} + {cpu}]
    mov rax, qword ptr [{base} + {entry}]
    xor ebp, ebp
    call rax                            /* smp_ap_main: never returns */
    ud2
.org {gdt}
    .quad 0
    .quad 0x00CF9A000000FFFF            /* 0x08: 32-bit code */
    .quad 0x00CF92000000FFFF            /* 0x10: data */
    .quad 0x00209A0000000000            /* 0x18: 64-bit code */
.org {gdt_pointer}
    .word 31
    .long {base} + {gdt}
.org {cr3}
    .quad 0
.org {stack}
    .quad 0
.org {entry}
    .quad 0
.org {cpu}
    .quad 0
.org {length}
"#,
    base = const TRAMPOLINE,
    gdt = const GDT_OFFSET,
    gdt_pointer = const GDT_POINTER_OFFSET,
    cr3 = const CR3_OFFSET,
    stack = const STACK_OFFSET,
    entry = const ENTRY_OFFSET,
    cpu = const CPU_OFFSET,
    length = const TRAMPOLINE_LENGTH,
);

unsafe extern "C" {
    static smp_trampoline_start: u8;
}

/// The trampoline page's word at `offset`, in the direct map.
fn in_trampoline_page(offset: u64) -> *mut u64 {
    (PHYS_MAP_BASE + TRAMPOLINE + offset) as *mut u64
}

/// Busy-waits `microseconds` by the time-stamp counter (its rate calibrated at boot).
fn delay(microseconds: u64) {
    let end = crate::state::timestamp() + apic::calibration().tsc_per_ms * microseconds / 1000;
    while crate::state::timestamp() < end {
        core::hint::spin_loop();
    }
}

/// Why the trampoline cannot be placed on its page, if it cannot.
fn trampoline_page_unusable(info: &MultibootInfo) -> Option<&'static str> {
    let (start, end) = (TRAMPOLINE, TRAMPOLINE + 4096);
    let available = info.memory.iter().any(|r| r.kind == MemoryKind::Available && r.base <= start && end <= r.base + r.length);
    if !available {
        return Some("its page 0x8000 is not available RAM in the memory map");
    }
    if info.modules.iter().any(|m| m.start < end && start < m.end) {
        return Some("a boot module lies on its page 0x8000");
    }
    None
}

/// Finds the processors and starts every application processor, one at a time. Logs each
/// one online (`smp: cpu N online apic=ID`) or why it is not, then `smp: online=N`; returns
/// how many CPUs are online, the boot CPU included. Boot only, on the boot CPU, after `apic::init`.
pub fn start_application_processors(info: &MultibootInfo) -> usize {
    let processors = match acpi::processors(&super::memory::DirectMap) {
        Ok(processors) => processors,
        Err(error) => {
            crate::kprintln!("smp: {error}: the boot CPU runs alone");
            return 1;
        }
    };
    let own_id = apic::local_id();
    ONLINE[0].store(u64::from(own_id) + 1, Ordering::Release);
    crate::kprintln!("smp: madt processors={} boot-apic={own_id}", processors.apic_ids.len());
    if processors.left_offline > 0 {
        crate::kprintln!("smp: {} more enabled processors left off (at most {MAX_CPUS} CPUs)", processors.left_offline);
    }
    if processors.apic_ids.len() > 1
        && let Some(reason) = trampoline_page_unusable(info)
    {
        crate::kprintln!("smp: application processors not started: {reason}");
        return 1;
    }
    prepare_trampoline();
    // From here on the kernel is shared: the boot CPU takes the big kernel lock and holds it
    // until it first leaves the kernel, so the processors it starts wait for boot to end.
    if processors.apic_ids.len() > 1 {
        // SAFETY: the one write, on the boot CPU, while no other CPU runs (see SHARED).
        unsafe { *addr_of_mut!(SHARED) = true };
        LOCK.acquire();
    }
    let mut online = 1;
    for &apic_id in processors.apic_ids.iter().filter(|&&id| id != own_id) {
        let cpu = online;
        match start(cpu, apic_id) {
            Ok(reported) => {
                crate::kprintln!("smp: cpu {cpu} online apic={reported}");
                online += 1;
            }
            Err(reason) => {
                // It may still start late and read the trampoline's parameters: starting
                // the next processor would hand it the same ones.
                crate::kprintln!("smp: processor apic={apic_id} not started: {reason}; no further processors started");
                break;
            }
        }
    }
    crate::kprintln!("smp: online={online}");
    CPUS_ONLINE.store(online, Ordering::Release);
    online
}

/// Copies the trampoline to its page and builds the start-up page tables.
fn prepare_trampoline() {
    let start = addr_of!(smp_trampoline_start);
    let (kernel_pml4, _) = Cr3::read();
    let kernel_pml4 = kernel_pml4.start_address().as_u64();
    KERNEL_CR3.store(kernel_pml4, Ordering::Release);
    // SAFETY: boot, one CPU: the trampoline page is the kernel's alone (checked against the
    // memory map and the modules; the root server's memory starts at 1 MiB), and START_PML4
    // is used by no CPU until the first start-up IPI.
    unsafe {
        super::memory::copy((PHYS_MAP_BASE + TRAMPOLINE) as *mut u8, start, TRAMPOLINE_LENGTH as usize);
        let pml4 = &mut *addr_of_mut!(START_PML4);
        let kernel = &*((PHYS_MAP_BASE + kernel_pml4) as *const [u64; 512]);
        pml4.0.copy_from_slice(kernel);
        pml4.0[0] = kernel[256];
        in_trampoline_page(CR3_OFFSET).write_volatile(addr_of!(START_PML4) as u64 - KERNEL_VMA);
        in_trampoline_page(ENTRY_OFFSET).write_volatile(smp_ap_main as *const () as u64);
    }
}

/// Starts the processor with local APIC ID `apic_id` as CPU `cpu` and waits until it is
/// online; returns the APIC ID it read from its own local APIC.
fn start(cpu: usize, apic_id: u8) -> Result<u8, &'static str> {
    if cpu >= MAX_CPUS {
        return Err("no per-CPU state left");
    }
    // SAFETY: the parameter words are read only by the processor being started, which is
    // still waiting for its start-up IPI.
    unsafe {
        let stack_top = addr_of!(STACKS[cpu - 1]) as u64 + STACK_SIZE as u64;
        in_trampoline_page(STACK_OFFSET).write_volatile(stack_top);
        in_trampoline_page(CPU_OFFSET).write_volatile(cpu as u64);
    }
    if !apic::send_ipi(apic_id, IPI_INIT) {
        return Err("the INIT IPI was not delivered");
    }
    delay(INIT_DELAY_US);
    for _ in 0..2 {
        if ONLINE[cpu].load(Ordering::Acquire) != 0 {
            break;
        }
        if !apic::send_ipi(apic_id, IPI_STARTUP) {
            return Err("the start-up IPI was not delivered");
        }
        delay(STARTUP_DELAY_US);
    }
    let deadline = crate::state::timestamp() + apic::calibration().tsc_per_ms * ONLINE_TIMEOUT_US / 1000;
    while crate::state::timestamp() < deadline {
        if let reported @ 1.. = ONLINE[cpu].load(Ordering::Acquire) {
            return Ok((reported - 1) as u8);
        }
        core::hint::spin_loop();
    }
    Err("it did not report itself online within a second")
}

/// An application processor's first Rust code, on its own kernel stack, in the trampoline's
/// start-up page tables: it moves to the kernel's page tables, loads its own descriptor
/// tables and the IDT, prepares its entry record and `syscall`, enables its local APIC and
/// timer, reports itself online and enters the scheduler under the big kernel lock.
#[unsafe(no_mangle)]
extern "C" fn smp_ap_main(cpu: u64) -> ! {
    let cpu = cpu as usize;
    // SAFETY: the kernel's page tables map everything this code and its stack use (the
    // kernel image); `cpu` is the number the boot CPU gave this processor alone, so the
    // descriptor tables it loads are its own.
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) KERNEL_CR3.load(Ordering::Acquire), options(nostack));
        super::percpu::load(cpu, crate::state::cpu_address(cpu));
        gdt::init(cpu);
        trap::load();
        super::entry::init(cpu, addr_of!(STACKS[cpu - 1]) as u64 + STACK_SIZE as u64);
    }
    apic::enable_local();
    apic::start_timer();
    ONLINE[cpu].store(u64::from(apic::local_id()) + 1, Ordering::Release);
    let _ = enter_kernel();
    crate::thread::run_next()
}
