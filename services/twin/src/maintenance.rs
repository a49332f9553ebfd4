//! Predictive maintenance: bearing-wear detection from vibration features, and thermal
//! throttle advice from the temperature and its trend.
//!
//! **Bearing wear.** [`BearingMonitor`] learns a baseline — mean and standard deviation of
//! the logarithm of each [`Feature`] — from the first `warmup_windows` windows, which must be
//! healthy (a monitor is started on a new or serviced bearing), and then freezes it: a
//! baseline that kept learning would learn the slow wear it is meant to detect. From then on
//! each feature runs a one-sided (upward) CUSUM on its standardised value `z`,
//! `S ← max(0, S + z − k)` (Page, "Continuous inspection schemes", Biometrika 41 (1954);
//! Montgomery, *Introduction to Statistical Quality Control*, §9.1). An alarm is raised when
//! any `S` exceeds `h`; it is latched until [`BearingMonitor::serviced`]. The evidence names
//! every feature's baseline, observation, `z` and `S`, and the onset estimate is the last
//! window at which the alarming feature's `S` was zero — the CUSUM's change-point estimate.
//!
//! **Thermal.** [`ThermalAdvisor`] fits a least-squares line to the recent temperatures and
//! projects when the limit will be reached.

use alloc::collections::VecDeque;

use crate::Millis;
use crate::stats::Welford;
use crate::vibration::VibrationFeatures;

/// The features the bearing monitor watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// [`VibrationFeatures::rms`].
    Rms,
    /// [`VibrationFeatures::kurtosis`].
    Kurtosis,
    /// [`VibrationFeatures::crest_factor`].
    CrestFactor,
    /// [`VibrationFeatures::fault_band_share`].
    FaultBand,
}

/// All features, in evidence order.
pub const FEATURES: [Feature; 4] = [Feature::Rms, Feature::Kurtosis, Feature::CrestFactor, Feature::FaultBand];

/// The monitor works on `ln(value + FLOOR)`: the features are positive and their healthy
/// spread is multiplicative; the floor keeps an empty fault band finite.
const LOG_FLOOR: f64 = 1e-6;

fn value(f: &VibrationFeatures, which: Feature) -> f64 {
    match which {
        Feature::Rms => f.rms,
        Feature::Kurtosis => f.kurtosis,
        Feature::CrestFactor => f.crest_factor,
        Feature::FaultBand => f.fault_band_share,
    }
}

fn transformed(f: &VibrationFeatures, which: Feature) -> f64 {
    libm::log(value(f, which) + LOG_FLOOR)
}

/// The bearing monitor's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BearingConfig {
    /// Healthy windows that form the baseline (≥ 8).
    pub warmup_windows: u32,
    /// CUSUM allowance `k`, in baseline standard deviations (> 0): drift smaller than this
    /// per window is absorbed, which also absorbs the baseline's own estimation error.
    pub allowance: f64,
    /// CUSUM decision threshold `h`, in baseline standard deviations (> 0).
    pub threshold: f64,
    /// Lower bound on a baseline standard deviation (of the log feature, > 0), so that a
    /// feature that happened to be very steady in warm-up does not alarm on tiny changes.
    pub min_std: f64,
    /// Which features (in [`FEATURES`] order) run a CUSUM; an unwatched one keeps `z` and
    /// `S` at 0 and never alarms (for a sensor that does not report it, such as the tile's
    /// vibration chip, which has no crest factor). At least one must be watched.
    pub watched: [bool; 4],
}

impl Default for BearingConfig {
    /// The parameters the host tests validate: 40 warm-up windows, `k = 1`, `h = 12`,
    /// standard deviations of at least 0.02 (2 % in the log domain), every feature watched.
    fn default() -> Self {
        BearingConfig { warmup_windows: 40, allowance: 1.0, threshold: 12.0, min_std: 0.02, watched: [true; 4] }
    }
}

/// Why the monitor refused a configuration or an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceError {
    /// A configuration field is out of range (named).
    Config(&'static str),
    /// A feature value is NaN, infinite or negative.
    BadFeature(Feature),
    /// An observation or temperature is dated before the previous one.
    OutOfOrder {
        /// The previous time.
        held: Millis,
        /// The refused time.
        at: Millis,
    },
    /// A temperature is NaN or infinite.
    NonFiniteTemperature,
}

/// One feature's evidence at one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureEvidence {
    /// Which feature.
    pub feature: Feature,
    /// Baseline mean of `ln(feature)`.
    pub baseline_mean: f64,
    /// Baseline standard deviation of `ln(feature)` (after the `min_std` floor).
    pub baseline_std: f64,
    /// The observed feature value (not logged).
    pub observed: f64,
    /// Standardised deviation of `ln(observed)` from the baseline.
    pub z: f64,
    /// The feature's CUSUM statistic after this window.
    pub cusum: f64,
}

