//! Frames on the serial byte stream.
//!
//! ```text
//! byte 0        SYNC (0xA5)
//! byte 1        kind      (Kind)
//! byte 2        sequence  (the reply repeats its transaction's)
//! byte 3        length    (payload bytes, 0..=MAX_PAYLOAD)
//! bytes 4..     payload
//! last 2 bytes  CRC-16/IBM-3740 (CCITT-FALSE) of bytes 1..4+length, big-endian
//! ```
//!
//! The decoder trusts nothing: a length above [`MAX_PAYLOAD`], an unknown kind or a CRC
//! mismatch is reported as a [`FrameError`] naming the frame (kind and sequence when they
//! were read), and decoding goes on from the byte after that frame's sync byte, so a sync
//! byte inside garbage or inside a corrupt frame never hides the next good frame.

use crc::{CRC_16_IBM_3740, Crc};

/// First byte of every frame.
pub const SYNC: u8 = 0xA5;
/// Largest payload in bytes.
pub const MAX_PAYLOAD: usize = 64;
/// Bytes of a frame besides its payload (sync, kind, sequence, length, CRC).
pub const OVERHEAD: usize = 6;
/// Largest frame in bytes.
pub const MAX_FRAME: usize = MAX_PAYLOAD + OVERHEAD;

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An I2C transaction, sensors domain to simulator ([`crate::i2c::Transaction`]).
    Transaction,
    /// Its outcome, simulator to sensors domain ([`crate::i2c::Outcome`]).
    Outcome,
}

impl Kind {
    /// The kind's byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            Kind::Transaction => 0x01,
            Kind::Outcome => 0x81,
        }
    }

    /// The kind of wire byte `byte`, if it is one.
    pub fn from_byte(byte: u8) -> Option<Kind> {
        match byte {
            0x01 => Some(Kind::Transaction),
            0x81 => Some(Kind::Outcome),
            _ => None,
        }
    }
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// What it carries.
    pub kind: Kind,
    /// Sequence number: an outcome repeats its transaction's, so a late answer to an
    /// earlier transaction is told apart.
    pub sequence: u8,
    /// The payload.
    pub payload: heapless::Vec<u8, MAX_PAYLOAD>,
}

impl Frame {
    /// Writes the frame into `out` (at least [`MAX_FRAME`] bytes); returns its length.
    pub fn encode(&self, out: &mut [u8; MAX_FRAME]) -> usize {
        let length = self.payload.len();
        out[0] = SYNC;
        out[1] = self.kind.byte();
        out[2] = self.sequence;
        out[3] = length as u8;
        out[4..4 + length].copy_from_slice(&self.payload);
        let crc = CRC16.checksum(&out[1..4 + length]);
        out[4 + length..OVERHEAD + length].copy_from_slice(&crc.to_be_bytes());
        OVERHEAD + length
    }
}

/// Why bytes on the stream were not a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length byte of the frame starting at a sync byte is above [`MAX_PAYLOAD`].
    TooLong {
        /// The declared length.
        length: u8,
    },
    /// The kind byte is no [`Kind`].
    UnknownKind {
        /// The byte.
        kind: u8,
    },
    /// The CRC does not match the frame's bytes.
    BadCrc {
        /// The frame's kind.
        kind: Kind,
        /// The frame's sequence number.
        sequence: u8,
        /// CRC computed over the bytes received.
        computed: u16,
        /// CRC the frame carried.
        carried: u16,
    },
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::TooLong { length } => write!(f, "frame length {length} is above the maximum {MAX_PAYLOAD}"),
            FrameError::UnknownKind { kind } => write!(f, "frame kind 0x{kind:02x} is unknown"),
            FrameError::BadCrc { kind, sequence, computed, carried } => {
                write!(f, "frame {kind:?} #{sequence}: CRC 0x{carried:04x} carried, 0x{computed:04x} computed over its bytes")
            }
        }
    }
}

