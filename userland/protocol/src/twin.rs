//! The twin protocol: the tile's digital twin (`userland/services/twin`, docs/twin.md "The
//! twin domain") answers on the endpoint named [`Twin::NAME`](crate::Protocol::NAME) (`"twin"`).
//!
//! Nothing in it carries a raw sample. [`Request::State`] answers aggregates (per-minute
//! count/mean/min/max) and advice; [`Request::Alarms`] the maintenance alarms with their
//! evidence; [`Request::Export`] is the differential-privacy export gate: it names one query
//! of the twin's fixed catalogue ([`QUERIES`]) and its privacy parameters, and answers one
//! noised aggregate charged to the caller's budget (the recipient is the caller's badge; its
//! budget comes from the description). [`Request::Budget`] and [`Request::ExportLog`] show a
//! recipient its own account and its own entries of the export log.

use serde::{Deserialize, Serialize};

/// The twin protocol.
pub struct Twin;

impl crate::Protocol for Twin {
    const NAME: &'static str = "twin";
    type Request = Request;
    type Response = Response;
}

/// Longest query name.
pub const MAX_QUERY: usize = 32;

/// A query's name.
pub type QueryName = heapless::String<MAX_QUERY>;

/// The export catalogue: each query's name and what it releases (over the samples of the
/// twin's current sample window, the last [`WINDOW_SAMPLES`] of the quantity).
pub const QUERIES: [(&str, &str); 5] = [
    ("temperature.mean", "mean temperature, °C, clipped to [0, 100]"),
    ("power.mean", "mean supply power, W, clipped to [0, 500]"),
    ("pump.flow.mean", "mean pump flow, L/min, clipped to [0, 2]"),
    ("vibration.rms.mean", "mean vibration RMS, g, clipped to [0, 1]"),
    ("presence.count", "number of samples with someone in front of the tile"),
];

/// Samples an export window holds (the newest; at four samples a second, 150 s).
pub const WINDOW_SAMPLES: u32 = 600;

/// The noise mechanism and the query's privacy parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Mechanism {
    /// Laplace noise (the snapping mechanism): pure ε-DP.
    Laplace {
        /// ε of this query (> 0, finite).
        epsilon: f64,
    },
    /// Gaussian noise: (ε, δ)-DP, ε in (0, 1).
    Gaussian {
        /// ε of this query.
        epsilon: f64,
        /// δ of this query, in (0, 1).
        delta: f64,
    },
}

/// A request to the twin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Aggregates and advice. Answer: [`Response::State`].
    State,
    /// Maintenance alarms. Answer: [`Response::Alarms`].
    Alarms,
    /// One noised aggregate, charged to the caller. Answer: [`Response::Released`].
    Export {
        /// A name of [`QUERIES`].
        query: QueryName,
        /// How to noise it.
        mechanism: Mechanism,
    },
    /// The caller's privacy account. Answer: [`Response::Budget`].
    Budget,
    /// The caller's `index`-th entry of the export log (0: its oldest kept). Answer:
    /// [`Response::LogEntry`].
    ExportLog {
        /// Which of the caller's entries.
        index: u32,
    },
}

/// Count, mean, least and greatest of a quantity's samples over one minute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Samples.
    pub count: u32,
    /// Their mean (0 without samples).
    pub mean: f64,
    /// The least (0 without samples).
    pub min: f64,
    /// The greatest (0 without samples).
    pub max: f64,
}

/// One minute of the tile's physical state (the unit of the twin's history in the store).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteAggregate {
    /// The minute, counted from the sensors domain's start.
    pub minute: u32,
    /// Temperature, °C.
    pub temperature_c: Summary,
    /// Supply power, W.
    pub power_w: Summary,
    /// Pump flow, L/min.
    pub flow_l_min: Summary,
    /// Vibration RMS, g.
    pub vibration_rms_g: Summary,
    /// Vibration envelope at the fault frequency, g.
    pub fault_band_g: Summary,
    /// Share of presence samples with someone in front of the tile.
    pub presence_share: f64,
}