/// A bearing-wear alarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WearAlarm {
    /// When the alarm was first raised.
    pub raised_at: Millis,
    /// The feature whose CUSUM crossed the threshold first.
    pub trigger: Feature,
    /// The CUSUM change-point estimate: the last window before the alarm at which the
    /// trigger's statistic was zero.
    pub onset_estimate: Millis,
    /// Every feature's evidence at the window being reported.
    pub evidence: [FeatureEvidence; 4],
}

/// The monitor's verdict on one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Assessment {
    /// Still learning the baseline; this many healthy windows to go (0: this window
    /// completed it).
    Learning {
        /// Windows still needed.
        remaining: u32,
    },
    /// No evidence of wear.
    Healthy {
        /// Every feature's evidence (how far each CUSUM is from the threshold).
        evidence: [FeatureEvidence; 4],
    },
    /// Wear detected (latched: repeated with fresh evidence until [`BearingMonitor::serviced`]).
    Wear(WearAlarm),
}

/// The bearing-wear detector (module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct BearingMonitor {
    config: BearingConfig,
    warmup: [Welford; 4],
    /// `(mean, std)` per feature once learnt.
    baseline: Option<[(f64, f64); 4]>,
    cusum: [f64; 4],
    last_zero: [Millis; 4],
    last_at: Option<Millis>,
    alarm: Option<WearAlarm>,
}

impl BearingMonitor {
    /// A monitor with an empty baseline.
    pub fn new(config: BearingConfig) -> Result<Self, MaintenanceError> {
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if config.warmup_windows < 8 {
            return Err(MaintenanceError::Config("warmup_windows"));
        }
        if !pos(config.allowance) {
            return Err(MaintenanceError::Config("allowance"));
        }
        if !pos(config.threshold) {
            return Err(MaintenanceError::Config("threshold"));
        }
        if !pos(config.min_std) {
            return Err(MaintenanceError::Config("min_std"));
        }
        if !config.watched.contains(&true) {
            return Err(MaintenanceError::Config("watched"));
        }
        Ok(Self::unlearnt(config, None))
    }

    fn unlearnt(config: BearingConfig, last_at: Option<Millis>) -> Self {
        BearingMonitor { config, warmup: [Welford::default(); 4], baseline: None, cusum: [0.0; 4], last_zero: [0; 4], last_at, alarm: None }
    }

    /// Assesses one window's features taken at `at`.
    pub fn observe(&mut self, features: &VibrationFeatures, at: Millis) -> Result<Assessment, MaintenanceError> {
        for which in FEATURES {
            let v = value(features, which);
            if !(v.is_finite() && v >= 0.0) {
                return Err(MaintenanceError::BadFeature(which));
            }
        }
        if let Some(held) = self.last_at
            && at < held
        {
            return Err(MaintenanceError::OutOfOrder { held, at });
        }
        self.last_at = Some(at);

        let Some(baseline) = self.baseline else {
            for (w, which) in self.warmup.iter_mut().zip(FEATURES) {
                w.push(transformed(features, which));
            }
            let seen = self.warmup[0].count() as u32;
            if seen == self.config.warmup_windows {
                self.baseline = Some(self.warmup.map(|w| (w.mean(), w.std().max(self.config.min_std))));
                self.last_zero = [at; 4];
            }
            return Ok(Assessment::Learning { remaining: self.config.warmup_windows - seen });
        };

        let mut evidence =
            [FeatureEvidence { feature: Feature::Rms, baseline_mean: 0.0, baseline_std: 0.0, observed: 0.0, z: 0.0, cusum: 0.0 }; 4];
        let mut trigger = None;
        for (i, which) in FEATURES.into_iter().enumerate() {
            let (mean, std) = baseline[i];
            let z = if self.config.watched[i] { (transformed(features, which) - mean) / std } else { 0.0 };
            let s = (self.cusum[i] + z - self.config.allowance).max(0.0);
            self.cusum[i] = s;
            if s == 0.0 {
                self.last_zero[i] = at;
            }
            if s > self.config.threshold && trigger.is_none() {
                trigger = Some(i);
            }
            let observed = value(features, which);
            evidence[i] = FeatureEvidence { feature: which, baseline_mean: mean, baseline_std: std, observed, z, cusum: s };
        }
        match (&mut self.alarm, trigger) {
            (Some(alarm), _) => {
                alarm.evidence = evidence;
                Ok(Assessment::Wear(*alarm))
            }
            (None, Some(i)) => {
                let alarm = WearAlarm { raised_at: at, trigger: FEATURES[i], onset_estimate: self.last_zero[i], evidence };
                self.alarm = Some(alarm);
                Ok(Assessment::Wear(alarm))
            }
            (None, None) => Ok(Assessment::Healthy { evidence }),
        }
    }

