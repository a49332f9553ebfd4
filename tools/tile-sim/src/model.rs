//! The simulated tile, stepped in simulated time (docs/sensors.md, "The model").
//!
//! - **Power**: the tile draws 20 W idle plus 180 W at full load (the load the tile last
//!   reported through the power chip, else the scenario's load schedule), the pump 15 W,
//!   more as its bearing drags.
//! - **Flow and pressure**: nominal flow, less by up to 30 % as the bearing wears;
//!   pressure grows with the square of the flow.
//! - **Temperature**: a thermal RC model, `C dT/dt = P − G (T − T_ambient)`, with a heat
//!   capacity of 800 J/K and a conductance of 1 W/K passive plus 7 W/K at nominal pump flow
//!   (so the tile runs hotter when the pump slows), integrated once per step.
//! - **Vibration**: a window of 4096 accelerometer samples at 25.6 kHz — the shaft's
//!   29.5 Hz, Gaussian noise, and impulses at the bearing's outer-race fault frequency
//!   (3.58 × shaft) ringing at the housing's 3.2 kHz resonance, their amplitude growing
//!   with wear — reduced on the chip to RMS, kurtosis and the envelope's amplitude at the
//!   fault frequency, the features a detector uses.
//! - **Presence**: the scenario's schedule, distance with 20 mm of noise.
//!
//! Every random draw is a pure function of the seed, the step and the channel, so a
//! measurement at a given simulated time is the same however often it is read.

use crate::scenario::Scenario;
use tileos_sensor_wire::chips::Chip;

/// Heat capacity of the tile, J/K.
const HEAT_CAPACITY: f64 = 800.0;
/// Conductance to ambient without pump flow, W/K.
const PASSIVE_CONDUCTANCE: f64 = 1.0;
/// Extra conductance at nominal pump flow, W/K.
const FLOW_CONDUCTANCE: f64 = 7.0;
/// Tile power at idle and its addition at full load, W.
const IDLE_W: f64 = 20.0;
const LOAD_W: f64 = 180.0;
/// Pump power when healthy, W.
const PUMP_W: f64 = 15.0;
/// Shaft speed, Hz, and the outer-race fault frequency as a multiple of it.
pub const SHAFT_HZ: f64 = 29.5;
/// Ball-pass frequency of the outer race as a multiple of the shaft speed.
pub const BPFO_ORDER: f64 = 3.58;
/// Accelerometer sample rate, Hz, and window length.
const SAMPLE_HZ: f64 = 25_600.0;
const WINDOW: usize = 4096;

/// What the model holds true at one moment (for the ground-truth trace and tests).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Truth {
    /// Simulated seconds since the start.
    pub time_s: f64,
    /// The tile's load.
    pub load: f64,
    /// Bearing wear, 0..=1.
    pub wear: f64,
    /// Temperature, °C.
    pub temperature_c: f64,
    /// Total power, W.
    pub power_w: f64,
    /// Pump flow, mL/min.
    pub flow_ml_min: f64,
    /// Pump pressure, Pa.
    pub pressure_pa: f64,
}

/// Vibration features over one window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VibrationFeatures {
    /// RMS acceleration, g.
    pub rms_g: f64,
    /// Kurtosis (3 for Gaussian noise; impulses raise it).
    pub kurtosis: f64,
    /// Amplitude of the envelope at the outer-race fault frequency, g.
    pub fault_band_g: f64,
}

/// The simulated tile.
#[derive(Clone, Debug)]
pub struct Model {
    scenario: Scenario,
    step: u64,
    temperature_c: f64,
    /// The load the tile last reported, which replaces the scenario's schedule.
    reported_load: Option<f64>,
}

impl Model {
    /// The tile at time 0, at ambient temperature.
    pub fn new(scenario: Scenario) -> Model {
        let temperature_c = scenario.ambient_c;
        Model { scenario, step: 0, temperature_c, reported_load: None }
    }

    /// The tile reports its load (0..=1): from now on it drives power and heat instead of
    /// the scenario's load schedule.
    pub fn report_load(&mut self, load: f64) {
        self.reported_load = Some(load.clamp(0.0, 1.0));
    }

    /// The scenario it runs.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Simulated time, ms.
    pub fn time_ms(&self) -> u64 {
        self.step * self.scenario.step_ms
    }

    fn time_s(&self) -> f64 {
        self.time_ms() as f64 / 1000.0
    }

