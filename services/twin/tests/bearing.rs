//! The bearing-wear detector on synthetic piezo signals with a known ground truth.
//!
//! One window (4096 samples at 12 kHz, a third of a second) is analysed per hour over a
//! 400-hour run. Healthy signal: broadband Gaussian noise plus the shaft's first two
//! harmonics (29.95 Hz, 1797 rpm), with load-dependent amplitude wander from window to
//! window. Wear, from a ground-truth onset hour: impulses at the outer-race ball-pass
//! frequency (BPFO = 3.585 × shaft ≈ 107.4 Hz, with 1 % timing jitter for slip), each
//! ringing a 3 kHz structural resonance that decays in 0.8 ms, with an amplitude growing
//! quadratically from zero to `FAIL_AMPLITUDE` at the ground-truth failure hour (by then the
//! impulses are 15 times the noise level). The detector must alarm after the onset and
//! before the failure, and never over a healthy run of the same length, for every seed.

mod common;

use common::SplitMix;
use std::f64::consts::PI;
use tileos_twin::maintenance::{Assessment, BearingConfig, BearingMonitor};
use tileos_twin::vibration::{VibrationConfig, features};

const FS: f64 = 12_000.0;
const N: usize = 4096;
const SHAFT_HZ: f64 = 29.95;
const BPFO_HZ: f64 = SHAFT_HZ * 3.585;
const RESONANCE_HZ: f64 = 3_000.0;
const DECAY_S: f64 = 0.0008;
const NOISE: f64 = 0.2;
const FAIL_AMPLITUDE: f64 = 3.0;
const HOURS: u64 = 400;
const HOUR_MS: u64 = 3_600_000;

const CONFIG: VibrationConfig = VibrationConfig { sample_rate_hz: FS, fault_frequency_hz: BPFO_HZ, harmonics: 3, side_bins: 1 };

/// Ground truth of one run: wear from `onset` to `failure` (hours), or none.
#[derive(Clone, Copy)]
struct Wear {
    onset: u64,
    failure: u64,
}

/// One window at hour `h`.
fn window(rng: &mut SplitMix, h: u64, wear: Option<Wear>) -> Vec<f64> {
    let load = 1.0 + 0.1 * rng.normal();
    let noise = NOISE * (1.0 + 0.05 * rng.normal());
    let phase = 2.0 * PI * rng.uniform();
    let mut x: Vec<f64> = (0..N)
        .map(|i| {
            let t = i as f64 / FS;
            load * ((2.0 * PI * SHAFT_HZ * t + phase).sin() + 0.3 * (4.0 * PI * SHAFT_HZ * t + 2.0 * phase).sin()) + noise * rng.normal()
        })
        .collect();
    let amplitude = match wear {
        Some(w) if h >= w.onset => FAIL_AMPLITUDE * ((h - w.onset) as f64 / (w.failure - w.onset) as f64).powi(2),
        _ => 0.0,
    };
    if amplitude > 0.0 {
        let period = 1.0 / BPFO_HZ;
        let mut hit = rng.uniform() * period;
        let ring = (5.0 * DECAY_S * FS) as usize;
        while hit < N as f64 / FS {
            let start = (hit * FS).ceil() as usize;
            let a = amplitude * (1.0 + 0.2 * rng.normal());
            for (i, xi) in x.iter_mut().enumerate().skip(start).take(ring) {
                let dt = i as f64 / FS - hit;
                *xi += a * (-dt / DECAY_S).exp() * (2.0 * PI * RESONANCE_HZ * dt).sin();
            }
            hit += period * (1.0 + 0.01 * rng.normal());
        }
    }
    x
}

/// Runs the monitor over a whole run; returns the hour and assessment of the first alarm
/// (if any) and the largest CUSUM statistic seen while healthy.
fn run(seed: u64, wear: Option<Wear>) -> (Option<(u64, Assessment)>, f64) {
    let mut rng = SplitMix(seed);
    let mut monitor = BearingMonitor::new(BearingConfig::default()).unwrap();
    let mut max_healthy = 0.0f64;
    for h in 0..HOURS {
        let f = features(&window(&mut rng, h, wear), &CONFIG).unwrap();
        match monitor.observe(&f, h * HOUR_MS).unwrap() {
            a @ Assessment::Wear(_) => return (Some((h, a)), max_healthy),
            Assessment::Healthy { evidence } => max_healthy = evidence.iter().fold(max_healthy, |m, e| m.max(e.cusum)),
            Assessment::Learning { .. } => {}
        }
    }
    (None, max_healthy)
}

const SEEDS: [u64; 8] = [1, 2, 3, 5, 8, 13, 21, 34];

#[test]
fn alarms_between_onset_and_failure_for_every_seed() {
    for (k, &seed) in SEEDS.iter().enumerate() {
        // The ground truth varies with the seed: onset between hour 120 and 190, failure
        // 180 hours later.
        let onset = 120 + 10 * k as u64;
        let wear = Wear { onset, failure: onset + 180 };
        let (Some((hour, Assessment::Wear(alarm))), _) = run(seed, Some(wear)) else { panic!("seed {seed}: no alarm before hour {HOURS}") };
        assert!(hour > wear.onset, "seed {seed}: alarm at hour {hour}, before the onset at {}", wear.onset);
        assert!(hour < wear.failure, "seed {seed}: alarm at hour {hour}, not before the failure at {}", wear.failure);
        let onset_estimate = alarm.onset_estimate / HOUR_MS;
        eprintln!(
            "seed {seed}: onset {} failure {} alarm {hour} (lead {} h before failure, {} h after onset), trigger {:?}, onset estimate {onset_estimate}",
            wear.onset,
            wear.failure,
            wear.failure - hour,
            hour - wear.onset,
            alarm.trigger
        );
        // The evidence shows the trigger well above its baseline.
        let e = alarm.evidence.iter().find(|e| e.feature == alarm.trigger).unwrap();
        assert!(e.cusum > BearingConfig::default().threshold && e.z > 0.0, "{e:?}");
        // Lead time: at least a fifth of the wear period remains.
        assert!(wear.failure - hour >= 36, "seed {seed}: only {} h of warning", wear.failure - hour);
    }
}

#[test]
fn no_false_alarm_over_healthy_runs() {
    let threshold = BearingConfig::default().threshold;
    for seed in SEEDS {
        let (alarm, max_cusum) = run(seed, None);
        assert!(alarm.is_none(), "seed {seed}: false alarm {alarm:?}");
        eprintln!("seed {seed}: healthy for {HOURS} h, largest CUSUM {max_cusum:.2} (threshold {threshold})");
        assert!(max_cusum > 0.0, "the statistic moved at all");
    }
}
