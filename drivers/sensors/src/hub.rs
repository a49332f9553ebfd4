//! What the sensors domain knows and serves: the last good sample of every quantity and
//! when it was taken, the link's health, and the subscriptions (the sensor protocol,
//! `tileos_protocol::sensors`; docs/sensors.md).
//!
//! Only values a chip really reported are kept: a failed transaction changes the link's
//! health, never a value. A value older than [`STALE_MS`] is answered with its `stale`
//! flag set.

use crate::chip::{ChipDriver, ChipError};
use crate::link::LinkError;
use embedded_hal::i2c::I2c;
use tileos_protocol::sensors::{
    ALL_QUANTITIES, Error, LinkFault, LinkState, LinkStatus, MIN_INTERVAL_MS, Quantities, Quantity, Reading, Request, Response,
};
use tileos_sensor_wire::chips::Chip;
use tileos_sensor_wire::frame::FrameError;

/// Age above which a reading is stale, ms.
pub const STALE_MS: u64 = 2000;
/// Most subscribers at once.
pub const MAX_SUBSCRIBERS: usize = 8;

/// The quantities chip `chip`'s channels measure, in channel order.
pub fn quantities_of(chip: Chip) -> &'static [Quantity] {
    match chip {
        Chip::Thermal => &[Quantity::Temperature],
        Chip::Power => &[Quantity::Power],
        Chip::Pump => &[Quantity::PumpFlow, Quantity::PumpPressure],
        Chip::Vibration => &[Quantity::VibrationRms, Quantity::VibrationKurtosis, Quantity::VibrationFaultBand],
        Chip::Presence => &[Quantity::Presence, Quantity::PresenceDistance],
    }
}

/// The link fault a failed chip read was.
pub fn fault_of(error: &ChipError<LinkError>) -> LinkFault {
    match error {
        ChipError::WrongChip { .. } => LinkFault::WrongChip,
        ChipError::Bus(LinkError::Timeout { .. }) => LinkFault::Timeout,
        ChipError::Bus(LinkError::Frame(FrameError::BadCrc { .. })) => LinkFault::BadCrc,
        ChipError::Bus(LinkError::Frame(FrameError::TooLong { .. })) => LinkFault::FrameTooLong,
        ChipError::Bus(LinkError::Frame(FrameError::UnknownKind { .. })) => LinkFault::UnknownKind,
        ChipError::Bus(LinkError::Payload(_) | LinkError::Malformed | LinkError::Unsupported) => LinkFault::BadPayload,
        ChipError::Bus(LinkError::AddressNack) => LinkFault::AddressNack,
        ChipError::Bus(LinkError::DataNack) => LinkFault::DataNack,
    }
}

/// A good sample of one quantity.
#[derive(Clone, Copy, Debug)]
struct Latest {
    value: i32,
    taken_ms: u64,
    sample: u32,
}

/// A client's subscription.
#[derive(Clone, Copy, Debug)]
struct Subscriber {
    badge: u64,
    quantities: Quantities,
    min_interval_ms: u32,
    /// Subscribed quantities with a new sample, or newly stale, since the last `Updates`.
    changed: Quantities,
    /// Quantities already reported stale (so staleness is reported once).
    stale_reported: Quantities,
    /// Whether the next change may be signalled (cleared by a signal, set by `Updates`).
    armed: bool,
    last_signal_ms: Option<u64>,
}

/// The sensors domain's state.
#[derive(Debug)]
pub struct Hub {
    drivers: [ChipDriver; 5],
    latest: [Option<Latest>; 9],
    link: LinkStatus,
    subscribers: heapless::Vec<Subscriber, MAX_SUBSCRIBERS>,
    /// A load reported by a client, not written to the bus yet.
    pending_load: Option<u16>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    /// Nothing sampled yet.
    pub fn new() -> Hub {
        Hub {
            drivers: Chip::ALL.map(ChipDriver::new),
            latest: [None; 9],
            link: LinkStatus {
                state: LinkState::NeverUp,
                transactions: 0,
                failures: 0,
                timeouts: 0,
                corrupt: 0,
                garbage_bytes: 0,
                loads_written: 0,
                last_fault: None,
            },
            subscribers: heapless::Vec::new(),
            pending_load: None,
        }
    }

    /// The link's health.
    pub fn link(&self) -> LinkStatus {
        self.link
    }

