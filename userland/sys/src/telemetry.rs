//! The domain runtime's telemetry (docs/telemetry.md): every protocol call a program makes
//! through [`crate::rpc::Client::call`] is timed with the time-stamp counter and recorded
//! in this program's (this domain's) latency histogram. A record is two `rdtsc`, a
//! subtraction, the bucket index (`or`, `bsr`) and one relaxed atomic increment: no system
//! call, no allocation, no lock. The number of calls is the histogram's count (each call is
//! in exactly one bucket), so there is no separate counter to keep.
//!
//! Latencies are in time-stamp-counter ticks (the boot information's `tsc_per_ms` converts
//! them; under QEMU `-icount shift=0` one tick is one guest instruction).

use tileos_telemetry::{AtomicHistogram, Histogram};

/// The latencies of this domain's protocol calls.
static CALL_LATENCY: AtomicHistogram = AtomicHistogram::new();

/// Records a call that started at time-stamp `start` and has just ended.
#[inline(always)]
pub(crate) fn record_call(start: u64) {
    CALL_LATENCY.record(crate::timestamp().wrapping_sub(start));
}

/// The latencies of the protocol calls this domain made so far (cumulative since it
/// started; its count is the number of calls).
pub fn call_latencies() -> Histogram {
    CALL_LATENCY.snapshot()
}
