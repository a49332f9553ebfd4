//! Features of one window of raw piezo vibration samples, the inputs of the bearing-wear
//! detector ([`crate::maintenance::BearingMonitor`]).
//!
//! A worn rolling-element bearing hits its defect once per pass of a rolling element: short
//! impulses, repeating at the *fault frequency* (for an outer-race defect, the ball-pass
//! frequency BPFO, a fixed multiple of the shaft speed), each ringing a structural
//! resonance. The time-domain statistics see the impulses (kurtosis and crest factor rise,
//! then RMS); the squared-envelope spectrum sees their repetition rate (Randall & Antoni,
//! "Rolling element bearing diagnostics — A tutorial", MSSP 25 (2011), §3). Squaring the
//! signal demodulates the resonance, so the impulse train's rate appears as lines at the
//! fault frequency and its harmonics; [`fault_band_share`](VibrationFeatures::fault_band_share)
//! is the share of the squared envelope's energy at those lines, computed with the Goertzel
//! algorithm at exactly those frequencies (no FFT, no power-of-two window).

/// The analysis parameters of a vibration channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VibrationConfig {
    /// Sampling rate, Hz (> 0).
    pub sample_rate_hz: f64,
    /// The bearing's fault frequency (e.g. BPFO), Hz (> 0, and its highest harmonic below
    /// the Nyquist frequency).
    pub fault_frequency_hz: f64,
    /// How many harmonics of the fault frequency to sum (1 to 8).
    pub harmonics: u32,
    /// Bins either side of each line also summed, spaced `sample_rate / window length`
    /// apart, for speed variation (0 to 4).
    pub side_bins: u32,
}

/// Features of one window; every figure is finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VibrationFeatures {
    /// Root mean square of the mean-removed window (the signal's standard deviation).
    pub rms: f64,
    /// Kurtosis `m₄/m₂²` of the mean-removed window (3 for Gaussian noise; impulses raise it).
    pub kurtosis: f64,
    /// Crest factor: peak absolute deviation from the mean over the RMS.
    pub crest_factor: f64,
    /// Share, in `[0, 1]`, of the squared envelope's (mean-removed) energy at the fault
    /// frequency's harmonics and their side bins, the envelope taken of the first difference
    /// of the window (a high-pass that suppresses the shaft harmonics). A squared envelope
    /// that is a pure tone at one analysed line gives ~1.
    pub fault_band_share: f64,
}

/// Why features could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureError {
    /// Fewer than [`MIN_WINDOW`] samples.
    TooFewSamples(usize),
    /// The sample at this index is NaN or infinite.
    NonFiniteSample(usize),
    /// The window is constant (a dead or saturated sensor): no RMS to normalise by.
    Flat,
    /// The sampling rate is not a positive finite number.
    SampleRate,
    /// The fault frequency is not positive and finite, or its highest analysed line
    /// (with side bins) is not below the Nyquist frequency.
    FaultFrequency,
    /// `harmonics` not in 1..=8 or `side_bins` not in 0..=4.
    LineCount,
}

/// The shortest window analysed.
pub const MIN_WINDOW: usize = 64;

