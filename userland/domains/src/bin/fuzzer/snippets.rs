//! Instruction snippets the fuzzer runs between its system calls (docs/fuzzing.md,
//! "Instruction snippets").
//!
//! A snippet that may fault is *armed*: before it, `r12` = [`ARMED`] and `r13` = the
//! address right after it. The root server (the fuzzer's fault handler) recognises an armed
//! fault by `r12`, counts it, and resumes the fuzzer at `r13` with `r12` =
//! [`TAKEN`] | vector (14 for a page fault, with the fault address in `r14`) and RFLAGS
//! 0x202 — every other register as it was. So the fuzzer learns which fault it took and
//! compares it with what the snippet must do. A fault while not armed still fails the run.

use crate::Rng;
use crate::hw::{SEGMENT_NAMES, feature};
use core::arch::asm;
use tileos_sys::println;

pub use tileos_abi::fuzz::{ARMED, TAKEN};
/// `r14` after the last armed snippet: the fault address if it page-faulted.
pub static LAST_FAULT_ADDRESS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// Page faults come back as this vector.
pub const PAGE_FAULT: u64 = 14;
/// The guard page below the fuzzer's 64 KiB stack (never mapped: random maps land there
/// only with a chance of 2^-35 per random address).
const STACK_GUARD: u64 = tileos_abi::bootinfo::domain::STACK_TOP - 17 * 4096;
/// Where the kernel's image is mapped (kernel/link.ld: KERNEL_VMA).
const KERNEL_VMA: u64 = 0xFFFF_FFFF_8000_0000;

/// Counters of the snippets run.
#[derive(Default)]
pub struct Counts {
    /// Snippets run.
    pub run: u64,
    /// Armed snippets that faulted as they must.
    pub faulted: u64,
}

/// Runs `$code` armed; evaluates to `r12` afterwards ([`ARMED`]: no fault).
macro_rules! armed {
    // Operands, if any, end with a comma.
    ($($code:literal),+ ; $($operands:tt)*) => {{
        let result: u64;
        let fault_address: u64;
        // SAFETY: the snippet touches only the registers declared below (the root server
        // restores every other one when it resumes the fuzzer after a fault) and no memory
        // of the fuzzer's but what the operands name.
        unsafe {
            core::arch::asm!(
                "lea r13, [rip + 7f]",
                $($code,)+
                "7:",
                $($operands)*
                inout("r12") $crate::snippets::ARMED => result,
                out("r13") _,
                // The root server writes the fault address here after a page fault.
                inout("r14") 0u64 => fault_address,
            );
        }
        $crate::snippets::LAST_FAULT_ADDRESS.store(fault_address, core::sync::atomic::Ordering::Relaxed);
        result
    }};
}
pub(crate) use armed;

/// Outcome of an armed snippet: `None` no fault, `Some(vector)`.
fn outcome(r12: u64) -> Option<u64> {
    match r12 {
        ARMED => None,
        taken if taken & !0xFF == TAKEN => Some(taken & 0xFF),
        other => Some(other),
    }
}

/// The names of the snippets, by number (docs/fuzzing.md lists what each does).
pub const NAMES: [&str; 14] = [
    "int3",
    "ud2",
    "divide by zero",
    "divide overflow",
    "privileged instruction",
    "single step",
    "jump to a non-canonical address",
    "non-canonical load",
    "kernel memory access",
    "segment load",
    "compute loop",
    "software interrupt",
    "syscall with TF set",
    "syscall returning to a non-canonical address",
];

/// The last two bytes below the user address limit hold a `syscall` instruction (the root
/// server maps an executable page there): a `syscall` whose return address, 2^47, is
/// non-canonical.
const TOP_SYSCALL: u64 = 0x0000_7FFF_FFFF_FFFE;

/// Segment selectors drawn by the segment-load snippet, with the fault each must give
/// (`None`: loads). GDT (kernel/src/arch/gdt.rs): 0x08 kernel code, 0x10 kernel data,
/// 0x18 user data, 0x20 user code, 0x28–0x37 the TSS; no LDT.
const SELECTOR_TABLE: [(u16, Option<u64>); 16] = [
    (0, None),
    (1, None),
    (3, None),
    (0x18, None),
    (0x1b, None),
    (0x20, None),
    (0x23, None),
    (0x08, Some(13)),
    (0x0b, Some(13)),
    (0x10, Some(13)),
    (0x13, Some(13)),
    (0x28, Some(13)),
    (0x2b, Some(13)),
    (0x33, Some(13)),
    (0x07, Some(13)),
    (0xFFFB, Some(13)),
];

/// Loads `selector` into segment register `register` (0–3: DS ES FS GS) armed; returns
/// `r12` and the selector read back.
fn load_segment(register: u64, selector: u16) -> (u64, u16) {
    let back: u16;
    let r12 = match register {
        0 => armed!("mov ds, {0:x}", "mov {0:x}, ds"; inout(reg) selector => back,),
        1 => armed!("mov es, {0:x}", "mov {0:x}, es"; inout(reg) selector => back,),
        2 => armed!("mov fs, {0:x}", "mov {0:x}, fs"; inout(reg) selector => back,),
        _ => armed!("mov gs, {0:x}", "mov {0:x}, gs"; inout(reg) selector => back,),
    };
    (r12, back)
}

