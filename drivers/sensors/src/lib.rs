//! The sensors domain's logic, host-tested (docs/sensors.md):
//!
//! - [`link`]: [`link::SerialI2c`], an `embedded_hal::i2c::I2c` bus whose transactions
//!   travel as frames (`tileos-sensor-wire`) over any byte port — COM2 in the domain, a
//!   scripted port in the tests;
//! - [`chip`]: the sensor chip driver, written against `embedded_hal::i2c::I2c` only, so
//!   it runs unchanged on a real I²C bus;
//! - [`hub`]: the last good sample of every quantity with its time, staleness, the link's
//!   health, subscriptions, and the sensor protocol's server side
//!   (`tileos_protocol::sensors`).
//!
//! The domain program (`src/bin/sensors.rs`) supplies COM2's IO ports and the clock; the
//! boot test's client is `src/bin/sensor_client.rs`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chip;
pub mod hub;
pub mod link;
