//! Time as the kernel measured it at boot: the time-stamp-counter rate and the length of a
//! scheduler tick, from BootInfo, for restart back-off and scheduling budgets.

use core::sync::atomic::{AtomicU64, Ordering};

static TSC_PER_MS: AtomicU64 = AtomicU64::new(1_000_000);
static TICK_US: AtomicU64 = AtomicU64::new(5000);

/// Records the rates from BootInfo (zero values keep the nominal ones).
pub fn init(info: &tileos_abi::bootinfo::BootInfo) {
    if info.tsc_per_ms != 0 {
        TSC_PER_MS.store(info.tsc_per_ms, Ordering::Relaxed);
    }
    if info.tick_us != 0 {
        TICK_US.store(info.tick_us, Ordering::Relaxed);
    }
}

/// Time-stamp-counter increments per millisecond.
pub fn tsc_per_ms() -> u64 {
    TSC_PER_MS.load(Ordering::Relaxed)
}

/// Length of a scheduler tick in microseconds.
pub fn tick_us() -> u64 {
    TICK_US.load(Ordering::Relaxed)
}

/// `ms` milliseconds in scheduler ticks, rounded up (at least 1 for a non-zero `ms`).
pub fn ms_to_ticks(ms: u32) -> u64 {
    (u64::from(ms) * 1000).div_ceil(tick_us())
}

/// The time-stamp counter now (guest instructions under QEMU `-icount`).
pub fn tsc() -> u64 {
    // SAFETY: rdtsc is allowed in user mode and has no other effect.
    unsafe { core::arch::x86_64::_rdtsc() }
}