    /// The latched alarm, if any.
    pub fn alarm(&self) -> Option<&WearAlarm> {
        self.alarm.as_ref()
    }

    /// The bearing was serviced or replaced: forget the alarm and the baseline, and learn a
    /// new baseline from the next `warmup_windows` windows.
    pub fn serviced(&mut self) {
        *self = Self::unlearnt(self.config, self.last_at);
    }
}

/// Thermal advisor parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThermalConfig {
    /// The temperature that must not be reached, °C (finite).
    pub limit_c: f64,
    /// Throttle when within this many °C of the limit (≥ 0).
    pub margin_c: f64,
    /// Throttle when the trend reaches the limit within this many seconds (> 0); watch when
    /// within four times as long.
    pub horizon_s: f64,
    /// Samples in the trend fit (2 to 1024).
    pub trend_samples: usize,
}

impl Default for ThermalConfig {
    /// 85 °C limit, 5 °C margin, 2-minute horizon, 30-sample trend.
    fn default() -> Self {
        ThermalConfig { limit_c: 85.0, margin_c: 5.0, horizon_s: 120.0, trend_samples: 30 }
    }
}

/// How urgently the tile should shed heat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThermalLevel {
    /// No action.
    Nominal,
    /// Rising towards the limit within four horizons: schedule nothing new and heavy.
    Watch,
    /// Within the margin, or the limit is projected within one horizon: throttle.
    Throttle,
    /// At or above the limit: stop the heavy workloads now.
    Critical,
}

/// Thermal advice with its evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThermalAdvice {
    /// The advice.
    pub level: ThermalLevel,
    /// The temperature assessed, °C.
    pub temperature_c: f64,
    /// Least-squares trend over the recent samples, °C per second (`None` with one sample).
    pub trend_c_per_s: Option<f64>,
    /// Projected seconds until the limit at the current trend (`None` unless rising).
    pub time_to_limit_s: Option<f64>,
}

/// Turns temperature samples into [`ThermalAdvice`].
#[derive(Debug, Clone, PartialEq)]
pub struct ThermalAdvisor {
    config: ThermalConfig,
    recent: VecDeque<(Millis, f64)>,
}

impl ThermalAdvisor {
    /// An advisor with no history.
    pub fn new(config: ThermalConfig) -> Result<Self, MaintenanceError> {
        if !config.limit_c.is_finite() {
            return Err(MaintenanceError::Config("limit_c"));
        }
        if !(config.margin_c.is_finite() && config.margin_c >= 0.0) {
            return Err(MaintenanceError::Config("margin_c"));
        }
        if !(config.horizon_s.is_finite() && config.horizon_s > 0.0) {
            return Err(MaintenanceError::Config("horizon_s"));
        }
        if !(2..=1024).contains(&config.trend_samples) {
            return Err(MaintenanceError::Config("trend_samples"));
        }
        Ok(ThermalAdvisor { config, recent: VecDeque::with_capacity(config.trend_samples) })
    }

    /// Adds a temperature taken at `at` and advises.
    pub fn observe(&mut self, celsius: f64, at: Millis) -> Result<ThermalAdvice, MaintenanceError> {
        if !celsius.is_finite() {
            return Err(MaintenanceError::NonFiniteTemperature);
        }
        if let Some(&(held, _)) = self.recent.back()
            && at < held
        {
            return Err(MaintenanceError::OutOfOrder { held, at });
        }
        if self.recent.len() == self.config.trend_samples {
            self.recent.pop_front();
        }
        self.recent.push_back((at, celsius));

        let trend = self.trend();
        let c = &self.config;
        let time_to_limit_s = match trend {
            Some(slope) if slope > 0.0 && celsius < c.limit_c => Some((c.limit_c - celsius) / slope),
            _ => None,
        };
        let level = if celsius >= c.limit_c {
            ThermalLevel::Critical
        } else if celsius >= c.limit_c - c.margin_c || time_to_limit_s.is_some_and(|t| t <= c.horizon_s) {
            ThermalLevel::Throttle
        } else if time_to_limit_s.is_some_and(|t| t <= 4.0 * c.horizon_s) {
            ThermalLevel::Watch
        } else {
            ThermalLevel::Nominal
        };
        Ok(ThermalAdvice { level, temperature_c: celsius, trend_c_per_s: trend, time_to_limit_s })
    }

