//! Framing: a 4-byte big-endian length, then the `postcard` body. The reader refuses a
//! length of 0 or above [`MAX_FRAME`] as soon as the prefix is complete, so a hostile
//! length never makes it wait for, or keep, more than [`MAX_FRAME`] bytes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{LENGTH_BYTES, MAX_FRAME, WireError};

/// A frame ready to send: prefix and body.
pub type FrameBytes = heapless::Vec<u8, { LENGTH_BYTES + MAX_FRAME }>;

/// Encodes `value` as one frame (prefix included). `None` if its encoding is larger than
/// [`MAX_FRAME`] (never for the protocol's own types: see the crate's tests).
pub fn encode<T: Serialize>(value: &T) -> Option<FrameBytes> {
    let mut buffer = [0u8; LENGTH_BYTES + MAX_FRAME];
    let length = postcard::to_slice(value, &mut buffer[LENGTH_BYTES..]).ok()?.len();
    buffer[..LENGTH_BYTES].copy_from_slice(&(length as u32).to_be_bytes());
    FrameBytes::from_slice(&buffer[..LENGTH_BYTES + length]).ok()
}

/// Decodes one frame body; trailing bytes are refused.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    match postcard::take_from_bytes::<T>(body) {
        Ok((value, [])) => Ok(value),
        Ok(_) => Err(WireError::Malformed),
        Err(_) => Err(WireError::Malformed),
    }
}

/// Variants of [`crate::Command`].
const COMMANDS: u32 = 7;
/// The tag of [`crate::Command::Slot`].
const SLOT_COMMAND: u32 = 2;
/// The tag of [`crate::Command::Twin`].
const TWIN_COMMAND: u32 = 5;
/// Variants of `tileos_protocol::slots::Request`.
const SLOT_REQUESTS: u32 = 10;
/// Variants of [`crate::TwinRead`] (an export, the twin protocol's third request, is none).
const TWIN_READS: u32 = 2;

/// Decodes a client's frame body, telling a command this agent does not know
/// ([`WireError::UnknownCommand`]: a command or slot request tag beyond the known ones)
/// from other malformed bodies.
pub fn decode_client(body: &[u8]) -> Result<crate::ClientFrame, WireError> {
    decode(body).map_err(|error| if unknown_tag(body) { WireError::UnknownCommand } else { error })
}

/// Whether `body` starts with a counter and then a command tag (or, for a slot command, a
/// slot name and a request tag; for a twin command, a read tag) that no variant has.
fn unknown_tag(body: &[u8]) -> bool {
    let Ok((_counter, rest)) = postcard::take_from_bytes::<u64>(body) else { return false };
    let Ok((command, rest)) = postcard::take_from_bytes::<u32>(rest) else { return false };
    match command {
        SLOT_COMMAND => {
            let Ok((_slot, rest)) = postcard::take_from_bytes::<crate::SlotName>(rest) else { return false };
            matches!(postcard::take_from_bytes::<u32>(rest), Ok((request, _)) if request >= SLOT_REQUESTS)
        }
        TWIN_COMMAND => matches!(postcard::take_from_bytes::<u32>(rest), Ok((read, _)) if read >= TWIN_READS),
        command => command >= COMMANDS,
    }
}

/// Collects bytes from a stream into frames.
pub struct FrameReader {
    /// Bytes of the frame being read (prefix first).
    buffer: [u8; LENGTH_BYTES + MAX_FRAME],
    /// How many of them arrived.
    filled: usize,
    /// A bad length was seen: nothing more is read.
    broken: bool,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`FrameReader::push`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<'a> {
    /// A complete frame body.
    Frame(&'a [u8]),
    /// More bytes are needed.
    Incomplete,
    /// The length prefix is 0 or above [`MAX_FRAME`]: the stream is unusable.
    BadLength(WireError),
}

impl FrameReader {
    /// An empty reader.
    pub const fn new() -> Self {
        Self { buffer: [0; LENGTH_BYTES + MAX_FRAME], filled: 0, broken: false }
    }

