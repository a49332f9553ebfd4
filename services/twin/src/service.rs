//! The twin domain's logic (`userland/services/twin` is the glue around it; docs/twin.md
//! "The twin domain"): sensor readings in ([`Twin::ingest`]), the twin protocol
//! (`tileos_protocol::twin`) out.
//!
//! * Readings of the sensor protocol feed the [`PhysicalState`], the thermal advisor, the
//!   bearing monitor (one vibration window per round of the vibration chip: RMS, kurtosis and
//!   the envelope at the fault frequency; the chip reports no crest factor, which is not
//!   watched), per-minute aggregates ([`MinuteAggregate`], the history the domain writes to
//!   the store) and the sliding sample windows of the export catalogue ([`wire::QUERIES`]).
//! * Raw samples stay in [`SampleWindow`]s, which have no accessor; the only values that
//!   leave are the minute aggregates, advice, alarms and the export gate's noised releases.
//! * The export gate's ledger is loaded from (or created for) the store at start
//!   ([`Twin::open_ledger`]); each export hands back the new ledger bytes, which the domain
//!   must write before the answer leaves ([`ExportAnswer::after_persist`]).

use alloc::format;
use alloc::vec::Vec;

use tileos_protocol::sensors::{Quantity as Sensed, Reading};
use tileos_protocol::twin::{self as wire, MinuteAggregate, Summary};

use crate::Millis;
use crate::compute::{ComputeError, ComputeTracker};
use crate::maintenance::{
    Assessment, BearingConfig, BearingMonitor, Feature, MaintenanceError, ThermalAdvice, ThermalAdvisor, ThermalConfig, ThermalLevel,
};
use crate::privacy::{
    Aggregate, Bounds, ExportError, ExportGate, GateConfig, LedgerError, Mechanism, Outcome, ParamError, Query, QueryName, RandomSource,
    Recipient, Refusal, SampleWindow,
};
use crate::state::{PhysicalState, Presence, Pump, StateError};
use crate::vibration::VibrationFeatures;

/// Length of one history entry, ms.
pub const MINUTE_MS: Millis = 60_000;
/// The export gate's window bound `B` (above [`wire::WINDOW_SAMPLES`]) and log length.
pub const GATE: GateConfig = GateConfig { max_window: 1000, log_capacity: 64 };
/// The bearing monitor of the tile's vibration chip: the defaults, crest factor unwatched
/// (the chip does not report it).
pub const BEARING: BearingConfig =
    BearingConfig { warmup_windows: 40, allowance: 1.0, threshold: 12.0, min_std: 0.02, watched: [true, true, false, true] };

/// A recipient's budget as the description grants it to a client badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The client's badge.
    pub badge: u64,
    /// ε budget, micro-units.
    pub epsilon_micros: u64,
    /// δ budget, femto-units.
    pub delta_femtos: u64,
}

/// The gate's name for the recipient behind `badge`: `badge-<n>`.
pub fn recipient_of(badge: u64) -> Recipient {
    Recipient::new(&format!("badge-{badge}")).expect("a badge name is short and plain")
}

/// What [`Twin::open_ledger`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerOpened {
    /// No ledger was stored: a new one was made.
    pub created: bool,
    /// Grants given a budget now (new recipients).
    pub added: u32,
    /// Grants refused, with the gate's reason (e.g. a zero ε).
    pub refused: Vec<(u64, ExportError)>,
}

impl LedgerOpened {
    /// Whether the ledger changed and must be written.
    pub fn changed(&self) -> bool {
        self.created || self.added > 0
    }
}

/// A reading the twin could not take in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestError {
    /// The state model refused it.
    State(StateError),
    /// The bearing monitor or the thermal advisor refused it.
    Maintenance(MaintenanceError),
    /// A vibration window's features were not finite and positive (the chip's RMS was 0).
    Vibration,
}

/// What one reading changed that the domain acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ingested {
    /// A minute ended: its aggregate, to write to the store.
    pub minute: Option<MinuteAggregate>,
    /// A bearing-wear alarm was raised by this reading.
    pub wear_raised: Option<wire::WearAlarm>,
    /// The reading completed a vibration window (the bearing was assessed).
    pub assessed: bool,
}

