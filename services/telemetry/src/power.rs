//! A power estimate **model**, not a measurement: tileos has no power sensor to read on
//! QEMU, and no energy counters (RAPL) are exposed to it. The model is the usual linear
//! one: a tile draws `idle_mw` doing nothing and up to `active_mw` more when its CPU is
//! busy all the time, in proportion to its busy share. A domain is charged the active part
//! of its own CPU share; the idle part belongs to the tile, not to any domain.
//!
//! The figures of [`PowerModel`] are parameters of the tile (its description would state
//! them for real hardware); [`PowerModel::EXAMPLE`] is an illustration only. Error of the
//! model against a real tile is unknown until it is calibrated against a meter.

/// One CPU fully busy, in parts per million.
pub const FULL_SHARE_PPM: u32 = 1_000_000;

/// The linear model's two parameters, in milliwatts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerModel {
    /// Draw of the idle tile.
    pub idle_mw: u32,
    /// Extra draw when the CPU is busy all the time.
    pub active_mw: u32,
}

impl PowerModel {
    /// An illustrative small x86 board: 6 W idle, 9 W more when busy. Not measured.
    pub const EXAMPLE: PowerModel = PowerModel { idle_mw: 6_000, active_mw: 9_000 };

    /// Estimated draw of the tile whose CPU is busy `busy_ppm` of the time (capped at
    /// [`FULL_SHARE_PPM`]).
    pub fn tile_mw(&self, busy_ppm: u32) -> u32 {
        self.idle_mw.saturating_add(self.active_mw(busy_ppm))
    }

    /// The part of the draw charged to a domain that used `share_ppm` of the CPU.
    pub fn domain_mw(&self, share_ppm: u32) -> u32 {
        self.active_mw(share_ppm)
    }

    fn active_mw(&self, share_ppm: u32) -> u32 {
        let share = u64::from(share_ppm.min(FULL_SHARE_PPM));
        (u64::from(self.active_mw) * share / u64::from(FULL_SHARE_PPM)) as u32
    }
}

/// CPU share in parts per million: `consumed` ticks out of `elapsed` ticks, capped at one
/// full CPU. `None` for an empty interval.
pub fn share_ppm(consumed: u64, elapsed: u64) -> Option<u32> {
    if elapsed == 0 {
        return None;
    }
    let ppm = u128::from(consumed) * u128::from(FULL_SHARE_PPM) / u128::from(elapsed);
    Some(ppm.min(u128::from(FULL_SHARE_PPM)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_linear_in_the_share_and_capped() {
        let model = PowerModel::EXAMPLE;
        assert_eq!(model.tile_mw(0), 6_000);
        assert_eq!(model.tile_mw(FULL_SHARE_PPM), 15_000);
        assert_eq!(model.tile_mw(250_000), 8_250);
        assert_eq!(model.tile_mw(u32::MAX), 15_000, "capped at one busy CPU");
        assert_eq!(model.domain_mw(250_000), 2_250, "a domain is charged only the active part");
        let big = PowerModel { idle_mw: u32::MAX, active_mw: u32::MAX };
        assert_eq!(big.tile_mw(FULL_SHARE_PPM), u32::MAX, "saturates");
    }

    #[test]
    fn shares_are_parts_per_million_of_the_interval() {
        assert_eq!(share_ppm(0, 100), Some(0));
        assert_eq!(share_ppm(25, 100), Some(250_000));
        assert_eq!(share_ppm(1, 3), Some(333_333));
        assert_eq!(share_ppm(200, 100), Some(FULL_SHARE_PPM));
        assert_eq!(share_ppm(u64::MAX, u64::MAX), Some(FULL_SHARE_PPM));
        assert_eq!(share_ppm(5, 0), None);
    }
}
