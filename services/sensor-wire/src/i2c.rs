//! I2C transactions carried in frames: the sensors domain is the bus controller, the
//! simulator plays the chips on the bus.
//!
//! A [`Transaction`] (frame kind [`Kind::Transaction`]) writes some bytes to the chip at a
//! 7-bit address, then reads some (a register write, a register read as write-then-read,
//! or both); the [`Outcome`] (frame kind [`Kind::Outcome`], same sequence number) says
//! whether the chip acknowledged and carries exactly the bytes read.
//!
//! ```text
//! transaction payload: address (7-bit), write length, written bytes, read length
//! outcome payload:     status (0 ok, 1 address not acknowledged, 2 data not acknowledged,
//!                      3 malformed transaction), then the bytes read (status 0 only)
//! ```

use crate::frame::{Frame, Kind, MAX_PAYLOAD};

/// Most bytes one transaction writes.
pub const MAX_WRITE: usize = MAX_PAYLOAD - 3;
/// Most bytes one transaction reads.
pub const MAX_READ: usize = MAX_PAYLOAD - 1;

/// One I2C transaction: write `write` to the chip at `address`, then read `read` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The chip's 7-bit address.
    pub address: u8,
    /// Bytes written (usually a register number, then its new value).
    pub write: heapless::Vec<u8, MAX_WRITE>,
    /// Bytes to read after the write (0..=[`MAX_READ`]).
    pub read: u8,
}

/// What a chip did with a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged; the bytes read (as many as asked).
    Done(heapless::Vec<u8, MAX_READ>),
    /// No chip answered at the address.
    AddressNack,
    /// The chip refused a written byte (an unknown register, a read-only one written).
    DataNack,
    /// The simulator could not make sense of the transaction.
    Malformed,
}

/// Why a payload is no transaction or outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// The frame is of the other kind.
    WrongKind(Kind),
    /// The payload ends before the field named.
    Short(&'static str),
    /// The field named is out of range (an address above 0x7f, a read above [`MAX_READ`],
    /// a status byte that is none).
    OutOfRange(&'static str),
    /// Bytes follow the last field.
    Trailing,
    /// An outcome carries another number of bytes than its transaction read.
    ReadLength {
        /// Bytes asked for.
        asked: u8,
        /// Bytes carried.
        carried: usize,
    },
}

impl core::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PayloadError::WrongKind(kind) => write!(f, "frame of kind {kind:?} where the other kind was expected"),
            PayloadError::Short(field) => write!(f, "payload ends before field {field:?}"),
            PayloadError::OutOfRange(field) => write!(f, "field {field:?} is out of range"),
            PayloadError::Trailing => f.write_str("bytes follow the last field"),
            PayloadError::ReadLength { asked, carried } => write!(f, "outcome carries {carried} bytes for a read of {asked}"),
        }
    }
}

impl Transaction {
    /// The transaction as frame `sequence`; `None` if it is out of range (address above
    /// 0x7f, read above [`MAX_READ`]).
    pub fn to_frame(&self, sequence: u8) -> Option<Frame> {
        if self.address > 0x7f || usize::from(self.read) > MAX_READ {
            return None;
        }
        let mut payload = heapless::Vec::new();
        payload.push(self.address).ok()?;
        payload.push(self.write.len() as u8).ok()?;
        payload.extend_from_slice(&self.write).ok()?;
        payload.push(self.read).ok()?;
        Some(Frame { kind: Kind::Transaction, sequence, payload })
    }

    /// The transaction a frame carries.
    pub fn from_frame(frame: &Frame) -> Result<Transaction, PayloadError> {
        if frame.kind != Kind::Transaction {
            return Err(PayloadError::WrongKind(frame.kind));
        }
        let bytes = &frame.payload[..];
        let &address = bytes.first().ok_or(PayloadError::Short("address"))?;
        if address > 0x7f {
            return Err(PayloadError::OutOfRange("address"));
        }
        let written = usize::from(*bytes.get(1).ok_or(PayloadError::Short("write length"))?);
        let write = bytes.get(2..2 + written).ok_or(PayloadError::Short("written bytes"))?;
        let &read = bytes.get(2 + written).ok_or(PayloadError::Short("read length"))?;
        if usize::from(read) > MAX_READ {
            return Err(PayloadError::OutOfRange("read length"));
        }
        if bytes.len() > 3 + written {
            return Err(PayloadError::Trailing);
        }
        let write = heapless::Vec::from_slice(write).map_err(|_| PayloadError::OutOfRange("write length"))?;
        Ok(Transaction { address, write, read })
    }
}

