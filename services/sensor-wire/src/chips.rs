//! The register maps of the simulated sensor chips: what the sensors domain's drivers
//! read and the simulator answers (docs/sensors.md, "The chips").
//!
//! Every chip answers two registers: [`ID_REGISTER`] reads one byte, the chip's
//! [`Chip::id`] (a driver checks it before trusting the chip), and
//! [`MEASUREMENT_REGISTER`] reads the chip's latest measurement, all of its channels at
//! once (so the channels of one reading belong together), each a big-endian `i32` in the
//! channel's unit. The power chip also takes the tile's load in [`LOAD_REGISTER`]. Any
//! other register, and any other write of more than the register number, is refused with a
//! data NACK.

/// Register number of the one-byte chip identifier.
pub const ID_REGISTER: u8 = 0xFF;
/// Register number of the measurement (all channels, 4 bytes each, big-endian `i32`).
pub const MEASUREMENT_REGISTER: u8 = 0x00;
/// The power chip's load register, written only: two bytes, big-endian, the tile's load in
/// permille (0..=[`MAX_LOAD_PERMILLE`]) as the tile reports it. The simulator's load
/// follows the last value written instead of its scenario's schedule.
pub const LOAD_REGISTER: u8 = 0x10;
/// Largest load a tile reports, permille.
pub const MAX_LOAD_PERMILLE: u16 = 1000;

/// A simulated sensor chip on the tile's sensor bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chip {
    /// Thermistor front end at the tile's hot spot: temperature in m°C.
    Thermal,
    /// Power monitor on the tile's supply: power in mW.
    Power,
    /// The atmospheric-water-generator pump's flow meter and pressure sensor: flow in
    /// mL/min, pressure in Pa.
    Pump,
    /// Piezo accelerometer on the pump bearing with on-chip feature extraction over its
    /// last window: RMS in µg, kurtosis ×1000, energy in the bearing's outer-race fault
    /// frequency band in µg.
    Vibration,
    /// mmWave presence radar: presence (0 or 1), distance of the nearest person in mm.
    Presence,
}

impl Chip {
    /// Every chip, in bus order.
    pub const ALL: [Chip; 5] = [Chip::Thermal, Chip::Power, Chip::Pump, Chip::Vibration, Chip::Presence];

    /// The chip's 7-bit bus address.
    pub fn address(self) -> u8 {
        match self {
            Chip::Thermal => 0x48,
            Chip::Power => 0x40,
            Chip::Pump => 0x20,
            Chip::Vibration => 0x53,
            Chip::Presence => 0x60,
        }
    }

    /// The chip at `address`, if any.
    pub fn at(address: u8) -> Option<Chip> {
        Chip::ALL.into_iter().find(|chip| chip.address() == address)
    }

    /// What [`ID_REGISTER`] reads.
    pub fn id(self) -> u8 {
        self.address() ^ 0xA0
    }

    /// How many channels its measurement has.
    pub fn channels(self) -> usize {
        match self {
            Chip::Thermal | Chip::Power => 1,
            Chip::Pump | Chip::Presence => 2,
            Chip::Vibration => 3,
        }
    }

    /// Bytes [`MEASUREMENT_REGISTER`] reads.
    pub fn measurement_bytes(self) -> usize {
        4 * self.channels()
    }
}

/// Encodes a measurement's channels (big-endian `i32` each) into `out`; returns the
/// length.
pub fn encode_channels(channels: &[i32], out: &mut [u8]) -> usize {
    for (value, bytes) in channels.iter().zip(out.chunks_exact_mut(4)) {
        bytes.copy_from_slice(&value.to_be_bytes());
    }
    4 * channels.len().min(out.len() / 4)
}

/// Decodes channel `index` of a measurement read from a chip.
pub fn channel(bytes: &[u8], index: usize) -> Option<i32> {
    let b = bytes.get(4 * index..4 * index + 4)?;
    Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_7_bit_and_ids_differ_from_them() {
        for chip in Chip::ALL {
            assert!(chip.address() <= 0x7f);
            assert_eq!(Chip::at(chip.address()), Some(chip));
            assert_ne!(chip.id(), chip.address());
        }
        assert_eq!(Chip::at(0x11), None);
    }

    #[test]
    fn channels_round_trip() {
        let mut out = [0; 12];
        assert_eq!(encode_channels(&[-40_000, 7, i32::MAX], &mut out), 12);
        assert_eq!(
            [channel(&out, 0), channel(&out, 1), channel(&out, 2), channel(&out, 3)],
            [Some(-40_000), Some(7), Some(i32::MAX), None]
        );
    }
}