    /// Steps until simulated time reaches `time_ms` (never backwards).
    pub fn advance_to(&mut self, time_ms: u64) {
        while self.time_ms() + self.scenario.step_ms <= time_ms {
            self.step();
        }
    }

    /// One step of `step_ms`.
    pub fn step(&mut self) {
        let truth = self.truth();
        let conductance = PASSIVE_CONDUCTANCE + FLOW_CONDUCTANCE * truth.flow_ml_min / self.scenario.nominal_flow_ml_min;
        let heat = IDLE_W + LOAD_W * truth.load;
        let dt = self.scenario.step_ms as f64 / 1000.0;
        self.temperature_c += dt * (heat - conductance * (self.temperature_c - self.scenario.ambient_c)) / HEAT_CAPACITY;
        self.step += 1;
    }

    /// The true state now.
    pub fn truth(&self) -> Truth {
        let time_s = self.time_s();
        let s = &self.scenario;
        let load = self.reported_load.unwrap_or_else(|| s.load_at(time_s));
        let wear = s.bearing_wear_at(time_s);
        let flow = s.nominal_flow_ml_min * (1.0 - 0.3 * wear);
        Truth {
            time_s,
            load,
            wear,
            temperature_c: self.temperature_c,
            power_w: IDLE_W + LOAD_W * load + PUMP_W * (1.0 + 0.5 * wear),
            flow_ml_min: flow,
            pressure_pa: s.nominal_pressure_pa * (flow / s.nominal_flow_ml_min).powi(2),
        }
    }

    /// Gaussian noise for `channel` at this step (a pure function of seed, step, channel).
    fn noise(&self, channel: u64) -> f64 {
        Rng::new(self.scenario.seed ^ self.step.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (channel << 56)).gaussian()
    }

    /// The vibration window of this step and its features.
    pub fn vibration(&self) -> VibrationFeatures {
        let wear = self.truth().wear;
        let mut rng = Rng::new(self.scenario.seed ^ 0x5649_4252 ^ self.step.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let bpfo = SHAFT_HZ * BPFO_ORDER;
        let phase = rng.uniform() * std::f64::consts::TAU;
        let mut samples = [0.0f64; WINDOW];
        for (i, x) in samples.iter_mut().enumerate() {
            let t = i as f64 / SAMPLE_HZ;
            *x = 0.05 * (2.0 * std::f64::consts::PI * SHAFT_HZ * t + phase).sin() + 0.02 * rng.gaussian();
        }
        if wear > 0.0 {
            // Impulses every 1/bpfo s, jittered by 1 %, each ringing at 3.2 kHz for ~0.6 ms.
            let mut at = rng.uniform() / bpfo;
            while at < WINDOW as f64 / SAMPLE_HZ {
                let start = (at * SAMPLE_HZ) as usize;
                let amplitude = 2.0 * wear * (0.8 + 0.4 * rng.uniform());
                for (k, x) in samples.iter_mut().skip(start).take(64).enumerate() {
                    let t = k as f64 / SAMPLE_HZ;
                    *x += amplitude * (-t / 0.0006).exp() * (2.0 * std::f64::consts::PI * 3200.0 * t).sin();
                }
                at += (1.0 + 0.01 * rng.gaussian()) / bpfo;
            }
        }
        features(&samples, bpfo)
    }

    /// The chip's channels as its measurement register reads now.
    pub fn measure(&self, chip: Chip) -> Vec<i32> {
        let truth = self.truth();
        let round = |value: f64| value.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32;
        match chip {
            Chip::Thermal => vec![round((truth.temperature_c + 0.05 * self.noise(1)) * 1000.0)],
            Chip::Power => vec![round((truth.power_w + 0.5 * self.noise(2)) * 1000.0)],
            Chip::Pump => {
                vec![round(truth.flow_ml_min * (1.0 + 0.01 * self.noise(3))), round(truth.pressure_pa * (1.0 + 0.01 * self.noise(4)))]
            }
            Chip::Vibration => {
                let f = self.vibration();
                vec![round(f.rms_g * 1e6), round(f.kurtosis * 1000.0), round(f.fault_band_g * 1e6)]
            }
            Chip::Presence => match self.scenario.presence_at(truth.time_s) {
                Some(distance) => vec![1, round(distance * 1000.0 + 20.0 * self.noise(5)).max(0)],
                None => vec![0, 0],
            },
        }
    }
}

/// RMS, kurtosis and the envelope's amplitude at `fault_hz` of `samples`.
fn features(samples: &[f64], fault_hz: f64) -> VibrationFeatures {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let m2 = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let m4 = samples.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n;
    let rms_g = (samples.iter().map(|x| x * x).sum::<f64>() / n).sqrt();
    // Envelope: the rectified signal (mean removed); its amplitude at the fault frequency
    // by the Goertzel algorithm.
    let envelope: Vec<f64> = samples.iter().map(|x| x.abs()).collect();
    let envelope_mean = envelope.iter().sum::<f64>() / n;
    let w = 2.0 * std::f64::consts::PI * fault_hz / SAMPLE_HZ;
    let (mut s1, mut s2) = (0.0, 0.0);
    for e in &envelope {
        let s = e - envelope_mean + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    VibrationFeatures { rms_g, kurtosis: if m2 > 0.0 { m4 / (m2 * m2) } else { 0.0 }, fault_band_g: 2.0 * power.max(0.0).sqrt() / n }
}

/// splitmix64: small, fast, and the same on every host.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn gaussian(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    fn scenario(extra: &str) -> Scenario {
        parse(
            "t",
            &format!(
                "[scenario]\nname = \"t\"\nseed = 3\nambient_c = 25\n[pump]\nnominal_flow_ml_min = 1200\nnominal_pressure_pa = 150000\n{extra}"
            ),
        )
        .unwrap()
    }

