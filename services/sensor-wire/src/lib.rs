//! The serial link between the tile's sensors domain (`drivers/sensors`) and the tile
//! simulator (`tools/tile-sim`), shared by both ends (docs/sensors.md, "Framing").
//!
//! - [`frame`]: frames on a byte stream — sync byte, kind, sequence number, length,
//!   payload, CRC-16 — and a [`frame::Decoder`] that rejects corrupt frames with a precise
//!   [`frame::FrameError`] and finds the next frame after garbage.
//! - [`i2c`]: what the frames carry: an I2C transaction (address, bytes written, bytes to
//!   read) one way, its outcome the other way, so that the sensors domain's drivers are
//!   written against `embedded_hal::i2c::I2c` and would run unchanged on a real bus.
//! - [`chips`]: the register maps of the simulated sensor chips (the "datasheets" the
//!   drivers and the simulator both follow).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chips;
pub mod frame;
pub mod i2c;
