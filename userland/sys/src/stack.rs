//! A domain's stack high-water mark: how deep its stack has ever been. [`paint`] fills the
//! unused part of the stack with a pattern once, at the start; [`high_water`] finds the
//! deepest word overwritten since. The stack is the `stack_size` bytes below
//! `STACK_TOP` (the information page's `stack_size`), all mapped from the start, with an
//! unmapped guard page below (an overflow faults; it never goes unnoticed). A word of the
//! pattern that a frame writes unchanged is counted as unused: the mark can be low by the
//! frames that end in such words, never high.

use tileos_abi::bootinfo::domain::STACK_TOP;

/// The pattern the unused stack is painted with.
const PAINT: u64 = 0x57AC_C0DE_57AC_C0DE;

/// Bytes below the caller's frame that are not painted (the red zone, the painting loop's
/// own frame), so that the paint never overwrites a live word.
const MARGIN: u64 = 4096;

/// The lowest address of the stack.
fn bottom() -> u64 {
    STACK_TOP - crate::domain::info().stack_size
}

/// The address of a word in the caller's frame: the stack's depth now, near enough.
#[inline(never)]
fn depth_now() -> u64 {
    let marker = 0u64;
    core::hint::black_box(&marker) as *const u64 as u64
}

/// Paints the stack from its bottom up to `MARGIN` below the current frame. Call once,
/// early (the deeper the stack is when it is painted, the less it can measure).
pub fn paint() {
    let end = depth_now().saturating_sub(MARGIN) & !7;
    let mut address = bottom();
    while address < end {
        // SAFETY: `address` is 8-aligned, within the domain's own stack (mapped, writable,
        // from `bottom()` to `STACK_TOP`) and more than `MARGIN` below every live frame:
        // nothing reads that memory before a frame writes it.
        unsafe { core::ptr::write_volatile(address as *mut u64, PAINT) };
        address += 8;
    }
}

/// The stack's high-water mark in bytes: from `STACK_TOP` down to the deepest word no
/// longer holding the paint (the whole stack if [`paint`] was never called). Reads the
/// unused part of the stack once, from the bottom up.
pub fn high_water() -> u64 {
    let mut address = bottom();
    // SAFETY: every address read is 8-aligned and within the domain's own mapped stack
    // (below `STACK_TOP`, at or above its bottom); a read changes nothing.
    while address < STACK_TOP && unsafe { core::ptr::read_volatile(address as *const u64) } == PAINT {
        address += 8;
    }
    STACK_TOP - address
}

/// The stack's size in bytes (the information page's `stack_size`).
pub fn size() -> u64 {
    crate::domain::info().stack_size
}
