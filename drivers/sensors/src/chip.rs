//! The sensor chip driver, written against `embedded_hal::i2c::I2c` only: it runs on the
//! framed serial link ([`crate::link::SerialI2c`]) and would run unchanged on a real I²C
//! bus. The register map is `tileos_sensor_wire::chips`.

use embedded_hal::i2c::I2c;
use tileos_sensor_wire::chips::{self, Chip};

/// Most channels a chip has.
pub const MAX_CHANNELS: usize = 3;

/// Why a chip could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChipError<E> {
    /// The bus failed.
    Bus(E),
    /// The chip at the address has identifier `found`, not the expected one.
    WrongChip {
        /// The identifier read.
        found: u8,
    },
}

/// A driver for one chip, on whichever `embedded_hal::i2c::I2c` bus [`ChipDriver::measure`]
/// is given: checks the chip's identifier before the first measurement (and again after
/// any failure), then reads all its channels at once.
#[derive(Clone, Copy, Debug)]
pub struct ChipDriver {
    chip: Chip,
    identified: bool,
}

impl ChipDriver {
    /// A driver for `chip`, not identified yet.
    pub fn new(chip: Chip) -> ChipDriver {
        ChipDriver { chip, identified: false }
    }

    /// The chip driven.
    pub fn chip(&self) -> Chip {
        self.chip
    }

    /// Reads the chip's measurement: its channels' values.
    pub fn measure<I: I2c>(&mut self, bus: &mut I) -> Result<heapless::Vec<i32, MAX_CHANNELS>, ChipError<I::Error>> {
        let result = self.measure_once(bus);
        if result.is_err() {
            self.identified = false;
        }
        result
    }

    fn measure_once<I: I2c>(&mut self, bus: &mut I) -> Result<heapless::Vec<i32, MAX_CHANNELS>, ChipError<I::Error>> {
        let address = self.chip.address();
        if !self.identified {
            let mut id = [0u8];
            bus.write_read(address, &[chips::ID_REGISTER], &mut id).map_err(ChipError::Bus)?;
            if id[0] != self.chip.id() {
                return Err(ChipError::WrongChip { found: id[0] });
            }
            self.identified = true;
        }
        let mut bytes = [0u8; 4 * MAX_CHANNELS];
        let bytes = &mut bytes[..self.chip.measurement_bytes()];
        bus.write_read(address, &[chips::MEASUREMENT_REGISTER], bytes).map_err(ChipError::Bus)?;
        Ok((0..self.chip.channels()).filter_map(|index| chips::channel(bytes, index)).collect())
    }
}

/// Reports the tile's load (permille, at most [`chips::MAX_LOAD_PERMILLE`]) to the power
/// chip's load register.
pub fn report_load<I: I2c>(bus: &mut I, permille: u16) -> Result<(), I::Error> {
    let [high, low] = permille.min(chips::MAX_LOAD_PERMILLE).to_be_bytes();
    bus.write(Chip::Power.address(), &[chips::LOAD_REGISTER, high, low])
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, ErrorType, NoAcknowledgeSource, Operation};

    /// A mock bus: register reads answered from a table, every transaction recorded.
    struct MockBus {
        id: u8,
        measurement: Vec<u8>,
        log: Vec<(u8, Vec<u8>, usize)>,
        fail: Option<ErrorKind>,
    }

    impl ErrorType for MockBus {
        type Error = ErrorKind;
    }

    impl I2c for MockBus {
        fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
            if let Some(kind) = self.fail {
                return Err(kind);
            }
            if let [Operation::Write(write)] = operations {
                self.log.push((address, write.to_vec(), 0));
                return Ok(());
            }
            let [Operation::Write(write), Operation::Read(read)] = operations else { panic!("not a register read") };
            self.log.push((address, write.to_vec(), read.len()));
            match write[0] {
                chips::ID_REGISTER => read[0] = self.id,
                chips::MEASUREMENT_REGISTER => read.copy_from_slice(&self.measurement[..read.len()]),
                _ => return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)),
            }
            Ok(())
        }
    }

    #[test]
    fn the_driver_identifies_the_chip_once_then_reads_every_channel() {
        let mut bus = MockBus {
            id: Chip::Pump.id(),
            measurement: [1200i32.to_be_bytes(), 150_000i32.to_be_bytes()].concat(),
            log: Vec::new(),
            fail: None,
        };
        let mut driver = ChipDriver::new(Chip::Pump);
        assert_eq!(&driver.measure(&mut bus).unwrap()[..], &[1200, 150_000]);
        assert_eq!(&driver.measure(&mut bus).unwrap()[..], &[1200, 150_000]);
        assert_eq!(bus.log, [(0x20, vec![0xFF], 1), (0x20, vec![0x00], 8), (0x20, vec![0x00], 8)]);
    }

    #[test]
    fn the_load_is_one_write_of_the_power_chips_load_register() {
        let mut bus = MockBus { id: 0, measurement: Vec::new(), log: Vec::new(), fail: None };
        report_load(&mut bus, 750).unwrap();
        assert_eq!(bus.log, [(0x40, vec![chips::LOAD_REGISTER, 0x02, 0xEE], 0)]);
    }

    #[test]
    fn a_wrong_identifier_is_refused_and_a_failure_makes_the_driver_identify_again() {
        let mut bus = MockBus { id: 0x00, measurement: vec![0; 4], log: Vec::new(), fail: None };
        let mut driver = ChipDriver::new(Chip::Thermal);
        assert_eq!(driver.measure(&mut bus), Err(ChipError::WrongChip { found: 0 }));
        bus.id = Chip::Thermal.id();
        assert!(driver.measure(&mut bus).is_ok());
        bus.fail = Some(ErrorKind::Bus);
        assert_eq!(driver.measure(&mut bus), Err(ChipError::Bus(ErrorKind::Bus)));
        bus.fail = None;
        bus.log.clear();
        driver.measure(&mut bus).unwrap();
        assert_eq!(bus.log.len(), 2, "identified again after the failure");
    }
}
