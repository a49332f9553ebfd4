//! An I2C bus over a framed serial link: each `embedded_hal` transaction becomes one
//! [`Transaction`] frame, answered by one [`Outcome`] frame with the same sequence number
//! (docs/sensors.md, "Framing").

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation, SevenBitAddress};
use tileos_sensor_wire::frame::{Decoder, FrameError, Kind, MAX_FRAME};
use tileos_sensor_wire::i2c::{MAX_READ, MAX_WRITE, Outcome, PayloadError, Transaction};

/// A byte-wide serial port (COM2's UART, or a test's script).
pub trait BytePort {
    /// Sends one byte (waiting for room).
    fn send(&mut self, byte: u8);
    /// A received byte, if one is waiting (never blocks).
    fn receive(&mut self) -> Option<u8>;
}

/// A millisecond clock.
pub trait Clock {
    /// Milliseconds since some fixed moment.
    fn now_ms(&self) -> u64;
}

/// Why a transaction over the link failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// No answer to transaction `sequence` within the timeout.
    Timeout {
        /// The transaction's sequence number.
        sequence: u8,
    },
    /// A frame arriving while waiting for the answer was corrupt.
    Frame(FrameError),
    /// The answer's payload was no outcome of the transaction.
    Payload(PayloadError),
    /// No chip acknowledged the address.
    AddressNack,
    /// The chip refused a written byte.
    DataNack,
    /// The other end could not make sense of the transaction.
    Malformed,
    /// A run of writes of more than [`MAX_WRITE`] bytes, or of reads of more than
    /// [`MAX_READ`], which one frame cannot carry.
    Unsupported,
}

impl embedded_hal::i2c::Error for LinkError {
    fn kind(&self) -> ErrorKind {
        match self {
            LinkError::AddressNack => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address),
            LinkError::DataNack => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data),
            LinkError::Frame(_) | LinkError::Payload(_) => ErrorKind::Bus,
            LinkError::Timeout { .. } | LinkError::Malformed | LinkError::Unsupported => ErrorKind::Other,
        }
    }
}

/// An I2C bus whose transactions are frames on `port`.
pub struct SerialI2c<P: BytePort, C: Clock> {
    port: P,
    clock: C,
    decoder: Decoder,
    sequence: u8,
    timeout_ms: u64,
    /// Answers that came for an earlier transaction (after its timeout), dropped.
    late_answers: u64,
}

impl<P: BytePort, C: Clock> SerialI2c<P, C> {
    /// A bus on `port`, waiting at most `timeout_ms` for each answer.
    pub fn new(port: P, clock: C, timeout_ms: u64) -> Self {
        SerialI2c { port, clock, decoder: Decoder::new(), sequence: 0, timeout_ms, late_answers: 0 }
    }

    /// Bytes received outside any frame so far.
    pub fn garbage_bytes(&self) -> u64 {
        self.decoder.garbage_bytes()
    }