/// Finds frames in a byte stream: [`Decoder::push`] each byte received, then take what it
/// found with [`Decoder::next_frame`] until it answers `None`.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    /// Bytes of a frame not complete yet (starting with a sync byte once one was found).
    buffer: heapless::Vec<u8, MAX_FRAME>,
    /// Bytes skipped while looking for a sync byte, since the decoder was made.
    garbage: u64,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Bytes skipped so far because they were outside any frame.
    pub fn garbage_bytes(&self) -> u64 {
        self.garbage
    }

    /// Forgets a partly received frame (after a timeout: the rest will not come).
    pub fn reset(&mut self) {
        self.buffer.clear();
    }

    /// Adds one received byte. The buffer never holds more than one frame's worth: [`next_frame`]
    /// must be called until `None` before the next push.
    ///
    /// [`next_frame`]: Decoder::next_frame
    pub fn push(&mut self, byte: u8) {
        if self.buffer.is_empty() && byte != SYNC {
            self.garbage += 1;
            return;
        }
        if self.buffer.push(byte).is_err() {
            // Cannot happen when `next` is called after every push (a frame is taken or
            // refused as soon as it is complete); drop the oldest byte to stay in bounds.
            self.drop_front(1);
            let _ = self.buffer.push(byte);
        }
    }

    /// The next frame or error in the bytes pushed so far, or `None` when more bytes are
    /// needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        // Skip to the first sync byte.
        match self.buffer.iter().position(|&b| b == SYNC) {
            None => {
                self.garbage += self.buffer.len() as u64;
                self.buffer.clear();
                return None;
            }
            Some(0) => {}
            Some(start) => {
                self.garbage += start as u64;
                self.drop_front(start);
            }
        }
        if self.buffer.len() < 2 {
            return None;
        }
        let Some(kind) = Kind::from_byte(self.buffer[1]) else {
            let kind = self.buffer[1];
            self.drop_front(1);
            return Some(Err(FrameError::UnknownKind { kind }));
        };
        if self.buffer.len() < 4 {
            return None;
        }
        let length = self.buffer[3];
        if usize::from(length) > MAX_PAYLOAD {
            self.drop_front(1);
            return Some(Err(FrameError::TooLong { length }));
        }
        let total = OVERHEAD + usize::from(length);
        if self.buffer.len() < total {
            return None;
        }
        let sequence = self.buffer[2];
        let computed = CRC16.checksum(&self.buffer[1..total - 2]);
        let carried = u16::from_be_bytes([self.buffer[total - 2], self.buffer[total - 1]]);
        if computed != carried {
            self.drop_front(1);
            return Some(Err(FrameError::BadCrc { kind, sequence, computed, carried }));
        }
        let mut payload = heapless::Vec::new();
        // The length was checked against MAX_PAYLOAD above.
        let _ = payload.extend_from_slice(&self.buffer[4..total - 2]);
        self.drop_front(total);
        Some(Ok(Frame { kind, sequence, payload }))
    }

    fn drop_front(&mut self, count: usize) {
        let count = count.min(self.buffer.len());
        let rest = self.buffer.len() - count;
        self.buffer.copy_within(count.., 0);
        self.buffer.truncate(rest);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn frame(kind: Kind, sequence: u8, payload: &[u8]) -> Frame {
        Frame { kind, sequence, payload: heapless::Vec::from_slice(payload).unwrap() }
    }

    fn bytes(frame: &Frame) -> Vec<u8> {
        let mut out = [0; MAX_FRAME];
        let length = frame.encode(&mut out);
        out[..length].to_vec()
    }

    fn decode_all(decoder: &mut Decoder, stream: &[u8]) -> Vec<Result<Frame, FrameError>> {
        let mut found = Vec::new();
        for &byte in stream {
            decoder.push(byte);
            while let Some(result) = decoder.next_frame() {
                found.push(result);
            }
        }
        found
    }

    #[test]
    fn the_layout_is_sync_kind_sequence_length_payload_crc() {
        let encoded = bytes(&frame(Kind::Transaction, 7, b"123456789"));
        assert_eq!(&encoded[..4], &[SYNC, 0x01, 7, 9]);
        assert_eq!(&encoded[4..13], b"123456789");
        let crc = CRC16.checksum(&encoded[1..13]);
        assert_eq!(&encoded[13..], &crc.to_be_bytes());
        // The catalogue's check value of CRC-16/IBM-3740.
        assert_eq!(CRC16.checksum(b"123456789"), 0x29B1);
    }

    #[test]
    fn frames_round_trip_back_to_back() {
        let frames = [frame(Kind::Transaction, 0, b""), frame(Kind::Outcome, 255, &[0xA5; MAX_PAYLOAD]), frame(Kind::Outcome, 3, b"x")];
        let stream: Vec<u8> = frames.iter().flat_map(bytes).collect();
        let found = decode_all(&mut Decoder::new(), &stream);
        assert_eq!(found, frames.iter().cloned().map(Ok).collect::<Vec<_>>());
    }

    #[test]
    fn a_flipped_bit_is_a_crc_error_naming_the_frame_and_the_next_frame_still_decodes() {
        let mut bad = bytes(&frame(Kind::Outcome, 9, b"\x00\x01\x02"));
        bad[5] ^= 0x10;
        let good = frame(Kind::Outcome, 10, b"ok");
        let stream: Vec<u8> = bad.iter().copied().chain(bytes(&good)).collect();
        let found = decode_all(&mut Decoder::new(), &stream);
        assert!(matches!(found[0], Err(FrameError::BadCrc { kind: Kind::Outcome, sequence: 9, .. })), "{found:?}");
        assert_eq!(found.last(), Some(&Ok(good)));
        assert_eq!(found.iter().filter(|r| r.is_ok()).count(), 1);
    }

    #[test]
    fn an_oversized_length_and_an_unknown_kind_are_refused_precisely() {
        let mut decoder = Decoder::new();
        assert_eq!(decode_all(&mut decoder, &[SYNC, 0x01, 0, 200]), [Err(FrameError::TooLong { length: 200 })]);
        assert_eq!(decode_all(&mut decoder, &[SYNC, 0x42]), [Err(FrameError::UnknownKind { kind: 0x42 })]);
        let good = frame(Kind::Transaction, 1, b"after");
        assert_eq!(decode_all(&mut decoder, &bytes(&good)), [Ok(good)]);
    }

    #[test]
    fn garbage_before_a_frame_is_skipped_and_counted() {
        let good = frame(Kind::Outcome, 4, b"\x12\x34");
        let stream: Vec<u8> = b"noise!".iter().copied().chain(bytes(&good)).collect();
        let mut decoder = Decoder::new();
        assert_eq!(decode_all(&mut decoder, &stream), [Ok(good)]);
        assert_eq!(decoder.garbage_bytes(), 6);
    }

    #[test]
    fn a_truncated_frame_is_forgotten_on_reset() {
        let mut decoder = Decoder::new();
        let cut = bytes(&frame(Kind::Outcome, 1, b"abcdef"));
        assert!(decode_all(&mut decoder, &cut[..5]).is_empty());
        decoder.reset();
        let good = frame(Kind::Outcome, 2, b"g");
        assert_eq!(decode_all(&mut decoder, &bytes(&good)), [Ok(good)]);
    }

    proptest! {
        /// Any bytes decode to frames and errors, never a panic; a good frame after them
        /// (separated by enough non-sync bytes to end any frame they started) is found.
        #[test]
        fn garbage_then_a_frame_resynchronises(garbage in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut decoder = Decoder::new();
            let _ = decode_all(&mut decoder, &garbage);
            let _ = decode_all(&mut decoder, &[0u8; MAX_FRAME]);
            let good = frame(Kind::Outcome, 77, b"found");
            let found = decode_all(&mut decoder, &bytes(&good));
            prop_assert_eq!(found.last(), Some(&Ok(good)));
        }

        /// Every single-bit corruption of a frame is caught (CRC-16 detects all 1-bit errors).
        #[test]
        fn no_single_bit_flip_passes(payload in proptest::collection::vec(any::<u8>(), 0..MAX_PAYLOAD), bit in 8usize..(8 * (MAX_PAYLOAD + OVERHEAD))) {
            let mut encoded = bytes(&frame(Kind::Outcome, 5, &payload));
            // A flipped length byte may only make the frame look longer (no answer yet).
            prop_assume!(bit / 8 < encoded.len() && bit / 8 != 3);
            encoded[bit / 8] ^= 1 << (bit % 8);
            let found = decode_all(&mut Decoder::new(), &encoded);
            prop_assert!(found.iter().all(|r| r.is_err()), "{:?}", found);
        }
    }
}