    /// Least-squares slope over the held samples, °C/s; `None` with fewer than two samples
    /// or no time spread.
    fn trend(&self) -> Option<f64> {
        let n = self.recent.len() as f64;
        if self.recent.len() < 2 {
            return None;
        }
        let t0 = self.recent[0].0;
        let ts = |at: Millis| (at - t0) as f64 / 1000.0;
        let mean_t = self.recent.iter().map(|&(at, _)| ts(at)).sum::<f64>() / n;
        let mean_y = self.recent.iter().map(|&(_, y)| y).sum::<f64>() / n;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for &(at, y) in &self.recent {
            let dt = ts(at) - mean_t;
            sxy += dt * (y - mean_y);
            sxx += dt * dt;
        }
        (sxx > 0.0).then(|| sxy / sxx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats(rms: f64, kurtosis: f64, crest: f64, band: f64) -> VibrationFeatures {
        VibrationFeatures { rms, kurtosis, crest_factor: crest, fault_band_share: band }
    }

    #[test]
    fn learns_then_alarms_with_evidence_and_onset() {
        let mut m = BearingMonitor::new(BearingConfig { warmup_windows: 8, ..BearingConfig::default() }).unwrap();
        let wobble = |i: u64| 1.0 + 0.05 * ((i % 3) as f64 - 1.0);
        for i in 0..7 {
            assert_eq!(
                m.observe(&feats(wobble(i), 3.0 * wobble(i), 3.5, 0.01), i).unwrap(),
                Assessment::Learning { remaining: 7 - i as u32 }
            );
        }
        assert_eq!(m.observe(&feats(1.0, 3.0, 3.5, 0.01), 7).unwrap(), Assessment::Learning { remaining: 0 });
        for i in 8..20 {
            let Assessment::Healthy { evidence } = m.observe(&feats(wobble(i), 3.0 * wobble(i), 3.5, 0.01), i).unwrap() else { panic!() };
            assert!(evidence.iter().all(|e| e.cusum < 1.0), "{evidence:?}");
        }
        // Kurtosis jumps to twice its baseline: ln 2 / 0.04 ≈ 17 baseline deviations per window.
        let Assessment::Wear(alarm) = m.observe(&feats(1.0, 6.0, 3.5, 0.01), 20).unwrap() else { panic!("no alarm") };
        assert_eq!(alarm.trigger, Feature::Kurtosis);
        assert_eq!(alarm.raised_at, 20);
        assert_eq!(alarm.onset_estimate, 19);
        let k = alarm.evidence[1];
        assert_eq!(k.feature, Feature::Kurtosis);
        assert_eq!(k.observed, 6.0);
        assert!(k.z > 12.0 && k.cusum > 12.0, "{k:?}");
        assert!((libm::exp(k.baseline_mean) - 3.0).abs() < 0.05, "{k:?}");
        // Latched, even if the next window looks healthy; cleared by servicing.
        assert!(matches!(m.observe(&feats(1.0, 3.0, 3.5, 0.01), 21).unwrap(), Assessment::Wear(a) if a.raised_at == 20));
        m.serviced();
        assert_eq!(m.alarm(), None);
        assert_eq!(m.observe(&feats(1.0, 3.0, 3.5, 0.01), 22).unwrap(), Assessment::Learning { remaining: 7 });
        assert_eq!(m.observe(&feats(1.0, 3.0, 3.5, 0.01), 1), Err(MaintenanceError::OutOfOrder { held: 22, at: 1 }));
    }

    #[test]
    fn an_unwatched_feature_never_alarms() {
        let watched = [true, true, false, true];
        let mut m = BearingMonitor::new(BearingConfig { warmup_windows: 8, watched, ..BearingConfig::default() }).unwrap();
        for i in 0..8 {
            m.observe(&feats(1.0, 3.0, 3.5, 0.01), i).unwrap();
        }
        // The crest factor (unwatched) goes wild; nothing else moves.
        for i in 8..40 {
            let Assessment::Healthy { evidence } = m.observe(&feats(1.0, 3.0, 350.0, 0.01), i).unwrap() else { panic!("alarm at {i}") };
            assert_eq!((evidence[2].z, evidence[2].cusum), (0.0, 0.0));
        }
        let Assessment::Wear(alarm) = m.observe(&feats(1.0, 3.0, 350.0, 1.0), 40).unwrap() else { panic!("no alarm") };
        assert_eq!(alarm.trigger, Feature::FaultBand);
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(
            BearingMonitor::new(BearingConfig { warmup_windows: 2, ..BearingConfig::default() }),
            Err(MaintenanceError::Config("warmup_windows"))
        );
        assert_eq!(
            BearingMonitor::new(BearingConfig { allowance: f64::NAN, ..BearingConfig::default() }),
            Err(MaintenanceError::Config("allowance"))
        );
        assert_eq!(
            BearingMonitor::new(BearingConfig { threshold: 0.0, ..BearingConfig::default() }),
            Err(MaintenanceError::Config("threshold"))
        );
        assert_eq!(
            BearingMonitor::new(BearingConfig { min_std: -1.0, ..BearingConfig::default() }),
            Err(MaintenanceError::Config("min_std"))
        );
        assert_eq!(
            BearingMonitor::new(BearingConfig { watched: [false; 4], ..BearingConfig::default() }),
            Err(MaintenanceError::Config("watched"))
        );
        let mut m = BearingMonitor::new(BearingConfig::default()).unwrap();
        assert_eq!(m.observe(&feats(f64::NAN, 3.0, 3.0, 0.0), 0), Err(MaintenanceError::BadFeature(Feature::Rms)));
        assert_eq!(m.observe(&feats(1.0, 3.0, 3.0, -0.5), 0), Err(MaintenanceError::BadFeature(Feature::FaultBand)));
    }

    #[test]
    fn thermal_levels_follow_temperature_and_trend() {
        let mut a = ThermalAdvisor::new(ThermalConfig::default()).unwrap();
        let first = a.observe(50.0, 0).unwrap();
        assert_eq!(first, ThermalAdvice { level: ThermalLevel::Nominal, temperature_c: 50.0, trend_c_per_s: None, time_to_limit_s: None });
        // Rising 0.05 °C/s from 50 °C: 700 s to 85 °C, beyond four horizons.
        let adv = a.observe(50.5, 10_000).unwrap();
        assert_eq!(adv.level, ThermalLevel::Nominal);
        assert!((adv.trend_c_per_s.unwrap() - 0.05).abs() < 1e-12);
        assert!((adv.time_to_limit_s.unwrap() - 690.0).abs() < 1e-9);
        // Rising 0.1 °C/s at 60 °C: 250 s, within four horizons.
        let mut a = ThermalAdvisor::new(ThermalConfig::default()).unwrap();
        a.observe(59.0, 0).unwrap();
        assert_eq!(a.observe(60.0, 10_000).unwrap().level, ThermalLevel::Watch);
        // Rising 0.5 °C/s at 60 °C: 50 s, within the horizon.
        a.observe(65.0, 20_000).unwrap();
        let adv = a.observe(70.0, 30_000).unwrap();
        assert_eq!(adv.level, ThermalLevel::Throttle);
        // Steady but inside the margin; at the limit.
        let mut a = ThermalAdvisor::new(ThermalConfig::default()).unwrap();
        assert_eq!(a.observe(81.0, 0).unwrap().level, ThermalLevel::Throttle);
        assert_eq!(a.observe(85.0, 1_000).unwrap().level, ThermalLevel::Critical);
        // Falling: no projection.
        let mut a = ThermalAdvisor::new(ThermalConfig::default()).unwrap();
        a.observe(70.0, 0).unwrap();
        assert_eq!(a.observe(69.0, 1_000).unwrap().time_to_limit_s, None);
    }

    #[test]
    fn thermal_trend_uses_only_the_recent_window() {
        let mut a = ThermalAdvisor::new(ThermalConfig { trend_samples: 3, ..ThermalConfig::default() }).unwrap();
        for (i, t) in [20.0, 40.0, 60.0, 60.0, 60.0, 60.0].into_iter().enumerate() {
            a.observe(t, i as u64 * 1000).unwrap();
        }
        assert_eq!(a.observe(60.0, 6_000).unwrap().trend_c_per_s, Some(0.0));
        assert_eq!(a.observe(1.0, 5_000), Err(MaintenanceError::OutOfOrder { held: 6_000, at: 5_000 }));
        assert_eq!(a.observe(f64::INFINITY, 7_000), Err(MaintenanceError::NonFiniteTemperature));
        assert_eq!(
            ThermalAdvisor::new(ThermalConfig { trend_samples: 1, ..ThermalConfig::default() }),
            Err(MaintenanceError::Config("trend_samples"))
        );
        assert_eq!(
            ThermalAdvisor::new(ThermalConfig { horizon_s: 0.0, ..ThermalConfig::default() }),
            Err(MaintenanceError::Config("horizon_s"))
        );
    }
}