/// The compute loop in Rust: what the assembly version must produce.
fn compute_reference(mut a: u64, mut x: [u64; 2], mut y: [u64; 2], count: u64) -> (u64, [u64; 2], [u64; 2]) {
    for i in (1..=count).rev() {
        a = a.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i);
        x = [x[0].wrapping_add(y[0]), x[1].wrapping_add(y[1])];
        y = [y[0] ^ x[0], y[1] ^ x[1]];
    }
    (a, x, y)
}

/// Runs the compute loop in registers (rax, rcx, xmm0, xmm1) for `count` ≥ 1 rounds — long
/// enough, for large counts, to be interrupted by the timer and resumed by the kernel.
fn compute(a: u64, x: [u64; 2], y: [u64; 2], count: u64) -> (u64, [u64; 2], [u64; 2]) {
    let mut vectors = [x[0], x[1], y[0], y[1]];
    let result: u64;
    // SAFETY: registers only, and `vectors` (32 bytes) through the pointer.
    unsafe {
        asm!(
            "movdqu xmm0, [{v}]",
            "movdqu xmm1, [{v} + 16]",
            "mov {k}, 0x9E3779B97F4A7C15",
            "8:",
            "imul rax, {k}",
            "add rax, rcx",
            "paddq xmm0, xmm1",
            "pxor xmm1, xmm0",
            "dec rcx",
            "jnz 8b",
            "movdqu [{v}], xmm0",
            "movdqu [{v} + 16], xmm1",
            v = in(reg) vectors.as_mut_ptr(),
            k = out(reg) _,
            inout("rax") a => result,
            inout("rcx") count => _,
            out("xmm0") _,
            out("xmm1") _,
            options(nostack),
        );
    }
    (result, [vectors[0], vectors[1]], [vectors[2], vectors[3]])
}