    /// Writes a reported load, if one waits, then reads every chip once at `now_ms`;
    /// returns the link's new state if it changed.
    pub fn sample<I: I2c<Error = LinkError>>(&mut self, bus: &mut I, now_ms: u64) -> Option<LinkState> {
        let (mut good, mut timeouts, mut corrupt) = (0, 0, 0);
        if let Some(permille) = self.pending_load {
            self.link.transactions = self.link.transactions.saturating_add(1);
            match crate::chip::report_load(bus, permille) {
                Ok(()) => {
                    self.pending_load = None;
                    self.link.loads_written = self.link.loads_written.saturating_add(1);
                }
                // Kept: written again at the next round.
                Err(error) => self.count_failure(fault_of(&ChipError::Bus(error)), &mut timeouts, &mut corrupt),
            }
        }
        for index in 0..self.drivers.len() {
            let chip = self.drivers[index].chip();
            self.link.transactions = self.link.transactions.saturating_add(1);
            match self.drivers[index].measure(bus) {
                Ok(values) => {
                    good += 1;
                    for (&quantity, &value) in quantities_of(chip).iter().zip(values.iter()) {
                        let slot = &mut self.latest[quantity as usize];
                        let sample = slot.map_or(1, |latest| latest.sample.wrapping_add(1));
                        *slot = Some(Latest { value, taken_ms: now_ms, sample });
                        for subscriber in self.subscribers.iter_mut().filter(|s| s.quantities & quantity.bit() != 0) {
                            subscriber.changed |= quantity.bit();
                            subscriber.stale_reported &= !quantity.bit();
                        }
                    }
                }
                Err(error) => self.count_failure(fault_of(&error), &mut timeouts, &mut corrupt),
            }
        }
        let state = if corrupt > 0 {
            LinkState::Garbled
        } else if good > 0 {
            LinkState::Up
        } else if timeouts > 0 && self.link.state != LinkState::NeverUp {
            LinkState::Silent
        } else {
            self.link.state
        };
        self.mark_stale(now_ms);
        let changed = state != self.link.state;
        self.link.state = state;
        changed.then_some(state)
    }

    /// Counts a failed transaction in the link's health and in this round's counts.
    fn count_failure(&mut self, fault: LinkFault, timeouts: &mut u32, corrupt: &mut u32) {
        self.link.failures = self.link.failures.saturating_add(1);
        match fault {
            LinkFault::Timeout => {
                *timeouts += 1;
                self.link.timeouts = self.link.timeouts.saturating_add(1);
            }
            LinkFault::BadCrc | LinkFault::FrameTooLong | LinkFault::UnknownKind | LinkFault::BadPayload => {
                *corrupt += 1;
                self.link.corrupt = self.link.corrupt.saturating_add(1);
            }
            LinkFault::AddressNack | LinkFault::DataNack | LinkFault::WrongChip => {}
        }
        self.link.last_fault = Some(fault);
    }

    /// Records the bytes received outside frames so far (from the link).
    pub fn set_garbage_bytes(&mut self, bytes: u64) {
        self.link.garbage_bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
    }

    /// Marks subscribed quantities that turned stale as changed (once each).
    fn mark_stale(&mut self, now_ms: u64) {
        let stale = Quantity::ALL.iter().filter(|q| self.is_stale(**q, now_ms)).fold(0, |acc, q| acc | q.bit());
        for subscriber in self.subscribers.iter_mut() {
            let newly = stale & subscriber.quantities & !subscriber.stale_reported;
            subscriber.changed |= newly;
            subscriber.stale_reported |= newly;
        }
    }

    fn is_stale(&self, quantity: Quantity, now_ms: u64) -> bool {
        self.latest[quantity as usize].is_some_and(|latest| now_ms.saturating_sub(latest.taken_ms) > STALE_MS)
    }

    /// The reading of `quantity` as answered at `now_ms`.
    pub fn reading(&self, quantity: Quantity, now_ms: u64) -> Result<Reading, Error> {
        let latest = self.latest[quantity as usize].ok_or(Error::NoReading { quantity, link: self.link.state })?;
        let age_ms = now_ms.saturating_sub(latest.taken_ms);
        Ok(Reading { quantity, value: latest.value, taken_ms: latest.taken_ms, age_ms, sample: latest.sample, stale: age_ms > STALE_MS })
    }

    /// The badges whose notification to signal now: a subscribed quantity changed, the
    /// subscriber took its last updates, and its interval has passed.
    pub fn due_signals(&mut self, now_ms: u64) -> heapless::Vec<u64, MAX_SUBSCRIBERS> {
        let mut due = heapless::Vec::new();
        for subscriber in self.subscribers.iter_mut() {
            let interval_over =
                subscriber.last_signal_ms.is_none_or(|last| now_ms.saturating_sub(last) >= u64::from(subscriber.min_interval_ms));
            if subscriber.armed && subscriber.changed != 0 && interval_over {
                subscriber.armed = false;
                subscriber.last_signal_ms = Some(now_ms);
                let _ = due.push(subscriber.badge);
            }
        }
        due
    }

