//! Hardware state around the fuzzer's system calls (docs/fuzzing.md, "Hardware state at
//! every system call").
//!
//! Every fuzzed system call is issued by [`syscall`], which first loads, from a
//! [`State`] drawn by [`State::draw`]:
//! * RFLAGS (`popfq`): random CF PF AF ZF SF DF OF AC ID; NT only when
//!   [`feature::NT`] is on (a kernel that keeps NT set crashes on its next `iretq`, so it
//!   would hide every other finding); never TF (it would single-step every instruction
//!   up to the `syscall`; TF is exercised by a snippet instead, [`crate::snippets`]);
//! * DS ES FS GS: each one of the selectors a CPL 3 program can load ([`SELECTORS`]);
//! * xmm0–xmm15 and MXCSR (random values, MXCSR without DAZ and reserved bits);
//! * rbx rbp rdx r13 r14: random (the ABI preserves them).
//!
//! Right after `syscall` returns it stores RFLAGS, the vector registers, MXCSR, the segment
//! selectors, rax and the five preserved registers, then sets RFLAGS = 0x202 and
//! MXCSR = 0x1F80 again for the Rust code. [`State::check`] compares: the ABI (docs/abi.md
//! §3) preserves every register but rdi, rsi, r10 r8 r9 r15, rcx and r11, and the user's
//! RFLAGS; DS ES FS GS come back as loaded, as the null selector (the kernel resets them
//! when it passes to another address space) or as one of [`SELECTORS`] (loaded by the
//! fuzzer's other thread, which shares the address space). Any other difference is a
//! failure naming the register.

use crate::Rng;
use core::arch::asm;

/// Feature bits of the `features=` parameter (root-server command line): which state is
/// drawn and checked. [`feature::ALL`] is the default.
pub mod feature {
    /// Random RFLAGS at every syscall, checked after.
    pub const RFLAGS: u64 = 1;
    /// Random DS ES FS GS at every syscall, checked after.
    pub const SEGMENTS: u64 = 2;
    /// Random xmm0–15 and MXCSR at every syscall, checked after.
    pub const VECTORS: u64 = 4;
    /// Random rbx rbp rdx r13 r14 at every syscall, checked after (and rax unchanged).
    pub const REGISTERS: u64 = 8;
    /// Instruction snippets between iterations (`snippets.rs`).
    pub const SNIPPETS: u64 = 16;
    /// The shadow model of the fuzzer's mappings (`model.rs`).
    pub const MODEL: u64 = 32;
    /// NT among the random RFLAGS bits (5 % of the syscalls).
    pub const NT: u64 = 64;
    /// A snippet that makes a `syscall` from the last bytes below the user address limit
    /// (its return address is non-canonical).
    pub const NONCANONICAL: u64 = 128;
    /// The shadow model may unmap its page table with frames mapped through it (and then
    /// unmap those frames; without this bit it only deletes the page table).
    pub const DETACH: u64 = 256;
    /// Everything.
    pub const ALL: u64 = 511;
}

/// RFLAGS bits drawn at random (CF PF AF ZF SF DF OF AC ID).
const DRAWN_FLAGS: u64 = 1 | 1 << 2 | 1 << 4 | 1 << 6 | 1 << 7 | 1 << 10 | 1 << 11 | 1 << 18 | 1 << 21;
/// The nested-task flag.
const NT: u64 = 1 << 14;
/// RFLAGS bits that must come back as they were (NT is left out: a kernel may clear it).
const CHECKED_FLAGS: u64 = DRAWN_FLAGS;
/// Selectors a CPL 3 program can load into DS ES FS GS: null (RPL 0–3), user data, user
/// code (readable).
pub const SELECTORS: [u16; 6] = [0, 1, 2, 3, 0x1b, 0x23];