/// Runs one snippet drawn from `rng`; false (after printing why) if it broke a rule.
///
/// The segment load needs [`feature::SEGMENTS`] and the compute loop (which keeps values in
/// xmm0/xmm1 across timer interrupts) [`feature::VECTORS`]; without them those draws run
/// nothing.
pub fn run(rng: &mut Rng, counts: &mut Counts, iteration: u64, trace: bool, features: u64) -> bool {
    let kind = rng.below(NAMES.len() as u64) as usize;
    if (kind == 9 && features & feature::SEGMENTS == 0)
        || (kind == 10 && features & feature::VECTORS == 0)
        || (kind == 13 && features & feature::NONCANONICAL == 0)
    {
        return true;
    }
    counts.run += 1;
    let mut detail = 0u64;
    // (r12 after the snippet, the vector it must fault with or None).
    let (r12, expected): (u64, Option<u64>) = match kind {
        // #BP, or #GP where the kernel's IDT gate for vector 3 is not open to CPL 3 (this
        // kernel's gates are all DPL 0: docs/fuzzing.md).
        0 => (armed!("int3";), Some(3)),
        1 => (armed!("ud2";), Some(6)),
        2 => (armed!("xor eax, eax", "xor edx, edx", "xor ecx, ecx", "div rcx"; out("rax") _, out("rdx") _, out("rcx") _,), Some(0)),
        3 => (armed!("mov rax, 0x8000000000000000", "cqo", "mov rcx, -1", "idiv rcx"; out("rax") _, out("rdx") _, out("rcx") _,), Some(0)),
        4 => {
            detail = rng.below(6);
            let r12 = match detail {
                0 => armed!("hlt";),
                1 => armed!("cli";),
                2 => armed!("mov rax, cr0"; out("rax") _,),
                3 => armed!("mov ecx, 0x10", "rdmsr"; out("rax") _, out("rcx") _, out("rdx") _,),
                4 => armed!("wbinvd";),
                _ => armed!("in al, 0x60"; out("rax") _,),
            };
            (r12, Some(13))
        }
        5 => (armed!("pushfq", "or qword ptr [rsp], 0x100", "popfq", "nop", "nop", "nop";), Some(1)),
        6 => {
            detail = rng.pick(&[1 << 47, 0x8000_0000_0000_0000, 0x0000_8000_0000_1000, 0x7FFF_0000_0000_0000]);
            (armed!("jmp {0}"; in(reg) detail,), Some(13))
        }
        7 => {
            detail = rng.pick(&[1 << 47, 0x8000_0000_0000_0000, 0x1234_5678_9ABC_DEF0]);
            (armed!("mov {0}, [{0}]"; inout(reg) detail => _,), Some(13))
        }
        8 => {
            // Kernel text, data or the kernel's direct map, the stack's guard page, the top
            // page: a read (or write) must page-fault.
            detail = match rng.below(4) {
                0 => KERNEL_VMA + rng.below(4 << 20),
                1 => 0xFFFF_8000_0000_0000 + rng.below(1 << 30),
                2 => STACK_GUARD + rng.below(0x1000),
                _ => 0xFFFF_FFFF_FFFF_F000 + rng.below(0x1000),
            } & !7;
            let r12 = if rng.percent(50) {
                armed!("mov {0}, [{0}]"; inout(reg) detail => _,)
            } else {
                armed!("mov qword ptr [{0}], {0}"; in(reg) detail,)
            };
            (r12, Some(PAGE_FAULT))
        }
        9 => {
            let register = rng.below(4);
            let (selector, expected) = SELECTOR_TABLE[rng.below(SELECTOR_TABLE.len() as u64) as usize];
            detail = register << 16 | selector as u64;
            let (r12, back) = load_segment(register, selector);
            // A timer interrupt between the load and the read may pass the CPU to another
            // address space and back, which loads the null selector, or to the fuzzer's
            // other thread, which may load its own (selectors are not saved per thread:
            // docs/abi.md §3).
            if r12 == ARMED && back != selector && !crate::hw::SIBLING_SELECTORS.contains(&back) {
                println!(
                    "fuzz failure: iteration {iteration}: snippet segment load: {} = {selector:#x} reads back {back:#x}",
                    SEGMENT_NAMES[register as usize]
                );
                return false;
            }
            (r12, expected)
        }
        10 => {
            let count = if rng.percent(10) { 1 + rng.below(200_000) } else { 1 + rng.below(200) };
            let (a, x, y) = (rng.next(), [rng.next(), rng.next()], [rng.next(), rng.next()]);
            let got = compute(a, x, y, count);
            let want = compute_reference(a, x, y, count);
            if got != want {
                println!(
                    "fuzz failure: iteration {iteration}: snippet compute loop ({count} rounds): got rax {:#x} xmm0 {:x?} xmm1 {:x?}, want {:#x} {:x?} {:x?}",
                    got.0, got.1, got.2, want.0, want.1, want.2
                );
                return false;
            }
            return true;
        }
        11 => {
            detail = rng.below(4);
            let r12 = match detail {
                0 => armed!("int 0x20";),
                1 => armed!("int 0x80";),
                2 => armed!("int 0x0e";),
                _ => armed!("int 0xff";),
            };
            (r12, Some(13))
        }
        13 => {
            // Yield from the top of user space: the kernel cannot return to 2^47. Any fault
            // delivered to the fuzzer is acceptable; a kernel exception is not.
            let r12 = armed!("jmp {0}"; in(reg) TOP_SYSCALL, inout("rax") 8u64 => _, out("rdi") _, out("rsi") _, out("rcx") _,
                             out("r11") _, out("r10") _, out("r8") _, out("r9") _, out("r15") _,);
            let got = outcome(r12);
            if trace {
                println!("fuzz snippet {iteration}: {}: {got:?}", NAMES[kind]);
            }
            if got.is_none() {
                println!("fuzz failure: iteration {iteration}: snippet {} ended without a fault", NAMES[kind]);
                return false;
            }
            counts.faulted += 1;
            return true;
        }
        _ => (
            // Yield with TF set: the single-step trap comes after the syscall returns.
            armed!("pushfq", "or qword ptr [rsp], 0x100", "popfq", "syscall", "nop";
                   inout("rax") 8u64 => _, out("rdi") _, out("rsi") _, out("rcx") _, out("r11") _,
                   out("r10") _, out("r8") _, out("r9") _, out("r15") _,),
            Some(1),
        ),
    };
    let got = outcome(r12);
    if trace {
        println!("fuzz snippet {iteration}: {} ({detail:#x}): {got:?}", NAMES[kind]);
    }
    let int3_through_closed_gate = kind == 0 && got == Some(13);
    if got != expected && !int3_through_closed_gate {
        println!(
            "fuzz failure: iteration {iteration}: snippet {} ({detail:#x}) must end with {} but ended with {}{}",
            NAMES[kind],
            describe(expected),
            describe(got),
            if got == Some(PAGE_FAULT) { " at" } else { "" }
        );
        if got == Some(PAGE_FAULT) {
            println!("fuzz failure: (fault address {:#x})", LAST_FAULT_ADDRESS.load(core::sync::atomic::Ordering::Relaxed));
        }
        return false;
    }
    if got.is_some() {
        counts.faulted += 1;
    }
    true
}

fn describe(outcome: Option<u64>) -> &'static str {
    match outcome {
        None => "no fault",
        Some(0) => "#DE (vector 0)",
        Some(1) => "#DB (vector 1)",
        Some(3) => "#BP (vector 3, or #GP)",
        Some(6) => "#UD (vector 6)",
        Some(13) => "#GP (vector 13)",
        Some(PAGE_FAULT) => "a page fault",
        Some(_) => "another fault",
    }
}
