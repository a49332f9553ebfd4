//! The message convention of every tileos service protocol, and the protocols themselves.
//!
//! A request or response travels as one IPC message: the label [`MESSAGE`], word 0 the
//! payload's length in bytes, the payload's bytes packed little-endian from word 1 on
//! (registers first, then the IPC buffer). The payload is a `postcard` encoding of the
//! protocol's typed `Request` or `Response` enum, so a client can only send the requests
//! its protocol defines (a wrong type does not compile), and a malformed message decodes
//! to a [`ProtocolError`] that a server answers with an error reply instead of crashing.
//! Bulk data does not go in messages: it goes through shared regions, whose layouts are
//! protocols too ([`frames`]: the net driver's frame rings; [`block::ring`]: the block
//! rings).
//!
//! This crate is host-testable; `tileos_sys::rpc` turns it into client stubs and server
//! dispatch over real endpoints.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod block;
pub mod bytes;
pub mod checksum;
pub mod console;
pub mod display;
pub mod echo;
pub mod equivalence;
pub mod federation;
pub mod frames;
pub mod inference;
pub mod module;
pub mod pci;
pub mod sensors;
pub mod slots;
pub mod socket;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod timer;
pub mod twin;
pub mod verify;

/// The fixed-capacity strings the protocols carry.
pub use heapless;

use serde::{Serialize, de::DeserializeOwned};

/// Label of a protocol message (request or successful response).
pub const MESSAGE: u64 = 0x100;
/// Label of an error reply: the request could not be decoded or served. Word 0 holds a
/// [`ProtocolError`] code.
pub const ERROR: u64 = 0x101;
/// Message words available for a payload (the message holds at most 120 words; word 0 is
/// the length).
pub const PAYLOAD_WORDS: usize = 119;
/// Largest payload in bytes.
pub const MAX_PAYLOAD: usize = PAYLOAD_WORDS * 8;

/// A service protocol: its name and its typed messages.
pub trait Protocol {
    /// Name of the endpoint serving it in tile descriptions, by convention.
    const NAME: &'static str;
    /// What clients send.
    type Request: Serialize + DeserializeOwned;
    /// What the server answers.
    type Response: Serialize + DeserializeOwned;
}

/// Why a message could not be encoded, decoded or served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ProtocolError {
    /// The label is neither [`MESSAGE`] nor [`ERROR`].
    UnknownLabel = 1,
    /// The length word is larger than the message.
    Truncated = 2,
    /// The payload is not a valid encoding of the expected type.
    Malformed = 3,
    /// The value does not fit in one message.
    TooLarge = 4,
    /// The server could not serve the request (service-specific failure).
    Failed = 5,
    /// Nobody serves the endpoint: its server domain did not start, and the root server
    /// withdrew the endpoint (`tileos_sys::rpc` gives it for a call on a withdrawn or missing
    /// endpoint capability; the root server's log says why the server did not start).
    NoServer = 6,
    /// The server holds as many requests as it takes (from this client, or in all) and
    /// did nothing with this one: the call may be made again once an earlier one is
    /// answered (a slot manager's answer to a client with a request outstanding, or when
    /// its queue is full).
    Busy = 7,
}

impl ProtocolError {
    /// Decodes an error code from an [`ERROR`] reply.
    pub fn from_code(code: u64) -> ProtocolError {
        match code {
            1 => ProtocolError::UnknownLabel,
            2 => ProtocolError::Truncated,
            4 => ProtocolError::TooLarge,
            5 => ProtocolError::Failed,
            6 => ProtocolError::NoServer,
            7 => ProtocolError::Busy,
            _ => ProtocolError::Malformed,
        }
    }
}

