//! The telemetry protocol (docs/telemetry.md): domains report their protocol-call latency
//! histograms to the telemetry domain, and readers (the GPU status screen, tilectl through
//! the update agent, the federation service for pod-level aggregates) read every domain's
//! figures.
//!
//! A reporter is identified by its badge on the endpoint named `"telemetry"`: the
//! telemetry domain accounts a report to the domain the description gave that badge, so a
//! domain can only ever report its own figures. A report carries latencies only
//! (`tileos_telemetry::wire` with zero counters); faults, restarts and CPU time come from
//! the supervisor, which alone holds the domains' TCBs and receives their faults.

use crate::supervisor::{MAX_NAME, RaisedAlarms};
use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// Largest report: `tileos_telemetry::wire::MAX_ENCODED` (the telemetry domain checks the
/// two agree at build time).
pub const MAX_REPORT: usize = 735;
/// Most domains one [`Response::Figures`] lists; ask again from `first + MAX_FIGURES`.
pub const MAX_FIGURES: usize = 4;

/// A request to the telemetry domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// Requests are decoded from one message and handled at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// The caller's cumulative latency histogram since it started
    /// (`tileos_telemetry::wire` encoding; its faults, restarts and CPU ticks must be 0).
    Report {
        /// The encoded figures.
        figures: Vec<u8, MAX_REPORT>,
    },
    /// Every domain's figures from description index `first` on.
    Figures {
        /// Index of the first domain listed.
        first: u16,
    },
    /// One domain's whole cumulative latency histogram (`tileos_telemetry::wire`), the
    /// mergeable form a pod-level aggregate needs (a percentile of a pod is one of the
    /// merged histograms, not a mean of percentiles).
    Histogram {
        /// The domain's index in the description.
        domain: u16,
    },
}

/// One domain's figures, cumulative since the tile booted (across the domain's restarts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainFigures {
    /// The domain's name in the description.
    pub name: String<MAX_NAME>,
    /// Whether the domain may report latencies (it is a client of the `telemetry`
    /// endpoint); a domain that may not has no latency figures.
    pub reporter: bool,
    /// Protocol calls it reported.
    pub calls: u64,
    /// Median call latency: the upper bound of its log2 bucket, in time-stamp ticks (0: no
    /// calls).
    pub p50_ticks: u64,
    /// 99th percentile, likewise.
    pub p99_ticks: u64,
    /// Largest call, likewise.
    pub max_ticks: u64,
    /// Faults the supervisor received from it.
    pub faults: u64,
    /// Restarts by the supervisor.
    pub restarts: u64,
    /// CPU time consumed, kernel timer ticks (`TcbConsumedTime` word 0, sampled).
    pub cpu_ticks: u64,
    /// CPU time consumed, time-stamp-counter cycles (`TcbConsumedTime` word 1, charged
    /// precisely; `tsc_per_ms` converts): the figure the tile's load and the power
    /// estimate are computed from.
    pub cpu_cycles: u64,
    /// Estimated power charged to it, milliwatts (a model: docs/telemetry.md, "power").
    pub power_mw: u32,
    /// The immune system's alarms raised for it now (the supervisor's figures).
    pub alarms: RaisedAlarms,
}

/// Units for reading [`DomainFigures`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Units {
    /// Time-stamp ticks per millisecond (latencies).
    pub tsc_per_ms: u64,
    /// Microseconds per kernel timer tick (CPU time).
    pub tick_us: u64,
    /// Milliseconds since boot.
    pub uptime_ms: u64,
}

/// Why the telemetry domain refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The caller's badge is no client of the `telemetry` endpoint: nothing to account it to.
    UnknownReporter,
    /// The report is not a valid `tileos_telemetry::wire` encoding (the reason).
    Malformed(WireFault),
    /// The report carries faults, restarts or CPU ticks: only the supervisor supplies those.
    ForeignFigures,
    /// No reporting domain (client of `telemetry`) has that index.
    UnknownDomain,
    /// The supervisor could not be asked for its figures.
    SupervisorUnavailable,
}

/// Why report bytes are not a valid wire encoding (`tileos_telemetry::wire` decodes with
/// these as its errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireFault {
    /// Not decodable, truncated, or more than 64 buckets.
    Malformed,
    /// Bytes left over after the report.
    TrailingBytes,
    /// A bucket index past the last bucket.
    BucketOutOfRange(u8),
    /// Bucket indices not strictly increasing.
    BucketsUnordered(u8),
    /// A bucket listed with count 0.
    EmptyBucket(u8),
    /// The buckets sum past `u64::MAX`.
    CountOverflow,
}

/// The telemetry domain's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// The report was accounted.
    Accepted {
        /// Calls it added (the caller's calls since its previous report, or all of them
        /// after the caller restarted).
        new_calls: u64,
        /// The caller's calls counted so far, across its restarts.
        total_calls: u64,
    },
    /// Figures of the domains from `first`.
    Figures {
        /// Domains in the description.
        total: u16,
        /// How to read the figures.
        units: Units,
        /// The domains.
        domains: Vec<DomainFigures, MAX_FIGURES>,
    },
    /// One domain's histogram.
    Histogram {
        /// Its `tileos_telemetry::wire` encoding (counters included).
        figures: Vec<u8, MAX_REPORT>,
    },
    /// Refused, and why.
    Refused(Refusal),
}

/// The telemetry protocol.
pub struct Telemetry;

impl crate::Protocol for Telemetry {
    const NAME: &'static str = "telemetry";
    type Request = Request;
    type Response = Response;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_PAYLOAD, PAYLOAD_WORDS, encode};

    fn fits(response: &Response) {
        let mut words = [0u64; PAYLOAD_WORDS + 1];
        assert!(encode(response, &mut words).is_ok(), "{response:?} does not fit {MAX_PAYLOAD} bytes");
    }

    #[test]
    fn the_largest_answers_fit_one_message() {
        let widest = DomainFigures {
            name: core::iter::repeat_n('x', MAX_NAME).collect(),
            reporter: true,
            calls: u64::MAX,
            p50_ticks: u64::MAX,
            p99_ticks: u64::MAX,
            max_ticks: u64::MAX,
            faults: u64::MAX,
            restarts: u64::MAX,
            cpu_ticks: u64::MAX,
            cpu_cycles: u64::MAX,
            power_mw: u32::MAX,
            alarms: RaisedAlarms(u8::MAX),
        };
        let units = Units { tsc_per_ms: u64::MAX, tick_us: u64::MAX, uptime_ms: u64::MAX };
        let domains = core::iter::repeat_n(widest, MAX_FIGURES).collect();
        fits(&Response::Figures { total: u16::MAX, units, domains });
        fits(&Response::Histogram { figures: core::iter::repeat_n(0xff, MAX_REPORT).collect() });
        let mut words = [0u64; PAYLOAD_WORDS + 1];
        let report = Request::Report { figures: core::iter::repeat_n(0xff, MAX_REPORT).collect() };
        assert!(encode(&report, &mut words).is_ok());
    }
}
