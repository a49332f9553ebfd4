//! The digital twin's lines on the status screen (docs/twin.md "On the screen and the
//! network"): the bottom [`TWIN_ROWS`] rows, formatted from the twin's `State` answer —
//! aggregates and advice only, as everything the twin protocol carries.

use crate::screen::ROWS;
use crate::status::Text;
use core::fmt::Write;
use tileos_protocol::twin::{Bearing, State, ThermalLevel};

/// The rows the twin's lines take: the last two of the screen.
pub const TWIN_ROWS: core::ops::Range<usize> = ROWS - 2..ROWS;

/// A thermal level as shown.
fn level(level: ThermalLevel) -> &'static str {
    match level {
        ThermalLevel::Unknown => "unknown",
        ThermalLevel::Nominal => "nominal",
        ThermalLevel::Watch => "watch",
        ThermalLevel::Throttle => "THROTTLE",
        ThermalLevel::Critical => "CRITICAL",
    }
}

/// The twin's two lines: the bearing and the thermal advice; the last minute's means.
/// Each fits [`tileos_protocol::display::MAX_TEXT`] (a longer one is cut by `heapless`).
pub fn twin_lines(state: &State) -> [Text; 2] {
    let mut first = Text::new();
    let _ = match state.bearing {
        Bearing::Learning { remaining } => write!(first, "twin: bearing learning ({remaining} left)"),
        Bearing::Healthy { largest_cusum, threshold } => write!(first, "twin: bearing ok ({largest_cusum:.1}/{threshold:.0})"),
        Bearing::Worn(alarm) => write!(first, "twin: BEARING WORN ({})", alarm.trigger.name()),
    };
    let _ = write!(first, ", thermal {}", level(state.thermal.level));
    if state.stale {
        let _ = first.push_str(", STALE");
    }
    // The domains the supervisor's immune system has drift alarms for: the first named, cut
    // to what fits before the count of the others.
    if let Some(compute) = state.compute.as_ref().filter(|c| c.drifting_domains > 0) {
        let mut others = heapless::String::<8>::new();
        if compute.drifting_domains > 1 {
            let _ = write!(others, " +{}", compute.drifting_domains - 1);
        }
        let _ = first.push_str(", DRIFT ");
        let room = first.capacity().saturating_sub(first.len() + others.len());
        let name = compute.drifting.first().map_or("", |d| d.domain.as_str());
        let cut = name.char_indices().map(|(at, c)| at + c.len_utf8()).take_while(|end| *end <= room).last().unwrap_or(0);
        let _ = first.push_str(&name[..cut]);
        let _ = first.push_str(&others);
    }
    let mut second = Text::new();
    let _ = match state.last_minute {
        None => write!(second, "twin: no minute yet, {} readings", state.readings),
        Some(m) => write!(
            second,
            "min {}: {:.1} C {:.0} W {:.2} L/min vib {:.3} g",
            m.minute, m.temperature_c.mean, m.power_w.mean, m.flow_l_min.mean, m.vibration_rms_g.mean
        ),
    };
    [first, second]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tileos_protocol::twin::{Feature, MinuteAggregate, Summary, Thermal, WearAlarm};

    fn state(bearing: Bearing, last_minute: Option<MinuteAggregate>) -> State {
        State {
            readings: 42,
            windows: 7,
            stale: false,
            last_minute,
            history_minutes: 0,
            thermal: Thermal { level: ThermalLevel::Nominal, trend_c_per_s: None, time_to_limit_s: None },
            bearing,
            exports_open: true,
            compute: None,
        }
    }

    #[test]
    fn lines_show_bearing_thermal_and_the_last_minute() {
        let [first, second] = twin_lines(&state(Bearing::Learning { remaining: 33 }, None));
        assert_eq!(first.as_str(), "twin: bearing learning (33 left), thermal nominal");
        assert_eq!(second.as_str(), "twin: no minute yet, 42 readings");
        let mean = |mean| Summary { count: 240, mean, min: mean, max: mean };
        let minute = MinuteAggregate {
            minute: 12,
            temperature_c: mean(45.25),
            power_w: mean(130.4),
            flow_l_min: mean(1.2),
            vibration_rms_g: mean(0.0402),
            fault_band_g: mean(0.001),
            presence_share: 0.5,
        };
        let [first, second] = twin_lines(&state(Bearing::Healthy { largest_cusum: 2.14, threshold: 12.0 }, Some(minute)));
        assert_eq!(first.as_str(), "twin: bearing ok (2.1/12), thermal nominal");
        assert_eq!(second.as_str(), "min 12: 45.2 C 130 W 1.20 L/min vib 0.040 g");
        let alarm = WearAlarm { trigger: Feature::FaultBand, raised_ms: 1, onset_ms: 0, cusum: [0.0; 4], z: [0.0; 4] };
        let mut worn = state(Bearing::Worn(alarm), Some(minute));
        worn.stale = true;
        worn.thermal.level = ThermalLevel::Throttle;
        assert_eq!(twin_lines(&worn)[0].as_str(), "twin: BEARING WORN (fault-band), thermal THROTTLE, STALE");
    }

    #[test]
    fn the_first_line_names_a_drifting_domain() {
        use tileos_protocol::supervisor::ImmuneMetric;
        use tileos_protocol::twin::{Compute, Drifting};
        let mut drifting = state(Bearing::Healthy { largest_cusum: 2.14, threshold: 12.0 }, None);
        let mut compute = Compute {
            uptime_ms: 1,
            domains: 9,
            reporters: 3,
            calls: 10,
            faults: 0,
            restarts: 0,
            load_permille: 100,
            power_mw: 0,
            slowest: None,
            drifting_domains: 0,
            drifting: heapless::Vec::new(),
        };
        drifting.compute = Some(compute.clone());
        assert_eq!(twin_lines(&drifting)[0].as_str(), "twin: bearing ok (2.1/12), thermal nominal");
        let metrics = heapless::Vec::from_slice(&[ImmuneMetric::SlotDisagreement]).unwrap();
        compute.drifting.push(Drifting { domain: "checksum-client".try_into().unwrap(), metrics }).unwrap();
        compute.drifting_domains = 2;
        drifting.compute = Some(compute);
        // The name is cut to fit the line (64 characters) with the count of the others.
        assert_eq!(twin_lines(&drifting)[0].as_str(), "twin: bearing ok (2.1/12), thermal nominal, DRIFT checksum-cl +1");
        let compute = drifting.compute.as_mut().unwrap();
        compute.drifting[0].domain = "store".try_into().unwrap();
        compute.drifting_domains = 1;
        assert_eq!(twin_lines(&drifting)[0].as_str(), "twin: bearing ok (2.1/12), thermal nominal, DRIFT store");
    }

    #[test]
    fn extreme_figures_still_fit() {
        let huge = Summary { count: u32::MAX, mean: -1e300, min: 0.0, max: 0.0 };
        let minute = MinuteAggregate {
            minute: u32::MAX,
            temperature_c: huge,
            power_w: huge,
            flow_l_min: huge,
            vibration_rms_g: huge,
            fault_band_g: huge,
            presence_share: 1.0,
        };
        let lines = twin_lines(&state(Bearing::Learning { remaining: u32::MAX }, Some(minute)));
        assert!(lines.iter().all(|l| l.len() <= tileos_protocol::display::MAX_TEXT));
    }
}
