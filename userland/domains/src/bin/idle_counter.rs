//! Benchmark helper domain: runs at the lowest priority and counts, in the first word of
//! its shared region "idle-counter", the iterations of a two-instruction loop
//! (`add qword ptr [counter], 1; jmp`). It keeps the CPU from ever going idle, so that
//! under QEMU `-icount shift=0,sleep=off` guest virtual time never warps forward to the
//! next timer while a device works on the host; every tick of `rdtsc` is then an executed
//! guest instruction, and a benchmark can subtract `2 × Δcounter` (the idle loop's share)
//! from an `rdtsc` delta to get the instructions the rest of the system executed
//! (see docs/research.md, "I/O figures").
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_sys::log;

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let Some((vaddr, _, size)) = tileos_sys::domain::region("idle-counter") else {
        log!("idle-counter: needs the shared region \"idle-counter\"; stopping");
        tileos_sys::domain::stop()
    };
    if size < 8 {
        log!("idle-counter: region \"idle-counter\" is smaller than one word; stopping");
        tileos_sys::domain::stop()
    }
    // SAFETY: the description maps "idle-counter" read-write here (at least one word, page
    // aligned); other domains only read it. Exactly two instructions per iteration.
    unsafe {
        core::arch::asm!("2:", "add qword ptr [{counter}], 1", "jmp 2b", counter = in(reg) vaddr, options(noreturn, nostack));
    }
}