impl Outcome {
    /// The outcome as frame `sequence`.
    pub fn to_frame(&self, sequence: u8) -> Frame {
        let mut payload = heapless::Vec::new();
        let (status, data): (u8, &[u8]) = match self {
            Outcome::Done(data) => (0, data),
            Outcome::AddressNack => (1, &[]),
            Outcome::DataNack => (2, &[]),
            Outcome::Malformed => (3, &[]),
        };
        // 1 + MAX_READ = MAX_PAYLOAD: always fits.
        let _ = payload.push(status);
        let _ = payload.extend_from_slice(data);
        Frame { kind: Kind::Outcome, sequence, payload }
    }

    /// The outcome a frame carries, for a transaction that read `asked` bytes.
    pub fn from_frame(frame: &Frame, asked: u8) -> Result<Outcome, PayloadError> {
        if frame.kind != Kind::Outcome {
            return Err(PayloadError::WrongKind(frame.kind));
        }
        let (&status, data) = frame.payload.split_first().ok_or(PayloadError::Short("status"))?;
        match status {
            0 if data.len() == usize::from(asked) => {
                Ok(Outcome::Done(heapless::Vec::from_slice(data).map_err(|_| PayloadError::OutOfRange("data"))?))
            }
            0 => Err(PayloadError::ReadLength { asked, carried: data.len() }),
            1..=3 if !data.is_empty() => Err(PayloadError::Trailing),
            1 => Ok(Outcome::AddressNack),
            2 => Ok(Outcome::DataNack),
            3 => Ok(Outcome::Malformed),
            _ => Err(PayloadError::OutOfRange("status")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transaction(address: u8, write: &[u8], read: u8) -> Transaction {
        Transaction { address, write: heapless::Vec::from_slice(write).unwrap(), read }
    }

    #[test]
    fn transactions_and_outcomes_round_trip() {
        let t = transaction(0x48, &[0x00], 4);
        let frame = t.to_frame(3).unwrap();
        assert_eq!(&frame.payload[..], &[0x48, 1, 0x00, 4]);
        assert_eq!(Transaction::from_frame(&frame), Ok(t));
        for outcome in [Outcome::Done(heapless::Vec::from_slice(&[1, 2, 3, 4]).unwrap()), Outcome::AddressNack, Outcome::DataNack] {
            let frame = outcome.to_frame(3);
            let asked = if let Outcome::Done(data) = &outcome { data.len() as u8 } else { 0 };
            assert_eq!(Outcome::from_frame(&frame, asked), Ok(outcome));
        }
    }

    #[test]
    fn malformed_payloads_name_the_field_at_fault() {
        let frame = |payload: &[u8]| Frame { kind: Kind::Transaction, sequence: 0, payload: heapless::Vec::from_slice(payload).unwrap() };
        assert_eq!(Transaction::from_frame(&frame(&[])), Err(PayloadError::Short("address")));
        assert_eq!(Transaction::from_frame(&frame(&[0x80, 0, 0])), Err(PayloadError::OutOfRange("address")));
        assert_eq!(Transaction::from_frame(&frame(&[0x48, 5, 1])), Err(PayloadError::Short("written bytes")));
        assert_eq!(Transaction::from_frame(&frame(&[0x48, 0])), Err(PayloadError::Short("read length")));
        assert_eq!(Transaction::from_frame(&frame(&[0x48, 0, 200])), Err(PayloadError::OutOfRange("read length")));
        assert_eq!(Transaction::from_frame(&frame(&[0x48, 0, 1, 9])), Err(PayloadError::Trailing));
        let done = Outcome::Done(heapless::Vec::from_slice(&[1, 2]).unwrap()).to_frame(0);
        assert_eq!(Outcome::from_frame(&done, 4), Err(PayloadError::ReadLength { asked: 4, carried: 2 }));
        assert_eq!(Outcome::from_frame(&frame(&[0]), 0), Err(PayloadError::WrongKind(Kind::Transaction)));
        let status = Frame { kind: Kind::Outcome, sequence: 0, payload: heapless::Vec::from_slice(&[9]).unwrap() };
        assert_eq!(Outcome::from_frame(&status, 0), Err(PayloadError::OutOfRange("status")));
        assert_eq!(transaction(0x90, &[], 0).to_frame(0), None);
    }
}