/// Every selector a thread of the fuzzer loads: [`SELECTORS`] and the ones the segment-load
/// snippet loads successfully. Selectors are not saved per thread (docs/abi.md §3), so
/// between threads of one address space any of these may show up in the other thread.
pub const SIBLING_SELECTORS: [u16; 8] = [0, 1, 2, 3, 0x18, 0x1b, 0x20, 0x23];
/// MXCSR bits drawn: exception flags, masks, rounding, flush-to-zero (no DAZ: bit 6).
const MXCSR_BITS: u32 = 0xFFBF;
/// Names of the five preserved general registers drawn.
const GP_NAMES: [&str; 5] = ["rbx", "rbp", "rdx", "r13", "r14"];
/// Names of the segment registers.
pub const SEGMENT_NAMES: [&str; 4] = ["ds", "es", "fs", "gs"];

/// Register values loaded before and stored after one system call. Field offsets are used
/// by the assembly in [`syscall`]; do not reorder.
#[repr(C, align(16))]
pub struct State {
    xmm_in: [u64; 32],
    xmm_out: [u64; 32],
    mxcsr_in: u32,
    mxcsr_out: u32,
    flags_in: u64,
    flags_out: u64,
    segments_in: [u16; 4],
    segments_out: [u16; 4],
    gp_in: [u64; 5],
    gp_out: [u64; 5],
    rax_out: u64,
}

const _: () = {
    assert!(core::mem::offset_of!(State, xmm_out) == 256);
    assert!(core::mem::offset_of!(State, mxcsr_in) == 512);
    assert!(core::mem::offset_of!(State, flags_in) == 520);
    assert!(core::mem::offset_of!(State, flags_out) == 528);
    assert!(core::mem::offset_of!(State, segments_in) == 536);
    assert!(core::mem::offset_of!(State, segments_out) == 544);
    assert!(core::mem::offset_of!(State, gp_in) == 552);
    assert!(core::mem::offset_of!(State, gp_out) == 592);
    assert!(core::mem::offset_of!(State, rax_out) == 632);
};

/// One broken promise: which register, what went in, what came out.
pub struct Failure {
    pub register: &'static str,
    pub index: usize,
    pub before: u128,
    pub after: u128,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self.register {
            "xmm" => write!(f, "xmm{} was {:#034x}, now {:#034x}", self.index, self.before, self.after)?,
            register => write!(f, "{register} was {:#x}, now {:#x}", self.before, self.after)?,
        }
        let kernel_half = |value: u128| (0..2).any(|lane| (value >> (64 * lane)) as u64 >= 0xFFFF_8000_0000_0000);
        if self.after != self.before && kernel_half(self.after) && !kernel_half(self.before) {
            write!(f, " (a kernel address?)")?;
        }
        Ok(())
    }
}

/// True if two selectors are the same segment: equal, or both null (a null selector's RPL
/// bits have no meaning; a kernel that saves and reloads selectors may return 0 for 1–3,
/// and `iretq` itself nulls DS and ES that hold a null selector loaded at CPL 0).
pub fn same_selector(a: u16, b: u16) -> bool {
    a == b || (a & !3 == 0 && b & !3 == 0)
}

/// Reads DS ES FS GS.
pub fn segments() -> [u16; 4] {
    let (ds, es, fs, gs): (u16, u16, u16, u16);
    // SAFETY: reading segment selectors has no effect.
    unsafe {
        asm!("mov {0:x}, ds", "mov {1:x}, es", "mov {2:x}, fs", "mov {3:x}, gs",
             out(reg) ds, out(reg) es, out(reg) fs, out(reg) gs, options(nomem, nostack, preserves_flags));
    }
    [ds, es, fs, gs]
}

impl State {
    pub const fn new() -> State {
        State {
            xmm_in: [0; 32],
            xmm_out: [0; 32],
            mxcsr_in: 0x1F80,
            mxcsr_out: 0,
            flags_in: 0x202,
            flags_out: 0,
            segments_in: [0; 4],
            segments_out: [0; 4],
            gp_in: [0; 5],
            gp_out: [0; 5],
            rax_out: 0,
        }
    }

