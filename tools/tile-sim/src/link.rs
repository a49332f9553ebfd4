//! The simulator's end of the serial link (docs/sensors.md, "Framing"): frames in,
//! transactions answered by the simulated chips, frames out; and a TCP server QEMU's COM2
//! connects to.

use crate::model::Model;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tileos_sensor_wire::chips::{self, Chip};
use tileos_sensor_wire::frame::{Decoder, MAX_FRAME};
use tileos_sensor_wire::i2c::{Outcome, Transaction};

/// How the simulator treats the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every transaction is answered correctly.
    Healthy,
    /// Every `every`-th answer is corrupted (a bit flipped; every other one also after a
    /// false start of garbage); 1: all.
    Garble {
        /// Period of the corruption, ≥ 1.
        every: u32,
    },
    /// The simulator is gone: connections are closed and not served.
    Disconnected,
}

/// One measurement the simulator answered (to check what the tile reports against).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// Simulated time, ms.
    pub time_ms: u64,
    /// The chip read.
    pub chip: Chip,
    /// Its channels as sent.
    pub channels: Vec<i32>,
    /// Whether the answer was corrupted on purpose.
    pub garbled: bool,
}

/// Counters of the link, for the trace and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Transactions answered.
    pub answered: u64,
    /// Frames that were not frames (CRC, length, kind) or carried no transaction.
    pub refused: u64,
    /// Answers corrupted on purpose.
    pub garbled: u64,
}

/// Most [`Served`] records kept (the oldest are dropped).
const SERVED_KEPT: usize = 100_000;

/// The simulator: the model, the link's mode, and what it answered.
#[derive(Debug)]
pub struct Sim {
    model: Model,
    mode: Mode,
    decoder: Decoder,
    served: Vec<Served>,
    /// Measurements answered since the start (unlike `served`, never trimmed).
    measurements: u64,
    counters: Counters,
}

impl Sim {
    /// A simulator of `model` in `mode`.
    pub fn new(model: Model, mode: Mode) -> Sim {
        Sim { model, mode, decoder: Decoder::new(), served: Vec::new(), measurements: 0, counters: Counters::default() }
    }

    /// The link's mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Changes the link's mode.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// What was answered so far (the last `SERVED_KEPT`).
    pub fn served(&self) -> &[Served] {
        &self.served
    }

    /// The link's counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Takes `bytes` received at simulated time `now_ms`; returns the bytes to send back.
    pub fn receive(&mut self, bytes: &[u8], now_ms: u64) -> Vec<u8> {
        self.model.advance_to(now_ms);
        let mut out = Vec::new();
        for &byte in bytes {
            self.decoder.push(byte);
            while let Some(found) = self.decoder.next_frame() {
                let Ok(frame) = found else {
                    self.counters.refused += 1;
                    continue;
                };
                let measurements = self.measurements;
                let outcome = match Transaction::from_frame(&frame) {
                    Ok(transaction) => self.answer(&transaction),
                    Err(_) => {
                        self.counters.refused += 1;
                        Outcome::Malformed
                    }
                };
                self.counters.answered += 1;
                let garble = match self.mode {
                    Mode::Garble { every } => self.counters.answered % u64::from(every.max(1)) == 0,
                    _ => false,
                };
                if self.measurements != measurements {
                    if let Some(record) = self.served.last_mut() {
                        record.garbled = garble;
                    }
                }
                let mut encoded = [0u8; MAX_FRAME];
                let length = outcome.to_frame(frame.sequence).encode(&mut encoded);
                if garble {
                    self.counters.garbled += 1;
                    // Every other corrupted answer comes after a false start (a sync and a
                    // kind byte, so the real frame's sync byte is read as its sequence and
                    // its kind as an oversized length); each has a bit flipped (in the
                    // payload, or in the CRC when there is none).
                    if self.counters.garbled % 2 == 1 {
                        out.extend_from_slice(&[0x00, 0xA5, 0x81]);
                    }
                    encoded[length.saturating_sub(3)] ^= 0x04;
                }
                out.extend_from_slice(&encoded[..length]);
            }
        }
        out
    }