/// Thermal advice level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThermalLevel {
    /// No advice yet (no temperature).
    Unknown,
    /// Nothing to do.
    Nominal,
    /// The limit is projected within four horizons.
    Watch,
    /// Throttle: within the margin, or the limit projected within the horizon.
    Throttle,
    /// At or above the limit.
    Critical,
}

/// Thermal advice (no temperature sample: the level, the trend and the projection).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thermal {
    /// The level.
    pub level: ThermalLevel,
    /// The temperature trend, °C/s, when known.
    pub trend_c_per_s: Option<f64>,
    /// Seconds until the limit at that trend, when rising.
    pub time_to_limit_s: Option<f64>,
}

/// A bearing feature the wear detector watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Feature {
    /// Vibration RMS.
    Rms,
    /// Kurtosis.
    Kurtosis,
    /// Crest factor.
    CrestFactor,
    /// Fault band.
    FaultBand,
}

impl Feature {
    /// A short name for logs (`rms`, `kurtosis`, `crest-factor`, `fault-band`).
    pub fn name(self) -> &'static str {
        match self {
            Feature::Rms => "rms",
            Feature::Kurtosis => "kurtosis",
            Feature::CrestFactor => "crest-factor",
            Feature::FaultBand => "fault-band",
        }
    }
}

/// The bearing's state.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Bearing {
    /// Learning the healthy baseline: windows still needed.
    Learning {
        /// Windows still needed.
        remaining: u32,
    },
    /// Healthy: the largest CUSUM against the threshold.
    Healthy {
        /// Largest CUSUM.
        largest_cusum: f64,
        /// The alarm threshold.
        threshold: f64,
    },
    /// Worn: the alarm.
    Worn(WearAlarm),
}

/// A bearing-wear alarm with its evidence.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WearAlarm {
    /// The feature whose CUSUM crossed the threshold.
    pub trigger: Feature,
    /// When raised, ms on the sensors domain's clock.
    pub raised_ms: u64,
    /// Onset estimate (the trigger's CUSUM last at zero), ms.
    pub onset_ms: u64,
    /// Each feature's CUSUM now (in [`Feature`] order; a feature the chips do not report
    /// stays 0).
    pub cusum: [f64; 4],
    /// Each feature's `z` now.
    pub z: [f64; 4],
}

/// The domain a [`Compute`] names as the slowest reporter, and its 99th percentile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slowest {
    /// The domain's name in the description.
    pub domain: heapless::String<{ crate::supervisor::MAX_NAME }>,
    /// Its 99th-percentile call latency, µs (a log2 bucket's upper bound: docs/telemetry.md).
    pub p99_us: u64,
}

/// Most drifting domains [`Compute::drifting`] names (the others are only counted).
pub const MAX_DRIFTING: usize = 4;

/// A domain the supervisor's immune system has raised drift alarms for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drifting {
    /// The domain's name in the description.
    pub domain: heapless::String<{ crate::supervisor::MAX_NAME }>,
    /// The metrics whose alarm is raised.
    pub metrics: heapless::Vec<crate::supervisor::ImmuneMetric, 4>,
}

/// The tile's compute state, from the telemetry domain's figures of every domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compute {
    /// When the figures were read: ms since boot.
    pub uptime_ms: u64,
    /// Domains counted.
    pub domains: u16,
    /// Of them, those reporting call latencies.
    pub reporters: u16,
    /// Protocol calls the reporters reported, cumulative.
    pub calls: u64,
    /// Faults of all domains, cumulative.
    pub faults: u64,
    /// Restarts of all domains, cumulative.
    pub restarts: u64,
    /// The domains' CPU time over the interval since the previous figures, permille: the
    /// load the twin reports to the sensors domain.
    pub load_permille: u16,
    /// The power model's estimate summed over the domains, mW (a model: docs/telemetry.md).
    pub power_mw: u64,
    /// The reporter with the largest 99th percentile, if any reported calls.
    pub slowest: Option<Slowest>,
    /// Domains with a drift alarm raised now (the supervisor's immune system).
    pub drifting_domains: u16,
    /// The first [`MAX_DRIFTING`] of them, in the description's order, with their metrics.
    pub drifting: heapless::Vec<Drifting, MAX_DRIFTING>,
}

