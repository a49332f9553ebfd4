//! Probes of the hardware state the kernel must keep or reset at its boundary (issue 11,
//! docs/security.md), shared by the in-guest kernel suite and the hostile isolation domain:
//! vector registers across a system call, RFLAGS.NT at a system call and through interrupts,
//! and segment selectors.

use core::arch::asm;
use tileos_abi::message::MessageInfo;
use tileos_abi::syscall::Syscall;

/// RFLAGS.NT (nested task): user code may set it; `iretq` with it set faults in 64-bit mode.
pub const NESTED_TASK: u64 = 1 << 14;

/// Sixteen distinct 128-bit patterns for xmm0–xmm15 (two words each, low word first).
pub fn vector_pattern(seed: u64) -> [u64; 32] {
    core::array::from_fn(|i| seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(i as u32 * 5) ^ ((i as u64) << 56))
}

/// The `asm!` template lines that load xmm0–xmm15 from the 256 bytes at operand `{i}`.
#[macro_export]
macro_rules! load_vectors_from_i {
    () => {
        concat!(
            "movdqu xmm0, [{i}]\n",
            "movdqu xmm1, [{i} + 16]\n",
            "movdqu xmm2, [{i} + 32]\n",
            "movdqu xmm3, [{i} + 48]\n",
            "movdqu xmm4, [{i} + 64]\n",
            "movdqu xmm5, [{i} + 80]\n",
            "movdqu xmm6, [{i} + 96]\n",
            "movdqu xmm7, [{i} + 112]\n",
            "movdqu xmm8, [{i} + 128]\n",
            "movdqu xmm9, [{i} + 144]\n",
            "movdqu xmm10, [{i} + 160]\n",
            "movdqu xmm11, [{i} + 176]\n",
            "movdqu xmm12, [{i} + 192]\n",
            "movdqu xmm13, [{i} + 208]\n",
            "movdqu xmm14, [{i} + 224]\n",
            "movdqu xmm15, [{i} + 240]",
        )
    };
}

/// Loads xmm0–xmm15 from `input`, makes one system call with the given registers, and
/// returns xmm0–xmm15 as they came back.
pub fn syscall_keeping_vectors(number: Syscall, cptr: u64, info: MessageInfo, words: [u64; 4], input: &[u64; 32]) -> [u64; 32] {
    let mut output = [0u64; 32];
    // SAFETY: loads and stores the vector registers around a system call, declaring every
    // register the kernel may change (docs/abi.md) and every vector register as clobbered.
    unsafe {
        asm!(
            crate::load_vectors_from_i!(),
            "syscall",
            "movdqu [{o}], xmm0", "movdqu [{o} + 16], xmm1", "movdqu [{o} + 32], xmm2", "movdqu [{o} + 48], xmm3",
            "movdqu [{o} + 64], xmm4", "movdqu [{o} + 80], xmm5", "movdqu [{o} + 96], xmm6", "movdqu [{o} + 112], xmm7",
            "movdqu [{o} + 128], xmm8", "movdqu [{o} + 144], xmm9", "movdqu [{o} + 160], xmm10", "movdqu [{o} + 176], xmm11",
            "movdqu [{o} + 192], xmm12", "movdqu [{o} + 208], xmm13", "movdqu [{o} + 224], xmm14", "movdqu [{o} + 240], xmm15",
            i = in(reg) input.as_ptr(),
            o = in(reg) output.as_mut_ptr(),
            inout("rax") number as u64 => _,
            inout("rdi") cptr => _,
            inout("rsi") info.0 => _,
            inout("r10") words[0] => _,
            inout("r8") words[1] => _,
            inout("r9") words[2] => _,
            inout("r15") words[3] => _,
            out("rcx") _, out("r11") _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _, out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _, out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nostack),
        );
    }
    output
}

/// The first vector register that differs between two [`vector_pattern`]-shaped arrays.
pub fn first_changed_vector(expected: &[u64; 32], seen: &[u64; 32]) -> Option<usize> {
    (0..16).find(|&r| expected[2 * r..2 * r + 2] != seen[2 * r..2 * r + 2])
}

/// Sets RFLAGS.NT, yields, and returns the RFLAGS the thread came back with.
pub fn yield_with_nested_task_flag() -> u64 {
    let after: u64;
    // SAFETY: sets a flag user code may set, yields, and reads the flags it comes back with.
    unsafe {
        asm!(
            "pushfq", "or qword ptr [rsp], {nt}", "popfq",
            "syscall",
            "pushfq", "pop {after}",
            nt = const NESTED_TASK,
            after = out(reg) after,
            inout("rax") Syscall::Yield as u64 => _,
            out("rcx") _, out("r11") _, out("rdi") _, out("rsi") _,
        );
    }
    after
}

/// Sets RFLAGS.NT, counts down `rounds` (long enough for timer interrupts to arrive), then
/// clears NT again and returns the RFLAGS seen just before clearing it.
pub fn spin_with_nested_task_flag(rounds: u64) -> u64 {
    let spun: u64;
    // SAFETY: as above; the loop only counts down a register.
    unsafe {
        asm!(
            "pushfq", "or qword ptr [rsp], {nt}", "popfq",
            "2: dec {count}", "jnz 2b",
            "pushfq", "pop {spun}",
            "pushfq", "and qword ptr [rsp], {clear}", "popfq",
            nt = const NESTED_TASK,
            clear = const !NESTED_TASK as i32 as i64,
            count = inout(reg) rounds.max(1) => _,
            spun = out(reg) spun,
        );
    }
    spun
}

/// Loads DS and ES with `data` and FS and GS with `extra` (selectors user code may load:
/// the user data selector 0x1b, null selectors 0–3).
pub fn load_segments(data: u16, extra: u16) {
    // SAFETY: loading a selector the CPU accepts at CPL 3 changes nothing else; a selector
    // it refuses raises #GP in this thread.
    unsafe {
        asm!("mov ds, {d:x}", "mov es, {d:x}", "mov fs, {e:x}", "mov gs, {e:x}",
             d = in(reg) u64::from(data), e = in(reg) u64::from(extra), options(nostack, preserves_flags));
    }
}

/// The selectors in DS, ES, FS and GS.
pub fn segments() -> [u16; 4] {
    let (ds, es, fs, gs): (u64, u64, u64, u64);
    // SAFETY: reading segment selectors has no effect.
    unsafe {
        asm!("mov {0:x}, ds", "mov {1:x}, es", "mov {2:x}, fs", "mov {3:x}, gs",
             out(reg) ds, out(reg) es, out(reg) fs, out(reg) gs, options(nostack, nomem, preserves_flags));
    }
    [ds as u16, es as u16, fs as u16, gs as u16]
}