    /// What the addressed chip does with `transaction`.
    fn answer(&mut self, transaction: &Transaction) -> Outcome {
        let Some(chip) = Chip::at(transaction.address) else { return Outcome::AddressNack };
        if let [chips::LOAD_REGISTER, high, low] = transaction.write[..] {
            let permille = u16::from_be_bytes([high, low]);
            if chip != Chip::Power || permille > chips::MAX_LOAD_PERMILLE || transaction.read != 0 {
                return Outcome::DataNack;
            }
            self.model.report_load(f64::from(permille) / 1000.0);
            return Outcome::Done(heapless::Vec::new());
        }
        let [register] = transaction.write[..] else { return Outcome::DataNack };
        let mut data = heapless::Vec::new();
        match register {
            chips::ID_REGISTER => {
                let _ = data.push(chip.id());
            }
            chips::MEASUREMENT_REGISTER => {
                let channels = self.model.measure(chip);
                let mut bytes = [0u8; 64];
                let length = chips::encode_channels(&channels, &mut bytes);
                let _ = data.extend_from_slice(&bytes[..length]);
                if self.served.len() >= SERVED_KEPT {
                    self.served.remove(0);
                }
                self.measurements += 1;
                self.served.push(Served { time_ms: self.model.time_ms(), chip, channels, garbled: false });
            }
            _ => return Outcome::DataNack,
        }
        // A read of fewer bytes gets the first ones; of more, the register's bytes then
        // zeros (as a chip's auto-incrementing register pointer runs past its registers).
        data.resize(usize::from(transaction.read), 0).ok();
        Outcome::Done(data)
    }
}

/// A simulator shared between its server thread and whoever controls it (a test, the
/// command line).
pub type Shared = Arc<Mutex<Sim>>;

/// Serves QEMU's serial connections on `listener` forever: simulated time starts at 0 when
/// the first bytes arrive from the tile (so a slow boot does not eat into the scenario) and
/// then runs at `speed` simulated seconds per wall second. One connection at a time; in
/// [`Mode::Disconnected`] connections are closed at once.
pub fn serve(listener: TcpListener, sim: Shared, speed: f64) {
    let started: std::cell::OnceCell<Instant> = std::cell::OnceCell::new();
    let now_ms = move || (started.get_or_init(Instant::now).elapsed().as_secs_f64() * speed * 1000.0) as u64;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if lock(&sim).mode() == Mode::Disconnected {
            drop(stream);
            continue;
        }
        let _ = serve_connection(stream, &sim, &now_ms);
    }
}

fn lock(sim: &Shared) -> std::sync::MutexGuard<'_, Sim> {
    sim.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One connection, until it closes or the mode becomes [`Mode::Disconnected`].