    /// Serves one request of the client with `badge` at `now_ms`; `can_signal` says whether
    /// a badge has a notification to signal.
    pub fn serve(&mut self, badge: u64, request: Request, now_ms: u64, can_signal: impl Fn(u64) -> bool) -> Response {
        let answer = match request {
            Request::Read(quantity) => self.reading(quantity, now_ms).map(Response::Reading),
            Request::Link => Ok(Response::Link(self.link)),
            Request::Subscribe { quantities, min_interval_ms } => self.subscribe(badge, quantities, min_interval_ms, &can_signal),
            Request::Unsubscribe => match self.subscribers.iter().position(|s| s.badge == badge) {
                Some(index) => {
                    self.subscribers.swap_remove(index);
                    Ok(Response::Unsubscribed)
                }
                None => Err(Error::NotSubscribed),
            },
            Request::Updates => self.updates(badge, now_ms),
            Request::ReportLoad { permille } if permille > tileos_sensor_wire::chips::MAX_LOAD_PERMILLE => {
                Err(Error::LoadOutOfRange { permille })
            }
            Request::ReportLoad { permille } => {
                self.pending_load = Some(permille);
                Ok(Response::LoadAccepted)
            }
        };
        answer.unwrap_or_else(Response::Refused)
    }

    fn subscribe(
        &mut self,
        badge: u64,
        quantities: Quantities,
        min_interval_ms: u32,
        can_signal: &dyn Fn(u64) -> bool,
    ) -> Result<Response, Error> {
        if quantities == 0 {
            return Err(Error::NoQuantities);
        }
        if quantities & !ALL_QUANTITIES != 0 {
            return Err(Error::UnknownQuantities { bits: quantities & !ALL_QUANTITIES });
        }
        if min_interval_ms < MIN_INTERVAL_MS {
            return Err(Error::IntervalTooShort { min_interval_ms });
        }
        if !can_signal(badge) {
            return Err(Error::NoNotification { badge });
        }
        let subscriber =
            Subscriber { badge, quantities, min_interval_ms, changed: quantities, stale_reported: 0, armed: true, last_signal_ms: None };
        match self.subscribers.iter_mut().find(|s| s.badge == badge) {
            Some(existing) => *existing = subscriber,
            None => self.subscribers.push(subscriber).map_err(|_| Error::TooManySubscribers { max: MAX_SUBSCRIBERS as u8 })?,
        }
        Ok(Response::Subscribed { quantities })
    }

