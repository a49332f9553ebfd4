//! The domain runtime's telemetry (docs/telemetry.md): every protocol call a program makes
//! through [`crate::rpc::Client::call`] is timed with the time-stamp counter and recorded
//! in this program's (this domain's) latency histogram. A record is two `rdtsc`, a
//! subtraction, the bucket index (`or`, `bsr`) and one relaxed atomic increment: no system
//! call, no allocation, no lock. The number of calls is the histogram's count (each call is
//! in exactly one bucket), so there is no separate counter to keep.
//!
//! Only the counter's low 32 bits are kept (`call_start`): `rdtsc` leaves them in `eax`
//! already, so neither reading needs its two halves joined (four instructions fewer a call).
//! The price is the **wrap bound**: a call that takes 2^32 ticks or more (1.43 s at 3 GHz;
//! under QEMU `-icount shift=0`, 2^32 guest instructions) is recorded as its duration modulo
//! 2^32, in a bucket too low. A protocol call that long is already a fault the supervisor
//! sees by other means (a server that stopped answering); shorter calls are exact.
//!
//! How the figures leave the domain: [`report`] sends the histogram (cumulative, sparse:
//! `tileos_telemetry::wire`) to the telemetry domain when the program chooses — never on
//! the call path, so recording stays a handful of instructions and reporting costs one
//! protocol call per report, at whatever pace the program reports.
//!
//! Latencies are in time-stamp-counter ticks (the boot information's `tsc_per_ms` converts
//! them; under QEMU `-icount shift=0` one tick is one guest instruction).

use tileos_telemetry::{AtomicHistogram, Histogram};

/// The latencies of this domain's protocol calls.
static CALL_LATENCY: AtomicHistogram = AtomicHistogram::new();

/// The start of a call as [`record_call`] takes it: the time-stamp counter's low 32 bits.
#[inline(always)]
pub(crate) fn call_start() -> u32 {
    crate::timestamp() as u32
}

/// Records a call that started at [`call_start`] `start` and has just ended (its duration
/// modulo 2^32: the module docs' wrap bound).
#[inline(always)]
pub(crate) fn record_call(start: u32) {
    CALL_LATENCY.record(u64::from(call_start().wrapping_sub(start)));
}

/// The latencies of the protocol calls this domain made so far (cumulative since it
/// started; its count is the number of calls).
pub fn call_latencies() -> Histogram {
    CALL_LATENCY.snapshot()
}

/// Why [`report`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportError {
    /// The call failed (no telemetry domain, or it restarted: report again later).
    Call(crate::rpc::CallError),
    /// The telemetry domain refused the report (the reason).
    Refused(tileos_protocol::telemetry::Refusal),
    /// It answered something else than an acceptance.
    UnexpectedAnswer,
}

/// Reports this domain's call latencies (cumulative since it started) to the telemetry
/// domain through `telemetry` (the domain's client capability of the `telemetry`
/// endpoint); returns the calls the telemetry domain has counted for this domain so far.
/// The report itself is not recorded (it would perturb the figures it carries).
pub fn report(telemetry: &crate::rpc::Client<tileos_protocol::telemetry::Telemetry>) -> Result<u64, ReportError> {
    use tileos_protocol::telemetry::{MAX_REPORT, Request, Response};
    let figures = tileos_telemetry::DomainFigures { latency: call_latencies(), ..Default::default() };
    let mut bytes = [0u8; MAX_REPORT];
    // Cannot fail: MAX_REPORT is the wire form's largest encoding (checked below).
    let encoded = tileos_telemetry::wire::encode(&figures, &mut bytes).map_err(|_| ReportError::UnexpectedAnswer)?;
    let figures = tileos_protocol::heapless::Vec::from_slice(encoded).map_err(|_| ReportError::UnexpectedAnswer)?;
    match telemetry.call_unrecorded(&Request::Report { figures }).map_err(ReportError::Call)? {
        Response::Accepted { total_calls, .. } => Ok(total_calls),
        Response::Refused(refusal) => Err(ReportError::Refused(refusal)),
        _ => Err(ReportError::UnexpectedAnswer),
    }
}

const _: () = assert!(tileos_protocol::telemetry::MAX_REPORT == tileos_telemetry::wire::MAX_ENCODED);

/// Reports this domain's latencies on every `every`-th event a program counts (its served
/// requests, its commands): the pace of the domains that report from their serving loop.
pub struct Periodic {
    /// Events between two reports.
    every: u32,
    /// Events counted.
    events: u32,
}

impl Periodic {
    /// Reports on every `every`-th event (0 is taken as 1).
    pub const fn new(every: u32) -> Self {
        Self { every: if every == 0 { 1 } else { every }, events: 0 }
    }

    /// Counts one event; on every `every`-th, reports through `telemetry` (when the domain
    /// has it) and logs a report the telemetry domain did not take, naming `who`.
    pub fn tick(&mut self, telemetry: Option<&crate::rpc::Client<tileos_protocol::telemetry::Telemetry>>, who: &str) {
        self.events = self.events.wrapping_add(1);
        if let Some(telemetry) = telemetry
            && self.events.is_multiple_of(self.every)
            && let Err(error) = report(telemetry)
        {
            crate::log!("{who}: telemetry report not taken: {error:?}");
        }
    }
}