    /// Draws the state for the next system call (what `features` turns off stays neutral:
    /// RFLAGS 0x202, the current selectors, MXCSR 0x1F80).
    pub fn draw(&mut self, rng: &mut Rng, features: u64) {
        self.xmm_in.iter_mut().for_each(|w| *w = rng.next());
        self.gp_in.iter_mut().for_each(|w| *w = rng.next());
        self.mxcsr_in = if features & feature::VECTORS != 0 { rng.next() as u32 & MXCSR_BITS } else { 0x1F80 };
        self.flags_in = 0x202;
        if features & feature::RFLAGS != 0 {
            self.flags_in |= rng.next() & DRAWN_FLAGS;
            if features & feature::NT != 0 && rng.percent(5) {
                self.flags_in |= NT;
            }
        }
        self.segments_in = if features & feature::SEGMENTS != 0 {
            [(); 4].map(|()| SELECTORS[rng.below(SELECTORS.len() as u64) as usize])
        } else {
            segments()
        };
    }

    /// The RFLAGS value loaded (for traces).
    pub fn flags(&self) -> u64 {
        self.flags_in
    }

    /// The selectors loaded (for traces).
    pub fn selectors(&self) -> [u16; 4] {
        self.segments_in
    }

    /// Compares what came back with what went in (the checks `features` selects);
    /// `number` is the syscall's rax.
    pub fn check(&self, number: u64, features: u64) -> Option<Failure> {
        let fail = |register, index, before: u128, after: u128| Some(Failure { register, index, before, after });
        if features & feature::VECTORS != 0 {
            for index in 0..16 {
                let word = |words: &[u64; 32]| words[2 * index] as u128 | (words[2 * index + 1] as u128) << 64;
                if self.xmm_in[2 * index..2 * index + 2] != self.xmm_out[2 * index..2 * index + 2] {
                    return fail("xmm", index, word(&self.xmm_in), word(&self.xmm_out));
                }
            }
            if self.mxcsr_in != self.mxcsr_out {
                return fail("mxcsr", 0, self.mxcsr_in.into(), self.mxcsr_out.into());
            }
        }
        if features & feature::RFLAGS != 0 && self.flags_in & CHECKED_FLAGS != self.flags_out & CHECKED_FLAGS {
            return fail("rflags", 0, self.flags_in.into(), self.flags_out.into());
        }
        if features & feature::SEGMENTS != 0 {
            for (index, name) in SEGMENT_NAMES.into_iter().enumerate() {
                // The ABI (docs/abi.md §3): selectors are not saved per thread. They survive
                // a system call unless the kernel passed to another address space meanwhile,
                // which loads the null selector; the fuzzer's other thread (same address
                // space) may have loaded one of SIBLING_SELECTORS. Anything else is foreign.
                // Leaks across domains are checked exactly by the root server, whose
                // selectors must stay null (`segments_ok`).
                let out = self.segments_out[index];
                if !same_selector(self.segments_in[index], out) && !SIBLING_SELECTORS.contains(&out) {
                    return fail(name, index, self.segments_in[index].into(), self.segments_out[index].into());
                }
            }
        }
        if features & feature::REGISTERS != 0 {
            for (index, name) in GP_NAMES.into_iter().enumerate() {
                if self.gp_in[index] != self.gp_out[index] {
                    return fail(name, index, self.gp_in[index].into(), self.gp_out[index].into());
                }
            }
            if self.rax_out != number {
                return fail("rax", 0, number.into(), self.rax_out.into());
            }
        }
        None
    }
}

