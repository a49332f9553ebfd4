//! The sensor protocol: domains read the tile's sensors through the sensors domain
//! (`drivers/sensors`, docs/sensors.md "The sensor protocol").
//!
//! The sensors domain serves it on the endpoint named [`Sensors::NAME`](crate::Protocol::NAME) (`"sensors"`). It
//! samples every chip on its bus a few times a second and keeps the last good sample of
//! each [`Quantity`], with the time it was taken. A [`Reading`] is always a value a chip
//! really reported (a frame that fails its CRC is never decoded into a value): when the
//! chips stop answering, or answer garbage, the last good value is given with
//! [`Reading::stale`] set and its age, and [`Request::Link`] says what is wrong with the
//! link; a quantity never read at all is refused with [`Error::NoReading`].
//!
//! **Subscriptions.** A client whose description gives the sensors domain a signal
//! capability to a notification it waits on, named `sensor-wake.<badge>` (the client's
//! badge in decimal), may [`Request::Subscribe`] to a set of quantities: the sensors domain
//! then signals that notification when a subscribed quantity has a new sample (at most once
//! per `min_interval_ms`) or turns stale, and the client takes the changed readings with
//! [`Request::Updates`]. One signal per `Updates`: after a signal the client asks again.

use serde::{Deserialize, Serialize};

/// The sensor protocol.
pub struct Sensors;

impl crate::Protocol for Sensors {
    const NAME: &'static str = "sensors";
    type Request = Request;
    type Response = Response;
}

/// Shortest `min_interval_ms` of a subscription.
pub const MIN_INTERVAL_MS: u32 = 100;

/// What the tile measures, each in a fixed integer unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Quantity {
    /// Hot-spot temperature, m°C.
    Temperature,
    /// Supply power, mW.
    Power,
    /// Pump flow, mL/min.
    PumpFlow,
    /// Pump pressure, Pa.
    PumpPressure,
    /// Bearing vibration RMS, µg.
    VibrationRms,
    /// Bearing vibration kurtosis ×1000 (3000 for Gaussian noise).
    VibrationKurtosis,
    /// Bearing vibration envelope amplitude at the outer-race fault frequency, µg.
    VibrationFaultBand,
    /// Someone in front of the tile: 1, else 0.
    Presence,
    /// Distance of the nearest person, mm (0 when nobody is there).
    PresenceDistance,
}

impl Quantity {
    /// Every quantity, in bit order of [`Quantities`].
    pub const ALL: [Quantity; 9] = [
        Quantity::Temperature,
        Quantity::Power,
        Quantity::PumpFlow,
        Quantity::PumpPressure,
        Quantity::VibrationRms,
        Quantity::VibrationKurtosis,
        Quantity::VibrationFaultBand,
        Quantity::Presence,
        Quantity::PresenceDistance,
    ];

    /// Its bit in a [`Quantities`] set.
    pub fn bit(self) -> Quantities {
        1 << (self as u16)
    }

    /// A short name for logs (`temperature`, `pump-flow`, …).
    pub fn name(self) -> &'static str {
        match self {
            Quantity::Temperature => "temperature",
            Quantity::Power => "power",
            Quantity::PumpFlow => "pump-flow",
            Quantity::PumpPressure => "pump-pressure",
            Quantity::VibrationRms => "vibration-rms",
            Quantity::VibrationKurtosis => "vibration-kurtosis",
            Quantity::VibrationFaultBand => "vibration-fault-band",
            Quantity::Presence => "presence",
            Quantity::PresenceDistance => "presence-distance",
        }
    }
}

/// A set of quantities: bit `q as u16` for each [`Quantity`] `q`.
pub type Quantities = u16;
/// Every quantity's bit.
pub const ALL_QUANTITIES: Quantities = (1 << Quantity::ALL.len()) - 1;

/// A sensor reading: a value a chip reported, and how old it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// What was measured.
    pub quantity: Quantity,
    /// The value, in the quantity's unit.
    pub value: i32,
    /// When it was sampled, ms since the sensors domain started.
    pub taken_ms: u64,
    /// How old it was when answered, ms.
    pub age_ms: u64,
    /// Number of the sample (counts good samples of this quantity from 1).
    pub sample: u32,
    /// The value is not current: the chip has not been read successfully for longer than
    /// the staleness limit (the link is down or garbled; [`Request::Link`] says which).
    pub stale: bool,
}

/// The state of the link to the sensor chips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkState {
    /// No chip answered yet.
    NeverUp,
    /// The last round of samples succeeded.
    Up,
    /// The chips stopped answering (timeouts).
    Silent,
    /// Answers arrive but fail their checks (CRC, length, framing, payload).
    Garbled,
}

impl LinkState {
    /// A short name for logs (`never-up`, `up`, `silent`, `garbled`).
    pub fn name(self) -> &'static str {
        match self {
            LinkState::NeverUp => "never-up",
            LinkState::Up => "up",
            LinkState::Silent => "silent",
            LinkState::Garbled => "garbled",
        }
    }
}