    /// Takes bytes from `input` (advancing it past what it used) until one frame is
    /// complete, the input is used up, or the prefix is bad. Call again with the rest of
    /// the input after a [`Read::Frame`].
    pub fn push<'a>(&'a mut self, input: &mut &[u8]) -> Read<'a> {
        if self.broken {
            *input = &[];
            return Read::BadLength(WireError::BadLength { length: self.length(), max: MAX_FRAME as u32 });
        }
        // A complete frame handed out last time is dropped now.
        if self.filled >= LENGTH_BYTES && self.filled == LENGTH_BYTES + self.length() as usize {
            self.filled = 0;
        }
        if self.filled < LENGTH_BYTES {
            let take = (LENGTH_BYTES - self.filled).min(input.len());
            self.buffer[self.filled..self.filled + take].copy_from_slice(&input[..take]);
            self.filled += take;
            *input = &input[take..];
            if self.filled < LENGTH_BYTES {
                return Read::Incomplete;
            }
            let length = self.length();
            if length == 0 || length as usize > MAX_FRAME {
                self.broken = true;
                *input = &[];
                return Read::BadLength(WireError::BadLength { length, max: MAX_FRAME as u32 });
            }
        }
        let end = LENGTH_BYTES + self.length() as usize;
        let take = (end - self.filled).min(input.len());
        self.buffer[self.filled..self.filled + take].copy_from_slice(&input[..take]);
        self.filled += take;
        *input = &input[take..];
        if self.filled == end { Read::Frame(&self.buffer[LENGTH_BYTES..end]) } else { Read::Incomplete }
    }

    /// Whether part of a frame is waiting for more bytes.
    pub fn in_frame(&self) -> bool {
        self.filled > 0 && !(self.filled >= LENGTH_BYTES && self.filled == LENGTH_BYTES + self.length() as usize)
    }

    /// The length in the prefix (once it is complete).
    fn length(&self) -> u32 {
        u32::from_be_bytes([self.buffer[0], self.buffer[1], self.buffer[2], self.buffer[3]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn frames_of(reader: &mut FrameReader, mut input: &[u8]) -> Result<Vec<Vec<u8>>, WireError> {
        let mut frames = Vec::new();
        loop {
            match reader.push(&mut input) {
                Read::Frame(body) => frames.push(body.to_vec()),
                Read::Incomplete => return Ok(frames),
                Read::BadLength(error) => return Err(error),
            }
        }
    }

    #[test]
    fn frames_split_anywhere_are_reassembled() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&encode(&(1u8, 2u64)).unwrap());
        stream.extend_from_slice(&encode(&heapless::Vec::<u8, 300>::from_slice(&[7u8; 300]).unwrap()).unwrap());
        for split in 0..stream.len() {
            let mut reader = FrameReader::new();
            let mut frames = frames_of(&mut reader, &stream[..split]).unwrap();
            frames.extend(frames_of(&mut reader, &stream[split..]).unwrap());
            assert_eq!(frames.len(), 2, "split at {split}");
            assert_eq!(decode::<(u8, u64)>(&frames[0]), Ok((1, 2)));
            assert_eq!(decode::<heapless::Vec<u8, 300>>(&frames[1]).unwrap().as_slice(), &[7u8; 300][..]);
            assert!(!reader.in_frame());
        }
    }

    #[test]
    fn zero_oversized_and_negative_lengths_are_refused_at_once() {
        for length in [0u32, MAX_FRAME as u32 + 1, u32::MAX, 0x8000_0000] {
            let mut reader = FrameReader::new();
            let prefix = length.to_be_bytes();
            assert_eq!(frames_of(&mut reader, &prefix), Err(WireError::BadLength { length, max: MAX_FRAME as u32 }));
            // And it stays refused.
            assert!(matches!(frames_of(&mut reader, b"more"), Err(WireError::BadLength { .. })));
        }
        let mut reader = FrameReader::new();
        let mut largest = (MAX_FRAME as u32).to_be_bytes().to_vec();
        largest.resize(LENGTH_BYTES + MAX_FRAME, 9);
        assert_eq!(frames_of(&mut reader, &largest).unwrap().len(), 1);
    }

    #[test]
    fn trailing_bytes_and_unknown_variants_are_named() {
        assert_eq!(decode::<u8>(&[1, 2]), Err(WireError::Malformed));
        assert_eq!(decode_client(&[0, 7]), Err(WireError::UnknownCommand));
        // Telemetry (3), Verify (4) and Install (6) are known commands: cut short, they are
        // malformed.
        assert_eq!(decode_client(&[0, 6, 1, b'c']), Err(WireError::Malformed));
        assert_eq!(decode_client(&[0, 3]), Err(WireError::Malformed));
        assert_eq!(decode_client(&[0, 4, 200]), Err(WireError::Malformed));
        assert_eq!(decode_client(&[0, 5, 2, 0]), Err(WireError::UnknownCommand));
        assert_eq!(decode_client(&[0, 2, 1, b'c', 10]), Err(WireError::UnknownCommand));
        assert_eq!(decode_client(&[0, 2, 1, b'c', 9]), Err(WireError::Malformed));
        assert_eq!(decode_client(&[0]), Err(WireError::Malformed));
        assert_eq!(decode_client(&[]), Err(WireError::Malformed));
    }

    /// The variant counts [`decode_client`] relies on are the protocol's.
    #[test]
    fn the_last_variants_have_the_last_known_tags() {
        let frame = crate::ClientFrame {
            counter: 0,
            command: crate::Command::Slot {
                slot: "c".try_into().unwrap(),
                request: tileos_protocol::slots::Request::LogConsistency { old_size: 0, new_size: 0 },
            },
            signature: None,
        };
        let bytes = encode(&frame).unwrap();
        assert_eq!(&bytes[LENGTH_BYTES..LENGTH_BYTES + 5], &[0, SLOT_COMMAND as u8, 1, b'c', SLOT_REQUESTS as u8 - 1]);
        let twin = crate::ClientFrame { counter: 0, command: crate::Command::Twin(crate::TwinRead::Alarms), signature: None };
        let bytes = encode(&twin).unwrap();
        assert_eq!(&bytes[LENGTH_BYTES..LENGTH_BYTES + 3], &[0, TWIN_COMMAND as u8, TWIN_READS as u8 - 1]);
        let install = crate::ClientFrame {
            counter: 0,
            command: crate::Command::Install { slot: "c".try_into().unwrap(), length: 0, sha256: [0; 32] },
            signature: None,
        };
        let bytes = encode(&install).unwrap();
        assert_eq!(&bytes[LENGTH_BYTES..LENGTH_BYTES + 2], &[0, COMMANDS as u8 - 1]);
    }

    proptest! {
        /// Any byte stream, cut anywhere, gives frames, waits or a bad length: never a panic,
        /// never a frame longer than MAX_FRAME.
        #[test]
        fn any_stream_is_safe(stream in proptest::collection::vec(any::<u8>(), 0..4000), cut in 0usize..4000) {
            let cut = cut.min(stream.len());
            let mut reader = FrameReader::new();
            for part in [&stream[..cut], &stream[cut..]] {
                if let Ok(frames) = frames_of(&mut reader, part) {
                    for frame in frames {
                        prop_assert!(!frame.is_empty() && frame.len() <= MAX_FRAME);
                        let _ = decode_client(&frame);
                        let _ = decode::<crate::ServerFrame>(&frame);
                    }
                }
            }
        }
    }
}