    #[test]
    fn temperature_settles_at_ambient_plus_power_over_conductance() {
        let mut model = Model::new(scenario("[[load]]\nat_s = 0\nload = 1\n"));
        model.advance_to(2_000_000);
        // 200 W through 8 W/K: 25 K above ambient.
        assert!((model.truth().temperature_c - 50.0).abs() < 0.1, "{:?}", model.truth());
        let reading = model.measure(Chip::Thermal)[0];
        assert!((reading - 50_000).abs() < 300, "{reading}");
    }

    #[test]
    fn the_same_seed_gives_the_same_readings_and_another_seed_other_noise() {
        let run = |seed: u64| {
            let mut s = scenario("[[load]]\nat_s = 0\nload = 0.5\n");
            s.seed = seed;
            let mut model = Model::new(s);
            model.advance_to(5_000);
            Chip::ALL.map(|chip| model.measure(chip))
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn bearing_wear_grows_rms_kurtosis_and_the_fault_band_and_costs_flow_and_cooling() {
        let wear = "[[load]]\nat_s = 0\nload = 0.6\n[[fault]]\nkind = \"bearing-wear\"\nbegins_s = 100\nfails_s = 1000\n";
        let mut model = Model::new(scenario(wear));
        let mut healthy = Model::new(scenario("[[load]]\nat_s = 0\nload = 0.6\n"));
        model.advance_to(90_000);
        let before = model.vibration();
        assert!(before.kurtosis < 3.5 && before.fault_band_g < 0.005, "{before:?}");
        model.advance_to(700_000);
        let middle = model.vibration();
        model.advance_to(1_000_000);
        healthy.advance_to(1_000_000);
        let late = model.vibration();
        assert!(middle.fault_band_g > 5.0 * before.fault_band_g, "{before:?} {middle:?}");
        assert!(late.fault_band_g > middle.fault_band_g && late.rms_g > middle.rms_g && middle.rms_g > before.rms_g, "{middle:?} {late:?}");
        assert!(late.kurtosis > 5.0, "{late:?}");
        assert!(model.truth().flow_ml_min < 0.75 * 1200.0);
        assert!(model.truth().temperature_c > healthy.truth().temperature_c + 3.0);
    }

    #[test]
    fn a_reported_load_replaces_the_schedule() {
        let mut model = Model::new(scenario("[[load]]\nat_s = 0\nload = 0.1\n"));
        let idle = model.truth().power_w;
        model.report_load(1.0);
        assert!((model.truth().power_w - idle - 0.9 * LOAD_W).abs() < 1e-9);
        assert_eq!(model.truth().load, 1.0);
    }

    #[test]
    fn presence_follows_the_schedule() {
        let mut model = Model::new(scenario("[[presence]]\nfrom_s = 1\nto_s = 2\ndistance_m = 1.5\n"));
        assert_eq!(model.measure(Chip::Presence), [0, 0]);
        model.advance_to(1_500);
        let seen = model.measure(Chip::Presence);
        assert_eq!(seen[0], 1);
        assert!((seen[1] - 1500).abs() < 100);
    }
}
