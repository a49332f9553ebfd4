//! The tile simulator (docs/sensors.md): a host program QEMU's second serial port (COM2)
//! connects to. It models the tile's temperature, power draw, the atmospheric water
//! generator's pump (flow, pressure, bearing vibration with injectable wear) and a mmWave
//! presence radar, stepped in simulated time from a scenario file that also carries the
//! ground truth of its faults, and answers the sensors domain's I2C transactions as the
//! chips on the tile's sensor bus would (`tileos-sensor-wire`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod link;
pub mod model;
pub mod scenario;