/// What went wrong with the last failed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkFault {
    /// No answer in time.
    Timeout,
    /// An answer failed its CRC.
    BadCrc,
    /// A frame declared a length above the maximum.
    FrameTooLong,
    /// A frame of an unknown kind.
    UnknownKind,
    /// A frame whose payload is no outcome of the transaction sent.
    BadPayload,
    /// No chip acknowledged the address.
    AddressNack,
    /// The chip refused a register.
    DataNack,
    /// The chip at the address has another identifier than expected.
    WrongChip,
}

impl LinkFault {
    /// A short name for logs (`timeout`, `bad-crc`, …).
    pub fn name(self) -> &'static str {
        match self {
            LinkFault::Timeout => "timeout",
            LinkFault::BadCrc => "bad-crc",
            LinkFault::FrameTooLong => "frame-too-long",
            LinkFault::UnknownKind => "unknown-kind",
            LinkFault::BadPayload => "bad-payload",
            LinkFault::AddressNack => "address-nack",
            LinkFault::DataNack => "data-nack",
            LinkFault::WrongChip => "wrong-chip",
        }
    }
}

/// Health of the link, since the sensors domain started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatus {
    /// Its state now.
    pub state: LinkState,
    /// Transactions attempted.
    pub transactions: u32,
    /// Transactions that failed.
    pub failures: u32,
    /// Of those, timeouts.
    pub timeouts: u32,
    /// Of those, corrupt answers (CRC, length, kind, payload).
    pub corrupt: u32,
    /// Bytes received outside any frame.
    pub garbage_bytes: u32,
    /// Loads written to the sensor bus.
    pub loads_written: u32,
    /// The last failure.
    pub last_fault: Option<LinkFault>,
}

/// A request to the sensors domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The latest reading of a quantity. Answer: [`Response::Reading`].
    Read(Quantity),
    /// Signal the caller's notification when one of `quantities` has a new sample or turns
    /// stale, at most once every `min_interval_ms` (≥ [`MIN_INTERVAL_MS`]); replaces an
    /// earlier subscription. Answer: [`Response::Subscribed`].
    Subscribe {
        /// The set (non-empty, only bits of [`ALL_QUANTITIES`]).
        quantities: Quantities,
        /// Shortest time between two signals.
        min_interval_ms: u32,
    },
    /// End the caller's subscription. Answer: [`Response::Unsubscribed`].
    Unsubscribe,
    /// The subscribed quantities' readings that changed since the last `Updates` (new
    /// sample, or turned stale); re-arms the signal. Answer: [`Response::Updates`].
    Updates,
    /// The link's health. Answer: [`Response::Link`].
    Link,
    /// Report the tile's load (permille, 0..=1000) to the sensor bus (the power chip's load
    /// register: the simulator's thermal and power models follow it). Written at the next
    /// round of samples, and again at each round until the write succeeds. Answer:
    /// [`Response::LoadAccepted`].
    ReportLoad {
        /// The load, permille.
        permille: u16,
    },
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// The quantity was never read successfully; the link's state says why.
    NoReading {
        /// The quantity asked for.
        quantity: Quantity,
        /// The link's state.
        link: LinkState,
    },
    /// A subscription to no quantity.
    NoQuantities,
    /// Bits of no quantity in a subscription's set.
    UnknownQuantities {
        /// The bits at fault.
        bits: Quantities,
    },
    /// `min_interval_ms` below [`MIN_INTERVAL_MS`].
    IntervalTooShort {
        /// The interval asked for.
        min_interval_ms: u32,
    },
    /// The caller's badge has no `sensor-wake.<badge>` notification to signal: it cannot
    /// subscribe.
    NoNotification {
        /// The caller's badge.
        badge: u64,
    },
    /// `Updates` or `Unsubscribe` without a subscription.
    NotSubscribed,
    /// A reported load above 1000 permille.
    LoadOutOfRange {
        /// The load reported.
        permille: u16,
    },
    /// The sensors domain already serves its most subscribers.
    TooManySubscribers {
        /// How many it serves.
        max: u8,
    },
}

/// What the sensors domain answers. (A message is at most 952 bytes: no heap for a few
/// hundred bytes of updates.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A reading.
    Reading(Reading),
    /// The subscription is in place.
    Subscribed {
        /// Its set.
        quantities: Quantities,
    },
    /// The subscription ended.
    Unsubscribed,
    /// Changed readings (possibly none).
    Updates(heapless::Vec<Reading, 9>),
    /// The link's health.
    Link(LinkStatus),
    /// The load will be written at the next round of samples.
    LoadAccepted,
    /// The request was refused.
    Refused(Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    #[test]
    fn the_largest_answer_fits_one_message() {
        let reading = Reading {
            quantity: Quantity::PresenceDistance,
            value: i32::MIN,
            taken_ms: u64::MAX,
            age_ms: u64::MAX,
            sample: u32::MAX,
            stale: true,
        };
        let all = Response::Updates(heapless::Vec::from_slice(&[reading; 9]).unwrap());
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&all, &mut words).unwrap();
        assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(all));
    }

    #[test]
    fn bits_cover_every_quantity_once() {
        let bits = Quantity::ALL.iter().fold(0, |acc, q| {
            assert_eq!(acc & q.bit(), 0);
            acc | q.bit()
        });
        assert_eq!(bits, ALL_QUANTITIES);
    }
}