/// The twin's state: aggregates and advice only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Sensor readings taken in (all quantities).
    pub readings: u64,
    /// Vibration windows assessed.
    pub windows: u32,
    /// Some subscribed reading is stale (the sensor link is down or garbled).
    pub stale: bool,
    /// The last complete minute.
    pub last_minute: Option<MinuteAggregate>,
    /// Minutes of history held in the store (a bounded ring of the newest).
    pub history_minutes: u32,
    /// Thermal advice.
    pub thermal: Thermal,
    /// The bearing.
    pub bearing: Bearing,
    /// Whether exports are possible (the ledger was loaded or created).
    pub exports_open: bool,
    /// The compute state from the telemetry domain (none before the first figures, or
    /// without a telemetry capability).
    pub compute: Option<Compute>,
}

/// A maintenance alarm.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Alarm {
    /// Bearing wear.
    BearingWear(WearAlarm),
    /// Thermal advice at `Throttle` or `Critical`.
    Thermal(Thermal),
}

/// A privacy account in fixed point: ε in µε, δ in fδ (10⁻¹⁵).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowance {
    /// ε, micro-units.
    pub epsilon_micros: u64,
    /// δ, femto-units.
    pub delta_femtos: u64,
}

/// What became of a logged export.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum LoggedOutcome {
    /// Released this noised value.
    Released(f64),
    /// Refused: the recipient is unknown.
    UnknownRecipient,
    /// Refused: the budget was spent.
    BudgetExhausted,
    /// Refused: invalid privacy parameters.
    InvalidQuery,
    /// Refused: window too large.
    WindowTooLarge,
}

/// One export log entry of the caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When, ms on the sensors domain's clock.
    pub at_ms: u64,
    /// The query.
    pub query: QueryName,
    /// What was charged.
    pub charged: Allowance,
    /// The result.
    pub outcome: LoggedOutcome,
}

/// Why a privacy parameter was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamFault {
    /// NaN.
    NaN,
    /// ±∞.
    Infinite,
    /// Negative.
    Negative,
    /// Zero.
    Zero,
    /// Above the maximum (ε 1000; δ below 1).
    TooLarge,
}

/// Why the twin refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Error {
    /// No query of that name in [`QUERIES`].
    UnknownQuery(QueryName),
    /// The query's ε was refused.
    Epsilon(ParamFault),
    /// The query's δ was refused.
    Delta(ParamFault),
    /// Gaussian noise needs ε < 1.
    GaussianEpsilon,
    /// A Laplace ε at or below this is too small for the window bound.
    SnappingRange {
        /// Smallest ε (exclusive), millionths.
        min_epsilon_micros: u64,
    },
    /// The caller's badge has no privacy budget in the description.
    NoBudget {
        /// The caller's badge.
        badge: u64,
    },
    /// The caller's budget does not cover the query.
    BudgetExhausted {
        /// What is left.
        remaining: Allowance,
        /// What the query would cost.
        requested: Allowance,
    },
    /// The ledger in the store could not be read at start (corrupt or the store failed):
    /// exports are closed until it is repaired.
    LedgerUnavailable,
    /// The ledger could not be written to the store: the charge stands, nothing was
    /// released.
    LedgerNotPersisted,
    /// A gate error the twin's fixed configuration rules out (a bug; the twin logs it).
    Internal,
    /// No export log entry with that index for the caller.
    NoEntry {
        /// The index asked for.
        index: u32,
    },
}