    /// Answers dropped because they came for an earlier transaction.
    pub fn late_answers(&self) -> u64 {
        self.late_answers
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// One wire transaction: writes `write`, reads `read` bytes into the returned outcome.
    fn exchange(&mut self, address: u8, write: &[u8], read: usize) -> Result<heapless::Vec<u8, MAX_READ>, LinkError> {
        let transaction = Transaction {
            address,
            write: heapless::Vec::from_slice(write).map_err(|_| LinkError::Unsupported)?,
            read: u8::try_from(read).map_err(|_| LinkError::Unsupported)?,
        };
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let frame = transaction.to_frame(sequence).ok_or(LinkError::Unsupported)?;
        let mut bytes = [0u8; MAX_FRAME];
        let length = frame.encode(&mut bytes);
        // Whatever arrived before this transaction is stale: drop it (a bounded amount: a
        // link that never stops sending must not hold the domain here).
        for _ in 0..4 * MAX_FRAME {
            if self.port.receive().is_none() {
                break;
            }
        }
        self.decoder.reset();
        for &byte in &bytes[..length] {
            self.port.send(byte);
        }
        let deadline = self.clock.now_ms() + self.timeout_ms;
        loop {
            // The deadline holds whether bytes come or not (a stream of garbage is silence).
            if self.clock.now_ms() > deadline {
                return Err(LinkError::Timeout { sequence });
            }
            let Some(byte) = self.port.receive() else { continue };
            self.decoder.push(byte);
            while let Some(found) = self.decoder.next_frame() {
                let frame = match found {
                    Ok(frame) => frame,
                    // A corrupt frame that claims to answer this transaction, or one whose
                    // sequence cannot be trusted: the answer is lost.
                    Err(error) => return Err(LinkError::Frame(error)),
                };
                if frame.kind != Kind::Outcome || frame.sequence != sequence {
                    self.late_answers += 1;
                    continue;
                }
                return match Outcome::from_frame(&frame, transaction.read).map_err(LinkError::Payload)? {
                    Outcome::Done(data) => Ok(data),
                    Outcome::AddressNack => Err(LinkError::AddressNack),
                    Outcome::DataNack => Err(LinkError::DataNack),
                    Outcome::Malformed => Err(LinkError::Malformed),
                };
            }
        }
    }
}

impl<P: BytePort, C: Clock> ErrorType for SerialI2c<P, C> {
    type Error = LinkError;
}

impl<P: BytePort, C: Clock> I2c<SevenBitAddress> for SerialI2c<P, C> {
    /// Each run of writes followed by a run of reads is one wire transaction (the usual
    /// write-register-then-read is one), so no other transaction comes between them.
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), Self::Error> {
        let mut index = 0;
        while index < operations.len() {
            let mut write: heapless::Vec<u8, MAX_WRITE> = heapless::Vec::new();
            while let Some(Operation::Write(bytes)) = operations.get(index) {
                write.extend_from_slice(bytes).map_err(|_| LinkError::Unsupported)?;
                index += 1;
            }
            let reads_start = index;
            let mut read = 0;
            while let Some(Operation::Read(buffer)) = operations.get(index) {
                read += buffer.len();
                index += 1;
            }
            if read > MAX_READ {
                return Err(LinkError::Unsupported);
            }
            let data = self.exchange(address, &write, read)?;
            let mut offset = 0;
            for operation in &mut operations[reads_start..index] {
                if let Operation::Read(buffer) = operation {
                    buffer.copy_from_slice(&data[offset..offset + buffer.len()]);
                    offset += buffer.len();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use tileos_sensor_wire::frame::Frame;

    /// A clock that advances by 1 ms at every read (so waits end; a timeout of N ms is N
    /// reads, each received byte one of them).
    #[derive(Clone, Default)]
    pub struct TestClock(pub Rc<Cell<u64>>);

    impl Clock for TestClock {
        fn now_ms(&self) -> u64 {
            let now = self.0.get();
            self.0.set(now + 1);
            now
        }
    }

    /// A port that answers each complete transaction frame with `respond`'s bytes.
    pub struct ScriptedPort<F: FnMut(&Transaction, u8) -> Vec<u8>> {
        pub decoder: Decoder,
        pub inbox: VecDeque<u8>,
        pub respond: F,
        pub sent: Vec<Transaction>,
    }

    impl<F: FnMut(&Transaction, u8) -> Vec<u8>> ScriptedPort<F> {
        pub fn new(respond: F) -> Self {
            ScriptedPort { decoder: Decoder::new(), inbox: VecDeque::new(), respond, sent: Vec::new() }
        }
    }

    impl<F: FnMut(&Transaction, u8) -> Vec<u8>> BytePort for ScriptedPort<F> {
        fn send(&mut self, byte: u8) {
            self.decoder.push(byte);
            while let Some(Ok(frame)) = self.decoder.next_frame() {
                let transaction = Transaction::from_frame(&frame).unwrap();
                let answer = (self.respond)(&transaction, frame.sequence);
                self.inbox.extend(answer);
                self.sent.push(transaction);
            }
        }
        fn receive(&mut self) -> Option<u8> {
            self.inbox.pop_front()
        }
    }

    pub fn encoded(frame: &Frame) -> Vec<u8> {
        let mut out = [0; MAX_FRAME];
        let length = frame.encode(&mut out);
        out[..length].to_vec()
    }

    pub fn done(data: &[u8], sequence: u8) -> Vec<u8> {
        encoded(&Outcome::Done(heapless::Vec::from_slice(data).unwrap()).to_frame(sequence))
    }

    #[test]
    fn a_register_read_is_one_write_then_read_transaction() {
        let port = ScriptedPort::new(|t: &Transaction, sequence| {
            assert_eq!((t.address, &t.write[..], t.read), (0x48, &[0x00][..], 4));
            done(&[1, 2, 3, 4], sequence)
        });
        let mut bus = SerialI2c::new(port, TestClock::default(), 50);
        let mut buffer = [0; 4];
        bus.write_read(0x48, &[0x00], &mut buffer).unwrap();
        assert_eq!(buffer, [1, 2, 3, 4]);
        assert_eq!(bus.port.sent.len(), 1);
    }

    #[test]
    fn nacks_map_to_embedded_hal_error_kinds() {
        use embedded_hal::i2c::Error;
        let port = ScriptedPort::new(|t: &Transaction, sequence| {
            let outcome = if t.address == 0x11 { Outcome::AddressNack } else { Outcome::DataNack };
            encoded(&outcome.to_frame(sequence))
        });
        let mut bus = SerialI2c::new(port, TestClock::default(), 50);
        let error = bus.write(0x11, &[0]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        assert_eq!(bus.write(0x48, &[0x77]).unwrap_err().kind(), ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data));
    }

    #[test]
    fn silence_is_a_timeout_naming_the_transaction() {
        let mut bus = SerialI2c::new(ScriptedPort::new(|_: &Transaction, _| Vec::new()), TestClock::default(), 20);
        let mut buffer = [0; 4];
        assert_eq!(bus.write_read(0x48, &[0], &mut buffer), Err(LinkError::Timeout { sequence: 1 }));
        assert_eq!(bus.write_read(0x48, &[0], &mut buffer), Err(LinkError::Timeout { sequence: 2 }));
    }

    #[test]
    fn a_corrupt_answer_is_an_error_and_never_data_and_the_next_one_works() {
        let mut calls = 0;
        let port = ScriptedPort::new(move |_: &Transaction, sequence| {
            calls += 1;
            let mut bytes = done(&[9, 9, 9, 9], sequence);
            if calls == 1 {
                bytes[5] ^= 0x01;
            }
            bytes
        });
        let mut bus = SerialI2c::new(port, TestClock::default(), 50);
        let mut buffer = [0; 4];
        assert!(matches!(bus.write_read(0x48, &[0], &mut buffer), Err(LinkError::Frame(FrameError::BadCrc { sequence: 1, .. }))));
        assert_eq!(buffer, [0; 4]);
        bus.write_read(0x48, &[0], &mut buffer).unwrap();
        assert_eq!(buffer, [9; 4]);
    }

    #[test]
    fn a_late_answer_to_an_earlier_transaction_is_dropped_not_taken() {
        let port = ScriptedPort::new(|_: &Transaction, sequence| {
            let mut bytes = done(&[7, 7, 7, 7], sequence.wrapping_sub(1));
            bytes.extend(b"junk");
            bytes.extend(done(&[1, 1, 1, 1], sequence));
            bytes
        });
        let mut bus = SerialI2c::new(port, TestClock::default(), 50);
        let mut buffer = [0; 4];
        bus.write_read(0x48, &[0], &mut buffer).unwrap();
        assert_eq!(buffer, [1; 4]);
        assert_eq!((bus.late_answers(), bus.garbage_bytes()), (1, 4));
    }

    /// A port that never stops sending noise (no sync byte).
    struct Babbling;

    impl BytePort for Babbling {
        fn send(&mut self, _: u8) {}
        fn receive(&mut self) -> Option<u8> {
            Some(0x55)
        }
    }

    #[test]
    fn a_link_that_never_stops_sending_noise_times_out() {
        let mut bus = SerialI2c::new(Babbling, TestClock::default(), 30);
        let mut buffer = [0; 4];
        assert_eq!(bus.write_read(0x48, &[0], &mut buffer), Err(LinkError::Timeout { sequence: 1 }));
        assert!(bus.garbage_bytes() > 0);
    }

    #[test]
    fn a_short_answer_is_a_payload_error() {
        let port = ScriptedPort::new(|_: &Transaction, sequence| done(&[1, 2], sequence));
        let mut bus = SerialI2c::new(port, TestClock::default(), 50);
        let mut buffer = [0; 4];
        assert_eq!(bus.write_read(0x48, &[0], &mut buffer), Err(LinkError::Payload(PayloadError::ReadLength { asked: 4, carried: 2 })));
    }
}