/// Encodes `value` into `words` (word 0 = byte length, payload from word 1); returns the
/// number of words used (the message length).
pub fn encode<T: Serialize>(value: &T, words: &mut [u64; PAYLOAD_WORDS + 1]) -> Result<usize, ProtocolError> {
    let mut bytes = [0u8; MAX_PAYLOAD];
    let used = postcard::to_slice(value, &mut bytes).map_err(|_| ProtocolError::TooLarge)?.len();
    words.fill(0);
    words[0] = used as u64;
    // Eight bytes a word, little-endian (the bytes past `used` are the buffer's zeros).
    for (word, chunk) in words[1..].iter_mut().zip(bytes[..used.div_ceil(8) * 8].chunks_exact(8)) {
        *word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
    }
    Ok(1 + used.div_ceil(8))
}

/// Decodes a message of `label` whose words are `words` (the message length's worth).
pub fn decode<T: DeserializeOwned>(label: u64, words: &[u64]) -> Result<T, ProtocolError> {
    if label != MESSAGE {
        return Err(ProtocolError::UnknownLabel);
    }
    let Some((&length, payload)) = words.split_first() else { return Err(ProtocolError::Truncated) };
    let length = usize::try_from(length).map_err(|_| ProtocolError::Truncated)?;
    if length > payload.len() * 8 || length > MAX_PAYLOAD {
        return Err(ProtocolError::Truncated);
    }
    let mut bytes = [0u8; MAX_PAYLOAD];
    for (chunk, word) in bytes[..length.div_ceil(8) * 8].chunks_exact_mut(8).zip(payload) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let (value, rest) = postcard::take_from_bytes(&bytes[..length]).map_err(|_| ProtocolError::Malformed)?;
    if !rest.is_empty() {
        return Err(ProtocolError::Malformed);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::echo::{Request, Response};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_through_words() {
        let request = Request::Reverse(heapless::String::try_from("tileos").unwrap());
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&request, &mut words).unwrap();
        assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(request));
    }

    #[test]
    fn the_longest_console_write_fits_one_message() {
        let text: heapless::String<{ crate::console::MAX_TEXT }> = core::iter::repeat_n('x', crate::console::MAX_TEXT).collect();
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&crate::console::Request::Write(text.clone()), &mut words).unwrap();
        assert_eq!(decode::<crate::console::Request>(MESSAGE, &words[..length]), Ok(crate::console::Request::Write(text)));
    }

    #[test]
    fn wrong_label_truncation_and_garbage_are_errors() {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&Response::Number(7), &mut words).unwrap();
        assert_eq!(decode::<Response>(5, &words[..length]), Err(ProtocolError::UnknownLabel));
        assert_eq!(decode::<Response>(MESSAGE, &[]), Err(ProtocolError::Truncated));
        assert_eq!(decode::<Response>(MESSAGE, &[100, 0]), Err(ProtocolError::Truncated));
        assert_eq!(decode::<Response>(MESSAGE, &[2, 0xFFFF]), Err(ProtocolError::Malformed));
    }

    #[test]
    fn every_error_code_decodes_to_its_error_and_unknown_codes_to_malformed() {
        use ProtocolError::*;
        for error in [UnknownLabel, Truncated, Malformed, TooLarge, Failed, NoServer, Busy] {
            assert_eq!(ProtocolError::from_code(error as u64), error);
        }
        assert_eq!(ProtocolError::from_code(0), Malformed);
        assert_eq!(ProtocolError::from_code(8), Malformed);
        assert_eq!(ProtocolError::from_code(u64::MAX), Malformed);
    }

    proptest! {
        /// Any words decode to a value or an error, never a panic.
        #[test]
        fn arbitrary_words_never_panic(label in prop_oneof![Just(MESSAGE), any::<u64>()], words in proptest::collection::vec(any::<u64>(), 0..20)) {
            let _ = decode::<Request>(label, &words);
            let _ = decode::<Response>(label, &words);
        }

        /// Every request round-trips.
        #[test]
        fn numbers_round_trip(value in any::<u64>()) {
            let mut words = [0; PAYLOAD_WORDS + 1];
            let length = encode(&Request::Increment(value), &mut words).unwrap();
            prop_assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(Request::Increment(value)));
        }
    }
}
