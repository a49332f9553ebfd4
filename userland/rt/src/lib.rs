//! Runtime support shared by every tileos bare-metal binary (kernel, root server, domains).
//!
//! The host target's precompiled `core` expects a few libc symbols and an unwinding
//! personality; bare-metal binaries have no libc, so this crate supplies them. It also owns
//! the one `#[panic_handler]`: it prints `panic at file:line: message` through the
//! binary's `tileos_panic_write` hook and then calls its `tileos_panic_halt` hook, which
//! halts (or, in test builds, ends QEMU with a failure status).
//!
//! Each binary defines the two hooks with `#[unsafe(no_mangle)]`; the link fails if one is
//! missing, so no binary can end up with a silent panic.
#![no_std]

use core::arch::asm;
use core::fmt::{self, Write};

unsafe extern "Rust" {
    /// Writes panic text to the binary's diagnostic channel (COM1 for the kernel, the debug
    /// console syscall for user binaries). Must not panic.
    fn tileos_panic_write(text: &str);
    /// Stops the binary after a panic report. Must not return.
    fn tileos_panic_halt() -> !;
}

/// Adapter that lets `core::fmt` write through [`tileos_panic_write`].
struct PanicSink;

impl Write for PanicSink {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // SAFETY: the hook is provided by the binary and documented as panic-free.
        unsafe { tileos_panic_write(text) };
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut sink = PanicSink;
    match info.location() {
        Some(at) => {
            let _ = write!(sink, "\npanic at {}:{}: {}\n", at.file(), at.line(), info.message());
        }
        None => {
            let _ = write!(sink, "\npanic: {}\n", info.message());
        }
    }
    // SAFETY: provided by the binary; never returns.
    unsafe { tileos_panic_halt() }
}

/// Copies `n` bytes from `src` to `dst` (non-overlapping), as libc's `memcpy`: eight bytes
/// per step (`rep movsq`), then the last `n % 8` bytes one by one (`rep movsb`). A step is an
/// instruction under QEMU's `-icount`, and a 4 KiB copy byte by byte was 4,096 of them.
///
/// # Safety
/// `src` and `dst` must be valid for `n` bytes and must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // Inline assembly keeps the compiler from lowering a loop back into a call to memcpy.
    // SAFETY: per the contract; DF is clear (the Rust ABI's requirement at calls).
    unsafe {
        asm!("rep movsq", "mov rcx, {tail}", "rep movsb", tail = in(reg) n % 8, inout("rdi") dst => _, inout("rsi") src => _,
             inout("rcx") n / 8 => _, options(nostack, preserves_flags));
    }
    dst
}

/// Copies `n` bytes from `src` to `dst`, which may overlap, as libc's `memmove`.
///
/// # Safety
/// `src` and `dst` must be valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if n == 0 {
        return dst;
    }
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize) + n {
        // SAFETY: forward copy is correct when dst does not start inside src.
        return unsafe { memcpy(dst, src, n) };
    }
    // Destination starts inside the source: copy backwards with the direction flag set.
    unsafe {
        asm!("std", "rep movsb", "cld",
             inout("rdi") dst.add(n - 1) => _, inout("rsi") src.add(n - 1) => _,
             inout("rcx") n => _, options(nostack));
    }
    dst
}

/// Fills `n` bytes at `dst` with the low byte of `value`, as libc's `memset`: eight bytes
/// per step (`rep stosq`), then the last `n % 8` one by one, as [`memcpy`].
///
/// # Safety
/// `dst` must be valid for writes of `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, value: i32, n: usize) -> *mut u8 {
    let pattern = u64::from(value as u8) * 0x0101_0101_0101_0101;
    // SAFETY: per the contract; DF is clear.
    unsafe {
        asm!("rep stosq", "mov rcx, {tail}", "rep stosb", tail = in(reg) n % 8, inout("rdi") dst => _, inout("rcx") n / 8 => _,
             in("rax") pattern, options(nostack, preserves_flags));
    }
    dst
}

/// Compares `n` bytes, as libc's `memcmp`.
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: i < n and both pointers are valid for n bytes.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

/// Equality-only comparison, as libc's `bcmp`.
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// Referenced by the precompiled `core` (built with unwinding); never called with `panic = "abort"`.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// Referenced by landing pads in the precompiled `alloc` (built with unwinding). With
/// `panic = "abort"` nothing ever unwinds, so reaching this is a bug: stop.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    // SAFETY: provided by the binary; never returns.
    unsafe { tileos_panic_halt() }
}
