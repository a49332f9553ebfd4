//! The twin's state model: what the tile physically is doing ([`PhysicalState`]) and what
//! its domains are doing ([`ComputeState`]). Pure data plus validated update functions; the
//! twin domain feeds it from the sensors domain and the supervisor's telemetry.

use alloc::collections::BTreeMap;

use crate::Millis;
use crate::vibration::VibrationFeatures;

/// One sensor reading: its value, when it was taken, and whether it has gone stale (no newer
/// reading within its quantity's [`StaleAfter`] limit at the last [`PhysicalState::refresh`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading<T> {
    /// The value.
    pub value: T,
    /// When it was taken.
    pub at: Millis,
    /// Set by [`PhysicalState::refresh`] once the reading is older than its limit; a new
    /// reading clears it.
    pub stale: bool,
}

/// The pump's operating point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pump {
    /// Coolant flow, litres per minute (≥ 0).
    pub flow_l_per_min: f64,
    /// Outlet pressure, kPa gauge (finite; may be negative under suction).
    pub pressure_kpa: f64,
}

/// What the mmWave presence sensor reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Nobody near the tile.
    Absent,
    /// Someone near the tile.
    Present,
}

/// The physical quantities the twin tracks (names them in errors and limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Tile temperature.
    Temperature,
    /// Electrical power draw.
    Power,
    /// Pump flow and pressure.
    Pump,
    /// Vibration features of the latest piezo window.
    Vibration,
    /// mmWave presence.
    Presence,
}

/// Why an update was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// A value is NaN or infinite.
    NonFinite(Quantity),
    /// A value is physically impossible (temperature below absolute zero, negative power or
    /// flow).
    OutOfRange(Quantity),
    /// The reading is older than the one the state already holds.
    OutOfOrder {
        /// Which quantity.
        quantity: Quantity,
        /// The held reading's time.
        held: Millis,
        /// The refused reading's time.
        at: Millis,
    },
    /// A domain's telemetry sample is not later than the previous one.
    TelemetryOutOfOrder {
        /// The domain.
        domain: DomainId,
        /// The previous sample's time.
        held: Millis,
        /// The refused sample's time.
        at: Millis,
    },
    /// A cumulative counter decreased between two samples of a domain.
    CounterWentBackwards {
        /// The domain.
        domain: DomainId,
        /// The counter.
        counter: Counter,
    },
    /// The latency summary's percentiles are not ordered `p50 ≤ p90 ≤ p99 ≤ max`.
    LatencyUnordered(DomainId),
}

/// How old each quantity's reading may be before it is flagged stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleAfter {
    /// Temperature limit.
    pub temperature: Millis,
    /// Power limit.
    pub power: Millis,
    /// Pump limit.
    pub pump: Millis,
    /// Vibration limit (a window is analysed every few minutes or hours).
    pub vibration: Millis,
    /// Presence limit.
    pub presence: Millis,
}

impl Default for StaleAfter {
    /// Five seconds for the fast sensors, an hour for vibration windows.
    fn default() -> Self {
        StaleAfter { temperature: 5_000, power: 5_000, pump: 5_000, vibration: 3_600_000, presence: 5_000 }
    }
}

/// The tile's physical state: the latest reading of each quantity (`None` until the first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhysicalState {
    temperature: Option<Reading<f64>>,
    power: Option<Reading<f64>>,
    pump: Option<Reading<Pump>>,
    vibration: Option<Reading<VibrationFeatures>>,
    presence: Option<Reading<Presence>>,
}

/// Replaces `slot` with a fresh reading unless it would go back in time.
fn store<T>(slot: &mut Option<Reading<T>>, quantity: Quantity, value: T, at: Millis) -> Result<(), StateError> {
    if let Some(held) = slot
        && at < held.at
    {
        return Err(StateError::OutOfOrder { quantity, held: held.at, at });
    }
    *slot = Some(Reading { value, at, stale: false });
    Ok(())
}

fn finite(quantity: Quantity, x: f64) -> Result<f64, StateError> {
    if x.is_finite() { Ok(x) } else { Err(StateError::NonFinite(quantity)) }
}

fn mark<T>(slot: &mut Option<Reading<T>>, now: Millis, limit: Millis) {
    if let Some(r) = slot {
        r.stale = now.saturating_sub(r.at) > limit;
    }
}