/// Issues system call `number` with the hardware state of `state` loaded, and stores the
/// state that came back into it; returns the badge, message info and MR0–MR3.
pub fn syscall(state: &mut State, number: u64, cptr: u64, info: u64, mr: [u64; 4]) -> (u64, u64, [u64; 4]) {
    let (badge, info_out, w0, w1, w2, w3): (u64, u64, u64, u64, u64, u64);
    // SAFETY: the block loads registers from and stores them into `state` (offsets checked
    // above), and leaves RFLAGS = 0x202 and MXCSR = 0x1F80 as Rust code expects. rbx and
    // rbp are saved and restored on the stack; every other register it or the kernel
    // writes is declared. DS ES FS GS keep the drawn selectors: Rust code in 64-bit mode
    // does not use them (no thread-local storage in this domain).
    unsafe {
        asm!(
            "push rbx",
            "push rbp",
            "mov rbx, [r12 + 552]",
            "mov rbp, [r12 + 560]",
            "mov rdx, [r12 + 568]",
            "mov r13, [r12 + 576]",
            "mov r14, [r12 + 584]",
            "movdqu xmm0, [r12]",
            "movdqu xmm1, [r12 + 16]",
            "movdqu xmm2, [r12 + 32]",
            "movdqu xmm3, [r12 + 48]",
            "movdqu xmm4, [r12 + 64]",
            "movdqu xmm5, [r12 + 80]",
            "movdqu xmm6, [r12 + 96]",
            "movdqu xmm7, [r12 + 112]",
            "movdqu xmm8, [r12 + 128]",
            "movdqu xmm9, [r12 + 144]",
            "movdqu xmm10, [r12 + 160]",
            "movdqu xmm11, [r12 + 176]",
            "movdqu xmm12, [r12 + 192]",
            "movdqu xmm13, [r12 + 208]",
            "movdqu xmm14, [r12 + 224]",
            "movdqu xmm15, [r12 + 240]",
            "ldmxcsr [r12 + 512]",
            "mov ds, word ptr [r12 + 536]",
            "mov es, word ptr [r12 + 538]",
            "mov fs, word ptr [r12 + 540]",
            "mov gs, word ptr [r12 + 542]",
            "push qword ptr [r12 + 520]",
            "popfq",
            "syscall",
            "pushfq",
            "pop qword ptr [r12 + 528]",
            "push 0x202",
            "popfq",
            "movdqu [r12 + 256], xmm0",
            "movdqu [r12 + 272], xmm1",
            "movdqu [r12 + 288], xmm2",
            "movdqu [r12 + 304], xmm3",
            "movdqu [r12 + 320], xmm4",
            "movdqu [r12 + 336], xmm5",
            "movdqu [r12 + 352], xmm6",
            "movdqu [r12 + 368], xmm7",
            "movdqu [r12 + 384], xmm8",
            "movdqu [r12 + 400], xmm9",
            "movdqu [r12 + 416], xmm10",
            "movdqu [r12 + 432], xmm11",
            "movdqu [r12 + 448], xmm12",
            "movdqu [r12 + 464], xmm13",
            "movdqu [r12 + 480], xmm14",
            "movdqu [r12 + 496], xmm15",
            "stmxcsr [r12 + 516]",
            "mov word ptr [r12 + 544], ds",
            "mov word ptr [r12 + 546], es",
            "mov word ptr [r12 + 548], fs",
            "mov word ptr [r12 + 550], gs",
            "mov [r12 + 592], rbx",
            "mov [r12 + 600], rbp",
            "mov [r12 + 608], rdx",
            "mov [r12 + 616], r13",
            "mov [r12 + 624], r14",
            "mov [r12 + 632], rax",
            "push 0x1F80",
            "ldmxcsr [rsp]",
            "add rsp, 8",
            "pop rbp",
            "pop rbx",
            in("r12") state as *mut State,
            inout("rax") number => _,
            inout("rdi") cptr => badge,
            inout("rsi") info => info_out,
            inout("r10") mr[0] => w0,
            inout("r8") mr[1] => w1,
            inout("r9") mr[2] => w2,
            inout("r15") mr[3] => w3,
            out("rcx") _,
            out("r11") _,
            out("rdx") _,
            out("r13") _,
            out("r14") _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
        );
    }
    (badge, info_out, [w0, w1, w2, w3])
}