/// An export's answer and the ledger to persist before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportAnswer {
    /// The answer.
    pub response: wire::Response,
    /// The ledger after the call (the gate logs refusals too), when the gate is open.
    pub ledger: Option<Vec<u8>>,
}

impl ExportAnswer {
    /// The answer to send once the domain tried to persist the ledger: a release whose
    /// ledger was not written is withheld (its charge stands).
    pub fn after_persist(self, persisted: bool) -> wire::Response {
        match self.response {
            wire::Response::Released { .. } if !persisted => wire::Response::Refused(wire::Error::LedgerNotPersisted),
            response => response,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Accumulator {
    count: u32,
    sum: f64,
    min: f64,
    max: f64,
}

impl Accumulator {
    fn add(&mut self, x: f64) {
        if self.count == 0 {
            (self.min, self.max) = (x, x);
        }
        self.count += 1;
        self.sum += x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    fn summary(&self) -> Summary {
        if self.count == 0 {
            return Summary::default();
        }
        Summary { count: self.count, mean: self.sum / f64::from(self.count), min: self.min, max: self.max }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    minute: u32,
    temperature: Accumulator,
    power: Accumulator,
    flow: Accumulator,
    rms: Accumulator,
    band: Accumulator,
    presence: Accumulator,
}

impl Minute {
    fn aggregate(&self) -> MinuteAggregate {
        MinuteAggregate {
            minute: self.minute,
            temperature_c: self.temperature.summary(),
            power_w: self.power.summary(),
            flow_l_min: self.flow.summary(),
            vibration_rms_g: self.rms.summary(),
            fault_band_g: self.band.summary(),
            presence_share: self.presence.summary().mean,
        }
    }
}

/// One vibration chip read, assembled from its three readings (same `taken_ms`).
#[derive(Debug, Clone, Copy, Default)]
struct PendingVibration {
    taken_ms: Millis,
    rms_ug: Option<i32>,
    kurtosis_milli: Option<i32>,
    band_ug: Option<i32>,
}

#[derive(Debug)]
enum Ledger {
    NotOpened,
    Open(ExportGate),
    Closed,
}

/// The export windows, in [`wire::QUERIES`] order.
const WINDOWS: usize = wire::QUERIES.len();

/// The twin (module docs).
#[derive(Debug)]
pub struct Twin {
    physical: PhysicalState,
    thermal: ThermalAdvisor,
    advice: Option<ThermalAdvice>,
    bearing: BearingMonitor,
    assessment: Option<Assessment>,
    vibration: PendingVibration,
    flow_l_min: Option<f64>,
    minute: Option<Minute>,
    last_minute: Option<MinuteAggregate>,
    history_minutes: u32,
    windows: [SampleWindow; WINDOWS],
    ledger: Ledger,
    readings: u64,
    assessed: u32,
    stale: u16,
    compute: ComputeTracker,
}

impl Default for Twin {
    fn default() -> Self {
        Self::new()
    }
}

impl Twin {
    /// A twin with no readings and no ledger (exports closed until [`Twin::open_ledger`]).
    pub fn new() -> Twin {
        let window = || SampleWindow::new(wire::WINDOW_SAMPLES).expect("the window size is in range");
        Twin {
            physical: PhysicalState::default(),
            thermal: ThermalAdvisor::new(ThermalConfig::default()).expect("the default thermal configuration is valid"),
            advice: None,
            bearing: BearingMonitor::new(BEARING).expect("the bearing configuration is valid"),
            assessment: None,
            vibration: PendingVibration::default(),
            flow_l_min: None,
            minute: None,
            last_minute: None,
            history_minutes: 0,
            windows: core::array::from_fn(|_| window()),
            ledger: Ledger::NotOpened,
            readings: 0,
            assessed: 0,
            stale: 0,
            compute: ComputeTracker::default(),
        }
    }

    /// Loads the ledger the store held (`None`: none yet, a new one is made) and gives every
    /// grant without a budget its budget. A budget already in the ledger is kept as it is: a
    /// description cannot raise or reset it. A ledger that does not load closes exports
    /// (never an empty ledger in its place: that would refund every spend).
    pub fn open_ledger(&mut self, stored: Option<&[u8]>, grants: &[Grant]) -> Result<LedgerOpened, LedgerError> {
        let (mut gate, created) = match stored {
            None => (ExportGate::new(GATE).expect("the gate configuration is valid"), true),
            Some(bytes) => match ExportGate::from_bytes(bytes) {
                Ok(gate) => (gate, false),
                Err(error) => {
                    self.ledger = Ledger::Closed;
                    return Err(error);
                }
            },
        };
        let mut opened = LedgerOpened { created, added: 0, refused: Vec::new() };
        for grant in grants {
            let recipient = recipient_of(grant.badge);
            if gate.account(&recipient).is_some() {
                continue;
            }
            let epsilon = grant.epsilon_micros as f64 / crate::privacy::EPSILON_SCALE as f64;
            let delta = grant.delta_femtos as f64 / crate::privacy::DELTA_SCALE as f64;
            match gate.add_recipient(recipient, epsilon, delta) {
                Ok(()) => opened.added += 1,
                Err(error) => opened.refused.push((grant.badge, error)),
            }
        }
        self.ledger = Ledger::Open(gate);
        Ok(opened)
    }

    /// Closes exports (the domain could not write a new ledger).
    pub fn close_ledger(&mut self) {
        self.ledger = Ledger::Closed;
    }

    /// The ledger's bytes, when open.
    pub fn ledger_bytes(&self) -> Option<Vec<u8>> {
        match &self.ledger {
            Ledger::Open(gate) => Some(gate.to_bytes()),
            _ => None,
        }
    }

    /// Sets how many minutes of history the store holds (found at start).
    pub fn set_history_minutes(&mut self, minutes: u32) {
        self.history_minutes = minutes;
    }

    /// A minute aggregate was written to the store, taking a slot of a ring of `slots`.
    pub fn history_written(&mut self, slots: u32) {
        self.history_minutes = (self.history_minutes + 1).min(slots);
    }

    /// Takes in one reading of the sensor protocol. A stale reading only marks its quantity
    /// stale (its value is an old one, already taken in).
    pub fn ingest(&mut self, reading: &Reading) -> Result<Ingested, IngestError> {
        let bit = reading.quantity.bit();
        if reading.stale {
            self.stale |= bit;
            return Ok(Ingested::default());
        }
        self.stale &= !bit;
        self.readings += 1;
        let at = reading.taken_ms;
        let mut ingested = Ingested { minute: self.roll_minute(at), ..Ingested::default() };
        let v = f64::from(reading.value);
        let minute = self.minute.as_mut().expect("rolled above");
        match reading.quantity {
            Sensed::Temperature => {
                let c = v / 1000.0;
                self.physical.set_temperature(c, at).map_err(IngestError::State)?;
                self.advice = Some(self.thermal.observe(c, at).map_err(IngestError::Maintenance)?);
                minute.temperature.add(c);
                push(&mut self.windows[0], c);
            }
            Sensed::Power => {
                let w = v / 1000.0;
                self.physical.set_power(w, at).map_err(IngestError::State)?;
                minute.power.add(w);
                push(&mut self.windows[1], w);
            }
            Sensed::PumpFlow => {
                let l = v / 1000.0;
                self.flow_l_min = Some(l);
                minute.flow.add(l);
                push(&mut self.windows[2], l);
            }
            Sensed::PumpPressure => {
                if let Some(flow) = self.flow_l_min {
                    self.physical.set_pump(Pump { flow_l_per_min: flow, pressure_kpa: v / 1000.0 }, at).map_err(IngestError::State)?;
                }
            }
            Sensed::VibrationRms | Sensed::VibrationKurtosis | Sensed::VibrationFaultBand => {
                if self.vibration.taken_ms != at {
                    self.vibration = PendingVibration { taken_ms: at, ..PendingVibration::default() };
                }
                let p = &mut self.vibration;
                match reading.quantity {
                    Sensed::VibrationRms => p.rms_ug = Some(reading.value),
                    Sensed::VibrationKurtosis => p.kurtosis_milli = Some(reading.value),
                    _ => p.band_ug = Some(reading.value),
                }
                if let PendingVibration { rms_ug: Some(rms), kurtosis_milli: Some(kurtosis), band_ug: Some(band), .. } = *p {
                    self.vibration = PendingVibration::default();
                    ingested.wear_raised = self.assess(rms, kurtosis, band, at)?;
                    ingested.assessed = true;
                }
            }
            Sensed::Presence => {
                let present = reading.value != 0;
                self.physical.set_presence(if present { Presence::Present } else { Presence::Absent }, at).map_err(IngestError::State)?;
                let x = if present { 1.0 } else { 0.0 };
                self.minute.as_mut().expect("rolled above").presence.add(x);
                push(&mut self.windows[4], x);
            }
            Sensed::PresenceDistance => {}
        }
        Ok(ingested)
    }

    /// Starts the minute of `at` if it is a new one; the minute it ends.
    fn roll_minute(&mut self, at: Millis) -> Option<MinuteAggregate> {
        let index = (at / MINUTE_MS).min(u64::from(u32::MAX)) as u32;
        match self.minute {
            Some(minute) if minute.minute >= index => None,
            previous => {
                self.minute = Some(Minute { minute: index, ..Minute::default() });
                let ended = previous.map(|minute| minute.aggregate());
                self.last_minute = ended.or(self.last_minute);
                ended
            }
        }
    }

    /// One vibration window (the chip's units: µg, kurtosis ×1000, µg).
    fn assess(&mut self, rms_ug: i32, kurtosis_milli: i32, band_ug: i32, at: Millis) -> Result<Option<wire::WearAlarm>, IngestError> {
        if rms_ug <= 0 || kurtosis_milli < 0 || band_ug < 0 {
            return Err(IngestError::Vibration);
        }
        let rms = f64::from(rms_ug) / 1e6;
        let band = f64::from(band_ug) / 1e6;
        // The chip reports the envelope's amplitude at the fault frequency; relative to the
        // RMS it stands in for the share of the envelope at the fault lines (both rise with
        // the impulses' energy at that rate). No crest factor: unwatched, reported as 0.
        let features =
            VibrationFeatures { rms, kurtosis: f64::from(kurtosis_milli) / 1000.0, crest_factor: 0.0, fault_band_share: band / rms };
        self.physical.set_vibration(features, at).map_err(IngestError::State)?;
        let was_worn = self.bearing.alarm().is_some();
        let assessment = self.bearing.observe(&features, at).map_err(IngestError::Maintenance)?;
        self.assessment = Some(assessment);
        self.assessed += 1;
        let minute = self.minute.as_mut().expect("rolled by ingest");
        minute.rms.add(rms);
        minute.band.add(band);
        push(&mut self.windows[3], rms);
        Ok(match assessment {
            Assessment::Wear(alarm) if !was_worn => Some(wear_of(&alarm)),
            _ => None,
        })
    }

    /// The state (aggregates and advice only).
    pub fn state(&self) -> wire::State {
        wire::State {
            readings: self.readings,
            windows: self.assessed,
            stale: self.stale != 0,
            last_minute: self.last_minute,
            history_minutes: self.history_minutes,
            thermal: self.thermal(),
            bearing: match &self.assessment {
                None => wire::Bearing::Learning { remaining: BEARING.warmup_windows },
                Some(Assessment::Learning { remaining }) => wire::Bearing::Learning { remaining: *remaining },
                Some(Assessment::Healthy { evidence }) => wire::Bearing::Healthy {
                    largest_cusum: evidence.iter().map(|e| e.cusum).fold(0.0, f64::max),
                    threshold: BEARING.threshold,
                },
                Some(Assessment::Wear(alarm)) => wire::Bearing::Worn(wear_of(alarm)),
            },
            exports_open: matches!(self.ledger, Ledger::Open(_)),
            compute: self.compute.current().cloned(),
        }
    }

    /// Takes the telemetry domain's figures of every domain into the compute state; the
    /// answer is the new compute state (its `load_permille` is what the domain reports to
    /// the sensors domain). Refused figures leave the state as it was.
    pub fn take_figures(
        &mut self,
        units: &tileos_protocol::telemetry::Units,
        figures: &[tileos_protocol::telemetry::DomainFigures],
    ) -> Result<&wire::Compute, ComputeError> {
        self.compute.take(units, figures)
    }

    fn thermal(&self) -> wire::Thermal {
        match &self.advice {
            None => wire::Thermal { level: wire::ThermalLevel::Unknown, trend_c_per_s: None, time_to_limit_s: None },
            Some(advice) => wire::Thermal {
                level: match advice.level {
                    ThermalLevel::Nominal => wire::ThermalLevel::Nominal,
                    ThermalLevel::Watch => wire::ThermalLevel::Watch,
                    ThermalLevel::Throttle => wire::ThermalLevel::Throttle,
                    ThermalLevel::Critical => wire::ThermalLevel::Critical,
                },
                trend_c_per_s: advice.trend_c_per_s,
                time_to_limit_s: advice.time_to_limit_s,
            },
        }
    }

    /// The maintenance alarms: bearing wear (latched), thermal advice at throttle or above.
    pub fn alarms(&self) -> heapless::Vec<wire::Alarm, 2> {
        let mut alarms = heapless::Vec::new();
        if let Some(alarm) = self.bearing.alarm() {
            let _ = alarms.push(wire::Alarm::BearingWear(wear_of(alarm)));
        }
        let thermal = self.thermal();
        if matches!(thermal.level, wire::ThermalLevel::Throttle | wire::ThermalLevel::Critical) {
            let _ = alarms.push(wire::Alarm::Thermal(thermal));
        }
        alarms
    }

    /// Answers a request other than `Export` (which needs randomness: [`Twin::export`]).
    pub fn answer(&self, badge: u64, request: &wire::Request) -> wire::Response {
        match request {
            wire::Request::State => wire::Response::State(self.state()),
            wire::Request::Alarms => wire::Response::Alarms(self.alarms()),
            wire::Request::Budget => self.budget(badge),
            wire::Request::ExportLog { index } => self.log_entry(badge, *index),
            wire::Request::Export { .. } => wire::Response::Refused(wire::Error::Internal),
        }
    }

    fn gate(&self) -> Result<&ExportGate, wire::Error> {
        match &self.ledger {
            Ledger::Open(gate) => Ok(gate),
            _ => Err(wire::Error::LedgerUnavailable),
        }
    }

    fn budget(&self, badge: u64) -> wire::Response {
        let gate = match self.gate() {
            Ok(gate) => gate,
            Err(error) => return wire::Response::Refused(error),
        };
        let recipient = recipient_of(badge);
        match gate.account(&recipient) {
            None => wire::Response::Refused(wire::Error::NoBudget { badge }),
            Some(account) => wire::Response::Budget {
                budget: allowance(account.budget),
                spent: allowance(account.spent),
                log_entries: gate.log().filter(|r| r.recipient == recipient).count() as u32,
            },
        }
    }

    fn log_entry(&self, badge: u64, index: u32) -> wire::Response {
        let gate = match self.gate() {
            Ok(gate) => gate,
            Err(error) => return wire::Response::Refused(error),
        };
        let recipient = recipient_of(badge);
        if gate.account(&recipient).is_none() {
            return wire::Response::Refused(wire::Error::NoBudget { badge });
        }
        let Some(record) = gate.log().filter(|r| r.recipient == recipient).nth(index as usize) else {
            return wire::Response::Refused(wire::Error::NoEntry { index });
        };
        wire::Response::LogEntry(wire::LogEntry {
            at_ms: record.at,
            query: wire::QueryName::try_from(record.query.as_str()).unwrap_or_default(),
            charged: allowance(record.charged),
            outcome: match record.outcome {
                Outcome::Released(value) => wire::LoggedOutcome::Released(value),
                Outcome::Refused(Refusal::UnknownRecipient) => wire::LoggedOutcome::UnknownRecipient,
                Outcome::Refused(Refusal::BudgetExhausted) => wire::LoggedOutcome::BudgetExhausted,
                Outcome::Refused(Refusal::InvalidQuery) => wire::LoggedOutcome::InvalidQuery,
                Outcome::Refused(Refusal::WindowTooLarge) => wire::LoggedOutcome::WindowTooLarge,
            },
        })
    }

    /// The export gate: `query` (a name of [`wire::QUERIES`]) over its window, noised by
    /// `mechanism`, charged to the caller's budget. An unknown query name is refused before
    /// the gate (nothing to log against); everything else is logged by the gate.
    pub fn export<R: RandomSource + ?Sized>(
        &mut self,
        badge: u64,
        query: &str,
        mechanism: wire::Mechanism,
        rng: &mut R,
        now: Millis,
    ) -> ExportAnswer {
        let refused = |error| ExportAnswer { response: wire::Response::Refused(error), ledger: None };
        let Ledger::Open(gate) = &mut self.ledger else { return refused(wire::Error::LedgerUnavailable) };
        let Some(index) = wire::query_index(query) else {
            return refused(wire::Error::UnknownQuery(wire::QueryName::try_from(query).unwrap_or_default()));
        };
        let bounds = |lo, hi| Bounds::new(lo, hi).expect("the catalogue's bounds are valid");
        let aggregate = match index {
            0 => Aggregate::Mean(bounds(0.0, 100.0)),
            1 => Aggregate::Mean(bounds(0.0, 500.0)),
            2 => Aggregate::Mean(bounds(0.0, 2.0)),
            3 => Aggregate::Mean(bounds(0.0, 1.0)),
            _ => Aggregate::Sum(bounds(0.0, 1.0)),
        };
        let mechanism = match mechanism {
            wire::Mechanism::Laplace { epsilon } => Mechanism::Laplace { epsilon },
            wire::Mechanism::Gaussian { epsilon, delta } => Mechanism::Gaussian { epsilon, delta },
        };
        let name = QueryName::new(query).expect("a catalogue name is valid");
        let q = Query { name, aggregate, mechanism };
        let result = gate.export(&recipient_of(badge), &q, &self.windows[index], rng, now);
        let response = match result {
            Ok(release) => wire::Response::Released {
                value: release.value,
                charged: allowance(release.charged),
                remaining: allowance(release.remaining),
            },
            Err(error) => wire::Response::Refused(error_of(badge, error)),
        };
        ExportAnswer { response, ledger: Some(gate.to_bytes()) }
    }
}

fn push(window: &mut SampleWindow, x: f64) {
    // Every value pushed is a finite reading converted from an integer.
    let _ = window.push_sliding(x);
}

fn allowance(a: crate::privacy::Allowance) -> wire::Allowance {
    wire::Allowance { epsilon_micros: a.epsilon.micros(), delta_femtos: a.delta.femtos() }
}

fn fault(error: ParamError) -> wire::ParamFault {
    match error {
        ParamError::NaN => wire::ParamFault::NaN,
        ParamError::Infinite => wire::ParamFault::Infinite,
        ParamError::Negative => wire::ParamFault::Negative,
        ParamError::Zero => wire::ParamFault::Zero,
        ParamError::TooLarge => wire::ParamFault::TooLarge,
    }
}

fn error_of(badge: u64, error: ExportError) -> wire::Error {
    match error {
        ExportError::Epsilon(e) => wire::Error::Epsilon(fault(e)),
        ExportError::Delta(e) => wire::Error::Delta(fault(e)),
        ExportError::GaussianEpsilon => wire::Error::GaussianEpsilon,
        ExportError::SnappingRange { min_epsilon } => {
            wire::Error::SnappingRange { min_epsilon_micros: libm::ceil(min_epsilon * crate::privacy::EPSILON_SCALE as f64) as u64 }
        }
        ExportError::UnknownRecipient(_) => wire::Error::NoBudget { badge },
        ExportError::BudgetExhausted { remaining, requested, .. } => {
            wire::Error::BudgetExhausted { remaining: allowance(remaining), requested: allowance(requested) }
        }
        ExportError::Config(_) | ExportError::WindowTooLarge { .. } | ExportError::RecipientExists(_) => wire::Error::Internal,
    }
}

fn wear_of(alarm: &crate::maintenance::WearAlarm) -> wire::WearAlarm {
    wire::WearAlarm {
        trigger: match alarm.trigger {
            Feature::Rms => wire::Feature::Rms,
            Feature::Kurtosis => wire::Feature::Kurtosis,
            Feature::CrestFactor => wire::Feature::CrestFactor,
            Feature::FaultBand => wire::Feature::FaultBand,
        },
        raised_ms: alarm.raised_at,
        onset_ms: alarm.onset_estimate,
        cusum: alarm.evidence.map(|e| e.cusum),
        z: alarm.evidence.map(|e| e.z),
    }
}

/// Encodes a minute aggregate for the store (postcard).
pub fn encode_minute(minute: &MinuteAggregate) -> Vec<u8> {
    postcard::to_allocvec(minute).expect("postcard encodes a minute aggregate")
}

/// Decodes a minute aggregate read from the store; `None` if it does not decode.
pub fn decode_minute(bytes: &[u8]) -> Option<MinuteAggregate> {
    postcard::from_bytes(bytes).ok()
}
