//! What the `gpu-status` domain puts on the screen: a title with the tile's uptime and one
//! row per domain (name, state, generation, restarts) as the supervisor reports them, and
//! which rows changed since the last look — so that only changes travel to the driver.
//! Below them, a telemetry section ([`telemetry_row`]): one row per domain that reports
//! latencies, as the telemetry domain counts them.

use crate::screen::ROWS;
use core::fmt::Write;
use heapless::String;
use tileos_protocol::display::MAX_TEXT;
use tileos_protocol::supervisor::{DomainStatus, State};

/// One line of text on the screen.
pub type Text = String<MAX_TEXT>;

/// The title: `tileos tile, up H:MM:SS` for `uptime_ms` milliseconds since the machine
/// started.
pub fn title(uptime_ms: u64) -> Text {
    let seconds = uptime_ms / 1000;
    let mut text = Text::new();
    let _ = write!(text, "tileos tile, up {}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    text
}

/// A state as shown on the screen.
pub fn state_name(state: State) -> &'static str {
    match state {
        State::Running => "running",
        State::Restarting => "restarting",
        State::GivenUp => "given up",
        State::Stopped => "stopped",
    }
}

/// The row of one domain: name, state, generation, restarts (names longer than the
/// column are cut; the row never exceeds [`MAX_TEXT`]).
pub fn row(domain: &DomainStatus) -> Text {
    let name: &str = domain.name.as_str();
    let name = &name[..name.len().min(NAME_COLUMN)];
    let mut text = Text::new();
    let _ = write!(text, "{name:<NAME_COLUMN$} {:<10} gen {} restarts {}", state_name(domain.state), domain.generation, domain.restarts);
    text
}

/// Width of the name column.
const NAME_COLUMN: usize = 12;

/// The telemetry row of one reporting domain: name, calls, p99 latency in µs (its log2
/// bucket's upper bound, `tsc_per_ms` ticks a millisecond), CPU ms (its precisely charged
/// cycles, `tsc_per_ms` a millisecond) and the power estimate in mW.
pub fn telemetry_row(domain: &tileos_protocol::telemetry::DomainFigures, units: &tileos_protocol::telemetry::Units) -> Text {
    let name: &str = domain.name.as_str();
    let name = &name[..name.len().min(NAME_COLUMN)];
    let p99_us = domain.p99_ticks.saturating_mul(1000) / units.tsc_per_ms.max(1);
    let cpu_ms = domain.cpu_cycles / units.tsc_per_ms.max(1);
    let mut text = Text::new();
    let _ = write!(text, "{name:<NAME_COLUMN$} calls {} p99 {p99_us}us cpu {cpu_ms}ms {}mW", domain.calls, domain.power_mw);
    text
}

/// The rows on the screen, to tell what changed.
pub struct Rows {
    /// What each row shows now (empty: nothing; `None`: not known, the display did not
    /// show what was last sent).
    shown: [Option<Text>; ROWS],
}

impl Rows {
    /// A blank screen.
    pub fn new() -> Rows {
        Rows { shown: core::array::from_fn(|_| Some(Text::new())) }
    }

    /// Records that row `index` should show `text`; returns whether that is a change (rows
    /// beyond the screen are never a change).
    pub fn update(&mut self, index: usize, text: &Text) -> bool {
        match self.shown.get_mut(index) {
            Some(shown) if shown.as_ref() != Some(text) => {
                *shown = Some(text.clone());
                true
            }
            _ => false,
        }
    }

    /// Forgets what row `index` shows (the display did not show it), so that the next
    /// [`Rows::update`] of it is a change.
    pub fn forget(&mut self, index: usize) {
        if let Some(shown) = self.shown.get_mut(index) {
            *shown = None;
        }
    }
}

impl Default for Rows {
    fn default() -> Rows {
        Rows::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(name: &str, state: State, generation: u64, restarts: u32) -> DomainStatus {
        DomainStatus { name: name.try_into().unwrap(), state, generation, restarts }
    }

    #[test]
    fn title_shows_hours_minutes_seconds() {
        assert_eq!(title(0).as_str(), "tileos tile, up 0:00:00");
        assert_eq!(title(3_723_999).as_str(), "tileos tile, up 1:02:03");
    }

    #[test]
    fn rows_have_aligned_columns_and_fit() {
        assert_eq!(row(&domain("nvme", State::Running, 1, 1)).as_str(), "nvme         running    gen 1 restarts 1");
        assert_eq!(row(&domain("net", State::Restarting, 0, 0)).as_str(), "net          restarting gen 0 restarts 0");
        let long = domain(&"d".repeat(64), State::GivenUp, u64::MAX, u32::MAX);
        let text = row(&long);
        assert!(text.starts_with("dddddddddddd given up"), "{text}");
        assert!(text.len() <= MAX_TEXT);
    }

    #[test]
    fn telemetry_rows_fit_and_convert_units() {
        use tileos_protocol::telemetry::{DomainFigures, Units};
        let units = Units { tsc_per_ms: 1_000_000, tick_us: 5000, uptime_ms: 0 };
        let figures = DomainFigures {
            name: "drifter".try_into().unwrap(),
            reporter: true,
            calls: 6000,
            p99_ticks: 131_071,
            cpu_ticks: 40,
            cpu_cycles: 200_000_000,
            power_mw: 900,
            ..DomainFigures::default()
        };
        assert_eq!(telemetry_row(&figures, &units).as_str(), "drifter      calls 6000 p99 131us cpu 200ms 900mW");
        let widest = DomainFigures {
            name: core::iter::repeat_n('d', 64).collect(),
            calls: u64::MAX,
            p99_ticks: u64::MAX,
            cpu_ticks: u64::MAX,
            cpu_cycles: u64::MAX,
            power_mw: u32::MAX,
            ..figures
        };
        assert!(telemetry_row(&widest, &Units { tsc_per_ms: 1, ..units }).len() <= MAX_TEXT);
    }

    #[test]
    fn only_changes_count() {
        let mut rows = Rows::new();
        let running = row(&domain("nvme", State::Running, 0, 0));
        assert!(rows.update(0, &running));
        assert!(!rows.update(0, &running));
        assert!(rows.update(0, &row(&domain("nvme", State::Running, 1, 1))));
        assert!(!rows.update(ROWS, &running), "a row below the screen");
    }

    #[test]
    fn a_forgotten_row_is_a_change_again_even_to_blank() {
        let mut rows = Rows::new();
        let running = row(&domain("nvme", State::Running, 0, 0));
        assert!(rows.update(3, &running));
        rows.forget(3);
        assert!(rows.update(3, &running), "the display did not show it: send it again");
        assert!(!rows.update(3, &running));
        assert!(rows.update(3, &Text::new()));
        rows.forget(3);
        assert!(rows.update(3, &Text::new()), "a blank the display did not show is sent again");
        rows.forget(ROWS);
        assert!(!rows.update(ROWS, &running), "a row below the screen");
    }
}