    fn updates(&mut self, badge: u64, now_ms: u64) -> Result<Response, Error> {
        let index = self.subscribers.iter().position(|s| s.badge == badge).ok_or(Error::NotSubscribed)?;
        let changed = self.subscribers[index].changed;
        let mut readings = heapless::Vec::new();
        for quantity in Quantity::ALL.into_iter().filter(|q| changed & q.bit() != 0) {
            if let Ok(reading) = self.reading(quantity, now_ms) {
                let _ = readings.push(reading);
            }
        }
        let subscriber = &mut self.subscribers[index];
        subscriber.changed = 0;
        subscriber.armed = true;
        Ok(Response::Updates(readings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::SerialI2c;
    use crate::link::tests::{ScriptedPort, TestClock, done, encoded};
    use tileos_sensor_wire::chips::{self, encode_channels};
    use tileos_sensor_wire::i2c::{Outcome, Transaction};

    /// How the scripted chips answer.
    #[derive(Clone, Copy, PartialEq)]
    enum Behaviour {
        Good(i32),
        Silent,
        Garbled,
    }

    /// A bus whose chips all answer `base + channel` (as `behaviour` says).
    fn bus(behaviour: std::rc::Rc<std::cell::Cell<Behaviour>>) -> SerialI2c<impl crate::link::BytePort, TestClock> {
        let port = ScriptedPort::new(move |t: &Transaction, sequence| {
            let chip = Chip::at(t.address).unwrap();
            let data = match t.write[0] {
                chips::ID_REGISTER => vec![chip.id()],
                chips::LOAD_REGISTER => Vec::new(),
                _ => {
                    let Behaviour::Good(base) = behaviour.get() else { return garbled_or_silent(behaviour.get(), sequence) };
                    let values: Vec<i32> = (0..chip.channels() as i32).map(|c| base + c).collect();
                    let mut out = [0; 12];
                    let length = encode_channels(&values, &mut out);
                    out[..length].to_vec()
                }
            };
            match behaviour.get() {
                Behaviour::Good(_) => done(&data, sequence),
                other => garbled_or_silent(other, sequence),
            }
        });
        SerialI2c::new(port, TestClock::default(), 100)
    }

    fn garbled_or_silent(behaviour: Behaviour, sequence: u8) -> Vec<u8> {
        match behaviour {
            Behaviour::Garbled => {
                let mut bytes = encoded(&Outcome::Done(heapless::Vec::from_slice(&[1, 2, 3, 4]).unwrap()).to_frame(sequence));
                bytes[6] ^= 0x40;
                bytes
            }
            _ => Vec::new(),
        }
    }

    fn value(response: Response) -> Reading {
        match response {
            Response::Reading(reading) => reading,
            other => panic!("not a reading: {other:?}"),
        }
    }

    #[test]
    fn readings_carry_the_chips_values_their_time_and_sample_number() {
        let behaviour = std::rc::Rc::new(std::cell::Cell::new(Behaviour::Good(1000)));
        let mut bus = bus(behaviour.clone());
        let mut hub = Hub::new();
        assert_eq!(
            hub.serve(1, Request::Read(Quantity::Temperature), 0, |_| false),
            Response::Refused(Error::NoReading { quantity: Quantity::Temperature, link: LinkState::NeverUp })
        );
        assert_eq!(hub.sample(&mut bus, 100), Some(LinkState::Up));
        behaviour.set(Behaviour::Good(2000));
        assert_eq!(hub.sample(&mut bus, 200), None);
        let reading = value(hub.serve(1, Request::Read(Quantity::VibrationFaultBand), 250, |_| false));
        assert_eq!((reading.value, reading.taken_ms, reading.age_ms, reading.sample, reading.stale), (2002, 200, 50, 2, false));
        assert_eq!(value(hub.serve(1, Request::Read(Quantity::PumpPressure), 250, |_| false)).value, 2001);
    }

    #[test]
    fn a_silent_or_garbled_link_keeps_the_last_good_values_and_flags_them_stale() {
        let behaviour = std::rc::Rc::new(std::cell::Cell::new(Behaviour::Good(500)));
        let mut bus = bus(behaviour.clone());
        let mut hub = Hub::new();
        hub.sample(&mut bus, 0);
        behaviour.set(Behaviour::Garbled);
        assert_eq!(hub.sample(&mut bus, 1000), Some(LinkState::Garbled));
        let link = hub.link();
        assert_eq!((link.corrupt, link.last_fault), (5, Some(LinkFault::BadCrc)));
        let reading = value(hub.serve(1, Request::Read(Quantity::Power), 1000, |_| false));
        assert_eq!((reading.value, reading.stale), (500, false));
        behaviour.set(Behaviour::Silent);
        assert_eq!(hub.sample(&mut bus, 3000), Some(LinkState::Silent));
        let reading = value(hub.serve(1, Request::Read(Quantity::Power), 3000, |_| false));
        assert_eq!((reading.value, reading.stale, reading.age_ms), (500, true, 3000));
        assert_eq!(hub.link().last_fault, Some(LinkFault::Timeout));
        behaviour.set(Behaviour::Good(600));
        assert_eq!(hub.sample(&mut bus, 3100), Some(LinkState::Up));
        assert!(!value(hub.serve(1, Request::Read(Quantity::Power), 3100, |_| false)).stale);
    }

    #[test]
    fn a_reported_load_is_written_at_the_next_round_and_kept_until_written() {
        let behaviour = std::rc::Rc::new(std::cell::Cell::new(Behaviour::Silent));
        let mut bus = bus(behaviour.clone());
        let mut hub = Hub::new();
        assert_eq!(
            hub.serve(1, Request::ReportLoad { permille: 1001 }, 0, |_| false),
            Response::Refused(Error::LoadOutOfRange { permille: 1001 })
        );
        assert_eq!(hub.serve(1, Request::ReportLoad { permille: 600 }, 0, |_| false), Response::LoadAccepted);
        hub.sample(&mut bus, 0);
        assert_eq!(hub.link().loads_written, 0, "the silent link took nothing");
        behaviour.set(Behaviour::Good(1));
        hub.sample(&mut bus, 250);
        hub.sample(&mut bus, 500);
        assert_eq!(hub.link().loads_written, 1, "written once, then no more");
    }

    #[test]
    fn a_link_silent_from_the_start_is_never_up_and_refuses_reads() {
        let mut bus = bus(std::rc::Rc::new(std::cell::Cell::new(Behaviour::Silent)));
        let mut hub = Hub::new();
        // Every chip's identification times out: nothing was ever read.
        assert_eq!(hub.sample(&mut bus, 0), None);
        assert_eq!((hub.link().state, hub.link().timeouts, hub.link().last_fault), (LinkState::NeverUp, 5, Some(LinkFault::Timeout)));
        assert_eq!(
            hub.serve(1, Request::Read(Quantity::PumpFlow), 0, |_| false),
            Response::Refused(Error::NoReading { quantity: Quantity::PumpFlow, link: LinkState::NeverUp })
        );
    }

    #[test]
    fn subscriptions_signal_once_per_updates_and_report_staleness() {
        let behaviour = std::rc::Rc::new(std::cell::Cell::new(Behaviour::Good(7)));
        let mut bus = bus(behaviour.clone());
        let mut hub = Hub::new();
        let wake = |badge: u64| badge == 0x60;
        assert_eq!(
            hub.serve(0x61, Request::Subscribe { quantities: Quantity::Temperature.bit(), min_interval_ms: 100 }, 0, wake),
            Response::Refused(Error::NoNotification { badge: 0x61 })
        );
        assert_eq!(
            hub.serve(0x60, Request::Subscribe { quantities: 0, min_interval_ms: 100 }, 0, wake),
            Response::Refused(Error::NoQuantities)
        );
        assert_eq!(
            hub.serve(0x60, Request::Subscribe { quantities: 0x8001, min_interval_ms: 100 }, 0, wake),
            Response::Refused(Error::UnknownQuantities { bits: 0x8000 })
        );
        assert_eq!(
            hub.serve(0x60, Request::Subscribe { quantities: 1, min_interval_ms: 5 }, 0, wake),
            Response::Refused(Error::IntervalTooShort { min_interval_ms: 5 })
        );
        assert_eq!(hub.serve(0x60, Request::Updates, 0, wake), Response::Refused(Error::NotSubscribed));
        let temperature = Quantity::Temperature.bit();
        assert_eq!(
            hub.serve(0x60, Request::Subscribe { quantities: temperature, min_interval_ms: 100 }, 0, wake),
            Response::Subscribed { quantities: temperature }
        );
        hub.sample(&mut bus, 10);
        assert_eq!(&hub.due_signals(10)[..], &[0x60]);
        hub.sample(&mut bus, 300);
        assert!(hub.due_signals(300).is_empty(), "one signal until the updates are taken");
        let Response::Updates(updates) = hub.serve(0x60, Request::Updates, 300, wake) else { panic!() };
        assert_eq!(updates.iter().map(|r| (r.quantity, r.value, r.taken_ms)).collect::<Vec<_>>(), [(Quantity::Temperature, 7, 300)]);
        // Silence: the reading turns stale, which is signalled and reported once.
        behaviour.set(Behaviour::Silent);
        hub.sample(&mut bus, 1000);
        assert!(hub.due_signals(1000).is_empty(), "nothing changed");
        hub.sample(&mut bus, 2400);
        assert_eq!(&hub.due_signals(2400)[..], &[0x60]);
        let Response::Updates(updates) = hub.serve(0x60, Request::Updates, 2400, wake) else { panic!() };
        assert!(updates[0].stale && updates[0].value == 7);
        hub.sample(&mut bus, 3000);
        assert!(hub.due_signals(3000).is_empty(), "staleness is reported once");
        assert_eq!(hub.serve(0x60, Request::Unsubscribe, 3000, wake), Response::Unsubscribed);
        assert_eq!(hub.serve(0x60, Request::Unsubscribe, 3000, wake), Response::Refused(Error::NotSubscribed));
    }

    #[test]
    fn subscribers_beyond_the_most_are_refused_and_a_badge_subscribes_once() {
        let mut hub = Hub::new();
        let subscribe = |hub: &mut Hub, badge| hub.serve(badge, Request::Subscribe { quantities: 1, min_interval_ms: 100 }, 0, |_| true);
        for badge in 1..=MAX_SUBSCRIBERS as u64 {
            assert_eq!(subscribe(&mut hub, badge), Response::Subscribed { quantities: 1 });
        }
        assert_eq!(subscribe(&mut hub, 1), Response::Subscribed { quantities: 1 }, "replaces its own");
        assert_eq!(subscribe(&mut hub, 99), Response::Refused(Error::TooManySubscribers { max: MAX_SUBSCRIBERS as u8 }));
    }
}