/// What the twin answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// Answers are decoded from one message and handled at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// The state.
    State(State),
    /// The alarms.
    Alarms(heapless::Vec<Alarm, 2>),
    /// One noised aggregate.
    Released {
        /// The noised value.
        value: f64,
        /// What it cost.
        charged: Allowance,
        /// What is left.
        remaining: Allowance,
    },
    /// The caller's account.
    Budget {
        /// Its budget.
        budget: Allowance,
        /// Spent.
        spent: Allowance,
        /// The caller's entries in the export log.
        log_entries: u32,
    },
    /// An export log entry.
    LogEntry(LogEntry),
    /// Refused.
    Refused(Error),
}

/// The index of `name` in [`QUERIES`].
pub fn query_index(name: &str) -> Option<usize> {
    QUERIES.iter().position(|(q, _)| *q == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    #[test]
    fn the_largest_answers_fit_one_message() {
        let summary = Summary { count: u32::MAX, mean: f64::MAX, min: f64::MIN, max: f64::MAX };
        let minute = MinuteAggregate {
            minute: u32::MAX,
            temperature_c: summary,
            power_w: summary,
            flow_l_min: summary,
            vibration_rms_g: summary,
            fault_band_g: summary,
            presence_share: 1.0,
        };
        let alarm =
            WearAlarm { trigger: Feature::FaultBand, raised_ms: u64::MAX, onset_ms: u64::MAX, cusum: [f64::MAX; 4], z: [f64::MAX; 4] };
        let thermal = Thermal { level: ThermalLevel::Critical, trend_c_per_s: Some(1.0), time_to_limit_s: Some(1.0) };
        let state = Response::State(State {
            readings: u64::MAX,
            windows: u32::MAX,
            stale: true,
            last_minute: Some(minute),
            history_minutes: u32::MAX,
            thermal,
            bearing: Bearing::Worn(alarm),
            exports_open: true,
            compute: Some(Compute {
                uptime_ms: u64::MAX,
                domains: u16::MAX,
                reporters: u16::MAX,
                calls: u64::MAX,
                faults: u64::MAX,
                restarts: u64::MAX,
                load_permille: u16::MAX,
                power_mw: u64::MAX,
                slowest: Some(Slowest { domain: "d".repeat(crate::supervisor::MAX_NAME).as_str().try_into().unwrap(), p99_us: u64::MAX }),
                drifting_domains: u16::MAX,
                drifting: core::iter::repeat_n(
                    Drifting {
                        domain: "d".repeat(crate::supervisor::MAX_NAME).as_str().try_into().unwrap(),
                        metrics: heapless::Vec::from_slice(&crate::supervisor::ImmuneMetric::ALL).unwrap(),
                    },
                    MAX_DRIFTING,
                )
                .collect(),
            }),
        });
        let alarms = Response::Alarms(heapless::Vec::from_slice(&[Alarm::BearingWear(alarm), Alarm::Thermal(thermal)]).unwrap());
        let query = QueryName::try_from("x".repeat(MAX_QUERY).as_str()).unwrap();
        let entry = Response::LogEntry(LogEntry {
            at_ms: u64::MAX,
            query: query.clone(),
            charged: Allowance { epsilon_micros: u64::MAX, delta_femtos: u64::MAX },
            outcome: LoggedOutcome::Released(f64::MAX),
        });
        let refused = Response::Refused(Error::UnknownQuery(query));
        for answer in [state, alarms, entry, refused] {
            let mut words = [0; PAYLOAD_WORDS + 1];
            let length = encode(&answer, &mut words).unwrap();
            assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(answer));
        }
    }

    #[test]
    fn the_catalogue_names_are_unique_and_fit() {
        for (i, (name, _)) in QUERIES.iter().enumerate() {
            assert!(name.len() <= MAX_QUERY);
            assert_eq!(query_index(name), Some(i));
        }
        assert_eq!(query_index("temperature.raw"), None);
    }
}