fn serve_connection(mut stream: TcpStream, sim: &Shared, now_ms: &dyn Fn() -> u64) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    stream.set_nodelay(true)?;
    let mut buffer = [0u8; 256];
    loop {
        if lock(sim).mode() == Mode::Disconnected {
            return Ok(());
        }
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                let answer = lock(sim).receive(&buffer[..n], now_ms());
                stream.write_all(&answer)?;
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;
    use tileos_sensor_wire::frame::{Frame, FrameError};

    fn sim(mode: Mode) -> Sim {
        let scenario = parse("t", "[scenario]\nname = \"t\"\n[pump]\nnominal_flow_ml_min = 1200\nnominal_pressure_pa = 150000\n").unwrap();
        Sim::new(Model::new(scenario), mode)
    }

    fn request(address: u8, write: &[u8], read: u8, sequence: u8) -> Vec<u8> {
        let t = Transaction { address, write: heapless::Vec::from_slice(write).unwrap(), read };
        let mut out = [0; MAX_FRAME];
        let length = t.to_frame(sequence).unwrap().encode(&mut out);
        out[..length].to_vec()
    }

    fn frames(bytes: &[u8]) -> Vec<Result<Frame, FrameError>> {
        let mut decoder = Decoder::new();
        let mut found = Vec::new();
        for &b in bytes {
            decoder.push(b);
            while let Some(f) = decoder.next_frame() {
                found.push(f);
            }
        }
        found
    }

    #[test]
    fn chips_answer_their_id_and_measurement_and_strangers_are_refused() {
        let mut sim = sim(Mode::Healthy);
        let answer = frames(&sim.receive(&request(0x48, &[0xFF], 1, 1), 0));
        assert_eq!(
            Outcome::from_frame(answer[0].as_ref().unwrap(), 1),
            Ok(Outcome::Done(heapless::Vec::from_slice(&[Chip::Thermal.id()]).unwrap()))
        );
        let answer = frames(&sim.receive(&request(0x48, &[0x00], 4, 2), 0));
        let frame = answer[0].as_ref().unwrap();
        assert_eq!(frame.sequence, 2);
        let Ok(Outcome::Done(data)) = Outcome::from_frame(frame, 4) else { panic!("{frame:?}") };
        assert!((chips::channel(&data, 0).unwrap() - 25_000).abs() < 300);
        assert_eq!(sim.served().last().map(|s| s.channels.clone()), Some(vec![chips::channel(&data, 0).unwrap()]));
        let nack = |bytes: &[u8], asked| Outcome::from_frame(frames(bytes)[0].as_ref().unwrap(), asked);
        assert_eq!(nack(&sim.receive(&request(0x11, &[0], 4, 3), 0), 4), Ok(Outcome::AddressNack));
        assert_eq!(nack(&sim.receive(&request(0x48, &[0x33], 4, 4), 0), 4), Ok(Outcome::DataNack));
        assert_eq!(sim.counters().answered, 4);
    }

    #[test]
    fn the_power_chip_takes_the_tiles_load_and_refuses_a_load_above_full() {
        let mut sim = sim(Mode::Healthy);
        let outcome = |bytes: &[u8]| Outcome::from_frame(frames(bytes)[0].as_ref().unwrap(), 0);
        assert_eq!(outcome(&sim.receive(&request(0x40, &[0x10, 0x03, 0xE8], 0, 1), 0)), Ok(Outcome::Done(heapless::Vec::new())));
        assert_eq!(sim.model().truth().load, 1.0);
        assert_eq!(outcome(&sim.receive(&request(0x40, &[0x10, 0x03, 0xE9], 0, 2), 0)), Ok(Outcome::DataNack));
        assert_eq!(outcome(&sim.receive(&request(0x48, &[0x10, 0x00, 0x01], 0, 3), 0)), Ok(Outcome::DataNack));
        assert_eq!(sim.model().truth().load, 1.0);
    }

    #[test]
    fn garbling_corrupts_every_nth_answer_detectably() {
        let mut sim = sim(Mode::Garble { every: 2 });
        let mut results = Vec::new();
        for sequence in 0..4 {
            results.extend(frames(&sim.receive(&request(0x40, &[0x00], 4, sequence), 0)));
        }
        let good = results.iter().filter(|r| r.is_ok()).count();
        let crc = results.iter().filter(|r| matches!(r, Err(FrameError::BadCrc { .. }))).count();
        let long = results.iter().filter(|r| matches!(r, Err(FrameError::TooLong { .. }))).count();
        assert_eq!(good, 2, "{results:?}");
        assert!(crc >= 2 && long >= 1, "{results:?}");
        assert_eq!(sim.counters().garbled, 2);
        assert_eq!(sim.served().iter().filter(|s| s.garbled).count(), 2);
    }

    #[test]
    fn the_tcp_server_answers_and_a_disconnected_simulator_closes_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let shared: Shared = Arc::new(Mutex::new(sim(Mode::Healthy)));
        let server = shared.clone();
        std::thread::spawn(move || serve(listener, server, 1.0));
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(&request(0x20, &[0x00], 8, 9)).unwrap();
        let mut answer = [0u8; 15];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(frames(&answer).len(), 1);
        lock(&shared).set_mode(Mode::Disconnected);
        let mut rest = Vec::new();
        assert_eq!(stream.read_to_end(&mut rest).unwrap_or(0), 0);
    }
}