impl PhysicalState {
    /// Records a temperature in °C (finite, ≥ −273.15).
    pub fn set_temperature(&mut self, celsius: f64, at: Millis) -> Result<(), StateError> {
        let q = Quantity::Temperature;
        if finite(q, celsius)? < -273.15 {
            return Err(StateError::OutOfRange(q));
        }
        store(&mut self.temperature, q, celsius, at)
    }

    /// Records the power draw in watts (finite, ≥ 0).
    pub fn set_power(&mut self, watts: f64, at: Millis) -> Result<(), StateError> {
        let q = Quantity::Power;
        if finite(q, watts)? < 0.0 {
            return Err(StateError::OutOfRange(q));
        }
        store(&mut self.power, q, watts, at)
    }

    /// Records the pump's operating point (flow finite and ≥ 0, pressure finite).
    pub fn set_pump(&mut self, pump: Pump, at: Millis) -> Result<(), StateError> {
        let q = Quantity::Pump;
        finite(q, pump.pressure_kpa)?;
        if finite(q, pump.flow_l_per_min)? < 0.0 {
            return Err(StateError::OutOfRange(q));
        }
        store(&mut self.pump, q, pump, at)
    }

    /// Records the features of the latest vibration window (from
    /// [`crate::vibration::features`], which only produces finite figures).
    pub fn set_vibration(&mut self, features: VibrationFeatures, at: Millis) -> Result<(), StateError> {
        store(&mut self.vibration, Quantity::Vibration, features, at)
    }

    /// Records presence.
    pub fn set_presence(&mut self, presence: Presence, at: Millis) -> Result<(), StateError> {
        store(&mut self.presence, Quantity::Presence, presence, at)
    }

    /// Recomputes every reading's stale flag as of `now`: stale when `now − at` exceeds its
    /// limit (a reading dated after `now` is fresh).
    pub fn refresh(&mut self, now: Millis, limits: &StaleAfter) {
        mark(&mut self.temperature, now, limits.temperature);
        mark(&mut self.power, now, limits.power);
        mark(&mut self.pump, now, limits.pump);
        mark(&mut self.vibration, now, limits.vibration);
        mark(&mut self.presence, now, limits.presence);
    }

    /// The latest temperature (°C).
    pub fn temperature(&self) -> Option<Reading<f64>> {
        self.temperature
    }

    /// The latest power draw (W).
    pub fn power(&self) -> Option<Reading<f64>> {
        self.power
    }

    /// The latest pump operating point.
    pub fn pump(&self) -> Option<Reading<Pump>> {
        self.pump
    }

    /// The latest vibration features.
    pub fn vibration(&self) -> Option<Reading<VibrationFeatures>> {
        self.vibration
    }

    /// The latest presence.
    pub fn presence(&self) -> Option<Reading<Presence>> {
        self.presence
    }
}

/// A protection domain, as the supervisor numbers them.
pub type DomainId = u32;

/// A domain's cumulative counters (kept by the supervisor across the domain's restarts, so
/// they never decrease).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// IPC calls served.
    pub ipc_calls: u64,
    /// Faults taken.
    pub faults: u64,
    /// Restarts by the supervisor.
    pub restarts: u64,
    /// CPU time consumed, microseconds.
    pub cpu_time_us: u64,
}

/// Names a counter in [`StateError::CounterWentBackwards`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// [`Counters::ipc_calls`].
    IpcCalls,
    /// [`Counters::faults`].
    Faults,
    /// [`Counters::restarts`].
    Restarts,
    /// [`Counters::cpu_time_us`].
    CpuTime,
}

/// A latency histogram's summary over one reporting interval, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Calls measured.
    pub count: u64,
    /// Median.
    pub p50_us: u32,
    /// 90th percentile.
    pub p90_us: u32,
    /// 99th percentile.
    pub p99_us: u32,
    /// Maximum.
    pub max_us: u32,
}

/// One telemetry sample of a domain: cumulative counters plus the latency summary of the
/// interval since the previous sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TelemetrySample {
    /// Cumulative counters.
    pub counters: Counters,
    /// Latency over the interval.
    pub latency: LatencySummary,
}