/// Power of the discrete-time Fourier transform of `x` at `omega` radians per sample
/// (`|X(ω)|²`), by the Goertzel recurrence, which needs no bin-centred frequency.
fn goertzel_power(x: &[f64], omega: f64) -> f64 {
    let coeff = 2.0 * libm::cos(omega);
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Computes a window's features. The window is typically 0.1–1 s of samples.
pub fn features(samples: &[f64], config: &VibrationConfig) -> Result<VibrationFeatures, FeatureError> {
    let n = samples.len();
    if n < MIN_WINDOW {
        return Err(FeatureError::TooFewSamples(n));
    }
    if let Some(i) = samples.iter().position(|x| !x.is_finite()) {
        return Err(FeatureError::NonFiniteSample(i));
    }
    let fs = config.sample_rate_hz;
    if !(fs.is_finite() && fs > 0.0) {
        return Err(FeatureError::SampleRate);
    }
    if !(1..=8).contains(&config.harmonics) || config.side_bins > 4 {
        return Err(FeatureError::LineCount);
    }
    let ff = config.fault_frequency_hz;
    let bin = fs / n as f64;
    let top = ff * config.harmonics as f64 + bin * config.side_bins as f64;
    if !(ff.is_finite() && ff > 0.0 && top < fs / 2.0) {
        return Err(FeatureError::FaultFrequency);
    }

    let nf = n as f64;
    let mean = samples.iter().sum::<f64>() / nf;
    let (mut m2, mut m4, mut peak) = (0.0, 0.0, 0.0f64);
    for &x in samples {
        let d = x - mean;
        let d2 = d * d;
        m2 += d2;
        m4 += d2 * d2;
        peak = peak.max(d.abs());
    }
    m2 /= nf;
    m4 /= nf;
    if m2 <= 0.0 {
        return Err(FeatureError::Flat);
    }
    let rms = libm::sqrt(m2);

    // The squared envelope of the first difference, mean removed. Differencing is a
    // high-pass filter (gain 2·sin(πf/fs)) that suppresses the shaft harmonics, whose squares
    // would otherwise dominate the envelope, and keeps the resonance the impulses ring.
    let diff: alloc::vec::Vec<f64> = samples.windows(2).map(|w| (w[1] - w[0]) * (w[1] - w[0])).collect();
    let diff_mean = diff.iter().sum::<f64>() / diff.len() as f64;
    let env: alloc::vec::Vec<f64> = diff.iter().map(|d| d - diff_mean).collect();
    let env_energy: f64 = env.iter().map(|e| e * e).sum();
    let share = if env_energy > 0.0 {
        let mut lines = 0.0;
        for h in 1..=config.harmonics {
            let centre = ff * h as f64;
            let side = config.side_bins as i64;
            for k in -side..=side {
                let f = centre + k as f64 * bin;
                lines += goertzel_power(&env, 2.0 * core::f64::consts::PI * f / fs);
            }
        }
        // Parseval: a tone A·cos at one analysed line has |X|² ≈ (A·n/2)² and energy A²·n/2.
        (2.0 * lines / (env.len() as f64 * env_energy)).min(1.0)
    } else {
        0.0
    };
    Ok(VibrationFeatures { rms, kurtosis: m4 / (m2 * m2), crest_factor: peak / rms, fault_band_share: share })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use core::f64::consts::PI;

    const CFG: VibrationConfig = VibrationConfig { sample_rate_hz: 1000.0, fault_frequency_hz: 50.0, harmonics: 1, side_bins: 0 };

    #[test]
    fn sine_has_textbook_statistics() {
        let x: Vec<f64> = (0..1000).map(|i| 3.0 + 2.0 * libm::sin(2.0 * PI * 10.0 * i as f64 / 1000.0)).collect();
        let f = features(&x, &CFG).unwrap();
        assert!((f.rms - libm::sqrt(2.0)).abs() < 1e-9, "{f:?}");
        assert!((f.kurtosis - 1.5).abs() < 1e-9, "{f:?}");
        assert!((f.crest_factor - libm::sqrt(2.0)).abs() < 1e-6, "{f:?}");
    }

    #[test]
    fn goertzel_finds_a_tone_and_misses_other_frequencies() {
        let x: Vec<f64> = (0..1000).map(|i| libm::cos(2.0 * PI * 50.0 * i as f64 / 1000.0)).collect();
        let at = goertzel_power(&x, 2.0 * PI * 50.0 / 1000.0);
        assert!((at - 500.0 * 500.0).abs() < 1e-6 * at);
        assert!(goertzel_power(&x, 2.0 * PI * 120.0 / 1000.0) < 1e-9 * at);
    }

    #[test]
    fn impulse_train_at_the_fault_rate_dominates_the_envelope() {
        // Impulses every 20 samples (50 Hz at 1 kHz) ringing a 300 Hz resonance.
        let x: Vec<f64> = (0..1000)
            .map(|i| {
                let t = (i % 20) as f64;
                libm::exp(-t / 3.0) * libm::sin(2.0 * PI * 300.0 * i as f64 / 1000.0)
            })
            .collect();
        let f = features(&x, &CFG).unwrap();
        let off = features(&x, &VibrationConfig { fault_frequency_hz: 37.0, ..CFG }).unwrap();
        assert!(f.fault_band_share > 0.2, "{f:?}");
        assert!(off.fault_band_share < 0.01, "{off:?}");
        assert!(f.kurtosis > 3.0 && f.crest_factor > 2.0, "{f:?}");
    }

    #[test]
    fn refusals_are_precise() {
        let ok: Vec<f64> = (0..100).map(|i| libm::sin(i as f64)).collect();
        assert_eq!(features(&ok[..10], &CFG), Err(FeatureError::TooFewSamples(10)));
        let mut bad = ok.clone();
        bad[17] = f64::NAN;
        assert_eq!(features(&bad, &CFG), Err(FeatureError::NonFiniteSample(17)));
        assert_eq!(features(&[2.0; 100], &CFG), Err(FeatureError::Flat));
        assert_eq!(features(&ok, &VibrationConfig { sample_rate_hz: 0.0, ..CFG }), Err(FeatureError::SampleRate));
        assert_eq!(features(&ok, &VibrationConfig { fault_frequency_hz: 500.0, ..CFG }), Err(FeatureError::FaultFrequency));
        assert_eq!(features(&ok, &VibrationConfig { fault_frequency_hz: -1.0, ..CFG }), Err(FeatureError::FaultFrequency));
        assert_eq!(features(&ok, &VibrationConfig { harmonics: 8, fault_frequency_hz: 100.0, ..CFG }), Err(FeatureError::FaultFrequency));
        assert_eq!(features(&ok, &VibrationConfig { harmonics: 9, ..CFG }), Err(FeatureError::LineCount));
        assert_eq!(features(&ok, &VibrationConfig { harmonics: 0, ..CFG }), Err(FeatureError::LineCount));
        assert_eq!(features(&ok, &VibrationConfig { side_bins: 5, ..CFG }), Err(FeatureError::LineCount));
    }
}