/// What happened in a domain between two consecutive samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Interval length (> 0).
    pub duration_ms: Millis,
    /// Counter increments over the interval.
    pub delta: Counters,
    /// Latency over the interval.
    pub latency: LatencySummary,
}

impl Interval {
    /// Faults per second over the interval.
    pub fn faults_per_second(&self) -> f64 {
        self.delta.faults as f64 * 1000.0 / self.duration_ms as f64
    }

    /// Share of one CPU the domain used over the interval (may exceed 1 on several cores).
    pub fn cpu_share(&self) -> f64 {
        self.delta.cpu_time_us as f64 / (self.duration_ms as f64 * 1000.0)
    }
}

/// A domain's latest telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainTelemetry {
    /// The latest sample.
    pub sample: TelemetrySample,
    /// When it was taken.
    pub at: Millis,
    /// The interval it closed (`None` after the domain's first sample).
    pub interval: Option<Interval>,
}

/// The tile's compute state: the latest telemetry of every domain that reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComputeState {
    domains: BTreeMap<DomainId, DomainTelemetry>,
}

impl ComputeState {
    /// Records a domain's sample taken at `at` and returns the interval it closes (`None`
    /// for the domain's first sample). Refused, leaving the state unchanged: a sample not
    /// later than the previous one, a decreasing counter, unordered percentiles.
    pub fn record(&mut self, domain: DomainId, sample: TelemetrySample, at: Millis) -> Result<Option<Interval>, StateError> {
        let l = sample.latency;
        if !(l.p50_us <= l.p90_us && l.p90_us <= l.p99_us && l.p99_us <= l.max_us) {
            return Err(StateError::LatencyUnordered(domain));
        }
        let interval = match self.domains.get(&domain) {
            None => None,
            Some(prev) => {
                if at <= prev.at {
                    return Err(StateError::TelemetryOutOfOrder { domain, held: prev.at, at });
                }
                let (p, c) = (prev.sample.counters, sample.counters);
                let diff =
                    |counter: Counter, new: u64, old: u64| new.checked_sub(old).ok_or(StateError::CounterWentBackwards { domain, counter });
                let delta = Counters {
                    ipc_calls: diff(Counter::IpcCalls, c.ipc_calls, p.ipc_calls)?,
                    faults: diff(Counter::Faults, c.faults, p.faults)?,
                    restarts: diff(Counter::Restarts, c.restarts, p.restarts)?,
                    cpu_time_us: diff(Counter::CpuTime, c.cpu_time_us, p.cpu_time_us)?,
                };
                Some(Interval { duration_ms: at - prev.at, delta, latency: sample.latency })
            }
        };
        self.domains.insert(domain, DomainTelemetry { sample, at, interval });
        Ok(interval)
    }

    /// A domain's latest telemetry.
    pub fn domain(&self, domain: DomainId) -> Option<&DomainTelemetry> {
        self.domains.get(&domain)
    }

    /// Every domain that reported, in id order.
    pub fn domains(&self) -> impl Iterator<Item = (DomainId, &DomainTelemetry)> {
        self.domains.iter().map(|(&id, t)| (id, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_validated_and_ordered() {
        let mut s = PhysicalState::default();
        assert_eq!(s.temperature(), None);
        s.set_temperature(41.5, 100).unwrap();
        assert_eq!(s.temperature(), Some(Reading { value: 41.5, at: 100, stale: false }));
        assert_eq!(s.set_temperature(f64::NAN, 200), Err(StateError::NonFinite(Quantity::Temperature)));
        assert_eq!(s.set_temperature(-300.0, 200), Err(StateError::OutOfRange(Quantity::Temperature)));
        assert_eq!(s.set_temperature(40.0, 99), Err(StateError::OutOfOrder { quantity: Quantity::Temperature, held: 100, at: 99 }));
        assert_eq!(s.set_power(-1.0, 1), Err(StateError::OutOfRange(Quantity::Power)));
        assert_eq!(s.set_power(f64::INFINITY, 1), Err(StateError::NonFinite(Quantity::Power)));
        let bad_pump = Pump { flow_l_per_min: -0.1, pressure_kpa: 10.0 };
        assert_eq!(s.set_pump(bad_pump, 1), Err(StateError::OutOfRange(Quantity::Pump)));
        let nan_pump = Pump { flow_l_per_min: 1.0, pressure_kpa: f64::NAN };
        assert_eq!(s.set_pump(nan_pump, 1), Err(StateError::NonFinite(Quantity::Pump)));
        s.set_pump(Pump { flow_l_per_min: 3.2, pressure_kpa: -5.0 }, 1).unwrap();
        s.set_presence(Presence::Present, 7).unwrap();
        assert_eq!(s.presence().unwrap().value, Presence::Present);
        // The refused updates left the held temperature alone.
        assert_eq!(s.temperature().unwrap().value, 41.5);
    }

    #[test]
    fn staleness_follows_each_limit_and_a_new_reading_clears_it() {
        let mut s = PhysicalState::default();
        s.set_temperature(30.0, 1_000).unwrap();
        s.set_power(120.0, 4_000).unwrap();
        let limits = StaleAfter { temperature: 5_000, power: 5_000, ..StaleAfter::default() };
        s.refresh(6_000, &limits);
        assert!(!s.temperature().unwrap().stale, "exactly at the limit is still fresh");
        s.refresh(6_001, &limits);
        assert!(s.temperature().unwrap().stale);
        assert!(!s.power().unwrap().stale);
        s.set_temperature(31.0, 6_500).unwrap();
        assert!(!s.temperature().unwrap().stale);
        // A clock that lags the reading's time leaves it fresh.
        s.refresh(0, &limits);
        assert!(!s.power().unwrap().stale);
    }

    fn sample(ipc: u64, faults: u64, cpu: u64, p50: u32, p99: u32) -> TelemetrySample {
        TelemetrySample {
            counters: Counters { ipc_calls: ipc, faults, restarts: 0, cpu_time_us: cpu },
            latency: LatencySummary { count: 10, p50_us: p50, p90_us: p99, p99_us: p99, max_us: p99 },
        }
    }

    #[test]
    fn telemetry_intervals_are_differences() {
        let mut c = ComputeState::default();
        assert_eq!(c.record(3, sample(100, 1, 1_000, 10, 40), 1_000), Ok(None));
        let i = c.record(3, sample(600, 3, 251_000, 12, 50), 1_500).unwrap().unwrap();
        assert_eq!(i.duration_ms, 500);
        assert_eq!(i.delta, Counters { ipc_calls: 500, faults: 2, restarts: 0, cpu_time_us: 250_000 });
        assert_eq!(i.faults_per_second(), 4.0);
        assert_eq!(i.cpu_share(), 0.5);
        assert_eq!(c.domain(3).unwrap().interval, Some(i));
        assert_eq!(c.domains().count(), 1);
    }

    #[test]
    fn telemetry_refusals_leave_state_unchanged() {
        let mut c = ComputeState::default();
        c.record(1, sample(100, 5, 10, 10, 40), 1_000).unwrap();
        let before = c.clone();
        assert_eq!(
            c.record(1, sample(99, 5, 10, 10, 40), 2_000),
            Err(StateError::CounterWentBackwards { domain: 1, counter: Counter::IpcCalls })
        );
        assert_eq!(
            c.record(1, sample(100, 4, 10, 10, 40), 2_000),
            Err(StateError::CounterWentBackwards { domain: 1, counter: Counter::Faults })
        );
        assert_eq!(
            c.record(1, sample(100, 5, 9, 10, 40), 2_000),
            Err(StateError::CounterWentBackwards { domain: 1, counter: Counter::CpuTime })
        );
        assert_eq!(
            c.record(1, sample(100, 5, 10, 10, 40), 1_000),
            Err(StateError::TelemetryOutOfOrder { domain: 1, held: 1_000, at: 1_000 })
        );
        assert_eq!(c.record(1, sample(100, 5, 10, 50, 40), 2_000), Err(StateError::LatencyUnordered(1)));
        let mut restarted = sample(100, 5, 10, 10, 40);
        restarted.counters.restarts = 1;
        let mut back = restarted;
        back.counters.restarts = 0;
        c.record(2, restarted, 1).unwrap();
        assert_eq!(c.record(2, back, 2), Err(StateError::CounterWentBackwards { domain: 2, counter: Counter::Restarts }));
        assert_eq!(c.domain(1), before.domain(1));
    }
}
